//! Server introspection commands: INFO, TIME, LASTSAVE, DEBUG, MEMORY, and
//! the allocator and process figures they report.
//!
//! DEBUG is a protected command: dispatch refuses it unless
//! `enable-debug-command` allows the client (`protected_gate`).

use bytes::Bytes;

use crate::commands::{
    acl, container, flags::*, keys, spec, Args, CmdError, CmdResult, CommandSpec, NO_KEYS,
};
use crate::ctx::Ctx;
use crate::family::command::help_reply;
use crate::family::info;
use crate::resp::Reply;
use crate::server::Server;
use strata_engine::keyspace::Lookup;
use strata_engine::{StrValue, Value};

const MEMORY_SUBCOMMANDS: &[CommandSpec] = &[
    spec("doctor", 2, 0, 0, NO_KEYS, memory_doctor),
    spec("help", 2, LOADING | STALE, 0, NO_KEYS, memory_help),
    spec("malloc-stats", 2, 0, 0, NO_KEYS, memory_malloc_stats),
    spec("purge", 2, 0, 0, NO_KEYS, memory_purge),
    spec("stats", 2, 0, 0, NO_KEYS, memory_stats),
    spec("usage", -3, READONLY, 0, keys(2, 2, 1), memory_usage),
];

pub const COMMANDS: &[CommandSpec] = &[
    spec(
        "info",
        -1,
        LOADING | STALE,
        acl::DANGEROUS,
        NO_KEYS,
        info_cmd,
    ),
    spec("time", 1, LOADING | STALE | FAST, 0, NO_KEYS, time),
    spec(
        "lastsave",
        1,
        LOADING | STALE | FAST,
        acl::ADMIN | acl::DANGEROUS,
        NO_KEYS,
        lastsave,
    ),
    spec(
        "debug",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE | PROTECTED,
        0,
        NO_KEYS,
        debug,
    ),
    container("memory", -2, 0, 0, MEMORY_SUBCOMMANDS),
];

// ------------------------------------------------------------ process figures

/// What INFO reports as `mem_allocator`.
pub const MEM_ALLOCATOR: &str = "jemalloc-5.3.0";

pub enum JemallocStat {
    Allocated,
    Active,
    Resident,
}

/// A jemalloc statistic, refreshed first (0 if jemalloc cannot say).
pub fn jemalloc_stat(which: JemallocStat) -> u64 {
    use tikv_jemalloc_ctl::{epoch, stats};
    let _ = epoch::advance();
    let v = match which {
        JemallocStat::Allocated => stats::allocated::read(),
        JemallocStat::Active => stats::active::read(),
        JemallocStat::Resident => stats::resident::read(),
    };
    v.unwrap_or(0) as u64
}

/// Bytes allocated through the allocator (used_memory).
pub fn allocated_bytes() -> u64 {
    jemalloc_stat(JemallocStat::Allocated)
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no memory effects.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as u64
    } else {
        4096
    }
}

/// The process's resident set size, from /proc/self/statm.
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * page_size()
}

pub fn total_system_memory() -> u64 {
    // SAFETY: sysconf has no memory effects.
    let pages = unsafe { libc::sysconf(libc::_SC_PHYS_PAGES) };
    if pages > 0 {
        pages as u64 * page_size()
    } else {
        0
    }
}

// ------------------------------------------------------------------- commands

fn info_cmd(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let sections = info::wanted_sections(&args.rest());
    let text = info::render(ctx.srv, ctx.client, &sections);
    Ok(Reply::Verbatim("txt", Bytes::from(text)))
}

fn time(_ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    let us = crate::clock::now_us();
    Ok(Reply::Array(vec![
        Reply::bulk_str(&(us / 1_000_000).to_string()),
        Reply::bulk_str(&(us % 1_000_000).to_string()),
    ]))
}

fn lastsave(ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    Ok(Reply::Int(ctx.srv.last_save_s as i64))
}

// ---------------------------------------------------------------------- DEBUG

