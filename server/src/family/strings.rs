//! String commands (Redis's t_string.c): SET and its variants, the GET
//! variants, MSET/MGET, APPEND, counters, ranges and LCS.
//!
//! Every read and write goes through the door (`ctx.db()`). A read Redis does
//! with lookupKeyRead counts a hit or miss (`db.get`); a lookup Redis does
//! before a write (lookupKeyWrite) counts nothing (`LOOKUP_WRITE`).
//!
//! Encodings follow Redis: a value stored whole gets `tryObjectEncoding`
//! (int/embstr/raw, `StrValue::from_bytes`), a value changed in place becomes
//! raw, counters store int, INCRBYFLOAT stores embstr/raw (never int).
//! Option conflicts are syntax errors found before any state changes.

use bytes::Bytes;
use strata_engine::notify;
use strata_engine::thin::ThinBytes;
use strata_engine::{Lookup, StrValue, Value};

use crate::commands::args::parse_i64;
use crate::commands::{acl, flags::*, keys, spec, Args, CmdError, CmdResult, CommandSpec};
use crate::ctx::Ctx;
use crate::resp::Reply;
use crate::util::float::LongDouble;

pub const COMMANDS: &[CommandSpec] = &[
    spec("get", 2, READONLY | FAST, acl::STRING, keys(1, 1, 1), get),
    spec("set", -3, WRITE | DENYOOM, acl::STRING, keys(1, 1, 1), set),
    spec(
        "setnx",
        3,
        WRITE | DENYOOM | FAST,
        acl::STRING,
        keys(1, 1, 1),
        setnx,
    ),
    spec(
        "setex",
        4,
        WRITE | DENYOOM,
        acl::STRING,
        keys(1, 1, 1),
        setex,
    ),
    spec(
        "psetex",
        4,
        WRITE | DENYOOM,
        acl::STRING,
        keys(1, 1, 1),
        psetex,
    ),
    spec("getex", -2, WRITE | FAST, acl::STRING, keys(1, 1, 1), getex),
    spec(
        "getdel",
        2,
        WRITE | FAST,
        acl::STRING,
        keys(1, 1, 1),
        getdel,
    ),
    spec(
        "getset",
        3,
        WRITE | DENYOOM | FAST,
        acl::STRING,
        keys(1, 1, 1),
        getset,
    ),
    spec(
        "mset",
        -3,
        WRITE | DENYOOM,
        acl::STRING,
        keys(1, -1, 2),
        mset,
    ),
    spec(
        "msetnx",
        -3,
        WRITE | DENYOOM,
        acl::STRING,
        keys(1, -1, 2),
        msetnx,
    ),
    spec(
        "mget",
        -2,
        READONLY | FAST,
        acl::STRING,
        keys(1, -1, 1),
        mget,
    ),
    spec(
        "append",
        3,
        WRITE | DENYOOM | FAST,
        acl::STRING,
        keys(1, 1, 1),
        append,
    ),
    spec(
        "strlen",
        2,
        READONLY | FAST,
        acl::STRING,
        keys(1, 1, 1),
        strlen,
    ),
    spec(
        "incr",
        2,
        WRITE | DENYOOM | FAST,
        acl::STRING,
        keys(1, 1, 1),
        incr,
    ),
    spec(
        "decr",
        2,
        WRITE | DENYOOM | FAST,
        acl::STRING,
        keys(1, 1, 1),
        decr,
    ),
    spec(
        "incrby",
        3,
        WRITE | DENYOOM | FAST,
        acl::STRING,
        keys(1, 1, 1),
        incrby,
    ),
    spec(
        "decrby",
        3,
        WRITE | DENYOOM | FAST,
        acl::STRING,
        keys(1, 1, 1),
        decrby,
    ),
    spec(
        "incrbyfloat",
        3,
        WRITE | DENYOOM | FAST,
        acl::STRING,
        keys(1, 1, 1),
        incrbyfloat,
    ),
    spec(
        "getrange",
        4,
        READONLY,
        acl::STRING,
        keys(1, 1, 1),
        getrange,
    ),
    spec("substr", 4, READONLY, acl::STRING, keys(1, 1, 1), getrange),
    spec(
        "setrange",
        4,
        WRITE | DENYOOM,
        acl::STRING,
        keys(1, 1, 1),
        setrange,
    ),
    spec("lcs", -3, READONLY, acl::STRING, keys(1, 2, 1), lcs),
];

/// The lookup Redis does before a write: touches the key, counts no hit or
/// miss, sends no keymiss event.
pub const LOOKUP_WRITE: Lookup = Lookup {
    no_touch: false,
    no_stats: true,
    no_notify: true,
};

/// Bytes the LCS dynamic-programming table may take. Redis tries to allocate
/// whatever the two strings need; a cap keeps one command from taking the
/// machine (the reply is Redis's own allocation-failure error).
pub const LCS_TABLE_BYTES_MAX: usize = 1 << 30;

/// The string a value holds; WRONGTYPE for every other type.
pub fn string_of(v: &Value) -> Result<&StrValue, CmdError> {
    match v {
        Value::Str(s) => Ok(s),
        #[allow(unreachable_patterns)]
        _ => Err(CmdError::wrong_type()),
    }
}

pub fn string_of_mut(v: &mut Value) -> Result<&mut StrValue, CmdError> {
    match v {
        Value::Str(s) => Ok(s),
        #[allow(unreachable_patterns)]
        _ => Err(CmdError::wrong_type()),
    }
}

/// Reads a string value (a hit or miss is counted); WRONGTYPE for other types.
pub fn get_string(ctx: &mut Ctx, key: &[u8]) -> Result<Option<Vec<u8>>, CmdError> {
    match ctx.db().get(key) {
        None => Ok(None),
        Some(v) => Ok(Some(string_of(v)?.to_bytes())),
    }
}

