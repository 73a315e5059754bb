//! Running one EVAL script or FCALL function, and what the script reaches
//! through `redis.call`.
//!
//! While Lua runs, its native functions (`redis.call`, the instruction
//! hook) need the server the handler was given. The handler lends it for
//! the length of the call: `run` stores a raw pointer in the VM's app data
//! and removes it before returning.
//!
//! SAFETY invariant for `ServerPtr`: it is only present while `run` is on
//! the stack, on the executor thread, and `run` does not touch the server
//! itself while Lua runs; native functions turn it into a `&mut Server`
//! only for the length of one call and never hold it across a call back
//! into Lua.
//!
//! The hook fires every `HOOK_INSTRUCTIONS` Lua instructions. Past
//! `busy-reply-threshold` the script is "timed out": the hook serves other
//! clients (`net::serve_while_busy`), who get -BUSY for anything but SCRIPT
//! KILL, FUNCTION KILL, SHUTDOWN NOSAVE and the few ALLOW_BUSY commands.
//! Once killed, the hook raises at every call, so `pcall` cannot keep the
//! script alive.

use std::time::{Duration, Instant};

use bytes::Bytes;
use mlua::{Function, HookTriggers, Lua, MultiValue, Table, Value, VmState};

use super::engine::{NativeResult, Raise};
use super::lua::{lua_to_reply, reply_to_lua};
use super::redis_api::{err_table, raise_err};
use super::{RunningScript, ScriptFlags};
use crate::client::Client;
use crate::commands::{flags, CommandSpec};
use crate::resp::Reply;
use crate::server::Server;

/// Lua instructions between two hook calls (Redis checks every 100000).
pub const HOOK_INSTRUCTIONS: u32 = 100_000;
/// Least time between two turns of serving other clients while busy.
const BUSY_SERVE_INTERVAL: Duration = Duration::from_millis(5);
/// FUNCTION LOAD gives a library's code this long to register its functions.
pub const LOAD_TIMEOUT_MS: u64 = 500;

/// The server lent to the VM while a script runs (see the module note).
struct ServerPtr(*mut Server);

/// Last time the hook served other clients (throttles `serve_while_busy`).
struct LastServe(Instant);

/// Set while FUNCTION LOAD runs a library's code.
pub struct LoadDeadline(pub Instant);

const KILLED: &str = "ERR Script killed by user with SCRIPT KILL...";

/// What to run.
pub struct Invocation {
    pub name: String,
    pub is_eval: bool,
    pub func: Function,
    pub keys: Vec<Bytes>,
    pub args: Vec<Bytes>,
    pub flags: ScriptFlags,
    pub read_only: bool,
    /// The caller's whole command (FUNCTION STATS).
    pub argv: Vec<Bytes>,
}

/// Installs the instruction hook on a new VM.
pub fn install_hook(lua: &Lua) -> mlua::Result<()> {
    lua.set_global_hook(
        HookTriggers::new().every_nth_instruction(HOOK_INSTRUCTIONS),
        |lua, _| hook(lua),
    )
}

fn hook(lua: &Lua) -> mlua::Result<VmState> {
    if let Some(deadline) = lua.app_data_ref::<LoadDeadline>() {
        if Instant::now() >= deadline.0 {
            return Err(mlua::Error::RuntimeError("FUNCTION LOAD timeout".into()));
        }
        return Ok(VmState::Continue);
    }
    let Some(ptr) = lua.app_data_ref::<ServerPtr>().map(|p| p.0) else {
        return Ok(VmState::Continue);
    };
    // SAFETY: see the module note; no other reference to the server is live.
    let srv = unsafe { &mut *ptr };
    if must_stop(srv) {
        return Err(mlua::Error::RuntimeError(KILLED.into()));
    }
    let threshold_ms = srv.config.busy_reply_threshold_ms;
    let Some(run) = srv.scripting.running.as_mut() else {
        return Ok(VmState::Continue);
    };
    let elapsed_ms = run.started.elapsed().as_millis() as u64;
    if !run.timed_out && threshold_ms > 0 && elapsed_ms >= threshold_ms {
        run.timed_out = true;
        crate::log_warning!(
            "Slow script detected: still in execution after {} milliseconds. You can try killing the script using the {} command. Script name is: {}.",
            elapsed_ms,
            if run.is_eval { "SCRIPT KILL" } else { "FUNCTION KILL" },
            run.name
        );
    }
    if !run.timed_out {
        return Ok(VmState::Continue);
    }
    let due = lua
        .app_data_ref::<LastServe>()
        .is_none_or(|l| l.0.elapsed() >= BUSY_SERVE_INTERVAL);
    if due {
        lua.set_app_data(LastServe(Instant::now()));
        crate::net::serve_while_busy(srv);
    }
    if must_stop(srv) {
        return Err(mlua::Error::RuntimeError(KILLED.into()));
    }
    Ok(VmState::Continue)
}

fn must_stop(srv: &Server) -> bool {
    srv.shutdown.is_some()
        || crate::net::shutdown_signalled()
        || srv.scripting.running.as_ref().is_some_and(|r| r.kill)
}

