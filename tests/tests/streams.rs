//! Black-box tests of blocking stream reads: several blocked consumers,
//! fan-out on XADD, consumer groups sharing new entries, timeouts, the
//! errors sent when a group or key disappears, CLIENT UNBLOCK, and
//! pipelined requests queued behind a blocked one.
//!
//! Self-contained harness: builds and starts the real `strata-server` on a
//! free port with persistence off, and talks raw RESP so replies are
//! compared byte for byte.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long a reply may take before a test fails.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long we wait to be sure a blocked client got nothing.
const QUIET_WINDOW: Duration = Duration::from_millis(150);

fn server_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "strata-server"])
            .current_dir(&manifest)
            .status()
            .expect("cargo build runs");
        assert!(status.success(), "strata-server builds");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| manifest.join("..").join("target"));
        target.join("debug").join("strata-server")
    })
    .clone()
}

struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start() -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new(server_bin())
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("server starts");
        let s = Server { child, port };
        let deadline = Instant::now() + REPLY_TIMEOUT;
        loop {
            if let Ok(mut c) = TcpStream::connect(("127.0.0.1", port)) {
                if c.write_all(b"*1\r\n$4\r\nPING\r\n").is_ok() {
                    let mut buf = [0u8; 7];
                    if c.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n" {
                        return s;
                    }
                }
            }
            assert!(Instant::now() < deadline, "server answers PING");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn client(&self) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Client {
            stream,
            buf: Vec::new(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

fn encode(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n{}\r\n", a.len(), a).as_bytes());
    }
    out
}

/// Length of the first complete RESP reply in `b`, if there is one.
fn reply_len(b: &[u8]) -> Option<usize> {
    let line_end = b.windows(2).position(|w| w == b"\r\n")?;
    let head = std::str::from_utf8(&b[1..line_end]).ok()?;
    let after = line_end + 2;
    match b.first()? {
        b'$' => {
            let n: i64 = head.parse().ok()?;
            if n < 0 {
                return Some(after);
            }
            let end = after + n as usize + 2;
            (b.len() >= end).then_some(end)
        }
        b'*' | b'%' => {
            let n: i64 = head.parse().ok()?;
            let items = if b[0] == b'%' { n * 2 } else { n };
            let mut at = after;
            for _ in 0..items.max(0) {
                at += reply_len(&b[at..])?;
            }
            Some(at)
        }
        _ => Some(after),
    }
}

impl Client {
    fn send(&mut self, args: &[&str]) {
        self.stream.write_all(&encode(args)).expect("send");
    }

    /// Reads one reply, waiting at most `timeout`; None if none came.
    fn read_within(&mut self, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(n) = reply_len(&self.buf) {
                let r: Vec<u8> = self.buf.drain(..n).collect();
                return Some(String::from_utf8_lossy(&r).into_owned());
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            self.stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .expect("timeout");
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(_) => {
                    if Instant::now() >= deadline {
                        return None;
                    }
                }
            }
        }
    }

    fn read(&mut self) -> String {
        self.read_within(REPLY_TIMEOUT).expect("a reply in time")
    }

    fn cmd(&mut self, args: &[&str]) -> String {
        self.send(args);
        self.read()
    }

    /// Asserts that nothing arrives for a short while (still blocked).
    fn assert_quiet(&mut self) {
        assert_eq!(self.read_within(QUIET_WINDOW), None, "client still blocked");
    }

    fn id(&mut self) -> String {
        let r = self.cmd(&["CLIENT", "ID"]);
        r.trim_start_matches(':').trim().to_string()
    }
}

