//! `strata-server [config-file] [--directive value ...]`

#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use strata_server::config::Config;
use strata_server::log::{self, Level};
use strata_server::net::EventLoop;
use strata_server::server::Server;
use strata_server::{log_notice, log_warning, REDIS_VERSION, STRATA_VERSION};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match Config::from_args(&args) {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("{msg}");
            std::process::exit(1);
        }
    };
    log::configure(
        Level::parse(&config.loglevel).unwrap_or(Level::Notice),
        &config.logfile,
    );
    let pid = std::process::id();
    log_notice!("oO0OoO0OoO0Oo Strata is starting oO0OoO0OoO0Oo");
    log_notice!("Strata version={STRATA_VERSION} (Redis {REDIS_VERSION} compatible), bits=64, commit=00000000, modified=0, pid={pid}, just started");
    if config.config_file.is_none() {
        log_warning!("Warning: no config file specified, using the default config. In order to specify a config file use strata-server /path/to/redis.conf");
    } else {
        log_notice!("Configuration loaded");
    }
    log_notice!("Running mode=standalone, port={}, PID: {pid}", config.port);
    if let Some(path) = &config.pidfile {
        let _ = std::fs::write(path, format!("{pid}\n"));
    }
    let srv = Server::new(config);
    let mut event_loop = match EventLoop::new(srv) {
        Ok(l) => l,
        Err(e) => {
            log_warning!("Failed listening: {e}");
            std::process::exit(1);
        }
    };
    log_notice!("Server initialized");
    log_notice!("Ready to accept connections");
    let code = event_loop.run();
    std::process::exit(code);
}
