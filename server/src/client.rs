//! Per-client state that commands may read or change. The socket and the
//! input buffer live in `net::Conn`; this part is what handlers see, so a fake
//! client (Lua, AOF replay) can run commands with no socket at all.

use bytes::Bytes;

use crate::config::ObufLimit;
use crate::resp::Reply;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Skip the reply of the next command only.
    SkipNext,
    /// Skipping the reply of the current command (set from SkipNext).
    Skip,
}

/// Redis's client types (CLIENT LIST TYPE, CLIENT KILL TYPE, output buffer
/// limit classes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    Normal,
    PubSub,
    Replica,
    Master,
}

impl ClientKind {
    /// Redis's `getClientTypeByName`: "slave" and "replica" are the same type.
    pub fn parse(name: &[u8]) -> Option<ClientKind> {
        let n = name.to_ascii_lowercase();
        match &n[..] {
            b"normal" => Some(ClientKind::Normal),
            b"slave" | b"replica" => Some(ClientKind::Replica),
            b"pubsub" => Some(ClientKind::PubSub),
            b"master" => Some(ClientKind::Master),
            _ => None,
        }
    }
}

/// Bytes of a reply Redis keeps in the client's fixed buffer before it starts
/// a reply list (PROTO_REPLY_CHUNK_BYTES); output buffer limits count only
/// what goes past it.
pub const REPLY_BUF_BYTES: usize = 16 * 1024;

/// What other features know about a client, for CLIENT LIST and the client
/// type (filled by `hooks::client_state`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientState {
    pub channels: usize,
    pub patterns: usize,
    pub shard_channels: usize,
    /// Commands queued in MULTI, or None outside a transaction.
    pub multi_queued: Option<usize>,
    pub multi_bytes: usize,
    /// Blocked in BLPOP and friends (or postponed by CLIENT PAUSE).
    pub blocked: bool,
    /// A WATCHed key changed: EXEC will fail.
    pub dirty_cas: bool,
}

impl ClientState {
    /// Redis's CLIENT_PUBSUB flag: subscribed to anything.
    pub fn subscribed(&self) -> bool {
        self.channels + self.patterns + self.shard_channels > 0
    }
}

pub struct Client {
    pub id: u64,
    pub fd: i64,
    /// "ip:port" or "path:0" for a unix socket.
    pub addr: String,
    pub laddr: String,
    pub unix_socket: bool,
    pub name: Option<Bytes>,
    pub db: usize,
    /// Protocol version, 2 or 3.
    pub resp: u8,
    pub authenticated: bool,
    pub created_ms: u64,
    pub last_interaction_ms: u64,
    /// Full name of the last command ("client|list").
    pub last_cmd: String,
    /// Encoded replies waiting to be written.
    pub out: Vec<u8>,
    pub reply_mode: ReplyMode,
    /// Close once the pending replies are written (QUIT, CLIENT KILL).
    pub close_after_reply: bool,
    /// Close now, dropping pending replies (output buffer limits).
    pub close_asap: bool,
    pub no_evict: bool,
    pub monitor: bool,
    /// Fake clients (Lua, AOF loading) have no connection.
    pub fake: bool,
    /// Bytes waiting in the query buffer, copied in by the connection for CLIENT LIST.
    pub qbuf_bytes: usize,
    /// Free bytes of the query buffer's allocation (CLIENT LIST qbuf-free).
    pub qbuf_free: usize,
    /// Bytes of the arguments of the command being run (CLIENT LIST argv-mem).
    pub argv_bytes: usize,
    /// Most bytes the output buffer held since the last cron reset (rbp).
    pub out_peak: usize,
    /// When the output buffer first passed the soft limit (for the soft seconds).
    pub obuf_soft_since_ms: Option<u64>,
    /// Replication role of the connection: Normal unless replication marks it
    /// Replica or Master. Pub/sub is derived from subscriptions, not stored.
    pub kind: ClientKind,
    /// Positions in argv of the current command that must not be shown
    /// (MONITOR, SLOWLOG): passwords given to AUTH and HELLO. Set by the
    /// handler, cleared when the next command starts.
    pub redacted: Vec<usize>,
    /// MONITOR lines about this client's own command, appended after its reply
    /// (a monitor that sends commands sees the reply first, as in Redis).
    pub monitor_echo: Vec<u8>,
    /// Waiting in a blocking command: no reply now, and no further requests
    /// run until it is served, times out or is unblocked.
    pub blocked: bool,
    /// Blocking commands must not block now (Redis's CLIENT_DENY_BLOCKING:
    /// inside MULTI/EXEC); they answer as if they timed out at once.
    pub deny_blocking: bool,
    /// The transaction being queued (MULTI ... EXEC), None outside one.
    pub multi: Option<Box<crate::multi::MultiState>>,
    /// Running EXEC's queued commands: blocking commands must not block.
    pub in_exec: bool,
}

