//! `strata-check-rdb`: validates an RDB file (versions 1 to 12) and prints
//! a report in the format of Redis 7.0's `redis-check-rdb`.
//!
//! The file is decoded with the persistence crate's RDB reader and value
//! decoder (the same code the server loads with: structure, every value's
//! encoding, the CRC-64 checksum). The top-level loop is walked here rather
//! than through `load::load_with` because the report needs what the loader
//! does not expose: the offset of each AUX field and SELECTDB, the phase the
//! reader was in when it failed, and the key and type being read.
//!
//! Invariants: never panics and never allocates from a declared length
//! without the reader's cap; output write errors (a closed pipe) are ignored;
//! the result is `true` only when the whole file, checksum included, is valid.
#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use strata_persistence::rdb::reader::Reader;
use strata_persistence::rdb::{opcode, types, value, Corrupt, RDB_VERSION_MAX};

/// What the checker was doing when an error happened (Redis's wording).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doing {
    Start,
    ReadType,
    ReadExpire,
    ReadKey,
    ReadObjectValue,
    CheckSum,
    ReadLen,
    ReadAux,
    ReadModuleAux,
    ReadFunctions,
}

impl Doing {
    pub fn name(self) -> &'static str {
        match self {
            Doing::Start => "start",
            Doing::ReadType => "read-type",
            Doing::ReadExpire => "read-expire",
            Doing::ReadKey => "read-key",
            Doing::ReadObjectValue => "read-object-value",
            Doing::CheckSum => "check-sum",
            Doing::ReadLen => "read-len",
            Doing::ReadAux => "read-aux",
            Doing::ReadModuleAux => "read-module-aux",
            Doing::ReadFunctions => "read-functions",
        }
    }
}

/// The name redis-check-rdb 7.0 prints for an RDB type byte. Its table stops
/// at 18, so later types (which Strata also reads) print as "unknown", and
/// the module types keep its (odd) spelling.
pub fn type_name(ty: u8) -> &'static str {
    match ty {
        types::STRING => "string",
        types::LIST => "list-linked",
        types::SET => "set-hashtable",
        types::ZSET => "zset-v1",
        types::HASH => "hash-hashtable",
        types::ZSET_2 => "zset-v2",
        types::MODULE_PRE_GA => "module-value",
        types::MODULE_2 | 8 => "",
        types::HASH_ZIPMAP => "hash-zipmap",
        types::LIST_ZIPLIST => "list-ziplist",
        types::SET_INTSET => "set-intset",
        types::ZSET_ZIPLIST => "zset-ziplist",
        types::HASH_ZIPLIST => "hash-ziplist",
        types::LIST_QUICKLIST => "quicklist",
        types::STREAM_LISTPACKS => "stream",
        types::HASH_LISTPACK => "hash-listpack",
        types::ZSET_LISTPACK => "zset-listpack",
        types::LIST_QUICKLIST_2 => "quicklist-v2",
        _ => "unknown",
    }
}

/// Whether `ty` is a value type byte of RDB versions up to 12.
fn is_value_type(ty: u8) -> bool {
    ty <= types::MODULE_2 || (types::HASH_ZIPMAP..=types::STREAM_LISTPACKS_3).contains(&ty)
}

/// Counters printed at the end of every report.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// True when the file is valid.
    pub ok: bool,
    pub keys: u64,
    pub expires: u64,
    pub already_expired: u64,
}

/// A failure: where, why, and the state to report.
struct Failure {
    offset: u64,
    reason: String,
}

/// Walk state, printed in the error block.
struct State {
    doing: Doing,
    /// The key whose value is being read.
    key: Option<Vec<u8>>,
    /// The type byte of the entry being read; Redis starts at 0 (string)
    /// and forgets it once an entry is loaded.
    key_type: Option<u8>,
    summary: Summary,
}

/// Bytes as Redis prints a C string: up to the first NUL.
fn c_str(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(i) => b.get(..i).unwrap_or(b),
        None => b,
    }
}

