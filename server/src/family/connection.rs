//! Connection commands: PING, ECHO, QUIT, SELECT.

use crate::commands::{acl, flags::*, spec, Args, CmdError, CmdResult, CommandSpec, NO_KEYS};
use crate::ctx::Ctx;
use crate::resp::Reply;

pub const COMMANDS: &[CommandSpec] = &[
    spec("ping", -1, FAST | SENTINEL, acl::CONNECTION, NO_KEYS, ping),
    spec(
        "echo",
        2,
        LOADING | STALE | FAST,
        acl::CONNECTION,
        NO_KEYS,
        echo,
    ),
    spec(
        "quit",
        -1,
        ALLOW_BUSY | NOSCRIPT | NO_AUTH | LOADING | STALE | FAST,
        acl::CONNECTION,
        NO_KEYS,
        quit,
    ),
    spec(
        "select",
        2,
        LOADING | STALE | FAST,
        acl::CONNECTION,
        NO_KEYS,
        select,
    ),
];

fn ping(_ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    match args.remaining() {
        0 => Ok(Reply::status("PONG")),
        1 => Ok(Reply::Bulk(args.next()?)),
        _ => Err(CmdError::wrong_arity("ping")),
    }
}

fn echo(_ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    Ok(Reply::Bulk(args.next()?))
}

fn quit(ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    ctx.client.close_after_reply = true;
    Ok(Reply::OK)
}

fn select(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let idx = args
        .next_i64()
        .map_err(|_| CmdError::new("ERR value is not an integer or out of range"))?;
    if idx < 0 || idx as usize >= ctx.srv.keyspace.db_count() {
        return Err(CmdError::new("ERR DB index is out of range"));
    }
    ctx.client.db = idx as usize;
    Ok(Reply::OK)
}
