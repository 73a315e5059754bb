//! Transaction state: the commands a client queued after MULTI, and the
//! registry of WATCHed keys that decides whether its EXEC may run.
//!
//! Invariants:
//! - `Client::multi` is Some exactly between MULTI and the EXEC, DISCARD or
//!   RESET that ends the transaction (during EXEC too, with an empty queue,
//!   so CLIENT LIST shows the transaction while it runs).
//! - `Watches::by_key[(db, key)]` lists a client id iff that client's
//!   `ClientWatch::keys` holds (db, key); each such pair is counted once in
//!   the engine's per-database watch counts (`Keyspace::watch`), which is
//!   what makes the door signal `Shared::touched` for it.
//! - A client marked dirty watches nothing more (its EXEC fails anyway); the
//!   mark stays until EXEC, DISCARD, UNWATCH, RESET or disconnection.
//!
//! WATCH follows Redis 7.0 on expiry: a key already expired (not yet
//! deleted) when WATCHed does not fail EXEC by being deleted later, but does
//! by being written; a key that expires after WATCH fails EXEC, whether it
//! was deleted or not.

use ahash::AHashMap;
use bytes::Bytes;

use crate::client::Client;
use crate::commands::{flags, CommandSpec};
use strata_engine::Keyspace;

/// One command queued between MULTI and EXEC.
pub struct Queued {
    pub spec: &'static CommandSpec,
    pub parent: Option<&'static CommandSpec>,
    pub argv: Vec<Bytes>,
}

#[derive(Default)]
pub struct MultiState {
    pub queue: Vec<Queued>,
    /// Commands queued (kept while EXEC runs them, for CLIENT LIST).
    pub count: usize,
    /// Union of the queued commands' flags (EXEC counts as a write for
    /// CLIENT PAUSE WRITE when it holds one).
    pub flags: u64,
    /// A command was refused while queueing: EXEC answers EXECABORT.
    pub aborted: bool,
    /// Bytes of the queued arguments as Redis counts them (CLIENT LIST multi-mem).
    pub bytes: usize,
}

/// Bytes Redis counts per argument pointer of a queued command.
const ARG_POINTER_BYTES: usize = 8;

impl MultiState {
    pub fn push(
        &mut self,
        spec: &'static CommandSpec,
        parent: Option<&'static CommandSpec>,
        argv: Vec<Bytes>,
    ) {
        self.count += 1;
        self.flags |= spec.flags | parent.map_or(0, |p| p.flags);
        self.bytes += argv
            .iter()
            .map(|a| a.len() + ARG_POINTER_BYTES)
            .sum::<usize>();
        self.queue.push(Queued { spec, parent, argv });
    }
}

/// Whether this command, in MULTI, is queued rather than run now.
pub fn is_queued(client: &Client, spec: &CommandSpec, parent: Option<&CommandSpec>) -> bool {
    let name = parent.map_or(spec.name, |p| p.name);
    client.multi.is_some()
        && !matches!(
            name,
            "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
        )
}

/// The flags the gates see: EXEC also carries its queued commands' flags.
pub fn effective_flags(client: &Client, spec: &CommandSpec) -> u64 {
    match &client.multi {
        Some(m) if spec.name == "exec" => spec.flags | m.flags,
        _ => spec.flags,
    }
}

/// Redis's EXEC refusal when the EXEC itself fails a check before running:
/// the transaction is discarded and the reason quoted without its "ERR".
pub fn exec_abort_message(reason: &str) -> String {
    let reason = reason.strip_prefix("ERR ").unwrap_or(reason);
    format!("EXECABORT Transaction discarded because of: {reason}")
}

pub const EXECABORT: &str = "EXECABORT Transaction discarded because of previous errors.";

struct WatchedKey {
    db: usize,
    key: Box<[u8]>,
    /// The key's TTL had passed (it was logically gone) when WATCHed.
    expired: bool,
}

#[derive(Default)]
struct ClientWatch {
    keys: Vec<WatchedKey>,
    dirty: bool,
}

