//! Number and range parsing with the C library's rules Redis relies on:
//! `strtod` (decimal, hex, inf/infinity, nan), `string2d` for scores and
//! weights, `zslParseRange` for score ranges, `zslParseLexRangeItem` for lex
//! ranges, and the seconds timeout of the blocking pops.

use crate::commands::CmdError;
use strata_engine::types::zset::{LexBound, LexRange, ScoreRange};

/// Hex digits kept while parsing a hex float (more cannot change a double).
const HEX_DIGITS_KEPT: usize = 30;

/// C's isspace in the "C" locale.
pub(crate) fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// A whole string read as `strtod` reads a number (no leading space): the
/// value, and whether strtod would report ERANGE with a zero or infinite
/// result (overflow, or underflow to zero). None if any byte is left over.
pub(crate) fn strtod_exact(s: &[u8]) -> Option<(f64, bool)> {
    let (neg, body) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let sign = if neg { -1.0 } else { 1.0 };
    if lower == b"inf" || lower == b"infinity" {
        return Some((sign * f64::INFINITY, false));
    }
    if lower == b"nan" {
        return Some((f64::NAN, false));
    }
    if let Some(inner) = lower
        .strip_prefix(b"nan(")
        .and_then(|r| r.strip_suffix(b")"))
    {
        // strtod's "nan(n-char-sequence)".
        if inner
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_')
        {
            return Some((f64::NAN, false));
        }
        return None;
    }
    let (v, nonzero_digits) = if lower.starts_with(b"0x") && lower.len() > 2 {
        parse_hex(&lower[2..])?
    } else {
        parse_decimal(&lower)?
    };
    let v = sign * v;
    let erange = v.is_infinite() || (v == 0.0 && nonzero_digits);
    Some((v, erange))
}

/// `digits [. digits] [e [sign] digits]` with at least one mantissa digit.
fn parse_decimal(s: &[u8]) -> Option<(f64, bool)> {
    let mut i = 0;
    let mut mantissa_digits = 0;
    let mut nonzero = false;
    while i < s.len() && s[i].is_ascii_digit() {
        nonzero |= s[i] != b'0';
        mantissa_digits += 1;
        i += 1;
    }
    if i < s.len() && s[i] == b'.' {
        i += 1;
        while i < s.len() && s[i].is_ascii_digit() {
            nonzero |= s[i] != b'0';
            mantissa_digits += 1;
            i += 1;
        }
    }
    if mantissa_digits == 0 {
        return None;
    }
    if i < s.len() && s[i] == b'e' {
        let mut j = i + 1;
        if j < s.len() && (s[j] == b'+' || s[j] == b'-') {
            j += 1;
        }
        let start = j;
        while j < s.len() && s[j].is_ascii_digit() {
            j += 1;
        }
        if j == start {
            return None;
        }
        i = j;
    }
    if i != s.len() {
        return None;
    }
    let text = std::str::from_utf8(s).ok()?;
    Some((text.parse::<f64>().ok()?, nonzero))
}

/// `hexdigits [. hexdigits] [p [sign] digits]` (after "0x").
fn parse_hex(s: &[u8]) -> Option<(f64, bool)> {
    let mut mant: u128 = 0;
    let mut kept = 0usize;
    let mut exp: i64 = 0;
    let mut digits = 0;
    let mut nonzero = false;
    let mut i = 0;
    let mut after_point = false;
    while i < s.len() {
        let c = s[i];
        if c == b'.' && !after_point {
            after_point = true;
            i += 1;
            continue;
        }
        let Some(d) = (c as char).to_digit(16) else {
            break;
        };
        digits += 1;
        nonzero |= d != 0;
        if kept < HEX_DIGITS_KEPT && (mant != 0 || d != 0) {
            mant = mant * 16 + d as u128;
            kept += 1;
            if after_point {
                exp -= 4;
            }
        } else if mant != 0 && !after_point {
            exp += 4;
        } else if mant == 0 && after_point {
            exp -= 4;
        }
        i += 1;
    }
    if digits == 0 {
        return None;
    }
    if i < s.len() && s[i] == b'p' {
        let mut j = i + 1;
        let neg = j < s.len() && s[j] == b'-';
        if j < s.len() && (s[j] == b'+' || s[j] == b'-') {
            j += 1;
        }
        let start = j;
        let mut e: i64 = 0;
        while j < s.len() && s[j].is_ascii_digit() {
            e = (e * 10 + (s[j] - b'0') as i64).min(1_000_000);
            j += 1;
        }
        if j == start {
            return None;
        }
        exp += if neg { -e } else { e };
        i = j;
    }
    if i != s.len() {
        return None;
    }
    let exp = exp.clamp(-5000, 5000) as i32;
    // Scale in two steps so an intermediate power of two stays finite.
    let half = exp / 2;
    Some((
        (mant as f64) * 2f64.powi(half) * 2f64.powi(exp - half),
        nonzero,
    ))
}

/// Redis's `string2d` (scores, increments, weights): the whole string is a
/// number, no leading space, not NaN, no overflow, no underflow to zero.
pub fn string2d(s: &[u8]) -> Option<f64> {
    if s.is_empty() || is_c_space(s[0]) {
        return None;
    }
    match strtod_exact(s)? {
        (v, false) if !v.is_nan() => Some(v),
        _ => None,
    }
}