/// Calls `f` with the bytes of the string at `key` (None when missing),
/// counting a hit or miss; WRONGTYPE for other types.
pub fn with_string<R>(
    ctx: &mut Ctx,
    key: &[u8],
    f: impl FnOnce(Option<&[u8]>) -> R,
) -> Result<R, CmdError> {
    match ctx.db().get(key) {
        None => Ok(f(None)),
        Some(v) => Ok(string_of(v)?.with_bytes(|b| f(Some(b)))),
    }
}

fn bulk_of(s: &StrValue) -> Reply {
    Reply::Bulk(Bytes::from(s.to_bytes()))
}

/// GET's reply for `key`: nil when missing.
fn get_reply(ctx: &mut Ctx, key: &[u8]) -> CmdResult {
    match ctx.db().get(key) {
        None => Ok(Reply::Nil),
        Some(v) => Ok(bulk_of(string_of(v)?)),
    }
}

fn get(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    args.finish()?;
    get_reply(ctx, &key)
}

// ---------------------------------------------------------------------------
// SET and its options

/// The unit and base of an expiry argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ExpireKind {
    Ex,
    Px,
    ExAt,
    PxAt,
}

impl ExpireKind {
    fn parse(word: &[u8]) -> Option<ExpireKind> {
        [
            ("ex", ExpireKind::Ex),
            ("px", ExpireKind::Px),
            ("exat", ExpireKind::ExAt),
            ("pxat", ExpireKind::PxAt),
        ]
        .into_iter()
        .find(|(name, _)| word.eq_ignore_ascii_case(name.as_bytes()))
        .map(|(_, k)| k)
    }

    fn in_seconds(self) -> bool {
        matches!(self, ExpireKind::Ex | ExpireKind::ExAt)
    }

    fn relative(self) -> bool {
        matches!(self, ExpireKind::Ex | ExpireKind::Px)
    }
}

/// Which command's options are parsed: SET takes NX/XX/GET/KEEPTTL, GETEX PERSIST.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OptsFor {
    Set,
    Getex,
}

/// SET/GETEX options (Redis's parseExtendedStringArgumentsOrReply). An option
/// may repeat (the last expiry wins); conflicting ones are a syntax error.
#[derive(Default, Debug, PartialEq)]
struct ExtOptions {
    nx: bool,
    xx: bool,
    get: bool,
    keep_ttl: bool,
    persist: bool,
    expire: Option<(ExpireKind, Bytes)>,
}

impl ExtOptions {
    fn parse(args: &mut Args, cmd: OptsFor) -> Result<ExtOptions, CmdError> {
        let mut o = ExtOptions::default();
        let set = cmd == OptsFor::Set;
        while let Some(word) = args.next_opt() {
            let is = |w: &str| word.eq_ignore_ascii_case(w.as_bytes());
            let current = o.expire.as_ref().map(|(k, _)| *k);
            if is("nx") && set && !o.xx {
                o.nx = true;
            } else if is("xx") && set && !o.nx {
                o.xx = true;
            } else if is("get") && set {
                o.get = true;
            } else if is("keepttl") && set && current.is_none() {
                o.keep_ttl = true;
            } else if is("persist") && !set && current.is_none() {
                o.persist = true;
            } else if let Some(kind) = ExpireKind::parse(&word).filter(|k| {
                !o.keep_ttl && !o.persist && current.is_none_or(|c| c == *k) && args.remaining() > 0
            }) {
                o.expire = Some((kind, args.next()?));
            } else {
                return Err(CmdError::syntax());
            }
        }
        Ok(o)
    }
}

/// Redis's getExpireMillisecondsOrReply: the absolute expiry in Unix ms.
/// `cmd` names the command in the error.
fn expire_at_ms(kind: ExpireKind, arg: &[u8], now_ms: u64, cmd: &str) -> Result<u64, CmdError> {
    let mut ms = parse_i64(arg)?;
    if ms <= 0 || (kind.in_seconds() && ms > i64::MAX / 1000) {
        return Err(CmdError::invalid_expire(cmd));
    }
    if kind.in_seconds() {
        ms *= 1000;
    }
    if kind.relative() {
        ms = ms
            .checked_add(now_ms as i64)
            .ok_or_else(|| CmdError::invalid_expire(cmd))?;
    }
    Ok(ms as u64)
}

fn b(x: &[u8]) -> Bytes {
    Bytes::copy_from_slice(x)
}

fn ms(n: u64) -> Bytes {
    Bytes::from(n.to_string())
}

/// The core of SET, SETNX, SETEX and PSETEX (Redis's setGenericCommand).
/// `ok` is the reply when the value was stored, `abort` when NX/XX refused;
/// with GET the reply is the old value either way.
fn set_generic(
    ctx: &mut Ctx,
    key: &[u8],
    val: &[u8],
    opts: &ExtOptions,
    cmd: &str,
    ok: Reply,
    abort: Reply,
) -> CmdResult {
    let expire_at = match &opts.expire {
        Some((kind, arg)) => Some(expire_at_ms(*kind, arg, ctx.now_ms(), cmd)?),
        None => None,
    };
    // GET first: on a non-string it fails before anything is written.
    let old = if opts.get {
        Some(get_reply(ctx, key)?)
    } else {
        None
    };
    let mut db = ctx.db();
    // Only NX and XX depend on the key's presence (the set below does the
    // lazy expiry a write lookup would).
    if opts.nx || opts.xx {
        let found = db.lookup(key, LOOKUP_WRITE).is_some();
        if (opts.nx && found) || (opts.xx && !found) {
            return Ok(old.unwrap_or(abort));
        }
    }
    db.set(key, Value::Str(StrValue::from_bytes(val)), opts.keep_ttl);
    db.notify(notify::STRING, "set", key);
    if let Some(at) = expire_at {
        db.set_expire_at(key, at);
        // Redis counts SET with an expiry as one change; the door counted the
        // value and the expiry separately.
        let shared = db.shared();
        shared.dirty = shared.dirty.saturating_sub(1);
        db.notify(notify::GENERIC, "expire", key);
        // Replayed later, a relative time would mean something else.
        ctx.propagate_as(vec![
            Bytes::from_static(b"SET"),
            b(key),
            b(val),
            Bytes::from_static(b"PXAT"),
            ms(at),
        ]);
    }
    Ok(old.unwrap_or(ok))
}

