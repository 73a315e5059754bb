//! The batch look-ahead: before a pipelined batch of requests runs, start
//! loading into cache what its requests will read, so their cache misses
//! overlap instead of each request paying its own chain of them. It reads
//! the query buffer ahead of the parser (`resp::parser::peek_keys`,
//! `peek_requests`) and only ever prefetches: a wrong guess costs a little
//! time, never a different reply.
//!
//! Two kinds of batch gain from it:
//! - requests on different keys (GET, SET, MSET ...): the keys' bucket
//!   slots, chain nodes and values (`Keyspace::prefetch_keys`);
//! - requests on the members of one big collection: a sorted set's (ZADD,
//!   ZREM, ZINCRBY, ZSCORE, ZMSCORE, ZRANK, ZREVRANK) hash chains and
//!   skiplist descents, walked in lockstep (`SkipList::prefetch_updates`);
//!   a set's (SADD, SREM, SISMEMBER, SMISMEMBER) or a hash's (HSET, HMSET,
//!   HSETNX, HGET, HMGET, HDEL, HEXISTS, HSTRLEN, HINCRBY, HINCRBYFLOAT)
//!   hash chains (`Dict::prefetch_lookups`).
//!
//! Any other batch on one key (LPUSH mylist ...) is already in cache after
//! its first request, and gets nothing.

use strata_engine::keyspace::{Keyspace, PREFETCH_KEYS_MAX};
use strata_engine::types::skiplist::{Ahead, PREFETCH_ENTRIES_MAX};

use crate::family::zsets::parse::string2d;
use crate::resp::parser::{peek_keys, peek_requests};

/// Most arguments read ahead for a batch on one collection.
const MEMBER_ARGS_MAX: usize = 64;

/// Prefetches for the requests at the start of `buf`, to run in database
/// `db`. Returns how many whole requests that covered (call again once they
/// have run), or None when prefetching does not pay for this batch.
pub fn prefetch_batch(keyspace: &Keyspace, db: usize, buf: &[u8]) -> Option<usize> {
    let mut spans = [(0, 0); PREFETCH_KEYS_MAX];
    let key = |(start, stop): (usize, usize)| buf.get(start..stop).unwrap_or(&[]);
    // Two keys first, to give up cheaply.
    if peek_keys(buf, &mut spans[..2]).keys < 2 {
        return None;
    }
    if key(spans[0]) == key(spans[1]) {
        return prefetch_member_batch(keyspace, db, buf);
    }
    let found = peek_keys(buf, &mut spans);
    let mut keys: [&[u8]; PREFETCH_KEYS_MAX] = [&[]; PREFETCH_KEYS_MAX];
    for (k, &span) in keys.iter_mut().zip(&spans[..found.keys]) {
        *k = key(span);
    }
    keyspace.prefetch_keys(db, &keys[..found.keys]);
    (found.requests > 0).then_some(found.requests)
}

/// A batch whose first requests are member commands on one key: their
/// members (see `member_ahead`), up to the first request that is not.
fn prefetch_member_batch(keyspace: &Keyspace, db: usize, buf: &[u8]) -> Option<usize> {
    let mut spans = [(0, 0); MEMBER_ARGS_MAX];
    let mut counts = [0; PREFETCH_ENTRIES_MAX];
    let arg = |(start, stop): (usize, usize)| buf.get(start..stop).unwrap_or(&[]);
    // The first request's name first, to give up cheaply (LPUSH mylist ...).
    if peek_requests(buf, &mut spans, &mut counts[..1]) < 1 || !is_member_command(arg(spans[0])) {
        return None;
    }
    let requests = peek_requests(buf, &mut spans, &mut counts);
    let mut entries = [(&[][..], Ahead::Lookup); PREFETCH_ENTRIES_MAX];
    let mut n_entries = 0;
    let mut covered = 0;
    let mut first = 0;
    for &count in &counts[..requests] {
        let args = &spans[first..first + count];
        first += count;
        if args.len() < 3 || arg(args[1]) != arg(spans[1]) {
            break;
        }
        let mut argv = [&[][..]; MEMBER_ARGS_MAX];
        for (a, &span) in argv.iter_mut().zip(args) {
            *a = arg(span);
        }
        if !member_ahead(&argv[..args.len()], &mut entries, &mut n_entries) {
            break;
        }
        covered += 1;
    }
    if n_entries < 2 {
        return None;
    }
    keyspace.prefetch_members(db, arg(spans[1]), &entries[..n_entries]);
    Some(covered)
}

/// The commands `member_ahead` knows.
fn is_member_command(name: &[u8]) -> bool {
    [
        &b"zadd"[..],
        b"zincrby",
        b"zrem",
        b"zrank",
        b"zrevrank",
        b"zscore",
        b"zmscore",
        b"sadd",
        b"srem",
        b"sismember",
        b"smismember",
        b"hset",
        b"hmset",
        b"hsetnx",
        b"hget",
        b"hmget",
        b"hdel",
        b"hexists",
        b"hstrlen",
        b"hincrby",
        b"hincrbyfloat",
    ]
    .iter()
    .any(|c| name.eq_ignore_ascii_case(c))
}

