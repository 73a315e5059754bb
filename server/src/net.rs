//! The event loop: one `mio` poll on the executor thread, listeners, client
//! connections, reading and parsing requests, writing replies, and the
//! periodic cron.
//!
//! Write path: replies are appended to the client's buffer while commands run;
//! before the loop sleeps again, every client with pending output gets one
//! write attempt; what does not fit waits for a writable event. A client
//! marked `close_asap` (CLIENT KILL, output buffer limits) is closed at its
//! next turn without reading or writing anything more.
//!
//! CLIENT PAUSE: a request the pause covers stays in its connection
//! (`Conn::postponed`), which reads no further requests until the pause ends;
//! postponed connections then resume in the order they were stopped.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use mio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use mio::{Events, Interest, Poll, Token};

use crate::client::Client;
use crate::family::client::{self as client_cmd, ConnIo};
use crate::resp::{ParseLimits, Reply, RequestParser};
use crate::server::Server;
use crate::{clock, dispatch, log_notice, log_verbose, log_warning};

/// Bytes read per `read` call (PROTO_IOBUF_LEN).
pub const READ_CHUNK_BYTES: usize = 16 * 1024;
/// Reads served for one client before others get a turn.
const READS_PER_TURN_MAX: usize = 16;
/// Tokens below this are listeners.
const LISTENER_TOKENS: usize = 16;

pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            Stream::Tcp(s) => s,
            Stream::Unix(s) => s,
        }
    }

    pub fn fd(&self) -> i64 {
        use std::os::fd::AsRawFd;
        match self {
            Stream::Tcp(s) => s.as_raw_fd() as i64,
            Stream::Unix(s) => s.as_raw_fd() as i64,
        }
    }
}

pub struct Conn {
    pub stream: Stream,
    pub client: Client,
    pub inbuf: BytesMut,
    parser: RequestParser,
    /// Registered for writable events.
    want_write: bool,
    /// A request held back by CLIENT PAUSE, run when the pause ends.
    postponed: Option<Vec<Bytes>>,
}

impl Conn {
    pub fn output_bytes(&self) -> usize {
        self.client.out.len()
    }

    /// Socket-side figures for CLIENT LIST.
    pub fn io(&self) -> ConnIo {
        ConnIo {
            qbuf: self.inbuf.len(),
            qbuf_free: self.inbuf.capacity() - self.inbuf.len(),
            want_write: self.want_write,
            postponed: self.postponed.is_some(),
        }
    }
}

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

pub struct EventLoop {
    poll: Poll,
    listeners: Vec<Listener>,
    srv: Server,
    /// Clients that still had input when their turn ended.
    more_input: VecDeque<u64>,
    /// Clients holding a request back until CLIENT PAUSE ends, in order.
    postponed: VecDeque<u64>,
    last_cron_ms: u64,
    /// Where ordinary reads land before being appended to a query buffer
    /// (so the buffer's spare room never has to be zeroed first).
    scratch: Vec<u8>,
}

static SHUTDOWN_SIGNAL: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    SHUTDOWN_SIGNAL.store(sig, std::sync::atomic::Ordering::SeqCst);
}

/// Whether SIGTERM or SIGINT arrived and the loop has not handled it yet
/// (a busy script stops for it).
pub fn shutdown_signalled() -> bool {
    SHUTDOWN_SIGNAL.load(std::sync::atomic::Ordering::SeqCst) != 0
}

fn install_signal_handlers() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

