//! Lists: a deque of nodes, each a packed buffer of entries (`packed`), the
//! shape of Redis 7.0's quicklist of listpacks. Redis 7.0 reports every list as
//! "quicklist" (the "listpack" list encoding arrived in 7.2), so does this.
//!
//! Node size follows `list-max-listpack-size` (`fill`): positive = at most that
//! many entries per node (and never more than `NODE_SAFETY_BYTES`), -1..-5 =
//! at most 4..64 KiB of entries per node. An element bigger than the limit
//! gets a node of its own.
//!
//! A list that fits one node is one exact-size allocation (`Repr::Small`);
//! a bigger one is a `Quick` deque of nodes, and goes back to `Small` when
//! removals leave it one node.
//!
//! Invariants:
//! - a `Quick` has at least two nodes, none empty; its `len` is the sum of
//!   the nodes' counts and `buf_bytes` the sum of the node buffers'
//!   capacities, so `mem_bytes` is O(1);
//! - a `Small` buffer is empty or holds entries and a non-zero count trailer.

use std::collections::VecDeque;

use super::packed;

/// Node byte limits for `fill` -1, -2, -3, -4, -5 (and below).
const NODE_BYTES_BY_LEVEL: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
/// With a positive (entry count) fill a node still stays under this size
/// (Redis's SIZE_SAFETY_LIMIT).
pub const NODE_SAFETY_BYTES: usize = 8192;
/// Up to this many nodes the node array grows one slot at a time.
const NODES_EXACT_GROWTH_MAX: usize = 4;

#[derive(Debug, Default)]
struct Node {
    buf: Vec<u8>,
    count: u32,
    /// The node's size as a Redis listpack (`lp_size`), 0 when not known
    /// yet: every edit but a push forgets it, the next push recounts.
    lp_bytes: u32,
}

impl Node {
    /// Byte offset of entry `i` (0 ≤ i ≤ count), walking from the nearer end.
    fn offset_of(&self, i: usize) -> usize {
        offset_in(&self.buf, self.count as usize, i)
    }

    fn with_elem(elem: &[u8]) -> Node {
        let mut buf = Vec::new();
        packed::push(&mut buf, elem);
        Node {
            buf,
            count: 1,
            lp_bytes: 0,
        }
    }

    /// Bytes this node would take as a Redis listpack, counted once and
    /// then kept up to date by pushes.
    fn lp_size(&mut self) -> usize {
        if self.lp_bytes == 0 {
            self.lp_bytes = lp_size_of(&self.buf).min(u32::MAX as usize) as u32;
        }
        self.lp_bytes as usize
    }

    /// Whether Redis would push `elem` into this node (see `lp_allows`).
    fn allows_push(&mut self, elem: &[u8], fill: i64) -> bool {
        self.count == 0 || lp_allows(self.count, self.lp_size(), elem.len(), fill)
    }

    /// After pushing `elem` into a node whose listpack size was `before`.
    fn pushed(&mut self, before: usize, elem: &[u8]) {
        self.lp_bytes = (before + lp_entry_size(elem)).min(u32::MAX as usize) as u32;
    }
}

/// Listpack header (total bytes, count) plus its end byte.
const LP_OVERHEAD_BYTES: usize = 7;
/// What Redis adds to a node's size to estimate one more entry
/// (SIZE_ESTIMATE_OVERHEAD in quicklist.c).
const LP_ENTRY_ESTIMATE_BYTES: usize = 8;

/// Bytes a listpack gives `elem` (integers in `string2ll` form packed).
fn lp_entry_size(elem: &[u8]) -> usize {
    super::stream::listpack::str_entry_bytes(elem)
}

/// A packed buffer's size as a Redis listpack.
fn lp_size_of(buf: &[u8]) -> usize {
    LP_OVERHEAD_BYTES + packed::iter(buf).map(lp_entry_size).sum::<usize>()
}

/// Redis 7.0's `_quicklistNodeAllowInsert`: a node of `count` entries and
/// `lp_bytes` listpack bytes takes an element of `elem_len` raw bytes when
/// the estimate `lp_bytes + elem_len + 8` stays within the size limit
/// (`fill` < 0), or within 8 KiB and under `fill` entries (`fill` ≥ 0).
/// Sizing nodes like this keeps node boundaries, and so DUMP and RDB bytes,
/// the same as Redis's.
fn lp_allows(count: u32, lp_bytes: usize, elem_len: usize, fill: i64) -> bool {
    let new_size = lp_bytes + elem_len + LP_ENTRY_ESTIMATE_BYTES;
    if fill < 0 {
        new_size <= node_bytes_max(fill)
    } else {
        new_size <= NODE_SAFETY_BYTES && (count as i64) < fill
    }
}

/// Byte offset of entry `i` (0 ≤ i ≤ count) of a packed buffer, walking from
/// the nearer end.
fn offset_in(buf: &[u8], count: usize, i: usize) -> usize {
    if i <= count / 2 {
        let mut off = 0;
        for _ in 0..i {
            off = packed::read(buf, off).1;
        }
        off
    } else {
        let mut off = buf.len();
        for _ in i..count {
            off = packed::prev(buf, off);
        }
        off
    }
}

fn node_bytes_max(fill: i64) -> usize {
    let level = (fill.unsigned_abs() as usize)
        .saturating_sub(1)
        .min(NODE_BYTES_BY_LEVEL.len() - 1);
    NODE_BYTES_BY_LEVEL[level]
}

