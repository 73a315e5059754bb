//! Hashes with Redis 7.0's two encodings:
//! - "listpack": one packed buffer of field, value, field, value ... in
//!   insertion order, while the hash has at most `hash_max_listpack_entries`
//!   fields and every field and value is at most `hash_max_listpack_value`
//!   bytes;
//! - "hashtable": a `Dict` (SCAN cursor guarantees, random sampling).
//!
//! Conversion is one way (listpack → hashtable), on the write that breaks a
//! limit, as in Redis.
//!
//! Invariants: a `Packed` buffer's `aux` holds the number of fields (the
//! buffer holds twice as many entries); `Table::bytes` is the sum of field
//! and value lengths, so `mem_bytes` is O(1).
//!
//! A `Hash` is an 8-byte handle (see tagged.rs) and sits unboxed in `Value`:
//! a small hash costs one allocation, as Redis's listpack behind its robj.

use super::packed;
use super::tagged::{Form, SmallOrBig, ThinBuf, ThinRepr};
use crate::dict::{Dict, Hasher};
use crate::value::Encodings;

/// Heap bytes of one dict node holding a field and a value (node + two boxes'
/// allocator rounding, roughly).
const TABLE_NODE_BYTES: usize = 48 + 16;

/// A listpack-encoded hash in one exact-size allocation: field, value,
/// field, value ... entries, with the field count in the buffer's `aux`.
#[derive(Debug, Clone, Default, PartialEq)]
#[repr(transparent)]
pub struct Packed(ThinBuf);

// SAFETY: Packed is #[repr(transparent)] over ThinBuf.
unsafe impl ThinRepr for Packed {
    fn into_buf(self) -> ThinBuf {
        self.0
    }
    fn from_buf(buf: ThinBuf) -> Packed {
        Packed(buf)
    }
}

pub struct Table {
    dict: Dict<Box<[u8]>>,
    hasher: Hasher,
    bytes: usize,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("len", &self.dict.len())
            .finish()
    }
}

/// A hash: a packed listpack or a boxed table, in 8 bytes.
pub struct Hash(SmallOrBig<Packed, Table>);

impl Default for Hash {
    fn default() -> Self {
        Hash(SmallOrBig::small(Packed::default()))
    }
}

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hash({}, {} fields)", self.encoding_name(), self.len())
    }
}

impl Clone for Hash {
    fn clone(&self) -> Hash {
        match self.0.get() {
            Form::Small(p) => Hash(SmallOrBig::small(p.clone())),
            Form::Big(t) => {
                let mut out = Table::new();
                for (k, v) in t.dict.iter() {
                    out.insert(k, v);
                }
                Hash(SmallOrBig::big(Box::new(out)))
            }
        }
    }
}

impl PartialEq for Hash {
    fn eq(&self, other: &Hash) -> bool {
        self.len() == other.len() && self.iter().all(|(f, v)| other.get(f) == Some(v))
    }
}

impl Table {
    fn new() -> Table {
        Table {
            dict: Dict::new(),
            hasher: Hasher::default(),
            bytes: 0,
        }
    }

    fn get(&self, field: &[u8]) -> Option<&[u8]> {
        self.dict
            .get(self.hasher.hash(field), field)
            .map(|v| &v[..])
    }

    /// Inserts or replaces; true if the field is new.
    fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        let hash = self.hasher.hash(field);
        match self.dict.get_mut(hash, field) {
            Some(slot) => {
                self.bytes = self.bytes + value.len() - slot.len();
                *slot = value.into();
                false
            }
            None => {
                self.bytes += field.len() + value.len();
                self.dict
                    .insert_new(&self.hasher, hash, field, value.into());
                true
            }
        }
    }

    fn remove(&mut self, field: &[u8]) -> bool {
        let hash = self.hasher.hash(field);
        match self.dict.remove(&self.hasher, hash, field) {
            Some(v) => {
                self.bytes -= field.len() + v.len();
                true
            }
            None => false,
        }
    }
}

impl Packed {
    fn count(&self) -> usize {
        self.0.aux() as usize
    }

