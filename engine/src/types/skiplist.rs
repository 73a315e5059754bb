//! The big sorted-set structure: an indexable skiplist ordered by
//! (score, member), as Redis's `zskiplist`, whose nodes are also chained into
//! a member hash table, as Redis's zset dict (which shares the member sds
//! with the skiplist node). Every forward link carries a span (how many nodes
//! it skips), so rank queries, access by rank and score/lex range searches
//! are O(log N); ZSCORE is one hash lookup.
//!
//! Layout (why: the insert descent is bound by cache misses):
//! - nodes live in arenas of fixed-size chunks (`CHUNK_NODES` each, so a
//!   growing set never copies an arena and at most one chunk per arena is
//!   partly empty), addressed by `u32` index;
//! - a short node (height 1..=3, 63 nodes in 64) is 64 bytes (one cache
//!   line): a thin pointer to its member, score, backward link, hash chain
//!   link and its links of levels 0..=2 inline, so a descent step reads one
//!   line;
//! - a tall node (height 4..) is a 128-byte slot of a second arena (its
//!   index has the `TALL` bit): the same first line plus levels 3..=7 in the
//!   second line, prefetched when the descent reaches the node. Most steps of
//!   a descent are at levels 3.. (they are most of the levels), so keeping
//!   those links out of the member buffer halves the dependent misses. Links
//!   of levels 8.. (one node in 65536, and the header) are in the member's
//!   `ThinBuf`, in front of the member bytes; `aux` holds the height. The
//!   header is the first tall slot;
//! - a link caches a lower bound (f32) of its target's score, so a descent
//!   step that stops (the target sorts after the searched entry) usually
//!   does not read the target at all; a step that advances reads the target,
//!   whose line it needs next anyway.
//! - each member is stored once, in its node; the hash table is a bucket
//!   array of node indices chained through the nodes' `hnext`, with Redis's
//!   power-of-two sizing so ZSCAN keeps Redis's reverse-binary cursor
//!   guarantee.
//!
//! A deleted node's slot goes on its arena's free list (chained through
//! `hnext`) that the next insert of that kind reuses; when more than half of
//! the slots are free both arenas are compacted in one O(n) renumbering pass.
//!
//! Invariants:
//! - level-0 links visit every node in increasing (score, member) order;
//!   `backward` is the level-0 predecessor (`NIL` for the first node);
//! - for every link below the list's level, `span` = rank(target) -
//!   rank(source), where the header has rank 0, the first node 1, and a NIL
//!   target counts as rank `len`;
//! - every link's cached `lo` is `score_lower_bound` of its target's score;
//! - every live node is in exactly one hash chain, the one of its member's
//!   hash, which its `hash` field holds; vacant slots are exactly the free
//!   list;
//! - no score is NaN and no member appears twice (`insert` requires an
//!   absent member);
//! - a node is tall exactly when its height is above `LOW_LINKS`;
//! - fewer than 2^31 slots of each kind (indices and spans are u32): a set
//!   that large would need hundreds of GiB, so it panics rather than handles.

use std::cmp::Ordering;

use crate::prefetch::prefetch_read;
use crate::types::set::member_hasher;
use crate::types::tagged::ThinBuf;

/// Highest node level (ZSKIPLIST_MAXLEVEL).
pub const LEVEL_MAX: usize = 32;
/// Chance, in percent, that a node reaches the next level (ZSKIPLIST_P).
pub const LEVEL_UP_PERCENT: u64 = 25;
/// Index meaning "no node".
pub const NIL: u32 = u32::MAX;
/// Index bit naming a tall slot (see `Arena`).
const TALL: u32 = 1 << 31;
/// Most slots of each kind (so no index is NIL).
const SLAB_LEN_MAX: usize = (TALL - 1) as usize;
/// The header: a tall node of `LEVEL_MAX` levels in the first tall slot.
const HEAD: u32 = TALL;
/// Nodes per arena chunk (64 KiB of 64-byte nodes).
const CHUNK_SHIFT: u32 = 10;
const CHUNK_NODES: usize = 1 << CHUNK_SHIFT;
/// Nodes the first chunk starts with (it grows by doubling to CHUNK_NODES).
const FIRST_CHUNK_NODES: usize = 4;
/// Smallest non-empty bucket array.
const BUCKETS_MIN: usize = 4;
/// Free slots tolerated before the arena is compacted (besides the
/// "more than the live nodes" rule), so small lists never churn.
const FREE_SLOTS_COMPACT_MIN: usize = 1024;
/// Links kept inside every node.
const LOW_LINKS: usize = 3;
/// More links kept inside a tall node.
const MID_LINKS: usize = 5;
/// Links kept inside a tall node; higher ones go in the member buffer.
const INLINE_LINKS: usize = LOW_LINKS + MID_LINKS;
/// Bytes of an encoded higher link: next u32, span u32, lo f32 (LE).
const LINK_BYTES: usize = 12;

#[derive(Clone, Copy, Debug)]
struct Link {
    next: u32,
    span: u32,
    /// A lower bound of the score of `next` (unused when it is NIL).
    lo: f32,
}

const LINK_NIL: Link = Link {
    next: NIL,
    span: 0,
    lo: 0.0,
};

/// The largest f32 not above `s` (s is never NaN).
#[inline]
pub fn score_lower_bound(s: f64) -> f32 {
    let f = s as f32;
    if f as f64 <= s {
        return f;
    }
    // f rounded up (it is not -inf, which is below every score).
    if f == f32::INFINITY {
        f32::MAX
    } else if f == 0.0 {
        -f32::from_bits(1)
    } else if f > 0.0 {
        f32::from_bits(f.to_bits() - 1)
    } else {
        f32::from_bits(f.to_bits() + 1)
    }
}

struct Node {
    /// Links of levels `INLINE_LINKS..` (tall nodes only) then the member
    /// bytes, with the node's height in `aux`; None for a vacant slot.
    member: Option<ThinBuf>,
    score: f64,
    backward: u32,
    /// Next node in the same hash bucket; for a vacant slot, the next free slot.
    hnext: u32,
    /// The member's hash (`hash_of`), so rehashing, unlinking and walking a
    /// chain do not read the member.
    hash: u32,
    /// Links of levels 0..=2 (those at or above the height unused).
    low: [Link; LOW_LINKS],
}

const _: () = assert!(std::mem::size_of::<Node>() == 64);

/// A node of more than `LOW_LINKS` levels: its levels 3..=7 in the second
/// cache line of the same 128-byte slot, so a descent step at those levels
/// costs one (prefetched) line more, not a dependent miss on the member buffer.
#[derive(Debug)]
#[repr(C, align(64))]
struct TallNode {
    node: Node,
    mid: [Link; MID_LINKS],
}

const _: () = assert!(std::mem::size_of::<TallNode>() == 128);

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Node({} levels, score {})", self.height(), self.score)
    }
}

