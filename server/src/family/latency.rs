//! LATENCY LATEST | HISTORY | RESET | DOCTOR | GRAPH | HISTOGRAM | HELP, over
//! `introspect.latency` (spikes) and `introspect.histograms` (per command).

use bytes::Bytes;

use crate::commands::{
    acl, container, flags::*, spec, Args, CmdError, CmdResult, CommandSpec, NO_KEYS,
};
use crate::ctx::Ctx;
use crate::family::command::help_reply;
use crate::introspect::{Histogram, HIST_HIGHEST_NS};
use crate::resp::Reply;

const SUBCOMMANDS: &[CommandSpec] = &[
    spec(
        "doctor",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        0,
        NO_KEYS,
        doctor,
    ),
    spec(
        "graph",
        3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        0,
        NO_KEYS,
        graph,
    ),
    spec("help", 2, LOADING | STALE, 0, NO_KEYS, help),
    spec(
        "histogram",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        0,
        NO_KEYS,
        histogram,
    ),
    spec(
        "history",
        3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        0,
        NO_KEYS,
        history,
    ),
    spec(
        "latest",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        0,
        NO_KEYS,
        latest,
    ),
    spec(
        "reset",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        0,
        NO_KEYS,
        reset,
    ),
];

pub const COMMANDS: &[CommandSpec] = &[container("latency", -2, 0, acl::SLOW, SUBCOMMANDS)];

/// The first histogram bucket LATENCY HISTOGRAM reports, in nanoseconds.
const CDF_FIRST_BUCKET_NS: u64 = 1024;

fn help(_ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    Ok(help_reply(
        "LATENCY",
        &[
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
        ],
    ))
}

fn now_s() -> u64 {
    crate::clock::now_ms() / 1000
}

fn latest(ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    let out = ctx
        .srv
        .introspect
        .latency
        .iter()
        .filter_map(|(name, s)| {
            let last = s.samples.back()?;
            Some(Reply::Array(vec![
                Reply::bulk_str(name),
                Reply::Int(last.time_s as i64),
                Reply::Int(last.latency_ms as i64),
                Reply::Int(s.max_ms as i64),
            ]))
        })
        .collect();
    Ok(Reply::Array(out))
}

fn history(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let event = args.next()?;
    let name = String::from_utf8_lossy(&event);
    let out = match ctx.srv.introspect.latency.get(&name) {
        None => Vec::new(),
        Some(s) => s
            .samples
            .iter()
            .map(|x| {
                Reply::Array(vec![
                    Reply::Int(x.time_s as i64),
                    Reply::Int(x.latency_ms as i64),
                ])
            })
            .collect(),
    };
    Ok(Reply::Array(out))
}

fn reset(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let lat = &mut ctx.srv.introspect.latency;
    if args.is_empty() {
        return Ok(Reply::Int(lat.reset_all() as i64));
    }
    let n = args
        .rest()
        .iter()
        .filter(|e| lat.reset(&String::from_utf8_lossy(e)))
        .count();
    Ok(Reply::Int(n as i64))
}

fn doctor(ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    let cfg = &ctx.srv.config;
    let text = ctx.srv.introspect.latency.doctor(
        now_s(),
        cfg.latency_monitor_threshold_ms,
        cfg.slowlog_log_slower_than_us,
    );
    Ok(Reply::Verbatim("txt", Bytes::from(text)))
}

fn graph(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let event = args.next()?;
    let name = String::from_utf8_lossy(&event).into_owned();
    match ctx.srv.introspect.latency.graph(&name, now_s()) {
        Some(text) => Ok(Reply::Verbatim("txt", Bytes::from(text))),
        None => Err(CmdError::new(format!(
            "ERR No samples available for event '{name}'"
        ))),
    }
}

/// `{calls, histogram_usec: {bucket_usec: cumulative count}}` for one command.
fn cdf_reply(calls: u64, h: &Histogram) -> Reply {
    let mut buckets = Vec::new();
    let mut level = CDF_FIRST_BUCKET_NS;
    let mut previous = 0;
    loop {
        let (upper, cumulative) = h.cumulative_at(level);
        if cumulative > previous {
            buckets.push((
                Reply::Int((upper / 1000) as i64),
                Reply::Int(cumulative as i64),
            ));
        }
        previous = cumulative;
        if cumulative >= h.total() || level > HIST_HIGHEST_NS {
            break;
        }
        level *= 2;
    }
    Reply::Map(vec![
        (Reply::bulk_str("calls"), Reply::Int(calls as i64)),
        (Reply::bulk_str("histogram_usec"), Reply::Map(buckets)),
    ])
}

fn histogram(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let srv = &*ctx.srv;
    let mut names: Vec<String> = if args.is_empty() {
        srv.introspect.histograms.keys().cloned().collect()
    } else {
        args.rest()
            .iter()
            .map(|n| String::from_utf8_lossy(n).to_ascii_lowercase())
            .collect()
    };
    names.sort();
    names.dedup();
    let mut out = Vec::new();
    for name in names {
        let calls = srv.stats.commands.get(&name).map_or(0, |s| s.calls);
        if let Some(h) = srv.introspect.histograms.get(&name) {
            if calls > 0 && !h.is_empty() {
                out.push((Reply::bulk_str(&name), cdf_reply(calls, h)));
            }
        }
    }
    Ok(Reply::Map(out))
}