/// Makes room for `add` more bytes in a quicklist node's buffer, growing it
/// geometrically up to the node's byte limit, so pushes at either end do
/// not reallocate every time (the packed helpers grow by exactly one entry).
fn reserve_node(buf: &mut Vec<u8>, add: usize, fill: i64) {
    let need = buf.len() + add;
    if buf.capacity() >= need {
        return;
    }
    let limit = if fill >= 0 {
        NODE_SAFETY_BYTES
    } else {
        node_bytes_max(fill)
    };
    let target = (buf.capacity() * 2).min(limit).max(need);
    buf.reserve_exact(target - buf.len());
}

/// Whether a node holding more than one entry grew past its limit.
fn over_limit(node: &Node, fill: i64) -> bool {
    if node.count <= 1 {
        return false;
    }
    if fill >= 0 {
        node.count as i64 > fill.max(1) || node.buf.len() > NODE_SAFETY_BYTES
    } else {
        node.buf.len() > node_bytes_max(fill)
    }
}

/// The multi-node form (two or more nodes).
#[derive(Debug, Default)]
struct Quick {
    nodes: VecDeque<Node>,
    len: usize,
    buf_bytes: usize,
}

impl Clone for Quick {
    fn clone(&self) -> Quick {
        let nodes: VecDeque<Node> = self
            .nodes
            .iter()
            .map(|n| Node {
                buf: n.buf.clone(),
                count: n.count,
                lp_bytes: n.lp_bytes,
            })
            .collect();
        let buf_bytes = nodes.iter().map(|n| n.buf.capacity()).sum();
        Quick {
            nodes,
            len: self.len,
            buf_bytes,
        }
    }
}

impl Quick {
    fn mem_bytes(&self) -> usize {
        std::mem::size_of::<Quick>()
            + self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.buf_bytes
    }

    /// Runs `f` on node `idx`, keeping `buf_bytes` and `len` in step.
    /// Forgets the node's listpack size (pushes set it again afterwards).
    fn edit<R>(&mut self, idx: usize, f: impl FnOnce(&mut Node) -> R) -> R {
        let node = &mut self.nodes[idx];
        node.lp_bytes = 0;
        let (cap, count) = (node.buf.capacity(), node.count as usize);
        let r = f(node);
        self.buf_bytes = self.buf_bytes + node.buf.capacity() - cap;
        self.len = self.len + node.count as usize - count;
        r
    }

    fn insert_node(&mut self, at: usize, node: Node) {
        self.buf_bytes += node.buf.capacity();
        self.len += node.count as usize;
        // Grow the node array exactly while it is small (most lists have one
        // node; the default growth would reserve four), geometrically after.
        if self.nodes.len() == self.nodes.capacity() && self.nodes.len() < NODES_EXACT_GROWTH_MAX {
            self.nodes.reserve_exact(1);
        }
        self.nodes.insert(at, node);
    }

    fn remove_node(&mut self, at: usize) {
        if let Some(node) = self.nodes.remove(at) {
            self.buf_bytes -= node.buf.capacity();
            self.len -= node.count as usize;
        }
        if self.nodes.capacity() > 16 && self.nodes.len() < self.nodes.capacity() / 4 {
            self.nodes.shrink_to_fit();
        }
    }

    fn push_back(&mut self, elem: &[u8], fill: i64) {
        let size = packed::entry_size(elem.len());
        let last = self.nodes.len().wrapping_sub(1);
        let room = self
            .nodes
            .back_mut()
            .map(|n| (n.allows_push(elem, fill), n.lp_size()));
        match room {
            Some((true, before)) => {
                self.edit(last, |n| {
                    reserve_node(&mut n.buf, size, fill);
                    packed::push(&mut n.buf, elem);
                    n.count += 1;
                    n.pushed(before, elem);
                });
            }
            _ => self.insert_node(self.nodes.len(), Node::with_elem(elem)),
        }
    }

    fn push_front(&mut self, elem: &[u8], fill: i64) {
        let size = packed::entry_size(elem.len());
        let room = self
            .nodes
            .front_mut()
            .map(|n| (n.allows_push(elem, fill), n.lp_size()));
        match room {
            Some((true, before)) => self.edit(0, |n| {
                reserve_node(&mut n.buf, size, fill);
                packed::insert(&mut n.buf, 0, elem);
                n.count += 1;
                n.pushed(before, elem);
            }),
            _ => self.insert_node(0, Node::with_elem(elem)),
        }
    }

    /// Removes up to `n` elements from the head, visiting them head first.
    fn drain_front(&mut self, mut n: usize, mut visit: impl FnMut(&[u8])) {
        while n > 0 && !self.nodes.is_empty() {
            let count = self.nodes[0].count as usize;
            if count <= n {
                for e in packed::iter(&self.nodes[0].buf) {
                    visit(e);
                }
                self.remove_node(0);
                n -= count;
            } else {
                self.edit(0, |node| {
                    let mut off = 0;
                    for _ in 0..n {
                        let (e, next) = packed::read(&node.buf, off);
                        visit(e);
                        off = next;
                    }
                    packed::remove(&mut node.buf, 0, off);
                    node.count -= n as u32;
                });
                n = 0;
            }
        }
    }

    /// Removes up to `n` elements from the tail, visiting them tail first.
    fn drain_back(&mut self, mut n: usize, mut visit: impl FnMut(&[u8])) {
        while n > 0 && !self.nodes.is_empty() {
            let last = self.nodes.len() - 1;
            let count = self.nodes[last].count as usize;
            if count <= n {
                for e in packed::iter(&self.nodes[last].buf).rev() {
                    visit(e);
                }
                self.remove_node(last);
                n -= count;
            } else {
                self.edit(last, |node| {
                    let mut end = node.buf.len();
                    for _ in 0..n {
                        let start = packed::prev(&node.buf, end);
                        visit(packed::read(&node.buf, start).0);
                        end = start;
                    }
                    let len = node.buf.len();
                    packed::remove(&mut node.buf, end, len);
                    node.count -= n as u32;
                });
                n = 0;
            }
        }
    }