/// Bytes of links stored in the member buffer of a node of `height` levels.
#[inline]
fn high_bytes(height: usize) -> usize {
    height.saturating_sub(INLINE_LINKS) * LINK_BYTES
}

/// The member buffer of a node of `height` levels (its high links NIL).
fn member_buf(height: usize, member: &[u8]) -> ThinBuf {
    let mut bytes = Vec::with_capacity(high_bytes(height) + member.len());
    for _ in INLINE_LINKS..height {
        bytes.extend_from_slice(&NIL.to_le_bytes());
        bytes.extend_from_slice(&0u32.to_le_bytes());
        bytes.extend_from_slice(&0f32.to_le_bytes());
    }
    bytes.extend_from_slice(member);
    ThinBuf::from_parts(height as u32, &bytes)
}

#[inline]
fn read4(b: &[u8], off: usize) -> [u8; 4] {
    b.get(off..off + 4)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .unwrap_or([0xff; 4])
}

impl Node {
    /// A free slot's contents (no allocations).
    fn vacant(hnext: u32) -> Node {
        Node {
            member: None,
            score: 0.0,
            backward: NIL,
            hnext,
            hash: 0,
            low: [LINK_NIL; LOW_LINKS],
        }
    }

    #[inline]
    fn member(&self) -> &[u8] {
        match &self.member {
            Some(b) => b.bytes().get(high_bytes(b.aux() as usize)..).unwrap_or(&[]),
            None => &[],
        }
    }

    #[inline]
    fn height(&self) -> usize {
        self.member.as_ref().map_or(0, |b| b.aux() as usize)
    }

    /// Heap bytes besides the node itself.
    fn heap_bytes(&self) -> usize {
        self.member.as_ref().map_or(0, |b| b.alloc_bytes())
    }

    /// Link `i` (at least `INLINE_LINKS`), kept in the member buffer.
    #[inline]
    fn high_link(&self, i: usize) -> Link {
        let b = self.member.as_ref().map_or(&[][..], |b| b.bytes());
        let off = (i - INLINE_LINKS) * LINK_BYTES;
        Link {
            next: u32::from_le_bytes(read4(b, off)),
            span: u32::from_le_bytes(read4(b, off + 4)),
            lo: f32::from_le_bytes(read4(b, off + 8)),
        }
    }

    #[inline]
    fn set_high_link(&mut self, i: usize, l: Link) {
        let off = (i - INLINE_LINKS) * LINK_BYTES;
        if let Some(slot) = self
            .member
            .as_mut()
            .and_then(|b| b.bytes_mut().get_mut(off..off + LINK_BYTES))
        {
            slot[..4].copy_from_slice(&l.next.to_le_bytes());
            slot[4..8].copy_from_slice(&l.span.to_le_bytes());
            slot[8..].copy_from_slice(&l.lo.to_le_bytes());
        }
    }
}

/// Chunked storage of one slot size, addressed by u32 index.
#[derive(Debug)]
struct Slab<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
    /// Slots allocated over all chunks (so `alloc_bytes` is O(1)).
    capacity: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            chunks: Vec::new(),
            len: 0,
            capacity: 0,
        }
    }
}

impl<T> Slab<T> {
    #[inline(always)]
    fn get(&self, i: u32) -> &T {
        &self.chunks[(i >> CHUNK_SHIFT) as usize][i as usize & (CHUNK_NODES - 1)]
    }

    #[inline]
    fn get_mut(&mut self, i: u32) -> &mut T {
        &mut self.chunks[(i >> CHUNK_SHIFT) as usize][i as usize & (CHUNK_NODES - 1)]
    }

    fn push(&mut self, slot: T) -> u32 {
        assert!(self.len < SLAB_LEN_MAX, "sorted set arena full");
        let idx = self.len as u32;
        match self.chunks.last_mut() {
            Some(c) if c.len() < CHUNK_NODES => {
                let before = c.capacity();
                c.push(slot);
                self.capacity += c.capacity() - before;
            }
            _ => {
                let cap = if self.chunks.is_empty() {
                    FIRST_CHUNK_NODES
                } else {
                    CHUNK_NODES
                };
                let mut c = Vec::with_capacity(cap);
                c.push(slot);
                self.capacity += c.capacity();
                self.chunks.push(c);
            }
        }
        self.len += 1;
        idx
    }

    /// Keeps only the first `n` slots' storage (n within the first chunk).
    fn truncate_to_first(&mut self, n: usize) {
        self.chunks.truncate(1);
        if let Some(c) = self.chunks.first_mut() {
            c.truncate(n);
            c.shrink_to(FIRST_CHUNK_NODES);
        }
        if n == 0 {
            self.chunks.clear();
        }
        self.chunks.shrink_to_fit();
        self.len = n;
        self.capacity = self.chunks.iter().map(|c| c.capacity()).sum();
    }

    fn alloc_bytes(&self) -> usize {
        self.chunks.capacity() * std::mem::size_of::<Vec<T>>()
            + self.capacity * std::mem::size_of::<T>()
    }

    fn capacity_is_counted(&self) -> bool {
        self.capacity == self.chunks.iter().map(|c| c.capacity()).sum::<usize>()
    }
}

/// The nodes: short ones (at most `LOW_LINKS` levels) in 64-byte slots,
/// tall ones in 128-byte slots; an index with `TALL` set names a tall slot.
#[derive(Debug, Default)]
struct Arena {
    short: Slab<Node>,
    tall: Slab<TallNode>,
}

impl Arena {
    #[inline(always)]
    fn get(&self, i: u32) -> &Node {
        if i & TALL != 0 {
            &self.tall.get(i & !TALL).node
        } else {
            self.short.get(i)
        }
    }

    #[inline]
    fn get_mut(&mut self, i: u32) -> &mut Node {
        if i & TALL != 0 {
            &mut self.tall.get_mut(i & !TALL).node
        } else {
            self.short.get_mut(i)
        }
    }

    /// Link `level` of node `i` (LINK_NIL above a short node's height).
    #[inline(always)]
    fn link(&self, i: u32, level: usize) -> Link {
        if level < LOW_LINKS {
            return self.get(i).low[level];
        }
        if i & TALL == 0 {
            return LINK_NIL;
        }
        let t = self.tall.get(i & !TALL);
        match t.mid.get(level - LOW_LINKS) {
            Some(l) => *l,
            None => t.node.high_link(level),
        }
    }

    #[inline]
    fn set_link(&mut self, i: u32, level: usize, l: Link) {
        if level < LOW_LINKS {
            self.get_mut(i).low[level] = l;
            return;
        }
        if i & TALL == 0 {
            return;
        }
        let t = self.tall.get_mut(i & !TALL);
        match t.mid.get_mut(level - LOW_LINKS) {
            Some(slot) => *slot = l,
            None => t.node.set_high_link(level, l),
        }
    }