impl EventLoop {
    pub fn new(mut srv: Server) -> io::Result<EventLoop> {
        let poll = Poll::new()?;
        let mut listeners = Vec::new();
        let mut busy_tcp = Vec::new();
        let mut busy_unix = Vec::new();
        for addr in bind_addrs(&srv.config.bind, srv.config.port) {
            match std::net::TcpListener::bind(addr) {
                Ok(l) => {
                    l.set_nonblocking(true)?;
                    busy_tcp.push(l.try_clone()?);
                    let mut l = TcpListener::from_std(l);
                    poll.registry()
                        .register(&mut l, Token(listeners.len()), Interest::READABLE)?;
                    listeners.push(Listener::Tcp(l));
                }
                Err(e) if addr.is_ipv6() => {
                    log_verbose!("Could not bind {addr}: {e}");
                }
                Err(e) => {
                    log_warning!(
                        "Warning: Could not create server TCP listening socket {}: {}",
                        addr,
                        e
                    );
                    return Err(e);
                }
            }
        }
        if let Some(path) = &srv.config.unixsocket {
            let _ = std::fs::remove_file(path);
            let std_l = std::os::unix::net::UnixListener::bind(path)?;
            std_l.set_nonblocking(true)?;
            busy_unix.push(std_l.try_clone()?);
            let mut l = UnixListener::from_std(std_l);
            poll.registry()
                .register(&mut l, Token(listeners.len()), Interest::READABLE)?;
            listeners.push(Listener::Unix(l));
            log_notice!("The server is now ready to accept connections at {}", path);
        }
        install_signal_handlers();
        srv.busy_io = Some(BusyIo {
            registry: poll.registry().try_clone()?,
            tcp: busy_tcp,
            unix: busy_unix,
        });
        Ok(EventLoop {
            poll,
            listeners,
            srv,
            more_input: VecDeque::new(),
            scratch: vec![0u8; READ_CHUNK_BYTES],
            postponed: VecDeque::new(),
            last_cron_ms: clock::now_ms(),
        })
    }

    pub fn server(&mut self) -> &mut Server {
        &mut self.srv
    }

