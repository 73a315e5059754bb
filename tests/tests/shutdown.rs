//! Graceful shutdown on SIGTERM (and SIGINT): exit code 0 and Redis's log lines.

use strata_tests::TestServer;

fn stops_cleanly_on(signal: libc::c_int, name: &str) {
    let mut server = TestServer::start();
    let mut con = server.client();
    let () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query(&mut con)
        .expect("SET");
    server.signal(signal).expect("signal");
    let status = server
        .wait_exit(strata_tests::STOP_TIMEOUT)
        .expect("exit after signal");
    let log = server.log();
    assert_eq!(status.code(), Some(0), "exit status {status}; log:\n{log}");
    assert!(log.contains("Ready to accept connections"), "log:\n{log}");
    assert!(
        log.contains(&format!("Received {name} scheduling shutdown...")),
        "log:\n{log}"
    );
}

#[test]
fn sigterm_exits_zero() {
    stops_cleanly_on(libc::SIGTERM, "SIGTERM");
}

#[test]
fn sigint_exits_zero() {
    stops_cleanly_on(libc::SIGINT, "SIGINT");
}
