//! Incremental request parser: RESP2 multibulk (`*N\r\n$L\r\n...`) and inline
//! commands, with Redis's limits and protocol error messages.
//!
//! The parser keeps its place between reads (like Redis's `multibulklen` and
//! `bulklen`), so a request split across many reads is not re-parsed from the
//! start, and it never reserves memory from a length the client declared
//! beyond `BULK_PREALLOC_BYTES_MAX` / `ARGV_PREALLOC_MAX`.
//!
//! Invariant: `parse` either consumes a whole request from the buffer and
//! returns it, consumes a prefix it has fully accounted for (headers, complete
//! bulks) and returns `Ok(None)`, or returns a protocol error after which the
//! connection is closed.

use bytes::{Buf, Bytes, BytesMut};

pub const KIB: usize = 1024;
pub const MIB: usize = 1024 * KIB;
/// Longest inline request or multibulk header line (PROTO_INLINE_MAX_SIZE).
pub const INLINE_BYTES_MAX: usize = 64 * KIB;
/// Most arguments in one multibulk request (Redis: 1024*1024*1024? no: INT_MAX, but argv
/// preallocation is capped; see ARGV_PREALLOC_MAX).
pub const MULTIBULK_ARGS_MAX: i64 = i32::MAX as i64;
/// Most argument slots reserved up front from a declared count.
pub const ARGV_PREALLOC_MAX: usize = 1024;
/// Most bytes reserved up front for a bulk from its declared length.
pub const BULK_PREALLOC_BYTES_MAX: usize = 16 * KIB;
/// Largest multibulk count an unauthenticated client may declare (Redis 7.0.x).
pub const UNAUTH_MULTIBULK_MAX: i64 = 10;
/// Largest bulk an unauthenticated client may declare.
pub const UNAUTH_BULK_BYTES_MAX: i64 = 16384;
const _: () = assert!(BULK_PREALLOC_BYTES_MAX < INLINE_BYTES_MAX);

#[derive(Debug, Clone, Copy)]
pub struct ParseLimits {
    /// `proto-max-bulk-len`.
    pub bulk_bytes_max: i64,
    /// Whether the client has authenticated (stricter limits before that).
    pub authenticated: bool,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            bulk_bytes_max: 512 * MIB as i64,
            authenticated: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    InvalidMultibulkLength,
    InvalidBulkLength,
    TooBigInline,
    TooBigMbulkCount,
    TooBigBulkCount,
    UnbalancedQuotes,
    ExpectedDollar(u8),
    UnauthMultibulk,
    UnauthBulk,
}

impl ProtocolError {
    /// The error line Redis sends before closing (without the dash).
    pub fn message(&self) -> String {
        match self {
            ProtocolError::InvalidMultibulkLength => {
                "ERR Protocol error: invalid multibulk length".into()
            }
            ProtocolError::InvalidBulkLength => "ERR Protocol error: invalid bulk length".into(),
            ProtocolError::TooBigInline => "ERR Protocol error: too big inline request".into(),
            ProtocolError::TooBigMbulkCount => {
                "ERR Protocol error: too big mbulk count string".into()
            }
            ProtocolError::TooBigBulkCount => {
                "ERR Protocol error: too big bulk count string".into()
            }
            ProtocolError::UnbalancedQuotes => {
                "ERR Protocol error: unbalanced quotes in request".into()
            }
            ProtocolError::ExpectedDollar(c) => {
                format!("ERR Protocol error: expected '$', got '{}'", *c as char)
            }
            ProtocolError::UnauthMultibulk => {
                "ERR Protocol error: unauthenticated multibulk length".into()
            }
            ProtocolError::UnauthBulk => "ERR Protocol error: unauthenticated bulk length".into(),
        }
    }
}

#[derive(Default)]
pub struct RequestParser {
    /// Arguments still expected in the current multibulk request (0: none started).
    pending_args: usize,
    /// Length of the bulk being read, once its header was parsed.
    bulk_len: Option<usize>,
    argv: Vec<Bytes>,
}

impl RequestParser {
    pub fn new() -> RequestParser {
        RequestParser::default()
    }

    /// True when part of a request has been consumed.
    pub fn in_progress(&self) -> bool {
        self.pending_args > 0
    }

