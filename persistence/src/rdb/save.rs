//! Writing an RDB file from a point-in-time snapshot.
//!
//! Two sides:
//! - `RdbSink` runs on the executor thread inside the door's snapshot hook: it
//!   only copies the captured entries into batches (a memcpy per value), so a
//!   write that forces a capture waits microseconds, not an encode;
//! - an encoder thread turns batches into RDB bytes (LZF, CRC-64), writes the
//!   temp file, then EOF and the checksum, fsyncs, renames over the target and
//!   fsyncs the directory.
//!
//! The bytes queued between them are the snapshot's extra memory; the sink
//! asks the background walk to wait (`wants_more`) above
//! `QUEUED_BYTES_SOFT_MAX`, so it stays a small, bounded amount.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender};
use std::sync::Arc;

use strata_engine::snapshot::{SnapshotEntry, SnapshotSink};
use strata_engine::value::{StrValue, Value};

use super::writer::Writer;
use super::{opcode, value, RDB_VERSION_WRITTEN};
use crate::aof::rewrite::CommandWriter;
use crate::fsutil;

/// Copied bytes gathered before a batch goes to the encoder thread.
pub const BATCH_BYTES: usize = 256 * 1024;
/// Above this many queued bytes the background walk pauses.
pub const QUEUED_BYTES_SOFT_MAX: u64 = 16 * 1024 * 1024;
/// Fixed overhead counted per copied entry.
const ENTRY_OVERHEAD_BYTES: usize = 64;
/// The encoder thread's nice value: the lowest priority. Redis's fork child
/// competes with the server as an equal; here the encoder takes the CPU time
/// the executor and the clients on the same machine leave, so commands keep
/// their latency and throughput during a save, which takes longer when the
/// machine is busy. (Not SCHED_IDLE: on a saturated machine that would all
/// but stop the save, and an unprivileged thread cannot leave it again.) The
/// queue bound above keeps the memory cost flat however long it takes.
const ENCODER_NICE: i32 = 19;

/// How access information is saved (only under an LRU or LFU maxmemory policy).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessInfo {
    None,
    /// Save idle seconds computed from the LRU clock at `now_s`.
    Lru {
        now_s: u32,
    },
    /// Save the LFU counter.
    Lfu,
}

/// What the encoder writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaveFormat {
    /// An RDB file (dump.rdb, or an AOF base with the RDB preamble).
    Rdb,
    /// AOF commands (an AOF base with `aof-use-rdb-preamble no`).
    AofCommands,
}

pub struct SaveOptions {
    pub format: SaveFormat,
    /// A command base starts with `#TS:<this>` (`aof-timestamp-enabled`).
    pub timestamp_s: Option<u64>,
    pub target: PathBuf,
    pub temp: PathBuf,
    pub compress: bool,
    pub checksum: bool,
    pub aux: Vec<(String, String)>,
    pub access: AccessInfo,
    /// (keys, keys with expiry) per database when the snapshot began.
    pub db_sizes: Vec<(usize, usize)>,
    /// Function library sources (FUNCTION2 records).
    pub functions: Vec<Vec<u8>>,
}

/// Counters shared with the server (INFO persistence).
#[derive(Default)]
pub struct SaveStats {
    pub bytes_in_flight: AtomicU64,
    pub peak_bytes_in_flight: AtomicU64,
    pub keys_written: AtomicU64,
}

pub type SaveResult = Result<u64, String>;

struct Owned {
    key: Box<[u8]>,
    value: Value,
    expire_at_ms: Option<u64>,
    lru: u32,
}

struct Batch {
    db: usize,
    entries: Vec<Owned>,
    /// String entries, serialized back to back (see `RawStrings`): copying
    /// them costs the executor one memcpy each and no allocation, and the
    /// encoder frees one buffer instead of two allocations per key.
    raw: Vec<u8>,
    raw_count: u64,
    bytes: u64,
}

