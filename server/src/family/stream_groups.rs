//! Consumer-group commands: XGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM,
//! and the group side of XREADGROUP (new entries with `>`, a consumer's
//! history otherwise), shared with the blocked-client path.
//!
//! Group state changes (deliveries, acknowledgements, claims, group and
//! consumer bookkeeping) count as writes for the dirty counter, but like
//! Redis they do not signal WATCHers: the guard is marked unchanged and the
//! dirty count added by hand. XGROUP DESTROY wakes blocked XREADGROUP
//! clients explicitly.
//!
//! Propagation (what Redis 7.0 writes to its AOF, checked against it): the
//! original XREADGROUP, XCLAIM or XAUTOCLAIM is never propagated; instead
//! - every entry XREADGROUP delivers with `>` (without NOACK), XCLAIM or
//!   XAUTOCLAIM claims becomes `XCLAIM key group consumer 0 id TIME ms
//!   RETRYCOUNT n FORCE JUSTID LASTID last-id` with the PEL entry's new
//!   state and the group's last ID at that point;
//! - a PEL entry whose stream entry was deleted, dropped by XCLAIM or
//!   XAUTOCLAIM, becomes the same XCLAIM with the entry's old state (its
//!   replay drops it too);
//! - XREADGROUP with NOACK propagates `XGROUP CREATECONSUMER` when it
//!   created the consumer and `XGROUP SETID key group id ENTRIESREAD n`
//!   when it moved the group; XCLAIM's LASTID becomes that SETID only when
//!   no XCLAIM effect (which carries LASTID) was written;
//! - history reads propagate nothing, and consumers created by XCLAIM,
//!   XAUTOCLAIM or an acknowledged XREADGROUP are created by the replayed
//!   XCLAIM.
//!
//! Several effects of one command form one unit (MULTI/EXEC); a blocked
//! XREADGROUP served later is a unit of its own (`blocking_streams.rs`).

use bytes::Bytes;
use strata_engine::notify;
use strata_engine::types::stream::id::{self as sid, StreamId};
use strata_engine::types::stream::{ConsumerGroup, PendingEntry, Stream};
use strata_engine::Value;

use crate::commands::args::parse_i64;
use crate::commands::{
    acl, container, flags::*, keys, spec, Args, CmdError, CmdResult, CommandSpec, NO_KEYS,
};
use crate::ctx::Ctx;
use crate::family::streams::{
    cstr, entries_reply, entry_reply, id_reply, invalid_id, stream_of, stream_of_mut, GroupRead,
};
use crate::resp::Reply;

pub const COMMANDS: &[CommandSpec] = &[
    container("xgroup", -2, 0, 0, XGROUP_SUBCOMMANDS),
    spec("xack", -4, WRITE | FAST, acl::STREAM, keys(1, 1, 1), xack),
    spec(
        "xpending",
        -3,
        READONLY,
        acl::STREAM,
        keys(1, 1, 1),
        xpending,
    ),
    spec(
        "xclaim",
        -6,
        WRITE | FAST,
        acl::STREAM,
        keys(1, 1, 1),
        xclaim,
    ),
    spec(
        "xautoclaim",
        -6,
        WRITE | FAST,
        acl::STREAM,
        keys(1, 1, 1),
        xautoclaim,
    ),
];

const XGROUP_SUBCOMMANDS: &[CommandSpec] = &[
    spec(
        "create",
        -5,
        WRITE | DENYOOM,
        acl::STREAM,
        keys(2, 2, 1),
        xgroup_create,
    ),
    spec("setid", -5, WRITE, acl::STREAM, keys(2, 2, 1), xgroup_setid),
    spec(
        "destroy",
        4,
        WRITE,
        acl::STREAM,
        keys(2, 2, 1),
        xgroup_destroy,
    ),
    spec(
        "createconsumer",
        5,
        WRITE | DENYOOM,
        acl::STREAM,
        keys(2, 2, 1),
        xgroup_createconsumer,
    ),
    spec(
        "delconsumer",
        5,
        WRITE,
        acl::STREAM,
        keys(2, 2, 1),
        xgroup_delconsumer,
    ),
    spec(
        "help",
        2,
        LOADING | STALE,
        acl::STREAM,
        NO_KEYS,
        xgroup_help,
    ),
];

