//! List commands, including the blocking ones (BLPOP, BRPOP, BLMOVE,
//! BRPOPLPUSH, BLMPOP), with Redis 7.0's argument order of checks, replies
//! and keyspace events. Emptied lists are deleted by the door's guard.
//!
//! Blocking handlers first try to serve like their non-blocking twins; with
//! nothing to serve they ask `blocking::block` to park the client (or, where
//! blocking is denied, inside EXEC or a script, answer at once as on timeout).
//! When re-run for a ready key they look at that key only, as Redis does.

use bytes::Bytes;

use crate::blocking::{self, BlockRequest};
use crate::commands::{
    acl, args::parse_i64, flags::*, keys, spec, Args, CmdError, CmdResult, CommandSpec,
};
use crate::ctx::Ctx;
use crate::resp::reply::BulkArray;
use crate::resp::Reply;
use strata_engine::notify;
use strata_engine::{List, Value, ValueType, WriteGuard};

pub const COMMANDS: &[CommandSpec] = &[
    spec(
        "lpush",
        -3,
        WRITE | DENYOOM | FAST,
        acl::LIST,
        keys(1, 1, 1),
        lpush,
    ),
    spec(
        "rpush",
        -3,
        WRITE | DENYOOM | FAST,
        acl::LIST,
        keys(1, 1, 1),
        rpush,
    ),
    spec(
        "lpushx",
        -3,
        WRITE | DENYOOM | FAST,
        acl::LIST,
        keys(1, 1, 1),
        lpushx,
    ),
    spec(
        "rpushx",
        -3,
        WRITE | DENYOOM | FAST,
        acl::LIST,
        keys(1, 1, 1),
        rpushx,
    ),
    spec("lpop", -2, WRITE | FAST, acl::LIST, keys(1, 1, 1), lpop),
    spec("rpop", -2, WRITE | FAST, acl::LIST, keys(1, 1, 1), rpop),
    spec("llen", 2, READONLY | FAST, acl::LIST, keys(1, 1, 1), llen),
    spec("lrange", 4, READONLY, acl::LIST, keys(1, 1, 1), lrange),
    spec("lindex", 3, READONLY, acl::LIST, keys(1, 1, 1), lindex),
    spec("lset", 4, WRITE | DENYOOM, acl::LIST, keys(1, 1, 1), lset),
    spec(
        "linsert",
        5,
        WRITE | DENYOOM,
        acl::LIST,
        keys(1, 1, 1),
        linsert,
    ),
    spec("lrem", 4, WRITE, acl::LIST, keys(1, 1, 1), lrem),
    spec("ltrim", 4, WRITE, acl::LIST, keys(1, 1, 1), ltrim),
    spec("lpos", -3, READONLY, acl::LIST, keys(1, 1, 1), lpos),
    spec("lmove", 5, WRITE | DENYOOM, acl::LIST, keys(1, 2, 1), lmove),
    spec(
        "rpoplpush",
        3,
        WRITE | DENYOOM,
        acl::LIST,
        keys(1, 2, 1),
        rpoplpush,
    ),
    spec(
        "lmpop",
        -4,
        WRITE | MOVABLE_KEYS,
        acl::LIST,
        keys(0, 0, 0),
        lmpop,
    ),
    spec(
        "blpop",
        -3,
        WRITE | NOSCRIPT | BLOCKING,
        acl::LIST,
        keys(1, -2, 1),
        blpop,
    ),
    spec(
        "brpop",
        -3,
        WRITE | NOSCRIPT | BLOCKING,
        acl::LIST,
        keys(1, -2, 1),
        brpop,
    ),
    spec(
        "blmove",
        6,
        WRITE | DENYOOM | NOSCRIPT | BLOCKING,
        acl::LIST,
        keys(1, 2, 1),
        blmove,
    ),
    spec(
        "brpoplpush",
        4,
        WRITE | DENYOOM | NOSCRIPT | BLOCKING,
        acl::LIST,
        keys(1, 2, 1),
        brpoplpush,
    ),
    spec(
        "blmpop",
        -5,
        WRITE | BLOCKING | MOVABLE_KEYS,
        acl::LIST,
        keys(0, 0, 0),
        blmpop,
    ),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Head,
    Tail,
}

