//! Sorted-set commands. This file holds the table, the shared helpers and the
//! single-key commands (ZADD, ZINCRBY, ZSCORE, ZMSCORE, ZCARD, ZREM, ZRANK,
//! ZREVRANK, ZCOUNT, ZLEXCOUNT, ZSCAN); ranges, pops and the multi-key
//! operations live in the submodules.
//!
//! Scores are replied with `Reply::Double`: `%.17g` in RESP2 bulk strings,
//! RESP3 doubles. Replies WITHSCORES are flat in RESP2 and [member, score]
//! pairs in RESP3, as in Redis 7.0.

mod algebra;
pub(crate) mod parse;
mod pop;
mod range;

use bytes::Bytes;

use crate::commands::{acl, flags::*, keys, spec, Args, CmdError, CmdResult, CommandSpec};
use crate::ctx::Ctx;
use crate::family::scan::{parse_scan_cursor, ScanOptions, SCAN_VISITS_PER_COUNT};
use crate::family::sets::scan;
use crate::resp::reply::format_double;
use crate::resp::Reply;
use parse::{parse_lex_range, parse_score_range, string2d};
use strata_engine::notify;
use strata_engine::types::zset::{listpack_score_text, ZRangeSpec, ZSet};
use strata_engine::{Encodings, Value};

pub const COMMANDS: &[CommandSpec] = &[
    spec(
        "zadd",
        -4,
        WRITE | DENYOOM | FAST,
        acl::SORTEDSET,
        keys(1, 1, 1),
        zadd,
    ),
    spec(
        "zincrby",
        4,
        WRITE | DENYOOM | FAST,
        acl::SORTEDSET,
        keys(1, 1, 1),
        zincrby,
    ),
    spec(
        "zscore",
        3,
        READONLY | FAST,
        acl::SORTEDSET,
        keys(1, 1, 1),
        zscore,
    ),
    spec(
        "zmscore",
        -3,
        READONLY | FAST,
        acl::SORTEDSET,
        keys(1, 1, 1),
        zmscore,
    ),
    spec(
        "zcard",
        2,
        READONLY | FAST,
        acl::SORTEDSET,
        keys(1, 1, 1),
        zcard,
    ),
    spec(
        "zcount",
        4,
        READONLY | FAST,
        acl::SORTEDSET,
        keys(1, 1, 1),
        zcount,
    ),
    spec(
        "zlexcount",
        4,
        READONLY | FAST,
        acl::SORTEDSET,
        keys(1, 1, 1),
        zlexcount,
    ),
    spec(
        "zrank",
        3,
        READONLY | FAST,
        acl::SORTEDSET,
        keys(1, 1, 1),
        zrank,
    ),
    spec(
        "zrevrank",
        3,
        READONLY | FAST,
        acl::SORTEDSET,
        keys(1, 1, 1),
        zrevrank,
    ),
    spec(
        "zrem",
        -3,
        WRITE | FAST,
        acl::SORTEDSET,
        keys(1, 1, 1),
        zrem,
    ),
    spec("zscan", -3, READONLY, acl::SORTEDSET, keys(1, 1, 1), zscan),
    spec(
        "zrange",
        -4,
        READONLY,
        acl::SORTEDSET,
        keys(1, 1, 1),
        range::zrange,
    ),
    spec(
        "zrangestore",
        -5,
        WRITE | DENYOOM,
        acl::SORTEDSET,
        keys(1, 2, 1),
        range::zrangestore,
    ),
    spec(
        "zrangebyscore",
        -4,
        READONLY,
        acl::SORTEDSET,
        keys(1, 1, 1),
        range::zrangebyscore,
    ),
    spec(
        "zrevrangebyscore",
        -4,
        READONLY,
        acl::SORTEDSET,
        keys(1, 1, 1),
        range::zrevrangebyscore,
    ),
    spec(
        "zrangebylex",
        -4,
        READONLY,
        acl::SORTEDSET,
        keys(1, 1, 1),
        range::zrangebylex,
    ),
    spec(
        "zrevrangebylex",
        -4,
        READONLY,
        acl::SORTEDSET,
        keys(1, 1, 1),
        range::zrevrangebylex,
    ),
    spec(
        "zrevrange",
        -4,
        READONLY,
        acl::SORTEDSET,
        keys(1, 1, 1),
        range::zrevrange,
    ),
    spec(
        "zremrangebyrank",
        4,
        WRITE,
        acl::SORTEDSET,
        keys(1, 1, 1),
        range::zremrangebyrank,
    ),
    spec(
        "zremrangebyscore",
        4,
        WRITE,
        acl::SORTEDSET,
        keys(1, 1, 1),
        range::zremrangebyscore,
    ),
    spec(
        "zremrangebylex",
        4,
        WRITE,
        acl::SORTEDSET,
        keys(1, 1, 1),
        range::zremrangebylex,
    ),
    spec(
        "zpopmin",
        -2,
        WRITE | FAST,
        acl::SORTEDSET,
        keys(1, 1, 1),
        pop::zpopmin,
    ),
    spec(
        "zpopmax",
        -2,
        WRITE | FAST,
        acl::SORTEDSET,
        keys(1, 1, 1),
        pop::zpopmax,
    ),
    spec(
        "zmpop",
        -4,
        WRITE | MOVABLE_KEYS,
        acl::SORTEDSET,
        keys(0, 0, 0),
        pop::zmpop,
    ),
    spec(
        "bzpopmin",
        -3,
        WRITE | NOSCRIPT | BLOCKING | FAST,
        acl::SORTEDSET,
        keys(1, -2, 1),
        pop::bzpopmin,
    ),
    spec(
        "bzpopmax",
        -3,
        WRITE | NOSCRIPT | BLOCKING | FAST,
        acl::SORTEDSET,
        keys(1, -2, 1),
        pop::bzpopmax,
    ),
    spec(
        "bzmpop",
        -5,
        WRITE | BLOCKING | MOVABLE_KEYS,
        acl::SORTEDSET,
        keys(0, 0, 0),
        pop::bzmpop,
    ),
    spec(
        "zrandmember",
        -2,
        READONLY,
        acl::SORTEDSET,
        keys(1, 1, 1),
        pop::zrandmember,
    ),
    spec(
        "zunion",
        -3,
        READONLY | MOVABLE_KEYS,
        acl::SORTEDSET,
        keys(0, 0, 0),
        algebra::zunion,
    ),
    spec(
        "zinter",
        -3,
        READONLY | MOVABLE_KEYS,
        acl::SORTEDSET,
        keys(0, 0, 0),
        algebra::zinter,
    ),
    spec(
        "zdiff",
        -3,
        READONLY | MOVABLE_KEYS,
        acl::SORTEDSET,
        keys(0, 0, 0),
        algebra::zdiff,
    ),
    spec(
        "zunionstore",
        -4,
        WRITE | DENYOOM | MOVABLE_KEYS,
        acl::SORTEDSET,
        keys(1, 1, 1),
        algebra::zunionstore,
    ),
    spec(
        "zinterstore",
        -4,
        WRITE | DENYOOM | MOVABLE_KEYS,
        acl::SORTEDSET,
        keys(1, 1, 1),
        algebra::zinterstore,
    ),
    spec(
        "zdiffstore",
        -4,
        WRITE | DENYOOM | MOVABLE_KEYS,
        acl::SORTEDSET,
        keys(1, 1, 1),
        algebra::zdiffstore,
    ),
    spec(
        "zintercard",
        -3,
        READONLY | MOVABLE_KEYS,
        acl::SORTEDSET,
        keys(0, 0, 0),
        algebra::zintercard,
    ),
];

