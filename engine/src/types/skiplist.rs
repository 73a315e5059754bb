//! An indexable skiplist ordered by (score, member), as Redis's `zskiplist`:
//! every forward link carries a span (how many nodes it skips), so rank
//! queries, access by rank and score/lex range searches are O(log N).
//!
//! Nodes live in one arena (`Vec<Node>`) addressed by index; slot 0 is the
//! header. A deleted node's slot goes on a free list that the next insert
//! reuses (no search to re-point links); when more than half the arena is
//! free, it is compacted in one O(n) renumbering pass.
//!
//! Invariants:
//! - level-0 links visit every node in increasing (score, member) order;
//!   `backward` is the level-0 predecessor (`NIL` for the first node);
//! - for every link below the list's level, `span` = rank(target) -
//!   rank(source), where the header has rank 0, the first node 1, and a NIL
//!   target counts as rank `len`;
//! - every link's cached `score` equals the score of the node it leads to;
//! - no score is NaN and no member appears twice (the caller's dict ensures it).

use std::cmp::Ordering;

/// Highest node level (ZSKIPLIST_MAXLEVEL).
pub const LEVEL_MAX: usize = 32;
/// Chance, in percent, that a node reaches the next level (ZSKIPLIST_P).
pub const LEVEL_UP_PERCENT: u64 = 25;
/// Index meaning "no node".
pub const NIL: usize = usize::MAX;
const HEAD: usize = 0;

#[derive(Clone, Copy, Debug)]
struct Level {
    next: usize,
    span: usize,
    /// The score of `next` (unused when it is NIL), so a descent compares
    /// without touching the next node unless the scores tie: one cache miss
    /// per step instead of two.
    score: f64,
}

const LINK_NIL: Level = Level {
    next: NIL,
    span: 0,
    score: 0.0,
};

#[derive(Debug)]
struct Node {
    member: Box<[u8]>,
    score: f64,
    backward: usize,
    levels: Box<[Level]>,
}

