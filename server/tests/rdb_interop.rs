//! RDB interop with redis-server 7.0 for every type: a file Redis wrote
//! loads into Strata with the same contents, and a file Strata wrote loads
//! into Redis (and passes redis-check-rdb) with the same contents.

mod common;

use common::{redis_server, start_with, temp_dir, wait_ready, Conn, Resp};
use std::path::Path;
use std::process::{Command, Stdio};

/// A canonical, order-independent view of every key of db 0.
fn contents(c: &mut Conn) -> Vec<String> {
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
            "stream" => c.cmd(&["XRANGE", &key, "-", "+"]),
            other => panic!("type {other}"),
        };
        let ttl = matches!(c.cmd(&["PTTL", &key]), Resp::Int(t) if t > 0);
        out.push(format!("{key} {ty} ttl={ttl} {body:?}"));
    }
    out.sort();
    out
}

fn sorted(r: Resp, group: usize) -> Resp {
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
