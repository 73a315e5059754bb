//! RDB records of lists and hashes.
//!
//! Writes what Redis 7.0 writes: a list as LIST_QUICKLIST_2 (one packed
//! listpack per node), a listpack hash as HASH_LISTPACK, a hashtable hash as
//! HASH (count, then field and value strings).
//!
//! Reads every list and hash encoding of RDB versions 1 to 12: LIST,
//! LIST_ZIPLIST, LIST_QUICKLIST (ziplist nodes), LIST_QUICKLIST_2 (plain and
//! packed nodes), HASH, HASH_ZIPMAP, HASH_ZIPLIST, HASH_LISTPACK, choosing
//! the in-memory encoding from the configured limits. Duplicate hash fields
//! are corruption.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::indexing_slicing))]

use std::io::{self, Read, Write};

use strata_engine::value::{Encodings, Hash, List, Value};

use super::compact::{self, Elem};
use super::reader::Reader;
use super::types;
use super::writer::Writer;
use super::Corrupt;

/// Quicklist node containers (RDB type 18).
const CONTAINER_PLAIN: u64 = 1;
const CONTAINER_PACKED: u64 = 2;

pub fn list_type_byte(_l: &List) -> u8 {
    types::LIST_QUICKLIST_2
}

pub fn hash_type_byte(h: &Hash) -> u8 {
    if h.is_listpack() {
        types::HASH_LISTPACK
    } else {
        types::HASH
    }
}

pub fn write_list<W: Write>(w: &mut Writer<W>, l: &List) -> io::Result<()> {
    w.len(l.node_count() as u64)?;
    for node in l.nodes() {
        let elems: Vec<&[u8]> = node.collect();
        w.len(CONTAINER_PACKED)?;
        w.string(&compact::listpack_encode(elems))?;
    }
    Ok(())
}

pub fn write_hash<W: Write>(w: &mut Writer<W>, h: &Hash) -> io::Result<()> {
    match h.is_listpack() {
        true => {
            let mut items: Vec<&[u8]> = Vec::with_capacity(h.len() * 2);
            for (f, v) in h.iter() {
                items.push(f);
                items.push(v);
            }
            w.string(&compact::listpack_encode(items))
        }
        false => {
            w.len(h.len() as u64)?;
            for (f, v) in h.iter() {
                w.string(f)?;
                w.string(v)?;
            }
            Ok(())
        }
    }
}

fn bad<R: Read>(r: &Reader<R>, what: impl Into<String>) -> Corrupt {
    r.corrupt(what)
}

pub fn read_list<R: Read>(r: &mut Reader<R>, ty: u8, enc: &Encodings) -> Result<Value, Corrupt> {
    let fill = enc.list_max_listpack_size;
    let mut list = List::new();
    match ty {
        types::LIST => {
            let n = r.plain_len("list length")?;
            for _ in 0..n {
                let e = r.string("list element")?;
                list.push_back(&e, fill);
            }
        }
        types::LIST_ZIPLIST => {
            let blob = r.string("list ziplist")?;
            for e in compact::ziplist_decode(&blob)
                .map_err(|e| bad(r, format!("invalid list ziplist: {e}")))?
            {
                list.push_back(&e.into_bytes(), fill);
            }
        }
        types::LIST_QUICKLIST | types::LIST_QUICKLIST_2 => {
            let nodes = r.plain_len("quicklist node count")?;
            for _ in 0..nodes {
                let container = if ty == types::LIST_QUICKLIST_2 {
                    r.plain_len("quicklist container")?
                } else {
                    CONTAINER_PACKED
                };
                let blob = r.string("quicklist node")?;
                match (ty, container) {
                    (types::LIST_QUICKLIST_2, CONTAINER_PLAIN) => list.push_back(&blob, fill),
                    (types::LIST_QUICKLIST_2, CONTAINER_PACKED) => {
                        let elems = compact::listpack_decode(&blob)
                            .map_err(|e| bad(r, format!("invalid quicklist listpack: {e}")))?;
                        for e in elems {
                            list.push_back(&e.into_bytes(), fill);
                        }
                    }
                    (types::LIST_QUICKLIST, _) => {
                        let elems = compact::ziplist_decode(&blob)
                            .map_err(|e| bad(r, format!("invalid quicklist ziplist: {e}")))?;
                        for e in elems {
                            list.push_back(&e.into_bytes(), fill);
                        }
                    }
                    (_, other) => {
                        return Err(bad(r, format!("unknown quicklist container {other}")))
                    }
                }
            }
        }
        other => return Err(bad(r, format!("not a list type {other}"))),
    }
    Ok(Value::List(Box::new(list)))
}