impl End {
    fn parse(word: &[u8]) -> Result<End, CmdError> {
        if word.eq_ignore_ascii_case(b"left") {
            Ok(End::Head)
        } else if word.eq_ignore_ascii_case(b"right") {
            Ok(End::Tail)
        } else {
            Err(CmdError::syntax())
        }
    }

    fn pop_event(self) -> &'static str {
        match self {
            End::Head => "lpop",
            End::Tail => "rpop",
        }
    }

    /// The command that pops from this end (what blocking pops propagate as).
    fn pop_command(self) -> &'static [u8] {
        match self {
            End::Head => b"LPOP",
            End::Tail => b"RPOP",
        }
    }

    fn direction_word(self) -> &'static [u8] {
        match self {
            End::Head => b"left",
            End::Tail => b"right",
        }
    }

    fn push_event(self) -> &'static str {
        match self {
            End::Head => "lpush",
            End::Tail => "rpush",
        }
    }
}

fn fill(ctx: &Ctx) -> i64 {
    ctx.srv.keyspace.shared.encodings.list_max_listpack_size
}

/// The list in a write guard; WRONGTYPE (and the guard left unchanged) otherwise.
fn list_mut<'g>(g: &'g mut WriteGuard) -> Result<&'g mut List, CmdError> {
    if !matches!(g.value(), Value::List(_)) {
        g.unchanged();
        return Err(CmdError::wrong_type());
    }
    match g.value_mut() {
        Value::List(l) => Ok(l),
        _ => Err(CmdError::wrong_type()),
    }
}

fn as_list(v: &Value) -> Result<&List, CmdError> {
    match v {
        Value::List(l) => Ok(l),
        _ => Err(CmdError::wrong_type()),
    }
}

/// Reads the list at `key` (counting a hit or miss) and maps it with `f`.
fn read_list<R>(
    ctx: &mut Ctx,
    key: &[u8],
    f: impl FnOnce(&List) -> R,
) -> Result<Option<R>, CmdError> {
    match ctx.db().get(key) {
        None => Ok(None),
        Some(v) => Ok(Some(f(as_list(v)?))),
    }
}

/// Redis's index normalisation for one position: negative counts from the tail.
fn normalize(index: i64, len: usize) -> i64 {
    if index < 0 {
        index.saturating_add(len as i64)
    } else {
        index
    }
}

// ---------------------------------------------------------------- push

fn push_generic(ctx: &mut Ctx, args: &mut Args, end: End, only_existing: bool) -> CmdResult {
    let key = args.key()?;
    // The elements are read in place (no copy of the argument vector).
    let first_elem = args.position();
    let fill = fill(ctx);
    let mut db = ctx.db();
    let mut g = if only_existing {
        match db.write(&key) {
            Some(g) => g,
            None => return Ok(Reply::Int(0)),
        }
    } else {
        db.write_or_insert(&key, || Value::List(Box::default())).0
    };
    let list = list_mut(&mut g)?;
    for e in args.argv().get(first_elem..).unwrap_or(&[]) {
        match end {
            End::Head => list.push_front(e, fill),
            End::Tail => list.push_back(e, fill),
        }
    }
    let len = list.len();
    g.notify(notify::LIST, end.push_event());
    Ok(Reply::Int(len as i64))
}

fn lpush(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    push_generic(ctx, args, End::Head, false)
}

fn rpush(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    push_generic(ctx, args, End::Tail, false)
}

fn lpushx(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    push_generic(ctx, args, End::Head, true)
}

fn rpushx(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    push_generic(ctx, args, End::Tail, true)
}

// ---------------------------------------------------------------- pop

/// Parses a positive count ("value is out of range, must be positive").
fn positive_count(arg: &[u8]) -> Result<usize, CmdError> {
    match strata_engine::value::parse_i64_strict(arg) {
        Some(n) if n >= 0 => Ok(n as usize),
        _ => Err(CmdError::new("ERR value is out of range, must be positive")),
    }
}

