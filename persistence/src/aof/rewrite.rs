//! The command form of an AOF base (`aof-use-rdb-preamble no`): each key of
//! a snapshot written as the commands that rebuild it, in Redis 7.0's
//! rewrite shapes, so a `.base.aof` written here loads in redis-server and
//! the reverse:
//! - strings `SET`, lists `RPUSH`, sets `SADD`, sorted sets `ZADD` (scores as
//!   `%.17g`), hashes `HMSET`, at most `ITEMS_PER_COMMAND` items per command;
//! - streams: `XADD` per entry (an empty stream as `XADD key MAXLEN 0 0-1 x
//!   y`), `XSETID` with ENTRIESADDED and MAXDELETEDID, then per group `XGROUP
//!   CREATE ... ENTRIESREAD`, an `XCLAIM ... FORCE JUSTID` per pending entry
//!   and `XGROUP CREATECONSUMER` for consumers with nothing pending;
//! - a key with a TTL is followed by `PEXPIREAT`;
//! - function libraries as `FUNCTION LOAD`, databases as `SELECT`; a
//!   `#TS:` annotation first under `aof-timestamp-enabled`.
//!
//! Key order within a database is the snapshot's, not Redis's dict order;
//! both rebuild the same dataset.

use std::io::{self, Write};

use strata_engine::types::set::Member;
use strata_engine::types::stream::{Stream, StreamId};
use strata_engine::types::zset::format_g17;
use strata_engine::value::{fmt_i64, Value};

use super::writer::encode_command;

/// Redis's AOF_REWRITE_ITEMS_PER_CMD: elements (or pairs) per variadic command.
pub const ITEMS_PER_COMMAND: usize = 64;

/// Writes commands into `out` through a reused buffer.
pub struct CommandWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
}

