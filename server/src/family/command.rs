//! COMMAND and its subcommands: COUNT, LIST, INFO, DOCS, GETKEYS,
//! GETKEYSANDFLAGS, HELP.
//!
//! INFO and DOCS are answered from the metadata generated from Redis 7.0.15
//! (`commands::meta`), restricted to what Strata implements: a command appears
//! only if it is in the command table, and a container lists only the
//! subcommands Strata has. A command Strata has but Redis lacks is described
//! from its own table row. GETKEYS interprets the key specs as Redis does and
//! falls back to the command-specific rules where the specs cannot tell.

use bytes::Bytes;

use crate::commands::meta_types::{Arg, BeginSearch, CommandMeta, FindKeys, KeySpec};
use crate::commands::{
    acl, flags, flags::*, meta_lookup, spec, Args, CmdError, CmdResult, CommandSpec, NO_KEYS,
};
use crate::ctx::Ctx;
use crate::resp::Reply;
use crate::server::Server;
use crate::util::glob::glob_match;

const SUBCOMMANDS: &[CommandSpec] = &[
    spec("count", 2, LOADING | STALE, acl::CONNECTION, NO_KEYS, count),
    spec("docs", -2, LOADING | STALE, acl::CONNECTION, NO_KEYS, docs),
    spec(
        "getkeys",
        -4,
        LOADING | STALE,
        acl::CONNECTION,
        NO_KEYS,
        getkeys,
    ),
    spec(
        "getkeysandflags",
        -4,
        LOADING | STALE,
        acl::CONNECTION,
        NO_KEYS,
        getkeysandflags,
    ),
    spec("help", 2, LOADING | STALE, acl::CONNECTION, NO_KEYS, help),
    spec("info", -2, LOADING | STALE, acl::CONNECTION, NO_KEYS, info),
    spec("list", -2, LOADING | STALE, acl::CONNECTION, NO_KEYS, list),
];

pub const COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "command",
    arity: -1,
    flags: LOADING | STALE,
    acl: acl::CONNECTION,
    keys: NO_KEYS,
    // COMMAND with no subcommand lists every command.
    handler: Some(all),
    subcommands: SUBCOMMANDS,
}];

/// Redis's `addReplyHelp`: the usage line, the given lines, then HELP.
pub fn help_reply(cmd: &str, lines: &[&str]) -> Reply {
    let mut out = Vec::with_capacity(lines.len() + 3);
    out.push(Reply::Status(
        format!("{cmd} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:").into(),
    ));
    for l in lines {
        out.push(Reply::Status((*l).to_string().into()));
    }
    out.push(Reply::status("HELP"));
    out.push(Reply::status("    Prints this help."));
    Reply::Array(out)
}

fn help(_ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    Ok(help_reply(
        "COMMAND",
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
        ],
    ))
}

/// A command Strata implements: its row and, for a subcommand, the container's.
#[derive(Clone, Copy)]
struct Implemented {
    spec: &'static CommandSpec,
    parent: Option<&'static CommandSpec>,
}

impl Implemented {
    fn full_name(&self) -> String {
        crate::dispatch::full_name(self.spec, self.parent)
    }

    fn meta(&self) -> Option<&'static CommandMeta> {
        meta_lookup(&self.full_name())
    }
}

/// `lookupCommandBySds`: "name" or "container|sub".
fn lookup_by_name(srv: &Server, name: &[u8]) -> Option<Implemented> {
    let mut parts = name.split(|&b| b == b'|');
    let base = srv.commands.get(parts.next()?)?;
    match (parts.next(), parts.next()) {
        (None, _) => Some(Implemented {
            spec: base,
            parent: None,
        }),
        (Some(sub), None) if !base.subcommands.is_empty() => {
            base.subcommand(sub).map(|s| Implemented {
                spec: s,
                parent: Some(base),
            })
        }
        _ => None,
    }
}