fn set(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let val = args.next()?;
    let opts = ExtOptions::parse(args, OptsFor::Set)?;
    set_generic(ctx, &key, &val, &opts, "set", Reply::OK, Reply::Nil)
}

fn setnx(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let val = args.next()?;
    let opts = ExtOptions {
        nx: true,
        ..ExtOptions::default()
    };
    set_generic(
        ctx,
        &key,
        &val,
        &opts,
        "setnx",
        Reply::Int(1),
        Reply::Int(0),
    )
}

fn setex_generic(ctx: &mut Ctx, args: &mut Args, kind: ExpireKind, cmd: &str) -> CmdResult {
    let key = args.key()?;
    let ttl = args.next()?;
    let val = args.next()?;
    let opts = ExtOptions {
        expire: Some((kind, ttl)),
        ..ExtOptions::default()
    };
    set_generic(ctx, &key, &val, &opts, cmd, Reply::OK, Reply::Nil)
}

fn setex(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    setex_generic(ctx, args, ExpireKind::Ex, "setex")
}

fn psetex(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    setex_generic(ctx, args, ExpireKind::Px, "psetex")
}

fn getex(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let opts = ExtOptions::parse(args, OptsFor::Getex)?;
    // A missing key answers nil before the expiry argument is even checked.
    let reply = match ctx.db().get(&key) {
        None => return Ok(Reply::Nil),
        Some(v) => bulk_of(string_of(v)?),
    };
    let now_ms = ctx.now_ms();
    let expire = match &opts.expire {
        Some((kind, arg)) => Some((*kind, expire_at_ms(*kind, arg, now_ms, "getex")?)),
        None => None,
    };
    let mut db = ctx.db();
    match expire {
        // An absolute time already past deletes the key.
        Some((kind, at)) if !kind.relative() && at <= now_ms => {
            db.remove(&key);
            db.notify(notify::GENERIC, "del", &key);
            ctx.propagate_as(vec![Bytes::from_static(b"DEL"), key.clone()]);
        }
        Some((_, at)) => {
            db.set_expire_at(&key, at);
            db.notify(notify::GENERIC, "expire", &key);
            ctx.propagate_as(vec![Bytes::from_static(b"PEXPIREAT"), key.clone(), ms(at)]);
        }
        None => {
            if opts.persist && db.persist(&key) {
                db.notify(notify::GENERIC, "persist", &key);
                ctx.propagate_as(vec![Bytes::from_static(b"PERSIST"), key.clone()]);
            }
        }
    }
    Ok(reply)
}

fn getdel(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let reply = get_reply(ctx, &key)?;
    if reply != Reply::Nil {
        let mut db = ctx.db();
        if db.remove(&key).is_some() {
            db.notify(notify::GENERIC, "del", &key);
        }
        ctx.propagate_as(vec![Bytes::from_static(b"DEL"), key.clone()]);
    }
    Ok(reply)
}

fn getset(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let val = args.next()?;
    let reply = get_reply(ctx, &key)?;
    let mut db = ctx.db();
    db.set(&key, Value::Str(StrValue::from_bytes(&val)), false);
    db.notify(notify::STRING, "set", &key);
    ctx.propagate_as(vec![Bytes::from_static(b"SET"), key.clone(), val.clone()]);
    Ok(reply)
}

fn mset_generic(ctx: &mut Ctx, args: &mut Args, nx: bool, cmd: &str) -> CmdResult {
    let pairs = args.rest();
    if !pairs.len().is_multiple_of(2) {
        return Err(CmdError::wrong_arity(cmd));
    }
    let mut db = ctx.db();
    if nx
        && pairs
            .chunks_exact(2)
            .any(|p| db.lookup(&p[0], LOOKUP_WRITE).is_some())
    {
        return Ok(Reply::Int(0));
    }
    for p in pairs.chunks_exact(2) {
        db.set(&p[0], Value::Str(StrValue::from_bytes(&p[1])), false);
        db.notify(notify::STRING, "set", &p[0]);
    }
    Ok(if nx { Reply::Int(1) } else { Reply::OK })
}

fn mset(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    mset_generic(ctx, args, false, "mset")
}

fn msetnx(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    mset_generic(ctx, args, true, "msetnx")
}

fn mget(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let keys = args.rest();
    let mut db = ctx.db();
    let replies = keys
        .iter()
        .map(|k| match db.get(k) {
            Some(Value::Str(s)) => bulk_of(s),
            #[allow(unreachable_patterns)]
            _ => Reply::Nil,
        })
        .collect();
    Ok(Reply::Array(replies))
}

/// Redis's checkStringLength: `old_len + extra` bytes must fit proto-max-bulk-len.
fn check_string_length(old_len: i64, extra: i64, max_bytes: i64) -> Result<(), CmdError> {
    match old_len.checked_add(extra) {
        Some(total) if total <= max_bytes => Ok(()),
        _ => Err(CmdError::new(
            "ERR string exceeds maximum allowed size (proto-max-bulk-len)",
        )),
    }
}

