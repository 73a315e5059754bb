//! Streams: an append-only log of entries with IDs, plus consumer groups.
//!
//! Model (what the RDB codec reads and writes, types 15/19/21):
//! - `nodes`: the entries, in ID order, packed into listpacks exactly as
//!   Redis packs them (a "master entry" with the node's field names, then
//!   each entry as flags, ID deltas from the node's master ID, the values
//!   (or field/value pairs when the fields differ from the master's) and an
//!   element count). The map key is the node's master ID, the 16-byte rax
//!   key of Redis's radix tree. Seeking an ID is a map lookup (O(log N))
//!   then a walk of one node (at most `NodeLimits::max_entries` entries).
//!   Deleted entries are only flagged until their whole node goes.
//! - `length` (live entries), `last_id` (the top ID ever generated),
//!   `first_id` (the first live entry, 0-0 when empty), `max_deleted_id`
//!   (the largest ID deleted by XDEL), `entries_added` (every entry ever
//!   added): the 7.0 metadata of RDB type 19/21.
//! - `groups`: consumer groups by name (see `group.rs`).
//!
//! Memory: only the last node grows; when a new node starts, the previous
//! one is sealed (shrunk to its length) and runs of sealed nodes are packed
//! into shared chunks of up to 64 KiB (`listpack::PACK_BYTES_MAX`), so the
//! allocator's size-class rounding is paid per chunk, not per node. A
//! packed node that must change (XDEL, an exact trim) is copied out first;
//! a chunk is freed when its last node goes, so a stream trimmed from the
//! front holds at most one partly dead chunk there.
//!
//! Invariants:
//! - every node holds at least one live entry; IDs increase across and
//!   within nodes and are all <= `last_id`;
//! - `length` equals the number of live entries; `first_id` is the first
//!   live entry's ID when `length > 0`;
//! - `node_bytes` equals the sum of the nodes' buffer capacities (a packed
//!   node counts its length), so
//!   `mem_bytes` is O(groups) without walking the entries.
//!
//! An emptied stream is a valid value: the keyspace never deletes streams
//! for being empty (their groups and last ID live on).

pub mod group;
pub mod id;
pub mod listpack;

use std::collections::BTreeMap;

use bytes::Bytes;

pub use group::{Consumer, ConsumerGroup, PendingEntry};
pub use id::StreamId;
use listpack::{Listpack, LpVal};

/// Entry flags in a node (STREAM_ITEM_FLAG_*).
const FLAG_DELETED: i64 = 1;
const FLAG_SAME_FIELDS: i64 = 2;

/// Total field and value bytes one entry may hold (STREAM_LISTPACK_MAX_SIZE).
pub const ENTRY_BYTES_MAX: usize = 1 << 30;
/// Bytes reserved for a new node (STREAM_LISTPACK_MAX_PRE_ALLOCATE).
pub const NODE_PREALLOC_BYTES: usize = 4096;
/// Approximate bytes of a node besides its listpack (tree slot, key, header).
pub const NODE_OVERHEAD_BYTES: usize = 64;

/// When a node is full (`stream-node-max-bytes`, `stream-node-max-entries`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeLimits {
    /// 0 means no limit (then ENTRY_BYTES_MAX applies).
    pub max_bytes: usize,
    /// 0 means no limit.
    pub max_entries: usize,
}

impl Default for NodeLimits {
    fn default() -> Self {
        NodeLimits {
            max_bytes: 4096,
            max_entries: 100,
        }
    }
}

/// An entry as read: its ID and its fields and values, alternating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEntry {
    pub id: StreamId,
    pub fields: Vec<Bytes>,
}

/// Why an append failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendError {
    /// The ID is not greater than the last one (or the IDs ran out).
    IdTooSmall,
    /// The fields and values add up to more than ENTRY_BYTES_MAX.
    TooLarge,
}

