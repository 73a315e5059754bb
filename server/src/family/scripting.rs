//! Scripting commands: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, SCRIPT,
//! FUNCTION, FCALL, FCALL_RO. The engines live in `crate::scripting`.

use bytes::Bytes;

use crate::commands::{
    acl, args::parse_i64, container, flags::*, spec, Args, CmdError, CmdResult, CommandSpec,
    NO_KEYS,
};
use crate::ctx::Ctx;
use crate::resp::Reply;
use crate::scripting::functions::RestorePolicy;
use crate::scripting::run::{self, Invocation};
use crate::scripting::{self as scr};

const SCRIPT_RUN: u64 = NOSCRIPT | STALE | SKIP_MONITOR | NO_MANDATORY_KEYS | MOVABLE_KEYS;

pub const COMMANDS: &[CommandSpec] = &[
    spec("eval", -3, SCRIPT_RUN, acl::SCRIPTING, NO_KEYS, eval),
    spec(
        "eval_ro",
        -3,
        READONLY | SCRIPT_RUN,
        acl::SCRIPTING,
        NO_KEYS,
        eval_ro,
    ),
    spec("evalsha", -3, SCRIPT_RUN, acl::SCRIPTING, NO_KEYS, evalsha),
    spec(
        "evalsha_ro",
        -3,
        READONLY | SCRIPT_RUN,
        acl::SCRIPTING,
        NO_KEYS,
        evalsha_ro,
    ),
    spec("fcall", -3, SCRIPT_RUN, acl::SCRIPTING, NO_KEYS, fcall),
    spec(
        "fcall_ro",
        -3,
        READONLY | SCRIPT_RUN,
        acl::SCRIPTING,
        NO_KEYS,
        fcall_ro,
    ),
    container("script", -2, 0, 0, SCRIPT_SUBCOMMANDS),
    container("function", -2, 0, 0, FUNCTION_SUBCOMMANDS),
];

const SCRIPT_SUBCOMMANDS: &[CommandSpec] = &[
    spec("debug", 3, NOSCRIPT, acl::SCRIPTING, NO_KEYS, script_debug),
    spec(
        "exists",
        -3,
        NOSCRIPT,
        acl::SCRIPTING,
        NO_KEYS,
        script_exists,
    ),
    spec("flush", -2, NOSCRIPT, acl::SCRIPTING, NO_KEYS, script_flush),
    spec(
        "help",
        2,
        LOADING | STALE,
        acl::SCRIPTING,
        NO_KEYS,
        script_help,
    ),
    spec(
        "kill",
        2,
        NOSCRIPT | ALLOW_BUSY,
        acl::SCRIPTING,
        NO_KEYS,
        script_kill,
    ),
    spec(
        "load",
        3,
        NOSCRIPT | STALE,
        acl::SCRIPTING,
        NO_KEYS,
        script_load,
    ),
];

const FUNCTION_SUBCOMMANDS: &[CommandSpec] = &[
    spec(
        "delete",
        3,
        WRITE | NOSCRIPT,
        acl::SCRIPTING,
        NO_KEYS,
        function_delete,
    ),
    spec("dump", 2, NOSCRIPT, acl::SCRIPTING, NO_KEYS, function_dump),
    spec(
        "flush",
        -2,
        WRITE | NOSCRIPT,
        acl::SCRIPTING,
        NO_KEYS,
        function_flush,
    ),
    spec(
        "help",
        2,
        LOADING | STALE,
        acl::SCRIPTING,
        NO_KEYS,
        function_help,
    ),
    spec(
        "kill",
        2,
        NOSCRIPT | ALLOW_BUSY,
        acl::SCRIPTING,
        NO_KEYS,
        function_kill,
    ),
    spec("list", -2, NOSCRIPT, acl::SCRIPTING, NO_KEYS, function_list),
    spec(
        "load",
        -3,
        WRITE | DENYOOM | NOSCRIPT,
        acl::SCRIPTING,
        NO_KEYS,
        function_load,
    ),
    spec(
        "restore",
        -3,
        WRITE | DENYOOM | NOSCRIPT,
        acl::SCRIPTING,
        NO_KEYS,
        function_restore,
    ),
    spec(
        "stats",
        2,
        NOSCRIPT | ALLOW_BUSY,
        acl::SCRIPTING,
        NO_KEYS,
        function_stats,
    ),
];

