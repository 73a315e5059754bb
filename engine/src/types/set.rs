//! The set type with Redis 7.0's two encodings:
//! - "intset" while every member is an integer (in `string2ll` form) and the
//!   set holds at most `set-max-intset-entries` members;
//! - "hashtable" otherwise: a `Dict<()>`, so SSCAN keeps Redis's cursor
//!   guarantee and a random member costs O(1) on average.
//!
//! Invariants:
//! - conversion is one way (intset -> hashtable), as in Redis 7.0;
//! - `HashSet::bytes` is the running total behind `mem_bytes`, which is O(1).

use std::sync::OnceLock;

use crate::dict::{Dict, Hasher};
use crate::types::intset::IntSet;
use crate::types::tagged::{Form, SmallOrBig};
use crate::value::{fmt_i64, parse_i64_strict};

/// Approximate bytes a hashtable node costs besides its key (node box, key
/// pointer and length, chain link, allocator rounding).
pub const HASH_NODE_OVERHEAD_BYTES: usize = 40;
/// Bytes per bucket slot of a `Dict`.
pub const DICT_BUCKET_BYTES: usize = 8;

/// The hasher every set and sorted-set dict uses (fixed per process).
pub fn member_hasher() -> &'static Hasher {
    static HASHER: OnceLock<Hasher> = OnceLock::new();
    HASHER.get_or_init(Hasher::default)
}

/// A small, fast pseudo-random generator (xorshift64*) that commands seed from
/// the keyspace's generator, so a handler can draw numbers while it holds a
/// value borrowed from the door.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (n > 0); the modulo bias is negligible for our sizes.
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next_u64() % n as u64) as usize
    }
}

/// A member as stored: integers of an intset are kept as numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member<'a> {
    Int(i64),
    Str(&'a [u8]),
}

impl Member<'_> {
    pub fn to_vec(&self) -> Vec<u8> {
        match self {
            Member::Int(n) => n.to_string().into_bytes(),
            Member::Str(s) => s.to_vec(),
        }
    }

    /// Calls `f` with the member's bytes without allocating.
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Member::Int(n) => {
                let mut buf = [0u8; 24];
                f(fmt_i64(*n, &mut buf))
            }
            Member::Str(s) => f(s),
        }
    }
}

/// The "hashtable" encoding.
#[derive(Default)]
pub struct HashSet {
    dict: Dict<()>,
    /// Sum of member lengths plus per-node overhead.
    bytes: usize,
}

impl HashSet {
    pub fn len(&self) -> usize {
        self.dict.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dict.is_empty()
    }

    pub fn contains(&self, m: &[u8]) -> bool {
        self.dict.get(member_hasher().hash(m), m).is_some()
    }

    pub fn insert(&mut self, m: &[u8]) -> bool {
        let h = member_hasher();
        let hash = h.hash(m);
        if self.dict.get(hash, m).is_some() {
            return false;
        }
        self.dict.insert_new(h, hash, m, ());
        self.bytes += m.len() + HASH_NODE_OVERHEAD_BYTES;
        true
    }

    pub fn remove(&mut self, m: &[u8]) -> bool {
        let h = member_hasher();
        if self.dict.remove(h, h.hash(m), m).is_some() {
            self.bytes -= m.len() + HASH_NODE_OVERHEAD_BYTES;
            true
        } else {
            false
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.dict.iter().map(|(k, _)| k)
    }

    pub fn random(&self, rng: &mut Rng) -> Option<&[u8]> {
        self.dict.random(|| rng.next_u64()).map(|(k, _)| k)
    }

    pub fn mem_bytes(&self) -> usize {
        self.bytes + self.dict.bucket_count() * DICT_BUCKET_BYTES
    }
}

/// A set: an intset (`ThinBuf`) or a boxed hashtable, in 8 bytes.
pub struct Set(SmallOrBig<IntSet, HashSet>);

impl Default for Set {
    fn default() -> Self {
        Set::from_intset(IntSet::new())
    }
}

impl Set {
    /// An empty intset (what SINTERSTORE and friends start from).
    pub fn new() -> Set {
        Set::default()
    }

    pub fn from_intset(s: IntSet) -> Set {
        Set(SmallOrBig::small(s))
    }

    pub fn new_hashtable() -> Set {
        Set(SmallOrBig::big(Box::default()))
    }

    /// An empty set in the encoding Redis picks for a first member
    /// (`setTypeCreate`): intset if it is an integer, hashtable otherwise.
    pub fn for_member(m: &[u8]) -> Set {
        if parse_i64_strict(m).is_some() {
            Set::new()
        } else {
            Set::new_hashtable()
        }
    }