/// What XTRIM and XADD's trimming option ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrimStrategy {
    MaxLen(u64),
    MinId(StreamId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrimArgs {
    pub strategy: TrimStrategy,
    /// `~`: only whole nodes go.
    pub approx: bool,
    /// Most entries removed; 0 means no limit.
    pub limit: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Stream {
    nodes: BTreeMap<StreamId, Listpack>,
    length: u64,
    last_id: StreamId,
    first_id: StreamId,
    max_deleted_id: StreamId,
    entries_added: u64,
    groups: BTreeMap<Box<[u8]>, ConsumerGroup>,
    node_bytes: usize,
}

/// Equal content: the same nodes, metadata and groups (buffer capacities,
/// which `node_bytes` counts, do not matter).
impl PartialEq for Stream {
    fn eq(&self, other: &Stream) -> bool {
        self.nodes == other.nodes
            && self.length == other.length
            && self.last_id == other.last_id
            && self.first_id == other.first_id
            && self.max_deleted_id == other.max_deleted_id
            && self.entries_added == other.entries_added
            && self.groups == other.groups
    }
}

/// A node's master entry, decoded.
struct Master<'a> {
    count: i64,
    count_off: usize,
    deleted: i64,
    fields: Vec<LpVal<'a>>,
    /// Offset of the first entry (None if the node has none).
    entries_off: Option<usize>,
}

/// Where one entry sits in its node.
#[derive(Clone, Copy)]
struct EntryPos {
    flags_off: usize,
    flags: i64,
    id: StreamId,
    /// Offset of num-fields (or of the first value with FLAG_SAME_FIELDS).
    body_off: usize,
}

fn next_off(lp: &Listpack, off: usize) -> Option<(LpVal<'_>, usize)> {
    lp.get(off)
}

fn parse_master(lp: &Listpack) -> Option<Master<'_>> {
    let count_off = lp.first()?;
    let (count, deleted_off) = next_off(lp, count_off)?;
    let (deleted, off) = next_off(lp, deleted_off)?;
    let (nfields, mut off) = next_off(lp, off)?;
    let nfields = nfields.int()?;
    let mut fields = Vec::with_capacity((nfields.max(0) as usize).min(1024));
    for _ in 0..nfields {
        let (f, next) = next_off(lp, off)?;
        fields.push(f);
        off = next;
    }
    // The master entry ends with a zero terminator.
    let entries_off = match lp.get(off) {
        Some((LpVal::Int(0), next)) => (next < lp.len_bytes() - 1).then_some(next),
        Some(_) => return None,
        None => None,
    };
    Some(Master {
        count: count.int()?,
        count_off,
        deleted: deleted.int()?,
        fields,
        entries_off,
    })
}

/// The append path's view of a master entry, without allocating: (live
/// count, its offset, deleted count, whether its field names are those of
/// `fields` (alternating field, value)).
fn master_header<F: AsRef<[u8]>>(lp: &Listpack, fields: &[F]) -> Option<(i64, usize, i64, bool)> {
    let count_off = lp.first()?;
    let (count, o) = lp.get(count_off)?;
    let (deleted, o) = lp.get(o)?;
    let (n, mut o) = lp.get(o)?;
    let n = n.int()?;
    let mut same = n >= 0 && n as usize == fields.len() / 2;
    if same {
        for pair in fields.chunks(2) {
            let (f, next) = lp.get(o)?;
            if !f.eq_bytes(pair[0].as_ref()) {
                same = false;
                break;
            }
            o = next;
        }
    }
    Some((count.int()?, count_off, deleted.int()?, same))
}

/// Decodes the entry at `off`; returns it and the offset after it.
fn parse_entry(
    lp: &Listpack,
    master_id: StreamId,
    master: &Master<'_>,
    off: usize,
) -> Option<(EntryPos, usize)> {
    let (flags, o) = next_off(lp, off)?;
    let (ms_diff, o) = next_off(lp, o)?;
    let (seq_diff, body_off) = next_off(lp, o)?;
    let flags = flags.int()?;
    let id = StreamId::new(
        master_id.ms.wrapping_add(ms_diff.int()? as u64),
        master_id.seq.wrapping_add(seq_diff.int()? as u64),
    );
    let mut o = body_off;
    let skip = if flags & FLAG_SAME_FIELDS != 0 {
        master.fields.len()
    } else {
        let (n, next) = next_off(lp, o)?;
        o = next;
        (n.int()?.max(0) as usize).checked_mul(2)?
    };
    for _ in 0..skip {
        o = next_off(lp, o)?.1;
    }
    // The lp-count element closes the entry; it may be the last element.
    let (_, after) = lp.get(o)?;
    Some((
        EntryPos {
            flags_off: off,
            flags,
            id,
            body_off,
        },
        after,
    ))
}