impl Batch {
    fn new(db: usize) -> Batch {
        Batch {
            db,
            entries: Vec::new(),
            raw: Vec::new(),
            raw_count: 0,
            bytes: 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.raw.is_empty()
    }

    fn count(&self) -> u64 {
        self.entries.len() as u64 + self.raw_count
    }

    /// Appends a string entry: flags (1 = expiry, 2 = integer), [expiry ms],
    /// LRU word, key length and key, then the integer or length and bytes.
    fn push_raw(&mut self, key: &[u8], value: &StrValue, expire_at_ms: Option<u64>, lru: u32) {
        let start = self.raw.len();
        let int = match value {
            StrValue::Int(n) => Some(*n),
            _ => None,
        };
        let flags = u8::from(expire_at_ms.is_some()) | (u8::from(int.is_some()) << 1);
        self.raw.push(flags);
        if let Some(at) = expire_at_ms {
            self.raw.extend_from_slice(&at.to_le_bytes());
        }
        self.raw.extend_from_slice(&lru.to_le_bytes());
        self.raw
            .extend_from_slice(&(key.len() as u64).to_le_bytes());
        self.raw.extend_from_slice(key);
        match int {
            Some(n) => self.raw.extend_from_slice(&n.to_le_bytes()),
            None => value.with_bytes(|b| {
                self.raw.extend_from_slice(&(b.len() as u64).to_le_bytes());
                self.raw.extend_from_slice(b);
            }),
        }
        self.raw_count += 1;
        self.bytes += (self.raw.len() - start) as u64;
    }
}

/// A string entry read back from `Batch::raw`.
struct RawString<'a> {
    key: &'a [u8],
    value: RawValue<'a>,
    expire_at_ms: Option<u64>,
    lru: u32,
}

enum RawValue<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

/// Iterates `Batch::raw`. The buffer was written by `push_raw` in this
/// process, so a short read can only mean a bug; it ends the iteration.
struct RawStrings<'a> {
    buf: &'a [u8],
}

impl<'a> RawStrings<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.buf.len() < n {
            return None;
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Some(head)
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

impl<'a> Iterator for RawStrings<'a> {
    type Item = RawString<'a>;
    fn next(&mut self) -> Option<RawString<'a>> {
        let flags = *self.take(1)?.first()?;
        let expire_at_ms = if flags & 1 != 0 {
            Some(self.u64()?)
        } else {
            None
        };
        let lru = u32::from_le_bytes(self.take(4)?.try_into().ok()?);
        let key_len = usize::try_from(self.u64()?).ok()?;
        let key = self.take(key_len)?;
        let value = if flags & 2 != 0 {
            RawValue::Int(self.u64()? as i64)
        } else {
            let len = usize::try_from(self.u64()?).ok()?;
            RawValue::Bytes(self.take(len)?)
        };
        Some(RawString {
            key,
            value,
            expire_at_ms,
            lru,
        })
    }
}

enum Msg {
    Batch(Batch),
    Complete,
}

/// The executor side: copies captured entries and queues them.
pub struct RdbSink {
    tx: Sender<Msg>,
    batch: Batch,
    stats: Arc<SaveStats>,
    failed: bool,
}

/// The save in progress, seen from the server.
pub struct SaveHandle {
    pub result: Receiver<SaveResult>,
    pub stats: Arc<SaveStats>,
}

/// Opens the temp file and starts the encoder thread (which writes the header).
pub fn start(opts: SaveOptions) -> io::Result<(RdbSink, SaveHandle)> {
    let file = File::create(&opts.temp)?;
    let (tx, rx) = channel::<Msg>();
    let (res_tx, res_rx) = sync_channel::<SaveResult>(1);
    let stats = Arc::new(SaveStats::default());
    let thread_stats = stats.clone();
    std::thread::Builder::new()
        .name("rdb-writer".into())
        .spawn(move || {
            lower_thread_priority(ENCODER_NICE);
            let (target, temp) = (opts.target.clone(), opts.temp.clone());
            let result = encode_file(file, rx, &thread_stats, &opts).and_then(|bytes| {
                fsutil::commit_rename(&temp, &target)
                    .map_err(|e| format!("rename of {} failed: {e}", temp.display()))?;
                Ok(bytes)
            });
            if result.is_err() {
                let _ = std::fs::remove_file(&temp);
            }
            let _ = res_tx.send(result);
        })?;
    let sink = RdbSink {
        tx,
        batch: Batch::new(0),
        stats: stats.clone(),
        failed: false,
    };
    Ok((
        sink,
        SaveHandle {
            result: res_rx,
            stats,
        },
    ))
}

/// Lowers the calling thread's scheduling priority (Linux: a nice value is
/// per thread). Best effort: a failure leaves the default priority.
fn lower_thread_priority(nice: i32) {
    // SAFETY: gettid and setpriority take and return plain integers and
    // touch no memory of ours.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, nice);
    }
}

fn io_err(e: io::Error) -> String {
    format!("Write error saving DB on disk: {e}")
}