    /// Starts loading the second line of a tall node, whose links the
    /// descent reads right after the node's score.
    #[inline]
    fn prefetch_links(&self, i: u32) {
        if i & TALL != 0 {
            prefetch_read(self.tall.get(i & !TALL).mid.as_ptr());
        }
    }

    /// Stores a node of `height` levels in a fresh slot.
    fn push(&mut self, node: Node, height: usize) -> u32 {
        if height > LOW_LINKS {
            TALL | self.tall.push(TallNode {
                node,
                mid: [LINK_NIL; MID_LINKS],
            })
        } else {
            self.short.push(node)
        }
    }

    /// Slots of both kinds.
    fn len(&self) -> usize {
        self.short.len + self.tall.len
    }

    /// A dense number for index `i` in 0..len() (tall slots after short).
    fn ordinal(&self, i: u32) -> usize {
        if i & TALL != 0 {
            self.short.len + (i & !TALL) as usize
        } else {
            i as usize
        }
    }

    /// Every slot index.
    fn indices(&self) -> impl Iterator<Item = u32> {
        (0..self.short.len as u32).chain((0..self.tall.len as u32).map(|i| i | TALL))
    }

    fn alloc_bytes(&self) -> usize {
        self.short.alloc_bytes() + self.tall.alloc_bytes()
    }
}

/// (score, member) order: by score, then by member bytes (Redis's sdscmp).
#[inline]
pub fn cmp_entry(score_a: f64, member_a: &[u8], score_b: f64, member_b: &[u8]) -> Ordering {
    match score_a.partial_cmp(&score_b) {
        Some(Ordering::Equal) | None => member_a.cmp(member_b),
        Some(o) => o,
    }
}

/// A member's hash: 32 bits, enough to index any bucket array (there are at
/// most 2^32 nodes).
#[inline]
fn hash_of(member: &[u8]) -> u32 {
    member_hasher().hash(member) as u32
}

#[derive(Debug)]
pub struct SkipList {
    arena: Arena,
    /// Hash buckets: the first node of each chain, NIL when empty.
    buckets: Vec<u32>,
    tail: u32,
    len: usize,
    level: usize,
    rng: u64,
    /// First vacant short slot (chained through `hnext`), NIL when none.
    free_short: u32,
    /// First vacant tall slot, NIL when none.
    free_tall: u32,
    /// Vacant slots of both kinds.
    free_len: usize,
    /// Member bytes plus higher-level links, for memory accounting.
    heap_bytes: usize,
}

impl Default for SkipList {
    fn default() -> Self {
        SkipList::new()
    }
}

/// Per-level predecessors of a position and their ranks.
type Path = ([u32; LEVEL_MAX], [u32; LEVEL_MAX]);

/// Most entries `prefetch_updates` looks ahead for (two descents each).
pub const PREFETCH_ENTRIES_MAX: usize = 16;
/// Hash chain nodes `prefetch_updates` follows per entry.
const PREFETCH_CHAIN_ROUNDS: usize = 3;

/// What a command about to run does with a member, for `prefetch_updates`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Ahead {
    /// Looks it up only (ZSCORE).
    Lookup,
    /// Reads or changes it at its current position (ZREM, ZRANK, ZINCRBY).
    Position,
    /// Sets its score (ZADD): from its current position to this score's.
    MoveTo(f64),
}

/// One descent of `prefetch_updates`: at node `x` with `levels` levels
/// left to walk, about to read `cand` (NIL when done).
#[derive(Clone, Copy)]
struct Walk<'a> {
    score: f64,
    member: &'a [u8],
    x: u32,
    levels: usize,
    cand: u32,
}

impl Walk<'_> {
    const DONE: Walk<'static> = Walk {
        score: 0.0,
        member: &[],
        x: HEAD,
        levels: 0,
        cand: NIL,
    };
}