pub fn read_hash<R: Read>(r: &mut Reader<R>, ty: u8, enc: &Encodings) -> Result<Value, Corrupt> {
    let mut hash = Hash::new();
    let put = |r: &Reader<R>, f: &[u8], v: &[u8], hash: &mut Hash| -> Result<(), Corrupt> {
        if !hash.set(f, v, enc) {
            return Err(bad(r, "duplicate hash field"));
        }
        Ok(())
    };
    match ty {
        types::HASH => {
            let n = r.plain_len("hash length")?;
            for _ in 0..n {
                let f = r.string("hash field")?;
                let v = r.string("hash value")?;
                put(r, &f, &v, &mut hash)?;
            }
        }
        types::HASH_ZIPMAP => {
            let blob = r.string("hash zipmap")?;
            let pairs = compact::zipmap_decode(&blob)
                .map_err(|e| bad(r, format!("invalid zipmap: {e}")))?;
            for (f, v) in pairs {
                put(r, &f, &v, &mut hash)?;
            }
        }
        types::HASH_ZIPLIST | types::HASH_LISTPACK => {
            let blob = r.string("hash listpack")?;
            let elems = if ty == types::HASH_ZIPLIST {
                compact::ziplist_decode(&blob)
            } else {
                compact::listpack_decode(&blob)
            }
            .map_err(|e| bad(r, format!("invalid hash encoding: {e}")))?;
            if elems.len() % 2 != 0 {
                return Err(bad(r, "hash listpack with an odd number of entries"));
            }
            let mut it = elems.into_iter().map(Elem::into_bytes);
            while let (Some(f), Some(v)) = (it.next(), it.next()) {
                put(r, &f, &v, &mut hash)?;
            }
        }
        other => return Err(bad(r, format!("not a hash type {other}"))),
    }
    Ok(Value::Hash(hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(v: &Value, ty: u8) -> Value {
        let mut w = Writer::new(Vec::new(), true);
        match v {
            Value::List(l) => write_list(&mut w, l).unwrap(),
            Value::Hash(h) => write_hash(&mut w, h).unwrap(),
            _ => unreachable!(),
        }
        let buf = w.into_inner();
        let mut r = Reader::new(&buf[..]);
        let enc = Encodings::default();
        match v {
            Value::List(_) => read_list(&mut r, ty, &enc).unwrap(),
            _ => read_hash(&mut r, ty, &enc).unwrap(),
        }
    }

    #[test]
    fn lists_and_hashes_round_trip() {
        let mut l = List::new();
        for i in 0..2000 {
            l.push_back(format!("element-{i}").as_bytes(), -2);
        }
        let v = Value::List(Box::new(l));
        let back = round_trip(&v, types::LIST_QUICKLIST_2);
        assert_eq!(back, v);
        let enc = Encodings::default();
        let mut small = Hash::new();
        small.set(b"a", b"1", &enc);
        let v = Value::Hash(small);
        assert_eq!(round_trip(&v, types::HASH_LISTPACK), v);
        let mut big = Hash::new();
        for i in 0..1000 {
            big.set(format!("f{i}").as_bytes(), b"v", &enc);
        }
        let v = Value::Hash(big);
        assert_eq!(
            hash_type_byte(match &v {
                Value::Hash(h) => h,
                _ => unreachable!(),
            }),
            types::HASH
        );
        assert_eq!(round_trip(&v, types::HASH), v);
    }

    #[test]
    fn redis_dump_payloads_decode() {
        // redis-server 7.0.15: HSET h a 1 -> listpack payload; RPUSH l a b 3 -> quicklist 2.
        let hash_lp = b"\x0c\x0c\x00\x00\x00\x02\x00\x81a\x02\x01\x01\xff";
        let mut r = Reader::new(&hash_lp[..]);
        let v = read_hash(&mut r, types::HASH_LISTPACK, &Encodings::default()).unwrap();
        let Value::Hash(h) = v else { panic!() };
        assert_eq!(h.get(b"a"), Some(&b"1"[..]));
        let list = b"\x01\x02\x0f\x0f\x00\x00\x00\x03\x00\x81a\x02\x81b\x02\x03\x01\xff";
        let mut r = Reader::new(&list[..]);
        let v = read_list(&mut r, types::LIST_QUICKLIST_2, &Encodings::default()).unwrap();
        let Value::List(l) = v else { panic!() };
        let items: Vec<&[u8]> = l.iter().collect();
        assert_eq!(items, vec![&b"a"[..], b"b", b"3"]);
    }
}
