//! Points where features that span the server hook into the loop (pub/sub
//! cleanup when a client leaves, notifications after a command, cron work).

use crate::client::Client;
use crate::server::Server;

/// A client's connection is gone: forget what it registered.
pub fn client_closed(_srv: &mut Server, _client: &mut Client) {}

/// After commands ran: publish queued notifications, fail WATCHers.
pub fn after_command(srv: &mut Server) {
    srv.keyspace.shared.events.clear();
    srv.keyspace.shared.touched.clear();
    srv.keyspace.shared.expired.clear();
}

/// Whether `timeout` may close this idle client (not pub/sub, not blocked).
pub fn idle_timeout_applies(_client: &Client) -> bool {
    true
}

pub fn cron(_srv: &mut Server, _now_ms: u64) {}

/// CONFIG SET changed these directives (start-up: all of them): subsystems
/// that keep their own copy of a setting follow it here. An error refuses
/// the change: (directive, reason); the previous configuration comes back.
pub fn config_changed(
    _srv: &mut Server,
    _names: &[&'static str],
) -> Result<(), (&'static str, String)> {
    Ok(())
}

/// CONFIG RESETSTAT: subsystems reset the counters they keep themselves.
pub fn config_resetstat(_srv: &mut Server) {}

/// CONFIG REWRITE: the ACL's `user ...` lines to write, or None to leave the
/// file's own `user` lines as they are (no ACL module yet).
pub fn config_rewrite_users(_srv: &Server) -> Option<Vec<String>> {
    None
}
