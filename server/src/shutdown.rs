//! SHUTDOWN and signals: save when save points or the AOF require it, then exit.
//!
//! The SHUTDOWN command prepares synchronously, as Redis does: on success
//! the request is stored with `prepared` set and the event loop exits before
//! serving anyone else (the caller gets no reply, only a closed connection);
//! on failure the caller gets "Errors trying to SHUTDOWN" and the server
//! goes on. Signals store an unprepared request that the loop prepares.

use crate::commands::{flags::*, spec, Args, CmdError, CmdResult, CommandSpec, NO_KEYS};
use crate::ctx::Ctx;
use crate::log_warning;
use crate::resp::Reply;
use crate::server::{Server, ShutdownRequest};

pub const COMMANDS: &[CommandSpec] = &[spec(
    "shutdown",
    -1,
    ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | SENTINEL | ALLOW_BUSY,
    0,
    NO_KEYS,
    shutdown,
)];

/// What SHUTDOWN's arguments ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ask {
    Shutdown(ShutdownRequest),
    Abort,
}

/// Any order and repetition; ABORT alone; not both SAVE and NOSAVE.
fn parse(words: &[bytes::Bytes]) -> Result<Ask, CmdError> {
    let (mut save, mut nosave, mut now, mut force, mut abort) = (false, false, false, false, false);
    for w in words {
        let w = w.to_ascii_lowercase();
        match &w[..] {
            b"nosave" => nosave = true,
            b"save" => save = true,
            b"now" => now = true,
            b"force" => force = true,
            b"abort" => abort = true,
            _ => return Err(CmdError::syntax()),
        }
    }
    let any_flag = save || nosave || now || force;
    if (abort && any_flag) || (save && nosave) {
        return Err(CmdError::syntax());
    }
    if abort {
        return Ok(Ask::Abort);
    }
    let save = if save {
        Some(true)
    } else if nosave {
        Some(false)
    } else {
        None
    };
    Ok(Ask::Shutdown(ShutdownRequest {
        save,
        now,
        force,
        prepared: false,
    }))
}

fn shutdown(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let mut req = match parse(&args.rest())? {
        // A shutdown only stays in progress while it waits for replicas to
        // catch up; with no replication there is never one to abort.
        Ask::Abort => return Err(CmdError::new("ERR No shutdown in progress.")),
        Ask::Shutdown(req) => req,
    };
    if !req.now && ctx.client.fake {
        return Err(CmdError::new(
            "ERR SHUTDOWN without NOW or ABORT isn't allowed for DENY_BLOCKING client",
        ));
    }
    if prepare(ctx.srv, req).is_err() {
        return Err(CmdError::new("ERR Errors trying to SHUTDOWN. Check logs."));
    }
    req.prepared = true;
    ctx.srv.shutdown = Some(req);
    // The caller sees its connection close, never a reply.
    ctx.client.close_asap = true;
    Ok(Reply::OK)
}

/// Prepares for exit; an error aborts the shutdown (as when a final save
/// fails without FORCE).
pub fn prepare(srv: &mut Server, req: ShutdownRequest) -> Result<(), String> {
    log_warning!("User requested shutdown...");
    // Exiting before the first base is written would lose the dataset.
    if crate::aof::writing_initial_base(srv) {
        if req.force {
            log_warning!("Writing initial AOF. Exit anyway.");
        } else {
            log_warning!("Writing initial AOF, can't exit.");
            log_warning!(
                "Errors trying to shut down the server. Check the logs for more information."
            );
            return Err("Writing initial AOF".into());
        }
    }
    crate::aof::shutdown(srv);
    if let Err(e) = crate::persist::save_on_shutdown(srv, req.save) {
        log_warning!("{e}");
        if !req.force {
            log_warning!(
                "Errors trying to shut down the server. Check the logs for more information."
            );
            return Err(e);
        }
    }
    if let Some(pid) = &srv.config.pidfile {
        let _ = std::fs::remove_file(pid);
    }
    if let Some(sock) = &srv.config.unixsocket {
        let _ = std::fs::remove_file(sock);
    }
    log_warning!("Redis is now ready to exit, bye bye...");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<bytes::Bytes> {
        s.split_whitespace()
            .map(|w| bytes::Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    #[test]
    fn flags_and_illegal_combinations() {
        let req = |save, now, force| {
            Ask::Shutdown(ShutdownRequest {
                save,
                now,
                force,
                prepared: false,
            })
        };
        assert_eq!(parse(&words("")), Ok(req(None, false, false)));
        assert_eq!(
            parse(&words("NOSAVE now")),
            Ok(req(Some(false), true, false))
        );
        assert_eq!(
            parse(&words("force save now save")),
            Ok(req(Some(true), true, true))
        );
        assert_eq!(parse(&words("abort abort")), Ok(Ask::Abort));
        assert_eq!(parse(&words("save nosave")), Err(CmdError::syntax()));
        assert_eq!(parse(&words("abort now")), Err(CmdError::syntax()));
        assert_eq!(parse(&words("foo")), Err(CmdError::syntax()));
    }
}
