//! String commands.

use crate::commands::{acl, flags::*, keys, spec, Args, CmdError, CmdResult, CommandSpec};
use crate::ctx::Ctx;
use crate::resp::Reply;
use strata_engine::{StrValue, Value};

pub const COMMANDS: &[CommandSpec] = &[
    spec("get", 2, READONLY | FAST, acl::STRING, keys(1, 1, 1), get),
    spec("set", -3, WRITE | DENYOOM, acl::STRING, keys(1, 1, 1), set),
];

/// Reads a string value; WRONGTYPE for other types.
pub fn get_string(ctx: &mut Ctx, key: &[u8]) -> Result<Option<Vec<u8>>, CmdError> {
    match ctx.db().get(key) {
        None => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s.to_bytes())),
        #[allow(unreachable_patterns)]
        Some(_) => Err(CmdError::wrong_type()),
    }
}

fn get(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    Ok(get_string(ctx, &key)?.into())
}

fn set(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let val = args.next()?;
    args.finish()?;
    let mut db = ctx.db();
    db.set(&key, Value::Str(StrValue::from_bytes(&val)), false);
    db.notify(strata_engine::notify::STRING, "set", &key);
    Ok(Reply::OK)
}
