//! RDB interop with redis-server 7.0 for every type: a file Redis wrote
//! loads into Strata with the same contents, and a file Strata wrote loads
//! into Redis (and passes redis-check-rdb) with the same contents.

mod common;

use common::{contents, redis_server, start_with, temp_dir, wait_ready, Conn, Resp};
use std::path::Path;
use std::process::{Command, Stdio};

fn redis_on(dir: &Path) -> (std::process::Child, u16) {
    let port = common::free_port();
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_ready(port);
    (child, port)
}

const ARGS: [&str; 4] = ["--save", "", "--appendonly", "no"];

#[test]
fn redis_written_file_of_every_type_loads_with_the_same_contents() {
    if redis_server().is_none() {
        return;
    }
    let dir = temp_dir("rdb-interop-in");
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/tests/fixtures/redis-7.0.15-big.rdb");
    std::fs::copy(&fixture, dir.join("dump.rdb")).unwrap();
    let (mut child, port) = redis_on(&dir);
    let mut rc = Conn::open(port).unwrap();
    let expected = contents(&mut rc);
    let _ = rc.cmd(&["SHUTDOWN", "NOSAVE"]);
    let _ = child.wait();
    assert!(
        expected.len() >= 5,
        "the fixture holds keys of several types: {expected:?}"
    );
    let srv = start_with(&dir, &ARGS);
    let mut c = Conn::open(srv.port).unwrap();
    assert_eq!(contents(&mut c), expected);
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn strata_written_file_of_every_type_loads_into_redis() {
    if redis_server().is_none() {
        return;
    }
    let dir = temp_dir("rdb-interop-out");
    let expected = {
        let srv = start_with(&dir, &ARGS);
        let mut c = Conn::open(srv.port).unwrap();
        let big: Vec<String> = (0..300).map(|i| format!("member-{i}")).collect();
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
        c.cmd(&["ZADD", "zset", "1.5", "a", "2", "b"]);
        let mut args = vec!["ZADD".to_string(), "bigzset".to_string()];
        for (i, m) in big.iter().enumerate() {
            args.push(format!("{i}.25"));
            args.push(m.clone());
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        c.cmd(&refs);
        c.cmd(&["XADD", "stream", "1-1", "f", "v"]);
        c.cmd(&["XADD", "stream", "2-1", "f", "w"]);
        c.cmd(&["PFADD", "hll", "a", "b", "c"]);
        let expected = contents(&mut c);
        assert_eq!(c.cmd(&["SAVE"]), Resp::Status("OK".into()));
        expected
    };
    let check = Command::new("redis-check-rdb")
        .arg(dir.join("dump.rdb"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&check.stdout).contains("RDB looks OK!"),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let (mut child, port) = redis_on(&dir);
    let mut rc = Conn::open(port).unwrap();
    assert_eq!(contents(&mut rc), expected);
    let _ = rc.cmd(&["SHUTDOWN", "NOSAVE"]);
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