/// Pops up to `count` elements from `end` of the list at `key` (which the
/// caller found non-empty), emitting the pop event.
fn pop_n(ctx: &mut Ctx, key: &[u8], end: End, count: usize) -> Result<Vec<Reply>, CmdError> {
    let mut db = ctx.db();
    let Some(mut g) = db.write(key) else {
        return Ok(Vec::new());
    };
    let list = list_mut(&mut g)?;
    let mut out = Vec::with_capacity(count.min(list.len()));
    let push = |e: &[u8]| out.push(Reply::Bulk(Bytes::copy_from_slice(e)));
    match end {
        End::Head => list.drain_front(count, push),
        End::Tail => list.drain_back(count, push),
    }
    g.notify(notify::LIST, end.pop_event());
    Ok(out)
}

fn pop_generic(ctx: &mut Ctx, args: &mut Args, end: End) -> CmdResult {
    let key = args.key()?;
    if args.remaining() > 1 {
        return Err(CmdError::wrong_arity(if end == End::Head {
            "lpop"
        } else {
            "rpop"
        }));
    }
    let count = match args.next_opt() {
        Some(c) => Some(positive_count(&c)?),
        None => None,
    };
    let len = match read_list_silent(ctx, &key)? {
        None => {
            return Ok(if count.is_some() {
                Reply::NilArray
            } else {
                Reply::Nil
            })
        }
        Some(len) => len,
    };
    match count {
        None => {
            let mut items = pop_n(ctx, &key, end, 1)?;
            Ok(items.pop().unwrap_or(Reply::Nil))
        }
        // An existing list and COUNT 0: an empty array, nothing changes.
        Some(0) => Ok(Reply::Array(Vec::new())),
        Some(n) => Ok(Reply::Array(pop_n(ctx, &key, end, n.min(len))?)),
    }
}

/// The length of the list at `key` for a write path (no hit/miss counting,
/// as Redis's lookupKeyWrite); WRONGTYPE for other types.
fn read_list_silent(ctx: &mut Ctx, key: &[u8]) -> Result<Option<usize>, CmdError> {
    match ctx.db().peek(key) {
        None => Ok(None),
        Some(e) => Ok(Some(as_list(&e.value)?.len())),
    }
}

fn lpop(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    pop_generic(ctx, args, End::Head)
}

fn rpop(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    pop_generic(ctx, args, End::Tail)
}

// ---------------------------------------------------------------- read

fn llen(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    Ok(Reply::Int(
        read_list(ctx, &key, |l| l.len())?.unwrap_or(0) as i64
    ))
}

/// Bytes per element reserved up front for an LRANGE reply (grown as needed).
const LRANGE_ELEM_BYTES_GUESS: usize = 8;

fn lrange(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let start = args.next_i64()?;
    let stop = args.next_i64()?;
    // Encoded as it is read: one buffer for the whole reply, not one
    // allocation per element.
    let items = read_list(ctx, &key, |l| {
        let len = l.len();
        let start = normalize(start, len).max(0);
        let stop = normalize(stop, len);
        if start > stop || start >= len as i64 {
            return BulkArray::default();
        }
        let stop = stop.min(len as i64 - 1);
        let count = (stop - start + 1) as usize;
        let mut out = BulkArray::with_capacity(count, count * LRANGE_ELEM_BYTES_GUESS);
        for e in l.range(start as usize, count) {
            out.push(e);
        }
        out
    })?;
    Ok(Reply::BulkArray(items.unwrap_or_default()))
}

/// As Redis: the key (missing: nil; another type: WRONGTYPE) before the index.
fn lindex(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let index_arg = args.next()?;
    let got = read_list(ctx, &key, |l| {
        let i = normalize(parse_i64(&index_arg)?, l.len());
        if i < 0 {
            return Ok(None);
        }
        Ok(l.get(i as usize).map(Bytes::copy_from_slice))
    })?;
    Ok(got.transpose()?.flatten().map_or(Reply::Nil, Reply::Bulk))
}

// ---------------------------------------------------------------- edit

