//! Black-box tests of blocking list commands: several real clients against the
//! `strata-server` binary (build it first: `cargo build -p strata-server`).
//!
//! Servers come from the shared harness in `tests/src/lib.rs`.

use std::thread;
use std::time::{Duration, Instant};

/// Pause that lets a client's blocking command reach the server before the next step.
const SETTLE_MS: u64 = 150;

/// The shared harness's server (free port with retry, fresh dir, killed on drop).
struct Server {
    inner: strata_tests::TestServer,
    port: u16,
}

impl Server {
    fn start() -> Server {
        let inner = strata_tests::TestServer::start();
        let port = inner.port();
        Server { inner, port }
    }

    fn conn(&self) -> redis::Connection {
        self.inner.client()
    }
}

fn settle() {
    thread::sleep(Duration::from_millis(SETTLE_MS));
}

/// Runs `cmd` on a fresh connection in a thread; the handle yields its reply.
fn spawn_cmd<T: redis::FromRedisValue + Send + 'static>(
    srv: &Server,
    cmd: redis::Cmd,
) -> thread::JoinHandle<redis::RedisResult<T>> {
    let mut con = srv.conn();
    thread::spawn(move || cmd.query(&mut con))
}

fn blpop(key: &str, timeout: f64) -> redis::Cmd {
    let mut c = redis::cmd("BLPOP");
    c.arg(key).arg(timeout);
    c
}

#[test]
fn blpop_wakes_clients_in_arrival_order() {
    let srv = Server::start();
    let first = spawn_cmd::<Option<(String, String)>>(&srv, blpop("queue", 0.0));
    settle();
    let second = spawn_cmd::<Option<(String, String)>>(&srv, blpop("queue", 0.0));
    settle();
    let third = spawn_cmd::<Option<(String, String)>>(&srv, blpop("queue", 0.0));
    settle();
    let mut con = srv.conn();
    let len: i64 = redis::cmd("RPUSH")
        .arg("queue")
        .arg("a")
        .arg("b")
        .query(&mut con)
        .unwrap();
    assert_eq!(
        len, 2,
        "RPUSH replies with the length before blocked clients are served"
    );
    assert_eq!(
        first.join().unwrap().unwrap(),
        Some(("queue".into(), "a".into()))
    );
    assert_eq!(
        second.join().unwrap().unwrap(),
        Some(("queue".into(), "b".into()))
    );
    // The list was emptied by the served clients: the third keeps waiting.
    assert!(!third.is_finished());
    let len: i64 = redis::cmd("LPUSH")
        .arg("queue")
        .arg("c")
        .query(&mut con)
        .unwrap();
    assert_eq!(len, 1);
    assert_eq!(
        third.join().unwrap().unwrap(),
        Some(("queue".into(), "c".into()))
    );
    let exists: i64 = redis::cmd("LLEN").arg("queue").query(&mut con).unwrap();
    assert_eq!(exists, 0);
}

#[test]
fn timeouts_return_nil_with_subsecond_precision() {
    let srv = Server::start();
    let mut con = srv.conn();
    let start = Instant::now();
    let got: Option<(String, String)> = blpop("none", 0.2).query(&mut con).unwrap();
    let waited = start.elapsed();
    assert_eq!(got, None);
    assert!(
        waited >= Duration::from_millis(190) && waited < Duration::from_millis(1500),
        "waited {waited:?}"
    );
    let got: Option<String> = redis::cmd("BLMOVE")
        .arg("none")
        .arg("dst")
        .arg("LEFT")
        .arg("RIGHT")
        .arg(0.05)
        .query(&mut con)
        .unwrap();
    assert_eq!(got, None);
    let got: Option<(String, Vec<String>)> = redis::cmd("BLMPOP")
        .arg(0.05)
        .arg(2)
        .arg("n1")
        .arg("n2")
        .arg("LEFT")
        .query(&mut con)
        .unwrap();
    assert_eq!(got, None);
    // The connection is usable after a timeout.
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
    let err = blpop("none", -1.0)
        .query::<Option<(String, String)>>(&mut con)
        .unwrap_err();
    assert!(err.to_string().contains("timeout is negative"), "{err}");
}

#[test]
fn blmove_moves_atomically_and_chains() {
    let srv = Server::start();
    let mut mover_cmd = redis::cmd("BLMOVE");
    mover_cmd
        .arg("src")
        .arg("mid")
        .arg("LEFT")
        .arg("RIGHT")
        .arg(0);
    let mover = spawn_cmd::<Option<String>>(&srv, mover_cmd);
    settle();
    // A second client waits on the mover's destination.
    let waiter = spawn_cmd::<Option<(String, String)>>(&srv, blpop("mid", 0.0));
    settle();
    let mut con = srv.conn();
    let _: i64 = redis::cmd("RPUSH")
        .arg("src")
        .arg("x")
        .arg("y")
        .query(&mut con)
        .unwrap();
    assert_eq!(mover.join().unwrap().unwrap(), Some("x".into()));
    assert_eq!(
        waiter.join().unwrap().unwrap(),
        Some(("mid".into(), "x".into()))
    );
    let src: Vec<String> = redis::cmd("LRANGE")
        .arg("src")
        .arg(0)
        .arg(-1)
        .query(&mut con)
        .unwrap();
    assert_eq!(src, vec!["y".to_string()]);
    let mid: i64 = redis::cmd("LLEN").arg("mid").query(&mut con).unwrap();
    assert_eq!(mid, 0);
}

