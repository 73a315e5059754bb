//! Appending to the current incr file with Redis's fsync policies.
//!
//! The executor appends encoded commands to `buf` while it serves a loop turn
//! and calls `flush` once before any reply of that turn is written:
//! - `always`: write and fdatasync right there, so one fsync covers every
//!   client served in the turn (group commit);
//! - `everysec`: write; an fsync job goes to a helper thread about once a
//!   second. While a job has been running for more than 2 s, writes are
//!   postponed (up to 2 s) as Redis does, then done anyway (`delayed_fsyncs`);
//! - `no`: write; the kernel decides when data reaches the disk.
//!
//! A failed write is trimmed back to the last good size (a partial command
//! never stays in the file) and reported; an fsync failure is never retried
//! silently: the writer stays in error until the caller resets it.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;

/// How long an everysec fsync may run before writes are postponed.
pub const FSYNC_STUCK_MS: u64 = 2000;
/// How long a write may be postponed behind a stuck fsync.
pub const WRITE_POSTPONE_MAX_MS: u64 = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    Always,
    EverySec,
    No,
}

impl Fsync {
    pub fn parse(s: &str) -> Option<Fsync> {
        match s.to_ascii_lowercase().as_str() {
            "always" => Some(Fsync::Always),
            "everysec" => Some(Fsync::EverySec),
            "no" => Some(Fsync::No),
            _ => None,
        }
    }
}

/// A test seam: when set (env `STRATA_TEST_SYNC_LOG`, read once), every
/// successful fsync of an incr file appends the file length it covered, so a
/// power-loss test can cut the file back to what really reached the disk.
fn sync_log() -> Option<&'static std::sync::Mutex<File>> {
    static LOG: std::sync::OnceLock<Option<std::sync::Mutex<File>>> = std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        let path = std::env::var_os("STRATA_TEST_SYNC_LOG")?;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok()
            .map(std::sync::Mutex::new)
    })
    .as_ref()
}

fn record_synced(len: u64) {
    if let Some(log) = sync_log() {
        if let Ok(mut f) = log.lock() {
            let _ = writeln!(f, "{len}");
        }
    }
}

/// The helper thread that runs everysec fsyncs.
struct FsyncThread {
    jobs: Sender<(Arc<File>, u64)>,
    /// Unix ms when the running job started, 0 when idle.
    running_since_ms: Arc<AtomicU64>,
    failed: Arc<AtomicBool>,
}

impl FsyncThread {
    fn start() -> io::Result<FsyncThread> {
        let (jobs, rx) = channel::<(Arc<File>, u64)>();
        let running_since_ms = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicBool::new(false));
        let (r, f) = (running_since_ms.clone(), failed.clone());
        std::thread::Builder::new()
            .name("aof-fsync".into())
            .spawn(move || {
                for (file, len) in rx {
                    if file.sync_data().is_err() {
                        f.store(true, Ordering::SeqCst);
                    } else {
                        record_synced(len);
                    }
                    r.store(0, Ordering::SeqCst);
                }
            })?;
        Ok(FsyncThread {
            jobs,
            running_since_ms,
            failed,
        })
    }
}

pub struct AofWriter {
    file: Arc<File>,
    pub buf: Vec<u8>,
    pub policy: Fsync,
    /// Bytes in the current incr file.
    pub size: u64,
    last_fsync_ms: u64,
    postponed_since_ms: Option<u64>,
    bg: Option<FsyncThread>,
    /// Why the last write or fsync failed (writes are refused meanwhile).
    pub error: Option<String>,
    pub delayed_fsyncs: u64,
    /// The db the last appended command ran in (a SELECT is emitted on change).
    pub selected_db: Option<usize>,
    /// Bytes written since the last fsync was started.
    unsynced: bool,
    /// `no-appendfsync-on-rewrite yes` while a rewrite or save runs: write,
    /// but leave the fsync for later (the bytes stay marked unsynced).
    pub fsync_paused: bool,
}

impl AofWriter {
    pub fn new(file: File, policy: Fsync, now_ms: u64) -> io::Result<AofWriter> {
        let size = file.metadata()?.len();
        let bg = if policy == Fsync::EverySec {
            Some(FsyncThread::start()?)
        } else {
            None
        };
        Ok(AofWriter {
            file: Arc::new(file),
            buf: Vec::new(),
            policy,
            size,
            last_fsync_ms: now_ms,
            postponed_since_ms: None,
            bg,
            error: None,
            delayed_fsyncs: 0,
            selected_db: None,
            unsynced: false,
            fsync_paused: false,
        })
    }

    /// Switches to a new incr file (after flushing what is buffered).
    pub fn switch_file(&mut self, file: File, now_ms: u64) -> io::Result<()> {
        self.flush(now_ms, true);
        if self.policy != Fsync::No {
            let _ = self.file.sync_data();
        }
        self.size = file.metadata()?.len();
        self.file = Arc::new(file);
        self.selected_db = None;
        Ok(())
    }

    pub fn set_policy(&mut self, policy: Fsync) -> io::Result<()> {
        if policy == Fsync::EverySec && self.bg.is_none() {
            self.bg = Some(FsyncThread::start()?);
        }
        self.policy = policy;
        Ok(())
    }

    /// Appends one command (and a SELECT first if the db changed).
    pub fn append(&mut self, db: usize, argv: &[&[u8]]) {
        if self.selected_db != Some(db) {
            let n = db.to_string();
            encode_command(&mut self.buf, &[b"SELECT", n.as_bytes()]);
            self.selected_db = Some(db);
        }
        encode_command(&mut self.buf, argv);
    }