/// Every entry of a node (deleted ones included), in order.
fn node_entries(lp: &Listpack, master_id: StreamId) -> Vec<EntryPos> {
    let Some(master) = parse_master(lp) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(master.count.max(0) as usize + master.deleted.max(0) as usize);
    let mut off = master.entries_off;
    while let Some(o) = off {
        let Some((pos, next)) = parse_entry(lp, master_id, &master, o) else {
            break;
        };
        out.push(pos);
        off = (next < lp.len_bytes() - 1).then_some(next);
    }
    out
}

/// The fields and values of an entry, alternating.
fn entry_fields(lp: &Listpack, master: &Master<'_>, pos: &EntryPos) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut o = pos.body_off;
    if pos.flags & FLAG_SAME_FIELDS != 0 {
        out.reserve(master.fields.len() * 2);
        for f in &master.fields {
            let Some((v, next)) = lp.get(o) else { break };
            out.push(Bytes::from(f.to_vec()));
            out.push(Bytes::from(v.to_vec()));
            o = next;
        }
    } else {
        let Some((n, next)) = lp.get(o) else {
            return out;
        };
        o = next;
        let n = n.int().unwrap_or(0).max(0) as usize;
        out.reserve(n.min(1024) * 2);
        for _ in 0..n * 2 {
            let Some((v, next)) = lp.get(o) else { break };
            out.push(Bytes::from(v.to_vec()));
            o = next;
        }
    }
    out
}

impl Stream {
    pub fn new() -> Stream {
        Stream::default()
    }

    pub fn len(&self) -> u64 {
        self.length
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    pub fn last_id(&self) -> StreamId {
        self.last_id
    }

    pub fn first_id(&self) -> StreamId {
        self.first_id
    }

    pub fn max_deleted_id(&self) -> StreamId {
        self.max_deleted_id
    }

    pub fn entries_added(&self) -> u64 {
        self.entries_added
    }

    /// XSETID: the caller checked the new values against the stream.
    pub fn set_meta(&mut self, last_id: StreamId, entries_added: u64, max_deleted: StreamId) {
        self.last_id = last_id;
        self.entries_added = entries_added;
        self.max_deleted_id = max_deleted;
    }

    /// Approximate heap bytes: the nodes' buffers, their tree slots, groups.
    pub fn mem_bytes(&self) -> usize {
        self.node_bytes
            + self.nodes.len() * NODE_OVERHEAD_BYTES
            + self
                .groups
                .iter()
                .map(|(n, g)| n.len() + g.mem_bytes())
                .sum::<usize>()
    }

    /// Number of nodes (XINFO radix-tree-keys).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The nodes as (master ID, listpack bytes), for the RDB writer.
    pub fn nodes(&self) -> impl Iterator<Item = (StreamId, &[u8])> + '_ {
        self.nodes.iter().map(|(id, lp)| (*id, lp.as_bytes()))
    }

    /// Nodes Redis's radix tree would have for these keys (XINFO
    /// radix-tree-nodes): a compressed trie over the 16-byte big-endian
    /// master IDs, where a run of single-child bytes is one node, plus one
    /// node per key end. An empty tree is just its root.
    pub fn radix_tree_nodes(&self) -> usize {
        let keys: Vec<[u8; 16]> = self.nodes.keys().map(|k| k.to_be_bytes()).collect();
        if keys.is_empty() {
            return 1;
        }
        fn count(keys: &[[u8; 16]], depth: usize, starts_node: bool) -> usize {
            if depth == 16 {
                return 1;
            }
            let mut groups = Vec::new();
            let mut begin = 0;
            for i in 1..=keys.len() {
                if i == keys.len() || keys[i][depth] != keys[begin][depth] {
                    groups.push(&keys[begin..i]);
                    begin = i;
                }
            }
            let branching = groups.len() != 1;
            let mut n = usize::from(starts_node || branching);
            for g in groups {
                n += count(g, depth + 1, branching);
            }
            n
        }
        count(&keys, 0, true)
    }

    /// The ID XADD would give an entry: `ms`/`seq` as parsed (`seq` None for
    /// `ms-*`, both None for `*`), `now_ms` the command's clock.
    pub fn next_id(&self, ms: Option<u64>, seq: Option<u64>, now_ms: u64) -> Option<StreamId> {
        match (ms, seq) {
            (Some(ms), Some(seq)) => Some(StreamId::new(ms, seq)),
            (Some(ms), None) => {
                if ms == self.last_id.ms {
                    self.last_id.next().filter(|n| n.ms == ms)
                } else {
                    Some(StreamId::new(ms, 0))
                }
            }
            _ => StreamId::auto_after(self.last_id, now_ms),
        }
    }

