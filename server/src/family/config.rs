//! CONFIG GET / SET / RESETSTAT / REWRITE / HELP, and the run-time effects
//! of a changed directive.
//!
//! CONFIG SET is atomic: every name is checked first (unknown, immutable,
//! protected, loading, duplicate), then all values are parsed into a copy of
//! the configuration; only when every one parsed does the copy replace the
//! live one and the run-time effects run. If an effect fails, the previous
//! configuration comes back and its effects are applied again.

use std::borrow::Cow;

use bytes::Bytes;

use crate::commands::{container, flags::*, spec, Args, CmdError, CmdResult, CommandSpec, NO_KEYS};
use crate::config::table::{self, flags as cf, Found};
use crate::config::{rewrite, Config, SetMode};
use crate::ctx::Ctx;
use crate::resp::Reply;
use crate::server::Server;
use crate::{log_notice, log_warning};

const SUBCOMMANDS: &[CommandSpec] = &[
    spec(
        "get",
        -3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        0,
        NO_KEYS,
        config_get,
    ),
    spec(
        "set",
        -4,
        ADMIN | NOSCRIPT | LOADING | STALE,
        0,
        NO_KEYS,
        config_set,
    ),
    spec(
        "resetstat",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        0,
        NO_KEYS,
        config_resetstat,
    ),
    spec(
        "rewrite",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        0,
        NO_KEYS,
        config_rewrite,
    ),
    spec("help", 2, LOADING | STALE, 0, NO_KEYS, config_help),
];

pub const COMMANDS: &[CommandSpec] = &[container("config", -2, 0, 0, SUBCOMMANDS)];

/// File descriptors Redis keeps for itself beyond `maxclients`.
pub const RESERVED_FDS: u64 = 32;

fn has_glob(pattern: &[u8]) -> bool {
    pattern.iter().any(|c| matches!(c, b'[' | b'*' | b'?'))
}

/// `CONFIG GET pattern [pattern ...]`: an exact name (alias or hidden
/// included) or a glob over visible names; each name once, keyed as matched.
fn config_get(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let mut matches: Vec<(Bytes, usize)> = Vec::new();
    let seen =
        |m: &[(Bytes, usize)], name: &[u8]| m.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    for pattern in args.rest() {
        if !has_glob(&pattern) {
            if seen(&matches, &pattern) {
                continue;
            }
            if let Some(f) = table::lookup(&pattern) {
                matches.push((pattern, f.idx));
            }
            continue;
        }
        for f in table::all_names() {
            if f.directive().has(cf::HIDDEN) || seen(&matches, f.name.as_bytes()) {
                continue;
            }
            if crate::util::glob::glob_match(&pattern, f.name.as_bytes(), true) {
                matches.push((Bytes::from_static(f.name.as_bytes()), f.idx));
            }
        }
    }
    let config = &ctx.srv.config;
    Ok(Reply::Map(
        matches
            .into_iter()
            .map(|(k, idx)| (Reply::Bulk(k), Reply::Bulk(Bytes::from(config.get(idx)))))
            .collect(),
    ))
}

/// Whether this client may change a protected directive.
fn protected_allowed(config: &Config, client: &crate::client::Client) -> bool {
    match config.enable_protected_configs.as_str() {
        "yes" => true,
        "local" => client.unix_socket || is_loopback(&client.addr),
        _ => false,
    }
}

