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

/// A model of one sorted set with integer scores, for the pipelined batch
/// below: members by score, and scores by member.
#[derive(Default)]
struct ZModel {
    by_member: std::collections::HashMap<String, i64>,
    ordered: std::collections::BTreeSet<(i64, String)>,
}

impl ZModel {
    fn set(&mut self, member: &str, score: i64) {
        if let Some(old) = self.by_member.insert(member.to_string(), score) {
            self.ordered.remove(&(old, member.to_string()));
        }
        self.ordered.insert((score, member.to_string()));
    }

    fn remove(&mut self, member: &str) -> bool {
        match self.by_member.remove(member) {
            Some(old) => self.ordered.remove(&(old, member.to_string())),
            None => false,
        }
    }

    fn rank(&self, member: &str) -> Option<usize> {
        let score = *self.by_member.get(member)?;
        Some(self.ordered.range(..(score, member.to_string())).count())
    }
}

/// Sends the batch in one write and checks each reply against `expected`.
fn send_and_check(
    raw: &mut strata_tests::RawConn,
    batch: &mut Vec<u8>,
    expected: &mut Vec<Vec<u8>>,
    step: usize,
) {
    raw.send(batch).expect("send pipeline");
    batch.clear();
    for (i, want) in expected.drain(..).enumerate() {
        let got = raw
            .read_reply()
            .unwrap_or_else(|e| panic!("step {step}, reply {i}: {e}"));
        assert_eq!(
            strata_tests::escape(&got),
            strata_tests::escape(&want),
            "step {step}, reply {i}"
        );
    }
}

fn bulk(s: &str) -> Vec<u8> {
    format!("${}\r\n{s}\r\n", s.len()).into_bytes()
}

fn score_reply(score: Option<i64>) -> Vec<u8> {
    score.map_or(b"$-1\r\n".to_vec(), |s| bulk(&s.to_string()))
}

/// Pipelined batches of sorted-set commands on one big set (the server reads
/// ahead over such batches to prefetch the members' positions), interleaved
/// with other keys' commands: every reply matches a model.
#[test]
fn pipelined_sorted_set_batches_on_one_key() {
    let server = TestServer::start();
    let mut raw = server.raw();
    let mut model = ZModel::default();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut rand = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let member = |i: u64| format!("member:{i}");
    let mut batch = Vec::new();
    let mut expected = Vec::new();
    // A big set first (a skiplist, with tall nodes), in one batch too.
    for i in 0..4000 {
        let (m, s) = (member(i), rand(100_000) as i64);
        batch.extend(encode_request(&["ZADD", "z", &s.to_string(), &m]));
        expected.push(b":1\r\n".to_vec());
        model.set(&m, s);
    }
    for step in 0..20_000 {
        let m = member(rand(5000));
        let s = rand(100_000) as i64;
        match rand(10) {
            0..=2 => {
                batch.extend(encode_request(&["ZADD", "z", &s.to_string(), &m]));
                let new = !model.by_member.contains_key(&m);
                model.set(&m, s);
                expected.push(format!(":{}\r\n", new as u8).into_bytes());
            }
            3 => {
                batch.extend(encode_request(&[
                    "zadd",
                    "z",
                    "XX",
                    "CH",
                    &s.to_string(),
                    &m,
                ]));
                let changed = model.by_member.get(&m).is_some_and(|&old| old != s);
                if model.by_member.contains_key(&m) {
                    model.set(&m, s);
                }
                expected.push(format!(":{}\r\n", changed as u8).into_bytes());
            }
            4 => {
                let d = rand(200) as i64 - 100;
                let (cmd, incr) = if step % 2 == 0 {
                    (vec!["ZADD", "z", "INCR"], d.to_string())
                } else {
                    (vec!["ZINCRBY", "z"], d.to_string())
                };
                let mut args = cmd;
                args.push(&incr);
                args.push(&m);
                batch.extend(encode_request(&args));
                let new = model.by_member.get(&m).copied().unwrap_or(0) + d;
                model.set(&m, new);
                expected.push(bulk(&new.to_string()));
            }
            5 => {
                let m2 = member(rand(5000));
                batch.extend(encode_request(&["ZREM", "z", &m, &m2]));
                let n = model.remove(&m) as u8 + model.remove(&m2) as u8;
                expected.push(format!(":{n}\r\n").into_bytes());
            }
            6 => {
                batch.extend(encode_request(&["ZSCORE", "z", &m]));
                expected.push(score_reply(model.by_member.get(&m).copied()));
            }
            7 => {
                let m2 = member(rand(5000));
                batch.extend(encode_request(&["ZMSCORE", "z", &m, &m2]));
                let mut reply = b"*2\r\n".to_vec();
                reply.extend(score_reply(model.by_member.get(&m).copied()));
                reply.extend(score_reply(model.by_member.get(&m2).copied()));
                expected.push(reply);
            }
            8 => {
                let rev = step % 2 == 0;
                batch.extend(encode_request(&[
                    if rev { "ZREVRANK" } else { "ZRANK" },
                    "z",
                    &m,
                ]));
                let rank = model
                    .rank(&m)
                    .map(|r| if rev { model.ordered.len() - 1 - r } else { r });
                expected.push(match rank {
                    Some(r) => format!(":{r}\r\n").into_bytes(),
                    None => b"$-1\r\n".to_vec(),
                });
            }
            _ => {
                // Another key, and a bad score, between the set's commands.
                batch.extend(encode_request(&["ZADD", "z", "notanumber", &m]));
                expected.push(b"-ERR value is not a valid float\r\n".to_vec());
                batch.extend(encode_request(&["SET", "other", &m]));
                expected.push(b"+OK\r\n".to_vec());
            }
        }
        if batch.len() > 16 * 1024 || step == 19_999 {
            send_and_check(&mut raw, &mut batch, &mut expected, step);
        }
    }
    raw.send(&encode_request(&["ZCARD", "z"])).unwrap();
    let card = raw.read_reply().unwrap();
    assert_eq!(card, format!(":{}\r\n", model.ordered.len()).into_bytes());
}

