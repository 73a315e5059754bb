//! Differential test of what reaches the AOF: the same script runs against
//! redis-server 7.0 and Strata, both with `appendonly yes`, and the command
//! streams of their incr files must be equal. It covers the rewrites whose
//! result does not depend on the clock or randomness: blocking pops served at
//! once and later (as LPOP/RPOP/LMOVE/RPOPLPUSH/ZPOPMIN/ZPOPMAX with the
//! number popped), LMPOP/ZMPOP, INCRBYFLOAT, HINCRBYFLOAT, SPOP of a whole
//! set, and blocking commands inside MULTI.

mod common;

use common::{aof_commands, incr_file, redis_server, start_redis, start_with, temp_dir, Conn};
use std::time::Duration;

enum Step {
    /// Sent on the main connection; the reply is awaited.
    Cmd(&'static [&'static str]),
    /// Sent on a connection of its own that blocks; its reply is awaited at
    /// the end of the script.
    Blocked(&'static [&'static str]),
    Sleep(u64),
}

use Step::{Blocked, Cmd, Sleep};

const SCRIPT: &[Step] = &[
    // Served at once.
    Cmd(&["RPUSH", "l", "a", "b", "c", "d", "e", "f"]),
    Cmd(&["BLPOP", "l", "0"]),
    Cmd(&["BRPOP", "nosuch", "l", "0"]),
    Cmd(&["BLMOVE", "l", "l2", "LEFT", "Right", "0"]),
    Cmd(&["BRPOPLPUSH", "l", "l2", "0"]),
    Cmd(&["BLMPOP", "0", "2", "nosuch", "l", "LEFT", "COUNT", "5"]),
    Cmd(&["LMPOP", "1", "l2", "RIGHT", "COUNT", "1"]),
    Cmd(&["LMPOP", "1", "l2", "LEFT"]),
    Cmd(&[
        "ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e",
    ]),
    Cmd(&["BZPOPMIN", "z", "0"]),
    Cmd(&["BZPOPMAX", "z", "0"]),
    Cmd(&["ZMPOP", "1", "z", "MIN"]),
    Cmd(&["BZMPOP", "0", "1", "z", "MAX", "COUNT", "9"]),
    // Served later.
    Blocked(&["BLPOP", "q1", "0"]),
    Blocked(&["BRPOP", "q2", "q2b", "0"]),
    Blocked(&["BLMOVE", "q3", "dst", "LEFT", "RIGHT", "0"]),
    Blocked(&["BRPOPLPUSH", "q4", "dst", "0"]),
    Blocked(&["BLMPOP", "0", "2", "q5", "q6", "RIGHT", "COUNT", "3"]),
    Blocked(&["BZPOPMIN", "qz1", "0"]),
    Blocked(&["BZMPOP", "0", "1", "qz2", "MAX", "COUNT", "2"]),
    Sleep(300),
    Cmd(&["RPUSH", "q1", "x", "y"]),
    Cmd(&["RPUSH", "q2b", "x", "y"]),
    Cmd(&["RPUSH", "q3", "x", "y"]),
    Cmd(&["RPUSH", "q4", "x", "y"]),
    Cmd(&["RPUSH", "q6", "a", "b", "c", "d"]),
    Cmd(&["ZADD", "qz1", "1", "a", "2", "b"]),
    Cmd(&["ZADD", "qz2", "1", "a", "2", "b", "3", "c"]),
    Sleep(200),
    // Inside MULTI a blocking pop answers at once.
    Cmd(&["MULTI"]),
    Cmd(&["BLPOP", "q1", "0"]),
    Cmd(&["BLPOP", "empty", "0"]),
    Cmd(&["EXEC"]),
    // Other deterministic rewrites.
    Cmd(&["SET", "f", "1.5"]),
    Cmd(&["INCRBYFLOAT", "f", "2"]),
    Cmd(&["HSET", "h", "x", "1"]),
    Cmd(&["HINCRBYFLOAT", "h", "x", "0.25"]),
    Cmd(&["SADD", "s", "a", "b", "c"]),
    Cmd(&["SPOP", "s", "10"]),
];

/// Runs the script on the server at `port`.
fn run_script(port: u16) {
    let mut main = Conn::open(port).unwrap();
    let mut blocked = Vec::new();
    for step in SCRIPT {
        match step {
            Cmd(args) => {
                main.cmd(args);
            }
            Blocked(args) => {
                let mut c = Conn::open(port).unwrap();
                c.send(args);
                blocked.push(c);
            }
            Sleep(ms) => std::thread::sleep(Duration::from_millis(*ms)),
        }
    }
    for mut c in blocked {
        c.read();
    }
}

#[test]
fn aof_effects_match_redis() {
    let strata_dir = temp_dir("aof-effects-strata");
    let srv = start_with(
        &strata_dir,
        &[
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
        ],
    );
    run_script(srv.port);
    drop(srv);
    let strata = aof_commands(&incr_file(&strata_dir));
    // Spot checks that hold without a reference server.
    let has = |words: &[&str]| strata.iter().any(|c| c == words);
    assert!(has(&["LPOP", "l"]), "{strata:?}");
    assert!(has(&["LMOVE", "q3", "dst", "left", "right"]), "{strata:?}");
    assert!(has(&["ZPOPMAX", "qz2", "2"]), "{strata:?}");
    assert!(!strata.iter().any(|c| c[0].starts_with('B')), "{strata:?}");

    if redis_server().is_none() {
        return;
    }
    let redis_dir = temp_dir("aof-effects-redis");
    let reference_server = start_redis(
        &redis_dir,
        &["--appendonly", "yes", "--appendfsync", "always"],
    );
    run_script(reference_server.port);
    drop(reference_server);
    let reference = aof_commands(&incr_file(&redis_dir));
    for (i, (r, s)) in reference.iter().zip(strata.iter()).enumerate() {
        assert_eq!(r, s, "command {i} differs");
    }
    assert_eq!(reference.len(), strata.len(), "{reference:?}\n{strata:?}");
    let _ = std::fs::remove_dir_all(&strata_dir);
    let _ = std::fs::remove_dir_all(&redis_dir);
}
