//! SINTER, SINTERCARD, SUNION, SDIFF and their STORE variants.
//!
//! Every input key is looked up first (expiry, stats, type check in key
//! order: WRONGTYPE wins even when an earlier key is missing), then the sets
//! are read together through shared borrows.

use bytes::Bytes;

use super::member_reply;
use crate::commands::{Args, CmdError, CmdResult};
use crate::ctx::Ctx;
use crate::resp::Reply;
use strata_engine::notify;
use strata_engine::types::set::{Member, Set};
use strata_engine::{DbView, Value};

/// Looks each key up as Redis's lookupKeyRead does and checks it is a set.
fn check_keys(db: &mut DbView, keys: &[Bytes]) -> Result<(), CmdError> {
    for k in keys {
        if let Some(v) = db.get(k) {
            if !matches!(v, Value::Set(_)) {
                return Err(CmdError::wrong_type());
            }
        }
    }
    Ok(())
}

/// The sets behind `keys` (None for a missing key), after `check_keys`.
fn sets<'a>(db: &'a DbView, keys: &[Bytes]) -> Vec<Option<&'a Set>> {
    keys.iter()
        .map(|k| match db.get_shared(k) {
            Some(Value::Set(s)) => Some(s),
            _ => None,
        })
        .collect()
}

/// Calls `emit` for each member of the intersection, walking the smallest
/// set (ties keep key order, like glibc's stable qsort) until `emit` says stop.
fn intersect(sets: &[Option<&Set>], mut emit: impl FnMut(Member<'_>) -> bool) {
    let Some(mut present) = sets.iter().copied().collect::<Option<Vec<&Set>>>() else {
        return;
    };
    present.sort_by_key(|s| s.len());
    let (first, rest) = match present.split_first() {
        Some(p) => p,
        None => return,
    };
    for m in first.iter() {
        if m.with_bytes(|b| rest.iter().all(|s| s.contains(b))) && !emit(m) {
            return;
        }
    }
}

fn union(sets: &[Option<&Set>], intset_max: usize) -> Set {
    let mut out = Set::new();
    for s in sets.iter().flatten() {
        for m in s.iter() {
            m.with_bytes(|b| out.insert(b, intset_max));
        }
    }
    out
}

fn difference(sets: &[Option<&Set>], intset_max: usize) -> Set {
    let mut out = Set::new();
    let Some(Some(first)) = sets.first() else {
        return out;
    };
    let others: Vec<&Set> = sets[1..].iter().flatten().copied().collect();
    for m in first.iter() {
        m.with_bytes(|b| {
            if !others.iter().any(|s| s.contains(b)) {
                out.insert(b, intset_max);
            }
        });
    }
    out
}

fn intersection(sets: &[Option<&Set>], intset_max: usize) -> Set {
    let mut out = Set::new();
    intersect(sets, |m| {
        m.with_bytes(|b| out.insert(b, intset_max));
        true
    });
    out
}

#[derive(Clone, Copy)]
enum Op {
    Inter,
    Union,
    Diff,
}

impl Op {
    fn store_event(self) -> &'static str {
        match self {
            Op::Inter => "sinterstore",
            Op::Union => "sunionstore",
            Op::Diff => "sdiffstore",
        }
    }
}

fn read_op(ctx: &mut Ctx, args: &mut Args, op: Op) -> CmdResult {
    let keys = args.rest();
    let intset_max = ctx.srv.keyspace.shared.encodings.set_max_intset_entries;
    let mut db = ctx.db();
    check_keys(&mut db, &keys)?;
    let sets = sets(&db, &keys);
    let out = match op {
        Op::Inter => {
            let mut out = Vec::new();
            intersect(&sets, |m| {
                out.push(member_reply(m));
                true
            });
            return Ok(Reply::Set(out));
        }
        Op::Union => union(&sets, intset_max),
        Op::Diff => difference(&sets, intset_max),
    };
    Ok(Reply::Set(out.iter().map(member_reply).collect()))
}

fn store_op(ctx: &mut Ctx, args: &mut Args, op: Op) -> CmdResult {
    let dst = args.key()?;
    let keys = args.rest();
    let intset_max = ctx.srv.keyspace.shared.encodings.set_max_intset_entries;
    let mut db = ctx.db();
    check_keys(&mut db, &keys)?;
    let result = {
        let sets = sets(&db, &keys);
        match op {
            Op::Inter => intersection(&sets, intset_max),
            Op::Union => union(&sets, intset_max),
            Op::Diff => difference(&sets, intset_max),
        }
    };
    Ok(store(&mut db, &dst, result, op.store_event()))
}

/// Stores a computed set at `dst` (replacing any value and TTL), or deletes
/// `dst` when the result is empty.
fn store(db: &mut DbView, dst: &[u8], result: Set, event: &'static str) -> Reply {
    if result.is_empty() {
        if db.remove(dst).is_some() {
            db.notify(notify::GENERIC, "del", dst);
        }
        return Reply::Int(0);
    }
    let n = result.len();
    db.set(dst, Value::Set(result), false);
    db.notify(notify::SET, event, dst);
    Reply::Int(n as i64)
}

pub fn sinter(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    read_op(ctx, args, Op::Inter)
}

pub fn sunion(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    read_op(ctx, args, Op::Union)
}

pub fn sdiff(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    read_op(ctx, args, Op::Diff)
}

pub fn sinterstore(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    store_op(ctx, args, Op::Inter)
}

pub fn sunionstore(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    store_op(ctx, args, Op::Union)
}

pub fn sdiffstore(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    store_op(ctx, args, Op::Diff)
}

/// `numkeys key [key ...]` as SINTERCARD/ZMPOP-style commands take it.
pub(crate) fn numkeys_and_keys(args: &mut Args) -> Result<Vec<Bytes>, CmdError> {
    let numkeys = match strata_engine::value::parse_i64_strict(&args.next()?) {
        Some(n) if n >= 1 => n as u64,
        _ => return Err(CmdError::new("ERR numkeys should be greater than 0")),
    };
    if numkeys > args.remaining() as u64 {
        return Err(CmdError::new(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    Ok((0..numkeys).filter_map(|_| args.next_opt()).collect())
}

/// `LIMIT n` of SINTERCARD/ZINTERCARD (0 means no limit).
pub(crate) fn parse_card_limit(b: &[u8]) -> Result<u64, CmdError> {
    match strata_engine::value::parse_i64_strict(b) {
        Some(n) if n >= 0 => Ok(n as u64),
        _ => Err(CmdError::new("ERR LIMIT can't be negative")),
    }
}

pub fn sintercard(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let keys = numkeys_and_keys(args)?;
    let mut limit = 0u64;
    while !args.is_empty() {
        if args.remaining() >= 2 && args.eat("limit") {
            limit = parse_card_limit(&args.next()?)?;
        } else {
            return Err(CmdError::syntax());
        }
    }
    let mut db = ctx.db();
    check_keys(&mut db, &keys)?;
    let sets = sets(&db, &keys);
    let mut n = 0u64;
    intersect(&sets, |_| {
        n += 1;
        limit == 0 || n < limit
    });
    Ok(Reply::Int(n as i64))
}
