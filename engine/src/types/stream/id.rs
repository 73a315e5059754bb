//! Stream IDs: `<ms>-<seq>`, two unsigned 64-bit numbers ordered as a pair.
//!
//! Parsing follows Redis's rules for each command context (strict or not,
//! a missing sequence, the `ms-*` form); the number parser accepts what
//! Redis's `string2ull` accepts (a strict integer, else C's `strtoull`).

use std::fmt;

/// Longest ID argument Redis parses (its buffer is 128 bytes with the NUL).
pub const ID_ARG_BYTES_MAX: usize = 127;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const ZERO: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    pub fn is_zero(&self) -> bool {
        *self == StreamId::ZERO
    }

    /// The next ID, or None after the last possible one (streamIncrID).
    pub fn next(self) -> Option<StreamId> {
        if self.seq == u64::MAX {
            if self.ms == u64::MAX {
                return None;
            }
            return Some(StreamId::new(self.ms + 1, 0));
        }
        Some(StreamId::new(self.ms, self.seq + 1))
    }

    /// The previous ID, or None before 0-0 (streamDecrID).
    pub fn prev(self) -> Option<StreamId> {
        if self.seq == 0 {
            if self.ms == 0 {
                return None;
            }
            return Some(StreamId::new(self.ms - 1, u64::MAX));
        }
        Some(StreamId::new(self.ms, self.seq - 1))
    }

    /// The 16-byte big-endian key Redis uses in its radix trees and RDB files.
    pub fn to_be_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.ms.to_be_bytes());
        out[8..].copy_from_slice(&self.seq.to_be_bytes());
        out
    }

    pub fn from_be_bytes(b: &[u8; 16]) -> StreamId {
        let mut ms = [0u8; 8];
        let mut seq = [0u8; 8];
        ms.copy_from_slice(&b[..8]);
        seq.copy_from_slice(&b[8..]);
        StreamId::new(u64::from_be_bytes(ms), u64::from_be_bytes(seq))
    }

    /// The ID a new entry gets with `*` (streamNextID): the clock if it moved
    /// past the last ID, else the last ID plus one, so IDs strictly increase
    /// even when the clock goes backwards. None when the last ID is the
    /// largest possible one.
    pub fn auto_after(last: StreamId, now_ms: u64) -> Option<StreamId> {
        if now_ms > last.ms {
            Some(StreamId::new(now_ms, 0))
        } else {
            last.next()
        }
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// An ID argument as parsed; `seq` is None for the `<ms>-*` form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedId {
    pub ms: u64,
    pub seq: Option<u64>,
}

/// How an ID argument is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRules {
    /// `-` and `+` are rejected (streamParseStrictIDOrReply).
    pub strict: bool,
    /// The sequence used when the argument is just `<ms>`.
    pub missing_seq: u64,
    /// `<ms>-*` is accepted (XADD only).
    pub allow_auto_seq: bool,
}

/// Non-strict, missing sequence 0 (streamParseIDOrReply).
pub const LOOSE: IdRules = IdRules {
    strict: false,
    missing_seq: 0,
    allow_auto_seq: false,
};
/// Strict, missing sequence 0.
pub const STRICT: IdRules = IdRules {
    strict: true,
    missing_seq: 0,
    allow_auto_seq: false,
};
/// XADD's ID argument: strict, with `<ms>-*`.
pub const XADD: IdRules = IdRules {
    strict: true,
    missing_seq: 0,
    allow_auto_seq: true,
};

/// Parses an ID argument under `rules`; None if it is invalid.
pub fn parse_id(arg: &[u8], rules: IdRules) -> Option<ParsedId> {
    if arg.len() > ID_ARG_BYTES_MAX {
        return None;
    }
    // Redis works on a C string: an embedded NUL ends the argument.
    let s = match arg.iter().position(|&b| b == 0) {
        Some(n) => &arg[..n],
        None => arg,
    };
    if s == b"-" || s == b"+" {
        if rules.strict {
            return None;
        }
        let v = if s == b"-" { 0 } else { u64::MAX };
        return Some(ParsedId {
            ms: v,
            seq: Some(v),
        });
    }
    let (ms_part, seq_part) = match s.iter().position(|&b| b == b'-') {
        Some(dash) => (&s[..dash], Some(&s[dash + 1..])),
        None => (s, None),
    };
    let ms = parse_u64_like_c(ms_part)?;
    let seq = match seq_part {
        None => Some(rules.missing_seq),
        Some(b"*") if rules.allow_auto_seq => None,
        Some(p) => Some(parse_u64_like_c(p)?),
    };
    Some(ParsedId { ms, seq })
}

/// Parses a full ID (`*` forms excluded) under `rules`.
pub fn parse_full_id(arg: &[u8], rules: IdRules) -> Option<StreamId> {
    let p = parse_id(arg, rules)?;
    Some(StreamId::new(p.ms, p.seq?))
}