    /// Appends an entry (streamAppendItem). `fields` alternate field, value;
    /// the caller checked there is an even number, at least two.
    pub fn append<F: AsRef<[u8]>>(
        &mut self,
        id: StreamId,
        fields: &[F],
        limits: NodeLimits,
    ) -> Result<(), AppendError> {
        if id <= self.last_id {
            return Err(AppendError::IdTooSmall);
        }
        let total: usize = fields.iter().map(|f| f.as_ref().len()).sum();
        if total > ENTRY_BYTES_MAX {
            return Err(AppendError::TooLarge);
        }
        let max_bytes = match limits.max_bytes {
            0 => ENTRY_BYTES_MAX,
            n => n.min(ENTRY_BYTES_MAX),
        };
        let numfields = fields.len() / 2;
        // Does the entry go to the last node?
        let mut tail = None;
        if let Some((&master_id, lp)) = self.nodes.iter().next_back() {
            let full_bytes = lp.len_bytes() + total >= max_bytes;
            let full_entries = limits.max_entries > 0
                && master_header(lp, fields)
                    .is_some_and(|m| (m.0 + m.2) as usize >= limits.max_entries);
            if !full_bytes && !full_entries {
                tail = Some(master_id);
            }
        }
        let master_id = match tail {
            Some(m) => m,
            None => {
                if let Some(lp) = self.nodes.values_mut().next_back() {
                    let before = lp.capacity();
                    lp.shrink_to_fit();
                    self.node_bytes = self.node_bytes + lp.capacity() - before;
                }
                self.pack_sealed(false);
                let mut lp = Listpack::with_capacity(NODE_PREALLOC_BYTES.min(max_bytes));
                lp.push_int(1);
                lp.push_int(0);
                lp.push_int(numfields as i64);
                for pair in fields.chunks(2) {
                    lp.push_str(pair[0].as_ref());
                }
                lp.push_int(0);
                self.node_bytes += lp.capacity();
                self.nodes.insert(id, lp);
                id
            }
        };
        let Some(lp) = self.nodes.get_mut(&master_id) else {
            return Err(AppendError::IdTooSmall);
        };
        let before = lp.capacity();
        let same_fields = match master_header(lp, fields) {
            Some((count, count_off, _, same)) => {
                if tail.is_some() {
                    lp.replace_int(count_off, count + 1);
                }
                same
            }
            None => false,
        };
        let flags = if same_fields { FLAG_SAME_FIELDS } else { 0 };
        lp.push_int(flags);
        lp.push_int(id.ms.wrapping_sub(master_id.ms) as i64);
        lp.push_int(id.seq.wrapping_sub(master_id.seq) as i64);
        if same_fields {
            for pair in fields.chunks(2) {
                lp.push_str(pair[1].as_ref());
            }
        } else {
            lp.push_int(numfields as i64);
            for f in fields {
                lp.push_str(f.as_ref());
            }
        }
        let mut lp_count = numfields as i64 + 3;
        if !same_fields {
            lp_count += numfields as i64 + 1;
        }
        lp.push_int(lp_count);
        self.node_bytes = self.node_bytes + lp.capacity() - before;
        self.length += 1;
        self.entries_added += 1;
        self.last_id = id;
        if self.length == 1 {
            self.first_id = id;
        }
        Ok(())
    }

