//! From a parsed request to a reply: lookup, arity, authentication, the state
//! gates in Redis's order, the call itself, statistics.

use bytes::Bytes;

use crate::client::{Client, ReplyMode};
use crate::commands::{flags, Args, CmdError, CommandSpec};
use crate::ctx::Ctx;
use crate::resp::Reply;
use crate::server::Server;
use crate::{multi, pubsub};

/// Runs one request for `client`, appending the reply to its output buffer.
pub fn execute(srv: &mut Server, client: &mut Client, argv: Vec<Bytes>) {
    if argv.is_empty() {
        return;
    }
    if client.reply_mode == ReplyMode::SkipNext {
        client.reply_mode = ReplyMode::Skip;
    }
    // Keys written from here on may wake blocked clients.
    let touched_mark = srv.keyspace.shared.touched.len();
    let reply = match resolve(srv, &argv) {
        Err(Unresolved { error, arity_of }) => {
            // Redis names the command an arity error is about (CLIENT LIST
            // cmd=, a rejected call in commandstats); an unknown one is NULL.
            let is_exec = arity_of.is_some_and(|(spec, parent)| is_exec(spec, parent));
            match arity_of {
                Some((spec, parent)) => rejected_call(srv, client, spec, parent),
                None => client.last_cmd = "NULL".into(),
            }
            reject(srv, client, is_exec, error)
        }
        Ok((spec, parent)) => match check_gates(srv, client, spec, parent) {
            Err(e) => {
                rejected_call(srv, client, spec, parent);
                reject(srv, client, is_exec(spec, parent), e)
            }
            Ok(()) if multi::is_queued(client, spec, parent) => {
                client.last_cmd = full_name(spec, parent);
                if let Some(m) = client.multi.as_mut() {
                    m.push(spec, parent, argv);
                }
                Reply::status("QUEUED")
            }
            Ok(()) => match call(srv, client, spec, parent, argv) {
                Some(reply) => reply,
                // Parked by a blocking command: the reply comes when it is served.
                None => return,
            },
        },
    };
    crate::propagate::end_unit(srv);
    // Streams' waiters see this command's writes before WATCH signals are drained.
    crate::blocking_streams::after_command(srv, touched_mark);
    crate::hooks::after_command(srv, Some(client));
    // A client the command parked gets its reply when it is served.
    if !client.blocked {
        client.reply(&reply);
    }
    if client.reply_mode == ReplyMode::Skip {
        client.reply_mode = ReplyMode::On;
    }
}

/// Runs a command read from the AOF: no gates, no statistics of errors to
/// the client; the reply is discarded by the caller.
pub fn execute_for_load(srv: &mut Server, client: &mut Client, argv: Vec<Bytes>) {
    if let Ok((spec, parent)) = resolve(srv, &argv) {
        if let Some(reply) = call(srv, client, spec, parent, argv) {
            client.reply(&reply);
        }
    }
}

fn is_exec(spec: &CommandSpec, parent: Option<&CommandSpec>) -> bool {
    parent.is_none() && spec.name == "exec"
}

fn rejected_call(
    srv: &mut Server,
    client: &mut Client,
    spec: &CommandSpec,
    parent: Option<&CommandSpec>,
) {
    let name = full_name(spec, parent);
    client.last_cmd = name.clone();
    srv.stats.commands.entry(name).or_default().rejected_calls += 1;
}

/// A refused request: in MULTI it dooms the transaction (EXEC will answer
/// EXECABORT); a refused EXEC discards it at once and says why.
fn reject(srv: &mut Server, client: &mut Client, is_exec: bool, e: CmdError) -> Reply {
    if let Some(m) = client.multi.as_mut() {
        m.aborted = true;
    }
    let e = if is_exec {
        client.multi = None;
        srv.watches.unwatch_all(&mut srv.keyspace, client.id);
        CmdError::new(multi::exec_abort_message(e.message()))
    } else {
        e
    };
    count_error(srv, &e);
    Reply::Error(e.0)
}

/// For a handler that appended its reply frames itself (pub/sub
/// confirmations, EXEC): the `Reply` it returns is not sent.
pub fn reply_written(client: &mut Client) {
    if client.reply_mode == ReplyMode::On {
        client.reply_mode = ReplyMode::Skip;
    }
}

type Resolved = (&'static CommandSpec, Option<&'static CommandSpec>);

/// Why a request names no runnable command; `arity_of` is the command when
/// it exists but got the wrong number of arguments.
struct Unresolved {
    error: CmdError,
    arity_of: Option<Resolved>,
}

impl Unresolved {
    fn unknown(error: CmdError) -> Unresolved {
        Unresolved {
            error,
            arity_of: None,
        }
    }

    fn arity(spec: &'static CommandSpec, parent: Option<&'static CommandSpec>) -> Unresolved {
        Unresolved {
            error: CmdError::wrong_arity(&full_name(spec, parent)),
            arity_of: Some((spec, parent)),
        }
    }
}

