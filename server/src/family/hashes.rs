//! Hash commands with Redis 7.0's replies, errors and keyspace events. The
//! listpack → hashtable conversion happens in the engine's `Hash::set`;
//! emptied hashes are deleted by the door's guard.

use std::collections::HashSet;

use bytes::Bytes;

use crate::commands::{
    acl, args::parse_i64, flags::*, keys, spec, Args, CmdError, CmdResult, CommandSpec,
};
use crate::ctx::Ctx;
use crate::family::scan::{parse_scan_cursor, ScanOptions, SCAN_VISITS_PER_COUNT};
use crate::family::sets::scan;
use crate::resp::Reply;
use crate::util::float::LongDouble;
use strata_engine::notify;
use strata_engine::value::parse_i64_strict;
use strata_engine::{Hash, Value, WriteGuard};

pub const COMMANDS: &[CommandSpec] = &[
    spec(
        "hset",
        -4,
        WRITE | DENYOOM | FAST,
        acl::HASH,
        keys(1, 1, 1),
        hset,
    ),
    spec(
        "hmset",
        -4,
        WRITE | DENYOOM | FAST,
        acl::HASH,
        keys(1, 1, 1),
        hmset,
    ),
    spec(
        "hsetnx",
        4,
        WRITE | DENYOOM | FAST,
        acl::HASH,
        keys(1, 1, 1),
        hsetnx,
    ),
    spec("hget", 3, READONLY | FAST, acl::HASH, keys(1, 1, 1), hget),
    spec(
        "hmget",
        -3,
        READONLY | FAST,
        acl::HASH,
        keys(1, 1, 1),
        hmget,
    ),
    spec("hgetall", 2, READONLY, acl::HASH, keys(1, 1, 1), hgetall),
    spec("hkeys", 2, READONLY, acl::HASH, keys(1, 1, 1), hkeys),
    spec("hvals", 2, READONLY, acl::HASH, keys(1, 1, 1), hvals),
    spec("hdel", -3, WRITE | FAST, acl::HASH, keys(1, 1, 1), hdel),
    spec("hlen", 2, READONLY | FAST, acl::HASH, keys(1, 1, 1), hlen),
    spec(
        "hstrlen",
        3,
        READONLY | FAST,
        acl::HASH,
        keys(1, 1, 1),
        hstrlen,
    ),
    spec(
        "hexists",
        3,
        READONLY | FAST,
        acl::HASH,
        keys(1, 1, 1),
        hexists,
    ),
    spec(
        "hincrby",
        4,
        WRITE | DENYOOM | FAST,
        acl::HASH,
        keys(1, 1, 1),
        hincrby,
    ),
    spec(
        "hincrbyfloat",
        4,
        WRITE | DENYOOM | FAST,
        acl::HASH,
        keys(1, 1, 1),
        hincrbyfloat,
    ),
    spec(
        "hrandfield",
        -2,
        READONLY,
        acl::HASH,
        keys(1, 1, 1),
        hrandfield,
    ),
    spec("hscan", -3, READONLY, acl::HASH, keys(1, 1, 1), hscan),
];

/// Cap on the preallocation for HRANDFIELD replies (the count is client-given).
const REPLY_PREALLOC_MAX: usize = 1024;

fn as_hash(v: &Value) -> Result<&Hash, CmdError> {
    match v {
        Value::Hash(h) => Ok(h),
        _ => Err(CmdError::wrong_type()),
    }
}

fn hash_mut<'g>(g: &'g mut WriteGuard) -> Result<&'g mut Hash, CmdError> {
    if !matches!(g.value(), Value::Hash(_)) {
        g.unchanged();
        return Err(CmdError::wrong_type());
    }
    match g.value_mut() {
        Value::Hash(h) => Ok(h),
        _ => Err(CmdError::wrong_type()),
    }
}

/// Reads the hash at `key` (counting a hit or miss) and maps it with `f`.
fn read_hash<R>(
    ctx: &mut Ctx,
    key: &[u8],
    f: impl FnOnce(&Hash) -> R,
) -> Result<Option<R>, CmdError> {
    match ctx.db().get(key) {
        None => Ok(None),
        Some(v) => Ok(Some(f(as_hash(v)?))),
    }
}

fn bulk(b: &[u8]) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(b))
}

// ---------------------------------------------------------------- writes

/// HSET/HMSET: sets the pairs; returns how many fields were new.
fn set_pairs(ctx: &mut Ctx, args: &mut Args, name: &str) -> Result<i64, CmdError> {
    let key = args.key()?;
    if !args.remaining().is_multiple_of(2) {
        return Err(CmdError::wrong_arity(name));
    }
    let rest = args.rest();
    let enc = ctx.srv.keyspace.shared.encodings;
    let mut db = ctx.db();
    let mut g = db.write_or_insert(&key, || Value::Hash(Hash::default())).0;
    let hash = hash_mut(&mut g)?;
    let mut created = 0;
    for pair in rest.chunks(2) {
        if let [f, v] = pair {
            created += hash.set(f, v, &enc) as i64;
        }
    }
    g.set_dirty((rest.len() / 2) as u64);
    g.notify(notify::HASH, "hset");
    Ok(created)
}

