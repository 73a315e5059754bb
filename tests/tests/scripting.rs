//! Black-box tests of Lua scripting and functions: the real
//! `strata-server` binary, raw RESP over TCP, replies compared byte for
//! byte with what redis-server 7.0.15 sends.
//!
//! Each test starts its own server on its own port (17920-17939).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn binary() -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")));
    let bin = target.join("debug").join("strata-server");
    if !bin.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "strata-server", "--bin", "strata-server"])
            .status()
            .expect("cargo build");
        assert!(status.success(), "building strata-server failed");
    }
    bin
}

struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(port: u16, extra: &[&str]) -> Server {
        let dir = std::env::temp_dir().join(format!("strata-scripting-{port}"));
        let _ = std::fs::create_dir_all(&dir);
        let mut args = vec![
            "--port".to_string(),
            port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--save".into(),
            "".into(),
            "--appendonly".into(),
            "no".into(),
            "--dir".into(),
            dir.to_string_lossy().into_owned(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let child = Command::new(binary())
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start strata-server");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Server { child, port }
    }

    fn client(&self) -> Client {
        let s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Client { s, buf: Vec::new() }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Client {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    fn send(&mut self, argv: &[&[u8]]) {
        let mut out = format!("*{}\r\n", argv.len()).into_bytes();
        for a in argv {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.s.write_all(&out).unwrap();
    }

    /// One whole reply, raw.
    fn read(&mut self) -> Vec<u8> {
        loop {
            if let Some(end) = reply_end(&self.buf, 0) {
                return self.buf.drain(..end).collect();
            }
            let mut chunk = [0u8; 65536];
            let n = self.s.read(&mut chunk).expect("read reply");
            assert!(n > 0, "connection closed");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn cmd(&mut self, argv: &[&str]) -> String {
        let argv: Vec<&[u8]> = argv.iter().map(|a| a.as_bytes()).collect();
        self.send(&argv);
        String::from_utf8_lossy(&self.read()).into_owned()
    }
}

/// Where the reply starting at `i` ends, if it is complete.
fn reply_end(b: &[u8], i: usize) -> Option<usize> {
    let line_end = i + b.get(i..)?.windows(2).position(|w| w == b"\r\n")?;
    let kind = *b.get(i)?;
    let n: i64 = std::str::from_utf8(&b[i + 1..line_end])
        .ok()?
        .parse()
        .unwrap_or(0);
    let mut at = line_end + 2;
    match kind {
        b'$' | b'=' if n >= 0 => {
            let end = at + n as usize + 2;
            (b.len() >= end).then_some(end)
        }
        b'*' | b'~' | b'>' | b'%' if n >= 0 => {
            let count = if kind == b'%' { n * 2 } else { n };
            for _ in 0..count {
                at = reply_end(b, at)?;
            }
            Some(at)
        }
        _ => Some(at),
    }
}

#[test]
fn scripts_that_error() {
    let srv = Server::start(17920, &[]);
    let mut c = srv.client();
    assert_eq!(
        c.cmd(&["EVAL", "error('boom')", "0"]),
        "-ERR user_script:1: boom script: 82903a0434f1503e152f89c03c9acd881a0e8150, on @user_script:1.\r\n"
    );
    assert_eq!(
        c.cmd(&["EVAL", "return redis.call('nosuch')", "0"]),
        "-ERR Unknown Redis command called from script script: 206396248e12c6e742fd7296250433c8d7343b74, on @user_script:1.\r\n"
    );
    assert_eq!(
        c.cmd(&["EVAL", "return redis.pcall('nosuch')", "0"]),
        "-ERR Unknown Redis command called from script\r\n"
    );
    assert_eq!(
        c.cmd(&["EVAL", "return 1 +", "0"]),
        "-ERR Error compiling script (new function): user_script:1: unexpected symbol near '<eof>'\r\n"
    );
    assert_eq!(
        c.cmd(&["EVAL", "x = 5", "0"]),
        "-ERR user_script:1: Attempt to modify a readonly table script: 818a330663e3c3e78469660421595218e5ab5c48, on @user_script:1.\r\n"
    );
    assert_eq!(
        c.cmd(&["EVAL", "return y", "0"]),
        "-ERR user_script:1: Script attempted to access nonexistent global variable 'y' script: e278681ed961e2fb52881313e5c90fdd93749940, on @user_script:1.\r\n"
    );
    assert_eq!(
        c.cmd(&["EVAL", "return 1", "2", "a"]),
        "-ERR Number of keys can't be greater than number of args\r\n"
    );
    assert_eq!(
        c.cmd(&["EVAL", "return 1", "-1"]),
        "-ERR Number of keys can't be negative\r\n"
    );
    assert_eq!(
        c.cmd(&["EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0"]),
        "-NOSCRIPT No matching script. Please use EVAL.\r\n"
    );
    // The connection and the server are fine afterwards.
    assert_eq!(c.cmd(&["PING"]), "+PONG\r\n");
}

#[test]
fn every_type_in_resp2_and_resp3() {
    let srv = Server::start(17921, &[]);
    let mut c = srv.client();
    let cases: &[(&str, &str, &str)] = &[
        ("return 1", ":1\r\n", ":1\r\n"),
        ("return 3.99", ":3\r\n", ":3\r\n"),
        ("return 'x'", "$1\r\nx\r\n", "$1\r\nx\r\n"),
        ("return nil", "$-1\r\n", "_\r\n"),
        ("return false", "$-1\r\n", "_\r\n"),
        ("return true", ":1\r\n", ":1\r\n"),
        (
            "return {1,'a',{2}}",
            "*3\r\n:1\r\n$1\r\na\r\n*1\r\n:2\r\n",
            "*3\r\n:1\r\n$1\r\na\r\n*1\r\n:2\r\n",
        ),
        ("return {ok='fine'}", "+fine\r\n", "+fine\r\n"),
        ("return {err='bad'}", "-bad\r\n", "-bad\r\n"),
        ("return {double=3.5}", "$3\r\n3.5\r\n", ",3.5\r\n"),
        (
            "return {map={a=1}}",
            "*2\r\n$1\r\na\r\n:1\r\n",
            "%1\r\n$1\r\na\r\n:1\r\n",
        ),
        (
            "return {set={a=true}}",
            "*1\r\n$1\r\na\r\n",
            "~1\r\n$1\r\na\r\n",
        ),
        (
            "return {big_number='12345678901234567890'}",
            "$20\r\n12345678901234567890\r\n",
            "(12345678901234567890\r\n",
        ),
        (
            "return {verbatim_string={format='txt', string='hi'}}",
            "$2\r\nhi\r\n",
            "=6\r\ntxt:hi\r\n",
        ),
        (
            "redis.setresp(3) return {true, false}",
            "*2\r\n:1\r\n:0\r\n",
            "*2\r\n#t\r\n#f\r\n",
        ),
        (
            "redis.setresp(3) return type(redis.call('get','nokey'))",
            "$3\r\nnil\r\n",
            "$3\r\nnil\r\n",
        ),
        (
            "return type(redis.call('get','nokey'))",
            "$7\r\nboolean\r\n",
            "$7\r\nboolean\r\n",
        ),
    ];
    for (script, resp2, _) in cases {
        assert_eq!(&c.cmd(&["EVAL", script, "0"]), resp2, "RESP2: {script}");
    }
    c.cmd(&["HELLO", "3"]);
    for (script, _, resp3) in cases {
        assert_eq!(&c.cmd(&["EVAL", script, "0"]), resp3, "RESP3: {script}");
    }
}

#[test]
fn read_only_scripts_refuse_writes() {
    let srv = Server::start(17922, &[]);
    let mut c = srv.client();
    assert_eq!(
        c.cmd(&["EVAL_RO", "return redis.call('set','a','b')", "0"]),
        "-ERR Write commands are not allowed from read-only scripts. script: ff967d0ae0e68b4f9e360fa91c54598bc25ad9b6, on @user_script:1.\r\n"
    );
    assert_eq!(
        c.cmd(&[
            "EVAL",
            "#!lua flags=no-writes\nreturn redis.call('get','a')",
            "0"
        ]),
        "$-1\r\n"
    );
    assert_eq!(
        c.cmd(&["EVAL_RO", "#!lua\nreturn 1", "0"]),
        "-ERR Can not execute a script with write flag using *_ro command.\r\n"
    );
    c.cmd(&["FUNCTION", "LOAD", "#!lua name=l\nredis.register_function('w', function(k) return redis.call('set', k[1], 'v') end)"]);
    assert_eq!(
        c.cmd(&["FCALL_RO", "w", "1", "k"]),
        "-ERR Can not execute a script with write flag using *_ro command.\r\n"
    );
    assert_eq!(c.cmd(&["FCALL", "w", "1", "k"]), "+OK\r\n");
    assert_eq!(c.cmd(&["GET", "k"]), "$1\r\nv\r\n");
}

#[test]
fn time_is_frozen_inside_a_script() {
    let srv = Server::start(17923, &[]);
    let mut c = srv.client();
    // The key expires 1 ms after the script starts; a busy wait of 20 ms
    // later it still exists for the script.
    let script = "redis.call('set', KEYS[1], 'v', 'px', 1)
local t0 = redis.call('time')
local i = 0
while i < 3000000 do i = i + 1 end
return redis.call('exists', KEYS[1])";
    assert_eq!(c.cmd(&["EVAL", script, "1", "k"]), ":1\r\n");
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(c.cmd(&["EXISTS", "k"]), ":0\r\n");
}

#[test]
fn busy_script_then_script_kill() {
    let srv = Server::start(17924, &["--busy-reply-threshold", "100"]);
    let mut runner = srv.client();
    let mut other = srv.client();
    runner.send(&[b"EVAL", b"local i = 0 while true do i = i + 1 end", b"0"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        other.cmd(&["GET", "x"]),
        "-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n"
    );
    // A client that connects while the script runs is served too.
    let mut late = srv.client();
    assert_eq!(
        late.cmd(&["PING"]),
        "-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n"
    );
    assert_eq!(
        other.cmd(&["FUNCTION", "KILL"]),
        "-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n"
    );
    assert_eq!(other.cmd(&["SCRIPT", "KILL"]), "+OK\r\n");
    assert_eq!(
        String::from_utf8_lossy(&runner.read()),
        "-ERR Script killed by user with SCRIPT KILL... script: 3fcf51a9b854b8f66cb8685600b0d7df968f4398, on @user_script:1.\r\n"
    );
    assert_eq!(
        other.cmd(&["SCRIPT", "KILL"]),
        "-NOTBUSY No scripts in execution right now.\r\n"
    );
    assert_eq!(late.cmd(&["PING"]), "+PONG\r\n");
}

#[test]
fn busy_function_then_function_kill_and_unkillable() {
    let srv = Server::start(17925, &["--busy-reply-threshold", "100"]);
    let mut c = srv.client();
    c.cmd(&["FUNCTION", "LOAD", "#!lua name=busy\nredis.register_function('loop', function() local i = 0 while true do i = i + 1 end end)"]);
    let mut runner = srv.client();
    runner.send(&[b"FCALL", b"loop", b"0"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        c.cmd(&["SCRIPT", "KILL"]),
        "-BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.\r\n"
    );
    let stats = c.cmd(&["FUNCTION", "STATS"]);
    assert!(
        stats.contains("$4\r\nloop\r\n$7\r\ncommand\r\n*3\r\n$5\r\nFCALL\r\n"),
        "{stats}"
    );
    assert_eq!(c.cmd(&["FUNCTION", "KILL"]), "+OK\r\n");
    assert_eq!(
        String::from_utf8_lossy(&runner.read()),
        "-ERR Script killed by user with SCRIPT KILL... script: loop, on @user_function:2.\r\n"
    );
    // A script that wrote cannot be killed.
    runner.send(&[
        b"EVAL",
        b"redis.call('set','k','v') while true do end",
        b"0",
    ]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        c.cmd(&["SCRIPT", "KILL"]),
        "-UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.\r\n"
    );
}

#[test]
fn function_load_list_call_delete_dump_restore() {
    let srv = Server::start(17926, &[]);
    let mut c = srv.client();
    let code = "#!lua name=mylib\nredis.register_function{function_name='echo', callback=function(keys, args) return args[1] end, flags={'no-writes'}, description='echoes'}";
    assert_eq!(c.cmd(&["FUNCTION", "LOAD", code]), "$5\r\nmylib\r\n");
    assert_eq!(
        c.cmd(&["FUNCTION", "LOAD", code]),
        "-ERR Library 'mylib' already exists\r\n"
    );
    assert_eq!(c.cmd(&["FCALL", "echo", "0", "hi"]), "$2\r\nhi\r\n");
    assert_eq!(c.cmd(&["FCALL_RO", "ECHO", "0", "hi"]), "$2\r\nhi\r\n");
    assert_eq!(
        c.cmd(&["FUNCTION", "LIST", "WITHCODE"]),
        format!("*1\r\n*8\r\n$12\r\nlibrary_name\r\n$5\r\nmylib\r\n$6\r\nengine\r\n$3\r\nLUA\r\n$9\r\nfunctions\r\n*1\r\n*6\r\n$4\r\nname\r\n$4\r\necho\r\n$11\r\ndescription\r\n$6\r\nechoes\r\n$5\r\nflags\r\n*1\r\n+no-writes\r\n$12\r\nlibrary_code\r\n${}\r\n{code}\r\n", code.len())
    );
    c.send(&[b"FUNCTION", b"DUMP"]);
    let dump = c.read();
    let start = dump.iter().position(|&b| b == b'\n').unwrap() + 1;
    let payload = dump[start..dump.len() - 2].to_vec();
    assert_eq!(c.cmd(&["FUNCTION", "DELETE", "mylib"]), "+OK\r\n");
    assert_eq!(
        c.cmd(&["FCALL", "echo", "0", "hi"]),
        "-ERR Function not found\r\n"
    );
    c.send(&[b"FUNCTION", b"RESTORE", &payload]);
    assert_eq!(c.read(), b"+OK\r\n");
    assert_eq!(c.cmd(&["FCALL", "echo", "0", "back"]), "$4\r\nback\r\n");
    c.send(&[b"FUNCTION", b"RESTORE", &payload]);
    assert_eq!(c.read(), b"-ERR Library mylib already exists\r\n");
    c.send(&[b"FUNCTION", b"RESTORE", &payload, b"REPLACE"]);
    assert_eq!(c.read(), b"+OK\r\n");
    // A payload FUNCTION DUMP of redis-server 7.0.15 wrote.
    let redis_payload: &[u8] = b"\xf5\xc3@\xb6@\xf8\x1f#!lua name=mylib\nredis.register_\x0bfunction('my@\x0b\x02', @\x06`\x12\x11keys, args) return`\x0c\x07[1] end)\xe0\x0fJ\x00{\xc0@\x00_`v\x02'ro T\x08callback=\xc0\x1c\xe0\x0b]\x80\x9b@*\x04('get 6@\x82 o\x00)@p \x99\x1alags={'no-writes'}, descrip@\xb1\n='a ro fn'}\n\x00Y\xe2\xc4l\x13\xf1\xcf\x19";
    c.send(&[b"FUNCTION", b"RESTORE", redis_payload, b"FLUSH"]);
    assert_eq!(c.read(), b"+OK\r\n");
    assert_eq!(c.cmd(&["FCALL", "myfunc", "0", "x"]), "$1\r\nx\r\n");
    assert_eq!(c.cmd(&["FCALL_RO", "ro", "1", "nokey"]), "$-1\r\n");
    assert_eq!(c.cmd(&["FUNCTION", "FLUSH"]), "+OK\r\n");
    assert_eq!(c.cmd(&["FUNCTION", "LIST"]), "*0\r\n");
}

#[test]
fn script_cache() {
    let srv = Server::start(17927, &[]);
    let mut c = srv.client();
    assert_eq!(
        c.cmd(&["SCRIPT", "LOAD", "return ARGV[1]"]),
        "$40\r\n098e0f0d1448c0a81dafe820f66d460eb09263da\r\n"
    );
    assert_eq!(
        c.cmd(&[
            "EVALSHA",
            "098E0F0D1448C0A81DAFE820F66D460EB09263DA",
            "0",
            "v"
        ]),
        "$1\r\nv\r\n"
    );
    assert_eq!(
        c.cmd(&[
            "SCRIPT",
            "EXISTS",
            "098e0f0d1448c0a81dafe820f66d460eb09263da",
            "x"
        ]),
        "*2\r\n:1\r\n:0\r\n"
    );
    assert_eq!(c.cmd(&["SCRIPT", "FLUSH", "ASYNC"]), "+OK\r\n");
    assert_eq!(
        c.cmd(&["EVALSHA", "098e0f0d1448c0a81dafe820f66d460eb09263da", "0"]),
        "-NOSCRIPT No matching script. Please use EVAL.\r\n"
    );
}