/// Top-level commands, sorted by name so replies are stable.
fn top_level(srv: &Server) -> Vec<&'static CommandSpec> {
    let mut v: Vec<_> = srv.commands.iter().collect();
    v.sort_by_key(|s| s.name);
    v
}

fn all(ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    let out = top_level(ctx.srv)
        .into_iter()
        .map(|s| {
            info_reply(Implemented {
                spec: s,
                parent: None,
            })
        })
        .collect();
    Ok(Reply::Array(out))
}

fn count(ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    Ok(Reply::Int(ctx.srv.commands.len() as i64))
}

fn info(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    if args.is_empty() {
        return all(ctx, args);
    }
    let out = args
        .rest()
        .iter()
        .map(|n| lookup_by_name(ctx.srv, n).map_or(Reply::Nil, info_reply))
        .collect();
    Ok(Reply::Array(out))
}

fn docs(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let cmds: Vec<Implemented> = if args.is_empty() {
        top_level(ctx.srv)
            .into_iter()
            .map(|s| Implemented {
                spec: s,
                parent: None,
            })
            .collect()
    } else {
        args.rest()
            .iter()
            .filter_map(|n| lookup_by_name(ctx.srv, n))
            .collect()
    };
    let out = cmds
        .into_iter()
        .map(|c| (Reply::bulk_str(&c.full_name()), docs_reply(c)))
        .collect();
    Ok(Reply::Map(out))
}

enum ListFilter {
    All,
    Module,
    AclCat(Option<u64>),
    Pattern(Bytes),
}

fn list(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let filter = if args.is_empty() {
        ListFilter::All
    } else {
        if !args.eat("filterby") || args.remaining() != 2 {
            return Err(CmdError::syntax());
        }
        let kind = args.next()?;
        let arg = args.next()?;
        if kind.eq_ignore_ascii_case(b"module") {
            ListFilter::Module
        } else if kind.eq_ignore_ascii_case(b"aclcat") {
            let cat = acl::NAMES
                .iter()
                .find(|(_, n)| n.as_bytes().eq_ignore_ascii_case(&arg))
                .map(|(bit, _)| *bit);
            ListFilter::AclCat(cat)
        } else if kind.eq_ignore_ascii_case(b"pattern") {
            ListFilter::Pattern(arg)
        } else {
            return Err(CmdError::syntax());
        }
    };
    let mut out = Vec::new();
    for spec in top_level(ctx.srv) {
        let mut cmds = vec![Implemented { spec, parent: None }];
        cmds.extend(spec.subcommands.iter().map(|s| Implemented {
            spec: s,
            parent: Some(spec),
        }));
        for c in cmds {
            let name = c.full_name();
            let keep = match &filter {
                ListFilter::All => true,
                // Strata has no modules.
                ListFilter::Module => false,
                ListFilter::AclCat(None) => false,
                ListFilter::AclCat(Some(bit)) => c.spec.acl_categories() & bit != 0,
                ListFilter::Pattern(p) => glob_match(p, name.as_bytes(), true),
            };
            if keep {
                out.push(Reply::bulk_str(&name));
            }
        }
    }
    Ok(Reply::Array(out))
}

// ---------------------------------------------------------------- COMMAND INFO