fn hset(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    Ok(Reply::Int(set_pairs(ctx, args, "hset")?))
}

fn hmset(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    set_pairs(ctx, args, "hmset")?;
    Ok(Reply::OK)
}

fn hsetnx(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let field = args.next()?;
    let value = args.next()?;
    let enc = ctx.srv.keyspace.shared.encodings;
    let mut db = ctx.db();
    let mut g = db.write_or_insert(&key, || Value::Hash(Hash::default())).0;
    let hash = hash_mut(&mut g)?;
    if hash.contains(&field) {
        g.unchanged();
        return Ok(Reply::Int(0));
    }
    hash.set(&field, &value, &enc);
    g.notify(notify::HASH, "hset");
    Ok(Reply::Int(1))
}

fn hdel(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let fields = args.rest();
    let mut db = ctx.db();
    let Some(mut g) = db.write(&key) else {
        return Ok(Reply::Int(0));
    };
    let hash = hash_mut(&mut g)?;
    let mut deleted = 0;
    for f in &fields {
        if hash.remove(f) {
            deleted += 1;
            if hash.is_empty() {
                break;
            }
        }
    }
    if deleted == 0 {
        g.unchanged();
    } else {
        g.set_dirty(deleted);
        g.notify(notify::HASH, "hdel");
    }
    Ok(Reply::Int(deleted as i64))
}

fn hincrby(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let field = args.next()?;
    let incr = args.next_i64()?;
    let enc = ctx.srv.keyspace.shared.encodings;
    let mut db = ctx.db();
    let mut g = db.write_or_insert(&key, || Value::Hash(Hash::default())).0;
    let hash = hash_mut(&mut g)?;
    let current = match hash.get(&field) {
        None => 0,
        Some(v) => match parse_i64_strict(v) {
            Some(n) => n,
            None => {
                g.unchanged();
                return Err(CmdError::new("ERR hash value is not an integer"));
            }
        },
    };
    let Some(new) = current.checked_add(incr) else {
        g.unchanged();
        return Err(CmdError::overflow());
    };
    let mut buf = [0u8; 24];
    hash.set(&field, strata_engine::value::fmt_i64(new, &mut buf), &enc);
    g.notify(notify::HASH, "hincrby");
    Ok(Reply::Int(new))
}

fn hincrbyfloat(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let field = args.next()?;
    let incr = LongDouble::parse(&args.next()?).ok_or_else(CmdError::not_float)?;
    if !incr.is_finite() {
        return Err(CmdError::new("ERR value is NaN or Infinity"));
    }
    let enc = ctx.srv.keyspace.shared.encodings;
    let mut db = ctx.db();
    let mut g = db.write_or_insert(&key, || Value::Hash(Hash::default())).0;
    let hash = hash_mut(&mut g)?;
    let current = match hash.get(&field) {
        None => LongDouble::ZERO,
        Some(v) => match LongDouble::parse(v) {
            Some(x) => x,
            None => {
                g.unchanged();
                return Err(CmdError::new("ERR hash value is not a float"));
            }
        },
    };
    let sum = current + incr;
    if !sum.is_finite() {
        g.unchanged();
        return Err(CmdError::new("ERR increment would produce NaN or Infinity"));
    }
    let text = sum.to_human_string();
    hash.set(&field, text.as_bytes(), &enc);
    g.notify(notify::HASH, "hincrbyfloat");
    drop(g);
    let text = Bytes::from(text);
    // Replayed as the value it produced, so float formatting at replay time
    // cannot change the result (Redis propagates HSET too).
    ctx.propagate_as(vec![Bytes::from_static(b"HSET"), key, field, text.clone()]);
    Ok(Reply::Bulk(text))
}

// ---------------------------------------------------------------- reads

fn hget(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let field = args.next()?;
    let got = read_hash(ctx, &key, |h| h.get(&field).map(bulk))?;
    Ok(got.flatten().unwrap_or(Reply::Nil))
}

fn hmget(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let fields = args.rest();
    let got = read_hash(ctx, &key, |h| {
        fields
            .iter()
            .map(|f| h.get(f).map_or(Reply::Nil, bulk))
            .collect::<Vec<_>>()
    })?;
    Ok(Reply::Array(
        got.unwrap_or_else(|| vec![Reply::Nil; fields.len()]),
    ))
}

