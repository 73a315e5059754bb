//! The keyspace and its door.
//!
//! `Keyspace` owns every database. Handlers reach a database through
//! `Keyspace::db`, which returns a `DbView`: the only API that reads or changes
//! values. The view performs, in one place, what Redis leaves to each call site:
//! lazy expiry, LRU/LFU touch, hit/miss statistics, the WATCH signal, the dirty
//! counter, memory accounting, `new`/`del`/`expired` notifications and the
//! removal of emptied collections.
//!
//! Invariants:
//! - each database is split into `SEGMENTS` segments by the top bits of the key
//!   hash; a key and its expiry live in the same segment;
//! - `Db::len` equals the sum of the segments' map sizes, `Db::volatile` the sum
//!   of their expiry dicts; every key in an expiry dict is also in the map;
//! - a segment's `version` increases before any of its entries is handed out
//!   for writing (the hook a point-in-time snapshot hangs on).

use std::collections::HashMap;

use crate::dict::{Dict, Hasher, LOOKUPS_PREFETCH_MAX};
use crate::notify::{self, Notification};
use crate::snapshot::{ActiveSnapshot, SegmentState, SnapshotEntry, SnapshotSink};
use crate::types::skiplist::Ahead;
use crate::value::{Encodings, Value};

/// Segments per database (a power of two; the top bits of the hash choose one).
pub const SEGMENTS: usize = 256;
const SEGMENT_SHIFT: u32 = 64 - SEGMENTS.trailing_zeros();
const _: () = assert!(SEGMENTS.is_power_of_two() && SEGMENTS <= 1 << 16);
/// Bits of a SCAN cursor that name the segment.
const CURSOR_SEGMENT_BITS: u32 = SEGMENTS.trailing_zeros();

/// Keys sampled per active-expiry step (ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP).
pub const EXPIRE_SAMPLE_KEYS: usize = 20;
/// How far ahead (in buckets) the snapshot walk prefetches a bucket's first
/// chain node; half as far ahead it reads that node, prefetching its string
/// bytes and the next node, and so on for the first `PREFETCH_CHAIN_NODES`
/// nodes of a chain (at Redis's load factor nearly all keys).
const PREFETCH_AHEAD: usize = 16;
const PREFETCH_CHAIN_NODES: usize = 3;
/// Repeat an active-expiry step while more than this percentage was expired.
pub const EXPIRE_REPEAT_PERCENT: usize = 25;

/// LFU counter given to new keys (LFU_INIT_VAL).
pub const LFU_INIT_VAL: u8 = 5;

/// An entry (with its node's key pointer and chain link) must fit jemalloc's
/// 48-byte class: that is what keeps small strings under Redis's memory.
const _: () = assert!(std::mem::size_of::<Entry>() <= 24);

pub struct Entry {
    pub value: Value,
    /// LRU clock (seconds, 24 bits) or, under an LFU policy, minutes << 8 | counter.
    lru: u32,
    /// The value is a private duplicate made by COPY and not rewritten since.
    /// Redis shares small integers between keys, except for duplicates
    /// (OBJECT REFCOUNT tells them apart); any write clears the flag.
    private_copy: bool,
}

impl Entry {
    pub fn lru(&self) -> u32 {
        self.lru
    }

    /// True for a value duplicated by COPY (see `private_copy`).
    pub fn is_private_copy(&self) -> bool {
        self.private_copy
    }
}

#[derive(Default)]
struct Segment {
    map: Dict<Entry>,
    expires: Dict<u64>,
    version: u64,
}

pub struct Db {
    segments: Box<[Segment]>,
    len: usize,
    volatile: usize,
    /// Keys WATCHed by some client, with the number of watchers.
    watched: HashMap<Box<[u8]>, u32>,
    /// Where the active-expiry scan of this database resumes.
    expire_cursor: u64,
    /// Running estimate of the average TTL of sampled keys (INFO keyspace avg_ttl).
    pub avg_ttl_ms: u64,
}

impl Default for Db {
    fn default() -> Self {
        let mut segments = Vec::with_capacity(SEGMENTS);
        segments.resize_with(SEGMENTS, Segment::default);
        Db {
            segments: segments.into_boxed_slice(),
            len: 0,
            volatile: 0,
            watched: HashMap::new(),
            expire_cursor: 0,
            avg_ttl_ms: 0,
        }
    }
}

impl Db {
    /// Whether `key` is in the map, ignoring its TTL.
    fn contains_raw(&self, hasher: &Hasher, key: &[u8]) -> bool {
        let hash = hasher.hash(key);
        self.segments[(hash >> SEGMENT_SHIFT) as usize]
            .map
            .get(hash, key)
            .is_some()
    }