fn status_set(items: &[&'static str]) -> Reply {
    Reply::Set(
        items
            .iter()
            .map(|s| Reply::Status(std::borrow::Cow::Borrowed(*s)))
            .collect(),
    )
}

fn info_reply(c: Implemented) -> Reply {
    let subs: Vec<Reply> = c
        .spec
        .subcommands
        .iter()
        .map(|s| {
            info_reply(Implemented {
                spec: s,
                parent: Some(c.spec),
            })
        })
        .collect();
    let Some(m) = c.meta() else {
        return info_from_spec(c, subs);
    };
    Reply::Array(vec![
        Reply::bulk_str(m.name),
        Reply::Int(m.arity as i64),
        status_set(m.flags),
        Reply::Int(m.first_key as i64),
        Reply::Int(m.last_key as i64),
        Reply::Int(m.key_step as i64),
        status_set(m.acl_categories),
        Reply::Set(m.tips.iter().map(|t| Reply::bulk_str(t)).collect()),
        Reply::Set(m.key_specs.iter().map(key_spec_reply).collect()),
        subcommands_reply(subs),
    ])
}

/// COMMAND INFO for a command Redis does not have: described by its own row.
fn info_from_spec(c: Implemented, subs: Vec<Reply>) -> Reply {
    let s = c.spec;
    let flag_names: Vec<&str> = flags::NAMES
        .iter()
        .filter(|(b, _)| s.flags & b != 0)
        .map(|(_, n)| *n)
        .collect();
    let cats = s.acl_categories();
    let acl_names: Vec<String> = acl::NAMES
        .iter()
        .filter(|(b, _)| cats & b != 0)
        .map(|(_, n)| format!("@{n}"))
        .collect();
    Reply::Array(vec![
        Reply::bulk_str(&c.full_name()),
        Reply::Int(s.arity as i64),
        status_set(&flag_names),
        Reply::Int(s.keys.first as i64),
        Reply::Int(s.keys.last as i64),
        Reply::Int(s.keys.step as i64),
        Reply::Set(
            acl_names
                .into_iter()
                .map(|n| Reply::Status(n.into()))
                .collect(),
        ),
        Reply::Set(vec![]),
        Reply::Set(vec![]),
        subcommands_reply(subs),
    ])
}

/// Redis replies an empty set when there are no subcommands, an array otherwise.
fn subcommands_reply(subs: Vec<Reply>) -> Reply {
    if subs.is_empty() {
        Reply::Set(subs)
    } else {
        Reply::Array(subs)
    }
}

fn kv(k: &'static str, v: Reply) -> (Reply, Reply) {
    (Reply::bulk_str(k), v)
}

fn key_spec_reply(ks: &KeySpec) -> Reply {
    let mut m = Vec::with_capacity(4);
    if let Some(n) = ks.notes {
        m.push(kv("notes", Reply::bulk_str(n)));
    }
    m.push(kv("flags", status_set(ks.flags)));
    let bs = match ks.begin_search {
        BeginSearch::Index(i) => {
            vec![
                kv("type", Reply::bulk_str("index")),
                kv("spec", Reply::Map(vec![kv("index", Reply::Int(i as i64))])),
            ]
        }
        BeginSearch::Keyword { keyword, startfrom } => vec![
            kv("type", Reply::bulk_str("keyword")),
            kv(
                "spec",
                Reply::Map(vec![
                    kv("keyword", Reply::bulk_str(keyword)),
                    kv("startfrom", Reply::Int(startfrom as i64)),
                ]),
            ),
        ],
        BeginSearch::Unknown => vec![
            kv("type", Reply::bulk_str("unknown")),
            kv("spec", Reply::Map(vec![])),
        ],
    };
    m.push(kv("begin_search", Reply::Map(bs)));
    let fk = match ks.find_keys {
        FindKeys::Range {
            lastkey,
            keystep,
            limit,
        } => vec![
            kv("type", Reply::bulk_str("range")),
            kv(
                "spec",
                Reply::Map(vec![
                    kv("lastkey", Reply::Int(lastkey as i64)),
                    kv("keystep", Reply::Int(keystep as i64)),
                    kv("limit", Reply::Int(limit as i64)),
                ]),
            ),
        ],
        FindKeys::Keynum {
            keynumidx,
            firstkey,
            keystep,
        } => vec![
            kv("type", Reply::bulk_str("keynum")),
            kv(
                "spec",
                Reply::Map(vec![
                    kv("keynumidx", Reply::Int(keynumidx as i64)),
                    kv("firstkey", Reply::Int(firstkey as i64)),
                    kv("keystep", Reply::Int(keystep as i64)),
                ]),
            ),
        ],
        FindKeys::Unknown => vec![
            kv("type", Reply::bulk_str("unknown")),
            kv("spec", Reply::Map(vec![])),
        ],
    };
    m.push(kv("find_keys", Reply::Map(fk)));
    Reply::Map(m)
}

// ---------------------------------------------------------------- COMMAND DOCS

fn docs_reply(c: Implemented) -> Reply {
    let mut m = Vec::new();
    match c.meta() {
        Some(meta) => {
            let d = &meta.doc;
            m.push(kv("summary", Reply::bulk_str(d.summary)));
            m.push(kv("since", Reply::bulk_str(d.since)));
            m.push(kv("group", Reply::bulk_str(d.group)));
            if let Some(x) = d.complexity {
                m.push(kv("complexity", Reply::bulk_str(x)));
            }
            if !d.doc_flags.is_empty() {
                m.push(kv("doc_flags", status_set(d.doc_flags)));
            }
            if let Some(x) = d.deprecated_since {
                m.push(kv("deprecated_since", Reply::bulk_str(x)));
            }
            if let Some(x) = d.replaced_by {
                m.push(kv("replaced_by", Reply::bulk_str(x)));
            }
            if !d.history.is_empty() {
                let h = d
                    .history
                    .iter()
                    .map(|(v, what)| Reply::Array(vec![Reply::bulk_str(v), Reply::bulk_str(what)]));
                m.push(kv("history", Reply::Set(h.collect())));
            }
            if !d.arguments.is_empty() {
                m.push(kv(
                    "arguments",
                    Reply::Array(d.arguments.iter().map(arg_reply).collect()),
                ));
            }
        }
        None => {
            // Redis fills these for any command that has no docs of its own.
            m.push(kv("summary", Reply::bulk_str("")));
            m.push(kv("since", Reply::bulk_str("")));
            m.push(kv("group", Reply::bulk_str("server")));
        }
    }
    if !c.spec.subcommands.is_empty() {
        let subs = c.spec.subcommands.iter().map(|s| {
            let sub = Implemented {
                spec: s,
                parent: Some(c.spec),
            };
            (Reply::bulk_str(&sub.full_name()), docs_reply(sub))
        });
        m.push(kv("subcommands", Reply::Map(subs.collect())));
    }
    Reply::Map(m)
}

fn arg_reply(a: &Arg) -> Reply {
    let mut m = vec![
        kv("name", Reply::bulk_str(a.name)),
        kv("type", Reply::bulk_str(a.kind)),
    ];
    if let Some(x) = a.display_text {
        m.push(kv("display_text", Reply::bulk_str(x)));
    }
    if a.key_spec_index >= 0 {
        m.push(kv("key_spec_index", Reply::Int(a.key_spec_index as i64)));
    }
    if let Some(x) = a.token {
        m.push(kv("token", Reply::bulk_str(x)));
    }
    if let Some(x) = a.summary {
        m.push(kv("summary", Reply::bulk_str(x)));
    }
    if let Some(x) = a.since {
        m.push(kv("since", Reply::bulk_str(x)));
    }
    if let Some(x) = a.deprecated_since {
        m.push(kv("deprecated_since", Reply::bulk_str(x)));
    }
    if !a.flags.is_empty() {
        m.push(kv("flags", status_set(a.flags)));
    }
    if !a.arguments.is_empty() {
        m.push(kv(
            "arguments",
            Reply::Array(a.arguments.iter().map(arg_reply).collect()),
        ));
    }
    Reply::Map(m)
}

// ------------------------------------------------------------- COMMAND GETKEYS

fn getkeys(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    getkeys_impl(ctx, args, false)
}

fn getkeysandflags(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    getkeys_impl(ctx, args, true)
}

/// `lookupCommand` on a full command line: a container with a known
/// subcommand resolves to it, a container alone to itself.
fn lookup_argv(srv: &Server, argv: &[Bytes]) -> Option<Implemented> {
    let base = srv.commands.get(argv.first()?)?;
    if base.subcommands.is_empty() || argv.len() == 1 {
        return Some(Implemented {
            spec: base,
            parent: None,
        });
    }
    base.subcommand(&argv[1]).map(|s| Implemented {
        spec: s,
        parent: Some(base),
    })
}

fn getkeys_impl(ctx: &mut Ctx, args: &mut Args, with_flags: bool) -> CmdResult {
    let argv = args.rest();
    let Some(cmd) = lookup_argv(ctx.srv, &argv) else {
        return Err(CmdError::new("ERR Invalid command specified"));
    };
    let meta = cmd.meta();
    let has_keys = match meta {
        Some(m) => {
            m.key_specs.iter().any(|k| !k.flags.contains(&"not_key"))
                || m.flags.contains(&"movablekeys")
        }
        None => cmd.spec.keys.first > 0,
    };
    if !has_keys {
        return Err(CmdError::new("ERR The command has no key arguments"));
    }
    if !cmd.spec.arity_ok(argv.len()) {
        return Err(CmdError::new(
            "ERR Invalid number of arguments specified for command",
        ));
    }
    let keys = match meta {
        Some(m) => keys_of(m, cmd.spec.arity, &argv),
        None => legacy_keys(cmd.spec, &argv),
    };
    if keys.is_empty() {
        if cmd.spec.has(flags::NO_MANDATORY_KEYS)
            || meta.is_some_and(|m| m.flags.contains(&"no_mandatory_keys"))
        {
            return Ok(Reply::Array(vec![]));
        }
        return Err(CmdError::new("ERR Invalid arguments specified for command"));
    }
    let out = keys
        .into_iter()
        .map(|(pos, fl)| {
            let key = Reply::Bulk(argv[pos].clone());
            if with_flags {
                Reply::Array(vec![key, status_set(fl)])
            } else {
                key
            }
        })
        .collect();
    Ok(Reply::Array(out))
}

/// A key's position in argv and its key-spec flags.
pub type KeyRef = (usize, &'static [&'static str]);