    /// (node, index within node) of element `index` (< len), walking from the nearer end.
    fn locate(&self, index: usize) -> (usize, usize) {
        if index < self.len / 2 {
            let mut i = index;
            for (n, node) in self.nodes.iter().enumerate() {
                let c = node.count as usize;
                if i < c {
                    return (n, i);
                }
                i -= c;
            }
        } else {
            let mut from_end = self.len - index; // ≥ 1
            for (n, node) in self.nodes.iter().enumerate().rev() {
                let c = node.count as usize;
                if from_end <= c {
                    return (n, c - from_end);
                }
                from_end -= c;
            }
        }
        (self.nodes.len(), 0)
    }

    /// The element at `index` (0-based from the head).
    fn get(&self, index: usize) -> Option<&[u8]> {
        if index >= self.len {
            return None;
        }
        let (n, i) = self.locate(index);
        let node = self.nodes.get(n)?;
        Some(packed::read(&node.buf, node.offset_of(i)).0)
    }

    /// Replaces the element at `index`; false if out of range.
    fn set(&mut self, index: usize, elem: &[u8], fill: i64) -> bool {
        if index >= self.len {
            return false;
        }
        let (n, i) = self.locate(index);
        self.edit(n, |node| {
            let off = node.offset_of(i);
            let end = packed::read(&node.buf, off).1;
            packed::replace(&mut node.buf, off, end, elem);
        });
        self.split_if_needed(n, fill);
        true
    }

    /// Inserts `elem` so that it becomes element `index` (0 ≤ index ≤ len).
    fn insert(&mut self, index: usize, elem: &[u8], fill: i64) {
        if index >= self.len {
            return self.push_back(elem, fill);
        }
        if index == 0 {
            return self.push_front(elem, fill);
        }
        let (n, i) = self.locate(index);
        // At a node boundary, prefer the end of the previous node if it has room.
        if i == 0 && n > 0 && self.nodes[n - 1].allows_push(elem, fill) {
            self.edit(n - 1, |node| {
                packed::push(&mut node.buf, elem);
                node.count += 1;
            });
            return;
        }
        self.edit(n, |node| {
            let off = node.offset_of(i);
            packed::insert(&mut node.buf, off, elem);
            node.count += 1;
        });
        self.split_if_needed(n, fill);
    }

    /// Splits node `n` in halves while it is over its limit.
    fn split_if_needed(&mut self, n: usize, fill: i64) {
        if n >= self.nodes.len() || !over_limit(&self.nodes[n], fill) {
            return;
        }
        let tail = self.edit(n, |node| {
            let keep = node.count as usize / 2;
            let off = node.offset_of(keep);
            let tail: Vec<u8> = node.buf[off..].to_vec();
            node.buf.truncate(off);
            node.buf.shrink_to_fit();
            let moved = node.count - keep as u32;
            node.count = keep as u32;
            Node {
                buf: tail,
                count: moved,
                lp_bytes: 0,
            }
        });
        self.insert_node(n + 1, tail);
        self.split_if_needed(n + 1, fill);
        self.split_if_needed(n, fill);
    }

    /// Removes elements equal to `elem`: at most `limit` of them (0 = all),
    /// scanning from the tail when `from_tail`. Returns how many were removed.
    fn remove_matching(&mut self, elem: &[u8], limit: usize, from_tail: bool) -> usize {
        let mut removed = 0usize;
        let order: Vec<usize> = if from_tail {
            (0..self.nodes.len()).rev().collect()
        } else {
            (0..self.nodes.len()).collect()
        };
        for n in order {
            if limit != 0 && removed == limit {
                break;
            }
            // Byte ranges of matching entries, in buffer order.
            let node = &self.nodes[n];
            let mut ranges: Vec<(usize, usize)> = Vec::new();
            let quota = if limit == 0 {
                usize::MAX
            } else {
                limit - removed
            };
            if from_tail {
                let mut end = node.buf.len();
                while end > 0 && ranges.len() < quota {
                    let start = packed::prev(&node.buf, end);
                    if packed::read(&node.buf, start).0 == elem {
                        ranges.push((start, end));
                    }
                    end = start;
                }
                ranges.reverse();
            } else {
                let mut off = 0;
                while off < node.buf.len() && ranges.len() < quota {
                    let (e, next) = packed::read(&node.buf, off);
                    if e == elem {
                        ranges.push((off, next));
                    }
                    off = next;
                }
            }
            if ranges.is_empty() {
                continue;
            }
            removed += ranges.len();
            self.edit(n, |node| {
                let gone: usize = ranges.iter().map(|(a, b)| b - a).sum();
                let mut buf = Vec::with_capacity(node.buf.len() - gone);
                let mut from = 0;
                for (a, b) in &ranges {
                    buf.extend_from_slice(&node.buf[from..*a]);
                    from = *b;
                }
                buf.extend_from_slice(&node.buf[from..]);
                node.buf = buf;
                node.count -= ranges.len() as u32;
            });
        }
        self.drop_empty_nodes();
        removed
    }

    fn drop_empty_nodes(&mut self) {
        let mut n = 0;
        while n < self.nodes.len() {
            if self.nodes[n].count == 0 {
                self.remove_node(n);
            } else {
                n += 1;
            }
        }
    }