    /// Runs until shutdown; returns the exit code.
    pub fn run(&mut self) -> i32 {
        let mut events = Events::with_capacity(1024);
        let mut turn_start: Option<std::time::Instant> = None;
        loop {
            self.srv.call_clock = None;
            self.resume_postponed();
            self.resume_unblocked();
            self.flush_pending_writes();
            let interval_ms = (1000 / self.srv.config.hz.clamp(1, 500)) as u64;
            // Snapshot work gets a share of the time the last turn spent
            // serving clients (all of a short slice when nobody was served).
            let served = turn_start.map(|t| t.elapsed());
            let busy = crate::persist::tick(&mut self.srv, served);
            let timeout = if self.more_input.is_empty() && !busy {
                let now = clock::now_ms();
                let mut wait_ms = interval_ms.saturating_sub(now.saturating_sub(self.last_cron_ms));
                if !self.postponed.is_empty() && client_cmd::pause_active(&self.srv, now) {
                    // Wake when the pause ends, not at the next cron tick.
                    wait_ms = wait_ms.min(self.srv.pause_until_ms - now);
                }
                if let Some(ms) = crate::persist::wake_within_ms(&self.srv) {
                    wait_ms = wait_ms.min(ms);
                }
                // Wake for the nearest blocked-client deadline (sub-second timeouts).
                if let Some(at) = self.srv.blocking.next_deadline_ms() {
                    wait_ms = wait_ms.min(at.saturating_sub(now));
                }
                if let Some(deadline) = crate::blocking_streams::next_deadline(&self.srv) {
                    // Blocked clients time out on time, not at the next tick.
                    wait_ms = wait_ms.min(deadline.saturating_sub(now));
                }
                Duration::from_millis(wait_ms.max(1))
            } else {
                Duration::ZERO
            };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    log_warning!("poll failed: {e}");
                }
            }
            turn_start = if events.is_empty() {
                None
            } else {
                Some(std::time::Instant::now())
            };
            for event in events.iter() {
                // SHUTDOWN exits before anyone else is served, as Redis's exit().
                if self.srv.shutdown.is_some() {
                    break;
                }
                let t = event.token().0;
                if t < LISTENER_TOKENS {
                    self.accept(t);
                    continue;
                }
                let id = (t - LISTENER_TOKENS) as u64;
                if event.is_writable() {
                    self.write_client(id);
                }
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    self.read_client(id, event.is_read_closed() || event.is_error());
                }
            }
            let again: Vec<u64> = self.more_input.drain(..).collect();
            for id in again {
                self.read_client(id, true);
            }
            if let Some(new) = self.srv.new_tcp_listeners.take() {
                self.replace_tcp_listeners(new);
            }
            crate::blocking::expire(&mut self.srv, clock::now_ms());
            self.resume_unblocked_lists();
            let now = clock::now_ms();
            if now.saturating_sub(self.last_cron_ms) >= interval_ms {
                self.last_cron_ms = now;
                self.cron();
            }
            let sig = SHUTDOWN_SIGNAL.swap(0, std::sync::atomic::Ordering::SeqCst);
            if sig != 0 {
                let name = if sig == libc::SIGINT {
                    "SIGINT"
                } else {
                    "SIGTERM"
                };
                log_warning!("Received {name} scheduling shutdown...");
                self.srv.shutdown = Some(Default::default());
            }
            if let Some(req) = self.srv.shutdown.take() {
                if req.prepared {
                    return 0;
                }
                // On failure prepare() logged why; the server goes on.
                if crate::shutdown::prepare(&mut self.srv, req).is_ok() {
                    self.flush_pending_writes();
                    return 0;
                }
            }
        }
    }

    /// CONFIG SET port/bind bound new TCP listeners: they replace the old
    /// ones; the Unix socket stays. Tokens are renumbered.
    fn replace_tcp_listeners(&mut self, new: Vec<std::net::TcpListener>) {
        let mut kept = Vec::new();
        for l in std::mem::take(&mut self.listeners) {
            match l {
                Listener::Tcp(mut t) => {
                    let _ = self.poll.registry().deregister(&mut t);
                }
                Listener::Unix(u) => kept.push(u),
            }
        }
        for l in new.into_iter().take(LISTENER_TOKENS - 1) {
            let mut l = TcpListener::from_std(l);
            if self
                .poll
                .registry()
                .register(&mut l, Token(self.listeners.len()), Interest::READABLE)
                .is_ok()
            {
                self.listeners.push(Listener::Tcp(l));
            }
        }
        for mut u in kept {
            if self
                .poll
                .registry()
                .reregister(&mut u, Token(self.listeners.len()), Interest::READABLE)
                .is_ok()
            {
                self.listeners.push(Listener::Unix(u));
            }
        }
    }

    fn accept(&mut self, idx: usize) {
        loop {
            let accepted = match &self.listeners[idx] {
                Listener::Tcp(l) => l.accept().map(|(s, a)| {
                    let _ = s.set_nodelay(true);
                    let local = s.local_addr().map(|a| a.to_string()).unwrap_or_default();
                    (Stream::Tcp(s), a.to_string(), local, false)
                }),
                Listener::Unix(l) => l.accept().map(|(s, _)| {
                    let path = self.srv.config.unixsocket.clone().unwrap_or_default();
                    (
                        Stream::Unix(s),
                        format!("{path}:0"),
                        format!("{path}:0"),
                        true,
                    )
                }),
            };
            match accepted {
                Ok((stream, addr, laddr, unix)) => self.add_client(stream, addr, laddr, unix),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    log_warning!("Accepting client connection: {e}");
                    return;
                }
            }
        }
    }

    fn add_client(&mut self, stream: Stream, addr: String, laddr: String, unix: bool) {
        add_conn(
            &mut self.srv,
            self.poll.registry(),
            stream,
            addr,
            laddr,
            unix,
        );
    }
}

/// Registers a new connection and its client.
fn add_conn(
    srv: &mut Server,
    registry: &mio::Registry,
    mut stream: Stream,
    addr: String,
    laddr: String,
    unix: bool,
) {
    srv.stats.total_connections_received += 1;
    if srv.clients.len() >= srv.config.maxclients {
        let _ = stream.write(b"-ERR max number of clients reached\r\n");
        srv.stats.rejected_connections += 1;
        return;
    }
    let id = srv.next_client_id;
    srv.next_client_id += 1;
    let token = Token(LISTENER_TOKENS + id as usize);
    if let Err(e) = registry.register(stream.source(), token, Interest::READABLE) {
        log_warning!("Error registering fd event for the new client: {e}");
        return;
    }
    let mut client = Client::new(id, clock::now_ms());
    client.fd = stream.fd();
    client.addr = addr;
    client.laddr = laddr;
    client.unix_socket = unix;
    client.authenticated = srv.config.requirepass.is_none();
    log_verbose!("Accepted {}", client.addr);
    // Boxed: the map moves its values as it grows, and a turn takes a
    // client out of it and puts it back.
    srv.clients.insert(
        id,
        Box::new(Conn {
            stream,
            client,
            inbuf: BytesMut::with_capacity(READ_CHUNK_BYTES),
            parser: RequestParser::new(),
            want_write: false,
            postponed: None,
        }),
    );
}

