//! `strata-check-aof` / `redis-check-aof`: checks an AOF (a manifest and the
//! files it lists, or a single file) the way Redis 7.0's `redis-check-aof`
//! does, with the same command line, messages and exit codes, and can
//! truncate a torn tail (`--fix`) or cut at a `#TS:` annotation
//! (`--truncate-to-timestamp`).
//!
//! Invariants: memory is bounded whatever the file declares (arguments are
//! skipped in fixed-size chunks, header lines are read at most
//! `LINE_BYTES_MAX` bytes at a time, as Redis's `fgets` does); only the last
//! file of a multi-part set is ever truncated; nothing panics on any input.
//! Redis reads header lines into a fixed buffer and, on a short line, reports
//! the stale bytes left in it: `LineBuf` keeps that buffer so the
//! "Expected \r\n, got: ..." bytes match.
#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::fs::{File, OpenOptions};
use std::io::{BufRead, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use strata_persistence::aof::manifest::{FileType, Manifest};
use strata_persistence::rdb::load;

/// Size of Redis's header line buffer (fgets reads one byte less).
const LINE_BUF_BYTES: usize = 128;
/// Chunk used to skip over argument bytes without holding them.
const SKIP_CHUNK_BYTES: usize = 64 * 1024;
/// Longest argument kept in memory (only the first argument, to spot
/// MULTI/EXEC, is compared; longer ones cannot be either).
const ARG_KEEP_BYTES_MAX: usize = 16;
/// Largest manifest read into memory.
const MANIFEST_BYTES_MAX: u64 = 16 << 20;

/// A file read with a position, a one-line lookahead and EOF detection.
struct Src {
    inner: Box<dyn Read>,
    buf: Vec<u8>,
    head: usize,
    pos: u64,
    eof: bool,
}

impl Src {
    fn new(inner: Box<dyn Read>, pos: u64) -> Src {
        Src {
            inner,
            buf: Vec::new(),
            head: 0,
            pos,
            eof: false,
        }
    }

    /// Makes at least `n` bytes available unless the stream ends first.
    fn ensure(&mut self, n: usize) -> std::io::Result<()> {
        if self.head > 0 && self.head >= self.buf.len() / 2 {
            self.buf.drain(..self.head);
            self.head = 0;
        }
        while self.buf.len() - self.head < n && !self.eof {
            let mut chunk = [0u8; 8192];
            let got = loop {
                match self.inner.read(&mut chunk) {
                    Ok(g) => break g,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            };
            if got == 0 {
                self.eof = true;
            }
            self.buf.extend_from_slice(chunk.get(..got).unwrap_or(&[]));
        }
        Ok(())
    }

    fn avail(&self) -> &[u8] {
        self.buf.get(self.head..).unwrap_or(&[])
    }

    /// The next line as `fgets` with a `LINE_BUF_BYTES` buffer would read it
    /// (at most 127 bytes, through the first '\n'); empty at end of stream.
    fn peek_line(&mut self) -> std::io::Result<Vec<u8>> {
        self.ensure(LINE_BUF_BYTES - 1)?;
        let a = self.avail();
        let lim = a.len().min(LINE_BUF_BYTES - 1);
        let win = a.get(..lim).unwrap_or(&[]);
        let n = win.iter().position(|&b| b == b'\n').map_or(lim, |i| i + 1);
        Ok(win.get(..n).unwrap_or(&[]).to_vec())
    }

    fn consume(&mut self, n: usize) {
        self.head += n;
        self.pos += n as u64;
    }

    /// Reads up to `n` bytes, keeping the first `ARG_KEEP_BYTES_MAX` and
    /// the last two; returns how many were read.
    fn read_count(
        &mut self,
        n: u64,
        keep: &mut Vec<u8>,
        tail: &mut [u8; 2],
    ) -> std::io::Result<u64> {
        let mut done = 0u64;
        while done < n {
            let want = (n - done).min(SKIP_CHUNK_BYTES as u64) as usize;
            self.ensure(want)?;
            let a = self.avail();
            let take = a.len().min(want);
            if take == 0 {
                break;
            }
            let chunk = a.get(..take).unwrap_or(&[]);
            if keep.len() < ARG_KEEP_BYTES_MAX + 1 {
                let room = ARG_KEEP_BYTES_MAX + 1 - keep.len();
                keep.extend_from_slice(chunk.get(..room.min(take)).unwrap_or(&[]));
            }
            for &b in chunk {
                tail[0] = tail[1];
                tail[1] = b;
            }
            self.consume(take);
            done += take as u64;
        }
        Ok(done)
    }
}

/// C `strtol` on `s` (base 10): the value (saturated) and the index just
/// after the digits, or 0 when there are none.
fn strtol(s: &[u8]) -> (i64, usize) {
    let mut i = 0;
    while s
        .get(i)
        .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))
    {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let digits_at = i;
    let mut v: i64 = 0;
    let mut overflow = false;
    while let Some(d) = s.get(i).filter(|c| c.is_ascii_digit()) {
        let d = i64::from(d - b'0');
        match v.checked_mul(10).and_then(|x| {
            if neg {
                x.checked_sub(d)
            } else {
                x.checked_add(d)
            }
        }) {
            Some(x) => v = x,
            None => overflow = true,
        }
        i += 1;
    }
    if i == digits_at {
        return (0, 0);
    }
    if overflow {
        v = if neg { i64::MIN } else { i64::MAX };
    }
    (v, i)
}

/// A `char` printed with `%02x` (sign-extended, as x86 C does).
fn hex_char(b: u8) -> String {
    if b >= 0x80 {
        format!("{:08x}", i32::from(b as i8))
    } else {
        format!("{b:02x}")
    }
}

/// Result of checking one file's command stream.
enum Status {
    /// Stopped at `pos` (the end of the last complete command outside MULTI).
    Done { pos: u64 },
    /// Found a `#TS:` later than the requested timestamp at `pos`.
    TsTruncated { pos: u64 },
}

/// State shared across the files of one run (Redis counts lines globally).
pub struct Checker<'a> {
    out: &'a mut dyn Write,
    input: &'a mut dyn BufRead,
    line: u64,
    epos: u64,
    error: String,
    /// Redis's header line buffers: one for `*` lines, one for `$` lines.
    line_bufs: [[u8; LINE_BUF_BYTES]; 2],
    fix: bool,
    to_timestamp: Option<i64>,
}

