//! The differential script format (`tests/diff/*.redis`, documented in
//! `tests/diff/README.md`): one command per line in redis-cli quoting, `#`
//! comments, blank lines, and `@sort` / `@type` / `@sleep <ms>` prefixes.
//!
//! Parsing never stops at the first bad line: every error is collected with
//! its line number so a file reports all its problems at once.

use crate::split::split_args;

/// How a step's replies are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    /// Byte for byte.
    Exact,
    /// Elements of a top-level aggregate reply sorted first (unordered replies).
    Sorted,
    /// Only the type byte of each reply (time-dependent values).
    TypeOnly,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// 1-based line number in the file.
    pub line: usize,
    /// The line as written (trimmed), for reports.
    pub text: String,
    /// Pause before the command (or alone, when `args` is empty).
    pub sleep_ms: u64,
    pub compare: Compare,
    /// The command; empty for a line that only sleeps.
    pub args: Vec<Vec<u8>>,
}

/// Longest `@sleep` accepted, so a typo cannot stall the suite.
pub const SLEEP_MS_MAX: u64 = 10_000;

/// The steps of a script and the errors of its bad lines ("line N: why").
pub fn parse_script(text: &[u8]) -> (Vec<Step>, Vec<String>) {
    let mut steps = Vec::new();
    let mut errors = Vec::new();
    for (idx, raw) in text.split(|&b| b == b'\n').enumerate() {
        let line = idx + 1;
        let trimmed = raw.trim_ascii();
        if trimmed.is_empty() || trimmed[0] == b'#' {
            continue;
        }
        match parse_line(trimmed) {
            Ok((sleep_ms, compare, args)) => {
                steps.push(Step {
                    line,
                    text: String::from_utf8_lossy(trimmed).into_owned(),
                    sleep_ms,
                    compare,
                    args,
                });
            }
            Err(why) => errors.push(format!("line {line}: {why}")),
        }
    }
    (steps, errors)
}

type Parsed = (u64, Compare, Vec<Vec<u8>>);

fn parse_line(mut rest: &[u8]) -> Result<Parsed, String> {
    let mut sleep_ms = 0;
    let mut compare = Compare::Exact;
    while rest.first() == Some(&b'@') {
        let (word, after) = next_word(rest);
        rest = after;
        match word {
            b"@sort" | b"@type" if compare != Compare::Exact => {
                return Err("only one of @sort and @type per line".into())
            }
            b"@sort" => compare = Compare::Sorted,
            b"@type" => compare = Compare::TypeOnly,
            b"@sleep" => {
                let (ms, after) = next_word(rest);
                rest = after;
                sleep_ms = std::str::from_utf8(ms)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                    .filter(|&ms| ms <= SLEEP_MS_MAX)
                    .ok_or_else(|| {
                        format!(
                            "@sleep needs milliseconds from 0 to {SLEEP_MS_MAX}, got {:?}",
                            String::from_utf8_lossy(ms)
                        )
                    })?;
            }
            other => {
                return Err(format!(
                    "unknown directive {:?}",
                    String::from_utf8_lossy(other)
                ))
            }
        }
    }
    let args = split_args(rest)?;
    if args.is_empty() && compare != Compare::Exact {
        return Err("@sort/@type need a command".into());
    }
    Ok((sleep_ms, compare, args))
}

/// The first whitespace-separated word and what follows it.
fn next_word(s: &[u8]) -> (&[u8], &[u8]) {
    let s = s.trim_ascii_start();
    let end = s
        .iter()
        .position(|b| b.is_ascii_whitespace())
        .unwrap_or(s.len());
    (&s[..end], s[end..].trim_ascii_start())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_prefixes_and_comments() {
        let script = b"# comment\n\n  SET k \"a b\"\r\n@sort KEYS *\n@type TIME\n@sleep 5\n@sleep 10 @type PING\n";
        let (steps, errors) = parse_script(script);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(steps.len(), 5);
        assert_eq!(steps[0].line, 3);
        assert_eq!(
            steps[0].args,
            vec![b"SET".to_vec(), b"k".to_vec(), b"a b".to_vec()]
        );
        assert_eq!(steps[0].compare, Compare::Exact);
        assert_eq!(steps[1].compare, Compare::Sorted);
        assert_eq!(steps[2].compare, Compare::TypeOnly);
        assert_eq!((steps[3].sleep_ms, steps[3].args.len()), (5, 0));
        assert_eq!(
            (steps[4].sleep_ms, steps[4].compare, steps[4].args.len()),
            (10, Compare::TypeOnly, 1)
        );
    }

    #[test]
    fn every_bad_line_is_reported() {
        let (steps, errors) =
            parse_script(b"SET \"a\nPING\n@bogus PING\n@sleep x\n@sort\n@sort @type X\n");
        assert_eq!(steps.len(), 1);
        assert_eq!(errors.len(), 5, "{errors:?}");
        assert!(errors[0].starts_with("line 1:"));
        assert!(errors[1].starts_with("line 3:"));
    }
}