fn lset(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let index_arg = args.next()?;
    let elem = args.next()?;
    let fill = fill(ctx);
    let mut db = ctx.db();
    let Some(mut g) = db.write(&key) else {
        return Err(CmdError::no_such_key());
    };
    let list = list_mut(&mut g)?;
    let index = match parse_i64(&index_arg) {
        Ok(i) => i,
        Err(e) => {
            g.unchanged();
            return Err(e);
        }
    };
    let i = normalize(index, list.len());
    if i < 0 || !list.set(i as usize, &elem, fill) {
        g.unchanged();
        return Err(CmdError::new("ERR index out of range"));
    }
    g.notify(notify::LIST, "lset");
    Ok(Reply::OK)
}

fn linsert(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let where_ = args.next()?;
    let after = if where_.eq_ignore_ascii_case(b"after") {
        true
    } else if where_.eq_ignore_ascii_case(b"before") {
        false
    } else {
        return Err(CmdError::syntax());
    };
    let pivot = args.next()?;
    let elem = args.next()?;
    let fill = fill(ctx);
    let mut db = ctx.db();
    let Some(mut g) = db.write(&key) else {
        return Ok(Reply::Int(0));
    };
    let list = list_mut(&mut g)?;
    let Some(pos) = list.iter().position(|e| e == &pivot[..]) else {
        g.unchanged();
        return Ok(Reply::Int(-1));
    };
    list.insert(pos + after as usize, &elem, fill);
    let len = list.len();
    g.notify(notify::LIST, "linsert");
    Ok(Reply::Int(len as i64))
}

fn lrem(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let count = args.next_i64()?;
    let elem = args.next()?;
    let mut db = ctx.db();
    let Some(mut g) = db.write(&key) else {
        return Ok(Reply::Int(0));
    };
    let list = list_mut(&mut g)?;
    let limit = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
    let removed = list.remove_matching(&elem, limit, count < 0);
    if removed == 0 {
        g.unchanged();
    } else {
        g.set_dirty(removed as u64);
        g.notify(notify::LIST, "lrem");
    }
    Ok(Reply::Int(removed as i64))
}

fn ltrim(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let start = args.next_i64()?;
    let stop = args.next_i64()?;
    let mut db = ctx.db();
    let Some(mut g) = db.write(&key) else {
        return Ok(Reply::OK);
    };
    let list = list_mut(&mut g)?;
    let len = list.len();
    let start = normalize(start, len).max(0);
    let stop = normalize(stop, len);
    let (from, keep) = if start > stop || start >= len as i64 {
        (0, 0)
    } else {
        (
            start as usize,
            (stop.min(len as i64 - 1) - start + 1) as usize,
        )
    };
    list.trim(from, keep);
    let removed = len - list.len();
    // Redis counts one change per removed element (zero is still a "change": event and WATCH).
    g.set_dirty(removed as u64);
    g.notify(notify::LIST, "ltrim");
    Ok(Reply::OK)
}

fn lpos(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let elem = args.next()?;
    let mut rank: i64 = 1;
    let mut count: Option<i64> = None;
    let mut maxlen: i64 = 0;
    while let Some(opt) = args.next_opt() {
        let has_arg = !args.is_empty();
        if opt.eq_ignore_ascii_case(b"rank") && has_arg {
            rank = args.next_i64()?;
            if rank == 0 {
                return Err(CmdError::new(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                ));
            }
        } else if opt.eq_ignore_ascii_case(b"count") && has_arg {
            count = Some(non_negative(&args.next()?, "ERR COUNT can't be negative")?);
        } else if opt.eq_ignore_ascii_case(b"maxlen") && has_arg {
            maxlen = non_negative(&args.next()?, "ERR MAXLEN can't be negative")?;
        } else {
            return Err(CmdError::syntax());
        }
    }
    let from_tail = rank < 0;
    // -i64::MIN stays negative, so every match then qualifies (as in Redis).
    let rank = if from_tail { rank.wrapping_neg() } else { rank };
    let found = read_list(ctx, &key, |l| {
        let len = l.len();
        let mut out = Vec::new();
        let mut matches: i64 = 0;
        let iter: Box<dyn Iterator<Item = &[u8]>> = if from_tail {
            Box::new(l.iter().rev())
        } else {
            Box::new(l.iter())
        };
        for (scanned, e) in iter.enumerate() {
            if maxlen != 0 && scanned as i64 >= maxlen {
                break;
            }
            if e != &elem[..] {
                continue;
            }
            matches += 1;
            if matches >= rank {
                let index = if from_tail {
                    len - 1 - scanned
                } else {
                    scanned
                };
                out.push(index as i64);
                match count {
                    None => break,
                    Some(c) if c != 0 && matches.wrapping_sub(rank).wrapping_add(1) >= c => break,
                    _ => {}
                }
            }
        }
        out
    })?;
    let found = found.unwrap_or_default();
    Ok(match count {
        Some(_) => Reply::Array(found.into_iter().map(Reply::Int).collect()),
        None => found.first().map_or(Reply::Nil, |&i| Reply::Int(i)),
    })
}

