//! The append-only file on the executor side: loading at start-up, appending
//! effects, flushing before replies, rewriting (BGREWRITEAOF) through the
//! fork-free snapshot, and the INFO persistence `aof_*` state.
//!
//! Layout and atomic steps are `strata_persistence::aof::dir`; the appender
//! with the fsync policies is `strata_persistence::aof::writer`.
//!
//! Invariants:
//! - no reply leaves the server before the effects of the commands it
//!   answers were written to the AOF (and fsynced under `always`):
//!   `before_replies` runs before any client write;
//! - a rewrite starts a new incr file at the same instant its snapshot
//!   begins, so base + incr files always describe the whole dataset;
//! - a write error refuses further writes (MISCONF-style) until a write
//!   succeeds; under `always` it stops the server, as Redis does.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use strata_persistence::aof::dir::AofDir;
use strata_persistence::aof::manifest::AofFile;
use strata_persistence::aof::reader::{AofError, AofReader, Item};
use strata_persistence::aof::writer::{AofWriter, Fsync};
use strata_persistence::rdb::save::{self, AccessInfo, SaveFormat, SaveHandle, SaveOptions};

use crate::client::Client;
use crate::server::Server;
use crate::{clock, log_notice, log_warning};

pub struct Rewrite {
    handle: SaveHandle,
    base_name: String,
    keep_from_seq: u64,
    start_ms: u64,
}

pub struct Aof {
    pub dir: AofDir,
    pub writer: AofWriter,
    pub rewrite: Option<Rewrite>,
    pub rewrite_scheduled: bool,
    pub last_rewrite_ok: bool,
    pub last_rewrite_time_sec: i64,
    pub rewrites: u64,
    pub consecutive_failures: u64,
    pub last_cow_size: u64,
    /// Base size after the last rewrite (auto-aof-rewrite-percentage grows from it).
    pub rewrite_base_size: u64,
    last_ts_s: u64,
    /// While AOF is being turned on at run time (Redis's AOF_WAIT_REWRITE):
    /// the incr file receiving writes, which the manifest names only once
    /// the first base is committed with it.
    pub pending_incr: Option<AofFile>,
}

impl Aof {
    /// Appends one effect (the writer adds a SELECT when the db changes).
    pub fn append_effect(&mut self, db: usize, argv: &[Bytes]) {
        let args: Vec<&[u8]> = argv.iter().map(|b| &b[..]).collect();
        self.writer.append(db, &args);
    }

    fn annotate(&mut self, now_s: u64) {
        if now_s != self.last_ts_s {
            self.last_ts_s = now_s;
            self.writer
                .append_raw(format!("#TS:{now_s}\r\n").as_bytes());
        }
    }
}

fn aof_dir_path(srv: &Server) -> PathBuf {
    srv.config.dir.join(&srv.config.appenddirname)
}

fn policy(srv: &Server) -> Fsync {
    Fsync::parse(&srv.config.appendfsync).unwrap_or(Fsync::EverySec)
}

