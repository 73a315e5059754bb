//! Points where features that span the server hook into the loop (pub/sub
//! cleanup when a client leaves, notifications after a command, cron work).

use crate::client::{Client, ClientState};
use crate::server::Server;

/// A client's connection is gone: forget what it registered.
pub fn client_closed(srv: &mut Server, client: &mut Client) {
    crate::blocking_streams::forget(srv, client.id);
    crate::blocking::client_closed(srv, client.id);
}

/// After commands ran: publish queued notifications, fail WATCHers.
pub fn after_command(srv: &mut Server) {
    srv.keyspace.shared.events.clear();
    srv.keyspace.shared.touched.clear();
    crate::propagate::flush_expired(srv);
}

/// Whether `timeout` may close this idle client (not pub/sub, not blocked).
pub fn idle_timeout_applies(client: &Client) -> bool {
    !client.blocked
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
pub fn client_reset(_srv: &mut Server, _client: &mut Client) {}

/// Subscriptions, transaction and blocking state of a client (CLIENT LIST
/// fields, PING's pub/sub form, the client type).
pub fn client_state(srv: &Server, client: &Client) -> ClientState {
    ClientState {
        blocked: client.blocked || srv.blocking.is_blocked(client.id),
        ..ClientState::default()
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
