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

#[derive(Debug, PartialEq)]
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
