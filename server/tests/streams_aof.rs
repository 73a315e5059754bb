//! Stream propagation against redis-server: the same script runs on both
//! servers with `appendonly yes`, and the command streams of their incr
//! AOFs must be equal (delivery times and generated IDs, which depend on
//! the clock, masked). Then the replay: Strata restarted from its own AOF
//! rebuilds the same pending lists, owners, delivery times and counts and
//! group last IDs, and redis-server loading Strata's AOF directory shows
//! exactly what Strata shows after its replay.

mod common;

use common::{
    aof_commands, incr_file, redis_server, start_redis, start_with, temp_dir, Conn, Resp,
};
use std::collections::HashMap;
use std::time::Duration;

/// One step of a script.
enum Step {
    Cmd(Vec<String>),
    /// Sends a blocking command on a connection of its own, named by the
    /// first field, without waiting for the reply.
    Block(&'static str, Vec<String>),
    /// Reads the reply of a blocked connection.
    Await(&'static str),
}

fn words(line: &str) -> Vec<String> {
    line.split(' ').map(str::to_string).collect()
}

fn cmd(line: &str) -> Step {
    Step::Cmd(words(line))
}

/// Covers every propagation shape Redis 7.0 has for streams (each checked
/// by hand against redis-server's AOF when this was written). `replayable`
/// leaves out the one change Redis does not propagate (a consumer created
/// by a history read without NOACK), which its replay cannot rebuild.
fn script(replayable: bool) -> Vec<Step> {
    let mut s = Vec::new();
    for i in 1..=6 {
        s.push(cmd(&format!("XADD s {i}-1 f v")));
    }
    s.push(cmd("XADD s2 1-1 a b"));
    s.push(cmd("XGROUP CREATE s g 0"));
    s.push(cmd("XGROUP CREATE s2 g 0"));
    if !replayable {
        // History read by a new consumer: nothing is written.
        s.push(cmd("XREADGROUP GROUP g h1 STREAMS s 0"));
    }
    for line in [
        // With NOACK, the new consumer is written as CREATECONSUMER.
        "XREADGROUP GROUP g n1 NOACK STREAMS s 0",
        // NOACK delivery: CREATECONSUMER (new consumer) and SETID.
        "XREADGROUP GROUP g n2 NOACK COUNT 1 STREAMS s >",
        "XREADGROUP GROUP g n2 NOACK COUNT 1 STREAMS s >",
        // Deliveries on two keys: one XCLAIM each, one unit.
        "XREADGROUP GROUP g c1 COUNT 1 STREAMS s s2 > >",
        "XREADGROUP GROUP g c1 STREAMS s >",
        // History read: counts move, nothing written.
        "XREADGROUP GROUP g c1 STREAMS s 0",
        "XREADGROUP GROUP g c1 STREAMS s >",
        // XCLAIM: plain, JUSTID, IDLE, TIME with RETRYCOUNT, LASTID.
        "XCLAIM s g c2 0 3-1 4-1",
        "XCLAIM s g c2 0 5-1 JUSTID",
        "XCLAIM s g c2 0 3-1 IDLE 5000",
        "XCLAIM s g c3 0 4-1 TIME 1000 RETRYCOUNT 9",
        "XCLAIM s g c3 0 5-1 LASTID 9-1",
        // Nothing claimed: LASTID alone becomes SETID.
        "XCLAIM s g c3 0 9-9 LASTID 9-5",
        "XCLAIM s g c3 0 1-1",
        "XCLAIM s g c4 100000 3-1",
        "XCLAIM s g c4 0 1-1 FORCE RETRYCOUNT 7",
        // A pending entry deleted from the stream: XCLAIM of its old state.
        "XDEL s 6-1",
        "XCLAIM s g c4 0 6-1",
        "XADD s 10-1 f v",
        "XADD s 11-1 f v",
        "XADD s 12-1 f v",
        "XREADGROUP GROUP g c5 STREAMS s >",
        "XDEL s 11-1",
        "XAUTOCLAIM s g c6 0 0 COUNT 3",
        "XAUTOCLAIM s g c6 0 0 COUNT 20",
        "XAUTOCLAIM s g c7 0 0 JUSTID",
        "XAUTOCLAIM s g c8 999999999 0",
        // Written as sent.
        "XACK s g 1-1 2-1",
        "XACK s g 77-7",
        "XGROUP CREATECONSUMER s g c9",
        "XGROUP DELCONSUMER s g c9",
        "XGROUP CREATE s g3 0",
        "XREADGROUP GROUP g3 r COUNT 2 STREAMS s >",
        "XGROUP SETID s g3 4-1",
        "XGROUP SETID s g3 3-1 ENTRIESREAD 2",
        "XREADGROUP GROUP g3 r NOACK STREAMS s >",
        "XADD s * f v",
        "XADD s 99999999999999-* f v",
        "XADD s 99999999999999-5 f v",
        "XADD nos NOMKSTREAM * f v",
        "XSETID s2 500-1",
    ] {
        s.push(cmd(line));
    }
    // Approximate trims: `~` becomes `=` with the threshold reached.
    for i in 1..=250 {
        s.push(cmd(&format!("XADD t {i}-1 f v")));
    }
    for line in [
        "XADD t MAXLEN ~ 10 251-1 f v",
        "XTRIM t MAXLEN ~ 5",
        "XTRIM t MAXLEN 40",
        "XADD t MAXLEN ~ 3 252-1 f v",
        "XADD t MAXLEN = 30 253-1 f v",
    ] {
        s.push(cmd(line));
    }
    for i in 1..=250 {
        s.push(cmd(&format!("XADD u {i}-1 f v")));
    }
    for line in [
        "XTRIM u MINID ~ 150",
        "XTRIM u MAXLEN ~ 0 LIMIT 100",
        "XADD u MINID ~ 240 500-1 f v",
        "XADD u MAXLEN ~ 0 LIMIT 5 501-1 f v",
        "XTRIM u MINID ~ 999999",
    ] {
        s.push(cmd(line));
    }
    // Transactions and scripts: one unit.
    for line in [
        "XGROUP CREATE m g 0 MKSTREAM",
        "MULTI",
        "XADD m 1-1 f v",
        "XREADGROUP GROUP g x STREAMS m >",
        "EXEC",
    ] {
        s.push(cmd(line));
    }
    s.push(Step::Cmd(vec![
        "EVAL".into(),
        "redis.call('XADD', KEYS[1], '2-1', 'f', 'v'); return redis.call('XREADGROUP', 'GROUP', 'g', 'y', 'STREAMS', KEYS[1], '>')".into(),
        "1".into(),
        "m".into(),
    ]));
    // Blocked readers served later: each served client is a unit of its
    // own, after the command that woke it.
    s.push(cmd("XGROUP CREATE b g $ MKSTREAM"));
    s.push(cmd("XGROUP CREATE b g2 $"));
    s.push(Step::Block(
        "a",
        words("XREADGROUP GROUP g ba BLOCK 10000 STREAMS b >"),
    ));
    s.push(Step::Block(
        "b",
        words("XREADGROUP GROUP g bb BLOCK 10000 STREAMS b >"),
    ));
    s.push(Step::Block(
        "c",
        words("XREADGROUP GROUP g2 bc NOACK BLOCK 10000 STREAMS b >"),
    ));
    for line in ["MULTI", "XADD b 1-1 f v", "XADD b 2-1 f v", "EXEC"] {
        s.push(cmd(line));
    }
    s.push(Step::Await("a"));
    s.push(Step::Await("c"));
    s.push(cmd("XADD b 3-1 f v"));
    s.push(Step::Await("b"));
    s.push(cmd("SELECT 4"));
    s.push(cmd("XADD d4 1-1 f v"));
    s.push(cmd("XGROUP CREATE d4 g 0"));
    s.push(cmd("XREADGROUP GROUP g z STREAMS d4 >"));
    s
}

/// Runs the script; returns every reply (blocked ones where awaited).
fn run(port: u16, steps: &[Step]) -> Vec<Resp> {
    let mut c = Conn::open(port).unwrap();
    let mut parked: HashMap<&str, Conn> = HashMap::new();
    let mut out = Vec::new();
    for step in steps {
        match step {
            Step::Cmd(argv) => {
                let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
                out.push(c.cmd(&argv));
            }
            Step::Block(name, argv) => {
                let mut b = Conn::open(port).unwrap();
                let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
                b.send(&argv);
                // Let it park before anything else runs (blocking order).
                std::thread::sleep(Duration::from_millis(150));
                parked.insert(name, b);
            }
            Step::Await(name) => out.push(parked.get_mut(name).unwrap().read()),
        }
    }
    out
}

/// Masks what depends on the clock: the TIME of an XCLAIM and any 13-digit
/// number (a millisecond timestamp: generated IDs).
fn mask(cmds: Vec<Vec<String>>) -> Vec<String> {
    cmds.into_iter()
        .map(|argv| {
            let mut prev_time = false;
            argv.into_iter()
                .map(|a| {
                    let out = if prev_time {
                        "<ms>".to_string()
                    } else {
                        mask_timestamps(&a)
                    };
                    prev_time = a == "TIME";
                    out
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn mask_timestamps(a: &str) -> String {
    let mut out = String::new();
    let mut digits = String::new();
    for ch in a.chars().chain(std::iter::once(' ')) {
        if ch.is_ascii_digit() {
            digits.push(ch);
            continue;
        }
        if digits.len() == 13 {
            out.push_str("<ms>");
        } else {
            out.push_str(&digits);
        }
        digits.clear();
        out.push(ch);
    }
    out.pop();
    out
}

/// Zeroes the values of clock-dependent fields (idle times, seen times).
fn strip_volatile(r: Resp) -> Resp {
    match r {
        Resp::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            let mut zero_next = false;
            for it in items {
                if zero_next {
                    out.push(Resp::Int(0));
                    zero_next = false;
                    continue;
                }
                zero_next = matches!(&it, Resp::Bulk(Some(k)) if k == b"idle" || k == b"seen-time");
                out.push(strip_volatile(it));
            }
            Resp::Array(out)
        }
        other => other,
    }
}

/// Drops the fields Redis itself does not rebuild on replay: a group's
/// read counter (XCLAIM ... LASTID does not carry it) and the lag derived
/// from it.
fn strip_read_counter(r: Resp) -> Resp {
    match r {
        Resp::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            let mut skip_next = false;
            for it in items {
                if skip_next {
                    out.push(Resp::Int(0));
                    skip_next = false;
                    continue;
                }
                skip_next =
                    matches!(&it, Resp::Bulk(Some(k)) if k == b"entries-read" || k == b"lag");
                out.push(strip_read_counter(it));
            }
            Resp::Array(out)
        }
        other => other,
    }
}

/// Group state of every stream the script leaves: XINFO STREAM FULL (PELs
/// with owners, delivery times and counts; consumers; last IDs), XINFO
/// GROUPS and CONSUMERS, and XPENDING's extended form.
fn group_state(port: u16) -> Vec<Resp> {
    let mut c = Conn::open(port).unwrap();
    let mut out = Vec::new();
    for (db, key) in [
        ("0", "s"),
        ("0", "s2"),
        ("0", "t"),
        ("0", "u"),
        ("0", "m"),
        ("0", "b"),
        ("4", "d4"),
    ] {
        c.cmd(&["SELECT", db]);
        out.push(c.cmd(&["XINFO", "STREAM", key, "FULL", "COUNT", "0"]));
        let groups = c.cmd(&["XINFO", "GROUPS", key]);
        if let Resp::Array(gs) = &groups {
            for g in gs {
                let Resp::Array(fields) = g else { continue };
                let Some(Resp::Bulk(Some(name))) = fields.get(1) else {
                    continue;
                };
                let name = String::from_utf8_lossy(name).into_owned();
                out.push(c.cmd(&["XINFO", "CONSUMERS", key, &name]));
                // [id, owner, idle, count]: the idle time is the clock's.
                let mut pending = c.cmd(&["XPENDING", key, &name, "-", "+", "1000"]);
                if let Resp::Array(items) = &mut pending {
                    for it in items {
                        if let Resp::Array(f) = it {
                            f[2] = Resp::Int(0);
                        }
                    }
                }
                out.push(pending);
                out.push(c.cmd(&["XPENDING", key, &name]));
            }
        }
        out.push(groups);
        out.push(c.cmd(&["XRANGE", key, "-", "+"]));
    }
    out.into_iter().map(strip_volatile).collect()
}

#[test]
fn stream_effects_are_written_as_redis_writes_them() {
    let Some(_) = redis_server() else { return };
    let steps = script(false);
    let rdir = temp_dir("streams-aof-redis");
    let redis = start_redis(&rdir, &["--appendonly", "yes", "--appendfsync", "always"]);
    let port = redis.port;
    let redis_replies = run(port, &steps);
    drop(redis);
    let sdir = temp_dir("streams-aof-strata");
    {
        let srv = start_with(
            &sdir,
            &[
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ],
        );
        let replies = run(srv.port, &steps);
        assert_eq!(replies.len(), redis_replies.len());
        for (i, (a, b)) in replies.iter().zip(&redis_replies).enumerate() {
            if matches!(b, Resp::Error(_)) || matches!(a, Resp::Error(_)) {
                assert_eq!(a, b, "reply {i}");
            }
        }
    }
    let expected = mask(aof_commands(&incr_file(&rdir)));
    let got = mask(aof_commands(&incr_file(&sdir)));
    for (i, (a, b)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(
            a,
            b,
            "AOF command {i}\nstrata:\n{}\nredis:\n{}",
            got.join("\n"),
            expected.join("\n")
        );
    }
    assert_eq!(
        got.len(),
        expected.len(),
        "strata:\n{}\nredis:\n{}",
        got.join("\n"),
        expected.join("\n")
    );
    let _ = std::fs::remove_dir_all(&rdir);
    let _ = std::fs::remove_dir_all(&sdir);
}

#[test]
fn replayed_stream_effects_rebuild_the_group_state() {
    let steps = script(true);
    let dir = temp_dir("streams-aof-replay");
    let args = [
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
    ];
    let before = {
        let srv = start_with(&dir, &args);
        run(srv.port, &steps);
        group_state(srv.port)
    };
    let after = {
        let srv = start_with(&dir, &args);
        group_state(srv.port)
    };
    // Everything but the read counter, which Redis's own effects do not
    // carry either (checked against redis-server below).
    for (i, (a, b)) in after.iter().zip(&before).enumerate() {
        assert_eq!(
            show(&strip_read_counter(clone_resp(a))),
            show(&strip_read_counter(clone_resp(b))),
            "state item {i} after replay"
        );
    }
    assert_eq!(after.len(), before.len());
    let Some(_) = redis_server() else { return };
    // redis-server loading Strata's directory sees what Strata's replay saw.
    let redis = start_redis(&dir, &["--appendonly", "yes", "--appendfsync", "always"]);
    let port = redis.port;
    let in_redis = group_state(port);
    drop(redis);
    for (i, (a, b)) in in_redis.iter().zip(&after).enumerate() {
        assert_eq!(show(a), show(b), "state item {i} in redis-server");
    }
    assert_eq!(in_redis.len(), after.len());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A reply as readable text, for comparisons that print well.
fn show(r: &Resp) -> String {
    match r {
        Resp::Status(s) => format!("+{s}"),
        Resp::Error(s) => format!("-{s}"),
        Resp::Int(n) => format!(":{n}"),
        Resp::Bulk(None) => "nil".into(),
        Resp::Bulk(Some(b)) => String::from_utf8_lossy(b).into_owned(),
        Resp::Array(a) => format!("[{}]", a.iter().map(show).collect::<Vec<_>>().join(" ")),
    }
}

fn clone_resp(r: &Resp) -> Resp {
    match r {
        Resp::Status(s) => Resp::Status(s.clone()),
        Resp::Error(s) => Resp::Error(s.clone()),
        Resp::Int(n) => Resp::Int(*n),
        Resp::Bulk(b) => Resp::Bulk(b.clone()),
        Resp::Array(a) => Resp::Array(a.iter().map(clone_resp).collect()),
    }
}
