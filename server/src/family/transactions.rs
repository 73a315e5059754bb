//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! Queueing happens in dispatch (after the gates, so a refused command dooms
//! the transaction); this file starts and ends transactions and runs the
//! queue. State and the WATCH registry live in `crate::multi`.
//!
//! Invariants:
//! - EXEC runs every queued command through `dispatch::call`, one after the
//!   other with nothing in between (one executor thread), so MONITOR, the
//!   slow log and the statistics see each; an error in one does not stop
//!   the others and nothing is rolled back.
//! - EXEC writes its array header, then each reply as its command finishes:
//!   messages published to the client meanwhile (keyspace events, PUBLISH to
//!   itself) land between the elements as they do in Redis.
//! - Every path out of EXEC or DISCARD leaves the client with no
//!   transaction and no WATCHed key.

use crate::client::ReplyMode;
use crate::commands::{acl, flags::*, keys, spec, Args, CmdError, CmdResult, CommandSpec, NO_KEYS};
use crate::ctx::Ctx;
use crate::dispatch;
use crate::multi::{MultiState, EXECABORT};
use crate::resp::Reply;

const TX: u64 = NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY;

pub const COMMANDS: &[CommandSpec] = &[
    spec("multi", 1, TX, acl::TRANSACTION, NO_KEYS, multi),
    spec(
        "exec",
        1,
        NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG,
        acl::TRANSACTION,
        NO_KEYS,
        exec,
    ),
    spec("discard", 1, TX, acl::TRANSACTION, NO_KEYS, discard),
    spec("watch", -2, TX, acl::TRANSACTION, keys(1, -1, 1), watch),
    spec("unwatch", 1, TX, acl::TRANSACTION, NO_KEYS, unwatch),
];

fn multi(ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CmdError::new("ERR MULTI calls can not be nested"));
    }
    ctx.client.multi = Some(Box::<MultiState>::default());
    Ok(Reply::OK)
}

fn discard(ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    if ctx.client.multi.take().is_none() {
        return Err(CmdError::new("ERR DISCARD without MULTI"));
    }
    ctx.srv
        .watches
        .unwatch_all(&mut ctx.srv.keyspace, ctx.client.id);
    Ok(Reply::OK)
}

fn watch(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CmdError::new("ERR WATCH inside MULTI is not allowed"));
    }
    let id = ctx.client.id;
    // A dirty client's EXEC fails anyway: no point watching more.
    if ctx.srv.watches.is_dirty(id) {
        return Ok(Reply::OK);
    }
    let db = ctx.client.db;
    for key in args.rest() {
        ctx.srv.watches.watch(&mut ctx.srv.keyspace, id, db, &key);
    }
    Ok(Reply::OK)
}

fn unwatch(ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    ctx.srv
        .watches
        .unwatch_all(&mut ctx.srv.keyspace, ctx.client.id);
    Ok(Reply::OK)
}

fn exec(ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    let Some(mut state) = ctx.client.multi.take() else {
        return Err(CmdError::new("ERR EXEC without MULTI"));
    };
    let id = ctx.client.id;
    let watches_failed = ctx.srv.watches.exec_fails(&mut ctx.srv.keyspace, id);
    ctx.srv.watches.unwatch_all(&mut ctx.srv.keyspace, id);
    if state.aborted {
        return Err(CmdError::new(EXECABORT));
    }
    if watches_failed {
        return Ok(Reply::NilArray);
    }
    let queue = std::mem::take(&mut state.queue);
    // Still shown as in a transaction while it runs (CLIENT LIST multi=N).
    ctx.client.multi = Some(state);
    let replying = ctx.client.reply_mode == ReplyMode::On;
    if replying {
        ctx.client
            .out
            .extend_from_slice(format!("*{}\r\n", queue.len()).as_bytes());
    }
    ctx.client.in_exec = true;
    // Blocking commands answer at once inside EXEC (CLIENT_DENY_BLOCKING).
    ctx.srv.blocking.deny += 1;
    let deny_before = ctx.client.deny_blocking;
    ctx.client.deny_blocking = true;
    for q in queue {
        let reply = dispatch::call(ctx.srv, ctx.client, q.spec, q.parent, q.argv)
            .unwrap_or(crate::resp::Reply::NilArray);
        if !replying {
            continue;
        }
        if ctx.client.reply_mode == ReplyMode::Skip {
            // The command wrote its own frames (SUBSCRIBE and friends).
            ctx.client.reply_mode = ReplyMode::On;
        } else {
            reply.encode(ctx.client.resp, &mut ctx.client.out);
        }
    }
    ctx.client.in_exec = false;
    ctx.srv.blocking.deny -= 1;
    ctx.client.deny_blocking = deny_before;
    ctx.client.multi = None;
    ctx.client.out_peak = ctx.client.out_peak.max(ctx.client.out.len());
    dispatch::reply_written(ctx.client);
    Ok(Reply::OK)
}