/// The encoder thread: header, batches, EOF, checksum, fsync.
fn encode_file(file: File, rx: Receiver<Msg>, stats: &SaveStats, opts: &SaveOptions) -> SaveResult {
    if opts.format == SaveFormat::AofCommands {
        return encode_commands(file, rx, stats, opts);
    }
    let out = BufWriter::with_capacity(1 << 20, file);
    let mut w = if opts.checksum {
        Writer::new(out, opts.compress)
    } else {
        Writer::without_checksum(out, opts.compress)
    };
    w.raw(format!("REDIS{RDB_VERSION_WRITTEN:04}").as_bytes())
        .map_err(io_err)?;
    for (k, v) in &opts.aux {
        w.u8(opcode::AUX).map_err(io_err)?;
        w.string(k.as_bytes()).map_err(io_err)?;
        w.string(v.as_bytes()).map_err(io_err)?;
    }
    for f in &opts.functions {
        w.u8(opcode::FUNCTION2).map_err(io_err)?;
        w.string(f).map_err(io_err)?;
    }
    let mut resized = vec![false; opts.db_sizes.len()];
    drain_batches(rx, stats, |batch, db_changed| {
        if db_changed {
            w.u8(opcode::SELECTDB)?;
            w.len(batch.db as u64)?;
            if let Some(r) = resized.get_mut(batch.db).filter(|r| !**r) {
                let (keys, expires) = opts.db_sizes.get(batch.db).copied().unwrap_or((0, 0));
                w.u8(opcode::RESIZEDB)?;
                w.len(keys as u64)?;
                w.len(expires as u64)?;
                *r = true;
            }
        }
        for e in (RawStrings { buf: &batch.raw }) {
            write_raw_string(&mut w, &e, opts.access)?;
        }
        for e in &batch.entries {
            write_entry(&mut w, e, opts.access)?;
        }
        Ok(())
    })?;
    w.u8(opcode::EOF).map_err(io_err)?;
    let crc = if opts.checksum { w.checksum() } else { 0 };
    w.raw(&crc.to_le_bytes()).map_err(io_err)?;
    let written = w.written();
    let file = w
        .into_inner()
        .into_inner()
        .map_err(|e| io_err(e.into_error()))?;
    file.sync_all()
        .map_err(|e| format!("fsync error saving DB on disk: {e}"))?;
    Ok(written)
}

/// The encoder thread for a command base: FUNCTION LOAD, then per database
/// SELECT and each key's commands; fsync.
fn encode_commands(
    file: File,
    rx: Receiver<Msg>,
    stats: &SaveStats,
    opts: &SaveOptions,
) -> SaveResult {
    let mut w = CommandWriter::new(CountingWriter {
        inner: BufWriter::with_capacity(1 << 20, file),
        written: 0,
    });
    if let Some(ts) = opts.timestamp_s {
        w.annotation(&format!("#TS:{ts}")).map_err(io_err)?;
    }
    for f in &opts.functions {
        w.function_load(f).map_err(io_err)?;
    }
    drain_batches(rx, stats, |batch, db_changed| {
        if db_changed {
            w.select(batch.db)?;
        }
        for e in (RawStrings { buf: &batch.raw }) {
            match e.value {
                RawValue::Int(n) => {
                    let mut buf = [0u8; 24];
                    let text = strata_engine::value::fmt_i64(n, &mut buf);
                    w.string_key(e.key, text, e.expire_at_ms)
                }
                RawValue::Bytes(b) => w.string_key(e.key, b, e.expire_at_ms),
            }?;
        }
        for e in &batch.entries {
            w.key(&e.key, &e.value, e.expire_at_ms)?;
        }
        Ok(())
    })?;
    let out = w.into_inner();
    let written = out.written;
    let file = out.inner.into_inner().map_err(|e| io_err(e.into_error()))?;
    file.sync_all()
        .map_err(|e| format!("fsync error saving DB on disk: {e}"))?;
    Ok(written)
}

/// Hands each batch to `write` (with whether its db differs from the last
/// one's) and keeps the shared counters; fails if the snapshot was dropped
/// before it completed.
fn drain_batches(
    rx: Receiver<Msg>,
    stats: &SaveStats,
    mut write: impl FnMut(&Batch, bool) -> io::Result<()>,
) -> Result<(), String> {
    let mut current_db: Option<usize> = None;
    for msg in rx {
        let batch = match msg {
            Msg::Batch(b) => b,
            Msg::Complete => return Ok(()),
        };
        write(&batch, current_db != Some(batch.db)).map_err(io_err)?;
        current_db = Some(batch.db);
        stats
            .keys_written
            .fetch_add(batch.count(), Ordering::Relaxed);
        stats
            .bytes_in_flight
            .fetch_sub(batch.bytes, Ordering::Relaxed);
    }
    Err("snapshot aborted".into())
}

/// Counts the bytes written through it.
struct CountingWriter<W: Write> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn write_raw_string<W: Write>(
    w: &mut Writer<W>,
    e: &RawString<'_>,
    access: AccessInfo,
) -> io::Result<()> {
    write_entry_head(w, e.expire_at_ms, e.lru, access)?;
    w.u8(super::types::STRING)?;
    w.string(e.key)?;
    match e.value {
        RawValue::Int(n) => w.int_string(n),
        RawValue::Bytes(b) => w.string(b),
    }
}

