//! Set commands: SADD, SREM, SCARD, SISMEMBER, SMISMEMBER, SMEMBERS, SPOP,
//! SRANDMEMBER, SMOVE, SINTER, SINTERCARD, SUNION, SDIFF, the STORE variants
//! and SSCAN.
//!
//! Replies follow Redis 7.0: SMEMBERS/SINTER/SUNION/SDIFF/SPOP-with-count are
//! RESP3 sets, SRANDMEMBER with a count is an array. An intset answers in
//! increasing order; SUNION/SDIFF build their result as a new set first (so a
//! small all-integer result comes back sorted, as in Redis).

pub(crate) mod algebra;
pub(crate) mod random;
pub(crate) mod scan;

use bytes::Bytes;

use crate::commands::{acl, flags::*, keys, spec, Args, CmdError, CmdResult, CommandSpec};
use crate::ctx::Ctx;
use crate::family::scan::{parse_scan_cursor, ScanOptions, SCAN_VISITS_PER_COUNT};
use crate::resp::Reply;
use strata_engine::notify;
use strata_engine::types::set::{Member, Rng, Set};
use strata_engine::Value;

pub const COMMANDS: &[CommandSpec] = &[
    spec(
        "sadd",
        -3,
        WRITE | DENYOOM | FAST,
        acl::SET,
        keys(1, 1, 1),
        sadd,
    ),
    spec("srem", -3, WRITE | FAST, acl::SET, keys(1, 1, 1), srem),
    spec("scard", 2, READONLY | FAST, acl::SET, keys(1, 1, 1), scard),
    spec(
        "sismember",
        3,
        READONLY | FAST,
        acl::SET,
        keys(1, 1, 1),
        sismember,
    ),
    spec(
        "smismember",
        -3,
        READONLY | FAST,
        acl::SET,
        keys(1, 1, 1),
        smismember,
    ),
    spec("smembers", 2, READONLY, acl::SET, keys(1, 1, 1), smembers),
    spec(
        "spop",
        -2,
        WRITE | FAST,
        acl::SET,
        keys(1, 1, 1),
        random::spop,
    ),
    spec(
        "srandmember",
        -2,
        READONLY,
        acl::SET,
        keys(1, 1, 1),
        random::srandmember,
    ),
    spec("smove", 4, WRITE | FAST, acl::SET, keys(1, 2, 1), smove),
    spec(
        "sinter",
        -2,
        READONLY,
        acl::SET,
        keys(1, -1, 1),
        algebra::sinter,
    ),
    spec(
        "sintercard",
        -3,
        READONLY | MOVABLE_KEYS,
        acl::SET,
        keys(0, 0, 0),
        algebra::sintercard,
    ),
    spec(
        "sunion",
        -2,
        READONLY,
        acl::SET,
        keys(1, -1, 1),
        algebra::sunion,
    ),
    spec(
        "sdiff",
        -2,
        READONLY,
        acl::SET,
        keys(1, -1, 1),
        algebra::sdiff,
    ),
    spec(
        "sinterstore",
        -3,
        WRITE | DENYOOM,
        acl::SET,
        keys(1, -1, 1),
        algebra::sinterstore,
    ),
    spec(
        "sunionstore",
        -3,
        WRITE | DENYOOM,
        acl::SET,
        keys(1, -1, 1),
        algebra::sunionstore,
    ),
    spec(
        "sdiffstore",
        -3,
        WRITE | DENYOOM,
        acl::SET,
        keys(1, -1, 1),
        algebra::sdiffstore,
    ),
    spec("sscan", -3, READONLY, acl::SET, keys(1, 1, 1), sscan),
];

/// A member as a bulk reply.
pub(crate) fn member_reply(m: Member<'_>) -> Reply {
    match m {
        Member::Int(n) => Reply::Bulk(Bytes::from(n.to_string())),
        Member::Str(s) => Reply::bulk_copy(s),
    }
}

/// The set stored at `v`, or WRONGTYPE.
pub(crate) fn as_set(v: &Value) -> Result<&Set, CmdError> {
    match v {
        Value::Set(s) => Ok(s),
        _ => Err(CmdError::wrong_type()),
    }
}

fn as_set_mut(v: &mut Value) -> Result<&mut Set, CmdError> {
    match v {
        Value::Set(s) => Ok(s),
        _ => Err(CmdError::wrong_type()),
    }
}

/// A generator seeded from the keyspace's, for commands that pick at random.
pub(crate) fn rng(ctx: &mut Ctx) -> Rng {
    Rng::new(ctx.srv.keyspace.shared.random_u64())
}

