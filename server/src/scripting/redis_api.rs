//! The `redis` table scripts see: `call`, `pcall`, `error_reply`,
//! `status_reply`, `sha1hex`, `log`, `setresp`, `set_repl`,
//! `replicate_commands`, `breakpoint`, `debug`, `acl_check_cmd` and the
//! LOG_*, REPL_* and version constants. Errors are raised as Redis raises
//! them: `{err = "ERR ..."}` tables, which the error handler completes
//! with the script's name and line.

use mlua::{Lua, MultiValue, Table, Value};

use super::engine::{native, Raise, VmKind};
use crate::log::Level;

pub const REPL_NONE: i64 = 0;
pub const REPL_AOF: i64 = 1;
pub const REPL_REPLICA: i64 = 2;
pub const REPL_ALL: i64 = 3;

/// Redis's version as a number: 0x00MMmmpp.
pub fn version_num() -> i64 {
    let mut parts = crate::REDIS_VERSION
        .split('.')
        .map(|p| p.parse::<i64>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    let patch = parts.next().unwrap_or(0);
    (major << 16) | (minor << 8) | patch
}

/// An `{err = msg}` table raised from a native function.
pub fn raise_err(lua: &Lua, msg: &str) -> Raise {
    match err_table(lua, msg) {
        Ok(t) => Raise::Value(Value::Table(t)),
        Err(_) => Raise::Msg(msg.to_string()),
    }
}

pub fn err_table(lua: &Lua, msg: &str) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("err", msg)?;
    Ok(t)
}

fn one(v: Value) -> MultiValue {
    MultiValue::from_vec(vec![v])
}

/// The constants every `redis` table has.
fn constants(lua: &Lua, t: &Table) -> mlua::Result<()> {
    t.raw_set("LOG_DEBUG", 0)?;
    t.raw_set("LOG_VERBOSE", 1)?;
    t.raw_set("LOG_NOTICE", 2)?;
    t.raw_set("LOG_WARNING", 3)?;
    t.raw_set("REDIS_VERSION", crate::REDIS_VERSION)?;
    t.raw_set("REDIS_VERSION_NUM", version_num())?;
    t.raw_set("log", native(lua, log)?)?;
    Ok(())
}

/// The `redis` table of a VM.
pub fn open(lua: &Lua, kind: VmKind) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    constants(lua, &t)?;
    t.raw_set("REPL_NONE", REPL_NONE)?;
    t.raw_set("REPL_AOF", REPL_AOF)?;
    t.raw_set("REPL_SLAVE", REPL_REPLICA)?;
    t.raw_set("REPL_REPLICA", REPL_REPLICA)?;
    t.raw_set("REPL_ALL", REPL_ALL)?;
    t.raw_set(
        "call",
        native(lua, |lua, args| super::run::redis_call(lua, args, true))?,
    )?;
    t.raw_set(
        "pcall",
        native(lua, |lua, args| super::run::redis_call(lua, args, false))?,
    )?;
    t.raw_set("error_reply", native(lua, error_reply)?)?;
    t.raw_set("status_reply", native(lua, status_reply)?)?;
    t.raw_set("sha1hex", native(lua, sha1hex)?)?;
    t.raw_set("setresp", native(lua, setresp)?)?;
    t.raw_set("set_repl", native(lua, set_repl)?)?;
    t.raw_set("acl_check_cmd", native(lua, acl_check_cmd)?)?;
    if kind == VmKind::Eval {
        t.raw_set(
            "replicate_commands",
            native(lua, |_, _| Ok(one(Value::Boolean(true))))?,
        )?;
        // The Lua debugger (SCRIPT DEBUG) is not supported: these are no-ops.
        t.raw_set(
            "breakpoint",
            native(lua, |_, _| Ok(one(Value::Boolean(false))))?,
        )?;
        t.raw_set("debug", native(lua, |_, _| Ok(MultiValue::new()))?)?;
    }
    Ok(t)
}

/// The `redis` table a library sees while FUNCTION LOAD runs its code.
pub fn open_load_api(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    constants(lua, &t)?;
    t.raw_set(
        "register_function",
        native(lua, super::functions::register_function)?,
    )?;
    Ok(t)
}

/// `redis.log(level, message, ...)`: to the server log.
fn log(lua: &Lua, args: MultiValue) -> super::engine::NativeResult {
    if args.len() < 2 {
        return Err(raise_err(
            lua,
            "ERR redis.log() requires two arguments or more.",
        ));
    }
    let level = match args.front().and_then(super::engine::to_number) {
        Some(n) if matches!(&args[0], Value::Integer(_) | Value::Number(_)) => n as i64,
        _ => return Err(raise_err(lua, "ERR First argument must be a number")),
    };
    let level = match level {
        0 => Level::Debug,
        1 => Level::Verbose,
        2 => Level::Notice,
        3 => Level::Warning,
        _ => return Err(raise_err(lua, "ERR Invalid debug level.")),
    };
    let mut msg = Vec::new();
    for (i, v) in args.iter().skip(1).enumerate() {
        if i > 0 {
            msg.push(b' ');
        }
        match v {
            Value::String(s) => msg.extend_from_slice(&s.as_bytes()),
            Value::Integer(n) => msg.extend_from_slice(n.to_string().as_bytes()),
            Value::Number(n) => msg.extend_from_slice(super::engine::lua_number_str(*n).as_bytes()),
            _ => {}
        }
    }
    crate::log::log(level, &String::from_utf8_lossy(&msg));
    Ok(MultiValue::new())
}

