//! CLIENT: the connection's own settings (ID, SETNAME, GETNAME, REPLY,
//! NO-EVICT, tracking info) and the management of every connection (LIST,
//! INFO, KILL, PAUSE, UNPAUSE, UNBLOCK), plus the output buffer limits.
//!
//! Invariants:
//! - The client running a command is not in `srv.clients` while it runs
//!   (net.rs takes it out), so every walk over the clients adds `ctx.client`
//!   at its place in id order.
//! - Handlers never close sockets: a killed client is marked `close_asap` and
//!   queued in `srv.pending_writes`, where the event loop closes it before
//!   it reads or writes anything else; killing oneself is `close_after_reply`.
//! - A pause only ever escalates (WRITE to ALL) and extends until UNPAUSE or
//!   its end; while it lasts, keys are neither expired nor evicted.

use std::fmt::Write as _;

use bytes::Bytes;

use crate::client::{Client, ClientKind, ClientState, ReplyMode, REPLY_BUF_BYTES};
use crate::commands::{
    acl, container, flags, flags::*, spec, Args, CmdError, CmdResult, CommandSpec, NO_KEYS,
};
use crate::config::{OBUF_NORMAL, OBUF_PUBSUB, OBUF_REPLICA};
use crate::ctx::Ctx;
use crate::resp::Reply;
use crate::server::Server;
use crate::{hooks, log_warning};
use strata_engine::value::parse_i64_strict;

const SUB: u64 = NOSCRIPT | LOADING | STALE;

pub const COMMANDS: &[CommandSpec] = &[container("client", -2, 0, 0, SUBCOMMANDS)];

const SUBCOMMANDS: &[CommandSpec] = &[
    spec("id", 2, SUB, acl::CONNECTION, NO_KEYS, id),
    spec("info", 2, SUB, acl::CONNECTION, NO_KEYS, info),
    spec("list", -2, ADMIN | SUB, acl::CONNECTION, NO_KEYS, list),
    spec("kill", -3, ADMIN | SUB, acl::CONNECTION, NO_KEYS, kill),
    spec("setname", 3, SUB, acl::CONNECTION, NO_KEYS, setname),
    spec("getname", 2, SUB, acl::CONNECTION, NO_KEYS, getname),
    spec("pause", -3, ADMIN | SUB, acl::CONNECTION, NO_KEYS, pause),
    spec("unpause", 2, ADMIN | SUB, acl::CONNECTION, NO_KEYS, unpause),
    spec(
        "unblock",
        -3,
        ADMIN | SUB,
        acl::CONNECTION,
        NO_KEYS,
        unblock,
    ),
    spec("reply", 3, SUB, acl::CONNECTION, NO_KEYS, reply),
    spec(
        "no-evict",
        3,
        ADMIN | SUB,
        acl::CONNECTION,
        NO_KEYS,
        no_evict,
    ),
    spec(
        "trackinginfo",
        2,
        SUB,
        acl::CONNECTION,
        NO_KEYS,
        trackinginfo,
    ),
    spec("getredir", 2, SUB, acl::CONNECTION, NO_KEYS, getredir),
    spec("help", 2, LOADING | STALE, acl::CONNECTION, NO_KEYS, help),
];

const HELP: &[&str] = &[
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CACHING (YES|NO)",
    "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
    "         [OPTIN] [OPTOUT] [NOLOOP]",
    "    Control server assisted client side caching.",
    "TRACKINGINFO",
    "    Report tracking status for the current connection.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "HELP",
    "    Prints this help.",
];

/// The only user until ACLs exist: every connection is authenticated as it.
pub const DEFAULT_USER: &str = "default";

/// What CLIENT LIST shows about a connection that only the socket side
/// knows; for the running client, net.rs copies it into the `Client`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnIo {
    pub qbuf: usize,
    pub qbuf_free: usize,
    /// Waiting for the socket to accept more output ("w" in events).
    pub want_write: bool,
    /// Postponed by CLIENT PAUSE (shown as blocked).
    pub postponed: bool,
}

