//! SPOP and SRANDMEMBER, and the count rules Redis gives them.

use std::collections::HashSet;

use super::{as_set, as_set_mut, member_reply, rng};
use crate::commands::{Args, CmdError, CmdResult};
use crate::ctx::Ctx;
use crate::resp::Reply;
use strata_engine::notify;
use strata_engine::types::set::{Rng, Set};
use strata_engine::Value;

/// Picks for a unique sample are drawn at random (rather than by copying the
/// set) when the set has at least this many times the requested count
/// (Redis's SRANDMEMBER_SUB_STRATEGY_MUL).
pub const SAMPLE_BY_PICKING_FACTOR: usize = 3;

pub fn spop(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    if args.remaining() > 1 {
        return Err(CmdError::syntax());
    }
    let count = match args.next_opt() {
        None => None,
        Some(a) => Some(parse_positive(&a)?),
    };
    let mut rng = rng(ctx);
    let (reply, effect) = spop_apply(ctx, &key, count, &mut rng)?;
    if let Some(effect) = effect {
        // Replay must remove the same members: SREM (or DEL for all of them).
        ctx.propagate_as(effect);
    }
    Ok(reply)
}

/// SPOP's work: the reply and, when something was popped, its deterministic effect.
fn spop_apply(
    ctx: &mut Ctx,
    key: &bytes::Bytes,
    count: Option<u64>,
    rng: &mut Rng,
) -> Result<(Reply, Option<Vec<bytes::Bytes>>), CmdError> {
    let propagating = ctx.propagating();
    let intset_max = ctx.srv.keyspace.shared.encodings.set_max_intset_entries;
    let mut db = ctx.db();
    let Some(mut g) = db.write(key) else {
        let empty = if count.is_some() {
            Reply::Set(Vec::new())
        } else {
            Reply::Nil
        };
        return Ok((empty, None));
    };
    if !matches!(g.value(), Value::Set(_)) {
        g.unchanged();
        return Err(CmdError::wrong_type());
    }
    if count == Some(0) {
        g.unchanged();
        return Ok((Reply::Set(Vec::new()), None));
    }
    let size = as_set_mut(g.value_mut())?.len() as u64;
    g.notify(notify::SET, "spop");
    g.set_dirty(count.unwrap_or(1).min(size));
    let set = as_set_mut(g.value_mut())?;
    let srem = |members: &mut dyn Iterator<Item = bytes::Bytes>| -> Option<Vec<bytes::Bytes>> {
        propagating.then(|| {
            let mut v = vec![bytes::Bytes::from_static(b"SREM"), key.clone()];
            v.extend(members);
            v
        })
    };
    let Some(count) = count else {
        let popped = set.pop_random(rng);
        let effect = popped
            .as_ref()
            .and_then(|m| srem(&mut std::iter::once(bytes::Bytes::copy_from_slice(m))));
        return Ok((popped.map_or(Reply::Nil, Reply::from), effect));
    };
    if count >= set.len() as u64 {
        // The whole set goes; the emptied key is deleted when the guard drops.
        // Redis answers with SUNION of the one key, which gathers into a new
        // set: an intset (so ascending) when the members allow it.
        let mut all = std::mem::take(set);
        let all_integers = || {
            all.iter()
                .all(|m| m.with_bytes(|b| strata_engine::value::parse_i64_strict(b).is_some()))
        };
        if all.as_intset().is_none() && all.len() <= intset_max && all_integers() {
            all = reencoded(&all, intset_max);
        }
        let effect = propagating.then(|| vec![bytes::Bytes::from_static(b"DEL"), key.clone()]);
        return Ok((Reply::Set(all.iter().map(member_reply).collect()), effect));
    }
    let remaining = set.len() as u64 - count;
    if remaining * SPOP_MOVE_STRATEGY_MUL <= count {
        // Most of the set goes: as Redis, draw the members that stay into a
        // new set (encoded afresh, so an intset again when they allow it)
        // and answer what is left of the old one, in its order.
        let mut kept = Set::default();
        for _ in 0..remaining {
            if let Some(m) = set.pop_random(rng) {
                kept.insert(&m, intset_max);
            }
        }
        let gone = std::mem::replace(set, kept);
        let out: Vec<Reply> = gone.iter().map(member_reply).collect();
        let effect = srem(&mut gone.iter().map(|m| bytes::Bytes::from(m.to_vec())));
        return Ok((Reply::Set(out), effect));
    }
    let mut out = Vec::with_capacity((count as usize).min(set.len()));
    let mut popped = Vec::new();
    for _ in 0..count {
        match set.pop_random(rng) {
            Some(m) => {
                if propagating {
                    popped.push(bytes::Bytes::copy_from_slice(&m));
                }
                out.push(Reply::from(m));
            }
            None => break,
        }
    }
    let effect = srem(&mut popped.into_iter());
    Ok((Reply::Set(out), effect))
}

