//! Pub/sub state and delivery: who is subscribed to which channels, patterns
//! and shard channels, publishing a message into subscribers' output
//! buffers, and turning the door's queued keyspace events into messages.
//!
//! Invariants:
//! - `channels[c]` (and `shard_channels`, `patterns`) lists a client id iff
//!   that client's `ClientSubs` holds c; lists keep subscription order, which
//!   is delivery order. Empty lists are removed.
//! - A client with no subscription left has no `ClientSubs` entry, so
//!   `counts` is a single failed lookup for the common client.
//! - Messages are encoded once per publish (RESP3 push form; the RESP2 form
//!   differs only in the first byte) and appended to each subscriber's
//!   buffer; the event loop writes them out (`srv.pending_writes`).
//! - Exact-channel subscribers get a message before pattern subscribers.

use std::collections::{BTreeMap, BTreeSet};

use ahash::AHashMap;
use bytes::Bytes;

use crate::client::Client;
use crate::resp::Reply;
use crate::server::Server;
use crate::util::glob::glob_match;
use strata_engine::notify;

/// The three kinds of subscription; each has its own command pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    pub fn subscribe_name(self) -> &'static str {
        match self {
            Kind::Channel => "subscribe",
            Kind::Pattern => "psubscribe",
            Kind::Shard => "ssubscribe",
        }
    }

    pub fn unsubscribe_name(self) -> &'static str {
        match self {
            Kind::Channel => "unsubscribe",
            Kind::Pattern => "punsubscribe",
            Kind::Shard => "sunsubscribe",
        }
    }
}

/// One client's subscriptions.
#[derive(Default)]
struct ClientSubs {
    channels: BTreeSet<Bytes>,
    /// In subscription order (PUNSUBSCRIBE without arguments follows it, as
    /// Redis 7.0's list does).
    patterns: Vec<Bytes>,
    shard: BTreeSet<Bytes>,
}

impl ClientSubs {
    fn is_empty(&self) -> bool {
        self.channels.is_empty() && self.patterns.is_empty() && self.shard.is_empty()
    }
}

#[derive(Default)]
pub struct PubSub {
    channels: AHashMap<Bytes, Vec<u64>>,
    shard_channels: AHashMap<Bytes, Vec<u64>>,
    patterns: BTreeMap<Bytes, Vec<u64>>,
    clients: AHashMap<u64, ClientSubs>,
    /// Frames (RESP3 form) for a subscriber that is neither in `srv.clients`
    /// nor the client passed to `publish`: the connection whose command is
    /// running while a client without a connection (a script) publishes.
    /// Delivered to it before its reply (`deliver_stash`).
    stash: Vec<(u64, Vec<u8>)>,
    /// A test seam: when Some, every keyspace event published is also kept
    /// here, so unit tests can check event names and order without a
    /// subscriber connection.
    pub tap: Option<Vec<strata_engine::notify::Notification>>,
}

/// Subscription counts of one client (CLIENT LIST sub/psub/ssub).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub channels: usize,
    pub patterns: usize,
    pub shard: usize,
}

/// Removes `id` from a subscriber list; true if the list is now empty.
fn remove_id(ids: Option<&mut Vec<u64>>, id: u64) -> bool {
    match ids {
        Some(ids) => {
            ids.retain(|&c| c != id);
            ids.is_empty()
        }
        None => false,
    }
}

/// What a RESP2 client may run while subscribed.
pub fn allowed_when_subscribed(name: &str) -> bool {
    matches!(
        name,
        "subscribe"
            | "psubscribe"
            | "ssubscribe"
            | "unsubscribe"
            | "punsubscribe"
            | "sunsubscribe"
            | "ping"
            | "quit"
            | "reset"
    )
}

impl PubSub {
    /// Whether the client is subscribed to anything.
    pub fn is_subscribed(&self, id: u64) -> bool {
        !self.clients.is_empty() && self.clients.contains_key(&id)
    }

    pub fn counts(&self, id: u64) -> Counts {
        self.clients.get(&id).map_or(Counts::default(), |s| Counts {
            channels: s.channels.len(),
            patterns: s.patterns.len(),
            shard: s.shard.len(),
        })
    }