    /// Size hint for the next read: the rest of a big bulk being read.
    pub fn wanted_bytes(&self) -> Option<usize> {
        self.bulk_len.map(|n| n + 2)
    }

    /// Parses one request. `Ok(Some(argv))` is a complete request (possibly
    /// empty argv for a blank inline line, which callers skip); `Ok(None)` means
    /// more bytes are needed.
    pub fn parse(
        &mut self,
        buf: &mut BytesMut,
        limits: ParseLimits,
    ) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        if self.pending_args == 0 {
            match buf.first() {
                None => return Ok(None),
                Some(b'*') => {}
                Some(_) => return parse_inline(buf),
            }
            // Multibulk header.
            let Some(line_end) = find_crlf(buf) else {
                if buf.len() > INLINE_BYTES_MAX {
                    return Err(ProtocolError::TooBigMbulkCount);
                }
                return Ok(None);
            };
            if line_end > INLINE_BYTES_MAX {
                return Err(ProtocolError::TooBigMbulkCount);
            }
            let count =
                parse_len(&buf[1..line_end]).ok_or(ProtocolError::InvalidMultibulkLength)?;
            if count > MULTIBULK_ARGS_MAX {
                return Err(ProtocolError::InvalidMultibulkLength);
            }
            if !limits.authenticated && count > UNAUTH_MULTIBULK_MAX {
                return Err(ProtocolError::UnauthMultibulk);
            }
            buf.advance(line_end + 2);
            if count <= 0 {
                // "*0" and "*-1" are empty requests: skipped.
                return Ok(Some(Vec::new()));
            }
            self.pending_args = count as usize;
            self.argv = Vec::with_capacity(self.pending_args.min(ARGV_PREALLOC_MAX));
        }
        while self.pending_args > 0 {
            let len = match self.bulk_len {
                Some(len) => len,
                None => {
                    let Some(line_end) = find_crlf(buf) else {
                        if buf.len() > INLINE_BYTES_MAX {
                            return Err(ProtocolError::TooBigBulkCount);
                        }
                        return Ok(None);
                    };
                    if line_end > INLINE_BYTES_MAX {
                        return Err(ProtocolError::TooBigBulkCount);
                    }
                    if buf[0] != b'$' {
                        return Err(ProtocolError::ExpectedDollar(buf[0]));
                    }
                    let len =
                        parse_len(&buf[1..line_end]).ok_or(ProtocolError::InvalidBulkLength)?;
                    if len < 0 || len > limits.bulk_bytes_max {
                        return Err(ProtocolError::InvalidBulkLength);
                    }
                    if !limits.authenticated && len > UNAUTH_BULK_BYTES_MAX {
                        return Err(ProtocolError::UnauthBulk);
                    }
                    buf.advance(line_end + 2);
                    let len = len as usize;
                    self.bulk_len = Some(len);
                    // Reserve room for the body, but never more than a small cap
                    // from a length the client only declared.
                    let want = (len + 2).min(BULK_PREALLOC_BYTES_MAX);
                    if buf.capacity() - buf.len() < want {
                        buf.reserve(want);
                    }
                    len
                }
            };
            if buf.len() < len + 2 {
                return Ok(None);
            }
            // Redis does not check the CRLF after a bulk; it skips two bytes.
            let arg = buf.split_to(len).freeze();
            buf.advance(2);
            self.argv.push(arg);
            self.bulk_len = None;
            self.pending_args -= 1;
        }
        Ok(Some(std::mem::take(&mut self.argv)))
    }
}

/// Which arguments of a request the look-ahead takes for keys: argument 1
/// (the key of most commands), or every other one from 1 for MSET/MSETNX,
/// or all from 1 for the multi-key reads and deletes. A guess: a wrong one
/// only prefetches something useless.
pub fn key_step(name: &[u8]) -> Option<usize> {
    let is = |w: &[u8]| name.eq_ignore_ascii_case(w);
    if is(b"mset") || is(b"msetnx") {
        Some(2)
    } else if is(b"mget") || is(b"del") || is(b"unlink") || is(b"exists") || is(b"touch") {
        Some(1)
    } else {
        None
    }
}