    fn entries(&self) -> &[u8] {
        self.0.bytes()
    }

    /// Offsets of (field entry, value entry, end of the pair).
    fn find(&self, field: &[u8]) -> Option<(usize, usize, usize)> {
        let buf = self.entries();
        let mut off = 0;
        while off < buf.len() {
            let (f, voff) = packed::read(buf, off);
            let (_, end) = packed::read(buf, voff);
            if f == field {
                return Some((off, voff, end));
            }
            off = end;
        }
        None
    }

    /// Replaces the value entry `voff..end` with `value`.
    fn replace_value(&mut self, voff: usize, end: usize, value: &[u8]) {
        self.0
            .splice_with(voff, end, packed::entry_size(value.len()), |out| {
                packed::write(out, value)
            });
    }

    /// Appends a new (field, value) pair.
    fn push(&mut self, field: &[u8], value: &[u8]) {
        let (fsize, vsize) = (
            packed::entry_size(field.len()),
            packed::entry_size(value.len()),
        );
        let end = self.0.len();
        let count = self.0.aux();
        self.0.splice_with(end, end, fsize + vsize, |out| {
            let (f, v) = out.split_at_mut(fsize);
            packed::write(f, field);
            packed::write(v, value);
        });
        self.0.set_aux(count + 1);
    }

    /// Removes the pair `off..end`.
    fn remove(&mut self, off: usize, end: usize) {
        let count = self.0.aux();
        self.0.splice(off, end, &[]);
        self.0.set_aux(count.saturating_sub(1));
    }

    fn pairs(&self) -> PackedPairs<'_> {
        PackedPairs {
            inner: packed::iter(self.entries()),
        }
    }
}

struct PackedPairs<'a> {
    inner: packed::Iter<'a>,
}

impl<'a> Iterator for PackedPairs<'a> {
    type Item = (&'a [u8], &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        let f = self.inner.next()?;
        let v = self.inner.next()?;
        Some((f, v))
    }
}

/// Iterator over (field, value) pairs in the hash's own order.
pub struct Iter<'a>(IterInner<'a>);

enum IterInner<'a> {
    Packed(PackedPairs<'a>),
    Table(crate::dict::Iter<'a, Box<[u8]>>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            IterInner::Packed(p) => p.next(),
            IterInner::Table(t) => t.next().map(|(k, v)| (k, &v[..])),
        }
    }
}

impl Hash {
    pub fn new() -> Hash {
        Hash::default()
    }