/// XAUTOCLAIM's default COUNT.
pub const AUTOCLAIM_COUNT_DEFAULT: i64 = 100;
/// PEL entries XAUTOCLAIM looks at per entry it may claim.
pub const AUTOCLAIM_ATTEMPTS_FACTOR: i64 = 10;
/// Largest XAUTOCLAIM COUNT (LONG_MAX / max(sizeof(streamID), attempts factor)).
pub const AUTOCLAIM_COUNT_MAX: i64 = i64::MAX / 16;
/// Redis allocates COUNT 16-byte IDs up front and fails when the allocator
/// refuses; Strata allocates as it goes, and refuses the counts Redis's
/// allocator cannot serve (more than 2^47 bytes, jemalloc's largest size
/// on 48-bit address spaces) with Redis's error.
pub const AUTOCLAIM_COUNT_ALLOC_MAX: i64 = (1 << 47) / 16;

fn nogroup(key: &[u8], group: &[u8]) -> CmdError {
    CmdError::new(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        cstr(key),
        cstr(group)
    ))
}

fn subcommand_syntax(argv: &[Bytes]) -> CmdError {
    let sub: String = argv
        .get(1)
        .map(|b| cstr(b))
        .unwrap_or_default()
        .chars()
        .take(128)
        .collect();
    CmdError::new(format!(
        "ERR unknown subcommand or wrong number of arguments for '{sub}'. Try XGROUP HELP."
    ))
}

// ---- Propagated effects ---------------------------------------------------

/// Effects collected while the stream is borrowed, propagated afterwards;
/// None when nothing consumes effects (no cost on the hot path).
pub type Effects = Option<Vec<Vec<Bytes>>>;