    /// All elements, head to tail (double-ended).
    fn iter(&self) -> Iter<'_> {
        let back_node = self.nodes.len();
        Iter {
            src: Nodes::Quick(&self.nodes),
            front: (0, 0),
            back: (back_node, 0),
            remaining: self.len,
        }
    }

    /// Elements from `start` (< len) on, head to tail, at most `count` of them.
    fn range(&self, start: usize, count: usize) -> Iter<'_> {
        let count = count.min(self.len.saturating_sub(start));
        let (n, i) = if count == 0 {
            (self.nodes.len(), 0)
        } else {
            self.locate(start)
        };
        let off = self.nodes.get(n).map_or(0, |node| node.offset_of(i));
        let back_node = self.nodes.len();
        Iter {
            src: Nodes::Quick(&self.nodes),
            front: (n, off),
            back: (back_node, 0),
            remaining: count,
        }
    }
}

/// Bytes of the count trailer behind a small list's entries.
const SMALL_TRAILER_BYTES: usize = 4;

/// A list value. While its elements fit one node it is a single exact-size
/// allocation (`Small`: the entries, then a 4-byte little-endian count; an
/// empty box is an empty list); past that a quicklist (`Quick`, two or more
/// nodes). `List` is 16 bytes and sits unboxed in `Value`.
#[derive(Debug, Clone)]
pub struct List(Repr);

#[derive(Debug, Clone)]
enum Repr {
    Small(Box<[u8]>),
    Quick(Box<Quick>),
}

impl Default for List {
    fn default() -> Self {
        List(Repr::Small(Box::default()))
    }
}

impl PartialEq for List {
    fn eq(&self, other: &List) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

fn small_count(buf: &[u8]) -> usize {
    match buf
        .len()
        .checked_sub(SMALL_TRAILER_BYTES)
        .and_then(|at| buf.get(at..))
    {
        Some(t) => u32::from_le_bytes([t[0], t[1], t[2], t[3]]) as usize,
        None => 0,
    }
}

fn small_entries(buf: &[u8]) -> &[u8] {
    &buf[..buf.len().saturating_sub(SMALL_TRAILER_BYTES)]
}

/// `lp_allows` for a small list, whose listpack size is not kept: an entry
/// takes at most 4 bytes more as listpack than packed here, so far from the
/// limit the answer needs no count, and near it the entries are counted.
fn small_allows_push(entries: &[u8], count: u32, elem: &[u8], fill: i64) -> bool {
    let lp_bound = LP_OVERHEAD_BYTES + entries.len() + 4 * count as usize;
    lp_allows(count, lp_bound, elem.len(), fill)
        || lp_allows(count, lp_size_of(entries), elem.len(), fill)
}

/// Takes a small list's buffer out as a node (no copy: the trailer is cut off).
fn small_take(b: &mut Box<[u8]>) -> Node {
    let count = small_count(b) as u32;
    let mut buf = std::mem::take(b).into_vec();
    buf.truncate(buf.len().saturating_sub(SMALL_TRAILER_BYTES));
    Node {
        buf,
        count,
        lp_bytes: 0,
    }
}

fn small_put(b: &mut Box<[u8]>, mut node: Node) {
    if node.count == 0 {
        *b = Box::default();
        return;
    }
    node.buf.reserve_exact(SMALL_TRAILER_BYTES);
    node.buf.extend_from_slice(&node.count.to_le_bytes());
    *b = node.buf.into_boxed_slice();
}

impl List {
    pub fn new() -> List {
        List::default()
    }

    /// Builds a list from elements in order (RESTORE, loaders, tests).
    pub fn from_elems<'a>(elems: impl IntoIterator<Item = &'a [u8]>, fill: i64) -> List {
        let mut l = List::new();
        for e in elems {
            l.push_back(e, fill);
        }
        l
    }