fn append(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let suffix = args.next()?;
    let max_bytes = ctx.srv.config.proto_max_bulk_len;
    let mut db = ctx.db();
    if let Some(mut g) = db.write(&key) {
        let result = string_of_mut(g.value_mut()).and_then(|s| {
            check_string_length(s.len() as i64, suffix.len() as i64, max_bytes)?;
            let raw = s.make_raw();
            raw.extend_from_slice(&suffix);
            Ok(raw.len() as i64)
        });
        return match result {
            Ok(len) => {
                g.notify(notify::STRING, "append");
                Ok(Reply::Int(len))
            }
            Err(e) => {
                g.unchanged();
                Err(e)
            }
        };
    }
    // A new key stores the argument whole, with tryObjectEncoding.
    db.set(&key, Value::Str(StrValue::from_bytes(&suffix)), false);
    db.notify(notify::STRING, "append", &key);
    Ok(Reply::Int(suffix.len() as i64))
}

fn strlen(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    match ctx.db().get(&key) {
        None => Ok(Reply::Int(0)),
        Some(v) => Ok(Reply::Int(string_of(v)?.len() as i64)),
    }
}

// ---------------------------------------------------------------------------
// Counters

/// The core of INCR, DECR, INCRBY and DECRBY. The result is int-encoded and
/// the TTL is kept.
fn incr_by(ctx: &mut Ctx, key: &[u8], delta: i64) -> CmdResult {
    let mut db = ctx.db();
    if let Some(mut g) = db.write(key) {
        let result = string_of(g.value()).and_then(|s| {
            let old = s.as_i64().ok_or_else(CmdError::not_integer)?;
            old.checked_add(delta).ok_or_else(CmdError::overflow)
        });
        return match result {
            Ok(n) => {
                g.replace(Value::from_int(n));
                g.notify(notify::STRING, "incrby");
                Ok(Reply::Int(n))
            }
            Err(e) => {
                g.unchanged();
                Err(e)
            }
        };
    }
    db.set(key, Value::from_int(delta), false);
    db.notify(notify::STRING, "incrby", key);
    Ok(Reply::Int(delta))
}

fn incr(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    incr_by(ctx, &key, 1)
}

fn decr(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    incr_by(ctx, &key, -1)
}

fn incrby(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let delta = args.next_i64()?;
    incr_by(ctx, &key, delta)
}

fn decrby(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let delta = args.next_i64()?;
    let delta = delta
        .checked_neg()
        .ok_or_else(|| CmdError::new("ERR decrement would overflow"))?;
    incr_by(ctx, &key, delta)
}

/// INCRBYFLOAT's arithmetic: the stored value (None for a missing key) plus
/// the increment, in x87 long double, formatted as Redis does.
fn float_sum(old: Option<&StrValue>, incr: &[u8]) -> Result<String, CmdError> {
    let value = match old {
        None => LongDouble::ZERO,
        Some(StrValue::Int(n)) => LongDouble::from_i64(*n),
        Some(s) => s
            .with_bytes(LongDouble::parse)
            .ok_or_else(CmdError::not_float)?,
    };
    let incr = LongDouble::parse(incr).ok_or_else(CmdError::not_float)?;
    let sum = value + incr;
    if !sum.is_finite() {
        return Err(CmdError::new("ERR increment would produce NaN or Infinity"));
    }
    Ok(sum.to_human_string())
}

fn incrbyfloat(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let incr = args.next()?;
    let text = match incrbyfloat_existing(ctx, &key, &incr)? {
        Some(text) => text,
        None => {
            let text = float_sum(None, &incr)?;
            let mut db = ctx.db();
            db.set(
                &key,
                Value::Str(StrValue::from_bytes_no_int(text.as_bytes())),
                false,
            );
            db.notify(notify::STRING, "incrbyfloat", &key);
            text
        }
    };
    let text = Bytes::from(text);
    ctx.propagate_as(incrbyfloat_effect(&key, &text));
    Ok(Reply::Bulk(text))
}

/// INCRBYFLOAT on an existing key: the new text, or None if the key is missing.
fn incrbyfloat_existing(
    ctx: &mut Ctx,
    key: &[u8],
    incr: &[u8],
) -> Result<Option<String>, CmdError> {
    let mut db = ctx.db();
    let Some(mut g) = db.write(key) else {
        return Ok(None);
    };
    match string_of(g.value()).and_then(|s| float_sum(Some(s), incr)) {
        Ok(text) => {
            // Stored as a string even when it looks like an integer; TTL kept.
            g.replace(Value::Str(StrValue::from_bytes_no_int(text.as_bytes())));
            g.notify(notify::STRING, "incrbyfloat");
            Ok(Some(text))
        }
        Err(e) => {
            g.unchanged();
            Err(e)
        }
    }
}

/// INCRBYFLOAT replays as a SET of the result (float formatting may differ
/// between machines), keeping the TTL.
fn incrbyfloat_effect(key: &Bytes, text: &Bytes) -> Vec<Bytes> {
    vec![
        Bytes::from_static(b"SET"),
        key.clone(),
        text.clone(),
        Bytes::from_static(b"KEEPTTL"),
    ]
}

// ---------------------------------------------------------------------------
// Ranges

/// GETRANGE's index rules: negative indexes count from the end, the range is
/// clamped to the string; None when it selects nothing.
pub fn clamp_range(len: usize, start: i64, end: i64) -> Option<(usize, usize)> {
    if start < 0 && end < 0 && start > end {
        return None;
    }
    let len = len as i64;
    let start = if start < 0 { len + start } else { start }.max(0);
    let end = if end < 0 { len + end } else { end }.max(0).min(len - 1);
    if start > end || len == 0 {
        return None;
    }
    Some((start as usize, end as usize))
}

fn getrange(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let start = args.next_i64()?;
    let end = args.next_i64()?;
    with_string(ctx, &key, |bytes| {
        let bytes = bytes.unwrap_or_default();
        match clamp_range(bytes.len(), start, end) {
            Some((s, e)) => Reply::bulk_copy(&bytes[s..=e]),
            None => Reply::Bulk(Bytes::new()),
        }
    })
}

