//! After `strata-check-aof --fix` repairs a torn AOF that Strata wrote, the
//! directory loads again, in Strata with `aof-load-truncated no` and in
//! redis-server.

mod common;

use common::{incr_file, redis_server, start_with, temp_dir, Conn, Resp};
use std::process::{Command, Stdio};

#[test]
fn fixed_directory_loads_in_both_servers() {
    let dir = temp_dir("check-aof-fix");
    let args = [
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
    ];
    {
        let srv = start_with(&dir, &args);
        let mut c = Conn::open(srv.port).unwrap();
        for i in 0..50 {
            assert_eq!(
                c.cmd(&["SET", &format!("k{i}"), "v"]),
                Resp::Status("OK".into())
            );
        }
    }
    let manifest = dir.join("appendonlydir/appendonly.aof.manifest");
    let incr_path = incr_file(&dir);
    let mut data = std::fs::read(&incr_path).unwrap();
    data.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$2\r\nzz\r\n$5\r\nhal");
    std::fs::write(&incr_path, &data).unwrap();

    // Refused as it is when truncation is not allowed.
    let refused = Command::new(env!("CARGO_BIN_EXE_strata-server"))
        .args([
            "--port",
            &common::free_port().to_string(),
            "--aof-load-truncated",
            "no",
        ])
        .args(args)
        .arg("--dir")
        .arg(&dir)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(refused.code(), Some(1));

    // The checker finds the damage, then fixes it when answered "y".
    let argv = |fix: bool| {
        let mut v = vec!["strata-check-aof".to_string()];
        if fix {
            v.push("--fix".into());
        }
        v.push(manifest.display().to_string());
        v
    };
    let mut report = Vec::new();
    assert_eq!(
        strata_tools::check_aof::run(&argv(false), &mut std::io::empty(), &mut report),
        1
    );
    let mut yes: &[u8] = b"y\n";
    let mut out = Vec::new();
    assert_eq!(
        strata_tools::check_aof::run(&argv(true), &mut yes, &mut out),
        0,
        "{}",
        String::from_utf8_lossy(&out)
    );
    assert_eq!(
        strata_tools::check_aof::run(&argv(false), &mut std::io::empty(), &mut Vec::new()),
        0
    );

    // Strata loads it without allowing truncation.
    {
        let srv = start_with(&dir, &[&args[..], &["--aof-load-truncated", "no"]].concat());
        let mut c = Conn::open(srv.port).unwrap();
        assert_eq!(c.cmd(&["DBSIZE"]), Resp::Int(50));
        assert_eq!(c.cmd(&["EXISTS", "zz"]), Resp::Int(0));
    }
    // So does redis-server.
    if redis_server().is_some() {
        let redis =
            common::start_redis(&dir, &["--appendonly", "yes", "--aof-load-truncated", "no"]);
        let mut c = Conn::open(redis.port).unwrap();
        assert_eq!(c.cmd(&["DBSIZE"]), Resp::Int(50));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