    /// Appends bytes already encoded (annotations).
    pub fn append_raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Whether an everysec fsync is still running on the helper thread.
    pub fn fsync_in_progress(&self) -> bool {
        self.bg
            .as_ref()
            .is_some_and(|b| b.running_since_ms.load(Ordering::SeqCst) != 0)
    }

    /// Writes the buffer (and fsyncs per policy). `force` writes even behind a
    /// stuck fsync. Returns false if the write was postponed.
    pub fn flush(&mut self, now_ms: u64, force: bool) -> bool {
        if let Some(bg) = &self.bg {
            if bg.failed.swap(false, Ordering::SeqCst) {
                self.error = Some("fsync error in the background".into());
            }
        }
        if self.buf.is_empty() {
            self.maybe_fsync(now_ms);
            return true;
        }
        if self.policy == Fsync::EverySec && !force {
            let since = self
                .bg
                .as_ref()
                .map_or(0, |b| b.running_since_ms.load(Ordering::SeqCst));
            if since != 0 && now_ms.saturating_sub(since) > FSYNC_STUCK_MS {
                let first = *self.postponed_since_ms.get_or_insert(now_ms);
                if now_ms.saturating_sub(first) < WRITE_POSTPONE_MAX_MS {
                    return false;
                }
                self.delayed_fsyncs += 1;
            }
        }
        self.postponed_since_ms = None;
        match (&*self.file).write_all(&self.buf) {
            Ok(()) => {
                self.size += self.buf.len() as u64;
                self.buf.clear();
                self.error = None;
                self.unsynced = true;
            }
            Err(e) => {
                // Trim a partial write back, as Redis does.
                let _ = self.file.set_len(self.size);
                self.error = Some(format!("{e}"));
                return true;
            }
        }
        self.maybe_fsync(now_ms);
        true
    }

    fn maybe_fsync(&mut self, now_ms: u64) {
        if !self.unsynced || self.fsync_paused {
            return;
        }
        match self.policy {
            Fsync::Always => {
                if now_ms != u64::MAX {
                    self.unsynced = false;
                    match self.file.sync_data() {
                        Ok(()) => record_synced(self.size),
                        Err(e) => self.error = Some(format!("fsync: {e}")),
                    }
                    self.last_fsync_ms = now_ms;
                }
            }
            Fsync::EverySec => {
                if now_ms.saturating_sub(self.last_fsync_ms) >= 1000 && !self.fsync_in_progress() {
                    if let Some(bg) = &self.bg {
                        self.unsynced = false;
                        bg.running_since_ms.store(now_ms.max(1), Ordering::SeqCst);
                        if bg.jobs.send((self.file.clone(), self.size)).is_err() {
                            bg.running_since_ms.store(0, Ordering::SeqCst);
                        }
                    }
                    self.last_fsync_ms = now_ms;
                }
            }
            Fsync::No => {}
        }
    }

    /// Fsyncs now on this thread (shutdown, rewrite switch).
    pub fn sync_now(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    pub fn fd(&self) -> i32 {
        self.file.as_raw_fd()
    }
}

/// RESP encoding of a command.
pub fn encode_command(out: &mut Vec<u8>, argv: &[&[u8]]) {
    // On the write path of every command: no formatting machinery.
    let body: usize = argv.iter().map(|a| a.len() + 16).sum();
    out.reserve(body + 16);
    push_header(out, b'*', argv.len());
    for a in argv {
        push_header(out, b'$', a.len());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// `<prefix><n>\r\n`.
fn push_header(out: &mut Vec<u8>, prefix: u8, n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut v = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.push(prefix);
    out.extend_from_slice(&digits[i..]);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_encode_as_resp_arrays() {
        let mut out = Vec::new();
        let long = [b'x'; 12];
        encode_command(&mut out, &[b"SET", b"", &long]);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$0\r\n\r\n$12\r\nxxxxxxxxxxxx\r\n");
    }
    use crate::aof::reader::{AofReader, Item};

    #[test]
    fn paused_fsync_keeps_the_bytes_marked_unsynced() {
        let path = std::env::temp_dir().join(format!("strata-aofw-pause-{}", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .read(true)
            .open(&path)
            .unwrap();
        let mut w = AofWriter::new(file, Fsync::Always, 1).unwrap();
        w.fsync_paused = true;
        w.append(0, &[b"SET", b"a", b"1"]);
        assert!(w.flush(2, false));
        assert!(w.unsynced, "no fsync while paused");
        w.fsync_paused = false;
        assert!(w.flush(3, false));
        assert!(!w.unsynced, "the next flush fsyncs what was left");
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn appends_select_and_commands_readable_back() {
        let path = std::env::temp_dir().join(format!("strata-aofw-{}", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .read(true)
            .open(&path)
            .unwrap();
        let mut w = AofWriter::new(file, Fsync::Always, 1).unwrap();
        w.append(0, &[b"SET", b"a", b"1"]);
        w.append(0, &[b"SET", b"b", b"2"]);
        w.append(3, &[b"DEL", b"a"]);
        assert!(w.flush(2, false));
        assert!(w.error.is_none());
        let data = std::fs::read(&path).unwrap();
        assert_eq!(w.size, data.len() as u64);
        let mut r = AofReader::new(&data[..]);
        let mut names = Vec::new();
        while let Some(Item::Command { argv, .. }) = r.next_item().unwrap() {
            names.push(String::from_utf8(argv[0].clone()).unwrap());
        }
        assert_eq!(names, ["SELECT", "SET", "SET", "SELECT", "DEL"]);
        std::fs::remove_file(&path).unwrap();
    }
}
