//! Raw RESP on the client side: framing one reply out of a byte stream (RESP2
//! and RESP3 types), a blocking connection that sends raw bytes and reads
//! whole replies with a deadline, and small helpers to encode requests and
//! print replies readably.
//!
//! Invariant: `RawConn` never loses bytes: whatever was read beyond the reply
//! returned stays buffered for the next read.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Deepest nesting of aggregates `frame_len` follows (a server bug, not a
/// legitimate reply, would go deeper).
const NESTING_MAX: usize = 64;
/// Bytes asked for per `read` call.
const READ_CHUNK_BYTES: usize = 16 * 1024;
/// Default deadline for one reply.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// Length of the first complete reply in `buf`: `Ok(None)` if more bytes are
/// needed, `Err` if the bytes are not RESP.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, String> {
    frame_at(buf, 0, 0)
}

fn line_end(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|i| from + i)
}

fn header_int(buf: &[u8], start: usize, end: usize) -> Result<i64, String> {
    let text =
        std::str::from_utf8(&buf[start + 1..end]).map_err(|_| "non-UTF-8 length".to_string())?;
    text.parse::<i64>()
        .map_err(|_| format!("bad length {text:?} at offset {start}"))
}

/// End offset of the reply that starts at `pos`, if complete.
fn frame_at(buf: &[u8], pos: usize, depth: usize) -> Result<Option<usize>, String> {
    if depth > NESTING_MAX {
        return Err("reply nested too deeply".into());
    }
    let Some(&kind) = buf.get(pos) else {
        return Ok(None);
    };
    let Some(end) = line_end(buf, pos) else {
        return Ok(None);
    };
    let after_header = end + 2;
    match kind {
        b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => Ok(Some(after_header)),
        b'$' | b'!' | b'=' => {
            let n = header_int(buf, pos, end)?;
            if n < 0 {
                return Ok(Some(after_header));
            }
            let stop = after_header + n as usize + 2;
            Ok((buf.len() >= stop).then_some(stop))
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let n = header_int(buf, pos, end)?;
            if n < 0 {
                return Ok(Some(after_header));
            }
            let elems = if matches!(kind, b'%' | b'|') {
                n * 2
            } else {
                n
            };
            let mut at = after_header;
            for _ in 0..elems {
                match frame_at(buf, at, depth + 1)? {
                    Some(next) => at = next,
                    None => return Ok(None),
                }
            }
            if kind == b'|' {
                // Attributes precede the reply they describe.
                return frame_at(buf, at, depth + 1);
            }
            Ok(Some(at))
        }
        other => Err(format!(
            "unknown reply type byte {:?} at offset {pos}",
            other as char
        )),
    }
}

/// Splits an aggregate reply into its header line and its elements (map
/// entries are kept as key+value pairs). `None` for non-aggregates and nulls.
pub fn split_aggregate(reply: &[u8]) -> Option<(&[u8], Vec<&[u8]>)> {
    let kind = *reply.first()?;
    if !matches!(kind, b'*' | b'~' | b'>' | b'%') {
        return None;
    }
    let end = line_end(reply, 0)?;
    let n = header_int(reply, 0, end).ok()?;
    if n < 0 {
        return None;
    }
    let per_entry = if kind == b'%' { 2 } else { 1 };
    let mut elems = Vec::new();
    let mut at = end + 2;
    for _ in 0..n {
        let start = at;
        for _ in 0..per_entry {
            at = frame_at(reply, at, 1).ok()??;
        }
        elems.push(&reply[start..at]);
    }
    Some((&reply[..end + 2], elems))
}

/// The reply with the elements of a top-level aggregate sorted bytewise (for
/// replies whose order is unspecified). Other replies are returned unchanged.
pub fn sorted_reply(reply: &[u8]) -> Vec<u8> {
    match split_aggregate(reply) {
        Some((header, mut elems)) => {
            elems.sort();
            let mut out = header.to_vec();
            for e in elems {
                out.extend_from_slice(e);
            }
            out
        }
        None => reply.to_vec(),
    }
}

