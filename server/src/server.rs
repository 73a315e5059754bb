//! The server state the executor thread owns: configuration, keyspace, the
//! command table, connected clients and statistics.

use std::collections::{BTreeMap, HashMap};

use crate::commands::CommandTable;
use crate::config::Config;
use crate::net::Conn;
use strata_engine::Keyspace;

/// Per-command counters (INFO commandstats).
#[derive(Default, Clone, Debug)]
pub struct CommandStat {
    pub calls: u64,
    pub usec: u64,
    pub rejected_calls: u64,
    pub failed_calls: u64,
}

#[derive(Default, Debug)]
pub struct Stats {
    pub total_connections_received: u64,
    pub total_commands_processed: u64,
    pub rejected_connections: u64,
    pub net_input_bytes: u64,
    pub net_output_bytes: u64,
    pub total_error_replies: u64,
    pub unexpected_error_replies: u64,
    pub client_qbuf_limit_disconnections: u64,
    pub client_outbuf_limit_disconnections: u64,
    /// Keyed by full command name ("get", "config|get").
    pub commands: ahash::AHashMap<String, CommandStat>,
    /// Keyed by error code ("ERR", "WRONGTYPE").
    pub errors: HashMap<String, u64>,
    /// Instantaneous ops/sec samples, filled by cron.
    pub ops_samples: [u64; 16],
    pub ops_sample_idx: usize,
    pub ops_last_count: u64,
    pub ops_last_ms: u64,
}

/// What SHUTDOWN (or a signal) asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShutdownRequest {
    /// Some(true) for SAVE, Some(false) for NOSAVE, None to follow the save points.
    pub save: Option<bool>,
    pub now: bool,
    pub force: bool,
    /// The SHUTDOWN command already ran `shutdown::prepare`: exit at once.
    pub prepared: bool,
}

pub struct Server {
    pub config: Config,
    pub keyspace: Keyspace,
    pub commands: CommandTable,
    /// Connected clients other than the one being served, by id.
    pub clients: BTreeMap<u64, Box<Conn>>,
    /// When the last command of the batch being run ended: the next command
    /// of the same batch starts its clock there, so a command costs one
    /// clock read, not two (this VM's clock is a syscall). Cleared whenever
    /// the loop does anything else (`net.rs`).
    pub call_clock: Option<std::time::Instant>,
    pub stats: Stats,
    pub next_client_id: u64,
    pub start_ms: u64,
    pub run_id: String,
    /// True while a dataset is being loaded (commands get -LOADING).
    pub loading: bool,
    pub shutdown: Option<ShutdownRequest>,
    /// Unix seconds of the last successful save (LASTSAVE).
    pub last_save_s: u64,
    /// Clients paused until this time (CLIENT PAUSE), and whether only writes are paused.
    pub pause_until_ms: u64,
    pub pause_writes_only: bool,
    /// Ids of clients with replies to write (or to close, if `close_asap`).
    pub pending_writes: Vec<u64>,
    /// RDB saving and loading state.
    pub rdb: crate::persist::RdbState,
    /// Frees big values and flushed databases off the executor thread.
    pub lazyfree: crate::lazyfree::LazyFree,
    /// Slow log, latency monitor, rates and memory peaks (INFO, SLOWLOG, LATENCY).
    pub introspect: crate::introspect::Introspection,
    /// Ids of clients in MONITOR mode, in the order they started it.
    pub monitors: Vec<u64>,
    /// TCP listeners bound by CONFIG SET port/bind, for the event loop to
    /// put in place of the current ones.
    pub new_tcp_listeners: Option<Vec<std::net::TcpListener>>,
    /// Effects of the running command for the AOF.
    pub propagation: crate::propagate::Propagation,
    /// The append-only file, when `appendonly yes`.
    pub aof: Option<crate::aof::Aof>,
    /// Clients blocked in XREAD/XREADGROUP (see blocking_streams.rs).
    pub stream_blocking: crate::blocking_streams::StreamBlocking,
    /// Clients parked by blocking commands (BLPOP, ...).
    pub blocking: crate::blocking::Blocking,
    /// WATCHed keys and the clients whose EXEC they will fail.
    pub watches: crate::multi::Watches,
    /// Channel, pattern and shard channel subscriptions.
    pub pubsub: crate::pubsub::PubSub,
    /// Lua: the EVAL script cache, FUNCTION libraries, the running script.
    pub scripting: crate::scripting::Scripting,
    /// Listeners and poll registry for serving clients while a script runs.
    pub busy_io: Option<crate::net::BusyIo>,
}

impl Server {
    pub fn new(config: Config) -> Server {
        let now = crate::clock::now_ms();
        let mut keyspace = Keyspace::new(config.databases);
        keyspace.set_now_ms(now);
        keyspace.shared.notify_flags = config.notify_keyspace_events;
        keyspace.shared.encodings = config.encodings();
        let mut srv = Server {
            config,
            keyspace,
            commands: CommandTable::new(),
            clients: BTreeMap::new(),
            call_clock: None,
            stats: Stats::default(),
            next_client_id: 1,
            start_ms: now,
            run_id: random_hex(40),
            loading: false,
            shutdown: None,
            last_save_s: now / 1000,
            pause_until_ms: 0,
            pause_writes_only: false,
            pending_writes: Vec::new(),
            rdb: Default::default(),
            lazyfree: crate::lazyfree::LazyFree::new(),
            introspect: Default::default(),
            monitors: Vec::new(),
            new_tcp_listeners: None,
            propagation: Default::default(),
            aof: None,
            stream_blocking: Default::default(),
            blocking: Default::default(),
            watches: Default::default(),
            pubsub: Default::default(),
            scripting: crate::scripting::Scripting::new(),
            busy_io: None,
        };
        crate::family::config::on_start(&mut srv);
        srv
    }
}

/// A random hex string (run ids, replication ids).
pub fn random_hex(len: usize) -> String {
    let mut seed = crate::clock::now_us() ^ ((std::process::id() as u64) << 32);
    let mut s = String::with_capacity(len);
    for _ in 0..len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        s.push(char::from_digit((seed % 16) as u32, 16).unwrap_or('0'));
    }
    s
}
