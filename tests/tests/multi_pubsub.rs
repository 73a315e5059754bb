//! Black-box tests of transactions, pub/sub and keyspace notifications: the
//! real `strata-server` binary, several raw RESP connections interleaving.
//! Expected frames were captured from redis-server 7.0.15.
//!
//! The small harness below (start a server on a free port, raw RESP
//! connections that read whole frames) keeps this file self-contained.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long a started server may take to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one reply may take.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait before concluding that nothing more is coming.
const QUIET: Duration = Duration::from_millis(150);

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The strata-server binary, built once per test process.
fn strata_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("STRATA_SERVER_BIN") {
            return PathBuf::from(p);
        }
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join("target"));
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "-p",
                "strata-server",
                "--bin",
                "strata-server",
            ])
            .arg("--target-dir")
            .arg(&target)
            .current_dir(workspace_root())
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building strata-server failed");
        target.join("debug").join("strata-server")
    })
    .clone()
}

struct Server {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").expect("probe port");
            l.local_addr().expect("addr").port()
        };
        let dir = std::env::temp_dir().join(format!("strata-multi-{port}"));
        let _ = std::fs::create_dir_all(&dir);
        let child = Command::new(strata_bin())
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(&dir)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn strata-server");
        let server = Server { child, port, dir };
        let start = Instant::now();
        loop {
            if let Ok(mut c) = TcpStream::connect(("127.0.0.1", port)).map(Conn::new) {
                if c.cmd(&["PING"]) == b"+PONG\r\n" {
                    return server;
                }
            }
            assert!(start.elapsed() < READY_TIMEOUT, "server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn conn(&self) -> Conn {
        Conn::new(TcpStream::connect(("127.0.0.1", self.port)).expect("connect"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A raw RESP connection that reads whole frames.
struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
}

fn line_end(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|p| from + p)
}

/// The length of the complete frame at `pos`, or None if more bytes are needed.
fn frame_end(buf: &[u8], pos: usize) -> Option<usize> {
    let end = line_end(buf, pos)?;
    let n = || -> i64 {
        std::str::from_utf8(&buf[pos + 1..end])
            .expect("header")
            .parse()
            .expect("length")
    };
    match buf[pos] {
        b'$' | b'=' | b'!' => {
            let len = n();
            if len < 0 {
                return Some(end + 2);
            }
            let stop = end + 2 + len as usize + 2;
            (buf.len() >= stop).then_some(stop)
        }
        b'*' | b'>' | b'~' | b'%' => {
            let items = n().max(0) as usize * if buf[pos] == b'%' { 2 } else { 1 };
            let mut at = end + 2;
            for _ in 0..items {
                at = frame_end(buf, at)?;
            }
            Some(at)
        }
        _ => Some(end + 2),
    }
}

impl Conn {
    fn new(s: TcpStream) -> Conn {
        Conn { s, buf: Vec::new() }
    }

    fn send(&mut self, args: &[&str]) {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        self.s.write_all(&out).expect("send");
    }

    /// The next frame, or None if none came within `timeout`.
    fn frame_within(&mut self, timeout: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            if !self.buf.is_empty() {
                if let Some(end) = frame_end(&self.buf, 0) {
                    return Some(self.buf.drain(..end).collect());
                }
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            self.s
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .expect("timeout");
            let mut chunk = [0u8; 64 * 1024];
            match self.s.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(_) => return None,
            }
        }
    }

    fn frame(&mut self) -> Vec<u8> {
        self.frame_within(REPLY_TIMEOUT).expect("a reply")
    }

    fn cmd(&mut self, args: &[&str]) -> Vec<u8> {
        self.send(args);
        self.frame()
    }

    /// Every frame that arrives until the connection goes quiet.
    fn drain(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(f) = self.frame_within(QUIET) {
            out.extend_from_slice(&f);
        }
        out
    }

    /// True if the server closed the connection within `timeout`.
    fn closed_within(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut chunk = [0u8; 64 * 1024];
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            self.s
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .expect("timeout");
            match self.s.read(&mut chunk) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
        false
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// RESP2 encoding of an array of bulk strings.
fn bulks(items: &[&str]) -> String {
    let mut s = format!("*{}\r\n", items.len());
    for i in items {
        s.push_str(&format!("${}\r\n{}\r\n", i.len(), i));
    }
    s
}

#[test]
fn watch_fails_exec_on_another_clients_write_not_on_read() {
    let srv = Server::start(&[]);
    let (mut a, mut b) = (srv.conn(), srv.conn());
    a.cmd(&["SET", "k", "1"]);

    // Another client's write fails the transaction.
    assert_eq!(a.cmd(&["WATCH", "k"]), b"+OK\r\n");
    assert_eq!(b.cmd(&["SET", "k", "2"]), b"+OK\r\n");
    assert_eq!(a.cmd(&["MULTI"]), b"+OK\r\n");
    assert_eq!(a.cmd(&["SET", "k", "3"]), b"+QUEUED\r\n");
    assert_eq!(a.cmd(&["EXEC"]), b"*-1\r\n");
    assert_eq!(b.cmd(&["GET", "k"]), b"$1\r\n2\r\n");

    // A read does not; the queued commands run only at EXEC.
    a.cmd(&["WATCH", "k"]);
    assert_eq!(b.cmd(&["GET", "k"]), b"$1\r\n2\r\n");
    a.cmd(&["MULTI"]);
    a.cmd(&["INCR", "k"]);
    assert_eq!(
        b.cmd(&["GET", "k"]),
        b"$1\r\n2\r\n",
        "nothing ran before EXEC"
    );
    assert_eq!(a.cmd(&["EXEC"]), b"*1\r\n:3\r\n");

    // The dirty flag shows in CLIENT LIST until EXEC.
    a.cmd(&["WATCH", "k"]);
    b.cmd(&["DEL", "k"]);
    let info = text(&a.cmd(&["CLIENT", "INFO"]));
    assert!(info.contains(" flags=d "), "{info}");
    a.cmd(&["MULTI"]);
    let list = text(&b.cmd(&["CLIENT", "LIST"]));
    assert!(
        list.contains(" flags=xd db=0 sub=0 psub=0 ssub=0 multi=0 "),
        "{list}"
    );
    a.cmd(&["GET", "k"]);
    let list = text(&b.cmd(&["CLIENT", "LIST"]));
    assert!(
        list.contains(" multi=1 ") && list.contains(" multi-mem=20 "),
        "{list}"
    );
    assert_eq!(a.cmd(&["EXEC"]), b"*-1\r\n");
    let info = text(&a.cmd(&["CLIENT", "INFO"]));
    assert!(
        info.contains(" flags=N ") && info.contains(" multi=-1 "),
        "{info}"
    );

    // UNWATCH forgets; a disconnected watcher leaves nothing behind.
    a.cmd(&["WATCH", "k"]);
    a.cmd(&["UNWATCH"]);
    b.cmd(&["SET", "k", "x"]);
    a.cmd(&["MULTI"]);
    assert_eq!(a.cmd(&["EXEC"]), b"*0\r\n");
    let mut c = srv.conn();
    c.cmd(&["WATCH", "k"]);
    drop(c);
    assert_eq!(b.cmd(&["SET", "k", "y"]), b"+OK\r\n");
}

#[test]
fn watch_and_expiry_flush_swap() {
    let srv = Server::start(&["--enable-debug-command", "yes"]);
    let (mut a, mut b) = (srv.conn(), srv.conn());

    // Expires after WATCH: fails, deleted or not.
    a.cmd(&["SET", "e", "1", "PX", "100"]);
    a.cmd(&["WATCH", "e"]);
    std::thread::sleep(Duration::from_millis(200));
    a.cmd(&["MULTI"]);
    assert_eq!(a.cmd(&["EXEC"]), b"*-1\r\n");

    // Already expired when WATCHed: its deletion is no change...
    a.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    a.cmd(&["SET", "e", "1", "PX", "10"]);
    std::thread::sleep(Duration::from_millis(50));
    a.cmd(&["WATCH", "e"]);
    assert_eq!(b.cmd(&["GET", "e"]), b"$-1\r\n");
    a.cmd(&["MULTI"]);
    assert_eq!(a.cmd(&["EXEC"]), b"*0\r\n");
    // ... but a new value is.
    a.cmd(&["SET", "e", "1", "PX", "10"]);
    std::thread::sleep(Duration::from_millis(50));
    a.cmd(&["WATCH", "e"]);
    b.cmd(&["SET", "e", "2"]);
    a.cmd(&["MULTI"]);
    assert_eq!(a.cmd(&["EXEC"]), b"*-1\r\n");

    // FLUSHALL fails watchers of keys that existed only.
    a.cmd(&["WATCH", "e", "missing"]);
    b.cmd(&["FLUSHALL"]);
    a.cmd(&["MULTI"]);
    assert_eq!(a.cmd(&["EXEC"]), b"*-1\r\n");
    a.cmd(&["WATCH", "missing"]);
    b.cmd(&["FLUSHALL"]);
    a.cmd(&["MULTI"]);
    assert_eq!(a.cmd(&["EXEC"]), b"*0\r\n");

    // SWAPDB brings a value in: the watched key changed.
    b.cmd(&["SELECT", "1"]);
    b.cmd(&["SET", "s", "db1"]);
    a.cmd(&["WATCH", "s"]);
    b.cmd(&["SWAPDB", "0", "1"]);
    a.cmd(&["MULTI"]);
    a.cmd(&["GET", "s"]);
    assert_eq!(a.cmd(&["EXEC"]), b"*-1\r\n");
}

#[test]
fn transactions_run_atomically_among_many_clients() {
    const CLIENTS: usize = 8;
    const ROUNDS: usize = 40;
    let srv = Server::start(&[]);
    let port = srv.port;
    let workers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = Conn::new(TcpStream::connect(("127.0.0.1", port)).expect("connect"));
                for _ in 0..ROUNDS {
                    c.send(&["MULTI"]);
                    c.send(&["INCR", "n"]);
                    c.send(&["INCR", "n"]);
                    c.send(&["EXEC"]);
                    assert_eq!(c.frame(), b"+OK\r\n");
                    assert_eq!(c.frame(), b"+QUEUED\r\n");
                    assert_eq!(c.frame(), b"+QUEUED\r\n");
                    let exec = text(&c.frame());
                    let nums: Vec<i64> = exec
                        .split("\r\n")
                        .filter_map(|l| l.strip_prefix(':'))
                        .map(|n| n.parse().expect("int"))
                        .collect();
                    assert_eq!(nums.len(), 2, "{exec}");
                    assert_eq!(nums[1], nums[0] + 1, "nothing ran between the two INCRs");
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    let mut c = srv.conn();
    let want = format!(
        "${}\r\n{}\r\n",
        (CLIENTS * ROUNDS * 2).to_string().len(),
        CLIENTS * ROUNDS * 2
    );
    assert_eq!(text(&c.cmd(&["GET", "n"])), want);
}

#[test]
fn monitor_sees_multi_queued_commands_and_exec() {
    let srv = Server::start(&[]);
    let (mut m, mut c) = (srv.conn(), srv.conn());
    assert_eq!(m.cmd(&["MONITOR"]), b"+OK\r\n");
    c.cmd(&["MULTI"]);
    c.cmd(&["SET", "a", "1"]);
    c.cmd(&["NOSUCH"]);
    c.cmd(&["DISCARD"]);
    c.cmd(&["MULTI"]);
    c.cmd(&["SET", "a", "1"]);
    c.cmd(&["GET", "a"]);
    assert_eq!(c.cmd(&["EXEC"]), b"*2\r\n+OK\r\n$1\r\n1\r\n");
    let lines: Vec<String> = text(&m.drain())
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(|l| l.split_once("] ").expect("monitor line").1.to_string())
        .collect();
    assert_eq!(
        lines,
        [
            "\"MULTI\"",
            "\"DISCARD\"",
            "\"MULTI\"",
            "\"SET\" \"a\" \"1\"",
            "\"GET\" \"a\"",
            "\"EXEC\""
        ]
    );
}

#[test]
fn pubsub_resp2_frames_counts_and_context() {
    let srv = Server::start(&[]);
    let (mut sub, mut publ) = (srv.conn(), srv.conn());
    sub.send(&["SUBSCRIBE", "news", "sport", "news"]);
    assert_eq!(
        text(&sub.drain()),
        [
            bulks(&["subscribe", "news"]) + ":1\r\n",
            bulks(&["subscribe", "sport"]) + ":2\r\n",
            bulks(&["subscribe", "news"]) + ":2\r\n",
        ]
        .concat()
        .replace("*2\r\n", "*3\r\n")
    );
    sub.send(&["PSUBSCRIBE", "n*"]);
    assert_eq!(
        text(&sub.frame()),
        bulks(&["psubscribe", "n*"]).replace("*2", "*3") + ":3\r\n"
    );

    // Exact subscribers first, then patterns; the count covers both.
    assert_eq!(publ.cmd(&["PUBLISH", "news", "hi"]), b":2\r\n");
    assert_eq!(
        text(&sub.drain()),
        bulks(&["message", "news", "hi"]) + &bulks(&["pmessage", "n*", "news", "hi"])
    );
    assert_eq!(publ.cmd(&["PUBLISH", "nothing", "x"]), b":1\r\n");
    assert_eq!(publ.cmd(&["PUBLISH", "other", "x"]), b":0\r\n");
    sub.drain();

    // RESP2 subscribed context.
    assert_eq!(
        text(&sub.cmd(&["GET", "a"])),
        "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n"
    );
    assert_eq!(text(&sub.cmd(&["PING"])), bulks(&["pong", ""]));
    let list = text(&publ.cmd(&["CLIENT", "LIST"]));
    assert!(
        list.contains("flags=P db=0 sub=2 psub=1 ssub=0 multi=-1"),
        "{list}"
    );
    assert_eq!(
        text(&publ.cmd(&["PUBSUB", "NUMSUB", "news", "none"])),
        "*4\r\n$4\r\nnews\r\n:1\r\n$4\r\nnone\r\n:0\r\n"
    );
    assert_eq!(publ.cmd(&["PUBSUB", "NUMPAT"]), b":1\r\n");

    // Unsubscribing from everything, then from nothing.
    sub.send(&["PUNSUBSCRIBE"]);
    assert_eq!(
        text(&sub.frame()),
        "*3\r\n$12\r\npunsubscribe\r\n$2\r\nn*\r\n:2\r\n"
    );
    sub.send(&["UNSUBSCRIBE"]);
    let all = text(&sub.drain());
    assert!(
        all.ends_with(":0\r\n") && all.matches("unsubscribe").count() == 2,
        "{all}"
    );
    sub.send(&["UNSUBSCRIBE"]);
    assert_eq!(
        text(&sub.frame()),
        "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n"
    );
    assert_eq!(sub.cmd(&["PING"]), b"+PONG\r\n");

    // A subscriber that goes away is forgotten.
    sub.cmd(&["SSUBSCRIBE", "shard"]);
    assert_eq!(publ.cmd(&["SPUBLISH", "shard", "m"]), b":1\r\n");
    drop(sub);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(publ.cmd(&["SPUBLISH", "shard", "m"]), b":0\r\n");
    assert_eq!(publ.cmd(&["PUBSUB", "SHARDCHANNELS"]), b"*0\r\n");
}

#[test]
fn pubsub_resp3_push_frames_and_commands_while_subscribed() {
    let srv = Server::start(&[]);
    let mut c = srv.conn();
    c.cmd(&["HELLO", "3"]);
    assert_eq!(
        text(&c.cmd(&["SUBSCRIBE", "ch"])),
        ">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"
    );
    assert_eq!(c.cmd(&["GET", "nokey"]), b"_\r\n");
    // A message to ourselves comes before the reply.
    c.send(&["PUBLISH", "ch", "me"]);
    assert_eq!(
        text(&c.drain()),
        ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nme\r\n:1\r\n"
    );
    c.send(&["UNSUBSCRIBE"]);
    assert_eq!(
        text(&c.frame()),
        ">3\r\n$11\r\nunsubscribe\r\n$2\r\nch\r\n:0\r\n"
    );
    c.send(&["UNSUBSCRIBE"]);
    assert_eq!(text(&c.frame()), ">3\r\n$11\r\nunsubscribe\r\n_\r\n:0\r\n");

    // Frames written inside EXEC sit between the array's elements.
    c.cmd(&["MULTI"]);
    c.cmd(&["SUBSCRIBE", "t"]);
    c.cmd(&["PUBLISH", "t", "x"]);
    c.send(&["EXEC"]);
    assert_eq!(
        text(&c.drain()),
        "*2\r\n>3\r\n$9\r\nsubscribe\r\n$1\r\nt\r\n:1\r\n>3\r\n$7\r\nmessage\r\n$1\r\nt\r\n$1\r\nx\r\n:1\r\n"
    );
}

#[test]
fn pattern_matching_edge_cases() {
    let srv = Server::start(&[]);
    let (mut sub, mut publ) = (srv.conn(), srv.conn());
    let patterns = [
        "h?llo",
        "h[ae]llo",
        "h[^e]llo",
        "h[a-b]llo",
        "h\\*llo",
        "*",
        "H*",
    ];
    let mut args = vec!["PSUBSCRIBE"];
    args.extend(patterns);
    sub.send(&args);
    sub.drain();
    // The patterns that matched, sorted (Redis delivers them in no set order).
    let matched = |sub: &mut Conn, publ: &mut Conn, channel: &str| -> Vec<String> {
        publ.cmd(&["PUBLISH", channel, "m"]);
        let mut got: Vec<String> = text(&sub.drain())
            .split("*4\r\n$8\r\npmessage\r\n")
            .filter(|f| !f.is_empty())
            .map(|f| f.split("\r\n").nth(1).expect("pattern").to_string())
            .collect();
        got.sort();
        got
    };
    assert_eq!(
        matched(&mut sub, &mut publ, "hello"),
        ["*", "h?llo", "h[ae]llo"]
    );
    assert_eq!(
        matched(&mut sub, &mut publ, "hallo"),
        ["*", "h?llo", "h[^e]llo", "h[a-b]llo", "h[ae]llo"]
    );
    assert_eq!(
        matched(&mut sub, &mut publ, "h*llo"),
        ["*", "h?llo", "h[^e]llo", "h\\*llo"]
    );
    assert_eq!(matched(&mut sub, &mut publ, "Hello"), ["*", "H*"]);
    assert_eq!(matched(&mut sub, &mut publ, "hllo"), ["*"]);
    assert_eq!(
        text(&publ.cmd(&["PUBSUB", "NUMPAT"])),
        format!(":{}\r\n", patterns.len())
    );
}

#[test]
fn keyspace_notifications_for_a_sample_of_commands() {
    let srv = Server::start(&["--notify-keyspace-events", "KEA"]);
    let (mut sub, mut c) = (srv.conn(), srv.conn());
    sub.send(&["PSUBSCRIBE", "__key*@*"]);
    sub.drain();
    let events = |sub: &mut Conn| -> Vec<(String, String)> {
        text(&sub.drain())
            .split("*4\r\n$8\r\npmessage\r\n")
            .filter(|f| !f.is_empty())
            .map(|f| {
                let parts: Vec<&str> = f.split("\r\n").collect();
                (parts[3].to_string(), parts[5].to_string())
            })
            .collect()
    };
    let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
    c.cmd(&["SET", "k", "1"]);
    assert_eq!(
        events(&mut sub),
        [
            pair("__keyspace@0__:k", "set"),
            pair("__keyevent@0__:set", "k")
        ]
    );
    c.cmd(&["INCRBY", "k", "2"]);
    c.cmd(&["EXPIRE", "k", "100"]);
    c.cmd(&["RENAME", "k", "r"]);
    c.cmd(&["GET", "nokey"]);
    c.cmd(&["DEL", "r"]);
    let got: Vec<String> = events(&mut sub)
        .into_iter()
        .filter(|(ch, _)| ch.starts_with("__keyevent"))
        .map(|(ch, key)| format!("{} {key}", &ch["__keyevent@0__:".len()..]))
        .collect();
    assert_eq!(
        got,
        [
            "incrby k",
            "expire k",
            "rename_from k",
            "rename_to r",
            "del r"
        ]
    );
    // Inside a transaction, and expiry by the server's own cycle.
    c.cmd(&["MULTI"]);
    c.cmd(&["SET", "t", "1", "PX", "50"]);
    c.cmd(&["APPEND", "t", "2"]);
    c.cmd(&["EXEC"]);
    std::thread::sleep(Duration::from_millis(400));
    let got: Vec<(String, String)> = events(&mut sub)
        .into_iter()
        .filter(|(ch, _)| ch.starts_with("__keyevent"))
        .collect();
    assert_eq!(
        got,
        [
            pair("__keyevent@0__:set", "t"),
            pair("__keyevent@0__:expire", "t"),
            pair("__keyevent@0__:append", "t"),
            pair("__keyevent@0__:expired", "t"),
        ]
    );
}

#[test]
fn slow_subscriber_hits_the_pubsub_output_limit() {
    let srv = Server::start(&[]);
    let (mut sub, mut publ) = (srv.conn(), srv.conn());
    sub.cmd(&["SUBSCRIBE", "flood"]);
    // The subscriber never reads: past the pub/sub class's hard limit
    // (32 MB by default) the server drops it.
    let payload = "x".repeat(1 << 20);
    let mut dropped = false;
    for _ in 0..200 {
        if publ.cmd(&["PUBLISH", "flood", &payload]) == b":0\r\n" {
            dropped = true;
            break;
        }
    }
    assert!(dropped, "the subscriber was never disconnected");
    assert!(sub.closed_within(Duration::from_secs(5)));
    assert_eq!(
        text(&publ.cmd(&["PUBSUB", "NUMSUB", "flood"])),
        "*2\r\n$5\r\nflood\r\n:0\r\n"
    );
}

#[test]
fn exec_statistics_as_redis() {
    let srv = Server::start(&[]);
    let mut c = srv.conn();
    c.cmd(&["SET", "a", "b"]);
    c.cmd(&["MULTI"]);
    c.cmd(&["INCR", "a"]);
    c.cmd(&["GET", "a"]);
    assert_eq!(
        text(&c.cmd(&["EXEC"])),
        "*2\r\n-ERR value is not an integer or out of range\r\n$1\r\nb\r\n"
    );
    c.cmd(&["MULTI"]);
    c.cmd(&["NOSUCH"]);
    assert_eq!(
        text(&c.cmd(&["EXEC"])),
        "-EXECABORT Transaction discarded because of previous errors.\r\n"
    );
    assert_eq!(
        text(&c.cmd(&["EXEC", "x"])),
        "-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n"
    );
    // calls / rejected_calls / failed_calls per command, usec left out.
    let stats = text(&c.cmd(&["INFO", "commandstats"]));
    let counts = |name: &str| -> String {
        let line = stats
            .lines()
            .find(|l| l.starts_with(&format!("cmdstat_{name}:")))
            .unwrap_or_else(|| panic!("{name} in {stats}"));
        line.split(',')
            .filter(|f| !f.contains("usec"))
            .collect::<Vec<_>>()
            .join(",")
    };
    assert_eq!(
        counts("exec"),
        "cmdstat_exec:calls=2,rejected_calls=1,failed_calls=1"
    );
    assert_eq!(
        counts("incr"),
        "cmdstat_incr:calls=1,rejected_calls=0,failed_calls=1"
    );
    assert_eq!(
        counts("multi"),
        "cmdstat_multi:calls=2,rejected_calls=0,failed_calls=0"
    );
    let errors = text(&c.cmd(&["INFO", "errorstats"]));
    assert!(
        errors.contains("errorstat_ERR:count=2\r\n")
            && errors.contains("errorstat_EXECABORT:count=2\r\n"),
        "{errors}"
    );
}