    /// Number of keys, including those whose TTL passed but are not yet deleted.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[derive(Default, Clone, Debug)]
pub struct KeyspaceStats {
    pub hits: u64,
    pub misses: u64,
    pub expired_keys: u64,
    pub expired_stale_perc: f64,
    pub expired_time_cap_reached_count: u64,
    pub expire_cycle_cpu_milliseconds: u64,
    pub evicted_keys: u64,
}

/// Lookup options (Redis's LOOKUP_* flags).
#[derive(Clone, Copy, Default)]
pub struct Lookup {
    /// Do not update the access time or frequency (TYPE, TTL, OBJECT).
    pub no_touch: bool,
    /// Do not count a hit or miss.
    pub no_stats: bool,
    /// Do not emit a keymiss notification.
    pub no_notify: bool,
}

pub const LOOKUP_DEFAULT: Lookup = Lookup {
    no_touch: false,
    no_stats: false,
    no_notify: false,
};
pub const LOOKUP_NOTOUCH: Lookup = Lookup {
    no_touch: true,
    no_stats: false,
    no_notify: false,
};
pub const LOOKUP_SILENT: Lookup = Lookup {
    no_touch: true,
    no_stats: true,
    no_notify: true,
};
/// Redis's lookupKeyWrite: touches the key, counts no hit or miss, emits no keymiss.
pub const LOOKUP_WRITE: Lookup = Lookup {
    no_touch: false,
    no_stats: true,
    no_notify: true,
};

/// State shared by all databases, which the door updates.
pub struct Shared {
    hasher: Hasher,
    /// The time commands see, in Unix milliseconds; set by the server before
    /// each command (frozen inside a script or transaction).
    now_ms: u64,
    /// Writes since the last successful save (`rdb_changes_since_last_save`).
    pub dirty: u64,
    pub stats: KeyspaceStats,
    /// Which notification classes are enabled (`notify-keyspace-events`).
    pub notify_flags: u32,
    /// Notifications waiting for the server to publish them.
    pub events: Vec<Notification>,
    /// Keys whose WATCHers must fail their EXEC: (db, key).
    pub touched: Vec<(usize, Box<[u8]>)>,
    /// Keys deleted by expiry, to propagate as DEL: (db, key).
    pub expired: Vec<(usize, Box<[u8]>)>,
    /// When false (loading, replica), expired keys are reported missing but not deleted.
    pub expire_deletes: bool,
    /// True when `maxmemory-policy` is an LFU policy.
    pub lfu: bool,
    pub lfu_log_factor: u32,
    pub lfu_decay_time_min: u32,
    /// Approximate heap bytes held by values (grows and shrinks with writes).
    pub value_bytes: i64,
    /// Encoding limits for collection values.
    pub encodings: Encodings,
    rng: u64,
    /// The point-in-time snapshot in progress, if any.
    snapshot: Option<ActiveSnapshot>,
    /// Names of keys some client is blocked on (in any database), with the
    /// number of databases where one is: the door queues such a key in
    /// `ready_keys` when it creates it. Maintained by the server.
    pub blocking_keys: HashMap<Box<[u8]>, u32>,
    /// Keys that may now serve blocked clients: (db, key).
    pub ready_keys: Vec<(usize, Box<[u8]>)>,
}

impl Shared {
    fn new() -> Shared {
        Shared {
            hasher: Hasher::default(),
            now_ms: 0,
            dirty: 0,
            stats: KeyspaceStats::default(),
            notify_flags: 0,
            events: Vec::new(),
            touched: Vec::new(),
            expired: Vec::new(),
            expire_deletes: true,
            lfu: false,
            lfu_log_factor: 10,
            lfu_decay_time_min: 1,
            value_bytes: 0,
            encodings: Encodings::default(),
            rng: 0x2545_f491_4f6c_dd1d,
            snapshot: None,
            blocking_keys: HashMap::new(),
            ready_keys: Vec::new(),
        }
    }

    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    pub fn random_u64(&mut self) -> u64 {
        // xorshift64*: fast and good enough for sampling keys.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Queues a keyspace notification if its class is enabled.
    pub fn notify(&mut self, class: u32, event: &'static str, db: usize, key: &[u8]) {
        if notify::wanted(self.notify_flags, class) {
            self.events.push(Notification {
                db,
                class,
                event,
                key: key.into(),
            });
        }
    }

    fn lru_clock(&self) -> u32 {
        ((self.now_ms / 1000) & 0xFF_FFFF) as u32
    }

    fn fresh_lru(&mut self) -> u32 {
        if self.lfu {
            (lfu_minutes(self.now_ms) << 8) | LFU_INIT_VAL as u32
        } else {
            self.lru_clock()
        }
    }

    fn touch(&mut self, lru: &mut u32) {
        if self.lfu {
            let counter = self.lfu_decayed(*lru);
            let counter = self.lfu_increment(counter);
            *lru = (lfu_minutes(self.now_ms) << 8) | counter as u32;
        } else {
            *lru = self.lru_clock();
        }
    }

    /// The LFU counter after decay for the minutes elapsed (LFUDecrAndReturn).
    pub fn lfu_decayed(&self, lru: u32) -> u8 {
        let last = lru >> 8;
        let counter = (lru & 0xFF) as u8;
        let now = lfu_minutes(self.now_ms);
        let elapsed = if now >= last {
            now - last
        } else {
            65535 - last + now
        };
        let periods = elapsed.checked_div(self.lfu_decay_time_min).unwrap_or(0);
        counter.saturating_sub(periods.min(255) as u8)
    }

    fn lfu_increment(&mut self, counter: u8) -> u8 {
        if counter == 255 {
            return 255;
        }
        let r = (self.random_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let base = counter.saturating_sub(LFU_INIT_VAL) as f64;
        let p = 1.0 / (base * self.lfu_log_factor as f64 + 1.0);
        if r < p {
            counter + 1
        } else {
            counter
        }
    }

    /// Seconds since the entry was last touched (OBJECT IDLETIME).
    pub fn idle_seconds(&self, lru: u32) -> u64 {
        let now = self.lru_clock();
        if now >= lru {
            (now - lru) as u64
        } else {
            (0xFF_FFFF - lru + now) as u64
        }
    }
}

fn lfu_minutes(now_ms: u64) -> u32 {
    ((now_ms / 60_000) & 0xFFFF) as u32
}

pub struct Keyspace {
    dbs: Vec<Db>,
    pub shared: Shared,
}

/// Most keys `prefetch_keys` looks at in one call.
pub const PREFETCH_KEYS_MAX: usize = 16;

impl Keyspace {
    /// Starts loading what looking up `keys` in database `db` will read: the
    /// bucket slots of all of them, then their first chain nodes, then the
    /// values of those that hold the key. A pipelined batch of lookups then
    /// pays about three memory latencies instead of three per key. Only a
    /// hint: nothing changes (no expiry, no LRU touch, no stats).
    pub fn prefetch_keys(&self, db: usize, keys: &[&[u8]]) {
        let Some(d) = self.dbs.get(db) else {
            return;
        };
        let mut hashes = [0u64; PREFETCH_KEYS_MAX];
        let n = keys.len().min(PREFETCH_KEYS_MAX);
        for (h, key) in hashes.iter_mut().zip(&keys[..n]) {
            *h = self.shared.hasher.hash(key);
            d.segments[(*h >> SEGMENT_SHIFT) as usize]
                .map
                .prefetch_slot(*h);
        }
        for &h in &hashes[..n] {
            d.segments[(h >> SEGMENT_SHIFT) as usize]
                .map
                .prefetch_first_node(h);
        }
        // The nodes are arriving: where the first one holds the key, start
        // loading its value too (a string's bytes; GET copies them, SET
        // frees them).
        for (&h, key) in hashes.iter().zip(&keys[..n]) {
            let seg = &d.segments[(h >> SEGMENT_SHIFT) as usize];
            if let Some((k, entry)) = seg.map.first_in_bucket_of(h) {
                if k == *key {
                    entry.value.prefetch();
                }
            }
        }
    }

    /// Starts loading what a batch of commands on the members of collection
    /// `key` about to run will read: a big sorted set's hash chains and
    /// descents (`ZSet::prefetch_updates`), a big set's or hash's chains. A
    /// hint, like `prefetch_keys`.
    pub fn prefetch_members(&self, db: usize, key: &[u8], members: &[(&[u8], Ahead)]) {
        let Some(d) = self.dbs.get(db) else {
            return;
        };
        let h = self.shared.hasher.hash(key);
        let seg = &d.segments[(h >> SEGMENT_SHIFT) as usize];
        let Some(entry) = seg.map.get(h, key) else {
            return;
        };
        let mut names: [&[u8]; LOOKUPS_PREFETCH_MAX] = [&[]; LOOKUPS_PREFETCH_MAX];
        let n = members.len().min(LOOKUPS_PREFETCH_MAX);
        for (name, &(m, _)) in names.iter_mut().zip(members) {
            *name = m;
        }
        match &entry.value {
            Value::ZSet(z) => z.prefetch_updates(members),
            Value::Set(s) => s.prefetch_members(&names[..n]),
            Value::Hash(hash) => hash.prefetch_fields(&names[..n]),
            _ => {}
        }
    }

    pub fn new(databases: usize) -> Keyspace {
        let mut dbs = Vec::with_capacity(databases);
        dbs.resize_with(databases.max(1), Db::default);
        Keyspace {
            dbs,
            shared: Shared::new(),
        }
    }

    pub fn db_count(&self) -> usize {
        self.dbs.len()
    }

    /// The door to database `idx` (callers check the index range first).
    pub fn db(&mut self, idx: usize) -> DbView<'_> {
        let idx = idx.min(self.dbs.len() - 1);
        DbView {
            db: &mut self.dbs[idx],
            sh: &mut self.shared,
            idx,
        }
    }

    pub fn set_now_ms(&mut self, now_ms: u64) {
        self.shared.now_ms = now_ms;
    }

    pub fn now_ms(&self) -> u64 {
        self.shared.now_ms
    }

    /// (keys, keys with an expiry, average TTL) of each database, for INFO keyspace.
    pub fn db_sizes(&self) -> Vec<(usize, usize, u64)> {
        self.dbs
            .iter()
            .map(|d| (d.len, d.volatile, d.avg_ttl_ms))
            .collect()
    }

    pub fn total_keys(&self) -> usize {
        self.dbs.iter().map(|d| d.len).sum()
    }

    /// SWAPDB: the data moves, the watchers stay with their database index.
    /// Swapping a database with itself changes nothing (Redis 7.0 does not
    /// touch its watched keys either).
    pub fn swap_dbs(&mut self, a: usize, b: usize) {
        // A snapshot in progress must see both databases as they were.
        self.capture_db(a);
        self.capture_db(b);
        if a == b || a >= self.dbs.len() || b >= self.dbs.len() {
            return;
        }
        let (lo, hi) = (a.min(b), a.max(b));
        let (left, right) = self.dbs.split_at_mut(hi);
        let (x, y) = (&mut left[lo], &mut right[0]);
        std::mem::swap(&mut x.segments, &mut y.segments);
        std::mem::swap(&mut x.len, &mut y.len);
        std::mem::swap(&mut x.volatile, &mut y.volatile);
        std::mem::swap(&mut x.avg_ttl_ms, &mut y.avg_ttl_ms);
        x.expire_cursor = 0;
        y.expire_cursor = 0;
        // A watched key is touched if it exists in either database
        // (touchAllWatchedKeysInDb with the other database as replacement).
        self.touch_watched_present(a, b);
        self.touch_watched_present(b, a);
        // Clients stay with their database: a key blocked on there may
        // now hold a list or sorted set (scanDatabaseForReadyKeys).
        self.signal_blocked_present(a);
        self.signal_blocked_present(b);
    }

    /// Queues as ready every blocked-on key that holds a list or a sorted
    /// set in database `idx` (streams wake through their WATCH signal).
    fn signal_blocked_present(&mut self, idx: usize) {
        let mut ready = Vec::new();
        for key in self.shared.blocking_keys.keys() {
            let hash = self.shared.hasher.hash(key);
            let seg = &self.dbs[idx].segments[(hash >> SEGMENT_SHIFT) as usize];
            if let Some(e) = seg.map.get(hash, key) {
                if matches!(e.value, Value::List(_) | Value::ZSet(_)) {
                    ready.push((idx, key.clone()));
                }
            }
        }
        self.shared.ready_keys.extend(ready);
    }

    /// Queues a WATCH signal for each key watched in `idx` that is present
    /// (expired or not) in database `idx` or `other`.
    fn touch_watched_present(&mut self, idx: usize, other: usize) {
        let mut touched = Vec::new();
        for key in self.dbs[idx].watched.keys() {
            if self.dbs[idx].contains_raw(&self.shared.hasher, key)
                || self.dbs[other].contains_raw(&self.shared.hasher, key)
            {
                touched.push((idx, key.clone()));
            }
        }
        self.shared.touched.extend(touched);
    }

    /// Removes every key of every database; returns how many were removed.
    pub fn flush_all(&mut self) -> usize {
        let mut removed = 0;
        for idx in 0..self.dbs.len() {
            removed += self.db(idx).flush();
        }
        removed
    }

    /// Takes every database's contents out (for freeing off the executor thread).
    pub fn take_all(&mut self) -> Vec<Db> {
        let n = self.dbs.len();
        let mut out = Vec::with_capacity(n);
        for idx in 0..n {
            out.push(self.db(idx).take());
        }
        out
    }

    /// One active-expiry cycle over all databases, stopping after `budget_us`
    /// microseconds. Returns true if the time cap was reached.
    pub fn active_expire_cycle(&mut self, budget_us: u64) -> bool {
        let start = std::time::Instant::now();
        let mut sampled_total = 0usize;
        let mut expired_total = 0usize;
        for idx in 0..self.dbs.len() {
            loop {
                if self.dbs[idx].volatile == 0 {
                    break;
                }
                let (sampled, expired) = self.db(idx).expire_step();
                sampled_total += sampled;
                expired_total += expired;
                if start.elapsed().as_micros() as u64 >= budget_us {
                    self.shared.stats.expired_time_cap_reached_count += 1;
                    self.update_stale(sampled_total, expired_total);
                    return true;
                }
                if sampled == 0 || expired * 100 <= sampled * EXPIRE_REPEAT_PERCENT {
                    break;
                }
            }
        }
        self.update_stale(sampled_total, expired_total);
        false
    }

    fn update_stale(&mut self, sampled: usize, expired: usize) {
        let current = if sampled > 0 {
            expired as f64 / sampled as f64
        } else {
            0.0
        };
        let s = &mut self.shared.stats;
        s.expired_stale_perc = current * 0.05 + s.expired_stale_perc * 0.95;
    }

    /// Starts a point-in-time snapshot; false if one is already running.
    /// Costs one pass over the segments (not the keys): the bucket bitsets.
    pub fn snapshot_begin(&mut self, sink: Box<dyn SnapshotSink>) -> bool {
        if self.shared.snapshot.is_some() {
            return false;
        }
        let mut states = Vec::with_capacity(self.dbs.len() * SEGMENTS);
        for db in self.dbs.iter_mut() {
            for seg in db.segments.iter_mut() {
                let buckets = if seg.map.is_empty() {
                    0
                } else {
                    seg.map.bucket_count()
                };
                states.push(SegmentState::new(buckets));
                seg.map.set_resize_locked(true);
                seg.expires.set_resize_locked(true);
            }
        }
        self.shared.snapshot = Some(ActiveSnapshot::new(sink, states));
        true
    }

    pub fn snapshot_active(&self) -> bool {
        self.shared.snapshot.is_some()
    }

    /// Whether the sink would take more background work now.
    pub fn snapshot_wants_more(&self) -> bool {
        self.shared
            .snapshot
            .as_ref()
            .is_some_and(|s| s.sink.wants_more())
    }

    /// Captures buckets until about `entries_max` entries were handed over or
    /// the sink asks to wait. When the last bucket is done, the sink is
    /// completed and dropped and dicts may resize again; returns true then.
    pub fn snapshot_step(&mut self, entries_max: usize) -> bool {
        let Shared {
            snapshot, hasher, ..
        } = &mut self.shared;
        let Some(snap) = snapshot.as_mut() else {
            return true;
        };
        let total = self.dbs.len() * SEGMENTS;
        let mut budget = entries_max;
        while snap.cursor.0 < total && budget > 0 {
            let (gseg, bucket) = snap.cursor;
            let (db, seg) = (gseg / SEGMENTS, gseg % SEGMENTS);
            let segment = &self.dbs[db].segments[seg];
            let state = &snap.segments[gseg];
            if state.done || bucket >= segment.map.bucket_count() {
                snap.cursor = (gseg + 1, 0);
                continue;
            }
            snap.cursor.1 += 1;
            // The walk is bound by two dependent misses per key (node, then
            // string bytes): load them a few buckets ahead.
            segment.map.prefetch_bucket(bucket + PREFETCH_AHEAD);
            for nth in 0..PREFETCH_CHAIN_NODES {
                segment
                    .map
                    .prefetch_chain(bucket + (PREFETCH_AHEAD >> (nth + 1)), nth, |e| {
                        e.value.prefetch()
                    });
            }
            if state.is_captured(bucket) {
                continue;
            }
            if !snap.sink.wants_more() {
                snap.cursor.1 -= 1;
                return false;
            }
            budget = budget
                .saturating_sub(capture_bucket(snap, hasher, db, seg, segment, bucket).max(1));
        }
        if snap.cursor.0 >= total {
            self.snapshot_finish(true);
            return true;
        }
        false
    }

    fn snapshot_finish(&mut self, complete: bool) {
        if let Some(mut done) = self.shared.snapshot.take() {
            if complete {
                done.sink.complete();
            }
        }
        for db in self.dbs.iter_mut() {
            for seg in db.segments.iter_mut() {
                seg.map.set_resize_locked(false);
                seg.expires.set_resize_locked(false);
            }
        }
    }

    /// Abandons a running snapshot (its sink is dropped without `complete`).
    pub fn snapshot_abort(&mut self) {
        self.snapshot_finish(false);
    }

    /// Runs a whole snapshot synchronously (SAVE), waiting for the sink when
    /// its queue is long.
    pub fn snapshot_now(&mut self, sink: Box<dyn SnapshotSink>) -> bool {
        if !self.snapshot_begin(sink) {
            return false;
        }
        while !self.snapshot_step(usize::MAX) {
            if !self.snapshot_wants_more() {
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
        }
        true
    }

    /// Captures every bucket not captured yet of a database (before a flush or swap).
    fn capture_db(&mut self, idx: usize) {
        let Shared {
            snapshot, hasher, ..
        } = &mut self.shared;
        let Some(snap) = snapshot.as_mut() else {
            return;
        };
        let Some(db) = self.dbs.get(idx) else { return };
        for seg in 0..SEGMENTS {
            capture_whole_segment(snap, hasher, idx, seg, &db.segments[seg]);
        }
    }

    /// Registers a WATCH on `key` of database `db`.
    pub fn watch(&mut self, db: usize, key: &[u8]) {
        if let Some(d) = self.dbs.get_mut(db) {
            *d.watched.entry(key.into()).or_insert(0) += 1;
        }
    }

    pub fn unwatch(&mut self, db: usize, key: &[u8]) {
        if let Some(d) = self.dbs.get_mut(db) {
            if let Some(n) = d.watched.get_mut(key) {
                *n -= 1;
                if *n == 0 {
                    d.watched.remove(key);
                }
            }
        }
    }
}

/// Hands one bucket's entries to the snapshot and marks it captured.
/// Returns how many entries it held.
fn capture_bucket(
    snap: &mut ActiveSnapshot,
    hasher: &Hasher,
    db: usize,
    seg: usize,
    segment: &Segment,
    bucket: usize,
) -> usize {
    let gseg = db * SEGMENTS + seg;
    if !snap.segments[gseg].mark(bucket) || segment.map.bucket_is_empty(bucket) {
        return 0;
    }
    let has_expires = !segment.expires.is_empty();
    let mut n = 0usize;
    let mut entries = segment.map.bucket_iter(bucket).map(|(key, entry)| {
        n += 1;
        SnapshotEntry {
            key,
            value: &entry.value,
            expire_at_ms: if has_expires {
                segment.expires.get(hasher.hash(key), key).copied()
            } else {
                None
            },
            lru: entry.lru,
        }
    });
    snap.sink.segment(db, &mut entries);
    drop(entries);
    n
}

/// Captures every bucket of a segment not captured yet.
fn capture_whole_segment(
    snap: &mut ActiveSnapshot,
    hasher: &Hasher,
    db: usize,
    seg: usize,
    segment: &Segment,
) {
    let gseg = db * SEGMENTS + seg;
    if snap.segments[gseg].done {
        return;
    }
    for bucket in 0..segment.map.bucket_count() {
        if !snap.segments[gseg].is_captured(bucket) {
            capture_bucket(snap, hasher, db, seg, segment, bucket);
        }
    }
    snap.segments[gseg].mark_all();
}

/// The door to one database.
pub struct DbView<'a> {
    db: &'a mut Db,
    sh: &'a mut Shared,
    idx: usize,
}

impl<'a> DbView<'a> {
    pub fn index(&self) -> usize {
        self.idx
    }

