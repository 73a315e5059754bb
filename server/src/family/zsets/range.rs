//! ZRANGE and its older forms (ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZRANGEBYLEX,
//! ZREVRANGEBYLEX, ZREVRANGE), ZRANGESTORE, and ZREMRANGEBYRANK/SCORE/LEX:
//! Redis 7.0's zrangeGenericCommand option grammar, its checks in its order,
//! and its walks (first/last element in range, OFFSET, then LIMIT while the
//! elements stay in range).

use bytes::Bytes;

use super::parse::{parse_lex_range, parse_score_range};
use super::{as_zset, as_zset_mut, encodings, scored_reply};
use crate::commands::{Args, CmdError, CmdResult};
use crate::ctx::Ctx;
use crate::resp::Reply;
use strata_engine::notify;
use strata_engine::types::zset::{LexRange, ScoreRange, ZRangeSpec, ZSet};
use strata_engine::Value;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Rank,
    Score,
    Lex,
}

enum Bounds {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

/// A parsed range request.
struct Request {
    bounds: Bounds,
    rev: bool,
    withscores: bool,
    offset: i64,
    /// -1: no limit.
    limit: i64,
}

/// Parses `min max [options]` (the key was already taken). `kind`/`rev` are
/// fixed by the old command forms and chosen by options for ZRANGE.
fn parse_request(
    args: &mut Args,
    store: bool,
    kind: Option<Kind>,
    rev: Option<bool>,
) -> Result<Request, CmdError> {
    let mut min = args.next()?;
    let mut max = args.next()?;
    let (mut kind_opt, mut rev_opt) = (kind, rev);
    let mut withscores = false;
    let (mut offset, mut limit) = (0i64, -1i64);
    while let Some(word) = args.next_opt() {
        let left = args.remaining();
        if !store && word.eq_ignore_ascii_case(b"withscores") {
            withscores = true;
        } else if word.eq_ignore_ascii_case(b"limit") && left >= 2 {
            offset = args.next_i64()?;
            limit = args.next_i64()?;
        } else if rev_opt.is_none() && word.eq_ignore_ascii_case(b"rev") {
            rev_opt = Some(true);
        } else if kind_opt.is_none() && word.eq_ignore_ascii_case(b"bylex") {
            kind_opt = Some(Kind::Lex);
        } else if kind_opt.is_none() && word.eq_ignore_ascii_case(b"byscore") {
            kind_opt = Some(Kind::Score);
        } else {
            return Err(CmdError::syntax());
        }
    }
    let kind = kind_opt.unwrap_or(Kind::Rank);
    let rev = rev_opt.unwrap_or(false);
    if limit != -1 && kind == Kind::Rank {
        return Err(CmdError::new(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && kind == Kind::Lex {
        return Err(CmdError::new(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    if rev && kind != Kind::Rank {
        // Reverse score and lex ranges are written max first.
        std::mem::swap(&mut min, &mut max);
    }
    let bounds = match kind {
        Kind::Rank => Bounds::Rank(
            crate::commands::args::parse_i64(&min)?,
            crate::commands::args::parse_i64(&max)?,
        ),
        Kind::Score => Bounds::Score(parse_score_range(&min, &max)?),
        Kind::Lex => Bounds::Lex(parse_lex_range(&min, &max)?),
    };
    Ok(Request {
        bounds,
        rev,
        withscores,
        offset,
        limit,
    })
}

/// Normalizes Redis rank indexes (negative from the end) to an inclusive
/// range of ranks, or None when it is empty.
pub(crate) fn rank_span(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut start = if start < 0 { len + start } else { start };
    let mut end = if end < 0 { len + end } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= len {
        return None;
    }
    if end >= len {
        end = len - 1;
    }
    Some((start as usize, end as usize))
}

/// The elements a score or lex request selects, in reply order.
fn walk_range(
    z: &ZSet,
    r: &dyn ZRangeSpec,
    rev: bool,
    offset: i64,
    limit: i64,
) -> Vec<(Bytes, f64)> {
    let len = z.len();
    if offset > 0 && offset as u64 >= len as u64 {
        return Vec::new();
    }
    let start = if rev { z.last_in(r) } else { z.first_in(r) };
    let Some(start) = start else {
        return Vec::new();
    };
    // A negative offset makes Redis's skip loop run off the end.
    if offset < 0 {
        return Vec::new();
    }
    let offset = offset as usize;
    let start = if rev {
        start.checked_sub(offset)
    } else {
        Some(start + offset).filter(|&s| s < len)
    };
    let Some(start) = start else {
        return Vec::new();
    };
    let take = if limit < 0 {
        usize::MAX
    } else {
        limit as usize
    };
    z.iter_from(start, rev)
        .take(take)
        .take_while(|(m, s)| {
            if rev {
                r.gte_min(*s, m)
            } else {
                r.lte_max(*s, m)
            }
        })
        .map(|(m, s)| (Bytes::copy_from_slice(m), s))
        .collect()
}

fn select(z: &ZSet, req: &Request) -> Vec<(Bytes, f64)> {
    match &req.bounds {
        Bounds::Rank(start, end) => {
            let Some((a, b)) = rank_span(*start, *end, z.len()) else {
                return Vec::new();
            };
            let first = if req.rev { z.len() - 1 - a } else { a };
            z.iter_from(first, req.rev)
                .take(b - a + 1)
                .map(|(m, s)| (Bytes::copy_from_slice(m), s))
                .collect()
        }
        Bounds::Score(r) => walk_range(z, r, req.rev, req.offset, req.limit),
        Bounds::Lex(r) => walk_range(z, r, req.rev, req.offset, req.limit),
    }
}

fn range_generic(
    ctx: &mut Ctx,
    args: &mut Args,
    kind: Option<Kind>,
    rev: Option<bool>,
) -> CmdResult {
    let key = args.key()?;
    let req = parse_request(args, false, kind, rev)?;
    let resp = ctx.client.resp;
    let mut db = ctx.db();
    let Some(v) = db.get(&key) else {
        return Ok(Reply::Array(Vec::new()));
    };
    let items = select(as_zset(v)?, &req);
    Ok(scored_reply(resp, items, req.withscores))
}

pub fn zrange(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    range_generic(ctx, args, None, None)
}

pub fn zrevrange(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    range_generic(ctx, args, Some(Kind::Rank), Some(true))
}

pub fn zrangebyscore(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    range_generic(ctx, args, Some(Kind::Score), Some(false))
}

pub fn zrevrangebyscore(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    range_generic(ctx, args, Some(Kind::Score), Some(true))
}

pub fn zrangebylex(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    range_generic(ctx, args, Some(Kind::Lex), Some(false))
}

pub fn zrevrangebylex(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    range_generic(ctx, args, Some(Kind::Lex), Some(true))
}

/// How a STORE command builds its destination, as Redis does.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Build {
    /// ZUNIONSTORE & co.: a skiplist, converted to a listpack at the end
    /// when it fits (zsetConvertToListpackIfNeeded).
    SkiplistThenShrink,
    /// ZRANGESTORE: a listpack when the count fits (zsetTypeCreate with no
    /// length hint), converted as members arrive. So a -0 score inserted
    /// before a long member became 0 in the listpack, as in Redis.
    ListpackFirst,
}

/// Stores `items` as a sorted set at `dst`, or deletes `dst` when there are
/// none. Replies with the count.
pub(crate) fn store_result(
    ctx: &mut Ctx,
    dst: &[u8],
    items: Vec<(Bytes, f64)>,
    event: &'static str,
    build: Build,
) -> Reply {
    let enc = encodings(ctx);
    let mut db = ctx.db();
    if items.is_empty() {
        if db.remove(dst).is_some() {
            db.notify(notify::GENERIC, "del", dst);
        }
        return Reply::Int(0);
    }
    let mut z = if build == Build::ListpackFirst && items.len() <= enc.zset_max_listpack_entries {
        ZSet::new_listpack()
    } else {
        ZSet::new_skiplist()
    };
    for (m, s) in &items {
        if z.score(m).is_none() {
            z.insert(m, *s, &enc);
        }
    }
    if build == Build::SkiplistThenShrink {
        z.shrink_if_fits(&enc);
    }
    let n = z.len();
    db.set(dst, Value::ZSet(z), false);
    db.notify(notify::ZSET, event, dst);
    Reply::Int(n as i64)
}

pub fn zrangestore(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let dst = args.key()?;
    let src = args.key()?;
    let req = parse_request(args, true, None, None)?;
    let items = {
        let mut db = ctx.db();
        match db.get(&src) {
            None => Vec::new(),
            Some(v) => select(as_zset(v)?, &req),
        }
    };
    Ok(store_result(
        ctx,
        &dst,
        items,
        "zrangestore",
        Build::ListpackFirst,
    ))
}

fn remrange_generic(ctx: &mut Ctx, args: &mut Args, kind: Kind) -> CmdResult {
    let key = args.key()?;
    let (a, b) = (args.next()?, args.next()?);
    let bounds = match kind {
        Kind::Rank => Bounds::Rank(
            crate::commands::args::parse_i64(&a)?,
            crate::commands::args::parse_i64(&b)?,
        ),
        Kind::Score => Bounds::Score(parse_score_range(&a, &b)?),
        Kind::Lex => Bounds::Lex(parse_lex_range(&a, &b)?),
    };
    let mut db = ctx.db();
    let Some(mut g) = db.write(&key) else {
        return Ok(Reply::Int(0));
    };
    if !matches!(g.value(), Value::ZSet(_)) {
        g.unchanged();
        return Err(CmdError::wrong_type());
    }
    let z = as_zset_mut(g.value_mut())?;
    let deleted = match &bounds {
        Bounds::Rank(start, end) => match rank_span(*start, *end, z.len()) {
            Some((a, b)) => z.remove_rank_range(a, b),
            None => 0,
        },
        Bounds::Score(r) => z.remove_range(r),
        Bounds::Lex(r) => z.remove_range(r),
    };
    if deleted > 0 {
        let event = match kind {
            Kind::Rank => "zremrangebyrank",
            Kind::Score => "zremrangebyscore",
            Kind::Lex => "zremrangebylex",
        };
        g.notify(notify::ZSET, event);
        g.set_dirty(deleted as u64);
    } else {
        g.unchanged();
    }
    Ok(Reply::Int(deleted as i64))
}

pub fn zremrangebyrank(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    remrange_generic(ctx, args, Kind::Rank)
}

pub fn zremrangebyscore(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    remrange_generic(ctx, args, Kind::Score)
}

pub fn zremrangebylex(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    remrange_generic(ctx, args, Kind::Lex)
}

#[cfg(test)]
mod tests {
    use super::rank_span;

    #[test]
    fn rank_spans_follow_redis() {
        assert_eq!(rank_span(0, -1, 4), Some((0, 3)));
        assert_eq!(rank_span(-100, 100, 4), Some((0, 3)));
        assert_eq!(rank_span(2, 1, 4), None);
        assert_eq!(rank_span(4, 10, 4), None);
        assert_eq!(rank_span(-1, -1, 4), Some((3, 3)));
        assert_eq!(rank_span(0, -5, 4), None);
        assert_eq!(rank_span(i64::MAX, 1, 4), None);
        assert_eq!(rank_span(0, 0, 0), None);
    }
}
