//! Persistence commands: SAVE, BGSAVE [SCHEDULE].

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
