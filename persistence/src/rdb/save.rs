//! Writing an RDB file from a point-in-time snapshot.
//!
//! The executor thread encodes captured segments (`RdbSink`, a
//! `SnapshotSink`) into chunks; a writer thread appends them to a temp file
//! with the running CRC-64, then writes EOF and the checksum, fsyncs, renames
//! over the target and fsyncs the directory. The channel between them is
//! bounded, so the bytes in flight (the snapshot's extra memory) stay bounded.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

use strata_engine::snapshot::{SnapshotEntry, SnapshotSink};

use super::writer::Writer;
use super::{opcode, value, RDB_VERSION_WRITTEN};
use crate::fsutil;

/// Bytes encoded before a chunk is handed to the writer thread.
pub const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks that may wait in the channel (bounds the memory a save uses).
pub const CHUNKS_IN_FLIGHT_MAX: usize = 64;

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

pub struct SaveOptions {
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

enum Msg {
    Data(Vec<u8>),
    Complete,
}

/// The encoding side, run on the executor thread through the door's snapshot hook.
pub struct RdbSink {
    tx: SyncSender<Msg>,
    w: Writer<Vec<u8>>,
    current_db: Option<usize>,
    resized: Vec<bool>,
    db_sizes: Vec<(usize, usize)>,
    access: AccessInfo,
    stats: Arc<SaveStats>,
    failed: bool,
}

/// The save in progress, seen from the server.
pub struct SaveHandle {
    pub result: Receiver<SaveResult>,
    pub stats: Arc<SaveStats>,
}

/// Opens the temp file, writes the header and starts the writer thread.
pub fn start(opts: SaveOptions) -> io::Result<(RdbSink, SaveHandle)> {
    let file = File::create(&opts.temp)?;
    let (tx, rx) = sync_channel::<Msg>(CHUNKS_IN_FLIGHT_MAX);
    let (res_tx, res_rx) = sync_channel::<SaveResult>(1);
    let stats = Arc::new(SaveStats::default());
    let thread_stats = stats.clone();
    let (target, temp, checksum) = (opts.target.clone(), opts.temp.clone(), opts.checksum);
    std::thread::Builder::new()
        .name("rdb-writer".into())
        .spawn(move || {
            let result = write_file(file, rx, &thread_stats, checksum).and_then(|bytes| {
                fsutil::commit_rename(&temp, &target)
                    .map_err(|e| format!("rename of {} failed: {e}", temp.display()))?;
                Ok(bytes)
            });
            if result.is_err() {
                let _ = std::fs::remove_file(&temp);
            }
            let _ = res_tx.send(result);
        })?;
    let mut sink = RdbSink {
        tx,
        w: Writer::without_checksum(Vec::with_capacity(CHUNK_BYTES * 2), opts.compress),
        current_db: None,
        resized: vec![false; opts.db_sizes.len()],
        db_sizes: opts.db_sizes,
        access: opts.access,
        stats: stats.clone(),
        failed: false,
    };
    sink.header(&opts.aux, &opts.functions);
    Ok((
        sink,
        SaveHandle {
            result: res_rx,
            stats,
        },
    ))
}

fn write_file(file: File, rx: Receiver<Msg>, stats: &SaveStats, checksum: bool) -> SaveResult {
    let mut out = BufWriter::with_capacity(256 * 1024, file);
    let mut digest = crate::crc64::digest();
    let mut bytes = 0u64;
    let mut complete = false;
    for msg in rx {
        match msg {
            Msg::Data(chunk) => {
                stats
                    .bytes_in_flight
                    .fetch_sub(chunk.len() as u64, Ordering::Relaxed);
                if checksum {
                    digest.update(&chunk);
                }
                out.write_all(&chunk)
                    .map_err(|e| format!("Write error saving DB on disk: {e}"))?;
                bytes += chunk.len() as u64;
            }
            Msg::Complete => {
                complete = true;
                break;
            }
        }
    }
    if !complete {
        return Err("snapshot aborted".into());
    }
    let eof = [opcode::EOF];
    digest.update(&eof);
    out.write_all(&eof)
        .map_err(|e| format!("Write error saving DB on disk: {e}"))?;
    let crc = if checksum { digest.finalize() } else { 0 };
    out.write_all(&crc.to_le_bytes())
        .map_err(|e| format!("Write error saving DB on disk: {e}"))?;
    let file = out
        .into_inner()
        .map_err(|e| format!("Write error saving DB on disk: {e}"))?;
    file.sync_all()
        .map_err(|e| format!("fsync error saving DB on disk: {e}"))?;
    Ok(bytes + 9)
}

impl RdbSink {
    fn header(&mut self, aux: &[(String, String)], functions: &[Vec<u8>]) {
        let mut ok = self
            .w
            .raw(format!("REDIS{RDB_VERSION_WRITTEN:04}").as_bytes())
            .is_ok();
        for (k, v) in aux {
            ok &= self.w.u8(opcode::AUX).is_ok()
                && self.w.string(k.as_bytes()).is_ok()
                && self.w.string(v.as_bytes()).is_ok();
        }
        for f in functions {
            ok &= self.w.u8(opcode::FUNCTION2).is_ok() && self.w.string(f).is_ok();
        }
        if !ok {
            self.failed = true;
        }
    }

