//! MONITOR: a client that asks for it gets one status line per executed
//! command, `+<unix-seconds>.<micros> [<db> <addr>] "arg" ...`, arguments
//! quoted as Redis's `sdscatrepr` does.
//!
//! Invariants:
//! - `srv.monitors` holds exactly the ids of clients with `monitor` set; the
//!   event loop drops an id when its connection closes, RESET when it leaves
//!   the mode.
//! - Lines are fed after the command ran (the db shown is the one after a
//!   SELECT), never for rejected commands nor for ADMIN / SKIP_MONITOR ones,
//!   and with redacted arguments (passwords) shown as "(redacted)".
//! - A monitor that runs a command itself sees its reply before the line
//!   (`Client::monitor_echo`, flushed by the event loop).

use bytes::Bytes;

use crate::client::{Client, ClientKind, ReplyMode};
use crate::commands::{flags::*, spec, Args, CmdError, CmdResult, CommandSpec, NO_KEYS};
use crate::ctx::Ctx;
use crate::resp::Reply;
use crate::server::Server;

pub const COMMANDS: &[CommandSpec] = &[spec(
    "monitor",
    1,
    ADMIN | NOSCRIPT | LOADING | STALE,
    0,
    NO_KEYS,
    monitor,
)];

fn monitor(ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    // A script or a transaction expects one reply per command.
    if ctx.client.fake
        || crate::hooks::client_state(ctx.srv, ctx.client)
            .multi_queued
            .is_some()
    {
        return Err(CmdError::new(
            "ERR MONITOR isn't allowed for DENY BLOCKING client",
        ));
    }
    // Already a monitor (or a replica): ignored, with no reply at all.
    if ctx.client.monitor || ctx.client.kind == ClientKind::Replica {
        if ctx.client.reply_mode == ReplyMode::On {
            ctx.client.reply_mode = ReplyMode::Skip;
        }
        return Ok(Reply::OK);
    }
    ctx.client.monitor = true;
    ctx.srv.monitors.push(ctx.client.id);
    Ok(Reply::OK)
}

/// Whether a command with these flags is shown to monitors.
pub fn shown(spec: &CommandSpec) -> bool {
    spec.flags & (ADMIN | SKIP_MONITOR) == 0
}

/// Sends the line for `argv`, just run by `client`, to every monitor.
pub fn feed(srv: &mut Server, client: &mut Client, argv: &[Bytes]) {
    if srv.monitors.is_empty() || srv.loading {
        return;
    }
    let line = format_line(
        crate::clock::now_us(),
        client,
        argv,
        srv.config.unixsocket.as_deref(),
    );
    let ids = srv.monitors.clone();
    for id in ids {
        if id == client.id {
            client.monitor_echo.extend_from_slice(&line);
            continue;
        }
        let Some(mut conn) = srv.clients.remove(&id) else {
            continue;
        };
        if !conn.client.close_asap {
            conn.client.out.extend_from_slice(&line);
            conn.client.out_peak = conn.client.out_peak.max(conn.client.out.len());
            let io = conn.io();
            crate::family::client::enforce_output_limit(srv, &mut conn.client, &io);
            srv.pending_writes.push(id);
        }
        srv.clients.insert(id, conn);
    }
}

/// The whole line, "+...\r\n": a status reply in RESP2 and RESP3 alike.
pub fn format_line(
    now_us: u64,
    client: &Client,
    argv: &[Bytes],
    unixsocket: Option<&str>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + argv.iter().map(|a| a.len() + 3).sum::<usize>());
    out.extend_from_slice(
        format!("+{}.{:06} [", now_us / 1_000_000, now_us % 1_000_000).as_bytes(),
    );
    if client.fake {
        out.extend_from_slice(format!("{} lua]", client.db).as_bytes());
    } else if client.unix_socket {
        out.extend_from_slice(
            format!("{} unix:{}]", client.db, unixsocket.unwrap_or("")).as_bytes(),
        );
    } else {
        out.extend_from_slice(format!("{} {}]", client.db, client.addr).as_bytes());
    }
    for (i, arg) in argv.iter().enumerate() {
        out.push(b' ');
        if client.redacted.contains(&i) {
            repr(&mut out, b"(redacted)");
        } else {
            repr(&mut out, arg);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Redis's `sdscatrepr`: double-quoted, with C escapes for the usual control
/// characters and \xHH for anything else outside printable ASCII.
pub fn repr(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &b in s {
        match b {
            b'\\' | b'"' => {
                out.push(b'\\');
                out.push(b);
            }
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&[u8]]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::copy_from_slice(w)).collect()
    }

    #[test]
    fn repr_escapes_like_sdscatrepr() {
        let mut out = Vec::new();
        repr(&mut out, b"a\"b\\c\n\r\t\x07\x08\x01\xc3\xa9 ~");
        assert_eq!(
            out,
            b"\"a\\\"b\\\\c\\n\\r\\t\\a\\b\\x01\\xc3\\xa9 ~\"".to_vec()
        );
    }

    #[test]
    fn line_shows_db_addr_and_redactions() {
        let mut c = Client::new(1, 0);
        c.addr = "127.0.0.1:5555".into();
        c.db = 3;
        c.redacted = vec![3, 4];
        let line = format_line(
            1_700_000_000_000_042,
            &c,
            &argv(&[b"hello", b"2", b"auth", b"u", b"p"]),
            None,
        );
        assert_eq!(String::from_utf8_lossy(&line), "+1700000000.000042 [3 127.0.0.1:5555] \"hello\" \"2\" \"auth\" \"(redacted)\" \"(redacted)\"\r\n");
    }

    #[test]
    fn line_for_unix_socket_and_lua() {
        let mut c = Client::new(1, 0);
        c.unix_socket = true;
        let line = format_line(1_000_000, &c, &argv(&[b"ping"]), Some("/tmp/s.sock"));
        assert_eq!(
            String::from_utf8_lossy(&line),
            "+1.000000 [0 unix:/tmp/s.sock] \"ping\"\r\n"
        );
        let lua = Client::fake(0);
        let line = format_line(2_500_000, &lua, &argv(&[b"set", b"k", b"1"]), None);
        assert_eq!(
            String::from_utf8_lossy(&line),
            "+2.500000 [0 lua] \"set\" \"k\" \"1\"\r\n"
        );
    }
}
