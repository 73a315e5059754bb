//! RDB interop with redis-server 7.0 for every type: a file Redis wrote
//! loads into Strata with the same contents, and a file Strata wrote loads
//! into Redis (and passes redis-check-rdb) with the same contents.

mod common;

use common::{
    contents, populate_every_type, redis_server, start_redis, start_with, temp_dir, Conn, Resp,
};
use std::path::Path;
use std::process::Command;

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
    let reference = start_redis(&dir, &ARGS);
    let mut rc = Conn::open(reference.port).unwrap();
    let expected = contents(&mut rc);
    drop(reference);
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
        populate_every_type(&mut c, 300);
        c.cmd(&["XADD", "stream", "1-1", "f", "v"]);
        c.cmd(&["XADD", "stream", "2-1", "f", "w"]);
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
    let reference = start_redis(&dir, &ARGS);
    let mut rc = Conn::open(reference.port).unwrap();
    assert_eq!(contents(&mut rc), expected);
    drop(reference);
    let _ = std::fs::remove_dir_all(&dir);
}
