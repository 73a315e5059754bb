//! From a parsed request to a reply: lookup, arity, authentication, the state
//! gates in Redis's order, the call itself, statistics.

use bytes::Bytes;

use crate::client::{Client, ReplyMode};
use crate::commands::{flags, Args, CmdError, CommandSpec};
use crate::ctx::Ctx;
use crate::resp::Reply;
use crate::server::Server;

/// Runs one request for `client`, appending the reply to its output buffer.
pub fn execute(srv: &mut Server, client: &mut Client, argv: Vec<Bytes>) {
    if argv.is_empty() {
        return;
    }
    if client.reply_mode == ReplyMode::SkipNext {
        client.reply_mode = ReplyMode::Skip;
    }
    let reply = match resolve(srv, &argv) {
        Err(e) => {
            count_error(srv, &e);
            Reply::Error(e.0)
        }
        Ok((spec, parent)) => match check_gates(srv, client, spec, parent) {
            Err(e) => {
                let name = full_name(spec, parent);
                client.last_cmd = name.clone();
                srv.stats.commands.entry(name).or_default().rejected_calls += 1;
                count_error(srv, &e);
                Reply::Error(e.0)
            }
            Ok(()) => call(srv, client, spec, parent, argv),
        },
    };
    client.reply(&reply);
    if client.reply_mode == ReplyMode::Skip {
        client.reply_mode = ReplyMode::On;
    }
}

