//! Reads commands from an AOF stream (RESP arrays and `#TS:` annotations),
//! reporting where each ends, so loaders can trim a torn tail and checkers can
//! say exactly where damage starts.
//!
//! Invariants: never allocates more than `ARG_PREALLOC_BYTES_MAX` ahead of
//! bytes actually read for one argument; every error names the byte offset of
//! the command it was reading.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::indexing_slicing))]

use std::io::{BufRead, Read};

/// Bytes reserved up front for one argument (the rest grows as it arrives).
pub const ARG_PREALLOC_BYTES_MAX: usize = 1 << 20;
/// Longest header line (`*N` or `$N`).
const HEADER_LINE_BYTES_MAX: usize = 128;

#[derive(Debug, PartialEq, Eq)]
pub enum Item {
    /// A command's arguments; `end` is the offset just after it.
    Command {
        argv: Vec<Vec<u8>>,
        start: u64,
        end: u64,
    },
    /// A `#TS:<unix seconds>` annotation (other `#` lines have ts None).
    Annotation {
        ts: Option<u64>,
        start: u64,
        end: u64,
    },
}

#[derive(Debug, PartialEq, Eq)]
pub enum AofError {
    /// The stream ended inside the command that starts at `start`.
    Truncated {
        start: u64,
        what: &'static str,
    },
    /// Malformed bytes at `offset` in the command starting at `start`.
    Invalid {
        start: u64,
        offset: u64,
        what: String,
    },
    Io(String),
}

impl std::fmt::Display for AofError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AofError::Truncated { start, what } => write!(
                f,
                "unexpected end of file reading {what} (command at offset {start})"
            ),
            AofError::Invalid { offset, what, .. } => write!(f, "{what} at offset {offset}"),
            AofError::Io(e) => write!(f, "{e}"),
        }
    }
}

pub struct AofReader<R: BufRead> {
    inner: R,
    pos: u64,
}

impl<R: BufRead> AofReader<R> {
    pub fn new(inner: R) -> Self {
        AofReader { inner, pos: 0 }
    }

    /// Starts counting offsets at `pos` (after an RDB preamble).
    pub fn with_offset(inner: R, pos: u64) -> Self {
        AofReader { inner, pos }
    }

    pub fn pos(&self) -> u64 {
        self.pos
    }

    fn line(&mut self, start: u64, what: &'static str) -> Result<Vec<u8>, AofError> {
        let mut buf = Vec::new();
        let n = (&mut self.inner)
            .take(HEADER_LINE_BYTES_MAX as u64)
            .read_until(b'\n', &mut buf)
            .map_err(|e| AofError::Io(e.to_string()))?;
        if n == 0 || buf.last() != Some(&b'\n') {
            if n >= HEADER_LINE_BYTES_MAX {
                return Err(AofError::Invalid {
                    start,
                    offset: self.pos,
                    what: format!("{what} line too long"),
                });
            }
            return Err(AofError::Truncated { start, what });
        }
        let at = self.pos;
        self.pos += n as u64;
        if buf.len() < 2 || buf.get(buf.len() - 2) != Some(&b'\r') {
            return Err(AofError::Invalid {
                start,
                offset: at,
                what: format!("{what} not terminated by CRLF"),
            });
        }
        buf.truncate(buf.len() - 2);
        Ok(buf)
    }