    pub fn len(&self) -> usize {
        match self.0.get() {
            Form::Small(p) => p.count(),
            Form::Big(t) => t.dict.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the encoding is "listpack".
    pub fn is_listpack(&self) -> bool {
        !self.0.is_big()
    }

    pub fn encoding_name(&self) -> &'static str {
        if self.is_listpack() {
            "listpack"
        } else {
            "hashtable"
        }
    }

    /// Approximate heap bytes, O(1).
    pub fn mem_bytes(&self) -> usize {
        match self.0.get() {
            Form::Small(p) => p.0.alloc_bytes(),
            Form::Big(t) => {
                std::mem::size_of::<Table>()
                    + t.bytes
                    + t.dict.len() * TABLE_NODE_BYTES
                    + t.dict.bucket_count() * std::mem::size_of::<usize>()
            }
        }
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self.0.get() {
            Form::Small(p) => p
                .find(field)
                .map(|(_, voff, _)| packed::read(p.entries(), voff).0),
            Form::Big(t) => t.get(field),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Starts loading what looking up `fields` will read (a pipelined batch
    /// of HSET/HGET ... on a big hash; see `Dict::prefetch_lookups`). A
    /// listpack is one buffer, in cache after the first lookup.
    pub fn prefetch_fields(&self, fields: &[&[u8]]) {
        if let Form::Big(t) = self.0.get() {
            t.dict.prefetch_keys(&t.hasher, fields);
        }
    }

    /// Sets `field` to `value`, converting to a hashtable when a limit is
    /// passed. Returns true if the field is new.
    pub fn set(&mut self, field: &[u8], value: &[u8], enc: &Encodings) -> bool {
        if self.is_listpack()
            && (field.len() > enc.hash_max_listpack_value
                || value.len() > enc.hash_max_listpack_value)
        {
            self.convert_to_table();
        }
        let created = match self.0.get_mut() {
            Form::Small(p) => match p.find(field) {
                Some((_, voff, end)) => {
                    p.replace_value(voff, end, value);
                    false
                }
                None => {
                    p.push(field, value);
                    true
                }
            },
            Form::Big(t) => t.insert(field, value),
        };
        if self.is_listpack() && self.len() > enc.hash_max_listpack_entries {
            self.convert_to_table();
        }
        created
    }

    /// Removes `field`; true if it was there. (No conversion back, as Redis.)
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self.0.get_mut() {
            Form::Small(p) => match p.find(field) {
                Some((off, _, end)) => {
                    p.remove(off, end);
                    true
                }
                None => false,
            },
            Form::Big(t) => t.remove(field),
        }
    }

    /// Converts to the hashtable encoding (no-op if it already is).
    pub fn convert_to_table(&mut self) {
        if let Form::Small(p) = self.0.get() {
            let mut t = Table::new();
            for (f, v) in p.pairs() {
                t.insert(f, v);
            }
            self.0 = SmallOrBig::big(Box::new(t));
        }
    }

    pub fn iter(&self) -> Iter<'_> {
        Iter(match self.0.get() {
            Form::Small(p) => IterInner::Packed(p.pairs()),
            Form::Big(t) => IterInner::Table(t.dict.iter()),
        })
    }

    /// A uniformly random (field, value) (HRANDFIELD). None when empty.
    pub fn random_pair(&self, mut rand: impl FnMut() -> u64) -> Option<(&[u8], &[u8])> {
        match self.0.get() {
            Form::Small(p) => {
                let count = p.count();
                if count == 0 {
                    return None;
                }
                let pick = (rand() % count as u64) as usize;
                p.pairs().nth(pick)
            }
            Form::Big(t) => t.dict.random(rand).map(|(k, v)| (k, &v[..])),
        }
    }

    /// One HSCAN step. A listpack hash is returned whole with next cursor 0
    /// (as Redis does); a hashtable visits one bucket per call.
    pub fn scan(&self, cursor: u64, mut visit: impl FnMut(&[u8], &[u8])) -> u64 {
        match self.0.get() {
            Form::Small(p) => {
                for (f, v) in p.pairs() {
                    visit(f, v);
                }
                0
            }
            Form::Big(t) => t.dict.scan(cursor, |k, v| visit(k, v)),
        }
    }

    /// Whether HSCAN returns everything in one call (listpack encoding).
    pub fn scans_whole(&self) -> bool {
        self.is_listpack()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc() -> Encodings {
        Encodings {
            hash_max_listpack_entries: 4,
            hash_max_listpack_value: 8,
            ..Encodings::default()
        }
    }

    #[test]
    fn listpack_keeps_insertion_order() {
        let mut h = Hash::new();
        assert!(h.set(b"b", b"1", &enc()));
        assert!(h.set(b"a", b"2", &enc()));
        assert!(!h.set(b"b", b"3", &enc()));
        assert_eq!(h.encoding_name(), "listpack");
        let pairs: Vec<(Vec<u8>, Vec<u8>)> =
            h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
        assert_eq!(
            pairs,
            vec![
                (b"b".to_vec(), b"3".to_vec()),
                (b"a".to_vec(), b"2".to_vec())
            ]
        );
        assert_eq!(h.get(b"a"), Some(&b"2"[..]));
        assert!(h.remove(b"b"));
        assert!(!h.remove(b"b"));
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn converts_on_entry_count() {
        let mut h = Hash::new();
        for i in 0..4 {
            h.set(format!("f{i}").as_bytes(), b"v", &enc());
        }
        assert_eq!(h.encoding_name(), "listpack");
        h.set(b"f4", b"v", &enc());
        assert_eq!(h.encoding_name(), "hashtable");
        assert_eq!(h.len(), 5);
        for i in 0..5 {
            h.remove(format!("f{i}").as_bytes());
        }
        assert!(h.is_empty());
        assert_eq!(h.encoding_name(), "hashtable", "never converts back");
    }

    #[test]
    fn converts_on_long_field_or_value() {
        let mut h = Hash::new();
        h.set(b"f", b"12345678", &enc());
        assert_eq!(h.encoding_name(), "listpack");
        h.set(b"f", b"123456789", &enc());
        assert_eq!(h.encoding_name(), "hashtable");
        assert_eq!(h.get(b"f"), Some(&b"123456789"[..]));
        let mut g = Hash::new();
        g.set(b"123456789", b"x", &enc());
        assert_eq!(g.encoding_name(), "hashtable");
    }

    #[test]
    fn table_accounting_and_scan() {
        let mut h = Hash::new();
        let e = Encodings::default();
        for i in 0..1000 {
            h.set(
                format!("field{i}").as_bytes(),
                format!("{i}").as_bytes(),
                &e,
            );
        }
        assert_eq!(h.encoding_name(), "hashtable");
        let m1 = h.mem_bytes();
        for i in 0..900 {
            h.remove(format!("field{i}").as_bytes());
        }
        assert!(h.mem_bytes() < m1);
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        loop {
            cursor = h.scan(cursor, |f, _| {
                seen.insert(f.to_vec());
            });
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), 100);
        let mut x = 1u64;
        let (f, v) = h
            .random_pair(|| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                x >> 11
            })
            .unwrap();
        assert_eq!(h.get(f), Some(v));
        assert_eq!(h.clone(), h);
    }

    mod model {
        use super::super::*;
        use proptest::prelude::*;
        use std::collections::HashMap;

        #[derive(Debug, Clone)]
        enum Op {
            Set(Vec<u8>, Vec<u8>),
            Remove(Vec<u8>),
        }

        fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                8 => prop::collection::vec(b'a'..b'h', 0..3),
                1 => prop::collection::vec(any::<u8>(), 0..max),
            ]
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                3 => (bytes(12), bytes(12)).prop_map(|(f, v)| Op::Set(f, v)),
                1 => bytes(12).prop_map(Op::Remove),
            ]
        }

