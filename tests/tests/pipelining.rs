//! Many requests in one write: every reply comes back, in order.

use strata_tests::{encode_request, TestServer};

/// Requests sent in one write.
const PIPELINE_LEN: usize = 1000;

#[test]
fn a_thousand_commands_in_one_write() {
    let server = TestServer::start();
    let mut raw = server.raw();
    let mut batch = Vec::new();
    let mut expected = Vec::new();
    for i in 0..PIPELINE_LEN {
        let key = format!("key:{i}");
        let value = format!("value-{i}-{}", "x".repeat(i % 50));
        match i % 4 {
            0 => {
                batch.extend(encode_request(&["SET", &key, &value]));
                expected.push(b"+OK\r\n".to_vec());
            }
            1 => {
                batch.extend(encode_request(&["SET", &key, &value]));
                batch.extend(encode_request(&["GET", &key]));
                expected.push(b"+OK\r\n".to_vec());
                expected.push(format!("${}\r\n{value}\r\n", value.len()).into_bytes());
            }
            2 => {
                batch.extend(format!("ECHO {i}\r\n").into_bytes());
                expected.push(format!("${}\r\n{i}\r\n", i.to_string().len()).into_bytes());
            }
            _ => {
                batch.extend(encode_request(&["GET", &format!("absent:{i}")]));
                expected.push(b"$-1\r\n".to_vec());
            }
        }
    }
    assert!(expected.len() >= PIPELINE_LEN);
    raw.send(&batch).expect("send pipeline");
    for (i, want) in expected.iter().enumerate() {
        let got = raw
            .read_reply()
            .unwrap_or_else(|e| panic!("reply {i}: {e}"));
        assert_eq!(
            strata_tests::escape(&got),
            strata_tests::escape(want),
            "reply {i}"
        );
    }
}

#[test]
fn pipeline_split_into_single_bytes() {
    // The same requests trickled one byte per write must parse identically.
    let server = TestServer::start();
    let mut raw = server.raw();
    let mut batch = encode_request(&["SET", "k", "v\r\nw"]);
    batch.extend(b"GET k\r\n");
    batch.extend(encode_request(&["GET", "k"]));
    for b in &batch {
        raw.send(std::slice::from_ref(b)).unwrap();
    }
    assert_eq!(raw.read_reply().unwrap(), b"+OK\r\n".to_vec());
    assert_eq!(raw.read_reply().unwrap(), b"$4\r\nv\r\nw\r\n".to_vec());
    assert_eq!(raw.read_reply().unwrap(), b"$4\r\nv\r\nw\r\n".to_vec());
}
