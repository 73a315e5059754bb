//! Handler-level tests of the generic keyspace commands: the side effects a
//! differential corpus cannot see (keyspace events, the dirty counter, WATCH
//! signals, hit/miss statistics, lazyfree counters) and the paths that depend
//! on configuration (LFU, shared integers, replica expiry, lazy user flush).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use bytes::Bytes;
use strata_engine::notify;
use strata_server::client::Client;
use strata_server::config::Config;
use strata_server::dispatch;
use strata_server::pubsub::Kind;
use strata_server::server::Server;

/// A decoded RESP2 reply.
#[derive(Debug, Clone, PartialEq)]
enum R {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<R>),
    Push(Vec<R>),
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
        // RESP3 (the test client speaks it to receive keyspace events).
        b'_' => R::Bulk(None),
        b'>' => {
            let n: i64 = line.parse().expect("len");
            R::Push((0..n.max(0)).map(|_| decode(buf, pos)).collect())
        }
        other => panic!("unexpected reply type {other}"),
    }
}

struct T {
    srv: Server,
    client: Client,
    /// Keyspace events delivered to the client: (db, event, key).
    events: Vec<(usize, &'static str, String)>,
}

impl T {
    fn new() -> T {
        T::with_config(config_with(&[("save", "")]))
    }

    fn with_config(config: Config) -> T {
        let mut srv = Server::new(config);
        srv.keyspace.shared.notify_flags = notify::parse_flags(b"KEAnm").expect("flags");
        // The client watches the events as a RESP3 subscriber would, which
        // leaves it free to run commands.
        let mut client = Client::new(1, 0);
        client.resp = 3;
        srv.pubsub
            .subscribe(1, Kind::Pattern, &Bytes::from_static(b"__keyevent@*"));
        T {
            srv,
            client,
            events: Vec::new(),
        }
    }

    fn run_args(&mut self, args: &[&[u8]]) -> R {
        let argv: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        dispatch::execute(&mut self.srv, &mut self.client, argv);
        let out = std::mem::take(&mut self.client.out);
        let mut pos = 0;
        loop {
            match decode(&out, &mut pos) {
                R::Push(items) => self.events.push(keyevent(&items)),
                r => {
                    assert_eq!(pos, out.len(), "exactly one reply, after the events");
                    return r;
                }
            }
        }
    }

    fn run(&mut self, cmd: &str) -> R {
        let words: Vec<&[u8]> = cmd.split_whitespace().map(str::as_bytes).collect();
        self.run_args(&words)
    }

    /// Drains the events delivered so far as (db, event, key).
    fn events(&mut self) -> Vec<(usize, &'static str, String)> {
        std::mem::take(&mut self.events)
    }

    fn dirty(&self) -> u64 {
        self.srv.keyspace.shared.dirty
    }