/// The keys of a full command line (`argv[0]` is the command name).
pub fn keys_of(m: &CommandMeta, arity: i32, argv: &[Bytes]) -> Vec<KeyRef> {
    let reliable = !m
        .key_specs
        .iter()
        .any(|k| k.flags.contains(&"variable_flags") || k.flags.contains(&"incomplete"));
    if reliable {
        if let Some(keys) = keys_from_specs(m.key_specs, arity, argv) {
            return keys;
        }
    }
    keys_by_rule(m.name, argv)
}

/// `getKeysUsingKeySpecs`; None when a spec cannot answer (unknown search,
/// bad key count, keys past the end).
fn keys_from_specs(specs: &'static [KeySpec], arity: i32, argv: &[Bytes]) -> Option<Vec<KeyRef>> {
    let argc = argv.len() as i64;
    let mut out = Vec::new();
    for ks in specs {
        let first: i64 = match ks.begin_search {
            BeginSearch::Index(i) => i as i64,
            BeginSearch::Keyword { keyword, startfrom } => {
                let found = if startfrom >= 0 {
                    (startfrom as i64..argc)
                        .find(|&i| argv[i as usize].eq_ignore_ascii_case(keyword.as_bytes()))
                } else {
                    (1..=argc + startfrom as i64)
                        .rev()
                        .find(|&i| argv[i as usize].eq_ignore_ascii_case(keyword.as_bytes()))
                };
                match found {
                    Some(i) => i + 1,
                    // The keyword is optional: this spec has no keys here.
                    None => continue,
                }
            }
            BeginSearch::Unknown => return None,
        };
        let (first, last, step) = match ks.find_keys {
            FindKeys::Range {
                lastkey,
                keystep,
                limit,
            } => {
                let last = if lastkey >= 0 {
                    first + lastkey as i64
                } else if limit <= 1 {
                    argc + lastkey as i64
                } else {
                    first + ((argc - first) / limit as i64 + lastkey as i64)
                };
                (first, last, keystep as i64)
            }
            FindKeys::Keynum {
                keynumidx,
                firstkey,
                keystep,
            } => {
                let idx = first + keynumidx as i64;
                if idx >= argc {
                    return None;
                }
                let n = std::str::from_utf8(&argv[idx as usize])
                    .ok()?
                    .parse::<i64>()
                    .ok()?;
                if n < 0 {
                    return None;
                }
                let start = first + firstkey as i64;
                let step = keystep as i64;
                let last = start + (n - 1) * step;
                if last >= argc {
                    return None;
                }
                (start, last, step)
            }
            FindKeys::Unknown => return None,
        };
        if step <= 0 {
            return None;
        }
        let mut i = first;
        while i <= last {
            if i >= argc || i < 1 {
                // Only variadic commands get here (the arity was checked).
                if arity < 0 {
                    i += step;
                    continue;
                }
                return None;
            }
            out.push((i as usize, ks.flags));
            i += step;
        }
    }
    Some(out)
}