fn b(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

fn id_arg(id: StreamId) -> Bytes {
    Bytes::from(id.to_string())
}

/// `XCLAIM key group consumer 0 id TIME ms RETRYCOUNT n FORCE JUSTID LASTID
/// last-id`: replayed, it puts `id` in `consumer`'s PEL with exactly this
/// delivery time and count (or drops it when the entry is gone).
pub fn xclaim_effect(
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
    id: StreamId,
    p: &PendingEntry,
    last_id: StreamId,
) -> Vec<Bytes> {
    vec![
        b("XCLAIM"),
        Bytes::copy_from_slice(key),
        Bytes::copy_from_slice(group),
        Bytes::copy_from_slice(consumer),
        b("0"),
        id_arg(id),
        b("TIME"),
        Bytes::from(p.delivery_time_ms.to_string()),
        b("RETRYCOUNT"),
        Bytes::from(p.delivery_count.to_string()),
        b("FORCE"),
        b("JUSTID"),
        b("LASTID"),
        id_arg(last_id),
    ]
}

/// `XGROUP SETID key group id ENTRIESREAD n` (-1 for an unknown count).
pub fn setid_effect(key: &[u8], group: &[u8], g: &ConsumerGroup) -> Vec<Bytes> {
    let read = g
        .entries_read
        .map_or_else(|| "-1".to_string(), |n| n.to_string());
    vec![
        b("XGROUP"),
        b("SETID"),
        Bytes::copy_from_slice(key),
        Bytes::copy_from_slice(group),
        id_arg(g.last_id),
        b("ENTRIESREAD"),
        Bytes::from(read),
    ]
}

/// `XGROUP CREATECONSUMER key group consumer`.
pub fn createconsumer_effect(key: &[u8], group: &[u8], consumer: &[u8]) -> Vec<Bytes> {
    vec![
        b("XGROUP"),
        b("CREATECONSUMER"),
        Bytes::copy_from_slice(key),
        Bytes::copy_from_slice(group),
        Bytes::copy_from_slice(consumer),
    ]
}

fn push(effects: &mut Effects, f: impl FnOnce() -> Vec<Bytes>) {
    if let Some(list) = effects.as_mut() {
        list.push(f());
    }
}

/// Hands collected effects to the running command's unit.
fn propagate_effects(ctx: &mut Ctx, effects: Effects) {
    for argv in effects.into_iter().flatten() {
        ctx.also_propagate(argv);
    }
}

// ---- XREADGROUP serving ---------------------------------------------------

/// Serves one key of an XREADGROUP synchronously: the consumer's history
/// when `gt` is an ID, new entries when it is `>` (StreamId::MAX) and the
/// stream has entries past the group's last ID. A served consumer is
/// created if missing. None when there is nothing to serve (the caller may
/// block).
pub fn read_for_group(
    ctx: &mut Ctx,
    key: &[u8],
    g: &GroupRead,
    gt: StreamId,
    count: usize,
) -> Option<Reply> {
    let now = ctx.now_ms();
    let mut effects: Effects = ctx.propagating().then(Vec::new);
    let mut db = ctx.db();
    let mut guard = db.write(key)?;
    guard.unchanged();
    let s = stream_of_mut(guard.value_mut()).ok()?;
    let history = gt != StreamId::MAX;
    let last = s.group(&g.group)?.last_id;
    let serve = history || (!s.is_empty() && s.last_valid_id() > last);
    // Redis 7.0 creates (or refreshes) the consumer only when it serves it:
    // a read that finds nothing, or blocks, leaves no consumer behind.
    let created = serve && s.group_mut(&g.group)?.touch_consumer(&g.consumer, now);
    if created && g.noack {
        // No XCLAIM will create it on replay.
        push(&mut effects, || {
            createconsumer_effect(key, &g.group, &g.consumer)
        });
    }
    let reply = if !serve {
        None
    } else if history {
        Some(history_reply(s, g, gt, count, now))
    } else {
        Some(entries_reply(deliver_new(
            s,
            key,
            g,
            last,
            count,
            now,
            &mut effects,
        )))
    };
    drop(guard);
    propagate_effects(ctx, effects);
    let mut db = ctx.db();
    if created {
        db.add_dirty(1);
        db.notify(notify::STREAM, "xgroup-createconsumer", key);
    }
    if serve {
        db.add_dirty(1);
    }
    reply
}

/// Delivers the entries after `from` (at most `count`, 0 = all) to a
/// consumer: the group's last ID and read counter move, and unless NOACK
/// each entry enters the PEL (or moves to this consumer with a fresh
/// delivery count).
/// Effects: an XCLAIM per entry, or with NOACK one XGROUP SETID.
pub fn deliver_new(
    s: &mut Stream,
    key: &[u8],
    g: &GroupRead,
    from: StreamId,
    count: usize,
    now_ms: u64,
    effects: &mut Effects,
) -> Vec<strata_engine::types::stream::StreamEntry> {
    let Some(start) = from.next() else {
        return Vec::new();
    };
    let entries = s.range(start, StreamId::MAX, false, count);
    for e in &entries {
        s.advance_group(&g.group, e.id);
        if g.noack {
            continue;
        }
        if let Some(group) = s.group_mut(&g.group) {
            group.deliver(e.id, &g.consumer, now_ms, Some(1));
            if let Some(p) = group.pel().get(&e.id) {
                push(effects, || {
                    xclaim_effect(key, &g.group, &g.consumer, e.id, p, group.last_id)
                });
            }
        }
    }
    if g.noack && !entries.is_empty() {
        if let Some(group) = s.group(&g.group) {
            push(effects, || setid_effect(key, &g.group, group));
        }
    }
    entries
}

/// A consumer's pending entries after `gt`: deleted entries are shown
/// with a null body; the others count one more delivery.
fn history_reply(s: &mut Stream, g: &GroupRead, gt: StreamId, count: usize, now: u64) -> Reply {
    let Some(start) = gt.next() else {
        return Reply::Array(Vec::new());
    };
    let ids: Vec<StreamId> = match s.group(&g.group).and_then(|x| x.consumer(&g.consumer)) {
        Some(c) => c
            .pel
            .range(start..)
            .take(if count == 0 { usize::MAX } else { count })
            .copied()
            .collect(),
        None => Vec::new(),
    };
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        match s.get(id) {
            Some(e) => {
                if let Some(p) = s.group_mut(&g.group).and_then(|x| x.pending_mut(&id)) {
                    p.delivery_time_ms = now;
                    p.delivery_count += 1;
                }
                out.push(entry_reply(e));
            }
            None => out.push(Reply::Array(vec![id_reply(id), Reply::NilArray])),
        }
    }
    Reply::Array(out)
}

// ---- XGROUP ---------------------------------------------------------------

fn xgroup_help(_ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    Ok(crate::family::command::help_reply(
        "XGROUP",
        &[
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
        ],
    ))
}