/// The WATCH registry: which clients watch which keys, and who is dirty.
#[derive(Default)]
pub struct Watches {
    by_key: AHashMap<(usize, Box<[u8]>), Vec<u64>>,
    by_client: AHashMap<u64, ClientWatch>,
    /// A test seam: when Some, every WATCH signal drained is also kept here.
    pub tap: Option<Vec<(usize, Box<[u8]>)>>,
}

impl Watches {
    /// WATCH of one key; watching a key twice is one watch.
    pub fn watch(&mut self, ks: &mut Keyspace, id: u64, db: usize, key: &[u8]) {
        let cw = self.by_client.entry(id).or_default();
        if cw.keys.iter().any(|w| w.db == db && *w.key == *key) {
            return;
        }
        let expired = ks.db(db).is_key_expired(key);
        cw.keys.push(WatchedKey {
            db,
            key: key.into(),
            expired,
        });
        self.by_key.entry((db, key.into())).or_default().push(id);
        ks.watch(db, key);
    }

    /// Forgets every key the client watches and its dirty mark.
    pub fn unwatch_all(&mut self, ks: &mut Keyspace, id: u64) {
        let Some(cw) = self.by_client.remove(&id) else {
            return;
        };
        self.forget_keys(ks, id, cw.keys);
    }

    fn forget_keys(&mut self, ks: &mut Keyspace, id: u64, keys: Vec<WatchedKey>) {
        for w in keys {
            ks.unwatch(w.db, &w.key);
            let slot = (w.db, w.key);
            if let Some(ids) = self.by_key.get_mut(&slot) {
                ids.retain(|&c| c != id);
                if ids.is_empty() {
                    self.by_key.remove(&slot);
                }
            }
        }
    }

    pub fn is_dirty(&self, id: u64) -> bool {
        self.by_client.get(&id).is_some_and(|cw| cw.dirty)
    }

    /// Whether EXEC must fail: a watched key changed, or expired since WATCH.
    pub fn exec_fails(&self, ks: &mut Keyspace, id: u64) -> bool {
        let Some(cw) = self.by_client.get(&id) else {
            return false;
        };
        cw.dirty
            || cw
                .keys
                .iter()
                .any(|w| !w.expired && ks.db(w.db).is_key_expired(&w.key))
    }

    /// Turns the door's WATCH signals into dirty marks.
    pub fn drain_touched(&mut self, ks: &mut Keyspace) {
        if ks.shared.touched.is_empty() {
            return;
        }
        let mut touched = std::mem::take(&mut ks.shared.touched);
        if let Some(tap) = self.tap.as_mut() {
            tap.extend(touched.iter().cloned());
        }
        let mut dirty = Vec::new();
        for slot in touched.drain(..) {
            let Some(ids) = self.by_key.get(&slot) else {
                continue;
            };
            for &id in ids {
                let Some(cw) = self.by_client.get_mut(&id) else {
                    continue;
                };
                let Some(w) = cw
                    .keys
                    .iter_mut()
                    .find(|w| w.db == slot.0 && w.key == slot.1)
                else {
                    continue;
                };
                if w.expired {
                    let db = ks.db(slot.0);
                    if !db.contains_raw(&slot.1) {
                        // The expired key got deleted: no logical change.
                        w.expired = false;
                        continue;
                    }
                    if db.is_key_expired(&slot.1) {
                        // Replaced by another expired key (SWAPDB): still gone.
                        continue;
                    }
                }
                if !cw.dirty {
                    cw.dirty = true;
                    dirty.push(id);
                }
            }
        }
        // Keep the allocation for the next command.
        ks.shared.touched = touched;
        for id in dirty {
            if let Some(cw) = self.by_client.get_mut(&id) {
                let keys = std::mem::take(&mut cw.keys);
                self.forget_keys(ks, id, keys);
            }
        }
    }
}

/// Whether a command may run while the client is in a transaction's EXEC
/// without blocking (blocking commands behave as with a zero timeout).
pub fn deny_blocking(client: &Client) -> bool {
    client.in_exec || client.fake
}

