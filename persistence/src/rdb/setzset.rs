//! RDB records of sets and sorted sets.
//!
//! Writes what Redis 7.0 writes: an intset as SET_INTSET (the intset blob at
//! its current width), a hashtable as SET (count, members), a listpack sorted
//! set as ZSET_LISTPACK (member, score pairs; scores in `d2string` form), a
//! skiplist as ZSET_2 (count, then member and binary score from the highest
//! to the lowest, so loading inserts at the head).
//!
//! Reads SET, SET_INTSET, SET_LISTPACK (Redis 7.2), ZSET, ZSET_2,
//! ZSET_ZIPLIST and ZSET_LISTPACK, choosing encodings as Redis 7.0's loader
//! does for the given limits. Duplicates and NaN scores are corruption.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::indexing_slicing))]

use std::io::{self, Read, Write};

use strata_engine::types::intset::IntSet;
use strata_engine::types::set::Set;
use strata_engine::types::zset::{listpack_score_text, ZSet};
use strata_engine::value::Value;
use strata_engine::Encodings;

use super::compact::{self, Elem};
use super::reader::Reader;
use super::types;
use super::writer::Writer;
use super::Corrupt;

pub fn set_type_byte(s: &Set) -> u8 {
    if s.as_intset().is_some() {
        types::SET_INTSET
    } else {
        types::SET
    }
}

pub fn zset_type_byte(z: &ZSet) -> u8 {
    if z.is_listpack() {
        types::ZSET_LISTPACK
    } else {
        types::ZSET_2
    }
}

pub fn write_set<W: Write>(w: &mut Writer<W>, s: &Set) -> io::Result<()> {
    if let Some(is) = s.as_intset() {
        return w.string(&is.to_blob());
    }
    w.len(s.len() as u64)?;
    for m in s.iter() {
        m.with_bytes(|b| w.string(b))?;
    }
    Ok(())
}

pub fn write_zset<W: Write>(w: &mut Writer<W>, z: &ZSet) -> io::Result<()> {
    match z.is_listpack() {
        true => {
            let mut items: Vec<Vec<u8>> = Vec::with_capacity(z.len() * 2);
            for (m, s) in z.iter() {
                items.push(m.to_vec());
                items.push(listpack_score_text(s).into_bytes());
            }
            w.string(&compact::listpack_encode(
                items.iter().map(|i| i.as_slice()),
            ))
        }
        false => {
            w.len(z.len() as u64)?;
            if z.is_empty() {
                return Ok(());
            }
            for (m, s) in z.iter_from(z.len() - 1, true) {
                w.string(m)?;
                w.binary_double(s)?;
            }
            Ok(())
        }
    }
}

fn blob_error<R: Read>(r: &Reader<R>, what: &str, e: String) -> Corrupt {
    r.corrupt(format!("invalid {what}: {e}"))
}

/// Reads a set record of type `ty`.
pub fn read_set<R: Read>(r: &mut Reader<R>, ty: u8, enc: &Encodings) -> Result<Value, Corrupt> {
    let intset_max = enc.set_max_intset_entries;
    let dup = |r: &Reader<R>| r.corrupt("Duplicate set members detected");
    let set = match ty {
        types::SET => {
            let n = r.plain_len("set size")?;
            let mut s = if n > intset_max as u64 {
                Set::new_hashtable()
            } else {
                Set::new()
            };
            for _ in 0..n {
                let m = r.string("set member")?;
                if !s.insert(&m, intset_max) {
                    return Err(dup(r));
                }
            }
            s
        }
        types::SET_INTSET => {
            let blob = r.string("intset")?;
            let values = compact::intset_decode(&blob).map_err(|e| blob_error(r, "intset", e))?;
            let width = blob.first().copied().unwrap_or(8) as usize;
            let mut s = Set::from_intset(IntSet::from_sorted(&values, width));
            if s.len() > intset_max {
                s.convert_to_hashtable();
            }
            s
        }
        types::SET_LISTPACK => {
            let blob = r.string("set listpack")?;
            let items =
                compact::listpack_decode(&blob).map_err(|e| blob_error(r, "listpack", e))?;
            let mut s = Set::new();
            for item in items {
                if !s.insert(&item.into_bytes(), intset_max) {
                    return Err(dup(r));
                }
            }
            s
        }
        other => return Err(r.corrupt(format!("not a set type: {other}"))),
    };
    Ok(Value::Set(set))
}