fn setrange(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let offset = args.next_i64()?;
    let patch = args.next()?;
    if offset < 0 {
        return Err(CmdError::out_of_range("offset"));
    }
    let max_bytes = ctx.srv.config.proto_max_bulk_len;
    let mut db = ctx.db();
    if let Some(mut g) = db.write(&key) {
        let result = string_of_mut(g.value_mut()).and_then(|s| {
            if patch.is_empty() {
                return Ok(None);
            }
            check_string_length(offset, patch.len() as i64, max_bytes)?;
            let raw = s.make_raw();
            write_at(raw, offset as usize, &patch);
            Ok(Some(raw.len()))
        });
        return match result {
            Ok(Some(len)) => {
                g.notify(notify::STRING, "setrange");
                Ok(Reply::Int(len as i64))
            }
            Ok(None) => {
                // Nothing to write: the length as it is, nothing changed.
                g.unchanged();
                let len = string_of(g.value()).map_or(0, |s| s.len());
                Ok(Reply::Int(len as i64))
            }
            Err(e) => {
                g.unchanged();
                Err(e)
            }
        };
    }
    if patch.is_empty() {
        return Ok(Reply::Int(0));
    }
    check_string_length(offset, patch.len() as i64, max_bytes)?;
    let mut raw = ThinBytes::with_capacity(offset as usize + patch.len());
    write_at(&mut raw, offset as usize, &patch);
    let len = raw.len();
    db.set(&key, Value::Str(StrValue::Raw(raw)), false);
    db.notify(notify::STRING, "setrange", &key);
    Ok(Reply::Int(len as i64))
}

/// Copies `patch` into `buf` at `offset`, growing it with zero bytes.
/// Callers have checked `offset + patch.len()` against the size limit.
fn write_at(buf: &mut ThinBytes, offset: usize, patch: &[u8]) {
    let end = offset + patch.len();
    if buf.len() < end {
        buf.resize(end, 0);
    }
    if let Some(dst) = buf.get_mut(offset..end) {
        dst.copy_from_slice(patch);
    }
}

// ---------------------------------------------------------------------------
// LCS

/// One run of matching bytes, as LCS IDX reports it (inclusive ranges).
#[derive(Debug, Clone, PartialEq, Eq)]
struct LcsMatch {
    a: (usize, usize),
    b: (usize, usize),
}

impl LcsMatch {
    fn len(&self) -> usize {
        self.a.1 - self.a.0 + 1
    }
}

/// The dynamic-programming table: cell (i, j) is the LCS length of a[..i]
/// and b[..j]. Row-major with `b.len() + 1` columns.
struct LcsTable {
    cols: usize,
    cells: Vec<u32>,
}

impl LcsTable {
    fn build(a: &[u8], b: &[u8]) -> Result<LcsTable, CmdError> {
        let no_memory =
            || CmdError::new("ERR Insufficient memory, failed allocating transient memory for LCS");
        let cols = b.len() + 1;
        let count = (a.len() + 1).checked_mul(cols).ok_or_else(no_memory)?;
        if count.saturating_mul(std::mem::size_of::<u32>()) > LCS_TABLE_BYTES_MAX {
            return Err(no_memory());
        }
        let mut cells = Vec::new();
        cells.try_reserve_exact(count).map_err(|_| no_memory())?;
        cells.resize(count, 0u32);
        for i in 1..=a.len() {
            for j in 1..cols {
                cells[i * cols + j] = if a[i - 1] == b[j - 1] {
                    cells[(i - 1) * cols + j - 1] + 1
                } else {
                    cells[(i - 1) * cols + j].max(cells[i * cols + j - 1])
                };
            }
        }
        Ok(LcsTable { cols, cells })
    }

    fn at(&self, i: usize, j: usize) -> u32 {
        self.cells[i * self.cols + j]
    }

    /// Walks back from the end, as Redis does, collecting the common
    /// subsequence and the runs of contiguous matches (last run first). On a
    /// mismatch it steps back in `a` only when that keeps a strictly longer
    /// LCS, else in `b`; ties decide which of several LCSs is reported.
    fn walk(&self, a: &[u8], b: &[u8]) -> (Vec<u8>, Vec<LcsMatch>) {
        let (mut i, mut j) = (a.len(), b.len());
        let mut common = Vec::with_capacity(self.at(i, j) as usize);
        let mut runs = Vec::new();
        let mut open: Option<LcsMatch> = None;
        while i > 0 && j > 0 {
            if a[i - 1] == b[j - 1] {
                common.push(a[i - 1]);
                let run = match open.take() {
                    Some(mut r) if r.a.0 == i && r.b.0 == j => {
                        r.a.0 -= 1;
                        r.b.0 -= 1;
                        r
                    }
                    Some(r) => {
                        runs.push(r);
                        LcsMatch {
                            a: (i - 1, i - 1),
                            b: (j - 1, j - 1),
                        }
                    }
                    None => LcsMatch {
                        a: (i - 1, i - 1),
                        b: (j - 1, j - 1),
                    },
                };
                if run.a.0 == 0 || run.b.0 == 0 {
                    runs.push(run);
                } else {
                    open = Some(run);
                }
                i -= 1;
                j -= 1;
            } else {
                if self.at(i - 1, j) > self.at(i, j - 1) {
                    i -= 1;
                } else {
                    j -= 1;
                }
                if let Some(r) = open.take() {
                    runs.push(r);
                }
            }
        }
        runs.extend(open);
        common.reverse();
        (common, runs)
    }
}

/// LCS's operand: a missing key is an empty string; Err for other types.
fn lcs_operand(ctx: &mut Ctx, key: &[u8]) -> Result<Vec<u8>, ()> {
    match ctx.db().get(key) {
        None => Ok(Vec::new()),
        Some(Value::Str(s)) => Ok(s.to_bytes()),
        #[allow(unreachable_patterns)]
        Some(_) => Err(()),
    }
}

