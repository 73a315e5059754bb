//! ZPOPMIN, ZPOPMAX, ZMPOP, the blocking BZPOPMIN, BZPOPMAX and BZMPOP, and
//! ZRANDMEMBER.
//!
//! The blocking commands serve data that exists exactly as Redis does. When
//! every key is empty they would block; until the server's blocking mechanism
//! is wired in (`would_block`), they answer as a timeout does (a null array),
//! which is also what Redis answers where blocking is not allowed (MULTI,
//! scripts).

use std::collections::HashSet;

use bytes::Bytes;

use super::parse::parse_timeout_ms;
use super::{as_zset, as_zset_mut, scored_reply};
use crate::commands::{Args, CmdError, CmdResult};
use crate::ctx::Ctx;
use crate::family::sets::random::{
    check_repeats, parse_count_with_repeats, parse_positive, SAMPLE_BY_PICKING_FACTOR,
};
use crate::family::sets::{algebra::numkeys_and_keys, rng};
use crate::resp::Reply;
use strata_engine::notify;
use strata_engine::types::set::Rng;
use strata_engine::types::zset::ZSet;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum End {
    Min,
    Max,
}

/// How a pop reply is shaped (genericZpopCommand's flags).
#[derive(Clone, Copy)]
pub struct PopShape {
    /// Name the key that was popped from (BZPOP*, ZMPOP, BZMPOP).
    pub emit_key: bool,
    /// [member, score] pairs instead of a flat list.
    pub nested: bool,
    /// A null array (not an empty one) when no key has elements.
    pub nil_when_empty: bool,
}

/// Pops up to `count` (None: one, the plain form) entries from the first
/// non-empty key. `Ok(None)` when every key is missing: the caller replies
/// empty, or blocks.
pub fn pop_first(
    ctx: &mut Ctx,
    keys: &[Bytes],
    end: End,
    count: Option<u64>,
    shape: PopShape,
) -> Result<Option<Reply>, CmdError> {
    let mut db = ctx.db();
    let mut found = None;
    for k in keys {
        match db.peek(k) {
            None => continue,
            Some(e) => {
                as_zset(&e.value)?;
                found = Some(k.clone());
                break;
            }
        }
    }
    let Some(key) = found else {
        return Ok(None);
    };
    if count == Some(0) {
        return Ok(Some(Reply::Array(Vec::new())));
    }
    let Some(mut g) = db.write(&key) else {
        return Ok(None);
    };
    let z = as_zset_mut(g.value_mut())?;
    let want = count.unwrap_or(1).min(z.len() as u64) as usize;
    let mut popped = Vec::with_capacity(want);
    for _ in 0..want {
        match z.pop(end == End::Max) {
            Some((m, s)) => popped.push((Bytes::from(m.into_vec()), s)),
            None => break,
        }
    }
    g.notify(
        notify::ZSET,
        if end == End::Max {
            "zpopmax"
        } else {
            "zpopmin"
        },
    );
    g.set_dirty(popped.len() as u64);
    drop(g);
    if shape.emit_key && ctx.propagating() {
        // BZPOPMIN/BZPOPMAX, ZMPOP and BZMPOP propagate as the plain pop
        // (with the number popped when a count was given), as Redis 7.0.
        let name: &'static [u8] = if end == End::Max {
            b"ZPOPMAX"
        } else {
            b"ZPOPMIN"
        };
        let mut effect = vec![Bytes::from_static(name), key.clone()];
        if count.is_some() {
            effect.push(Bytes::from(popped.len().to_string()));
        }
        ctx.propagate_as(effect);
    }
    let resp = if shape.nested { 3 } else { 2 };
    let body = scored_reply(resp, popped, true);
    Ok(Some(match (shape.emit_key, shape.nested) {
        (false, _) => body,
        (true, true) => Reply::Array(vec![Reply::Bulk(key), body]),
        (true, false) => {
            let Reply::Array(mut items) = body else {
                return Ok(Some(body));
            };
            items.insert(0, Reply::Bulk(key));
            Reply::Array(items)
        }
    }))
}