/// Dispatch's gate for protected commands (DEBUG): allowed when
/// `enable-debug-command` is "yes", or "local" and the client is local.
pub fn protected_gate(
    srv: &Server,
    client: &crate::client::Client,
    name: &str,
) -> Result<(), CmdError> {
    let setting = srv.config.enable_debug_command.as_str();
    let local = client.unix_socket
        || client.fake
        || client.addr.starts_with("127.0.0.1:")
        || client.addr.starts_with("[::1]:")
        || client.addr.starts_with("::1:");
    if setting == "yes" || (setting == "local" && local) {
        return Ok(());
    }
    let upper = name.to_ascii_uppercase();
    Err(CmdError::new(format!(
        "ERR {upper} command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server."
    )))
}

fn debug_syntax_error(sub: &[u8]) -> CmdError {
    let sub = String::from_utf8_lossy(sub);
    let sub: String = sub.chars().take(128).collect();
    CmdError::new(format!(
        "ERR unknown subcommand or wrong number of arguments for '{sub}'. Try DEBUG HELP."
    ))
}

/// C's `atoi`: optional spaces and sign, then digits; 0 when none.
fn atoi(b: &[u8]) -> i64 {
    let s = String::from_utf8_lossy(b);
    let t = s.trim_start();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let mut v: i64 = 0;
    for c in digits.bytes().take_while(u8::is_ascii_digit) {
        v = v.saturating_mul(10).saturating_add((c - b'0') as i64);
    }
    if neg {
        -v
    } else {
        v
    }
}

/// C's `strtod` on a prefix: the longest leading decimal number, else 0.
fn strtod_prefix(b: &[u8]) -> f64 {
    let s = String::from_utf8_lossy(b);
    let t = s.trim_start();
    let mut end = 0;
    let mut best = 0.0;
    for (i, _) in t.char_indices().chain([(t.len(), ' ')]) {
        end = i;
        if let Ok(v) = t[..end].parse::<f64>() {
            best = v;
        }
    }
    let _ = end;
    best
}

/// Redis's `memtoull`: a byte count with an optional k/kb/m/mb/g/gb unit.
fn memtoull(b: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(b).ok()?.to_ascii_lowercase();
    let units: &[(&str, u64)] = &[
        ("kb", 1024),
        ("mb", 1024 * 1024),
        ("gb", 1024 * 1024 * 1024),
        ("k", 1000),
        ("m", 1000 * 1000),
        ("g", 1000 * 1000 * 1000),
        ("b", 1),
    ];
    let (num, mul) = units
        .iter()
        .find_map(|(u, m)| s.strip_suffix(u).map(|n| (n, *m)))
        .unwrap_or((s.as_str(), 1));
    if num.is_empty() || !num.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    num.parse::<u64>().ok()?.checked_mul(mul)
}

/// Largest QUICKLIST-PACKED-THRESHOLD accepted (4 GiB less 1 MiB), in bytes.
const PACKED_THRESHOLD_MAX_BYTES: u64 = (1 << 32) - (1 << 20);
/// What QUICKLIST-PACKED-THRESHOLD 0 restores, in bytes.
const PACKED_THRESHOLD_DEFAULT_BYTES: u64 = 1 << 30;

