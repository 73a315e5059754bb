//! HyperLogLog commands: PFADD, PFCOUNT, PFMERGE, PFDEBUG, PFSELFTEST.
//!
//! A sketch is a string value in Redis's byte layout (`strata_engine::hll`),
//! so sketches move between Redis and Strata through GET/SET, DUMP/RESTORE,
//! RDB and AOF unchanged.
//!
//! Redis's side effects are kept exactly:
//! - a sketch that is used is first made a private raw string (Redis's
//!   dbUnshareStringValue), even when nothing else changes;
//! - PFADD counts one change per grown register (plus one for a new key) and
//!   emits "pfadd" only when something changed; PFMERGE always writes its
//!   destination, emits "pfadd" and counts one change;
//! - PFCOUNT of one key is a read that stores the recomputed cardinality in
//!   the sketch's cache (one change, WATCH signalled, no event); several keys
//!   are merged into a scratch union and nothing is written;
//! - PFDEBUG GETREG/TODENSE convert in place and count a change without
//!   signalling WATCH, as Redis does.

use crate::commands::{acl, flags::*, keys, spec, Args, CmdError, CmdResult, CommandSpec, NO_KEYS};
use crate::ctx::Ctx;
use crate::resp::Reply;
use strata_engine::hll;
use strata_engine::notify;
use strata_engine::thin::ThinBytes;
use strata_engine::{StrValue, Value, WriteGuard};

pub const COMMANDS: &[CommandSpec] = &[
    spec(
        "pfadd",
        -2,
        WRITE | DENYOOM | FAST,
        acl::HYPERLOGLOG,
        keys(1, 1, 1),
        pfadd,
    ),
    spec(
        "pfcount",
        -2,
        READONLY | MAY_REPLICATE,
        acl::HYPERLOGLOG,
        keys(1, -1, 1),
        pfcount,
    ),
    spec(
        "pfmerge",
        -2,
        WRITE | DENYOOM,
        acl::HYPERLOGLOG,
        keys(1, -1, 1),
        pfmerge,
    ),
    spec(
        "pfdebug",
        3,
        WRITE | DENYOOM | ADMIN,
        acl::HYPERLOGLOG,
        keys(2, 2, 1),
        pfdebug,
    ),
    spec(
        "pfselftest",
        1,
        ADMIN,
        acl::HYPERLOGLOG,
        NO_KEYS,
        pfselftest,
    ),
];

fn not_a_sketch() -> CmdError {
    CmdError::new("WRONGTYPE Key is not a valid HyperLogLog string value.")
}

fn corrupt() -> CmdError {
    CmdError::new("INVALIDOBJ Corrupted HLL object detected")
}

/// The sketch bytes of a value, or the error Redis's isHLLObjectOrReply sends.
/// Integer-encoded strings are never sketches.
fn sketch_bytes(value: &Value) -> Result<&[u8], CmdError> {
    match value {
        Value::Str(s) => match s.as_slice() {
            Some(bytes) if hll::check(bytes) => Ok(bytes),
            _ => Err(not_a_sketch()),
        },
        #[allow(unreachable_patterns)]
        _ => Err(CmdError::wrong_type()),
    }
}

/// Validates the guarded value and makes it a private raw buffer. On error
/// the guard records no change.
fn open_sketch<'g>(guard: &'g mut WriteGuard<'_, '_>) -> Result<&'g mut ThinBytes, CmdError> {
    if let Err(e) = sketch_bytes(guard.value()) {
        guard.unchanged();
        return Err(e);
    }
    match guard.value_mut() {
        Value::Str(s) => Ok(s.make_raw()),
        #[allow(unreachable_patterns)]
        _ => Err(CmdError::wrong_type()),
    }
}

fn new_sketch_value() -> Value {
    Value::Str(StrValue::Raw(ThinBytes::from(hll::new_sketch())))
}

fn sparse_bytes_max(ctx: &Ctx) -> usize {
    ctx.srv.config.hll_sparse_max_bytes
}

