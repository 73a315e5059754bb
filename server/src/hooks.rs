//! Points where features that span the server hook into the loop (pub/sub
//! cleanup when a client leaves, notifications after a command, cron work).

use crate::client::Client;
use crate::server::Server;

/// A client's connection is gone: forget what it registered.
pub fn client_closed(srv: &mut Server, client: &mut Client) {
    crate::blocking::client_closed(srv, client.id);
}

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