/// ENTRIESREAD's value: a non-negative count, or -1 for "unknown".
fn parse_entries_read(arg: &[u8]) -> Result<Option<u64>, CmdError> {
    let n = parse_i64(arg)?;
    if n == -1 {
        return Ok(None);
    }
    if n < 0 {
        return Err(CmdError::new(
            "ERR value for ENTRIESREAD must be positive or -1",
        ));
    }
    Ok(Some(n as u64))
}

/// The checks every XGROUP subcommand but HELP makes, in Redis's order:
/// the key's type, its existence (unless MKSTREAM), and for subcommands
/// other than CREATE and DESTROY the group. Returns whether the key exists.
fn xgroup_prelude(ctx: &mut Ctx, argv: &[Bytes], mkstream: bool) -> Result<bool, CmdError> {
    let sub = argv[1].to_ascii_lowercase();
    let (key, group) = (&argv[2], &argv[3]);
    let mut db = ctx.db();
    let Some(mut guard) = db.write(key) else {
        if mkstream {
            return Ok(false);
        }
        return Err(CmdError::new(
            "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.",
        ));
    };
    guard.unchanged();
    let s = stream_of(guard.value())?;
    let needs_group = matches!(
        sub.as_slice(),
        b"setid" | b"createconsumer" | b"delconsumer"
    );
    if needs_group && s.group(group).is_none() {
        return Err(CmdError::new(format!(
            "NOGROUP No such consumer group '{}' for key name '{}'",
            cstr(group),
            cstr(key)
        )));
    }
    Ok(true)
}

/// Opens the (checked) stream for a quiet group-state write and runs `f`;
/// returns f's result and adds `dirty` to the dirty counter.
fn with_stream<R>(
    ctx: &mut Ctx,
    key: &[u8],
    f: impl FnOnce(&mut Stream) -> (R, u64),
) -> Result<R, CmdError> {
    let mut db = ctx.db();
    let Some(mut guard) = db.write(key) else {
        return Err(CmdError::no_such_key());
    };
    guard.unchanged();
    let s = stream_of_mut(guard.value_mut())?;
    let (r, dirty) = f(s);
    drop(guard);
    db.add_dirty(dirty);
    Ok(r)
}

fn xgroup_create(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let argv: Vec<Bytes> = args.argv().to_vec();
    let mut mkstream = false;
    let mut entries_read: Option<u64> = None;
    let mut i = 5;
    while i < argv.len() {
        if argv[i].eq_ignore_ascii_case(b"mkstream") {
            mkstream = true;
            i += 1;
        } else if argv[i].eq_ignore_ascii_case(b"entriesread") && i + 1 < argv.len() {
            entries_read = parse_entries_read(&argv[i + 1])?;
            i += 2;
        } else {
            return Err(subcommand_syntax(&argv));
        }
    }
    let exists = xgroup_prelude(ctx, &argv, mkstream)?;
    if argv.len() > 8 {
        return Err(subcommand_syntax(&argv));
    }
    let (key, name) = (&argv[2], &argv[3]);
    let id = if argv[4].as_ref() == b"$" {
        None
    } else {
        Some(sid::parse_full_id(&argv[4], sid::STRICT).ok_or_else(invalid_id)?)
    };
    let mut db = ctx.db();
    let (mut guard, created) = db.write_or_insert(key, || Value::Stream(Box::default()));
    let s = match stream_of_mut(guard.value_mut()) {
        Ok(s) => s,
        Err(e) => {
            guard.unchanged();
            return Err(e);
        }
    };
    debug_assert!(exists || created);
    let id = id.unwrap_or(s.last_id());
    if !s.create_group(name, ConsumerGroup::new(id, entries_read)) {
        // A stream created just now always accepts the group.
        guard.unchanged();
        return Err(CmdError::new(
            "BUSYGROUP Consumer Group name already exists",
        ));
    }
    if !created {
        // Only a stream created by MKSTREAM signals WATCHers.
        guard.unchanged();
    }
    drop(guard);
    if !created {
        db.add_dirty(1);
    }
    db.notify(notify::STREAM, "xgroup-create", key);
    Ok(Reply::OK)
}