/// A non-negative integer with a command-specific error.
fn non_negative(arg: &[u8], msg: &'static str) -> Result<i64, CmdError> {
    match strata_engine::value::parse_i64_strict(arg) {
        Some(n) if n >= 0 => Ok(n),
        _ => Err(CmdError::new(msg)),
    }
}

// ---------------------------------------------------------------- move

/// What LMOVE found at its source.
enum MoveSource {
    Missing,
    Ready,
}

/// Checks source and destination types (Redis's order: the source first;
/// the destination only when the source has data).
fn check_move(ctx: &mut Ctx, src: &[u8], dst: &[u8]) -> Result<MoveSource, CmdError> {
    if read_list_silent(ctx, src)?.is_none() {
        return Ok(MoveSource::Missing);
    }
    read_list_silent(ctx, dst)?;
    Ok(MoveSource::Ready)
}

/// Moves one element from `from` of `src` to `to` of `dst` (both checked to
/// be lists, `src` non-empty). Events in Redis's order: push on the
/// destination, then pop (and "del") on the source. One change in total.
fn do_move(ctx: &mut Ctx, src: &[u8], dst: &[u8], from: End, to: End) -> CmdResult {
    let fill = fill(ctx);
    let mut db = ctx.db();
    let value = {
        let Some(mut g) = db.write(src) else {
            return Ok(Reply::Nil);
        };
        let list = list_mut(&mut g)?;
        let v = match from {
            End::Head => list.get(0).map(|e| e.to_vec()),
            End::Tail => list
                .len()
                .checked_sub(1)
                .and_then(|i| list.get(i))
                .map(|e| e.to_vec()),
        };
        g.unchanged();
        match v {
            Some(v) => v,
            None => return Ok(Reply::Nil),
        }
    };
    // Push a copy first, then pop the source: equal to pop-then-push even
    // when source and destination are the same list.
    {
        let mut g = db.write_or_insert(dst, || Value::List(Box::default())).0;
        let list = list_mut(&mut g)?;
        match to {
            End::Head => list.push_front(&value, fill),
            End::Tail => list.push_back(&value, fill),
        }
        g.set_dirty(0);
        g.notify(notify::LIST, to.push_event());
    }
    if let Some(mut g) = db.write(src) {
        let list = list_mut(&mut g)?;
        match from {
            End::Head => list.drain_front(1, |_| {}),
            End::Tail => list.drain_back(1, |_| {}),
        }
        g.notify(notify::LIST, from.pop_event());
    }
    Ok(Reply::Bulk(Bytes::from(value)))
}

fn lmove_generic(ctx: &mut Ctx, src: &[u8], dst: &[u8], from: End, to: End) -> CmdResult {
    match check_move(ctx, src, dst)? {
        MoveSource::Missing => Ok(Reply::Nil),
        MoveSource::Ready => do_move(ctx, src, dst, from, to),
    }
}

fn lmove(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let src = args.key()?;
    let dst = args.key()?;
    let from = End::parse(&args.next()?)?;
    let to = End::parse(&args.next()?)?;
    lmove_generic(ctx, &src, &dst, from, to)
}

fn rpoplpush(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let src = args.key()?;
    let dst = args.key()?;
    lmove_generic(ctx, &src, &dst, End::Tail, End::Head)
}