/// Commands refused inside MULTI (Redis's NO_MULTI flag).
pub fn refused_in_multi(client: &Client, spec: &CommandSpec) -> bool {
    client.multi.is_some() && spec.flags & flags::NO_MULTI != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_engine::value::Value;

    fn keyspace() -> Keyspace {
        let mut ks = Keyspace::new(4);
        ks.set_now_ms(1_000);
        ks
    }

    fn set(ks: &mut Keyspace, key: &[u8]) {
        ks.db(0).set(key, Value::string_from(b"v"), false);
    }

    #[test]
    fn a_write_marks_every_watcher_dirty_once() {
        let mut ks = keyspace();
        let mut w = Watches::default();
        w.watch(&mut ks, 1, 0, b"k");
        w.watch(&mut ks, 1, 0, b"k");
        w.watch(&mut ks, 2, 0, b"k");
        w.watch(&mut ks, 3, 1, b"k");
        set(&mut ks, b"k");
        w.drain_touched(&mut ks);
        assert!(w.is_dirty(1) && w.is_dirty(2));
        assert!(!w.is_dirty(3), "another database");
        assert!(ks.shared.touched.is_empty());
        // Dirty clients stopped watching: only client 3's key is left.
        assert_eq!(w.by_key.len(), 1);
        assert!(w.exec_fails(&mut ks, 1));
        w.unwatch_all(&mut ks, 1);
        assert!(!w.is_dirty(1));
        assert!(!w.exec_fails(&mut ks, 1));
    }

    #[test]
    fn reads_do_not_touch() {
        let mut ks = keyspace();
        let mut w = Watches::default();
        set(&mut ks, b"k");
        w.watch(&mut ks, 1, 0, b"k");
        assert!(ks.db(0).get(b"k").is_some());
        w.drain_touched(&mut ks);
        assert!(!w.exec_fails(&mut ks, 1));
    }

    #[test]
    fn expiry_after_watch_fails_exec_even_undeleted() {
        let mut ks = keyspace();
        let mut w = Watches::default();
        set(&mut ks, b"k");
        ks.db(0).set_expire_at(b"k", 2_000);
        w.watch(&mut ks, 1, 0, b"k");
        ks.shared.touched.clear();
        assert!(!w.exec_fails(&mut ks, 1));
        ks.set_now_ms(2_000);
        assert!(w.exec_fails(&mut ks, 1));
    }

    #[test]
    fn a_key_expired_at_watch_fails_only_when_rewritten() {
        let mut ks = keyspace();
        let mut w = Watches::default();
        set(&mut ks, b"k");
        ks.db(0).set_expire_at(b"k", 500);
        ks.shared.touched.clear();
        w.watch(&mut ks, 1, 0, b"k");
        assert!(!w.exec_fails(&mut ks, 1), "already gone when watched");
        // Lazy deletion: no logical change.
        assert!(ks.db(0).get(b"k").is_none());
        w.drain_touched(&mut ks);
        assert!(!w.exec_fails(&mut ks, 1));
        // From now on the key is a plain missing key: a write fails EXEC.
        set(&mut ks, b"k");
        w.drain_touched(&mut ks);
        assert!(w.exec_fails(&mut ks, 1));
    }

    #[test]
    fn queue_accounts_like_redis() {
        let spec = crate::commands::CommandTable::new()
            .get(b"set")
            .expect("set");
        let mut m = MultiState::default();
        let argv = ["set", "key", "value"].map(|a| Bytes::copy_from_slice(a.as_bytes()));
        m.push(spec, None, argv.to_vec());
        assert_eq!((m.count, m.bytes), (1, 35));
        assert_ne!(m.flags & flags::WRITE, 0);
    }

    #[test]
    fn exec_abort_quotes_the_reason_without_err() {
        assert_eq!(
            exec_abort_message("ERR wrong number of arguments for 'exec' command"),
            "EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command"
        );
        assert_eq!(
            exec_abort_message("NOAUTH Authentication required."),
            "EXECABORT Transaction discarded because of: NOAUTH Authentication required."
        );
    }
}
