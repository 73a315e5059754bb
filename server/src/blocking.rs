//! Blocking commands (BLPOP, BLMOVE, BLMPOP, ...; generic so BZPOPMIN and
//! XREAD can use it): parking a client until a key it waits on can serve it,
//! its timeout passes, CLIENT UNBLOCK frees it, or it disconnects.
//!
//! Flow:
//! 1. A handler that finds nothing to serve calls `block(ctx, req)`. Dispatch
//!    sees the request right after the call and parks the client (`park`)
//!    instead of replying; the event loop stops running that client's input.
//! 2. The door queues every key it creates that some client waits on
//!    (`Shared::blocking_keys`) in `Shared::ready_keys`; commands that add to an existing
//!    value call `DbView::signal_ready`. After each top-level command (a whole
//!    MULTI/EXEC or script is one) the loop calls `serve_ready`: the clients
//!    blocked on each ready key are re-run, in arrival order, with the key as
//!    a hint (`ready_key`), so the first one takes the data. A re-run that
//!    finds nothing again keeps its place and its deadline.
//! 3. `expire` answers clients whose deadline passed with their timeout reply.
//!    Every unblocked client is queued (`take_unblocked`) so the loop resumes
//!    its pipelined input.
//!
//! Invariants:
//! - a client id is in `clients` iff it is in the queue of each of its keys
//!   (queues hold no duplicates and are never empty);
//! - `Shared::blocking_keys` counts, per key name, the databases with a queue
//!   for that name;
//! - `deadlines` holds exactly the finite deadlines of the clients in `clients`.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use bytes::Bytes;

use crate::client::{Client, ReplyMode};
use crate::commands::{CmdError, CmdResult};
use crate::ctx::Ctx;
use crate::resp::Reply;
use crate::server::Server;
use crate::util::float::LongDouble;
use strata_engine::ValueType;

/// What a handler asks for when it must wait.
pub struct BlockRequest {
    pub keys: Vec<Bytes>,
    /// Absolute deadline in Unix ms; 0 waits forever.
    pub deadline_ms: u64,
    /// Only a value of this type at a ready key can serve the client (Redis
    /// 7.0 leaves a BLPOP waiting when its key becomes, say, a string).
    pub wants: ValueType,
    /// The reply on timeout (Redis: a null array for lists, zsets, streams).
    pub timeout_reply: Reply,
}

struct Blocked {
    db: usize,
    keys: Vec<Bytes>,
    deadline_ms: u64,
    wants: ValueType,
    timeout_reply: Reply,
    /// The command to re-run when a key is ready.
    argv: Vec<Bytes>,
}

#[derive(Default)]
pub struct Blocking {
    clients: HashMap<u64, Blocked>,
    by_key: HashMap<(usize, Bytes), VecDeque<u64>>,
    deadlines: BTreeSet<(u64, u64)>,
    /// Set by `block` during a handler call; taken by `park`.
    pending: Option<BlockRequest>,
    /// (client, key) while a blocked client is being re-run for that key.
    serving: Option<(u64, Bytes)>,
    /// Set when a re-run client blocked again (it keeps its place).
    reblocked: bool,
    /// Clients unblocked since the loop last looked, whose input must resume.
    unblocked: Vec<u64>,
    /// While > 0 blocking commands answer at once as if timed out (EXEC and
    /// scripts raise it around their execution, like CLIENT_DENY_BLOCKING).
    pub deny: u32,
}

impl Blocking {
    pub fn is_blocked(&self, id: u64) -> bool {
        self.clients.contains_key(&id)
    }

    /// INFO clients `blocked_clients`.
    pub fn blocked_count(&self) -> usize {
        self.clients.len()
    }

    /// Blocked clients that will time out (INFO clients_in_timeout_table).
    pub fn timeout_count(&self) -> usize {
        self.deadlines.len()
    }

    /// Keys with at least one client waiting (INFO `total_blocking_keys`).
    pub fn blocking_keys(&self) -> usize {
        self.by_key.len()
    }

    /// The earliest deadline, for the event loop's poll timeout.
    pub fn next_deadline_ms(&self) -> Option<u64> {
        self.deadlines.first().map(|&(at, _)| at)
    }

    /// True while a parked client's command is being re-run.
    pub fn is_rerun(&self) -> bool {
        self.serving.is_some()
    }

    /// Whether the handler that just ran asked to block.
    pub fn has_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Clients to resume (their queued input runs next).
    pub fn take_unblocked(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.unblocked)
    }
}

/// Whether the calling client may block now (not in EXEC, a script, or a fake client).
pub fn can_block(ctx: &Ctx) -> bool {
    !ctx.client.fake && ctx.srv.blocking.deny == 0
}