/// The effect of a BLMOVE/BRPOPLPUSH that moved an element, as Redis 7.0
/// writes it: BRPOPLPUSH becomes RPOPLPUSH; BLMOVE becomes LMOVE with the
/// client's direction words when served at once, and with lowercase words
/// when served later from the blocked state. `words` is None for BRPOPLPUSH.
fn move_effect(
    ctx: &Ctx,
    src: &Bytes,
    dst: &Bytes,
    from: End,
    to: End,
    words: Option<(Bytes, Bytes)>,
) -> Vec<Bytes> {
    let Some((from_word, to_word)) = words else {
        return vec![Bytes::from_static(b"RPOPLPUSH"), src.clone(), dst.clone()];
    };
    let (from_word, to_word) = if blocking::ready_key(ctx).is_some() {
        (
            Bytes::from_static(from.direction_word()),
            Bytes::from_static(to.direction_word()),
        )
    } else {
        (from_word, to_word)
    };
    vec![
        Bytes::from_static(b"LMOVE"),
        src.clone(),
        dst.clone(),
        from_word,
        to_word,
    ]
}

fn blmove_generic(
    ctx: &mut Ctx,
    src: Bytes,
    dst: Bytes,
    from: End,
    to: End,
    words: Option<(Bytes, Bytes)>,
    timeout: &[u8],
) -> CmdResult {
    let deadline_ms = blocking::parse_timeout(timeout, ctx.now_ms())?;
    match check_move(ctx, &src, &dst)? {
        MoveSource::Ready => {
            if ctx.propagating() {
                ctx.propagate_as(move_effect(ctx, &src, &dst, from, to, words));
            }
            do_move(ctx, &src, &dst, from, to)
        }
        MoveSource::Missing if !blocking::can_block(ctx) => Ok(Reply::Nil),
        MoveSource::Missing => blocking::block(
            ctx,
            BlockRequest {
                keys: vec![src],
                deadline_ms,
                wants: ValueType::List,
                timeout_reply: Reply::NilArray,
            },
        ),
    }
}

fn blmove(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let src = args.key()?;
    let dst = args.key()?;
    let from_word = args.next()?;
    let to_word = args.next()?;
    let from = End::parse(&from_word)?;
    let to = End::parse(&to_word)?;
    let timeout = args.next()?;
    blmove_generic(
        ctx,
        src,
        dst,
        from,
        to,
        Some((from_word, to_word)),
        &timeout,
    )
}

fn brpoplpush(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let src = args.key()?;
    let dst = args.key()?;
    let timeout = args.next()?;
    blmove_generic(ctx, src, dst, End::Tail, End::Head, None, &timeout)
}

// ---------------------------------------------------------------- multi-key pops

/// The first non-empty list among `keys` (WRONGTYPE for a non-list met on
/// the way), with its length.
fn first_nonempty(ctx: &mut Ctx, keys: &[Bytes]) -> Result<Option<(Bytes, usize)>, CmdError> {
    for key in keys {
        if let Some(len) = read_list_silent(ctx, key)? {
            return Ok(Some((key.clone(), len)));
        }
    }
    Ok(None)
}

fn bpop_generic(ctx: &mut Ctx, args: &mut Args, end: End) -> CmdResult {
    let mut keys = args.rest();
    let timeout = keys.pop().unwrap_or_default();
    let deadline_ms = blocking::parse_timeout(&timeout, ctx.now_ms())?;
    let candidates = match blocking::ready_key(ctx) {
        Some(k) => vec![k],
        None => keys.clone(),
    };
    if let Some((key, _)) = first_nonempty(ctx, &candidates)? {
        // The effect is the pop, never the blocking command (Redis 7.0).
        if ctx.propagating() {
            ctx.propagate_as(vec![Bytes::from_static(end.pop_command()), key.clone()]);
        }
        let mut items = pop_n(ctx, &key, end, 1)?;
        let value = items.pop().unwrap_or(Reply::Nil);
        return Ok(Reply::Array(vec![Reply::Bulk(key), value]));
    }
    if !blocking::can_block(ctx) {
        return Ok(Reply::NilArray);
    }
    blocking::block(
        ctx,
        BlockRequest {
            keys,
            deadline_ms,
            wants: ValueType::List,
            timeout_reply: Reply::NilArray,
        },
    )
}