/// What `peek_keys` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peeked {
    /// Key spans written to the front of `out`.
    pub keys: usize,
    /// Whole requests at the front of the buffer all of whose keys are
    /// among them.
    pub requests: usize,
}

/// The framing of the look-ahead (`peek_keys`, `peek_requests`): walks
/// complete multibulk requests at the start of a buffer, argument by
/// argument, and answers None at anything it does not fully understand
/// (inline requests, partial data, odd framing), which the real parser
/// judges. Its work is bounded whatever the buffer holds.
struct Frames<'a> {
    buf: &'a [u8],
    at: usize,
    args_left: i64,
}

impl<'a> Frames<'a> {
    /// A valid header line is at most 22 bytes.
    const HEADER_BYTES_MAX: usize = 32;
    /// Past a few dozen arguments the batch is not a run of small commands.
    const ARGS_SCANNED_MAX: i64 = 64;

    fn new(buf: &'a [u8]) -> Self {
        Frames {
            buf,
            at: 0,
            args_left: Self::ARGS_SCANNED_MAX,
        }
    }

    /// The header line at `at` of type `kind`: its number, and the offset
    /// after its CRLF.
    fn header(&self, kind: u8) -> Option<(i64, usize)> {
        let rest = self.buf.get(self.at..)?;
        if rest.first() != Some(&kind) {
            return None;
        }
        let end = find_crlf(&rest[..rest.len().min(Self::HEADER_BYTES_MAX)])?;
        Some((parse_len(&rest[1..end])?, self.at + end + 2))
    }

    /// Starts the next request: its argument count (at least 1).
    fn request(&mut self) -> Option<usize> {
        let (count, next) = self.header(b'*')?;
        if count < 1 || count > self.args_left {
            return None;
        }
        self.args_left -= count;
        self.at = next;
        Some(count as usize)
    }

    /// The next argument of the current request, as a span of the buffer.
    fn arg(&mut self) -> Option<(usize, usize)> {
        let (len, start) = self.header(b'$')?;
        let stop = usize::try_from(len)
            .ok()
            .and_then(|len| start.checked_add(len))
            .filter(|&s| self.buf.len().checked_sub(s).is_some_and(|r| r >= 2))?;
        self.at = stop + 2;
        Some((start, stop))
    }
}

/// The probable keys (see `key_step`) of the complete multibulk requests at
/// the start of `buf`, as byte ranges of `buf`, until `out` is full. A look
/// ahead so the keyspace can prefetch a pipelined batch (see `Frames`).
pub fn peek_keys(buf: &[u8], out: &mut [(usize, usize)]) -> Peeked {
    let mut found = Peeked {
        keys: 0,
        requests: 0,
    };
    let mut frames = Frames::new(buf);
    while found.keys < out.len() {
        let Some(count) = frames.request() else {
            return found;
        };
        let mut step = None;
        let mut keys = found.keys;
        for i in 0..count {
            let Some((start, stop)) = frames.arg() else {
                return found;
            };
            if i == 0 {
                step = key_step(&buf[start..stop]);
            } else if i == 1 || step.is_some_and(|st| (i - 1) % st == 0) {
                let Some(slot) = out.get_mut(keys) else {
                    // Full: this request's keys are not all in.
                    found.keys = keys;
                    return found;
                };
                *slot = (start, stop);
                keys += 1;
            }
        }
        found.keys = keys;
        found.requests += 1;
    }
    found
}

/// The arguments of the complete multibulk requests at the start of `buf`
/// (see `Frames`), as byte ranges of `buf`: request `r` has the spans
/// `spans[counts[..r].sum()..][..counts[r]]`. Stops when either slice is
/// full; returns how many requests it wrote.
pub fn peek_requests(buf: &[u8], spans: &mut [(usize, usize)], counts: &mut [usize]) -> usize {
    let mut frames = Frames::new(buf);
    let mut used = 0;
    for (r, n) in counts.iter_mut().enumerate() {
        let Some(count) = frames.request() else {
            return r;
        };
        let Some(out) = spans.get_mut(used..used + count) else {
            return r;
        };
        for slot in out {
            let Some(span) = frames.arg() else {
                return r;
            };
            *slot = span;
        }
        used += count;
        *n = count;
    }
    counts.len()
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    let nl = memchr(b'\r', buf)?;
    if nl + 1 < buf.len() {
        if buf[nl + 1] == b'\n' {
            Some(nl)
        } else {
            // A lone CR: keep searching after it.
            find_crlf(&buf[nl + 1..]).map(|i| i + nl + 1)
        }
    } else {
        None
    }
}