/// Start-up with `appendonly yes`: loads what exists (a multi-part directory,
/// a legacy single file, or dump.rdb), then makes sure a base and an incr
/// file exist and opens the incr file for appending. Errors stop start-up.
pub fn start(srv: &mut Server) -> Result<(), String> {
    let dir_path = aof_dir_path(srv);
    let prefix = srv.config.appendfilename.clone();
    let truncated_ok = srv.config.aof_load_truncated;
    srv.loading = true;
    let mut dir = match AofDir::open(&dir_path, &prefix)? {
        Some(d) => {
            let files: Vec<(PathBuf, bool)> = d
                .manifest
                .load_order()
                .iter()
                .enumerate()
                .map(|(i, f)| (d.path_of(f), i + 1 == d.manifest.load_order().len()))
                .collect();
            for (path, last) in files {
                load_file(srv, &path, last && truncated_ok)?;
            }
            d
        }
        None => {
            let legacy = srv.config.dir.join(&prefix);
            let mut d = AofDir::create(&dir_path, &prefix).map_err(|e| {
                format!("Can't create the AOF directory {}: {e}", dir_path.display())
            })?;
            if legacy.exists() {
                load_file(srv, &legacy, truncated_ok)?;
                // Upgrade as Redis 7 does: the old file becomes the base.
                let (name, path) = d.new_base_path(false);
                std::fs::rename(&legacy, &path).map_err(|e| {
                    format!(
                        "Error moving {} into the AOF directory: {e}",
                        legacy.display()
                    )
                })?;
                let seq = d.next_base_seq();
                d.manifest.base = Some(strata_persistence::aof::manifest::AofFile {
                    name,
                    seq,
                    kind: strata_persistence::aof::manifest::FileType::Base,
                });
                d.persist_manifest()
                    .map_err(|e| format!("Error writing the AOF manifest: {e}"))?;
                log_notice!(
                    "Successfully migrated an old-style AOF into the AOF directory {}",
                    dir_path.display()
                );
            } else {
                let rdb = crate::persist::rdb_path(srv);
                if rdb.exists() {
                    let verify = srv.config.rdbchecksum;
                    let (loaded, expired, functions) =
                        crate::persist::load_into(&mut srv.keyspace, &rdb, verify).map_err(
                            |e| format!("Error loading the RDB file {}: {e}", rdb.display()),
                        )?;
                    crate::persist::restore_functions(srv, functions);
                    log_notice!(
                        "Done loading RDB, keys loaded: {loaded}, keys expired: {expired}."
                    );
                }
                let (name, path) = d.new_base_path(srv.config.aof_use_rdb_preamble);
                log_notice!("Creating AOF base file {name} on server start");
                write_base_sync(srv, &path)?;
                let seq = d.next_base_seq();
                d.manifest.base = Some(strata_persistence::aof::manifest::AofFile {
                    name,
                    seq,
                    kind: strata_persistence::aof::manifest::FileType::Base,
                });
                d.persist_manifest()
                    .map_err(|e| format!("Error writing the AOF manifest: {e}"))?;
            }
            d
        }
    };
    let file = match dir.manifest.incrs.last() {
        Some(f) => std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path_of(f))
            .map_err(|e| format!("Can't open the append-only file {}: {e}", f.name))?,
        None => {
            let f = dir
                .open_new_incr()
                .map_err(|e| format!("Can't create the append-only file: {e}"))?;
            log_notice!(
                "Creating AOF incr file {} on server start",
                dir.manifest.incrs.last().map_or("", |f| f.name.as_str())
            );
            f
        }
    };
    let _ = dir.delete_history();
    let writer =
        AofWriter::new(file, policy(srv), clock::now_ms()).map_err(|e| format!("AOF: {e}"))?;
    let base_size = dir.base_size();
    srv.aof = Some(Aof {
        dir,
        writer,
        rewrite: None,
        rewrite_scheduled: false,
        last_rewrite_ok: true,
        last_rewrite_time_sec: -1,
        rewrites: 0,
        consecutive_failures: 0,
        last_cow_size: 0,
        rewrite_base_size: base_size,
        last_ts_s: 0,
        pending_incr: None,
    });
    srv.propagation.enabled = true;
    srv.keyspace.shared.dirty = 0;
    srv.loading = false;
    Ok(())
}

/// Writes a base file with a synchronous snapshot.
fn write_base_sync(srv: &mut Server, path: &Path) -> Result<(), String> {
    let (sink, handle) = save::start(base_options(srv, path))
        .map_err(|e| format!("Can't write the AOF base file: {e}"))?;
    srv.keyspace.snapshot_now(Box::new(sink));
    match handle.result.recv() {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e),
        Err(_) => Err("the base writer exited".into()),
    }
}

/// A base is an RDB file (the mixed format) under `aof-use-rdb-preamble
/// yes`, AOF commands under `no`; `path` was named to match.
fn base_options(srv: &Server, path: &Path) -> SaveOptions {
    let now_ms = clock::now_ms();
    SaveOptions {
        format: if srv.config.aof_use_rdb_preamble {
            SaveFormat::Rdb
        } else {
            SaveFormat::AofCommands
        },
        timestamp_s: srv.config.aof_timestamp_enabled.then_some(now_ms / 1000),
        target: path.to_path_buf(),
        temp: path.with_file_name(format!("temp-rewriteaof-{}.aof", std::process::id())),
        compress: srv.config.rdbcompression,
        checksum: srv.config.rdbchecksum,
        aux: vec![
            ("redis-ver".into(), crate::REDIS_VERSION.into()),
            ("redis-bits".into(), "64".into()),
            ("ctime".into(), (now_ms / 1000).to_string()),
            ("used-mem".into(), crate::memory::used_memory().to_string()),
            ("aof-base".into(), "1".into()),
        ],
        access: AccessInfo::None,
        db_sizes: srv
            .keyspace
            .db_sizes()
            .iter()
            .map(|(k, e, _)| (*k, *e))
            .collect(),
        functions: srv.scripting.functions.codes(),
    }
}