    pub fn len(&self) -> usize {
        self.db.len
    }

    pub fn is_empty(&self) -> bool {
        self.db.len == 0
    }

    pub fn volatile_len(&self) -> usize {
        self.db.volatile
    }

    pub fn shared(&mut self) -> &mut Shared {
        self.sh
    }

    pub fn now_ms(&self) -> u64 {
        self.sh.now_ms
    }

    #[inline]
    fn locate(&self, key: &[u8]) -> (u64, usize) {
        let hash = self.sh.hasher.hash(key);
        (hash, (hash >> SEGMENT_SHIFT) as usize)
    }

    /// Whether the key's TTL has passed (without deleting it).
    fn is_expired(&self, hash: u64, seg: usize, key: &[u8]) -> bool {
        if self.db.volatile == 0 {
            return false;
        }
        match self.db.segments[seg].expires.get(hash, key) {
            Some(&at) => at <= self.sh.now_ms,
            None => false,
        }
    }

    /// Deletes the key if its TTL has passed; returns true if it is (logically) gone.
    fn expire_if_needed(&mut self, hash: u64, seg: usize, key: &[u8]) -> bool {
        if !self.is_expired(hash, seg, key) {
            return false;
        }
        if self.sh.expire_deletes {
            self.delete_expired(hash, seg, key);
        }
        true
    }