fn debug(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let sub = args.next()?;
    let argc = args.argv().len();
    let lower = String::from_utf8_lossy(&sub).to_ascii_lowercase();
    match (lower.as_str(), argc) {
        ("help", 2) => Ok(debug_help()),
        ("sleep", 3) => {
            let secs = strtod_prefix(&args.next()?);
            if secs > 0.0 && secs.is_finite() {
                // Blocks the whole server, as in Redis: that is the point of it.
                std::thread::sleep(std::time::Duration::from_secs_f64(
                    secs.min(u32::MAX as f64),
                ));
            }
            Ok(Reply::OK)
        }
        ("set-active-expire", 3) => {
            ctx.srv.introspect.active_expire = atoi(&args.next()?) != 0;
            Ok(Reply::OK)
        }
        ("quicklist-packed-threshold", 3) => {
            let err = || {
                CmdError::new(
                    "ERR argument must be a memory value bigger than 1 and smaller than 4gb",
                )
            };
            let size = memtoull(&args.next()?).ok_or_else(err)?;
            if size > PACKED_THRESHOLD_MAX_BYTES {
                return Err(err());
            }
            ctx.srv.introspect.quicklist_packed_threshold = if size == 0 {
                PACKED_THRESHOLD_DEFAULT_BYTES
            } else {
                size
            };
            Ok(Reply::OK)
        }
        ("change-repl-id", 2) => {
            crate::log_notice!("Changing replication IDs after receiving DEBUG change-repl-id");
            ctx.srv.introspect.replid = crate::server::random_hex(40);
            ctx.srv.introspect.replid2 = "0".repeat(40);
            Ok(Reply::OK)
        }
        ("object", 3) => debug_object(ctx, &args.next()?),
        ("populate", 3..=5) => debug_populate(ctx, args),
        ("reload", _) => {
            let (mut flush, mut save) = (true, true);
            for opt in args.rest() {
                match opt.to_ascii_lowercase().as_slice() {
                    b"merge" => {}
                    b"noflush" => flush = false,
                    b"nosave" => save = false,
                    _ => {
                        return Err(CmdError::new(
                            "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.",
                        ))
                    }
                }
            }
            debug_reload(ctx, flush, save)
        }
        ("log", 3) => {
            crate::log_warning!("DEBUG LOG: {}", String::from_utf8_lossy(&args.next()?));
            Ok(Reply::OK)
        }
        ("error", 3) => {
            let msg = String::from_utf8_lossy(&args.next()?).replace(['\r', '\n'], " ");
            Err(CmdError::new(msg))
        }
        ("protocol", 3) => debug_protocol(ctx, &args.next()?),
        _ => Err(debug_syntax_error(&sub)),
    }
}

/// DEBUG POPULATE count [prefix] [size]: adds `prefix:j` = "value:j" (cut
/// or zero-padded to `size` bytes when given) for j below count, skipping
/// keys that exist. As in Redis it counts no change, so nothing reaches the
/// AOF; watchers of a created key are signalled.
fn debug_populate(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let positive = |arg: &[u8]| -> Result<u64, CmdError> {
        // Redis answers the same for a negative and a non-number.
        match strata_engine::value::parse_i64_strict(arg) {
            Some(n) if n >= 0 => Ok(n as u64),
            _ => Err(CmdError::new("ERR value is out of range, must be positive")),
        }
    };
    let count = positive(&args.next()?)?;
    let prefix = args
        .next_opt()
        .unwrap_or_else(|| Bytes::from_static(b"key"));
    let size = match args.next_opt() {
        Some(a) => Some(positive(&a)? as usize),
        None => None,
    };
    let dirty_before = ctx.srv.keyspace.shared.dirty;
    let mut db = ctx.db();
    let mut key = Vec::with_capacity(prefix.len() + 21);
    for j in 0..count {
        key.clear();
        key.extend_from_slice(&prefix);
        key.push(b':');
        key.extend_from_slice(j.to_string().as_bytes());
        if db.exists(&key) {
            continue;
        }
        let text = format!("value:{j}");
        let value = match size {
            None => Value::string_from(text.as_bytes()),
            Some(n) => {
                let mut v = vec![0u8; n];
                let m = n.min(text.len());
                v[..m].copy_from_slice(&text.as_bytes()[..m]);
                Value::string_from(&v)
            }
        };
        db.set(&key, value, false);
    }
    ctx.srv.keyspace.shared.dirty = dirty_before;
    Ok(Reply::OK)
}