/// A request as a RESP multibulk.
pub fn encode_request<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        let a = a.as_ref();
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Bytes as a readable one-line string: printable ASCII kept, `\r` `\n` `\t`
/// `\\` `"` escaped, anything else as `\xHH`.
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() + 2);
    for &b in bytes {
        match b {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
}

/// A plain blocking TCP connection speaking raw RESP.
pub struct RawConn {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Deadline for one reply in `read_reply`.
    pub timeout: Duration,
}

impl RawConn {
    pub fn connect(port: u16) -> io::Result<RawConn> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_nodelay(true)?;
        Ok(RawConn {
            stream,
            buf: Vec::new(),
            timeout: REPLY_TIMEOUT,
        })
    }

    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Sends one request as a multibulk.
    pub fn send_cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<()> {
        self.send(&encode_request(args))
    }

    /// Sends one request and reads its reply.
    pub fn cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<Vec<u8>> {
        self.send_cmd(args)?;
        self.read_reply()
    }

    /// Reads one whole reply within `self.timeout`.
    pub fn read_reply(&mut self) -> io::Result<Vec<u8>> {
        self.read_reply_within(self.timeout)
    }

    /// Reads one whole reply: `TimedOut` if it does not arrive in time,
    /// `UnexpectedEof` if the server closed the connection first.
    pub fn read_reply_within(&mut self, timeout: Duration) -> io::Result<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(n) = self.buffered_frame()? {
                return Ok(self.buf.drain(..n).collect());
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no complete reply in time",
                ));
            }
            if self.fill(remaining)? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed",
                ));
            }
        }
    }

    /// Complete replies that already arrived, without waiting for more
    /// (a reply already begun is waited for up to `self.timeout`).
    pub fn read_ready_replies(&mut self) -> io::Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        self.stream.set_nonblocking(true)?;
        let mut chunk = [0u8; READ_CHUNK_BYTES];
        let polled = loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => break Ok(()),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        self.stream.set_nonblocking(false)?;
        polled?;
        while !self.buf.is_empty() {
            out.push(self.read_reply()?);
        }
        Ok(out)
    }

    /// Whatever bytes arrive within `timeout` (at least one read's worth),
    /// including what was already buffered. Empty on EOF.
    pub fn read_raw(&mut self, timeout: Duration) -> io::Result<Vec<u8>> {
        if self.buf.is_empty() {
            self.fill(timeout)?;
        }
        Ok(std::mem::take(&mut self.buf))
    }

    /// True if the server closes the connection within `timeout` (any bytes
    /// that arrive before the close are discarded).
    pub fn closed_within(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return false;
            }
            match self.fill(remaining) {
                Ok(0) => return true,
                Ok(_) => self.buf.clear(),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => return false,
                // A reset is a close too.
                Err(_) => return true,
            }
        }
    }

    fn buffered_frame(&self) -> io::Result<Option<usize>> {
        frame_len(&self.buf).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{e}: {}", escape(&self.buf)),
            )
        })
    }

    /// One read into the buffer, waiting at most `timeout`; returns the count.
    fn fill(&mut self, timeout: Duration) -> io::Result<usize> {
        self.stream
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
        let mut chunk = [0u8; READ_CHUNK_BYTES];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "read timed out"));
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_every_type() {
        assert_eq!(frame_len(b"+OK\r\n+x"), Ok(Some(5)));
        assert_eq!(frame_len(b"$3\r\nab"), Ok(None));
        assert_eq!(frame_len(b"$3\r\nabc\r\n"), Ok(Some(9)));
        assert_eq!(frame_len(b"$-1\r\n"), Ok(Some(5)));
        assert_eq!(frame_len(b"*2\r\n:1\r\n$1\r\na\r\n"), Ok(Some(15)));
        assert_eq!(frame_len(b"*2\r\n:1\r\n"), Ok(None));
        assert_eq!(frame_len(b"%1\r\n+a\r\n:1\r\n"), Ok(Some(12)));
        assert_eq!(frame_len(b"|1\r\n+a\r\n:1\r\n+OK\r\n"), Ok(Some(17)));
        assert_eq!(frame_len(b"_\r\n"), Ok(Some(3)));
        assert!(frame_len(b"?\r\n").is_err());
    }

    #[test]
    fn sorts_aggregates_only() {
        assert_eq!(
            sorted_reply(b"*3\r\n$1\r\nc\r\n$1\r\na\r\n$1\r\nb\r\n"),
            b"*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n".to_vec()
        );
        assert_eq!(
            sorted_reply(b"%2\r\n+b\r\n:1\r\n+a\r\n:2\r\n"),
            b"%2\r\n+a\r\n:2\r\n+b\r\n:1\r\n".to_vec()
        );
        assert_eq!(sorted_reply(b"-ERR x\r\n"), b"-ERR x\r\n".to_vec());
    }

    #[test]
    fn escapes_control_bytes() {
        assert_eq!(escape(b"+OK\r\n\x00\"\\"), "+OK\\r\\n\\x00\\\"\\\\");
    }
}