/// Redis's wording for a reader error: every short read is the same message.
fn failure(c: Corrupt) -> Failure {
    let reason = if c.what.starts_with("unexpected end of file") {
        "Unexpected EOF reading RDB file".to_string()
    } else {
        c.what
    };
    Failure {
        offset: c.offset,
        reason,
    }
}

/// `atoi` of the four version digits, as Redis parses them.
fn parse_version(digits: &[u8]) -> u32 {
    let mut v: u32 = 0;
    for &d in digits.iter().take_while(|d| d.is_ascii_digit()) {
        v = v * 10 + u32::from(d - b'0');
    }
    v
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Checks an RDB stream, writing the report (after the "Checking" line) to
/// `out`. `now_ms` decides which expires count as already expired.
pub fn check_stream<R: Read, W: Write>(input: R, now_ms: u64, out: &mut W) -> Summary {
    let mut st = State {
        doing: Doing::Start,
        key: None,
        key_type: Some(types::STRING),
        summary: Summary::default(),
    };
    match walk(input, now_ms, &mut st, out) {
        Ok(()) => st.summary.ok = true,
        Err(f) => {
            let _ = writeln!(out, "--- RDB ERROR DETECTED ---");
            let _ = writeln!(out, "[offset {}] {}", f.offset, f.reason);
            let _ = writeln!(out, "[additional info] While doing: {}", st.doing.name());
            if let Some(key) = &st.key {
                let _ = write!(out, "[additional info] Reading key '");
                let _ = out.write_all(c_str(key));
                let _ = writeln!(out, "'");
            }
            if let Some(ty) = st.key_type {
                let _ = writeln!(
                    out,
                    "[additional info] Reading type {ty} ({})",
                    type_name(ty)
                );
            }
        }
    }
    let s = &st.summary;
    let _ = writeln!(out, "[info] {} keys read", s.keys);
    let _ = writeln!(out, "[info] {} expires", s.expires);
    let _ = writeln!(out, "[info] {} already expired", s.already_expired);
    let _ = out.flush();
    st.summary.clone()
}

fn walk<R: Read, W: Write>(
    input: R,
    now_ms: u64,
    st: &mut State,
    out: &mut W,
) -> Result<(), Failure> {
    let mut r = Reader::with_checksum(input);
    let mut magic = [0u8; 9];
    r.exact(&mut magic, "RDB header").map_err(failure)?;
    let (sig, digits) = magic.split_at(5);
    if sig != b"REDIS" {
        return Err(Failure {
            offset: r.pos(),
            reason: "Wrong signature trying to load DB from file".into(),
        });
    }
    let version = parse_version(digits);
    if !(1..=RDB_VERSION_MAX).contains(&version) {
        return Err(Failure {
            offset: r.pos(),
            reason: format!("Can't handle RDB format version {version}"),
        });
    }
    let mut expire_ms: Option<u64> = None;
    loop {
        st.doing = Doing::ReadType;
        let op = r.u8("opcode").map_err(failure)?;
        match op {
            opcode::EXPIRETIME => {
                st.doing = Doing::ReadExpire;
                expire_ms = Some(u64::from(r.u32_le("expire time").map_err(failure)?) * 1000);
            }
            opcode::EXPIRETIME_MS => {
                st.doing = Doing::ReadExpire;
                expire_ms = Some(r.u64_le("expire time").map_err(failure)?);
            }
            // Eviction hints: Redis reads them while still "reading the type".
            opcode::FREQ => {
                r.u8("LFU frequency").map_err(failure)?;
            }
            opcode::IDLE => {
                r.plain_len("LRU idle time").map_err(failure)?;
            }
            opcode::EOF => break,
            opcode::SELECTDB => {
                st.doing = Doing::ReadLen;
                let db = r.plain_len("database number").map_err(failure)?;
                let _ = writeln!(out, "[offset {}] Selecting DB ID {db}", r.pos());
            }
            opcode::RESIZEDB => {
                st.doing = Doing::ReadLen;
                r.plain_len("db size").map_err(failure)?;
                r.plain_len("expires size").map_err(failure)?;
            }
            opcode::AUX => {
                st.doing = Doing::ReadAux;
                let k = r.string("aux field key").map_err(failure)?;
                let v = r.string("aux field value").map_err(failure)?;
                let _ = write!(out, "[offset {}] AUX FIELD ", r.pos());
                let _ = out.write_all(c_str(&k));
                let _ = out.write_all(b" = '");
                let _ = out.write_all(c_str(&v));
                let _ = out.write_all(b"'\n");
            }
            opcode::MODULE_AUX => {
                st.doing = Doing::ReadModuleAux;
                r.plain_len("module id").map_err(failure)?;
                return Err(failure(r.corrupt(
                    "module auxiliary data cannot be checked: no modules are supported",
                )));
            }
            opcode::FUNCTION2 => {
                st.doing = Doing::ReadFunctions;
                r.string("function library").map_err(|c| {
                    let mut f = failure(c);
                    if f.reason.starts_with("Unexpected EOF") {
                        f.reason = "Failed loading library, Failed loading library payload".into();
                    }
                    f
                })?;
            }
            opcode::FUNCTION_PRE_GA => {
                st.doing = Doing::ReadFunctions;
                return Err(failure(
                    r.corrupt("Pre-release function format not supported"),
                ));
            }
            ty if is_value_type(ty) => {
                st.key_type = Some(ty);
                st.doing = Doing::ReadKey;
                let key = r.string("key").map_err(failure)?;
                // Redis counts the key once read, its expire once the
                // value is loaded.
                st.summary.keys += 1;
                st.key = Some(key);
                st.doing = Doing::ReadObjectValue;
                value::read_value(&mut r, ty).map_err(failure)?;
                if let Some(at) = expire_ms.take() {
                    st.summary.expires += 1;
                    if at < now_ms {
                        st.summary.already_expired += 1;
                    }
                }
                st.key = None;
                st.key_type = None;
            }
            ty => {
                return Err(Failure {
                    offset: r.pos(),
                    reason: format!("Invalid object type: {ty}"),
                })
            }
        }
    }
    if version >= 5 {
        st.doing = Doing::CheckSum;
        let computed = r.checksum().unwrap_or(0);
        let stored = r.u64_le("checksum").map_err(failure)?;
        if stored == 0 {
            let _ = writeln!(
                out,
                "[offset {}] RDB file was saved with checksum disabled: no check performed.",
                r.pos()
            );
        } else if stored != computed {
            return Err(Failure {
                offset: r.pos(),
                reason: "RDB CRC error".into(),
            });
        } else {
            let _ = writeln!(out, "[offset {}] Checksum OK", r.pos());
        }
    }
    let _ = writeln!(out, "[offset {}] \\o/ RDB looks OK! \\o/", r.pos());
    Ok(())
}

/// Checks the file at `path`, printing the whole report to `out` (and an
/// open failure to `err`, which Redis leaves silent).
pub fn check_file<W: Write, E: Write>(path: &str, out: &mut W, err: &mut E) -> Summary {
    let _ = writeln!(out, "[offset 0] Checking RDB file {path}");
    let _ = out.flush();
    match File::open(path) {
        Ok(f) => {
            let total = f.metadata().map(|m| m.len()).unwrap_or(0);
            let reader = crate::progress::Progress::new(f, path, total, 0);
            check_stream(BufReader::new(reader), now_ms(), out)
        }
        Err(e) => {
            let _ = writeln!(err, "Cannot open RDB file {path}: {e}");
            Summary::default()
        }
    }
}

/// The command line: `<prog> <rdb-file-name>`. Returns the exit code.
pub fn main_with_args(args: Vec<OsString>) -> i32 {
    let prog = args
        .first()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_else(|| "redis-check-rdb".into());
    let [_, file] = args.as_slice() else {
        let _ = writeln!(io::stderr(), "Usage: {prog} <rdb-file-name>");
        return 1;
    };
    let path = file.to_string_lossy().into_owned();
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let summary = check_file(&path, &mut out, &mut io::stderr());
    if summary.ok {
        0
    } else {
        1
    }
}
