//! SCAN, and the cursor and option parsing the whole SCAN family shares
//! (HSCAN, SSCAN and ZSCAN use `parse_scan_cursor` and `ScanOptions` with
//! `allow_type = false`).
//!
//! A call walks buckets through the door (`DbView::scan`, which carries the
//! full-iteration guarantee) until COUNT keys were collected, the iteration
//! ended, or COUNT * `SCAN_VISITS_PER_COUNT` buckets were visited; MATCH,
//! TYPE and expiry filter what was collected, as in Redis, so a reply may
//! hold fewer than COUNT keys, or none, before the cursor reaches 0.

use bytes::Bytes;

use crate::commands::args::parse_i64;
use crate::commands::{acl, flags::*, spec, Args, CmdError, CmdResult, CommandSpec, NO_KEYS};
use crate::ctx::Ctx;
use crate::resp::Reply;
use crate::util::glob::glob_match;
use strata_engine::LOOKUP_NOTOUCH;

pub const COMMANDS: &[CommandSpec] = &[spec("scan", -2, READONLY, acl::KEYSPACE, NO_KEYS, scan)];

/// Parses a SCAN-family cursor as Redis does (strtoul in base 10): no leading
/// space, an optional sign (a minus wraps around), digits up to the end; an
/// empty string is cursor 0. The text ends at a NUL byte, as in C.
pub fn parse_scan_cursor(arg: &[u8]) -> Result<u64, CmdError> {
    let invalid = || CmdError::new("ERR invalid cursor");
    let text = arg.split(|&b| b == 0).next().unwrap_or_default();
    let Some(&first) = text.first() else {
        return Ok(0);
    };
    if matches!(first, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r') {
        return Err(invalid());
    }
    let (negative, digits) = match first {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() {
        return Err(invalid());
    }
    let mut value: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return Err(invalid());
        }
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(c - b'0')))
            .ok_or_else(invalid)?;
    }
    Ok(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

/// Options of the SCAN family: `[MATCH pattern] [COUNT count] [TYPE type]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanOptions {
    /// None when absent or "*" (matches everything).
    pub pattern: Option<Bytes>,
    /// How many elements a call aims to return (at least 1).
    pub count: u64,
    /// SCAN only: keep keys of this type (compared case-insensitively; an
    /// unknown name simply matches nothing, as in Redis 7.0).
    pub type_name: Option<Bytes>,
}

/// SCAN's default COUNT.
pub const SCAN_COUNT_DEFAULT: u64 = 10;
/// Bucket visits allowed per requested element, so a sparse table cannot
/// make one call walk forever.
pub const SCAN_VISITS_PER_COUNT: u64 = 10;

impl ScanOptions {
    /// Parses the options after the cursor. TYPE is accepted only when
    /// `allow_type` (SCAN, not HSCAN/SSCAN/ZSCAN). An option without its
    /// value, an unknown option, or COUNT below 1 is a syntax error.
    pub fn parse(opts: &[Bytes], allow_type: bool) -> Result<ScanOptions, CmdError> {
        let mut out = ScanOptions {
            pattern: None,
            count: SCAN_COUNT_DEFAULT,
            type_name: None,
        };
        let mut i = 0;
        while i < opts.len() {
            let (name, value) = match opts.get(i + 1) {
                Some(v) => (&opts[i], v),
                None => return Err(CmdError::syntax()),
            };
            if name.eq_ignore_ascii_case(b"count") {
                let n = parse_i64(value)?;
                if n < 1 {
                    return Err(CmdError::syntax());
                }
                out.count = n as u64;
            } else if name.eq_ignore_ascii_case(b"match") {
                out.pattern = if &value[..] == b"*" {
                    None
                } else {
                    Some(value.clone())
                };
            } else if allow_type && name.eq_ignore_ascii_case(b"type") {
                out.type_name = Some(value.clone());
            } else {
                return Err(CmdError::syntax());
            }
            i += 2;
        }
        Ok(out)
    }
}

fn scan(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let mut cursor = parse_scan_cursor(&args.next()?)?;
    let opts = ScanOptions::parse(&args.rest(), true)?;
    let mut db = ctx.db();
    let mut found: Vec<Bytes> = Vec::new();
    let mut visits_left = opts.count.saturating_mul(SCAN_VISITS_PER_COUNT);
    loop {
        cursor = db.scan(cursor, |key, _| found.push(Bytes::copy_from_slice(key)));
        if cursor == 0 || visits_left == 0 || found.len() as u64 >= opts.count {
            break;
        }
        visits_left -= 1;
    }
    // Filter after collecting, as Redis does: COUNT bounds the work, not the reply.
    let mut keys = Vec::with_capacity(found.len());
    for key in found {
        if let Some(p) = &opts.pattern {
            if !glob_match(p, &key, false) {
                continue;
            }
        }
        if let Some(want) = &opts.type_name {
            let have = db
                .lookup(&key, LOOKUP_NOTOUCH)
                .map_or("none", |e| e.value.value_type().name());
            if !want.eq_ignore_ascii_case(have.as_bytes()) {
                continue;
            }
        }
        // Deletes the key if its TTL passed.
        if !db.exists(&key) {
            continue;
        }
        keys.push(Reply::Bulk(key));
    }
    Ok(Reply::Array(vec![
        Reply::bulk_str(&cursor.to_string()),
        Reply::Array(keys),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(items: &[&str]) -> Vec<Bytes> {
        items
            .iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    #[test]
    fn cursor_follows_strtoul() {
        assert_eq!(parse_scan_cursor(b"0"), Ok(0));
        assert_eq!(parse_scan_cursor(b""), Ok(0));
        assert_eq!(parse_scan_cursor(b"+7"), Ok(7));
        assert_eq!(parse_scan_cursor(b"-1"), Ok(u64::MAX));
        assert_eq!(parse_scan_cursor(b"18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_scan_cursor(b"5\0junk"), Ok(5));
        for bad in [
            &b"18446744073709551616"[..],
            b" 5",
            b"5 ",
            b"0x10",
            b"abc",
            b"-",
            b"+",
            b"1.5",
        ] {
            assert_eq!(
                parse_scan_cursor(bad),
                Err(CmdError::new("ERR invalid cursor")),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn scan_options() {
        let o =
            ScanOptions::parse(&b(&["MATCH", "a*", "count", "5", "TYPE", "list"]), true).unwrap();
        assert_eq!(o.pattern.as_deref(), Some(&b"a*"[..]));
        assert_eq!(o.count, 5);
        assert_eq!(o.type_name.as_deref(), Some(&b"list"[..]));
        let o = ScanOptions::parse(&b(&["match", "*", "count", "1", "count", "3"]), true).unwrap();
        assert_eq!((o.pattern, o.count), (None, 3));
        assert_eq!(
            ScanOptions::parse(&b(&["count", "0"]), true),
            Err(CmdError::syntax())
        );
        assert_eq!(
            ScanOptions::parse(&b(&["count", "-1"]), true),
            Err(CmdError::syntax())
        );
        assert_eq!(
            ScanOptions::parse(&b(&["count", "x"]), true),
            Err(CmdError::not_integer())
        );
        assert_eq!(
            ScanOptions::parse(&b(&["count"]), true),
            Err(CmdError::syntax())
        );
        assert_eq!(
            ScanOptions::parse(&b(&["type", "set"]), false),
            Err(CmdError::syntax())
        );
        assert_eq!(
            ScanOptions::parse(&b(&["foo", "bar"]), true),
            Err(CmdError::syntax())
        );
    }
}
