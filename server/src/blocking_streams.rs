//! Clients blocked in XREAD / XREADGROUP ... BLOCK: parking, waking on
//! new data, timeouts, and the errors Redis sends when a group or the key
//! goes away.
//!
//! How it hooks in (a minimal mechanism meant to be folded into a shared
//! `blocking.rs`):
//! - a handler that must wait calls `block`, which sets `Client::blocked`;
//!   `dispatch::execute` then sends no reply, and `net.rs` stops running
//!   that client's queued requests while the flag is set;
//! - keys are watched through the keyspace's WATCH signal
//!   (`Keyspace::watch`): any write to a parked key (XADD, DEL, SET, FLUSH,
//!   expiry, RENAME ...) lands in `shared.touched`. `dispatch::execute`
//!   notes the length of that list before the command and calls
//!   `after_command` with it; new entries for parked keys are served then,
//!   before the next command runs (Redis's handleClientsBlockedOnKeys).
//!   Changes that do not signal WATCH (XGROUP DESTROY) call `signal_key`;
//! - a served, timed-out or CLIENT UNBLOCKed client gets its reply
//!   appended to its output, is queued in `Server::pending_writes`, and
//!   its id is queued for `take_resumed`: `net.rs` then runs whatever it
//!   sent while blocked;
//! - `net.rs` calls `expire_timeouts` every loop turn and sleeps no longer
//!   than `next_deadline`; `hooks::client_closed` calls `forget`;
//! - a served XREADGROUP's effects (XCLAIMs, or XGROUP CREATECONSUMER and
//!   SETID with NOACK) are propagated as a unit of their own, after the
//!   command that woke it, as Redis does.
//!
//! Invariants: a client id is in `waiters` iff its `Client::blocked` is set
//! by this module; `by_key[(db, key)]` lists exactly the waiters that name
//! that key, in the order they blocked, and each such key holds one
//! keyspace WATCH reference per listed waiter; `deadlines` holds exactly
//! the waiters with a deadline.

use std::collections::{BTreeSet, HashMap};

use bytes::Bytes;
use strata_engine::types::stream::id::StreamId;
use strata_engine::LOOKUP_SILENT;

use crate::client::Client;
use crate::family::stream_groups;
use crate::family::streams::{entries_reply, keyed_reply, stream_of, stream_of_mut, GroupRead};
use crate::resp::Reply;
use crate::server::Server;

/// Rounds of serving after one command: serving never makes new keys
/// ready for streams, but bound the loop anyway.
const SERVE_ROUNDS_MAX: usize = 16;

/// A parked XREAD / XREADGROUP.
#[derive(Debug, Clone)]
pub struct Waiter {
    pub db: usize,
    /// Each key with the ID its entries must be greater than (ignored for
    /// group reads, which use the group's last ID when served).
    pub keys: Vec<(Bytes, StreamId)>,
    /// Most entries served per key (never 0).
    pub count: usize,
    pub group: Option<GroupRead>,
    /// Unix ms when the client gets a null reply; None blocks forever.
    pub deadline_ms: Option<u64>,
}

#[derive(Default)]
pub struct StreamBlocking {
    waiters: HashMap<u64, Waiter>,
    by_key: HashMap<(usize, Bytes), Vec<u64>>,
    /// (deadline, client id) of the waiters that time out, soonest first.
    deadlines: BTreeSet<(u64, u64)>,
    /// Keys signalled outside the WATCH path, served after the command.
    ready: Vec<(usize, Bytes)>,
    /// Clients unblocked since the loop last looked, to resume their input.
    resumed: Vec<u64>,
}

impl StreamBlocking {
    pub fn is_blocked(&self, id: u64) -> bool {
        self.waiters.contains_key(&id)
    }

    pub fn blocked_count(&self) -> usize {
        self.waiters.len()
    }

    /// Blocked clients that will time out (INFO clients_in_timeout_table).
    pub fn timeout_count(&self) -> usize {
        self.deadlines.len()
    }
}