/// Replays one AOF file (with or without an RDB preamble) into the keyspace.
/// `may_truncate`: a torn tail is trimmed (aof-load-truncated on the last file).
fn load_file(srv: &mut Server, path: &Path, may_truncate: bool) -> Result<(), String> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| {
        format!("Fatal error: can't open the append log file {name} for reading: {e}")
    })?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    if size == 0 {
        return Ok(());
    }
    let mut input = std::io::BufReader::with_capacity(1 << 20, file);
    let mut start_offset = 0u64;
    let is_rdb = input
        .fill_buf()
        .map(|b| b.starts_with(b"REDIS"))
        .unwrap_or(false);
    if is_rdb {
        log_notice!("Reading RDB base file on AOF loading...");
        let (n, end, functions) = crate::persist::load_prefix_into(&mut srv.keyspace, &mut input, srv.config.rdbchecksum)
            .map_err(|e| format!("Bad file format reading the append only file {name}: RDB preamble: {e}. Run strata-check-aof --fix {name}"))?;
        crate::persist::restore_functions(srv, functions);
        log_notice!("Reading the remaining AOF tail... ({n} keys in the RDB part)");
        start_offset = end;
    }
    let mut reader = AofReader::with_offset(input, start_offset);
    let mut fake = Client::fake(clock::now_ms());
    // Offset before an open MULTI: a transaction cut by the end of the file is dropped.
    let mut multi_start: Option<u64> = None;
    let mut commands = 0u64;
    loop {
        match reader.next_item() {
            Ok(None) => break,
            Ok(Some(Item::Annotation { .. })) => continue,
            Ok(Some(Item::Command { argv, start, .. })) => {
                let name_lc = argv
                    .first()
                    .map(|a| a.to_ascii_lowercase())
                    .unwrap_or_default();
                if name_lc == b"multi" {
                    multi_start = Some(start);
                    continue;
                }
                if name_lc == b"exec" {
                    multi_start = None;
                    continue;
                }
                replay(srv, &mut fake, argv).map_err(|e| {
                    format!("{e} reading the append only file {name} at offset {start}")
                })?;
                commands += 1;
            }
            Err(AofError::Truncated { start, .. }) => {
                let cut = multi_start.unwrap_or(start);
                if !may_truncate {
                    return Err(format!(
                        "Unexpected end of file reading the append only file {name} at offset {start}. You can: 1) Make a backup of your AOF file, then use ./strata-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server."
                    ));
                }
                log_warning!("!!! Warning: short read while loading the AOF file {name}!!!");
                log_warning!("!!! Truncating the AOF {name} at offset {cut} !!!");
                truncate_file(path, cut)?;
                log_warning!("AOF {name} loaded anyway because aof-load-truncated is enabled");
                multi_start = None;
                break;
            }
            Err(AofError::Invalid { offset, what, .. }) => {
                return Err(format!("{what} in {name} at offset {offset}. The file is damaged: run strata-check-aof --fix {name} (after making a backup)."));
            }
            Err(AofError::Io(e)) => {
                return Err(format!("Error reading the append only file {name}: {e}"))
            }
        }
    }
    if let Some(at) = multi_start {
        // MULTI without EXEC at a clean end of file: a torn transaction.
        if !may_truncate {
            return Err(format!("Revert incomplete MULTI/EXEC transaction in AOF file {name} at offset {at}: run strata-check-aof --fix {name}"));
        }
        log_warning!("!!! Warning: the AOF file {name} ends inside a MULTI block: truncating at offset {at} !!!");
        truncate_file(path, at)?;
    }
    log_notice!("DB loaded from append only file {name}: {commands} commands");
    Ok(())
}

fn truncate_file(path: &Path, len: u64) -> Result<(), String> {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| format!("Error truncating the AOF file: {e}"))?;
    f.set_len(len)
        .and_then(|_| f.sync_all())
        .map_err(|e| format!("Error truncating the AOF file: {e}"))
}