    fn delete_expired(&mut self, hash: u64, seg: usize, key: &[u8]) {
        if self.unlink(hash, seg, key).is_some() {
            self.sh.stats.expired_keys += 1;
            self.sh.notify(notify::EXPIRED, "expired", self.idx, key);
            self.sh.expired.push((self.idx, key.into()));
        }
    }

    /// Removes the entry and its expiry, signalling watchers; no notification.
    fn unlink(&mut self, hash: u64, seg: usize, key: &[u8]) -> Option<Value> {
        self.before_write(seg, hash);
        let hasher = &self.sh.hasher;
        let segment = &mut self.db.segments[seg];
        let entry = segment.map.remove(hasher, hash, key)?;
        if segment.expires.remove(hasher, hash, key).is_some() {
            self.db.volatile -= 1;
        }
        self.db.len -= 1;
        self.sh.value_bytes -= entry.value.mem_bytes() as i64;
        self.signal_modified(key);
        Some(entry.value)
    }

    /// The snapshot hook: runs before the entry with `hash` in `seg` may
    /// change (or a key with that hash is inserted). If a snapshot is in
    /// progress and has not captured that bucket yet, the bucket goes to the
    /// snapshot first, as it is now.
    #[inline]
    fn before_write(&mut self, seg: usize, hash: u64) {
        self.db.segments[seg].version += 1;
        if let Some(snap) = self.sh.snapshot.as_mut() {
            let segment = &self.db.segments[seg];
            if let Some(bucket) = segment.map.bucket_of(hash) {
                if !snap.segments[self.idx * SEGMENTS + seg].is_captured(bucket) {
                    capture_bucket(snap, &self.sh.hasher, self.idx, seg, segment, bucket);
                }
            }
        }
    }

    /// The snapshot hook for a change to a whole segment (flush).
    fn before_write_all(&mut self, seg: usize) {
        self.db.segments[seg].version += 1;
        if let Some(snap) = self.sh.snapshot.as_mut() {
            capture_whole_segment(snap, &self.sh.hasher, self.idx, seg, &self.db.segments[seg]);
        }
    }

    /// Signals WATCHers of `key` (Redis's signalModifiedKey).
    pub fn signal_modified(&mut self, key: &[u8]) {
        if !self.db.watched.is_empty() && self.db.watched.contains_key(key) {
            self.sh.touched.push((self.idx, key.into()));
        }
    }

    /// Emits a notification for a key of this database.
    pub fn notify(&mut self, class: u32, event: &'static str, key: &[u8]) {
        self.sh.notify(class, event, self.idx, key);
    }

    /// Adds `n` to the dirty counter.
    pub fn add_dirty(&mut self, n: u64) {
        self.sh.dirty += n;
    }

    /// Looks a key up for reading.
    pub fn lookup(&mut self, key: &[u8], how: Lookup) -> Option<&Entry> {
        let (hash, seg) = self.locate(key);
        let expired = self.expire_if_needed(hash, seg, key);
        // One walk of the chain: the entry borrows `db`, the stats `sh`.
        let (db, sh, idx) = (&mut *self.db, &mut *self.sh, self.idx);
        let entry = if expired {
            None
        } else {
            db.segments[seg].map.get_mut(hash, key)
        };
        match entry {
            None => {
                if !how.no_stats {
                    sh.stats.misses += 1;
                }
                if !how.no_notify {
                    sh.notify(notify::KEY_MISS, "keymiss", idx, key);
                }
                None
            }
            Some(entry) => {
                if !how.no_stats {
                    sh.stats.hits += 1;
                }
                if !how.no_touch {
                    sh.touch(&mut entry.lru);
                }
                Some(entry)
            }
        }
    }

    /// Reads a value (touches, counts a hit or miss).
    pub fn get(&mut self, key: &[u8]) -> Option<&Value> {
        self.lookup(key, LOOKUP_DEFAULT).map(|e| &e.value)
    }