#[test]
fn served_blmove_with_wrong_type_destination_fails_and_keeps_source() {
    let srv = Server::start();
    let mut con = srv.conn();
    let _: () = redis::cmd("SET")
        .arg("dst")
        .arg("string")
        .query(&mut con)
        .unwrap();
    let mut c = redis::cmd("BLMOVE");
    c.arg("src").arg("dst").arg("LEFT").arg("LEFT").arg(0);
    let mover = spawn_cmd::<Option<String>>(&srv, c);
    settle();
    let _: i64 = redis::cmd("RPUSH")
        .arg("src")
        .arg("e")
        .query(&mut con)
        .unwrap();
    let err = mover.join().unwrap().unwrap_err();
    assert!(err.to_string().contains("WRONGTYPE"), "{err}");
    let src: Vec<String> = redis::cmd("LRANGE")
        .arg("src")
        .arg(0)
        .arg(-1)
        .query(&mut con)
        .unwrap();
    assert_eq!(src, vec!["e".to_string()]);
}

#[test]
fn client_unblock_and_disconnect() {
    let srv = Server::start();
    let mut blocked = srv.conn();
    let id: i64 = redis::cmd("CLIENT").arg("ID").query(&mut blocked).unwrap();
    let handle = thread::spawn(move || {
        let r: redis::RedisResult<Option<(String, String)>> = blpop("k", 0.0).query(&mut blocked);
        (r, blocked)
    });
    settle();
    let mut con = srv.conn();
    let n: i64 = redis::cmd("CLIENT")
        .arg("UNBLOCK")
        .arg(id)
        .query(&mut con)
        .unwrap();
    assert_eq!(n, 1);
    let (r, mut blocked) = handle.join().unwrap();
    assert_eq!(
        r.unwrap(),
        None,
        "TIMEOUT (the default) replies as a timeout"
    );
    let handle =
        thread::spawn(move || blpop("k", 0.0).query::<Option<(String, String)>>(&mut blocked));
    settle();
    let n: i64 = redis::cmd("CLIENT")
        .arg("UNBLOCK")
        .arg(id)
        .arg("ERROR")
        .query(&mut con)
        .unwrap();
    assert_eq!(n, 1);
    let err = handle.join().unwrap().unwrap_err();
    assert!(
        err.to_string()
            .contains("client unblocked via CLIENT UNBLOCK"),
        "{err}"
    );
    let n: i64 = redis::cmd("CLIENT")
        .arg("UNBLOCK")
        .arg(id)
        .query(&mut con)
        .unwrap();
    assert_eq!(n, 0, "not blocked any more");

    // A blocked client that disconnects does not swallow the next element.
    {
        let mut gone = std::net::TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
        std::io::Write::write_all(&mut gone, b"*3\r\n$5\r\nBLPOP\r\n$2\r\ndc\r\n$1\r\n0\r\n")
            .unwrap();
        settle();
    }
    settle();
    let waiter = spawn_cmd::<Option<(String, String)>>(&srv, blpop("dc", 0.0));
    settle();
    let _: i64 = redis::cmd("RPUSH")
        .arg("dc")
        .arg("one")
        .query(&mut con)
        .unwrap();
    assert_eq!(
        waiter.join().unwrap().unwrap(),
        Some(("dc".into(), "one".into()))
    );
}

#[test]
fn pipelined_commands_wait_behind_a_blocked_one() {
    let srv = Server::start();
    let mut blocked = srv.conn();
    let handle = thread::spawn(move || {
        redis::pipe()
            .add_command(blpop("p", 0.0))
            .cmd("PING")
            .cmd("ECHO")
            .arg("after")
            .query::<(Option<(String, String)>, String, String)>(&mut blocked)
    });
    settle();
    assert!(!handle.is_finished());
    let mut con = srv.conn();
    let _: i64 = redis::cmd("LPUSH")
        .arg("p")
        .arg("v")
        .query(&mut con)
        .unwrap();
    let (popped, pong, echo) = handle.join().unwrap().unwrap();
    assert_eq!(popped, Some(("p".into(), "v".into())));
    assert_eq!(pong, "PONG");
    assert_eq!(echo, "after");
}

/// INFO clients line `name:value`.
fn info_clients_field(con: &mut redis::Connection, name: &str) -> String {
    let info: String = redis::cmd("INFO").arg("clients").query(con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn swapdb_wakes_clients_blocked_on_keys_it_brings_and_info_counts_them() {
    let srv = Server::start();
    let mut other = srv.conn();
    let _: () = redis::cmd("SELECT").arg(1).query(&mut other).unwrap();
    let _: i64 = redis::cmd("RPUSH")
        .arg("k")
        .arg("hello")
        .query(&mut other)
        .unwrap();
    let _: i64 = redis::cmd("ZADD")
        .arg("z")
        .arg(1)
        .arg("m")
        .query(&mut other)
        .unwrap();
    let list = spawn_cmd::<Option<(String, String)>>(&srv, blpop("k", 5.0));
    let forever = spawn_cmd::<Option<(String, String, String)>>(&srv, {
        let mut c = redis::cmd("BZPOPMIN");
        c.arg("z").arg(0);
        c
    });
    settle();
    let mut con = srv.conn();
    assert_eq!(info_clients_field(&mut con, "blocked_clients"), "2");
    // Only the BLPOP has a timeout.
    assert_eq!(
        info_clients_field(&mut con, "clients_in_timeout_table"),
        "1"
    );
    let started = Instant::now();
    let _: () = redis::cmd("SWAPDB")
        .arg(1)
        .arg(0)
        .query(&mut other)
        .unwrap();
    assert_eq!(
        list.join().unwrap().unwrap(),
        Some(("k".to_string(), "hello".to_string()))
    );
    assert_eq!(
        forever.join().unwrap().unwrap(),
        Some(("z".to_string(), "m".to_string(), "1".to_string()))
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(info_clients_field(&mut con, "blocked_clients"), "0");
    let len: i64 = redis::cmd("LLEN").arg("k").query(&mut con).unwrap();
    assert_eq!(len, 0);
}
