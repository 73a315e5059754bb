//! Black-box tests of start-up configuration: the real `strata-server` binary
//! with bad config files must stop with exit code 1 and redis-server's exact
//! report; a good one serves CONFIG GET and CONFIG REWRITE updates it.
//!
//! The expected texts were taken from redis-server 7.0.15 run on the same
//! fixtures (tests/fixtures/conf/).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Port for the test that starts a server (the config helper's range).
const REWRITE_TEST_PORT: u16 = 17481;
const START_TIMEOUT: Duration = Duration::from_secs(10);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/conf")
}

/// The server binary: `$CARGO_TARGET_DIR/debug/strata-server` or the
/// workspace's `target/debug/strata-server`, built first if missing.
fn server_bin() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    let bin = target.join("debug/strata-server");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "strata-server"])
            .current_dir(workspace())
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building strata-server failed");
    }
    bin
}

fn run(args: &[&str]) -> Output {
    Command::new(server_bin())
        .args(args)
        .current_dir(fixtures())
        .stdin(Stdio::null())
        .output()
        .expect("run strata-server")
}

fn fatal(line: usize, text: &str, reason: &str) -> String {
    format!("\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\nReading the configuration file, at line {line}\n>>> '{text}'\n{reason}\n")
}

fn assert_fatal(out: &Output, line: usize, text: &str, reason: &str) {
    assert_eq!(
        out.status.code(),
        Some(1),
        "exit code; stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        fatal(line, text, reason)
    );
}

#[test]
fn bad_directive_stops_startup_with_the_line() {
    assert_fatal(
        &run(&["bad-directive.conf"]),
        5,
        "maxmemroy 100mb",
        "Bad directive or wrong number of arguments",
    );
}

#[test]
fn bad_value_reports_the_type_error() {
    assert_fatal(
        &run(&["bad-value.conf"]),
        8,
        "databases 0",
        "argument must be between 1 and 2147483647 inclusive",
    );
}

#[test]
fn unbalanced_quotes() {
    assert_fatal(
        &run(&["unbalanced-quotes.conf"]),
        1,
        "logfile \"/tmp/strata.log",
        "Unbalanced quotes in configuration line",
    );
}

#[test]
fn an_included_file_reports_its_own_line() {
    assert_fatal(
        &run(&["include-main.conf"]),
        2,
        "hz fast",
        "argument couldn't be parsed into an integer",
    );
}

#[test]
fn command_line_options_are_lines_after_the_file() {
    // bad-directive.conf is not read: the options come after a good file.
    assert_fatal(
        &run(&["rewrite.conf", "--port", "abc"]),
        12,
        "port \"abc\"",
        "argument couldn't be parsed into an integer",
    );
    assert_fatal(
        &run(&["--maxmemory", "1mb", "2mb"]),
        2,
        "maxmemory \"1mb\" \"2mb\"",
        "wrong number of arguments",
    );
}

#[test]
fn missing_config_file() {
    let out = run(&["/nonexistent/strata.conf"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.trim_end().ends_with("# Fatal error, can't open config file '/nonexistent/strata.conf': No such file or directory"),
        "{stdout}"
    );
}

#[test]
fn version_and_help() {
    let out = run(&["-v"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout)
        .starts_with("Strata server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build="));
    let out = run(&["--help"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .starts_with("Usage: ./strata-server [/path/to/redis.conf] [options] [-]\n"));
}

/// Kills the server when the test ends, pass or fail.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn connect(port: u16) -> TcpStream {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => return s,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("server did not start: {e}"),
        }
    }
}

/// Sends a command and reads one reply (only the simple kinds CONFIG uses).
fn command(conn: &mut BufReader<TcpStream>, args: &[&str]) -> String {
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    conn.get_mut().write_all(req.as_bytes()).expect("send");
    read_reply(conn)
}

fn read_reply(conn: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    conn.read_line(&mut line).expect("read");
    let body = line.trim_end().to_string();
    match body.as_bytes().first() {
        Some(b'$') => {
            let n: i64 = body[1..].parse().expect("bulk length");
            if n < 0 {
                return "(nil)".into();
            }
            let mut buf = vec![0; n as usize + 2];
            conn.read_exact(&mut buf).expect("bulk");
            String::from_utf8_lossy(&buf[..n as usize]).into_owned()
        }
        Some(b'*') => {
            let n: usize = body[1..].parse().expect("array length");
            (0..n)
                .map(|_| read_reply(conn))
                .collect::<Vec<_>>()
                .join("\n")
        }
        _ => body,
    }
}

#[test]
fn config_get_and_rewrite_on_a_running_server() {
    let dir = std::env::temp_dir().join(format!("strata-config-file-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let conf = dir.join("rewrite.conf");
    std::fs::copy(fixtures().join("rewrite.conf"), &conf).expect("copy fixture");
    let port = REWRITE_TEST_PORT.to_string();
    let child = Command::new(server_bin())
        .arg(&conf)
        .args(["--port", &port, "--dir"])
        .arg(&dir)
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start strata-server");
    let _server = Server(child);
    let mut conn = BufReader::new(connect(REWRITE_TEST_PORT));

    assert_eq!(
        command(&mut conn, &["CONFIG", "GET", "maxmemory"]),
        "maxmemory\n1048576"
    );
    assert_eq!(command(&mut conn, &["CONFIG", "GET", "save"]), "save\n");
    assert_eq!(
        command(&mut conn, &["CONFIG", "GET", "appendonly"]),
        "appendonly\nno"
    );
    assert_eq!(
        command(&mut conn, &["CONFIG", "GET", "port"]),
        format!("port\n{port}")
    );
    assert_eq!(
        command(
            &mut conn,
            &[
                "CONFIG",
                "SET",
                "maxmemory",
                "2mb",
                "hz",
                "20",
                "slowlog-max-len",
                "5"
            ]
        ),
        "+OK"
    );
    assert_eq!(command(&mut conn, &["CONFIG", "REWRITE"]), "+OK");

    let text = std::fs::read_to_string(&conf).expect("read rewritten file");
    let dir_line = format!(
        "dir \"{}\"",
        std::fs::canonicalize(&dir)
            .expect("canonical dir")
            .display()
    );
    let expected = [
        "# Kept by CONFIG REWRITE: this comment, unknown-to-rewrite lines, order.",
        &format!("port {port}"),
        "save \"\"",
        "appendonly no",
        "",
        "# Memory",
        "maxmemory 2mb",
        "replica-read-only yes",
        "# ??? list-max-ziplist-entries 512",
        "hz 20",
        "",
        "# Generated by CONFIG REWRITE",
        &dir_line,
        "latency-tracking-info-percentiles 50 99 99.9",
        "slowlog-max-len 5",
    ]
    .join("\n")
        + "\n";
    assert_eq!(text, expected);
    let _ = std::fs::remove_dir_all(&dir);
}
