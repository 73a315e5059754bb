//! Handler-level tests of the stream commands: what a differential corpus
//! cannot see (keyspace events, the dirty counter, WATCH signals) and the
//! paths that depend on the caller (scripts, transactions).

use bytes::Bytes;
use strata_engine::notify;
use strata_server::client::Client;
use strata_server::config::Config;
use strata_server::dispatch;
use strata_server::server::Server;

fn run(srv: &mut Server, client: &mut Client, line: &str) -> String {
    client.out.clear();
    let argv = line
        .split(' ')
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect();
    dispatch::execute(srv, client, argv);
    String::from_utf8_lossy(&client.out).into_owned()
}

fn setup() -> (Server, Client) {
    let mut srv = Server::new(Config::default());
    srv.pubsub.tap = Some(Vec::new());
    srv.keyspace.shared.notify_flags = notify::parse_flags(b"KEAn").expect("flags");
    (srv, Client::new(1, 0))
}

fn events(srv: &mut Server) -> Vec<&'static str> {
    srv.pubsub
        .tap
        .get_or_insert_with(Vec::new)
        .drain(..)
        .map(|e| e.event)
        .collect()
}

#[test]
fn keyspace_events_follow_redis() {
    let (mut srv, mut c) = setup();
    run(&mut srv, &mut c, "XADD s MAXLEN 1 1-1 a b");
    assert_eq!(events(&mut srv), ["new", "xadd"]);
    run(&mut srv, &mut c, "XADD s MAXLEN 1 1-2 a b");
    assert_eq!(events(&mut srv), ["xadd", "xtrim"]);
    run(&mut srv, &mut c, "XDEL s 1-1");
    assert_eq!(events(&mut srv), Vec::<&str>::new(), "nothing deleted");
    run(&mut srv, &mut c, "XDEL s 1-2");
    assert_eq!(events(&mut srv), ["xdel"], "an emptied stream stays");
    run(&mut srv, &mut c, "XGROUP CREATE t g $ MKSTREAM");
    assert_eq!(events(&mut srv), ["new", "xgroup-create"]);
    run(&mut srv, &mut c, "XADD t 1-1 a b");
    events(&mut srv);
    run(&mut srv, &mut c, "XREADGROUP GROUP g alice STREAMS t >");
    assert_eq!(events(&mut srv), ["xgroup-createconsumer"]);
    run(&mut srv, &mut c, "XGROUP CREATECONSUMER t g bob");
    run(&mut srv, &mut c, "XGROUP DELCONSUMER t g bob");
    run(&mut srv, &mut c, "XGROUP SETID t g 0");
    run(&mut srv, &mut c, "XSETID t 5-5");
    run(&mut srv, &mut c, "XTRIM t MAXLEN 0");
    run(&mut srv, &mut c, "XGROUP DESTROY t g");
    assert_eq!(
        events(&mut srv),
        [
            "xgroup-createconsumer",
            "xgroup-delconsumer",
            "xgroup-setid",
            "xsetid",
            "xtrim",
            "xgroup-destroy"
        ]
    );
}

#[test]
fn dirty_counts_and_watch_signals() {
    let (mut srv, mut c) = setup();
    let dirty = |srv: &Server| srv.keyspace.shared.dirty;
    let d0 = dirty(&srv);
    run(&mut srv, &mut c, "XADD s 1-1 a b");
    run(&mut srv, &mut c, "XADD s 1-2 a b");
    run(&mut srv, &mut c, "XADD s 1-3 a b");
    assert_eq!(dirty(&srv) - d0, 3);
    let d0 = dirty(&srv);
    assert_eq!(run(&mut srv, &mut c, "XDEL s 1-1 1-2 9-9"), ":2\r\n");
    assert_eq!(dirty(&srv) - d0, 2);
    run(&mut srv, &mut c, "XGROUP CREATE s g 0");
    srv.keyspace.watch(0, b"s");
    srv.watches.tap = Some(Vec::new());
    // Group state changes count as writes but do not signal WATCH.
    let d0 = dirty(&srv);
    run(&mut srv, &mut c, "XREADGROUP GROUP g alice STREAMS s >");
    assert_eq!(dirty(&srv) - d0, 2, "one read, one new consumer");
    run(&mut srv, &mut c, "XACK s g 1-3");
    assert_eq!(dirty(&srv) - d0, 3);
    assert!(srv.watches.tap.as_ref().is_none_or(|t| t.is_empty()));
    run(&mut srv, &mut c, "XADD s 1-4 a b");
    assert_eq!(srv.watches.tap.as_ref().map_or(0, |t| t.len()), 1);
}

#[test]
fn scripts_and_transactions_do_not_block() {
    let (mut srv, _) = setup();
    let mut script = Client::fake(0);
    assert_eq!(
        run(&mut srv, &mut script, "XREAD BLOCK 0 STREAMS s $"),
        "-ERR XREAD command is not allowed with BLOCK option from scripts\r\n"
    );
    let mut tx = Client::new(2, 0);
    tx.deny_blocking = true;
    assert_eq!(
        run(&mut srv, &mut tx, "XREAD BLOCK 0 STREAMS s $"),
        "*-1\r\n"
    );
    assert!(!tx.blocked);
    let mut plain = Client::new(3, 0);
    assert_eq!(run(&mut srv, &mut plain, "XREAD BLOCK 0 STREAMS s $"), "");
    assert!(plain.blocked, "parked: the reply comes later");
    assert_eq!(srv.stream_blocking.blocked_count(), 1);
}

#[test]
fn auto_ids_follow_the_command_clock() {
    let (mut srv, mut c) = setup();
    // XADD `*` takes the clock when it moved past the last ID, else the
    // last ID plus one (the clock may go backwards).
    run(&mut srv, &mut c, "XADD s 99999999999999-5 a b");
    assert_eq!(
        run(&mut srv, &mut c, "XADD s * a b"),
        "$16\r\n99999999999999-6\r\n"
    );
    let r = run(&mut srv, &mut c, "XADD fresh * a b");
    let ms: u64 = r
        .split("\r\n")
        .nth(1)
        .and_then(|id| id.split('-').next())
        .and_then(|ms| ms.parse().ok())
        .expect("an ID");
    let now = strata_server::clock::now_ms();
    assert!(ms <= now && now - ms < 10_000, "{ms} vs {now}");
}