fn blpop(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    bpop_generic(ctx, args, End::Head)
}

fn brpop(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    bpop_generic(ctx, args, End::Tail)
}

/// LMPOP/BLMPOP arguments after the timeout: numkeys key... LEFT|RIGHT [COUNT n].
struct MpopArgs {
    keys: Vec<Bytes>,
    end: End,
    count: usize,
}

fn parse_mpop(args: &mut Args) -> Result<MpopArgs, CmdError> {
    let numkeys = match strata_engine::value::parse_i64_strict(&args.next()?) {
        Some(n) if n > 0 => n as usize,
        _ => return Err(CmdError::new("ERR numkeys should be greater than 0")),
    };
    // The direction must follow the keys.
    if numkeys >= args.remaining() {
        return Err(CmdError::syntax());
    }
    let keys: Vec<Bytes> = (0..numkeys)
        .map(|_| args.next())
        .collect::<Result<_, _>>()?;
    let end = End::parse(&args.next()?)?;
    let mut count: Option<usize> = None;
    while let Some(opt) = args.next_opt() {
        if count.is_none() && opt.eq_ignore_ascii_case(b"count") && !args.is_empty() {
            match strata_engine::value::parse_i64_strict(&args.next()?) {
                Some(n) if n > 0 => count = Some(n as usize),
                _ => return Err(CmdError::new("ERR count should be greater than 0")),
            }
        } else {
            return Err(CmdError::syntax());
        }
    }
    Ok(MpopArgs {
        keys,
        end,
        count: count.unwrap_or(1),
    })
}

/// Pops from the first non-empty list among `keys`: [key, [elements]].
fn mpop_from(
    ctx: &mut Ctx,
    keys: &[Bytes],
    end: End,
    count: usize,
) -> Result<Option<Reply>, CmdError> {
    let Some((key, len)) = first_nonempty(ctx, keys)? else {
        return Ok(None);
    };
    let items = pop_n(ctx, &key, end, count.min(len))?;
    // LMPOP/BLMPOP propagate as LPOP/RPOP with the number popped.
    if ctx.propagating() {
        ctx.propagate_as(vec![
            Bytes::from_static(end.pop_command()),
            key.clone(),
            Bytes::from(items.len().to_string()),
        ]);
    }
    Ok(Some(Reply::Array(vec![
        Reply::Bulk(key),
        Reply::Array(items),
    ])))
}

fn lmpop(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let m = parse_mpop(args)?;
    Ok(mpop_from(ctx, &m.keys, m.end, m.count)?.unwrap_or(Reply::NilArray))
}

fn blmpop(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let timeout = args.next()?;
    let m = parse_mpop(args)?;
    let deadline_ms = blocking::parse_timeout(&timeout, ctx.now_ms())?;
    let candidates = match blocking::ready_key(ctx) {
        Some(k) => vec![k],
        None => m.keys.clone(),
    };
    if let Some(reply) = mpop_from(ctx, &candidates, m.end, m.count)? {
        return Ok(reply);
    }
    if !blocking::can_block(ctx) {
        return Ok(Reply::NilArray);
    }
    blocking::block(
        ctx,
        BlockRequest {
            keys: m.keys,
            deadline_ms,
            wants: ValueType::List,
            timeout_reply: Reply::NilArray,
        },
    )
}

#[cfg(test)]
mod tests {
    use crate::client::Client;
    use crate::config::Config;
    use crate::dispatch;
    use crate::server::Server;
    use bytes::Bytes;

    fn setup() -> (Server, Client) {
        let mut srv = Server::new(Config::default());
        srv.pubsub.tap = Some(Vec::new());
        let client = Client::new(1, 0);
        (srv, client)
    }

    fn run(srv: &mut Server, client: &mut Client, line: &str) -> String {
        let argv: Vec<Bytes> = line
            .split_whitespace()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        dispatch::execute(srv, client, argv);
        String::from_utf8_lossy(&std::mem::take(&mut client.out)).into_owned()
    }

