//! Server configuration: typed fields read by the rest of the server.
//! (Minimal start; the full directive table, file parsing, CONFIG GET/SET/REWRITE
//! live in this module.)

use std::path::PathBuf;

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
    pub rdbcompression: bool,
    pub rdbchecksum: bool,
    pub stop_writes_on_bgsave_error: bool,
    pub rdb_del_sync_files: bool,
    /// `enable-debug-command`: "no", "yes" or "local".
    pub enable_debug_command: String,
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

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 6379,
            bind: vec!["*".into(), "-::*".into()],
            unixsocket: None,
            dir: PathBuf::from("."),
            databases: 16,
            timeout_s: 0,
            maxclients: 10000,
            requirepass: None,
            hz: 10,
            proto_max_bulk_len: 512 * 1024 * 1024,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            logfile: String::new(),
            loglevel: "notice".into(),
            pidfile: None,
            notify_keyspace_events: 0,
            config_file: None,
            client_output_buffer_limits: [
                ObufLimit::default(),
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
            ],
            slowlog_log_slower_than_us: 10_000,
            slowlog_max_len: 128,
            latency_monitor_threshold_ms: 0,
            maxmemory_bytes: 0,
            maxmemory_policy: "noeviction".into(),
            save_points: vec![(3600, 1), (300, 100), (60, 10000)],
            // Durable by default (shared/DESIGN.md): a config file may say otherwise.
            appendonly: true,
            appendfsync: "everysec".into(),
            appendfilename: "appendonly.aof".into(),
            appenddirname: "appendonlydir".into(),
            dbfilename: "dump.rdb".into(),
            tcp_keepalive_s: 300,
            protected_mode: true,
            lazyfree_lazy_user_del: false,
            lazyfree_lazy_user_flush: false,
            busy_reply_threshold_ms: 5000,
            rdbcompression: true,
            rdbchecksum: true,
            stop_writes_on_bgsave_error: true,
            rdb_del_sync_files: false,
            enable_debug_command: "no".into(),
        }
    }
}

impl Config {
    /// Parses `strata-server [config-file] [--directive value ...]`.
    pub fn from_args(args: &[String]) -> Result<Config, String> {
        let mut c = Config::default();
        let mut i = 0;
        while i < args.len() {
            let a = &args[i];
            if let Some(name) = a.strip_prefix("--") {
                let mut vals = Vec::new();
                i += 1;
                while i < args.len() && !args[i].starts_with("--") {
                    vals.push(args[i].clone());
                    i += 1;
                }
                c.apply(name, &vals)?;
            } else {
                i += 1;
            }
        }
        Ok(c)
    }

    fn apply(&mut self, name: &str, vals: &[String]) -> Result<(), String> {
        let v = vals.first().cloned().unwrap_or_default();
        match name.to_ascii_lowercase().as_str() {
            "port" => self.port = v.parse().map_err(|_| "Invalid port".to_string())?,
            "bind" => self.bind = vals.to_vec(),
            "dir" => self.dir = PathBuf::from(v),
            "databases" => {
                self.databases = v.parse().map_err(|_| "Invalid databases".to_string())?
            }
            "dbfilename" => self.dbfilename = v,
            "save" => {
                self.save_points = parse_save_points(vals)?;
            }
            "appendonly" => self.appendonly = v == "yes",
            "busy-reply-threshold" | "lua-time-limit" => {
                self.busy_reply_threshold_ms = v
                    .parse()
                    .map_err(|_| "Invalid busy-reply-threshold".to_string())?
            }
            "enable-debug-command" => self.enable_debug_command = v.to_ascii_lowercase(),
            "requirepass" => {
                self.requirepass = if v.is_empty() {
                    None
                } else {
                    Some(v.into_bytes())
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// `save <seconds> <changes> [...]`; `save ""` clears.
pub fn parse_save_points(vals: &[String]) -> Result<Vec<(u64, u64)>, String> {
    if vals.len() == 1 && vals[0].is_empty() {
        return Ok(Vec::new());
    }
    if !vals.len().is_multiple_of(2) {
        return Err("Invalid save parameters".into());
    }
    vals.chunks(2)
        .map(|p| match (p[0].parse::<u64>(), p[1].parse::<u64>()) {
            (Ok(s), Ok(c)) => Ok((s, c)),
            _ => Err("Invalid save parameters".to_string()),
        })
        .collect()
}
