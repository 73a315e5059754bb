//! Per-client state that commands may read or change. The socket and the
//! input buffer live in `net::Conn`; this part is what handlers see, so a fake
//! client (Lua, AOF replay) can run commands with no socket at all.

use bytes::Bytes;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    Normal,
    PubSub,
    Replica,
    Master,
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
    /// When the output buffer first passed the soft limit (for the soft seconds).
    pub obuf_soft_since_ms: Option<u64>,
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
            obuf_soft_since_ms: None,
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
        }
    }

    /// Appends an out-of-band frame (pub/sub message, MONITOR line, push),
    /// which CLIENT REPLY OFF does not suppress in Redis for push messages.
    pub fn push(&mut self, reply: &Reply) {
        reply.encode(self.resp, &mut self.out);
    }
}