fn pfadd(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let elements = args.rest();
    let sparse_max = sparse_bytes_max(ctx);
    let mut db = ctx.db();
    let (mut guard, created) = db.write_or_insert(&key, new_sketch_value);
    let sketch = open_sketch(&mut guard)?;
    let mut updated = u64::from(created);
    for element in &elements {
        match hll::add(sketch, element, sparse_max) {
            Ok(true) => updated += 1,
            Ok(false) => {}
            Err(hll::Corrupt) => {
                // Registers already raised stay raised, unannounced (as Redis).
                guard.unchanged();
                return Err(corrupt());
            }
        }
    }
    if updated == 0 {
        guard.unchanged();
        return Ok(Reply::Int(0));
    }
    hll::invalidate_cache(sketch);
    guard.set_dirty(updated);
    guard.notify(notify::STRING, "pfadd");
    Ok(Reply::Int(1))
}

fn pfcount(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let keys = args.rest();
    if let [key] = keys.as_slice() {
        return pfcount_one(ctx, key);
    }
    let mut union = hll::raw_registers();
    for key in &keys {
        let mut db = ctx.db();
        let Some(value) = db.get(key) else {
            continue;
        };
        hll::merge_into(&mut union, sketch_bytes(value)?).map_err(|_| corrupt())?;
    }
    Ok(Reply::Int(hll::count_raw(&union) as i64))
}

/// The cached cardinality, or a fresh one stored in the cache.
fn pfcount_one(ctx: &mut Ctx, key: &[u8]) -> CmdResult {
    let mut db = ctx.db();
    match db.get(key) {
        None => return Ok(Reply::Int(0)),
        Some(value) => {
            sketch_bytes(value)?;
        }
    }
    let Some(mut guard) = db.write(key) else {
        return Ok(Reply::Int(0));
    };
    let sketch = open_sketch(&mut guard)?;
    if let Some(card) = hll::cached_cardinality(sketch) {
        guard.unchanged();
        return Ok(Reply::Int(card as i64));
    }
    match hll::count(sketch) {
        Ok(card) => {
            hll::set_cached_cardinality(sketch, card);
            Ok(Reply::Int(card as i64))
        }
        Err(hll::Corrupt) => {
            guard.unchanged();
            Err(corrupt())
        }
    }
}

fn pfmerge(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    // The destination is also a source.
    let keys = args.rest();
    let Some(dest) = keys.first() else {
        return Err(CmdError::syntax());
    };
    let sparse_max = sparse_bytes_max(ctx);
    let mut union = hll::raw_registers();
    let mut use_dense = false;
    for key in &keys {
        let mut db = ctx.db();
        let Some(value) = db.get(key) else {
            continue;
        };
        let bytes = sketch_bytes(value)?;
        // A dense input makes the destination dense from the start.
        use_dense |= !hll::is_sparse(bytes);
        hll::merge_into(&mut union, bytes).map_err(|_| corrupt())?;
    }
    let mut db = ctx.db();
    let (mut guard, _created) = db.write_or_insert(dest, new_sketch_value);
    let sketch = open_sketch(&mut guard)?;
    if use_dense && hll::to_dense(sketch).is_err() {
        guard.unchanged();
        return Err(corrupt());
    }
    for (index, &count) in union.iter().enumerate() {
        if count != 0 {
            // The destination was validated as a source: it cannot be corrupt.
            let _ = hll::set_register(sketch, index, count, sparse_max);
        }
    }
    hll::invalidate_cache(sketch);
    guard.notify(notify::STRING, "pfadd");
    Ok(Reply::OK)
}

#[derive(Clone, Copy)]
enum Debug {
    GetReg,
    Decode,
    Encoding,
    ToDense,
}

fn pfdebug(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let sub_name = args.next()?;
    let key = args.key()?;
    args.finish()?;
    let sub = match sub_name.to_ascii_lowercase().as_slice() {
        b"getreg" => Some(Debug::GetReg),
        b"decode" => Some(Debug::Decode),
        b"encoding" => Some(Debug::Encoding),
        b"todense" => Some(Debug::ToDense),
        _ => None,
    };
    let mut db = ctx.db();
    let Some(mut guard) = db.write(&key) else {
        return Err(CmdError::new("ERR The specified key does not exist"));
    };
    let sketch = open_sketch(&mut guard)?;
    let result = run_debug(sketch, sub, &sub_name);
    // Only conversions count as a change, and they signal no WATCH (Redis
    // bumps the dirty counter alone), so the guard never records one.
    guard.unchanged();
    drop(guard);
    if let Ok((_, true)) = result {
        db.add_dirty(1);
    }
    result.map(|(reply, _)| reply)
}

