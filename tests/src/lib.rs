//! Black-box test helpers: start the real `strata-server` binary (or a
//! reference `redis-server`) on a free port in a fresh temporary directory,
//! talk to it with the `redis` crate or with raw RESP bytes, and stop it.
//!
//! Invariants:
//! - Every server is started with persistence off (`--save "" --appendonly no`),
//!   bound to 127.0.0.1, in its own directory, and answers PING before
//!   `TestServer` is handed out.
//! - A `TestServer` kills its process when dropped; the process also dies with
//!   the thread that started it (PR_SET_PDEATHSIG), so a killed test run
//!   leaves no server behind. Start a server on the thread that owns it.
//! - The `strata-server` binary is built at most once per test process
//!   (`cargo build -p strata-server`, a no-op when it is up to date).

pub mod diff;
pub mod resp;
pub mod split;

use std::ffi::OsString;
use std::fs;
use std::io;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use resp::{encode_request, escape, RawConn};

/// How long a started server may take to answer PING.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a server may take to exit after SIGTERM.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Starts retried when the server exits at once (another process took the
/// free port between our probe and its bind).
const START_ATTEMPTS: usize = 3;
/// Pause between two readiness probes.
const PROBE_INTERVAL: Duration = Duration::from_millis(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    Strata,
    /// The reference `redis-server`.
    Redis,
}

impl ServerKind {
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Strata => "strata-server",
            ServerKind::Redis => "redis-server",
        }
    }
}

/// A running server process, killed on drop.
pub struct TestServer {
    child: Child,
    port: u16,
    dir: PathBuf,
    kind: ServerKind,
}

impl TestServer {
    /// Starts Strata with the default test arguments; panics if it cannot.
    pub fn start() -> TestServer {
        TestServer::start_with(&[])
    }

    /// Starts Strata with extra `--directive value` arguments; panics if it cannot.
    pub fn start_with(extra: &[&str]) -> TestServer {
        TestServer::try_start(ServerKind::Strata, extra).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts the reference redis-server, or `None` when it is not installed.
    /// Panics if it is installed but does not start.
    pub fn redis() -> Option<TestServer> {
        TestServer::redis_with(&[])
    }

    pub fn redis_with(extra: &[&str]) -> Option<TestServer> {
        redis_bin()?;
        Some(TestServer::try_start(ServerKind::Redis, extra).unwrap_or_else(|e| panic!("{e}")))
    }

    /// Starts a server of `kind` and waits until it answers PING.
    pub fn try_start(kind: ServerKind, extra: &[&str]) -> Result<TestServer, String> {
        let bin = match kind {
            ServerKind::Strata => strata_bin()?,
            ServerKind::Redis => redis_bin().ok_or("redis-server is not installed")?,
        };
        let mut last_err = String::new();
        for _ in 0..START_ATTEMPTS {
            let mut server = spawn(kind, &bin, extra)?;
            match server.wait_ready(READY_TIMEOUT) {
                Ok(()) => return Ok(server),
                Err(e) => last_err = e,
            }
            // Retry only when the process died (likely a port race).
            if server.exit_status().is_none() {
                break;
            }
        }
        Err(last_err)
    }

    pub fn kind(&self) -> ServerKind {
        self.kind
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's working directory (`--dir`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A `redis` crate connection; panics if it cannot connect.
    pub fn client(&self) -> redis::Connection {
        self.try_client().unwrap_or_else(|e| {
            panic!(
                "connecting to {} on port {}: {e}",
                self.kind.name(),
                self.port
            )
        })
    }

    pub fn try_client(&self) -> redis::RedisResult<redis::Connection> {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port))?.get_connection()
    }

    /// A raw RESP connection; panics if it cannot connect.
    pub fn raw(&self) -> RawConn {
        RawConn::connect(self.port).unwrap_or_else(|e| {
            panic!(
                "connecting to {} on port {}: {e}",
                self.kind.name(),
                self.port
            )
        })
    }

