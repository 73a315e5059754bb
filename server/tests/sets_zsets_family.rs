//! Handler-level tests of the set and sorted-set families: what the
//! differential corpora cannot see (keyspace events, the dirty counter, WATCH
//! signals) checked against sequences recorded from redis-server 7.0.15, and
//! behaviour on sets too large for a corpus (SSCAN guarantees, sampling,
//! O(log N) ranks).

use std::collections::HashSet;
use std::time::Instant;

use bytes::Bytes;
use strata_engine::notify;
use strata_server::client::Client;
use strata_server::config::Config;
use strata_server::dispatch;
use strata_server::server::Server;

/// A decoded RESP2 reply.
#[derive(Debug, Clone, PartialEq)]
enum R {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<R>),
}

fn decode(buf: &[u8], pos: &mut usize) -> R {
    let end = *pos
        + buf[*pos..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("line end");
    let line = std::str::from_utf8(&buf[*pos + 1..end])
        .expect("utf8")
        .to_string();
    let kind = buf[*pos];
    *pos = end + 2;
    match kind {
        b'+' => R::Status(line),
        b'-' => R::Error(line),
        b':' => R::Int(line.parse().expect("int")),
        b'$' => {
            let n: i64 = line.parse().expect("len");
            if n < 0 {
                return R::Bulk(None);
            }
            let data = buf[*pos..*pos + n as usize].to_vec();
            *pos += n as usize + 2;
            R::Bulk(Some(data))
        }
        b'*' => {
            let n: i64 = line.parse().expect("len");
            R::Array((0..n.max(0)).map(|_| decode(buf, pos)).collect())
        }
        other => panic!("unexpected reply type {other}"),
    }
}

struct T {
    srv: Server,
    client: Client,
}

impl T {
    fn new() -> T {
        let mut config = Config::default();
        config.set_by_name("save", &[b""]).expect("save");
        let mut srv = Server::new(config);
        srv.pubsub.tap = Some(Vec::new());
        srv.keyspace.shared.notify_flags = notify::parse_flags(b"KEA").expect("flags");
        T {
            srv,
            client: Client::new(1, 0),
        }
    }

    fn run_args(&mut self, args: &[&[u8]]) -> R {
        let argv: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        dispatch::execute(&mut self.srv, &mut self.client, argv);
        let out = std::mem::take(&mut self.client.out);
        let mut pos = 0;
        let r = decode(&out, &mut pos);
        assert_eq!(pos, out.len(), "exactly one reply");
        r
    }

    fn run(&mut self, cmd: &str) -> R {
        let words: Vec<&[u8]> = cmd.split_whitespace().map(str::as_bytes).collect();
        self.run_args(&words)
    }

    /// Drains the queued events as "event key".
    fn events(&mut self) -> Vec<String> {
        self.srv
            .pubsub
            .tap
            .as_mut()
            .expect("event tap")
            .drain(..)
            .map(|e| format!("{} {}", e.event, String::from_utf8_lossy(&e.key)))
            .collect()
    }

    fn dirty(&self) -> u64 {
        self.srv.keyspace.shared.dirty
    }
}

/// Each command with the dirty delta and the events redis-server 7.0.15
/// produced for it (notify-keyspace-events KEA, read from
/// rdb_changes_since_last_save and a __keyevent@0__:* subscriber).
const SCRIPT: &[(&str, u64, &[&str])] = &[
    ("SADD s 1 2 3", 3, &["sadd s"]),
    ("SADD s 1", 0, &[]),
    ("SADD s 4 5", 2, &["sadd s"]),
    ("SREM s 1 9 2", 2, &["srem s"]),
    ("SMOVE s d 3", 2, &["srem s", "sadd d"]),
    ("SMOVE s d 3", 0, &[]),
    ("SADD d 4", 1, &["sadd d"]),
    ("SMOVE s d 4", 1, &["srem s"]),
    ("SPOP s 10", 1, &["spop s", "del s"]),
    ("SADD x 1 2 3 4", 4, &["sadd x"]),
    ("SPOP x 0", 0, &[]),
    ("SPOP x 2", 2, &["spop x"]),
    ("SPOP x 10", 2, &["spop x", "del x"]),
    ("SPOP x", 0, &[]),
    ("SADD x 1 2", 2, &["sadd x"]),
    ("SPOP x", 1, &["spop x"]),
    ("SINTERSTORE y x x", 1, &["sinterstore y"]),
    ("SINTERSTORE y nokey", 1, &["del y"]),
    ("SINTERSTORE y nokey", 0, &[]),
    ("SUNIONSTORE y x", 1, &["sunionstore y"]),
    ("SDIFFSTORE y x x", 1, &["del y"]),
    ("ZADD z 1 a 2 b", 2, &["zadd z"]),
    ("ZADD z 1 a", 0, &[]),
    ("ZADD z CH 3 a 4 c", 2, &["zadd z"]),
    ("ZADD z XX 1 q", 0, &[]),
    ("ZINCRBY z 1 a", 1, &["zincr z"]),
    ("ZADD z INCR 0 a", 0, &[]),
    ("ZREM z a q", 1, &["zrem z"]),
    ("ZADD z 1 a 2 b 3 c 4 d", 3, &["zadd z"]),
    ("ZPOPMIN z 2", 2, &["zpopmin z"]),
    ("ZPOPMAX z 5", 2, &["zpopmax z", "del z"]),
    ("ZADD z 1 a 2 b 3 c 4 d", 4, &["zadd z"]),
    ("ZREMRANGEBYRANK z 0 1", 2, &["zremrangebyrank z"]),
    ("ZREMRANGEBYSCORE z 0 0", 0, &[]),
    ("ZREMRANGEBYLEX z - +", 2, &["zremrangebylex z", "del z"]),
    ("ZADD z 1 a", 1, &["zadd z"]),
    ("ZMPOP 1 z MIN COUNT 5", 1, &["zpopmin z", "del z"]),
    ("ZADD z 1 a", 1, &["zadd z"]),
    ("ZRANGESTORE z2 z 0 -1", 1, &["zrangestore z2"]),
    ("ZRANGESTORE z2 nokey 0 -1", 1, &["del z2"]),
    ("ZRANGESTORE z2 nokey 0 -1", 0, &[]),
    ("ZUNIONSTORE z3 1 z", 1, &["zunionstore z3"]),
    ("ZINTERSTORE z3 2 z nokey", 1, &["del z3"]),
    ("ZINTERSTORE z4 1 z", 1, &["zinterstore z4"]),
    ("ZDIFFSTORE z5 1 z", 1, &["zdiffstore z5"]),
    ("ZDIFFSTORE z5 2 z z", 1, &["del z5"]),
    ("BZPOPMIN z 0", 1, &["zpopmin z", "del z"]),
    ("ZREM nokey a", 0, &[]),
];

#[test]
fn events_and_dirty_match_redis() {
    let mut t = T::new();
    for (cmd, dirty, events) in SCRIPT {
        let before = t.dirty();
        let reply = t.run(cmd);
        assert!(!matches!(reply, R::Error(_)), "{cmd}: {reply:?}");
        assert_eq!(t.dirty() - before, *dirty, "dirty after {cmd}");
        assert_eq!(t.events(), *events, "events after {cmd}");
    }
}

#[test]
fn writes_signal_watchers_only_when_they_change_something() {
    let mut t = T::new();
    t.run("SADD w a");
    t.run("ZADD zw 1 a");
    t.srv.keyspace.watch(0, b"w");
    t.srv.keyspace.watch(0, b"zw");
    t.srv.watches.tap = Some(Vec::new());
    for cmd in [
        "SADD w a",
        "SREM w nope",
        "SPOP w 0",
        "ZADD zw 1 a",
        "ZREM zw nope",
        "ZADD zw XX 1 b",
        "SMOVE w w a",
    ] {
        t.run(cmd);
        assert!(
            t.srv.watches.tap.as_ref().is_none_or(|t| t.is_empty()),
            "{cmd} touched a watched key"
        );
    }
    t.run("SADD w b");
    t.run("ZINCRBY zw 1 a");
    assert_eq!(t.srv.watches.tap.as_ref().map_or(0, |t| t.len()), 2);
}

#[test]
fn wrong_type_changes_nothing() {
    let mut t = T::new();
    t.run("SET str x");
    t.events();
    let d = t.dirty();
    let wrong =
        R::Error("WRONGTYPE Operation against a key holding the wrong kind of value".into());
    for cmd in [
        "SADD str a",
        "SREM str a",
        "SPOP str",
        "SMOVE str d a",
        "ZADD str 1 a",
        "ZINCRBY str 1 a",
        "ZREM str a",
        "ZPOPMIN str",
        "ZREMRANGEBYRANK str 0 -1",
        "SINTERSTORE d str",
        "ZUNIONSTORE d 1 str",
    ] {
        assert_eq!(t.run(cmd), wrong, "{cmd}");
    }
    assert_eq!(t.dirty(), d);
    assert!(t.events().is_empty());
}

fn bulks(r: &R) -> Vec<Vec<u8>> {
    match r {
        R::Array(items) => items
            .iter()
            .map(|i| match i {
                R::Bulk(Some(b)) => b.clone(),
                other => panic!("not a bulk: {other:?}"),
            })
            .collect(),
        other => panic!("not an array: {other:?}"),
    }
}

#[test]
fn sscan_and_zscan_return_every_member_while_the_table_changes() {
    let mut t = T::new();
    let n = 3000;
    for i in 0..n {
        t.run(&format!("SADD big m{i}"));
        t.run(&format!("ZADD zbig {i} m{i}"));
    }
    assert_eq!(
        t.run("OBJECT ENCODING big"),
        R::Bulk(Some(b"hashtable".to_vec()))
    );
    assert_eq!(
        t.run("OBJECT ENCODING zbig"),
        R::Bulk(Some(b"skiplist".to_vec()))
    );
    for (cmd, key, stride) in [("SSCAN", "big", 1), ("ZSCAN", "zbig", 2)] {
        let mut seen = HashSet::new();
        let mut cursor = "0".to_string();
        let mut round = 0;
        loop {
            let r = t.run(&format!("{cmd} {key} {cursor} COUNT 50"));
            let R::Array(parts) = r else {
                panic!("scan reply")
            };
            let R::Bulk(Some(c)) = &parts[0] else {
                panic!("cursor")
            };
            cursor = String::from_utf8(c.clone()).expect("cursor text");
            for m in bulks(&parts[1]).into_iter().step_by(stride) {
                seen.insert(m);
            }
            round += 1;
            // Grow the table mid-scan, then shrink it.
            if round == 5 {
                for i in 0..2000 {
                    t.run(&format!("SADD big tmp{i}"));
                    t.run(&format!("ZADD zbig 0 tmp{i}"));
                }
            }
            if round == 15 {
                for i in 0..2000 {
                    t.run(&format!("SREM big tmp{i}"));
                    t.run(&format!("ZREM zbig tmp{i}"));
                }
            }
            if cursor == "0" {
                break;
            }
        }
        for i in 0..n {
            assert!(
                seen.contains(format!("m{i}").as_bytes()),
                "{cmd} missed m{i}"
            );
        }
    }
}

#[test]
fn random_picks_are_members_distinct_when_asked_and_cover_the_set() {
    let mut t = T::new();
    for i in 0..1000 {
        t.run(&format!("SADD rs k{i}"));
        t.run(&format!("ZADD rz {i} k{i}"));
    }
    t.run("SADD ri 1 2 3 4 5 6 7 8 9 10");
    for (cmd, size) in [
        ("SRANDMEMBER rs", 1000),
        ("ZRANDMEMBER rz", 1000),
        ("SRANDMEMBER ri", 10),
    ] {
        for count in [1usize, 5, 400, 900] {
            let count = count.min(size - 1);
            let got = bulks(&t.run(&format!("{cmd} {count}")));
            assert_eq!(got.len(), count, "{cmd} {count}");
            let distinct: HashSet<_> = got.iter().collect();
            assert_eq!(distinct.len(), count, "{cmd} {count} repeats");
        }
        let got = bulks(&t.run(&format!("{cmd} -{}", size * 20)));
        assert_eq!(got.len(), size * 20);
        let distinct: HashSet<_> = got.iter().collect();
        assert_eq!(
            distinct.len(),
            size,
            "{cmd} with repeats should reach every member"
        );
    }
    // SPOP empties the set exactly once per member.
    let mut popped = HashSet::new();
    for _ in 0..10 {
        for m in bulks(&t.run("SPOP rs 99")) {
            assert!(popped.insert(m));
        }
    }
    assert_eq!(t.run("SCARD rs"), R::Int(10));
    assert_eq!(bulks(&t.run("SPOP rs 99")).len(), 10);
    assert_eq!(t.run("EXISTS rs"), R::Int(0));
    assert_eq!(
        t.run("SRANDMEMBER ri -100000000"),
        R::Error("ERR value is out of range".into())
    );
}

#[test]
fn ranks_of_a_large_sorted_set_are_logarithmic() {
    let mut t = T::new();
    let n = 50_000;
    let mut args: Vec<Vec<u8>> = vec![b"ZADD".to_vec(), b"zl".to_vec()];
    for i in 0..n {
        args.push(i.to_string().into_bytes());
        args.push(format!("member{i:06}").into_bytes());
    }
    let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
    assert_eq!(t.run_args(&refs), R::Int(n));
    let start = Instant::now();
    for i in (0..n).step_by(7) {
        assert_eq!(t.run(&format!("ZRANK zl member{i:06}")), R::Int(i));
    }
    for i in (0..n).step_by(101) {
        assert_eq!(
            t.run(&format!("ZRANGE zl {i} {i}")),
            R::Array(vec![R::Bulk(Some(format!("member{i:06}").into_bytes()))])
        );
        assert_eq!(t.run(&format!("ZCOUNT zl ({i} +inf")), R::Int(n - i - 1));
    }
    // Thousands of queries on a 50k set: an O(N) rank would take far longer.
    assert!(
        start.elapsed().as_secs() < 20,
        "rank queries too slow: {:?}",
        start.elapsed()
    );
    assert_eq!(t.run("ZREMRANGEBYRANK zl 100 -101"), R::Int(n - 200));
    assert_eq!(t.run("ZCARD zl"), R::Int(200));
    assert_eq!(t.run("ZRANK zl member049999"), R::Int(199));
}

#[test]
fn memory_accounting_returns_to_zero() {
    let mut t = T::new();
    for (cmd, _, _) in SCRIPT {
        t.run(cmd);
    }
    for i in 0..600 {
        t.run(&format!("SADD conv {i}"));
        t.run(&format!("ZADD zconv {i} member{i}"));
    }
    t.run("SPOP conv 100");
    t.run("ZREMRANGEBYRANK zconv 0 99");
    t.run("SUNIONSTORE u conv d");
    t.run("ZUNIONSTORE zu 2 zconv d");
    assert!(t.srv.keyspace.shared.value_bytes > 0);
    let keys = match t.run("KEYS *") {
        R::Array(items) => items,
        other => panic!("{other:?}"),
    };
    for k in keys {
        let R::Bulk(Some(k)) = k else { panic!("key") };
        t.run_args(&[b"DEL", &k]);
    }
    assert_eq!(t.run("DBSIZE"), R::Int(0));
    assert_eq!(t.srv.keyspace.shared.value_bytes, 0);
}

#[test]
/// Like the test above, but for every prefix of the script: pins down which
/// command leaves bytes behind.
fn memory_accounting_returns_to_zero_after_every_prefix() {
    let mut extra: Vec<String> = Vec::new();
    for i in 0..600 {
        extra.push(format!("SADD conv {i}"));
        extra.push(format!("ZADD zconv {i} member{i}"));
    }
    let mut cmds: Vec<String> = SCRIPT.iter().map(|(c, _, _)| c.to_string()).collect();
    cmds.push(extra.join("\n"));
    for tail in [
        "SPOP conv 100",
        "ZREMRANGEBYRANK zconv 0 99",
        "SUNIONSTORE u conv d",
        "ZUNIONSTORE zu 2 zconv d",
    ] {
        cmds.push(tail.to_string());
    }
    for n in 1..=cmds.len() {
        let mut t = T::new();
        for c in &cmds[..n] {
            for line in c.lines() {
                t.run(line);
            }
        }
        let keys = match t.run("KEYS *") {
            R::Array(items) => items,
            other => panic!("{other:?}"),
        };
        for k in keys {
            let R::Bulk(Some(k)) = k else { panic!("key") };
            t.run_args(&[b"DEL", &k]);
        }
        if t.srv.keyspace.shared.value_bytes != 0 {
            panic!(
                "after {n} commands (last: {}): {}",
                &cmds[n - 1][..cmds[n - 1].len().min(80)],
                t.srv.keyspace.shared.value_bytes
            );
        }
    }
}