impl ConnIo {
    /// The running client: its query buffer figures were copied in before the call.
    pub fn of_running(c: &Client) -> ConnIo {
        ConnIo {
            qbuf: c.qbuf_bytes,
            qbuf_free: c.qbuf_free,
            want_write: false,
            postponed: false,
        }
    }
}

/// Rough bytes of a client's fixed state (struct, connection, parser), for tot-mem.
const CLIENT_FIXED_BYTES: usize = std::mem::size_of::<Client>() + 512;

/// Appends Redis 7.0's CLIENT LIST line for `c` (no trailing newline).
pub fn info_line(out: &mut String, c: &Client, io: &ConnIo, st: &ClientState, now_ms: u64) {
    let name = c
        .name
        .as_deref()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    let flags = flag_letters(c, io, st);
    let obl = c.out.len().min(REPLY_BUF_BYTES);
    let omem = c.out.len() - obl;
    let oll = omem.div_ceil(REPLY_BUF_BYTES);
    let rbs = c.out.capacity().clamp(1024, REPLY_BUF_BYTES);
    let rbp = c.out_peak.min(REPLY_BUF_BYTES);
    let multi = st.multi_queued.map_or(-1, |n| n as i64);
    let tot_mem = CLIENT_FIXED_BYTES
        + io.qbuf
        + io.qbuf_free
        + c.argv_bytes
        + st.multi_bytes
        + c.out.capacity();
    let events = if io.want_write { "rw" } else { "r" };
    let _ = write!(
        out,
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} \
         qbuf={} qbuf-free={} argv-mem={} multi-mem={} rbs={} rbp={} obl={} oll={} omem={} tot-mem={} \
         events={} cmd={} user={} redir=-1 resp={}",
        c.id,
        c.addr,
        c.laddr,
        c.fd,
        name,
        now_ms.saturating_sub(c.created_ms) / 1000,
        now_ms.saturating_sub(c.last_interaction_ms) / 1000,
        flags,
        c.db,
        st.channels,
        st.patterns,
        st.shard_channels,
        multi,
        io.qbuf,
        io.qbuf_free,
        c.argv_bytes,
        st.multi_bytes,
        rbs,
        rbp,
        obl,
        oll,
        omem,
        tot_mem,
        events,
        c.last_cmd,
        DEFAULT_USER,
        c.resp
    );
}

/// The flags field, letters in Redis's order; "N" when none applies.
fn flag_letters(c: &Client, io: &ConnIo, st: &ClientState) -> String {
    let mut f = String::new();
    if c.monitor {
        f.push('O');
    } else if c.kind == ClientKind::Replica {
        f.push('S');
    }
    if c.kind == ClientKind::Master {
        f.push('M');
    }
    if st.subscribed() {
        f.push('P');
    }
    if st.multi_queued.is_some() {
        f.push('x');
    }
    if st.blocked || io.postponed {
        f.push('b');
    }
    if st.dirty_cas {
        f.push('d');
    }
    if c.close_after_reply {
        f.push('c');
    }
    if c.close_asap {
        f.push('A');
    }
    if c.unix_socket {
        f.push('U');
    }
    if c.no_evict {
        f.push('e');
    }
    if f.is_empty() {
        f.push('N');
    }
    f
}

/// Visits every client in id order, the running one included.
fn for_each_client(srv: &Server, me: &Client, mut visit: impl FnMut(&Client, &ConnIo)) {
    let mut me_done = false;
    for (id, conn) in srv.clients.iter() {
        if !me_done && me.id < *id {
            visit(me, &ConnIo::of_running(me));
            me_done = true;
        }
        visit(&conn.client, &conn.io());
    }
    if !me_done {
        visit(me, &ConnIo::of_running(me));
    }
}

fn id(ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    Ok(Reply::Int(ctx.client.id as i64))
}

fn info(ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    let mut s = String::new();
    let st = hooks::client_state(ctx.srv, ctx.client);
    info_line(
        &mut s,
        ctx.client,
        &ConnIo::of_running(ctx.client),
        &st,
        crate::clock::now_ms(),
    );
    s.push('\n');
    Ok(Reply::Verbatim("txt", Bytes::from(s)))
}