/// Runs a PFDEBUG subcommand on an opened sketch: (reply, converted to dense).
fn run_debug(
    sketch: &mut ThinBytes,
    sub: Option<Debug>,
    sub_name: &[u8],
) -> Result<(Reply, bool), CmdError> {
    let Some(sub) = sub else {
        // %s in Redis's format stops at a NUL byte.
        let shown = sub_name.split(|&b| b == 0).next().unwrap_or_default();
        return Err(CmdError::new(format!(
            "ERR Unknown PFDEBUG subcommand '{}'",
            String::from_utf8_lossy(shown)
        )));
    };
    match sub {
        Debug::GetReg | Debug::ToDense => {
            let converted = hll::to_dense(sketch).map_err(|_| corrupt())?;
            if let Debug::ToDense = sub {
                return Ok((Reply::Int(i64::from(converted)), converted));
            }
            let regs = hll::registers(sketch).map_err(|_| corrupt())?;
            let reply = regs.iter().map(|&r| Reply::Int(i64::from(r))).collect();
            Ok((Reply::Array(reply), converted))
        }
        Debug::Decode => {
            if !hll::is_sparse(sketch) {
                return Err(CmdError::new("ERR HLL encoding is not sparse"));
            }
            Ok((Reply::bulk(hll::sparse::decode(sketch).into_bytes()), false))
        }
        Debug::Encoding => {
            let name = if hll::is_sparse(sketch) {
                "sparse"
            } else {
                "dense"
            };
            Ok((Reply::status(name), false))
        }
    }
}