    /// The count a (un)subscribe confirmation reports: channels and patterns
    /// together, shard channels on their own.
    pub fn reply_count(&self, id: u64, kind: Kind) -> usize {
        let c = self.counts(id);
        match kind {
            Kind::Channel | Kind::Pattern => c.channels + c.patterns,
            Kind::Shard => c.shard,
        }
    }

    /// Subscribes; false if the client already was.
    pub fn subscribe(&mut self, id: u64, kind: Kind, name: &Bytes) -> bool {
        let subs = self.clients.entry(id).or_default();
        let added = match kind {
            Kind::Channel => subs.channels.insert(name.clone()),
            Kind::Shard => subs.shard.insert(name.clone()),
            Kind::Pattern => {
                let new = !subs.patterns.contains(name);
                if new {
                    subs.patterns.push(name.clone());
                }
                new
            }
        };
        if !added {
            return false;
        }
        match kind {
            Kind::Channel => self.channels.entry(name.clone()).or_default().push(id),
            Kind::Shard => self
                .shard_channels
                .entry(name.clone())
                .or_default()
                .push(id),
            Kind::Pattern => self.patterns.entry(name.clone()).or_default().push(id),
        }
        true
    }

    /// Unsubscribes; false if the client was not subscribed.
    pub fn unsubscribe(&mut self, id: u64, kind: Kind, name: &[u8]) -> bool {
        let Some(subs) = self.clients.get_mut(&id) else {
            return false;
        };
        let removed = match kind {
            Kind::Channel => subs.channels.remove(name),
            Kind::Shard => subs.shard.remove(name),
            Kind::Pattern => match subs.patterns.iter().position(|p| p[..] == *name) {
                Some(i) => {
                    subs.patterns.remove(i);
                    true
                }
                None => false,
            },
        };
        if !removed {
            return false;
        }
        if subs.is_empty() {
            self.clients.remove(&id);
        }
        match kind {
            Kind::Channel => {
                if remove_id(self.channels.get_mut(name), id) {
                    self.channels.remove(name);
                }
            }
            Kind::Shard => {
                if remove_id(self.shard_channels.get_mut(name), id) {
                    self.shard_channels.remove(name);
                }
            }
            Kind::Pattern => {
                if remove_id(self.patterns.get_mut(name), id) {
                    self.patterns.remove(name);
                }
            }
        }
        true
    }

    /// The client's subscriptions of one kind, in the order an argument-less
    /// unsubscribe goes through them.
    pub fn subscriptions(&self, id: u64, kind: Kind) -> Vec<Bytes> {
        let Some(subs) = self.clients.get(&id) else {
            return Vec::new();
        };
        match kind {
            Kind::Channel => subs.channels.iter().cloned().collect(),
            Kind::Shard => subs.shard.iter().cloned().collect(),
            Kind::Pattern => subs.patterns.clone(),
        }
    }

    /// Drops every subscription of a client, without telling it (RESET,
    /// disconnection).
    pub fn remove_client(&mut self, id: u64) {
        if !self.clients.contains_key(&id) {
            return;
        }
        for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
            for name in self.subscriptions(id, kind) {
                self.unsubscribe(id, kind, &name);
            }
        }
        self.stash.retain(|(c, _)| *c != id);
    }

    /// Active channels (with at least one subscriber) matching `pattern`.
    pub fn channel_names(&self, shard: bool, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let map = if shard {
            &self.shard_channels
        } else {
            &self.channels
        };
        map.keys()
            .filter(|c| pattern.is_none_or(|p| glob_match(p, c, false)))
            .cloned()
            .collect()
    }

    /// Subscribers of one exact channel (not counting patterns).
    pub fn subscribers(&self, shard: bool, channel: &[u8]) -> usize {
        let map = if shard {
            &self.shard_channels
        } else {
            &self.channels
        };
        map.get(channel).map_or(0, Vec::len)
    }

    /// Distinct patterns subscribed to by anyone (PUBSUB NUMPAT).
    pub fn pattern_count(&self) -> usize {
        self.patterns.len()
    }

    /// Totals for INFO: channels, patterns, shard channels.
    pub fn totals(&self) -> (usize, usize, usize) {
        (
            self.channels.len(),
            self.patterns.len(),
            self.shard_channels.len(),
        )
    }
}