impl Client {
    pub fn new(id: u64, now_ms: u64) -> Client {
        Client {
            id,
            fd: -1,
            addr: String::new(),
            laddr: String::new(),
            unix_socket: false,
            name: None,
            db: 0,
            resp: 2,
            authenticated: true,
            created_ms: now_ms,
            last_interaction_ms: now_ms,
            last_cmd: "NULL".into(),
            out: Vec::new(),
            reply_mode: ReplyMode::On,
            close_after_reply: false,
            close_asap: false,
            no_evict: false,
            monitor: false,
            fake: false,
            qbuf_bytes: 0,
            qbuf_free: 0,
            argv_bytes: 0,
            out_peak: 0,
            obuf_soft_since_ms: None,
            kind: ClientKind::Normal,
            redacted: Vec::new(),
            monitor_echo: Vec::new(),
            blocked: false,
            deny_blocking: false,
            multi: None,
            in_exec: false,
        }
    }

    /// A client with no connection (Lua scripts, AOF loading).
    pub fn fake(now_ms: u64) -> Client {
        let mut c = Client::new(u64::MAX, now_ms);
        c.fake = true;
        c
    }

    /// Appends a reply unless replies are switched off (CLIENT REPLY).
    pub fn reply(&mut self, reply: &Reply) {
        if self.reply_mode == ReplyMode::On {
            reply.encode(self.resp, &mut self.out);
            self.out_peak = self.out_peak.max(self.out.len());
        }
    }

    /// Appends an out-of-band frame (pub/sub message, MONITOR line, push),
    /// which CLIENT REPLY OFF does not suppress in Redis for push messages.
    pub fn push(&mut self, reply: &Reply) {
        reply.encode(self.resp, &mut self.out);
        self.out_peak = self.out_peak.max(self.out.len());
    }

    /// Redis's `getClientType`: master, then replica (a MONITOR is not one),
    /// then pub/sub when subscribed to anything, else normal.
    pub fn client_type(&self, subscribed: bool) -> ClientKind {
        match self.kind {
            ClientKind::Master => ClientKind::Master,
            ClientKind::Replica if !self.monitor => ClientKind::Replica,
            _ if subscribed => ClientKind::PubSub,
            _ => ClientKind::Normal,
        }
    }

    /// Bytes that count against the output buffer limits: what does not fit
    /// in Redis's fixed reply buffer.
    pub fn obuf_limited_bytes(&self) -> usize {
        self.out.len().saturating_sub(REPLY_BUF_BYTES)
    }

    /// Redis's `checkClientOutputBufferLimits`: true when the hard limit is
    /// reached, or the soft limit has been reached for longer than its
    /// seconds. Remembers when the soft limit was first reached.
    pub fn output_limit_reached(&mut self, limit: &ObufLimit, now_ms: u64) -> bool {
        let used = self.obuf_limited_bytes() as u64;
        let hard = limit.hard_bytes > 0 && used >= limit.hard_bytes;
        let mut soft = limit.soft_bytes > 0 && used >= limit.soft_bytes;
        if soft {
            match self.obuf_soft_since_ms {
                None => {
                    self.obuf_soft_since_ms = Some(now_ms);
                    soft = false;
                }
                Some(since) => {
                    // Whole seconds, as Redis compares unix times.
                    let elapsed_s = now_ms / 1000 - since / 1000;
                    if elapsed_s <= limit.soft_seconds {
                        soft = false;
                    }
                }
            }
        } else {
            self.obuf_soft_since_ms = None;
        }
        hard || soft
    }
}