fn empty_reply(shape: PopShape) -> Reply {
    if shape.nil_when_empty {
        Reply::NilArray
    } else {
        Reply::Array(Vec::new())
    }
}

fn zpop(ctx: &mut Ctx, args: &mut Args, end: End) -> CmdResult {
    let key = args.key()?;
    if args.remaining() > 1 {
        return Err(CmdError::syntax());
    }
    let count = match args.next_opt() {
        None => None,
        Some(a) => Some(parse_positive(&a)?),
    };
    // RESP3 nests pairs only when a count was given.
    let shape = PopShape {
        emit_key: false,
        nested: ctx.client.resp >= 3 && count.is_some(),
        nil_when_empty: false,
    };
    Ok(pop_first(ctx, &[key], end, count, shape)?.unwrap_or_else(|| empty_reply(shape)))
}

pub fn zpopmin(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    zpop(ctx, args, End::Min)
}

pub fn zpopmax(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    zpop(ctx, args, End::Max)
}

/// `numkeys key [key ...] MIN|MAX [COUNT count]` of ZMPOP/BZMPOP.
fn parse_mpop(args: &mut Args) -> Result<(Vec<Bytes>, End, u64), CmdError> {
    let keys = numkeys_and_keys(args).map_err(|e| {
        if e.message().starts_with("ERR Number of keys") {
            CmdError::syntax()
        } else {
            e
        }
    })?;
    let end = match args.next_opt() {
        Some(w) if w.eq_ignore_ascii_case(b"min") => End::Min,
        Some(w) if w.eq_ignore_ascii_case(b"max") => End::Max,
        _ => return Err(CmdError::syntax()),
    };
    let mut count = None;
    while let Some(word) = args.next_opt() {
        if count.is_none() && word.eq_ignore_ascii_case(b"count") && !args.is_empty() {
            match strata_engine::value::parse_i64_strict(&args.next()?) {
                Some(n) if n >= 1 => count = Some(n as u64),
                _ => return Err(CmdError::new("ERR count should be greater than 0")),
            }
        } else {
            return Err(CmdError::syntax());
        }
    }
    Ok((keys, end, count.unwrap_or(1)))
}

const MPOP_SHAPE: PopShape = PopShape {
    emit_key: true,
    nested: true,
    nil_when_empty: true,
};

pub fn zmpop(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let (keys, end, count) = parse_mpop(args)?;
    Ok(pop_first(ctx, &keys, end, Some(count), MPOP_SHAPE)?.unwrap_or(Reply::NilArray))
}

/// Every key is empty: park the client on `keys` for `timeout_ms` (0 =
/// forever), or answer the timeout reply at once where blocking is denied
/// (inside MULTI/EXEC, scripts).
fn would_block(ctx: &mut Ctx, keys: &[Bytes], timeout_ms: u64) -> Reply {
    if !crate::blocking::can_block(ctx) {
        return Reply::NilArray;
    }
    let deadline_ms = if timeout_ms == 0 {
        0
    } else {
        ctx.now_ms().saturating_add(timeout_ms)
    };
    let req = crate::blocking::BlockRequest {
        keys: keys.to_vec(),
        deadline_ms,
        wants: strata_engine::ValueType::ZSet,
        timeout_reply: Reply::NilArray,
    };
    crate::blocking::block(ctx, req).unwrap_or(Reply::NilArray)
}

/// The keys a blocking pop looks at: only the key that became ready when a
/// parked client is served (as Redis does), else all of them.
fn candidate_keys(ctx: &Ctx, keys: Vec<Bytes>) -> Vec<Bytes> {
    match crate::blocking::ready_key(ctx) {
        Some(k) => vec![k],
        None => keys,
    }
}

fn bzpop(ctx: &mut Ctx, args: &mut Args, end: End) -> CmdResult {
    let mut rest = args.rest();
    let timeout_arg = rest.pop().ok_or_else(CmdError::syntax)?;
    let timeout_ms = parse_timeout_ms(&timeout_arg)?;
    let shape = PopShape {
        emit_key: true,
        nested: false,
        nil_when_empty: true,
    };
    let candidates = candidate_keys(ctx, rest.clone());
    match pop_first(ctx, &candidates, end, None, shape)? {
        Some(reply) => Ok(reply),
        None => Ok(would_block(ctx, &rest, timeout_ms)),
    }
}