/// Asks dispatch to park the caller. The returned reply is a placeholder the
/// client never sees. Call only when `can_block` is true.
pub fn block(ctx: &mut Ctx, req: BlockRequest) -> CmdResult {
    ctx.srv.blocking.pending = Some(req);
    Ok(Reply::NilArray)
}

/// During a re-run: the key that became ready (the handler serves from it
/// only, as Redis does); None on a normal call.
pub fn ready_key(ctx: &Ctx) -> Option<Bytes> {
    match &ctx.srv.blocking.serving {
        Some((id, key)) if *id == ctx.client.id => Some(key.clone()),
        _ => None,
    }
}

/// Parses a timeout in seconds (BLPOP and friends) into an absolute deadline
/// in ms (0 = forever), with Redis 7.0's errors and rounding (see
/// `timeout_ms`).
pub fn parse_timeout(arg: &[u8], now_ms: u64) -> Result<u64, CmdError> {
    let ms = timeout_ms(arg)?;
    if ms == 0 {
        return Ok(0);
    }
    Ok(now_ms.saturating_add(ms))
}

/// A timeout in seconds as Redis 7.0 reads it (getTimeoutFromObjectOrReply
/// with UNIT_SECONDS): a `long double`, times 1000, rounded up to whole
/// milliseconds; 0 = forever. Values whose C cast does not fit come out
/// "negative" as on x86-64.
pub fn timeout_ms(arg: &[u8]) -> Result<u64, CmdError> {
    let secs = LongDouble::parse(arg)
        .ok_or_else(|| CmdError::new("ERR timeout is not a float or out of range"))?;
    // -0.0001 s rounds up to 0, which waits forever.
    match secs.seconds_to_ms_ceil() {
        Some(ms) if ms >= 0 => Ok(ms as u64),
        _ => Err(CmdError::new("ERR timeout is negative")),
    }
}

/// Called by dispatch after a handler asked to block: registers the client
/// (or, for a re-run, leaves its registration as it was).
pub fn park(srv: &mut Server, client: &Client, argv: Vec<Bytes>) {
    let Some(req) = srv.blocking.pending.take() else {
        return;
    };
    let b = &mut srv.blocking;
    if b.clients.contains_key(&client.id) {
        b.reblocked = true;
        return;
    }
    let mut keys: Vec<Bytes> = Vec::with_capacity(req.keys.len());
    let mut seen = HashSet::new();
    for key in req.keys {
        if seen.insert(key.clone()) {
            let queue = b.by_key.entry((client.db, key.clone())).or_default();
            if queue.is_empty() {
                *srv.keyspace
                    .shared
                    .blocking_keys
                    .entry(key[..].into())
                    .or_insert(0) += 1;
            }
            queue.push_back(client.id);
            keys.push(key);
        }
    }
    if req.deadline_ms != 0 {
        b.deadlines.insert((req.deadline_ms, client.id));
    }
    b.clients.insert(
        client.id,
        Blocked {
            db: client.db,
            keys,
            deadline_ms: req.deadline_ms,
            wants: req.wants,
            timeout_reply: req.timeout_reply,
            argv,
        },
    );
}

/// Removes a client from every index; returns its record.
fn unregister(srv: &mut Server, id: u64) -> Option<Blocked> {
    let b = &mut srv.blocking;
    let blocked = b.clients.remove(&id)?;
    for key in &blocked.keys {
        let slot = (blocked.db, key.clone());
        if let Some(queue) = b.by_key.get_mut(&slot) {
            queue.retain(|&c| c != id);
            if queue.is_empty() {
                b.by_key.remove(&slot);
                let names = &mut srv.keyspace.shared.blocking_keys;
                if let Some(n) = names.get_mut(&key[..]) {
                    *n -= 1;
                    if *n == 0 {
                        names.remove(&key[..]);
                    }
                }
            }
        }
    }
    if blocked.deadline_ms != 0 {
        b.deadlines.remove(&(blocked.deadline_ms, id));
    }
    Some(blocked)
}

/// Serves clients blocked on the keys that became ready, until none is left
/// (a served BLMOVE may make its destination ready in turn).
pub fn serve_ready(srv: &mut Server) {
    while !srv.keyspace.shared.ready_keys.is_empty() {
        let ready = std::mem::take(&mut srv.keyspace.shared.ready_keys);
        if srv.blocking.clients.is_empty() {
            continue;
        }
        let mut seen = HashSet::new();
        for (db, key) in ready {
            if seen.insert((db, key.clone())) {
                serve_key(srv, db, Bytes::from(key.into_vec()));
            }
        }
    }
}