const FLAGS_RO: &[&str] = &["RO", "access"];
const FLAGS_OW: &[&str] = &["OW", "update"];
const FLAGS_RW_UPDATE: &[&str] = &["RW", "access", "update"];
const FLAGS_RW_DELETE: &[&str] = &["RW", "access", "delete"];

/// The command-specific key rules Redis uses where key specs are not enough
/// (its `getkeys_proc`s). Commands whose specs only fail on bad input (a key
/// count past the end) have no keys then.
fn keys_by_rule(name: &str, argv: &[Bytes]) -> Vec<KeyRef> {
    let argc = argv.len();
    let is = |i: usize, w: &str| {
        argv.get(i)
            .is_some_and(|a| a.eq_ignore_ascii_case(w.as_bytes()))
    };
    match name {
        "sort" | "sort_ro" => {
            let mut out = vec![(1, FLAGS_RO)];
            if name == "sort" {
                let mut store = None;
                let mut i = 2;
                while i < argc {
                    if is(i, "limit") {
                        i += 2;
                    } else if is(i, "get") || is(i, "by") {
                        i += 1;
                    } else if is(i, "store") && i + 1 < argc {
                        store = Some(i + 1);
                        i += 1;
                    }
                    i += 1;
                }
                if let Some(s) = store {
                    out.push((s, FLAGS_OW));
                }
            }
            out
        }
        "migrate" => {
            // MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH pw]
            // [AUTH2 user pw] [KEYS key ...]: KEYS needs the empty key slot.
            let (mut first, mut num) = (3, 1);
            let mut i = 6;
            while i < argc {
                if is(i, "keys") {
                    if argv.get(3).is_some_and(|a| !a.is_empty()) {
                        return Vec::new();
                    }
                    if argc > i + 1 {
                        first = i + 1;
                        num = argc - first;
                    }
                    break;
                } else if is(i, "auth") {
                    i += 1;
                } else if is(i, "auth2") {
                    i += 2;
                }
                i += 1;
            }
            (first..first + num)
                .filter(|&i| i < argc)
                .map(|i| (i, FLAGS_RW_DELETE))
                .collect()
        }
        "georadius" | "georadiusbymember" => {
            let mut out = vec![(1, FLAGS_RO)];
            let mut store = None;
            let mut i = 5;
            while i < argc {
                if (is(i, "store") || is(i, "storedist")) && i + 1 < argc {
                    store = Some(i + 1);
                    i += 1;
                }
                i += 1;
            }
            if let Some(s) = store {
                out.push((s, FLAGS_OW));
            }
            out
        }
        "set" => {
            let get = (3..argc).any(|i| is(i, "get"));
            vec![(1, if get { FLAGS_RW_UPDATE } else { FLAGS_OW })]
        }
        "bitfield" => {
            let mut write = false;
            let mut i = 2;
            while i < argc {
                if is(i, "get") {
                    i += 3;
                } else if is(i, "set") || is(i, "incrby") {
                    write = true;
                    i += 4;
                } else if is(i, "overflow") {
                    i += 2;
                } else {
                    i += 1;
                }
            }
            vec![(1, if write { FLAGS_RW_UPDATE } else { FLAGS_RO })]
        }
        _ => Vec::new(),
    }
}