impl<W: Write> CommandWriter<W> {
    pub fn new(out: W) -> Self {
        CommandWriter {
            out,
            buf: Vec::with_capacity(4096),
        }
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    fn command(&mut self, argv: &[&[u8]]) -> io::Result<()> {
        self.buf.clear();
        encode_command(&mut self.buf, argv);
        self.out.write_all(&self.buf)
    }

    pub fn select(&mut self, db: usize) -> io::Result<()> {
        self.command(&[b"SELECT", db.to_string().as_bytes()])
    }

    /// A `#` line (the `#TS:` annotation).
    pub fn annotation(&mut self, line: &str) -> io::Result<()> {
        self.out.write_all(line.as_bytes())?;
        self.out.write_all(b"\r\n")
    }

    pub fn function_load(&mut self, code: &[u8]) -> io::Result<()> {
        self.command(&[b"FUNCTION", b"LOAD", code])
    }

    /// A string key (`SET`), then its TTL.
    pub fn string_key(
        &mut self,
        key: &[u8],
        value: &[u8],
        expire_at_ms: Option<u64>,
    ) -> io::Result<()> {
        self.command(&[b"SET", key, value])?;
        self.expiry(key, expire_at_ms)
    }

    fn expiry(&mut self, key: &[u8], expire_at_ms: Option<u64>) -> io::Result<()> {
        match expire_at_ms {
            Some(at) => self.command(&[b"PEXPIREAT", key, at.to_string().as_bytes()]),
            None => Ok(()),
        }
    }

    /// The commands that rebuild `key` holding `value`, then its TTL.
    pub fn key(&mut self, key: &[u8], value: &Value, expire_at_ms: Option<u64>) -> io::Result<()> {
        match value {
            Value::Str(s) => s.with_bytes(|v| self.command(&[b"SET", key, v]))?,
            Value::List(l) => {
                self.variadic(b"RPUSH", key, 1, l.iter().map(|e| vec![e.to_vec()]))?
            }
            Value::Set(s) => self.variadic(
                b"SADD",
                key,
                1,
                s.iter().map(|m| match m {
                    Member::Int(n) => {
                        let mut b = [0u8; 24];
                        vec![fmt_i64(n, &mut b).to_vec()]
                    }
                    Member::Str(s) => vec![s.to_vec()],
                }),
            )?,
            Value::ZSet(z) => self.variadic(
                b"ZADD",
                key,
                2,
                z.iter()
                    .map(|(m, s)| vec![score_text(s).into_bytes(), m.to_vec()]),
            )?,
            Value::Hash(h) => self.variadic(
                b"HMSET",
                key,
                2,
                h.iter().map(|(f, v)| vec![f.to_vec(), v.to_vec()]),
            )?,
            Value::Stream(s) => self.stream(key, s)?,
        }
        self.expiry(key, expire_at_ms)
    }

    /// `name key item...` in commands of at most ITEMS_PER_COMMAND items,
    /// each item `width` words.
    fn variadic(
        &mut self,
        name: &[u8],
        key: &[u8],
        width: usize,
        items: impl Iterator<Item = Vec<Vec<u8>>>,
    ) -> io::Result<()> {
        let mut words: Vec<Vec<u8>> = Vec::with_capacity(ITEMS_PER_COMMAND * width);
        let flush = |this: &mut Self, words: &mut Vec<Vec<u8>>| -> io::Result<()> {
            if words.is_empty() {
                return Ok(());
            }
            let mut argv: Vec<&[u8]> = Vec::with_capacity(words.len() + 2);
            argv.push(name);
            argv.push(key);
            argv.extend(words.iter().map(|w| w.as_slice()));
            let r = this.command(&argv);
            words.clear();
            r
        };
        for item in items {
            words.extend(item);
            if words.len() >= ITEMS_PER_COMMAND * width {
                flush(self, &mut words)?;
            }
        }
        flush(self, &mut words)
    }

    fn stream(&mut self, key: &[u8], s: &Stream) -> io::Result<()> {
        if s.is_empty() {
            self.command(&[b"XADD", key, b"MAXLEN", b"0", b"0-1", b"x", b"y"])?;
        } else {
            let mut result = Ok(());
            s.walk(StreamId::ZERO, StreamId::MAX, false, |e| {
                let id = e.id.to_string();
                let mut argv: Vec<&[u8]> = Vec::with_capacity(e.fields.len() + 3);
                argv.push(b"XADD");
                argv.push(key);
                argv.push(id.as_bytes());
                argv.extend(e.fields.iter().map(|f| f.as_ref()));
                result = self.command(&argv);
                result.is_ok()
            });
            result?;
        }
        self.command(&[
            b"XSETID",
            key,
            s.last_id().to_string().as_bytes(),
            b"ENTRIESADDED",
            s.entries_added().to_string().as_bytes(),
            b"MAXDELETEDID",
            s.max_deleted_id().to_string().as_bytes(),
        ])?;
        for (name, g) in s.groups() {
            let entries_read = g.entries_read.map_or(-1, |n| n as i64);
            self.command(&[
                b"XGROUP",
                b"CREATE",
                key,
                name,
                g.last_id.to_string().as_bytes(),
                b"ENTRIESREAD",
                entries_read.to_string().as_bytes(),
            ])?;
            for (cname, c) in g.consumers() {
                if c.pel.is_empty() {
                    self.command(&[b"XGROUP", b"CREATECONSUMER", key, name, cname])?;
                    continue;
                }
                for id in &c.pel {
                    let Some(p) = g.pel().get(id) else { continue };
                    self.command(&[
                        b"XCLAIM",
                        key,
                        name,
                        cname,
                        b"0",
                        id.to_string().as_bytes(),
                        b"TIME",
                        p.delivery_time_ms.to_string().as_bytes(),
                        b"RETRYCOUNT",
                        p.delivery_count.to_string().as_bytes(),
                        b"JUSTID",
                        b"FORCE",
                    ])?;
                }
            }
        }
        Ok(())
    }
}

/// A score as Redis's rewrite prints it: `%.17g`, with `inf`/`-inf`.
fn score_text(score: f64) -> String {
    if score.is_infinite() {
        if score > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        format_g17(score)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aof::reader::{AofReader, Item};
    use strata_engine::types::stream::{ConsumerGroup, NodeLimits};
    use strata_engine::value::Encodings;

    fn commands(bytes: &[u8]) -> Vec<Vec<String>> {
        let mut r = AofReader::new(bytes);
        let mut out = Vec::new();
        while let Some(item) = r.next_item().unwrap() {
            if let Item::Command { argv, .. } = item {
                out.push(
                    argv.iter()
                        .map(|a| String::from_utf8_lossy(a).into_owned())
                        .collect(),
                );
            }
        }
        out
    }

    fn run(key: &[u8], v: &Value, ttl: Option<u64>) -> Vec<Vec<String>> {
        let mut w = CommandWriter::new(Vec::new());
        w.key(key, v, ttl).unwrap();
        commands(&w.into_inner())
    }

    #[test]
    fn strings_with_ttl() {
        let got = run(b"k", &Value::from_int(42), Some(1_700_000_000_000));
        assert_eq!(
            got,
            vec![
                vec!["SET", "k", "42"],
                vec!["PEXPIREAT", "k", "1700000000000"]
            ]
        );
    }

    #[test]
    fn long_lists_split_every_64_items() {
        let mut l = strata_engine::value::List::default();
        for i in 0..130 {
            l.push_back(i.to_string().as_bytes(), -2);
        }
        let got = run(b"l", &Value::List(Box::new(l)), None);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].len(), 66);
        assert_eq!(got[2], vec!["RPUSH", "l", "128", "129"]);
    }

