//! The SSCAN/ZSCAN walk: the bounded dict scan and the reply shape, as
//! Redis's `scanGenericCommand` does them (cursor and option parsing are the
//! SCAN family's, in `family::scan`).

use bytes::Bytes;

use crate::family::scan::ScanOptions;
use crate::resp::Reply;
use crate::util::glob::glob_match;

/// Steps a dict scan until `want` items were gathered, the cursor wraps to 0,
/// or `max_steps` extra steps were taken (`do { .. } while (cursor &&
/// maxiterations-- && len < count)`).
pub fn collect<T>(
    mut cursor: u64,
    want: usize,
    max_steps: usize,
    mut step: impl FnMut(u64, &mut Vec<T>) -> u64,
) -> (u64, Vec<T>) {
    let mut out = Vec::new();
    let mut steps_left = max_steps;
    loop {
        cursor = step(cursor, &mut out);
        if cursor == 0 || steps_left == 0 || out.len() >= want {
            return (cursor, out);
        }
        steps_left -= 1;
    }
}

/// Whether `s` passes the MATCH option.
pub fn matches(opts: &ScanOptions, s: &[u8]) -> bool {
    opts.pattern
        .as_ref()
        .is_none_or(|p| glob_match(p, s, false))
}

/// `[cursor, [elements...]]`.
pub fn reply(cursor: u64, items: Vec<Reply>) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(Bytes::from(cursor.to_string())),
        Reply::Array(items),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collect_stops_at_count_or_budget() {
        // A fake table: cursor n yields one item and moves to n+1 until 100.
        let step = |c: u64, out: &mut Vec<u64>| {
            out.push(c);
            if c + 1 == 100 {
                0
            } else {
                c + 1
            }
        };
        let (next, items) = collect(0, 10, 100, step);
        assert_eq!((next, items.len()), (10, 10));
        let (next, items) = collect(0, 1000, 5, step);
        assert_eq!((next, items.len()), (6, 6));
        let (next, items) = collect(95, 1000, 1000, step);
        assert_eq!((next, items.len()), (0, 5));
    }
}
