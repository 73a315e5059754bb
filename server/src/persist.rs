//! RDB persistence on the executor side: SAVE, BGSAVE, save points, loading at
//! start-up, and the INFO persistence fields that describe them.
//!
//! A BGSAVE is a fork-free snapshot (engine/src/snapshot.rs): starting it only
//! marks every segment as not captured; `tick` captures a few segments per
//! event-loop turn (about a millisecond of work), the door captures a segment
//! before its first change, and the persistence crate's writer thread writes,
//! fsyncs and renames. Loading runs on a helper thread into a fresh keyspace
//! while clients get -LOADING; it is swapped in when complete.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

use strata_engine::{Keyspace, Value};
use strata_persistence::rdb::load::{self, Item};
use strata_persistence::rdb::save::{self, AccessInfo, SaveFormat, SaveHandle, SaveOptions};

use crate::server::Server;
use crate::{clock, log_notice, log_warning};

/// Snapshot work per event-loop turn when no client was served. After a
/// slice the loop sleeps until the next event or 1 ms (`wake_within_ms`):
/// an executor that never sleeps loses the scheduler's wake-up preference,
/// and a PING would then wait for a CPU behind the encoder and everything
/// else on the machine. Idle, the walk runs about a third of the time.
pub const SNAPSHOT_IDLE_BUDGET: Duration = Duration::from_micros(500);
/// While clients are served, the walk earns this fraction (1/N) of the time
/// turns spend on them, as credit it spends in later turns, so it takes a
/// fixed share (1/9) of a busy executor however short the turns are (a
/// per-turn minimum would, with many short turns, take most of it). Measured
/// by tools/bench/snapshot.sh: 1/4 kept about 60-70% of the write
/// throughput during a save, 1/8 about 80%, with the save taking 1-2 s
/// longer per million keys and its extra memory still about 3%.
const SNAPSHOT_BUSY_SHARE_DIVISOR: u32 = 8;
/// Most credit kept (a walk slice after a long turn stays short).
const SNAPSHOT_CREDIT_MAX: Duration = Duration::from_micros(1000);
/// Entries captured between two looks at the clock.
const ENTRIES_PER_CHECK: usize = 64;
/// After a failed BGSAVE, save points wait this long before retrying (CONFIG_BGSAVE_RETRY_DELAY).
pub const BGSAVE_RETRY_DELAY_MS: u64 = 5000;

pub struct BgSave {
    handle: SaveHandle,
    start_ms: u64,
    dirty_at_start: u64,
    keys_total: u64,
}

/// The RDB side of INFO persistence and the save state machine.
pub struct RdbState {
    pub bgsave: Option<BgSave>,
    pub scheduled: bool,
    pub last_bgsave_ok: bool,
    pub last_bgsave_time_sec: i64,
    pub last_try_ms: u64,
    pub last_cow_size: u64,
    pub saves: u64,
    pub loading: Option<Loading>,
    /// Walk time earned and not spent yet while clients are served (ns;
    /// negative after an overrun). See `SNAPSHOT_BUSY_SHARE_DIVISOR`.
    pub walk_credit_ns: i64,
    pub loading_start_ms: u64,
    pub loading_total_bytes: u64,
    pub last_load_keys_loaded: u64,
    pub last_load_keys_expired: u64,
}

impl Default for RdbState {
    fn default() -> Self {
        RdbState {
            bgsave: None,
            scheduled: false,
            last_bgsave_ok: true,
            last_bgsave_time_sec: -1,
            last_try_ms: 0,
            last_cow_size: 0,
            saves: 0,
            loading: None,
            walk_credit_ns: 0,
            loading_start_ms: 0,
            loading_total_bytes: 0,
            last_load_keys_loaded: 0,
            last_load_keys_expired: 0,
        }
    }
}

pub fn rdb_path(srv: &Server) -> PathBuf {
    srv.config.dir.join(&srv.config.dbfilename)
}