pub fn bzpopmin(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    bzpop(ctx, args, End::Min)
}

pub fn bzpopmax(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    bzpop(ctx, args, End::Max)
}

pub fn bzmpop(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let timeout_arg = args.next()?;
    let (keys, end, count) = parse_mpop(args)?;
    let timeout_ms = parse_timeout_ms(&timeout_arg)?;
    let candidates = candidate_keys(ctx, keys.clone());
    match pop_first(ctx, &candidates, end, Some(count), MPOP_SHAPE)? {
        Some(reply) => Ok(reply),
        None => Ok(would_block(ctx, &keys, timeout_ms)),
    }
}

/// Most a WITHSCORES count may be in either direction (LONG_MAX / 2).
const WITHSCORES_COUNT_MAX: u64 = (i64::MAX / 2) as u64;

pub fn zrandmember(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let Some(count_arg) = args.next_opt() else {
        let mut rng = rng(ctx);
        let mut db = ctx.db();
        let Some(v) = db.get(&key) else {
            return Ok(Reply::Nil);
        };
        let z = as_zset(v)?;
        return Ok(z
            .random(&mut rng)
            .map_or(Reply::Nil, |(m, _)| Reply::bulk_copy(m)));
    };
    let (count, unique) = parse_count_with_repeats(&count_arg)?;
    let withscores = match args.next_opt() {
        None => false,
        Some(w) if w.eq_ignore_ascii_case(b"withscores") && args.is_empty() => true,
        Some(_) => return Err(CmdError::syntax()),
    };
    // Redis: l < -LONG_MAX/2 || l > LONG_MAX/2 (the negative side is one wider).
    if withscores
        && (if unique {
            count > WITHSCORES_COUNT_MAX
        } else {
            count > WITHSCORES_COUNT_MAX + 1
        })
    {
        return Err(CmdError::new("ERR value is out of range"));
    }
    let resp = ctx.client.resp;
    let mut rng = rng(ctx);
    let mut db = ctx.db();
    let Some(v) = db.get(&key) else {
        return Ok(Reply::Array(Vec::new()));
    };
    let z = as_zset(v)?;
    let items = sample(z, count, unique, &mut rng)?;
    Ok(scored_reply(resp, items, withscores))
}

/// Redis's ZRANDMEMBER with a count: picks with repetition (negative count,
/// or a count of 1), the whole set in order when the count covers it, or
/// distinct random members.
///
/// (The whole set comes back highest first, as Redis 7.0's reverse rank walk.)
fn sample(
    z: &ZSet,
    count: u64,
    unique: bool,
    rng: &mut Rng,
) -> Result<Vec<(Bytes, f64)>, CmdError> {
    let size = z.len();
    let own = |(m, s): (&[u8], f64)| (Bytes::copy_from_slice(m), s);
    if count == 0 || size == 0 {
        return Ok(Vec::new());
    }
    if !unique || count == 1 {
        let n = check_repeats(count)?;
        return Ok((0..n).filter_map(|_| z.random(rng).map(own)).collect());
    }
    if count >= size as u64 {
        // Redis 7.0 answers the whole set from the highest rank down.
        return Ok(z.iter_from(size - 1, true).map(own).collect());
    }
    let count = count as usize;
    if count.saturating_mul(SAMPLE_BY_PICKING_FACTOR) > size {
        let mut ranks: Vec<usize> = (0..size).collect();
        for i in 0..count {
            let j = i + rng.below(size - i);
            ranks.swap(i, j);
        }
        return Ok(ranks[..count]
            .iter()
            .filter_map(|&r| z.at(r).map(own))
            .collect());
    }
    let mut seen = HashSet::with_capacity(count);
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let r = rng.below(size);
        if seen.insert(r) {
            if let Some(e) = z.at(r) {
                out.push(own(e));
            }
        }
    }
    Ok(out)
}