/// Keys from a row's legacy (first, last, step) for commands without metadata.
fn legacy_keys(spec: &CommandSpec, argv: &[Bytes]) -> Vec<KeyRef> {
    let k = spec.keys;
    if k.first <= 0 || k.step <= 0 {
        return Vec::new();
    }
    let argc = argv.len() as i32;
    let last = if k.last < 0 { argc + k.last } else { k.last };
    (k.first..=last.min(argc - 1))
        .step_by(k.step as usize)
        .map(|i| (i as usize, FLAGS_RW_UPDATE))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::meta_lookup;

    fn argv(s: &str) -> Vec<Bytes> {
        s.split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    fn keys(cmd: &str, line: &str) -> Vec<(String, Vec<&'static str>)> {
        let m = meta_lookup(cmd).expect("meta");
        let a = argv(line);
        keys_of(m, m.arity, &a)
            .into_iter()
            .map(|(p, f)| (String::from_utf8_lossy(&a[p]).into_owned(), f.to_vec()))
            .collect()
    }

    #[test]
    fn key_specs_find_keys() {
        assert_eq!(
            keys("get", "get a"),
            vec![("a".into(), vec!["RO", "access"])]
        );
        assert_eq!(keys("mset", "mset a 1 b 2").len(), 2);
        assert_eq!(keys("zunionstore", "zunionstore d 2 a b").len(), 3);
        assert!(keys("zunionstore", "zunionstore d 2 a").is_empty());
        assert!(keys("zunionstore", "zunionstore d x a").is_empty());
        assert_eq!(keys("xread", "xread count 1 streams a b 0 0").len(), 2);
    }

    #[test]
    fn fallback_rules() {
        assert_eq!(
            keys("set", "set a b get"),
            vec![("a".into(), vec!["RW", "access", "update"])]
        );
        assert_eq!(
            keys("set", "set a b"),
            vec![("a".into(), vec!["OW", "update"])]
        );
        let sort = keys("sort", "sort a by x get y store z");
        assert_eq!(
            sort,
            vec![
                ("a".into(), vec!["RO", "access"]),
                ("z".into(), vec!["OW", "update"])
            ]
        );
        assert_eq!(
            keys("migrate", "migrate h p k 0 5"),
            vec![("k".into(), vec!["RW", "access", "delete"])]
        );
        assert_eq!(
            keys("bitfield", "bitfield a get u8 0")[0].1,
            vec!["RO", "access"]
        );
    }

    fn run3(line: &str) -> Vec<u8> {
        let mut srv = crate::server::Server::new(crate::config::Config::default());
        let mut client = crate::client::Client::new(1, 0);
        client.resp = 3;
        let argv = line
            .split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        crate::dispatch::execute(&mut srv, &mut client, argv);
        client.out
    }

    /// RESP3 replies captured from redis-server 7.0.15.
    #[test]
    fn resp3_replies_match_redis() {
        let info = b"*2\r\n*10\r\n$3\r\nget\r\n:2\r\n~2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n~3\r\n+@read\r\n+@string\r\n+@fast\r\n~0\r\n~1\r\n%3\r\n$5\r\nflags\r\n~2\r\n+RO\r\n+access\r\n$12\r\nbegin_search\r\n%2\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n%1\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n%2\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n%3\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n~0\r\n_\r\n";
        assert_eq!(
            String::from_utf8_lossy(&run3("COMMAND INFO get nosuch")),
            String::from_utf8_lossy(info)
        );
        let docs = b"%2\r\n$3\r\nget\r\n%5\r\n$7\r\nsummary\r\n$22\r\nGet the value of a key\r\n$5\r\nsince\r\n$5\r\n1.0.0\r\n$5\r\ngroup\r\n$6\r\nstring\r\n$10\r\ncomplexity\r\n$4\r\nO(1)\r\n$9\r\narguments\r\n*1\r\n%3\r\n$4\r\nname\r\n$3\r\nkey\r\n$4\r\ntype\r\n$3\r\nkey\r\n$14\r\nkey_spec_index\r\n:0\r\n$11\r\nslowlog|get\r\n%6\r\n$7\r\nsummary\r\n$26\r\nGet the slow log's entries\r\n$5\r\nsince\r\n$6\r\n2.2.12\r\n$5\r\ngroup\r\n$6\r\nserver\r\n$10\r\ncomplexity\r\n$46\r\nO(N) where N is the number of entries returned\r\n$7\r\nhistory\r\n~1\r\n*2\r\n$5\r\n4.0.0\r\n$52\r\nAdded client IP address, port and name to the reply.\r\n$9\r\narguments\r\n*1\r\n%3\r\n$4\r\nname\r\n$5\r\ncount\r\n$4\r\ntype\r\n$7\r\ninteger\r\n$5\r\nflags\r\n~1\r\n+optional\r\n";
        assert_eq!(
            String::from_utf8_lossy(&run3("COMMAND DOCS get slowlog|get")),
            String::from_utf8_lossy(docs)
        );
        assert_eq!(
            run3("COMMAND GETKEYSANDFLAGS set a b"),
            b"*1\r\n*2\r\n$1\r\na\r\n~2\r\n+OW\r\n+update\r\n"
        );
        assert_eq!(
            run3("INFO cluster"),
            b"=34\r\ntxt:# Cluster\r\ncluster_enabled:0\r\n\r\n"
        );
    }

    /// Every row of the command table agrees with Redis's metadata: arity,
    /// flags (movablekeys is derived, so left out), legacy key positions and
    /// ACL categories.
    #[test]
    fn table_rows_agree_with_redis_metadata() {
        let table = crate::commands::CommandTable::new();
        let mut problems = Vec::new();
        let mut check = |spec: &CommandSpec, parent: Option<&CommandSpec>| {
            let name = crate::dispatch::full_name(spec, parent);
            let Some(m) = meta_lookup(&name) else { return };
            let ours: Vec<&str> = flags::NAMES
                .iter()
                // COMMAND does not show MAY_REPLICATE (PFCOUNT, PUBLISH,
                // SPUBLISH have it in Redis's command table).
                .filter(|(b, n)| {
                    spec.flags & b != 0 && *n != "movablekeys" && *n != "may_replicate"
                })
                .map(|(_, n)| *n)
                .collect();
            let theirs: Vec<&str> = m
                .flags
                .iter()
                .copied()
                .filter(|n| *n != "movablekeys")
                .collect();
            if spec.arity != m.arity {
                problems.push(format!("{name}: arity {} vs redis {}", spec.arity, m.arity));
            }
            if ours != theirs {
                problems.push(format!("{name}: flags {ours:?} vs redis {theirs:?}"));
            }
            let k = spec.keys;
            if (k.first, k.last, k.step) != (m.first_key, m.last_key, m.key_step) {
                problems.push(format!(
                    "{name}: keys ({}, {}, {}) vs redis ({}, {}, {})",
                    k.first, k.last, k.step, m.first_key, m.last_key, m.key_step
                ));
            }
            let cats = spec.acl_categories();
            let ours: Vec<String> = acl::NAMES
                .iter()
                .filter(|(b, _)| cats & b != 0)
                .map(|(_, n)| format!("@{n}"))
                .collect();
            if ours != m.acl_categories {
                problems.push(format!(
                    "{name}: acl {ours:?} vs redis {:?}",
                    m.acl_categories
                ));
            }
        };
        for spec in table.iter() {
            check(spec, None);
            for sub in spec.subcommands {
                check(sub, Some(spec));
            }
        }
        assert!(
            problems.is_empty(),
            "command table disagrees with Redis 7.0.15:\n{}",
            problems.join("\n")
        );
    }
}
