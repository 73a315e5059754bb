//! Points where features that span the server hook into the loop (pub/sub
//! cleanup when a client leaves, notifications after a command, cron work).

use crate::client::{Client, ClientState};
use crate::server::Server;

/// A client's connection is gone: forget what it registered.
pub fn client_closed(srv: &mut Server, client: &mut Client) {
    crate::blocking_streams::forget(srv, client.id);
    crate::blocking::client_closed(srv, client.id);
    forget_client(srv, client);
}

/// After a command ran (`client` is its caller; None for cron work such as
/// active expiry): publish queued keyspace events, turn WATCH signals into
/// dirty marks, hand the caller messages a script published to it, and pass
/// keys deleted by expiry to the AOF.
pub fn after_command(srv: &mut Server, mut client: Option<&mut Client>) {
    crate::pubsub::publish_keyspace_events(srv, client.as_deref_mut());
    srv.watches.drain_touched(&mut srv.keyspace);
    crate::propagate::flush_expired(srv);
    if let Some(c) = client {
        crate::pubsub::deliver_stash(srv, c);
    }
}

/// Whether `timeout` may close this idle client (not pub/sub, not blocked).
pub fn idle_timeout_applies(srv: &Server, client: &Client) -> bool {
    !client.blocked && !client_state(srv, client).subscribed()
}

pub fn cron(srv: &mut Server, now_ms: u64) {
    crate::persist::cron(srv, now_ms);
    crate::aof::cron(srv);
    crate::introspect::cron(srv, now_ms);
}

/// After FLUSHALL emptied every database: with save points configured, Redis
/// saves the (empty) dataset right away, which also resets the dirty counter.
pub fn after_flushall(srv: &mut Server) {
    if !srv.config.save_points.is_empty() {
        let _ = crate::persist::save_sync(srv);
    }
}

/// RESET: forget subscriptions, the transaction and tracking, without
/// notifying the client (Redis's `clearClientConnectionState`).
pub fn client_reset(srv: &mut Server, client: &mut Client) {
    forget_client(srv, client);
}

/// Drops the transaction, the WATCHes and the subscriptions of a client.
fn forget_client(srv: &mut Server, client: &mut Client) {
    client.multi = None;
    srv.watches.unwatch_all(&mut srv.keyspace, client.id);
    srv.pubsub.remove_client(client.id);
}

/// Subscriptions, transaction and blocking state of a client (CLIENT LIST
/// fields, PING's pub/sub form, the client type).
pub fn client_state(srv: &Server, client: &Client) -> ClientState {
    let subs = srv.pubsub.counts(client.id);
    ClientState {
        channels: subs.channels,
        patterns: subs.patterns,
        shard_channels: subs.shard,
        multi_queued: client.multi.as_ref().map(|m| m.count),
        multi_bytes: client.multi.as_ref().map_or(0, |m| m.bytes),
        blocked: client.blocked || srv.blocking.is_blocked(client.id),
        dirty_cas: srv.watches.is_dirty(client.id),
    }
}

/// CLIENT UNBLOCK: wakes a client blocked in BLPOP and friends, with a
/// timeout reply or, if `as_error`, an -UNBLOCKED error. False if `id` is
/// not blocked.
pub fn unblock_client(srv: &mut Server, id: u64, as_error: bool) -> bool {
    if crate::blocking_streams::unblock(srv, id, as_error) {
        return true;
    }
    let how = if as_error {
        crate::blocking::Release::Error("UNBLOCKED client unblocked via CLIENT UNBLOCK")
    } else {
        crate::blocking::Release::Timeout
    };
    crate::blocking::release(srv, id, how)
}

/// CONFIG SET changed these directives (start-up: all of them): subsystems
/// that keep their own copy of a setting follow it here. An error refuses
/// the change: (directive, reason); the previous configuration comes back.
pub fn config_changed(
    srv: &mut Server,
    names: &[&'static str],
) -> Result<(), (&'static str, String)> {
    crate::aof::config_changed(srv, names)
}

/// CONFIG RESETSTAT: subsystems reset the counters they keep themselves.
pub fn config_resetstat(_srv: &mut Server) {}

/// CONFIG REWRITE: the ACL's `user ...` lines to write, or None to leave the
/// file's own `user` lines as they are (no ACL module yet).
pub fn config_rewrite_users(_srv: &Server) -> Option<Vec<String>> {
    None
}