impl EventLoop {
    /// Reads what the client sent and runs every complete request.
    /// `maybe_eof`: the peer may have closed (the event said so, or it is
    /// not known), so reading goes on until the socket says WouldBlock.
    fn read_client(&mut self, id: u64, maybe_eof: bool) {
        let Some(mut conn) = self.srv.clients.remove(&id) else {
            return;
        };
        if conn.client.close_asap {
            self.close(conn);
            return;
        }
        let mut closed = false;
        let mut reads = 0;
        loop {
            if reads == READS_PER_TURN_MAX {
                self.more_input.push_back(id);
                break;
            }
            // Read at most 16 KiB, or more for a big bulk, but never more than
            // the data already received: a declared length alone reserves nothing.
            let remaining_bulk = conn
                .parser
                .wanted_bytes()
                .unwrap_or(0)
                .saturating_sub(conn.inbuf.len());
            let want = remaining_bulk
                .min(conn.inbuf.len().max(READ_CHUNK_BYTES))
                .max(READ_CHUNK_BYTES);
            let len = conn.inbuf.len();
            // Ordinary reads go through the scratch buffer; only a big bulk
            // in progress reads straight into (zero-grown) query-buffer room.
            let direct = want > READ_CHUNK_BYTES;
            if direct {
                conn.inbuf.resize(len + want, 0);
            }
            let result = if direct {
                conn.stream.read(&mut conn.inbuf[len..])
            } else {
                conn.stream.read(&mut self.scratch[..])
            };
            let n = match result {
                Ok(0) => {
                    conn.inbuf.truncate(len);
                    closed = true;
                    break;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    conn.inbuf.truncate(len);
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    conn.inbuf.truncate(len);
                    continue;
                }
                Err(e) => {
                    conn.inbuf.truncate(len);
                    log_verbose!("Reading from client: {e}");
                    closed = true;
                    break;
                }
            };
            if !direct {
                conn.inbuf.extend_from_slice(&self.scratch[..n]);
            }
            conn.inbuf.truncate(len + n);
            reads += 1;
            self.srv.stats.net_input_bytes += n as u64;
            conn.client.last_interaction_ms = clock::now_ms();
            if !self.process_input(&mut conn) {
                closed = true;
                break;
            }
            // Redis writes replies between reads of at most 16 KiB; do the
            // same for big outputs, or output buffer limits trip on clients
            // whose socket keeps up.
            if conn.client.out.len() > crate::client::REPLY_BUF_BYTES && !conn.client.close_asap {
                match self.write_conn(conn) {
                    Some(c) => conn = c,
                    None => return,
                }
            }
            self.flush_busy_monitors();
            if conn.client.close_after_reply
                || conn.client.close_asap
                || conn.postponed.is_some()
                || self.srv.shutdown.is_some()
            {
                break;
            }
            // A short read drained the socket, so another read would only
            // say WouldBlock: one wasted syscall per request (~7% of a
            // simple command). New data and a later EOF raise a new edge; an
            // EOF already reported with this event does not, so then (and
            // with no reply queued) read on until WouldBlock or EOF.
            if n < want && !maybe_eof && !conn.client.out.is_empty() {
                break;
            }
        }
        self.end_turn(conn, closed);
    }

    /// After a client's requests ran: close it, or queue its output and put
    /// it back with the others.
    fn end_turn(&mut self, mut conn: Box<Conn>, closed: bool) {
        let id = conn.client.id;
        if closed && conn.client.out.is_empty() || conn.client.close_asap {
            self.close(conn);
            return;
        }
        if closed {
            conn.client.close_after_reply = true;
        }
        if !conn.client.out.is_empty() || conn.client.close_after_reply {
            self.srv.pending_writes.push(id);
        }
        self.srv.clients.insert(id, conn);
    }