    /// Visits live entries with start <= ID <= end, forwards or backwards,
    /// until `visit` returns false.
    pub fn walk(
        &self,
        start: StreamId,
        end: StreamId,
        rev: bool,
        mut visit: impl FnMut(StreamEntry) -> bool,
    ) {
        if start > end {
            return;
        }
        let first_node = self
            .nodes
            .range(..=start)
            .next_back()
            .map(|(k, _)| *k)
            .unwrap_or(start);
        let mut nodes: Box<dyn Iterator<Item = (&StreamId, &Listpack)>> = if rev {
            Box::new(self.nodes.range(first_node..=end).rev())
        } else {
            Box::new(self.nodes.range(first_node..=end))
        };
        for (&master_id, lp) in &mut nodes {
            let Some(master) = parse_master(lp) else {
                continue;
            };
            let entries = node_entries(lp, master_id);
            let mut visit_one = |pos: &EntryPos| -> Option<bool> {
                if pos.flags & FLAG_DELETED != 0 {
                    return None;
                }
                if rev && pos.id < start || !rev && pos.id > end {
                    return Some(false);
                }
                if pos.id < start || pos.id > end {
                    return None;
                }
                Some(visit(StreamEntry {
                    id: pos.id,
                    fields: entry_fields(lp, &master, pos),
                }))
            };
            let stop = if rev {
                entries.iter().rev().any(|p| visit_one(p) == Some(false))
            } else {
                entries.iter().any(|p| visit_one(p) == Some(false))
            };
            if stop {
                return;
            }
        }
    }