fn xgroup_setid(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let argv: Vec<Bytes> = args.argv().to_vec();
    xgroup_prelude(ctx, &argv, false)?;
    if argv.len() != 5 && argv.len() != 7 {
        return Err(subcommand_syntax(&argv));
    }
    let (key, name) = (argv[2].clone(), argv[3].clone());
    let id = if argv[4].as_ref() == b"$" {
        None
    } else {
        Some(sid::parse_full_id(&argv[4], sid::LOOSE).ok_or_else(invalid_id)?)
    };
    let mut entries_read = None;
    if argv.len() == 7 {
        if !argv[5].eq_ignore_ascii_case(b"entriesread") {
            return Err(subcommand_syntax(&argv));
        }
        entries_read = parse_entries_read(&argv[6])?;
    }
    with_stream(ctx, &key, |s| {
        let id = id.unwrap_or(s.last_id());
        if let Some(g) = s.group_mut(&name) {
            g.last_id = id;
            g.entries_read = entries_read;
        }
        ((), 1)
    })?;
    ctx.db().notify(notify::STREAM, "xgroup-setid", &key);
    Ok(Reply::OK)
}

fn xgroup_destroy(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let argv: Vec<Bytes> = args.argv().to_vec();
    xgroup_prelude(ctx, &argv, false)?;
    let (key, name) = (&argv[2], &argv[3]);
    let removed = with_stream(ctx, key, |s| {
        let removed = s.remove_group(name);
        (removed, u64::from(removed))
    })?;
    if !removed {
        return Ok(Reply::Int(0));
    }
    let db = ctx.client.db;
    ctx.db().notify(notify::STREAM, "xgroup-destroy", key);
    // Clients blocked in XREADGROUP on this group get -NOGROUP.
    crate::blocking_streams::signal_key(ctx.srv, db, key);
    Ok(Reply::Int(1))
}

fn xgroup_createconsumer(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let argv: Vec<Bytes> = args.argv().to_vec();
    xgroup_prelude(ctx, &argv, false)?;
    let (key, name, consumer) = (&argv[2], &argv[3], &argv[4]);
    let now = ctx.now_ms();
    let created = with_stream(ctx, key, |s| {
        let created = s
            .group_mut(name)
            .is_some_and(|g| g.create_consumer(consumer, now));
        (created, u64::from(created))
    })?;
    if created {
        ctx.db()
            .notify(notify::STREAM, "xgroup-createconsumer", key);
    }
    Ok(Reply::Int(i64::from(created)))
}

fn xgroup_delconsumer(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let argv: Vec<Bytes> = args.argv().to_vec();
    xgroup_prelude(ctx, &argv, false)?;
    let (key, name, consumer) = (&argv[2], &argv[3], &argv[4]);
    let pending = with_stream(ctx, key, |s| {
        let pending = s.group_mut(name).and_then(|g| g.delete_consumer(consumer));
        (pending, u64::from(pending.is_some()))
    })?;
    if pending.is_some() {
        ctx.db().notify(notify::STREAM, "xgroup-delconsumer", key);
    }
    Ok(Reply::Int(pending.unwrap_or(0) as i64))
}

// ---- XACK, XPENDING -------------------------------------------------------

/// Whether the key holds a stream with this group (a hit or miss is
/// counted, as lookupKeyRead); WRONGTYPE for other types.
fn has_group(ctx: &mut Ctx, key: &[u8], group: &[u8]) -> Result<bool, CmdError> {
    match ctx.db().get(key) {
        None => Ok(false),
        Some(v) => Ok(stream_of(v)?.group(group).is_some()),
    }
}

fn xack(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let argv: Vec<Bytes> = args.argv().to_vec();
    let (key, name) = (&argv[1], &argv[2]);
    if !has_group(ctx, key, name)? {
        return Ok(Reply::Int(0));
    }
    let mut ids = Vec::with_capacity(argv.len() - 3);
    for a in &argv[3..] {
        ids.push(sid::parse_full_id(a, sid::STRICT).ok_or_else(invalid_id)?);
    }
    let acked = with_stream(ctx, key, |s| {
        let n = s
            .group_mut(name)
            .map_or(0, |g| ids.iter().filter(|id| g.ack(id)).count() as u64);
        (n, n)
    })?;
    Ok(Reply::Int(acked as i64))
}