fn hgetall(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let got = read_hash(ctx, &key, |h| {
        h.iter()
            .map(|(f, v)| (bulk(f), bulk(v)))
            .collect::<Vec<_>>()
    })?;
    Ok(Reply::Map(got.unwrap_or_default()))
}

fn hkeys(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let got = read_hash(ctx, &key, |h| {
        h.iter().map(|(f, _)| bulk(f)).collect::<Vec<_>>()
    })?;
    Ok(Reply::Array(got.unwrap_or_default()))
}

fn hvals(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let got = read_hash(ctx, &key, |h| {
        h.iter().map(|(_, v)| bulk(v)).collect::<Vec<_>>()
    })?;
    Ok(Reply::Array(got.unwrap_or_default()))
}

fn hlen(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    Ok(Reply::Int(
        read_hash(ctx, &key, |h| h.len())?.unwrap_or(0) as i64
    ))
}

fn hstrlen(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let field = args.next()?;
    let got = read_hash(ctx, &key, |h| h.get(&field).map_or(0, |v| v.len()))?;
    Ok(Reply::Int(got.unwrap_or(0) as i64))
}

fn hexists(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let field = args.next()?;
    Ok(Reply::Int(
        read_hash(ctx, &key, |h| h.contains(&field))?.unwrap_or(false) as i64,
    ))
}

// ---------------------------------------------------------------- HRANDFIELD

/// A small xorshift generator seeded from the keyspace's, so sampling does
/// not need the keyspace borrowed while the hash is.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn hrandfield(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let resp3 = ctx.client.resp >= 3;
    let count = match args.next_opt() {
        None => None,
        Some(c) => match parse_i64(&c)? {
            i64::MIN => {
                return Err(CmdError::new("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"));
            }
            n => Some(n),
        },
    };
    let with_values = match args.next_opt() {
        None => false,
        Some(w) if w.eq_ignore_ascii_case(b"withvalues") && args.is_empty() => true,
        Some(_) => return Err(CmdError::syntax()),
    };
    let mut rng = Rng(ctx.srv.keyspace.shared.random_u64() | 1);
    let Some(count) = count else {
        let got = read_hash(ctx, &key, |h| {
            h.random_pair(|| rng.next()).map(|(f, _)| bulk(f))
        })?;
        return Ok(got.flatten().unwrap_or(Reply::Nil));
    };
    // With values the reply has twice the elements: Redis bounds the count first.
    if with_values && count.unsigned_abs() > (i64::MAX / 2) as u64 {
        return Err(CmdError::new("ERR value is out of range"));
    }
    let pairs = read_hash(ctx, &key, |h| random_pairs(h, count, &mut rng))?.unwrap_or_default();
    Ok(pairs_reply(pairs, with_values, resp3))
}

/// HRANDFIELD with a count: negative = that many picks with repetition;
/// positive = distinct fields, the whole hash (in its order) when count ≥ len.
fn random_pairs(h: &Hash, count: i64, rng: &mut Rng) -> Vec<(Reply, Reply)> {
    let len = h.len();
    if count == 0 || len == 0 {
        return Vec::new();
    }
    if count < 0 {
        let n = count.unsigned_abs() as usize;
        let mut out = Vec::with_capacity(n.min(REPLY_PREALLOC_MAX));
        if h.scans_whole() {
            // Small (listpack) hash: index it once instead of walking per pick.
            let all: Vec<(&[u8], &[u8])> = h.iter().collect();
            for _ in 0..n {
                let (f, v) = all[rng.below(all.len())];
                out.push((bulk(f), bulk(v)));
            }
        } else {
            for _ in 0..n {
                if let Some((f, v)) = h.random_pair(|| rng.next()) {
                    out.push((bulk(f), bulk(v)));
                }
            }
        }
        return out;
    }
    let n = count as usize;
    if n >= len {
        return h.iter().map(|(f, v)| (bulk(f), bulk(v))).collect();
    }
    if h.scans_whole() || n * 3 > len {
        // Pick n distinct positions (partial Fisher-Yates), reply in hash order.
        let all: Vec<(&[u8], &[u8])> = h.iter().collect();
        let mut idx: Vec<usize> = (0..all.len()).collect();
        for i in 0..n {
            let j = i + rng.below(idx.len() - i);
            idx.swap(i, j);
        }
        let mut picked = idx[..n].to_vec();
        picked.sort_unstable();
        return picked
            .into_iter()
            .map(|i| (bulk(all[i].0), bulk(all[i].1)))
            .collect();
    }
    // Few out of many: sample until n distinct fields.
    let mut seen: HashSet<&[u8]> = HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        if let Some((f, v)) = h.random_pair(|| rng.next()) {
            if seen.insert(f) {
                out.push((bulk(f), bulk(v)));
            }
        }
    }
    out
}