fn pfselftest(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    args.finish()?;
    hll::selftest::run(sparse_bytes_max(ctx)).map_err(CmdError::new)?;
    Ok(Reply::OK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Client;
    use crate::config::Config;
    use crate::server::Server;
    use bytes::Bytes;

    fn run(srv: &mut Server, handler: crate::commands::Handler, argv: &[&[u8]]) -> CmdResult {
        let mut client = Client::new(1, 0);
        let mut ctx = Ctx::new(srv, &mut client);
        let argv = argv.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        handler(&mut ctx, &mut Args::new(argv))
    }

    fn raw(srv: &mut Server, key: &[u8]) -> Vec<u8> {
        match srv.keyspace.db(0).peek(key).map(|e| &e.value) {
            Some(Value::Str(s)) => s.to_bytes(),
            _ => Vec::new(),
        }
    }

    fn events(srv: &mut Server) -> Vec<(&'static str, Vec<u8>)> {
        srv.keyspace
            .shared
            .events
            .drain(..)
            .map(|n| (n.event, n.key.to_vec()))
            .collect()
    }

    fn server() -> Server {
        let mut srv = Server::new(Config::default());
        srv.keyspace.shared.notify_flags = notify::parse_flags(b"KEAn").unwrap_or(0);
        srv
    }

    #[test]
    fn pfadd_counts_changed_registers_and_notifies() {
        let mut srv = server();
        let dirty = srv.keyspace.shared.dirty;
        assert_eq!(run(&mut srv, pfadd, &[b"pfadd", b"k"]), Ok(Reply::Int(1)));
        assert_eq!(srv.keyspace.shared.dirty, dirty + 1);
        assert_eq!(
            raw(&mut srv, b"k"),
            b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80\x7f\xff"
        );
        assert_eq!(
            events(&mut srv),
            [("new", b"k".to_vec()), ("pfadd", b"k".to_vec())]
        );
        let args: &[&[u8]] = &[b"pfadd", b"k", b"x", b"y", b"z"];
        assert_eq!(run(&mut srv, pfadd, args), Ok(Reply::Int(1)));
        assert_eq!(srv.keyspace.shared.dirty, dirty + 4, "one per register");
        assert_eq!(run(&mut srv, pfadd, args), Ok(Reply::Int(0)));
        assert_eq!(srv.keyspace.shared.dirty, dirty + 4);
        assert_eq!(events(&mut srv), [("pfadd", b"k".to_vec())]);
    }

    #[test]
    fn pfcount_writes_the_cache_once() {
        let mut srv = server();
        run(&mut srv, pfadd, &[b"pfadd", b"k", b"x", b"y", b"z"]).unwrap();
        events(&mut srv);
        let dirty = srv.keyspace.shared.dirty;
        assert_eq!(
            run(&mut srv, pfcount, &[b"pfcount", b"k"]),
            Ok(Reply::Int(3))
        );
        assert_eq!(srv.keyspace.shared.dirty, dirty + 1);
        assert_eq!(&raw(&mut srv, b"k")[8..16], &[3, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            run(&mut srv, pfcount, &[b"pfcount", b"k"]),
            Ok(Reply::Int(3))
        );
        assert_eq!(srv.keyspace.shared.dirty, dirty + 1, "cache hit");
        assert_eq!(
            run(&mut srv, pfcount, &[b"pfcount", b"k", b"missing"]),
            Ok(Reply::Int(3))
        );
        assert_eq!(srv.keyspace.shared.dirty, dirty + 1, "unions write nothing");
        assert!(events(&mut srv).is_empty());
    }

    #[test]
    fn pfmerge_creates_and_notifies_pfadd() {
        let mut srv = server();
        run(&mut srv, pfadd, &[b"pfadd", b"a", b"x"]).unwrap();
        run(&mut srv, pfadd, &[b"pfadd", b"b", b"y"]).unwrap();
        events(&mut srv);
        let dirty = srv.keyspace.shared.dirty;
        assert_eq!(
            run(&mut srv, pfmerge, &[b"pfmerge", b"d", b"a", b"b"]),
            Ok(Reply::OK)
        );
        assert_eq!(srv.keyspace.shared.dirty, dirty + 1);
        assert_eq!(
            events(&mut srv),
            [("new", b"d".to_vec()), ("pfadd", b"d".to_vec())]
        );
        assert_eq!(
            run(&mut srv, pfdebug, &[b"pfdebug", b"decode", b"d"]),
            Ok(Reply::bulk(&b"Z:14932 v:3,1 Z:1441 v:2,1 z:9"[..]))
        );
    }

    #[test]
    fn errors_match_redis() {
        let mut srv = server();
        srv.keyspace
            .db(0)
            .set(b"s", Value::string_from(b"not a sketch at all"), false);
        let dirty = srv.keyspace.shared.dirty;
        assert_eq!(
            run(&mut srv, pfadd, &[b"pfadd", b"s", b"x"]),
            Err(not_a_sketch())
        );
        assert_eq!(
            run(&mut srv, pfcount, &[b"pfcount", b"s"]),
            Err(not_a_sketch())
        );
        assert_eq!(
            run(&mut srv, pfdebug, &[b"pfdebug", b"getreg", b"nokey"]),
            Err(CmdError::new("ERR The specified key does not exist"))
        );
        srv.keyspace.db(0).set(
            b"c",
            Value::string_from(b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80\x7f"),
            false,
        );
        let dirty_after_sets = srv.keyspace.shared.dirty;
        assert_eq!(dirty_after_sets, dirty + 1);
        assert_eq!(run(&mut srv, pfcount, &[b"pfcount", b"c"]), Err(corrupt()));
        assert_eq!(
            run(&mut srv, pfdebug, &[b"pfdebug", b"b\0x", b"c"]),
            Err(CmdError::new("ERR Unknown PFDEBUG subcommand 'b'"))
        );
        assert_eq!(
            run(&mut srv, pfdebug, &[b"pfdebug", b"todense", b"c"]),
            Err(corrupt())
        );
        assert_eq!(srv.keyspace.shared.dirty, dirty_after_sets);
    }

    #[test]
    fn pfdebug_todense_counts_a_change_without_events() {
        let mut srv = server();
        run(&mut srv, pfadd, &[b"pfadd", b"k", b"x"]).unwrap();
        events(&mut srv);
        let dirty = srv.keyspace.shared.dirty;
        let todense: &[&[u8]] = &[b"pfdebug", b"todense", b"k"];
        assert_eq!(run(&mut srv, pfdebug, todense), Ok(Reply::Int(1)));
        assert_eq!(run(&mut srv, pfdebug, todense), Ok(Reply::Int(0)));
        assert_eq!(srv.keyspace.shared.dirty, dirty + 1);
        assert_eq!(raw(&mut srv, b"k").len(), hll::DENSE_BYTES);
        assert_eq!(
            run(&mut srv, pfdebug, &[b"pfdebug", b"encoding", b"k"]),
            Ok(Reply::status("dense"))
        );
        assert!(events(&mut srv).is_empty());
    }
}