/// Where a multi-part member sits (for the truncation rules).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Single,
    Base,
    Incr { last: bool },
}

enum Fail {
    /// Exit with status 1 (the message is already printed).
    Exit,
    /// Stop here with status 0 (a single file cut at a timestamp).
    Done,
}

impl<'a> Checker<'a> {
    /// Reads the answer to `Continue? [y/N]: `; only a leading 'y' agrees.
    fn confirmed(&mut self) -> bool {
        let mut answer = Vec::new();
        let _ = (&mut *self.input)
            .take(LINE_BUF_BYTES as u64)
            .read_until(b'\n', &mut answer);
        answer.first() == Some(&b'y')
    }

    fn say(&mut self, s: &str) {
        let _ = writeln!(self.out, "{s}");
    }

    fn set_error(&mut self, msg: String) {
        self.error = format!("0x{:16x}: {msg}", self.epos);
    }

    /// `readLong`: one `<prefix><number>\r\n` line.
    fn read_long(&mut self, src: &mut Src, prefix: u8) -> std::io::Result<Option<i64>> {
        self.epos = src.pos;
        let l = src.peek_line()?;
        if l.is_empty() {
            return Ok(None);
        }
        src.consume(l.len());
        let [star_buf, dollar_buf] = &mut self.line_bufs;
        let buf = if prefix == b'$' { dollar_buf } else { star_buf };
        if let Some(dst) = buf.get_mut(..l.len()) {
            dst.copy_from_slice(&l);
        }
        if let Some(z) = buf.get_mut(l.len()) {
            *z = 0;
        }
        let buf = *buf;
        let first = buf[0];
        if first != prefix {
            self.set_error(format!(
                "Expected prefix '{}', got: '{}'",
                prefix as char, first as char
            ));
            return Ok(None);
        }
        let text_end = buf
            .iter()
            .skip(1)
            .position(|&b| b == 0)
            .map_or(LINE_BUF_BYTES, |i| i + 1);
        let (v, used) = strtol(buf.get(1..text_end).unwrap_or(&[]));
        let at = 1 + used;
        let (a, b) = (
            buf.get(at).copied().unwrap_or(0),
            buf.get(at + 1).copied().unwrap_or(0),
        );
        if !self.newline(a, b) {
            return Ok(None);
        }
        Ok(Some(v))
    }

    fn newline(&mut self, a: u8, b: u8) -> bool {
        if (a, b) != (b'\r', b'\n') {
            self.set_error(format!(
                "Expected \\r\\n, got: {}{}",
                hex_char(a),
                hex_char(b)
            ));
            return false;
        }
        self.line += 1;
        true
    }