fn is_loopback(addr: &str) -> bool {
    let host = match addr.rfind(':') {
        Some(i) => &addr[..i],
        None => addr,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

fn set_failed(name: &str, reason: &str) -> CmdError {
    CmdError::new(format!(
        "ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}"
    ))
}

/// Redis's `sdssplitlen(value, " ")`: single spaces separate, so two spaces
/// make an empty argument; an empty value has no arguments.
fn split_spaces(v: &[u8]) -> Vec<&[u8]> {
    if v.is_empty() {
        return Vec::new();
    }
    v.split(|&c| c == b' ').collect()
}

/// `CONFIG SET name value [name value ...]`.
fn config_set(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let argv = args.rest();
    if !argv.len().is_multiple_of(2) {
        return Err(CmdError::syntax());
    }
    let mut unknown: Option<&Bytes> = None;
    let mut refused: Option<(&Bytes, &'static str)> = None;
    let mut deny_loading = false;
    let mut chosen: Vec<(Found, &Bytes)> = Vec::with_capacity(argv.len() / 2);
    for pair in argv.chunks(2) {
        let (name, value) = (&pair[0], &pair[1]);
        let Some(found) = table::lookup(name) else {
            if unknown.is_none() && refused.is_none() && !deny_loading {
                unknown = Some(name);
            }
            continue;
        };
        if unknown.is_some() || refused.is_some() || deny_loading {
            continue;
        }
        let d = found.directive();
        if d.has(cf::IMMUTABLE) {
            refused = Some((name, "can't set immutable config"));
            continue;
        }
        if d.has(cf::PROTECTED) && !protected_allowed(&ctx.srv.config, ctx.client) {
            refused = Some((name, "can't set protected config"));
            continue;
        }
        if ctx.srv.loading && d.has(cf::DENY_LOADING) {
            deny_loading = true;
            continue;
        }
        // The same name twice (an alias and its directive count as two).
        if chosen
            .iter()
            .any(|(f, _)| f.idx == found.idx && f.is_alias == found.is_alias)
        {
            refused = Some((name, "duplicate parameter"));
            continue;
        }
        chosen.push((found, value));
    }
    if deny_loading {
        return Err(CmdError::new(
            "LOADING Redis is loading the dataset in memory",
        ));
    }
    if let Some(name) = unknown {
        return Err(CmdError::new(format!(
            "ERR Unknown option or number of arguments for CONFIG SET - '{}'",
            String::from_utf8_lossy(name)
        )));
    }
    if let Some((name, reason)) = refused {
        return Err(set_failed(&String::from_utf8_lossy(name), reason));
    }

    let old_dir = std::env::current_dir().ok();
    let mut new = ctx.srv.config.clone();
    let mut changed: Vec<&'static str> = Vec::new();
    for (found, value) in &chosen {
        let d = found.directive();
        let values: Vec<&[u8]> = if d.has(cf::MULTI_ARG) {
            split_spaces(value)
        } else {
            vec![&value[..]]
        };
        match new.set(found.idx, &values, SetMode::Runtime) {
            Ok(true) => {
                if !changed.contains(&d.name) {
                    changed.push(d.name);
                }
            }
            Ok(false) => {}
            Err(e) => {
                // `dir` changes directory as it is set: go back.
                if let Some(dir) = &old_dir {
                    let _ = std::env::set_current_dir(dir);
                }
                return Err(set_failed(found.name, &e));
            }
        }
    }
    let old = std::mem::replace(&mut ctx.srv.config, new);
    if let Err((name, reason)) = apply(ctx.srv, &changed, Some(&old)) {
        log_warning!("Failed applying new configuration. Possibly related to new {name} setting. Restoring previous settings.");
        ctx.srv.config = old;
        ctx.srv.new_tcp_listeners = None;
        if let Some(dir) = &old_dir {
            let _ = std::env::set_current_dir(dir);
        }
        let _ = apply(ctx.srv, &changed, None);
        return Err(set_failed(name, &reason));
    }
    Ok(Reply::OK)
}

/// Makes the running server follow its configuration for the directives in
/// `changed` (all of them at start-up). `before` is the configuration being
/// replaced, when there is one.
pub fn apply(
    srv: &mut Server,
    changed: &[&'static str],
    before: Option<&Config>,
) -> Result<(), (&'static str, Cow<'static, str>)> {
    let mut listeners_bound = false;
    for &name in changed {
        match name {
            "port" | "bind" => {
                if let Some(old) = before {
                    // Port and bind together need one set of listeners.
                    if !listeners_bound
                        && (old.port != srv.config.port || old.bind != srv.config.bind)
                    {
                        listeners_bound = true;
                        let listeners =
                            bind_tcp(&srv.config.bind, srv.config.port).map_err(|e| {
                                log_warning!("Could not listen on the new {name}: {e}");
                                let reason = if name == "port" {
                                    "Unable to listen on this port"
                                } else {
                                    "Failed to bind to specified addresses."
                                };
                                (name, Cow::Borrowed(reason))
                            })?;
                        srv.new_tcp_listeners = Some(listeners);
                    }
                }
            }
            "maxclients" => {
                if let Err(possible) = adjust_open_files_limit(srv.config.maxclients as u64) {
                    if before.is_some() {
                        return Err((name, format!("The operating system is not able to handle the specified number of clients, try with {possible}").into()));
                    }
                }
            }
            "loglevel" => {
                let level = crate::log::Level::parse(&srv.config.loglevel)
                    .unwrap_or(crate::log::Level::Notice);
                crate::log::configure(level, &srv.config.logfile);
            }
            "maxmemory" => {
                let max = srv.config.maxmemory_bytes;
                let used = allocated_bytes();
                if before.is_some() && max != 0 && max < used {
                    log_warning!("WARNING: the new maxmemory value set via CONFIG SET ({max}) is smaller than the current memory usage ({used}). This will result in key eviction and/or the inability to accept new write commands depending on the maxmemory-policy.");
                }
            }
            _ => {}
        }
    }
    sync_keyspace(srv);
    crate::hooks::config_changed(srv, changed).map_err(|(n, e)| (n, Cow::Owned(e)))
}

/// Start-up: the command table takes the config file's renames and the
/// keyspace takes its settings.
pub fn on_start(srv: &mut Server) {
    for (old, new) in srv.config.rename_commands.clone() {
        srv.commands.rename(&old, &new);
    }
    sync_keyspace(srv);
}

/// Binds TCP listeners for `bind` on `port` (port 0: none), non-blocking.
/// An optional address ("-" prefix, or IPv6 as at start-up) may fail.
///
/// The new sockets are bound before the event loop closes the old ones, so
/// an address that overlaps a current one on the same port is refused
/// (Redis closes first); a new port never overlaps.
pub fn bind_tcp(bind: &[String], port: u16) -> std::io::Result<Vec<std::net::TcpListener>> {
    let mut out = Vec::new();
    if port == 0 {
        return Ok(out);
    }
    for b in bind {
        let optional = b.starts_with('-');
        for addr in crate::net::bind_addrs(std::slice::from_ref(b), port) {
            match std::net::TcpListener::bind(addr) {
                Ok(l) => {
                    l.set_nonblocking(true)?;
                    out.push(l);
                }
                Err(e) if optional || addr.is_ipv6() => {
                    crate::log_verbose!("Could not bind {addr}: {e}")
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(out)
}

/// Copies the settings the keyspace reads into its shared state.
pub fn sync_keyspace(srv: &mut Server) {
    let shared = &mut srv.keyspace.shared;
    shared.notify_flags = srv.config.notify_keyspace_events;
    shared.lfu = srv.config.maxmemory_policy.ends_with("-lfu");
    shared.lfu_log_factor = srv.config.lfu_log_factor;
    shared.lfu_decay_time_min = srv.config.lfu_decay_time_min;
    // The collection encoding limits apply from the next write on, as in
    // Redis (existing values keep their encoding until they change).
    shared.encodings = srv.config.encodings();
}

/// Bytes the allocator has handed out (what INFO calls used_memory).
fn allocated_bytes() -> u64 {
    let _ = tikv_jemalloc_ctl::epoch::advance();
    tikv_jemalloc_ctl::stats::allocated::read().map_or(0, |b| b as u64)
}

/// Makes sure the process may open `maxclients` + reserved descriptors,
/// raising the soft limit if needed. Err: how many clients it can serve.
pub fn adjust_open_files_limit(maxclients: u64) -> Result<(), u64> {
    let wanted = maxclients.saturating_add(RESERVED_FDS);
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read or write the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Ok(()); // Cannot tell: Redis assumes the limit is fine.
    }
    if lim.rlim_cur >= wanted as libc::rlim_t {
        return Ok(());
    }
    let raised = libc::rlimit {
        rlim_cur: wanted as libc::rlim_t,
        rlim_max: lim.rlim_max.max(wanted as libc::rlim_t),
    };
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
        return Ok(());
    }
    let capped = libc::rlimit {
        rlim_cur: lim.rlim_max,
        rlim_max: lim.rlim_max,
    };
    let best = if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &capped) } == 0 {
        lim.rlim_max
    } else {
        lim.rlim_cur
    };
    Err((best as u64).saturating_sub(RESERVED_FDS).max(1))
}

/// `CONFIG RESETSTAT`: the counters INFO reports start again from zero.
fn config_resetstat(ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    reset_stats(ctx.srv);
    Ok(Reply::OK)
}

pub fn reset_stats(srv: &mut Server) {
    srv.stats = Default::default();
    srv.stats.ops_last_ms = crate::clock::now_ms();
    srv.keyspace.shared.stats = Default::default();
    crate::hooks::config_resetstat(srv);
}

/// `CONFIG REWRITE`.
fn config_rewrite(ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    let Some(path) = ctx.srv.config.config_file.clone() else {
        return Err(CmdError::new(
            "ERR The server is running without a config file",
        ));
    };
    let users = crate::hooks::config_rewrite_users(ctx.srv);
    match rewrite::rewrite_file(&path, &ctx.srv.config, users) {
        Ok(()) => {
            log_notice!("CONFIG REWRITE executed with success.");
            Ok(Reply::OK)
        }
        Err(e) => {
            let reason = crate::config::parse::strerror(&e);
            log_warning!("CONFIG REWRITE failed: {reason}");
            Err(CmdError::new(format!(
                "ERR Rewriting config file: {reason}"
            )))
        }
    }
}

fn config_help(_ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    const LINES: &[&str] = &[
        "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET <pattern>",
        "    Return parameters matching the glob-like <pattern> and their values.",
        "SET <directive> <value>",
        "    Set the configuration <directive> to <value>.",
        "RESETSTAT",
        "    Reset statistics reported by the INFO command.",
        "REWRITE",
        "    Rewrite the configuration file.",
        "HELP",
        "    Prints this help.",
    ];
    Ok(Reply::Array(
        LINES.iter().map(|l| Reply::status(l)).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Client;

    fn run(srv: &mut Server, client: &mut Client, words: &[&str]) -> Reply {
        let argv: Vec<Bytes> = words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        let mut ctx = Ctx::new(srv, client);
        let handler = match words[1].to_ascii_lowercase().as_str() {
            "get" => config_get,
            "set" => config_set,
            "resetstat" => config_resetstat,
            "rewrite" => config_rewrite,
            _ => config_help,
        };
        let mut args = Args::with_start(argv, 2);
        handler(&mut ctx, &mut args).unwrap_or_else(|e| Reply::Error(e.0))
    }

    fn setup() -> (Server, Client) {
        (Server::new(Config::default()), Client::new(1, 0))
    }

    fn err(r: Reply) -> String {
        match r {
            Reply::Error(e) => e.into_owned(),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    fn pairs(r: Reply) -> Vec<(String, String)> {
        let Reply::Map(m) = r else { panic!("{r:?}") };
        m.into_iter()
            .map(|(k, v)| match (k, v) {
                (Reply::Bulk(k), Reply::Bulk(v)) => (
                    String::from_utf8(k.to_vec()).unwrap(),
                    String::from_utf8(v.to_vec()).unwrap(),
                ),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn get_exact_alias_hidden_and_patterns() {
        let (mut srv, mut c) = setup();
        assert_eq!(
            pairs(run(
                &mut srv,
                &mut c,
                &["config", "get", "MAXMEMORY", "maxmemory"]
            )),
            vec![("MAXMEMORY".into(), "0".into())]
        );
        assert_eq!(
            pairs(run(&mut srv, &mut c, &["config", "get", "slaveof"])),
            vec![("slaveof".into(), "".into())]
        );
        assert_eq!(
            pairs(run(
                &mut srv,
                &mut c,
                &["config", "get", "rdb-key-save-delay"]
            ))
            .len(),
            1
        );
        assert!(pairs(run(&mut srv, &mut c, &["config", "get", "rdb-key*"])).is_empty());
        assert!(pairs(run(&mut srv, &mut c, &["config", "get", "nothing"])).is_empty());
        let all = pairs(run(&mut srv, &mut c, &["config", "get", "*"]));
        assert_eq!(all.len(), 192);
        let mm = pairs(run(
            &mut srv,
            &mut c,
            &["config", "get", "MAXMEM*", "maxmemory"],
        ));
        assert_eq!(mm.len(), 5);
        let slave = pairs(run(&mut srv, &mut c, &["config", "get", "slave*"]));
        assert_eq!(slave.len(), 8);
    }

    #[test]
    fn set_errors_in_redis_order() {
        let (mut srv, mut c) = setup();
        assert_eq!(
            err(run(&mut srv, &mut c, &["config", "set", "hz", "1", "2"])),
            "ERR syntax error"
        );
        assert_eq!(
            err(run(
                &mut srv,
                &mut c,
                &["config", "set", "bogus", "2", "databases", "1"]
            )),
            "ERR Unknown option or number of arguments for CONFIG SET - 'bogus'"
        );
        assert_eq!(
            err(run(&mut srv, &mut c, &["config", "set", "databases", "1", "bogus", "2"])),
            "ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config"
        );
        assert_eq!(err(run(&mut srv, &mut c, &["config", "set", "dir", "/tmp"])), "ERR CONFIG SET failed (possibly related to argument 'dir') - can't set protected config");
        assert_eq!(
            err(run(&mut srv, &mut c, &["config", "set", "MAXMEMORY", "1", "maxmemory", "2"])),
            "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - duplicate parameter"
        );
        assert_eq!(
            err(run(&mut srv, &mut c, &["config", "set", "Maxmemory-Policy", "bogus"])),
            "ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction"
        );
        assert_eq!(
            err(run(&mut srv, &mut c, &["config", "set", "SLAVE-READ-ONLY", "maybe"])),
            "ERR CONFIG SET failed (possibly related to argument 'slave-read-only') - argument must be 'yes' or 'no'"
        );
        assert_eq!(
            run(
                &mut srv,
                &mut c,
                &[
                    "config",
                    "set",
                    "slave-read-only",
                    "yes",
                    "replica-read-only",
                    "yes"
                ]
            ),
            Reply::OK
        );
    }

    #[test]
    fn set_is_all_or_nothing() {
        let (mut srv, mut c) = setup();
        assert!(run(
            &mut srv,
            &mut c,
            &[
                "config",
                "set",
                "maxmemory",
                "1mb",
                "maxmemory-policy",
                "bad"
            ]
        )
        .is_error());
        assert_eq!(srv.config.maxmemory_bytes, 0);
        assert_eq!(
            run(
                &mut srv,
                &mut c,
                &[
                    "config",
                    "set",
                    "maxmemory",
                    "1mb",
                    "maxmemory-policy",
                    "allkeys-lfu"
                ]
            ),
            Reply::OK
        );
        assert_eq!(srv.config.maxmemory_bytes, 1 << 20);
        assert!(srv.keyspace.shared.lfu);
    }

    #[test]
    fn runtime_effects() {
        let (mut srv, mut c) = setup();
        run(
            &mut srv,
            &mut c,
            &[
                "config",
                "set",
                "notify-keyspace-events",
                "KEA",
                "lfu-log-factor",
                "3",
                "lfu-decay-time",
                "7",
            ],
        );
        assert_eq!(
            srv.keyspace.shared.notify_flags,
            strata_engine::notify::parse_flags(b"KEA").unwrap()
        );
        assert_eq!(srv.keyspace.shared.lfu_log_factor, 3);
        assert_eq!(srv.keyspace.shared.lfu_decay_time_min, 7);
        assert_eq!(
            pairs(run(
                &mut srv,
                &mut c,
                &["config", "get", "notify-keyspace-events"]
            ))[0]
                .1,
            "AKE"
        );
        run(&mut srv, &mut c, &["config", "set", "requirepass", "pw"]);
        assert_eq!(srv.config.requirepass.as_deref(), Some(&b"pw"[..]));
        assert!(
            c.authenticated,
            "the client that set the password stays authenticated"
        );
        let port = srv.config.port.to_string();
        assert_eq!(
            run(&mut srv, &mut c, &["config", "set", "port", &port]),
            Reply::OK
        );
        // A port another socket holds cannot be taken: the old value stays.
        let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let taken = holder.local_addr().unwrap().port().to_string();
        srv.config.set_by_name("bind", &[b"127.0.0.1"]).unwrap();
        assert_eq!(
            err(run(&mut srv, &mut c, &["config", "set", "port", &taken])),
            "ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on this port"
        );
        assert_eq!(srv.config.port, 6379);
        assert!(srv.new_tcp_listeners.is_none());
        // A free port is bound at once and handed to the event loop.
        drop(holder);
        assert_eq!(
            run(&mut srv, &mut c, &["config", "set", "port", &taken]),
            Reply::OK
        );
        assert_eq!(srv.new_tcp_listeners.as_ref().map(|l| l.len()), Some(1));
    }

    #[test]
    fn protected_local() {
        let (mut srv, mut c) = setup();
        srv.config = crate::config::load::parse_text(b"enable-protected-configs local\n").unwrap();
        c.addr = "10.1.2.3:5000".into();
        assert!(run(&mut srv, &mut c, &["config", "set", "dbfilename", "x.rdb"]).is_error());
        c.addr = "127.0.0.1:5000".into();
        assert_eq!(
            run(&mut srv, &mut c, &["config", "set", "dbfilename", "x.rdb"]),
            Reply::OK
        );
        assert_eq!(srv.config.dbfilename, "x.rdb");
    }

    #[test]
    fn rewrite_needs_a_file_and_resetstat_clears() {
        let (mut srv, mut c) = setup();
        assert_eq!(
            err(run(&mut srv, &mut c, &["config", "rewrite"])),
            "ERR The server is running without a config file"
        );
        srv.stats.total_commands_processed = 9;
        srv.keyspace.shared.stats.hits = 4;
        assert_eq!(run(&mut srv, &mut c, &["config", "resetstat"]), Reply::OK);
        assert_eq!(srv.stats.total_commands_processed, 0);
        assert_eq!(srv.keyspace.shared.stats.hits, 0);
    }
}
