//! Shared helpers for the black-box tests of this crate: start the real
//! binary on a free port in a directory, and a minimal RESP client.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    pub child: Child,
    pub port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts strata-server in `dir` with persistence off plus `extra` directives.
pub fn start(dir: &Path) -> Server {
    start_with(dir, &["--save", "", "--appendonly", "no"])
}

/// Starts strata-server in `dir` with the given directives (and waits for PING).
pub fn start_with(dir: &Path, extra: &[&str]) -> Server {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_strata-server"))
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(extra)
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start strata-server");
    let s = Server { child, port };
    wait_ready(port);
    s
}

pub fn wait_ready(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(mut c) = Conn::open(port) {
            if c.cmd(&["PING"]) == Resp::Status("PONG".into()) {
                return;
            }
        }
        assert!(Instant::now() < deadline, "server did not become ready");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Resp {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Resp>),
}

impl Resp {
    pub fn bulk(s: &str) -> Resp {
        Resp::Bulk(Some(s.as_bytes().to_vec()))
    }
}

pub struct Conn {
    w: TcpStream,
    r: BufReader<TcpStream>,
}

impl Conn {
    pub fn open(port: u16) -> std::io::Result<Conn> {
        let w = TcpStream::connect(("127.0.0.1", port))?;
        w.set_read_timeout(Some(Duration::from_secs(60)))?;
        let r = BufReader::new(w.try_clone()?);
        Ok(Conn { w, r })
    }

    pub fn send(&mut self, args: &[&str]) {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
        self.w.write_all(&out).unwrap();
    }

    pub fn read(&mut self) -> Resp {
        let mut line = String::new();
        if self.r.read_line(&mut line).unwrap_or(0) == 0 {
            // The server closed the connection (SHUTDOWN, QUIT).
            return Resp::Status(String::new());
        }
        let body = line[1..].trim_end().to_string();
        match line.as_bytes().first() {
            Some(b'+') => Resp::Status(body),
            Some(b'-') => Resp::Error(body),
            Some(b':') => Resp::Int(body.parse().unwrap()),
            Some(b'$') => {
                let n: i64 = body.parse().unwrap();
                if n < 0 {
                    return Resp::Bulk(None);
                }
                let mut b = vec![0u8; n as usize + 2];
                self.r.read_exact(&mut b).unwrap();
                b.truncate(n as usize);
                Resp::Bulk(Some(b))
            }
            Some(b'*') => {
                let n: i64 = body.parse().unwrap();
                if n < 0 {
                    return Resp::Bulk(None);
                }
                Resp::Array((0..n).map(|_| self.read()).collect())
            }
            _ => panic!("bad reply line {line:?}"),
        }
    }

    /// The buffered reader, for tests that read raw lines.
    pub fn reader(&mut self) -> &mut BufReader<TcpStream> {
        &mut self.r
    }

    pub fn cmd(&mut self, args: &[&str]) -> Resp {
        self.send(args);
        self.read()
    }

    pub fn info_field(&mut self, section: &str, field: &str) -> String {
        let Resp::Bulk(Some(text)) = self.cmd(&["INFO", section]) else {
            panic!("INFO")
        };
        let text = String::from_utf8(text).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_string))
            .unwrap_or_default()
    }
}

pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("strata-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Path of redis-server if installed (CI installs it; elsewhere tests skip with a notice).
pub fn redis_server() -> Option<&'static str> {
    let ok = Command::new("redis-server")
        .arg("--version")
        .output()
        .is_ok();
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "redis-server is required in CI"
        );
        eprintln!("notice: redis-server not installed; interop part skipped");
        return None;
    }
    Some("redis-server")
}

/// The last incr file the AOF manifest in `dir/appendonlydir` names.
pub fn incr_file(dir: &Path) -> PathBuf {
    let manifest =
        std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest")).unwrap();
    let name = manifest
        .lines()
        .rfind(|l| l.ends_with("type i"))
        .and_then(|l| l.split(' ').nth(1))
        .unwrap()
        .to_string();
    dir.join("appendonlydir").join(name)
}

/// A canonical, order-independent view of every key of the selected db:
/// type, TTL presence and contents; for streams also the groups (XINFO
/// GROUPS) and each pending entry's ID, owner and delivery count.
pub fn contents(c: &mut Conn) -> Vec<String> {
    let Resp::Array(keys) = c.cmd(&["KEYS", "*"]) else {
        panic!("KEYS")
    };
    let mut out = Vec::new();
    for k in keys {
        let Resp::Bulk(Some(k)) = k else { continue };
        let key = String::from_utf8(k).unwrap();
        let Resp::Status(ty) = c.cmd(&["TYPE", &key]) else {
            panic!("TYPE")
        };
        let body = match ty.as_str() {
            "string" => c.cmd(&["GET", &key]),
            "list" => c.cmd(&["LRANGE", &key, "0", "-1"]),
            "hash" => sorted(c.cmd(&["HGETALL", &key]), 2),
            "set" => sorted(c.cmd(&["SMEMBERS", &key]), 1),
            "zset" => c.cmd(&["ZRANGE", &key, "0", "-1", "WITHSCORES"]),
            "stream" => Resp::Array(stream_state(c, &key)),
            other => panic!("type {other}"),
        };
        let ttl = matches!(c.cmd(&["PTTL", &key]), Resp::Int(t) if t > 0);
        out.push(format!("{key} {ty} ttl={ttl} {body:?}"));
    }
    out.sort();
    out
}

