//! Server configuration exactly as Redis 7.0 does it.
//!
//! - `table`: every directive (name, alias, type, bounds, default, flags).
//! - `parse`: value parsers with Redis's acceptance rules.
//! - `special`: the directives with their own syntax (save, bind, ...).
//! - `load`: `strata-server [file] [--name value ...]`, the file reader and
//!   its FATAL CONFIG FILE ERROR reports.
//! - `rewrite`: CONFIG REWRITE.
//!
//! Invariants: the table's values live in `Config::values` (bool, number,
//! enum and string directives) or, for special directives, in their typed
//! field; every other typed field mirrors the table and is refreshed by
//! `sync_typed` after each change. Code elsewhere reads typed fields and
//! changes configuration only through `Config::set`.

pub mod load;
pub mod parse;
pub mod rewrite;
pub mod special;
pub mod table;
pub mod validate;

use std::borrow::Cow;
use std::path::PathBuf;

use table::{Kind, NumFormat, Special, TABLE};

/// The value of a table directive that is not special.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Bool(bool),
    /// A C `long long`; memory directives above `i64::MAX` wrap, as in Redis.
    Num(i64),
    /// The enum's value id (several names may map to one id).
    Enum(u8),
    /// None: not set (reported as the empty string).
    Str(Option<Vec<u8>>),
    /// Kept in a typed field (see `special`).
    Special,
}

/// Where a value comes from: a config file (or the command line) or CONFIG SET.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetMode {
    File,
    Runtime,
}

pub type SetError = Cow<'static, str>;

#[derive(Debug, Clone)]
pub struct Config {
    pub port: u16,
    pub bind: Vec<String>,
    pub unixsocket: Option<String>,
    pub dir: PathBuf,
    pub databases: usize,
    pub timeout_s: u64,
    pub maxclients: usize,
    pub requirepass: Option<Vec<u8>>,
    pub hz: u32,
    pub proto_max_bulk_len: i64,
    pub client_query_buffer_limit: u64,
    pub logfile: String,
    pub loglevel: String,
    pub pidfile: Option<String>,
    pub notify_keyspace_events: u32,
    pub config_file: Option<PathBuf>,
    /// client-output-buffer-limit for normal, replica and pubsub clients.
    pub client_output_buffer_limits: [ObufLimit; 3],
    pub slowlog_log_slower_than_us: i64,
    pub slowlog_max_len: usize,
    pub latency_monitor_threshold_ms: u64,
    pub maxmemory_bytes: u64,
    pub maxmemory_policy: String,
    /// `save <seconds> <changes>` points.
    pub save_points: Vec<(u64, u64)>,
    pub appendonly: bool,
    pub appendfsync: String,
    pub appendfilename: String,
    pub appenddirname: String,
    pub dbfilename: String,
    pub tcp_keepalive_s: u64,
    pub protected_mode: bool,
    pub lazyfree_lazy_user_del: bool,
    pub lazyfree_lazy_user_flush: bool,
    pub busy_reply_threshold_ms: u64,

    // Typed mirrors of more table values.
    pub daemonize: bool,
    pub supervised: String,
    pub unixsocketperm: u32,
    pub tcp_backlog: u32,
    pub maxmemory_samples: u32,
    pub maxmemory_eviction_tenacity: u32,
    /// Negative: a percentage of maxmemory (`5%` is -5), as Redis stores it.
    pub maxmemory_clients: i64,
    pub lfu_log_factor: u32,
    pub lfu_decay_time_min: u32,
    pub active_expire_effort: u32,
    pub activerehashing: bool,
    pub dynamic_hz: bool,
    pub aof_use_rdb_preamble: bool,
    pub aof_load_truncated: bool,
    pub aof_timestamp_enabled: bool,
    pub aof_rewrite_incremental_fsync: bool,
    pub no_appendfsync_on_rewrite: bool,
    pub auto_aof_rewrite_percentage: u32,
    pub auto_aof_rewrite_min_size: u64,
    pub rdbcompression: bool,
    pub rdbchecksum: bool,
    pub rdb_del_sync_files: bool,
    pub rdb_save_incremental_fsync: bool,
    pub rdb_key_save_delay_us: i64,
    pub key_load_delay_us: i64,
    pub stop_writes_on_bgsave_error: bool,
    pub lazyfree_lazy_eviction: bool,
    pub lazyfree_lazy_expire: bool,
    pub lazyfree_lazy_server_del: bool,
    pub replica_lazy_flush: bool,
    pub replica_read_only: bool,
    pub replica_serve_stale_data: bool,
    pub repl_backlog_size: u64,
    pub repl_backlog_ttl_s: u64,
    pub repl_timeout_s: u64,
    pub repl_ping_replica_period_s: u64,
    pub repl_diskless_sync: bool,
    pub repl_diskless_sync_delay_s: u64,
    pub min_replicas_to_write: u32,
    pub min_replicas_max_lag_s: u64,
    pub masterauth: Option<Vec<u8>>,
    pub masteruser: Option<Vec<u8>>,
    /// `replicaof <host> <port>`; None for a master.
    pub replicaof: Option<(String, u16)>,
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
    pub set_max_intset_entries: usize,
    pub list_max_listpack_size: i32,
    pub list_compress_depth: u32,
    pub stream_node_max_bytes: usize,
    pub stream_node_max_entries: i64,
    pub hll_sparse_max_bytes: usize,
    pub latency_tracking: bool,
    pub latency_tracking_info_percentiles: Vec<f64>,
    pub acllog_max_len: usize,
    pub aclfile: String,
    pub acl_pubsub_default: String,
    pub tracking_table_max_keys: u64,
    pub shutdown_timeout_s: u64,
    pub shutdown_on_sigint: String,
    pub shutdown_on_sigterm: String,
    pub enable_debug_command: String,
    pub enable_module_command: String,
    pub enable_protected_configs: String,
    pub sanitize_dump_payload: String,
    pub oom_score_adj_values: [i32; 3],

