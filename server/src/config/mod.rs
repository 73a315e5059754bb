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
}

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
            "databases" => self.databases = v.parse().map_err(|_| "Invalid databases".to_string())?,
            "requirepass" => self.requirepass = if v.is_empty() { None } else { Some(v.into_bytes()) },
            _ => {}
        }
        Ok(())
    }
}