fn serve_key(srv: &mut Server, db: usize, key: Bytes) {
    let ids: Vec<u64> = match srv.blocking.by_key.get(&(db, key.clone())) {
        Some(queue) => queue.iter().copied().collect(),
        None => return,
    };
    for id in ids {
        let Some(blocked) = srv.blocking.clients.get(&id) else {
            continue;
        };
        let (wants, argv) = (blocked.wants, blocked.argv.clone());
        let servable = srv
            .keyspace
            .db(db)
            .peek(&key)
            .is_some_and(|e| e.value.value_type() == wants);
        if !servable {
            break;
        }
        let Some(mut conn) = srv.clients.remove(&id) else {
            continue;
        };
        srv.blocking.serving = Some((id, key.clone()));
        srv.blocking.reblocked = false;
        crate::dispatch::execute(srv, &mut conn.client, argv);
        srv.blocking.serving = None;
        if !std::mem::take(&mut srv.blocking.reblocked) {
            unregister(srv, id);
            srv.blocking.unblocked.push(id);
            srv.pending_writes.push(id);
        }
        srv.clients.insert(id, conn);
    }
}

/// How a client is released without data.
pub enum Release {
    Timeout,
    Error(&'static str),
}

/// Unblocks client `id` with its timeout reply or an error; false if it was
/// not blocked.
pub fn release(srv: &mut Server, id: u64, how: Release) -> bool {
    let Some(blocked) = unregister(srv, id) else {
        return false;
    };
    let reply = match how {
        Release::Timeout => blocked.timeout_reply,
        Release::Error(msg) => Reply::error(msg),
    };
    // Statistics: Redis counts the call when the client is unblocked.
    let name = blocked
        .argv
        .first()
        .and_then(|n| srv.commands.get(n))
        .map(|s| s.name.to_string());
    if let Some(name) = name {
        let stat = srv.stats.commands.entry(name).or_default();
        stat.calls += 1;
        if reply.is_error() {
            stat.failed_calls += 1;
        }
    }
    if let Reply::Error(msg) = &reply {
        srv.stats.total_error_replies += 1;
        let code = msg.split(' ').next().unwrap_or("ERR").to_string();
        *srv.stats.errors.entry(code).or_insert(0) += 1;
    }
    if let Some(conn) = srv.clients.get_mut(&id) {
        conn.client.reply(&reply);
        if conn.client.reply_mode == ReplyMode::Skip {
            conn.client.reply_mode = ReplyMode::On;
        }
        srv.pending_writes.push(id);
    }
    srv.blocking.unblocked.push(id);
    true
}

/// Answers every client whose deadline is at or before `now_ms`.
pub fn expire(srv: &mut Server, now_ms: u64) {
    while let Some(&(at, id)) = srv.blocking.deadlines.first() {
        if at > now_ms {
            break;
        }
        if !release(srv, id, Release::Timeout) {
            // Not registered (cannot happen by the invariant): drop the stale entry.
            srv.blocking.deadlines.remove(&(at, id));
        }
    }
}

/// The connection is gone: forget its wait.
pub fn client_closed(srv: &mut Server, id: u64) {
    unregister(srv, id);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_follow_redis_rounding_and_errors() {
        let now = 1_000_000;
        assert_eq!(parse_timeout(b"0", now), Ok(0));
        assert_eq!(parse_timeout(b"1", now), Ok(now + 1000));
        assert_eq!(
            parse_timeout(b"0.0001", now),
            Ok(now + 1),
            "rounded up to 1 ms"
        );
        assert_eq!(parse_timeout(b"1e-300", now), Ok(now + 1));
        assert_eq!(
            parse_timeout(b"-0.0001", now),
            Ok(0),
            "ceil(-0.1) is 0: forever"
        );
        assert_eq!(parse_timeout(b"0x10", now), Ok(now + 16_000));
        assert_eq!(
            parse_timeout(b"-1", now).unwrap_err().message(),
            "ERR timeout is negative"
        );
        assert_eq!(
            parse_timeout(b"1e30", now).unwrap_err().message(),
            "ERR timeout is negative"
        );
        assert_eq!(
            parse_timeout(b"inf", now).unwrap_err().message(),
            "ERR timeout is negative"
        );
        assert_eq!(
            parse_timeout(b"abc", now).unwrap_err().message(),
            "ERR timeout is not a float or out of range"
        );
        assert_eq!(
            parse_timeout(b"nan", now).unwrap_err().message(),
            "ERR timeout is not a float or out of range"
        );
        assert_eq!(
            parse_timeout(b" 1", now).unwrap_err().message(),
            "ERR timeout is not a float or out of range"
        );
    }
}