    // Directives that are not settings.
    /// `rename-command <old> <new>` lines, in order.
    pub rename_commands: Vec<(Vec<u8>, Vec<u8>)>,
    /// `user <name> <rules...>` lines for the ACL module.
    pub users: Vec<Vec<Vec<u8>>>,
    /// `loadmodule <path> <args...>` lines.
    pub load_modules: Vec<Vec<Vec<u8>>>,
    /// `<module>.<name> <value>` lines no module has claimed.
    pub module_configs: Vec<(Vec<u8>, Vec<u8>)>,

    /// Values of the table's directives, one per row.
    values: Vec<Val>,
    /// While reading a file: the first `save` line drops the default points.
    save_seen_in_file: bool,
}

/// One class of `client-output-buffer-limit` (0 means no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ObufLimit {
    pub hard_bytes: u64,
    pub soft_bytes: u64,
    pub soft_seconds: u64,
}

pub const OBUF_NORMAL: usize = 0;
pub const OBUF_REPLICA: usize = 1;
pub const OBUF_PUBSUB: usize = 2;

/// Redis's defaults for the three output buffer classes.
pub const OBUF_DEFAULTS: [ObufLimit; 3] = [
    ObufLimit {
        hard_bytes: 0,
        soft_bytes: 0,
        soft_seconds: 0,
    },
    ObufLimit {
        hard_bytes: 256 << 20,
        soft_bytes: 64 << 20,
        soft_seconds: 60,
    },
    ObufLimit {
        hard_bytes: 32 << 20,
        soft_bytes: 8 << 20,
        soft_seconds: 60,
    },
];
pub const SAVE_DEFAULTS: [(u64, u64); 3] = [(3600, 1), (300, 100), (60, 10000)];
pub const BIND_DEFAULTS: [&str; 2] = ["*", "-::*"];
pub const OOM_SCORE_ADJ_DEFAULTS: [i32; 3] = [0, 200, 800];
pub const LATENCY_PERCENTILES_DEFAULTS: [f64; 3] = [50.0, 99.0, 99.9];
/// `hz` is clamped to this range (CONFIG_MIN_HZ, CONFIG_MAX_HZ).
pub const HZ_MIN: i64 = 1;
pub const HZ_MAX: i64 = 500;