/// The sorted set stored at `v`, or WRONGTYPE.
pub(crate) fn as_zset(v: &Value) -> Result<&ZSet, CmdError> {
    match v {
        Value::ZSet(z) => Ok(z),
        _ => Err(CmdError::wrong_type()),
    }
}

pub(crate) fn as_zset_mut(v: &mut Value) -> Result<&mut ZSet, CmdError> {
    match v {
        Value::ZSet(z) => Ok(z),
        _ => Err(CmdError::wrong_type()),
    }
}

pub(crate) fn encodings(ctx: &Ctx) -> Encodings {
    ctx.srv.keyspace.shared.encodings
}

/// (member, score) pairs as Redis replies them: members only, a flat list
/// with scores (RESP2), or [member, score] pairs (RESP3).
pub(crate) fn scored_reply(resp: u8, items: Vec<(Bytes, f64)>, withscores: bool) -> Reply {
    if !withscores {
        return Reply::Array(items.into_iter().map(|(m, _)| Reply::Bulk(m)).collect());
    }
    if resp >= 3 {
        return Reply::Array(
            items
                .into_iter()
                .map(|(m, s)| Reply::Array(vec![Reply::Bulk(m), Reply::Double(s)]))
                .collect(),
        );
    }
    let mut out = Vec::with_capacity(items.len() * 2);
    for (m, s) in items {
        out.push(Reply::Bulk(m));
        out.push(Reply::Double(s));
    }
    Reply::Array(out)
}

