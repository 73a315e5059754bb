//! Fork-free point-in-time snapshots, tracked per hash bucket.
//!
//! Starting a snapshot records, for every non-empty segment, a bitset of its
//! main dict's buckets and locks every dict against resizing (so a bucket
//! index keeps naming the same keys until the snapshot ends). The server then
//! captures buckets a little at a time between event-loop turns
//! (`Keyspace::snapshot_step`), and before the door lets a write touch a key
//! whose bucket is not captured yet, it captures that one bucket first — a
//! few entries, microseconds — so the sink sees every entry exactly as it was
//! when the snapshot began, and no write waits for more than a bucket.
//!
//! The sink receives entries by reference and copies what it needs (the RDB
//! sink clones them and encodes on another thread); `wants_more` lets it slow
//! the background walk when its queue is long.
//!
//! Invariants:
//! - each bucket is handed to the sink at most once per snapshot, and all of
//!   them are before `complete` is called;
//! - while a snapshot runs, no dict of the keyspace resizes;
//! - a bucket is captured before any of its entries changes (value, expiry or
//!   removal), before a new key is inserted into it, before a flush drops it
//!   and before SWAPDB moves it.

use crate::value::Value;

/// One entry as the snapshot saw it.
pub struct SnapshotEntry<'a> {
    pub key: &'a [u8],
    pub value: &'a Value,
    pub expire_at_ms: Option<u64>,
    /// LRU clock or LFU word (see `Entry::lru`).
    pub lru: u32,
}

/// Receives the captured data (the RDB encoder implements it).
pub trait SnapshotSink: Send {
    /// Called with some entries of database `db` (a bucket, or several).
    fn segment(&mut self, db: usize, entries: &mut dyn Iterator<Item = SnapshotEntry<'_>>);
    /// Called once, after the last bucket.
    fn complete(&mut self);
    /// False while the sink's queue is long: the background walk waits
    /// (captures forced by writes still go through).
    fn wants_more(&self) -> bool {
        true
    }
}

/// Capture state of one segment.
pub(crate) struct SegmentState {
    /// Every bucket captured (also: the segment was empty at the start).
    pub(crate) done: bool,
    /// One bit per bucket of the main dict, set when captured.
    bits: Vec<u64>,
    /// Buckets not captured yet.
    left: usize,
}

impl SegmentState {
    pub(crate) fn new(buckets: usize) -> SegmentState {
        if buckets == 0 {
            return SegmentState {
                done: true,
                bits: Vec::new(),
                left: 0,
            };
        }
        SegmentState {
            done: false,
            bits: vec![0; buckets.div_ceil(64)],
            left: buckets,
        }
    }

    #[inline]
    pub(crate) fn is_captured(&self, bucket: usize) -> bool {
        self.done
            || self
                .bits
                .get(bucket / 64)
                .is_none_or(|w| w & (1 << (bucket % 64)) != 0)
    }

    /// Marks a bucket; true if it was not marked before.
    pub(crate) fn mark(&mut self, bucket: usize) -> bool {
        if self.done {
            return false;
        }
        let Some(w) = self.bits.get_mut(bucket / 64) else {
            return false;
        };
        let bit = 1u64 << (bucket % 64);
        if *w & bit != 0 {
            return false;
        }
        *w |= bit;
        self.left -= 1;
        if self.left == 0 {
            self.done = true;
            self.bits = Vec::new();
        }
        true
    }

    pub(crate) fn mark_all(&mut self) {
        self.done = true;
        self.left = 0;
        self.bits = Vec::new();
    }
}

pub struct ActiveSnapshot {
    pub(crate) sink: Box<dyn SnapshotSink>,
    /// `segments[db * SEGMENTS + seg]`.
    pub(crate) segments: Vec<SegmentState>,
    /// Where the background walk resumes: (global segment index, bucket).
    pub(crate) cursor: (usize, usize),
}

impl ActiveSnapshot {
    pub(crate) fn new(sink: Box<dyn SnapshotSink>, segments: Vec<SegmentState>) -> ActiveSnapshot {
        ActiveSnapshot {
            sink,
            segments,
            cursor: (0, 0),
        }
    }

    /// Segments with buckets still to capture.
    pub fn remaining_segments(&self) -> usize {
        self.segments.iter().filter(|s| !s.done).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_bits() {
        let mut s = SegmentState::new(130);
        assert!(!s.is_captured(129));
        assert!(s.mark(129));
        assert!(!s.mark(129));
        assert!(s.is_captured(129));
        for b in 0..130 {
            s.mark(b);
        }
        assert!(s.done);
        assert!(SegmentState::new(0).done);
    }
}