fn write_entry<W: Write>(w: &mut Writer<W>, e: &Owned, access: AccessInfo) -> io::Result<()> {
    write_entry_head(w, e.expire_at_ms, e.lru, access)?;
    w.u8(value::type_byte(&e.value))?;
    w.string(&e.key)?;
    value::write_payload(w, &e.value)
}

/// The expiry and access-information opcodes before an entry.
fn write_entry_head<W: Write>(
    w: &mut Writer<W>,
    expire_at_ms: Option<u64>,
    lru: u32,
    access: AccessInfo,
) -> io::Result<()> {
    if let Some(at) = expire_at_ms {
        w.u8(opcode::EXPIRETIME_MS)?;
        w.raw(&at.to_le_bytes())?;
    }
    match access {
        AccessInfo::None => {}
        AccessInfo::Lru { now_s } => {
            let clock = now_s & 0xFF_FFFF;
            let idle = if clock >= lru {
                clock - lru
            } else {
                0xFF_FFFF - lru + clock
            };
            w.u8(opcode::IDLE)?;
            w.len(idle as u64)?;
        }
        AccessInfo::Lfu => {
            w.u8(opcode::FREQ)?;
            w.u8((lru & 0xFF) as u8)?;
        }
    }
    Ok(())
}

impl RdbSink {
    fn flush_batch(&mut self) {
        if self.batch.is_empty() || self.failed {
            return;
        }
        let db = self.batch.db;
        let batch = std::mem::replace(&mut self.batch, Batch::new(db));
        let n = batch.bytes;
        let now = self.stats.bytes_in_flight.fetch_add(n, Ordering::Relaxed) + n;
        self.stats
            .peak_bytes_in_flight
            .fetch_max(now, Ordering::Relaxed);
        if self.tx.send(Msg::Batch(batch)).is_err() {
            // The encoder failed; it reports why through the result channel.
            self.failed = true;
        }
    }
}

impl SnapshotSink for RdbSink {
    fn segment(&mut self, db: usize, entries: &mut dyn Iterator<Item = SnapshotEntry<'_>>) {
        if self.failed {
            return;
        }
        if db != self.batch.db {
            self.flush_batch();
            self.batch.db = db;
        }
        for e in entries {
            if let Value::Str(sv) = e.value {
                self.batch.push_raw(e.key, sv, e.expire_at_ms, e.lru);
                continue;
            }
            self.batch.bytes += (e.key.len() + e.value.mem_bytes() + ENTRY_OVERHEAD_BYTES) as u64;
            self.batch.entries.push(Owned {
                key: e.key.into(),
                value: e.value.clone(),
                expire_at_ms: e.expire_at_ms,
                lru: e.lru,
            });
        }
        if self.batch.bytes as usize >= BATCH_BYTES {
            self.flush_batch();
        }
    }

    fn complete(&mut self) {
        self.flush_batch();
        if !self.failed {
            let _ = self.tx.send(Msg::Complete);
        }
    }

    fn wants_more(&self) -> bool {
        self.stats.bytes_in_flight.load(Ordering::Relaxed) + self.batch.bytes
            < QUEUED_BYTES_SOFT_MAX
    }
}

#[cfg(test)]
mod raw_tests {
    use super::*;
    use strata_engine::thin::ThinBytes;

    #[test]
    fn raw_strings_read_back_as_written() {
        let mut b = Batch::new(0);
        b.push_raw(b"k1", &StrValue::Int(-42), None, 7);
        b.push_raw(b"", &StrValue::Raw(ThinBytes::from_slice(b"")), Some(99), 0);
        let long = vec![b'x'; 70_000];
        b.push_raw(
            &long,
            &StrValue::Embstr(ThinBytes::from_slice(&long)),
            Some(u64::MAX),
            u32::MAX,
        );
        assert_eq!(b.count(), 3);
        let got: Vec<_> = RawStrings { buf: &b.raw }.collect();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].key, b"k1");
        assert!(matches!(got[0].value, RawValue::Int(-42)));
        assert_eq!((got[0].expire_at_ms, got[0].lru), (None, 7));
        assert!(matches!(got[1].value, RawValue::Bytes(b) if b.is_empty()));
        assert_eq!(got[1].expire_at_ms, Some(99));
        assert_eq!(got[2].key, &long[..]);
        assert!(matches!(got[2].value, RawValue::Bytes(v) if v == &long[..]));
        assert_eq!(
            (got[2].expire_at_ms, got[2].lru),
            (Some(u64::MAX), u32::MAX)
        );
    }
}
