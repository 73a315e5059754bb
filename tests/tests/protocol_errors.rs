//! Malformed requests: Redis's exact error line, then the connection is
//! closed while the server keeps serving everyone else. A declared length
//! alone must not make the server reserve memory.
//!
//! The same table runs against redis-server when it is installed, so the
//! expected lines are known to be Redis's.

use std::time::Duration;

use strata_tests::{escape, RawConn, TestServer};

/// How long the server may take to close a connection after a protocol error.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

struct Case {
    name: &'static str,
    request: Vec<u8>,
    reply: &'static str,
}

fn cases() -> Vec<Case> {
    let case = |name, request: &[u8], reply| Case {
        name,
        request: request.to_vec(),
        reply,
    };
    let mut long_mbulk = b"*".to_vec();
    long_mbulk.extend(std::iter::repeat_n(b'1', 70_000));
    let mut long_bulk = b"*1\r\n$".to_vec();
    long_bulk.extend(std::iter::repeat_n(b'1', 70_000));
    vec![
        case(
            "invalid multibulk length",
            b"*x\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        case(
            "multibulk count past INT_MAX",
            b"*3000000000\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        case(
            "invalid bulk length",
            b"*1\r\n$x\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        case(
            "negative bulk length",
            b"*1\r\n$-5\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        case(
            "space in bulk length",
            b"*1\r\n$ 3\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        case(
            "bulk past proto-max-bulk-len",
            b"*1\r\n$600000000\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        Case {
            name: "too big inline request",
            request: vec![b'a'; 70_000],
            reply: "-ERR Protocol error: too big inline request\r\n",
        },
        Case {
            name: "too big mbulk count string",
            request: long_mbulk,
            reply: "-ERR Protocol error: too big mbulk count string\r\n",
        },
        Case {
            name: "too big bulk count string",
            request: long_bulk,
            reply: "-ERR Protocol error: too big bulk count string\r\n",
        },
        case(
            "unbalanced double quotes",
            b"set \"a\r\n",
            "-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
        case(
            "unbalanced single quotes",
            b"set 'a\r\n",
            "-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
        case(
            "closing quote followed by a letter",
            b"set \"a\"b c\r\n",
            "-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
        case(
            "expected dollar",
            b"*1\r\nxyz\r\n",
            "-ERR Protocol error: expected '$', got 'x'\r\n",
        ),
        case(
            "expected dollar after a good bulk",
            b"*2\r\n$4\r\nPING\r\n:1\r\n",
            "-ERR Protocol error: expected '$', got ':'\r\n",
        ),
    ]
}

fn check_cases(server: &TestServer) {
    let mut bystander = server.raw();
    assert_eq!(bystander.cmd(&["PING"]).unwrap(), b"+PONG\r\n".to_vec());
    let mut failures = Vec::new();
    for case in cases() {
        let mut conn = server.raw();
        conn.send(&case.request)
            .unwrap_or_else(|e| panic!("{}: send: {e}", case.name));
        match conn.read_reply() {
            Ok(reply) if reply == case.reply.as_bytes() => {}
            other => failures.push(format!(
                "{}: expected {:?}, got {:?}",
                case.name,
                escape(case.reply.as_bytes()),
                other.map(|r| escape(&r))
            )),
        }
        if !conn.closed_within(CLOSE_TIMEOUT) {
            failures.push(format!(
                "{}: connection left open after the protocol error",
                case.name
            ));
        }
        match bystander.cmd(&["PING"]) {
            Ok(r) if r == b"+PONG\r\n" => {}
            other => failures.push(format!(
                "{}: another client was not served afterwards: {other:?}",
                case.name
            )),
        }
    }
    // New connections are still accepted.
    assert_eq!(server.raw().cmd(&["PING"]).unwrap(), b"+PONG\r\n".to_vec());
    assert!(
        failures.is_empty(),
        "{} against {}:\n{}",
        failures.len(),
        server.kind().name(),
        failures.join("\n")
    );
}

#[test]
fn protocol_errors_reply_and_close() {
    check_cases(&TestServer::start());
}

#[test]
fn protocol_error_table_matches_redis() {
    match TestServer::redis() {
        Some(redis) => check_cases(&redis),
        None => eprintln!(
            "NOTICE: redis-server not installed; protocol error table not checked against it"
        ),
    }
}

/// RSS growth allowed after clients declare huge bulks and send 10 bytes.
const DECLARED_BULK_RSS_GROWTH_MAX_KIB: u64 = 8 * 1024;
/// Address-space growth allowed: catches a reservation that was never touched
/// (which RSS alone would not show); far below one declared bulk.
const DECLARED_BULK_VSIZE_GROWTH_MAX_KIB: u64 = 256 * 1024;
const DECLARING_CLIENTS: usize = 20;

#[test]
fn declared_huge_bulk_does_not_grow_memory() {
    check_declared_huge_bulk(&TestServer::start());
}

fn check_declared_huge_bulk(server: &TestServer) {
    let mut bystander = server.raw();
    assert_eq!(bystander.cmd(&["PING"]).unwrap(), b"+PONG\r\n".to_vec());
    std::thread::sleep(Duration::from_millis(200));
    let before = server.rss_kib().expect("VmRSS");
    let vsize_before = server.proc_status_kib("VmSize").expect("VmSize");
    let mut declaring: Vec<RawConn> = Vec::new();
    for _ in 0..DECLARING_CLIENTS {
        let mut conn = server.raw();
        conn.send(b"*1\r\n$500000000\r\n0123456789").unwrap();
        declaring.push(conn);
    }
    // Let the server read everything it was sent.
    assert_eq!(bystander.cmd(&["PING"]).unwrap(), b"+PONG\r\n".to_vec());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(bystander.cmd(&["PING"]).unwrap(), b"+PONG\r\n".to_vec());
    let after = server.rss_kib().expect("VmRSS");
    let vsize_after = server.proc_status_kib("VmSize").expect("VmSize");
    let growth = after.saturating_sub(before);
    assert!(
        growth <= DECLARED_BULK_RSS_GROWTH_MAX_KIB,
        "RSS grew by {growth} KiB ({before} -> {after}) after {DECLARING_CLIENTS} clients declared 500 MB bulks"
    );
    let vsize_growth = vsize_after.saturating_sub(vsize_before);
    assert!(
        vsize_growth <= DECLARED_BULK_VSIZE_GROWTH_MAX_KIB,
        "address space grew by {vsize_growth} KiB ({vsize_before} -> {vsize_after}): a declared length was reserved"
    );
    // The declaring clients are waiting for the rest of their bulk, not dropped.
    for conn in &mut declaring {
        assert!(!conn.closed_within(Duration::from_millis(10)));
    }
}

#[test]
fn big_bulk_round_trip() {
    let server = TestServer::start();
    let mut raw = server.raw();
    let value: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(
        raw.cmd(&[&b"SET"[..], b"big", &value]).unwrap(),
        b"+OK\r\n".to_vec()
    );
    let reply = raw.cmd(&["GET", "big"]).unwrap();
    let header = format!("${}\r\n", value.len());
    assert!(reply.starts_with(header.as_bytes()));
    assert_eq!(&reply[header.len()..reply.len() - 2], &value[..]);
}

/// How long a server may take to start answering a corpus file.
const FIRST_BYTE_TIMEOUT: Duration = Duration::from_millis(500);
/// A reply is complete once the server has been quiet this long.
const QUIET_TIMEOUT: Duration = Duration::from_millis(100);

/// Everything the server sends back for `request`, and whether it then closed.
fn send_and_collect(server_port: u16, request: &[u8]) -> (Vec<u8>, bool) {
    let mut conn = RawConn::connect(server_port).expect("connect");
    // A server may close before reading everything: that is part of the answer.
    let _ = conn.send(request);
    let mut got = Vec::new();
    let mut wait = FIRST_BYTE_TIMEOUT;
    loop {
        match conn.read_raw(wait) {
            Ok(bytes) if bytes.is_empty() => return (got, true),
            Ok(bytes) => got.extend(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return (got, false),
            Err(_) => return (got, true),
        }
        wait = QUIET_TIMEOUT;
    }
}

/// Corpus files where Strata is known to answer differently for a reason
/// outside the parser, with the reason. Remove an entry once it is fixed.
const KNOWN_DIVERGENCES: &[(&str, &str)] = &[(
    "junk-random-2.bin",
    "the unknown-command error turns invalid UTF-8 into U+FFFD (dispatch.rs); Redis passes the bytes through",
)];

/// Every hand-written file of the parser's fuzz corpus, sent raw to both
/// servers, gets the same bytes back and the same open/closed connection.
/// `fuzz-*` and `quirk-*` files are left out: there Redis's C-string parsing
/// does something Strata does not copy (a NUL ends an inline line and hides
/// its newline; a lone CR ends a header line; control bytes in an error line
/// become spaces; a long inline line is accepted when its newline arrives in
/// the same read).
#[test]
fn parser_corpus_matches_redis() {
    let Some(redis) = TestServer::redis() else {
        eprintln!("NOTICE: redis-server not installed; parser corpus not compared with it");
        return;
    };
    let strata = TestServer::start();
    let dir = strata_tests::workspace_root().join("fuzz/corpus/resp_parser");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if let Some((_, why)) = KNOWN_DIVERGENCES.iter().find(|(known, _)| *known == name) {
                eprintln!("NOTICE: {name} not compared: {why}");
                return false;
            }
            // Hand-written files only: fuzzer finds are mostly NUL-laden
            // inline lines, which hit the quirks below.
            ["ok-", "err-", "partial-", "junk-"]
                .iter()
                .any(|prefix| name.starts_with(prefix))
        })
        .collect();
    files.sort();
    assert!(files.len() >= 30, "corpus has {} files", files.len());
    let (redis_port, strata_port) = (redis.port(), strata.port());
    let workers: Vec<_> = files
        .into_iter()
        .map(|path| {
            std::thread::spawn(move || {
                let data = std::fs::read(&path).expect("read corpus file");
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let want = send_and_collect(redis_port, &data);
                let got = send_and_collect(strata_port, &data);
                (want != got).then(|| {
                    format!(
                        "{name}:\n    redis-server:  {} (closed: {})\n    strata-server: {} (closed: {})",
                        escape(&want.0),
                        want.1,
                        escape(&got.0),
                        got.1
                    )
                })
            })
        })
        .collect();
    let failures: Vec<String> = workers
        .into_iter()
        .filter_map(|w| w.join().expect("worker panicked"))
        .collect();
    assert!(
        failures.is_empty(),
        "{} corpus files answered differently:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