/// A frame in RESP3 push form ('>'); RESP2 clients get '*' instead.
fn frame(items: Vec<Reply>) -> Vec<u8> {
    let mut out = Vec::new();
    Reply::Push(items).encode(3, &mut out);
    out
}

/// Appends a frame built by `frame` in the client's protocol.
fn append(c: &mut Client, frame: &[u8]) {
    if c.resp == 2 {
        c.out.push(b'*');
        c.out.extend_from_slice(&frame[1..]);
    } else {
        c.out.extend_from_slice(frame);
    }
    c.out_peak = c.out_peak.max(c.out.len());
}

/// Where a frame goes: the running client, a connection in `srv.clients`,
/// or the stash.
struct Sink<'a> {
    me: Option<&'a mut Client>,
    clients: &'a mut std::collections::BTreeMap<u64, Box<crate::net::Conn>>,
    pending: &'a mut Vec<u64>,
    stash: &'a mut Vec<(u64, Vec<u8>)>,
    /// Connections whose output passed the fixed reply buffer: their limits
    /// are checked once delivery is done.
    over: Vec<u64>,
}

impl Sink<'_> {
    fn send(&mut self, id: u64, frame: &[u8]) {
        if let Some(me) = self.me.as_deref_mut() {
            if me.id == id {
                append(me, frame);
                return;
            }
        }
        match self.clients.get_mut(&id) {
            Some(conn) => {
                if conn.client.close_asap {
                    return;
                }
                // A non-empty buffer is already scheduled (pending or
                // waiting for a writable socket).
                if conn.client.out.is_empty() {
                    self.pending.push(id);
                }
                append(&mut conn.client, frame);
                if conn.client.obuf_limited_bytes() > 0 {
                    self.over.push(id);
                }
            }
            None => self.stash.push((id, frame.to_vec())),
        }
    }
}

/// Publishes `message` on `channel` (a shard channel if `shard`) to every
/// subscriber, `me` being the client running the command (not in
/// `srv.clients` meanwhile). Returns how many deliveries were made.
pub fn publish(
    srv: &mut Server,
    me: Option<&mut Client>,
    shard: bool,
    channel: &[u8],
    message: &[u8],
) -> usize {
    let Server {
        pubsub,
        clients,
        pending_writes,
        ..
    } = srv;
    let PubSub {
        channels,
        shard_channels,
        patterns,
        stash,
        ..
    } = pubsub;
    let mut sink = Sink {
        me,
        clients,
        pending: pending_writes,
        stash,
        over: Vec::new(),
    };
    let mut receivers = 0;
    let exact = if shard { shard_channels } else { channels };
    if let Some(ids) = exact.get(channel) {
        let kind = if shard { "smessage" } else { "message" };
        let f = frame(vec![
            Reply::bulk_str(kind),
            Reply::bulk_copy(channel),
            Reply::bulk_copy(message),
        ]);
        for &id in ids {
            sink.send(id, &f);
            receivers += 1;
        }
    }
    if !shard {
        for (pattern, ids) in patterns.iter() {
            if !glob_match(pattern, channel, false) {
                continue;
            }
            let f = frame(vec![
                Reply::bulk_str("pmessage"),
                Reply::Bulk(pattern.clone()),
                Reply::bulk_copy(channel),
                Reply::bulk_copy(message),
            ]);
            for &id in ids {
                sink.send(id, &f);
                receivers += 1;
            }
        }
    }
    let over = std::mem::take(&mut sink.over);
    drop(sink);
    for id in over {
        if let Some(mut conn) = srv.clients.remove(&id) {
            let io = conn.io();
            crate::family::client::enforce_output_limit(srv, &mut conn.client, &io);
            srv.clients.insert(id, conn);
        }
    }
    receivers
}