fn stream_state(c: &mut Conn, key: &str) -> Vec<Resp> {
    let mut state = vec![c.cmd(&["XRANGE", key, "-", "+"])];
    let Resp::Array(groups) = c.cmd(&["XINFO", "GROUPS", key]) else {
        return state;
    };
    for g in groups {
        let Resp::Array(fields) = &g else { continue };
        let name = match fields.get(1) {
            Some(Resp::Bulk(Some(n))) => String::from_utf8_lossy(n).into_owned(),
            _ => continue,
        };
        state.push(g.clone());
        // Consumers by name and pending count (their idle time moves).
        if let Resp::Array(consumers) = c.cmd(&["XINFO", "CONSUMERS", key, &name]) {
            for cons in consumers {
                if let Resp::Array(mut f) = cons {
                    f.truncate(4);
                    state.push(Resp::Array(f));
                }
            }
        }
        // Pending entries without their idle time (element 2), which moves.
        if let Resp::Array(pending) = c.cmd(&["XPENDING", key, &name, "-", "+", "1000"]) {
            for p in pending {
                if let Resp::Array(mut f) = p {
                    if f.len() == 4 {
                        f.remove(2);
                    }
                    state.push(Resp::Array(f));
                }
            }
        }
    }
    state
}

/// Sorts an array reply in groups of `group` elements (pairs for HGETALL).
pub fn sorted(r: Resp, group: usize) -> Resp {
    let Resp::Array(items) = r else { return r };
    let mut chunks: Vec<Vec<Resp>> = Vec::new();
    let mut it = items.into_iter();
    loop {
        let chunk: Vec<Resp> = it.by_ref().take(group).collect();
        if chunk.is_empty() {
            break;
        }
        chunks.push(chunk);
    }
    chunks.sort_by_key(|c| format!("{c:?}"));
    Resp::Array(chunks.into_iter().flatten().collect())
}

/// A redis-server started by a test; SHUTDOWN NOSAVE and reaped on drop.
pub struct RedisServer {
    pub child: Child,
    pub port: u16,
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Ok(mut c) = Conn::open(self.port) {
            let _ = c.cmd(&["SHUTDOWN", "NOSAVE"]);
        }
        let _ = self.child.wait();
    }
}

/// Starts redis-server in `dir` (no save points) with `extra` directives.
pub fn start_redis(dir: &Path, extra: &[&str]) -> RedisServer {
    let port = free_port();
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args(extra)
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .spawn()
        .expect("start redis-server");
    wait_ready(port);
    RedisServer { child, port }
}

/// The commands of an AOF file, each as its words (`#` annotations skipped).
pub fn aof_commands(path: &Path) -> Vec<Vec<String>> {
    let data = std::fs::read(path).unwrap();
    let mut i = 0;
    let mut out = Vec::new();
    let line = |i: &mut usize| -> String {
        let end = *i + data[*i..].windows(2).position(|w| w == b"\r\n").unwrap();
        let s = String::from_utf8_lossy(&data[*i..end]).into_owned();
        *i = end + 2;
        s
    };
    while i < data.len() {
        let head = line(&mut i);
        if head.starts_with('#') {
            continue;
        }
        let n: usize = head[1..].parse().unwrap();
        let mut argv = Vec::with_capacity(n);
        for _ in 0..n {
            let len: usize = line(&mut i)[1..].parse().unwrap();
            argv.push(String::from_utf8_lossy(&data[i..i + len]).into_owned());
            i += len + 2;
        }
        out.push(argv);
    }
    out
}

/// Keys of every type and encoding in db 0: strings (int, embstr, raw with a
/// TTL), lists, hashes, sets (intset and hashtable) and sorted sets, each
/// small and with `big` members (past the listpack limits at 129 and up).
pub fn populate_every_type(c: &mut Conn, big: usize) {
    let big: Vec<String> = (0..big).map(|i| format!("member-{i}")).collect();
    c.cmd(&["SET", "str", "hello"]);
    c.cmd(&["SET", "int", "12345"]);
    c.cmd(&["SET", "long", &"x".repeat(500)]);
    c.cmd(&["PEXPIRE", "str", "1000000"]);
    c.cmd(&["RPUSH", "list", "a", "b", "3"]);
    let mut args = vec!["RPUSH", "biglist"];
    args.extend(big.iter().map(String::as_str));
    c.cmd(&args);
    c.cmd(&["HSET", "hash", "f", "v", "n", "1"]);
    let mut args = vec!["HSET", "bighash"];
    for m in &big {
        args.push(m);
        args.push(m);
    }
    c.cmd(&args);
    c.cmd(&["SADD", "intset", "1", "2", "300000"]);
    let mut args = vec!["SADD", "bigset"];
    args.extend(big.iter().map(String::as_str));
    c.cmd(&args);
    c.cmd(&[
        "ZADD", "zset", "1.5", "a", "0.1", "b", "-inf", "c", "inf", "d",
    ]);
    let mut args = vec!["ZADD".to_string(), "bigzset".to_string()];
    for (i, m) in big.iter().enumerate() {
        args.push(format!("{i}.25"));
        args.push(m.clone());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    c.cmd(&refs);
    c.cmd(&["PFADD", "hll", "a", "b", "c"]);
}