impl Default for Config {
    fn default() -> Self {
        let values = TABLE
            .iter()
            .map(|d| match d.kind {
                Kind::Bool { default } => Val::Bool(default),
                Kind::Num { default, .. } => Val::Num(default),
                Kind::Enum { default, .. } => Val::Enum(default),
                Kind::Str { default, .. } => Val::Str(default.map(|s| s.as_bytes().to_vec())),
                Kind::Special(_) => Val::Special,
            })
            .collect();
        let mut c = Config {
            port: 0,
            bind: BIND_DEFAULTS.iter().map(|s| s.to_string()).collect(),
            unixsocket: None,
            dir: PathBuf::from("."),
            databases: 0,
            timeout_s: 0,
            maxclients: 0,
            requirepass: None,
            hz: 0,
            proto_max_bulk_len: 0,
            client_query_buffer_limit: 0,
            logfile: String::new(),
            loglevel: String::new(),
            pidfile: None,
            notify_keyspace_events: 0,
            config_file: None,
            client_output_buffer_limits: OBUF_DEFAULTS,
            slowlog_log_slower_than_us: 0,
            slowlog_max_len: 0,
            latency_monitor_threshold_ms: 0,
            maxmemory_bytes: 0,
            maxmemory_policy: String::new(),
            save_points: SAVE_DEFAULTS.to_vec(),
            appendonly: false,
            appendfsync: String::new(),
            appendfilename: String::new(),
            appenddirname: String::new(),
            dbfilename: String::new(),
            tcp_keepalive_s: 0,
            protected_mode: false,
            lazyfree_lazy_user_del: false,
            lazyfree_lazy_user_flush: false,
            busy_reply_threshold_ms: 0,
            daemonize: false,
            supervised: String::new(),
            unixsocketperm: 0,
            tcp_backlog: 0,
            maxmemory_samples: 0,
            maxmemory_eviction_tenacity: 0,
            maxmemory_clients: 0,
            lfu_log_factor: 0,
            lfu_decay_time_min: 0,
            active_expire_effort: 0,
            activerehashing: false,
            dynamic_hz: false,
            aof_use_rdb_preamble: false,
            aof_load_truncated: false,
            aof_timestamp_enabled: false,
            aof_rewrite_incremental_fsync: false,
            no_appendfsync_on_rewrite: false,
            auto_aof_rewrite_percentage: 0,
            auto_aof_rewrite_min_size: 0,
            rdbcompression: false,
            rdbchecksum: false,
            rdb_del_sync_files: false,
            rdb_save_incremental_fsync: false,
            rdb_key_save_delay_us: 0,
            key_load_delay_us: 0,
            stop_writes_on_bgsave_error: false,
            lazyfree_lazy_eviction: false,
            lazyfree_lazy_expire: false,
            lazyfree_lazy_server_del: false,
            replica_lazy_flush: false,
            replica_read_only: false,
            replica_serve_stale_data: false,
            repl_backlog_size: 0,
            repl_backlog_ttl_s: 0,
            repl_timeout_s: 0,
            repl_ping_replica_period_s: 0,
            repl_diskless_sync: false,
            repl_diskless_sync_delay_s: 0,
            min_replicas_to_write: 0,
            min_replicas_max_lag_s: 0,
            masterauth: None,
            masteruser: None,
            replicaof: None,
            hash_max_listpack_entries: 0,
            hash_max_listpack_value: 0,
            zset_max_listpack_entries: 0,
            zset_max_listpack_value: 0,
            set_max_intset_entries: 0,
            list_max_listpack_size: 0,
            list_compress_depth: 0,
            stream_node_max_bytes: 0,
            stream_node_max_entries: 0,
            hll_sparse_max_bytes: 0,
            latency_tracking: false,
            latency_tracking_info_percentiles: LATENCY_PERCENTILES_DEFAULTS.to_vec(),
            acllog_max_len: 0,
            aclfile: String::new(),
            acl_pubsub_default: String::new(),
            tracking_table_max_keys: 0,
            shutdown_timeout_s: 0,
            shutdown_on_sigint: String::new(),
            shutdown_on_sigterm: String::new(),
            enable_debug_command: String::new(),
            enable_module_command: String::new(),
            enable_protected_configs: String::new(),
            sanitize_dump_payload: String::new(),
            oom_score_adj_values: OOM_SCORE_ADJ_DEFAULTS,
            rename_commands: Vec::new(),
            users: Vec::new(),
            load_modules: Vec::new(),
            module_configs: Vec::new(),
            values,
            save_seen_in_file: false,
        };
        c.sync_typed();
        c
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl Config {
    /// Parses `strata-server [config-file] [--directive value ...]` (without
    /// the program name). The error is the complete report to print.
    pub fn from_args(args: &[String]) -> Result<Config, String> {
        let args: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
        match load::parse_command_line(&args) {
            Ok(load::Startup::Run(c)) => Ok(*c),
            Ok(_) => Err("unexpected option".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The value of a table row.
    pub fn value(&self, idx: usize) -> &Val {
        &self.values[idx]
    }

    /// A bool directive by primary name (false for an unknown name).
    pub fn bool_of(&self, name: &str) -> bool {
        matches!(
            table::index_of(name).map(|i| &self.values[i]),
            Some(Val::Bool(true))
        )
    }

    /// A numeric directive by primary name (0 for an unknown name).
    pub fn num_of(&self, name: &str) -> i64 {
        match table::index_of(name).map(|i| &self.values[i]) {
            Some(Val::Num(n)) => *n,
            _ => 0,
        }
    }

    /// A string directive by primary name (None when unset or unknown).
    pub fn str_of(&self, name: &str) -> Option<&[u8]> {
        match table::index_of(name).map(|i| &self.values[i]) {
            Some(Val::Str(Some(s))) => Some(s),
            _ => None,
        }
    }

    /// An enum directive's reported name by primary name ("" for an unknown name).
    pub fn enum_of(&self, name: &str) -> &'static str {
        table::index_of(name).map_or("", |i| self.enum_name(i))
    }

    fn enum_name(&self, idx: usize) -> &'static str {
        match (&TABLE[idx].kind, &self.values[idx]) {
            (Kind::Enum { names, .. }, Val::Enum(v)) => {
                names.iter().find(|(_, id)| id == v).map_or("", |(n, _)| n)
            }
            _ => "",
        }
    }

    /// Sets a table directive from its arguments (a multi-argument directive
    /// gets them already split). Ok(true) when the value changed.
    pub fn set(&mut self, idx: usize, args: &[&[u8]], mode: SetMode) -> Result<bool, SetError> {
        let d = &TABLE[idx];
        let changed = match d.kind {
            Kind::Special(which) => special::set(self, which, args, mode)?,
            _ => {
                let [arg] = args else {
                    return Err("wrong number of arguments".into());
                };
                let new = parse_value(&d.kind, arg)?;
                let new = normalize(d.name, new);
                let changed = self.values[idx] != new;
                self.values[idx] = new;
                changed
            }
        };
        self.sync_typed();
        Ok(changed)
    }

    /// Sets a directive by name or alias, as CONFIG SET would but without
    /// its immutability checks (for commands such as REPLICAOF that own a
    /// directive). Ok(true) when the value changed.
    pub fn set_by_name(&mut self, name: &str, args: &[&[u8]]) -> Result<bool, SetError> {
        let found = table::lookup(name.as_bytes()).ok_or(Cow::Borrowed("no such directive"))?;
        self.set(found.idx, args, SetMode::Runtime)
    }

    /// The value as CONFIG GET reports it.
    pub fn get(&self, idx: usize) -> Vec<u8> {
        let d = &TABLE[idx];
        match (&d.kind, &self.values[idx]) {
            (Kind::Special(which), _) => special::get(self, *which),
            (_, Val::Bool(b)) => {
                if *b {
                    b"yes".to_vec()
                } else {
                    b"no".to_vec()
                }
            }
            (Kind::Num { format, .. }, Val::Num(n)) => fmt_num(*format, *n).into_bytes(),
            (_, Val::Enum(_)) => self.enum_name(idx).as_bytes().to_vec(),
            (_, Val::Str(s)) => s.clone().unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// Refreshes the typed fields from the table's values.
    fn sync_typed(&mut self) {
        let b = |c: &Config, n: &str| c.bool_of(n);
        let n = |c: &Config, name: &str| c.num_of(name);
        let u = |c: &Config, name: &str| c.num_of(name).max(0) as u64;
        let s = |c: &Config, name: &str| c.str_of(name).map(lossy);
        let e = |c: &Config, name: &str| c.enum_of(name).to_string();
        self.port = u(self, "port") as u16;
        self.unixsocket = s(self, "unixsocket");
        self.databases = u(self, "databases") as usize;
        self.timeout_s = u(self, "timeout");
        self.maxclients = u(self, "maxclients") as usize;
        self.requirepass = self.str_of("requirepass").map(|v| v.to_vec());
        self.hz = u(self, "hz") as u32;
        self.proto_max_bulk_len = n(self, "proto-max-bulk-len");
        self.client_query_buffer_limit = u(self, "client-query-buffer-limit");
        self.logfile = s(self, "logfile").unwrap_or_default();
        self.loglevel = e(self, "loglevel");
        self.pidfile = s(self, "pidfile");
        self.slowlog_log_slower_than_us = n(self, "slowlog-log-slower-than");
        self.slowlog_max_len = u(self, "slowlog-max-len") as usize;
        self.latency_monitor_threshold_ms = u(self, "latency-monitor-threshold");
        // A C unsigned long long: keep the bits.
        self.maxmemory_bytes = n(self, "maxmemory") as u64;
        self.maxmemory_policy = e(self, "maxmemory-policy");
        self.appendonly = b(self, "appendonly");
        self.appendfsync = e(self, "appendfsync");
        self.appendfilename = s(self, "appendfilename").unwrap_or_default();
        self.appenddirname = s(self, "appenddirname").unwrap_or_default();
        self.dbfilename = s(self, "dbfilename").unwrap_or_default();
        self.tcp_keepalive_s = u(self, "tcp-keepalive");
        self.protected_mode = b(self, "protected-mode");
        self.lazyfree_lazy_user_del = b(self, "lazyfree-lazy-user-del");
        self.lazyfree_lazy_user_flush = b(self, "lazyfree-lazy-user-flush");
        self.busy_reply_threshold_ms = u(self, "busy-reply-threshold");
        self.daemonize = b(self, "daemonize");
        self.supervised = e(self, "supervised");
        self.unixsocketperm = u(self, "unixsocketperm") as u32;
        self.tcp_backlog = u(self, "tcp-backlog") as u32;
        self.maxmemory_samples = u(self, "maxmemory-samples") as u32;
        self.maxmemory_eviction_tenacity = u(self, "maxmemory-eviction-tenacity") as u32;
        self.maxmemory_clients = n(self, "maxmemory-clients");
        self.lfu_log_factor = u(self, "lfu-log-factor") as u32;
        self.lfu_decay_time_min = u(self, "lfu-decay-time") as u32;
        self.active_expire_effort = u(self, "active-expire-effort") as u32;
        self.activerehashing = b(self, "activerehashing");
        self.dynamic_hz = b(self, "dynamic-hz");
        self.aof_use_rdb_preamble = b(self, "aof-use-rdb-preamble");
        self.aof_load_truncated = b(self, "aof-load-truncated");
        self.aof_timestamp_enabled = b(self, "aof-timestamp-enabled");
        self.aof_rewrite_incremental_fsync = b(self, "aof-rewrite-incremental-fsync");
        self.no_appendfsync_on_rewrite = b(self, "no-appendfsync-on-rewrite");
        self.auto_aof_rewrite_percentage = u(self, "auto-aof-rewrite-percentage") as u32;
        self.auto_aof_rewrite_min_size = u(self, "auto-aof-rewrite-min-size");
        self.rdbcompression = b(self, "rdbcompression");
        self.rdbchecksum = b(self, "rdbchecksum");
        self.rdb_del_sync_files = b(self, "rdb-del-sync-files");
        self.rdb_save_incremental_fsync = b(self, "rdb-save-incremental-fsync");
        self.rdb_key_save_delay_us = n(self, "rdb-key-save-delay");
        self.key_load_delay_us = n(self, "key-load-delay");
        self.stop_writes_on_bgsave_error = b(self, "stop-writes-on-bgsave-error");
        self.lazyfree_lazy_eviction = b(self, "lazyfree-lazy-eviction");
        self.lazyfree_lazy_expire = b(self, "lazyfree-lazy-expire");
        self.lazyfree_lazy_server_del = b(self, "lazyfree-lazy-server-del");
        self.replica_lazy_flush = b(self, "replica-lazy-flush");
        self.replica_read_only = b(self, "replica-read-only");
        self.replica_serve_stale_data = b(self, "replica-serve-stale-data");
        self.repl_backlog_size = u(self, "repl-backlog-size");
        self.repl_backlog_ttl_s = u(self, "repl-backlog-ttl");
        self.repl_timeout_s = u(self, "repl-timeout");
        self.repl_ping_replica_period_s = u(self, "repl-ping-replica-period");
        self.repl_diskless_sync = b(self, "repl-diskless-sync");
        self.repl_diskless_sync_delay_s = u(self, "repl-diskless-sync-delay");
        self.min_replicas_to_write = u(self, "min-replicas-to-write") as u32;
        self.min_replicas_max_lag_s = u(self, "min-replicas-max-lag");
        self.masterauth = self.str_of("masterauth").map(|v| v.to_vec());
        self.masteruser = self.str_of("masteruser").map(|v| v.to_vec());
        self.hash_max_listpack_entries = u(self, "hash-max-listpack-entries") as usize;
        self.hash_max_listpack_value = u(self, "hash-max-listpack-value") as usize;
        self.zset_max_listpack_entries = u(self, "zset-max-listpack-entries") as usize;
        self.zset_max_listpack_value = u(self, "zset-max-listpack-value") as usize;
        self.set_max_intset_entries = u(self, "set-max-intset-entries") as usize;
        self.list_max_listpack_size = n(self, "list-max-listpack-size") as i32;
        self.list_compress_depth = u(self, "list-compress-depth") as u32;
        self.stream_node_max_bytes = u(self, "stream-node-max-bytes") as usize;
        self.stream_node_max_entries = n(self, "stream-node-max-entries");
        self.hll_sparse_max_bytes = u(self, "hll-sparse-max-bytes") as usize;
        self.latency_tracking = b(self, "latency-tracking");
        self.acllog_max_len = u(self, "acllog-max-len") as usize;
        self.aclfile = s(self, "aclfile").unwrap_or_default();
        self.acl_pubsub_default = e(self, "acl-pubsub-default");
        self.tracking_table_max_keys = u(self, "tracking-table-max-keys");
        self.shutdown_timeout_s = u(self, "shutdown-timeout");
        self.shutdown_on_sigint = e(self, "shutdown-on-sigint");
        self.shutdown_on_sigterm = e(self, "shutdown-on-sigterm");
        self.enable_debug_command = e(self, "enable-debug-command");
        self.enable_module_command = e(self, "enable-module-command");
        self.enable_protected_configs = e(self, "enable-protected-configs");
        self.sanitize_dump_payload = e(self, "sanitize-dump-payload");
    }
}

/// Parses one argument for a non-special directive.
fn parse_value(kind: &Kind, arg: &[u8]) -> Result<Val, SetError> {
    match *kind {
        Kind::Bool { .. } => parse::yes_no(arg)
            .map(Val::Bool)
            .ok_or(Cow::Borrowed("argument must be 'yes' or 'no'")),
        Kind::Num {
            min, max, format, ..
        } => {
            let v = parse_num(format, arg)?;
            check_bounds(format, min, max, v)?;
            Ok(Val::Num(v))
        }
        Kind::Enum { names, .. } => {
            if let Some((_, id)) = names
                .iter()
                .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(arg))
            {
                return Ok(Val::Enum(*id));
            }
            let list: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
            Err(format!(
                "argument(s) must be one of the following: {}",
                list.join(", ")
            )
            .into())
        }
        Kind::Str {
            empty_is_null,
            validate,
            ..
        } => {
            if let Some(f) = validate {
                f(arg).map_err(Cow::Borrowed)?;
            }
            Ok(Val::Str(if arg.is_empty() && empty_is_null {
                None
            } else {
                Some(arg.to_vec())
            }))
        }
        Kind::Special(_) => Ok(Val::Special),
    }
}

/// Redis's `numericParseString`: memory units first, then a percentage, then
/// (only for plain numbers) a strict integer.
fn parse_num(format: NumFormat, arg: &[u8]) -> Result<i64, SetError> {
    match format {
        NumFormat::Memory | NumFormat::MemoryPercent => {
            if let Some(v) = parse::memtoull(arg) {
                return Ok(v as i64);
            }
            if format == NumFormat::MemoryPercent && arg.len() > 1 && arg.ends_with(b"%") {
                if let Some(p) = parse::string2ll(&arg[..arg.len() - 1]).filter(|p| *p >= 0) {
                    // Percentages are stored negative.
                    return Ok(-p);
                }
            }
            Err(if format == NumFormat::MemoryPercent {
                "argument must be a memory or percent value"
            } else {
                "argument must be a memory value"
            }
            .into())
        }
        NumFormat::Octal => match parse::strtoll_whole(arg, 8) {
            Some((v, false)) => Ok(v),
            _ => Err("argument couldn't be parsed as an octal number".into()),
        },
        NumFormat::Plain => parse::string2ll(arg)
            .ok_or(Cow::Borrowed("argument couldn't be parsed into an integer")),
    }
}

/// Redis's `numericBoundaryCheck`.
fn check_bounds(format: NumFormat, min: i64, max: u64, v: i64) -> Result<(), SetError> {
    if max > i64::MAX as u64 {
        // An unsigned long long directive: compare the bits as unsigned.
        let (uv, umin) = (v as u64, min as u64);
        if uv > max || uv < umin {
            return Err(if format == NumFormat::Octal {
                format!("argument must be between {umin:o} and {max:o} inclusive")
            } else {
                format!("argument must be between {umin} and {max} inclusive")
            }
            .into());
        }
        return Ok(());
    }
    let max = max as i64;
    if format == NumFormat::MemoryPercent && v < 0 {
        if v < min {
            return Err(format!("percentage argument must be less or equal to {}", -min).into());
        }
        return Ok(());
    }
    if v > max || v < min {
        return Err(if format == NumFormat::Octal {
            format!("argument must be between {min:o} and {max:o} inclusive")
        } else {
            format!("argument must be between {min} and {max} inclusive")
        }
        .into());
    }
    Ok(())
}

/// Values Redis adjusts as it stores them.
fn normalize(name: &str, v: Val) -> Val {
    match (name, v) {
        ("hz", Val::Num(n)) => Val::Num(n.clamp(HZ_MIN, HZ_MAX)),
        (_, v) => v,
    }
}

/// A number as CONFIG GET reports it.
pub fn fmt_num(format: NumFormat, v: i64) -> String {
    match format {
        NumFormat::MemoryPercent if v < 0 => format!("{}%", -(v as i128)),
        NumFormat::Memory | NumFormat::MemoryPercent => (v as u64).to_string(),
        NumFormat::Octal => format!("{v:o}"),
        NumFormat::Plain => v.to_string(),
    }
}

/// Whether a row's current value equals its default (for CONFIG REWRITE).
pub fn is_default(c: &Config, idx: usize) -> bool {
    match (&TABLE[idx].kind, &c.values[idx]) {
        (Kind::Bool { default }, Val::Bool(b)) => b == default,
        (Kind::Num { default, .. }, Val::Num(n)) => n == default,
        (Kind::Enum { default, .. }, Val::Enum(e)) => e == default,
        (Kind::Str { default, .. }, Val::Str(s)) => s.as_deref() == default.map(|d| d.as_bytes()),
        _ => false,
    }
}

/// The special directive of a row, if it is one.
pub fn special_of(idx: usize) -> Option<Special> {
    match TABLE[idx].kind {
        Kind::Special(s) => Some(s),
        _ => None,
    }
}

impl Config {
    /// The encoding limits the engine applies to collection values.
    pub fn encodings(&self) -> strata_engine::Encodings {
        strata_engine::Encodings {
            list_max_listpack_size: self.list_max_listpack_size as i64,
            hash_max_listpack_entries: self.hash_max_listpack_entries,
            hash_max_listpack_value: self.hash_max_listpack_value,
            set_max_intset_entries: self.set_max_intset_entries,
            zset_max_listpack_entries: self.zset_max_listpack_entries,
            zset_max_listpack_value: self.zset_max_listpack_value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(name: &str) -> usize {
        table::index_of(name).unwrap()
    }

    fn set(c: &mut Config, name: &str, v: &str) -> Result<bool, SetError> {
        c.set(idx(name), &[v.as_bytes()], SetMode::Runtime)
    }

    fn get(c: &Config, name: &str) -> String {
        String::from_utf8(c.get(idx(name))).unwrap()
    }

    #[test]
    fn defaults_match_redis() {
        let c = Config::default();
        assert_eq!(get(&c, "maxmemory"), "0");
        assert_eq!(get(&c, "hz"), "10");
        assert_eq!(get(&c, "appendonly"), "yes");
        assert_eq!(get(&c, "appendfsync"), "everysec");
        assert_eq!(get(&c, "list-max-listpack-size"), "-2");
        assert_eq!(get(&c, "proto-max-bulk-len"), "536870912");
        assert_eq!(get(&c, "syslog-ident"), "redis");
        assert_eq!(get(&c, "masterauth"), "");
        assert_eq!(get(&c, "unixsocketperm"), "0");
        assert_eq!(get(&c, "save"), "3600 1 300 100 60 10000");
        assert_eq!(
            get(&c, "client-output-buffer-limit"),
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
        );
        assert_eq!(get(&c, "bind"), "* -::*");
        assert_eq!(get(&c, "oom-score-adj-values"), "0 200 800");
        assert_eq!(get(&c, "latency-tracking-info-percentiles"), "50 99 99.9");
        assert_eq!(c.port, 6379);
        assert_eq!(c.databases, 16);
        assert_eq!(c.maxclients, 10000);
        assert_eq!(c.proto_max_bulk_len, 512 * 1024 * 1024);
        assert_eq!(c.client_query_buffer_limit, 1 << 30);
        assert_eq!(c.loglevel, "notice");
        assert_eq!(c.maxmemory_policy, "noeviction");
        assert_eq!(c.dbfilename, "dump.rdb");
        assert_eq!(c.tcp_keepalive_s, 300);
        assert!(c.protected_mode);
        assert_eq!(c.busy_reply_threshold_ms, 5000);
        assert_eq!(c.slowlog_log_slower_than_us, 10_000);
        assert_eq!(c.slowlog_max_len, 128);
        assert_eq!(c.requirepass, None);
        assert_eq!(c.pidfile, None);
    }

    #[test]
    fn bools() {
        let mut c = Config::default();
        assert_eq!(set(&mut c, "activerehashing", "NO"), Ok(true));
        assert_eq!(get(&c, "activerehashing"), "no");
        assert_eq!(set(&mut c, "activerehashing", "no"), Ok(false));
        assert_eq!(
            set(&mut c, "activerehashing", "1").unwrap_err(),
            "argument must be 'yes' or 'no'"
        );
    }

    #[test]
    fn numbers_and_bounds() {
        let mut c = Config::default();
        assert_eq!(
            set(&mut c, "port", "99999").unwrap_err(),
            "argument must be between 0 and 65535 inclusive"
        );
        assert_eq!(
            set(&mut c, "port", "x").unwrap_err(),
            "argument couldn't be parsed into an integer"
        );
        assert_eq!(
            set(&mut c, "port", "+5").unwrap_err(),
            "argument couldn't be parsed into an integer"
        );
        assert_eq!(
            set(&mut c, "slowlog-log-slower-than", "-5").unwrap_err(),
            "argument must be between -1 and 9223372036854775807 inclusive"
        );
        assert_eq!(
            set(&mut c, "maxclients", "-1").unwrap_err(),
            "argument must be between 1 and 4294967295 inclusive"
        );
        set(&mut c, "hz", "1000").unwrap();
        assert_eq!(get(&c, "hz"), "500");
        assert_eq!(c.hz, 500);
        set(&mut c, "hz", "0").unwrap();
        assert_eq!(get(&c, "hz"), "1");
    }

    #[test]
    fn memory_values() {
        let mut c = Config::default();
        set(&mut c, "maxmemory", "1GB").unwrap();
        assert_eq!(get(&c, "maxmemory"), "1073741824");
        assert_eq!(c.maxmemory_bytes, 1 << 30);
        set(&mut c, "maxmemory", "18446744073709551615").unwrap();
        assert_eq!(get(&c, "maxmemory"), "18446744073709551615");
        assert_eq!(
            set(&mut c, "maxmemory", "-1").unwrap_err(),
            "argument must be a memory value"
        );
        assert_eq!(
            set(&mut c, "proto-max-bulk-len", "1k").unwrap_err(),
            "argument must be between 1048576 and 9223372036854775807 inclusive"
        );
        assert_eq!(
            set(&mut c, "client-query-buffer-limit", "18446744073709551615").unwrap_err(),
            "argument must be between 1048576 and 9223372036854775807 inclusive"
        );
        set(&mut c, "maxmemory-clients", "5%").unwrap();
        assert_eq!(get(&c, "maxmemory-clients"), "5%");
        assert_eq!(c.maxmemory_clients, -5);
        assert_eq!(
            set(&mut c, "maxmemory-clients", "101%").unwrap_err(),
            "percentage argument must be less or equal to 100"
        );
        assert_eq!(
            set(&mut c, "maxmemory-clients", "-1%").unwrap_err(),
            "argument must be a memory or percent value"
        );
        set(&mut c, "maxmemory-clients", "0%").unwrap();
        assert_eq!(get(&c, "maxmemory-clients"), "0");
    }

    #[test]
    fn octal_values() {
        let mut c = Config::default();
        let i = idx("unixsocketperm");
        c.set(i, &[b"700"], SetMode::File).unwrap();
        assert_eq!(get(&c, "unixsocketperm"), "700");
        assert_eq!(c.unixsocketperm, 0o700);
        assert_eq!(
            c.set(i, &[b"778"], SetMode::File).unwrap_err(),
            "argument couldn't be parsed as an octal number"
        );
        assert_eq!(
            c.set(i, &[b"1000"], SetMode::File).unwrap_err(),
            "argument must be between 0 and 777 inclusive"
        );
    }

    #[test]
    fn enums_report_the_first_name_of_a_value() {
        let mut c = Config::default();
        set(&mut c, "loglevel", "WARNING").unwrap();
        assert_eq!(get(&c, "loglevel"), "warning");
        assert_eq!(c.loglevel, "warning");
        set(&mut c, "oom-score-adj", "relative").unwrap();
        assert_eq!(get(&c, "oom-score-adj"), "yes");
        assert_eq!(
            set(&mut c, "appendfsync", "x").unwrap_err(),
            "argument(s) must be one of the following: everysec, always, no"
        );
        set(&mut c, "maxmemory-policy", "allkeys-lfu").unwrap();
        assert_eq!(c.maxmemory_policy, "allkeys-lfu");
    }

    #[test]
    fn strings() {
        let mut c = Config::default();
        set(&mut c, "requirepass", "secret").unwrap();
        assert_eq!(c.requirepass.as_deref(), Some(&b"secret"[..]));
        set(&mut c, "requirepass", "").unwrap();
        assert_eq!(c.requirepass, None);
        assert_eq!(get(&c, "requirepass"), "");
        assert_eq!(
            set(&mut c, "dbfilename", "a/b").unwrap_err(),
            "dbfilename can't be a path, just a filename"
        );
        set(&mut c, "dbfilename", "").unwrap();
        assert_eq!(c.str_of("dbfilename"), Some(&b""[..]));
        assert_eq!(
            set(&mut c, "proc-title-template", "{nope}").unwrap_err(),
            "template format is invalid or contains unknown variables"
        );
    }

    #[test]
    fn set_by_name_reaches_immutable_directives() {
        let mut c = Config::default();
        assert_eq!(c.set_by_name("slaveof", &[b"127.0.0.1", b"6380"]), Ok(true));
        assert_eq!(c.replicaof, Some(("127.0.0.1".into(), 6380)));
        assert!(c.set_by_name("nosuch", &[b"1"]).is_err());
    }

    #[test]
    fn wrong_argument_count() {
        let mut c = Config::default();
        assert_eq!(
            c.set(idx("port"), &[b"1", b"2"], SetMode::File)
                .unwrap_err(),
            "wrong number of arguments"
        );
        assert_eq!(
            c.set(idx("port"), &[], SetMode::File).unwrap_err(),
            "wrong number of arguments"
        );
    }
}
