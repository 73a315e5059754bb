//! Stream commands (Redis's t_stream.c, without consumer groups): XADD,
//! XLEN, XRANGE, XREVRANGE, XDEL, XTRIM, XSETID, XINFO, and XREAD /
//! XREADGROUP (argument parsing and synchronous serving; the group side of
//! serving lives in `stream_groups.rs`, parking in `blocking_streams.rs`).
//!
//! Every read and write goes through the door. Arguments are checked in
//! Redis's order, so the same bad command gets the same error; lookups
//! Redis does with lookupKeyRead count a hit or miss (`db.get`).
//!
//! Propagation (as Redis 7.0 writes its AOF): XADD with `*` or `ms-*` is
//! written with the generated ID in place of the ID argument, and an
//! approximate trim (`MAXLEN ~ n`, `MINID ~ id`) as an exact one with the
//! threshold it reached (`= length`, `= first-id`), LIMIT kept; the AOF
//! loader and a master ignore LIMIT, as Redis's mustObeyClient. XREADGROUP,
//! XCLAIM and XAUTOCLAIM are written as XCLAIM / XGROUP effects (see
//! `stream_groups.rs`).

use bytes::Bytes;
use strata_engine::notify;
use strata_engine::types::stream::id::{self as sid, StreamId};
use strata_engine::types::stream::{
    AppendError, NodeLimits, Stream, StreamEntry, TrimArgs, TrimStrategy,
};
use strata_engine::{DbView, Value};

use crate::commands::args::parse_i64;
use crate::commands::{
    acl, container, flags::*, keys, spec, Args, CmdError, CmdResult, CommandSpec, NO_KEYS,
};
use crate::ctx::Ctx;
use crate::family::stream_groups;
use crate::resp::Reply;

pub const COMMANDS: &[CommandSpec] = &[
    spec(
        "xadd",
        -5,
        WRITE | DENYOOM | FAST,
        acl::STREAM,
        keys(1, 1, 1),
        xadd,
    ),
    spec("xlen", 2, READONLY | FAST, acl::STREAM, keys(1, 1, 1), xlen),
    spec("xrange", -4, READONLY, acl::STREAM, keys(1, 1, 1), xrange),
    spec(
        "xrevrange",
        -4,
        READONLY,
        acl::STREAM,
        keys(1, 1, 1),
        xrevrange,
    ),
    spec("xdel", -3, WRITE | FAST, acl::STREAM, keys(1, 1, 1), xdel),
    spec("xtrim", -4, WRITE, acl::STREAM, keys(1, 1, 1), xtrim),
    spec(
        "xsetid",
        -3,
        WRITE | DENYOOM | FAST,
        acl::STREAM,
        keys(1, 1, 1),
        xsetid,
    ),
    spec(
        "xread",
        -4,
        READONLY | BLOCKING | MOVABLE_KEYS,
        acl::STREAM,
        NO_KEYS,
        xread,
    ),
    spec(
        "xreadgroup",
        -7,
        WRITE | BLOCKING | MOVABLE_KEYS,
        acl::STREAM,
        NO_KEYS,
        xreadgroup,
    ),
    container("xinfo", -2, 0, 0, XINFO_SUBCOMMANDS),
];

const XINFO_SUBCOMMANDS: &[CommandSpec] = &[
    spec(
        "consumers",
        4,
        READONLY,
        acl::STREAM,
        keys(2, 2, 1),
        xinfo_consumers,
    ),
    spec(
        "groups",
        3,
        READONLY,
        acl::STREAM,
        keys(2, 2, 1),
        xinfo_groups,
    ),
    spec(
        "stream",
        -3,
        READONLY,
        acl::STREAM,
        keys(2, 2, 1),
        xinfo_stream,
    ),
    spec("help", 2, LOADING | STALE, acl::STREAM, NO_KEYS, xinfo_help),
];

/// Entries a blocked XREAD without COUNT gets at most (XREAD_BLOCKED_DEFAULT_COUNT).
pub const BLOCKED_READ_COUNT_DEFAULT: usize = 1000;
/// Entries an approximate trim removes at most when LIMIT is not given
/// (100 * stream-node-max-entries, capped at 10000 as Redis does).
pub const APPROX_TRIM_LIMIT_MAX: u64 = 10_000;
/// Entries XINFO STREAM FULL lists without COUNT.
pub const XINFO_FULL_COUNT_DEFAULT: usize = 10;