/// Waits until INFO reports `n` blocked clients (blocking is asynchronous
/// from the test's point of view).
fn wait_blocked(c: &mut Client, n: usize) {
    let want = format!("blocked_clients:{n}\r\n");
    let deadline = Instant::now() + REPLY_TIMEOUT;
    while !c.cmd(&["INFO", "clients"]).contains(&want) {
        assert!(Instant::now() < deadline, "{n} clients blocked in time");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn entry(key: &str, id: &str, f: &str, v: &str) -> String {
    format!(
        "*1\r\n*2\r\n${}\r\n{key}\r\n*1\r\n*2\r\n${}\r\n{id}\r\n*2\r\n${}\r\n{f}\r\n${}\r\n{v}\r\n",
        key.len(),
        id.len(),
        f.len(),
        v.len()
    )
}

#[test]
fn xadd_wakes_every_blocked_xread() {
    let srv = Server::start();
    let mut admin = srv.client();
    admin.cmd(&["XADD", "s", "1-1", "old", "x"]);
    let mut readers: Vec<Client> = (0..3).map(|_| srv.client()).collect();
    for r in &mut readers {
        r.send(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    }
    wait_blocked(&mut admin, 3);
    for r in &mut readers {
        r.assert_quiet();
    }
    assert_eq!(admin.cmd(&["XADD", "s", "2-1", "f", "v"]), "$3\r\n2-1\r\n");
    for r in &mut readers {
        assert_eq!(r.read(), entry("s", "2-1", "f", "v"));
    }
    wait_blocked(&mut admin, 0);
}

#[test]
fn blocked_read_on_several_keys_gets_only_the_ready_one() {
    let srv = Server::start();
    let mut admin = srv.client();
    let mut r = srv.client();
    r.send(&[
        "XREAD", "COUNT", "5", "BLOCK", "0", "STREAMS", "a", "b", "$", "$",
    ]);
    wait_blocked(&mut admin, 1);
    admin.cmd(&["XADD", "b", "7-7", "k", "v"]);
    assert_eq!(r.read(), entry("b", "7-7", "k", "v"));
}

#[test]
fn group_consumers_share_new_entries_in_blocking_order() {
    let srv = Server::start();
    let mut admin = srv.client();
    assert_eq!(
        admin.cmd(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]),
        "+OK\r\n"
    );
    let mut c1 = srv.client();
    let mut c2 = srv.client();
    c1.send(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "c1",
        "BLOCK",
        "0",
        "STREAMS",
        "s",
        ">",
    ]);
    wait_blocked(&mut admin, 1);
    c2.send(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "c2",
        "BLOCK",
        "0",
        "STREAMS",
        "s",
        ">",
    ]);
    wait_blocked(&mut admin, 2);
    admin.cmd(&["XADD", "s", "1-1", "n", "1"]);
    assert_eq!(c1.read(), entry("s", "1-1", "n", "1"));
    c2.assert_quiet();
    admin.cmd(&["XADD", "s", "1-2", "n", "2"]);
    assert_eq!(c2.read(), entry("s", "1-2", "n", "2"));
    let pending = admin.cmd(&["XPENDING", "s", "g"]);
    assert_eq!(
        pending,
        "*4\r\n:2\r\n$3\r\n1-1\r\n$3\r\n1-2\r\n*2\r\n*2\r\n$2\r\nc1\r\n$1\r\n1\r\n*2\r\n$2\r\nc2\r\n$1\r\n1\r\n"
    );
}

