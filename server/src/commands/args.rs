//! A cursor over a command's arguments with Redis's parsing rules.

use bytes::Bytes;

use super::error::CmdError;
use strata_engine::value::parse_i64_strict;

pub struct Args {
    argv: Vec<Bytes>,
    pos: usize,
}

impl Args {
    /// `argv[0]` is the command name; the cursor starts after it.
    pub fn new(argv: Vec<Bytes>) -> Args {
        Args { argv, pos: 1 }
    }

    /// Starts after `skip` words (2 for a subcommand).
    pub fn with_start(argv: Vec<Bytes>, skip: usize) -> Args {
        Args { argv, pos: skip }
    }

    pub fn argv(&self) -> &[Bytes] {
        &self.argv
    }

    pub fn into_argv(self) -> Vec<Bytes> {
        self.argv
    }

    /// Arguments not consumed yet.
    pub fn remaining(&self) -> usize {
        self.argv.len().saturating_sub(self.pos)
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn peek(&self) -> Option<&Bytes> {
        self.argv.get(self.pos)
    }

    /// The next argument; a syntax error if there is none.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Bytes, CmdError> {
        let a = self
            .argv
            .get(self.pos)
            .cloned()
            .ok_or_else(CmdError::syntax)?;
        self.pos += 1;
        Ok(a)
    }

    pub fn next_opt(&mut self) -> Option<Bytes> {
        let a = self.argv.get(self.pos).cloned()?;
        self.pos += 1;
        Some(a)
    }

    /// Same as `next`, named for readability where a key is expected.
    pub fn key(&mut self) -> Result<Bytes, CmdError> {
        self.next()
    }

    /// All the remaining arguments.
    pub fn rest(&mut self) -> Vec<Bytes> {
        let out = self
            .argv
            .get(self.pos..)
            .map(|s| s.to_vec())
            .unwrap_or_default();
        self.pos = self.argv.len();
        out
    }

    pub fn next_i64(&mut self) -> Result<i64, CmdError> {
        parse_i64(&self.next()?)
    }

    /// True (and consumed) if the next argument equals `word`, case-insensitively.
    pub fn eat(&mut self, word: &str) -> bool {
        match self.argv.get(self.pos) {
            Some(a) if a.eq_ignore_ascii_case(word.as_bytes()) => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    /// Errors with a syntax error if arguments remain.
    pub fn finish(&self) -> Result<(), CmdError> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(CmdError::syntax())
        }
    }

    /// The command name as the client sent it.
    pub fn name(&self) -> &[u8] {
        self.argv.first().map(|b| &b[..]).unwrap_or(b"")
    }
}

/// Redis's `getLongLongFromObjectOrReply`: a strict integer.
pub fn parse_i64(b: &[u8]) -> Result<i64, CmdError> {
    parse_i64_strict(b).ok_or_else(CmdError::not_integer)
}

/// Redis's `getLongDoubleFromObject`/`getDoubleFromObject`: strtod rules, no
/// spaces, no NaN.
pub fn parse_f64(b: &[u8]) -> Result<f64, CmdError> {
    parse_f64_opt(b).ok_or_else(CmdError::not_float)
}

pub fn parse_f64_opt(b: &[u8]) -> Option<f64> {
    if b.is_empty() || b[0].is_ascii_whitespace() || b[b.len() - 1].is_ascii_whitespace() {
        return None;
    }
    let s = std::str::from_utf8(b).ok()?;
    let lower = s.to_ascii_lowercase();
    let v = match lower.as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => {
            // Rust's parser accepts forms strtod does not ("1_0" is rejected by both;
            // "nan"/"inf" handled above). Reject anything with letters other than e/E/x.
            if lower.contains("nan") || lower.contains("inf") {
                return None;
            }
            if lower.starts_with("0x") || lower.starts_with("-0x") || lower.starts_with("+0x") {
                return parse_hex_float(&lower);
            }
            s.parse::<f64>().ok()?
        }
    };
    if v.is_nan() {
        return None;
    }
    Some(v)
}

fn parse_hex_float(s: &str) -> Option<f64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[3..]),
        Some(b'+') => (false, &s[3..]),
        _ => (false, &s[2..]),
    };
    let v = i64::from_str_radix(body, 16).ok()? as f64;
    Some(if neg { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_follow_strtod() {
        assert_eq!(parse_f64_opt(b"1.5"), Some(1.5));
        assert_eq!(parse_f64_opt(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64_opt(b"1e3"), Some(1000.0));
        assert_eq!(parse_f64_opt(b" 1"), None);
        assert_eq!(parse_f64_opt(b"nan"), None);
        assert_eq!(parse_f64_opt(b"abc"), None);
        assert_eq!(parse_f64_opt(b".5"), Some(0.5));
    }
}