    #[inline]
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Small(b) => small_count(b),
            Repr::Quick(q) => q.len,
        }
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// OBJECT ENCODING (Redis 7.0 lists are always quicklists).
    pub fn encoding_name(&self) -> &'static str {
        "quicklist"
    }

    /// Approximate heap bytes, O(1).
    pub fn mem_bytes(&self) -> usize {
        match &self.0 {
            Repr::Small(b) => b.len(),
            Repr::Quick(q) => q.mem_bytes(),
        }
    }

    /// Number of nodes (for tests and DEBUG-style introspection).
    pub fn node_count(&self) -> usize {
        match &self.0 {
            Repr::Small(b) => (!b.is_empty()) as usize,
            Repr::Quick(q) => q.nodes.len(),
        }
    }

    /// The nodes' elements, node by node (an RDB writer emits one listpack
    /// per node, as Redis 7.0's quicklist encoding does).
    pub fn nodes(&self) -> impl Iterator<Item = packed::Iter<'_>> + '_ {
        let (small, quick) = match &self.0 {
            Repr::Small(b) => (
                (!b.is_empty()).then(|| packed::iter(small_entries(b))),
                None,
            ),
            Repr::Quick(q) => (None, Some(q.nodes.iter().map(|n| packed::iter(&n.buf)))),
        };
        small.into_iter().chain(quick.into_iter().flatten())
    }

    /// The quicklist form, converting a small list (one node) to it.
    fn quick(&mut self) -> &mut Quick {
        if let Repr::Small(b) = &mut self.0 {
            let node = small_take(b);
            let mut q = Quick::default();
            if node.count > 0 {
                q.insert_node(0, node);
            }
            self.0 = Repr::Quick(Box::new(q));
        }
        match &mut self.0 {
            Repr::Quick(q) => q,
            Repr::Small(_) => unreachable_small(),
        }
    }

    /// Back to the small form once a quicklist is down to one node.
    fn settle(&mut self) {
        if let Repr::Quick(q) = &mut self.0 {
            if q.nodes.len() <= 1 {
                let node = q.nodes.pop_front().unwrap_or_default();
                let mut b = Box::default();
                small_put(&mut b, node);
                self.0 = Repr::Small(b);
            }
        }
    }

    pub fn push_back(&mut self, elem: &[u8], fill: i64) {
        self.push(elem, fill, false)
    }

    pub fn push_front(&mut self, elem: &[u8], fill: i64) {
        self.push(elem, fill, true)
    }

    fn push(&mut self, elem: &[u8], fill: i64, front: bool) {
        if let Repr::Small(b) = &mut self.0 {
            let count = small_count(b) as u32;
            if count == 0 || small_allows_push(small_entries(b), count, elem, fill) {
                let mut node = small_take(b);
                let at = if front { 0 } else { node.buf.len() };
                packed::insert(&mut node.buf, at, elem);
                node.count += 1;
                small_put(b, node);
                return;
            }
        }
        let q = self.quick();
        if front {
            q.push_front(elem, fill)
        } else {
            q.push_back(elem, fill)
        }
    }

    pub fn pop_front(&mut self) -> Option<Vec<u8>> {
        let mut out = None;
        self.drain_front(1, |e| out = Some(e.to_vec()));
        out
    }

    pub fn pop_back(&mut self) -> Option<Vec<u8>> {
        let mut out = None;
        self.drain_back(1, |e| out = Some(e.to_vec()));
        out
    }

    /// Removes up to `n` elements from the head, visiting them head first.
    pub fn drain_front(&mut self, n: usize, visit: impl FnMut(&[u8])) {
        self.drain(n, visit, true)
    }

    /// Removes up to `n` elements from the tail, visiting them tail first.
    pub fn drain_back(&mut self, n: usize, visit: impl FnMut(&[u8])) {
        self.drain(n, visit, false)
    }

    fn drain(&mut self, n: usize, mut visit: impl FnMut(&[u8]), front: bool) {
        if n == 0 {
            return;
        }
        match &mut self.0 {
            Repr::Small(b) => {
                if b.is_empty() {
                    return;
                }
                let mut node = small_take(b);
                let take = n.min(node.count as usize);
                if front {
                    let mut off = 0;
                    for _ in 0..take {
                        let (e, next) = packed::read(&node.buf, off);
                        visit(e);
                        off = next;
                    }
                    packed::remove(&mut node.buf, 0, off);
                } else {
                    let mut end = node.buf.len();
                    for _ in 0..take {
                        let start = packed::prev(&node.buf, end);
                        visit(packed::read(&node.buf, start).0);
                        end = start;
                    }
                    let len = node.buf.len();
                    packed::remove(&mut node.buf, end, len);
                }
                node.count -= take as u32;
                small_put(b, node);
            }
            Repr::Quick(q) => {
                if front {
                    q.drain_front(n, visit)
                } else {
                    q.drain_back(n, visit)
                }
                self.settle();
            }
        }
    }

    /// The element at `index` (0-based from the head).
    pub fn get(&self, index: usize) -> Option<&[u8]> {
        match &self.0 {
            Repr::Small(b) => {
                let count = small_count(b);
                if index >= count {
                    return None;
                }
                let entries = small_entries(b);
                Some(packed::read(entries, offset_in(entries, count, index)).0)
            }
            Repr::Quick(q) => q.get(index),
        }
    }

    /// Replaces the element at `index`; false if out of range.
    pub fn set(&mut self, index: usize, elem: &[u8], fill: i64) -> bool {
        if index >= self.len() {
            return false;
        }
        let ok = self.quick().set(index, elem, fill);
        self.settle();
        ok
    }

    /// Inserts `elem` so that it becomes element `index` (0 ≤ index ≤ len).
    pub fn insert(&mut self, index: usize, elem: &[u8], fill: i64) {
        if index == 0 {
            return self.push_front(elem, fill);
        }
        if index >= self.len() {
            return self.push_back(elem, fill);
        }
        self.quick().insert(index, elem, fill);
        self.settle();
    }

    /// Removes elements equal to `elem`: at most `limit` of them (0 = all),
    /// scanning from the tail when `from_tail`. Returns how many were removed.
    pub fn remove_matching(&mut self, elem: &[u8], limit: usize, from_tail: bool) -> usize {
        if !self.iter().any(|e| e == elem) {
            return 0;
        }
        let n = self.quick().remove_matching(elem, limit, from_tail);
        self.settle();
        n
    }

    /// Keeps elements `start..start + keep` (LTRIM after index normalisation).
    pub fn trim(&mut self, start: usize, keep: usize) {
        let start = start.min(self.len());
        self.drain_front(start, |_| {});
        let extra = self.len().saturating_sub(keep);
        self.drain_back(extra, |_| {});
    }

    /// All elements, head to tail (double-ended).
    pub fn iter(&self) -> Iter<'_> {
        match &self.0 {
            Repr::Small(b) => {
                let nodes = (!b.is_empty()) as usize;
                Iter {
                    src: Nodes::Small(small_entries(b)),
                    front: (0, 0),
                    back: (nodes, 0),
                    remaining: small_count(b),
                }
            }
            Repr::Quick(q) => q.iter(),
        }
    }

    /// Elements from `start` on, head to tail, at most `count` of them.
    pub fn range(&self, start: usize, count: usize) -> Iter<'_> {
        match &self.0 {
            Repr::Small(b) => {
                let len = small_count(b);
                let count = count.min(len.saturating_sub(start));
                let entries = small_entries(b);
                let off = if count == 0 {
                    entries.len()
                } else {
                    offset_in(entries, len, start)
                };
                Iter {
                    src: Nodes::Small(entries),
                    front: (0, off),
                    back: (1, 0),
                    remaining: count,
                }
            }
            Repr::Quick(q) => q.range(start, count),
        }
    }
}