    /// Once no pause is active, runs the held-back requests in the order they
    /// were stopped, then whatever each client sent meanwhile.
    fn resume_postponed(&mut self) {
        if client_cmd::pause_active(&self.srv, clock::now_ms()) {
            return;
        }
        if self.srv.pause_until_ms != 0 {
            // The pause ran out: expiry resumes even with nobody waiting.
            client_cmd::unpause_clients(&mut self.srv);
        }
        while let Some(id) = self.postponed.pop_front() {
            let Some(mut conn) = self.srv.clients.remove(&id) else {
                continue;
            };
            let mut open = true;
            if let Some(argv) = conn.postponed.take() {
                self.run_request(&mut conn, argv);
                open = self.process_input(&mut conn);
            }
            self.end_turn(conn, !open);
            if client_cmd::pause_active(&self.srv, clock::now_ms()) {
                // A resumed client paused again: the rest keep waiting.
                break;
            }
        }
    }

    /// Times out blocked clients, then runs what clients unblocked since the
    /// last turn sent while they were blocked.
    fn resume_unblocked(&mut self) {
        crate::blocking_streams::expire_timeouts(&mut self.srv, clock::now_ms());
        for id in crate::blocking_streams::take_resumed(&mut self.srv) {
            let Some(mut conn) = self.srv.clients.remove(&id) else {
                continue;
            };
            let open = self.process_input(&mut conn);
            self.end_turn(conn, !open);
        }
    }

    /// Runs one parsed request, or holds it back if CLIENT PAUSE covers it.
    fn run_request(&mut self, conn: &mut Conn, argv: Vec<Bytes>) {
        if dispatch::must_postpone(&self.srv, &conn.client, &argv) {
            conn.postponed = Some(argv);
            self.postponed.push_back(conn.client.id);
            return;
        }
        conn.client.argv_bytes = argv.iter().map(|a| a.len()).sum();
        dispatch::execute(&mut self.srv, &mut conn.client, argv);
        conn.client.argv_bytes = 0;
        if !conn.client.monitor_echo.is_empty() {
            let echo = std::mem::take(&mut conn.client.monitor_echo);
            conn.client.out.extend_from_slice(&echo);
        }
        let io = ConnIo::of_running(&conn.client);
        client_cmd::enforce_output_limit(&mut self.srv, &mut conn.client, &io);
    }

    /// Runs the queued input of clients that list/zset blocking commands released.
    fn resume_unblocked_lists(&mut self) {
        loop {
            let ids = self.srv.blocking.take_unblocked();
            if ids.is_empty() {
                return;
            }
            for id in ids {
                let Some(mut conn) = self.srv.clients.remove(&id) else {
                    continue;
                };
                if !conn.inbuf.is_empty() && !self.process_input(&mut conn)
                    || conn.client.close_asap
                {
                    self.close(conn);
                    continue;
                }
                if !conn.client.out.is_empty() || conn.client.close_after_reply {
                    self.srv.pending_writes.push(id);
                }
                self.srv.clients.insert(id, conn);
            }
        }
    }