fn lcs(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key_a = args.key()?;
    let key_b = args.key()?;
    // Both keys are looked up before either type is checked.
    let a = lcs_operand(ctx, &key_a);
    let b = lcs_operand(ctx, &key_b);
    let (Ok(a), Ok(b)) = (a, b) else {
        return Err(CmdError::new(
            "ERR The specified keys must contain string values",
        ));
    };
    let (mut idx, mut len_only, mut with_len) = (false, false, false);
    let mut min_len: i64 = 0;
    while let Some(opt) = args.next_opt() {
        let is = |w: &str| opt.eq_ignore_ascii_case(w.as_bytes());
        if is("idx") {
            idx = true;
        } else if is("len") {
            len_only = true;
        } else if is("withmatchlen") {
            with_len = true;
        } else if is("minmatchlen") && args.remaining() > 0 {
            min_len = args.next_i64()?.max(0);
        } else {
            return Err(CmdError::syntax());
        }
    }
    if idx && len_only {
        return Err(CmdError::new(
            "ERR If you want both the length and indexes, please just use IDX.",
        ));
    }
    if a.len() >= u32::MAX as usize - 1 || b.len() >= u32::MAX as usize - 1 {
        return Err(CmdError::new("ERR String too long for LCS"));
    }
    let table = LcsTable::build(&a, &b)?;
    let total = table.at(a.len(), b.len()) as i64;
    if len_only {
        return Ok(Reply::Int(total));
    }
    let (common, runs) = table.walk(&a, &b);
    if !idx {
        return Ok(Reply::Bulk(Bytes::from(common)));
    }
    let pair =
        |(x, y): (usize, usize)| Reply::Array(vec![Reply::Int(x as i64), Reply::Int(y as i64)]);
    let matches = runs
        .into_iter()
        .filter(|r| min_len == 0 || r.len() as i64 >= min_len)
        .map(|r| {
            let mut item = vec![pair(r.a), pair(r.b)];
            if with_len {
                item.push(Reply::Int(r.len() as i64));
            }
            Reply::Array(item)
        })
        .collect();
    Ok(Reply::Map(vec![
        (Reply::bulk_str("matches"), Reply::Array(matches)),
        (Reply::bulk_str("len"), Reply::Int(total)),
    ]))
}

/// Runs handlers directly against a fresh server, for this family's tests
/// and the bitmap family's.
#[cfg(test)]
pub(crate) mod harness {
    use super::*;
    use crate::client::Client;
    use crate::config::Config;
    use crate::server::Server;

    pub struct Harness {
        pub srv: Server,
        pub client: Client,
    }

    impl Harness {
        /// A server with every keyspace event enabled and a fixed clock.
        pub fn new() -> Harness {
            let mut srv = Server::new(Config::default());
            srv.keyspace.shared.notify_flags = notify::parse_flags(b"KEA").unwrap_or(0);
            srv.keyspace.set_now_ms(1_700_000_000_000);
            Harness {
                srv,
                client: Client::new(1, 0),
            }
        }

        pub fn run(&mut self, words: &[&str]) -> CmdResult {
            let argv: Vec<Bytes> = words
                .iter()
                .map(|w| Bytes::copy_from_slice(w.as_bytes()))
                .collect();
            let Some(handler) = self
                .srv
                .commands
                .get(argv[0].as_ref())
                .and_then(|s| s.handler)
            else {
                return Err(CmdError::new("ERR unknown command"));
            };
            let mut ctx = Ctx::new(&mut self.srv, &mut self.client);
            handler(&mut ctx, &mut Args::new(argv))
        }

        pub fn encoding(&mut self, key: &str) -> &'static str {
            self.srv
                .keyspace
                .db(0)
                .peek(key.as_bytes())
                .map_or("none", |e| e.value.encoding_name())
        }

        /// Drains the queued events as "event/key".
        pub fn events(&mut self) -> Vec<String> {
            std::mem::take(&mut self.srv.keyspace.shared.events)
                .into_iter()
                .map(|n| format!("{}/{}", n.event, String::from_utf8_lossy(&n.key)))
                .collect()
        }