#[cold]
fn unreachable_small() -> ! {
    unreachable!("List::quick converted the small form")
}

/// Where an iterator reads its nodes from.
enum Nodes<'a> {
    Small(&'a [u8]),
    Quick(&'a VecDeque<Node>),
}

impl<'a> Nodes<'a> {
    fn buf(&self, i: usize) -> Option<&'a [u8]> {
        match self {
            Nodes::Small(b) => (i == 0).then_some(*b),
            Nodes::Quick(q) => q.get(i).map(|n| &n.buf[..]),
        }
    }
}

/// An iterator over a list. `back` is (node, end offset) of the unvisited
/// tail; node == nodes.len() means "past the last node". `next_back` is only
/// meaningful for the whole-list iterator from `List::iter`.
pub struct Iter<'a> {
    src: Nodes<'a>,
    front: (usize, usize),
    back: (usize, usize),
    remaining: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.remaining == 0 {
            return None;
        }
        loop {
            let buf = self.src.buf(self.front.0)?;
            if self.front.1 < buf.len() {
                let (e, next) = packed::read(buf, self.front.1);
                self.front.1 = next;
                self.remaining -= 1;
                return Some(e);
            }
            self.front = (self.front.0 + 1, 0);
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<'a> DoubleEndedIterator for Iter<'a> {
    fn next_back(&mut self) -> Option<&'a [u8]> {
        if self.remaining == 0 {
            return None;
        }
        loop {
            if self.back.1 == 0 {
                if self.back.0 == 0 {
                    return None;
                }
                self.back.0 -= 1;
                self.back.1 = self.src.buf(self.back.0)?.len();
                continue;
            }
            let buf = self.src.buf(self.back.0)?;
            let start = packed::prev(buf, self.back.1);
            self.back.1 = start;
            self.remaining -= 1;
            return Some(packed::read(buf, start).0);
        }
    }
}