    /// Up to `count` live entries in [start, end] (0 = no limit).
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
        rev: bool,
        count: usize,
    ) -> Vec<StreamEntry> {
        let mut out = Vec::new();
        self.walk(start, end, rev, |e| {
            out.push(e);
            count == 0 || out.len() < count
        });
        out
    }

    /// The live entry with this ID.
    pub fn get(&self, id: StreamId) -> Option<StreamEntry> {
        self.range(id, id, false, 1).pop()
    }

    pub fn first_entry(&self) -> Option<StreamEntry> {
        self.range(StreamId::ZERO, StreamId::MAX, false, 1).pop()
    }

    pub fn last_entry(&self) -> Option<StreamEntry> {
        self.range(StreamId::ZERO, StreamId::MAX, true, 1).pop()
    }

    /// The last live entry's ID (streamLastValidID), 0-0 when empty.
    pub fn last_valid_id(&self) -> StreamId {
        self.last_entry().map_or(StreamId::ZERO, |e| e.id)
    }

    /// Flags one live entry deleted (streamDeleteItem); false if not found.
    fn delete_one(&mut self, id: StreamId) -> bool {
        let Some((&master_id, lp)) = self.nodes.range_mut(..=id).next_back() else {
            return false;
        };
        let Some(pos) = node_entries(lp, master_id)
            .into_iter()
            .find(|p| p.id == id && p.flags & FLAG_DELETED == 0)
        else {
            return false;
        };
        let Some(master) = parse_master(lp) else {
            return false;
        };
        let (count, count_off, deleted) = (master.count, master.count_off, master.deleted);
        if count <= 1 {
            if let Some(lp) = self.nodes.remove(&master_id) {
                self.node_bytes -= lp.capacity();
            }
        } else {
            let before = lp.capacity();
            // The flags element keeps its size (0/2 become 1/3); the
            // counters may change size, so re-read offsets as we go.
            lp.replace_int(pos.flags_off, pos.flags | FLAG_DELETED);
            if let Some(deleted_off) = lp.replace_int(count_off, count - 1) {
                lp.replace_int(deleted_off, deleted + 1);
            }
            self.node_bytes = self.node_bytes + lp.capacity() - before;
        }
        self.length -= 1;
        true
    }

    /// XDEL: deletes the live entries among `ids`; returns how many went.
    /// Keeps `first_id` and `max_deleted_id` as Redis does.
    pub fn delete(&mut self, ids: &[StreamId]) -> u64 {
        let mut deleted = 0;
        let mut first_entry = false;
        for &id in ids {
            if self.delete_one(id) {
                if id == self.first_id {
                    first_entry = true;
                }
                if id > self.max_deleted_id {
                    self.max_deleted_id = id;
                }
                deleted += 1;
            }
        }
        if deleted > 0 {
            if self.length == 0 {
                self.first_id = StreamId::ZERO;
            } else if first_entry {
                self.first_id = self.first_entry().map_or(StreamId::MAX, |e| e.id);
            }
        }
        deleted
    }

    /// XTRIM / XADD's trimming (streamTrim); returns entries removed.
    pub fn trim(&mut self, args: TrimArgs) -> u64 {
        let mut deleted: u64 = 0;
        loop {
            if let TrimStrategy::MaxLen(max) = args.strategy {
                if self.length <= max {
                    break;
                }
            }
            let Some((&master_id, lp)) = self.nodes.iter_mut().next() else {
                break;
            };
            let Some(master) = parse_master(lp) else {
                break;
            };
            let entries = master.count.max(0) as u64;
            if args.limit > 0 && deleted + entries > args.limit {
                break;
            }
            let positions = node_entries(lp, master_id);
            let remove_node = match args.strategy {
                TrimStrategy::MaxLen(max) => self.length - entries >= max,
                TrimStrategy::MinId(min) => positions.last().is_some_and(|p| p.id < min),
            };
            if remove_node {
                if let Some(lp) = self.nodes.remove(&master_id) {
                    self.node_bytes -= lp.capacity();
                }
                self.length -= entries;
                deleted += entries;
                continue;
            }
            if args.approx {
                break;
            }
            // Flag entries inside this node, then stop: it still has some.
            let (count_off, marked) = (master.count_off, master.deleted);
            let before = lp.capacity();
            let mut from_node = 0i64;
            for p in &positions {
                let stop = match args.strategy {
                    TrimStrategy::MaxLen(max) => self.length <= max,
                    TrimStrategy::MinId(min) => p.id >= min,
                };
                if stop {
                    break;
                }
                if p.flags & FLAG_DELETED == 0 {
                    lp.replace_int(p.flags_off, p.flags | FLAG_DELETED);
                    from_node += 1;
                    self.length -= 1;
                }
            }
            if let Some(deleted_off) = lp.replace_int(count_off, entries as i64 - from_node) {
                lp.replace_int(deleted_off, marked + from_node);
            }
            self.node_bytes = self.node_bytes + lp.capacity() - before;
            deleted += from_node as u64;
            break;
        }
        if self.length == 0 {
            self.first_id = StreamId::ZERO;
        } else {
            self.first_id = self.first_entry().map_or(StreamId::MAX, |e| e.id);
        }
        deleted
    }

    /// Whether a deleted entry may lie in [start, end] (streamRangeHasTombstones).
    pub fn range_has_tombstones(&self, start: Option<StreamId>, end: Option<StreamId>) -> bool {
        if self.length == 0 || self.max_deleted_id.is_zero() {
            return false;
        }
        if self.first_id > self.max_deleted_id {
            return false;
        }
        let start = start.unwrap_or(StreamId::ZERO);
        let end = end.unwrap_or(StreamId::MAX);
        start <= self.max_deleted_id && self.max_deleted_id <= end
    }

    /// The logical position of `id` counted from the first entry ever added
    /// (streamEstimateDistanceFromFirstEverEntry); None when unknowable.
    pub fn estimate_distance(&self, id: StreamId) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if self.length == 0 && id <= self.last_id {
            return Some(self.entries_added);
        }
        if id == self.last_id {
            return Some(self.entries_added);
        }
        if id > self.last_id {
            return None;
        }
        if self.max_deleted_id.is_zero() || self.max_deleted_id < self.first_id {
            if id < self.first_id {
                return Some(self.entries_added - self.length);
            }
            if id == self.first_id {
                return Some(self.entries_added - self.length + 1);
            }
        }
        None
    }

    /// A group's lag (entries not yet delivered), None when unknowable.
    /// Negative when a group was told it read more than was ever added
    /// (XGROUP SETID ... ENTRIESREAD), as in Redis.
    pub fn group_lag(&self, g: &ConsumerGroup) -> Option<i64> {
        let lag = |read: u64| (self.entries_added as i64).wrapping_sub(read as i64);
        if self.entries_added == 0 {
            return Some(0);
        }
        if let Some(read) = g.entries_read {
            if !self.range_has_tombstones(Some(g.last_id), None) {
                return Some(lag(read));
            }
        }
        self.estimate_distance(g.last_id).map(lag)
    }

    /// Advances a group past `id` delivered by XREADGROUP `>`, keeping its
    /// read counter as Redis does. Returns true if the last ID moved.
    pub fn advance_group(&mut self, name: &[u8], id: StreamId) -> bool {
        let tombstones = self.range_has_tombstones(Some(id), None);
        let estimate = self.estimate_distance(id);
        let added = self.entries_added;
        let Some(g) = self.groups.get_mut(name) else {
            return false;
        };
        if id <= g.last_id {
            return false;
        }
        match g.entries_read {
            Some(n) if !tombstones => g.entries_read = Some(n + 1),
            _ if added > 0 => g.entries_read = estimate,
            _ => {}
        }
        g.last_id = id;
        true
    }

    pub fn groups(&self) -> &BTreeMap<Box<[u8]>, ConsumerGroup> {
        &self.groups
    }

    pub fn group(&self, name: &[u8]) -> Option<&ConsumerGroup> {
        self.groups.get(name)
    }

    pub fn group_mut(&mut self, name: &[u8]) -> Option<&mut ConsumerGroup> {
        self.groups.get_mut(name)
    }

    /// Adds a group; false if one with that name exists.
    pub fn create_group(&mut self, name: &[u8], group: ConsumerGroup) -> bool {
        if self.groups.contains_key(name) {
            return false;
        }
        self.groups.insert(name.into(), group);
        true
    }

    pub fn remove_group(&mut self, name: &[u8]) -> bool {
        self.groups.remove(name).is_some()
    }

    /// Rebuilds a stream from its parts (RDB loading). Checks that every
    /// node parses, holds live entries in increasing order above its key,
    /// and that the live count matches `length`; None otherwise.
    pub fn from_parts(
        nodes: Vec<(StreamId, Listpack)>,
        length: u64,
        last_id: StreamId,
        first_id: StreamId,
        max_deleted_id: StreamId,
        entries_added: u64,
    ) -> Option<Stream> {
        let mut s = Stream {
            last_id,
            first_id,
            max_deleted_id,
            entries_added,
            length,
            ..Stream::default()
        };
        let mut prev: Option<StreamId> = None;
        let mut live = 0u64;
        for (master_id, lp) in nodes {
            let master = parse_master(&lp)?;
            let entries = node_entries(&lp, master_id);
            let node_live = entries
                .iter()
                .filter(|p| p.flags & FLAG_DELETED == 0)
                .count();
            if node_live as i64 != master.count {
                return None;
            }
            for p in &entries {
                if p.id < master_id || prev.is_some_and(|q| p.id <= q) || p.id > last_id {
                    return None;
                }
                prev = Some(p.id);
            }
            live += node_live as u64;
            s.node_bytes += lp.capacity();
            if s.nodes.insert(master_id, lp).is_some() {
                return None;
            }
        }
        // All but the last node (the one appends go to) are sealed.
        if let Some((tail_id, tail)) = s.nodes.pop_last() {
            s.pack_sealed(true);
            s.nodes.insert(tail_id, tail);
        }
        (live == length).then_some(s)
    }

    /// Packs the run of sealed, unpacked nodes at the end of the tree
    /// (every node is sealed when this runs: the tail is not in the tree
    /// yet, or was sealed just now) into shared chunks of at most
    /// PACK_BYTES_MAX bytes, greedily in ID order. The last, partly filled
    /// chunk is only packed when `all`; otherwise it waits for more nodes.
    fn pack_sealed(&mut self, all: bool) {
        /// An `Arc<[u8]>` allocation's header (two reference counts).
        const ARC_HEADER_BYTES: usize = 16;
        let budget = listpack::PACK_BYTES_MAX - ARC_HEADER_BYTES;
        let mut run: Vec<&mut Listpack> = self
            .nodes
            .values_mut()
            .rev()
            .take_while(|lp| !lp.is_packed())
            .collect();
        run.reverse();
        let total: usize = run.iter().map(|lp| lp.len_bytes()).sum();
        if !all && total <= budget {
            return;
        }
        let before: usize = run.iter().map(|lp| lp.capacity()).sum();
        let n = run.len();
        let mut group: Vec<&mut Listpack> = Vec::new();
        let mut group_bytes = 0;
        for lp in run {
            if !group.is_empty() && group_bytes + lp.len_bytes() > budget {
                Listpack::pack(&mut group);
                group.clear();
                group_bytes = 0;
            }
            group_bytes += lp.len_bytes();
            group.push(lp);
        }
        if all && group.len() > 1 {
            Listpack::pack(&mut group);
        }
        drop(group);
        let after: usize = self
            .nodes
            .values()
            .rev()
            .take(n)
            .map(|lp| lp.capacity())
            .sum();
        self.node_bytes = self.node_bytes + after - before;
    }

    /// Adds a group while loading (see `from_parts`).
    pub fn load_group(&mut self, name: &[u8], group: ConsumerGroup) -> bool {
        self.create_group(name, group)
    }
}

#[cfg(test)]
mod tests;
