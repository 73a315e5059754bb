//! A chained hash table in the shape of Redis's `dict`, so that SCAN keeps
//! Redis's guarantee: a full iteration with the reverse-binary cursor returns
//! every element present from start to end, even when the table grows or
//! shrinks between calls.
//!
//! Invariants:
//! - the bucket count is zero or a power of two; `len` counts the nodes;
//! - a key appears at most once;
//! - the table grows when `len` reaches the bucket count and shrinks when it
//!   falls below an eighth of it (never under `BUCKETS_MIN`).
//!
//! Hashes are computed by the caller (`Hasher::hash`) so one hash can also pick
//! a keyspace segment.

pub const BUCKETS_MIN: usize = 4;

/// The hash function shared by every dict of one process. Seeded once so
/// iteration order differs between runs, as in Redis (siphash with a random seed).
#[derive(Clone)]
pub struct Hasher(ahash::RandomState);

impl Default for Hasher {
    fn default() -> Self {
        Hasher(ahash::RandomState::with_seeds(
            0x5172_6174_6121_0001,
            0x2d9f_8a1b_77c3_4e01,
            0x0f1e_2d3c_4b5a_6978,
            0x1234_5678_9abc_def0,
        ))
    }
}

impl Hasher {
    #[inline]
    pub fn hash(&self, key: &[u8]) -> u64 {
        self.0.hash_one(key)
    }
}

struct Node<V> {
    key: Box<[u8]>,
    value: V,
    next: Option<Box<Node<V>>>,
}

pub struct Dict<V> {
    buckets: Vec<Option<Box<Node<V>>>>,
    len: usize,
    /// While set (a snapshot tracks buckets by index), the table never
    /// resizes; chains grow instead. An empty table may still get its first
    /// buckets.
    resize_locked: bool,
}

impl<V> Default for Dict<V> {
    fn default() -> Self {
        Dict {
            buckets: Vec::new(),
            len: 0,
            resize_locked: false,
        }
    }
}