impl ExactSizeIterator for Iter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn elems(l: &List) -> Vec<Vec<u8>> {
        l.iter().map(|e| e.to_vec()).collect()
    }

    fn check_invariants(l: &List) {
        match &l.0 {
            Repr::Small(b) => {
                assert!(
                    b.is_empty() || small_count(b) > 0,
                    "small list with a zero count"
                );
                assert_eq!(packed::iter(small_entries(b)).count(), small_count(b));
            }
            Repr::Quick(q) => {
                assert!(
                    q.nodes.len() >= 2,
                    "a quicklist of one node should be small"
                );
                assert!(q.nodes.iter().all(|n| n.count > 0), "empty node");
                assert_eq!(
                    q.len,
                    q.nodes.iter().map(|n| n.count as usize).sum::<usize>()
                );
                assert_eq!(
                    q.buf_bytes,
                    q.nodes.iter().map(|n| n.buf.capacity()).sum::<usize>()
                );
                for n in &q.nodes {
                    assert_eq!(packed::iter(&n.buf).count(), n.count as usize);
                }
            }
        }
    }

    /// (entries, bytes) of each node.
    fn node_sizes(l: &List) -> Vec<(usize, usize)> {
        l.nodes()
            .map(|n| {
                (
                    n.clone().count(),
                    n.map(|e| packed::entry_size(e.len())).sum(),
                )
            })
            .collect()
    }

    #[test]
    fn push_pop_both_ends() {
        let mut l = List::new();
        l.push_back(b"b", -2);
        l.push_front(b"a", -2);
        l.push_back(b"c", -2);
        assert_eq!(elems(&l), vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        assert_eq!(l.pop_back().as_deref(), Some(&b"c"[..]));
        assert_eq!(l.pop_front().as_deref(), Some(&b"a"[..]));
        assert_eq!(l.pop_front().as_deref(), Some(&b"b"[..]));
        assert_eq!(l.pop_front(), None);
        assert!(l.is_empty());
        assert_eq!(l.node_count(), 0);
        check_invariants(&l);
    }

    #[test]
    fn nodes_follow_byte_fill() {
        let mut l = List::new();
        let e = [b'x'; 100]; // 103 bytes packed
        for _ in 0..1000 {
            l.push_back(&e, -2);
        }
        check_invariants(&l);
        assert!(node_sizes(&l).iter().all(|&(_, b)| b <= 8192));
        assert_eq!(l.node_count(), 1000_usize.div_ceil(8192 / 103));
        let mut l1 = List::new();
        for _ in 0..1000 {
            l1.push_back(&e, -1);
        }
        assert!(l1.node_count() > l.node_count());
    }

    #[test]
    fn nodes_split_where_redis_splits_them() {
        // Measured on redis-server 7.0.15 (DEBUG OBJECT ql_nodes) with the
        // default fill -2 (8 KiB): 681 ten-byte strings fit one node, 682 do not.
        let ten = [b'a'; 10];
        for (n, nodes) in [(681, 1), (682, 2)] {
            for front in [false, true] {
                let mut l = List::new();
                for _ in 0..n {
                    if front {
                        l.push_front(&ten, -2);
                    } else {
                        l.push_back(&ten, -2);
                    }
                }
                assert_eq!(l.node_count(), nodes, "{n} front {front}");
            }
        }
        // 700 19-digit integers are 10 listpack bytes each: one node (7,007 bytes).
        let ints: Vec<Vec<u8>> = (0..700u64)
            .map(|i| {
                (1_000_000_000_000_000_000 + i * 7_919)
                    .to_string()
                    .into_bytes()
            })
            .collect();
        assert_eq!(
            List::from_elems(ints.iter().map(|v| &v[..]), -2).node_count(),
            1
        );
        // 100-byte strings take 103 bytes: 79 fit in the first node.
        let strs: Vec<Vec<u8>> = (0..90).map(|i| format!("{i:0>100}").into_bytes()).collect();
        let l = List::from_elems(strs.iter().map(|v| &v[..]), -2);
        assert_eq!(node_sizes(&l)[0].0, 79);
        assert_eq!(lp_entry_size(b"127"), 2);
        assert_eq!(lp_entry_size(b"-4096"), 3);
        assert_eq!(lp_entry_size(b"32767"), 4);
        assert_eq!(lp_entry_size(b"8388607"), 5);
        assert_eq!(lp_entry_size(b"2147483648"), 10);
        assert_eq!(lp_entry_size(b"007"), 5);
        assert_eq!(lp_entry_size(&[b'x'; 63]), 65);
        assert_eq!(lp_entry_size(&[b'x'; 200]), 204);
    }

    #[test]
    fn nodes_follow_count_fill_and_safety_limit() {
        let mut l = List::new();
        for i in 0..100 {
            l.push_back(format!("{i}").as_bytes(), 10);
        }
        assert_eq!(l.node_count(), 10);
        let mut big = List::new();
        for _ in 0..10 {
            big.push_back(&[b'y'; 3000], 100);
        }
        // 3000-byte entries: two fit under the 8 KiB safety limit.
        assert_eq!(big.node_count(), 5);
        check_invariants(&big);
    }

    #[test]
    fn oversized_element_gets_own_node() {
        let mut l = List::new();
        l.push_back(b"a", -2);
        l.push_back(&vec![b'z'; 20000], -2);
        l.push_back(b"b", -2);
        assert_eq!(l.node_count(), 3);
        assert_eq!(l.get(1).map(|e| e.len()), Some(20000));
        check_invariants(&l);
    }

    #[test]
    fn index_set_insert_and_split() {
        let mut l = List::new();
        for i in 0..2000 {
            l.push_back(format!("e{i}").as_bytes(), 16);
        }
        assert_eq!(l.get(0), Some(&b"e0"[..]));
        assert_eq!(l.get(1999), Some(&b"e1999"[..]));
        assert_eq!(l.get(1234), Some(&b"e1234"[..]));
        assert!(l.set(500, b"changed", 16));
        assert_eq!(l.get(500), Some(&b"changed"[..]));
        for _ in 0..50 {
            l.insert(700, b"ins", 16);
        }
        check_invariants(&l);
        assert!(node_sizes(&l).iter().all(|&(c, _)| c <= 16));
        assert_eq!(l.len(), 2050);
        assert_eq!(l.get(699), Some(&b"e699"[..]));
        assert_eq!(l.get(700), Some(&b"ins"[..]));
        assert_eq!(l.get(750), Some(&b"e700"[..]));
        // A big replacement splits its node under a byte fill.
        let mut s = List::new();
        for _ in 0..10 {
            s.push_back(&[b'q'; 1000], -1);
        }
        assert!(s.set(2, &[b'r'; 3000], -1));
        check_invariants(&s);
        assert!(node_sizes(&s).iter().all(|&(c, b)| c == 1 || b <= 4096));
    }

    #[test]
    fn range_and_reverse_iteration() {
        let mut l = List::new();
        for i in 0..300 {
            l.push_back(format!("{i}").as_bytes(), 7);
        }
        let got: Vec<Vec<u8>> = l.range(95, 10).map(|e| e.to_vec()).collect();
        let want: Vec<Vec<u8>> = (95..105).map(|i: i32| i.to_string().into_bytes()).collect();
        assert_eq!(got, want);
        let rev: Vec<Vec<u8>> = l.iter().rev().take(3).map(|e| e.to_vec()).collect();
        assert_eq!(rev, vec![b"299".to_vec(), b"298".to_vec(), b"297".to_vec()]);
        let mut it = l.iter();
        assert_eq!(it.next(), Some(&b"0"[..]));
        assert_eq!(it.next_back(), Some(&b"299"[..]));
        assert_eq!(it.count(), 298);
        assert_eq!(l.range(299, 10).count(), 1);
        assert_eq!(l.range(300, 10).count(), 0);
    }

    #[test]
    fn remove_matching_both_directions() {
        let mut l = List::new();
        for i in 0..100 {
            l.push_back(if i % 3 == 0 { b"x" } else { b"y" }, 5);
        }
        assert_eq!(l.remove_matching(b"x", 2, false), 2);
        assert_eq!(l.get(0), Some(&b"y"[..]));
        assert_eq!(l.remove_matching(b"x", 1, true), 1);
        assert_eq!(l.get(l.len() - 1), Some(&b"y"[..]));
        assert_eq!(l.remove_matching(b"x", 0, false), 31);
        assert!(l.iter().all(|e| e == b"y"));
        assert_eq!(l.remove_matching(b"y", 0, true), 66);
        assert!(l.is_empty());
        check_invariants(&l);
    }

    #[test]
    fn trim_and_drain() {
        let mut l = List::new();
        for i in 0..1000 {
            l.push_back(format!("{i}").as_bytes(), 10);
        }
        l.trim(5, 100);
        assert_eq!(l.len(), 100);
        assert_eq!(l.get(0), Some(&b"5"[..]));
        assert_eq!(l.get(99), Some(&b"104"[..]));
        let mut seen = Vec::new();
        l.drain_back(15, |e| seen.push(e.to_vec()));
        assert_eq!(seen.first().map(|v| v.as_slice()), Some(&b"104"[..]));
        assert_eq!(seen.len(), 15);
        check_invariants(&l);
        let before = l.mem_bytes();
        l.trim(0, 0);
        assert!(l.is_empty());
        assert!(l.mem_bytes() < before);
    }

    #[test]
    fn clone_and_eq_ignore_node_layout() {
        let a = List::from_elems([&b"a"[..], b"b", b"c"], 1);
        let b = List::from_elems([&b"a"[..], b"b", b"c"], -2);
        assert_eq!(a, b);
        assert_eq!(a.clone(), a);
        assert_ne!(a.node_count(), b.node_count());
        let per_node: Vec<usize> = a.nodes().map(|n| n.count()).collect();
        assert_eq!(per_node, vec![1, 1, 1]);
    }

    mod model {
        use super::super::*;
        use super::check_invariants;
        use proptest::prelude::*;
        use std::collections::VecDeque;

        #[derive(Debug, Clone)]
        enum Op {
            PushBack(Vec<u8>),
            PushFront(Vec<u8>),
            PopFront,
            PopBack,
            DrainFront(usize),
            DrainBack(usize),
            Set(usize, Vec<u8>),
            Insert(usize, Vec<u8>),
            RemoveMatching(Vec<u8>, usize, bool),
            Trim(usize, usize),
        }

        fn elem() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                4 => prop::collection::vec(b'a'..b'd', 0..3),
                1 => prop::collection::vec(any::<u8>(), 100..400),
            ]
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                elem().prop_map(Op::PushBack),
                elem().prop_map(Op::PushFront),
                Just(Op::PopFront),
                Just(Op::PopBack),
                (0usize..20).prop_map(Op::DrainFront),
                (0usize..20).prop_map(Op::DrainBack),
                (0usize..200, elem()).prop_map(|(i, e)| Op::Set(i, e)),
                (0usize..200, elem()).prop_map(|(i, e)| Op::Insert(i, e)),
                (elem(), 0usize..4, any::<bool>())
                    .prop_map(|(e, n, t)| Op::RemoveMatching(e, n, t)),
                (0usize..50, 0usize..200).prop_map(|(a, b)| Op::Trim(a, b)),
            ]
        }

        proptest! {
            #[test]
            fn list_matches_vecdeque(ops in prop::collection::vec(op(), 1..200), fill in prop_oneof![Just(-1i64), Just(-2), Just(1), Just(3), Just(8)]) {
                let mut l = List::new();
                let mut m: VecDeque<Vec<u8>> = VecDeque::new();
                for op in ops {
                    match op {
                        Op::PushBack(e) => { l.push_back(&e, fill); m.push_back(e); }
                        Op::PushFront(e) => { l.push_front(&e, fill); m.push_front(e); }
                        Op::PopFront => prop_assert_eq!(l.pop_front(), m.pop_front()),
                        Op::PopBack => prop_assert_eq!(l.pop_back(), m.pop_back()),
                        Op::DrainFront(n) => {
                            let mut got = Vec::new();
                            l.drain_front(n, |e| got.push(e.to_vec()));
                            let want: Vec<Vec<u8>> = (0..n).filter_map(|_| m.pop_front()).collect();
                            prop_assert_eq!(got, want);
                        }
                        Op::DrainBack(n) => {
                            let mut got = Vec::new();
                            l.drain_back(n, |e| got.push(e.to_vec()));
                            let want: Vec<Vec<u8>> = (0..n).filter_map(|_| m.pop_back()).collect();
                            prop_assert_eq!(got, want);
                        }
                        Op::Set(i, e) => {
                            let ok = l.set(i, &e, fill);
                            prop_assert_eq!(ok, i < m.len());
                            if ok { m[i] = e; }
                        }
                        Op::Insert(i, e) => {
                            let i = i.min(m.len());
                            l.insert(i, &e, fill);
                            m.insert(i, e);
                        }
                        Op::RemoveMatching(e, limit, from_tail) => {
                            let mut removed = 0;
                            let mut out: VecDeque<Vec<u8>> = VecDeque::new();
                            if from_tail {
                                for x in m.drain(..).rev() {
                                    if x == e && (limit == 0 || removed < limit) { removed += 1; } else { out.push_front(x); }
                                }
                            } else {
                                for x in m.drain(..) {
                                    if x == e && (limit == 0 || removed < limit) { removed += 1; } else { out.push_back(x); }
                                }
                            }
                            m = out;
                            prop_assert_eq!(l.remove_matching(&e, limit, from_tail), removed);
                        }
                        Op::Trim(start, keep) => {
                            l.trim(start, keep);
                            let start = start.min(m.len());
                            m = m.iter().skip(start).take(keep).cloned().collect();
                        }
                    }
                    check_invariants(&l);
                    prop_assert_eq!(l.len(), m.len());
                }
                let got: Vec<Vec<u8>> = l.iter().map(|e| e.to_vec()).collect();
                let want: Vec<Vec<u8>> = m.iter().cloned().collect();
                prop_assert_eq!(&got, &want);
                let rev: Vec<Vec<u8>> = l.iter().rev().map(|e| e.to_vec()).collect();
                let want_rev: Vec<Vec<u8>> = m.iter().rev().cloned().collect();
                prop_assert_eq!(rev, want_rev);
                for (i, w) in m.iter().enumerate() {
                    prop_assert_eq!(l.get(i), Some(&w[..]));
                }
                if !m.is_empty() {
                    let start = m.len() / 3;
                    let got: Vec<Vec<u8>> = l.range(start, 5).map(|e| e.to_vec()).collect();
                    let want: Vec<Vec<u8>> = m.iter().skip(start).take(5).cloned().collect();
                    prop_assert_eq!(got, want);
                }
            }
        }
    }
}