/// A listpack or ziplist score element (zzlStrtod on text).
fn elem_score(e: Elem) -> Option<f64> {
    match e {
        Elem::Int(n) => Some(n as f64),
        Elem::Bytes(b) => std::str::from_utf8(&b).ok()?.parse::<f64>().ok(),
    }
}

/// Builds a listpack-encoded sorted set from (member, score) pairs, as the
/// loader keeps ZSET_LISTPACK/ZSET_ZIPLIST blobs (only the count is checked).
fn from_pairs<R: Read>(r: &Reader<R>, items: Vec<Elem>, enc: &Encodings) -> Result<ZSet, Corrupt> {
    if !items.len().is_multiple_of(2) {
        return Err(r.corrupt("sorted set blob with an odd number of elements"));
    }
    let unlimited = Encodings {
        zset_max_listpack_entries: usize::MAX,
        zset_max_listpack_value: usize::MAX,
        ..*enc
    };
    let mut z = ZSet::new_listpack();
    let mut it = items.into_iter();
    while let (Some(m), Some(s)) = (it.next(), it.next()) {
        let m = m.into_bytes();
        let score = elem_score(s)
            .filter(|s| !s.is_nan())
            .ok_or_else(|| r.corrupt("invalid sorted set score"))?;
        if z.score(&m).is_some() {
            return Err(r.corrupt("Duplicate zset fields detected"));
        }
        z.insert(&m, score, &unlimited);
    }
    if z.len() > enc.zset_max_listpack_entries {
        z.convert_to_skiplist();
    }
    Ok(z)
}

/// Reads a sorted-set record of type `ty`.
pub fn read_zset<R: Read>(r: &mut Reader<R>, ty: u8, enc: &Encodings) -> Result<Value, Corrupt> {
    let z = match ty {
        types::ZSET | types::ZSET_2 => {
            let n = r.plain_len("zset size")?;
            let mut z = ZSet::new_skiplist();
            for _ in 0..n {
                let m = r.string("zset member")?;
                let score = if ty == types::ZSET_2 {
                    r.binary_double("zset score")?
                } else {
                    r.string_double("zset score")?
                };
                if score.is_nan() {
                    return Err(r.corrupt("Zset with NAN score detected"));
                }
                if z.score(&m).is_some() {
                    return Err(r.corrupt("Duplicate zset fields detected"));
                }
                z.insert(&m, score, enc);
            }
            // Loaded as a skiplist, converted after: the file is not ordered.
            z.shrink_if_fits(enc);
            z
        }
        types::ZSET_ZIPLIST => {
            let blob = r.string("zset ziplist")?;
            let items = compact::ziplist_decode(&blob).map_err(|e| blob_error(r, "ziplist", e))?;
            from_pairs(r, items, enc)?
        }
        types::ZSET_LISTPACK => {
            let blob = r.string("zset listpack")?;
            let items =
                compact::listpack_decode(&blob).map_err(|e| blob_error(r, "listpack", e))?;
            from_pairs(r, items, enc)?
        }
        other => return Err(r.corrupt(format!("not a sorted set type: {other}"))),
    };
    Ok(Value::ZSet(z))
}

#[cfg(test)]
mod tests {
    use crate::rdb::dump::{dump, restore};
    use strata_engine::types::zset::ZSet;
    use strata_engine::value::Value;
    use strata_engine::Encodings;

    const LONG65: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ!@#";