impl SkipList {
    pub fn new() -> SkipList {
        let mut arena = Arena::default();
        let mut header = Node::vacant(NIL);
        header.member = Some(member_buf(LEVEL_MAX, &[]));
        let head = arena.push(header, LEVEL_MAX);
        debug_assert_eq!(head, HEAD);
        SkipList {
            arena,
            buckets: Vec::new(),
            tail: NIL,
            len: 0,
            level: 1,
            rng: 0x9e37_79b9_7f4a_7c15,
            free_short: NIL,
            free_tall: NIL,
            free_len: 0,
            heap_bytes: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Heap bytes held (arena, buckets, members, higher links).
    pub fn mem_bytes(&self) -> usize {
        self.arena.alloc_bytes()
            + self.buckets.capacity() * std::mem::size_of::<u32>()
            + self.node(HEAD).heap_bytes()
            + self.heap_bytes
    }

    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    #[inline]
    fn node(&self, x: u32) -> &Node {
        self.arena.get(x)
    }

    #[inline]
    fn node_mut(&mut self, x: u32) -> &mut Node {
        self.arena.get_mut(x)
    }

    #[inline]
    fn link(&self, x: u32, i: usize) -> Link {
        self.arena.link(x, i)
    }

    #[inline]
    fn set_link(&mut self, x: u32, i: usize, l: Link) {
        self.arena.set_link(x, i, l)
    }

    #[inline]
    fn update_link(&mut self, x: u32, i: usize, f: impl FnOnce(&mut Link)) {
        let mut l = self.link(x, i);
        f(&mut l);
        self.set_link(x, i, l);
    }

    fn random_level(&mut self) -> usize {
        let mut level = 1;
        loop {
            let mut x = self.rng;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.rng = x;
            if level < LEVEL_MAX && x % 100 < LEVEL_UP_PERCENT {
                level += 1;
            } else {
                return level;
            }
        }
    }

    #[inline]
    fn next(&self, x: u32, i: usize) -> u32 {
        self.link(x, i).next
    }

    /// The target of link (x, i) if it sorts before (score, member); reads
    /// the target only when its cached lower bound does not rule it out.
    #[inline]
    fn link_before(&self, x: u32, i: usize, score: f64, member: &[u8]) -> Option<u32> {
        let l = self.link(x, i);
        if l.next == NIL || l.lo as f64 > score {
            return None;
        }
        self.arena.prefetch_links(l.next);
        let n = self.node(l.next);
        let before = match n.score.partial_cmp(&score) {
            Some(Ordering::Equal) | None => n.member() < member,
            Some(o) => o == Ordering::Less,
        };
        before.then_some(l.next)
    }

    /// The nodes just before (score, member) at every level, with their ranks.
    fn descend(&self, score: f64, member: &[u8]) -> Path {
        let mut update = [HEAD; LEVEL_MAX];
        let mut rank = [0u32; LEVEL_MAX];
        let mut x = HEAD;
        let mut r = 0;
        for i in (0..self.level).rev() {
            while let Some(nx) = self.link_before(x, i, score, member) {
                r += self.link(x, i).span;
                x = nx;
            }
            update[i] = x;
            rank[i] = r;
        }
        (update, rank)
    }

    // ---- batch look-ahead ----

    /// Loads into cache what a batch of sorted-set commands about to run
    /// will read: for each (member, what), the member's hash chain and
    /// bytes, the descent to its current position when it is present and
    /// `what` needs it (a move unlinks it from there, ZRANK counts it) and,
    /// for `Ahead::MoveTo`, the descent to the new position. The descents
    /// walk in lockstep, one step of each in turn, so their cache misses
    /// overlap instead of queueing one after the other: a pipelined batch of
    /// ZADDs into a big set pays a few memory latencies per level of the
    /// list, not one per step of every descent. A hint only: it reads and
    /// changes nothing; entries past `PREFETCH_ENTRIES_MAX` are ignored.
    pub fn prefetch_updates(&self, entries: &[(&[u8], Ahead)]) {
        if self.buckets.is_empty() || entries.len() < 2 {
            return;
        }
        let entries = &entries[..entries.len().min(PREFETCH_ENTRIES_MAX)];
        let mask = self.buckets.len() - 1;
        // The chains: bucket slots, then their nodes, round by round.
        let mut hashes = [0u32; PREFETCH_ENTRIES_MAX];
        let mut chain = [NIL; PREFETCH_ENTRIES_MAX];
        for (h, (member, _)) in hashes.iter_mut().zip(entries) {
            *h = hash_of(member);
            prefetch_read(&self.buckets[*h as usize & mask]);
        }
        for (x, &h) in chain.iter_mut().zip(&hashes[..entries.len()]) {
            *x = self.buckets[h as usize & mask];
            if *x != NIL {
                prefetch_read(self.node(*x));
            }
        }
        let mut walks = [Walk::DONE; 2 * PREFETCH_ENTRIES_MAX];
        let mut n_walks = 0;
        for &(member, what) in entries {
            if let Ahead::MoveTo(score) = what {
                walks[n_walks] = self.walk_start(score, member);
                n_walks += 1;
            }
        }
        for _ in 0..PREFETCH_CHAIN_ROUNDS {
            let mut pending = false;
            for (i, x) in chain[..entries.len()].iter_mut().enumerate() {
                if *x == NIL {
                    continue;
                }
                let n = self.node(*x);
                if n.hash == hashes[i] {
                    // Probably the member (a hint need not compare bytes):
                    // ZADD compares them, and moves it from its score.
                    if let Some(b) = &n.member {
                        b.prefetch();
                    }
                    // Its neighbours: whether it moves is read from them.
                    for y in [n.backward, n.low[0].next] {
                        if y != NIL {
                            prefetch_read(self.node(y));
                        }
                    }
                    let walk_to_current = match entries[i].1 {
                        Ahead::MoveTo(score) => score != n.score,
                        Ahead::Position => true,
                        Ahead::Lookup => false,
                    };
                    if walk_to_current {
                        walks[n_walks] = self.walk_start(n.score, entries[i].0);
                        n_walks += 1;
                    }
                    *x = NIL;
                } else {
                    *x = n.hnext;
                    if *x != NIL {
                        prefetch_read(self.node(*x));
                        pending = true;
                    }
                }
            }
            if !pending {
                break;
            }
        }
        // The descents, one step each per round.
        loop {
            let mut active = false;
            for w in &mut walks[..n_walks] {
                if w.cand != NIL {
                    self.walk_step(w);
                    active |= w.cand != NIL;
                }
            }
            if !active {
                break;
            }
        }
    }

    /// A descent towards (score, member) at the header, its first step
    /// prefetched.
    fn walk_start<'a>(&self, score: f64, member: &'a [u8]) -> Walk<'a> {
        let mut w = Walk {
            score,
            member,
            x: HEAD,
            levels: self.level,
            cand: NIL,
        };
        self.walk_seek(&mut w);
        w
    }

    /// Finds the next node the walk must read (the target of the first link
    /// from `x`, going down, that its cached bound does not rule out) and
    /// starts loading it; `cand` is NIL when the walk is over.
    #[inline]
    fn walk_seek(&self, w: &mut Walk) {
        while w.levels > 0 {
            let l = self.link(w.x, w.levels - 1);
            if l.next != NIL && l.lo as f64 <= w.score {
                w.cand = l.next;
                prefetch_read(self.node(l.next));
                self.arena.prefetch_links(l.next);
                return;
            }
            w.levels -= 1;
        }
        w.cand = NIL;
    }

    /// One step of `descend`: reads the candidate (loaded since the last
    /// round), advances to it or goes down a level, and seeks the next.
    #[inline]
    fn walk_step(&self, w: &mut Walk) {
        let n = self.node(w.cand);
        let before = match n.score.partial_cmp(&w.score) {
            Some(Ordering::Equal) | None => n.member() < w.member,
            Some(o) => o == Ordering::Less,
        };
        if before {
            w.x = w.cand;
        } else {
            w.levels -= 1;
        }
        self.walk_seek(w);
    }

    // ---- hash table ----

    /// The node holding `member`.
    #[inline]
    pub fn find(&self, member: &[u8]) -> Option<u32> {
        if self.buckets.is_empty() {
            return None;
        }
        let hash = hash_of(member);
        let mut x = self.buckets[hash as usize & (self.buckets.len() - 1)];
        while x != NIL {
            let n = self.node(x);
            if n.hash == hash && n.member() == member {
                return Some(x);
            }
            x = n.hnext;
        }
        None
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.find(member).map(|x| self.node(x).score)
    }

    fn hash_link(&mut self, x: u32, hash: u32) {
        let b = hash as usize & (self.buckets.len() - 1);
        let head = self.buckets[b];
        let n = self.node_mut(x);
        n.hnext = head;
        n.hash = hash;
        self.buckets[b] = x;
    }

    fn hash_unlink(&mut self, x: u32) {
        let b = self.node(x).hash as usize & (self.buckets.len() - 1);
        let after = self.node(x).hnext;
        if self.buckets[b] == x {
            self.buckets[b] = after;
            return;
        }
        let mut p = self.buckets[b];
        while p != NIL {
            let pn = self.node(p).hnext;
            if pn == x {
                self.node_mut(p).hnext = after;
                return;
            }
            p = pn;
        }
    }

    /// Re-chains every live node into `count` buckets (a power of two, or 0
    /// when the list is empty).
    fn rehash(&mut self, count: usize) {
        let old = std::mem::replace(&mut self.buckets, vec![NIL; count]);
        for mut x in old {
            while x != NIL {
                let (after, h) = (self.node(x).hnext, self.node(x).hash);
                self.hash_link(x, h);
                x = after;
            }
        }
    }

    fn grow_buckets_for_one(&mut self) {
        if self.len >= self.buckets.len() {
            self.rehash((self.len + 1).next_power_of_two().max(BUCKETS_MIN));
        }
    }