fn debug_protocol(ctx: &mut Ctx, kind: &[u8]) -> CmdResult {
    let lower = String::from_utf8_lossy(kind).to_ascii_lowercase();
    let ints = || (0..3).map(Reply::Int).collect::<Vec<_>>();
    Ok(match lower.as_str() {
        "string" => Reply::bulk_str("Hello World"),
        "integer" => Reply::Int(12345),
        // The value Redis's DEBUG PROTOCOL sends (not meant as pi).
        #[allow(clippy::approx_constant)]
        "double" => Reply::Double(3.141),
        "bignum" => Reply::BigNumber("1234567999999999999999999999999999999".into()),
        "null" => Reply::Nil,
        "array" => Reply::Array(ints()),
        "set" => Reply::Set(ints()),
        "map" => Reply::Map((0..3).map(|j| (Reply::Int(j), Reply::Bool(j == 1))).collect()),
        // The attribute frame itself is not supported by Strata's replies yet;
        // the reply that follows it is the same.
        "attrib" => Reply::bulk_str("Some real reply following the attribute"),
        "push" => {
            if ctx.client.resp < 3 {
                return Err(CmdError::new("ERR RESP2 is not supported by this command"));
            }
            ctx.client.push(&Reply::Push(vec![Reply::bulk_str("server-cpu-usage"), Reply::Int(42)]));
            Reply::bulk_str("Some real reply following the push reply")
        }
        "verbatim" => Reply::Verbatim("txt", Bytes::from_static(b"This is a verbatim\nstring")),
        "true" => Reply::Bool(true),
        "false" => Reply::Bool(false),
        _ => return Err(CmdError::new(
            "ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false",
        )),
    })
}

/// Integers Redis keeps as shared objects (OBJ_SHARED_INTEGERS), which it
/// reports with the maximum refcount.
const SHARED_INTEGERS_MAX: i64 = 10_000;
const SHARED_REFCOUNT: i64 = i32::MAX as i64;

fn debug_object(ctx: &mut Ctx, key: &[u8]) -> CmdResult {
    let mut db = ctx.db();
    let Some(entry) = db.peek(key) else {
        return Err(CmdError::no_such_key());
    };
    let lru = entry.lru();
    let value = &entry.value;
    let addr = value as *const Value as usize;
    let refcount = match value {
        Value::Str(StrValue::Int(n)) if (0..SHARED_INTEGERS_MAX).contains(n) => SHARED_REFCOUNT,
        _ => 1,
    };
    let text = format!(
        "Value at:{addr:#x} refcount:{refcount} encoding:{} serializedlength:{} lru:{lru} lru_seconds_idle:{}",
        value.encoding_name(),
        serialized_length(value),
        db.shared().idle_seconds(lru)
    );
    Ok(Reply::Status(text.into()))
}

/// Bytes of an RDB length prefix for `n`.
fn rdb_len_bytes(n: u64) -> u64 {
    match n {
        n if n < 1 << 6 => 1,
        n if n < 1 << 14 => 2,
        n if n <= u32::MAX as u64 => 5,
        _ => 9,
    }
}

/// Strings longer than this are LZF-compressed in RDB files when that saves
/// at least `LZF_SAVING_MIN_BYTES` (with `rdbcompression yes`, the default).
const LZF_INPUT_MIN_BYTES: usize = 20;
const LZF_SAVING_MIN_BYTES: usize = 4;

/// Bytes of a string as RDB writes it: a small integer in 2, 3 or 5 bytes,
/// an LZF block (type byte, both lengths, data), or a length and the bytes.
fn rdb_string_bytes(s: &[u8]) -> u64 {
    if s.len() <= 11 {
        if let Some(n) = strata_engine::value::parse_i64_strict(s) {
            if let Some(b) = rdb_int_bytes(n) {
                return b;
            }
        }
    }
    if s.len() > LZF_INPUT_MIN_BYTES {
        if let Some(c) = strata_persistence::lzf::compress(s) {
            if c.len() <= s.len() - LZF_SAVING_MIN_BYTES {
                return 1
                    + rdb_len_bytes(c.len() as u64)
                    + rdb_len_bytes(s.len() as u64)
                    + c.len() as u64;
            }
        }
    }
    rdb_len_bytes(s.len() as u64) + s.len() as u64
}

fn rdb_int_bytes(n: i64) -> Option<u64> {
    if i8::try_from(n).is_ok() {
        Some(2)
    } else if i16::try_from(n).is_ok() {
        Some(3)
    } else if i32::try_from(n).is_ok() {
        Some(5)
    } else {
        None
    }
}