    /// The next item, or None at a clean end of stream.
    pub fn next_item(&mut self) -> Result<Option<Item>, AofError> {
        let start = self.pos;
        let first = match self.inner.fill_buf() {
            Ok([]) => return Ok(None),
            Ok(b) => b.first().copied(),
            Err(e) => return Err(AofError::Io(e.to_string())),
        };
        if first == Some(b'#') {
            let mut buf = Vec::new();
            let n = self
                .inner
                .read_until(b'\n', &mut buf)
                .map_err(|e| AofError::Io(e.to_string()))?;
            if buf.last() != Some(&b'\n') {
                return Err(AofError::Truncated {
                    start,
                    what: "annotation",
                });
            }
            self.pos += n as u64;
            let text = String::from_utf8_lossy(&buf);
            let ts = text
                .trim_end()
                .strip_prefix("#TS:")
                .and_then(|t| t.parse().ok());
            return Ok(Some(Item::Annotation {
                ts,
                start,
                end: self.pos,
            }));
        }
        if first != Some(b'*') {
            return Err(AofError::Invalid {
                start,
                offset: start,
                what: format!(
                    "Bad file format reading the append only file: expected '*', got '{}'",
                    first.map_or(' ', |c| c as char)
                ),
            });
        }
        let header = self.line(start, "command header")?;
        let argc = parse_len(header.get(1..).unwrap_or(&[]))
            .filter(|&n| n >= 1)
            .ok_or(AofError::Invalid {
                start,
                offset: start,
                what: "Bad file format reading the append only file: invalid argument count".into(),
            })?;
        let mut argv = Vec::with_capacity((argc as usize).min(1024));
        for _ in 0..argc {
            let at = self.pos;
            let h = self.line(start, "argument header")?;
            if h.first() != Some(&b'$') {
                return Err(AofError::Invalid {
                    start,
                    offset: at,
                    what: "Bad file format reading the append only file: expected '$'".into(),
                });
            }
            let len = parse_len(h.get(1..).unwrap_or(&[]))
                .filter(|&n| n >= 0)
                .ok_or(AofError::Invalid {
                    start,
                    offset: at,
                    what: "Bad file format reading the append only file: invalid bulk length"
                        .into(),
                })? as usize;
            let mut arg = Vec::with_capacity(len.min(ARG_PREALLOC_BYTES_MAX));
            let got = (&mut self.inner)
                .take(len as u64)
                .read_to_end(&mut arg)
                .map_err(|e| AofError::Io(e.to_string()))?;
            if got < len {
                return Err(AofError::Truncated {
                    start,
                    what: "argument",
                });
            }
            self.pos += len as u64;
            let mut crlf = [0u8; 2];
            let n = (&mut self.inner)
                .take(2)
                .read(&mut crlf)
                .map_err(|e| AofError::Io(e.to_string()))?;
            let n2 = if n == 1 {
                (&mut self.inner)
                    .take(1)
                    .read(&mut crlf[1..])
                    .map_err(|e| AofError::Io(e.to_string()))?
            } else {
                0
            };
            if n + n2 < 2 {
                return Err(AofError::Truncated {
                    start,
                    what: "argument terminator",
                });
            }
            if crlf != *b"\r\n" {
                return Err(AofError::Invalid { start, offset: self.pos, what: "Bad file format reading the append only file: argument not terminated by CRLF".into() });
            }
            self.pos += 2;
            argv.push(arg);
        }
        Ok(Some(Item::Command {
            argv,
            start,
            end: self.pos,
        }))
    }
}

fn parse_len(s: &[u8]) -> Option<i64> {
    std::str::from_utf8(s).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8]) -> (Vec<Item>, Option<AofError>) {
        let mut r = AofReader::new(input);
        let mut items = Vec::new();
        loop {
            match r.next_item() {
                Ok(Some(i)) => items.push(i),
                Ok(None) => return (items, None),
                Err(e) => return (items, Some(e)),
            }
        }
    }

    const SAMPLE: &[u8] = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n#TS:1700000000\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n";

    #[test]
    fn reads_commands_and_annotations() {
        let (items, err) = all(SAMPLE);
        assert!(err.is_none());
        assert_eq!(items.len(), 3);
        assert_eq!(
            items[1],
            Item::Annotation {
                ts: Some(1_700_000_000),
                start: 23,
                end: 39
            }
        );
        match &items[2] {
            Item::Command { argv, end, .. } => {
                assert_eq!(argv[2], b"hello");
                assert_eq!(*end, SAMPLE.len() as u64);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_truncation_is_reported_as_truncated_after_the_last_whole_command() {
        for cut in 1..SAMPLE.len() {
            let (items, err) = all(&SAMPLE[..cut]);
            let complete_end = items
                .iter()
                .map(|i| match i {
                    Item::Command { end, .. } | Item::Annotation { end, .. } => *end,
                })
                .max()
                .unwrap_or(0);
            if complete_end as usize == cut {
                assert!(err.is_none(), "cut {cut}");
            } else {
                assert!(
                    matches!(err, Some(AofError::Truncated { start, .. }) if start == complete_end),
                    "cut {cut}: {err:?}"
                );
            }
        }
    }

    #[test]
    fn garbage_is_invalid_with_offset() {
        let mut bad = SAMPLE.to_vec();
        bad.extend_from_slice(b"xyz\r\n");
        let (_, err) = all(&bad);
        assert!(
            matches!(err, Some(AofError::Invalid { offset, .. }) if offset == SAMPLE.len() as u64)
        );
        let (_, err) = all(b"*1\r\n$3\r\nfooXY");
        assert!(matches!(err, Some(AofError::Invalid { .. })));
        let (_, err) = all(b"*1\r\n$99999999999\r\nab");
        assert!(matches!(err, Some(AofError::Truncated { .. })));
    }
}