    /// Reads a live value through a shared borrow, with no side effects, so a
    /// command can hold several values at once (SINTER, ZUNION). Call `get`
    /// on each key first: that does the lookup's expiry, stats and touch.
    pub fn get_shared(&self, key: &[u8]) -> Option<&Value> {
        let (hash, seg) = self.locate(key);
        if self.is_expired(hash, seg, key) {
            return None;
        }
        self.db.segments[seg].map.get(hash, key).map(|e| &e.value)
    }

    /// Whether the key exists (no touch).
    pub fn exists(&mut self, key: &[u8]) -> bool {
        let (hash, seg) = self.locate(key);
        !self.expire_if_needed(hash, seg, key) && self.db.segments[seg].map.get(hash, key).is_some()
    }

    /// Looks at an entry without side effects other than lazy expiry.
    pub fn peek(&mut self, key: &[u8]) -> Option<&Entry> {
        self.lookup(key, LOOKUP_SILENT)
    }

    /// Opens an existing key for writing. The guard's drop does the bookkeeping.
    pub fn write<'k>(&mut self, key: &'k [u8]) -> Option<WriteGuard<'_, 'k>> {
        let (hash, seg) = self.locate(key);
        if self.expire_if_needed(hash, seg, key) {
            return None;
        }
        self.before_write(seg, hash);
        let entry = self.db.segments[seg].map.get_mut(hash, key)?;
        self.sh.touch(&mut entry.lru);
        let old_mem = entry.value.mem_bytes();
        Some(WriteGuard::new(self, hash, seg, key, old_mem))
    }

    /// Opens a key for writing, creating it with `make` if it is missing.
    /// The second element is true when the key was created.
    pub fn write_or_insert<'k>(
        &mut self,
        key: &'k [u8],
        make: impl FnOnce() -> Value,
    ) -> (WriteGuard<'_, 'k>, bool) {
        let (hash, seg) = self.locate(key);
        self.expire_if_needed(hash, seg, key);
        self.before_write(seg, hash);
        let created = self.db.segments[seg].map.get(hash, key).is_none();
        if created {
            let value = make();
            self.add_entry(hash, seg, key, value);
        }
        // add_entry counted the new value's bytes (an empty value may hold
        // some), so the guard measures growth from what is stored either way.
        let old_mem = match self.db.segments[seg].map.get_mut(hash, key) {
            Some(entry) => {
                if !created {
                    self.sh.touch(&mut entry.lru);
                }
                entry.value.mem_bytes()
            }
            None => 0,
        };
        let mut guard = WriteGuard::new(self, hash, seg, key, old_mem);
        if created {
            guard.created_bytes = true;
        }
        (guard, created)
    }

    fn add_entry(&mut self, hash: u64, seg: usize, key: &[u8], value: Value) {
        let lru = self.sh.fresh_lru();
        self.sh.value_bytes += value.mem_bytes() as i64;
        let hasher = &self.sh.hasher;
        self.db.segments[seg].map.insert_new(
            hasher,
            hash,
            key,
            Entry {
                value,
                lru,
                private_copy: false,
            },
        );
        self.db.len += 1;
        self.sh.notify(notify::NEW, "new", self.idx, key);
        self.signal_ready(key);
    }

    /// Queues `key` for the server to serve clients blocked on it (only if
    /// some client waits on that name). The door calls it for every key it
    /// creates; commands that add to an existing value that clients may wait
    /// on (XADD) call it themselves.
    pub fn signal_ready(&mut self, key: &[u8]) {
        if !self.sh.blocking_keys.is_empty() && self.sh.blocking_keys.contains_key(key) {
            self.sh.ready_keys.push((self.idx, key.into()));
        }
    }

    /// Redis's setKey: stores `value`, replacing any old value. The TTL is
    /// removed unless `keep_ttl`. Signals watchers and counts one change; the
    /// caller emits the command's own notification. Returns true if the key was new.
    pub fn set(&mut self, key: &[u8], value: Value, keep_ttl: bool) -> bool {
        let (hash, seg) = self.locate(key);
        self.expire_if_needed(hash, seg, key);
        self.before_write(seg, hash);
        let lru = self.sh.fresh_lru();
        let new_mem = value.mem_bytes() as i64;
        let created = match self.db.segments[seg].map.get_mut(hash, key) {
            Some(entry) => {
                let old = std::mem::replace(&mut entry.value, value);
                entry.lru = lru;
                entry.private_copy = false;
                self.sh.value_bytes += new_mem - old.mem_bytes() as i64;
                // A replaced value may serve blocked clients too (RENAME onto
                // an existing key wakes BLPOP in Redis).
                self.signal_ready(key);
                false
            }
            None => {
                self.add_entry(hash, seg, key, value);
                true
            }
        };
        if !keep_ttl && !created {
            let hasher = &self.sh.hasher;
            if self.db.segments[seg]
                .expires
                .remove(hasher, hash, key)
                .is_some()
            {
                self.db.volatile -= 1;
            }
        }
        self.signal_modified(key);
        self.sh.dirty += 1;
        created
    }

    /// Deletes a key (lazy expiry first, as Redis's DEL). Signals watchers and
    /// counts one change; the caller emits "del". Returns the old value.
    pub fn remove(&mut self, key: &[u8]) -> Option<Value> {
        let (hash, seg) = self.locate(key);
        if self.expire_if_needed(hash, seg, key) {
            return None;
        }
        let value = self.unlink(hash, seg, key)?;
        self.sh.dirty += 1;
        Some(value)
    }

    /// The absolute expiry time in Unix ms, if the (live) key has one.
    pub fn expire_at(&mut self, key: &[u8]) -> Option<u64> {
        let (hash, seg) = self.locate(key);
        if self.db.volatile == 0 {
            return None;
        }
        self.db.segments[seg].expires.get(hash, key).copied()
    }

    /// Sets the expiry of an existing key; returns false if the key is missing.
    /// Signals watchers and counts one change; the caller emits "expire".
    pub fn set_expire_at(&mut self, key: &[u8], at_ms: u64) -> bool {
        let (hash, seg) = self.locate(key);
        if self.expire_if_needed(hash, seg, key)
            || self.db.segments[seg].map.get(hash, key).is_none()
        {
            return false;
        }
        self.before_write(seg, hash);
        let hasher = &self.sh.hasher;
        if self.db.segments[seg]
            .expires
            .insert(hasher, hash, key, at_ms)
            .is_none()
        {
            self.db.volatile += 1;
        }
        self.signal_modified(key);
        self.sh.dirty += 1;
        true
    }

    /// Sets the access information of an existing key: under an LFU policy the
    /// frequency counter, otherwise the idle time (RESTORE IDLETIME/FREQ, loading).
    pub fn set_access(&mut self, key: &[u8], idle_s: Option<u64>, freq: Option<u8>) {
        let (hash, seg) = self.locate(key);
        let lfu = self.sh.lfu;
        let now_ms = self.sh.now_ms;
        let clock = self.sh.lru_clock();
        let Some(entry) = self.db.segments[seg].map.get_mut(hash, key) else {
            return;
        };
        if lfu {
            if let Some(f) = freq {
                entry.lru = (lfu_minutes(now_ms) << 8) | f as u32;
            }
        } else if let Some(idle) = idle_s {
            let idle = (idle.min(0xFF_FFFF)) as u32;
            entry.lru = if clock >= idle {
                clock - idle
            } else {
                0xFF_FFFF - (idle - clock)
            };
        }
    }

    /// Removes the expiry; returns true if there was one.
    pub fn persist(&mut self, key: &[u8]) -> bool {
        let (hash, seg) = self.locate(key);
        if self.expire_if_needed(hash, seg, key) {
            return false;
        }
        self.before_write(seg, hash);
        let hasher = &self.sh.hasher;
        if self.db.segments[seg]
            .expires
            .remove(hasher, hash, key)
            .is_some()
        {
            self.db.volatile -= 1;
            self.signal_modified(key);
            self.sh.dirty += 1;
            return true;
        }
        false
    }