    fn maybe_shrink_buckets(&mut self) {
        let count = self.buckets.len();
        if self.len == 0 {
            self.buckets = Vec::new();
        } else if count > BUCKETS_MIN && self.len * 8 < count {
            self.rehash(self.len.next_power_of_two().max(BUCKETS_MIN));
        }
    }

    /// Visits one bucket (the one `cursor` names) and returns the next cursor;
    /// 0 means the iteration is complete. Redis's reverse-binary increment.
    pub fn scan(&self, cursor: u64, mut visit: impl FnMut(&[u8], f64)) -> u64 {
        if self.buckets.is_empty() {
            return 0;
        }
        let mask = (self.buckets.len() - 1) as u64;
        let mut x = self.buckets[(cursor & mask) as usize];
        while x != NIL {
            let n = self.node(x);
            visit(n.member(), n.score);
            x = n.hnext;
        }
        let mut v = cursor | !mask;
        v = v.reverse_bits();
        v = v.wrapping_add(1);
        v.reverse_bits()
    }

    // ---- skiplist ----

    /// Links node `x` (with its height, member and hash chain already set)
    /// at score `score`, given the search path to its position.
    fn link_in(&mut self, x: u32, score: f64, path: Path) {
        let (mut update, mut rank) = path;
        let height = self.node(x).height();
        if height > self.level {
            for i in self.level..height {
                rank[i] = 0;
                update[i] = HEAD;
                let len = self.len as u32;
                self.update_link(HEAD, i, |l| l.span = len);
            }
            self.level = height;
        }
        for i in 0..height {
            let up = self.link(update[i], i);
            let skipped = rank[0] - rank[i];
            self.set_link(
                x,
                i,
                Link {
                    next: up.next,
                    span: up.span - skipped,
                    lo: up.lo,
                },
            );
            self.set_link(
                update[i],
                i,
                Link {
                    next: x,
                    span: skipped + 1,
                    lo: score_lower_bound(score),
                },
            );
        }
        for (i, &u) in update.iter().enumerate().take(self.level).skip(height) {
            self.update_link(u, i, |l| l.span += 1);
        }
        let backward = if update[0] == HEAD { NIL } else { update[0] };
        let after = self.node(x).low[0].next;
        let n = self.node_mut(x);
        n.score = score;
        n.backward = backward;
        if after != NIL {
            self.node_mut(after).backward = x;
        } else {
            self.tail = x;
        }
        self.len += 1;
    }

    /// Inserts a member known to be absent; returns its node.
    pub fn insert(&mut self, member: &[u8], score: f64) -> u32 {
        let height = self.random_level();
        self.insert_at_height(member, score, height)
    }

    fn insert_at_height(&mut self, member: &[u8], score: f64, height: usize) -> u32 {
        let path = self.descend(score, member);
        self.grow_buckets_for_one();
        let node = Node {
            member: Some(member_buf(height, member)),
            score,
            backward: NIL,
            hnext: NIL,
            hash: 0,
            low: [LINK_NIL; LOW_LINKS],
        };
        self.heap_bytes += node.heap_bytes();
        let free = if height > LOW_LINKS {
            &mut self.free_tall
        } else {
            &mut self.free_short
        };
        let x = if *free != NIL {
            let x = *free;
            *free = self.arena.get(x).hnext;
            self.free_len -= 1;
            *self.node_mut(x) = node;
            x
        } else {
            self.arena.push(node, height)
        };
        self.hash_link(x, hash_of(member));
        self.link_in(x, score, path);
        x
    }

    /// Unlinks node `x` from every level, given its predecessors.
    fn unlink(&mut self, x: u32, update: &[u32; LEVEL_MAX]) {
        for (i, &u) in update.iter().enumerate().take(self.level) {
            if self.next(u, i) == x {
                let l = self.link(x, i);
                self.update_link(u, i, |ul| {
                    ul.span = ul.span + l.span - 1;
                    ul.next = l.next;
                    ul.lo = l.lo;
                });
            } else {
                self.update_link(u, i, |ul| ul.span -= 1);
            }
        }
        let (next0, back) = (self.node(x).low[0].next, self.node(x).backward);
        if next0 != NIL {
            self.node_mut(next0).backward = back;
        } else {
            self.tail = back;
        }
        while self.level > 1 && self.link(HEAD, self.level - 1).next == NIL {
            self.level -= 1;
        }
        self.len -= 1;
    }

    /// The predecessors of node `x` at every level.
    fn path_to(&self, x: u32) -> Path {
        let n = self.node(x);
        self.descend(n.score, n.member())
    }

    /// Takes an unlinked node out of the hash table and frees its slot;
    /// returns its member.
    fn release(&mut self, x: u32) -> Box<[u8]> {
        self.hash_unlink(x);
        let free = if x & TALL != 0 {
            &mut self.free_tall
        } else {
            &mut self.free_short
        };
        let after = std::mem::replace(free, x);
        let node = std::mem::replace(self.node_mut(x), Node::vacant(after));
        self.heap_bytes -= node.heap_bytes();
        self.maybe_shrink_buckets();
        if self.len == 0 {
            self.arena.short.truncate_to_first(0);
            self.arena.tall.truncate_to_first(1);
            self.free_short = NIL;
            self.free_tall = NIL;
            self.free_len = 0;
        } else {
            self.free_len += 1;
            if self.free_len > FREE_SLOTS_COMPACT_MIN && self.free_len > self.len {
                self.compact();
            }
        }
        node.member().into()
    }