    /// Everything the server wrote to stdout/stderr so far (its log).
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&fs::read(self.log_path()).unwrap_or_default()).into_owned()
    }

    /// The last `lines` lines of the log, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Resident set size of the process in KiB (VmRSS in /proc/<pid>/status).
    pub fn rss_kib(&self) -> Option<u64> {
        self.proc_status_kib("VmRSS")
    }

    /// A `<field>: <n> kB` line of /proc/<pid>/status (VmRSS, VmSize, VmHWM...).
    pub fn proc_status_kib(&self, field: &str) -> Option<u64> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let line = status.lines().find(|l| {
            l.strip_prefix(field)
                .is_some_and(|rest| rest.starts_with(':'))
        })?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// The exit status if the process has exited.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Sends `signal` to the process.
    pub fn signal(&self, signal: libc::c_int) -> io::Result<()> {
        // SAFETY: kill(2) with a pid we spawned and still own (not yet reaped).
        if unsafe { libc::kill(self.pid() as libc::pid_t, signal) } == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// SIGTERM, then waits up to `STOP_TIMEOUT` for the exit.
    pub fn terminate(&mut self) -> io::Result<ExitStatus> {
        if let Some(status) = self.exit_status() {
            return Ok(status);
        }
        self.signal(libc::SIGTERM)?;
        self.wait_exit(STOP_TIMEOUT)
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> io::Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{} did not exit in {timeout:?}", self.kind.name()),
                ));
            }
            std::thread::sleep(PROBE_INTERVAL);
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exit_status() {
                return Err(format!(
                    "{} exited during start-up ({status}); log:\n{}",
                    self.kind.name(),
                    self.log_tail(30)
                ));
            }
            if let Ok(mut conn) = RawConn::connect(self.port) {
                if let Ok(reply) = conn.cmd(&["PING"]) {
                    if reply == b"+PONG\r\n" {
                        return Ok(());
                    }
                }
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} did not answer PING on port {} within {timeout:?}; log:\n{}",
                    self.kind.name(),
                    self.port,
                    self.log_tail(30)
                ));
            }
            std::thread::sleep(PROBE_INTERVAL);
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if self.exit_status().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // Keep the directory (and its log) of a failing test for inspection.
        if std::thread::panicking() || std::env::var_os("STRATA_KEEP_TEST_DIRS").is_some() {
            eprintln!(
                "{} log and files kept in {}",
                self.kind.name(),
                self.dir.display()
            );
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn spawn(kind: ServerKind, bin: &Path, extra: &[&str]) -> Result<TestServer, String> {
    let port = free_port().map_err(|e| format!("finding a free port: {e}"))?;
    let dir = fresh_dir(kind).map_err(|e| format!("creating a temp dir: {e}"))?;
    let log = fs::File::create(dir.join("server.log"))
        .map_err(|e| format!("creating the log file: {e}"))?;
    let log2 = log.try_clone().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(bin);
    cmd.arg("--port")
        .arg(port.to_string())
        .args([
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
        ])
        .arg(&dir)
        .args(extra)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| format!("starting {}: {e}", bin.display()))?;
    Ok(TestServer {
        child,
        port,
        dir,
        kind,
    })
}

/// A TCP port that was free a moment ago.
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A new empty directory under the system temp dir.
fn fresh_dir(kind: ServerKind) -> io::Result<PathBuf> {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join("strata-tests").join(format!(
        "{}-{}-{seq}",
        kind.name(),
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The `redis-server` to compare against: `$REDIS_SERVER_BIN`, else the
/// first one on `PATH`.
pub fn redis_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("REDIS_SERVER_BIN") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("redis-server"))
        .find(|p| p.is_file())
}

/// The `strata-server` binary: `$STRATA_SERVER_BIN`, else the workspace's,
/// built (or brought up to date) once per process with the profile and target
/// directory this test binary was built with.
pub fn strata_bin() -> Result<PathBuf, String> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(locate_or_build).clone()
}

fn locate_or_build() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("STRATA_SERVER_BIN") {
        return Ok(PathBuf::from(p));
    }
    let (target_dir, profile) = target_dir_and_profile();
    let bin = target_dir.join(&profile).join("strata-server");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--quiet",
        "-p",
        "strata-server",
        "--bin",
        "strata-server",
        "--target-dir",
    ])
    .arg(&target_dir)
    .current_dir(workspace_root())
    .stdin(Stdio::null());
    if profile == "release" {
        cmd.arg("--release");
    }
    match cmd.status() {
        Ok(s) if s.success() => Ok(bin),
        result if bin.is_file() => {
            eprintln!("warning: `cargo build -p strata-server` failed ({result:?}); using the existing {}", bin.display());
            Ok(bin)
        }
        result => Err(format!(
            "building strata-server failed ({result:?}) and {} does not exist",
            bin.display()
        )),
    }
}

/// Target directory and profile of the running test binary
/// (`<target>/<profile>/deps/<test>`), else `$CARGO_TARGET_DIR` or
/// `<workspace>/target`, debug.
fn target_dir_and_profile() -> (PathBuf, String) {
    if let Ok(exe) = std::env::current_exe() {
        let deps = exe.parent();
        if deps.and_then(Path::file_name).is_some_and(|n| n == "deps") {
            let profile_dir = deps.and_then(Path::parent);
            if let (Some(profile_dir), Some(target)) =
                (profile_dir, profile_dir.and_then(Path::parent))
            {
                let profile = profile_dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if profile == "debug" || profile == "release" {
                    return (target.to_path_buf(), profile);
                }
            }
        }
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    (target, "debug".to_string())
}
