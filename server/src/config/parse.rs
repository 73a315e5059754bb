//! Value parsers and formatters for configuration directives, with the exact
//! acceptance rules of Redis's helpers (`string2ll`, `memtoull`, `strtoll`,
//! `string2d`, `sdscatrepr`), so a value Redis accepts is accepted here and a
//! value it refuses gets the same error.
//!
//! Invariant: nothing here panics or allocates from a length found in the input.

use strata_engine::value::parse_i64_strict;

/// `yes` / `no`, case-insensitive.
pub fn yes_no(s: &[u8]) -> Option<bool> {
    if s.eq_ignore_ascii_case(b"yes") {
        Some(true)
    } else if s.eq_ignore_ascii_case(b"no") {
        Some(false)
    } else {
        None
    }
}

/// A strict integer (Redis's `string2ll`): no sign but '-', no leading zeros,
/// no spaces, within i64.
pub fn string2ll(s: &[u8]) -> Option<i64> {
    parse_i64_strict(s)
}

/// A byte count with an optional unit (Redis's `memtoull`): digits then one of
/// b, k, kb, m, mb, g, gb (any case); k = 1000, kb = 1024. An empty digit part
/// counts as 0 and an overflowing one saturates, as `strtoull` does; the
/// product wraps, as in C.
pub fn memtoull(s: &[u8]) -> Option<u64> {
    if s.first() == Some(&b'-') {
        return None;
    }
    let digits_end = s
        .iter()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(s.len());
    let (digits, unit) = s.split_at(digits_end);
    let mul: u64 = match unit.to_ascii_lowercase().as_slice() {
        b"" | b"b" => 1,
        b"k" => 1000,
        b"kb" => 1024,
        b"m" => 1000 * 1000,
        b"mb" => 1024 * 1024,
        b"g" => 1000 * 1000 * 1000,
        b"gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    // Redis copies the digits into a 128-byte buffer first and refuses longer ones.
    const DIGITS_MAX: usize = 127;
    if digits.len() > DIGITS_MAX {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        v = v.saturating_mul(10).saturating_add((c - b'0') as u64);
    }
    Some(v.wrapping_mul(mul))
}

fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// C's `strtoll(s, &end, radix)` followed by a check that `*end == '\0'`:
/// leading white space and a sign are allowed; an empty string is 0. The
/// flag is true when the value overflowed (and was clamped, as errno=ERANGE).
pub fn strtoll_whole(s: &[u8], radix: u32) -> Option<(i64, bool)> {
    if s.is_empty() {
        return Some((0, false));
    }
    let mut i = 0;
    while i < s.len() && is_c_space(s[i]) {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let start = i;
    let mut mag: u128 = 0;
    while i < s.len() {
        let Some(d) = (s[i] as char).to_digit(radix) else {
            break;
        };
        mag = (mag * radix as u128 + d as u128).min(u64::MAX as u128 + 1);
        i += 1;
    }
    if i == start || i != s.len() {
        // No digits: strtoll leaves `end` at the start, which is not the end.
        return None;
    }
    let limit = if neg {
        i64::MAX as u128 + 1
    } else {
        i64::MAX as u128
    };
    if mag > limit {
        return Some((if neg { i64::MIN } else { i64::MAX }, true));
    }
    let v = if neg {
        (mag as i64).wrapping_neg()
    } else {
        mag as i64
    };
    Some((v, false))
}

/// Redis's `string2d`: strtod over the whole string, no leading space, no
/// NaN, no overflow to infinity, no underflow to zero.
pub fn string2d(s: &[u8]) -> Option<f64> {
    let v = crate::commands::args::parse_f64_opt(s)?;
    let text = std::str::from_utf8(s).ok()?.to_ascii_lowercase();
    let literal_inf = text.contains("inf");
    if v.is_infinite() && !literal_inf {
        return None; // ERANGE with HUGE_VAL
    }
    if v == 0.0
        && text.bytes().any(|c| (b'1'..=b'9').contains(&c))
        && !text.starts_with("0x")
        && !text.starts_with("-0x")
    {
        // ERANGE underflow: a non-zero literal that became 0. (Only a mantissa of
        // zeros gives a true zero; "1e-400" does not.)
        let mantissa = text.split('e').next().unwrap_or("");
        if mantissa.bytes().any(|c| (b'1'..=b'9').contains(&c)) {
            return None;
        }
    }
    Some(v)
}

/// `printf("%f")` followed by Redis's `trimDoubleString` (drop trailing zeros
/// after the point, then the point itself).
pub fn fmt_f_trim(v: f64) -> String {
    let mut s = format!("{v:.6}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    s
}

/// Redis's `sdscatrepr`: a double-quoted string with C escapes.
pub fn repr(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for &c in s {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            7 => out.push_str("\\a"),
            8 => out.push_str("\\b"),
            c if (0x20..0x7f).contains(&c) => out.push(c as char),
            c => out.push_str(&format!("\\x{c:02x}")),
        }
    }
    out.push('"');
    out
}

/// A byte count as CONFIG REWRITE writes it: the largest of gb/mb/kb that
/// divides it, else plain (Redis formats it as a signed `long long`).
pub fn fmt_memory_rewrite(bytes: i64) -> String {
    const GB: i64 = 1024 * 1024 * 1024;
    const MB: i64 = 1024 * 1024;
    const KB: i64 = 1024;
    if bytes != 0 && bytes % GB == 0 {
        format!("{}gb", bytes / GB)
    } else if bytes != 0 && bytes % MB == 0 {
        format!("{}mb", bytes / MB)
    } else if bytes != 0 && bytes % KB == 0 {
        format!("{}kb", bytes / KB)
    } else {
        bytes.to_string()
    }
}

/// The text of an OS error without Rust's " (os error N)" suffix, as C's
/// `strerror` prints it.
pub fn strerror(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yes_no_is_case_insensitive_and_strict() {
        assert_eq!(yes_no(b"YES"), Some(true));
        assert_eq!(yes_no(b"no"), Some(false));
        assert_eq!(yes_no(b"y"), None);
        assert_eq!(yes_no(b""), None);
        assert_eq!(yes_no(b"yes "), None);
    }

    #[test]
    fn strict_integers() {
        assert_eq!(string2ll(b"10"), Some(10));
        assert_eq!(string2ll(b"-1"), Some(-1));
        assert_eq!(string2ll(b"0"), Some(0));
        assert_eq!(string2ll(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(string2ll(b"+1"), None);
        assert_eq!(string2ll(b"05"), None);
        assert_eq!(string2ll(b" 5"), None);
        assert_eq!(string2ll(b""), None);
        assert_eq!(string2ll(b"1k"), None);
        assert_eq!(string2ll(b"9223372036854775808"), None);
    }

    #[test]
    fn memory_units() {
        assert_eq!(memtoull(b"1gb"), Some(1 << 30));
        assert_eq!(memtoull(b"1GB"), Some(1 << 30));
        assert_eq!(memtoull(b"1g"), Some(1_000_000_000));
        assert_eq!(memtoull(b"2kB"), Some(2048));
        assert_eq!(memtoull(b"3k"), Some(3000));
        assert_eq!(memtoull(b"5mb"), Some(5 << 20));
        assert_eq!(memtoull(b"5m"), Some(5_000_000));
        assert_eq!(memtoull(b"7b"), Some(7));
        assert_eq!(memtoull(b"100"), Some(100));
        assert_eq!(memtoull(b""), Some(0));
        assert_eq!(memtoull(b"b"), Some(0));
        assert_eq!(memtoull(b"18446744073709551616"), Some(u64::MAX));
        assert_eq!(
            memtoull(b"9223372036854775808k"),
            Some(9_223_372_036_854_775_808u64.wrapping_mul(1000))
        );
        assert_eq!(memtoull(b"-1"), None);
        assert_eq!(memtoull(b"+1"), None);
        assert_eq!(memtoull(b" 1"), None);
        assert_eq!(memtoull(b"1.5gb"), None);
        assert_eq!(memtoull(b"1tb"), None);
        assert_eq!(memtoull(b"0x10"), None);
    }

    #[test]
    fn strtoll_like_c() {
        assert_eq!(strtoll_whole(b"", 10), Some((0, false)));
        assert_eq!(strtoll_whole(b" +12", 10), Some((12, false)));
        assert_eq!(strtoll_whole(b"-3", 10), Some((-3, false)));
        assert_eq!(strtoll_whole(b"12 ", 10), None);
        assert_eq!(strtoll_whole(b" ", 10), None);
        assert_eq!(strtoll_whole(b"+", 10), None);
        assert_eq!(
            strtoll_whole(b"99999999999999999999", 10),
            Some((i64::MAX, true))
        );
        assert_eq!(strtoll_whole(b"777", 8), Some((511, false)));
        assert_eq!(strtoll_whole(b"778", 8), None);
    }

    #[test]
    fn doubles_like_string2d() {
        assert_eq!(string2d(b"99.9"), Some(99.9));
        assert_eq!(string2d(b"1e1"), Some(10.0));
        assert_eq!(string2d(b"0x10"), Some(16.0));
        assert_eq!(string2d(b"0"), Some(0.0));
        assert_eq!(string2d(b"0.000"), Some(0.0));
        assert_eq!(string2d(b"1e999"), None);
        assert_eq!(string2d(b"1e-999"), None);
        assert_eq!(string2d(b" 1"), None);
        assert_eq!(string2d(b""), None);
        assert_eq!(string2d(b"abc"), None);
    }

    #[test]
    fn formatting() {
        assert_eq!(fmt_f_trim(99.9), "99.9");
        assert_eq!(fmt_f_trim(50.0), "50");
        assert_eq!(fmt_f_trim(12.5), "12.5");
        assert_eq!(fmt_f_trim(0.0), "0");
        assert_eq!(repr(b"a\"b\\c\n\x01"), "\"a\\\"b\\\\c\\n\\x01\"");
        assert_eq!(fmt_memory_rewrite(2 << 30), "2gb");
        assert_eq!(fmt_memory_rewrite(3 << 20), "3mb");
        assert_eq!(fmt_memory_rewrite(4096), "4kb");
        assert_eq!(fmt_memory_rewrite(3000), "3000");
        assert_eq!(fmt_memory_rewrite(0), "0");
        assert_eq!(fmt_memory_rewrite(-1), "-1");
    }
}