fn xpending(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let argv: Vec<Bytes> = args.argv().to_vec();
    let c = argv.len();
    let summary = c == 3;
    if c != 3 && !(6..=9).contains(&c) {
        return Err(CmdError::syntax());
    }
    let mut start = StreamId::ZERO;
    let mut end = StreamId::MAX;
    let mut count: i64 = 0;
    let mut min_idle: i64 = 0;
    let mut consumer: Option<Bytes> = None;
    if c >= 6 {
        let mut at = 3;
        if argv[3].eq_ignore_ascii_case(b"idle") {
            min_idle = parse_i64(&argv[4])?;
            if c < 8 {
                return Err(CmdError::syntax());
            }
            at += 2;
        }
        count = parse_i64(&argv[at + 2])?.max(0);
        let (s, ex) = sid::parse_interval_id(&argv[at], 0).ok_or_else(invalid_id)?;
        start = if ex {
            s.next()
                .ok_or_else(|| CmdError::new("ERR invalid start ID for the interval"))?
        } else {
            s
        };
        let (e, ex) = sid::parse_interval_id(&argv[at + 1], u64::MAX).ok_or_else(invalid_id)?;
        end = if ex {
            e.prev()
                .ok_or_else(|| CmdError::new("ERR invalid end ID for the interval"))?
        } else {
            e
        };
        consumer = argv.get(at + 3).cloned();
    }
    let (key, name) = (&argv[1], &argv[2]);
    let now = ctx.now_ms() as i64;
    let mut db = ctx.db();
    let group = match db.get(key) {
        Some(v) => stream_of(v)?.group(name),
        None => None,
    };
    let Some(g) = group else {
        return Err(nogroup(key, name));
    };
    if summary {
        let pel = g.pel();
        let (Some((first, _)), Some((last, _))) = (pel.iter().next(), pel.iter().next_back())
        else {
            return Ok(Reply::Array(vec![
                Reply::Int(0),
                Reply::Nil,
                Reply::Nil,
                Reply::NilArray,
            ]));
        };
        let per_consumer: Vec<Reply> = g
            .consumers()
            .iter()
            .filter(|(_, c)| !c.pel.is_empty())
            .map(|(n, c)| {
                Reply::Array(vec![
                    Reply::bulk_copy(n),
                    Reply::Bulk(Bytes::from(c.pel.len().to_string())),
                ])
            })
            .collect();
        return Ok(Reply::Array(vec![
            Reply::Int(pel.len() as i64),
            id_reply(*first),
            id_reply(*last),
            Reply::Array(per_consumer),
        ]));
    }
    let ids: Box<dyn Iterator<Item = &StreamId>> = match &consumer {
        Some(cn) => match g.consumer(cn) {
            Some(c) => Box::new(c.pel.range(start..)),
            None => return Ok(Reply::Array(Vec::new())),
        },
        None => Box::new(g.pel().range(start..).map(|(id, _)| id)),
    };
    let mut out = Vec::new();
    let mut left = count;
    for id in ids {
        if left == 0 || *id > end {
            break;
        }
        let Some(p) = g.pel().get(id) else { continue };
        let idle = now - p.delivery_time_ms as i64;
        if min_idle != 0 && idle < min_idle {
            continue;
        }
        left -= 1;
        out.push(Reply::Array(vec![
            id_reply(*id),
            Reply::bulk_copy(&p.consumer),
            Reply::Int(idle.max(0)),
            Reply::Int(p.delivery_count as i64),
        ]));
    }
    Ok(Reply::Array(out))
}

// ---- XCLAIM, XAUTOCLAIM ---------------------------------------------------