/// DEBUG OBJECT's serializedlength: the value's size in an RDB file.
pub fn serialized_length(value: &Value) -> u64 {
    match value {
        Value::Str(StrValue::Int(n)) => {
            rdb_int_bytes(*n).unwrap_or_else(|| rdb_string_bytes(n.to_string().as_bytes()))
        }
        Value::Str(s) => s.with_bytes(rdb_string_bytes),
        // The RDB payload without its type byte, version and checksum.
        other => (strata_persistence::rdb::dump::dump(other, true).len() as u64).saturating_sub(11),
    }
}

fn debug_help() -> Reply {
    help_reply(
        "DEBUG",
        &[
            "CHANGE-REPL-ID",
            "    Change the replication IDs of the instance.",
            "    Dangerous: should be used only for testing the replication subsystem.",
            "ERROR <string>",
            "    Return a Redis protocol error with <string> as message. Useful for clients",
            "    unit tests to simulate Redis errors.",
            "LOG <message>",
            "    Write <message> to the server log.",
            "OBJECT <key>",
            "    Show low level info about `key` and associated value.",
            "PROTOCOL <type>",
            "    Reply with a test value of the specified type. <type> can be: string,",
            "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
            "    true, false.",
            "RELOAD [option ...]",
            "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
            "    * MERGE: conflicting keys will be loaded from RDB.",
            "    * NOFLUSH: the existing database will not be removed before load, but",
            "      conflicting keys will generate an exception and kill the server.",
            "    * NOSAVE: the database will be loaded from an existing RDB file.",
            "    Examples:",
            "    * DEBUG RELOAD: verify that the server is able to persist, flush and reload",
            "      the database.",
            "    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an",
            "      existing RDB file.",
            "    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB",
            "      file to the database.",
            "SET-ACTIVE-EXPIRE <0|1>",
            "    Setting it to 0 disables expiring keys in background when they are not",
            "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
            "    default.",
            "QUICKLIST-PACKED-THRESHOLD <size>",
            "    Sets the threshold for elements to be inserted as plain vs packed nodes",
            "    Default value is 1GB, allows values up to 4GB. Setting to 0 restores to default.",
            "SLEEP <seconds>",
            "    Stop the server for <seconds>. Decimals allowed.",
        ],
    )
}

// --------------------------------------------------------------------- MEMORY