fn options(srv: &Server, temp_tag: &str) -> SaveOptions {
    let now_ms = clock::now_ms();
    let access = match srv.config.maxmemory_policy.as_str() {
        "allkeys-lru" | "volatile-lru" => AccessInfo::Lru {
            now_s: (now_ms / 1000) as u32,
        },
        "allkeys-lfu" | "volatile-lfu" => AccessInfo::Lfu,
        _ => AccessInfo::None,
    };
    SaveOptions {
        format: SaveFormat::Rdb,
        timestamp_s: None,
        target: rdb_path(srv),
        temp: srv
            .config
            .dir
            .join(format!("temp-{}-{temp_tag}.rdb", std::process::id())),
        compress: srv.config.rdbcompression,
        checksum: srv.config.rdbchecksum,
        aux: vec![
            ("redis-ver".into(), crate::REDIS_VERSION.into()),
            ("redis-bits".into(), "64".into()),
            ("ctime".into(), (now_ms / 1000).to_string()),
            ("used-mem".into(), crate::memory::used_memory().to_string()),
            ("aof-base".into(), "0".into()),
        ],
        access,
        db_sizes: srv
            .keyspace
            .db_sizes()
            .iter()
            .map(|(k, e, _)| (*k, *e))
            .collect(),
        functions: srv.scripting.functions.codes(),
    }
}

