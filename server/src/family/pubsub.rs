//! Pub/sub commands: (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PUBLISH, SPUBLISH
//! and PUBSUB introspection. State and delivery live in `crate::pubsub`.
//!
//! Subscribe and unsubscribe answer with one frame per channel (an array in
//! RESP2, a push in RESP3), written by the handler itself; the RESP2
//! subscribed-context rule is a dispatch gate.

use bytes::Bytes;

use crate::commands::{
    container, flags::*, keys, spec, Args, CmdError, CmdResult, CommandSpec, NO_KEYS,
};
use crate::ctx::Ctx;
use crate::dispatch;
use crate::family::client::help_reply;
use crate::pubsub::{self, Kind};
use crate::resp::Reply;

const SUBSCRIBING: u64 = PUBSUB | NOSCRIPT | LOADING | STALE;
const INTROSPECT: u64 = PUBSUB | LOADING | STALE;

pub const COMMANDS: &[CommandSpec] = &[
    spec("subscribe", -2, SUBSCRIBING, 0, NO_KEYS, subscribe),
    spec("unsubscribe", -1, SUBSCRIBING, 0, NO_KEYS, unsubscribe),
    spec("psubscribe", -2, SUBSCRIBING, 0, NO_KEYS, psubscribe),
    spec("punsubscribe", -1, SUBSCRIBING, 0, NO_KEYS, punsubscribe),
    spec("ssubscribe", -2, SUBSCRIBING, 0, keys(1, -1, 1), ssubscribe),
    spec(
        "sunsubscribe",
        -1,
        SUBSCRIBING,
        0,
        keys(1, -1, 1),
        sunsubscribe,
    ),
    spec(
        "publish",
        3,
        INTROSPECT | FAST | MAY_REPLICATE,
        0,
        NO_KEYS,
        publish,
    ),
    spec(
        "spublish",
        3,
        INTROSPECT | FAST | MAY_REPLICATE,
        0,
        keys(1, 1, 1),
        spublish,
    ),
    container("pubsub", -2, 0, 0, SUBCOMMANDS),
];

const SUBCOMMANDS: &[CommandSpec] = &[
    spec("channels", -2, INTROSPECT, 0, NO_KEYS, channels),
    spec("numsub", -2, INTROSPECT, 0, NO_KEYS, numsub),
    spec("numpat", 2, INTROSPECT, 0, NO_KEYS, numpat),
    spec("shardchannels", -2, INTROSPECT, 0, NO_KEYS, shardchannels),
    spec("shardnumsub", -2, INTROSPECT, 0, NO_KEYS, shardnumsub),
    spec("help", 2, LOADING | STALE, 0, NO_KEYS, help),
];

const HELP: &[&str] = &[
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Prints this help.",
];

/// One subscribe/unsubscribe confirmation: [kind, channel or nil, count].
fn confirm(ctx: &mut Ctx, what: &'static str, channel: Option<Bytes>, count: usize) {
    ctx.client.push(&Reply::Push(vec![
        Reply::bulk_str(what),
        channel.map_or(Reply::Nil, Reply::Bulk),
        Reply::Int(count as i64),
    ]));
}

fn subscribe_generic(ctx: &mut Ctx, args: &mut Args, kind: Kind) -> CmdResult {
    let id = ctx.client.id;
    for name in args.rest() {
        ctx.srv.pubsub.subscribe(id, kind, &name);
        let count = ctx.srv.pubsub.reply_count(id, kind);
        confirm(ctx, kind.subscribe_name(), Some(name), count);
    }
    dispatch::reply_written(ctx.client);
    Ok(Reply::OK)
}

fn unsubscribe_generic(ctx: &mut Ctx, args: &mut Args, kind: Kind) -> CmdResult {
    let id = ctx.client.id;
    let mut names = args.rest();
    if names.is_empty() {
        names = ctx.srv.pubsub.subscriptions(id, kind);
        if names.is_empty() {
            let count = ctx.srv.pubsub.reply_count(id, kind);
            confirm(ctx, kind.unsubscribe_name(), None, count);
        }
    }
    for name in names {
        ctx.srv.pubsub.unsubscribe(id, kind, &name);
        let count = ctx.srv.pubsub.reply_count(id, kind);
        confirm(ctx, kind.unsubscribe_name(), Some(name), count);
    }
    dispatch::reply_written(ctx.client);
    Ok(Reply::OK)
}

fn subscribe(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    subscribe_generic(ctx, args, Kind::Channel)
}

fn psubscribe(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    subscribe_generic(ctx, args, Kind::Pattern)
}

fn ssubscribe(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    subscribe_generic(ctx, args, Kind::Shard)
}

fn unsubscribe(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    unsubscribe_generic(ctx, args, Kind::Channel)
}

fn punsubscribe(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    unsubscribe_generic(ctx, args, Kind::Pattern)
}

fn sunsubscribe(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    unsubscribe_generic(ctx, args, Kind::Shard)
}

fn publish_generic(ctx: &mut Ctx, args: &mut Args, shard: bool) -> CmdResult {
    let channel = args.next()?;
    let message = args.next()?;
    let n = pubsub::publish(ctx.srv, Some(ctx.client), shard, &channel, &message);
    Ok(Reply::Int(n as i64))
}

fn publish(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    publish_generic(ctx, args, false)
}

fn spublish(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    publish_generic(ctx, args, true)
}

/// Redis's `addReplySubcommandSyntaxError`, naming the subcommand as typed.
fn subcommand_syntax(args: &Args) -> CmdError {
    let sub = args
        .argv()
        .get(1)
        .map(|b| {
            String::from_utf8_lossy(b)
                .chars()
                .take(128)
                .collect::<String>()
        })
        .unwrap_or_default();
    CmdError::new(format!(
        "ERR unknown subcommand or wrong number of arguments for '{sub}'. Try PUBSUB HELP."
    ))
}

fn channels_generic(ctx: &mut Ctx, args: &mut Args, shard: bool) -> CmdResult {
    if args.remaining() > 1 {
        return Err(subcommand_syntax(args));
    }
    let pattern = args.next_opt();
    let names = ctx.srv.pubsub.channel_names(shard, pattern.as_deref());
    Ok(Reply::Array(names.into_iter().map(Reply::Bulk).collect()))
}

fn numsub_generic(ctx: &mut Ctx, args: &mut Args, shard: bool) -> CmdResult {
    // A flat array in RESP3 too, as Redis 7.0 (a channel may repeat).
    let mut out = Vec::new();
    for channel in args.rest() {
        let n = ctx.srv.pubsub.subscribers(shard, &channel);
        out.push(Reply::Bulk(channel));
        out.push(Reply::Int(n as i64));
    }
    Ok(Reply::Array(out))
}

fn channels(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    channels_generic(ctx, args, false)
}

fn shardchannels(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    channels_generic(ctx, args, true)
}

fn numsub(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    numsub_generic(ctx, args, false)
}

fn shardnumsub(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    numsub_generic(ctx, args, true)
}

fn numpat(ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    Ok(Reply::Int(ctx.srv.pubsub.pattern_count() as i64))
}

fn help(_ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    Ok(help_reply(HELP))
}