/// Parks `client` (the caller sends no reply now).
pub fn block(srv: &mut Server, client: &mut Client, waiter: Waiter) {
    let id = client.id;
    client.blocked = true;
    for (key, _) in &waiter.keys {
        srv.keyspace.watch(waiter.db, key);
        srv.stream_blocking
            .by_key
            .entry((waiter.db, key.clone()))
            .or_default()
            .push(id);
    }
    if let Some(d) = waiter.deadline_ms {
        srv.stream_blocking.deadlines.insert((d, id));
    }
    srv.stream_blocking.waiters.insert(id, waiter);
}

/// Marks a key ready without a keyspace change (XGROUP DESTROY).
pub fn signal_key(srv: &mut Server, db: usize, key: &[u8]) {
    let b = &mut srv.stream_blocking;
    if b.by_key.contains_key(&(db, Bytes::copy_from_slice(key))) {
        b.ready.push((db, Bytes::copy_from_slice(key)));
    }
}

/// Removes a waiter and its key registrations; returns it.
fn remove(srv: &mut Server, id: u64) -> Option<Waiter> {
    let w = srv.stream_blocking.waiters.remove(&id)?;
    if let Some(d) = w.deadline_ms {
        srv.stream_blocking.deadlines.remove(&(d, id));
    }
    for (key, _) in &w.keys {
        srv.keyspace.unwatch(w.db, key);
        let slot = (w.db, key.clone());
        if let Some(list) = srv.stream_blocking.by_key.get_mut(&slot) {
            list.retain(|&c| c != id);
            if list.is_empty() {
                srv.stream_blocking.by_key.remove(&slot);
            }
        }
    }
    Some(w)
}

/// A blocked client's connection went away.
pub fn forget(srv: &mut Server, id: u64) {
    remove(srv, id);
}

/// Unblocks `id` with `reply` (to be written and its input resumed).
fn finish(srv: &mut Server, id: u64, reply: Reply) {
    remove(srv, id);
    if let Some(conn) = srv.clients.get_mut(&id) {
        conn.client.blocked = false;
        conn.client.reply(&reply);
        srv.pending_writes.push(id);
        srv.stream_blocking.resumed.push(id);
    }
}

/// CLIENT UNBLOCK: a null reply, or -UNBLOCKED when `as_error`. False if
/// the client is not blocked here.
pub fn unblock(srv: &mut Server, id: u64, as_error: bool) -> bool {
    if !srv.stream_blocking.is_blocked(id) {
        return false;
    }
    let reply = if as_error {
        Reply::error("UNBLOCKED client unblocked via CLIENT UNBLOCK")
    } else {
        Reply::NilArray
    };
    finish(srv, id, reply);
    true
}

/// Times out waiters whose deadline passed.
pub fn expire_timeouts(srv: &mut Server, now_ms: u64) {
    let due: Vec<u64> = srv
        .stream_blocking
        .deadlines
        .range(..=(now_ms, u64::MAX))
        .map(|&(_, id)| id)
        .collect();
    for id in due {
        finish(srv, id, Reply::NilArray);
    }
}

/// The earliest deadline among waiters, for the event loop's sleep.
pub fn next_deadline(srv: &Server) -> Option<u64> {
    srv.stream_blocking.deadlines.first().map(|&(d, _)| d)
}

/// Clients unblocked since the last call, whose queued input must run.
pub fn take_resumed(srv: &mut Server) -> Vec<u64> {
    std::mem::take(&mut srv.stream_blocking.resumed)
}

/// After a command: serves waiters on keys changed since `touched_mark`
/// (an index into the keyspace's touched list) or signalled explicitly.
pub fn after_command(srv: &mut Server, touched_mark: usize) {
    if srv.stream_blocking.waiters.is_empty() {
        srv.stream_blocking.ready.clear();
        return;
    }
    let mut ready = std::mem::take(&mut srv.stream_blocking.ready);
    if let Some(touched) = srv.keyspace.shared.touched.get(touched_mark..) {
        for (db, key) in touched {
            let slot = (*db, Bytes::copy_from_slice(key));
            if srv.stream_blocking.by_key.contains_key(&slot) {
                ready.push(slot);
            }
        }
    }
    for _ in 0..SERVE_ROUNDS_MAX {
        if ready.is_empty() {
            break;
        }
        ready.dedup();
        for (db, key) in std::mem::take(&mut ready) {
            serve_key(srv, db, &key);
        }
        ready = std::mem::take(&mut srv.stream_blocking.ready);
    }
}