/// The error a killed script ends with, if the running script was killed.
pub fn kill_message(lua: &Lua) -> Option<&'static str> {
    let ptr = lua.app_data_ref::<ServerPtr>()?.0;
    // SAFETY: see the module note.
    let srv = unsafe { &*ptr };
    must_stop(srv).then_some(KILLED)
}

/// Runs a script or function for `caller`; the reply to send.
pub fn run(srv: &mut Server, caller: &Client, lua: &Lua, inv: Invocation) -> Reply {
    let now = srv.keyspace.now_ms();
    let mut client = Client::fake(now);
    client.db = caller.db;
    client.resp = 2;
    srv.scripting.running = Some(RunningScript {
        name: inv.name.clone(),
        is_eval: inv.is_eval,
        argv: inv.argv,
        started: Instant::now(),
        flags: inv.flags,
        read_only: inv.read_only,
        wrote: false,
        writes: 0,
        timed_out: false,
        kill: false,
        client: Some(Box::new(client)),
    });
    let outcome = call_lua(srv, lua, &inv.func, &inv.keys, &inv.args, inv.is_eval);
    let run = srv.scripting.running.take();
    let resp = run
        .as_ref()
        .and_then(|r| r.client.as_ref())
        .map_or(2, |c| c.resp);
    let killed = run.as_ref().is_some_and(|r| r.kill);
    if killed {
        crate::log_warning!("Lua script killed by user with SCRIPT KILL.");
    }
    match outcome {
        Ok((true, v)) => lua_to_reply(&v, resp),
        Ok((false, Value::Table(t))) => error_reply(&t, &inv.name),
        Ok((false, other)) => Reply::error(format!(
            "ERR {}",
            match other {
                Value::Error(e) => super::engine::error_message(&e),
                _ => "unknown error".into(),
            }
        )),
        Err(e) => {
            if killed {
                Reply::error(KILLED)
            } else {
                Reply::error(format!(
                    "ERR Error running script: {}",
                    super::engine::error_message(&e)
                ))
            }
        }
    }
}

/// Lends the server to the VM and calls the function through the runner.
fn call_lua(
    srv: &mut Server,
    lua: &Lua,
    func: &Function,
    keys: &[Bytes],
    args: &[Bytes],
    is_eval: bool,
) -> mlua::Result<(bool, Value)> {
    let keys_t = lua.create_sequence_from(
        keys.iter()
            .map(|k| lua.create_string(k))
            .collect::<mlua::Result<Vec<_>>>()?,
    )?;
    let args_t = lua.create_sequence_from(
        args.iter()
            .map(|a| lua.create_string(a))
            .collect::<mlua::Result<Vec<_>>>()?,
    )?;
    let runner: Function = lua.named_registry_value("strata.run")?;
    let handler: Function = lua.named_registry_value("strata.handler")?;
    let (a, b) = if is_eval {
        let g = lua.globals();
        super::engine::with_writable(lua, &g, || -> mlua::Result<()> {
            g.raw_set("KEYS", keys_t)?;
            g.raw_set("ARGV", args_t)?;
            Ok(())
        })?;
        (Value::Nil, Value::Nil)
    } else {
        (Value::Table(keys_t), Value::Table(args_t))
    };
    lua.set_app_data(ServerPtr(srv as *mut Server));
    lua.remove_app_data::<LastServe>();
    let result = runner.call::<(bool, Value)>((handler, func.clone(), a, b));
    lua.remove_app_data::<ServerPtr>();
    result
}

/// The reply for an error table: its message, then where the script
/// failed ("script: <name>, on <source>:<line>.") when that is known.
fn error_reply(t: &Table, name: &str) -> Reply {
    let msg = match t.raw_get::<Value>("err") {
        Ok(Value::String(s)) => s.to_string_lossy(),
        Ok(Value::Integer(n)) => n.to_string(),
        Ok(Value::Number(n)) => super::engine::lua_number_str(n),
        _ => "ERR unknown error".to_string(),
    };
    let source = t.raw_get::<Value>("source").ok();
    let line = t.raw_get::<Value>("line").ok();
    let text = match (source, line) {
        (Some(Value::String(s)), Some(l)) if !matches!(l, Value::Nil) => {
            let line = match l {
                Value::Integer(n) => n.to_string(),
                Value::Number(n) => super::engine::lua_number_str(n),
                _ => "?".into(),
            };
            format!("{msg} script: {name}, on {}:{line}.", s.to_string_lossy())
        }
        _ => msg,
    };
    Reply::Error(
        text.chars()
            .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
            .collect::<String>()
            .into(),
    )
}

fn one(v: Value) -> MultiValue {
    MultiValue::from_vec(vec![v])
}

/// Redis's `luaArgsToRedisArgv`: strings as they are, numbers as "%.17g".
pub fn lua_args_to_argv(args: &MultiValue) -> Result<Vec<Bytes>, &'static str> {
    if args.is_empty() {
        return Err("ERR Please specify at least one argument for this redis lib call");
    }
    let mut argv = Vec::with_capacity(args.len());
    for a in args.iter() {
        argv.push(match a {
            Value::String(s) => Bytes::copy_from_slice(&s.as_bytes()),
            Value::Integer(n) => Bytes::from(n.to_string()),
            Value::Number(n) => Bytes::from(number_arg(*n)),
            _ => return Err("ERR Lua redis lib command arguments must be strings or integers"),
        });
    }
    Ok(argv)
}