    /// Removes a member; returns its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let x = self.find(member)?;
        let (update, _) = self.path_to(x);
        let score = self.node(x).score;
        self.unlink(x, &update);
        self.release(x);
        Some(score)
    }

    /// Removes and returns the first (or, with `rev`, last) entry.
    pub fn pop(&mut self, rev: bool) -> Option<(Box<[u8]>, f64)> {
        let x = if rev { self.tail } else { self.first() };
        if x == NIL {
            return None;
        }
        // Every level's predecessor of the first node is the header.
        let update = if rev {
            self.path_to(x).0
        } else {
            [HEAD; LEVEL_MAX]
        };
        let score = self.node(x).score;
        self.unlink(x, &update);
        let member = self.release(x);
        self.prefetch_pop(rev);
        Some((member, score))
    }

    /// Pops come in runs (ZPOPMIN with a count, a pipeline of them): the
    /// next node to pop is in cache (unlinking read it), so start loading
    /// what popping it will read: its member, its hash bucket and its
    /// neighbour, whose backward link changes.
    fn prefetch_pop(&self, rev: bool) {
        let y = if rev { self.tail } else { self.first() };
        if y == NIL {
            return;
        }
        let n = self.node(y);
        if let Some(b) = &n.member {
            b.prefetch();
        }
        if let Some(slot) = self
            .buckets
            .get(n.hash as usize & self.buckets.len().wrapping_sub(1))
        {
            prefetch_read(slot);
        }
        let z = if rev { n.backward } else { n.low[0].next };
        if z != NIL {
            prefetch_read(self.node(z));
        }
    }

    /// Changes the score of a present member (Redis's zslUpdateScore): in
    /// place when the order does not change, else the node moves (keeping
    /// its slot, member and height). False when the member is absent.
    pub fn set_score(&mut self, member: &[u8], new_score: f64) -> bool {
        let Some(x) = self.find(member) else {
            return false;
        };
        let n = self.node(x);
        let (back, next) = (n.backward, n.low[0].next);
        let in_place = (back == NIL || self.node(back).score < new_score)
            && (next == NIL || self.node(next).score > new_score);
        if in_place && n.height() == 1 {
            // The only link into x is its level-0 predecessor's.
            let pred = if back == NIL { HEAD } else { back };
            self.node_mut(pred).low[0].lo = score_lower_bound(new_score);
            self.node_mut(x).score = new_score;
            return true;
        }
        let (update, _) = self.path_to(x);
        if in_place {
            for (i, &u) in update.iter().enumerate().take(self.node(x).height()) {
                self.update_link(u, i, |l| l.lo = score_lower_bound(new_score));
            }
            self.node_mut(x).score = new_score;
            return true;
        }
        self.unlink(x, &update);
        let path = self.descend(new_score, self.node(x).member());
        self.link_in(x, new_score, path);
        true
    }

    /// Renumbers the live nodes densely (in slot order, so both passes
    /// read the arenas sequentially rather than chasing links) and drops the
    /// free slots.
    fn compact(&mut self) {
        let mut old = std::mem::take(&mut self.arena);
        let mut new_index = vec![NIL; old.len()];
        let mut arena = Arena::default();
        // The header first, so it stays HEAD.
        let live = std::iter::once(HEAD).chain(old.indices().filter(|&i| i != HEAD));
        for i in live.collect::<Vec<_>>() {
            let slot = old.get_mut(i);
            if slot.member.is_none() {
                continue;
            }
            let node = std::mem::replace(slot, Node::vacant(NIL));
            let at = if i & TALL != 0 {
                let mid = old.tall.get(i & !TALL).mid;
                TALL | arena.tall.push(TallNode { node, mid })
            } else {
                arena.short.push(node)
            };
            new_index[old.ordinal(i)] = at;
        }
        debug_assert_eq!(arena.len(), self.len + 1);
        // Links above a node's height are NIL (or, for a reused tall slot's
        // middle links, unused), so every inline link is remapped blindly.
        let remap = |i: u32| {
            if i == NIL {
                NIL
            } else {
                new_index.get(old.ordinal(i)).copied().unwrap_or(NIL)
            }
        };
        let remap_node = |n: &mut Node| {
            n.backward = remap(n.backward);
            n.hnext = remap(n.hnext);
            for l in n.low.iter_mut() {
                l.next = remap(l.next);
            }
        };
        for chunk in arena.short.chunks.iter_mut() {
            chunk.iter_mut().for_each(remap_node);
        }
        for chunk in arena.tall.chunks.iter_mut() {
            for t in chunk.iter_mut() {
                remap_node(&mut t.node);
                for l in t.mid.iter_mut() {
                    l.next = remap(l.next);
                }
                for level in INLINE_LINKS..t.node.height() {
                    let mut l = t.node.high_link(level);
                    l.next = remap(l.next);
                    t.node.set_high_link(level, l);
                }
            }
        }
        for b in self.buckets.iter_mut() {
            *b = remap(*b);
        }
        self.tail = remap(self.tail);
        self.arena = arena;
        self.free_short = NIL;
        self.free_tall = NIL;
        self.free_len = 0;
    }

    /// 0-based rank and score of a member, if present.
    pub fn rank(&self, member: &[u8]) -> Option<(usize, f64)> {
        let x = self.find(member)?;
        let score = self.node(x).score;
        let (update, rank) = self.descend(score, member);
        debug_assert_eq!(self.next(update[0], 0), x);
        Some((rank[0] as usize, score))
    }

    /// The node at 0-based `rank`.
    pub fn node_at(&self, rank: usize) -> u32 {
        if rank >= self.len {
            return NIL;
        }
        let target = rank as u32 + 1;
        let mut traversed = 0;
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let l = self.link(x, i);
                if l.next != NIL && traversed + l.span <= target {
                    traversed += l.span;
                    x = l.next;
                } else {
                    break;
                }
            }
            if traversed == target {
                return x;
            }
        }
        NIL
    }

    /// How many leading nodes satisfy `pred`, found by descending the levels
    /// (the walk Redis's zslFirstInRange/zslLastInRange do). Exact when `pred`
    /// holds for a prefix of the order.
    pub fn prefix_len(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut count = 0;
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let l = self.link(x, i);
                if l.next == NIL {
                    break;
                }
                let n = self.node(l.next);
                if pred(n.score, n.member()) {
                    count += l.span as usize;
                    x = l.next;
                } else {
                    break;
                }
            }
        }
        count
    }

    pub fn first(&self) -> u32 {
        self.node(HEAD).low[0].next
    }

    pub fn last(&self) -> u32 {
        self.tail
    }

    /// The node after `x` in order (`rev` walks backwards).
    pub fn step(&self, x: u32, rev: bool) -> u32 {
        let n = self.node(x);
        if rev {
            n.backward
        } else {
            n.low[0].next
        }
    }

    pub fn entry(&self, x: u32) -> (&[u8], f64) {
        let n = self.node(x);
        (n.member(), n.score)
    }

    /// Checks every invariant (tests and debug assertions).
    pub fn check(&self) -> Result<(), String> {
        let mut order = Vec::new();
        let mut x = self.first();
        let mut prev = NIL;
        while x != NIL {
            if self.node(x).backward != prev {
                return Err(format!("bad backward at {x}"));
            }
            order.push(x);
            prev = x;
            x = self.next(x, 0);
        }
        if order.len() != self.len
            || self.arena.len() != self.len + 1 + self.free_len
            || self.tail != prev
        {
            return Err("length or tail mismatch".into());
        }
        for w in order.windows(2) {
            let (a, b) = (self.node(w[0]), self.node(w[1]));
            if cmp_entry(a.score, a.member(), b.score, b.member()) != Ordering::Less {
                return Err("order violated".into());
            }
        }
        let mut rank_of = vec![0u32; self.arena.len()];
        for (r, &n) in order.iter().enumerate() {
            rank_of[self.arena.ordinal(n)] = r as u32 + 1;
        }
        let mut free = Vec::new();
        for (head, tall) in [(self.free_short, false), (self.free_tall, true)] {
            let mut f = head;
            while f != NIL {
                if (f & TALL != 0) != tall {
                    return Err(format!("slot {f} on the wrong free list"));
                }
                free.push(f);
                f = self.node(f).hnext;
            }
        }
        if free.len() != self.free_len {
            return Err("free list length".into());
        }
        let mut chained = 0;
        for (b, &head) in self.buckets.iter().enumerate() {
            let mut c = head;
            while c != NIL {
                let n = self.node(c);
                if n.hash != hash_of(n.member())
                    || n.hash as usize & (self.buckets.len() - 1) != b
                    || rank_of[self.arena.ordinal(c)] == 0
                {
                    return Err(format!("node {c} in the wrong bucket"));
                }
                chained += 1;
                c = n.hnext;
            }
        }
        if chained != self.len || (self.len > 0 && self.buckets.len() < BUCKETS_MIN) {
            return Err("hash chains do not hold every node once".into());
        }
        let mut heap = 0;
        for idx in self.arena.indices() {
            let node = self.node(idx);
            if idx != HEAD && rank_of[self.arena.ordinal(idx)] == 0 {
                if node.heap_bytes() != 0 || !free.contains(&idx) {
                    return Err(format!("slot {idx} neither linked nor free"));
                }
                continue;
            }
            if idx != HEAD {
                heap += node.heap_bytes();
                let h = node.height();
                if !(1..=LEVEL_MAX).contains(&h)
                    || (h > LOW_LINKS) != (idx & TALL != 0)
                    || node.member().len() + high_bytes(h)
                        != node.member.as_ref().map_or(0, |b| b.len())
                {
                    return Err(format!("member buffer of node {idx}"));
                }
            }
            let height = if idx == HEAD {
                self.level
            } else {
                node.height()
            };
            for i in 0..height {
                let l = self.link(idx, i);
                if l.next != NIL
                    && l.lo.to_bits() != score_lower_bound(self.node(l.next).score).to_bits()
                {
                    return Err(format!("stale cached score at node {idx} level {i}"));
                }
                // A link to NIL spans to rank `len` (Redis's convention).
                let to = if l.next == NIL {
                    self.len as u32
                } else {
                    rank_of[self.arena.ordinal(l.next)]
                };
                let from = if idx == HEAD {
                    0
                } else {
                    rank_of[self.arena.ordinal(idx)]
                };
                if to.checked_sub(from) != Some(l.span) {
                    return Err(format!(
                        "span at node {idx} level {i}: {} vs ranks {from}..{to}",
                        l.span
                    ));
                }
            }
        }
        if !self.arena.short.capacity_is_counted() || !self.arena.tall.capacity_is_counted() {
            return Err("arena capacity count".into());
        }
        if heap != self.heap_bytes {
            return Err("heap byte count".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(i: usize) -> Vec<u8> {
        format!("m{i:04}").into_bytes()
    }

    #[test]
    fn insert_rank_remove() {
        let mut sl = SkipList::new();
        for i in 0..200 {
            sl.insert(&name(i), (i % 50) as f64);
        }
        sl.check().unwrap();
        assert_eq!(sl.len(), 200);
        // Score 0 holds m0000, m0050, m0100, m0150 in member order.
        assert_eq!(sl.rank(b"m0000"), Some((0, 0.0)));
        assert_eq!(sl.rank(b"m0150"), Some((3, 0.0)));
        assert_eq!(sl.rank(b"nope"), None);
        assert_eq!(sl.score(b"m0049"), Some(49.0));
        assert_eq!(sl.entry(sl.node_at(4)), (&b"m0001"[..], 1.0));
        for i in (0..200).step_by(3) {
            assert_eq!(sl.remove(&name(i)), Some((i % 50) as f64));
            sl.check().unwrap();
        }
        assert!(sl.remove(b"nope").is_none());
        assert_eq!(sl.len(), 200 - 67);
        assert_eq!(sl.score(b"m0000"), None);
    }

    #[test]
    fn set_score_in_place_and_moving() {
        let mut sl = SkipList::new();
        for (s, m) in [(1.0, "a"), (2.0, "b"), (3.0, "c")] {
            sl.insert(m.as_bytes(), s);
        }
        assert!(sl.set_score(b"b", 2.5));
        assert_eq!(sl.rank(b"b"), Some((1, 2.5)));
        assert!(sl.set_score(b"b", 10.0));
        assert_eq!(sl.rank(b"b"), Some((2, 10.0)));
        assert_eq!(sl.entry(sl.last()), (&b"b"[..], 10.0));
        assert!(!sl.set_score(b"zz", 1.0));
        sl.check().unwrap();
        // Tall nodes too: every member moves or changes in place.
        for i in 0..500 {
            sl.insert(&name(i), i as f64);
        }
        for i in 0..500 {
            let s = if i % 2 == 0 {
                i as f64 + 0.5
            } else {
                1000.0 - i as f64
            };
            assert!(sl.set_score(&name(i), s));
        }
        sl.check().unwrap();
        assert_eq!(sl.score(&name(7)), Some(993.0));
    }

    #[test]
    fn score_lower_bounds() {
        for s in [
            0.0,
            -0.0,
            1.0,
            0.1,
            -0.1,
            1e-300,
            -1e-300,
            1e300,
            -1e300,
            16_777_217.0,
            -16_777_217.0,
            f64::MAX,
            f64::MIN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            let lo = score_lower_bound(s);
            assert!(lo as f64 <= s, "{s}: {lo}");
            // Nothing between lo and s: the next f32 up is above s.
            if lo != f32::INFINITY && lo as f64 != s {
                let up = if lo == 0.0 {
                    f32::from_bits(1)
                } else if lo > 0.0 {
                    f32::from_bits(lo.to_bits() + 1)
                } else {
                    f32::from_bits(lo.to_bits() - 1)
                };
                assert!(up as f64 > s, "{s}: {lo} {up}");
            }
        }
    }

    #[test]
    fn tall_nodes_and_close_scores() {
        // Scores that share one f32 lower bound still order exactly.
        let mut sl = SkipList::new();
        for i in 0..3000 {
            sl.insert(&name(i), 1.0 + (i % 700) as f64 * f64::EPSILON);
        }
        sl.check().unwrap();
        assert!(sl.link(HEAD, LOW_LINKS).next != NIL || sl.level <= LOW_LINKS);
        assert!(sl.link(HEAD, INLINE_LINKS).next != NIL || sl.level <= INLINE_LINKS);
        assert!(sl.arena.tall.len > 1);
        for i in (0..3000).step_by(7) {
            assert!(sl.set_score(&name(i), 1.0 + (i % 300) as f64 * f64::EPSILON));
        }
        sl.check().unwrap();
        for i in 0..3000 {
            let (r, s) = sl.rank(&name(i)).unwrap();
            assert_eq!(sl.entry(sl.node_at(r)), (&name(i)[..], s));
        }
    }

    #[test]
    fn every_height_survives_moves_removals_and_compaction() {
        // Heights past the inline links keep their links in the member buffer.
        let mut sl = SkipList::new();
        for i in 0..1500 {
            sl.insert_at_height(&name(i), i as f64, 1 + i % LEVEL_MAX);
        }
        sl.check().unwrap();
        for i in (0..1500).step_by(3) {
            assert!(sl.set_score(&name(i), 3000.0 - i as f64));
        }
        sl.check().unwrap();
        for i in (0..1500).filter(|i| i % 5 != 0) {
            assert!(sl.remove(&name(i)).is_some());
        }
        // More than half the slots were free, so both arenas were compacted.
        assert!(sl.arena.len() < 1000, "{}", sl.arena.len());
        sl.check().unwrap();
        for i in (0..1500).step_by(5) {
            let (r, s) = sl.rank(&name(i)).unwrap();
            assert_eq!(sl.entry(sl.node_at(r)), (&name(i)[..], s));
        }
        for i in 2000..2100 {
            sl.insert_at_height(&name(i), 0.5, LEVEL_MAX - i % 4);
        }
        sl.check().unwrap();
        assert_eq!(sl.len(), 300 + 100);
    }

    #[test]
    fn look_ahead_walks_end_where_descents_do() {
        let mut sl = SkipList::new();
        for i in 0..3000 {
            // Every height, and runs of equal scores ordered by member.
            sl.insert_at_height(&name(i), (i / 7) as f64, 1 + i % 12);
        }
        let walk_to = |sl: &SkipList, score: f64, member: &[u8]| {
            let mut w = sl.walk_start(score, member);
            while w.cand != NIL {
                sl.walk_step(&mut w);
            }
            w.x
        };
        for i in (0..3200).step_by(7) {
            for score in [
                (i / 7) as f64,
                i as f64 / 9.0,
                -1.0,
                f64::INFINITY,
                f64::NEG_INFINITY,
            ] {
                let m = name(i);
                assert_eq!(
                    walk_to(&sl, score, &m),
                    sl.descend(score, &m).0[0],
                    "{i} {score}"
                );
            }
        }
        // The hint changes nothing, whatever it is given.
        let names: Vec<Vec<u8>> = (2990..3010).map(name).collect();
        let entries: Vec<(&[u8], Ahead)> = names
            .iter()
            .enumerate()
            .map(|(k, m)| {
                let what = match k % 3 {
                    0 => Ahead::MoveTo(k as f64),
                    1 => Ahead::Position,
                    _ => Ahead::Lookup,
                };
                (&m[..], what)
            })
            .collect();
        sl.prefetch_updates(&entries);
        sl.check().unwrap();
        assert_eq!(sl.len(), 3000);
        SkipList::new().prefetch_updates(&entries);
    }

    #[test]
    fn prefix_len_is_rank_of_bound() {
        let mut sl = SkipList::new();
        for i in 0..1000 {
            sl.insert(i.to_string().as_bytes(), i as f64);
        }
        assert_eq!(sl.prefix_len(|s, _| s < 500.0), 500);
        assert_eq!(sl.prefix_len(|s, _| s <= 999.0), 1000);
        assert_eq!(sl.prefix_len(|_, _| false), 0);
    }

    #[test]
    fn pops_reuse_slots_and_compact() {
        let mut sl = SkipList::new();
        for i in 0..3000 {
            sl.insert(&name(i), (i * 7 % 3000) as f64);
        }
        for expect in 0..2500 {
            let (_, score) = sl.pop(false).unwrap();
            assert_eq!(score, expect as f64);
        }
        sl.check().unwrap();
        assert!(sl.arena.len() < 2000, "compacted: {}", sl.arena.len());
        assert_eq!(sl.pop(true).map(|p| p.1), Some(2999.0));
        for i in 0..100 {
            sl.insert(format!("new{i}").as_bytes(), 10_000.0 + i as f64);
        }
        // In-place score change keeps the cached link scores right.
        assert!(sl.set_score(b"new0", 10_000.5));
        sl.check().unwrap();
        assert_eq!(sl.len(), 499 + 100);
        while sl.pop(false).is_some() {}
        assert_eq!(sl.arena.len(), 1);
        assert_eq!(sl.bucket_count(), 0);
        sl.check().unwrap();
        sl.insert(b"again", 1.0);
        sl.check().unwrap();
    }

    #[test]
    fn scan_visits_every_member_across_resizes() {
        let mut sl = SkipList::new();
        for i in 0..300 {
            sl.insert(&name(i), i as f64);
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut steps = 0;
        loop {
            cursor = sl.scan(cursor, |m, _| {
                seen.insert(m.to_vec());
            });
            steps += 1;
            // Grow, then shrink, the table mid-scan.
            if steps == 20 {
                for i in 300..2000 {
                    sl.insert(&name(i), i as f64);
                }
            }
            if steps == 200 {
                for i in 300..2000 {
                    sl.remove(&name(i));
                }
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 0..300 {
            assert!(seen.contains(&name(i)), "missed {i}");
        }
        sl.check().unwrap();
    }

    /// `cargo test --release -p strata-engine batch_prefetch_bench -- --ignored --nocapture`:
    /// ZADD-like writes (random member of 1M, random score) into a set
    /// filled by as many, in batches of 16, with and without the look-ahead.
    #[test]
    #[ignore]
    fn batch_prefetch_bench() {
        let mut rng = 0x1234_5678_9abc_def1u64;
        let mut rand = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % 1_000_000
        };
        let ops: Vec<(Vec<u8>, f64)> = (0..2_000_000)
            .map(|_| (format!("element:{:06}", rand()).into_bytes(), rand() as f64))
            .collect();
        let write = |sk: &mut SkipList, m: &[u8], s: f64| {
            if sk.score(m).is_some() {
                sk.set_score(m, s);
            } else {
                sk.insert(m, s);
            }
        };
        let modes: &[bool] = match std::env::var("LOOK_AHEAD").as_deref() {
            Ok("1") => &[true],
            Ok("0") => &[false],
            _ => &[false, true],
        };
        let run = |sk: &mut SkipList, ops: &[(Vec<u8>, f64)], look_ahead: bool| {
            for batch in ops.chunks(16) {
                if look_ahead {
                    let e: Vec<(&[u8], Ahead)> = batch
                        .iter()
                        .map(|(m, s)| (&m[..], Ahead::MoveTo(*s)))
                        .collect();
                    sk.prefetch_updates(&e);
                }
                for (m, s) in batch {
                    write(sk, m, *s);
                }
            }
        };
        for round in 0..4 {
            for &look_ahead in modes {
                let mut sk = SkipList::new();
                run(&mut sk, &ops[..1_000_000], true);
                let t = std::time::Instant::now();
                run(&mut sk, &ops[1_000_000..], look_ahead);
                let ns = t.elapsed().as_nanos() as f64 / 1e6;
                eprintln!(
                    "round {round} look_ahead {look_ahead}: {ns:.0} ns/op, len {}",
                    sk.len()
                );
            }
        }
    }
}