fn memchr(c: u8, buf: &[u8]) -> Option<usize> {
    buf.iter().position(|&b| b == c)
}

/// A length as Redis's `string2ll` reads it (strict decimal, optional minus).
fn parse_len(s: &[u8]) -> Option<i64> {
    strata_engine::value::parse_i64_strict(s)
}

fn parse_inline(buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    let Some(nl) = memchr(b'\n', buf) else {
        if buf.len() > INLINE_BYTES_MAX {
            return Err(ProtocolError::TooBigInline);
        }
        return Ok(None);
    };
    if nl > INLINE_BYTES_MAX {
        return Err(ProtocolError::TooBigInline);
    }
    let mut line_end = nl;
    if line_end > 0 && buf[line_end - 1] == b'\r' {
        line_end -= 1;
    }
    let args = split_args(&buf[..line_end]).ok_or(ProtocolError::UnbalancedQuotes)?;
    buf.advance(nl + 1);
    Ok(Some(args.into_iter().map(Bytes::from).collect()))
}

/// Redis's `sdssplitargs`: whitespace-separated words, "double quotes" with
/// escapes (\n \r \t \b \a \\ \" \xHH) and 'single quotes' (only \' escaped).
/// A closing quote must be followed by a space or the end. None if unbalanced.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && is_space(line[i]) {
            i += 1;
        }
        if i >= n {
            return Some(out);
        }
        let mut cur = Vec::new();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\'
                    && i + 3 < n
                    && line[i + 1] == b'x'
                    && is_hex(line[i + 2])
                    && is_hex(line[i + 3])
                {
                    cur.push(hex(line[i + 2]) * 16 + hex(line[i + 3]));
                    i += 3;
                } else if c == b'\\' && i + 1 < n {
                    i += 1;
                    cur.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    if i + 1 < n && !is_space(line[i + 1]) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else if in_sq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    i += 1;
                    cur.push(b'\'');
                } else if c == b'\'' {
                    if i + 1 < n && !is_space(line[i + 1]) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    c if is_space(c) => break,
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    c => cur.push(c),
                }
            }
            i += 1;
        }
        out.push(cur);
    }
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\n' | b'\r' | b'\t' | 0x0b | 0x0c | 0)
}

fn is_hex(c: u8) -> bool {
    c.is_ascii_hexdigit()
}

