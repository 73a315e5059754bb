//! Lazy free: dropping big values and whole databases on a helper thread so
//! UNLINK, FLUSHDB ASYNC and FLUSHALL ASYNC return at once (Redis's lazyfree
//! bio job).
//!
//! The executor hands garbage over an unbounded channel to one "lazyfree"
//! thread, started on first use, which only drops what it receives. The
//! garbage is already detached from the keyspace, so the thread never touches
//! it otherwise (shared/DESIGN.md, Threads).
//!
//! Invariants:
//! - `pending` counts objects sent and not yet dropped; `freed` counts objects
//!   dropped by the thread since the last stats reset (INFO memory fields
//!   `lazyfree_pending_objects` and `lazyfreed_objects`);
//! - if the thread cannot be started, garbage is dropped on the caller's
//!   thread and counted as freed, so the counters stay consistent.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;

use strata_engine::Value;

/// A value whose free effort exceeds this many allocations is dropped on the
/// lazyfree thread (LAZYFREE_THRESHOLD).
pub const LAZYFREE_EFFORT_MIN: usize = 64;
/// For value types without a precise effort estimate: heap bytes counted as
/// one allocation when estimating the free effort.
const EFFORT_ESTIMATE_BYTES_PER_ALLOC: usize = 64;

/// Something to drop off the executor thread, with how many objects it holds.
struct Job {
    garbage: Box<dyn Send>,
    objects: u64,
}

#[derive(Default)]
struct Counters {
    pending: AtomicU64,
    freed: AtomicU64,
}

#[derive(Default)]
pub struct LazyFree {
    /// None until the first job starts the thread.
    tx: Option<Sender<Job>>,
    /// Set when the thread could not be started; later jobs drop inline.
    spawn_failed: bool,
    counters: Arc<Counters>,
}

impl LazyFree {
    pub fn new() -> LazyFree {
        LazyFree::default()
    }

    /// Frees a value removed from the keyspace: on the lazyfree thread when
    /// freeing it takes more than `LAZYFREE_EFFORT_MIN` allocations, here
    /// otherwise (Redis's dbAsyncDelete).
    pub fn free_value(&mut self, value: Value) {
        if free_effort(&value) > LAZYFREE_EFFORT_MIN {
            self.free_later(Box::new(value), 1);
        } else {
            drop(value);
        }
    }

    /// Sends `garbage`, which holds `objects` objects (keys of a flushed
    /// database, or one value), to the lazyfree thread.
    pub fn free_later(&mut self, garbage: Box<dyn Send>, objects: u64) {
        let counters = Arc::clone(&self.counters);
        let Some(tx) = self.sender() else {
            drop(garbage);
            counters.freed.fetch_add(objects, Ordering::Relaxed);
            return;
        };
        counters.pending.fetch_add(objects, Ordering::Relaxed);
        if let Err(mpsc::SendError(job)) = tx.send(Job { garbage, objects }) {
            // The thread is gone (it only exits when the sender is dropped,
            // so this is not expected): free here and keep counting.
            self.tx = None;
            self.spawn_failed = true;
            drop(job.garbage);
            counters.pending.fetch_sub(objects, Ordering::Relaxed);
            counters.freed.fetch_add(objects, Ordering::Relaxed);
        }
    }

    /// Objects handed to the thread and not dropped yet.
    pub fn pending_objects(&self) -> u64 {
        self.counters.pending.load(Ordering::Relaxed)
    }

    /// Objects the thread dropped since start or the last `reset_stats`.
    pub fn freed_objects(&self) -> u64 {
        self.counters.freed.load(Ordering::Relaxed)
    }

    /// CONFIG RESETSTAT clears `lazyfreed_objects`.
    pub fn reset_stats(&self) {
        self.counters.freed.store(0, Ordering::Relaxed);
    }

    fn sender(&mut self) -> Option<&Sender<Job>> {
        if self.tx.is_none() && !self.spawn_failed {
            let (tx, rx) = mpsc::channel::<Job>();
            let counters = Arc::clone(&self.counters);
            let spawned = std::thread::Builder::new()
                .name("lazyfree".into())
                .spawn(move || {
                    for job in rx {
                        drop(job.garbage);
                        counters.pending.fetch_sub(job.objects, Ordering::Relaxed);
                        counters.freed.fetch_add(job.objects, Ordering::Relaxed);
                    }
                });
            match spawned {
                Ok(_) => self.tx = Some(tx),
                Err(_) => self.spawn_failed = true,
            }
        }
        self.tx.as_ref()
    }
}

/// Roughly how many allocations freeing `value` takes (lazyfreeGetFreeEffort).
/// Strings are one allocation whatever their size, as in Redis.
pub fn free_effort(value: &Value) -> usize {
    match value {
        Value::Str(_) => 1,
        Value::Set(s) if s.encoding_name() == "hashtable" => s.len(),
        Value::ZSet(z) if z.encoding_name() == "skiplist" => z.len(),
        Value::Set(_) | Value::ZSet(_) => 1,
        // Collections added later should give their node or element count;
        // until they do, estimate from their heap size.
        #[allow(unreachable_patterns)]
        other => other.mem_bytes() / EFFORT_ESTIMATE_BYTES_PER_ALLOC + 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    struct DropFlag(Arc<AtomicU64>);

    impl Drop for DropFlag {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn wait_for(mut cond: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if cond() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        false
    }

    #[test]
    fn garbage_is_dropped_on_the_thread_and_counted() {
        let mut lf = LazyFree::new();
        let dropped = Arc::new(AtomicU64::new(0));
        lf.free_later(Box::new(DropFlag(Arc::clone(&dropped))), 3);
        assert!(wait_for(|| lf.freed_objects() == 3));
        assert_eq!(dropped.load(Ordering::SeqCst), 1);
        assert_eq!(lf.pending_objects(), 0);
        lf.reset_stats();
        assert_eq!(lf.freed_objects(), 0);
    }

    #[test]
    fn small_values_are_freed_inline() {
        let mut lf = LazyFree::new();
        lf.free_value(Value::string_from(&[b'x'; 100_000]));
        assert!(lf.tx.is_none(), "a string never needs the thread");
        assert_eq!(lf.freed_objects(), 0);
    }

    #[test]
    fn databases_can_be_sent() {
        fn assert_send<T: Send + 'static>() {}
        assert_send::<strata_engine::keyspace::Db>();
        assert_send::<Value>();
    }
}
