//! Many clients at once: each sees its own writes and nothing is lost.

use std::thread;

use strata_tests::TestServer;

const CLIENTS: usize = 50;
const OPS_PER_CLIENT: usize = 200;

#[test]
fn fifty_concurrent_clients() {
    let server = TestServer::start();
    let port = server.port();
    let workers: Vec<_> = (0..CLIENTS)
        .map(|c| {
            thread::spawn(move || {
                let mut con = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
                    .and_then(|cl| cl.get_connection())
                    .expect("connect");
                for i in 0..OPS_PER_CLIENT {
                    let key = format!("client:{c}:{i}");
                    let value = format!("{c}-{i}");
                    let () = redis::cmd("SET")
                        .arg(&key)
                        .arg(&value)
                        .query(&mut con)
                        .expect("SET");
                    let got: String = redis::cmd("GET").arg(&key).query(&mut con).expect("GET");
                    assert_eq!(got, value);
                }
                // One shared key everyone overwrites: a reply is always some client's value.
                let () = redis::cmd("SET")
                    .arg("shared")
                    .arg(c.to_string())
                    .query(&mut con)
                    .expect("SET shared");
                let got: String = redis::cmd("GET")
                    .arg("shared")
                    .query(&mut con)
                    .expect("GET shared");
                assert!(
                    got.parse::<usize>().is_ok_and(|v| v < CLIENTS),
                    "shared = {got:?}"
                );
            })
        })
        .collect();
    for w in workers {
        w.join().expect("client thread panicked");
    }
    // Every key written by every client is still there.
    let mut con = server.client();
    for c in 0..CLIENTS {
        let key = format!("client:{c}:{}", OPS_PER_CLIENT - 1);
        let got: String = redis::cmd("GET").arg(&key).query(&mut con).expect("GET");
        assert_eq!(got, format!("{c}-{}", OPS_PER_CLIENT - 1));
    }
}