/// The same for one big set and one big hash (the look-ahead prefetches
/// their members' and fields' hash chains): every reply matches a model.
#[test]
fn pipelined_set_and_hash_batches_on_one_key() {
    let server = TestServer::start();
    let mut raw = server.raw();
    let mut set = std::collections::HashSet::new();
    let mut hash = std::collections::HashMap::new();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut rand = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let mut batch = Vec::new();
    let mut expected = Vec::new();
    for step in 0..30_000 {
        let m = format!("m:{}", rand(3000));
        let m2 = format!("m:{}", rand(3000));
        let v = rand(1000) as i64;
        match rand(12) {
            0..=2 => {
                batch.extend(encode_request(&["SADD", "s", &m, &m2]));
                let n = set.insert(m.clone()) as u8 + set.insert(m2.clone()) as u8;
                expected.push(format!(":{n}\r\n").into_bytes());
            }
            3 => {
                batch.extend(encode_request(&["SREM", "s", &m]));
                expected.push(format!(":{}\r\n", set.remove(&m) as u8).into_bytes());
            }
            4 => {
                batch.extend(encode_request(&["SMISMEMBER", "s", &m, &m2]));
                let (a, b) = (set.contains(&m) as u8, set.contains(&m2) as u8);
                expected.push(format!("*2\r\n:{a}\r\n:{b}\r\n").into_bytes());
            }
            5..=7 => {
                batch.extend(encode_request(&["HSET", "h", &m, &v.to_string(), &m2, "x"]));
                let new = hash.insert(m.clone(), v.to_string()).is_none() as u8;
                let new2 = hash.insert(m2.clone(), "x".to_string()).is_none() as u8;
                expected.push(format!(":{}\r\n", new + new2).into_bytes());
            }
            8 => {
                batch.extend(encode_request(&["HGET", "h", &m]));
                expected.push(bulk_or_nil(hash.get(&m)));
            }
            9 => {
                batch.extend(encode_request(&["HDEL", "h", &m]));
                expected.push(format!(":{}\r\n", hash.remove(&m).is_some() as u8).into_bytes());
            }
            10 => {
                let current = hash.get(&m).cloned().unwrap_or_else(|| "0".into());
                batch.extend(encode_request(&["HINCRBY", "h", &m, "3"]));
                match current.parse::<i64>() {
                    Ok(n) => {
                        hash.insert(m.clone(), (n + 3).to_string());
                        expected.push(format!(":{}\r\n", n + 3).into_bytes());
                    }
                    Err(_) => expected.push(b"-ERR hash value is not an integer\r\n".to_vec()),
                }
            }
            _ => {
                batch.extend(encode_request(&["HMGET", "h", &m, &m2]));
                let mut reply = b"*2\r\n".to_vec();
                reply.extend(bulk_or_nil(hash.get(&m)));
                reply.extend(bulk_or_nil(hash.get(&m2)));
                expected.push(reply);
            }
        }
        if batch.len() > 16 * 1024 || step == 29_999 {
            send_and_check(&mut raw, &mut batch, &mut expected, step);
        }
    }
    for (cmd, key, n) in [("SCARD", "s", set.len()), ("HLEN", "h", hash.len())] {
        raw.send(&encode_request(&[cmd, key])).unwrap();
        assert_eq!(raw.read_reply().unwrap(), format!(":{n}\r\n").into_bytes());
    }
    // Both grew past their compact encodings, so the look-ahead ran on tables.
    for key in ["s", "h"] {
        raw.send(&encode_request(&["OBJECT", "ENCODING", key]))
            .unwrap();
        assert_eq!(raw.read_reply().unwrap(), bulk("hashtable"));
    }
}

fn bulk_or_nil(v: Option<&String>) -> Vec<u8> {
    v.map_or(b"$-1\r\n".to_vec(), |s| bulk(s))
}