        pub fn dirty(&self) -> u64 {
            self.srv.keyspace.shared.dirty
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(words: &[&str], cmd: OptsFor) -> Result<ExtOptions, CmdError> {
        let mut argv = vec![Bytes::from_static(b"set")];
        argv.extend(words.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())));
        ExtOptions::parse(&mut Args::new(argv), cmd)
    }

    #[test]
    fn set_option_conflicts_are_syntax_errors() {
        let ok = |w: &[&str]| opts(w, OptsFor::Set).is_ok();
        assert!(ok(&["NX", "nx", "GET", "EX", "10", "ex", "20"]));
        assert!(ok(&["xx", "keepttl", "get"]));
        assert!(ok(&["PXAT", "5"]));
        assert!(!ok(&["nx", "xx"]));
        assert!(!ok(&["ex", "1", "px", "1"]));
        assert!(!ok(&["keepttl", "ex", "1"]));
        assert!(!ok(&["exat", "1", "keepttl"]));
        assert!(!ok(&["ex"]), "missing argument");
        assert!(!ok(&["persist"]), "GETEX only");
        assert!(!ok(&["bogus"]));
        let o = opts(&["ex", "1", "EX", "7"], OptsFor::Set).unwrap();
        assert_eq!(o.expire, Some((ExpireKind::Ex, Bytes::from_static(b"7"))));
    }

    #[test]
    fn getex_options() {
        let ok = |w: &[&str]| opts(w, OptsFor::Getex).is_ok();
        assert!(ok(&["persist", "persist"]));
        assert!(ok(&["pxat", "1"]));
        assert!(!ok(&["persist", "ex", "1"]));
        assert!(!ok(&["ex", "1", "persist"]));
        assert!(!ok(&["nx"]));
        assert!(!ok(&["get"]));
        assert!(!ok(&["keepttl"]));
    }

    #[test]
    fn expire_arguments() {
        let now = 1_000_000;
        assert_eq!(
            expire_at_ms(ExpireKind::Ex, b"10", now, "set"),
            Ok(1_010_000)
        );
        assert_eq!(
            expire_at_ms(ExpireKind::Px, b"10", now, "set"),
            Ok(1_000_010)
        );
        assert_eq!(
            expire_at_ms(ExpireKind::ExAt, b"10", now, "set"),
            Ok(10_000)
        );
        assert_eq!(expire_at_ms(ExpireKind::PxAt, b"10", now, "set"), Ok(10));
        let invalid = Err(CmdError::invalid_expire("setex"));
        assert_eq!(expire_at_ms(ExpireKind::Ex, b"0", now, "setex"), invalid);
        assert_eq!(expire_at_ms(ExpireKind::Ex, b"-5", now, "setex"), invalid);
        assert_eq!(
            expire_at_ms(ExpireKind::Ex, b"9223372036854776", now, "setex"),
            invalid
        );
        assert_eq!(
            expire_at_ms(ExpireKind::Px, b"9223372036854775807", now, "setex"),
            invalid
        );
        assert_eq!(
            expire_at_ms(ExpireKind::PxAt, b"9223372036854775807", now, "setex"),
            Ok(i64::MAX as u64)
        );
        assert_eq!(
            expire_at_ms(ExpireKind::Ex, b"1.5", now, "set"),
            Err(CmdError::not_integer())
        );
    }

    #[test]
    fn getrange_clamping() {
        assert_eq!(clamp_range(5, 0, -1), Some((0, 4)));
        assert_eq!(clamp_range(5, -3, -1), Some((2, 4)));
        assert_eq!(clamp_range(5, -1, -3), None);
        assert_eq!(clamp_range(5, 10, 20), None);
        assert_eq!(clamp_range(5, -100, 100), Some((0, 4)));
        assert_eq!(clamp_range(5, i64::MIN, i64::MAX), Some((0, 4)));
        assert_eq!(clamp_range(0, 0, -1), None);
        assert_eq!(clamp_range(0, 0, 0), None);
    }

    #[test]
    fn lcs_walk_matches_redis() {
        // Redis 7.0: LCS ohmytext mynewtext IDX MINMATCHLEN 0 WITHMATCHLEN
        // -> matches [[4,7],[5,8],4], [[2,3],[0,1],2]; len 6; string "mytext".
        let (a, b) = (b"ohmytext".as_slice(), b"mynewtext".as_slice());
        let t = LcsTable::build(a, b).unwrap();
        assert_eq!(t.at(a.len(), b.len()), 6);
        let (common, runs) = t.walk(a, b);
        assert_eq!(common, b"mytext");
        assert_eq!(
            runs,
            vec![
                LcsMatch {
                    a: (4, 7),
                    b: (5, 8)
                },
                LcsMatch {
                    a: (2, 3),
                    b: (0, 1)
                }
            ]
        );
        let t = LcsTable::build(b"", b"abc").unwrap();
        assert_eq!(t.walk(b"", b"abc"), (Vec::new(), Vec::new()));
    }

    #[test]
    fn string_length_limit() {
        assert!(check_string_length(10, 5, 15).is_ok());
        assert!(check_string_length(10, 6, 15).is_err());
        assert!(
            check_string_length(i64::MAX, 1, i64::MAX).is_err(),
            "overflow"
        );
    }

    #[test]
    fn float_sums_store_redis_text() {
        assert_eq!(
            float_sum(Some(&StrValue::from_bytes(b"10.5")), b"0.1").unwrap(),
            "10.6"
        );
        assert_eq!(float_sum(Some(&StrValue::Int(3)), b"1.5").unwrap(), "4.5");
        assert_eq!(float_sum(None, b"5.0e3").unwrap(), "5000");
        assert_eq!(
            float_sum(None, b"inf"),
            Err(CmdError::new("ERR increment would produce NaN or Infinity"))
        );
        assert_eq!(
            float_sum(Some(&StrValue::from_bytes(b"abc")), b"1"),
            Err(CmdError::not_float())
        );
        assert_eq!(float_sum(None, b"1 "), Err(CmdError::not_float()));
        // The stored text is never int-encoded.
        let v = Value::Str(StrValue::from_bytes_no_int(b"5000"));
        assert_eq!(v.encoding_name(), "embstr");
    }

    use super::harness::Harness;

    #[test]
    fn encodings_follow_redis() {
        let mut h = Harness::new();
        let cases: &[(&[&str], &str, &str)] = &[
            (&["set", "k", "123"], "k", "int"),
            (&["set", "k", "abc"], "k", "embstr"),
            (&["set", "k", "0123"], "k", "embstr"),
            (
                &["set", "k", "123456789012345678901234567890123456789012345"],
                "k",
                "raw",
            ),
            (&["append", "a", "123"], "a", "int"),
            (&["append", "b", "hello"], "b", "embstr"),
            (&["append", "b", ""], "b", "raw"),
            (&["incr", "b2"], "b2", "int"),
            (&["set", "i", "5"], "i", "int"),
            (&["setrange", "i", "0", ""], "i", "int"),
            (&["setrange", "i", "0", "6"], "i", "raw"),
            (&["incr", "i"], "i", "int"),
            (&["setrange", "s", "0", "12"], "s", "raw"),
            (&["incrbyfloat", "f", "5.0e3"], "f", "embstr"),
            (&["incrbyfloat", "f2", "1e50"], "f2", "raw"),
            (&["getset", "g", "12"], "g", "int"),
            (&["mset", "m", "77"], "m", "int"),
            (&["setex", "x", "100", "42"], "x", "int"),
            (&["getrange", "x", "0", "0"], "x", "int"),
            (&["setbit", "x", "0", "0"], "x", "raw"),
            (&["bitfield", "y", "set", "u8", "0", "48"], "y", "raw"),
            (&["bitop", "or", "z", "x"], "z", "raw"),
        ];
        for (cmd, key, want) in cases {
            assert!(h.run(cmd).is_ok(), "{cmd:?}");
            assert_eq!(h.encoding(key), *want, "{cmd:?}");
        }
    }

    #[test]
    fn events_follow_redis() {
        // The sequence and the expected events were captured from redis-server
        // 7.0.15 with notify-keyspace-events KEA.
        let mut h = Harness::new();
        let script: &[&[&str]] = &[
            &["set", "k", "v"],
            &["set", "k", "v", "ex", "100"],
            &["set", "k", "v", "nx"],
            &["set", "k2", "v", "xx"],
            &["set", "k", "v", "keepttl", "get"],
            &["setex", "k", "10", "v"],
            &["psetex", "k", "10000", "v"],
            &["setnx", "k", "v"],
            &["setnx", "k3", "v"],
            &["getex", "k", "ex", "100"],
            &["getex", "k", "persist"],
            &["getex", "k", "persist"],
            &["getex", "k", "pxat", "1"],
            &["getex", "k"],
            &["set", "k", "v"],
            &["getdel", "k"],
            &["getdel", "k"],
            &["getset", "k", "v"],
            &["mset", "a", "1", "b", "2"],
            &["msetnx", "a", "1", "c", "2"],
            &["msetnx", "c", "1", "d", "2"],
            &["append", "a", "x"],
            &["append", "e", "x"],
            &["incr", "n"],
            &["decr", "n"],
            &["incrby", "n", "5"],
            &["decrby", "n", "5"],
            &["incr", "a"],
            &["incrbyfloat", "f", "1.5"],
            &["incrbyfloat", "f", "abc"],
            &["setrange", "s", "0", ""],
            &["setrange", "s", "2", "x"],
            &["setrange", "s", "0", ""],
            &["setbit", "bb", "3", "1"],
            &["setbit", "bb", "3", "1"],
            &[
                "bitfield", "bb", "set", "u8", "0", "0", "set", "u8", "0", "0",
            ],
            &["bitfield", "bb", "get", "u8", "0"],
            &["bitop", "or", "dst", "bb"],
            &["bitop", "or", "dst", "nosuch"],
            &["bitop", "or", "dst", "nosuch"],
            &["getrange", "s", "0", "1"],
            &["lcs", "s", "bb"],
        ];
        for cmd in script {
            let _ = h.run(cmd);
        }
        let want = "set/k set/k expire/k set/k set/k expire/k set/k expire/k set/k3 expire/k persist/k del/k set/k \
                    del/k set/k set/a set/b set/c set/d append/a append/e incrby/n incrby/n incrby/n incrby/n \
                    incrbyfloat/f setrange/s setbit/bb setbit/bb set/dst del/dst";
        assert_eq!(h.events().join(" "), want);
    }

    #[test]
    fn dirty_counts_follow_redis() {
        let mut h = Harness::new();
        let delta = |h: &mut Harness, cmd: &[&str]| {
            let before = h.dirty();
            let _ = h.run(cmd);
            h.dirty() - before
        };
        assert_eq!(delta(&mut h, &["set", "k", "v", "ex", "100"]), 1);
        assert_eq!(delta(&mut h, &["set", "k", "v", "nx"]), 0);
        assert_eq!(delta(&mut h, &["mset", "a", "1", "b", "2", "c", "3"]), 3);
        assert_eq!(delta(&mut h, &["incr", "a"]), 1);
        assert_eq!(delta(&mut h, &["incr", "k"]), 0);
        assert_eq!(delta(&mut h, &["getex", "k", "persist"]), 1);
        assert_eq!(delta(&mut h, &["getex", "k", "persist"]), 0);
    }

    #[test]
    fn set_get_on_missing_and_existing_keys() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["set", "k", "v", "get"]), Ok(Reply::Nil));
        assert_eq!(
            h.run(&["set", "k", "w", "nx", "get"]),
            Ok(Reply::bulk_str("v"))
        );
        assert_eq!(h.run(&["get", "k"]), Ok(Reply::bulk_str("v")));
        assert_eq!(h.run(&["set", "k", "x", "ex", "10"]), Ok(Reply::OK));
        assert_eq!(
            h.srv.keyspace.db(0).expire_at(b"k"),
            Some(1_700_000_010_000)
        );
        assert_eq!(h.run(&["set", "k", "y", "keepttl"]), Ok(Reply::OK));
        assert_eq!(
            h.srv.keyspace.db(0).expire_at(b"k"),
            Some(1_700_000_010_000)
        );
        assert_eq!(h.run(&["incr", "k"]), Err(CmdError::not_integer()));
        assert_eq!(h.run(&["set", "k", "5"]), Ok(Reply::OK));
        assert_eq!(h.srv.keyspace.db(0).expire_at(b"k"), None);
        assert_eq!(
            h.run(&["setex", "k", "0", "v"]),
            Err(CmdError::invalid_expire("setex"))
        );
        assert_eq!(h.run(&["getex", "nosuch", "ex", "abc"]), Ok(Reply::Nil));
        assert_eq!(
            h.run(&["getex", "k", "ex", "abc"]),
            Err(CmdError::not_integer())
        );
    }

    #[test]
    fn size_limits_come_from_config() {
        let mut h = Harness::new();
        h.srv.config.proto_max_bulk_len = 10;
        let too_big = Err(CmdError::new(
            "ERR string exceeds maximum allowed size (proto-max-bulk-len)",
        ));
        assert_eq!(h.run(&["setrange", "k", "8", "abc"]), too_big);
        assert_eq!(h.run(&["setrange", "k", "7", "abc"]), Ok(Reply::Int(10)));
        assert_eq!(h.run(&["append", "k", "x"]), too_big);
        assert_eq!(h.run(&["append", "k", ""]), Ok(Reply::Int(10)));
    }
}