fn xclaim(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let argv: Vec<Bytes> = args.argv().to_vec();
    let (key, name, consumer) = (&argv[1], &argv[2], &argv[3]);
    if !has_group(ctx, key, name)? {
        return Err(nogroup(key, name));
    }
    let min_idle = parse_i64(&argv[4])
        .map_err(|_| CmdError::new("ERR Invalid min-idle-time argument for XCLAIM"))?
        .max(0);
    // IDs first: the command claims all or nothing, so everything is
    // checked before anything changes.
    let mut ids = Vec::new();
    let mut j = 5;
    while j < argv.len() {
        match sid::parse_full_id(&argv[j], sid::STRICT) {
            Some(id) => ids.push(id),
            None => break,
        }
        j += 1;
    }
    let now = ctx.now_ms() as i64;
    let mut force = false;
    let mut justid = false;
    let mut delivery_time: i64 = -1;
    let mut retry_count: i64 = -1;
    let mut last_id = StreamId::ZERO;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        let opt = &argv[j];
        if opt.eq_ignore_ascii_case(b"force") {
            force = true;
        } else if opt.eq_ignore_ascii_case(b"justid") {
            justid = true;
        } else if opt.eq_ignore_ascii_case(b"idle") && more > 0 {
            j += 1;
            let idle = parse_i64(&argv[j])
                .map_err(|_| CmdError::new("ERR Invalid IDLE option argument for XCLAIM"))?;
            delivery_time = now.wrapping_sub(idle);
        } else if opt.eq_ignore_ascii_case(b"time") && more > 0 {
            j += 1;
            delivery_time = parse_i64(&argv[j])
                .map_err(|_| CmdError::new("ERR Invalid TIME option argument for XCLAIM"))?;
        } else if opt.eq_ignore_ascii_case(b"retrycount") && more > 0 {
            j += 1;
            retry_count = parse_i64(&argv[j])
                .map_err(|_| CmdError::new("ERR Invalid RETRYCOUNT option argument for XCLAIM"))?;
        } else if opt.eq_ignore_ascii_case(b"lastid") && more > 0 {
            j += 1;
            last_id = sid::parse_full_id(&argv[j], sid::STRICT).ok_or_else(invalid_id)?;
        } else {
            return Err(CmdError::new(format!(
                "ERR Unrecognized XCLAIM option '{}'",
                cstr(opt)
            )));
        }
        j += 1;
    }
    // A bogus time (negative or in the future) means now: clients compute
    // it from their own clocks.
    let delivery_time = if delivery_time < 0 || delivery_time > now {
        now
    } else {
        delivery_time
    } as u64;
    let mut created = false;
    let mut effects: Effects = ctx.propagating().then(Vec::new);
    let out = with_stream(ctx, key, |s| {
        let mut dirty = 0;
        let Some(g) = s.group_mut(name) else {
            return (Vec::new(), 0);
        };
        // A moved last ID is written as XGROUP SETID unless an XCLAIM
        // effect (which carries LASTID) is written.
        let mut setid = false;
        if last_id > g.last_id {
            g.last_id = last_id;
            setid = true;
            dirty += 1;
        }
        let mut replies = Vec::new();
        for &id in &ids {
            let exists = s.get(id);
            let Some(g) = s.group_mut(name) else { break };
            let Some(entry) = exists else {
                // Gone from the stream: drop it from the PEL too, written
                // as an XCLAIM of its old state (whose replay drops it).
                if let Some(p) = g.pel().get(&id) {
                    push(&mut effects, || {
                        xclaim_effect(key, name, &p.consumer, id, p, g.last_id)
                    });
                    setid = false;
                }
                if g.ack(&id) {
                    dirty += 1;
                }
                continue;
            };
            let pending = g.pel().get(&id).cloned();
            if pending.is_none() && !force {
                continue;
            }
            if let Some(p) = &pending {
                if min_idle > 0 && now - (p.delivery_time_ms as i64) < min_idle {
                    continue;
                }
            }
            if !created && g.consumer(consumer).is_none() {
                g.create_consumer(consumer, now as u64);
                created = true;
                dirty += 1;
            }
            g.touch_consumer(consumer, now as u64);
            // A PEL entry FORCE creates starts as delivered once (streamCreateNACK).
            let old_count = pending.map_or(1, |p| p.delivery_count);
            let new_count = if retry_count >= 0 {
                retry_count as u64
            } else if !justid {
                old_count + 1
            } else {
                old_count
            };
            g.deliver(id, consumer, delivery_time, Some(new_count));
            if let Some(p) = g.pel().get(&id) {
                push(&mut effects, || {
                    xclaim_effect(key, name, consumer, id, p, g.last_id)
                });
                setid = false;
            }
            replies.push(if justid {
                id_reply(id)
            } else {
                entry_reply(entry)
            });
            dirty += 1;
        }
        if setid {
            if let Some(g) = s.group(name) {
                push(&mut effects, || setid_effect(key, name, g));
            }
        }
        (replies, dirty)
    })?;
    if created {
        ctx.db()
            .notify(notify::STREAM, "xgroup-createconsumer", key);
    }
    ctx.no_propagate();
    propagate_effects(ctx, effects);
    Ok(Reply::Array(out))
}