/// Runs one command from the file with a fake client (no gates, no reply).
fn replay(srv: &mut Server, client: &mut Client, argv: Vec<Vec<u8>>) -> Result<(), String> {
    let argv: Vec<Bytes> = argv.into_iter().map(Bytes::from).collect();
    if srv.commands.get(&argv[0]).is_none() {
        return Err(format!(
            "Unknown command '{}'",
            String::from_utf8_lossy(&argv[0])
        ));
    }
    client.out.clear();
    crate::dispatch::execute_for_load(srv, client, argv);
    client.out.clear();
    Ok(())
}

/// Before any reply of this loop turn is written: write (and fsync per
/// policy) the effects collected. Under `always` a failure stops the server.
pub fn before_replies(srv: &mut Server) {
    let now = clock::now_ms();
    let timestamps = srv.config.aof_timestamp_enabled;
    // no-appendfsync-on-rewrite: no fsync while a rewrite or a save runs.
    let saving = srv.rdb.bgsave.is_some() || srv.aof.as_ref().is_some_and(|a| a.rewrite.is_some());
    let pause = srv.config.no_appendfsync_on_rewrite && saving;
    let Some(aof) = srv.aof.as_mut() else { return };
    aof.writer.fsync_paused = pause;
    if aof.writer.buf.is_empty() {
        aof.writer.flush(now, false);
        return;
    }
    if timestamps {
        let buf = std::mem::take(&mut aof.writer.buf);
        aof.annotate(now / 1000);
        aof.writer.buf.extend_from_slice(&buf);
    }
    aof.writer.flush(now, false);
    if let Some(e) = &aof.writer.error {
        if aof.writer.policy == Fsync::Always {
            log_warning!("Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting... ({e})");
            std::process::exit(1);
        }
    }
}

/// Writes refused while the AOF cannot be written (None when fine).
pub fn write_error(srv: &Server) -> Option<String> {
    let e = srv.aof.as_ref()?.writer.error.as_ref()?;
    Some(format!("MISCONF Errors writing to the AOF file: {e}"))
}

/// BGREWRITEAOF: starts a rewrite, or schedules it behind a running BGSAVE.
/// Ok(true) started, Ok(false) scheduled.
pub fn start_rewrite(srv: &mut Server) -> Result<bool, String> {
    if srv.aof.as_ref().is_some_and(|a| a.rewrite.is_some()) {
        return Err("ERR Background append only file rewriting already in progress".into());
    }
    if srv.rdb.bgsave.is_some() || srv.keyspace.snapshot_active() {
        if let Some(a) = srv.aof.as_mut() {
            a.rewrite_scheduled = true;
        }
        return Ok(false);
    }
    let Some(aof) = srv.aof.as_mut() else {
        return Err("ERR Background append only file rewriting is only supported with appendonly yes in this version".into());
    };
    let now = clock::now_ms();
    aof.writer.flush(now, true);
    let new_incr = if aof.pending_incr.is_some() {
        // Turning AOF on: the new base covers what the pending file holds.
        aof.dir.open_unrecorded_incr().map(|(f, file)| {
            aof.pending_incr = Some(f);
            file
        })
    } else {
        aof.dir.open_new_incr()
    }
    .map_err(|e| format!("ERR Can't open a new AOF incr file: {e}"))?;
    aof.writer
        .switch_file(new_incr, now)
        .map_err(|e| format!("ERR {e}"))?;
    // Incr files before the one just opened become history.
    let keep_from_seq = match &aof.pending_incr {
        Some(f) => f.seq,
        None => aof.dir.manifest.last_incr_seq(),
    };
    let (base_name, path) = aof.dir.new_base_path(srv.config.aof_use_rdb_preamble);
    let opts = base_options(srv, &path);
    let (sink, handle) = save::start(opts)
        .map_err(|e| format!("ERR Can't rewrite append only file in background: {e}"))?;
    srv.keyspace.snapshot_begin(Box::new(sink));
    if let Some(aof) = srv.aof.as_mut() {
        aof.rewrite = Some(Rewrite {
            handle,
            base_name,
            keep_from_seq,
            start_ms: now,
        });
        aof.rewrite_scheduled = false;
    }
    log_notice!("Background append only file rewriting started (fork-free snapshot)");
    Ok(true)
}