/// What CLIENT LIST selects.
#[derive(Debug, PartialEq, Eq)]
enum ListFilter {
    All,
    Type(ClientKind),
    /// In the order given; an id may repeat.
    Ids(Vec<i64>),
}

fn parse_list(args: &[Bytes]) -> Result<ListFilter, CmdError> {
    match args {
        [] => Ok(ListFilter::All),
        [opt, name] if opt.eq_ignore_ascii_case(b"type") => ClientKind::parse(name)
            .map(ListFilter::Type)
            .ok_or_else(|| unknown_type(name)),
        [opt, ids @ ..] if opt.eq_ignore_ascii_case(b"id") && !ids.is_empty() => {
            let parsed = ids
                .iter()
                .map(|b| parse_i64_strict(b).ok_or_else(|| CmdError::new("ERR Invalid client ID")))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(ListFilter::Ids(parsed))
        }
        _ => Err(CmdError::syntax()),
    }
}

fn unknown_type(name: &[u8]) -> CmdError {
    CmdError::new(format!(
        "ERR Unknown client type '{}'",
        String::from_utf8_lossy(name)
    ))
}

fn list(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let filter = parse_list(&args.rest())?;
    let now = crate::clock::now_ms();
    let srv = &*ctx.srv;
    let me = &*ctx.client;
    let mut s = String::new();
    let mut add = |c: &Client, io: &ConnIo| {
        let st = hooks::client_state(srv, c);
        info_line(&mut s, c, io, &st, now);
        s.push('\n');
    };
    match filter {
        ListFilter::All => for_each_client(srv, me, add),
        ListFilter::Type(kind) => for_each_client(srv, me, |c, io| {
            if c.client_type(hooks::client_state(srv, c).subscribed()) == kind {
                add(c, io);
            }
        }),
        ListFilter::Ids(ids) => {
            for id in ids {
                if id == me.id as i64 {
                    add(me, &ConnIo::of_running(me));
                } else if let Some(conn) =
                    u64::try_from(id).ok().and_then(|id| srv.clients.get(&id))
                {
                    add(&conn.client, &conn.io());
                }
            }
        }
    }
    Ok(Reply::Verbatim("txt", Bytes::from(s)))
}

/// CLIENT KILL's filters (the form with option/value pairs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KillFilter {
    pub id: Option<u64>,
    pub kind: Option<ClientKind>,
    pub addr: Option<Bytes>,
    pub laddr: Option<Bytes>,
    pub user: Option<Bytes>,
    pub skipme: bool,
}