/// Node limits (`stream-node-max-bytes`/`-entries`); the config has no
/// such directives yet, so Redis's defaults apply.
pub fn node_limits(_ctx: &Ctx) -> NodeLimits {
    NodeLimits::default()
}

pub fn invalid_id() -> CmdError {
    CmdError::new("ERR Invalid stream ID specified as stream command argument")
}

/// A byte string as Redis's `%s` prints it: up to the first NUL.
pub fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

pub fn stream_of(v: &Value) -> Result<&Stream, CmdError> {
    match v {
        Value::Stream(s) => Ok(s),
        _ => Err(CmdError::wrong_type()),
    }
}

pub fn stream_of_mut(v: &mut Value) -> Result<&mut Stream, CmdError> {
    match v {
        Value::Stream(s) => Ok(s),
        _ => Err(CmdError::wrong_type()),
    }
}

pub fn id_reply(id: StreamId) -> Reply {
    Reply::Bulk(Bytes::from(id.to_string()))
}

pub fn entry_reply(e: StreamEntry) -> Reply {
    Reply::Array(vec![
        id_reply(e.id),
        Reply::Array(e.fields.into_iter().map(Reply::Bulk).collect()),
    ])
}

pub fn entries_reply(entries: Vec<StreamEntry>) -> Reply {
    Reply::Array(entries.into_iter().map(entry_reply).collect())
}

/// XREAD's reply shape: an array of [key, entries] pairs in RESP2, a map in RESP3.
pub fn keyed_reply(resp: u8, items: Vec<(Bytes, Reply)>) -> Reply {
    if resp >= 3 {
        Reply::Map(
            items
                .into_iter()
                .map(|(k, v)| (Reply::Bulk(k), v))
                .collect(),
        )
    } else {
        Reply::Array(
            items
                .into_iter()
                .map(|(k, v)| Reply::Array(vec![Reply::Bulk(k), v]))
                .collect(),
        )
    }
}

/// XADD/XTRIM options (streamAddTrimArgs).
struct AddTrim {
    /// Index of the ID argument (XADD).
    id_pos: usize,
    id: Option<sid::ParsedId>,
    no_mkstream: bool,
    trim: Option<TrimArgs>,
    /// Index of the MAXLEN/MINID threshold argument (its `~` is just
    /// before it), for the propagated rewrite of an approximate trim.
    threshold_pos: usize,
}