/// Collects a finished rewrite; starts scheduled and automatic ones (cron).
pub fn cron(srv: &mut Server) {
    let finished = srv
        .aof
        .as_ref()
        .and_then(|a| a.rewrite.as_ref())
        .and_then(|r| match r.handle.result.try_recv() {
            Ok(res) => Some(res),
            Err(std::sync::mpsc::TryRecvError::Empty) => None,
            Err(_) => Some(Err("the rewrite writer exited".into())),
        });
    if let Some(result) = finished {
        finish_rewrite(srv, result);
    }
    let Some(aof) = srv.aof.as_ref() else { return };
    if aof.rewrite.is_some() || srv.rdb.bgsave.is_some() || srv.keyspace.snapshot_active() {
        return;
    }
    let pct = srv.config.auto_aof_rewrite_percentage as u64;
    let size = aof.dir.base_size() + aof.writer.size;
    let base = aof.rewrite_base_size.max(1);
    let auto = pct > 0
        && size >= srv.config.auto_aof_rewrite_min_size
        && (size - base.min(size)) * 100 / base >= pct;
    if aof.rewrite_scheduled || auto {
        if auto {
            log_notice!(
                "Starting automatic rewriting of AOF on {}% growth",
                (size - base.min(size)) * 100 / base
            );
        }
        if let Err(e) = start_rewrite(srv) {
            log_warning!("{e}");
        }
    }
}

fn finish_rewrite(srv: &mut Server, result: save::SaveResult) {
    let Some(aof) = srv.aof.as_mut() else { return };
    let Some(rw) = aof.rewrite.take() else { return };
    aof.last_rewrite_time_sec = ((clock::now_ms() - rw.start_ms) / 1000) as i64;
    aof.last_cow_size = rw
        .handle
        .stats
        .peak_bytes_in_flight
        .load(std::sync::atomic::Ordering::Relaxed);
    let pending = aof.pending_incr.clone();
    let outcome = result.and_then(|_| {
        aof.dir
            .commit_rewrite(rw.base_name.clone(), rw.keep_from_seq, pending)
            .map_err(|e| e.to_string())
    });
    match outcome {
        Ok(()) => {
            aof.pending_incr = None;
            aof.last_rewrite_ok = true;
            aof.rewrites += 1;
            aof.consecutive_failures = 0;
            aof.rewrite_base_size = aof.dir.base_size();
            log_notice!("Background AOF rewrite terminated with success");
            log_notice!("Background AOF rewrite finished successfully");
        }
        Err(e) => {
            aof.last_rewrite_ok = false;
            aof.consecutive_failures += 1;
            log_warning!("Background AOF rewrite failed: {e}");
            if aof.pending_incr.is_some() {
                // AOF stays on, waiting for its first base: try again.
                aof.rewrite_scheduled = true;
            }
        }
    }
}

/// Flushes and fsyncs before exit.
pub fn shutdown(srv: &mut Server) {
    if let Some(aof) = srv.aof.as_mut() {
        aof.writer.flush(clock::now_ms(), true);
        if let Err(e) = aof.writer.sync_now() {
            log_warning!("Error fsyncing the AOF on shutdown: {e}");
        }
        log_notice!("Calling fsync() on the AOF file.");
    }
}

/// INFO persistence `aof_*` fields, in Redis's order.
pub fn info_fields(srv: &Server) -> Vec<(&'static str, String)> {
    let now = clock::now_ms();
    let mut f = Vec::new();
    let a = srv.aof.as_ref();
    f.push(("aof_enabled", u8::from(a.is_some()).to_string()));
    f.push((
        "aof_rewrite_in_progress",
        u8::from(a.is_some_and(|a| a.rewrite.is_some())).to_string(),
    ));
    f.push((
        "aof_rewrite_scheduled",
        u8::from(a.is_some_and(|a| a.rewrite_scheduled)).to_string(),
    ));
    f.push((
        "aof_last_rewrite_time_sec",
        a.map_or(-1, |a| a.last_rewrite_time_sec).to_string(),
    ));
    f.push((
        "aof_current_rewrite_time_sec",
        a.and_then(|a| a.rewrite.as_ref())
            .map_or(-1, |r| ((now - r.start_ms) / 1000) as i64)
            .to_string(),
    ));
    f.push((
        "aof_last_bgrewrite_status",
        if a.is_none_or(|a| a.last_rewrite_ok) {
            "ok"
        } else {
            "err"
        }
        .into(),
    ));
    f.push(("aof_rewrites", a.map_or(0, |a| a.rewrites).to_string()));
    f.push((
        "aof_rewrites_consecutive_failures",
        a.map_or(0, |a| a.consecutive_failures).to_string(),
    ));
    f.push((
        "aof_last_write_status",
        if a.is_some_and(|a| a.writer.error.is_some()) {
            "err"
        } else {
            "ok"
        }
        .into(),
    ));
    f.push((
        "aof_last_cow_size",
        a.map_or(0, |a| a.last_cow_size).to_string(),
    ));
    f
}