/// ZADD's flags.
#[derive(Default, Clone, Copy)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// What one element of a ZADD did.
#[derive(PartialEq, Eq)]
enum AddOutcome {
    Added,
    Updated,
    /// Processed, score unchanged.
    Same,
    /// Skipped by NX/XX/GT/LT.
    Nop,
}

/// Redis's zsetAdd: applies one (score, member) under the flags; Err on a NaN
/// result of INCR. Returns the outcome and the member's resulting score.
fn add_one(
    z: &mut ZSet,
    member: &[u8],
    score: f64,
    f: AddFlags,
    enc: &Encodings,
) -> Result<(AddOutcome, f64), CmdError> {
    let nan = || CmdError::new("ERR resulting score is not a number (NaN)");
    match z.score(member) {
        Some(cur) => {
            if f.nx {
                return Ok((AddOutcome::Nop, cur));
            }
            let new = if f.incr { score + cur } else { score };
            if new.is_nan() {
                return Err(nan());
            }
            if (f.lt && new >= cur) || (f.gt && new <= cur) {
                return Ok((AddOutcome::Nop, cur));
            }
            if new != cur {
                z.set_score(member, new);
                return Ok((AddOutcome::Updated, new));
            }
            Ok((AddOutcome::Same, new))
        }
        None if f.xx => Ok((AddOutcome::Nop, score)),
        None => {
            if score.is_nan() {
                return Err(nan());
            }
            z.insert(member, score, enc);
            Ok((AddOutcome::Added, score))
        }
    }
}

