//! Whole-database commands: DBSIZE, FLUSHDB, FLUSHALL, SWAPDB.
//!
//! A flush takes the databases' contents out through the door (which signals
//! WATCHers of keys that existed) and frees them here, or on the lazyfree
//! thread with ASYNC (or `lazyfree-lazy-user-flush yes` and no option).
//! The dirty counter grows by the number of keys removed (+1 for FLUSHALL).

use crate::commands::args::parse_i64;
use crate::commands::{acl, flags::*, spec, Args, CmdError, CmdResult, CommandSpec, NO_KEYS};
use crate::ctx::Ctx;
use crate::resp::Reply;

pub const COMMANDS: &[CommandSpec] = &[
    spec("dbsize", 1, READONLY | FAST, acl::KEYSPACE, NO_KEYS, dbsize),
    spec(
        "flushdb",
        -1,
        WRITE,
        acl::KEYSPACE | acl::DANGEROUS,
        NO_KEYS,
        flushdb,
    ),
    spec(
        "flushall",
        -1,
        WRITE,
        acl::KEYSPACE | acl::DANGEROUS,
        NO_KEYS,
        flushall,
    ),
    spec(
        "swapdb",
        3,
        WRITE | FAST,
        acl::KEYSPACE | acl::DANGEROUS,
        NO_KEYS,
        swapdb,
    ),
];

/// Parses a database index as a C int (getIntFromObjectOrReply). `err`
/// replaces both of Redis's messages (not an integer; outside the int range)
/// when given. The range of existing databases is the caller's check.
pub fn parse_db_index(arg: &[u8], err: Option<&'static str>) -> Result<i64, CmdError> {
    let n = parse_i64(arg).map_err(|e| err.map_or(e, CmdError::new))?;
    if i32::try_from(n).is_err() {
        return Err(err.map_or_else(
            || {
                CmdError::new(format!(
                    "ERR value is out of range, value must between {} and {}",
                    i32::MIN,
                    i32::MAX
                ))
            },
            CmdError::new,
        ));
    }
    Ok(n)
}

fn dbsize(ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    // Counts keys whose TTL passed but that were not deleted yet, as Redis does.
    Ok(Reply::Int(ctx.db().len() as i64))
}

/// `[ASYNC|SYNC]`; true for ASYNC. Without an option the config decides.
fn parse_flush_mode(ctx: &Ctx, args: &mut Args) -> Result<bool, CmdError> {
    let lazy = match args.remaining() {
        0 => ctx.srv.config.lazyfree_lazy_user_flush,
        1 if args.eat("async") => true,
        1 if args.eat("sync") => false,
        _ => return Err(CmdError::syntax()),
    };
    Ok(lazy)
}

fn flushdb(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let lazy = parse_flush_mode(ctx, args)?;
    let srv = &mut *ctx.srv;
    let mut db = srv.keyspace.db(ctx.client.db);
    let removed = if lazy {
        let old = db.take();
        let n = old.len();
        if n > 0 {
            srv.lazyfree.free_later(Box::new(old), n as u64);
        }
        n
    } else {
        db.flush()
    };
    db.add_dirty(removed as u64);
    Ok(Reply::OK)
}

fn flushall(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let lazy = parse_flush_mode(ctx, args)?;
    let srv = &mut *ctx.srv;
    // A running background save is abandoned first: the data it would save is
    // about to be gone (Redis kills its RDB child).
    crate::persist::kill_bgsave(srv);
    let removed = if lazy {
        let old = srv.keyspace.take_all();
        let n: usize = old.iter().map(|d| d.len()).sum();
        if n > 0 {
            srv.lazyfree.free_later(Box::new(old), n as u64);
        }
        n
    } else {
        srv.keyspace.flush_all()
    };
    // Redis counts one more change so FLUSHALL is propagated even on an empty dataset.
    srv.keyspace.shared.dirty += removed as u64;
    crate::hooks::after_flushall(srv);
    srv.keyspace.shared.dirty += 1;
    Ok(Reply::OK)
}

fn swapdb(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let a = parse_db_index(&args.next()?, Some("ERR invalid first DB index"))?;
    let b = parse_db_index(&args.next()?, Some("ERR invalid second DB index"))?;
    let count = ctx.srv.keyspace.db_count() as i64;
    if !(0..count).contains(&a) || !(0..count).contains(&b) {
        return Err(CmdError::new("ERR DB index is out of range"));
    }
    ctx.srv.keyspace.swap_dbs(a as usize, b as usize);
    ctx.srv.keyspace.shared.dirty += 1;
    Ok(Reply::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_index_is_a_c_int() {
        assert_eq!(parse_db_index(b"3", None), Ok(3));
        assert_eq!(parse_db_index(b"-1", None), Ok(-1));
        assert_eq!(parse_db_index(b"2147483647", None), Ok(2_147_483_647));
        let range = Err(CmdError::new(
            "ERR value is out of range, value must between -2147483648 and 2147483647",
        ));
        assert_eq!(parse_db_index(b"2147483648", None), range);
        assert_eq!(parse_db_index(b"x", None), Err(CmdError::not_integer()));
        let first = Some("ERR invalid first DB index");
        assert_eq!(
            parse_db_index(b" 1", first),
            Err(CmdError::new("ERR invalid first DB index"))
        );
        assert_eq!(
            parse_db_index(b"-2147483649", first),
            Err(CmdError::new("ERR invalid first DB index"))
        );
    }
}