/// One end of a score range: `strtod` (leading spaces allowed, an empty
/// string is 0, ERANGE ignored) on the text up to any NUL, not NaN.
fn range_bound(s: &[u8]) -> Option<(f64, bool)> {
    let s = s.split(|&b| b == 0).next().unwrap_or_default();
    let (excl, body) = match s.first() {
        Some(b'(') => (true, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return Some((0.0, excl));
    }
    let start = body.iter().position(|&b| !is_c_space(b))?;
    match strtod_exact(&body[start..])? {
        (v, _) if v.is_nan() => None,
        (v, _) => Some((v, excl)),
    }
}

/// Redis's zslParseRange: "ERR min or max is not a float" on failure.
pub fn parse_score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange, CmdError> {
    let err = || CmdError::new("ERR min or max is not a float");
    let (min, min_excl) = range_bound(min).ok_or_else(err)?;
    let (max, max_excl) = range_bound(max).ok_or_else(err)?;
    Ok(ScoreRange {
        min,
        max,
        min_excl,
        max_excl,
    })
}

/// Redis's zslParseLexRangeItem: `-`, `+`, `(member` or `[member`.
fn lex_bound(s: &[u8]) -> Option<LexBound> {
    // "+" and "-" are compared as C strings: anything after a NUL is ignored.
    let alone = s.len() == 1 || s.get(1) == Some(&0);
    match s.first()? {
        b'+' if alone => Some(LexBound::PosInf),
        b'-' if alone => Some(LexBound::NegInf),
        b'(' => Some(LexBound::Excl(s[1..].to_vec())),
        b'[' => Some(LexBound::Incl(s[1..].to_vec())),
        _ => None,
    }
}

pub fn parse_lex_range(min: &[u8], max: &[u8]) -> Result<LexRange, CmdError> {
    let err = || CmdError::new("ERR min or max not valid string range item");
    Ok(LexRange {
        min: lex_bound(min).ok_or_else(err)?,
        max: lex_bound(max).ok_or_else(err)?,
    })
}

/// The seconds timeout of BZPOPMIN/BZPOPMAX/BZMPOP (getTimeoutFromObjectOrReply
/// with UNIT_SECONDS), in milliseconds; 0 means block forever.
pub fn parse_timeout_ms(s: &[u8]) -> Result<u64, CmdError> {
    crate::blocking::timeout_ms(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string2d_rules() {
        assert_eq!(string2d(b"1.5"), Some(1.5));
        assert_eq!(string2d(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(string2d(b"+Infinity"), Some(f64::INFINITY));
        assert_eq!(string2d(b"0x10"), Some(16.0));
        assert_eq!(string2d(b"0x1p3"), Some(8.0));
        assert_eq!(string2d(b"0x.8"), Some(0.5));
        assert_eq!(string2d(b"1e5"), Some(100000.0));
        assert_eq!(string2d(b".5"), Some(0.5));
        assert_eq!(string2d(b"5."), Some(5.0));
        assert_eq!(string2d(b"4e-320"), Some(4e-320));
        assert_eq!(string2d(b"0e-400"), Some(0.0));
        for bad in [
            &b""[..],
            b" 1",
            b"1 ",
            b"nan",
            b"1e400",
            b"1e-400",
            b"1e",
            b"e5",
            b".",
            b"0x",
            b"1x",
            b"--1",
        ] {
            assert_eq!(string2d(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn score_ranges() {
        let r = parse_score_range(b"(1", b"+inf").unwrap();
        assert!(r.min_excl && !r.max_excl && r.min == 1.0 && r.max == f64::INFINITY);
        let r = parse_score_range(b"", b"(").unwrap();
        assert!(r.min == 0.0 && r.max == 0.0 && r.max_excl);
        assert_eq!(
            parse_score_range(b" 1", b"1e400").unwrap().max,
            f64::INFINITY
        );
        assert!(parse_score_range(b"1 ", b"2").is_err());
        assert!(parse_score_range(b" ", b"2").is_err());
        assert!(parse_score_range(b"nan", b"2").is_err());
        assert!(parse_score_range(b"x", b"2").is_err());
        assert_eq!(parse_score_range(b"3\0junk", b"4").unwrap().min, 3.0);
    }

    #[test]
    fn lex_ranges() {
        assert!(parse_lex_range(b"-", b"+").is_ok());
        assert_eq!(
            parse_lex_range(b"[a", b"(b").unwrap().min,
            LexBound::Incl(b"a".to_vec())
        );
        assert!(parse_lex_range(b"a", b"+").is_err());
        assert!(parse_lex_range(b"", b"+").is_err());
        assert!(parse_lex_range(b"-x", b"+").is_err());
        assert!(parse_lex_range(b"+\0x", b"-").is_ok());
    }

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout_ms(b"0"), Ok(0));
        assert_eq!(parse_timeout_ms(b"1.5"), Ok(1500));
        assert_eq!(parse_timeout_ms(b"-0.0001"), Ok(0));
        assert_eq!(parse_timeout_ms(b"0.0001"), Ok(1));
        assert!(parse_timeout_ms(b"-1").is_err());
        assert_eq!(
            parse_timeout_ms(b"inf"),
            Err(CmdError::new("ERR timeout is negative"))
        );
        assert_eq!(
            parse_timeout_ms(b"1e400"),
            Err(CmdError::new("ERR timeout is negative"))
        );
        assert_eq!(
            parse_timeout_ms(b"x"),
            Err(CmdError::new("ERR timeout is not a float or out of range"))
        );
    }
}