fn sadd(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let members = args.rest();
    let Some(first) = members.first().cloned() else {
        return Err(CmdError::wrong_arity("sadd"));
    };
    let intset_max = ctx.srv.keyspace.shared.encodings.set_max_intset_entries;
    let mut db = ctx.db();
    let (mut g, _) = db.write_or_insert(&key, || Value::Set(Set::for_member(&first)));
    let set = match as_set_mut(g.value_mut()) {
        Ok(s) => s,
        Err(e) => {
            g.unchanged();
            return Err(e);
        }
    };
    let added = members.iter().filter(|m| set.insert(m, intset_max)).count();
    if added > 0 {
        g.notify(notify::SET, "sadd");
        g.set_dirty(added as u64);
    } else {
        g.unchanged();
    }
    Ok(Reply::Int(added as i64))
}

fn srem(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let members = args.rest();
    let mut db = ctx.db();
    let Some(mut g) = db.write(&key) else {
        return Ok(Reply::Int(0));
    };
    let set = match as_set_mut(g.value_mut()) {
        Ok(s) => s,
        Err(e) => {
            g.unchanged();
            return Err(e);
        }
    };
    let mut removed = 0;
    for m in &members {
        if set.remove(m) {
            removed += 1;
            if set.is_empty() {
                break;
            }
        }
    }
    if removed > 0 {
        g.notify(notify::SET, "srem");
        g.set_dirty(removed);
    } else {
        g.unchanged();
    }
    Ok(Reply::Int(removed as i64))
}

fn scard(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let mut db = ctx.db();
    match db.get(&key) {
        None => Ok(Reply::Int(0)),
        Some(v) => Ok(Reply::Int(as_set(v)?.len() as i64)),
    }
}

fn sismember(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let member = args.next()?;
    let mut db = ctx.db();
    match db.get(&key) {
        None => Ok(Reply::Int(0)),
        Some(v) => Ok(Reply::Int(as_set(v)?.contains(&member) as i64)),
    }
}

fn smismember(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let members = args.rest();
    let mut db = ctx.db();
    let set = match db.get(&key) {
        None => None,
        Some(v) => Some(as_set(v)?),
    };
    let found = |m: &Bytes| set.is_some_and(|s| s.contains(m));
    Ok(Reply::Array(
        members
            .iter()
            .map(|m| Reply::Int(found(m) as i64))
            .collect(),
    ))
}

fn smembers(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let mut db = ctx.db();
    match db.get(&key) {
        None => Ok(Reply::Set(Vec::new())),
        Some(v) => Ok(Reply::Set(as_set(v)?.iter().map(member_reply).collect())),
    }
}

fn smove(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let src = args.key()?;
    let dst = args.key()?;
    let member = args.next()?;
    let mut db = ctx.db();
    // Redis looks both keys up for writing, then checks: a missing source
    // wins over a wrong destination type.
    let src_is_set = match db.peek(&src) {
        None => return Ok(Reply::Int(0)),
        Some(e) => matches!(e.value, Value::Set(_)),
    };
    let dst_ok = db
        .peek(&dst)
        .is_none_or(|e| matches!(e.value, Value::Set(_)));
    if !src_is_set || !dst_ok {
        return Err(CmdError::wrong_type());
    }
    if src == dst {
        let present = db
            .get_shared(&src)
            .and_then(|v| as_set(v).ok())
            .is_some_and(|s| s.contains(&member));
        return Ok(Reply::Int(present as i64));
    }
    {
        let Some(mut g) = db.write(&src) else {
            return Ok(Reply::Int(0));
        };
        let removed = as_set_mut(g.value_mut())
            .map(|s| s.remove(&member))
            .unwrap_or(false);
        if !removed {
            g.unchanged();
            return Ok(Reply::Int(0));
        }
        g.notify(notify::SET, "srem");
    }
    let intset_max = db.shared().encodings.set_max_intset_entries;
    let (mut g, _) = db.write_or_insert(&dst, || Value::Set(Set::for_member(&member)));
    let added = as_set_mut(g.value_mut()).is_ok_and(|s| s.insert(&member, intset_max));
    if added {
        g.notify(notify::SET, "sadd");
    } else {
        g.unchanged();
    }
    Ok(Reply::Int(1))
}

fn sscan(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let cursor = parse_scan_cursor(&args.next()?)?;
    let mut db = ctx.db();
    let Some(v) = db.get(&key) else {
        return Ok(scan::reply(0, Vec::new()));
    };
    let set = as_set(v)?;
    let opts = ScanOptions::parse(&args.rest(), false)?;
    let want = usize::try_from(opts.count).unwrap_or(usize::MAX);
    let max_steps = want.saturating_mul(SCAN_VISITS_PER_COUNT as usize);
    // COUNT bounds the elements visited; MATCH filters them afterwards.
    let (next, visited) = scan::collect(
        cursor,
        want,
        max_steps,
        |c, out: &mut Vec<(bool, Reply)>| {
            set.scan(c, |m| {
                out.push((m.with_bytes(|b| scan::matches(&opts, b)), member_reply(m)))
            })
        },
    );
    Ok(scan::reply(
        next,
        visited
            .into_iter()
            .filter_map(|(keep, r)| keep.then_some(r))
            .collect(),
    ))
}