/// `numkeys key... arg...`: the keys and the arguments.
fn keys_and_args(
    args: &mut Args,
    bad_number: &'static str,
) -> Result<(Vec<Bytes>, Vec<Bytes>), CmdError> {
    let n = parse_i64(&args.next()?).map_err(|_| CmdError::new(bad_number))?;
    if n < 0 {
        return Err(CmdError::new("ERR Number of keys can't be negative"));
    }
    if n as usize > args.remaining() {
        return Err(CmdError::new(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    let mut rest = args.rest();
    let argv = rest.split_off(n as usize);
    Ok((rest, argv))
}

fn eval(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    eval_generic(ctx, args, false, false)
}

fn eval_ro(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    eval_generic(ctx, args, false, true)
}

fn evalsha(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    eval_generic(ctx, args, true, false)
}

fn evalsha_ro(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    eval_generic(ctx, args, true, true)
}

fn eval_generic(ctx: &mut Ctx, args: &mut Args, by_sha: bool, ro: bool) -> CmdResult {
    let script = args.next()?;
    let (keys, argv) = keys_and_args(args, "ERR value is not an integer or out of range")?;
    let sha = if by_sha {
        let sha = String::from_utf8_lossy(&script).to_ascii_lowercase();
        if !ctx.srv.scripting.eval.scripts.contains_key(&sha) {
            return Err(CmdError::new(
                "NOSCRIPT No matching script. Please use EVAL.",
            ));
        }
        sha
    } else {
        scr::load_eval_script(ctx.srv, &script)?
    };
    let Some(s) = ctx.srv.scripting.eval.scripts.get(&sha) else {
        return Err(CmdError::new(
            "NOSCRIPT No matching script. Please use EVAL.",
        ));
    };
    if ro && !s.flags.legacy && !s.flags.no_writes {
        return Err(CmdError::new(
            "ERR Can not execute a script with write flag using *_ro command.",
        ));
    }
    let inv = Invocation {
        name: sha,
        is_eval: true,
        func: s.func.clone(),
        keys,
        args: argv,
        flags: s.flags,
        read_only: ro || s.flags.no_writes,
        argv: args.argv().to_vec(),
    };
    let lua = ctx.srv.scripting.eval.lua.clone();
    Ok(run::run(ctx.srv, ctx.client, &lua, inv))
}

fn fcall(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    fcall_generic(ctx, args, false)
}

fn fcall_ro(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    fcall_generic(ctx, args, true)
}

fn fcall_generic(ctx: &mut Ctx, args: &mut Args, ro: bool) -> CmdResult {
    let name = args.next()?;
    let Some((_, f)) = ctx.srv.scripting.functions.find(&name) else {
        return Err(CmdError::new("ERR Function not found"));
    };
    let (fname, func, fflags) = (f.name.clone(), f.func.clone(), f.flags);
    let (keys, argv) = keys_and_args(args, "ERR Bad number of keys provided")?;
    if ro && !fflags.no_writes {
        return Err(CmdError::new(
            "ERR Can not execute a script with write flag using *_ro command.",
        ));
    }
    let inv = Invocation {
        name: fname,
        is_eval: false,
        func,
        keys,
        args: argv,
        flags: fflags,
        read_only: ro || fflags.no_writes,
        argv: args.argv().to_vec(),
    };
    let lua = ctx.srv.scripting.functions.lua.clone();
    Ok(run::run(ctx.srv, ctx.client, &lua, inv))
}

fn script_load(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let body = args.next()?;
    let sha = scr::load_eval_script(ctx.srv, &body)?;
    Ok(Reply::bulk(sha.into_bytes()))
}

fn script_exists(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let scripts = &ctx.srv.scripting.eval.scripts;
    Ok(Reply::Array(
        args.rest()
            .iter()
            .map(|sha| {
                let key = String::from_utf8_lossy(sha).to_ascii_lowercase();
                Reply::Int(scripts.contains_key(&key) as i64)
            })
            .collect(),
    ))
}

/// `[ASYNC|SYNC]` of SCRIPT FLUSH and FUNCTION FLUSH (freeing is
/// synchronous either way: a VM is dropped at once).
fn flush_mode(args: &mut Args, error: &'static str) -> Result<(), CmdError> {
    if args.remaining() > 1 {
        return Err(CmdError::new(error));
    }
    if let Some(a) = args.next_opt() {
        if !a.eq_ignore_ascii_case(b"sync") && !a.eq_ignore_ascii_case(b"async") {
            return Err(CmdError::new(error));
        }
    }
    Ok(())
}

fn script_flush(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    flush_mode(args, "ERR SCRIPT FLUSH only support SYNC|ASYNC option")?;
    ctx.srv.scripting.flush_eval();
    Ok(Reply::OK)
}

fn script_debug(_ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let mode = args.next()?;
    if mode.eq_ignore_ascii_case(b"no") {
        return Ok(Reply::OK);
    }
    if mode.eq_ignore_ascii_case(b"yes") || mode.eq_ignore_ascii_case(b"sync") {
        return Err(CmdError::new(
            "ERR SCRIPT DEBUG is not supported: the Lua debugger is not available",
        ));
    }
    Err(CmdError::new("ERR Use SCRIPT DEBUG YES/SYNC/NO"))
}

/// SCRIPT KILL (`eval`) and FUNCTION KILL.
fn kill(ctx: &mut Ctx, eval: bool) -> CmdResult {
    let Some(run) = ctx.srv.scripting.running.as_mut() else {
        return Err(CmdError::new("NOTBUSY No scripts in execution right now."));
    };
    if run.wrote {
        return Err(CmdError::new("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command."));
    }
    if run.is_eval != eval {
        return Err(scr::busy_error(run.is_eval));
    }
    run.kill = true;
    Ok(Reply::OK)
}

fn script_kill(ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    kill(ctx, true)
}

fn function_kill(ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    kill(ctx, false)
}

fn help(lines: &[&'static str]) -> Reply {
    Reply::Array(lines.iter().map(|l| Reply::status(l)).collect())
}

fn script_help(_ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    Ok(help(&[
        "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "DEBUG (YES|SYNC|NO)",
        "    Set the debug mode for subsequent scripts executed.",
        "EXISTS <sha1> [<sha1> ...]",
        "    Return information about the existence of the scripts in the script cache.",
        "FLUSH [ASYNC|SYNC]",
        "    Flush the Lua scripts cache. Very dangerous on replicas.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the scripts cache.",
        "    * SYNC: Synchronously flush the scripts cache.",
        "KILL",
        "    Kill the currently executing Lua script.",
        "LOAD <script>",
        "    Load a script into the scripts cache without executing it.",
        "HELP",
        "    Prints this help.",
    ]))
}

fn function_help(_ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    Ok(help(&[
        "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "LOAD [REPLACE] <FUNCTION CODE>",
        "    Create a new library with the given library name and code.",
        "DELETE <LIBRARY NAME>",
        "    Delete the given library.",
        "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
        "    Return general information on all the libraries:",
        "    * Library name",
        "    * The engine used to run the Library",
        "    * Library description",
        "    * Functions list",
        "    * Library code (if WITHCODE is given)",
        "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
        "STATS",
        "    Return information about the current function running:",
        "    * Function name",
        "    * Command used to run the function",
        "    * Duration in MS that the function is running",
        "    If no function is running, return nil",
        "    In addition, returns a list of available engines.",
        "KILL",
        "    Kill the current running function.",
        "FLUSH [ASYNC|SYNC]",
        "    Delete all the libraries.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the libraries.",
        "    * SYNC: Synchronously flush the libraries.",
        "DUMP",
        "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
        "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
        "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
        "    control how to handle existing libraries (default APPEND):",
        "    * FLUSH: delete all existing libraries.",
        "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
        "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
        "      libraries with the new libraries (notice that even on this option there is a chance of failure",
        "      in case of functions name collision with another library).",
        "HELP",
        "    Prints this help.",
    ]))
}

fn function_load(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let mut replace = false;
    let mut code = None;
    while let Some(a) = args.next_opt() {
        if args.is_empty() {
            code = Some(a);
        } else if a.eq_ignore_ascii_case(b"replace") && !replace {
            replace = true;
        } else {
            return Err(CmdError::new(format!(
                "ERR Unknown option given: {}",
                String::from_utf8_lossy(&a)
            )));
        }
    }
    let Some(code) = code else {
        return Err(CmdError::new("ERR Function code is missing"));
    };
    let name = ctx.srv.scripting.functions.load(&code, replace)?;
    ctx.db().add_dirty(1);
    Ok(Reply::bulk(name.into_bytes()))
}

fn function_delete(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let name = args.next()?;
    if !ctx
        .srv
        .scripting
        .functions
        .delete(&String::from_utf8_lossy(&name))
    {
        return Err(CmdError::new("ERR Library not found"));
    }
    ctx.db().add_dirty(1);
    Ok(Reply::OK)
}

fn function_flush(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    flush_mode(args, "ERR FUNCTION FLUSH only supports SYNC|ASYNC option")?;
    ctx.srv.scripting.functions = scr::functions::Functions::new();
    ctx.db().add_dirty(1);
    Ok(Reply::OK)
}

fn function_list(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let mut with_code = false;
    let mut pattern: Option<Bytes> = None;
    while let Some(a) = args.next_opt() {
        if a.eq_ignore_ascii_case(b"withcode") && !with_code {
            with_code = true;
        } else if a.eq_ignore_ascii_case(b"libraryname") && pattern.is_none() {
            let Some(p) = args.next_opt() else {
                return Err(CmdError::new("ERR library name argument was not given"));
            };
            pattern = Some(p);
        } else {
            return Err(CmdError::new(format!(
                "ERR Unknown argument {}",
                String::from_utf8_lossy(&a)
            )));
        }
    }
    let mut out = Vec::new();
    for lib in ctx.srv.scripting.functions.libraries.values() {
        if let Some(p) = &pattern {
            if !crate::util::glob::glob_match(p, lib.name.as_bytes(), false) {
                continue;
            }
        }
        let functions = lib
            .functions
            .values()
            .map(|f| {
                Reply::Map(vec![
                    (Reply::bulk_str("name"), Reply::bulk_str(&f.name)),
                    (
                        Reply::bulk_str("description"),
                        f.description.clone().map_or(Reply::Nil, Reply::Bulk),
                    ),
                    (
                        Reply::bulk_str("flags"),
                        Reply::Set(f.flags.names().into_iter().map(Reply::status).collect()),
                    ),
                ])
            })
            .collect();
        let mut fields = vec![
            (Reply::bulk_str("library_name"), Reply::bulk_str(&lib.name)),
            (Reply::bulk_str("engine"), Reply::bulk_str("LUA")),
            (Reply::bulk_str("functions"), Reply::Array(functions)),
        ];
        if with_code {
            fields.push((
                Reply::bulk_str("library_code"),
                Reply::Bulk(lib.code.clone()),
            ));
        }
        out.push(Reply::Map(fields));
    }
    Ok(Reply::Array(out))
}

fn function_stats(ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    let running = match &ctx.srv.scripting.running {
        Some(r) if r.is_eval => return Err(scr::busy_error(true)),
        Some(r) => Reply::Map(vec![
            (Reply::bulk_str("name"), Reply::bulk_str(&r.name)),
            (
                Reply::bulk_str("command"),
                Reply::Array(r.argv.iter().cloned().map(Reply::Bulk).collect()),
            ),
            (
                Reply::bulk_str("duration_ms"),
                Reply::Int(r.started.elapsed().as_millis() as i64),
            ),
        ]),
        None => Reply::Nil,
    };
    let f = &ctx.srv.scripting.functions;
    Ok(Reply::Map(vec![
        (Reply::bulk_str("running_script"), running),
        (
            Reply::bulk_str("engines"),
            Reply::Map(vec![(
                Reply::bulk_str("LUA"),
                Reply::Map(vec![
                    (
                        Reply::bulk_str("libraries_count"),
                        Reply::Int(f.libraries.len() as i64),
                    ),
                    (
                        Reply::bulk_str("functions_count"),
                        Reply::Int(f.function_count() as i64),
                    ),
                ]),
            )]),
        ),
    ]))
}

fn function_dump(ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    let codes = ctx.srv.scripting.functions.codes();
    let payload = scr::functions::dump_payload(&codes, ctx.srv.config.rdbcompression);
    Ok(Reply::bulk(payload))
}

fn function_restore(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let payload = args.next()?;
    let policy =
        match args.next_opt() {
            None => RestorePolicy::Append,
            Some(p) if p.eq_ignore_ascii_case(b"flush") => RestorePolicy::Flush,
            Some(p) if p.eq_ignore_ascii_case(b"append") => RestorePolicy::Append,
            Some(p) if p.eq_ignore_ascii_case(b"replace") => RestorePolicy::Replace,
            Some(_) => return Err(CmdError::new(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            )),
        };
    args.finish()?;
    let codes = scr::functions::parse_payload(&payload)?;
    let functions = &mut ctx.srv.scripting.functions;
    let mut libs = Vec::with_capacity(codes.len());
    for code in codes {
        libs.push(functions.compile(&Bytes::from(code))?);
    }
    functions.restore(libs, policy)?;
    ctx.db().add_dirty(1);
    Ok(Reply::OK)
}