/// Hands the running client the messages stashed for it while a script
/// published (see `PubSub::stash`).
pub fn deliver_stash(srv: &mut Server, client: &mut Client) {
    if srv.pubsub.stash.is_empty() {
        return;
    }
    let stash = std::mem::take(&mut srv.pubsub.stash);
    for (id, f) in stash {
        if id == client.id {
            append(client, &f);
        }
    }
}

/// Publishes the keyspace events the door queued (`notify-keyspace-events`):
/// `__keyspace@<db>__:<key>` carries the event, `__keyevent@<db>__:<event>`
/// the key.
pub fn publish_keyspace_events(srv: &mut Server, mut me: Option<&mut Client>) {
    if srv.keyspace.shared.events.is_empty() {
        return;
    }
    let mut events = std::mem::take(&mut srv.keyspace.shared.events);
    if let Some(tap) = srv.pubsub.tap.as_mut() {
        tap.extend(events.iter().cloned());
    }
    let flags = srv.keyspace.shared.notify_flags;
    let mut channel = Vec::new();
    for ev in events.drain(..) {
        if flags & notify::KEYSPACE != 0 {
            channel.clear();
            channel.extend_from_slice(format!("__keyspace@{}__:", ev.db).as_bytes());
            channel.extend_from_slice(&ev.key);
            publish(srv, me.as_deref_mut(), false, &channel, ev.event.as_bytes());
        }
        if flags & notify::KEYEVENT != 0 {
            channel.clear();
            channel.extend_from_slice(format!("__keyevent@{}__:{}", ev.db, ev.event).as_bytes());
            publish(srv, me.as_deref_mut(), false, &channel, &ev.key);
        }
    }
    // Keep the allocation unless a publish queued more meanwhile (it cannot today).
    if srv.keyspace.shared.events.is_empty() {
        srv.keyspace.shared.events = events;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn subscribe_and_unsubscribe_keep_both_sides_in_step() {
        let mut ps = PubSub::default();
        assert!(ps.subscribe(1, Kind::Channel, &b("a")));
        assert!(!ps.subscribe(1, Kind::Channel, &b("a")));
        assert!(ps.subscribe(2, Kind::Channel, &b("a")));
        assert!(ps.subscribe(1, Kind::Pattern, &b("p*")));
        assert!(ps.subscribe(1, Kind::Shard, &b("s")));
        assert_eq!(ps.reply_count(1, Kind::Channel), 2);
        assert_eq!(ps.reply_count(1, Kind::Shard), 1);
        assert_eq!(ps.subscribers(false, b"a"), 2);
        assert_eq!(ps.pattern_count(), 1);
        assert!(ps.unsubscribe(1, Kind::Channel, b"a"));
        assert!(!ps.unsubscribe(1, Kind::Channel, b"a"));
        assert_eq!(ps.subscribers(false, b"a"), 1);
        ps.remove_client(1);
        assert_eq!(ps.counts(1), Counts::default());
        assert_eq!(ps.pattern_count(), 0);
        assert_eq!(ps.totals(), (1, 0, 0));
        ps.remove_client(2);
        assert_eq!(ps.totals(), (0, 0, 0));
        assert!(ps.clients.is_empty());
    }

    #[test]
    fn patterns_unsubscribe_in_subscription_order() {
        let mut ps = PubSub::default();
        for p in ["z*", "a*", "m*"] {
            ps.subscribe(7, Kind::Pattern, &b(p));
        }
        assert_eq!(
            ps.subscriptions(7, Kind::Pattern),
            vec![b("z*"), b("a*"), b("m*")]
        );
    }

    #[test]
    fn frames_differ_only_in_the_header_byte() {
        let f = frame(vec![Reply::bulk_str("message"), Reply::bulk_str("c")]);
        let mut c2 = Client::new(1, 0);
        append(&mut c2, &f);
        assert_eq!(c2.out, b"*2\r\n$7\r\nmessage\r\n$1\r\nc\r\n");
        let mut c3 = Client::new(2, 0);
        c3.resp = 3;
        append(&mut c3, &f);
        assert_eq!(c3.out, b">2\r\n$7\r\nmessage\r\n$1\r\nc\r\n");
    }
}