    /// Removes every key; signals watchers of keys that existed. Returns the count.
    pub fn flush(&mut self) -> usize {
        let old = self.take();
        let n = old.len;
        drop(old);
        n
    }

    /// Takes the whole database out, leaving it empty (watchers are signalled).
    pub fn take(&mut self) -> Db {
        // Present in the table, expired or not: a flush deletes without
        // expiring first (no "expired" event), as Redis's
        // touchAllWatchedKeysInDb; the WATCH registry sorts out expired ones.
        let watched: Vec<Box<[u8]>> = self.db.watched.keys().cloned().collect();
        for key in watched {
            if self.contains_raw(&key) {
                self.sh.touched.push((self.idx, key));
            }
        }
        for seg in 0..SEGMENTS {
            self.before_write_all(seg);
        }
        let fresh = Db {
            watched: std::mem::take(&mut self.db.watched),
            ..Db::default()
        };
        let old = std::mem::replace(self.db, fresh);
        self.sh.value_bytes -= old
            .segments
            .iter()
            .flat_map(|s| s.map.iter())
            .map(|(_, e)| e.value.mem_bytes() as i64)
            .sum::<i64>();
        old
    }

    /// One SCAN step: visits the keys of one bucket and returns the next cursor
    /// (0 when done). Expired keys are visited too; callers filter with `exists`.
    pub fn scan(&self, cursor: u64, mut visit: impl FnMut(&[u8], &Value)) -> u64 {
        let mask = (SEGMENTS - 1) as u64;
        let mut seg = (cursor & mask) as usize;
        let mut inner = cursor >> CURSOR_SEGMENT_BITS;
        loop {
            let next = self.db.segments[seg]
                .map
                .scan(inner, |k, e| visit(k, &e.value));
            if next != 0 {
                return (next << CURSOR_SEGMENT_BITS) | seg as u64;
            }
            seg += 1;
            inner = 0;
            if seg == SEGMENTS {
                return 0;
            }
            if !self.db.segments[seg].map.is_empty() {
                return seg as u64;
            }
        }
    }

    /// Every key (KEYS, DEBUG); includes keys whose TTL passed but are not yet deleted.
    pub fn for_each(&self, mut visit: impl FnMut(&[u8], &Entry)) {
        for seg in self.db.segments.iter() {
            for (k, e) in seg.map.iter() {
                visit(k, e);
            }
        }
    }

    /// Whether the key's TTL has passed, without deleting it (for filtering KEYS).
    pub fn is_key_expired(&self, key: &[u8]) -> bool {
        let (hash, seg) = self.locate(key);
        self.is_expired(hash, seg, key)
    }

    /// Whether the key is in the table, even with its TTL passed (WATCH
    /// bookkeeping: an expired key deleted later is no logical change).
    pub fn contains_raw(&self, key: &[u8]) -> bool {
        self.db.contains_raw(&self.sh.hasher, key)
    }

    /// A random live key (RANDOMKEY).
    pub fn random_key(&mut self) -> Option<Box<[u8]>> {
        // Bounded retries: if every sampled key is expired (and cannot be deleted,
        // as on a replica), give up like Redis does after many tries.
        for _ in 0..100 {
            if self.db.len == 0 {
                return None;
            }
            let mut pick = self.sh.random_u64() % self.db.len as u64;
            let mut seg = 0;
            for (i, s) in self.db.segments.iter().enumerate() {
                let n = s.map.len() as u64;
                if pick < n {
                    seg = i;
                    break;
                }
                pick -= n;
            }
            let key: Box<[u8]> = {
                let sh = &mut *self.sh;
                let (k, _) = self.db.segments[seg].map.random(|| sh.random_u64())?;
                k.into()
            };
            let hash = self.sh.hasher.hash(&key);
            if self.expire_if_needed(hash, seg, &key) {
                continue;
            }
            return Some(key);
        }
        None
    }

    /// One active-expiry step: scans buckets of the expiry dicts until about
    /// `EXPIRE_SAMPLE_KEYS` keys were looked at; deletes the expired ones.
    /// Returns (sampled, expired).
    fn expire_step(&mut self) -> (usize, usize) {
        let now = self.sh.now_ms;
        let mut due: Vec<Box<[u8]>> = Vec::new();
        let mut sampled = 0usize;
        let mut ttl_sum = 0u64;
        let mut ttl_count = 0u64;
        let mask = (SEGMENTS - 1) as u64;
        let mut cursor = self.db.expire_cursor;
        let mut buckets_visited = 0;
        while sampled < EXPIRE_SAMPLE_KEYS && buckets_visited < EXPIRE_SAMPLE_KEYS * 20 {
            let seg = (cursor & mask) as usize;
            let inner = cursor >> CURSOR_SEGMENT_BITS;
            let next = self.db.segments[seg].expires.scan(inner, |k, &at| {
                sampled += 1;
                if at <= now {
                    due.push(k.into());
                } else {
                    ttl_sum += at - now;
                    ttl_count += 1;
                }
            });
            buckets_visited += 1;
            cursor = if next != 0 {
                (next << CURSOR_SEGMENT_BITS) | seg as u64
            } else {
                ((seg + 1) % SEGMENTS) as u64
            };
        }
        self.db.expire_cursor = cursor;
        if let Some(avg) = ttl_sum.checked_div(ttl_count) {
            self.db.avg_ttl_ms = if self.db.avg_ttl_ms == 0 {
                avg
            } else {
                (self.db.avg_ttl_ms / 50) * 49 + avg / 50
            };
        }
        let expired = due.len();
        if self.sh.expire_deletes {
            for key in due {
                let (hash, seg) = self.locate(&key);
                self.delete_expired(hash, seg, &key);
            }
        }
        (sampled, expired)
    }
}

/// A key's value with its TTL and access metadata, taken out of a database
/// by `DbView::detach` to be stored under another name or in another database
/// (RENAME, MOVE). Dropping it frees the value.
pub struct Detached {
    pub value: Value,
    /// Absolute expiry in Unix ms, if the key had one.
    pub expire_at: Option<u64>,
    lru: u32,
    private_copy: bool,
}

/// Door operations that move whole entries (RENAME, MOVE, COPY).
impl<'a> DbView<'a> {
    /// Removes a live key with its TTL and access metadata. As a write lookup
    /// does, it expires the key lazily first and touches its access time.
    /// Signals WATCHers of `key`. No notification and no dirty count: the
    /// caller emits its command's events and counts the command once.
    pub fn detach(&mut self, key: &[u8]) -> Option<Detached> {
        let (hash, seg) = self.locate(key);
        if self.expire_if_needed(hash, seg, key) {
            return None;
        }
        let expire_at = self.db.segments[seg].expires.get(hash, key).copied();
        let entry = self.db.segments[seg].map.get_mut(hash, key)?;
        self.sh.touch(&mut entry.lru);
        let (lru, private_copy) = (entry.lru, entry.private_copy);
        let value = self.unlink(hash, seg, key)?;
        Some(Detached {
            value,
            expire_at,
            lru,
            private_copy,
        })
    }

    /// Stores a detached entry under `key`, keeping its TTL and access
    /// metadata. A value already under `key` is removed without a "del"
    /// event (Redis's dbDelete + dbAdd emit only "new") and returned, so the
    /// caller can free it where it likes. Emits "new", signals WATCHers; no
    /// dirty count.
    pub fn attach(&mut self, key: &[u8], entry: Detached) -> Option<Value> {
        self.put_entry(
            key,
            entry.value,
            entry.expire_at,
            Some(entry.lru),
            entry.private_copy,
        )
    }

    /// Stores `value`, a duplicate of another key's value (COPY), with a
    /// fresh access time and the given absolute expiry. Otherwise as `attach`.
    pub fn attach_copy(
        &mut self,
        key: &[u8],
        value: Value,
        expire_at: Option<u64>,
    ) -> Option<Value> {
        self.put_entry(key, value, expire_at, None, true)
    }