/// Finds the command (and subcommand) and checks the arity.
fn resolve(srv: &Server, argv: &[Bytes]) -> Result<Resolved, Unresolved> {
    let Some(spec) = srv.commands.get(&argv[0]) else {
        return Err(Unresolved::unknown(unknown_command(argv)));
    };
    if spec.subcommands.is_empty() {
        if !spec.arity_ok(argv.len()) {
            return Err(Unresolved::arity(spec, None));
        }
        return Ok((spec, None));
    }
    if argv.len() < 2 {
        // A container with a handler of its own runs alone (COMMAND).
        if spec.handler.is_some() && spec.arity_ok(argv.len()) {
            return Ok((spec, None));
        }
        return Err(Unresolved::arity(spec, None));
    }
    let Some(sub) = spec.subcommand(&argv[1]) else {
        return Err(Unresolved::unknown(CmdError::new(format!(
            "ERR unknown subcommand '{}'. Try {} HELP.",
            truncate(&String::from_utf8_lossy(&argv[1]), 128),
            spec.name.to_ascii_uppercase()
        ))));
    };
    if !sub.arity_ok(argv.len()) {
        return Err(Unresolved::arity(sub, Some(spec)));
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
    // Redis formats with %.*s: an argument ends at its first NUL byte.
    let c_str = |b: &[u8]| -> String {
        let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
        String::from_utf8_lossy(&b[..end]).into_owned()
    };
    let mut args = String::new();
    for a in &argv[1..] {
        if args.len() >= 128 {
            break;
        }
        let room = 128 - args.len();
        args.push_str(&format!("'{}' ", truncate(&c_str(a), room)));
    }
    CmdError::new(format!(
        "ERR unknown command '{}', with args beginning with: {}",
        truncate(&c_str(&argv[0]), 128),
        args
    ))
}

/// The state gates, in Redis's `processCommand` order. A gate that looks at
/// write or deny-OOM flags must take them from `multi::effective_flags`, so
/// that EXEC carries those of its queued commands.
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
    if client.resp == 2
        && srv.pubsub.is_subscribed(client.id)
        && !pubsub::allowed_when_subscribed(parent.unwrap_or(spec).name)
    {
        return Err(CmdError::new(format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            full_name(spec, parent)
        )));
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
    if multi::refused_in_multi(client, spec) {
        return Err(CmdError::new(
            "ERR Command not allowed inside a transaction",
        ));
    }
    Ok(())
}

/// Whether CLIENT PAUSE holds this request back: it passed every gate and
/// the pause covers it. The connection keeps it and runs it on unpause.
pub fn must_postpone(srv: &Server, client: &Client, argv: &[Bytes]) -> bool {
    if srv.pause_until_ms == 0 {
        return false;
    }
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
    call(srv, client, spec, parent, argv).unwrap_or(Reply::NilArray)
}

/// Runs the handler with the clock set, then records statistics. None when
/// the handler blocked the client (statistics wait for it to be unblocked).
/// EXEC runs its queued commands through here too, so each is seen by
/// MONITOR, the slow log and the statistics as if sent alone.
pub fn call(
    srv: &mut Server,
    client: &mut Client,
    spec: &'static CommandSpec,
    parent: Option<&'static CommandSpec>,
    argv: Vec<Bytes>,
) -> Option<Reply> {
    let start = srv
        .call_clock
        .take()
        .unwrap_or_else(std::time::Instant::now);
    // The clock stands still for the commands of one EXEC or script, as in Redis.
    if !client.in_exec && !srv.scripting.clock_frozen() {
        srv.keyspace.set_now_ms(crate::clock::fast_now_ms(start));
    }
    let skip = if parent.is_some() { 2 } else { 1 };
    let mut args = Args::with_start(argv, skip);
    client.redacted.clear();
    // A plain command's name is static; only subcommands build "parent|sub".
    let name: std::borrow::Cow<'static, str> = match parent {
        None => std::borrow::Cow::Borrowed(spec.name),
        Some(_) => std::borrow::Cow::Owned(full_name(spec, parent)),
    };
    // Set before the call: CLIENT LIST shows the running command (EXEC
    // while it runs the queued ones, as Redis). The buffer is reused.
    if !client.in_exec {
        client.last_cmd.clear();
        client.last_cmd.push_str(&name);
    }
    let db = client.db;
    let dirty_before = srv.keyspace.shared.dirty;
    crate::propagate::before_call(srv);
    let result = match spec.handler {
        Some(h) => {
            let mut ctx = Ctx::new(srv, client);
            h(&mut ctx, &mut args)
        }
        None => Err(CmdError::syntax()),
    };
    let changed = srv.keyspace.shared.dirty != dirty_before;
    let is_write = spec.flags & (flags::WRITE | flags::MAY_REPLICATE) != 0;
    if srv.blocking.has_pending() {
        // Parked: it changed nothing yet; it runs again when served.
        crate::propagate::after_call(srv, db, is_write, false, args.argv());
        client.last_cmd = name.into_owned();
        client.last_interaction_ms = srv.keyspace.now_ms();
        crate::blocking::park(srv, client, args.into_argv());
        return None;
    }
    crate::propagate::after_call(srv, db, is_write, changed, args.argv());
    // Keyspace events reach subscribers before the reply (the caller's own
    // too, inside an EXEC reply as in Redis).
    pubsub::publish_keyspace_events(srv, Some(client));
    if crate::family::monitor::shown(spec) {
        crate::family::monitor::feed(srv, client, args.argv());
    }
    let end = std::time::Instant::now();
    let usec = end.saturating_duration_since(start).as_micros() as u64;
    srv.call_clock = Some(end);
    crate::introspect::after_call(srv, client, spec, &name, args.argv(), usec);
    client.last_interaction_ms = srv.keyspace.now_ms();
    if !srv.blocking.is_rerun() {
        srv.stats.total_commands_processed += 1;
    }
    // Handlers may also return an error as a reply (e.g. from a sub-call).
    let reply = result.unwrap_or_else(|e| Reply::Error(e.0));
    // One hash lookup on the hot path; the name is copied once per command.
    let stat = match srv.stats.commands.get_mut(&*name) {
        Some(stat) => stat,
        None => srv.stats.commands.entry(name.into_owned()).or_default(),
    };
    stat.calls += 1;
    stat.usec += usec;
    if let Reply::Error(msg) = &reply {
        stat.failed_calls += 1;
        count_error(srv, &CmdError(msg.clone()));
    }
    Some(reply)
}
