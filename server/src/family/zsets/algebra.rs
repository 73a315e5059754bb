//! ZUNION, ZINTER, ZDIFF, their STORE variants and ZINTERCARD (Redis's
//! zunionInterDiffGenericCommand). Plain sets are accepted as inputs, every
//! member scoring 1.
//!
//! Order of checks, as in Redis: numkeys, then every key's type, then the
//! options. Union and intersection visit the inputs from the smallest (a
//! stable sort, like glibc's qsort), which fixes the order in which SUM adds.

use std::collections::HashMap;

use bytes::Bytes;

use super::parse::string2d;
use super::range::{store_result, Build};
use super::scored_reply;
use crate::commands::args::parse_i64;
use crate::commands::{Args, CmdError, CmdResult};
use crate::ctx::Ctx;
use crate::family::sets::algebra::parse_card_limit;
use crate::resp::Reply;
use strata_engine::types::set::Set;
use strata_engine::types::skiplist::cmp_entry;
use strata_engine::types::zset::ZSet;
use strata_engine::{DbView, Value};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    /// zunionInterAggregate: a SUM of +inf and -inf is 0, not NaN.
    fn apply(self, target: &mut f64, v: f64) {
        match self {
            Aggregate::Sum => {
                *target += v;
                if target.is_nan() {
                    *target = 0.0;
                }
            }
            Aggregate::Min => {
                if v < *target {
                    *target = v;
                }
            }
            Aggregate::Max => {
                if v > *target {
                    *target = v;
                }
            }
        }
    }
}

/// One input: a sorted set, a set (scores 1), or a missing key (empty).
#[derive(Clone, Copy)]
enum Src<'a> {
    ZSet(&'a ZSet),
    Set(&'a Set),
    Missing,
}

impl Src<'_> {
    fn len(&self) -> usize {
        match self {
            Src::ZSet(z) => z.len(),
            Src::Set(s) => s.len(),
            Src::Missing => 0,
        }
    }

    fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            Src::ZSet(z) => z.score(member),
            Src::Set(s) => s.contains(member).then_some(1.0),
            Src::Missing => None,
        }
    }

    fn for_each(&self, mut f: impl FnMut(&[u8], f64)) {
        match self {
            Src::ZSet(z) => z.iter().for_each(|(m, s)| f(m, s)),
            Src::Set(s) => s.iter().for_each(|m| m.with_bytes(|b| f(b, 1.0))),
            Src::Missing => {}
        }
    }
}

struct Options {
    weights: Vec<f64>,
    aggregate: Aggregate,
    withscores: bool,
    limit: u64,
}

/// Parses `numkeys key [key ...]`, checking every key's type.
fn keys_and_check(db: &mut DbView, args: &mut Args, cmd: &str) -> Result<Vec<Bytes>, CmdError> {
    let numkeys = parse_i64(&args.next()?)?;
    if numkeys < 1 {
        return Err(CmdError::new(format!(
            "ERR at least 1 input key is needed for '{cmd}' command"
        )));
    }
    if numkeys as u64 > args.remaining() as u64 {
        return Err(CmdError::syntax());
    }
    let keys: Vec<Bytes> = (0..numkeys).filter_map(|_| args.next_opt()).collect();
    for k in &keys {
        if let Some(v) = db.get(k) {
            if !matches!(v, Value::ZSet(_) | Value::Set(_)) {
                return Err(CmdError::wrong_type());
            }
        }
    }
    Ok(keys)
}

fn parse_options(
    args: &mut Args,
    op: Op,
    nkeys: usize,
    store: bool,
    card: bool,
) -> Result<Options, CmdError> {
    let mut o = Options {
        weights: vec![1.0; nkeys],
        aggregate: Aggregate::Sum,
        withscores: false,
        limit: 0,
    };
    while let Some(word) = args.peek().cloned() {
        let left = args.remaining();
        if op != Op::Diff && !card && left > nkeys && word.eq_ignore_ascii_case(b"weights") {
            args.next()?;
            for w in o.weights.iter_mut() {
                *w = string2d(&args.next()?)
                    .ok_or_else(|| CmdError::new("ERR weight value is not a float"))?;
            }
        } else if op != Op::Diff && !card && left >= 2 && word.eq_ignore_ascii_case(b"aggregate") {
            args.next()?;
            let a = args.next()?;
            o.aggregate = if a.eq_ignore_ascii_case(b"sum") {
                Aggregate::Sum
            } else if a.eq_ignore_ascii_case(b"min") {
                Aggregate::Min
            } else if a.eq_ignore_ascii_case(b"max") {
                Aggregate::Max
            } else {
                return Err(CmdError::syntax());
            };
        } else if !store && !card && word.eq_ignore_ascii_case(b"withscores") {
            args.next()?;
            o.withscores = true;
        } else if card && left >= 2 && word.eq_ignore_ascii_case(b"limit") {
            args.next()?;
            o.limit = parse_card_limit(&args.next()?)?;
        } else {
            return Err(CmdError::syntax());
        }
    }
    Ok(o)
}

