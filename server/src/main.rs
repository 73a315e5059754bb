//! `strata-server [config-file] [--directive value ...] [-]`, read as
//! redis-server reads its command line (see config::load).

#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::io::Write;
use std::os::unix::ffi::OsStringExt;

use strata_server::config::load::{self, LoadError, Startup};
use strata_server::config::{table, Config, SetMode};
use strata_server::log::{self, Level};
use strata_server::net::EventLoop;
use strata_server::server::Server;
use strata_server::{log_notice, log_warning, REDIS_VERSION, STRATA_VERSION};

/// Where a daemonized server writes its pid when no `pidfile` is set.
const DEFAULT_PIDFILE: &str = "/var/run/redis.pid";

fn version_line() -> String {
    format!("Strata server v={REDIS_VERSION} sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=strata-{STRATA_VERSION}")
}

fn usage() -> String {
    let p = "./strata-server";
    format!(
        "Usage: {p} [/path/to/redis.conf] [options] [-]\n       {p} - (read config from stdin)\n       {p} -v or --version\n       {p} -h or --help\n\n\
         Examples:\n       {p} (run the server with default conf)\n       echo 'maxmemory 128mb' | {p} -\n       {p} /etc/redis/6379.conf\n       \
         {p} --port 7777\n       {p} --port 7777 --replicaof 127.0.0.1 8888\n       {p} /etc/myredis.conf --loglevel verbose -\n       \
         {p} /etc/myredis.conf --loglevel verbose\n"
    )
}

/// A log line before logging is configured, as Redis prints it then (role C).
fn early_log(msg: &str) {
    println!("{}:C {} # {}", std::process::id(), log::timestamp(), msg);
}

fn set_or_log(config: &mut Config, name: &str, value: &str) {
    if let Some(idx) = table::index_of(name) {
        if let Err(e) = config.set(idx, &[value.as_bytes()], SetMode::File) {
            early_log(&format!("Could not set {name}: {e}"));
        }
    }
}

/// Detaches from the terminal: fork, new session, standard streams to /dev/null.
fn daemonize() {
    // SAFETY: called at start-up before any thread exists; the parent exits
    // at once and the child only continues single-threaded start-up.
    unsafe {
        match libc::fork() {
            -1 => return,
            0 => {}
            _ => libc::_exit(0),
        }
        libc::setsid();
        let fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR, 0);
        if fd != -1 {
            libc::dup2(fd, libc::STDIN_FILENO);
            libc::dup2(fd, libc::STDOUT_FILENO);
            libc::dup2(fd, libc::STDERR_FILENO);
            if fd > libc::STDERR_FILENO {
                libc::close(fd);
            }
        }
    }
}

fn main() {
    let args: Vec<Vec<u8>> = std::env::args_os().skip(1).map(|a| a.into_vec()).collect();
    let mut config = match load::parse_command_line(&args) {
        Ok(Startup::Run(c)) => *c,
        Ok(Startup::Version) => {
            println!("{}", version_line());
            std::process::exit(0);
        }
        Ok(Startup::Help) => {
            eprint!("{}", usage());
            std::process::exit(1);
        }
        Err(e @ LoadError::Fatal { .. }) => {
            let _ = std::io::stderr().write_all(&e.report());
            std::process::exit(1);
        }
        Err(e @ LoadError::Open { .. }) => {
            early_log(&e.to_string());
            std::process::exit(1);
        }
    };
    let background = config.daemonize && config.supervised == "no";
    if background {
        daemonize();
    }
    log::configure(
        Level::parse(&config.loglevel).unwrap_or(Level::Notice),
        &config.logfile,
    );
    let pid = std::process::id();
    log_warning!("oO0OoO0OoO0Oo Strata is starting oO0OoO0OoO0Oo");
    log_warning!("Strata version={STRATA_VERSION} (Redis {REDIS_VERSION} compatible), bits=64, commit=00000000, modified=0, pid={pid}, just started");
    if args.is_empty() {
        log_warning!("Warning: no config file specified, using the default config. In order to specify a config file use strata-server /path/to/redis.conf");
    } else {
        log_warning!("Configuration loaded");
    }
    if let Some(module) = config.load_modules.first() {
        // Redis stops at the first module that fails to load.
        let path = module
            .first()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .unwrap_or_default();
        log_warning!("Module {path} failed to load: Strata does not load Redis modules");
        std::process::exit(1);
    }
    if !config.module_configs.is_empty() {
        log_warning!("Module Configuration detected without loadmodule directive or no ApplyConfig call: aborting");
        std::process::exit(1);
    }
    if let Err(possible) =
        strata_server::family::config::adjust_open_files_limit(config.maxclients as u64)
    {
        let wanted = config.maxclients;
        log_warning!(
            "You requested maxclients of {wanted} requiring at least {} max file descriptors.",
            wanted as u64 + strata_server::family::config::RESERVED_FDS
        );
        set_or_log(&mut config, "maxclients", &possible.to_string());
        log_warning!(
            "Current maximum open files is {}. maxclients has been reduced to {possible} to compensate for low ulimit. If you need higher maxclients increase 'ulimit -n'.",
            possible + strata_server::family::config::RESERVED_FDS
        );
    }
    log_notice!("Running mode=standalone, port={}, PID: {pid}", config.port);
    if background && config.pidfile.is_none() {
        set_or_log(&mut config, "pidfile", DEFAULT_PIDFILE);
    }
    if let Some(path) = &config.pidfile {
        if let Err(e) = std::fs::write(path, format!("{pid}\n")) {
            log_warning!("Failed to write PID file: {e}");
        }
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
    // The AOF wins over dump.rdb when it is enabled (it is loaded in full
    // before serving); otherwise the RDB loads on a helper thread.
    let srv = event_loop.server();
    if srv.config.appendonly {
        if let Err(e) = strata_server::aof::start(srv) {
            log_warning!("{e}");
            log_warning!("Terminating server after AOF loading failure.");
            std::process::exit(1);
        }
    } else {
        strata_server::persist::start_loading(srv);
    }
    // As Redis does, announce readiness once the dataset is loaded.
    if !event_loop.server().loading {
        log_notice!("Ready to accept connections");
    }
    let code = event_loop.run();
    std::process::exit(code);
}
