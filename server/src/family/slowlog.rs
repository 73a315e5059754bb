//! SLOWLOG GET [count] | LEN | RESET | HELP, over `introspect.slowlog`.

use crate::commands::{acl, container, flags::*, spec, Args, CmdError, CmdResult, CommandSpec, NO_KEYS};
use crate::ctx::Ctx;
use crate::family::command::help_reply;
use crate::resp::Reply;

/// Entries SLOWLOG GET returns when no count is given.
const GET_DEFAULT_COUNT: usize = 10;

const SUBCOMMANDS: &[CommandSpec] = &[
    spec("get", -2, ADMIN | LOADING | STALE, 0, NO_KEYS, get),
    spec("help", 2, LOADING | STALE, 0, NO_KEYS, help),
    spec("len", 2, ADMIN | LOADING | STALE, 0, NO_KEYS, len),
    spec("reset", 2, ADMIN | LOADING | STALE, 0, NO_KEYS, reset),
];

pub const COMMANDS: &[CommandSpec] = &[container("slowlog", -2, 0, acl::SLOW, SUBCOMMANDS)];

fn help(_ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    Ok(help_reply(
        "SLOWLOG",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    ))
}

fn get(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let count = match args.remaining() {
        0 => Some(GET_DEFAULT_COUNT),
        1 => {
            let err = || CmdError::new("ERR count should be greater than or equal to -1");
            let n = crate::commands::args::parse_i64(&args.next()?).map_err(|_| err())?;
            match n {
                -1 => None,
                n if n < -1 => return Err(err()),
                n => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            }
        }
        _ => {
            return Err(CmdError::new(
                "ERR unknown subcommand or wrong number of arguments for 'get'. Try SLOWLOG HELP.",
            ))
        }
    };
    let entries = ctx
        .srv
        .introspect
        .slowlog
        .newest(count)
        .map(|e| {
            Reply::Array(vec![
                Reply::Int(e.id as i64),
                Reply::Int(e.time_s as i64),
                Reply::Int(e.duration_us as i64),
                Reply::Array(e.argv.iter().cloned().map(Reply::Bulk).collect()),
                Reply::bulk_str(&e.client_addr),
                Reply::Bulk(e.client_name.clone()),
            ])
        })
        .collect();
    Ok(Reply::Array(entries))
}

fn len(ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    Ok(Reply::Int(ctx.srv.introspect.slowlog.len() as i64))
}

fn reset(ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    ctx.srv.introspect.slowlog.reset();
    Ok(Reply::OK)
}