    fn flush_chunk(&mut self, force: bool) {
        if self.failed
            || (!force && self.w.inner_mut().len() < CHUNK_BYTES)
            || self.w.inner_mut().is_empty()
        {
            return;
        }
        let chunk = std::mem::replace(self.w.inner_mut(), Vec::with_capacity(CHUNK_BYTES * 2));
        let n = chunk.len() as u64;
        let now = self.stats.bytes_in_flight.fetch_add(n, Ordering::Relaxed) + n;
        self.stats
            .peak_bytes_in_flight
            .fetch_max(now, Ordering::Relaxed);
        if self.tx.send(Msg::Data(chunk)).is_err() {
            // The writer thread failed; it reports why through the result channel.
            self.failed = true;
        }
    }

    fn entry(&mut self, e: &SnapshotEntry<'_>) -> io::Result<()> {
        if let Some(at) = e.expire_at_ms {
            self.w.u8(opcode::EXPIRETIME_MS)?;
            self.w.raw(&at.to_le_bytes())?;
        }
        match self.access {
            AccessInfo::None => {}
            AccessInfo::Lru { now_s } => {
                let clock = now_s & 0xFF_FFFF;
                let idle = if clock >= e.lru {
                    clock - e.lru
                } else {
                    0xFF_FFFF - e.lru + clock
                };
                self.w.u8(opcode::IDLE)?;
                self.w.len(idle as u64)?;
            }
            AccessInfo::Lfu => {
                self.w.u8(opcode::FREQ)?;
                self.w.u8((e.lru & 0xFF) as u8)?;
            }
        }
        self.w.u8(value::type_byte(e.value))?;
        self.w.string(e.key)?;
        value::write_payload(&mut self.w, e.value)
    }
}

impl SnapshotSink for RdbSink {
    fn segment(&mut self, db: usize, entries: &mut dyn Iterator<Item = SnapshotEntry<'_>>) {
        if self.failed {
            return;
        }
        if self.current_db != Some(db) {
            let mut ok = self.w.u8(opcode::SELECTDB).is_ok() && self.w.len(db as u64).is_ok();
            if !self.resized.get(db).copied().unwrap_or(true) {
                let (keys, expires) = self.db_sizes.get(db).copied().unwrap_or((0, 0));
                ok &= self.w.u8(opcode::RESIZEDB).is_ok()
                    && self.w.len(keys as u64).is_ok()
                    && self.w.len(expires as u64).is_ok();
                if let Some(r) = self.resized.get_mut(db) {
                    *r = true;
                }
            }
            if !ok {
                self.failed = true;
                return;
            }
            self.current_db = Some(db);
        }
        let mut n = 0u64;
        for e in entries {
            if self.entry(&e).is_err() {
                self.failed = true;
                return;
            }
            n += 1;
            self.flush_chunk(false);
        }
        self.stats.keys_written.fetch_add(n, Ordering::Relaxed);
    }

    fn complete(&mut self) {
        self.flush_chunk(true);
        if !self.failed {
            let _ = self.tx.send(Msg::Complete);
        }
    }
}