    /// Parses and runs complete requests; false means close the connection.
    fn process_input(&mut self, conn: &mut Conn) -> bool {
        // Redis trims its query buffer only after a batch, so CLIENT LIST's
        // qbuf counts the whole batch, the requests already run included.
        let batch_bytes = conn.inbuf.len();
        // A new read: the previous batch's clock says nothing about it.
        self.srv.call_clock = None;
        // Requests whose keys were prefetched and have not run yet; None
        // once prefetching stopped paying for this batch.
        let mut prefetched = self.prefetch_batch_keys(conn);
        loop {
            if conn.client.close_after_reply
                || conn.client.close_asap
                || self.srv.shutdown.is_some()
            {
                return true;
            }
            if conn.postponed.is_some()
                || conn.client.blocked
                || self.srv.blocking.is_blocked(conn.client.id)
            {
                // Held back by CLIENT PAUSE or a blocking command: input
                // waits, within the query buffer limit.
                break;
            }
            let limits = ParseLimits {
                bulk_bytes_max: self.srv.config.proto_max_bulk_len,
                authenticated: conn.client.authenticated,
            };
            match conn.parser.parse(&mut conn.inbuf, limits) {
                Ok(Some(argv)) => {
                    if argv.is_empty() {
                        continue;
                    }
                    conn.client.qbuf_bytes = batch_bytes;
                    conn.client.qbuf_free = conn.inbuf.capacity().saturating_sub(conn.inbuf.len());
                    self.run_request(conn, argv);
                    if let Some(left) = prefetched {
                        prefetched = match left.saturating_sub(1) {
                            0 => self.prefetch_batch_keys(conn),
                            n => Some(n),
                        };
                    }
                    if !self.srv.keyspace.shared.ready_keys.is_empty() {
                        crate::blocking::serve_ready(&mut self.srv);
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    log_verbose!(
                        "Protocol error ({}) from client: id={} addr={}",
                        e.message(),
                        conn.client.id,
                        conn.client.addr
                    );
                    conn.client.push(&Reply::Error(e.message().into()));
                    conn.client.close_after_reply = true;
                    return true;
                }
            }
        }
        if conn.inbuf.len() as u64 > self.srv.config.client_query_buffer_limit {
            log_warning!("Closing client that reached max query buffer length: id={} addr={} (qbuf initial bytes: {:?})", conn.client.id, conn.client.addr, String::from_utf8_lossy(&conn.inbuf[..conn.inbuf.len().min(64)]));
            self.srv.stats.client_qbuf_limit_disconnections += 1;
            return false;
        }
        true
    }

    /// Starts loading what the next requests of the batch will read (see
    /// `lookahead`); how many whole requests that covered.
    fn prefetch_batch_keys(&mut self, conn: &Conn) -> Option<usize> {
        if conn.parser.in_progress() {
            return None;
        }
        crate::lookahead::prefetch_batch(&self.srv.keyspace, conn.client.db, &conn.inbuf)
    }

    /// Writes out monitors holding more than Redis's fixed reply buffer.
    /// Redis feeds monitors from at most one 16 KiB read per client between
    /// writes; a turn here may run many reads, so without this a monitor
    /// that keeps up would still pass its output buffer limit.
    fn flush_busy_monitors(&mut self) {
        if self.srv.monitors.is_empty() {
            return;
        }
        let busy: Vec<u64> = self
            .srv
            .monitors
            .iter()
            .copied()
            .filter(|id| {
                self.srv
                    .clients
                    .get(id)
                    .is_some_and(|c| c.client.out.len() > crate::client::REPLY_BUF_BYTES)
            })
            .collect();
        for id in busy {
            self.write_client(id);
        }
    }

    fn flush_pending_writes(&mut self) {
        // Effects reach the AOF (and the disk, under `always`) before replies.
        crate::aof::before_replies(&mut self.srv);
        let ids = std::mem::take(&mut self.srv.pending_writes);
        for id in ids {
            self.write_client(id);
        }
    }

    fn write_client(&mut self, id: u64) {
        // A writable event may come before this turn's effects were flushed.
        crate::aof::before_replies(&mut self.srv);
        let Some(conn) = self.srv.clients.remove(&id) else {
            return;
        };
        if let Some(conn) = self.write_conn(conn) {
            self.srv.clients.insert(id, conn);
        }
    }

    /// Writes what the socket takes; None if the connection got closed.
    fn write_conn(&mut self, mut conn: Box<Conn>) -> Option<Box<Conn>> {
        let id = conn.client.id;
        if conn.client.close_asap {
            self.close(conn);
            return None;
        }
        let mut written = 0;
        let mut failed = false;
        while written < conn.client.out.len() {
            match conn.stream.write(&conn.client.out[written..]) {
                Ok(0) => {
                    failed = true;
                    break;
                }
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        self.srv.stats.net_output_bytes += written as u64;
        conn.client.out.drain(..written);
        if written > 0 {
            conn.client.last_interaction_ms = clock::now_ms();
        }
        if failed || (conn.client.out.is_empty() && conn.client.close_after_reply) {
            self.close(conn);
            return None;
        }
        let need_write = !conn.client.out.is_empty();
        if need_write != conn.want_write {
            let interest = if need_write {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            let token = Token(LISTENER_TOKENS + id as usize);
            let _ = self
                .poll
                .registry()
                .reregister(conn.stream.source(), token, interest);
            conn.want_write = need_write;
        }
        if conn.client.out.capacity() > 64 * 1024 && conn.client.out.is_empty() {
            conn.client.out = Vec::new();
        }
        Some(conn)
    }

    fn close(&mut self, mut conn: Box<Conn>) {
        let _ = self.poll.registry().deregister(conn.stream.source());
        log_verbose!(
            "Client closed connection id={} addr={}",
            conn.client.id,
            conn.client.addr
        );
        if conn.client.monitor {
            let id = conn.client.id;
            self.srv.monitors.retain(|&m| m != id);
        }
        crate::hooks::client_closed(&mut self.srv, &mut conn.client);
    }

    /// Periodic work at `hz`: active expiry, idle timeouts, killed clients.
    fn cron(&mut self) {
        clock::resync();
        let now = clock::now_ms();
        self.srv.keyspace.set_now_ms(now);
        // 25% of the cycle budget, as ACTIVE_EXPIRE_CYCLE_SLOW_TIME_PERC.
        let budget_us = 1_000_000 / self.srv.config.hz.max(1) as u64 * 25 / 100;
        // A paused dataset stays as it is: no active expiry either.
        if !self.srv.loading
            && self.srv.introspect.active_expire
            && !client_cmd::pause_active(&self.srv, now)
        {
            self.srv.keyspace.active_expire_cycle(budget_us);
        }
        crate::hooks::after_command(&mut self.srv, None);
        let timeout_ms = self.srv.config.timeout_s * 1000;
        let mut to_close = Vec::new();
        for (id, conn) in self.srv.clients.iter() {
            let c = &conn.client;
            // Monitors and clients waiting on a pause never time out.
            let may_idle = !c.monitor
                && conn.postponed.is_none()
                && crate::hooks::idle_timeout_applies(&self.srv, c)
                && !self.srv.blocking.is_blocked(*id);
            if c.close_asap
                || (timeout_ms > 0
                    && now.saturating_sub(c.last_interaction_ms) > timeout_ms
                    && may_idle)
            {
                to_close.push(*id);
            }
        }
        for id in to_close {
            if let Some(conn) = self.srv.clients.remove(&id) {
                if !conn.client.close_asap {
                    log_verbose!("Closing idle client");
                }
                self.close(conn);
            }
        }
        crate::hooks::cron(&mut self.srv, now);
    }
}

/// The socket addresses of `bind` entries on `port` ("*" is every IPv4
/// address, "::*" every IPv6 one; a leading "-" marks an optional address).
pub fn bind_addrs(bind: &[String], port: u16) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    for b in bind {
        let b = b.trim_start_matches('-');
        let addr = match b {
            "*" => format!("0.0.0.0:{port}"),
            "::*" => format!("[::]:{port}"),
            other if other.contains(':') => format!("[{other}]:{port}"),
            other => format!("{other}:{port}"),
        };
        if let Ok(a) = addr.parse() {
            out.push(a);
        }
    }
    out
}

/// What `serve_while_busy` needs of the event loop: a handle to register
/// new connections and duplicates of the listening sockets.
pub struct BusyIo {
    registry: mio::Registry,
    tcp: Vec<std::net::TcpListener>,
    unix: Vec<std::os::unix::net::UnixListener>,
}

/// Accepts the connections waiting on the listeners (while a script is busy).
fn accept_while_busy(srv: &mut Server) {
    let Some(io) = srv.busy_io.take() else {
        return;
    };
    let mut accepted = Vec::new();
    for l in &io.tcp {
        while let Ok((s, a)) = l.accept() {
            if s.set_nonblocking(true).is_err() {
                continue;
            }
            let _ = s.set_nodelay(true);
            let local = s.local_addr().map(|a| a.to_string()).unwrap_or_default();
            accepted.push((
                Stream::Tcp(TcpStream::from_std(s)),
                a.to_string(),
                local,
                false,
            ));
        }
    }
    for l in &io.unix {
        while let Ok((s, _)) = l.accept() {
            if s.set_nonblocking(true).is_err() {
                continue;
            }
            let path = srv.config.unixsocket.clone().unwrap_or_default();
            accepted.push((
                Stream::Unix(UnixStream::from_std(s)),
                format!("{path}:0"),
                format!("{path}:0"),
                true,
            ));
        }
    }
    for (stream, addr, laddr, unix) in accepted {
        add_conn(srv, &io.registry, stream, addr, laddr, unix);
    }
    srv.busy_io = Some(io);
}

/// Bytes read from one client per turn of `serve_while_busy`.
const BUSY_READ_BYTES_MAX: usize = 64 * 1024;

/// Serves the other clients while a script runs past busy-reply-threshold
/// (Redis's `processEventsWhileBlocked`), called from the script's
/// instruction hook with the server the script was lent.
///
/// Each connected client gets one non-blocking read; its complete requests
/// go through the normal dispatch, where the busy gate answers -BUSY to all
/// but the ALLOW_BUSY commands (SCRIPT KILL, FUNCTION KILL, SHUTDOWN ...);
/// replies get one non-blocking write and the rest waits in
/// `pending_writes` for the event loop. It needs no poll: sockets are
/// non-blocking, and with edge-triggered readiness a byte read here
/// simply is not read again later. New connections are accepted through
/// duplicates of the listening sockets (`BusyIo`).
pub fn serve_while_busy(srv: &mut Server) {
    accept_while_busy(srv);
    let ids: Vec<u64> = srv.clients.keys().copied().collect();
    for id in ids {
        let Some(mut conn) = srv.clients.remove(&id) else {
            continue;
        };
        if conn.client.close_asap || conn.postponed.is_some() || conn.client.close_after_reply {
            srv.clients.insert(id, conn);
            continue;
        }
        let mut closed = false;
        let mut read = 0;
        while read < BUSY_READ_BYTES_MAX {
            let len = conn.inbuf.len();
            conn.inbuf.resize(len + READ_CHUNK_BYTES, 0);
            match conn.stream.read(&mut conn.inbuf[len..]) {
                Ok(0) => {
                    conn.inbuf.truncate(len);
                    closed = true;
                    break;
                }
                Ok(n) => {
                    conn.inbuf.truncate(len + n);
                    read += n;
                    srv.stats.net_input_bytes += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => conn.inbuf.truncate(len),
                Err(e) => {
                    conn.inbuf.truncate(len);
                    closed = e.kind() != io::ErrorKind::WouldBlock;
                    break;
                }
            }
        }
        while !conn.client.close_after_reply && !conn.client.close_asap {
            let limits = ParseLimits {
                bulk_bytes_max: srv.config.proto_max_bulk_len,
                authenticated: conn.client.authenticated,
            };
            match conn.parser.parse(&mut conn.inbuf, limits) {
                Ok(Some(argv)) if argv.is_empty() => continue,
                Ok(Some(argv)) => {
                    conn.client.last_interaction_ms = clock::now_ms();
                    dispatch::execute(srv, &mut conn.client, argv);
                }
                Ok(None) => break,
                Err(e) => {
                    conn.client.push(&Reply::Error(e.message().into()));
                    conn.client.close_after_reply = true;
                }
            }
        }
        let mut written = 0;
        while written < conn.client.out.len() {
            match conn.stream.write(&conn.client.out[written..]) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    closed |= e.kind() != io::ErrorKind::WouldBlock;
                    break;
                }
            }
        }
        srv.stats.net_output_bytes += written as u64;
        conn.client.out.drain(..written);
        if closed {
            // The event loop closes it at the next write attempt.
            conn.client.close_asap = true;
        }
        if !conn.client.out.is_empty() || conn.client.close_asap || conn.client.close_after_reply {
            srv.pending_writes.push(id);
        }
        srv.clients.insert(id, conn);
    }
}