impl<V> Dict<V> {
    pub fn new() -> Self {
        Self::default()
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    /// Stops (or allows again) resizing; see `resize_locked`.
    pub fn set_resize_locked(&mut self, locked: bool) {
        self.resize_locked = locked;
    }

    /// The bucket a hash falls in (None for an unallocated table).
    #[inline]
    pub fn bucket_of(&self, hash: u64) -> Option<usize> {
        if self.buckets.is_empty() {
            None
        } else {
            Some(hash as usize & self.mask())
        }
    }

    /// The nodes of one bucket.
    pub fn bucket_iter(&self, idx: usize) -> impl Iterator<Item = (&[u8], &V)> {
        let mut cur = self.buckets.get(idx).and_then(|b| b.as_deref());
        std::iter::from_fn(move || {
            let node = cur?;
            cur = node.next.as_deref();
            Some((&*node.key, &node.value))
        })
    }

    /// Whether bucket `idx` holds no node.
    pub fn bucket_is_empty(&self, idx: usize) -> bool {
        self.buckets.get(idx).is_none_or(|b| b.is_none())
    }

    #[inline]
    fn mask(&self) -> usize {
        self.buckets.len().wrapping_sub(1)
    }

    pub fn get(&self, hash: u64, key: &[u8]) -> Option<&V> {
        if self.buckets.is_empty() {
            return None;
        }
        let mut cur = self.buckets[hash as usize & self.mask()].as_deref();
        while let Some(node) = cur {
            if &*node.key == key {
                return Some(&node.value);
            }
            cur = node.next.as_deref();
        }
        None
    }

    pub fn get_mut(&mut self, hash: u64, key: &[u8]) -> Option<&mut V> {
        if self.buckets.is_empty() {
            return None;
        }
        let idx = hash as usize & self.mask();
        let mut cur = self.buckets[idx].as_deref_mut();
        while let Some(node) = cur {
            if &*node.key == key {
                return Some(&mut node.value);
            }
            cur = node.next.as_deref_mut();
        }
        None
    }

    /// Returns the stored key and value (the key is the dict's own copy).
    pub fn get_key_value(&self, hash: u64, key: &[u8]) -> Option<(&[u8], &V)> {
        if self.buckets.is_empty() {
            return None;
        }
        let mut cur = self.buckets[hash as usize & self.mask()].as_deref();
        while let Some(node) = cur {
            if &*node.key == key {
                return Some((&node.key, &node.value));
            }
            cur = node.next.as_deref();
        }
        None
    }

    /// Inserts or replaces; returns the previous value.
    pub fn insert(&mut self, hasher: &Hasher, hash: u64, key: &[u8], value: V) -> Option<V> {
        if let Some(slot) = self.get_mut(hash, key) {
            return Some(std::mem::replace(slot, value));
        }
        self.insert_new(hasher, hash, key.into(), value);
        None
    }

    /// Inserts a key known to be absent.
    pub fn insert_new(&mut self, hasher: &Hasher, hash: u64, key: Box<[u8]>, value: V) {
        if self.len >= self.buckets.len() && (!self.resize_locked || self.buckets.is_empty()) {
            let target = (self.len + 1).next_power_of_two().max(BUCKETS_MIN);
            self.resize(hasher, target);
        }
        let idx = hash as usize & self.mask();
        let next = self.buckets[idx].take();
        self.buckets[idx] = Some(Box::new(Node { key, value, next }));
        self.len += 1;
    }

    pub fn remove(&mut self, hasher: &Hasher, hash: u64, key: &[u8]) -> Option<V> {
        self.remove_entry(hasher, hash, key).map(|(_, v)| v)
    }

    pub fn remove_entry(
        &mut self,
        hasher: &Hasher,
        hash: u64,
        key: &[u8],
    ) -> Option<(Box<[u8]>, V)> {
        if self.buckets.is_empty() {
            return None;
        }
        let idx = hash as usize & self.mask();
        let mut link = &mut self.buckets[idx];
        loop {
            match link {
                None => return None,
                Some(node) if &*node.key == key => {
                    let mut boxed = link.take()?;
                    *link = boxed.next.take();
                    self.len -= 1;
                    self.maybe_shrink(hasher);
                    let Node { key, value, .. } = *boxed;
                    return Some((key, value));
                }
                Some(node) => link = &mut node.next,
            }
        }
    }

    fn maybe_shrink(&mut self, hasher: &Hasher) {
        if self.resize_locked {
            return;
        }
        let buckets = self.buckets.len();
        if buckets > BUCKETS_MIN && self.len * 8 < buckets {
            let target = self.len.next_power_of_two().max(BUCKETS_MIN);
            self.resize(hasher, target);
        }
        if self.len == 0 && !self.buckets.is_empty() {
            self.buckets = Vec::new();
        }
    }

    fn resize(&mut self, hasher: &Hasher, buckets: usize) {
        let mut fresh: Vec<Option<Box<Node<V>>>> = Vec::with_capacity(buckets);
        fresh.resize_with(buckets, || None);
        let mask = buckets - 1;
        for slot in self.buckets.iter_mut() {
            let mut cur = slot.take();
            while let Some(mut node) = cur {
                cur = node.next.take();
                let idx = hasher.hash(&node.key) as usize & mask;
                node.next = fresh[idx].take();
                fresh[idx] = Some(node);
            }
        }
        self.buckets = fresh;
    }

    pub fn clear(&mut self) {
        // Unlink iteratively: a long chain dropped recursively could overflow the stack.
        for slot in self.buckets.iter_mut() {
            let mut cur = slot.take();
            while let Some(mut node) = cur {
                cur = node.next.take();
            }
        }
        self.buckets = Vec::new();
        self.len = 0;
    }

    pub fn iter(&self) -> Iter<'_, V> {
        Iter {
            buckets: &self.buckets,
            idx: 0,
            node: None,
        }
    }

    /// Visits one bucket (the one `cursor` names) and returns the next cursor;
    /// 0 means the iteration is complete. Redis's reverse-binary increment.
    pub fn scan(&self, cursor: u64, mut visit: impl FnMut(&[u8], &V)) -> u64 {
        if self.buckets.is_empty() {
            return 0;
        }
        let mask = self.mask() as u64;
        let mut cur = self.buckets[(cursor & mask) as usize].as_deref();
        while let Some(node) = cur {
            visit(&node.key, &node.value);
            cur = node.next.as_deref();
        }
        let mut v = cursor | !mask;
        v = v.reverse_bits();
        v = v.wrapping_add(1);
        v.reverse_bits()
    }