/// SAVE: a synchronous snapshot. Errors are the reply text.
pub fn save_sync(srv: &mut Server) -> Result<(), String> {
    if srv.rdb.bgsave.is_some() {
        return Err("ERR Background save already in progress".into());
    }
    // An AOF rewrite holds the snapshot: finish capturing it first.
    while srv.keyspace.snapshot_active() && !srv.keyspace.snapshot_step(usize::MAX) {
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
    let opts = options(srv, "save");
    let (sink, handle) = save::start(opts).map_err(|e| {
        log_warning!("Failed opening the temp RDB file for saving: {e}");
        "ERR".to_string()
    })?;
    let dirty_at_start = srv.keyspace.shared.dirty;
    srv.keyspace.snapshot_now(Box::new(sink));
    match handle.result.recv() {
        Ok(Ok(_)) => {
            log_notice!("DB saved on disk");
            srv.keyspace.shared.dirty -= dirty_at_start.min(srv.keyspace.shared.dirty);
            srv.last_save_s = clock::now_ms() / 1000;
            srv.rdb.last_bgsave_ok = true;
            srv.rdb.saves += 1;
            Ok(())
        }
        Ok(Err(e)) => {
            log_warning!("{e}");
            srv.rdb.last_bgsave_ok = false;
            Err("ERR".into())
        }
        Err(_) => Err("ERR".into()),
    }
}

/// BGSAVE: starts a background snapshot.
pub fn start_bgsave(srv: &mut Server) -> Result<(), String> {
    if srv.rdb.bgsave.is_some() {
        return Err("ERR Background save already in progress".into());
    }
    if srv.keyspace.snapshot_active() || srv.aof.as_ref().is_some_and(|a| a.rewrite.is_some()) {
        return Err("ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.".into());
    }
    srv.rdb.last_try_ms = clock::now_ms();
    let opts = options(srv, "bgsave");
    let (sink, handle) = match save::start(opts) {
        Ok(x) => x,
        Err(e) => {
            srv.rdb.last_bgsave_ok = false;
            log_warning!("Can't save in background: {e}");
            return Err(format!("ERR Can't save in background: {e}"));
        }
    };
    srv.keyspace.snapshot_begin(Box::new(sink));
    srv.rdb.bgsave = Some(BgSave {
        handle,
        start_ms: clock::now_ms(),
        dirty_at_start: srv.keyspace.shared.dirty,
        keys_total: srv.keyspace.total_keys() as u64,
    });
    srv.rdb.scheduled = false;
    log_notice!("Background saving started (fork-free snapshot)");
    Ok(())
}

/// Runs a slice of snapshot work and collects finished saves and loads.
/// Returns true when the loop should not sleep (a load in progress); a
/// snapshot resumes within a millisecond through `wake_within_ms`.
pub fn tick(srv: &mut Server, served: Option<Duration>) -> bool {
    poll_loading(srv);
    if srv.keyspace.snapshot_active() {
        let budget = match served {
            None => SNAPSHOT_IDLE_BUDGET,
            Some(t) => {
                let earned = (t / SNAPSHOT_BUSY_SHARE_DIVISOR).as_nanos() as i64;
                let max = SNAPSHOT_CREDIT_MAX.as_nanos() as i64;
                let credit = &mut srv.rdb.walk_credit_ns;
                *credit = credit.saturating_add(earned).min(max);
                Duration::from_nanos((*credit).max(0) as u64)
            }
        };
        if !budget.is_zero() {
            let start = Instant::now();
            let finished = loop {
                if srv.keyspace.snapshot_step(ENTRIES_PER_CHECK) {
                    break true;
                }
                // The encoder thread is behind: let the loop sleep briefly.
                if !srv.keyspace.snapshot_wants_more() || start.elapsed() >= budget {
                    // Not "busy": the loop polls with a 1 ms timeout (see above).
                    break false;
                }
            };
            if served.is_some() {
                // An overrun (the last slice past the budget) is paid back
                // by later turns.
                let spent = start.elapsed().as_nanos() as i64;
                srv.rdb.walk_credit_ns = srv.rdb.walk_credit_ns.saturating_sub(spent);
            }
            if !finished {
                return false;
            }
        }
    } else {
        srv.rdb.walk_credit_ns = 0;
    }
    if srv.rdb.bgsave.is_none() {
        return srv.rdb.loading.is_some();
    }
    let finished = match srv.rdb.bgsave.as_ref().map(|b| b.handle.result.try_recv()) {
        Some(Ok(r)) => Some(r),
        Some(Err(TryRecvError::Disconnected)) => Some(Err("the RDB writer thread exited".into())),
        _ => None,
    };
    if let Some(result) = finished {
        finish_bgsave(srv, result);
        return false;
    }
    // The encoder thread is still writing; the cron looks again.
    false
}

fn finish_bgsave(srv: &mut Server, result: save::SaveResult) {
    let Some(bg) = srv.rdb.bgsave.take() else {
        return;
    };
    let now = clock::now_ms();
    srv.rdb.last_bgsave_time_sec = ((now - bg.start_ms) / 1000) as i64;
    srv.rdb.last_cow_size = bg
        .handle
        .stats
        .peak_bytes_in_flight
        .load(std::sync::atomic::Ordering::Relaxed);
    match result {
        Ok(_) => {
            log_notice!("Background saving terminated with success");
            srv.keyspace.shared.dirty -= bg.dirty_at_start.min(srv.keyspace.shared.dirty);
            srv.last_save_s = now / 1000;
            srv.rdb.last_bgsave_ok = true;
            srv.rdb.saves += 1;
        }
        Err(e) => {
            log_warning!("Background saving error: {e}");
            srv.rdb.last_bgsave_ok = false;
        }
    }
}

/// How soon the loop should wake to continue a save waiting on its encoder.
pub fn wake_within_ms(srv: &Server) -> Option<u64> {
    if srv.keyspace.snapshot_active() {
        // The walk goes on after at most a millisecond of sleep.
        return Some(1);
    }
    srv.rdb.bgsave.as_ref()?;
    Some(10)
}

/// The save points and scheduled BGSAVEs (called from the cron).
pub fn cron(srv: &mut Server, now_ms: u64) {
    if srv.rdb.bgsave.is_some() || srv.rdb.loading.is_some() || srv.keyspace.snapshot_active() {
        return;
    }
    if srv.rdb.scheduled {
        let _ = start_bgsave(srv);
        return;
    }
    let dirty = srv.keyspace.shared.dirty;
    let since_s = (now_ms / 1000).saturating_sub(srv.last_save_s);
    let may_retry = srv.rdb.last_bgsave_ok
        || now_ms.saturating_sub(srv.rdb.last_try_ms) > BGSAVE_RETRY_DELAY_MS;
    for &(secs, changes) in &srv.config.save_points {
        if dirty >= changes && since_s >= secs && may_retry {
            log_notice!("{changes} changes in {secs} seconds. Saving...");
            let _ = start_bgsave(srv);
            return;
        }
    }
}

/// Whether writes must be refused because the last background save failed (MISCONF).
pub fn writes_refused(srv: &Server) -> bool {
    srv.config.stop_writes_on_bgsave_error
        && !srv.config.save_points.is_empty()
        && !srv.rdb.last_bgsave_ok
}

pub const MISCONF: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";

/// Stops a running BGSAVE (FLUSHALL, SHUTDOWN): the temp file is removed.
pub fn kill_bgsave(srv: &mut Server) {
    if srv.rdb.bgsave.take().is_some() {
        srv.keyspace.snapshot_abort();
        log_warning!("Background saving aborted");
    }
}

pub struct Loading {
    rx: Receiver<Result<LoadedFile, String>>,
}

/// Starts loading `dir/dbfilename` if it exists; clients get -LOADING until done.
pub fn start_loading(srv: &mut Server) {
    let path = rdb_path(srv);
    let Ok(meta) = std::fs::metadata(&path) else {
        return;
    };
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let databases = srv.keyspace.db_count();
    let verify = srv.config.rdbchecksum;
    let encodings = srv.keyspace.shared.encodings;
    srv.loading = true;
    srv.rdb.loading_start_ms = clock::now_ms();
    srv.rdb.loading_total_bytes = meta.len();
    let thread_path = path.clone();
    let spawned = std::thread::Builder::new()
        .name("rdb-loader".into())
        .spawn(move || {
            let _ = tx.send(load_file(&thread_path, databases, verify, encodings));
        });
    if spawned.is_err() {
        fatal_load_error(&path, "could not start the loader thread".into());
    }
    srv.rdb.loading = Some(Loading { rx });
}

/// What an RDB file held: the keyspace, keys loaded, keys expired, and
/// the function libraries' sources (FUNCTION2 records).
type LoadedFile = (Keyspace, u64, u64, Vec<Vec<u8>>);

/// Reads a whole RDB file into a new keyspace.
pub fn load_file(
    path: &std::path::Path,
    databases: usize,
    verify: bool,
    encodings: strata_engine::Encodings,
) -> Result<LoadedFile, String> {
    let mut ks = Keyspace::new(databases);
    ks.shared.encodings = encodings;
    ks.set_now_ms(clock::now_ms());
    let (loaded, expired, functions) = load_into(&mut ks, path, verify)?;
    Ok((ks, loaded, expired, functions))
}

/// Loads an RDB file into an existing keyspace (keys in the file replace
/// keys of the same name): (keys loaded, keys expired, function library
/// sources). Counts no changes.
pub fn load_into(
    ks: &mut Keyspace,
    path: &std::path::Path,
    verify: bool,
) -> Result<(u64, u64, Vec<Vec<u8>>), String> {
    let file = std::fs::File::open(path).map_err(|e| format!("can't open: {e}"))?;
    let now = ks.now_ms();
    let databases = ks.db_count();
    let dirty_before = ks.shared.dirty;
    let (mut loaded, mut expired) = (0u64, 0u64);
    let mut functions = Vec::new();
    let reader = std::io::BufReader::with_capacity(1 << 20, file);
    let encodings = ks.shared.encodings;
    load::load_with(reader, verify, &encodings, |item| {
        match item {
            Item::Aux(k, v) => {
                if k == b"redis-ver" {
                    log_notice!("Loading RDB produced by version {}", String::from_utf8_lossy(&v));
                } else if k == b"ctime" {
                    if let Ok(t) = String::from_utf8_lossy(&v).parse::<u64>() {
                        log_notice!("RDB age {} seconds", (now / 1000).saturating_sub(t));
                    }
                } else if k == b"used-mem" {
                    if let Ok(m) = String::from_utf8_lossy(&v).parse::<u64>() {
                        log_notice!("RDB memory usage when created {:.2} Mb", m as f64 / (1024.0 * 1024.0));
                    }
                }
            }
            Item::ResizeDb { .. } => {}
            Item::Function(code) => functions.push(code),
            Item::Entry { db, key, value, expire_at_ms, .. } => {
                if db >= databases {
                    return Err(format!("FATAL: Data file was created with a Redis server configured to handle more than {databases} databases. Exiting"));
                }
                if let Some(at) = expire_at_ms {
                    if at <= now {
                        expired += 1;
                        return Ok(());
                    }
                }
                insert_loaded(ks, db, &key, value, expire_at_ms);
                loaded += 1;
            }
        }
        Ok(())
    })
    .map_err(|e| e.to_string())?;
    ks.shared.dirty = dirty_before;
    ks.shared.events.clear();
    Ok((loaded, expired, functions))
}

/// Loads an RDB stream that may be followed by more data (an AOF preamble):
/// returns (keys loaded, offset just after the RDB's checksum, function
/// library sources).
pub fn load_prefix_into<R: std::io::Read>(
    ks: &mut Keyspace,
    input: R,
    verify: bool,
) -> Result<(u64, u64, Vec<Vec<u8>>), String> {
    let now = ks.now_ms();
    let databases = ks.db_count();
    let dirty_before = ks.shared.dirty;
    let encodings = ks.shared.encodings;
    let mut loaded = 0u64;
    let mut functions = Vec::new();
    let info = load::load_with(input, verify, &encodings, |item| {
        match item {
            Item::Entry {
                db,
                key,
                value,
                expire_at_ms,
                ..
            } => {
                if db >= databases {
                    return Err(format!("database {db} is out of range"));
                }
                if expire_at_ms.is_some_and(|at| at <= now) {
                    return Ok(());
                }
                insert_loaded(ks, db, &key, value, expire_at_ms);
                loaded += 1;
            }
            Item::Function(code) => functions.push(code),
            _ => {}
        }
        Ok(())
    })
    .map_err(|e| e.to_string())?;
    ks.shared.dirty = dirty_before;
    ks.shared.events.clear();
    Ok((loaded, info.bytes, functions))
}

fn insert_loaded(
    ks: &mut Keyspace,
    db: usize,
    key: &[u8],
    value: Value,
    expire_at_ms: Option<u64>,
) {
    let mut view = ks.db(db);
    view.set(key, value, false);
    if let Some(at) = expire_at_ms {
        view.set_expire_at(key, at);
    }
}

fn poll_loading(srv: &mut Server) {
    let Some(loading) = srv.rdb.loading.as_ref() else {
        return;
    };
    let result = match loading.rx.try_recv() {
        Ok(r) => r,
        Err(TryRecvError::Empty) => return,
        Err(TryRecvError::Disconnected) => Err("the loader thread exited".into()),
    };
    srv.rdb.loading = None;
    match result {
        Ok((mut ks, loaded, expired, functions)) => {
            restore_functions(srv, functions);
            // Keep the settings that came from the configuration.
            ks.shared.notify_flags = srv.keyspace.shared.notify_flags;
            ks.shared.lfu = srv.keyspace.shared.lfu;
            ks.shared.lfu_log_factor = srv.keyspace.shared.lfu_log_factor;
            ks.shared.lfu_decay_time_min = srv.keyspace.shared.lfu_decay_time_min;
            ks.shared.encodings = srv.keyspace.shared.encodings;
            ks.set_now_ms(clock::now_ms());
            srv.keyspace = ks;
            srv.loading = false;
            srv.rdb.last_load_keys_loaded = loaded;
            srv.rdb.last_load_keys_expired = expired;
            log_notice!("Done loading RDB, keys loaded: {loaded}, keys expired: {expired}.");
            let secs = (clock::now_ms() - srv.rdb.loading_start_ms) as f64 / 1000.0;
            log_notice!("DB loaded from disk: {secs:.3} seconds");
            log_notice!("Ready to accept connections");
        }
        Err(e) => fatal_load_error(&rdb_path(srv), e),
    }
}

/// Installs function libraries read from an RDB (FUNCTION2 records).
pub fn restore_functions(srv: &mut Server, functions: Vec<Vec<u8>>) {
    for code in functions {
        if let Err(e) = srv
            .scripting
            .functions
            .load(&bytes::Bytes::from(code), true)
        {
            log_warning!("Failed loading a function library from the RDB: {}", e.0);
        }
    }
}

/// A file that cannot be loaded stops start-up: name it, say where, say the fix.
fn fatal_load_error(path: &std::path::Path, what: String) -> ! {
    log_warning!("Error loading the RDB file {}: {what}", path.display());
    log_warning!(
        "The file may be damaged. Inspect it with: strata-check-rdb {} (move it away to start with an empty dataset).",
        path.display()
    );
    log_warning!("Terminating server after rdb file reading failure.");
    std::process::exit(1);
}

/// Saves before exiting when save points exist or SAVE was asked (not with NOSAVE).
pub fn save_on_shutdown(srv: &mut Server, save: Option<bool>) -> Result<(), String> {
    kill_bgsave(srv);
    let wanted = match save {
        Some(s) => s,
        None => !srv.config.save_points.is_empty(),
    };
    if !wanted {
        return Ok(());
    }
    log_notice!("Saving the final RDB snapshot before exiting.");
    save_sync(srv).map_err(|_| "Error trying to save the DB, can't exit.".to_string())
}

/// ((bytes in flight now, peak), keys written, keys at start) of the running BGSAVE.
pub fn bgsave_progress(srv: &Server) -> ((u64, u64), u64, u64) {
    use std::sync::atomic::Ordering::Relaxed;
    match &srv.rdb.bgsave {
        Some(bg) => {
            let s = &bg.handle.stats;
            (
                (
                    s.bytes_in_flight.load(Relaxed),
                    s.peak_bytes_in_flight.load(Relaxed),
                ),
                s.keys_written.load(Relaxed),
                bg.keys_total,
            )
        }
        None => ((0, 0), 0, 0),
    }
}

/// Seconds the running BGSAVE has taken so far, or -1.
pub fn current_bgsave_secs(srv: &Server, now_ms: u64) -> i64 {
    srv.rdb
        .bgsave
        .as_ref()
        .map_or(-1, |b| (now_ms.saturating_sub(b.start_ms) / 1000) as i64)
}