    #[test]
    fn keyspace_events_in_redis_order() {
        let (mut srv, mut c) = setup();
        srv.keyspace.shared.notify_flags = strata_engine::notify::parse_flags(b"KEA").unwrap();
        for line in [
            "RPUSH l a b",
            "LMOVE l l2 LEFT RIGHT",
            "RPOPLPUSH l l2",
            "LPUSH l x",
            "LSET l 0 y",
            "LINSERT l BEFORE y z",
            "LREM l 1 z",
            "LTRIM l 0 0",
            "LTRIM l 1 0",
            "RPUSH l a b c",
            "LPOP l 3",
            "RPUSH l a",
            "LMPOP 1 l LEFT COUNT 5",
            "RPUSH l a b",
            "BLPOP l 0",
            "BLMOVE l l3 LEFT LEFT 0",
            "LREM l2 0 zz",
            "LTRIM nol 0 1",
        ] {
            run(&mut srv, &mut c, line);
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
        let want = "rpush l;rpush l2;lpop l;lpush l2;rpop l;del l;lpush l;lset l;linsert l;lrem l;ltrim l;ltrim l;del l;rpush l;lpop l;del l;\
                    rpush l;lpop l;del l;rpush l;lpop l;lpush l3;lpop l;del l";
        assert_eq!(got.join(";"), want);
    }

    #[test]
    fn denied_blocking_answers_at_once() {
        let (mut srv, mut c) = setup();
        srv.blocking.deny = 1;
        assert_eq!(run(&mut srv, &mut c, "BLPOP nol 0"), "*-1\r\n");
        assert_eq!(run(&mut srv, &mut c, "BRPOP nol 5"), "*-1\r\n");
        assert_eq!(run(&mut srv, &mut c, "BRPOPLPUSH nol x 0"), "$-1\r\n");
        assert_eq!(run(&mut srv, &mut c, "BLMOVE nol x LEFT LEFT 0"), "$-1\r\n");
        assert_eq!(run(&mut srv, &mut c, "BLMPOP 0 1 nol LEFT"), "*-1\r\n");
        assert!(!srv.blocking.is_blocked(c.id));
        srv.blocking.deny = 0;
        assert_eq!(
            run(&mut srv, &mut c, "BLPOP nol 0"),
            "",
            "parked: no reply yet"
        );
        assert!(srv.blocking.is_blocked(c.id));
        assert_eq!(srv.keyspace.shared.blocking_keys.get(&b"nol"[..]), Some(&1));
        // Only keys someone waits on are queued as ready.
        let mut other = Client::new(2, 0);
        run(&mut srv, &mut other, "RPUSH unrelated x");
        run(&mut srv, &mut other, "RPUSH nol x");
        let ready: Vec<&[u8]> = srv
            .keyspace
            .shared
            .ready_keys
            .iter()
            .map(|(_, k)| &k[..])
            .collect();
        assert_eq!(ready, vec![&b"nol"[..]]);
        crate::blocking::client_closed(&mut srv, c.id);
        assert!(srv.keyspace.shared.blocking_keys.is_empty());
        assert!(!srv.blocking.is_blocked(c.id));
    }

    #[test]
    fn dirty_counts_follow_redis() {
        let (mut srv, mut c) = setup();
        run(&mut srv, &mut c, "RPUSH l a b c d e");
        let d0 = srv.keyspace.shared.dirty;
        run(&mut srv, &mut c, "LTRIM l 1 2");
        assert_eq!(srv.keyspace.shared.dirty - d0, 3, "one per removed element");
        let d1 = srv.keyspace.shared.dirty;
        run(&mut srv, &mut c, "LMOVE l l2 LEFT LEFT");
        assert_eq!(srv.keyspace.shared.dirty - d1, 1, "a move is one change");
        let d2 = srv.keyspace.shared.dirty;
        run(&mut srv, &mut c, "LREM l 0 nothere");
        assert_eq!(srv.keyspace.shared.dirty, d2);
        assert_eq!(run(&mut srv, &mut c, "LRANGE l 0 -1"), "*1\r\n$1\r\nc\r\n");
    }
}