    /// `readString`: a `$<len>\r\n<bytes>\r\n` argument; keeps a prefix.
    fn read_string(&mut self, src: &mut Src) -> std::io::Result<Option<Vec<u8>>> {
        let Some(len) = self.read_long(src, b'$')? else {
            return Ok(None);
        };
        if !(0..=i64::MAX - 2).contains(&len) {
            self.set_error(format!(
                "Expected to read string of {len} bytes, which is not in the suitable range"
            ));
            return Ok(None);
        }
        let want = len as u64 + 2;
        self.epos = src.pos;
        let mut keep = Vec::new();
        let mut tail = [0u8; 2];
        let got = src.read_count(want, &mut keep, &mut tail)?;
        if got != want {
            self.set_error(format!("Expected to read {want} bytes, got {got} bytes"));
            return Ok(None);
        }
        if !self.newline(tail[0], tail[1]) {
            return Ok(None);
        }
        keep.truncate((len as usize).min(keep.len()));
        Ok(Some(keep))
    }

    /// Redis's `process`: reads commands until the end or the first error.
    fn process(&mut self, src: &mut Src, name: &str) -> std::io::Result<Status> {
        let mut multi: i64 = 0;
        let mut pos = src.pos;
        self.error.clear();
        loop {
            if multi == 0 {
                pos = src.pos;
            }
            let l = src.peek_line()?;
            let Some(&first) = l.first() else { break };
            if first == b'#' {
                src.consume(l.len());
                if multi == 0 {
                    if let Some(ts) = l.strip_prefix(b"#TS:") {
                        let (ts, _) = strtol(ts);
                        if self.to_timestamp.is_some_and(|to| ts > to) {
                            return Ok(Status::TsTruncated { pos });
                        }
                    }
                }
                continue;
            }
            if first != b'*' {
                self.say(&format!("AOF {name} format error"));
                break;
            }
            let Some(argc) = self.read_long(src, b'*')? else {
                break;
            };
            let mut complete = true;
            for i in 0..argc {
                let Some(arg) = self.read_string(src)? else {
                    complete = false;
                    break;
                };
                if i == 0 {
                    let word = arg.split(|&b| b == 0).next().unwrap_or(&[]);
                    if word.eq_ignore_ascii_case(b"multi") {
                        multi += 1;
                        if multi > 1 {
                            self.set_error(format!("Unexpected MULTI in AOF {name}"));
                            complete = false;
                            break;
                        }
                    } else if word.eq_ignore_ascii_case(b"exec") {
                        multi -= 1;
                        if multi != 0 {
                            self.set_error(format!("Unexpected EXEC in AOF {name}"));
                            complete = false;
                            break;
                        }
                    }
                }
            }
            if !complete {
                break;
            }
        }
        let at_eof = src.peek_line()?.is_empty();
        if at_eof && multi != 0 && self.error.is_empty() {
            self.set_error("Reached EOF before reading EXEC for MULTI".into());
        }
        if !self.error.is_empty() {
            let e = std::mem::take(&mut self.error);
            self.say(&e);
        }
        Ok(Status::Done { pos })
    }