/// One end of an interval (XRANGE, XPENDING, XAUTOCLAIM): `(` makes it
/// exclusive and then the rest is parsed strictly. Returns (id, exclusive).
pub fn parse_interval_id(arg: &[u8], missing_seq: u64) -> Option<(StreamId, bool)> {
    let rules = IdRules {
        strict: false,
        missing_seq,
        allow_auto_seq: false,
    };
    if arg.len() > 1 && arg[0] == b'(' {
        let strict = IdRules {
            strict: true,
            ..rules
        };
        return Some((parse_full_id(&arg[1..], strict)?, true));
    }
    Some((parse_full_id(arg, rules)?, false))
}

/// Redis's `string2ull`: a strict decimal integer (negative ones rejected),
/// otherwise what C's `strtoull(s, &end, 10)` accepts when it consumes the
/// whole string: leading blanks, an optional sign (a minus negates modulo
/// 2^64), leading zeros; overflow is rejected.
pub fn parse_u64_like_c(s: &[u8]) -> Option<u64> {
    if let Some(v) = crate::value::parse_i64_strict(s) {
        return u64::try_from(v).ok();
    }
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r') {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let digits = &s[i..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = v.checked_mul(10)?.checked_add((d - b'0') as u64)?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(s: &str, r: IdRules) -> Option<(u64, u64)> {
        parse_full_id(s.as_bytes(), r).map(|i| (i.ms, i.seq))
    }

    #[test]
    fn parses_like_redis() {
        assert_eq!(full("1-2", STRICT), Some((1, 2)));
        assert_eq!(full("5", STRICT), Some((5, 0)));
        assert_eq!(full("-", STRICT), None);
        assert_eq!(full("-", LOOSE), Some((0, 0)));
        assert_eq!(full("+", LOOSE), Some((u64::MAX, u64::MAX)));
        assert_eq!(full(" 7", STRICT), Some((7, 0)));
        assert_eq!(full("+8", STRICT), Some((8, 0)));
        assert_eq!(full("009-01", STRICT), Some((9, 1)));
        assert_eq!(full(" -1", STRICT), None, "the dash splits the ID");
        assert_eq!(full("1- -5", STRICT), Some((1, 5u64.wrapping_neg())));
        assert_eq!(full("1--5", STRICT), None);
        assert_eq!(full("1-", STRICT), None);
        assert_eq!(full("", STRICT), None);
        assert_eq!(
            full("18446744073709551615-18446744073709551615", STRICT),
            Some((u64::MAX, u64::MAX))
        );
        assert_eq!(full("18446744073709551616", STRICT), None);
        assert_eq!(full("1-2-3", STRICT), None);
        assert_eq!(full("1-*", STRICT), None);
        assert_eq!(parse_id(b"1-*", XADD), Some(ParsedId { ms: 1, seq: None }));
        assert_eq!(full("1\0junk", STRICT), Some((1, 0)));
        assert_eq!(full(&"1".repeat(128), LOOSE), None);
    }

    #[test]
    fn intervals() {
        assert_eq!(
            parse_interval_id(b"(1-1", 0),
            Some((StreamId::new(1, 1), true))
        );
        assert_eq!(parse_interval_id(b"(-", 0), None);
        assert_eq!(parse_interval_id(b"(", 0), None);
        assert_eq!(
            parse_interval_id(b"5", u64::MAX),
            Some((StreamId::new(5, u64::MAX), false))
        );
    }

    #[test]
    fn auto_ids_never_go_back() {
        let last = StreamId::new(1000, 5);
        assert_eq!(
            StreamId::auto_after(last, 2000),
            Some(StreamId::new(2000, 0))
        );
        assert_eq!(
            StreamId::auto_after(last, 1000),
            Some(StreamId::new(1000, 6))
        );
        assert_eq!(StreamId::auto_after(last, 10), Some(StreamId::new(1000, 6)));
        assert_eq!(
            StreamId::auto_after(StreamId::new(7, u64::MAX), 3),
            Some(StreamId::new(8, 0))
        );
        assert_eq!(StreamId::auto_after(StreamId::MAX, 3), None);
    }

    #[test]
    fn increments_and_be_bytes() {
        assert_eq!(StreamId::ZERO.prev(), None);
        assert_eq!(StreamId::new(1, 0).prev(), Some(StreamId::new(0, u64::MAX)));
        assert_eq!(StreamId::MAX.next(), None);
        let id = StreamId::new(0x0102, 0x0304);
        assert_eq!(StreamId::from_be_bytes(&id.to_be_bytes()), id);
        assert!(StreamId::new(1, 0).to_be_bytes() > StreamId::new(0, 9).to_be_bytes());
    }
}
