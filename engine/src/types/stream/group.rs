//! Consumer groups: the last delivered ID, the logical read counter, the
//! pending entries list (PEL) and the consumers.
//!
//! Invariants:
//! - every ID in a consumer's `pel` is in the group's `pel` with that
//!   consumer's name, and every group PEL entry is in its consumer's `pel`;
//! - consumers and groups are kept in name order (Redis keeps them in radix
//!   trees, so XINFO lists them sorted by bytes).

use std::collections::{BTreeMap, BTreeSet};

use super::id::StreamId;

/// Approximate bytes of one PEL entry: the group's tree slot with the NACK
/// and the consumer's tree slot.
pub const PEL_ENTRY_BYTES: usize = 96;
/// Approximate bytes of a consumer besides its name.
pub const CONSUMER_BYTES: usize = 64;
/// Approximate bytes of a group besides its name.
pub const GROUP_BYTES: usize = 96;

/// A delivered, not yet acknowledged entry (Redis's streamNACK).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEntry {
    pub consumer: Box<[u8]>,
    /// Unix ms of the last delivery.
    pub delivery_time_ms: u64,
    pub delivery_count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Consumer {
    /// Unix ms of the last time the consumer read or claimed (seen-time).
    pub seen_time_ms: u64,
    pub pel: BTreeSet<StreamId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerGroup {
    pub last_id: StreamId,
    /// Entries the group read, counted from the first entry ever added
    /// (entries-read); None when unknown (Redis's -1).
    pub entries_read: Option<u64>,
    pel: BTreeMap<StreamId, PendingEntry>,
    consumers: BTreeMap<Box<[u8]>, Consumer>,
}

impl ConsumerGroup {
    pub fn new(last_id: StreamId, entries_read: Option<u64>) -> ConsumerGroup {
        ConsumerGroup {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    pub fn pel(&self) -> &BTreeMap<StreamId, PendingEntry> {
        &self.pel
    }

    pub fn consumers(&self) -> &BTreeMap<Box<[u8]>, Consumer> {
        &self.consumers
    }

    pub fn consumer(&self, name: &[u8]) -> Option<&Consumer> {
        self.consumers.get(name)
    }

    /// Creates a consumer; false if it exists.
    pub fn create_consumer(&mut self, name: &[u8], now_ms: u64) -> bool {
        if self.consumers.contains_key(name) {
            return false;
        }
        self.consumers.insert(
            name.into(),
            Consumer {
                seen_time_ms: now_ms,
                pel: BTreeSet::new(),
            },
        );
        true
    }

    /// Looks a consumer up, creating it if missing; true if created.
    pub fn touch_consumer(&mut self, name: &[u8], now_ms: u64) -> bool {
        let created = self.create_consumer(name, now_ms);
        if let Some(c) = self.consumers.get_mut(name) {
            c.seen_time_ms = now_ms;
        }
        created
    }

    /// Deletes a consumer and its pending entries; returns how many it had,
    /// or None if it did not exist.
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let c = self.consumers.remove(name)?;
        for id in &c.pel {
            self.pel.remove(id);
        }
        Some(c.pel.len())
    }

    /// Records a delivery of `id` to `consumer` (XREADGROUP, XCLAIM): a new
    /// PEL entry, or the existing one moved to `consumer`. The consumer must
    /// exist. `delivery_count` None keeps the old count (or 1 when new).
    pub fn deliver(
        &mut self,
        id: StreamId,
        consumer: &[u8],
        delivery_time_ms: u64,
        delivery_count: Option<u64>,
    ) {
        match self.pel.get_mut(&id) {
            Some(p) => {
                if *p.consumer != *consumer {
                    if let Some(old) = self.consumers.get_mut(&p.consumer) {
                        old.pel.remove(&id);
                    }
                    p.consumer = consumer.into();
                }
                p.delivery_time_ms = delivery_time_ms;
                if let Some(n) = delivery_count {
                    p.delivery_count = n;
                }
            }
            None => {
                self.pel.insert(
                    id,
                    PendingEntry {
                        consumer: consumer.into(),
                        delivery_time_ms,
                        delivery_count: delivery_count.unwrap_or(1),
                    },
                );
            }
        }
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pel.insert(id);
        }
    }

    /// Changes a pending entry's delivery metadata in place (history reads).
    pub fn pending_mut(&mut self, id: &StreamId) -> Option<&mut PendingEntry> {
        self.pel.get_mut(id)
    }

    /// Acknowledges `id`; false if it was not pending.
    pub fn ack(&mut self, id: &StreamId) -> bool {
        let Some(p) = self.pel.remove(id) else {
            return false;
        };
        if let Some(c) = self.consumers.get_mut(&p.consumer) {
            c.pel.remove(id);
        }
        true
    }

    /// Loading: adds a PEL entry whose consumer is named later by
    /// `load_consumer`; false if the ID is already there.
    pub fn load_pending(
        &mut self,
        id: StreamId,
        delivery_time_ms: u64,
        delivery_count: u64,
    ) -> bool {
        if self.pel.contains_key(&id) {
            return false;
        }
        self.pel.insert(
            id,
            PendingEntry {
                consumer: Box::default(),
                delivery_time_ms,
                delivery_count,
            },
        );
        true
    }

    /// Loading: adds a consumer owning `ids`, which must be loaded PEL
    /// entries not owned yet; false otherwise (or if the name is taken).
    pub fn load_consumer(&mut self, name: &[u8], seen_time_ms: u64, ids: &[StreamId]) -> bool {
        if self.consumers.contains_key(name) {
            return false;
        }
        let mut pel = BTreeSet::new();
        for id in ids {
            match self.pel.get_mut(id) {
                Some(p) if p.consumer.is_empty() && pel.insert(*id) => p.consumer = name.into(),
                _ => return false,
            }
        }
        self.consumers
            .insert(name.into(), Consumer { seen_time_ms, pel });
        true
    }

    /// Loading: whether every PEL entry got a consumer.
    pub fn all_pending_owned(&self) -> bool {
        self.pel
            .values()
            .all(|p| self.consumers.contains_key(&p.consumer))
    }

    /// Approximate heap bytes (names, PEL, consumers).
    pub fn mem_bytes(&self) -> usize {
        GROUP_BYTES
            + self.pel.len() * PEL_ENTRY_BYTES
            + self
                .consumers
                .keys()
                .map(|n| CONSUMER_BYTES + n.len())
                .sum::<usize>()
    }

    /// Checks the PEL invariants (tests and loaders).
    pub fn is_consistent(&self) -> bool {
        let refs: usize = self.consumers.values().map(|c| c.pel.len()).sum();
        refs == self.pel.len()
            && self.pel.iter().all(|(id, p)| {
                self.consumers
                    .get(&p.consumer)
                    .is_some_and(|c| c.pel.contains(id))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_move_between_consumers() {
        let mut g = ConsumerGroup::new(StreamId::ZERO, Some(0));
        g.touch_consumer(b"a", 10);
        g.touch_consumer(b"b", 10);
        let id = StreamId::new(1, 1);
        g.deliver(id, b"a", 100, None);
        assert_eq!(g.pel()[&id].delivery_count, 1);
        g.deliver(id, b"b", 200, Some(5));
        assert_eq!(g.pel()[&id].consumer.as_ref(), b"b");
        assert!(g.consumer(b"a").unwrap().pel.is_empty());
        assert!(g.is_consistent());
        assert_eq!(g.delete_consumer(b"b"), Some(1));
        assert!(g.pel().is_empty());
        assert!(!g.ack(&id));
        assert!(g.is_consistent());
    }
}