    /// Checks the RDB preamble of `path`; returns where the AOF tail starts.
    fn check_rdb(&mut self, path: &Path, shown: &str) -> Result<u64, Fail> {
        self.say(&format!("[offset 0] Checking RDB file {shown}"));
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) => {
                self.say(&format!("Cannot open file {shown}: {}", io_msg(&e)));
                return Err(Fail::Exit);
            }
        };
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        // The same report redis-check-aof prints for an RDB part (it runs
        // redis-check-rdb's checker), line for line.
        let mut report = Vec::new();
        let summary =
            crate::check_rdb::check_stream(std::io::BufReader::new(file), now_ms, &mut report);
        for line in String::from_utf8_lossy(&report).lines() {
            self.say(line);
        }
        // Where the RDB part ends (the AOF tail starts there).
        let ok = if summary.ok {
            File::open(path)
                .ok()
                .and_then(|f| load::load(std::io::BufReader::new(f), true, |_| Ok(())).ok())
                .map(|info| info.bytes)
        } else {
            None
        };
        match ok {
            Some(end) => {
                self.say("RDB preamble is OK, proceeding with AOF tail...");
                Ok(end)
            }
            None => {
                self.say("RDB preamble of AOF file is not sane, aborting.");
                Err(Fail::Exit)
            }
        }
    }

    /// Checks one file (`path` opened, `shown` printed); Ok(()) when it is
    /// valid or was repaired, Err when the run must stop with status 1.
    fn check_file(&mut self, path: &Path, shown: &str, role: Role) -> Result<(), Fail> {
        let cannot_open =
            |e: &std::io::Error| format!("Cannot open file {}: {}", path.display(), io_msg(e));
        let size = match std::fs::metadata(path) {
            Ok(m) => m.len(),
            Err(e) => {
                let msg = cannot_open(&e);
                self.say(&if role == Role::Single {
                    msg
                } else {
                    format!("{msg}, aborting...")
                });
                return Err(Fail::Exit);
            }
        };
        if size == 0 {
            self.say(&format!("AOF {shown} is empty"));
            return Ok(());
        }
        let mut head = [0u8; 5];
        let n = File::open(path)
            .and_then(|mut f| read_upto(&mut f, &mut head))
            .unwrap_or(0);
        let start = if head.get(..n) == Some(b"REDIS".as_slice()) {
            self.check_rdb(path, shown)?
        } else {
            0
        };
        let mut file = match File::open(path) {
            Ok(f) => f,
            Err(e) => {
                let msg = cannot_open(&e);
                self.say(&msg);
                return Err(Fail::Exit);
            }
        };
        if file.seek(SeekFrom::Start(start)).is_err() {
            self.say(&format!("Failed to seek in AOF {shown}"));
            return Err(Fail::Exit);
        }
        let total = file.metadata().map(|m| m.len()).unwrap_or(0);
        let reader = crate::progress::Progress::new(file, shown, total, start);
        let mut src = Src::new(Box::new(reader), start);
        let status = match self.process(&mut src, shown) {
            Ok(s) => s,
            Err(e) => {
                self.say(&format!("Failed to read AOF {shown}: {e}"));
                return Err(Fail::Exit);
            }
        };
        let last = matches!(role, Role::Single | Role::Incr { last: true });
        let to = self.to_timestamp.unwrap_or(0);
        match status {
            Status::TsTruncated { pos } => {
                if !last {
                    self.say(&format!(
                        "Failed to truncate AOF {} to timestamp {to} to offset {pos} because it is not the last file.",
                        path.display()
                    ));
                    self.say("If you insist, please delete all files after this file according to the manifest file and delete the corresponding records in manifest file manually. Then re-run redis-check-aof.");
                    return Err(Fail::Exit);
                }
                if truncate(path, pos).is_err() {
                    self.say(&format!("Failed to truncate AOF {shown} to timestamp {to}"));
                    return Err(Fail::Exit);
                }
                self.say(&format!(
                    "Successfully truncated AOF {shown} to timestamp {to}"
                ));
                if role == Role::Single {
                    return Err(Fail::Done);
                }
                Ok(())
            }
            Status::Done { pos } => {
                let diff = size.saturating_sub(pos);
                if self.to_timestamp.is_some() && diff == 0 {
                    self.say(&format!(
                        "Truncate nothing in AOF {shown} to timestamp {to}"
                    ));
                } else {
                    self.say(&format!(
                        "AOF analyzed: filename={shown}, size={size}, ok_up_to={pos}, ok_up_to_line={}, diff={diff}",
                        self.line
                    ));
                }
                if diff == 0 {
                    return Ok(());
                }
                if !self.fix {
                    self.say(&format!(
                        "AOF {shown} is not valid. Use the --fix option to try fixing it."
                    ));
                    return Err(Fail::Exit);
                }
                if !last {
                    self.say(&format!(
                        "Failed to truncate AOF {shown} because it is not the last file"
                    ));
                    return Err(Fail::Exit);
                }
                self.say(&format!(
                    "This will shrink the AOF {shown} from {size} bytes, with {diff} bytes, to {pos} bytes"
                ));
                let _ = write!(self.out, "Continue? [y/N]: ");
                let _ = self.out.flush();
                if !self.confirmed() {
                    self.say("Aborting...");
                    return Err(Fail::Exit);
                }
                if truncate(path, pos).is_err() {
                    self.say(&format!("Failed to truncate AOF {shown}"));
                    return Err(Fail::Exit);
                }
                self.say(&format!("Successfully truncated AOF {shown}"));
                // Redis stops after repairing a single file (no "is valid").
                if role == Role::Single {
                    return Err(Fail::Done);
                }
                Ok(())
            }
        }
    }
}

fn io_msg(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "No such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "Permission denied".into(),
        _ => {
            let s = e.to_string();
            // Rust appends " (os error N)"; C's strerror does not.
            s.split(" (os error").next().unwrap_or(&s).to_string()
        }
    }
}

fn read_upto(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let got = f.read(buf.get_mut(n..).unwrap_or(&mut []))?;
        if got == 0 {
            break;
        }
        n += got;
    }
    Ok(n)
}

fn truncate(path: &Path, len: u64) -> std::io::Result<()> {
    let f = OpenOptions::new().write(true).open(path)?;
    f.set_len(len)?;
    f.sync_all()
}