/// Appends what request `argv` (name, key, arguments) does with each
/// member (or field) it names; false when it is not one of the commands
/// this knows, or its members did not all fit.
fn member_ahead<'a>(
    argv: &[&'a [u8]],
    entries: &mut [(&'a [u8], Ahead)],
    n_entries: &mut usize,
) -> bool {
    let is = |w: &[u8]| argv[0].eq_ignore_ascii_case(w);
    let mut push = |member: &'a [u8], what: Ahead| match entries.get_mut(*n_entries) {
        Some(slot) => {
            *slot = (member, what);
            *n_entries += 1;
            true
        }
        None => false,
    };
    let rest = &argv[2..];
    if is(b"zadd") {
        let flags = rest
            .iter()
            .take_while(|w| {
                [&b"nx"[..], b"xx", b"gt", b"lt", b"ch", b"incr"]
                    .iter()
                    .any(|f| w.eq_ignore_ascii_case(f))
            })
            .count();
        let incr = rest[..flags]
            .iter()
            .any(|w| w.eq_ignore_ascii_case(b"incr"));
        let pairs = &rest[flags..];
        if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
            return false;
        }
        pairs.chunks(2).all(|p| {
            let what = match string2d(p[0]) {
                Some(score) if !incr => Ahead::MoveTo(score),
                _ => Ahead::Position,
            };
            push(p[1], what)
        })
    } else if is(b"zincrby") {
        rest.len() == 2 && push(rest[1], Ahead::Position)
    } else if is(b"zrem") || is(b"zrank") || is(b"zrevrank") {
        rest.iter().all(|m| push(m, Ahead::Position))
    } else if is(b"hset") || is(b"hmset") {
        // field value field value ...
        !rest.is_empty()
            && rest.len().is_multiple_of(2)
            && rest.iter().step_by(2).all(|f| push(f, Ahead::Lookup))
    } else if is(b"hsetnx") || is(b"hincrby") || is(b"hincrbyfloat") {
        rest.len() == 2 && push(rest[0], Ahead::Lookup)
    } else if is_member_command(argv[0]) {
        // The rest name members or fields only (ZSCORE, SADD, HGET, HDEL ...).
        rest.iter().all(|m| push(m, Ahead::Lookup))
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ahead(argv: &[&[u8]]) -> Option<Vec<(Vec<u8>, Ahead)>> {
        let mut entries = [(&[][..], Ahead::Lookup); 4];
        let mut n = 0;
        member_ahead(argv, &mut entries, &mut n)
            .then(|| entries[..n].iter().map(|(m, a)| (m.to_vec(), *a)).collect())
    }

    #[test]
    fn members_of_sorted_set_commands() {
        let m = |s: &str| s.as_bytes().to_vec();
        assert_eq!(
            ahead(&[b"ZADD", b"z", b"1.5", b"a", b"2", b"b"]),
            Some(vec![
                (m("a"), Ahead::MoveTo(1.5)),
                (m("b"), Ahead::MoveTo(2.0))
            ])
        );
        assert_eq!(
            ahead(&[b"zadd", b"z", b"XX", b"ch", b"inf", b"a"]),
            Some(vec![(m("a"), Ahead::MoveTo(f64::INFINITY))])
        );
        // INCR and unparsable scores: the member's current position.
        assert_eq!(
            ahead(&[b"zadd", b"z", b"incr", b"1", b"a"]),
            Some(vec![(m("a"), Ahead::Position)])
        );
        assert_eq!(
            ahead(&[b"zadd", b"z", b"nan", b"a"]),
            Some(vec![(m("a"), Ahead::Position)])
        );
        assert_eq!(ahead(&[b"zadd", b"z", b"1"]), None);
        assert_eq!(ahead(&[b"zadd", b"z", b"nx"]), None);
        assert_eq!(
            ahead(&[b"ZINCRBY", b"z", b"2", b"a"]),
            Some(vec![(m("a"), Ahead::Position)])
        );
        assert_eq!(
            ahead(&[b"zrem", b"z", b"a", b"b"]),
            Some(vec![(m("a"), Ahead::Position), (m("b"), Ahead::Position)])
        );
        assert_eq!(
            ahead(&[b"zmscore", b"z", b"a"]),
            Some(vec![(m("a"), Ahead::Lookup)])
        );
        // More members than fit, and other commands: not covered.
        assert_eq!(
            ahead(&[b"SADD", b"s", b"a", b"b"]),
            Some(vec![(m("a"), Ahead::Lookup), (m("b"), Ahead::Lookup)])
        );
        assert_eq!(
            ahead(&[b"hset", b"h", b"f", b"v", b"g", b"w"]),
            Some(vec![(m("f"), Ahead::Lookup), (m("g"), Ahead::Lookup)])
        );
        assert_eq!(ahead(&[b"hset", b"h", b"f"]), None);
        assert_eq!(
            ahead(&[b"HINCRBY", b"h", b"f", b"1"]),
            Some(vec![(m("f"), Ahead::Lookup)])
        );
        assert_eq!(
            ahead(&[b"hmget", b"h", b"f", b"g"]),
            Some(vec![(m("f"), Ahead::Lookup), (m("g"), Ahead::Lookup)])
        );
        assert_eq!(ahead(&[b"zrem", b"z", b"a", b"b", b"c", b"d", b"e"]), None);
        assert_eq!(ahead(&[b"lpush", b"z", b"a"]), None);
    }
}