/// The extra fields INFO prints when the AOF is on.
pub fn info_enabled_fields(srv: &Server) -> Vec<(&'static str, String)> {
    let Some(a) = srv.aof.as_ref() else {
        return Vec::new();
    };
    vec![
        (
            "aof_current_size",
            (a.dir.base_size() + a.writer.size).to_string(),
        ),
        ("aof_base_size", a.dir.base_size().to_string()),
        (
            "aof_pending_rewrite",
            u8::from(a.rewrite_scheduled).to_string(),
        ),
        ("aof_buffer_length", a.writer.buf.len().to_string()),
        (
            "aof_pending_bio_fsync",
            u8::from(a.writer.fsync_in_progress()).to_string(),
        ),
        ("aof_delayed_fsync", a.writer.delayed_fsyncs.to_string()),
    ]
}

/// CONFIG SET appendonly / appendfsync at run time.
pub fn config_changed(
    srv: &mut Server,
    names: &[&'static str],
) -> Result<(), (&'static str, String)> {
    if names.contains(&"appendfsync") {
        let p = policy(srv);
        if let Some(a) = srv.aof.as_mut() {
            a.writer
                .set_policy(p)
                .map_err(|e| ("appendfsync", e.to_string()))?;
        }
    }
    if names.contains(&"appendonly") {
        match (srv.config.appendonly, srv.aof.is_some()) {
            (true, false) => enable(srv).map_err(|e| ("appendonly", e))?,
            (false, true) => {
                shutdown(srv);
                srv.aof = None;
                srv.propagation.enabled = false;
                srv.propagation.unit.clear();
                log_notice!("Background append only file rewriting disabled: AOF turned off");
            }
            _ => {}
        }
    }
    Ok(())
}

/// Turns the AOF on while running, as Redis 7.0's startAppendOnly: writes
/// from now on go to a new incr file the manifest does not name yet, and a
/// background rewrite (a fork-free snapshot of this instant) writes the base;
/// when it commits, the manifest names the base and that incr file together.
/// Until then the old manifest stays as it was, so a crash never leaves a
/// manifest mixing an old base with new writes. A running BGSAVE only
/// postpones the rewrite.
fn enable(srv: &mut Server) -> Result<(), String> {
    let dir_path = aof_dir_path(srv);
    let prefix = srv.config.appendfilename.clone();
    let mut dir = match AofDir::open(&dir_path, &prefix)? {
        Some(d) => d,
        None => AofDir::create(&dir_path, &prefix).map_err(|e| e.to_string())?,
    };
    let (pending, file) = dir.open_unrecorded_incr().map_err(|e| e.to_string())?;
    let writer = AofWriter::new(file, policy(srv), clock::now_ms()).map_err(|e| e.to_string())?;
    srv.aof = Some(Aof {
        dir,
        writer,
        rewrite: None,
        rewrite_scheduled: false,
        last_rewrite_ok: true,
        last_rewrite_time_sec: -1,
        rewrites: 0,
        consecutive_failures: 0,
        last_cow_size: 0,
        rewrite_base_size: 0,
        last_ts_s: 0,
        pending_incr: Some(pending),
    });
    srv.propagation.enabled = true;
    match start_rewrite(srv) {
        Ok(true) => Ok(()),
        Ok(false) => {
            log_warning!("AOF was enabled but there is already another background operation. An AOF background was scheduled to start when possible.");
            Ok(())
        }
        Err(e) => {
            srv.aof = None;
            srv.propagation.enabled = false;
            srv.propagation.unit.clear();
            log_warning!("Redis needs to enable the AOF but can't trigger a background AOF rewrite operation. Check the above logs for more info about the error.");
            Err(e)
        }
    }
}

/// Whether AOF was turned on and its first base is not written yet
/// (SHUTDOWN refuses then without FORCE, as Redis does).
pub fn writing_initial_base(srv: &Server) -> bool {
    srv.aof.as_ref().is_some_and(|a| a.pending_incr.is_some())
}