/// Whether `path` holds a manifest: its first line that is not a comment
/// starts with a `file` key (as Redis's manifests always do).
fn is_manifest(path: &Path) -> bool {
    let Ok(mut f) = File::open(path) else {
        return false;
    };
    let mut head = [0u8; 1024];
    let n = read_upto(&mut f, &mut head).unwrap_or(0);
    head.get(..n)
        .unwrap_or(&[])
        .split(|&b| b == b'\n')
        .map(|l| l.trim_ascii_start())
        .find(|l| !l.is_empty() && l.first() != Some(&b'#'))
        .is_some_and(|l| l.starts_with(b"file "))
}

/// Runs the checker with `args` (argv, argv[0] included); returns the exit
/// status. `out` receives everything Redis prints to stdout; `input` answers
/// the `--fix` prompt.
pub fn run(args: &[String], input: &mut dyn BufRead, out: &mut dyn Write) -> i32 {
    let prog = args.first().map_or("redis-check-aof", String::as_str);
    let usage = |out: &mut dyn Write| {
        let _ = writeln!(
            out,
            "Usage: {prog} [--fix|--truncate-to-timestamp $timestamp] <file.manifest|file.aof>"
        );
        1
    };
    let (fix, to_timestamp, filename) = match args {
        [_, f] => (false, None, f),
        [_, opt, f] if opt == "--fix" => (true, None, f),
        [_, opt, ts, f] if opt == "--truncate-to-timestamp" => {
            let (v, used) = strtol(ts.as_bytes());
            // strtol with nothing to parse stops at the start.
            if used != ts.len() && !(used == 0 && ts.is_empty()) {
                let _ = writeln!(out, "Invalid timestamp, aborting...");
                return 1;
            }
            (false, Some(v), f)
        }
        _ => return usage(out),
    };
    let path = PathBuf::from(filename);
    if let Err(e) = File::open(&path) {
        let _ = writeln!(out, "Cannot open file {filename}: {}", io_msg(&e));
        return 1;
    }
    let mut c = Checker {
        out,
        input,
        line: 1,
        epos: 0,
        error: String::new(),
        line_bufs: [[0; LINE_BUF_BYTES]; 2],
        fix,
        to_timestamp,
    };
    let res = if is_manifest(&path) {
        c.say("Start checking Multi Part AOF");
        check_multi(&mut c, &path)
    } else {
        c.say("Start checking Old-Style AOF");
        c.check_file(&path, filename, Role::Single).map(|()| {
            if std::fs::metadata(&path).is_ok_and(|m| m.len() > 0) {
                c.say(&format!("AOF {filename} is valid"));
            }
        })
    };
    let _ = c.out.flush();
    match res {
        Ok(()) | Err(Fail::Done) => 0,
        Err(Fail::Exit) => 1,
    }
}

fn check_multi(c: &mut Checker<'_>, manifest_path: &Path) -> Result<(), Fail> {
    let text = match File::open(manifest_path).and_then(|f| {
        let mut v = Vec::new();
        f.take(MANIFEST_BYTES_MAX).read_to_end(&mut v)?;
        Ok(v)
    }) {
        Ok(t) => t,
        Err(e) => {
            c.say(&format!(
                "Cannot open file {}: {}",
                manifest_path.display(),
                io_msg(&e)
            ));
            return Err(Fail::Exit);
        }
    };
    let manifest = match Manifest::parse(&text) {
        Ok(m) => m,
        Err(e) => {
            c.say("*** FATAL AOF MANIFEST FILE ERROR ***");
            c.say(&e);
            return Err(Fail::Exit);
        }
    };
    let dir = manifest_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if let Some(base) = &manifest.base {
        let path = dir.join(&base.name);
        let rdb = base.name.ends_with(".rdb");
        c.say(&format!(
            "Start to check BASE AOF ({} format).",
            if rdb { "RDB" } else { "RESP" }
        ));
        let last = manifest.incrs.is_empty();
        let role = if last {
            Role::Incr { last: true }
        } else {
            Role::Base
        };
        c.check_file(&path, &base.name, role)?;
        c.say(&format!("BASE AOF {} is valid", base.name));
    }
    if !manifest.incrs.is_empty() {
        c.say("Start to check INCR files.");
    }
    let n = manifest.incrs.len();
    for (i, f) in manifest.incrs.iter().enumerate() {
        debug_assert!(f.kind == FileType::Incr);
        let path = dir.join(&f.name);
        c.check_file(&path, &f.name, Role::Incr { last: i + 1 == n })?;
        c.say(&format!("INCR AOF {} is valid", f.name));
    }
    c.say("All AOF files and manifest are valid");
    Ok(())
}