impl Default for KillFilter {
    fn default() -> KillFilter {
        KillFilter {
            id: None,
            kind: None,
            addr: None,
            laddr: None,
            user: None,
            skipme: true,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum KillForm {
    /// `CLIENT KILL ip:port`: +OK or "No such client"; may kill the caller.
    Legacy(Bytes),
    Filter(KillFilter),
}

impl KillFilter {
    fn matches(&self, c: &Client, subscribed: bool, is_me: bool) -> bool {
        if self
            .addr
            .as_ref()
            .is_some_and(|a| a[..] != *c.addr.as_bytes())
        {
            return false;
        }
        if self
            .laddr
            .as_ref()
            .is_some_and(|a| a[..] != *c.laddr.as_bytes())
        {
            return false;
        }
        if self.kind.is_some_and(|k| c.client_type(subscribed) != k) {
            return false;
        }
        if self.id.is_some_and(|id| c.id != id) {
            return false;
        }
        if self
            .user
            .as_ref()
            .is_some_and(|u| u[..] != *DEFAULT_USER.as_bytes())
        {
            return false;
        }
        !(is_me && self.skipme)
    }
}

/// Parses the words after `CLIENT KILL` as Redis 7.0 does (no MAXAGE yet:
/// it came with 7.4 and 7.0 answers it with a syntax error).
pub fn parse_kill(words: &[Bytes]) -> Result<KillForm, CmdError> {
    if let [addr] = words {
        return Ok(KillForm::Legacy(addr.clone()));
    }
    if words.is_empty() || !words.len().is_multiple_of(2) {
        return Err(CmdError::syntax());
    }
    let mut f = KillFilter::default();
    for pair in words.chunks_exact(2) {
        let (opt, val) = (&pair[0], &pair[1]);
        let opt = opt.to_ascii_lowercase();
        match &opt[..] {
            b"id" => {
                let id = parse_i64_strict(val)
                    .filter(|&n| n >= 1)
                    .ok_or_else(|| CmdError::new("ERR client-id should be greater than 0"))?;
                f.id = Some(id as u64);
            }
            b"type" => f.kind = Some(ClientKind::parse(val).ok_or_else(|| unknown_type(val))?),
            b"addr" => f.addr = Some(val.clone()),
            b"laddr" => f.laddr = Some(val.clone()),
            b"user" => {
                if val[..] != *DEFAULT_USER.as_bytes() {
                    return Err(CmdError::new(format!(
                        "ERR No such user '{}'",
                        String::from_utf8_lossy(val)
                    )));
                }
                f.user = Some(val.clone());
            }
            b"skipme" => {
                f.skipme = if val.eq_ignore_ascii_case(b"yes") {
                    true
                } else if val.eq_ignore_ascii_case(b"no") {
                    false
                } else {
                    return Err(CmdError::syntax());
                };
            }
            _ => return Err(CmdError::syntax()),
        }
    }
    Ok(KillForm::Filter(f))
}

fn kill(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let form = parse_kill(&args.rest())?;
    let (filter, legacy) = match form {
        // The old form matches the peer address only and may kill the caller.
        KillForm::Legacy(addr) => (
            KillFilter {
                addr: Some(addr),
                skipme: false,
                ..KillFilter::default()
            },
            true,
        ),
        KillForm::Filter(f) => (f, false),
    };
    let mut killed = 0i64;
    let mut victims = Vec::new();
    for (id, conn) in ctx.srv.clients.iter() {
        if filter.matches(
            &conn.client,
            hooks::client_state(ctx.srv, &conn.client).subscribed(),
            false,
        ) {
            victims.push(*id);
        }
    }
    for id in victims {
        if let Some(conn) = ctx.srv.clients.get_mut(&id) {
            conn.client.close_asap = true;
            ctx.srv.pending_writes.push(id);
            killed += 1;
        }
    }
    let me_subscribed = hooks::client_state(ctx.srv, ctx.client).subscribed();
    let kill_me = filter.matches(ctx.client, me_subscribed, true);
    if kill_me {
        // After this reply is queued, as Redis flags CLOSE_AFTER_REPLY.
        ctx.client.close_after_reply = true;
        killed += 1;
    }
    if legacy {
        if killed == 0 {
            return Err(CmdError::new("ERR No such client"));
        }
        return Ok(Reply::OK);
    }
    Ok(Reply::Int(killed))
}

/// Redis's `clientSetNameOrReply`: empty removes the name; otherwise only
/// the printable ASCII characters '!'..='~' are allowed.
pub fn set_name(client: &mut Client, name: &Bytes) -> Result<(), CmdError> {
    if name.is_empty() {
        client.name = None;
        return Ok(());
    }
    if name.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        return Err(CmdError::new(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    client.name = Some(name.clone());
    Ok(())
}

fn setname(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let name = args.next()?;
    set_name(ctx.client, &name)?;
    Ok(Reply::OK)
}

fn getname(ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    Ok(ctx.client.name.clone().map_or(Reply::Nil, Reply::Bulk))
}

/// Redis's `addReplySubcommandSyntaxError`, naming the words as typed.
fn subcommand_syntax(args: &Args) -> CmdError {
    let argv = args.argv();
    let sub = argv
        .get(1)
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    let cmd = String::from_utf8_lossy(args.name()).to_ascii_uppercase();
    let sub: String = sub.chars().take(128).collect();
    CmdError::new(format!(
        "ERR unknown subcommand or wrong number of arguments for '{sub}'. Try {cmd} HELP."
    ))
}

fn pause(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    if args.remaining() > 2 {
        return Err(subcommand_syntax(args));
    }
    let timeout = args.next()?;
    let writes_only = match args.next_opt() {
        None => false,
        Some(m) if m.eq_ignore_ascii_case(b"write") => true,
        Some(m) if m.eq_ignore_ascii_case(b"all") => false,
        Some(_) => return Err(CmdError::new("ERR CLIENT PAUSE mode must be WRITE or ALL")),
    };
    let ms = parse_i64_strict(&timeout)
        .ok_or_else(|| CmdError::new("ERR timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err(CmdError::new("ERR timeout is negative"));
    }
    let now = crate::clock::now_ms();
    // Redis 7.0 adds without an overflow check; a wrapped end is in the past.
    let end = if ms == 0 {
        0
    } else {
        u64::try_from(ms.wrapping_add(now as i64)).unwrap_or(0)
    };
    pause_clients(ctx.srv, end, writes_only, now);
    Ok(Reply::OK)
}

/// Starts or extends a pause: the end only moves later and WRITE only
/// escalates to ALL while a pause lasts (Redis's `pauseClients`).
pub fn pause_clients(srv: &mut Server, end_ms: u64, writes_only: bool, now_ms: u64) {
    if pause_active(srv, now_ms) {
        srv.pause_writes_only &= writes_only;
    } else {
        srv.pause_writes_only = writes_only;
    }
    srv.pause_until_ms = srv.pause_until_ms.max(end_ms);
    if pause_active(srv, now_ms) {
        // A paused dataset is static: no expiry deletes (lazy or active).
        srv.keyspace.shared.expire_deletes = false;
    }
}

pub fn pause_active(srv: &Server, now_ms: u64) -> bool {
    srv.pause_until_ms > now_ms
}

/// Ends the pause (UNPAUSE, or its time ran out); postponed clients resume
/// on the next loop turn.
pub fn unpause_clients(srv: &mut Server) {
    srv.pause_until_ms = 0;
    srv.pause_writes_only = false;
    // Loading and replicas keep expired keys; nothing else turns this off.
    srv.keyspace.shared.expire_deletes = !srv.loading;
}

/// Whether this command must wait for the pause to end. Replicas and
/// monitors are never paused; WRITE pauses what may write or replicate.
pub fn pause_blocks(srv: &Server, client: &Client, spec: &CommandSpec, now_ms: u64) -> bool {
    if !pause_active(srv, now_ms) || client.monitor || client.kind == ClientKind::Replica {
        return false;
    }
    // EXEC of a transaction with queued writes also counts as a write.
    let cmd_flags = crate::multi::effective_flags(client, spec);
    !srv.pause_writes_only || cmd_flags & (flags::WRITE | flags::MAY_REPLICATE) != 0
}

fn unpause(ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    unpause_clients(ctx.srv);
    Ok(Reply::OK)
}

fn unblock(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    if args.remaining() > 2 {
        return Err(subcommand_syntax(args));
    }
    let id = args.next()?;
    let as_error = match args.next_opt() {
        None => false,
        Some(r) if r.eq_ignore_ascii_case(b"timeout") => false,
        Some(r) if r.eq_ignore_ascii_case(b"error") => true,
        Some(_) => {
            return Err(CmdError::new(
                "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
            ))
        }
    };
    let id = parse_i64_strict(&id).ok_or_else(CmdError::not_integer)?;
    let unblocked = u64::try_from(id).is_ok_and(|id| hooks::unblock_client(ctx.srv, id, as_error));
    Ok(Reply::Int(unblocked as i64))
}

fn reply(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let mode = args.next()?;
    let c = &mut *ctx.client;
    if mode.eq_ignore_ascii_case(b"on") {
        c.reply_mode = ReplyMode::On;
        Ok(Reply::OK)
    } else if mode.eq_ignore_ascii_case(b"off") {
        // The +OK below is dropped: replies are off from this one on.
        c.reply_mode = ReplyMode::Off;
        Ok(Reply::OK)
    } else if mode.eq_ignore_ascii_case(b"skip") {
        // SKIP has no reply either (SkipNext is not On); OFF wins over SKIP.
        if c.reply_mode != ReplyMode::Off {
            c.reply_mode = ReplyMode::SkipNext;
        }
        Ok(Reply::OK)
    } else {
        Err(CmdError::syntax())
    }
}

fn no_evict(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let v = args.next()?;
    if v.eq_ignore_ascii_case(b"on") {
        ctx.client.no_evict = true;
    } else if v.eq_ignore_ascii_case(b"off") {
        ctx.client.no_evict = false;
    } else {
        return Err(CmdError::syntax());
    }
    Ok(Reply::OK)
}

/// Tracking is never on (CLIENT TRACKING is not implemented yet), so this is
/// the tracking-off report.
fn trackinginfo(_ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    Ok(Reply::Map(vec![
        (
            Reply::bulk_str("flags"),
            Reply::Set(vec![Reply::bulk_str("off")]),
        ),
        (Reply::bulk_str("redirect"), Reply::Int(-1)),
        (Reply::bulk_str("prefixes"), Reply::Array(Vec::new())),
    ]))
}

fn getredir(_ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    // -1: tracking is off.
    Ok(Reply::Int(-1))
}

fn help(_ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    Ok(help_reply(HELP))
}

/// Redis's `addReplyHelp`: one status line per help line.
pub fn help_reply(lines: &[&'static str]) -> Reply {
    Reply::Array(lines.iter().map(|l| Reply::status(l)).collect())
}

/// The limit class of a client (`getClientOutputBufferLimitClass`): a
/// master counts as normal.
fn obuf_class(c: &Client, subscribed: bool) -> usize {
    match c.client_type(subscribed) {
        ClientKind::Replica => OBUF_REPLICA,
        ClientKind::PubSub => OBUF_PUBSUB,
        ClientKind::Normal | ClientKind::Master => OBUF_NORMAL,
    }
}

/// After replies were appended to `c`: closes it as soon as possible if its
/// output buffer passed its class's limits (Redis's
/// `closeClientOnOutputBufferLimitReached`, async form). Returns true if so.
pub fn enforce_output_limit(srv: &mut Server, c: &mut Client, io: &ConnIo) -> bool {
    if c.fake || c.close_asap || (c.obuf_limited_bytes() == 0 && c.kind != ClientKind::Replica) {
        return false;
    }
    let st = hooks::client_state(srv, c);
    let limit = srv.config.client_output_buffer_limits[obuf_class(c, st.subscribed())];
    let now = crate::clock::now_ms();
    if !c.output_limit_reached(&limit, now) {
        return false;
    }
    let mut line = String::new();
    info_line(&mut line, c, io, &st, now);
    c.close_asap = true;
    srv.stats.client_outbuf_limit_disconnections += 1;
    log_warning!(
        "Client {line} scheduled to be closed ASAP for overcoming of output buffer limits."
    );
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<Bytes> {
        s.split_whitespace()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    fn err(s: &str) -> String {
        parse_kill(&words(s)).unwrap_err().0.into_owned()
    }

    #[test]
    fn kill_legacy_form_is_one_word() {
        assert_eq!(
            parse_kill(&words("1.2.3.4:5")),
            Ok(KillForm::Legacy(Bytes::from_static(b"1.2.3.4:5")))
        );
    }

    #[test]
    fn kill_filters_parse_in_pairs() {
        let f = match parse_kill(&words(
            "ID 7 type pubsub ADDR a:1 laddr b:2 user default skipme NO",
        )) {
            Ok(KillForm::Filter(f)) => f,
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(f.id, Some(7));
        assert_eq!(f.kind, Some(ClientKind::PubSub));
        assert_eq!(f.addr.as_deref(), Some(&b"a:1"[..]));
        assert_eq!(f.laddr.as_deref(), Some(&b"b:2"[..]));
        assert_eq!(f.user.as_deref(), Some(&b"default"[..]));
        assert!(!f.skipme);
        // The last of a repeated option wins; skipme defaults to yes.
        match parse_kill(&words("id 5 id 6")) {
            Ok(KillForm::Filter(f)) => {
                assert_eq!(f.id, Some(6));
                assert!(f.skipme);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            parse_kill(&words("type slave")),
            parse_kill(&words("type replica"))
        );
    }

    #[test]
    fn kill_errors_match_redis() {
        assert_eq!(err("id 0"), "ERR client-id should be greater than 0");
        assert_eq!(err("id abc"), "ERR client-id should be greater than 0");
        assert_eq!(err("id -1"), "ERR client-id should be greater than 0");
        assert_eq!(err("type foo"), "ERR Unknown client type 'foo'");
        assert_eq!(err("user nobody"), "ERR No such user 'nobody'");
        assert_eq!(err("skipme maybe"), "ERR syntax error");
        assert_eq!(err("maxage 5"), "ERR syntax error");
        assert_eq!(err("id 1 skipme"), "ERR syntax error");
        assert_eq!(err("a b c"), "ERR syntax error");
        // Options are checked left to right: the first bad one speaks.
        assert_eq!(err("type foo id x"), "ERR Unknown client type 'foo'");
        assert_eq!(
            err("id x type foo"),
            "ERR client-id should be greater than 0"
        );
    }

    #[test]
    fn kill_filter_matching() {
        let mut c = Client::new(9, 0);
        c.addr = "127.0.0.1:5000".into();
        c.laddr = "127.0.0.1:6379".into();
        let f = KillFilter {
            addr: Some(Bytes::from_static(b"127.0.0.1:5000")),
            ..KillFilter::default()
        };
        assert!(f.matches(&c, false, false));
        assert!(!f.matches(&c, false, true), "skipme spares the caller");
        let f = KillFilter {
            laddr: Some(Bytes::from_static(b"127.0.0.1:6380")),
            ..KillFilter::default()
        };
        assert!(!f.matches(&c, false, false));
        let f = KillFilter {
            kind: Some(ClientKind::PubSub),
            ..KillFilter::default()
        };
        assert!(!f.matches(&c, false, false));
        assert!(f.matches(&c, true, false));
        // A monitor is a normal client for TYPE.
        c.monitor = true;
        c.kind = ClientKind::Replica;
        let f = KillFilter {
            kind: Some(ClientKind::Normal),
            ..KillFilter::default()
        };
        assert!(f.matches(&c, false, false));
        let f = KillFilter {
            id: Some(10),
            ..KillFilter::default()
        };
        assert!(!f.matches(&c, false, false));
    }

    #[test]
    fn list_options() {
        assert_eq!(parse_list(&words("")), Ok(ListFilter::All));
        assert_eq!(
            parse_list(&words("TYPE Normal")),
            Ok(ListFilter::Type(ClientKind::Normal))
        );
        assert_eq!(
            parse_list(&words("id 3 1 3")),
            Ok(ListFilter::Ids(vec![3, 1, 3]))
        );
        assert_eq!(
            parse_list(&words("id 1 x")).unwrap_err().0,
            "ERR Invalid client ID"
        );
        assert_eq!(
            parse_list(&words("type foo")).unwrap_err().0,
            "ERR Unknown client type 'foo'"
        );
        assert_eq!(
            parse_list(&words("type")).unwrap_err().0,
            "ERR syntax error"
        );
        assert_eq!(parse_list(&words("id")).unwrap_err().0, "ERR syntax error");
        assert_eq!(
            parse_list(&words("type normal id 1")).unwrap_err().0,
            "ERR syntax error"
        );
    }

    #[test]
    fn list_line_has_redis_fields_in_order() {
        let mut c = Client::new(12, 1_000);
        c.fd = 8;
        c.addr = "127.0.0.1:40000".into();
        c.laddr = "127.0.0.1:6379".into();
        c.name = Some(Bytes::from_static(b"worker"));
        c.db = 3;
        c.last_cmd = "client|list".into();
        c.last_interaction_ms = 4_000;
        c.argv_bytes = 10;
        let io = ConnIo {
            qbuf: 26,
            qbuf_free: 100,
            want_write: false,
            postponed: false,
        };
        let mut s = String::new();
        info_line(&mut s, &c, &io, &ClientState::default(), 6_500);
        let keys: Vec<&str> = s
            .split(' ')
            .map(|kv| kv.split('=').next().unwrap_or(""))
            .collect();
        assert_eq!(
            keys,
            [
                "id",
                "addr",
                "laddr",
                "fd",
                "name",
                "age",
                "idle",
                "flags",
                "db",
                "sub",
                "psub",
                "ssub",
                "multi",
                "qbuf",
                "qbuf-free",
                "argv-mem",
                "multi-mem",
                "rbs",
                "rbp",
                "obl",
                "oll",
                "omem",
                "tot-mem",
                "events",
                "cmd",
                "user",
                "redir",
                "resp"
            ]
        );
        assert!(s.starts_with("id=12 addr=127.0.0.1:40000 laddr=127.0.0.1:6379 fd=8 name=worker age=5 idle=2 flags=N db=3 sub=0 psub=0 ssub=0 multi=-1 qbuf=26 qbuf-free=100 argv-mem=10 multi-mem=0 "), "{s}");
        assert!(
            s.ends_with(" events=r cmd=client|list user=default redir=-1 resp=2"),
            "{s}"
        );
    }

    #[test]
    fn list_flags_follow_redis_order() {
        let mut c = Client::new(1, 0);
        c.monitor = true;
        c.unix_socket = true;
        c.no_evict = true;
        c.close_after_reply = true;
        let st = ClientState {
            channels: 1,
            multi_queued: Some(2),
            ..ClientState::default()
        };
        let io = ConnIo {
            postponed: true,
            ..ConnIo::default()
        };
        assert_eq!(flag_letters(&c, &io, &st), "OPxbcUe");
        assert_eq!(
            flag_letters(
                &Client::new(2, 0),
                &ConnIo::default(),
                &ClientState::default()
            ),
            "N"
        );
    }

    #[test]
    fn output_limits_hard_and_soft() {
        use crate::config::ObufLimit;
        let mut c = Client::new(1, 0);
        c.out = vec![0; REPLY_BUF_BYTES + 100];
        let hard = ObufLimit {
            hard_bytes: 100,
            soft_bytes: 0,
            soft_seconds: 0,
        };
        assert!(c.output_limit_reached(&hard, 0));
        let hard = ObufLimit {
            hard_bytes: 101,
            soft_bytes: 0,
            soft_seconds: 0,
        };
        assert!(!c.output_limit_reached(&hard, 0));
        // Soft: first sighting only starts the clock; past the seconds it trips.
        let soft = ObufLimit {
            hard_bytes: 0,
            soft_bytes: 50,
            soft_seconds: 2,
        };
        assert!(!c.output_limit_reached(&soft, 10_000));
        assert!(!c.output_limit_reached(&soft, 12_000));
        assert!(c.output_limit_reached(&soft, 13_000));
        // Dropping under the soft limit resets the clock.
        c.out.truncate(10);
        assert!(!c.output_limit_reached(&soft, 14_000));
        assert_eq!(c.obuf_soft_since_ms, None);
        // What fits the fixed reply buffer never counts.
        c.out = vec![0; REPLY_BUF_BYTES];
        assert!(!c.output_limit_reached(
            &ObufLimit {
                hard_bytes: 1,
                soft_bytes: 0,
                soft_seconds: 0
            },
            0
        ));
    }

    #[test]
    fn setname_charset() {
        let mut c = Client::new(1, 0);
        assert!(set_name(&mut c, &Bytes::from_static(b"a b")).is_err());
        assert!(set_name(&mut c, &Bytes::from_static(b"\xc3\xa9")).is_err());
        assert!(set_name(&mut c, &Bytes::from_static(b"!~")).is_ok());
        assert_eq!(c.name.as_deref(), Some(&b"!~"[..]));
        assert!(set_name(&mut c, &Bytes::new()).is_ok());
        assert_eq!(c.name, None);
    }
}