fn number_arg(n: f64) -> String {
    if n.is_nan() {
        return if n.is_sign_negative() { "-nan" } else { "nan" }.into();
    }
    if n.is_infinite() {
        return if n > 0.0 { "inf" } else { "-inf" }.into();
    }
    crate::resp::reply::format_g17(n)
}

type Resolved = (&'static CommandSpec, Option<&'static CommandSpec>);

const UNKNOWN: &str = "ERR Unknown Redis command called from script";
const WRONG_ARGS: &str = "ERR Wrong number of args calling Redis command from script";

fn resolve(srv: &Server, argv: &[Bytes]) -> Result<Resolved, &'static str> {
    let spec = srv.commands.get(&argv[0]).ok_or(UNKNOWN)?;
    if spec.subcommands.is_empty() {
        return if spec.arity_ok(argv.len()) {
            Ok((spec, None))
        } else {
            Err(WRONG_ARGS)
        };
    }
    if argv.len() < 2 {
        return if spec.handler.is_some() && spec.arity_ok(argv.len()) {
            Ok((spec, None))
        } else {
            Err(WRONG_ARGS)
        };
    }
    let sub = spec.subcommand(&argv[1]).ok_or(UNKNOWN)?;
    if !sub.arity_ok(argv.len()) {
        return Err(WRONG_ARGS);
    }
    Ok((sub, Some(spec)))
}

/// Whether `argv` names a command (redis.acl_check_cmd).
pub fn command_exists(lua: &Lua, argv: &[Bytes]) -> bool {
    let Some(ptr) = lua.app_data_ref::<ServerPtr>().map(|p| p.0) else {
        return false;
    };
    // SAFETY: see the module note.
    let srv = unsafe { &*ptr };
    srv.commands.get(&argv[0]).is_some()
}

/// `redis.setresp(resp)`.
pub fn set_resp(lua: &Lua, resp: u8) {
    let Some(ptr) = lua.app_data_ref::<ServerPtr>().map(|p| p.0) else {
        return;
    };
    // SAFETY: see the module note.
    let srv = unsafe { &mut *ptr };
    if let Some(c) = srv
        .scripting
        .running
        .as_mut()
        .and_then(|r| r.client.as_mut())
    {
        c.resp = resp;
    }
}

/// `redis.call` (`raise`) and `redis.pcall`.
pub fn redis_call(lua: &Lua, args: MultiValue, raise: bool) -> NativeResult {
    let fail = |msg: &str| -> NativeResult {
        if raise {
            Err(raise_err(lua, msg))
        } else {
            let t = err_table(lua, msg).map_err(|e| Raise::Msg(e.to_string()))?;
            Ok(one(Value::Table(t)))
        }
    };
    let argv = match lua_args_to_argv(&args) {
        Ok(a) => a,
        Err(msg) => return fail(msg),
    };
    let Some(ptr) = lua.app_data_ref::<ServerPtr>().map(|p| p.0) else {
        return fail("ERR redis.call is not available here");
    };
    // SAFETY: see the module note. The reference is dropped before this
    // function returns to Lua.
    let srv = unsafe { &mut *ptr };
    let (spec, parent) = match resolve(srv, &argv) {
        Ok(r) => r,
        Err(msg) => return fail(msg),
    };
    let cmd_flags = spec.flags | parent.map_or(0, |p| p.flags);
    if cmd_flags & flags::NOSCRIPT != 0 {
        return fail("ERR This Redis command is not allowed from script");
    }
    let Some(run) = srv.scripting.running.as_mut() else {
        return fail("ERR redis.call is not available here");
    };
    let writes = spec.flags & (flags::WRITE | flags::MAY_REPLICATE) != 0;
    if writes && run.read_only {
        return fail("ERR Write commands are not allowed from read-only scripts.");
    }
    if spec.flags & flags::WRITE != 0 {
        run.wrote = true;
        run.writes += 1;
    }
    let Some(mut client) = run.client.take() else {
        return fail("ERR redis.call is not available here");
    };
    let reply = crate::dispatch::call_command(srv, &mut client, spec, parent, argv);
    client.out.clear();
    let resp = client.resp;
    if let Some(run) = srv.scripting.running.as_mut() {
        run.client = Some(client);
    }
    match reply {
        Reply::Error(msg) => {
            let text = super::redis_api::error_text(format!("-{msg}").as_bytes());
            let t = lua
                .create_table()
                .and_then(|t| t.raw_set("err", lua.create_string(&text)?).map(|_| t))
                .map_err(|e| Raise::Msg(e.to_string()))?;
            if raise {
                Err(Raise::Value(Value::Table(t)))
            } else {
                Ok(one(Value::Table(t)))
            }
        }
        other => {
            let v = reply_to_lua(lua, &other, resp).map_err(|e| Raise::Msg(e.to_string()))?;
            Ok(one(v))
        }
    }
}
