//! Streams in RDB files: types 15 (Redis 5-6), 19 (7.0, written here) and
//! 21 (7.2: consumers also carry an active time, which 7.0 has not).
//!
//! Layout: the nodes (count, then each master ID as a 16-byte string and
//! its listpack as a string), length, last ID, [first ID, max deleted ID,
//! entries added], then the groups: name, last ID, [entries read], the PEL
//! (count, then raw 16-byte IDs with an 8-byte LE delivery time and a
//! delivery count) and the consumers (name, 8-byte LE seen time, [active
//! time], and their PEL as raw IDs).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::indexing_slicing))]

use std::io::{self, Read, Write};

use strata_engine::types::stream::listpack::Listpack;
use strata_engine::types::stream::{ConsumerGroup, Stream, StreamId};

use super::reader::Reader;
use super::types;
use super::writer::Writer;
use super::Corrupt;

/// Node, group, consumer and PEL counts are read one item at a time, so a
/// corrupt count fails at the end of the input; this only bounds reservations.
const PREALLOC_ITEMS_MAX: usize = 1024;

fn write_id<W: Write>(w: &mut Writer<W>, id: StreamId) -> io::Result<()> {
    w.len(id.ms)?;
    w.len(id.seq)
}

/// Writes a stream as RDB type 19 (the caller wrote the type byte).
pub fn write_stream<W: Write>(w: &mut Writer<W>, s: &Stream) -> io::Result<()> {
    w.len(s.node_count() as u64)?;
    for (master, lp) in s.nodes() {
        w.string(&master.to_be_bytes())?;
        w.string(lp)?;
    }
    w.len(s.len())?;
    write_id(w, s.last_id())?;
    write_id(w, s.first_id())?;
    write_id(w, s.max_deleted_id())?;
    w.len(s.entries_added())?;
    w.len(s.groups().len() as u64)?;
    for (name, g) in s.groups() {
        w.string(name)?;
        write_id(w, g.last_id)?;
        // Redis stores -1 ("unknown") as the 64-bit length 2^64-1.
        w.len(g.entries_read.unwrap_or(u64::MAX))?;
        w.len(g.pel().len() as u64)?;
        for (id, p) in g.pel() {
            w.raw(&id.to_be_bytes())?;
            w.raw(&p.delivery_time_ms.to_le_bytes())?;
            w.len(p.delivery_count)?;
        }
        w.len(g.consumers().len() as u64)?;
        for (cname, c) in g.consumers() {
            w.string(cname)?;
            w.raw(&c.seen_time_ms.to_le_bytes())?;
            w.len(c.pel.len() as u64)?;
            for id in &c.pel {
                w.raw(&id.to_be_bytes())?;
            }
        }
    }
    Ok(())
}

fn read_id<R: Read>(r: &mut Reader<R>, what: &str) -> Result<StreamId, Corrupt> {
    let ms = r.plain_len(what)?;
    let seq = r.plain_len(what)?;
    Ok(StreamId::new(ms, seq))
}

fn read_raw_id<R: Read>(r: &mut Reader<R>, what: &str) -> Result<StreamId, Corrupt> {
    let mut b = [0u8; 16];
    r.exact(&mut b, what)?;
    Ok(StreamId::from_be_bytes(&b))
}