    /// The intset, when that is the encoding.
    pub fn as_intset(&self) -> Option<&IntSet> {
        match self.0.get() {
            Form::Small(s) => Some(s),
            Form::Big(_) => None,
        }
    }

    pub fn len(&self) -> usize {
        match self.0.get() {
            Form::Small(s) => s.len(),
            Form::Big(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding_name(&self) -> &'static str {
        if self.0.is_big() {
            "hashtable"
        } else {
            "intset"
        }
    }

    /// Heap bytes, O(1).
    pub fn mem_bytes(&self) -> usize {
        match self.0.get() {
            Form::Small(s) => s.mem_bytes(),
            Form::Big(s) => std::mem::size_of::<HashSet>() + s.mem_bytes(),
        }
    }

    /// Starts loading what looking up `members` will read (a pipelined
    /// batch of SADD/SREM/SISMEMBER on a big set; see `Dict::prefetch_lookups`).
    /// An intset is one buffer, in cache after the first lookup.
    pub fn prefetch_members(&self, members: &[&[u8]]) {
        if let Form::Big(s) = self.0.get() {
            s.dict.prefetch_keys(member_hasher(), members);
        }
    }

    pub fn contains(&self, m: &[u8]) -> bool {
        match self.0.get() {
            Form::Small(s) => parse_i64_strict(m).is_some_and(|n| s.contains(n)),
            Form::Big(s) => s.contains(m),
        }
    }

    /// Adds `m`; returns false if it was already a member. Converts to a
    /// hashtable when `m` is not an integer or the intset would exceed
    /// `intset_entries_max` members.
    pub fn insert(&mut self, m: &[u8], intset_entries_max: usize) -> bool {
        if let Form::Small(s) = self.0.get_mut() {
            match parse_i64_strict(m) {
                Some(n) => {
                    if !s.insert(n) {
                        return false;
                    }
                    if s.len() > intset_entries_max {
                        self.convert_to_hashtable();
                    }
                    return true;
                }
                None => self.convert_to_hashtable(),
            }
        }
        match self.0.get_mut() {
            Form::Big(s) => s.insert(m),
            Form::Small(_) => false,
        }
    }

    pub fn remove(&mut self, m: &[u8]) -> bool {
        match self.0.get_mut() {
            Form::Small(s) => parse_i64_strict(m).is_some_and(|n| s.remove(n)),
            Form::Big(s) => s.remove(m),
        }
    }

    pub fn convert_to_hashtable(&mut self) {
        if let Form::Small(s) = self.0.get() {
            let mut h = HashSet::default();
            for n in s.iter() {
                let mut buf = [0u8; 24];
                h.insert(fmt_i64(n, &mut buf));
            }
            self.0 = SmallOrBig::big(Box::new(h));
        }
    }

    /// Members: increasing for an intset, table order for a hashtable.
    pub fn iter(&self) -> Box<dyn Iterator<Item = Member<'_>> + '_> {
        match self.0.get() {
            Form::Small(s) => Box::new(s.iter().map(Member::Int)),
            Form::Big(s) => Box::new(s.iter().map(Member::Str)),
        }
    }

    /// Every member as owned bytes.
    pub fn members(&self) -> Vec<Vec<u8>> {
        self.iter().map(|m| m.to_vec()).collect()
    }

    pub fn random(&self, rng: &mut Rng) -> Option<Member<'_>> {
        match self.0.get() {
            Form::Small(s) => s.get(rng.below(s.len())).map(Member::Int),
            Form::Big(s) => s.random(rng).map(Member::Str),
        }
    }

    /// Removes and returns a random member.
    pub fn pop_random(&mut self, rng: &mut Rng) -> Option<Vec<u8>> {
        match self.0.get_mut() {
            Form::Small(s) => {
                let idx = rng.below(s.len());
                s.remove_at(idx).map(|n| n.to_string().into_bytes())
            }
            Form::Big(s) => {
                let m = s.random(rng)?.to_vec();
                s.remove(&m);
                Some(m)
            }
        }
    }

    /// One SSCAN step. An intset is returned whole with cursor 0, as Redis
    /// does for compact encodings; a hashtable visits the bucket(s) the
    /// cursor names (see `Dict::scan`).
    pub fn scan(&self, cursor: u64, mut visit: impl FnMut(Member<'_>)) -> u64 {
        match self.0.get() {
            Form::Small(s) => {
                s.iter().for_each(|n| visit(Member::Int(n)));
                0
            }
            Form::Big(s) => s.dict.scan(cursor, |k, _| visit(Member::Str(k))),
        }
    }
}

impl Clone for Set {
    fn clone(&self) -> Set {
        match self.0.get() {
            Form::Small(s) => Set::from_intset(s.clone()),
            Form::Big(s) => {
                let mut h = HashSet::default();
                for m in s.iter() {
                    h.insert(m);
                }
                Set(SmallOrBig::big(Box::new(h)))
            }
        }
    }
}

impl PartialEq for Set {
    /// Same encoding and same members.
    fn eq(&self, other: &Set) -> bool {
        self.encoding_name() == other.encoding_name()
            && self.len() == other.len()
            && self.iter().all(|m| m.with_bytes(|b| other.contains(b)))
    }
}

impl std::fmt::Debug for Set {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Set({}, {} members)", self.encoding_name(), self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn intset_until_a_string_or_too_many() {
        let mut s = Set::for_member(b"1");
        assert_eq!(s.encoding_name(), "intset");
        for i in 0..4 {
            assert!(s.insert(i.to_string().as_bytes(), 4));
        }
        assert_eq!(s.encoding_name(), "intset");
        assert!(!s.insert(b"3", 4));
        assert!(s.insert(b"4", 4));
        assert_eq!(s.encoding_name(), "hashtable");
        assert_eq!(s.len(), 5);
        assert!(s.contains(b"4") && s.contains(b"0"));

        let mut t = Set::for_member(b"7");
        t.insert(b"7", 512);
        assert!(t.insert(b"-0", 512), "-0 is not in string2ll form");
        assert_eq!(t.encoding_name(), "hashtable");
        assert!(t.contains(b"7") && t.contains(b"-0") && !t.contains(b"0"));
    }

    #[test]
    fn first_member_decides_encoding() {
        assert_eq!(Set::for_member(b"a").encoding_name(), "hashtable");
        assert_eq!(Set::for_member(b"01").encoding_name(), "hashtable");
        assert_eq!(Set::for_member(b"-5").encoding_name(), "intset");
    }

    #[test]
    fn intset_iterates_sorted_and_scans_whole() {
        let mut s = Set::new();
        for m in [b"30".as_ref(), b"-2", b"10"] {
            s.insert(m, 512);
        }
        assert_eq!(
            s.members(),
            vec![b"-2".to_vec(), b"10".to_vec(), b"30".to_vec()]
        );
        let mut seen = 0;
        assert_eq!(s.scan(0, |_| seen += 1), 0);
        assert_eq!(seen, 3);
    }

    #[test]
    fn pop_random_empties_both_encodings() {
        let mut rng = super::Rng::new(42);
        for words in [vec!["1", "2", "3"], vec!["a", "b", "c"]] {
            let mut s = Set::for_member(words[0].as_bytes());
            for w in &words {
                s.insert(w.as_bytes(), 512);
            }
            let mut popped = BTreeSet::new();
            while let Some(m) = s.pop_random(&mut rng) {
                assert!(popped.insert(m));
            }
            assert_eq!(popped.len(), 3);
            assert!(s.mem_bytes() <= 64);
        }
    }

    #[test]
    fn mem_bytes_tracks_members() {
        let mut s = Set::for_member(b"x");
        let empty = s.mem_bytes();
        s.insert(&[b'x'; 100], 512);
        assert!(s.mem_bytes() >= empty + 100);
        s.remove(&[b'x'; 100]);
        assert_eq!(s.mem_bytes(), empty);
    }

    fn member_strategy() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            (-40i64..40).prop_map(|n| n.to_string().into_bytes()),
            "[a-d]{1,2}".prop_map(|s| s.into_bytes()),
        ]
    }

    proptest! {
        #[test]
        fn behaves_like_btreeset(ops in proptest::collection::vec((any::<bool>(), member_strategy()), 1..200)) {
            let mut model = BTreeSet::new();
            let mut s = Set::for_member(&ops[0].1);
            for (add, m) in &ops {
                if *add {
                    prop_assert_eq!(s.insert(m, 16), model.insert(m.clone()));
                } else {
                    prop_assert_eq!(s.remove(m), model.remove(m));
                }
                prop_assert_eq!(s.len(), model.len());
            }
            let got: BTreeSet<Vec<u8>> = s.members().into_iter().collect();
            prop_assert_eq!(&got, &model);
            for m in &model {
                prop_assert!(s.contains(m));
            }
            let intset_ok = model.len() <= 16 && model.iter().all(|m| parse_i64_strict(m).is_some());
            if s.encoding_name() == "intset" {
                prop_assert!(intset_ok);
            }
            // Full SSCAN returns every member.
            let mut scanned = BTreeSet::new();
            let mut cursor = 0;
            loop {
                cursor = s.scan(cursor, |m| { scanned.insert(m.to_vec()); });
                if cursor == 0 { break; }
            }
            prop_assert_eq!(scanned, model);
        }
    }
}