/// Finds the command (and subcommand) and checks the arity.
fn resolve(
    srv: &Server,
    argv: &[Bytes],
) -> Result<(&'static CommandSpec, Option<&'static CommandSpec>), CmdError> {
    let Some(spec) = srv.commands.get(&argv[0]) else {
        return Err(unknown_command(argv));
    };
    if spec.subcommands.is_empty() {
        if !spec.arity_ok(argv.len()) {
            return Err(CmdError::wrong_arity(spec.name));
        }
        return Ok((spec, None));
    }
    if argv.len() < 2 {
        // A container with a handler of its own runs alone (COMMAND).
        if spec.handler.is_some() && spec.arity_ok(argv.len()) {
            return Ok((spec, None));
        }
        return Err(CmdError::wrong_arity(spec.name));
    }
    let Some(sub) = spec.subcommand(&argv[1]) else {
        return Err(CmdError::new(format!(
            "ERR unknown subcommand '{}'. Try {} HELP.",
            truncate(&String::from_utf8_lossy(&argv[1]), 128),
            spec.name.to_ascii_uppercase()
        )));
    };
    if !sub.arity_ok(argv.len()) {
        return Err(CmdError::wrong_arity(&format!(
            "{}|{}",
            spec.name, sub.name
        )));
    }
    Ok((sub, Some(spec)))
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Redis's "unknown command" error, quoting the first arguments.
fn unknown_command(argv: &[Bytes]) -> CmdError {
    let mut args = String::new();
    for a in &argv[1..] {
        if args.len() >= 128 {
            break;
        }
        let room = 128 - args.len();
        let text = String::from_utf8_lossy(a);
        args.push_str(&format!("'{}' ", truncate(&text, room)));
    }
    CmdError::new(format!(
        "ERR unknown command '{}', with args beginning with: {}",
        truncate(&String::from_utf8_lossy(&argv[0]), 128),
        args
    ))
}

/// The state gates, in Redis's `processCommand` order.
fn check_gates(
    srv: &Server,
    client: &Client,
    spec: &CommandSpec,
    parent: Option<&CommandSpec>,
) -> Result<(), CmdError> {
    let cmd_flags = spec.flags | parent.map_or(0, |p| p.flags & flags::NO_AUTH);
    if !client.authenticated && cmd_flags & flags::NO_AUTH == 0 {
        return Err(CmdError::new("NOAUTH Authentication required."));
    }
    if spec.flags & flags::PROTECTED != 0 {
        crate::family::server::protected_gate(srv, client, spec.name)?;
    }
    if srv.loading && spec.flags & flags::LOADING == 0 {
        return Err(CmdError::new(
            "LOADING Redis is loading the dataset in memory",
        ));
    }
    // A script past busy-reply-threshold: only ALLOW_BUSY commands run.
    crate::scripting::busy_gate(srv, spec, parent)?;
    // Last gate: replicas and monitors are exempt from CLIENT PAUSE, so they
    // may not touch the keyspace at all.
    let keyspace_flags = flags::WRITE | flags::READONLY | flags::MAY_REPLICATE;
    if (client.monitor || client.kind == crate::client::ClientKind::Replica)
        && spec.flags & keyspace_flags != 0
    {
        return Err(CmdError::new(
            "ERR Replica can't interact with the keyspace",
        ));
    }
    Ok(())
}

/// Whether CLIENT PAUSE holds this request back: it passed every gate and
/// the pause covers it. The connection keeps it and runs it on unpause.
pub fn must_postpone(srv: &Server, client: &Client, argv: &[Bytes]) -> bool {
    let now = crate::clock::now_ms();
    if argv.is_empty() || !crate::family::client::pause_active(srv, now) {
        return false;
    }
    match resolve(srv, argv) {
        Ok((spec, parent)) => {
            check_gates(srv, client, spec, parent).is_ok()
                && crate::family::client::pause_blocks(srv, client, spec, now)
        }
        Err(_) => false,
    }
}

pub fn full_name(spec: &CommandSpec, parent: Option<&CommandSpec>) -> String {
    match parent {
        Some(p) => format!("{}|{}", p.name, spec.name),
        None => spec.name.to_string(),
    }
}

fn count_error(srv: &mut Server, e: &CmdError) {
    srv.stats.total_error_replies += 1;
    *srv.stats.errors.entry(e.code().to_string()).or_insert(0) += 1;
}

/// Runs an already resolved command for a script's client (`redis.call`):
/// the same handler, statistics and MONITOR feed as for a connection.
pub fn call_command(
    srv: &mut Server,
    client: &mut Client,
    spec: &'static CommandSpec,
    parent: Option<&'static CommandSpec>,
    argv: Vec<Bytes>,
) -> Reply {
    call(srv, client, spec, parent, argv)
}

/// Runs the handler with the clock set, then records statistics.
fn call(
    srv: &mut Server,
    client: &mut Client,
    spec: &'static CommandSpec,
    parent: Option<&'static CommandSpec>,
    argv: Vec<Bytes>,
) -> Reply {
    let start = std::time::Instant::now();
    // Inside a script the clock stays where the script started.
    if !srv.scripting.clock_frozen() {
        srv.keyspace.set_now_ms(crate::clock::now_ms());
    }
    let skip = if parent.is_some() { 2 } else { 1 };
    let mut args = Args::with_start(argv, skip);
    client.redacted.clear();
    // Set before the call: CLIENT LIST shows the running command.
    let name = full_name(spec, parent);
    client.last_cmd = name.clone();
    let result = match spec.handler {
        Some(h) => {
            let mut ctx = Ctx::new(srv, client);
            h(&mut ctx, &mut args)
        }
        None => Err(CmdError::syntax()),
    };
    if crate::family::monitor::shown(spec) {
        crate::family::monitor::feed(srv, client, args.argv());
    }
    let usec = start.elapsed().as_micros() as u64;
    crate::introspect::after_call(srv, client, spec, &name, args.argv(), usec);
    client.last_interaction_ms = srv.keyspace.now_ms();
    srv.stats.total_commands_processed += 1;
    let failed = result.is_err();
    let stat = srv.stats.commands.entry(name).or_default();
    stat.calls += 1;
    stat.usec += usec;
    match result {
        Ok(reply) => {
            if let Reply::Error(msg) = &reply {
                // Handlers may return an error as a reply (e.g. from a sub-call).
                let e = CmdError(msg.clone());
                if let Some(s) = srv.stats.commands.get_mut(&client.last_cmd) {
                    s.failed_calls += 1;
                }
                count_error(srv, &e);
            }
            reply
        }
        Err(e) => {
            if failed {
                if let Some(s) = srv.stats.commands.get_mut(&client.last_cmd) {
                    s.failed_calls += 1;
                }
            }
            count_error(srv, &e);
            Reply::Error(e.0)
        }
    }
}
