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
/// Most lookups a caller of `prefetch_lookups` batches.
pub const LOOKUPS_PREFETCH_MAX: usize = 16;

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

/// The fields of a node; its key bytes follow it in the same allocation.
struct NodeHead<V> {
    next: Option<Node<V>>,
    value: V,
    key_len: usize,
}

/// An owned chain node: one allocation holding a `NodeHead` and then the
/// key's bytes, so a lookup that reaches a node finds its key in the same
/// (or the next) cache line, and a key costs no allocation of its own.
///
/// Invariant: `ptr` came from `Node::new` with `layout(key_len)` and is
/// freed only by `Drop` or `into_parts` with the same layout.
struct Node<V> {
    ptr: std::ptr::NonNull<NodeHead<V>>,
    _owns: std::marker::PhantomData<NodeHead<V>>,
}

// SAFETY: a Node owns its allocation like a Box<(NodeHead<V>, [u8])> would.
unsafe impl<V: Send> Send for Node<V> {}
// SAFETY: shared access only reads, as for a Box.
unsafe impl<V: Sync> Sync for Node<V> {}

impl<V> Node<V> {
    fn layout(key_len: usize) -> std::alloc::Layout {
        let head = std::alloc::Layout::new::<NodeHead<V>>();
        match std::alloc::Layout::from_size_align(head.size() + key_len, head.align()) {
            Ok(l) => l,
            // Only for a key close to isize::MAX bytes, which no request can carry.
            Err(_) => std::alloc::handle_alloc_error(head),
        }
    }

    fn new(key: &[u8], value: V, next: Option<Node<V>>) -> Node<V> {
        let layout = Self::layout(key.len());
        // SAFETY: the layout is non-zero (NodeHead holds a usize); on success
        // the head is written, then the key bytes right after it.
        unsafe {
            let raw = std::alloc::alloc(layout) as *mut NodeHead<V>;
            let Some(ptr) = std::ptr::NonNull::new(raw) else {
                std::alloc::handle_alloc_error(layout)
            };
            raw.write(NodeHead {
                next,
                value,
                key_len: key.len(),
            });
            let dst = (raw as *mut u8).add(std::mem::size_of::<NodeHead<V>>());
            std::ptr::copy_nonoverlapping(key.as_ptr(), dst, key.len());
            Node {
                ptr,
                _owns: std::marker::PhantomData,
            }
        }
    }

    #[inline]
    fn key(&self) -> &[u8] {
        // SAFETY: `key_len` initialized bytes follow the head (see `new`);
        // the pointer carries the whole allocation's provenance.
        unsafe {
            let len = (*self.ptr.as_ptr()).key_len;
            let start = (self.ptr.as_ptr() as *const u8).add(std::mem::size_of::<NodeHead<V>>());
            std::slice::from_raw_parts(start, len)
        }
    }

    /// Frees the node, returning its value and successor.
    fn into_parts(self) -> (V, Option<Node<V>>) {
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: the head is read out once and the allocation freed with the
        // layout it was made with; `this` is never dropped.
        unsafe {
            let head = this.ptr.as_ptr().read();
            std::alloc::dealloc(this.ptr.as_ptr() as *mut u8, Self::layout(head.key_len));
            (head.value, head.next)
        }
    }
}

impl<V> std::ops::Deref for Node<V> {
    type Target = NodeHead<V>;
    #[inline]
    fn deref(&self) -> &NodeHead<V> {
        // SAFETY: the head is initialized for the node's whole life.
        unsafe { self.ptr.as_ref() }
    }
}

impl<V> std::ops::DerefMut for Node<V> {
    #[inline]
    fn deref_mut(&mut self) -> &mut NodeHead<V> {
        // SAFETY: as in `deref`, with exclusive access through `&mut self`.
        unsafe { self.ptr.as_mut() }
    }
}