/// Redis's `luaPushErrorBuff`: "-CODE message" keeps its code (a message
/// with no space gets "ERR"), anything else gets "ERR " in front; trailing
/// CR/LF go.
pub fn error_text(msg: &[u8]) -> Vec<u8> {
    let (code, text): (&[u8], &[u8]) = match msg.strip_prefix(b"-") {
        Some(rest) => match rest.iter().position(|&b| b == b' ') {
            Some(sp) => (&rest[..sp], &rest[sp + 1..]),
            None => (b"ERR", rest),
        },
        None => (b"ERR", msg),
    };
    let mut end = text.len();
    while end > 0 && (text[end - 1] == b'\r' || text[end - 1] == b'\n') {
        end -= 1;
    }
    let mut start = 0;
    while start < end && (text[start] == b'\r' || text[start] == b'\n') {
        start += 1;
    }
    let mut out = code.to_vec();
    out.push(b' ');
    out.extend_from_slice(&text[start..end]);
    out
}

/// `redis.error_reply(msg)`: `{err = ...}` with Redis's error code rules.
fn error_reply(lua: &Lua, args: MultiValue) -> super::engine::NativeResult {
    let msg = match (args.len(), args.front()) {
        (1, Some(Value::String(s))) => s.as_bytes().to_vec(),
        _ => {
            let t = err_table(lua, "ERR wrong number or type of arguments")
                .map_err(|e| Raise::Msg(e.to_string()))?;
            return Ok(one(Value::Table(t)));
        }
    };
    let mut dashed = msg.clone();
    if !msg.starts_with(b"-") {
        dashed.insert(0, b'-');
    }
    let t = lua.create_table().map_err(|e| Raise::Msg(e.to_string()))?;
    let s = lua
        .create_string(error_text(&dashed))
        .map_err(|e| Raise::Msg(e.to_string()))?;
    t.raw_set("err", s).map_err(|e| Raise::Msg(e.to_string()))?;
    Ok(one(Value::Table(t)))
}

/// `redis.status_reply(msg)`: `{ok = msg}`.
fn status_reply(lua: &Lua, args: MultiValue) -> super::engine::NativeResult {
    let msg = match (args.len(), args.front()) {
        (1, Some(Value::String(s))) => s.as_bytes().to_vec(),
        _ => {
            let t = err_table(lua, "ERR wrong number or type of arguments")
                .map_err(|e| Raise::Msg(e.to_string()))?;
            return Ok(one(Value::Table(t)));
        }
    };
    let t = lua.create_table().map_err(|e| Raise::Msg(e.to_string()))?;
    let s = lua
        .create_string(&msg)
        .map_err(|e| Raise::Msg(e.to_string()))?;
    t.raw_set("ok", s).map_err(|e| Raise::Msg(e.to_string()))?;
    Ok(one(Value::Table(t)))
}

/// `redis.sha1hex(s)`.
fn sha1hex(lua: &Lua, args: MultiValue) -> super::engine::NativeResult {
    if args.len() != 1 {
        return Err(raise_err(lua, "ERR wrong number of arguments"));
    }
    let data = match &args[0] {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Integer(n) => n.to_string().into_bytes(),
        Value::Number(n) => super::engine::lua_number_str(*n).into_bytes(),
        _ => Vec::new(),
    };
    let hex = super::sha1_hex(&data);
    let s = lua
        .create_string(hex)
        .map_err(|e| Raise::Msg(e.to_string()))?;
    Ok(one(Value::String(s)))
}

/// `redis.setresp(2|3)`: the protocol of replies `redis.call` returns.
fn setresp(lua: &Lua, args: MultiValue) -> super::engine::NativeResult {
    if args.len() != 1 {
        return Err(raise_err(lua, "ERR redis.setresp() requires one argument."));
    }
    let resp = match super::engine::to_number(&args[0]) {
        Some(n) if n == 2.0 || n == 3.0 => n as u8,
        _ => return Err(raise_err(lua, "ERR RESP version must be 2 or 3.")),
    };
    super::run::set_resp(lua, resp);
    Ok(MultiValue::new())
}

/// `redis.set_repl(flags)`: accepted; scripts are always replicated by
/// their effects.
fn set_repl(lua: &Lua, args: MultiValue) -> super::engine::NativeResult {
    if args.len() != 1 {
        return Err(raise_err(
            lua,
            "ERR redis.set_repl() requires two arguments.",
        ));
    }
    match super::engine::to_number(&args[0]) {
        Some(n) if (REPL_NONE as f64..=REPL_ALL as f64).contains(&n) && n.fract() == 0.0 => {
            Ok(MultiValue::new())
        }
        _ => Err(raise_err(
            lua,
            "ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
        )),
    }
}

/// `redis.acl_check_cmd(cmd, ...)`: Strata has no ACL users, so any
/// existing command is allowed.
fn acl_check_cmd(lua: &Lua, args: MultiValue) -> super::engine::NativeResult {
    let argv = match super::run::lua_args_to_argv(&args) {
        Ok(a) => a,
        Err(msg) => return Err(raise_err(lua, msg)),
    };
    if argv.is_empty() {
        return Err(raise_err(
            lua,
            "ERR Please specify at least one argument for this redis lib call",
        ));
    }
    if !super::run::command_exists(lua, &argv) {
        return Err(raise_err(
            lua,
            "ERR Invalid command passed to redis.acl_check_cmd()",
        ));
    }
    Ok(one(Value::Boolean(true)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn version_number_is_redis_s() {
        assert_eq!(super::version_num(), 458767);
    }
}
