//! `aof-use-rdb-preamble no`: the rewrite writes its base as commands
//! (`.base.aof`). The base rebuilds every type (big collections split into
//! several commands, streams with groups, pending entries and idle
//! consumers, TTLs, several databases, function libraries) in Strata and in
//! redis-server 7.0, passes redis-check-aof, and a base redis-server wrote
//! loads into Strata.

mod common;

use common::{
    contents, populate_every_type, redis_server, start_redis, start_with, temp_dir, Conn, Resp,
};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const ARGS: [&str; 8] = [
    "--save",
    "",
    "--appendonly",
    "yes",
    "--aof-use-rdb-preamble",
    "no",
    "--appendfsync",
    "always",
];

const LIBRARY: &str = "#!lua name=lib\nredis.register_function('f', function() return 1 end)";

fn populate(c: &mut Conn) {
    populate_every_type(c, 150);
    c.cmd(&["XADD", "stream", "1-1", "f", "v"]);
    c.cmd(&["XADD", "stream", "2-1", "f", "w", "g", "x"]);
    c.cmd(&["XADD", "stream", "3-1", "f", "y"]);
    c.cmd(&["XDEL", "stream", "3-1"]);
    c.cmd(&["XGROUP", "CREATE", "stream", "g1", "0"]);
    c.cmd(&[
        "XREADGROUP",
        "GROUP",
        "g1",
        "alice",
        "COUNT",
        "1",
        "STREAMS",
        "stream",
        ">",
    ]);
    c.cmd(&["XREADGROUP", "GROUP", "g1", "bob", "STREAMS", "stream", ">"]);
    c.cmd(&["XGROUP", "CREATECONSUMER", "stream", "g1", "carol"]);
    c.cmd(&["XGROUP", "CREATE", "stream", "g2", "$"]);
    c.cmd(&["XADD", "empty", "5-5", "a", "b"]);
    c.cmd(&["XDEL", "empty", "5-5"]);
    c.cmd(&["FUNCTION", "LOAD", LIBRARY]);
    c.cmd(&["SELECT", "3"]);
    c.cmd(&["SET", "in-db-3", "v3"]);
    c.cmd(&["SELECT", "0"]);
}

/// Starts a rewrite and waits for it to finish.
fn rewrite(c: &mut Conn) {
    let r = c.cmd(&["BGREWRITEAOF"]);
    assert!(matches!(r, Resp::Status(_)), "{r:?}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while c.info_field("persistence", "aof_rewrite_in_progress") != "0"
        || c.info_field("persistence", "aof_rewrite_scheduled") != "0"
    {
        assert!(Instant::now() < deadline, "rewrite did not finish");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The one base file of the directory: its name and bytes.
fn base_file(dir: &Path) -> (String, Vec<u8>) {
    let mut bases: Vec<_> = std::fs::read_dir(dir.join("appendonlydir"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".base."))
        .collect();
    assert_eq!(bases.len(), 1, "{bases:?}");
    let name = bases.remove(0);
    let bytes = std::fs::read(dir.join("appendonlydir").join(&name)).unwrap();
    (name, bytes)
}

/// Everything the tests compare: db 0's contents, db 3's and the libraries.
fn state(c: &mut Conn) -> (Vec<String>, Vec<String>, Resp) {
    let db0 = contents(c);
    c.cmd(&["SELECT", "3"]);
    let db3 = contents(c);
    c.cmd(&["SELECT", "0"]);
    (db0, db3, c.cmd(&["FUNCTION", "LIST"]))
}

#[test]
fn command_base_rebuilds_every_type_in_strata_and_redis() {
    let dir = temp_dir("aof-command-base");
    let expected = {
        let srv = start_with(&dir, &ARGS);
        let mut c = Conn::open(srv.port).unwrap();
        populate(&mut c);
        rewrite(&mut c);
        c.cmd(&["SET", "after-rewrite", "1"]);
        state(&mut c)
    };
    let (name, bytes) = base_file(&dir);
    assert!(name.ends_with(".base.aof"), "{name}");
    assert!(
        bytes.starts_with(b"*3\r\n$8\r\nFUNCTION\r\n"),
        "{name} starts with commands"
    );
    assert!(
        !bytes.windows(5).any(|w| w == b"REDIS"),
        "no RDB preamble in {name}"
    );
    assert!(expected.0.iter().any(|k| k.starts_with("after-rewrite")));

    // Strata reloads it.
    {
        let srv = start_with(&dir, &ARGS);
        let mut c = Conn::open(srv.port).unwrap();
        assert_eq!(state(&mut c), expected);
    }
    if redis_server().is_none() {
        return;
    }
    let check = Command::new("redis-check-aof")
        .arg(dir.join("appendonlydir/appendonly.aof.manifest"))
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(report.contains("is valid"), "{report}");
    let reference = start_redis(&dir, &ARGS);
    let mut rc = Conn::open(reference.port).unwrap();
    assert_eq!(state(&mut rc), expected);
    drop(reference);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn redis_command_base_loads_into_strata() {
    if redis_server().is_none() {
        return;
    }
    let dir = temp_dir("aof-command-base-redis");
    let reference = start_redis(&dir, &ARGS);
    let mut rc = Conn::open(reference.port).unwrap();
    populate(&mut rc);
    rewrite(&mut rc);
    rc.cmd(&["SET", "after-rewrite", "1"]);
    let expected = state(&mut rc);
    drop(reference);
    let (name, _) = base_file(&dir);
    assert!(name.ends_with(".base.aof"), "{name}");
    let srv = start_with(&dir, &ARGS);
    let mut c = Conn::open(srv.port).unwrap();
    assert_eq!(state(&mut c), expected);
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Under `aof-timestamp-enabled yes` a command base opens with `#TS:`, as
/// Redis's rewrite writes it, and still loads.
#[test]
fn command_base_starts_with_a_timestamp_annotation() {
    let dir = temp_dir("aof-command-base-ts");
    let mut args = ARGS.to_vec();
    args.extend(["--aof-timestamp-enabled", "yes"]);
    {
        let srv = start_with(&dir, &args);
        let mut c = Conn::open(srv.port).unwrap();
        c.cmd(&["SET", "a", "1"]);
        rewrite(&mut c);
    }
    let (_, bytes) = base_file(&dir);
    assert!(
        bytes.starts_with(b"#TS:"),
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    let srv = start_with(&dir, &args);
    let mut c = Conn::open(srv.port).unwrap();
    assert_eq!(c.cmd(&["GET", "a"]), Resp::bulk("1"));
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}