impl<V> Drop for Node<V> {
    fn drop(&mut self) {
        // Unlink the rest of the chain first and drop it node by node: a long
        // chain dropped recursively could overflow the stack.
        let mut rest = self.next.take();
        // SAFETY: the head is dropped in place once and the allocation freed
        // with the layout it was made with.
        unsafe {
            let key_len = (*self.ptr.as_ptr()).key_len;
            std::ptr::drop_in_place(self.ptr.as_ptr());
            std::alloc::dealloc(self.ptr.as_ptr() as *mut u8, Self::layout(key_len));
        }
        while let Some(mut node) = rest {
            rest = node.next.take();
        }
    }
}

pub struct Dict<V> {
    buckets: Vec<Option<Node<V>>>,
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
        let mut cur = self.buckets.get(idx).and_then(|b| b.as_ref());
        std::iter::from_fn(move || {
            let node = cur?;
            cur = node.next.as_ref();
            Some((node.key(), &node.value))
        })
    }

    /// Starts loading the bucket slot a hash falls in (a lookup soon).
    #[inline]
    pub fn prefetch_slot(&self, hash: u64) {
        if let Some(slot) = self.buckets.get(hash as usize & self.mask()) {
            crate::prefetch::prefetch_read(slot as *const Option<Node<V>>);
        }
    }

    /// Starts loading the first node of the bucket a hash falls in (whose
    /// slot the caller prefetched earlier).
    #[inline]
    pub fn prefetch_first_node(&self, hash: u64) {
        if !self.buckets.is_empty() {
            self.prefetch_bucket(hash as usize & self.mask());
        }
    }

    /// Starts loading what looking up keys of these hashes will read: all
    /// their bucket slots, then their first chain nodes (a node holds its
    /// key), so a batch of lookups pays two memory latencies in all.
    pub fn prefetch_lookups(&self, hashes: &[u64]) {
        for &h in hashes {
            self.prefetch_slot(h);
        }
        for &h in hashes {
            self.prefetch_first_node(h);
        }
    }

    /// `prefetch_lookups` for up to `LOOKUPS_PREFETCH_MAX` keys hashed by `hasher`.
    pub fn prefetch_keys(&self, hasher: &Hasher, keys: &[&[u8]]) {
        let mut hashes = [0u64; LOOKUPS_PREFETCH_MAX];
        let n = keys.len().min(LOOKUPS_PREFETCH_MAX);
        for (h, k) in hashes.iter_mut().zip(&keys[..n]) {
            *h = hasher.hash(k);
        }
        self.prefetch_lookups(&hashes[..n]);
    }

    /// The first node of the bucket a hash falls in.
    #[inline]
    pub fn first_in_bucket_of(&self, hash: u64) -> Option<(&[u8], &V)> {
        if self.buckets.is_empty() {
            return None;
        }
        self.bucket_iter(hash as usize & self.mask()).next()
    }

    /// Starts loading the first node of bucket `idx` (see `prefetch`).
    #[inline]
    pub fn prefetch_bucket(&self, idx: usize) {
        if let Some(Some(node)) = self.buckets.get(idx) {
            crate::prefetch::prefetch_read(node.ptr.as_ptr());
        }
    }

    /// For walks that prefetch a chain a step at a time: calls `f` with the
    /// value of node `nth` (0-based) of bucket `idx`, if there is one, and
    /// starts loading node `nth + 1`. Reads nodes 0..=nth, which the caller
    /// is expected to have prefetched in earlier steps.
    #[inline]
    pub fn prefetch_chain(&self, idx: usize, nth: usize, f: impl FnOnce(&V)) {
        let mut cur = self.buckets.get(idx).and_then(|b| b.as_ref());
        for _ in 0..nth {
            cur = cur.and_then(|n| n.next.as_ref());
        }
        if let Some(node) = cur {
            f(&node.value);
            if let Some(next) = node.next.as_ref() {
                crate::prefetch::prefetch_read(next.ptr.as_ptr());
            }
        }
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
        let mut cur = self.buckets[hash as usize & self.mask()].as_ref();
        while let Some(node) = cur {
            if node.key() == key {
                return Some(&node.value);
            }
            cur = node.next.as_ref();
        }
        None
    }

    pub fn get_mut(&mut self, hash: u64, key: &[u8]) -> Option<&mut V> {
        if self.buckets.is_empty() {
            return None;
        }
        let idx = hash as usize & self.mask();
        let mut cur = self.buckets[idx].as_mut();
        while let Some(node) = cur {
            if node.key() == key {
                return Some(&mut node.value);
            }
            cur = node.next.as_mut();
        }
        None
    }

    /// Returns the stored key and value (the key is the dict's own copy).
    pub fn get_key_value(&self, hash: u64, key: &[u8]) -> Option<(&[u8], &V)> {
        if self.buckets.is_empty() {
            return None;
        }
        let mut cur = self.buckets[hash as usize & self.mask()].as_ref();
        while let Some(node) = cur {
            if node.key() == key {
                return Some((node.key(), &node.value));
            }
            cur = node.next.as_ref();
        }
        None
    }

    /// Inserts or replaces; returns the previous value.
    pub fn insert(&mut self, hasher: &Hasher, hash: u64, key: &[u8], value: V) -> Option<V> {
        if let Some(slot) = self.get_mut(hash, key) {
            return Some(std::mem::replace(slot, value));
        }
        self.insert_new(hasher, hash, key, value);
        None
    }

    /// Inserts a key known to be absent.
    pub fn insert_new(&mut self, hasher: &Hasher, hash: u64, key: &[u8], value: V) {
        if self.len >= self.buckets.len() && (!self.resize_locked || self.buckets.is_empty()) {
            let target = (self.len + 1).next_power_of_two().max(BUCKETS_MIN);
            self.resize(hasher, target);
        }
        let idx = hash as usize & self.mask();
        let next = self.buckets[idx].take();
        self.buckets[idx] = Some(Node::new(key, value, next));
        self.len += 1;
    }

    pub fn remove(&mut self, hasher: &Hasher, hash: u64, key: &[u8]) -> Option<V> {
        self.take_node(hasher, hash, key)
            .map(|node| node.into_parts().0)
    }

    /// Removes a key, returning the stored key with the value.
    pub fn remove_entry(
        &mut self,
        hasher: &Hasher,
        hash: u64,
        key: &[u8],
    ) -> Option<(Box<[u8]>, V)> {
        let node = self.take_node(hasher, hash, key)?;
        let stored: Box<[u8]> = node.key().into();
        Some((stored, node.into_parts().0))
    }

    /// Unlinks the node holding `key` (its `next` already cleared).
    fn take_node(&mut self, hasher: &Hasher, hash: u64, key: &[u8]) -> Option<Node<V>> {
        if self.buckets.is_empty() {
            return None;
        }
        let idx = hash as usize & self.mask();
        let mut link = &mut self.buckets[idx];
        loop {
            match link {
                None => return None,
                Some(node) if node.key() == key => {
                    let mut node = link.take()?;
                    *link = node.next.take();
                    self.len -= 1;
                    self.maybe_shrink(hasher);
                    return Some(node);
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
        let mut fresh: Vec<Option<Node<V>>> = Vec::with_capacity(buckets);
        fresh.resize_with(buckets, || None);
        let mask = buckets - 1;
        for slot in self.buckets.iter_mut() {
            let mut cur = slot.take();
            while let Some(mut node) = cur {
                cur = node.next.take();
                let idx = hasher.hash(node.key()) as usize & mask;
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
        let mut cur = self.buckets[(cursor & mask) as usize].as_ref();
        while let Some(node) = cur {
            visit(node.key(), &node.value);
            cur = node.next.as_ref();
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
            if let Some(head) = self.buckets[idx].as_ref() {
                let mut chain = 0usize;
                let mut cur = Some(head);
                while let Some(n) = cur {
                    chain += 1;
                    cur = n.next.as_ref();
                }
                let mut pick = (rand() % chain as u64) as usize;
                let mut cur = head;
                while pick > 0 {
                    pick -= 1;
                    match cur.next.as_ref() {
                        Some(n) => cur = n,
                        None => break,
                    }
                }
                return Some((cur.key(), &cur.value));
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
                    Some(node) => {
                        let node: &mut Node<V> = node;
                        let key: *const [u8] = node.key();
                        // SAFETY: the key bytes are not part of `value`.
                        !keep(unsafe { &*key }, &mut node.value)
                    }
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
    buckets: &'a [Option<Node<V>>],
    idx: usize,
    node: Option<&'a Node<V>>,
}

impl<'a, V> Iterator for Iter<'a, V> {
    type Item = (&'a [u8], &'a V);
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(n) = self.node {
                self.node = n.next.as_ref();
                return Some((n.key(), &n.value));
            }
            let slot = self.buckets.get(self.idx)?;
            self.idx += 1;
            self.node = slot.as_ref();
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
    fn prefetch_chain_visits_the_nth_node_of_a_bucket() {
        let h = Hasher::default();
        let mut d: Dict<u32> = Dict::new();
        for i in 0..500 {
            put(&mut d, &h, &format!("k{i}"), i);
        }
        let mut longest = 0;
        for b in 0..d.bucket_count() + 2 {
            let chain: Vec<u32> = d.bucket_iter(b).map(|(_, v)| *v).collect();
            longest = longest.max(chain.len());
            for nth in 0..4 {
                let mut seen = None;
                d.prefetch_chain(b, nth, |v| seen = Some(*v));
                assert_eq!(seen, chain.get(nth).copied(), "bucket {b} node {nth}");
            }
            d.prefetch_bucket(b);
        }
        assert!(longest >= 2, "no chain to walk");
    }

    /// Every value is dropped exactly once whichever way its node goes
    /// (remove, remove_entry, retain, clear, the dict's drop), keys of any
    /// length read back intact, and a long chain drops without recursion.
    #[test]
    fn nodes_own_keys_and_values_exactly_once() {
        use std::rc::Rc;
        let h = Hasher::default();
        let token = Rc::new(());
        let mut d: Dict<Rc<()>> = Dict::new();
        let keys: Vec<Vec<u8>> = (0..300).map(|i| vec![b'a' + (i % 26) as u8; i]).collect();
        for k in &keys {
            d.insert(&h, h.hash(k), k, token.clone());
        }
        assert_eq!(Rc::strong_count(&token), 301);
        for k in &keys {
            assert_eq!(
                d.get_key_value(h.hash(k), k).map(|(kk, _)| kk),
                Some(&k[..])
            );
        }
        assert!(d.remove(&h, h.hash(&keys[5]), &keys[5]).is_some());
        let (stored, _) = d.remove_entry(&h, h.hash(&keys[7]), &keys[7]).unwrap();
        assert_eq!(&*stored, &keys[7][..]);
        assert_eq!(d.retain(&h, |k, _| k.len() % 2 == 0), 148);
        assert_eq!(Rc::strong_count(&token), 1 + 150);
        d.clear();
        assert_eq!(Rc::strong_count(&token), 1);
        // One bucket, locked against resizing: a 200,000-node chain.
        let mut long: Dict<Rc<()>> = Dict::new();
        long.insert(&h, 0, b"first", token.clone());
        long.set_resize_locked(true);
        for i in 0..200_000u32 {
            long.insert_new(&h, 0, &i.to_le_bytes(), token.clone());
        }
        assert_eq!(Rc::strong_count(&token), 200_002);
        drop(long);
        assert_eq!(Rc::strong_count(&token), 1);
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