fn memory_help(_ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    Ok(help_reply(
        "MEMORY",
        &[
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    ))
}

/// jemalloc's usable size for a request of `n` bytes (its size classes:
/// 8, 16, then 16-byte steps to 128, then four classes per doubling).
pub fn alloc_size(n: u64) -> u64 {
    match n {
        0 => 0,
        n if n <= 8 => 8,
        n if n <= 128 => (n + 15) & !15,
        n => {
            let lg = 63 - (n - 1).leading_zeros() as u64;
            let step = 1u64 << (lg - 2);
            (n + step - 1) & !(step - 1)
        }
    }
}

/// Bytes of an sds string header for a string of `len` bytes (type 8, 16, 32, 64).
fn sds_header_bytes(len: u64) -> u64 {
    match len {
        l if l < 1 << 8 => 3,
        l if l < 1 << 16 => 5,
        l if l < 1 << 32 => 9,
        _ => 17,
    }
}

/// Redis's robj header.
const OBJECT_HEADER_BYTES: u64 = 16;
/// A main-dictionary entry (key pointer, value pointer, next).
const DICT_ENTRY_BYTES: u64 = 24;

/// MEMORY USAGE's estimate, in the terms Redis counts: the key's sds string,
/// the dictionary entry, the value object and what it points to.
/// `samples` bounds how many elements of a collection are looked at.
pub fn memory_usage_estimate(key: &[u8], value: &Value, _samples: u64) -> u64 {
    let key_bytes = alloc_size(sds_header_bytes(key.len() as u64) + key.len() as u64 + 1);
    let value_bytes = match value {
        Value::Str(StrValue::Int(_)) => OBJECT_HEADER_BYTES,
        Value::Str(StrValue::Embstr(b)) => alloc_size(OBJECT_HEADER_BYTES + 3 + b.len() as u64 + 1),
        Value::Str(StrValue::Raw(v)) => {
            let cap = v.capacity().max(v.len()) as u64;
            OBJECT_HEADER_BYTES + alloc_size(sds_header_bytes(cap) + cap + 1)
        }
        // Collections report their own running size; sampling is theirs to add.
        #[allow(unreachable_patterns)]
        other => OBJECT_HEADER_BYTES + other.mem_bytes() as u64,
    };
    key_bytes + DICT_ENTRY_BYTES + value_bytes
}

/// Elements sampled by default (OBJ_COMPUTE_SIZE_DEF_SAMPLES).
const USAGE_DEFAULT_SAMPLES: u64 = 5;

fn memory_usage(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let mut samples = USAGE_DEFAULT_SAMPLES;
    while !args.is_empty() {
        if args.remaining() >= 2 && args.eat("samples") {
            let n = args.next_i64()?;
            if n < 0 {
                return Err(CmdError::syntax());
            }
            samples = if n == 0 { u64::MAX } else { n as u64 };
        } else {
            return Err(CmdError::syntax());
        }
    }
    let how = Lookup {
        no_touch: true,
        no_stats: false,
        no_notify: true,
    };
    let mut db = ctx.db();
    Ok(match db.lookup(&key, how) {
        None => Reply::Nil,
        Some(entry) => Reply::Int(memory_usage_estimate(&key, &entry.value, samples) as i64),
    })
}

fn memory_stats(ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    let m = info::memory_figures(ctx.srv, ctx.client);
    let keys = ctx.srv.keyspace.total_keys() as u64;
    let net = m.used.saturating_sub(m.startup);
    let pct = |a: u64, b: u64| {
        if b == 0 {
            0.0
        } else {
            (a as f32 * 100.0 / b as f32) as f64
        }
    };
    let ratio = |a: u64, b: u64| {
        if b == 0 {
            0.0
        } else {
            (a as f32 / b as f32) as f64
        }
    };
    let s = |k: &'static str| Reply::bulk_str(k);
    let mut out = vec![
        (s("peak.allocated"), Reply::Int(m.peak as i64)),
        (s("total.allocated"), Reply::Int(m.used as i64)),
        (s("startup.allocated"), Reply::Int(m.startup as i64)),
        (s("replication.backlog"), Reply::Int(0)),
        (s("clients.slaves"), Reply::Int(0)),
        (s("clients.normal"), Reply::Int(m.clients_normal as i64)),
        (s("cluster.links"), Reply::Int(0)),
        (s("aof.buffer"), Reply::Int(0)),
        (s("lua.caches"), Reply::Int(0)),
        (s("functions.caches"), Reply::Int(0)),
    ];
    for (i, (n, e, _)) in ctx.srv.keyspace.db_sizes().into_iter().enumerate() {
        if n == 0 {
            continue;
        }
        out.push((
            Reply::bulk_str(&format!("db.{i}")),
            Reply::Map(vec![
                (
                    s("overhead.hashtable.main"),
                    Reply::Int((n as u64 * info::HASHTABLE_BYTES_PER_KEY) as i64),
                ),
                (
                    s("overhead.hashtable.expires"),
                    Reply::Int((e as u64 * info::HASHTABLE_BYTES_PER_EXPIRE) as i64),
                ),
                (s("overhead.hashtable.slot-to-keys"), Reply::Int(0)),
            ]),
        ));
    }
    out.extend([
        (s("overhead.total"), Reply::Int(m.overhead as i64)),
        (s("keys.count"), Reply::Int(keys as i64)),
        (
            s("keys.bytes-per-key"),
            Reply::Int(net.checked_div(keys).unwrap_or(0) as i64),
        ),
        (s("dataset.bytes"), Reply::Int(m.dataset as i64)),
        (s("dataset.percentage"), Reply::Double(pct(m.dataset, net))),
        (s("peak.percentage"), Reply::Double(pct(m.used, m.peak))),
        (s("allocator.allocated"), Reply::Int(m.allocated as i64)),
        (s("allocator.active"), Reply::Int(m.active as i64)),
        (s("allocator.resident"), Reply::Int(m.resident as i64)),
        (
            s("allocator-fragmentation.ratio"),
            Reply::Double(ratio(m.active, m.allocated)),
        ),
        (
            s("allocator-fragmentation.bytes"),
            Reply::Int(m.active as i64 - m.allocated as i64),
        ),
        (
            s("allocator-rss.ratio"),
            Reply::Double(ratio(m.resident, m.active)),
        ),
        (
            s("allocator-rss.bytes"),
            Reply::Int(m.resident as i64 - m.active as i64),
        ),
        (
            s("rss-overhead.ratio"),
            Reply::Double(ratio(m.rss, m.resident)),
        ),
        (
            s("rss-overhead.bytes"),
            Reply::Int(m.rss as i64 - m.resident as i64),
        ),
        (s("fragmentation"), Reply::Double(ratio(m.rss, m.used))),
        (
            s("fragmentation.bytes"),
            Reply::Int(m.rss as i64 - m.used as i64),
        ),
    ]);
    Ok(Reply::Map(out))
}

/// Below this much allocated memory MEMORY DOCTOR has nothing to say.
const DOCTOR_MIN_USED_BYTES: u64 = 5 * 1024 * 1024;

fn memory_doctor(ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    let m = info::memory_figures(ctx.srv, ctx.client);
    let text = if m.used < DOCTOR_MIN_USED_BYTES {
        "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n".to_string()
    } else {
        let mut issues = Vec::new();
        if m.peak as f64 / m.used as f64 > 1.5 {
            issues.push(" * Peak memory: In the past this instance used more than 150% the memory that is currently using. The allocator is normally not able to release memory after a peak, so you can expect to see a big fragmentation ratio, however this is actually harmless and is only due to the memory peak, and if the Redis instance Resident Set Size (RSS) is currently bigger than expected, the memory will be used as soon as you fill the Redis instance with more data. If the memory peak was only occasional and you want to try to reclaim memory, please try the MEMORY PURGE command, otherwise the only other option is to shutdown and restart the instance.\n\n");
        }
        if m.active as f64 / m.allocated.max(1) as f64 > 1.1
            && m.active.saturating_sub(m.allocated) > 10 << 20
        {
            issues.push(" * High allocator fragmentation: This instance has an allocator external fragmentation greater than 1.1. This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. You can try enabling 'activedefrag' config option.\n\n");
        }
        if issues.is_empty() {
            "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n".to_string()
        } else {
            let mut t = String::from(
                "Sam, I detected a few issues in this Redis instance memory implants:\n\n",
            );
            for i in issues {
                t.push_str(i);
            }
            t.push_str("I'm here to keep you safe, Sam. I want to help you.\n");
            t
        }
    };
    Ok(Reply::Verbatim("txt", Bytes::from(text)))
}

/// Appends one chunk of jemalloc's report to the `Vec<u8>` behind `opaque`.
extern "C" fn stats_chunk(opaque: *mut libc::c_void, text: *const libc::c_char) {
    if opaque.is_null() || text.is_null() {
        return;
    }
    // SAFETY: `opaque` is the `&mut Vec<u8>` passed below and outlives the
    // call; jemalloc hands a NUL-terminated string.
    let (out, chunk) = unsafe {
        (
            &mut *(opaque as *mut Vec<u8>),
            std::ffi::CStr::from_ptr(text),
        )
    };
    out.extend_from_slice(chunk.to_bytes());
}

fn memory_malloc_stats(_ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    let mut out: Vec<u8> = Vec::new();
    // SAFETY: the callback only appends to `out`, which lives across the call.
    unsafe {
        tikv_jemalloc_sys::malloc_stats_print(
            Some(stats_chunk),
            &mut out as *mut Vec<u8> as *mut libc::c_void,
            std::ptr::null(),
        );
    }
    Ok(Reply::Verbatim("txt", Bytes::from(out)))
}

/// jemalloc's "all arenas" index (MALLCTL_ARENAS_ALL).
const ARENAS_ALL: u32 = 4096;

fn memory_purge(_ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    let name = std::ffi::CString::new(format!("arena.{ARENAS_ALL}.purge"))
        .map_err(|_| CmdError::new("ERR Error purging dirty pages"))?;
    // SAFETY: a void mallctl: no old or new value pointers.
    let rc = unsafe {
        tikv_jemalloc_sys::mallctl(
            name.as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        )
    };
    if rc != 0 {
        return Err(CmdError::new("ERR Error purging dirty pages"));
    }
    Ok(Reply::OK)
}

/// DEBUG RELOAD: save (unless NOSAVE), empty the dataset (unless NOFLUSH), load
/// the RDB file back. With NOFLUSH the file's keys replace same-named ones.
fn debug_reload(ctx: &mut Ctx, flush: bool, save: bool) -> CmdResult {
    if save && crate::persist::save_sync(ctx.srv).is_err() {
        return Err(CmdError::new("ERR Error trying to save the DB"));
    }
    if flush {
        ctx.srv.keyspace.flush_all();
    }
    let path = crate::persist::rdb_path(ctx.srv);
    let verify = ctx.srv.config.rdbchecksum;
    match crate::persist::load_into(&mut ctx.srv.keyspace, &path, verify) {
        Ok((_, _, functions)) => {
            crate::persist::restore_functions(ctx.srv, functions);
            crate::log_notice!("DB reloaded by DEBUG RELOAD");
            Ok(Reply::OK)
        }
        Err(e) => {
            crate::log_warning!("Error loading {}: {e}", path.display());
            Err(CmdError::new(
                "ERR Error trying to load the RDB dump, check server logs.",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_matches_redis_for_strings() {
        // Figures measured on redis-server 7.0.15 (jemalloc 5.3).
        let v = |s: &[u8]| Value::string_from(s);
        assert_eq!(memory_usage_estimate(b"k", &v(b"1"), 5), 48);
        assert_eq!(memory_usage_estimate(b"k", &v(b"x"), 5), 64);
        assert_eq!(memory_usage_estimate(b"kkk", &v(&[b'v'; 20]), 5), 80);
        assert_eq!(memory_usage_estimate(b"k", &v(&[b'v'; 44]), 5), 96);
        assert_eq!(memory_usage_estimate(b"k", &v(&[b'v'; 45]), 5), 112);
        assert_eq!(memory_usage_estimate(b"k", &v(&[b'v'; 100]), 5), 160);
        assert_eq!(memory_usage_estimate(&[b'k'; 20], &v(b"1"), 5), 72);
        assert_eq!(memory_usage_estimate(&[b'k'; 50], &v(&[b'v'; 100]), 5), 216);
    }

    #[test]
    fn allocator_size_classes() {
        assert_eq!(alloc_size(5), 8);
        assert_eq!(alloc_size(21), 32);
        assert_eq!(alloc_size(129), 160);
        assert_eq!(alloc_size(257), 320);
    }

    #[test]
    fn serialized_lengths() {
        assert_eq!(serialized_length(&Value::string_from(b"bar")), 4);
        assert_eq!(serialized_length(&Value::string_from(b"123")), 2);
        assert_eq!(serialized_length(&Value::string_from(b"100000")), 5);
        // Compressible strings count their LZF size: redis-server 7.0.15
        // says 12 for 61 'a's and 13 for 100 (the LZF bytes are liblzf's).
        assert_eq!(serialized_length(&Value::string_from(&[b'a'; 61])), 12);
        assert_eq!(serialized_length(&Value::string_from(&[b'a'; 100])), 13);
        assert_eq!(
            serialized_length(&Value::string_from(b"abcdefghijklmnopqrstuvwxyz")),
            27
        );
    }

    #[test]
    fn c_number_parsing() {
        assert_eq!(atoi(b"1"), 1);
        assert_eq!(atoi(b"x"), 0);
        assert_eq!(atoi(b"12abc"), 12);
        assert_eq!(strtod_prefix(b"0.5"), 0.5);
        assert_eq!(strtod_prefix(b"x"), 0.0);
        assert_eq!(memtoull(b"1kb"), Some(1024));
        assert_eq!(memtoull(b"x"), None);
    }
}