fn pairs_reply(pairs: Vec<(Reply, Reply)>, with_values: bool, resp3: bool) -> Reply {
    if !with_values {
        return Reply::Array(pairs.into_iter().map(|(f, _)| f).collect());
    }
    if resp3 {
        return Reply::Array(
            pairs
                .into_iter()
                .map(|(f, v)| Reply::Array(vec![f, v]))
                .collect(),
        );
    }
    Reply::Array(pairs.into_iter().flat_map(|(f, v)| [f, v]).collect())
}

// ---------------------------------------------------------------- HSCAN

/// HSCAN in Redis's order: the cursor, then the key (a missing key is an
/// empty reply, another type WRONGTYPE), then the options. A listpack
/// returns every pair at once with cursor 0.
fn hscan(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let cursor = parse_scan_cursor(&args.next()?)?;
    let mut db = ctx.db();
    let Some(v) = db.get(&key) else {
        return Ok(scan::reply(0, Vec::new()));
    };
    let h = as_hash(v)?;
    let opts = ScanOptions::parse(&args.rest(), false)?;
    let want = usize::try_from(opts.count).unwrap_or(usize::MAX);
    // Redis doubles COUNT for (field, value) pairs: the budget doubles too.
    let max_steps = want.saturating_mul(2 * SCAN_VISITS_PER_COUNT as usize);
    let (next, visited) = scan::collect(
        cursor,
        want,
        max_steps,
        |c, out: &mut Vec<(Bytes, Bytes)>| {
            h.scan(c, |f, v| {
                out.push((Bytes::copy_from_slice(f), Bytes::copy_from_slice(v)))
            })
        },
    );
    let mut items = Vec::with_capacity(visited.len() * 2);
    for (f, v) in visited {
        if scan::matches(&opts, &f) {
            items.push(Reply::Bulk(f));
            items.push(Reply::Bulk(v));
        }
    }
    Ok(scan::reply(next, items))
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_engine::Encodings;

    fn hash_of(n: usize) -> Hash {
        let mut h = Hash::new();
        for i in 0..n {
            h.set(
                format!("f{i}").as_bytes(),
                format!("{i}").as_bytes(),
                &Encodings::default(),
            );
        }
        h
    }

    fn fields(pairs: &[(Reply, Reply)]) -> Vec<Reply> {
        pairs.iter().map(|(f, _)| f.clone()).collect()
    }

    #[test]
    fn random_pairs_distinct_and_repeating() {
        let mut rng = Rng(12345);
        for n in [10usize, 2000] {
            let h = hash_of(n);
            for count in [1i64, 3, 9, 600, 1999] {
                let got = fields(&random_pairs(&h, count, &mut rng));
                let want = (count as usize).min(n);
                assert_eq!(got.len(), want);
                let uniq: HashSet<String> = got.iter().map(|r| format!("{r:?}")).collect();
                assert_eq!(uniq.len(), want, "distinct fields for count {count} of {n}");
            }
            assert_eq!(random_pairs(&h, -50, &mut rng).len(), 50);
            assert_eq!(random_pairs(&h, n as i64 + 5, &mut rng).len(), n);
        }
        assert!(random_pairs(&Hash::new(), -3, &mut rng).is_empty());
    }
}

#[cfg(test)]
mod events {
    use crate::client::Client;
    use crate::config::Config;
    use crate::dispatch;
    use crate::server::Server;
    use bytes::Bytes;

    #[test]
    fn keyspace_events_in_redis_order() {
        let mut srv = Server::new(Config::default());
        srv.pubsub.tap = Some(Vec::new());
        let mut c = Client::new(1, 0);
        srv.keyspace.shared.notify_flags = strata_engine::notify::parse_flags(b"KEA").unwrap();
        for line in [
            "HSET h a 1",
            "HSETNX h b 2",
            "HSETNX h b 3",
            "HINCRBY h c 1",
            "HINCRBYFLOAT h d 1.5",
            "HDEL h a b c d",
            "HMSET h x 1",
            "HDEL h nope",
        ] {
            let argv: Vec<Bytes> = line
                .split_whitespace()
                .map(|w| Bytes::copy_from_slice(w.as_bytes()))
                .collect();
            dispatch::execute(&mut srv, &mut c, argv);
        }
        let got: Vec<String> = srv
            .pubsub
            .tap
            .iter()
            .flatten()
            .filter(|e| e.class & strata_engine::notify::KEYSPACE == 0)
            .map(|e| format!("{} {}", e.event, String::from_utf8_lossy(&e.key)))
            .collect();
        // Captured from redis-server 7.0.15 (psubscribe __keyevent@0__:*).
        assert_eq!(
            got.join(";"),
            "hset h;hset h;hincrby h;hincrbyfloat h;hdel h;del h;hset h"
        );
    }
}