    /// DUMP payloads from redis-server 7.0.15.
    const SI: &[u8] = b"\x0b\x18\x04\x00\x00\x00\x04\x00\x00\x00\x90\xee\xfe\xff\x01\x00\x00\x00\x02\x00\x00\x00\x03\x00\x00\x00\x0a\x00\xa8\xb6<b,\xbf,\x9c";
    const SH: &[u8] = b"\x02\x01\x05hello\x0a\x004\x98\xac\x0e\xe7\xd46a";
    const ZL: &[u8] = b"\x1144\x00\x00\x00\x0a\x00\x81d\x02\x84-inf\x05\x81a\x02\x01\x01\x81b\x02\x832.5\x04\x81e\x02\xf4P\xf30\xa6K\x9b\xb6\x01\x09\x81c\x02\x851e+20\x06\xff\x0a\x00\xdd\xb4\xfdxT\x7f\xd9\x12";
    const ZS: &[u8] = b"\x05\x03\x01b\x00\x00\x00\x00\x00\x00\x04@\x01a\x00\x00\x00\x00\x00\x00\xf0?@Aabcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ!@#\x00\x00\x00\x00\x00\x00\x00\x80\x0a\x00\x97\xfd:U\xfc_~\xc5";

    fn zset(v: &Value) -> &ZSet {
        match v {
            Value::ZSet(z) => z,
            other => panic!("not a zset: {other:?}"),
        }
    }

    #[test]
    fn redis_payloads_load_and_write_back_byte_for_byte() {
        for payload in [SI, SH, ZL, ZS] {
            let v = restore(payload, true).expect("restore");
            assert_eq!(dump(&v, true), payload, "{v:?}");
        }
        let zl = restore(ZL, true).expect("zl");
        let z = zset(&zl);
        assert_eq!(z.encoding_name(), "listpack");
        assert_eq!(z.score(b"e"), Some(123456789012345678.0));
        assert_eq!(z.score(b"d"), Some(f64::NEG_INFINITY));
        let zs = restore(ZS, true).expect("zs");
        let z = zset(&zs);
        assert_eq!(z.encoding_name(), "skiplist");
        assert!(
            z.score(LONG65).expect("member").is_sign_negative(),
            "-0 survives a skiplist"
        );
    }

    #[test]
    fn load_applies_the_encoding_limits() {
        let enc = Encodings::default();
        let mut big = ZSet::new_skiplist();
        for i in 0..200 {
            big.insert(format!("m{i}").as_bytes(), i as f64, &enc);
        }
        let v = restore(&dump(&Value::ZSet(big), true), true).expect("big");
        assert_eq!(zset(&v).encoding_name(), "skiplist");
        assert_eq!(zset(&v).len(), 200);
        // A small skiplist (made by a STORE command in another server) loads as a listpack.
        let mut small = ZSet::new_skiplist();
        small.insert(b"a", 1.0, &enc);
        let v = restore(&dump(&Value::ZSet(small), true), true).expect("small");
        assert_eq!(zset(&v).encoding_name(), "listpack");
    }

    #[test]
    fn corrupt_records_are_errors() {
        // SET with a duplicate member: type 2, two members "a".
        let mut p = b"\x02\x02\x01a\x01a".to_vec();
        p.extend_from_slice(b"\x0a\x00");
        let crc = crate::crc64::checksum(&p);
        p.extend_from_slice(&crc.to_le_bytes());
        assert!(restore(&p, true).is_err());
        // An empty set is refused by RESTORE.
        let mut p = b"\x02\x00\x0a\x00".to_vec();
        let crc = crate::crc64::checksum(&p);
        p.extend_from_slice(&crc.to_le_bytes());
        assert!(restore(&p, true).is_err());
        // A NaN score.
        let mut p = b"\x05\x01\x01a".to_vec();
        p.extend_from_slice(&f64::NAN.to_bits().to_le_bytes());
        p.extend_from_slice(b"\x0a\x00");
        let crc = crate::crc64::checksum(&p);
        p.extend_from_slice(&crc.to_le_bytes());
        assert!(restore(&p, true).is_err());
    }
}