fn hex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peek_finds_the_keys_of_each_whole_request() {
        let buf = b"*3\r\n$3\r\nSET\r\n$2\r\nk1\r\n$1\r\nv\r\n*1\r\n$4\r\nPING\r\n*5\r\n$4\r\nmset\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n*3\r\n$4\r\nMGET\r\n$1\r\nx\r\n$1\r\ny\r\n*2\r\n$3\r\nGET\r\n$3\r\nke";
        let mut spans = [(0, 0); 8];
        let p = peek_keys(buf, &mut spans);
        let got: Vec<&[u8]> = spans[..p.keys].iter().map(|&(a, b)| &buf[a..b]).collect();
        assert_eq!(got, [&b"k1"[..], b"a", b"b", b"x", b"y"]);
        assert_eq!(p.requests, 4);
        // Room for fewer keys: only requests whose keys all fit count.
        let p = peek_keys(buf, &mut spans[..2]);
        assert_eq!((p.keys, p.requests), (2, 2));
        assert_eq!(peek_keys(buf, &mut spans[..1]).requests, 1);
        let none = Peeked {
            keys: 0,
            requests: 0,
        };
        let mut args = [(0, 0); 8];
        let mut counts = [0; 4];
        let buf = b"*2\r\n$3\r\nGET\r\n$2\r\nk1\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\nb\r\n*5\r\n";
        assert_eq!(peek_requests(buf, &mut args, &mut counts), 2);
        assert_eq!(counts[..2], [2, 3]);
        let got: Vec<&[u8]> = args[..5].iter().map(|&(a, b)| &buf[a..b]).collect();
        assert_eq!(got, [&b"GET"[..], b"k1", b"SET", b"a", b"b"]);
        // Full slices stop it before the request that does not fit.
        assert_eq!(peek_requests(buf, &mut args[..4], &mut counts), 1);
        assert_eq!(peek_requests(buf, &mut args, &mut counts[..1]), 1);
        assert_eq!(peek_keys(b"GET k\r\n*2\r\n", &mut spans), none);
        assert_eq!(peek_keys(b"*2\r\n$-1\r\n", &mut spans), none);
        assert_eq!(peek_keys(b"*0\r\n", &mut spans), none);
        assert_eq!(
            peek_keys(b"*2\r\n$99999999999999999999\r\n", &mut spans),
            none
        );
    }

    fn parse_all(input: &[u8]) -> Result<Vec<Vec<Bytes>>, ProtocolError> {
        let mut p = RequestParser::new();
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(argv) = p.parse(&mut buf, ParseLimits::default())? {
            out.push(argv);
        }
        Ok(out)
    }

    #[test]
    fn multibulk_and_inline() {
        let r = parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\nset a \"b c\"\r\n").unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r[0], vec![Bytes::from("GET"), Bytes::from("k")]);
        assert_eq!(r[1], vec![Bytes::from("PING")]);
        assert_eq!(
            r[2],
            vec![Bytes::from("set"), Bytes::from("a"), Bytes::from("b c")]
        );
    }

    #[test]
    fn every_split_point_gives_the_same_requests() {
        let input: &[u8] =
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\nPING\r\n*1\r\n$4\r\nPING\r\n";
        let whole = parse_all(input).unwrap();
        for split in 0..input.len() {
            let mut p = RequestParser::new();
            let mut buf = BytesMut::from(&input[..split]);
            let mut got = Vec::new();
            while let Some(a) = p.parse(&mut buf, ParseLimits::default()).unwrap() {
                got.push(a);
            }
            buf.extend_from_slice(&input[split..]);
            while let Some(a) = p.parse(&mut buf, ParseLimits::default()).unwrap() {
                got.push(a);
            }
            assert_eq!(got, whole, "split at {split}");
        }
    }

    #[test]
    fn protocol_errors() {
        assert_eq!(
            parse_all(b"*x\r\n"),
            Err(ProtocolError::InvalidMultibulkLength)
        );
        assert_eq!(
            parse_all(b"*1\r\n$x\r\n"),
            Err(ProtocolError::InvalidBulkLength)
        );
        assert_eq!(
            parse_all(b"*1\r\nfoo\r\n"),
            Err(ProtocolError::ExpectedDollar(b'f'))
        );
        assert_eq!(
            parse_all(b"set \"a\r\n"),
            Err(ProtocolError::UnbalancedQuotes)
        );
        assert_eq!(
            parse_all(b"*1\r\n$536870913\r\n"),
            Err(ProtocolError::InvalidBulkLength)
        );
        let big = vec![b'a'; INLINE_BYTES_MAX + 10];
        assert_eq!(parse_all(&big), Err(ProtocolError::TooBigInline));
        assert_eq!(
            ProtocolError::ExpectedDollar(b'x').message(),
            "ERR Protocol error: expected '$', got 'x'"
        );
    }

    #[test]
    fn declared_huge_bulk_does_not_reserve_it() {
        let mut p = RequestParser::new();
        let mut buf = BytesMut::from(&b"*1\r\n$500000000\r\n0123456789"[..]);
        assert_eq!(p.parse(&mut buf, ParseLimits::default()).unwrap(), None);
        assert!(buf.capacity() < 64 * KIB, "capacity {}", buf.capacity());
    }

    #[test]
    fn split_args_quotes() {
        assert_eq!(
            split_args(b"a 'b c' \"\\x41\\n\"").unwrap(),
            vec![b"a".to_vec(), b"b c".to_vec(), b"A\n".to_vec()]
        );
        assert!(split_args(b"\"a\"b").is_none());
        assert_eq!(split_args(b"   ").unwrap().len(), 0);
    }
}