/// What a waiter gets when one of its keys changed.
enum Outcome {
    Wait,
    Reply(Reply),
}

/// Serves, in blocking order, the clients parked on (db, key).
fn serve_key(srv: &mut Server, db: usize, key: &Bytes) {
    let Some(ids) = srv.stream_blocking.by_key.get(&(db, key.clone())).cloned() else {
        return;
    };
    for id in ids {
        let Some(w) = srv.stream_blocking.waiters.get(&id).cloned() else {
            continue;
        };
        let gt = w
            .keys
            .iter()
            .find(|(k, _)| k == key)
            .map_or(StreamId::ZERO, |(_, g)| *g);
        let resp = srv.clients.get(&id).map_or(2, |c| c.client.resp);
        let outcome = match &w.group {
            None => serve_plain(srv, db, key, gt, w.count),
            Some(g) => serve_group(srv, db, key, g, w.count),
        };
        if let Outcome::Reply(r) = outcome {
            let reply = match r {
                Reply::Error(_) => r,
                body => keyed_reply(resp, vec![(key.clone(), body)]),
            };
            finish(srv, id, reply);
        }
    }
}

fn serve_plain(srv: &mut Server, db: usize, key: &[u8], gt: StreamId, count: usize) -> Outcome {
    let mut view = srv.keyspace.db(db);
    let Some(entry) = view.lookup(key, LOOKUP_SILENT) else {
        return Outcome::Wait;
    };
    let Ok(s) = stream_of(&entry.value) else {
        return Outcome::Wait;
    };
    if s.last_id() <= gt {
        return Outcome::Wait;
    }
    let Some(start) = gt.next() else {
        return Outcome::Wait;
    };
    Outcome::Reply(entries_reply(s.range(start, StreamId::MAX, false, count)))
}

fn serve_group(srv: &mut Server, db: usize, key: &[u8], g: &GroupRead, count: usize) -> Outcome {
    srv.keyspace.set_now_ms(crate::clock::now_ms());
    let now = srv.keyspace.now_ms();
    let propagating = srv.propagation.enabled;
    let mut view = srv.keyspace.db(db);
    let Some(mut guard) = view.write(key) else {
        return Outcome::Reply(Reply::error("UNBLOCKED the stream key no longer exists"));
    };
    guard.unchanged();
    let Ok(s) = stream_of_mut(guard.value_mut()) else {
        return Outcome::Reply(Reply::error("UNBLOCKED the stream key no longer exists"));
    };
    let Some(last) = s.group(&g.group).map(|x| x.last_id) else {
        return Outcome::Reply(Reply::error(
            "NOGROUP the consumer group this client was blocked on no longer exists",
        ));
    };
    if s.last_id() <= last {
        return Outcome::Wait;
    }
    let created = s
        .group_mut(&g.group)
        .is_some_and(|x| x.touch_consumer(&g.consumer, now));
    let mut effects: stream_groups::Effects = propagating.then(Vec::new);
    if created && g.noack {
        effects
            .get_or_insert_with(Vec::new)
            .push(stream_groups::createconsumer_effect(
                key,
                &g.group,
                &g.consumer,
            ));
    }
    let entries = stream_groups::deliver_new(s, key, g, last, count, now, &mut effects);
    drop(guard);
    view.add_dirty(1 + u64::from(created));
    if created {
        view.notify(strata_engine::notify::STREAM, "xgroup-createconsumer", key);
    }
    // The served read is a unit of its own, as in Redis.
    if let Some(list) = effects.filter(|_| propagating) {
        srv.propagation
            .unit
            .extend(list.into_iter().map(|argv| (db, argv)));
        crate::propagate::end_unit(srv);
    }
    Outcome::Reply(entries_reply(entries))
}
