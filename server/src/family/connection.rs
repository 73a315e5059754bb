//! Connection commands: PING, ECHO, QUIT, SELECT, RESET, HELLO, AUTH.
//!
//! Authentication knows one user, "default", whose password is
//! `requirepass` (none: any password is accepted, as Redis's "nopass").
//! HELLO applies its options in the order given, as Redis 7.0 does: a
//! SETNAME before a failing AUTH has already renamed the connection.

use bytes::Bytes;

use crate::client::{Client, ClientKind, ReplyMode};
use crate::commands::{acl, flags::*, spec, Args, CmdError, CmdResult, CommandSpec, NO_KEYS};
use crate::ctx::Ctx;
use crate::family::client::{set_name, DEFAULT_USER};
use crate::hooks;
use crate::resp::Reply;
use crate::server::Server;
use strata_engine::value::parse_i64_strict;

pub const COMMANDS: &[CommandSpec] = &[
    spec("ping", -1, FAST | SENTINEL, acl::CONNECTION, NO_KEYS, ping),
    spec(
        "echo",
        2,
        LOADING | STALE | FAST,
        acl::CONNECTION,
        NO_KEYS,
        echo,
    ),
    spec(
        "quit",
        -1,
        ALLOW_BUSY | NOSCRIPT | NO_AUTH | LOADING | STALE | FAST,
        acl::CONNECTION,
        NO_KEYS,
        quit,
    ),
    spec(
        "select",
        2,
        LOADING | STALE | FAST,
        acl::CONNECTION,
        NO_KEYS,
        select,
    ),
    spec(
        "reset",
        1,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | SENTINEL | ALLOW_BUSY,
        acl::CONNECTION,
        NO_KEYS,
        reset,
    ),
    spec(
        "hello",
        -1,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | SENTINEL | ALLOW_BUSY,
        acl::CONNECTION,
        NO_KEYS,
        hello,
    ),
    spec(
        "auth",
        -2,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | SENTINEL | ALLOW_BUSY,
        acl::CONNECTION,
        NO_KEYS,
        auth,
    ),
];

const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

fn ping(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    if args.remaining() > 1 {
        return Err(CmdError::wrong_arity("ping"));
    }
    let msg = args.next_opt();
    // A RESP2 subscriber can only read arrays: PING answers ["pong", msg].
    if ctx.client.resp == 2 && hooks::client_state(ctx.srv, ctx.client).subscribed() {
        return Ok(Reply::Array(vec![
            Reply::bulk_str("pong"),
            Reply::Bulk(msg.unwrap_or_default()),
        ]));
    }
    Ok(msg.map_or(Reply::status("PONG"), Reply::Bulk))
}

fn echo(_ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    Ok(Reply::Bulk(args.next()?))
}

fn quit(ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    ctx.client.close_after_reply = true;
    Ok(Reply::OK)
}

fn select(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let idx = parse_i64_strict(&args.next()?).ok_or_else(CmdError::not_integer)?;
    // Redis reads the index as a C int first.
    if i32::try_from(idx).is_err() {
        return Err(CmdError::new(
            "ERR value is out of range, value must between -2147483648 and 2147483647",
        ));
    }
    if idx < 0 || idx as usize >= ctx.srv.keyspace.db_count() {
        return Err(CmdError::new("ERR DB index is out of range"));
    }
    ctx.client.db = idx as usize;
    Ok(Reply::OK)
}

/// Whether `user`/`pass` log in: only "default" exists; with no
/// `requirepass` it takes any password.
fn credentials_ok(srv: &Server, user: &[u8], pass: &[u8]) -> bool {
    if user != DEFAULT_USER.as_bytes() {
        return false;
    }
    match &srv.config.requirepass {
        None => true,
        Some(want) => constant_time_eq(want, pass),
    }
}

/// Compares without an early exit, so timing does not reveal a prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, &x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

/// Authenticates the client; a failure leaves its previous state alone.
fn authenticate(
    srv: &Server,
    client: &mut Client,
    user: &[u8],
    pass: &[u8],
) -> Result<(), CmdError> {
    if !credentials_ok(srv, user, pass) {
        return Err(CmdError::new(WRONGPASS));
    }
    client.authenticated = true;
    Ok(())
}

fn auth(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    if args.remaining() > 2 {
        return Err(CmdError::syntax());
    }
    // Never show the password (MONITOR, SLOWLOG).
    ctx.client.redacted = (1..=args.remaining()).collect();
    let first = args.next()?;
    let (user, pass) = match args.next_opt() {
        Some(pass) => (first, pass),
        None => {
            if ctx.srv.config.requirepass.is_none() {
                return Err(CmdError::new(
                    "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
                ));
            }
            (Bytes::from_static(DEFAULT_USER.as_bytes()), first)
        }
    };
    authenticate(ctx.srv, ctx.client, &user, &pass)?;
    Ok(Reply::OK)
}

fn hello(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let mut proto = None;
    if let Some(v) = args.next_opt() {
        let n = parse_i64_strict(&v).ok_or_else(|| {
            CmdError::new("ERR Protocol version is not an integer or out of range")
        })?;
        if !(2..=3).contains(&n) {
            return Err(CmdError::new("NOPROTO unsupported protocol version"));
        }
        proto = Some(n as u8);
    }
    // Options take effect one by one; an error stops at that option.
    while let Some(opt) = args.next_opt() {
        let more = args.remaining();
        if opt.eq_ignore_ascii_case(b"auth") && more >= 2 {
            let at = args.position();
            ctx.client.redacted.extend([at, at + 1]);
            let user = args.next()?;
            let pass = args.next()?;
            authenticate(ctx.srv, ctx.client, &user, &pass)?;
        } else if opt.eq_ignore_ascii_case(b"setname") && more >= 1 {
            set_name(ctx.client, &args.next()?)?;
        } else {
            return Err(CmdError::new(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(&opt)
            )));
        }
    }
    if !ctx.client.authenticated {
        return Err(CmdError::new(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
        ));
    }
    if let Some(p) = proto {
        ctx.client.resp = p;
    }
    Ok(Reply::Map(vec![
        (Reply::bulk_str("server"), Reply::bulk_str("redis")),
        (
            Reply::bulk_str("version"),
            Reply::bulk_str(crate::REDIS_VERSION),
        ),
        (Reply::bulk_str("proto"), Reply::Int(ctx.client.resp as i64)),
        (Reply::bulk_str("id"), Reply::Int(ctx.client.id as i64)),
        (Reply::bulk_str("mode"), Reply::bulk_str("standalone")),
        // No replication yet: this server is always a master.
        (Reply::bulk_str("role"), Reply::bulk_str("master")),
        (Reply::bulk_str("modules"), Reply::Array(Vec::new())),
    ]))
}

fn reset(ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    let c = &mut *ctx.client;
    if c.kind != ClientKind::Normal {
        return Err(CmdError::new(
            "ERR can only reset normal client connections",
        ));
    }
    if c.monitor {
        c.monitor = false;
        let id = c.id;
        ctx.srv.monitors.retain(|&m| m != id);
    }
    hooks::client_reset(ctx.srv, ctx.client);
    let c = &mut *ctx.client;
    c.db = 0;
    c.resp = 2;
    c.authenticated = ctx.srv.config.requirepass.is_none();
    c.name = None;
    // OFF and a pending SKIP end; skipping this very reply still applies.
    if matches!(c.reply_mode, ReplyMode::Off | ReplyMode::SkipNext) {
        c.reply_mode = ReplyMode::On;
    }
    Ok(Reply::status("RESET"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_compare() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"secret", b""));
        assert!(constant_time_eq(b"", b""));
    }
}