/// Reads a stream of RDB type `ty` (15, 19 or 21).
pub fn read_stream<R: Read>(r: &mut Reader<R>, ty: u8) -> Result<Stream, Corrupt> {
    let v7 = ty != types::STREAM_LISTPACKS;
    let nodes_n = r.plain_len("stream node count")?;
    let mut nodes = Vec::with_capacity((nodes_n as usize).min(PREALLOC_ITEMS_MAX));
    for _ in 0..nodes_n {
        let key = r.string("stream node key")?;
        let key: [u8; 16] = key
            .as_slice()
            .try_into()
            .map_err(|_| r.corrupt("stream node key is not 16 bytes"))?;
        let lp = r.string("stream listpack")?;
        let lp = Listpack::from_bytes(lp).ok_or_else(|| r.corrupt("invalid stream listpack"))?;
        nodes.push((StreamId::from_be_bytes(&key), lp));
    }
    let length = r.plain_len("stream length")?;
    let last_id = read_id(r, "stream last ID")?;
    let (first_id, max_deleted, entries_added) = if v7 {
        let first = read_id(r, "stream first ID")?;
        let max_del = read_id(r, "stream max deleted ID")?;
        let added = r.plain_len("stream entries added")?;
        (first, max_del, added)
    } else {
        (StreamId::ZERO, StreamId::ZERO, length)
    };
    let mut s = Stream::from_parts(nodes, length, last_id, first_id, max_deleted, entries_added)
        .ok_or_else(|| r.corrupt("stream nodes disagree with the stream header"))?;
    if !v7 {
        // Type 15 has no first ID: take the first live entry's.
        let first = s.first_entry().map_or(StreamId::ZERO, |e| e.id);
        s = Stream::from_parts(
            s.nodes()
                .map(|(k, lp)| Listpack::from_bytes(lp.to_vec()).map(|lp| (k, lp)))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| r.corrupt("invalid stream listpack"))?,
            length,
            last_id,
            first,
            StreamId::ZERO,
            length,
        )
        .ok_or_else(|| r.corrupt("stream nodes disagree with the stream header"))?;
    }
    let groups_n = r.plain_len("stream group count")?;
    for _ in 0..groups_n {
        let name = r.string("stream group name")?;
        let last = read_id(r, "stream group last ID")?;
        let entries_read = if v7 {
            match r.plain_len("stream group entries read")? {
                u64::MAX => None,
                n => Some(n),
            }
        } else {
            s.estimate_distance(last)
        };
        let mut g = ConsumerGroup::new(last, entries_read);
        let pel_n = r.plain_len("stream PEL size")?;
        for _ in 0..pel_n {
            let id = read_raw_id(r, "stream PEL ID")?;
            let time = r.u64_le("stream PEL delivery time")?;
            let count = r.plain_len("stream PEL delivery count")?;
            if !g.load_pending(id, time, count) {
                return Err(r.corrupt("duplicated ID in a stream group PEL"));
            }
        }
        let consumers_n = r.plain_len("stream consumer count")?;
        for _ in 0..consumers_n {
            let cname = r.string("stream consumer name")?;
            let seen = r.u64_le("stream consumer seen time")?;
            if ty == types::STREAM_LISTPACKS_3 {
                // 7.2's active time; 7.0 keeps only the seen time.
                r.u64_le("stream consumer active time")?;
            }
            let n = r.plain_len("stream consumer PEL size")?;
            let mut ids = Vec::with_capacity((n as usize).min(PREALLOC_ITEMS_MAX));
            for _ in 0..n {
                ids.push(read_raw_id(r, "stream consumer PEL ID")?);
            }
            if !g.load_consumer(&cname, seen, &ids) {
                return Err(r.corrupt("stream consumer PEL entry not in its group PEL"));
            }
        }
        if !g.all_pending_owned() {
            return Err(r.corrupt("stream group PEL entry without a consumer"));
        }
        if !s.load_group(&name, g) {
            return Err(r.corrupt("duplicated stream group name"));
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use strata_engine::types::stream::{NodeLimits, TrimArgs, TrimStrategy};
    use strata_engine::value::Value;
    use strata_engine::Keyspace;

    use super::*;

    fn sample() -> Stream {
        let mut s = Stream::new();
        let f = |a: &str, b: &str| vec![a.as_bytes().to_vec(), b.as_bytes().to_vec()];
        for i in 1..=250u64 {
            let fields = if i % 7 == 0 {
                f("other", "x")
            } else {
                f("n", &i.to_string())
            };
            s.append(StreamId::new(i, i % 3), &fields, NodeLimits::default())
                .unwrap();
        }
        s.delete(&[StreamId::new(5, 2), StreamId::new(200, 2)]);
        s.trim(TrimArgs {
            strategy: TrimStrategy::MaxLen(240),
            approx: false,
            limit: 0,
        });
        let mut g = ConsumerGroup::new(StreamId::new(30, 0), Some(30));
        g.touch_consumer(b"alice", 1_000);
        g.touch_consumer(b"bob", 2_000);
        g.deliver(StreamId::new(20, 2), b"alice", 1_500, Some(3));
        g.deliver(StreamId::new(21, 0), b"bob", 2_500, None);
        assert!(s.create_group(b"g", g));
        assert!(s.create_group(b"empty", ConsumerGroup::new(StreamId::ZERO, None)));
        s
    }

    #[test]
    fn streams_round_trip_in_memory() {
        let s = sample();
        let mut w = Writer::without_checksum(Vec::new(), true);
        write_stream(&mut w, &s).unwrap();
        let bytes = w.into_inner();
        let mut r = Reader::new(&bytes[..]);
        let back = read_stream(&mut r, types::STREAM_LISTPACKS_2).unwrap();
        assert_eq!(back, s);
        assert!(back.group(b"g").unwrap().is_consistent());
        // Truncated input is an error, never a panic.
        for cut in [1, bytes.len() / 3, bytes.len() - 1] {
            let mut r = Reader::new(&bytes[..cut]);
            assert!(read_stream(&mut r, types::STREAM_LISTPACKS_2).is_err());
        }
    }

    #[test]
    fn streams_round_trip_through_a_file_redis_accepts() {
        let dir = std::env::temp_dir().join(format!("strata-rdb-stream-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("dump.rdb");
        let mut ks = Keyspace::new(16);
        ks.set_now_ms(1_000_000);
        let value = Value::Stream(Box::new(sample()));
        ks.db(0).set(b"s", value.clone(), false);
        super::super::tests::save_keyspace(&mut ks, &path, true);
        let mut got = None;
        super::super::load::load(std::fs::File::open(&path).unwrap(), true, |item| {
            if let super::super::load::Item::Entry { value, .. } = item {
                got = Some(value);
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(got, Some(value));
        if let Ok(out) = std::process::Command::new("redis-check-rdb")
            .arg(&path)
            .output()
        {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains("RDB looks OK!"), "{text}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