/// Redis's streamParseAddOrTrimArgsOrReply over the whole argv. `obey`:
/// the command comes from the AOF or a master, whose LIMIT is ignored (the
/// threshold was rewritten to an exact one).
fn parse_add_trim(argv: &[Bytes], xadd: bool, obey: bool) -> Result<AddTrim, CmdError> {
    let c = argv.len();
    let mut out = AddTrim {
        id_pos: c,
        id: None,
        no_mkstream: false,
        trim: None,
        threshold_pos: 0,
    };
    let mut strategy: Option<TrimStrategy> = None;
    let mut approx = false;
    let mut limit: i64 = 0;
    let mut limit_given = false;
    let mut i = 2;
    while i < c {
        let more = c - 1 - i;
        let opt = &argv[i];
        if xadd && opt.as_ref() == b"*" {
            break;
        } else if opt.eq_ignore_ascii_case(b"maxlen") && more > 0 {
            if strategy.is_some() {
                return Err(CmdError::new(
                    "ERR syntax error, MAXLEN and MINID options at the same time are not compatible",
                ));
            }
            approx = false;
            let next = &argv[i + 1];
            if more >= 2 && next.as_ref() == b"~" {
                approx = true;
                i += 1;
            } else if more >= 2 && next.as_ref() == b"=" {
                i += 1;
            }
            let max = parse_i64(&argv[i + 1])?;
            if max < 0 {
                return Err(CmdError::new("ERR The MAXLEN argument must be >= 0."));
            }
            i += 1;
            out.threshold_pos = i;
            strategy = Some(TrimStrategy::MaxLen(max as u64));
        } else if opt.eq_ignore_ascii_case(b"minid") && more > 0 {
            if strategy.is_some() {
                return Err(CmdError::new(
                    "ERR syntax error, MAXLEN and MINID options at the same time are not compatible",
                ));
            }
            approx = false;
            let next = &argv[i + 1];
            if more >= 2 && next.as_ref() == b"~" {
                approx = true;
                i += 1;
            } else if more >= 2 && next.as_ref() == b"=" {
                i += 1;
            }
            let min = sid::parse_full_id(&argv[i + 1], sid::STRICT).ok_or_else(invalid_id)?;
            i += 1;
            out.threshold_pos = i;
            strategy = Some(TrimStrategy::MinId(min));
        } else if opt.eq_ignore_ascii_case(b"limit") && more > 0 {
            limit = parse_i64(&argv[i + 1])?;
            if limit < 0 {
                return Err(CmdError::new("ERR The LIMIT argument must be >= 0."));
            }
            limit_given = true;
            i += 1;
        } else if xadd && opt.eq_ignore_ascii_case(b"nomkstream") {
            out.no_mkstream = true;
        } else if xadd {
            // Not an option: the ID, or a syntax error shown as a bad ID.
            out.id = Some(sid::parse_id(opt, sid::XADD).ok_or_else(invalid_id)?);
            break;
        } else {
            return Err(CmdError::syntax());
        }
        i += 1;
    }
    out.id_pos = i;
    if limit != 0 && strategy.is_none() {
        return Err(CmdError::new(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && strategy.is_none() {
        return Err(CmdError::new(
            "ERR syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    let limit = if obey {
        0
    } else if limit_given {
        if !approx {
            return Err(CmdError::new(
                "ERR syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
        limit as u64
    } else if approx {
        (100 * NodeLimits::default().max_entries as u64).clamp(1, APPROX_TRIM_LIMIT_MAX)
    } else {
        0
    };
    out.trim = strategy.map(|strategy| TrimArgs {
        strategy,
        approx,
        limit,
    });
    Ok(out)
}

fn xadd(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let obey = must_obey(ctx);
    let argv = args.argv();
    let parsed = parse_add_trim(argv, true, obey)?;
    let field_pos = parsed.id_pos + 1;
    let nfields = argv.len().saturating_sub(field_pos);
    if argv.len() < field_pos || nfields < 2 || nfields % 2 == 1 {
        return Err(CmdError::wrong_arity("xadd"));
    }
    if let Some(sid::ParsedId {
        ms: 0,
        seq: Some(0),
    }) = parsed.id
    {
        return Err(CmdError::new(
            "ERR The ID specified in XADD must be greater than 0-0",
        ));
    }
    let key = argv[1].clone();
    let fields = &argv[field_pos..];
    let limits = node_limits(ctx);
    let now = ctx.now_ms();
    let mut db = ctx.db();
    let mut guard = if parsed.no_mkstream {
        match db.write(&key) {
            Some(g) => g,
            None => return Ok(Reply::Nil),
        }
    } else {
        db.write_or_insert(&key, || Value::Stream(Box::default())).0
    };
    let s = match stream_of_mut(guard.value_mut()) {
        Ok(s) => s,
        Err(e) => {
            guard.unchanged();
            return Err(e);
        }
    };
    if s.last_id() == StreamId::MAX {
        guard.unchanged();
        return Err(CmdError::new(
            "ERR The stream has exhausted the last possible ID, unable to add more items",
        ));
    }
    let (ms, seq) = match parsed.id {
        Some(p) => (Some(p.ms), p.seq),
        None => (None, None),
    };
    // `ms-*` after `ms-<max>` has no next sequence: Redis fails there
    // without setting errno, so the reply is its ERANGE text.
    let appended = match s.next_id(ms, seq, now) {
        Some(id) => s.append(id, fields, limits).map(|()| id),
        None if seq.is_none() && ms.is_some() => Err(AppendError::TooLarge),
        None => Err(AppendError::IdTooSmall),
    };
    let id = match appended {
        Ok(id) => id,
        Err(e) => {
            guard.unchanged();
            return Err(CmdError::new(match e {
                AppendError::IdTooSmall => {
                    "ERR The ID specified in XADD is equal or smaller than the target stream top item"
                }
                AppendError::TooLarge => "ERR Elements are too large to be stored",
            }));
        }
    };
    let trimmed = match parsed.trim {
        Some(t) => s.trim(t),
        None => 0,
    };
    // Replayed, `~` could trim elsewhere: Redis writes it as `=` with the
    // threshold reached, even when nothing was trimmed.
    let exact = parsed
        .trim
        .filter(|t| t.approx)
        .map(|t| exact_threshold(s, t.strategy));
    guard.notify(notify::STREAM, "xadd");
    drop(guard);
    if trimmed > 0 {
        db.notify(notify::STREAM, "xtrim", &key);
    }
    // Replayed, `*` or `ms-*` would make a new ID: write the one produced.
    let auto_id = parsed.id.is_none_or(|p| p.seq.is_none());
    if ctx.propagating() && (auto_id || exact.is_some()) {
        let mut effect = args.argv().to_vec();
        if auto_id {
            if let Some(slot) = effect.get_mut(parsed.id_pos) {
                *slot = Bytes::from(id.to_string());
            }
        }
        if let Some(threshold) = exact {
            rewrite_approx(&mut effect, parsed.threshold_pos, threshold);
        }
        ctx.propagate_as(effect);
    }
    Ok(id_reply(id))
}

/// Whether the caller is the AOF loader or a master (Redis's
/// mustObeyClient): their trims ignore LIMIT.
fn must_obey(ctx: &Ctx) -> bool {
    (ctx.client.fake && ctx.srv.loading) || ctx.client.kind == crate::client::ClientKind::Master
}

/// The exact threshold an approximate trim reached: the stream's length
/// (MAXLEN) or its first entry's ID (MINID; the largest ID when empty).
fn exact_threshold(s: &Stream, strategy: TrimStrategy) -> Bytes {
    match strategy {
        TrimStrategy::MaxLen(_) => Bytes::from(s.len().to_string()),
        TrimStrategy::MinId(_) => {
            let first = s.first_entry().map_or(StreamId::MAX, |e| e.id);
            Bytes::from(first.to_string())
        }
    }
}

/// `MAXLEN ~ n` / `MINID ~ id` becomes `MAXLEN = exact` / `MINID = exact`.
fn rewrite_approx(effect: &mut [Bytes], threshold_pos: usize, threshold: Bytes) {
    if let Some(slot) = threshold_pos.checked_sub(1).and_then(|i| effect.get_mut(i)) {
        *slot = Bytes::from_static(b"=");
    }
    if let Some(slot) = effect.get_mut(threshold_pos) {
        *slot = threshold;
    }
}

fn xlen(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    match ctx.db().get(&key) {
        None => Ok(Reply::Int(0)),
        Some(v) => Ok(Reply::Int(stream_of(v)?.len() as i64)),
    }
}

fn xrange(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    range_generic(ctx, args, false)
}

fn xrevrange(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    range_generic(ctx, args, true)
}

fn range_generic(ctx: &mut Ctx, args: &mut Args, rev: bool) -> CmdResult {
    let argv = args.argv();
    let (start_arg, end_arg) = if rev {
        (&argv[3], &argv[2])
    } else {
        (&argv[2], &argv[3])
    };
    let (mut start, start_ex) = sid::parse_interval_id(start_arg, 0).ok_or_else(invalid_id)?;
    if start_ex {
        start = start
            .next()
            .ok_or_else(|| CmdError::new("ERR invalid start ID for the interval"))?;
    }
    let (mut end, end_ex) = sid::parse_interval_id(end_arg, u64::MAX).ok_or_else(invalid_id)?;
    if end_ex {
        end = end
            .prev()
            .ok_or_else(|| CmdError::new("ERR invalid end ID for the interval"))?;
    }
    let mut count: i64 = -1;
    let mut j = 4;
    while j < argv.len() {
        if argv[j].eq_ignore_ascii_case(b"count") && j + 1 < argv.len() {
            count = parse_i64(&argv[j + 1])?.max(0);
            j += 2;
        } else {
            return Err(CmdError::syntax());
        }
    }
    let key = argv[1].clone();
    let mut db = ctx.db();
    let Some(v) = db.get(&key) else {
        return Ok(Reply::Array(Vec::new()));
    };
    let s = stream_of(v)?;
    if count == 0 {
        return Ok(Reply::NilArray);
    }
    let limit = if count < 0 { 0 } else { count as usize };
    Ok(entries_reply(s.range(start, end, rev, limit)))
}

fn xdel(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let argv = args.argv();
    let key = argv[1].clone();
    let mut db = ctx.db();
    let Some(mut guard) = db.write(&key) else {
        return Ok(Reply::Int(0));
    };
    guard.unchanged();
    stream_of(guard.value())?;
    // Every ID is checked before anything is deleted.
    let mut ids = Vec::with_capacity(argv.len() - 2);
    for a in &argv[2..] {
        ids.push(sid::parse_full_id(a, sid::STRICT).ok_or_else(invalid_id)?);
    }
    let deleted = stream_of_mut(guard.value_mut())?.delete(&ids);
    if deleted > 0 {
        guard.changed();
        guard.set_dirty(deleted);
        guard.notify(notify::STREAM, "xdel");
    }
    Ok(Reply::Int(deleted as i64))
}

fn xtrim(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let obey = must_obey(ctx);
    let argv = args.argv();
    let parsed = parse_add_trim(argv, false, obey)?;
    let key = argv[1].clone();
    let mut db = ctx.db();
    let Some(mut guard) = db.write(&key) else {
        return Ok(Reply::Int(0));
    };
    guard.unchanged();
    let s = stream_of_mut(guard.value_mut())?;
    let deleted = match parsed.trim {
        Some(t) => s.trim(t),
        None => 0,
    };
    // As for XADD, `~` is written as `=` with the threshold reached (only
    // when something was trimmed: otherwise nothing is written).
    let exact = parsed
        .trim
        .filter(|t| t.approx && deleted > 0)
        .map(|t| exact_threshold(s, t.strategy));
    if deleted > 0 {
        guard.changed();
        guard.set_dirty(deleted);
        guard.notify(notify::STREAM, "xtrim");
    }
    drop(guard);
    if let Some(threshold) = exact.filter(|_| ctx.propagating()) {
        let mut effect = args.argv().to_vec();
        rewrite_approx(&mut effect, parsed.threshold_pos, threshold);
        ctx.propagate_as(effect);
    }
    Ok(Reply::Int(deleted as i64))
}

fn xsetid(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let argv = args.argv();
    let id = sid::parse_full_id(&argv[2], sid::STRICT).ok_or_else(invalid_id)?;
    let mut entries_added: Option<u64> = None;
    let mut max_deleted = StreamId::ZERO;
    let mut i = 3;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        let opt = &argv[i];
        if opt.eq_ignore_ascii_case(b"entriesadded") && more > 0 {
            let n = parse_i64(&argv[i + 1])?;
            if n < 0 {
                return Err(CmdError::new("ERR entries_added must be positive"));
            }
            entries_added = Some(n as u64);
            i += 2;
        } else if opt.eq_ignore_ascii_case(b"maxdeletedid") && more > 0 {
            max_deleted = sid::parse_full_id(&argv[i + 1], sid::STRICT).ok_or_else(invalid_id)?;
            if id < max_deleted {
                return Err(CmdError::new(
                    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                ));
            }
            i += 2;
        } else {
            return Err(CmdError::syntax());
        }
    }
    let key = argv[1].clone();
    let mut db = ctx.db();
    let Some(mut guard) = db.write(&key) else {
        return Err(CmdError::no_such_key());
    };
    guard.unchanged();
    let s = stream_of_mut(guard.value_mut())?;
    if !s.is_empty() {
        if id < s.last_valid_id() {
            return Err(CmdError::new(
                "ERR The ID specified in XSETID is smaller than the target stream top item",
            ));
        }
        if entries_added.is_some_and(|n| s.len() > n) {
            return Err(CmdError::new(
                "ERR The entries_added specified in XSETID is smaller than the target stream length",
            ));
        }
    }
    let added = entries_added.unwrap_or(s.entries_added());
    let max_del = if max_deleted.is_zero() {
        s.max_deleted_id()
    } else {
        max_deleted
    };
    s.set_meta(id, added, max_del);
    guard.changed();
    guard.notify(notify::STREAM, "xsetid");
    Ok(Reply::OK)
}

// ---- XREAD / XREADGROUP -------------------------------------------------

/// The group part of an XREADGROUP.
#[derive(Debug, Clone)]
pub struct GroupRead {
    pub group: Bytes,
    pub consumer: Bytes,
    pub noack: bool,
}

fn xread(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    read_generic(ctx, args, false)
}

fn xreadgroup(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    read_generic(ctx, args, true)
}

/// Redis's getTimeoutFromObjectOrReply in milliseconds: None for 0 (block
/// forever), else the absolute deadline.
pub fn parse_block_ms(arg: &[u8], now_ms: u64) -> Result<Option<u64>, CmdError> {
    let t = strata_engine::value::parse_i64_strict(arg)
        .ok_or_else(|| CmdError::new("ERR timeout is not an integer or out of range"))?;
    if t < 0 {
        return Err(CmdError::new("ERR timeout is negative"));
    }
    if t == 0 {
        return Ok(None);
    }
    // Redis 7.0 adds the clock without an overflow check; such a client
    // never times out there, so it blocks forever here.
    Ok(now_ms
        .checked_add(t as u64)
        .filter(|&d| d <= i64::MAX as u64))
}

fn read_generic(ctx: &mut Ctx, args: &mut Args, xreadgroup: bool) -> CmdResult {
    let argv: Vec<Bytes> = args.argv().to_vec();
    let c = argv.len();
    let now = ctx.now_ms();
    let mut timeout: Option<Option<u64>> = None;
    let mut count: usize = 0;
    let mut streams_arg = 0;
    let mut streams_count = 0;
    let mut group: Option<GroupRead> = None;
    let mut noack = false;
    let mut i = 1;
    while i < c {
        let more = c - i - 1;
        let o = &argv[i];
        if o.eq_ignore_ascii_case(b"block") && more > 0 {
            if ctx.client.fake {
                // Scripts (fake clients) get Redis's CLIENT_LUA error.
                return Err(CmdError::new(format!(
                    "ERR {} command is not allowed with BLOCK option from scripts",
                    cstr(&argv[0])
                )));
            }
            i += 1;
            timeout = Some(parse_block_ms(&argv[i], now)?);
        } else if o.eq_ignore_ascii_case(b"count") && more > 0 {
            i += 1;
            count = parse_i64(&argv[i])?.max(0) as usize;
        } else if o.eq_ignore_ascii_case(b"streams") && more > 0 {
            streams_arg = i + 1;
            streams_count = c - streams_arg;
            if streams_count % 2 != 0 {
                // Redis 7.0 says XREAD and '$' for XREADGROUP too.
                return Err(CmdError::new(
                    "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.",
                ));
            }
            streams_count /= 2;
            break;
        } else if o.eq_ignore_ascii_case(b"group") && more >= 2 {
            if !xreadgroup {
                return Err(CmdError::new(
                    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            group = Some(GroupRead {
                group: argv[i + 1].clone(),
                consumer: argv[i + 2].clone(),
                noack: false,
            });
            i += 2;
        } else if o.eq_ignore_ascii_case(b"noack") {
            if !xreadgroup {
                return Err(CmdError::new(
                    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            noack = true;
        } else {
            return Err(CmdError::syntax());
        }
        i += 1;
    }
    if streams_arg == 0 {
        return Err(CmdError::syntax());
    }
    if xreadgroup && group.is_none() {
        return Err(CmdError::new("ERR Missing GROUP option for XREADGROUP"));
    }
    if let Some(g) = group.as_mut() {
        g.noack = noack;
    }
    let keys = &argv[streams_arg..streams_arg + streams_count];
    let id_args = &argv[streams_arg + streams_count..];
    // IDs must be greater than these; StreamId::MAX stands for `>`.
    let mut ids = Vec::with_capacity(streams_count.min(1024));
    {
        let mut db = ctx.db();
        for (key, arg) in keys.iter().zip(id_args) {
            let stream = match db.get(key) {
                Some(v) => Some(stream_of(v)?),
                None => None,
            };
            if let Some(g) = &group {
                if stream.and_then(|s| s.group(&g.group)).is_none() {
                    return Err(CmdError::new(format!(
                        "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                        cstr(key),
                        cstr(&g.group)
                    )));
                }
            }
            if arg.as_ref() == b"$" {
                if xreadgroup {
                    return Err(CmdError::new(
                        "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.",
                    ));
                }
                ids.push(stream.map_or(StreamId::ZERO, |s| s.last_id()));
            } else if arg.as_ref() == b">" {
                if !xreadgroup {
                    return Err(CmdError::new(
                        "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
                    ));
                }
                ids.push(StreamId::MAX);
            } else {
                ids.push(sid::parse_full_id(arg, sid::STRICT).ok_or_else(invalid_id)?);
            }
        }
    }
    if xreadgroup {
        // Its effects are XCLAIMs and XGROUPs (stream_groups.rs).
        ctx.no_propagate();
    }
    let resp = ctx.client.resp;
    let mut served: Vec<(Bytes, Reply)> = Vec::new();
    for (key, &gt) in keys.iter().zip(&ids) {
        let entries = match &group {
            None => read_plain(ctx, key, gt, count),
            Some(g) => stream_groups::read_for_group(ctx, key, g, gt, count),
        };
        if let Some(r) = entries {
            served.push((key.clone(), r));
        }
    }
    if !served.is_empty() {
        return Ok(keyed_reply(resp, served));
    }
    let Some(deadline) = timeout else {
        return Ok(Reply::NilArray);
    };
    // Transactions cannot block: they get the timeout reply at once.
    if ctx.client.deny_blocking || ctx.client.fake {
        return Ok(Reply::NilArray);
    }
    let db = ctx.client.db;
    let waiter = crate::blocking_streams::Waiter {
        db,
        keys: keys.iter().cloned().zip(ids).collect(),
        count: if count > 0 {
            count
        } else {
            BLOCKED_READ_COUNT_DEFAULT
        },
        group,
        deadline_ms: deadline,
    };
    crate::blocking_streams::block(ctx.srv, ctx.client, waiter);
    // The reply is sent when the client is served, times out or is unblocked.
    Ok(Reply::NilArray)
}

/// XREAD's synchronous serving of one key: entries after `gt`, if the
/// stream has any.
fn read_plain(ctx: &mut Ctx, key: &[u8], gt: StreamId, count: usize) -> Option<Reply> {
    let mut db = ctx.db();
    let s = stream_of(db.get(key)?).ok()?;
    if s.is_empty() || s.last_valid_id() <= gt {
        return None;
    }
    let start = gt.next()?;
    Some(entries_reply(s.range(start, StreamId::MAX, false, count)))
}

// ---- XINFO --------------------------------------------------------------

fn xinfo_help(_ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    Ok(crate::family::command::help_reply(
        "XINFO",
        &[
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
        ],
    ))
}

fn xinfo_subcommand_syntax(args: &Args, cmd: &str) -> CmdError {
    let sub = args.argv().get(1).map(|b| cstr(b)).unwrap_or_default();
    let sub: String = sub.chars().take(128).collect();
    CmdError::new(format!(
        "ERR unknown subcommand or wrong number of arguments for '{sub}'. Try {cmd} HELP."
    ))
}

/// Looks the XINFO key up: "no such key" when missing, WRONGTYPE.
fn xinfo_stream_at<'v>(db: &'v mut DbView<'_>, key: &[u8]) -> Result<&'v Stream, CmdError> {
    match db.get(key) {
        None => Err(CmdError::no_such_key()),
        Some(v) => stream_of(v),
    }
}

fn lag_reply(s: &Stream, g: &strata_engine::types::stream::ConsumerGroup) -> Reply {
    s.group_lag(g).map_or(Reply::Nil, Reply::Int)
}

fn entries_read_reply(g: &strata_engine::types::stream::ConsumerGroup) -> Reply {
    g.entries_read.map_or(Reply::Nil, |n| Reply::Int(n as i64))
}

fn field(name: &'static str) -> Reply {
    Reply::bulk_str(name)
}

fn xinfo_consumers(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let argv = args.argv().to_vec();
    let now = crate::clock::now_ms();
    let mut db = ctx.db();
    let s = xinfo_stream_at(&mut db, &argv[2])?;
    let Some(g) = s.group(&argv[3]) else {
        return Err(CmdError::new(format!(
            "NOGROUP No such consumer group '{}' for key name '{}'",
            cstr(&argv[3]),
            cstr(&argv[2])
        )));
    };
    let mut out = Vec::with_capacity(g.consumers().len());
    for (name, c) in g.consumers() {
        let idle = (now as i64 - c.seen_time_ms as i64).max(0);
        out.push(Reply::Map(vec![
            (field("name"), Reply::bulk_copy(name)),
            (field("pending"), Reply::Int(c.pel.len() as i64)),
            (field("idle"), Reply::Int(idle)),
        ]));
    }
    Ok(Reply::Array(out))
}

fn xinfo_groups(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.argv()[2].clone();
    let mut db = ctx.db();
    let s = xinfo_stream_at(&mut db, &key)?;
    let mut out = Vec::with_capacity(s.groups().len());
    for (name, g) in s.groups() {
        out.push(Reply::Map(vec![
            (field("name"), Reply::bulk_copy(name)),
            (field("consumers"), Reply::Int(g.consumers().len() as i64)),
            (field("pending"), Reply::Int(g.pel().len() as i64)),
            (field("last-delivered-id"), id_reply(g.last_id)),
            (field("entries-read"), entries_read_reply(g)),
            (field("lag"), lag_reply(s, g)),
        ]));
    }
    Ok(Reply::Array(out))
}

fn xinfo_stream(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let argv = args.argv().to_vec();
    let opts = &argv[3..];
    let mut full = false;
    let mut count: i64 = XINFO_FULL_COUNT_DEFAULT as i64;
    let mut db = ctx.db();
    let s = xinfo_stream_at(&mut db, &argv[2])?;
    if !opts.is_empty() {
        if opts.len() != 1 && opts.len() != 3 || !opts[0].eq_ignore_ascii_case(b"full") {
            return Err(xinfo_subcommand_syntax(args, "XINFO"));
        }
        if opts.len() == 3 {
            if !opts[1].eq_ignore_ascii_case(b"count") {
                return Err(xinfo_subcommand_syntax(args, "XINFO"));
            }
            count = parse_i64(&opts[2])?;
            if count < 0 {
                count = XINFO_FULL_COUNT_DEFAULT as i64;
            }
        }
        full = true;
    }
    let mut m = vec![
        (field("length"), Reply::Int(s.len() as i64)),
        (field("radix-tree-keys"), Reply::Int(s.node_count() as i64)),
        (
            field("radix-tree-nodes"),
            Reply::Int(s.radix_tree_nodes() as i64),
        ),
        (field("last-generated-id"), id_reply(s.last_id())),
        (field("max-deleted-entry-id"), id_reply(s.max_deleted_id())),
        (field("entries-added"), Reply::Int(s.entries_added() as i64)),
        (field("recorded-first-entry-id"), id_reply(s.first_id())),
    ];
    if !full {
        m.push((field("groups"), Reply::Int(s.groups().len() as i64)));
        m.push((
            field("first-entry"),
            s.first_entry().map_or(Reply::Nil, entry_reply),
        ));
        m.push((
            field("last-entry"),
            s.last_entry().map_or(Reply::Nil, entry_reply),
        ));
        return Ok(Reply::Map(m));
    }
    let count = count as usize;
    m.push((
        field("entries"),
        entries_reply(s.range(StreamId::ZERO, StreamId::MAX, false, count)),
    ));
    let mut groups = Vec::with_capacity(s.groups().len());
    for (name, g) in s.groups() {
        let pel: Vec<Reply> = g
            .pel()
            .iter()
            .take(if count == 0 { usize::MAX } else { count })
            .map(|(id, p)| {
                Reply::Array(vec![
                    id_reply(*id),
                    Reply::bulk_copy(&p.consumer),
                    Reply::Int(p.delivery_time_ms as i64),
                    Reply::Int(p.delivery_count as i64),
                ])
            })
            .collect();
        let mut consumers = Vec::with_capacity(g.consumers().len());
        for (cname, c) in g.consumers() {
            let cpel: Vec<Reply> = c
                .pel
                .iter()
                .take(if count == 0 { usize::MAX } else { count })
                .map(|id| {
                    let (time, n) = g
                        .pel()
                        .get(id)
                        .map_or((0, 0), |p| (p.delivery_time_ms, p.delivery_count));
                    Reply::Array(vec![
                        id_reply(*id),
                        Reply::Int(time as i64),
                        Reply::Int(n as i64),
                    ])
                })
                .collect();
            consumers.push(Reply::Map(vec![
                (field("name"), Reply::bulk_copy(cname)),
                (field("seen-time"), Reply::Int(c.seen_time_ms as i64)),
                (field("pel-count"), Reply::Int(c.pel.len() as i64)),
                (field("pending"), Reply::Array(cpel)),
            ]));
        }
        groups.push(Reply::Map(vec![
            (field("name"), Reply::bulk_copy(name)),
            (field("last-delivered-id"), id_reply(g.last_id)),
            (field("entries-read"), entries_read_reply(g)),
            (field("lag"), lag_reply(s, g)),
            (field("pel-count"), Reply::Int(g.pel().len() as i64)),
            (field("pending"), Reply::Array(pel)),
            (field("consumers"), Reply::Array(consumers)),
        ]));
    }
    m.push((field("groups"), Reply::Array(groups)));
    Ok(Reply::Map(m))
}
