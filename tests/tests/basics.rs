//! Basic black-box checks through the `redis` crate and raw inline requests.

use strata_tests::TestServer;

#[test]
fn ping_set_get_with_the_redis_crate() {
    let server = TestServer::start();
    let mut con = server.client();
    let pong: String = redis::cmd("PING").query(&mut con).expect("PING");
    assert_eq!(pong, "PONG");
    let echoed: Vec<u8> = redis::cmd("PING")
        .arg(&b"hi\x00there"[..])
        .query(&mut con)
        .expect("PING msg");
    assert_eq!(echoed, b"hi\x00there");
    let () = redis::cmd("SET")
        .arg("greeting")
        .arg("hello world")
        .query(&mut con)
        .expect("SET");
    let got: Option<String> = redis::cmd("GET")
        .arg("greeting")
        .query(&mut con)
        .expect("GET");
    assert_eq!(got.as_deref(), Some("hello world"));
    let missing: Option<String> = redis::cmd("GET")
        .arg("nope")
        .query(&mut con)
        .expect("GET missing");
    assert_eq!(missing, None);
    // A binary value with CR LF inside survives the round trip.
    let value = b"a\r\nb\x00\xff".to_vec();
    let () = redis::cmd("SET")
        .arg("bin")
        .arg(&value)
        .query(&mut con)
        .expect("SET bin");
    let got: Vec<u8> = redis::cmd("GET")
        .arg("bin")
        .query(&mut con)
        .expect("GET bin");
    assert_eq!(got, value);
}

#[test]
fn errors_keep_the_connection() {
    let server = TestServer::start();
    let mut raw = server.raw();
    let reply = raw.cmd(&["NOSUCHCMD", "a"]).expect("reply");
    assert_eq!(
        reply,
        b"-ERR unknown command 'NOSUCHCMD', with args beginning with: 'a' \r\n".to_vec()
    );
    let reply = raw.cmd(&["GET"]).expect("reply");
    assert_eq!(
        reply,
        b"-ERR wrong number of arguments for 'get' command\r\n".to_vec()
    );
    assert_eq!(
        raw.cmd(&["PING"]).expect("PING after errors"),
        b"+PONG\r\n".to_vec()
    );
}

#[test]
fn inline_commands() {
    let server = TestServer::start();
    let mut raw = server.raw();
    raw.send(b"PING\r\n").unwrap();
    assert_eq!(raw.read_reply().unwrap(), b"+PONG\r\n".to_vec());
    // A bare LF ends a line too; blank lines are skipped without a reply.
    raw.send(b"\r\n\n  \r\nPING\n").unwrap();
    assert_eq!(raw.read_reply().unwrap(), b"+PONG\r\n".to_vec());
    raw.send(b"set  key  \"two words\\x21\\n\"\r\n").unwrap();
    assert_eq!(raw.read_reply().unwrap(), b"+OK\r\n".to_vec());
    raw.send(b"get key\r\n").unwrap();
    assert_eq!(
        raw.read_reply().unwrap(),
        b"$11\r\ntwo words!\n\r\n".to_vec()
    );
    raw.send(b"set 'it''s' x\r\n").unwrap();
    assert_eq!(
        raw.read_reply().unwrap(),
        b"-ERR Protocol error: unbalanced quotes in request\r\n".to_vec()
    );
    assert!(
        raw.closed_within(std::time::Duration::from_secs(5)),
        "connection stays open after a protocol error"
    );
    // Inline and multibulk requests mix on one connection, in one write.
    let mut raw = server.raw();
    raw.send(b"ECHO a\r\n*2\r\n$4\r\nECHO\r\n$1\r\nb\r\nECHO c\n")
        .unwrap();
    for expected in [&b"$1\r\na\r\n"[..], b"$1\r\nb\r\n", b"$1\r\nc\r\n"] {
        assert_eq!(raw.read_reply().unwrap(), expected.to_vec());
    }
}

#[test]
fn empty_multibulk_requests_are_skipped() {
    let server = TestServer::start();
    let mut raw = server.raw();
    raw.send(b"*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n").unwrap();
    assert_eq!(raw.read_reply().unwrap(), b"+PONG\r\n".to_vec());
}

#[test]
fn quit_replies_then_closes() {
    let server = TestServer::start();
    let mut raw = server.raw();
    assert_eq!(raw.cmd(&["QUIT"]).unwrap(), b"+OK\r\n".to_vec());
    assert!(raw.closed_within(std::time::Duration::from_secs(5)));
}