    fn put_entry(
        &mut self,
        key: &[u8],
        value: Value,
        expire_at: Option<u64>,
        lru: Option<u32>,
        private_copy: bool,
    ) -> Option<Value> {
        let (hash, seg) = self.locate(key);
        let old = self.unlink(hash, seg, key);
        self.before_write(seg, hash);
        self.add_entry(hash, seg, key, value);
        if let Some(e) = self.db.segments[seg].map.get_mut(hash, key) {
            if let Some(lru) = lru {
                e.lru = lru;
            }
            e.private_copy = private_copy;
        }
        if let Some(at) = expire_at {
            let hasher = &self.sh.hasher;
            if self.db.segments[seg]
                .expires
                .insert(hasher, hash, key, at)
                .is_none()
            {
                self.db.volatile += 1;
            }
        }
        self.signal_modified(key);
        old
    }
}

/// An entry opened for writing. On drop: memory accounting, the WATCH signal,
/// the dirty counter, the command's notification, and removal of a collection
/// left empty (with a "del" notification).
pub struct WriteGuard<'v, 'k> {
    db: &'v mut Db,
    sh: &'v mut Shared,
    idx: usize,
    hash: u64,
    seg: usize,
    key: &'k [u8],
    old_mem: usize,
    dirty: u64,
    event: Option<(u32, &'static str)>,
    changed: bool,
    created_bytes: bool,
}

impl<'v, 'k> WriteGuard<'v, 'k> {
    fn new<'a>(
        view: &'v mut DbView<'a>,
        hash: u64,
        seg: usize,
        key: &'k [u8],
        old_mem: usize,
    ) -> Self {
        WriteGuard {
            db: view.db,
            sh: view.sh,
            idx: view.idx,
            hash,
            seg,
            key,
            old_mem,
            dirty: 1,
            event: None,
            changed: true,
            created_bytes: false,
        }
    }

    fn entry(&mut self) -> &mut Entry {
        match self.db.segments[self.seg].map.get_mut(self.hash, self.key) {
            Some(e) => e,
            None => missing_entry(),
        }
    }

    pub fn value(&mut self) -> &Value {
        &self.entry().value
    }

    pub fn value_mut(&mut self) -> &mut Value {
        &mut self.entry().value
    }

    /// Replaces the value (keeps the TTL).
    pub fn replace(&mut self, value: Value) -> Value {
        std::mem::replace(self.value_mut(), value)
    }

    /// The command's notification, emitted when the guard drops.
    pub fn notify(&mut self, class: u32, event: &'static str) {
        self.event = Some((class, event));
    }

    /// How much the dirty counter grows (default 1).
    pub fn set_dirty(&mut self, n: u64) {
        self.dirty = n;
    }

    /// Nothing changed after all: skip the bookkeeping.
    pub fn unchanged(&mut self) {
        self.changed = false;
    }

    /// Undoes `unchanged`: a handler that validates before writing marks
    /// the guard unchanged first and calls this once it did change the value.
    pub fn changed(&mut self) {
        self.changed = true;
    }

    pub fn now_ms(&self) -> u64 {
        self.sh.now_ms
    }
}

#[cold]
fn missing_entry() -> ! {
    // The guard is only created for an entry present in the map and holds the
    // database borrowed, so the entry cannot disappear under it.
    unreachable!("write guard entry vanished")
}

impl Drop for WriteGuard<'_, '_> {
    fn drop(&mut self) {
        let (new_mem, empty) = match self.db.segments[self.seg].map.get(self.hash, self.key) {
            Some(e) => (e.value.mem_bytes(), is_empty_collection(&e.value)),
            None => return,
        };
        self.sh.value_bytes += new_mem as i64 - self.old_mem as i64;
        let _ = self.created_bytes;
        if !self.changed {
            return;
        }
        if let Some(e) = self.db.segments[self.seg].map.get_mut(self.hash, self.key) {
            e.private_copy = false;
        }
        if let Some((class, event)) = self.event {
            self.sh.notify(class, event, self.idx, self.key);
        }
        self.sh.dirty += self.dirty;
        if !self.db.watched.is_empty() && self.db.watched.contains_key(self.key) {
            self.sh.touched.push((self.idx, self.key.into()));
        }
        if empty {
            let hasher = &self.sh.hasher;
            let segment = &mut self.db.segments[self.seg];
            if let Some(e) = segment.map.remove(hasher, self.hash, self.key) {
                self.sh.value_bytes -= e.value.mem_bytes() as i64;
                self.db.len -= 1;
            }
            if segment
                .expires
                .remove(hasher, self.hash, self.key)
                .is_some()
            {
                self.db.volatile -= 1;
            }
            self.sh.notify(notify::GENERIC, "del", self.idx, self.key);
        }
    }
}