        proptest! {
            #[test]
            fn hash_matches_hashmap(ops in prop::collection::vec(op(), 1..150), entries in 1usize..40, value in 1usize..12) {
                let enc = Encodings { hash_max_listpack_entries: entries, hash_max_listpack_value: value, ..Encodings::default() };
                let mut h = Hash::new();
                let mut m: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
                let mut order: Vec<Vec<u8>> = Vec::new();
                let mut must_be_table = false;
                for op in ops {
                    match op {
                        Op::Set(f, v) => {
                            must_be_table |= f.len() > value || v.len() > value;
                            let new = h.set(&f, &v, &enc);
                            prop_assert_eq!(new, !m.contains_key(&f));
                            if new { order.push(f.clone()); }
                            m.insert(f, v);
                            must_be_table |= m.len() > entries;
                        }
                        Op::Remove(f) => {
                            prop_assert_eq!(h.remove(&f), m.remove(&f).is_some());
                            order.retain(|x| x != &f);
                        }
                    }
                    prop_assert_eq!(h.len(), m.len());
                    prop_assert_eq!(h.encoding_name(), if must_be_table { "hashtable" } else { "listpack" });
                }
                for (f, v) in &m {
                    prop_assert_eq!(h.get(f), Some(&v[..]));
                }
                let keys: Vec<Vec<u8>> = h.iter().map(|(f, _)| f.to_vec()).collect();
                if !must_be_table {
                    prop_assert_eq!(&keys, &order, "listpack keeps insertion order");
                }
                let mut sorted = keys.clone();
                sorted.sort();
                let mut want: Vec<Vec<u8>> = m.keys().cloned().collect();
                want.sort();
                prop_assert_eq!(sorted, want);
            }
        }
    }
}