    #[test]
    fn zset_scores_print_as_redis_rewrite_does() {
        let enc = Encodings::default();
        let mut z = strata_engine::types::zset::ZSet::new_listpack();
        z.insert(b"a", 0.1, &enc);
        z.insert(b"b", f64::NEG_INFINITY, &enc);
        let got = run(b"z", &Value::ZSet(z), None);
        assert_eq!(
            got,
            vec![vec!["ZADD", "z", "-inf", "b", "0.10000000000000001", "a"]]
        );
    }

    #[test]
    fn streams_rebuild_groups_and_pending_entries() {
        let mut s = Stream::new();
        s.append(
            StreamId::new(1, 1),
            &[b"a".to_vec(), b"b".to_vec()],
            NodeLimits::default(),
        )
        .unwrap();
        s.append(
            StreamId::new(2, 1),
            &[b"c".to_vec(), b"d".to_vec()],
            NodeLimits::default(),
        )
        .unwrap();
        let mut g = ConsumerGroup::new(StreamId::new(1, 1), Some(1));
        assert!(g.load_pending(StreamId::new(1, 1), 77, 1));
        assert!(g.load_consumer(b"alice", 5, &[StreamId::new(1, 1)]));
        assert!(g.load_consumer(b"bob", 5, &[]));
        assert!(s.load_group(b"g", g));
        let got = run(b"x", &Value::Stream(Box::new(s)), None);
        let want: Vec<Vec<&str>> = vec![
            vec!["XADD", "x", "1-1", "a", "b"],
            vec!["XADD", "x", "2-1", "c", "d"],
            vec![
                "XSETID",
                "x",
                "2-1",
                "ENTRIESADDED",
                "2",
                "MAXDELETEDID",
                "0-0",
            ],
            vec!["XGROUP", "CREATE", "x", "g", "1-1", "ENTRIESREAD", "1"],
            vec![
                "XCLAIM",
                "x",
                "g",
                "alice",
                "0",
                "1-1",
                "TIME",
                "77",
                "RETRYCOUNT",
                "1",
                "JUSTID",
                "FORCE",
            ],
            vec!["XGROUP", "CREATECONSUMER", "x", "g", "bob"],
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn empty_streams_use_the_maxlen_0_trick() {
        let got = run(b"e", &Value::Stream(Box::new(Stream::new())), None);
        assert_eq!(got[0], vec!["XADD", "e", "MAXLEN", "0", "0-1", "x", "y"]);
        assert_eq!(got[1][0], "XSETID");
    }
}