/// Collections that become empty are deleted (strings never are; streams
/// never are either: an emptied stream keeps its groups and last ID).
fn is_empty_collection(value: &Value) -> bool {
    match value {
        Value::Str(_) => false,
        Value::Set(s) => s.is_empty(),
        Value::ZSet(z) => z.is_empty(),
        Value::Stream(_) => false,
        Value::List(l) => l.is_empty(),
        Value::Hash(h) => h.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::StrValue;

    fn ks() -> Keyspace {
        let mut k = Keyspace::new(16);
        k.set_now_ms(1_000_000);
        k
    }

    #[test]
    fn set_get_remove_counts_dirty() {
        let mut k = ks();
        assert!(k.db(0).set(b"a", Value::string_from(b"1"), false));
        assert_eq!(k.db(0).get(b"a"), Some(&Value::from_int(1)));
        assert_eq!(k.shared.stats.hits, 1);
        assert_eq!(k.db(0).get(b"b"), None);
        assert_eq!(k.shared.stats.misses, 1);
        assert!(k.db(0).remove(b"a").is_some());
        assert_eq!(k.db(0).len(), 0);
        assert_eq!(k.shared.dirty, 2);
    }

    #[test]
    fn lazy_expiry_deletes_and_reports() {
        let mut k = ks();
        k.db(0).set(b"a", Value::string_from(b"x"), false);
        assert!(k.db(0).set_expire_at(b"a", 1_000_500));
        assert_eq!(k.db(0).volatile_len(), 1);
        k.set_now_ms(1_000_499);
        assert!(k.db(0).exists(b"a"));
        k.set_now_ms(1_000_500);
        assert!(!k.db(0).exists(b"a"));
        assert_eq!(k.db(0).len(), 0);
        assert_eq!(k.db(0).volatile_len(), 0);
        assert_eq!(k.shared.stats.expired_keys, 1);
        assert_eq!(k.shared.expired.len(), 1);
    }

    #[test]
    fn set_clears_ttl_unless_kept() {
        let mut k = ks();
        k.db(0).set(b"a", Value::string_from(b"x"), false);
        k.db(0).set_expire_at(b"a", 2_000_000);
        k.db(0).set(b"a", Value::string_from(b"y"), true);
        assert_eq!(k.db(0).expire_at(b"a"), Some(2_000_000));
        k.db(0).set(b"a", Value::string_from(b"z"), false);
        assert_eq!(k.db(0).expire_at(b"a"), None);
    }

    #[test]
    fn active_expiry_removes_most_expired_keys() {
        let mut k = ks();
        for i in 0..10_000 {
            let key = format!("k{i}");
            k.db(3).set(key.as_bytes(), Value::from_int(i), false);
            k.db(3).set_expire_at(key.as_bytes(), 1_000_100);
        }
        k.db(3).set(b"keep", Value::from_int(1), false);
        k.set_now_ms(1_000_200);
        for _ in 0..100 {
            k.active_expire_cycle(1_000_000);
        }
        assert_eq!(k.db(3).len(), 1);
        assert_eq!(k.shared.stats.expired_keys, 10_000);
    }

    #[test]
    fn scan_visits_every_key_once_without_changes() {
        let mut k = ks();
        for i in 0..3000 {
            k.db(0)
                .set(format!("k{i}").as_bytes(), Value::from_int(i), false);
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        loop {
            cursor = k
                .db(0)
                .scan(cursor, |key, _| assert!(seen.insert(key.to_vec())));
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), 3000);
    }

    #[test]
    fn watch_is_signalled_by_writes_and_flush() {
        let mut k = ks();
        k.watch(0, b"w");
        k.db(0).set(b"other", Value::from_int(1), false);
        assert!(k.shared.touched.is_empty());
        k.db(0).set(b"w", Value::from_int(1), false);
        assert_eq!(k.shared.touched.len(), 1);
        k.shared.touched.clear();
        {
            let mut db = k.db(0);
            let mut g = db.write(b"w").unwrap();
            *g.value_mut() = Value::Str(StrValue::Raw(b"abc".to_vec().into()));
        }
        assert_eq!(k.shared.touched.len(), 1);
        k.shared.touched.clear();
        k.flush_all();
        assert_eq!(k.shared.touched.len(), 1);
    }

    #[test]
    fn notifications_follow_flags() {
        let mut k = ks();
        k.db(0).set(b"a", Value::from_int(1), false);
        assert!(k.shared.events.is_empty());
        k.shared.notify_flags = notify::parse_flags(b"KEA").unwrap();
        k.db(0).set(b"b", Value::from_int(1), false);
        assert_eq!(k.shared.events.len(), 0, "new is not part of A");
        k.shared.notify_flags = notify::parse_flags(b"KEn").unwrap();
        k.db(0).set(b"c", Value::from_int(1), false);
        assert_eq!(k.shared.events.len(), 1);
        assert_eq!(k.shared.events[0].event, "new");
    }

    /// Collects what a snapshot saw.
    type Seen = (Vec<(usize, Vec<u8>, Value, Option<u64>)>, bool);
    struct Collect(std::sync::Arc<std::sync::Mutex<Seen>>);

    impl SnapshotSink for Collect {
        fn segment(&mut self, db: usize, entries: &mut dyn Iterator<Item = SnapshotEntry<'_>>) {
            for e in entries {
                self.0.lock().unwrap().0.push((
                    db,
                    e.key.to_vec(),
                    e.value.clone(),
                    e.expire_at_ms,
                ));
            }
        }
        fn complete(&mut self) {
            self.0.lock().unwrap().1 = true;
        }
    }

    #[test]
    fn snapshot_sees_the_dataset_as_of_its_start() {
        let mut k = ks();
        for i in 0..5000 {
            k.db(0)
                .set(format!("k{i}").as_bytes(), Value::from_int(i), false);
        }
        k.db(2).set(b"other", Value::from_int(7), false);
        k.db(2).set_expire_at(b"other", 9_000_000);
        let seen = std::sync::Arc::new(std::sync::Mutex::new((Vec::new(), false)));
        assert!(k.snapshot_begin(Box::new(Collect(seen.clone()))));
        assert!(
            !k.snapshot_begin(Box::new(Collect(seen.clone()))),
            "one at a time"
        );
        let mut steps = 0;
        loop {
            // Writes between steps: overwrite, delete, add, flush another db.
            k.db(0)
                .set(format!("k{steps}").as_bytes(), Value::from_int(-1), false);
            k.db(0).remove(format!("k{}", 4999 - steps).as_bytes());
            k.db(0)
                .set(format!("new{steps}").as_bytes(), Value::from_int(1), false);
            if steps == 3 {
                k.db(2).flush();
            }
            steps += 1;
            if k.snapshot_step(8) {
                break;
            }
        }
        assert!(steps > 10, "the snapshot ran in many steps");
        let guard = seen.lock().unwrap();
        let (entries, complete) = &*guard;
        assert!(*complete);
        assert_eq!(entries.len(), 5001);
        for (db, key, value, expire) in entries {
            if *db == 2 {
                assert_eq!(
                    (key.as_slice(), value, *expire),
                    (&b"other"[..], &Value::from_int(7), Some(9_000_000))
                );
                continue;
            }
            let i: i64 = std::str::from_utf8(&key[1..]).unwrap().parse().unwrap();
            assert_eq!(value, &Value::from_int(i), "key {i} as of the start");
        }
        assert!(!k.snapshot_active());
    }

    #[test]
    fn random_key_and_swap() {
        let mut k = ks();
        assert!(k.db(0).random_key().is_none());
        k.db(0).set(b"only", Value::from_int(1), false);
        assert_eq!(k.db(0).random_key().as_deref(), Some(&b"only"[..]));
        k.swap_dbs(0, 1);
        assert_eq!(k.db(0).len(), 0);
        assert_eq!(k.db(1).len(), 1);
    }

    #[test]
    fn detach_attach_keeps_ttl_and_metadata() {
        let mut k = ks();
        k.db(0).set(b"a", Value::from_int(7), false);
        k.db(0).set_expire_at(b"a", 2_000_000);
        k.db(0).set(b"b", Value::from_int(1), false);
        let dirty = k.shared.dirty;
        k.shared.notify_flags = notify::parse_flags(b"KEAn").unwrap();
        let d = k.db(0).detach(b"a").unwrap();
        assert_eq!(d.expire_at, Some(2_000_000));
        assert_eq!(k.db(0).len(), 1);
        assert_eq!(k.db(0).volatile_len(), 0);
        let old = k.db(1).attach(b"a", d);
        assert!(old.is_none());
        assert_eq!(k.db(1).expire_at(b"a"), Some(2_000_000));
        assert_eq!(k.db(1).volatile_len(), 1);
        // Replacing an existing key returns its value and emits only "new".
        let d = k.db(1).detach(b"a").unwrap();
        k.shared.events.clear();
        let old = k.db(0).attach(b"b", d);
        assert_eq!(old, Some(Value::from_int(1)));
        assert_eq!(k.db(0).len(), 1);
        assert_eq!(k.db(0).expire_at(b"b"), Some(2_000_000));
        let names: Vec<&str> = k.shared.events.iter().map(|e| e.event).collect();
        assert_eq!(names, ["new"]);
        assert_eq!(k.shared.dirty, dirty, "the caller counts the command");
    }

    #[test]
    fn detach_skips_expired_and_missing_keys() {
        let mut k = ks();
        k.db(0).set(b"a", Value::from_int(1), false);
        k.db(0).set_expire_at(b"a", 1_000_001);
        k.set_now_ms(1_000_001);
        assert!(k.db(0).detach(b"a").is_none());
        assert!(k.db(0).detach(b"zz").is_none());
        assert_eq!(k.db(0).len(), 0);
    }

    #[test]
    fn copies_are_private_until_written() {
        let mut k = ks();
        k.db(0).set(b"a", Value::from_int(5), false);
        let v = k.db(0).get(b"a").cloned().unwrap();
        k.db(0).attach_copy(b"b", v, Some(3_000_000));
        assert!(k.db(0).peek(b"b").unwrap().is_private_copy());
        assert!(!k.db(0).peek(b"a").unwrap().is_private_copy());
        assert_eq!(k.db(0).expire_at(b"b"), Some(3_000_000));
        {
            let mut db = k.db(0);
            let mut g = db.write(b"b").unwrap();
            g.replace(Value::from_int(6));
        }
        assert!(!k.db(0).peek(b"b").unwrap().is_private_copy());
    }

    #[test]
    fn swap_touches_only_present_watched_keys() {
        let mut k = ks();
        k.watch(0, b"here");
        k.watch(0, b"gone");
        k.db(1).set(b"here", Value::from_int(1), false);
        k.swap_dbs(0, 0);
        assert!(
            k.shared.touched.is_empty(),
            "swapping a db with itself is a no-op"
        );
        k.swap_dbs(0, 1);
        assert_eq!(k.shared.touched, vec![(0, Box::from(&b"here"[..]))]);
        assert!(k.db(0).exists(b"here"));
    }
}