fn xautoclaim(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let argv: Vec<Bytes> = args.argv().to_vec();
    let (key, name, consumer) = (&argv[1], &argv[2], &argv[3]);
    let min_idle = parse_i64(&argv[4])
        .map_err(|_| CmdError::new("ERR Invalid min-idle-time argument for XAUTOCLAIM"))?
        .max(0);
    let (mut start, ex) = sid::parse_interval_id(&argv[5], 0).ok_or_else(invalid_id)?;
    if ex {
        start = start
            .next()
            .ok_or_else(|| CmdError::new("ERR invalid start ID for the interval"))?;
    }
    let mut count = AUTOCLAIM_COUNT_DEFAULT;
    let mut justid = false;
    let mut j = 6;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        if argv[j].eq_ignore_ascii_case(b"count") && more > 0 {
            count = match strata_engine::value::parse_i64_strict(&argv[j + 1]) {
                Some(n) if (1..=AUTOCLAIM_COUNT_MAX).contains(&n) => n,
                _ => return Err(CmdError::new("ERR COUNT must be > 0")),
            };
            j += 1;
        } else if argv[j].eq_ignore_ascii_case(b"justid") {
            justid = true;
        } else {
            return Err(CmdError::syntax());
        }
        j += 1;
    }
    if !has_group(ctx, key, name)? {
        return Err(nogroup(key, name));
    }
    if count > AUTOCLAIM_COUNT_ALLOC_MAX {
        return Err(CmdError::new(
            "ERR Insufficient memory, failed allocating transient memory, COUNT too high.",
        ));
    }
    let now = ctx.now_ms();
    let mut created = false;
    let mut effects: Effects = ctx.propagating().then(Vec::new);
    let (next, claimed, deleted) = with_stream(ctx, key, |s| {
        let mut dirty = 0;
        let mut attempts = count.saturating_mul(AUTOCLAIM_ATTEMPTS_FACTOR);
        let mut left = count;
        let mut claimed = Vec::new();
        let mut deleted = Vec::new();
        let mut cursor = Some(start);
        let mut next = StreamId::ZERO;
        while let Some(from) = cursor {
            let Some(g) = s.group(name) else { break };
            let Some((&id, p)) = g.pel().range(from..).next() else {
                break;
            };
            if attempts == 0 || left == 0 {
                next = id;
                break;
            }
            attempts -= 1;
            cursor = id.next();
            let delivered_at = p.delivery_time_ms;
            let entry = s.get(id);
            let Some(g) = s.group_mut(name) else { break };
            let Some(entry) = entry else {
                // Written as an XCLAIM of its old state: replayed, it drops
                // the PEL entry too.
                if let Some(p) = g.pel().get(&id) {
                    push(&mut effects, || {
                        xclaim_effect(key, name, &p.consumer, id, p, g.last_id)
                    });
                }
                g.ack(&id);
                deleted.push(id);
                left -= 1;
                dirty += 1;
                continue;
            };
            if min_idle > 0 && (now as i64 - delivered_at as i64) < min_idle {
                continue;
            }
            if !created && g.consumer(consumer).is_none() {
                created = true;
                dirty += 1;
            }
            g.touch_consumer(consumer, now);
            let old = g.pel().get(&id).map_or(0, |p| p.delivery_count);
            let n = if justid { old } else { old + 1 };
            g.deliver(id, consumer, now, Some(n));
            if let Some(p) = g.pel().get(&id) {
                push(&mut effects, || {
                    xclaim_effect(key, name, consumer, id, p, g.last_id)
                });
            }
            claimed.push(if justid {
                id_reply(id)
            } else {
                entry_reply(entry)
            });
            left -= 1;
            dirty += 1;
        }
        ((next, claimed, deleted), dirty)
    })?;
    if created {
        ctx.db()
            .notify(notify::STREAM, "xgroup-createconsumer", key);
    }
    ctx.no_propagate();
    propagate_effects(ctx, effects);
    Ok(Reply::Array(vec![
        id_reply(next),
        Reply::Array(claimed),
        Reply::Array(deleted.into_iter().map(id_reply).collect()),
    ]))
}