/// SPOP with a count keeps the members that stay in a new set instead of
/// popping one by one when at most count / this of them stay (Redis's
/// SPOP_MOVE_STRATEGY_MUL).
const SPOP_MOVE_STRATEGY_MUL: u64 = 5;

/// `set`'s members gathered into a new set, as SUNION does: an intset when
/// every member is an integer and they fit one, else a hashtable.
fn reencoded(set: &Set, intset_max: usize) -> Set {
    let mut out = Set::default();
    for m in set.iter() {
        m.with_bytes(|b| out.insert(b, intset_max));
    }
    out
}

/// Most picks a random-with-repetition reply may hold. Redis has no limit and
/// runs out of memory on `SRANDMEMBER key -9223372036854775807`; Strata
/// refuses such a count instead (a deliberate difference).
pub const REPEAT_REPLY_ITEMS_MAX: u64 = 1 << 24;

/// A SRANDMEMBER/ZRANDMEMBER count: (how many, distinct?). Negative means
/// "with repetition"; i64::MIN is refused as Redis does.
pub(crate) fn parse_count_with_repeats(b: &[u8]) -> Result<(u64, bool), CmdError> {
    match strata_engine::value::parse_i64_strict(b) {
        None => Err(CmdError::not_integer()),
        Some(i64::MIN) => Err(CmdError::new(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        )),
        Some(n) if n >= 0 => Ok((n as u64, true)),
        Some(n) => Ok((n.unsigned_abs(), false)),
    }
}

/// The number of picks with repetition, if under `REPEAT_REPLY_ITEMS_MAX`.
pub(crate) fn check_repeats(count: u64) -> Result<usize, CmdError> {
    if count > REPEAT_REPLY_ITEMS_MAX {
        return Err(CmdError::new("ERR value is out of range"));
    }
    Ok(count as usize)
}

/// `getPositiveLongFromObjectOrReply` with Redis's SPOP/ZPOP message.
pub(crate) fn parse_positive(b: &[u8]) -> Result<u64, CmdError> {
    match strata_engine::value::parse_i64_strict(b) {
        Some(n) if n >= 0 => Ok(n as u64),
        _ => Err(CmdError::new("ERR value is out of range, must be positive")),
    }
}

pub fn srandmember(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    if args.remaining() > 1 {
        return Err(CmdError::syntax());
    }
    let count = match args.next_opt() {
        None => None,
        Some(a) => Some(parse_count_with_repeats(&a)?),
    };
    let mut rng = rng(ctx);
    let mut db = ctx.db();
    let Some(v) = db.get(&key) else {
        return Ok(if count.is_some() {
            Reply::Array(Vec::new())
        } else {
            Reply::Nil
        });
    };
    let set = as_set(v)?;
    let Some((count, unique)) = count else {
        return Ok(set.random(&mut rng).map_or(Reply::Nil, member_reply));
    };
    Ok(Reply::Array(sample(set, count, unique, &mut rng)?))
}

/// Redis's SRANDMEMBER with a count: `count` picks with repetition, or up to
/// `count` distinct members (the whole set, in its order, when it is small).
fn sample(set: &Set, count: u64, unique: bool, rng: &mut Rng) -> Result<Vec<Reply>, CmdError> {
    let size = set.len();
    if count == 0 || size == 0 {
        return Ok(Vec::new());
    }
    if !unique {
        let count = check_repeats(count)?;
        return Ok((0..count)
            .filter_map(|_| set.random(rng).map(member_reply))
            .collect());
    }
    if count >= size as u64 {
        return Ok(set.iter().map(member_reply).collect());
    }
    let count = count as usize;
    if count.saturating_mul(SAMPLE_BY_PICKING_FACTOR) > size {
        // Most of the set: shuffle a copy partially.
        let mut all: Vec<_> = set.iter().collect();
        for i in 0..count {
            let j = i + rng.below(all.len() - i);
            all.swap(i, j);
        }
        return Ok(all.into_iter().take(count).map(member_reply).collect());
    }
    let mut seen = HashSet::with_capacity(count);
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        if let Some(m) = set.random(rng) {
            if seen.insert(m.to_vec()) {
                out.push(member_reply(m));
            }
        }
    }
    Ok(out)
}