pub(crate) fn zadd(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let mut f = AddFlags::default();
    while let Some(word) = args.peek() {
        let w = word.to_ascii_lowercase();
        match w.as_slice() {
            b"nx" => f.nx = true,
            b"xx" => f.xx = true,
            b"gt" => f.gt = true,
            b"lt" => f.lt = true,
            b"ch" => f.ch = true,
            b"incr" => f.incr = true,
            _ => break,
        }
        args.next()?;
    }
    let rest = args.rest();
    if rest.is_empty() || !rest.len().is_multiple_of(2) {
        return Err(CmdError::syntax());
    }
    if f.nx && f.xx {
        return Err(CmdError::new(
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        return Err(CmdError::new(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if f.incr && rest.len() > 2 {
        return Err(CmdError::new(
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    let mut pairs = Vec::with_capacity(rest.len() / 2);
    for p in rest.chunks(2) {
        pairs.push((
            string2d(&p[0]).ok_or_else(CmdError::not_float)?,
            p[1].clone(),
        ));
    }
    add_generic(ctx, &key, &pairs, f)
}

fn zincrby(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let incr = string2d(&args.next()?).ok_or_else(CmdError::not_float)?;
    let member = args.next()?;
    let f = AddFlags {
        incr: true,
        ..AddFlags::default()
    };
    add_generic(ctx, &key, &[(incr, member)], f)
}

/// The body ZADD and ZINCRBY share (zaddGenericCommand after parsing).
fn add_generic(ctx: &mut Ctx, key: &[u8], pairs: &[(f64, Bytes)], f: AddFlags) -> CmdResult {
    let enc = encodings(ctx);
    let mut db = ctx.db();
    let exists = match db.peek(key) {
        None => false,
        Some(e) => {
            as_zset(&e.value)?;
            true
        }
    };
    let none = || if f.incr { Reply::Nil } else { Reply::Int(0) };
    if !exists && f.xx {
        return Ok(none());
    }
    let first_len = pairs.first().map_or(0, |p| p.1.len());
    let (mut g, _) =
        db.write_or_insert(key, || Value::ZSet(ZSet::for_first_member(first_len, &enc)));
    let z = as_zset_mut(g.value_mut())?;
    let (mut added, mut updated, mut processed) = (0u64, 0u64, 0u64);
    let mut last_score = 0.0;
    let mut failure = None;
    for (score, member) in pairs {
        match add_one(z, member, *score, f, &enc) {
            Err(e) => {
                failure = Some(e);
                break;
            }
            Ok((outcome, s)) => {
                match outcome {
                    AddOutcome::Added => added += 1,
                    AddOutcome::Updated => updated += 1,
                    AddOutcome::Same | AddOutcome::Nop => {}
                }
                if outcome != AddOutcome::Nop {
                    processed += 1;
                    last_score = s;
                }
            }
        }
    }
    if added + updated > 0 {
        g.notify(notify::ZSET, if f.incr { "zincr" } else { "zadd" });
        g.set_dirty(added + updated);
    } else {
        g.unchanged();
    }
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(if f.incr {
        if processed > 0 {
            Reply::Double(last_score)
        } else {
            Reply::Nil
        }
    } else {
        Reply::Int((added + if f.ch { updated } else { 0 }) as i64)
    })
}

fn zscore(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let member = args.next()?;
    let mut db = ctx.db();
    let Some(v) = db.get(&key) else {
        return Ok(Reply::Nil);
    };
    Ok(as_zset(v)?.score(&member).map_or(Reply::Nil, Reply::Double))
}

fn zmscore(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let members = args.rest();
    let mut db = ctx.db();
    let z = match db.get(&key) {
        None => None,
        Some(v) => Some(as_zset(v)?),
    };
    let score = |m: &Bytes| z.and_then(|z| z.score(m)).map_or(Reply::Nil, Reply::Double);
    Ok(Reply::Array(members.iter().map(score).collect()))
}

fn zcard(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let mut db = ctx.db();
    match db.get(&key) {
        None => Ok(Reply::Int(0)),
        Some(v) => Ok(Reply::Int(as_zset(v)?.len() as i64)),
    }
}

fn count_generic(ctx: &mut Ctx, key: &[u8], range: &dyn ZRangeSpec) -> CmdResult {
    let mut db = ctx.db();
    match db.get(key) {
        None => Ok(Reply::Int(0)),
        Some(v) => Ok(Reply::Int(as_zset(v)?.count_in(range) as i64)),
    }
}

fn zcount(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let range = parse_score_range(&args.next()?, &args.next()?)?;
    count_generic(ctx, &key, &range)
}

fn zlexcount(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let range = parse_lex_range(&args.next()?, &args.next()?)?;
    count_generic(ctx, &key, &range)
}

fn rank_generic(ctx: &mut Ctx, args: &mut Args, rev: bool) -> CmdResult {
    let key = args.key()?;
    let member = args.next()?;
    let mut db = ctx.db();
    let Some(v) = db.get(&key) else {
        return Ok(Reply::Nil);
    };
    let z = as_zset(v)?;
    Ok(match z.rank(&member) {
        None => Reply::Nil,
        Some((r, _)) if rev => Reply::Int((z.len() - 1 - r) as i64),
        Some((r, _)) => Reply::Int(r as i64),
    })
}

fn zrank(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    rank_generic(ctx, args, false)
}

fn zrevrank(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    rank_generic(ctx, args, true)
}

fn zrem(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let members = args.rest();
    let mut db = ctx.db();
    let Some(mut g) = db.write(&key) else {
        return Ok(Reply::Int(0));
    };
    if !matches!(g.value(), Value::ZSet(_)) {
        g.unchanged();
        return Err(CmdError::wrong_type());
    }
    let z = as_zset_mut(g.value_mut())?;
    let mut deleted = 0u64;
    for m in &members {
        if z.remove(m).is_some() {
            deleted += 1;
            if z.is_empty() {
                break;
            }
        }
    }
    if deleted > 0 {
        g.notify(notify::ZSET, "zrem");
        g.set_dirty(deleted);
    } else {
        g.unchanged();
    }
    Ok(Reply::Int(deleted as i64))
}

/// A score as ZSCAN shows it: the form the encoding stores (a listpack keeps
/// integral scores as integers).
fn scan_score_text(z: &ZSet, score: f64) -> String {
    if z.is_listpack() {
        listpack_score_text(score)
    } else {
        format_double(score)
    }
}

fn zscan(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let cursor = parse_scan_cursor(&args.next()?)?;
    let mut db = ctx.db();
    let Some(v) = db.get(&key) else {
        return Ok(scan::reply(0, Vec::new()));
    };
    let z = as_zset(v)?;
    let opts = ScanOptions::parse(&args.rest(), false)?;
    let want = usize::try_from(opts.count).unwrap_or(usize::MAX);
    // Redis doubles COUNT for (member, score) pairs: the budget doubles too.
    let max_steps = want.saturating_mul(2 * SCAN_VISITS_PER_COUNT as usize);
    let (next, visited) =
        scan::collect(cursor, want, max_steps, |c, out: &mut Vec<(Bytes, f64)>| {
            z.scan(c, |m, s| out.push((Bytes::copy_from_slice(m), s)))
        });
    let mut items = Vec::with_capacity(visited.len() * 2);
    for (m, s) in visited {
        if scan::matches(&opts, &m) {
            items.push(Reply::Bulk(m));
            items.push(Reply::Bulk(Bytes::from(scan_score_text(z, s))));
        }
    }
    Ok(scan::reply(next, items))
}