    /// A random element: a random non-empty bucket, then a random node of its chain.
    pub fn random(&self, mut rand: impl FnMut() -> u64) -> Option<(&[u8], &V)> {
        if self.len == 0 {
            return None;
        }
        let mask = self.mask() as u64;
        loop {
            let idx = (rand() & mask) as usize;
            if let Some(head) = self.buckets[idx].as_deref() {
                let mut chain = 0usize;
                let mut cur = Some(head);
                while let Some(n) = cur {
                    chain += 1;
                    cur = n.next.as_deref();
                }
                let mut pick = (rand() % chain as u64) as usize;
                let mut cur = head;
                while pick > 0 {
                    pick -= 1;
                    match cur.next.as_deref() {
                        Some(n) => cur = n,
                        None => break,
                    }
                }
                return Some((&cur.key, &cur.value));
            }
        }
    }

    /// Keeps only the elements for which `keep` is true; returns how many were removed.
    pub fn retain(
        &mut self,
        hasher: &Hasher,
        mut keep: impl FnMut(&[u8], &mut V) -> bool,
    ) -> usize {
        let mut removed = 0;
        for slot in self.buckets.iter_mut() {
            let mut link = slot;
            loop {
                let remove = match link.as_mut() {
                    None => break,
                    Some(node) => !keep(&node.key, &mut node.value),
                };
                if remove {
                    if let Some(mut boxed) = link.take() {
                        *link = boxed.next.take();
                        removed += 1;
                    }
                } else {
                    match link {
                        Some(node) => link = &mut node.next,
                        None => break,
                    }
                }
            }
        }
        self.len -= removed;
        self.maybe_shrink(hasher);
        removed
    }
}

impl<V> Drop for Dict<V> {
    fn drop(&mut self) {
        self.clear();
    }
}

pub struct Iter<'a, V> {
    buckets: &'a [Option<Box<Node<V>>>],
    idx: usize,
    node: Option<&'a Node<V>>,
}

impl<'a, V> Iterator for Iter<'a, V> {
    type Item = (&'a [u8], &'a V);
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(n) = self.node {
                self.node = n.next.as_deref();
                return Some((&n.key, &n.value));
            }
            let slot = self.buckets.get(self.idx)?;
            self.idx += 1;
            self.node = slot.as_deref();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn put(d: &mut Dict<u32>, h: &Hasher, k: &str, v: u32) {
        d.insert(h, h.hash(k.as_bytes()), k.as_bytes(), v);
    }

    #[test]
    fn insert_get_remove() {
        let h = Hasher::default();
        let mut d = Dict::new();
        for i in 0..1000 {
            put(&mut d, &h, &format!("k{i}"), i);
        }
        assert_eq!(d.len(), 1000);
        assert_eq!(d.get(h.hash(b"k17"), b"k17"), Some(&17));
        for i in 0..990 {
            let k = format!("k{i}");
            assert_eq!(d.remove(&h, h.hash(k.as_bytes()), k.as_bytes()), Some(i));
        }
        assert_eq!(d.len(), 10);
        assert!(d.bucket_count() <= 16);
        assert_eq!(d.iter().count(), 10);
    }

    #[test]
    fn scan_returns_every_stable_key_across_resizes() {
        let h = Hasher::default();
        let mut d = Dict::new();
        for i in 0..500 {
            put(&mut d, &h, &format!("stable{i}"), i);
        }
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            cursor = d.scan(cursor, |k, _| {
                seen.insert(k.to_vec());
            });
            round += 1;
            // Grow, then shrink, the table mid-iteration.
            if round == 20 {
                for i in 0..5000 {
                    put(&mut d, &h, &format!("tmp{i}"), i);
                }
            }
            if round == 60 {
                for i in 0..5000 {
                    let k = format!("tmp{i}");
                    d.remove(&h, h.hash(k.as_bytes()), k.as_bytes());
                }
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 0..500 {
            assert!(
                seen.contains(format!("stable{i}").as_bytes()),
                "missing stable{i}"
            );
        }
    }

    #[test]
    fn retain_and_random() {
        let h = Hasher::default();
        let mut d = Dict::new();
        for i in 0..100 {
            put(&mut d, &h, &format!("k{i}"), i);
        }
        assert_eq!(d.retain(&h, |_, v| *v % 2 == 0), 50);
        assert_eq!(d.len(), 50);
        let mut x = 7u64;
        for _ in 0..100 {
            let (_, v) = d
                .random(|| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x
                })
                .unwrap();
            assert_eq!(v % 2, 0);
        }
    }
}
