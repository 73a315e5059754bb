//! Fork-free point-in-time snapshots.
//!
//! A snapshot starts by recording, for every segment of every database, that
//! it has not been captured yet (O(databases), so starting never stalls). The
//! server then captures segments a few at a time between event-loop turns
//! (`Keyspace::snapshot_step`). Before the door lets a write touch a segment
//! that is not captured yet, it captures that segment first, so the sink sees
//! every entry exactly as it was when the snapshot began: no copy of the
//! dataset is ever made.
//!
//! Invariants:
//! - each segment is handed to the sink at most once per snapshot, and all of
//!   them are before `complete` is called;
//! - a segment is captured before any of its entries changes, before a flush
//!   drops it and before SWAPDB moves it.

use crate::keyspace::SEGMENTS;
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
    /// Called once per non-empty segment with all its entries.
    fn segment(&mut self, db: usize, entries: &mut dyn Iterator<Item = SnapshotEntry<'_>>);
    /// Called once, after the last segment.
    fn complete(&mut self);
}

pub struct ActiveSnapshot {
    pub(crate) sink: Box<dyn SnapshotSink>,
    /// `captured[db * SEGMENTS + seg]`.
    pub(crate) captured: Vec<bool>,
    /// Where the background stepper resumes.
    pub(crate) cursor: usize,
    pub(crate) remaining: usize,
}

impl ActiveSnapshot {
    pub(crate) fn new(sink: Box<dyn SnapshotSink>, databases: usize) -> ActiveSnapshot {
        ActiveSnapshot {
            sink,
            captured: vec![false; databases * SEGMENTS],
            cursor: 0,
            remaining: databases * SEGMENTS,
        }
    }

    #[inline]
    pub(crate) fn is_captured(&self, db: usize, seg: usize) -> bool {
        self.captured
            .get(db * SEGMENTS + seg)
            .copied()
            .unwrap_or(true)
    }

    pub(crate) fn mark(&mut self, db: usize, seg: usize) {
        if let Some(c) = self.captured.get_mut(db * SEGMENTS + seg) {
            if !*c {
                *c = true;
                self.remaining -= 1;
            }
        }
    }

    pub fn remaining_segments(&self) -> usize {
        self.remaining
    }
}
