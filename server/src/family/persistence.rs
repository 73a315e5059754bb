//! Persistence commands: SAVE, BGSAVE [SCHEDULE], BGREWRITEAOF.

use crate::commands::{acl, flags::*, spec, Args, CmdError, CmdResult, CommandSpec, NO_KEYS};
use crate::ctx::Ctx;
use crate::persist;
use crate::resp::Reply;

pub const COMMANDS: &[CommandSpec] = &[
    spec(
        "save",
        1,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING | NO_MULTI,
        acl::ADMIN,
        NO_KEYS,
        save,
    ),
    spec(
        "bgsave",
        -1,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING,
        acl::ADMIN,
        NO_KEYS,
        bgsave,
    ),
    spec(
        "bgrewriteaof",
        1,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING,
        acl::ADMIN,
        NO_KEYS,
        bgrewriteaof,
    ),
];

fn save(ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    persist::save_sync(ctx.srv).map_err(CmdError::new)?;
    Ok(Reply::OK)
}

fn bgsave(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let schedule = match args.remaining() {
        0 => false,
        1 if args.eat("schedule") => true,
        _ => return Err(CmdError::syntax()),
    };
    if ctx.srv.rdb.bgsave.is_some() {
        if schedule {
            ctx.srv.rdb.scheduled = true;
            return Ok(Reply::status("Background saving scheduled"));
        }
        return Err(CmdError::new("ERR Background save already in progress"));
    }
    persist::start_bgsave(ctx.srv).map_err(CmdError::new)?;
    Ok(Reply::status("Background saving started"))
}

fn bgrewriteaof(ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    if ctx.srv.aof.is_none() {
        // Redis rewrites even with the AOF off (to create a file); Strata
        // keeps the AOF's files only while it is on.
        return Err(CmdError::new(
            "ERR Background append only file rewriting needs appendonly yes in Strata",
        ));
    }
    match crate::aof::start_rewrite(ctx.srv).map_err(CmdError::new)? {
        true => Ok(Reply::status(
            "Background append only file rewriting started",
        )),
        false => Ok(Reply::status(
            "Background append only file rewriting scheduled",
        )),
    }
}