    /// Whether a WATCH of `key` in db 0 by another client (id 99) was
    /// touched since the last call; watches it again for the next one.
    fn touched(&mut self, key: &str) -> bool {
        let srv = &mut self.srv;
        let dirty = srv.watches.is_dirty(99);
        srv.watches.unwatch_all(&mut srv.keyspace, 99);
        srv.watches.watch(&mut srv.keyspace, 99, 0, key.as_bytes());
        dirty
    }
}

/// The events these tests look at, by name (others read as "<other>").
const EVENT_NAMES: &[&str] = &[
    "new",
    "del",
    "expire",
    "expired",
    "persist",
    "rename_from",
    "rename_to",
    "move_from",
    "move_to",
    "copy_to",
    "keymiss",
    "set",
];

/// A `__keyevent@<db>__:<event>` pmessage as (db, event, key).
fn keyevent(items: &[R]) -> (usize, &'static str, String) {
    let text = |r: &R| match r {
        R::Bulk(Some(b)) => String::from_utf8_lossy(b).into_owned(),
        other => panic!("not a bulk: {other:?}"),
    };
    let channel = text(&items[2]);
    let rest = channel
        .strip_prefix("__keyevent@")
        .expect("keyevent channel");
    let (db, event) = rest.split_once("__:").expect("db");
    let event = EVENT_NAMES
        .iter()
        .copied()
        .find(|n| *n == event)
        .unwrap_or("<other>");
    (db.parse().expect("db"), event, text(&items[3]))
}

fn ok() -> R {
    R::Status("OK".into())
}

fn bulk(s: &str) -> R {
    R::Bulk(Some(s.as_bytes().to_vec()))
}

#[test]
fn rename_move_copy_events_and_dirty() {
    let mut t = T::new();
    t.run("SET a 1");
    t.run("SET b 2");
    t.events();
    let d = t.dirty();
    assert_eq!(t.run("RENAME a b"), ok());
    assert_eq!(
        t.events(),
        [
            (0, "new", "b".into()),
            (0, "rename_from", "a".into()),
            (0, "rename_to", "b".into())
        ]
    );
    assert_eq!(t.dirty(), d + 1);

    assert_eq!(t.run("MOVE b 3"), R::Int(1));
    assert_eq!(
        t.events(),
        [
            (3, "new", "b".into()),
            (0, "move_from", "b".into()),
            (3, "move_to", "b".into())
        ]
    );
    assert_eq!(t.dirty(), d + 2);

    t.run("SELECT 3");
    assert_eq!(t.run("COPY b c DB 4"), R::Int(1));
    assert_eq!(t.run("COPY b c DB 4 REPLACE"), R::Int(1));
    assert_eq!(
        t.events(),
        [
            (4, "new", "c".into()),
            (4, "copy_to", "c".into()),
            (4, "new", "c".into()),
            (4, "copy_to", "c".into())
        ]
    );
    assert_eq!(t.dirty(), d + 4);

    // Failures change nothing.
    assert_eq!(t.run("COPY b c DB 4"), R::Int(0));
    assert_eq!(t.run("RENAMENX b b"), R::Int(0));
    assert_eq!(t.run("MOVE nokey 0"), R::Int(0));
    assert_eq!(t.dirty(), d + 4);
    assert_eq!(t.events().iter().filter(|e| e.1 != "keymiss").count(), 0);
}

#[test]
fn expire_persist_del_events() {
    let mut t = T::new();
    t.run("SET k v");
    t.events();
    let d = t.dirty();
    assert_eq!(t.run("EXPIRE k 100"), R::Int(1));
    assert_eq!(t.run("PERSIST k"), R::Int(1));
    assert_eq!(t.run("PERSIST k"), R::Int(0));
    assert_eq!(t.run("EXPIRE k -1"), R::Int(1));
    assert_eq!(
        t.events(),
        [
            (0, "expire", "k".into()),
            (0, "persist", "k".into()),
            (0, "del", "k".into())
        ]
    );
    assert_eq!(t.dirty(), d + 3);

    t.run("SET a 1");
    t.run("SET b 2");
    t.events();
    let d = t.dirty();
    assert_eq!(t.run("DEL a nokey a"), R::Int(1));
    assert_eq!(t.run("UNLINK b"), R::Int(1));
    assert_eq!(t.events(), [(0, "del", "a".into()), (0, "del", "b".into())]);
    assert_eq!(t.dirty(), d + 2);
}

#[test]
fn lookups_count_stats_and_keymiss_like_redis() {
    let mut t = T::new();
    t.run("SET k v");
    t.events();
    let stats = |t: &T| {
        (
            t.srv.keyspace.shared.stats.hits,
            t.srv.keyspace.shared.stats.misses,
        )
    };
    let (h, m) = stats(&t);
    t.run("EXISTS k nokey");
    t.run("TYPE nokey");
    t.run("TTL nokey");
    t.run("TOUCH nokey");
    assert_eq!(stats(&t), (h + 1, m + 4));
    assert_eq!(t.events().len(), 4, "each miss is a keymiss event");
    // OBJECT counts but does not notify; write lookups do neither.
    t.run("OBJECT ENCODING nokey");
    t.run("EXPIRE nokey 10");
    t.run("PERSIST nokey");
    t.run("RENAME nokey x");
    assert_eq!(stats(&t), (h + 1, m + 5));
    assert!(t.events().is_empty());
}

#[test]
fn watch_signals() {
    let mut t = T::new();
    t.touched("w");
    t.run("SET src 1");
    assert!(!t.touched("w"));
    t.run("RENAME src w");
    assert!(t.touched("w"));
    t.run("EXPIRE w 100");
    assert!(t.touched("w"));
    t.run("SWAPDB 0 0");
    assert!(!t.touched("w"));
    t.run("SWAPDB 0 1");
    assert!(t.touched("w"));
    t.run("SWAPDB 0 1");
    t.touched("w");
    t.run("FLUSHDB ASYNC");
    assert!(t.touched("w"));
    t.run("FLUSHDB");
    assert!(!t.touched("w"), "only keys that existed are signalled");
}

fn wait_until(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

#[test]
fn async_flush_frees_on_the_lazyfree_thread() {
    let mut t = T::new();
    for i in 0..50 {
        t.run(&format!("SET k{i} v"));
    }
    t.run("SELECT 2");
    t.run("SET other 1");
    let d = t.dirty();
    assert_eq!(t.run("FLUSHALL ASYNC"), ok());
    assert_eq!(t.dirty(), d + 52);
    assert_eq!(t.srv.keyspace.total_keys(), 0);
    assert!(wait_until(|| t.srv.lazyfree.freed_objects() == 51));
    assert_eq!(t.srv.lazyfree.pending_objects(), 0);

    // lazyfree-lazy-user-flush makes a bare FLUSHDB asynchronous; SYNC overrides it.
    let config = config_with(&[("save", ""), ("lazyfree-lazy-user-flush", "yes")]);
    let mut t = T::with_config(config);
    t.run("SET a 1");
    t.run("SET b 1");
    let d = t.dirty();
    assert_eq!(t.run("FLUSHDB"), ok());
    assert_eq!(t.dirty(), d + 2);
    assert!(wait_until(|| t.srv.lazyfree.freed_objects() == 2));
    t.run("SET a 1");
    assert_eq!(t.run("FLUSHDB SYNC"), ok());
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(t.srv.lazyfree.freed_objects(), 2);
}

#[test]
fn object_freq_and_idletime_follow_the_policy() {
    let mut t = T::new();
    t.run("SET k v");
    assert!(matches!(t.run("OBJECT IDLETIME k"), R::Int(0..=1)));
    assert!(
        matches!(t.run("OBJECT FREQ k"), R::Error(e) if e.starts_with("ERR An LFU maxmemory policy is not selected"))
    );
    t.srv.keyspace.shared.lfu = true;
    t.run("SET f v");
    assert_eq!(
        t.run("OBJECT FREQ f"),
        R::Int(5),
        "new keys start at LFU_INIT_VAL"
    );
    assert!(
        matches!(t.run("OBJECT IDLETIME f"), R::Error(e) if e.starts_with("ERR An LFU maxmemory policy is selected"))
    );
    assert_eq!(
        t.run("OBJECT IDLETIME nokey"),
        R::Bulk(None),
        "a missing key is checked first"
    );
}

#[test]
fn shared_integers_depend_on_the_policy() {
    let mut t = T::new();
    t.run("SET n 42");
    assert_eq!(t.run("OBJECT REFCOUNT n"), R::Int(i32::MAX as i64));
    let config = config_with(&[
        ("save", ""),
        ("maxmemory", "1gb"),
        ("maxmemory-policy", "allkeys-lru"),
    ]);
    let mut t = T::with_config(config);
    t.run("SET n 42");
    assert_eq!(t.run("OBJECT REFCOUNT n"), R::Int(1));
}

#[test]
fn past_expiry_on_a_replica_keeps_the_key() {
    let mut t = T::new();
    t.srv.keyspace.shared.expire_deletes = false;
    t.run("SET k v");
    assert_eq!(t.run("EXPIRE k -10"), R::Int(1));
    assert_eq!(
        t.run("DBSIZE"),
        R::Int(1),
        "the key waits for the master's DEL"
    );
    assert_eq!(t.run("TTL k"), R::Int(-2));
    assert_eq!(t.run("EXISTS k"), R::Int(0));
}

#[test]
fn ttl_survives_rename_and_move() {
    let mut t = T::new();
    t.run("SET k v");
    t.run("PEXPIREAT k 4102444800123");
    t.run("RENAME k k2");
    assert_eq!(t.run("PEXPIRETIME k2"), R::Int(4_102_444_800_123));
    t.run("MOVE k2 5");
    t.run("SELECT 5");
    assert_eq!(t.run("PEXPIRETIME k2"), R::Int(4_102_444_800_123));
    assert_eq!(t.run("EXPIRETIME k2"), R::Int(4_102_444_800));
}

fn scan_all(t: &mut T, extra: &str) -> Vec<String> {
    let mut cursor = "0".to_string();
    let mut out = Vec::new();
    loop {
        let R::Array(parts) = t.run(&format!("SCAN {cursor} {extra}")) else {
            panic!("scan reply")
        };
        let [R::Bulk(Some(next)), R::Array(keys)] = &parts[..] else {
            panic!("scan shape")
        };
        for k in keys {
            let R::Bulk(Some(k)) = k else { panic!("key") };
            out.push(String::from_utf8_lossy(k).into_owned());
        }
        cursor = String::from_utf8_lossy(next).into_owned();
        if cursor == "0" {
            return out;
        }
    }
}

#[test]
fn scan_iterates_everything_once_and_drops_expired_keys() {
    let mut t = T::new();
    for i in 0..2000 {
        t.run(&format!("SET key:{i} v"));
    }
    for i in 0..100 {
        t.run(&format!("SET gone:{i} v"));
        // Expired but not yet deleted: only the door can create this state.
        assert!(t
            .srv
            .keyspace
            .db(0)
            .set_expire_at(format!("gone:{i}").as_bytes(), 1));
    }
    let keys = scan_all(&mut t, "COUNT 7");
    let unique: HashSet<&String> = keys.iter().collect();
    assert_eq!(keys.len(), 2000, "no duplicates without rehashing");
    assert_eq!(unique.len(), 2000);
    assert!(keys.iter().all(|k| k.starts_with("key:")));
    assert_eq!(
        t.run("DBSIZE"),
        R::Int(2000),
        "SCAN deleted the expired keys it met"
    );

    assert_eq!(scan_all(&mut t, "MATCH key:1?? COUNT 50").len(), 100);
    assert_eq!(scan_all(&mut t, "TYPE string").len(), 2000);
    assert!(scan_all(&mut t, "TYPE list").is_empty());
}

#[test]
fn keys_skips_expired_keys_without_deleting_them() {
    let mut t = T::new();
    t.run("SET live v");
    t.run("SET dead v");
    assert!(t.srv.keyspace.db(0).set_expire_at(b"dead", 1));
    assert_eq!(t.run("KEYS *"), R::Array(vec![bulk("live")]));
    assert_eq!(t.run("KEYS d*"), R::Array(vec![]));
    assert_eq!(t.run("DBSIZE"), R::Int(2));
    assert_eq!(t.run("RANDOMKEY"), bulk("live"));
}

#[test]
fn del_with_lazy_user_del_behaves_like_unlink() {
    let config = config_with(&[("save", ""), ("lazyfree-lazy-user-del", "yes")]);
    let mut t = T::with_config(config);
    t.run("SET a 1");
    t.events();
    assert_eq!(t.run("DEL a a"), R::Int(1));
    assert_eq!(t.events(), [(0, "del", "a".into())]);
    assert_eq!(t.run("EXISTS a"), R::Int(0));
}

/// The default configuration with some directives set as CONFIG SET would.
fn config_with(pairs: &[(&str, &str)]) -> Config {
    let mut c = Config::default();
    for (name, value) in pairs {
        c.set_by_name(name, &[value.as_bytes()])
            .expect("valid directive");
    }
    c
}