impl Node {
    /// A free slot's contents (no allocations).
    fn vacant() -> Node {
        Node {
            member: Box::default(),
            score: 0.0,
            backward: NIL,
            levels: Box::default(),
        }
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

#[derive(Debug)]
pub struct SkipList {
    nodes: Vec<Node>,
    tail: usize,
    len: usize,
    level: usize,
    rng: u64,
    /// Vacant arena slots (never the header), reused by inserts.
    free: Vec<usize>,
}

/// Free slots tolerated before the arena is compacted (besides the
/// "more than the live nodes" rule), so small lists never churn.
const FREE_SLOTS_COMPACT_MIN: usize = 1024;

impl Default for SkipList {
    fn default() -> Self {
        SkipList::new()
    }
}

impl SkipList {
    pub fn new() -> SkipList {
        let header = Node {
            member: Box::default(),
            score: 0.0,
            backward: NIL,
            levels: vec![LINK_NIL; LEVEL_MAX].into_boxed_slice(),
        };
        SkipList {
            nodes: vec![header],
            tail: NIL,
            len: 0,
            level: 1,
            rng: 0x9e37_79b9_7f4a_7c15,
            free: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sum of link slots allocated (for memory accounting).
    pub fn link_count(&self) -> usize {
        self.nodes.iter().map(|n| n.levels.len()).sum()
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
    fn next(&self, x: usize, i: usize) -> usize {
        self.nodes[x].levels[i].next
    }

    /// The target of link (x, i) and how it compares with (score, member);
    /// None at the end of the level. Reads the target only on a score tie.
    #[inline]
    fn link_cmp(&self, x: usize, i: usize, score: f64, member: &[u8]) -> Option<(usize, Ordering)> {
        let l = &self.nodes[x].levels[i];
        if l.next == NIL {
            return None;
        }
        let o = match l.score.partial_cmp(&score) {
            Some(Ordering::Equal) | None => (*self.nodes[l.next].member).cmp(member),
            Some(o) => o,
        };
        Some((l.next, o))
    }

    /// The target of link (x, i) if it sorts before (score, member).
    #[inline]
    fn link_before(&self, x: usize, i: usize, score: f64, member: &[u8]) -> Option<usize> {
        match self.link_cmp(x, i, score, member) {
            Some((nx, Ordering::Less)) => Some(nx),
            _ => None,
        }
    }

    /// Inserts a member known to be absent.
    pub fn insert(&mut self, score: f64, member: Box<[u8]>) {
        let mut update = [HEAD; LEVEL_MAX];
        let mut rank = [0usize; LEVEL_MAX];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            rank[i] = if i == self.level - 1 { 0 } else { rank[i + 1] };
            while let Some(nx) = self.link_before(x, i, score, &member) {
                rank[i] += self.nodes[x].levels[i].span;
                x = nx;
            }
            update[i] = x;
        }
        let lvl = self.random_level();
        if lvl > self.level {
            for i in self.level..lvl {
                rank[i] = 0;
                update[i] = HEAD;
                self.nodes[HEAD].levels[i].span = self.len;
            }
            self.level = lvl;
        }
        let new = self.free.pop().unwrap_or(self.nodes.len());
        let mut levels = vec![LINK_NIL; lvl].into_boxed_slice();
        for i in 0..lvl {
            let up = &mut self.nodes[update[i]].levels[i];
            levels[i].next = up.next;
            levels[i].score = up.score;
            up.next = new;
            up.score = score;
            levels[i].span = up.span - (rank[0] - rank[i]);
            up.span = rank[0] - rank[i] + 1;
        }
        for (i, &u) in update.iter().enumerate().take(self.level).skip(lvl) {
            self.nodes[u].levels[i].span += 1;
        }
        let backward = if update[0] == HEAD { NIL } else { update[0] };
        let after = levels[0].next;
        let node = Node {
            member,
            score,
            backward,
            levels,
        };
        match self.nodes.get_mut(new) {
            Some(slot) => *slot = node,
            None => self.nodes.push(node),
        }
        if after != NIL {
            self.nodes[after].backward = new;
        } else {
            self.tail = new;
        }
        self.len += 1;
    }

    /// The nodes just before (score, member) at every level.
    fn predecessors(&self, score: f64, member: &[u8]) -> [usize; LEVEL_MAX] {
        let mut update = [HEAD; LEVEL_MAX];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            while let Some(nx) = self.link_before(x, i, score, member) {
                x = nx;
            }
            update[i] = x;
        }
        update
    }

    /// Removes (score, member); returns the stored member if it was present.
    pub fn remove(&mut self, score: f64, member: &[u8]) -> Option<Box<[u8]>> {
        let update = self.predecessors(score, member);
        let x = self.next(update[0], 0);
        if x == NIL || self.nodes[x].score != score || &*self.nodes[x].member != member {
            return None;
        }
        self.unlink(x, &update);
        Some(self.release(x))
    }

    fn unlink(&mut self, x: usize, update: &[usize; LEVEL_MAX]) {
        for (i, &u) in update.iter().enumerate().take(self.level) {
            if self.next(u, i) == x {
                let l = self.nodes[x].levels[i];
                let ul = &mut self.nodes[u].levels[i];
                ul.span = ul.span + l.span - 1;
                ul.next = l.next;
                ul.score = l.score;
            } else {
                self.nodes[u].levels[i].span -= 1;
            }
        }
        let (next0, back) = (self.nodes[x].levels[0].next, self.nodes[x].backward);
        if next0 != NIL {
            self.nodes[next0].backward = back;
        } else {
            self.tail = back;
        }
        while self.level > 1 && self.nodes[HEAD].levels[self.level - 1].next == NIL {
            self.level -= 1;
        }
        self.len -= 1;
    }

    /// Frees the arena slot of an unlinked node; returns its member.
    fn release(&mut self, x: usize) -> Box<[u8]> {
        let node = std::mem::replace(&mut self.nodes[x], Node::vacant());
        if self.len == 0 {
            self.nodes.truncate(1);
            self.nodes.shrink_to_fit();
            self.free = Vec::new();
        } else {
            self.free.push(x);
            if self.free.len() > FREE_SLOTS_COMPACT_MIN && self.free.len() > self.len {
                self.compact();
            }
        }
        node.member
    }

    /// Renumbers the live nodes densely (in list order) and drops the free slots.
    fn compact(&mut self) {
        let mut new_index = vec![NIL; self.nodes.len()];
        new_index[HEAD] = HEAD;
        let mut order = Vec::with_capacity(self.len);
        let mut x = self.first();
        while x != NIL {
            new_index[x] = order.len() + 1;
            order.push(x);
            x = self.next(x, 0);
        }
        let remap = |i: usize| if i == NIL { NIL } else { new_index[i] };
        let mut old = std::mem::take(&mut self.nodes);
        let mut nodes = Vec::with_capacity(order.len() + 1);
        nodes.push(std::mem::replace(&mut old[HEAD], Node::vacant()));
        for &i in &order {
            nodes.push(std::mem::replace(&mut old[i], Node::vacant()));
        }
        for n in &mut nodes {
            n.backward = remap(n.backward);
            for l in n.levels.iter_mut() {
                l.next = remap(l.next);
            }
        }
        self.nodes = nodes;
        self.tail = remap(self.tail);
        self.free = Vec::new();
    }

    /// Removes and returns the first (or, with `rev`, last) entry.
    pub fn pop(&mut self, rev: bool) -> Option<(Box<[u8]>, f64)> {
        let x = if rev { self.tail } else { self.first() };
        if x == NIL {
            return None;
        }
        // Every level's predecessor of the first node is the header.
        let update = if rev {
            self.predecessors_of(x)
        } else {
            [HEAD; LEVEL_MAX]
        };
        let score = self.nodes[x].score;
        self.unlink(x, &update);
        Some((self.release(x), score))
    }

    /// The nodes just before node `target` at every level.
    fn predecessors_of(&self, target: usize) -> [usize; LEVEL_MAX] {
        let t = &self.nodes[target];
        self.predecessors(t.score, &t.member)
    }

    /// Changes the score of a present member, keeping its node when the order
    /// does not change (Redis's zslUpdateScore).
    pub fn update_score(&mut self, score: f64, member: &[u8], new_score: f64) -> bool {
        let update = self.predecessors(score, member);
        let x = self.next(update[0], 0);
        if x == NIL || self.nodes[x].score != score || &*self.nodes[x].member != member {
            return false;
        }
        let back = self.nodes[x].backward;
        let next = self.nodes[x].levels[0].next;
        if (back == NIL || self.nodes[back].score < new_score)
            && (next == NIL || self.nodes[next].score > new_score)
        {
            self.nodes[x].score = new_score;
            // The links into x (one per level of x) cache its score.
            for (i, &u) in update.iter().enumerate().take(self.nodes[x].levels.len()) {
                self.nodes[u].levels[i].score = new_score;
            }
            return true;
        }
        self.unlink(x, &update);
        let m = self.release(x);
        self.insert(new_score, m);
        true
    }

    /// 0-based rank of (score, member), if present.
    pub fn rank(&self, score: f64, member: &[u8]) -> Option<usize> {
        let mut rank = 0;
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            while let Some((nx, o)) = self.link_cmp(x, i, score, member) {
                if o == Ordering::Greater {
                    break;
                }
                rank += self.nodes[x].levels[i].span;
                x = nx;
            }
            if x != HEAD && &*self.nodes[x].member == member {
                return Some(rank - 1);
            }
        }
        None
    }

    /// The node at 0-based `rank`.
    pub fn node_at(&self, rank: usize) -> usize {
        if rank >= self.len {
            return NIL;
        }
        let target = rank + 1;
        let mut traversed = 0;
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let nx = self.next(x, i);
                let span = self.nodes[x].levels[i].span;
                if nx != NIL && traversed + span <= target {
                    traversed += span;
                    x = nx;
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
                let nx = self.next(x, i);
                if nx != NIL && pred(self.nodes[nx].score, &self.nodes[nx].member) {
                    count += self.nodes[x].levels[i].span;
                    x = nx;
                } else {
                    break;
                }
            }
        }
        count
    }

    pub fn first(&self) -> usize {
        self.nodes[HEAD].levels[0].next
    }

    pub fn last(&self) -> usize {
        self.tail
    }

    /// The node after `x` in order (`rev` walks backwards).
    pub fn step(&self, x: usize, rev: bool) -> usize {
        if rev {
            self.nodes[x].backward
        } else {
            self.nodes[x].levels[0].next
        }
    }

    pub fn entry(&self, x: usize) -> (&[u8], f64) {
        let n = &self.nodes[x];
        (&n.member, n.score)
    }

    /// Checks every invariant (tests and debug assertions).
    pub fn check(&self) -> Result<(), String> {
        let mut order = Vec::new();
        let mut x = self.first();
        let mut prev = NIL;
        while x != NIL {
            if self.nodes[x].backward != prev {
                return Err(format!("bad backward at {x}"));
            }
            order.push(x);
            prev = x;
            x = self.next(x, 0);
        }
        if order.len() != self.len
            || self.nodes.len() != self.len + 1 + self.free.len()
            || self.tail != prev
        {
            return Err("length or tail mismatch".into());
        }
        for w in order.windows(2) {
            let (a, b) = (&self.nodes[w[0]], &self.nodes[w[1]]);
            if cmp_entry(a.score, &a.member, b.score, &b.member) != Ordering::Less {
                return Err("order violated".into());
            }
        }
        let mut rank_of = vec![0usize; self.nodes.len()];
        for (r, &n) in order.iter().enumerate() {
            rank_of[n] = r + 1;
        }
        for (idx, node) in self.nodes.iter().enumerate() {
            if idx != HEAD && rank_of[idx] == 0 {
                if !node.levels.is_empty() || !self.free.contains(&idx) {
                    return Err(format!("slot {idx} neither linked nor free"));
                }
                continue;
            }
            let height = if idx == HEAD {
                self.level
            } else {
                node.levels.len()
            };
            for i in 0..height {
                let l = node.levels[i];
                if l.next != NIL && l.score.to_bits() != self.nodes[l.next].score.to_bits() {
                    return Err(format!("stale cached score at node {idx} level {i}"));
                }
                // A link to NIL spans to rank `len` (Redis's convention).
                let to = if l.next == NIL {
                    self.len
                } else {
                    rank_of[l.next]
                };
                let from = if idx == HEAD { 0 } else { rank_of[idx] };
                if to.checked_sub(from) != Some(l.span) {
                    return Err(format!(
                        "span at node {idx} level {i}: {} vs ranks {from}..{to}",
                        l.span
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> Box<[u8]> {
        s.as_bytes().into()
    }

    #[test]
    fn insert_rank_remove() {
        let mut sl = SkipList::new();
        for i in 0..200 {
            sl.insert((i % 50) as f64, m(&format!("m{i:03}")));
        }
        sl.check().unwrap();
        assert_eq!(sl.len(), 200);
        // Score 0 holds m000, m050, m100, m150 in member order.
        assert_eq!(sl.rank(0.0, b"m000"), Some(0));
        assert_eq!(sl.rank(0.0, b"m150"), Some(3));
        assert_eq!(sl.rank(0.0, b"m001"), None);
        assert_eq!(sl.entry(sl.node_at(4)), (&b"m001"[..], 1.0));
        for i in (0..200).step_by(3) {
            assert!(sl
                .remove((i % 50) as f64, format!("m{i:03}").as_bytes())
                .is_some());
            sl.check().unwrap();
        }
        assert!(sl.remove(1.0, b"nope").is_none());
        assert_eq!(sl.len(), 200 - 67);
    }

    #[test]
    fn update_score_in_place_and_moving() {
        let mut sl = SkipList::new();
        for (s, name) in [(1.0, "a"), (2.0, "b"), (3.0, "c")] {
            sl.insert(s, m(name));
        }
        assert!(sl.update_score(2.0, b"b", 2.5));
        assert_eq!(sl.rank(2.5, b"b"), Some(1));
        assert!(sl.update_score(2.5, b"b", 10.0));
        assert_eq!(sl.rank(10.0, b"b"), Some(2));
        assert_eq!(sl.entry(sl.last()), (&b"b"[..], 10.0));
        sl.check().unwrap();
    }

    #[test]
    fn prefix_len_is_rank_of_bound() {
        let mut sl = SkipList::new();
        for i in 0..1000 {
            sl.insert(i as f64, m(&i.to_string()));
        }
        assert_eq!(sl.prefix_len(|s, _| s < 500.0), 500);
        assert_eq!(sl.prefix_len(|s, _| s <= 999.0), 1000);
        assert_eq!(sl.prefix_len(|_, _| false), 0);
    }

    #[test]
    fn pops_reuse_slots_and_compact() {
        let mut sl = SkipList::new();
        for i in 0..3000 {
            sl.insert((i * 7 % 3000) as f64, m(&format!("m{i:04}")));
        }
        for expect in 0..2500 {
            let (_, score) = sl.pop(false).unwrap();
            assert_eq!(score, expect as f64);
        }
        sl.check().unwrap();
        assert!(sl.nodes.len() < 2000, "compacted: {}", sl.nodes.len());
        assert_eq!(sl.pop(true).map(|p| p.1), Some(2999.0));
        for i in 0..100 {
            sl.insert(10_000.0 + i as f64, m(&format!("new{i}")));
        }
        // In-place score change keeps the cached link scores right.
        assert!(sl.update_score(10_000.0, b"new0", 10_000.5));
        sl.check().unwrap();
        assert_eq!(sl.len(), 499 + 100);
        while sl.pop(false).is_some() {}
        assert_eq!(sl.nodes.len(), 1);
        sl.check().unwrap();
    }
}