#[test]
fn timeouts_reply_null_after_the_deadline() {
    let srv = Server::start();
    let mut c = srv.client();
    let start = Instant::now();
    assert_eq!(
        c.cmd(&["XREAD", "BLOCK", "120", "STREAMS", "s", "$"]),
        "*-1\r\n"
    );
    let waited = start.elapsed();
    // The deadline counts from the command's millisecond clock, which may
    // lag the test's clock by up to a millisecond.
    assert!(waited >= Duration::from_millis(118), "waited {waited:?}");
    assert!(waited < Duration::from_millis(1500), "waited {waited:?}");
    let mut admin = srv.client();
    admin.cmd(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
    assert_eq!(
        c.cmd(&[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "BLOCK",
            "50",
            "STREAMS",
            "s",
            ">"
        ]),
        "*-1\r\n"
    );
    // RESP3 clients get a null.
    c.cmd(&["HELLO", "3"]);
    assert_eq!(
        c.cmd(&["XREAD", "BLOCK", "20", "STREAMS", "s", "$"]),
        "_\r\n"
    );
    // BLOCK 0 waits for good: still blocked after a while.
    c.send(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    c.assert_quiet();
    wait_blocked(&mut admin, 1);
    admin.cmd(&["XADD", "s", "3-3", "a", "b"]);
    assert_eq!(
        c.read(),
        "%1\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n3-3\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n"
    );
}

#[test]
fn group_or_key_removal_unblocks_with_errors() {
    let srv = Server::start();
    let mut admin = srv.client();
    admin.cmd(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
    let mut c = srv.client();
    c.send(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "c",
        "BLOCK",
        "0",
        "STREAMS",
        "s",
        ">",
    ]);
    wait_blocked(&mut admin, 1);
    assert_eq!(admin.cmd(&["XGROUP", "DESTROY", "s", "g"]), ":1\r\n");
    assert_eq!(
        c.read(),
        "-NOGROUP the consumer group this client was blocked on no longer exists\r\n"
    );
    admin.cmd(&["XGROUP", "CREATE", "s", "g", "$"]);
    c.send(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "c",
        "BLOCK",
        "0",
        "STREAMS",
        "s",
        ">",
    ]);
    wait_blocked(&mut admin, 1);
    assert_eq!(admin.cmd(&["DEL", "s"]), ":1\r\n");
    assert_eq!(c.read(), "-UNBLOCKED the stream key no longer exists\r\n");
    // A plain XREAD waits through the deletion and is served later.
    let mut r = srv.client();
    r.send(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    wait_blocked(&mut admin, 1);
    admin.cmd(&["SET", "s", "now a string"]);
    r.assert_quiet();
    admin.cmd(&["DEL", "s"]);
    admin.cmd(&["XADD", "s", "1-1", "x", "y"]);
    assert_eq!(r.read(), entry("s", "1-1", "x", "y"));
}

#[test]
fn client_unblock_and_pipelined_requests() {
    let srv = Server::start();
    let mut admin = srv.client();
    let mut c = srv.client();
    let id = c.id();
    // Requests sent behind a blocked one run after it is unblocked.
    let mut pipeline = encode(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    pipeline.extend(encode(&["PING"]));
    c.stream.write_all(&pipeline).expect("send");
    wait_blocked(&mut admin, 1);
    c.assert_quiet();
    assert_eq!(admin.cmd(&["CLIENT", "UNBLOCK", &id]), ":1\r\n");
    assert_eq!(c.read(), "*-1\r\n");
    assert_eq!(c.read(), "+PONG\r\n");
    c.send(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    wait_blocked(&mut admin, 1);
    assert_eq!(admin.cmd(&["CLIENT", "UNBLOCK", &id, "ERROR"]), ":1\r\n");
    assert_eq!(
        c.read(),
        "-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"
    );
    assert_eq!(admin.cmd(&["CLIENT", "UNBLOCK", &id]), ":0\r\n");
    // A blocked client that disconnects is forgotten.
    let mut gone = srv.client();
    gone.send(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    wait_blocked(&mut admin, 1);
    drop(gone);
    wait_blocked(&mut admin, 0);
    assert_eq!(admin.cmd(&["XADD", "s", "1-1", "a", "b"]), "$3\r\n1-1\r\n");
}

#[test]
fn many_blocked_clients_with_mixed_timeouts() {
    let srv = Server::start();
    let mut admin = srv.client();
    let mut short: Vec<Client> = (0..5).map(|_| srv.client()).collect();
    let mut long: Vec<Client> = (0..5).map(|_| srv.client()).collect();
    for c in &mut short {
        c.send(&["XREAD", "BLOCK", "50", "STREAMS", "k", "$"]);
    }
    for c in &mut long {
        c.send(&["XREAD", "BLOCK", "10000", "STREAMS", "k", "$"]);
    }
    for c in &mut short {
        assert_eq!(c.read(), "*-1\r\n");
    }
    wait_blocked(&mut admin, 5);
    admin.cmd(&["XADD", "k", "9-9", "f", "v"]);
    for c in &mut long {
        assert_eq!(c.read(), entry("k", "9-9", "f", "v"));
    }
    wait_blocked(&mut admin, 0);
}