/// The inputs in processing order with their weights.
fn sources<'a>(db: &'a DbView, keys: &[Bytes], weights: &[f64], op: Op) -> Vec<(Src<'a>, f64)> {
    let mut srcs: Vec<(Src<'a>, f64)> = keys
        .iter()
        .zip(weights)
        .map(|(k, &w)| {
            let src = match db.get_shared(k) {
                Some(Value::ZSet(z)) => Src::ZSet(z),
                Some(Value::Set(s)) => Src::Set(s),
                _ => Src::Missing,
            };
            (src, w)
        })
        .collect();
    if op != Op::Diff {
        srcs.sort_by_key(|(s, _)| s.len());
    }
    srcs
}

/// Weighted score; a NaN product (inf times 0) counts as 0.
fn weighted(score: f64, weight: f64) -> f64 {
    let v = score * weight;
    if v.is_nan() {
        0.0
    } else {
        v
    }
}

/// Calls `emit` for each member of the intersection with its aggregated
/// score; stops when `emit` returns false.
fn intersect(srcs: &[(Src<'_>, f64)], agg: Aggregate, mut emit: impl FnMut(&[u8], f64) -> bool) {
    let Some(((first, w0), rest)) = srcs.split_first() else {
        return;
    };
    if first.len() == 0 {
        return;
    }
    let mut go = true;
    first.for_each(|m, s| {
        if !go {
            return;
        }
        let mut score = weighted(s, *w0);
        for (src, w) in rest {
            match src.score(m) {
                Some(v) => agg.apply(&mut score, v * w),
                None => return,
            }
        }
        go = emit(m, score);
    });
}

fn compute(srcs: &[(Src<'_>, f64)], op: Op, agg: Aggregate) -> Vec<(Bytes, f64)> {
    let mut out: Vec<(Bytes, f64)> = Vec::new();
    match op {
        Op::Inter => intersect(srcs, agg, |m, s| {
            out.push((Bytes::copy_from_slice(m), s));
            true
        }),
        Op::Union => {
            let mut acc: HashMap<Bytes, f64> = HashMap::new();
            for (src, w) in srcs {
                src.for_each(|m, s| {
                    let v = weighted(s, *w);
                    match acc.get_mut(m) {
                        Some(t) => agg.apply(t, v),
                        None => {
                            acc.insert(Bytes::copy_from_slice(m), v);
                        }
                    }
                });
            }
            out = acc.into_iter().collect();
        }
        Op::Diff => {
            if let Some(((first, _), rest)) = srcs.split_first() {
                first.for_each(|m, s| {
                    if !rest.iter().any(|(src, _)| src.score(m).is_some()) {
                        out.push((Bytes::copy_from_slice(m), s));
                    }
                });
            }
        }
    }
    out.sort_by(|a, b| cmp_entry(a.1, &a.0, b.1, &b.0));
    out
}

fn generic(
    ctx: &mut Ctx,
    args: &mut Args,
    op: Op,
    store: bool,
    card: bool,
    cmd: &str,
) -> CmdResult {
    let dst = if store { Some(args.key()?) } else { None };
    let resp = ctx.client.resp;
    let (items, count, withscores) = {
        let mut db = ctx.db();
        let keys = keys_and_check(&mut db, args, cmd)?;
        let opts = parse_options(args, op, keys.len(), store, card)?;
        let srcs = sources(&db, &keys, &opts.weights, op);
        if card {
            let mut n = 0u64;
            intersect(&srcs, opts.aggregate, |_, _| {
                n += 1;
                opts.limit == 0 || n < opts.limit
            });
            (Vec::new(), n, false)
        } else {
            (compute(&srcs, op, opts.aggregate), 0, opts.withscores)
        }
    };
    if card {
        return Ok(Reply::Int(count as i64));
    }
    match dst {
        Some(dst) => Ok(store_result(
            ctx,
            &dst,
            items,
            store_event(op),
            Build::SkiplistThenShrink,
        )),
        None => Ok(scored_reply(resp, items, withscores)),
    }
}

fn store_event(op: Op) -> &'static str {
    match op {
        Op::Union => "zunionstore",
        Op::Inter => "zinterstore",
        Op::Diff => "zdiffstore",
    }
}

pub fn zunion(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    generic(ctx, args, Op::Union, false, false, "zunion")
}

pub fn zinter(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    generic(ctx, args, Op::Inter, false, false, "zinter")
}

pub fn zdiff(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    generic(ctx, args, Op::Diff, false, false, "zdiff")
}

pub fn zunionstore(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    generic(ctx, args, Op::Union, true, false, "zunionstore")
}

pub fn zinterstore(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    generic(ctx, args, Op::Inter, true, false, "zinterstore")
}

pub fn zdiffstore(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    generic(ctx, args, Op::Diff, true, false, "zdiffstore")
}

pub fn zintercard(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    generic(ctx, args, Op::Inter, false, true, "zintercard")
}
