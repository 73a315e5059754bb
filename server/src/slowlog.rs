//! The slow log: commands that took at least `slowlog-log-slower-than`
//! microseconds, newest first, at most `slowlog-max-len` entries.
//!
//! Invariants: `entries.len() <= max_len` after every push; ids increase by
//! one per logged command and are never reused (RESET keeps the counter); a
//! stored entry holds at most `SLOWLOG_ARGS_MAX` arguments of at most
//! `SLOWLOG_ARG_BYTES_MAX` bytes plus a short note, so one entry stays small
//! whatever the command was.

use std::collections::VecDeque;

use bytes::Bytes;

/// Arguments kept per entry; the last slot says how many were left out.
pub const SLOWLOG_ARGS_MAX: usize = 32;
/// Bytes kept per argument; longer ones end with a note of what was cut.
pub const SLOWLOG_ARG_BYTES_MAX: usize = 128;

#[derive(Debug, Clone, PartialEq)]
pub struct SlowlogEntry {
    pub id: u64,
    /// Unix seconds when the command was logged.
    pub time_s: u64,
    pub duration_us: u64,
    pub argv: Vec<Bytes>,
    pub client_addr: String,
    pub client_name: Bytes,
}

#[derive(Debug, Default)]
pub struct Slowlog {
    /// Newest first.
    entries: VecDeque<SlowlogEntry>,
    next_id: u64,
}

impl Slowlog {
    /// Logs a command if `duration_us` reaches `slower_than_us` (negative
    /// disables logging, 0 logs everything), then trims to `max_len`.
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &mut self,
        slower_than_us: i64,
        max_len: usize,
        argv: &[Bytes],
        duration_us: u64,
        time_s: u64,
        client_addr: &str,
        client_name: Option<&Bytes>,
    ) {
        if slower_than_us < 0 || duration_us < slower_than_us as u64 {
            return;
        }
        let entry = SlowlogEntry {
            id: self.next_id,
            time_s,
            duration_us,
            argv: trim_args(argv),
            client_addr: client_addr.to_string(),
            client_name: client_name.cloned().unwrap_or_default(),
        };
        self.next_id += 1;
        self.entries.push_front(entry);
        self.entries.truncate(max_len);
    }

    /// Drops entries beyond a lowered `slowlog-max-len`.
    pub fn trim(&mut self, max_len: usize) {
        self.entries.truncate(max_len);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn reset(&mut self) {
        self.entries.clear();
    }

    /// The newest `count` entries (all of them for None).
    pub fn newest(&self, count: Option<usize>) -> impl Iterator<Item = &SlowlogEntry> {
        self.entries.iter().take(count.unwrap_or(usize::MAX))
    }
}

/// Keeps at most `SLOWLOG_ARGS_MAX` arguments (the last one replaced by a
/// count of those left out) and at most `SLOWLOG_ARG_BYTES_MAX` bytes of each.
pub fn trim_args(argv: &[Bytes]) -> Vec<Bytes> {
    let kept = argv.len().min(SLOWLOG_ARGS_MAX);
    let mut out = Vec::with_capacity(kept);
    for (i, arg) in argv.iter().take(kept).enumerate() {
        if i == SLOWLOG_ARGS_MAX - 1 && argv.len() > SLOWLOG_ARGS_MAX {
            let more = argv.len() - (SLOWLOG_ARGS_MAX - 1);
            out.push(Bytes::from(format!("... ({more} more arguments)")));
        } else if arg.len() > SLOWLOG_ARG_BYTES_MAX {
            let mut v = Vec::with_capacity(SLOWLOG_ARG_BYTES_MAX + 32);
            v.extend_from_slice(&arg[..SLOWLOG_ARG_BYTES_MAX]);
            v.extend_from_slice(
                format!("... ({} more bytes)", arg.len() - SLOWLOG_ARG_BYTES_MAX).as_bytes(),
            );
            out.push(Bytes::from(v));
        } else {
            out.push(arg.clone());
        }
    }
    out
}

/// Arguments that carry secrets are logged as "(redacted)", as Redis does for
/// AUTH, HELLO ... AUTH, MIGRATE ... AUTH/AUTH2 and sensitive CONFIG SET values.
pub fn redact(argv: &mut [Bytes]) {
    const REDACTED: Bytes = Bytes::from_static(b"(redacted)");
    let Some(name) = argv.first() else { return };
    let is = |a: &Bytes, w: &str| a.eq_ignore_ascii_case(w.as_bytes());
    if is(name, "auth") {
        for a in argv.iter_mut().skip(1) {
            *a = REDACTED;
        }
    } else if is(name, "hello") {
        let mut i = 2;
        while i < argv.len() {
            if is(&argv[i], "auth") && i + 2 < argv.len() {
                argv[i + 1] = REDACTED;
                argv[i + 2] = REDACTED;
                i += 3;
            } else if is(&argv[i], "setname") {
                i += 2;
            } else {
                i += 1;
            }
        }
    } else if is(name, "migrate") {
        let mut i = 6;
        while i < argv.len() {
            if is(&argv[i], "auth") && i + 1 < argv.len() {
                argv[i + 1] = REDACTED;
                i += 2;
            } else if is(&argv[i], "auth2") && i + 2 < argv.len() {
                argv[i + 1] = REDACTED;
                argv[i + 2] = REDACTED;
                i += 3;
            } else if is(&argv[i], "keys") {
                break;
            } else {
                i += 1;
            }
        }
    } else if is(name, "config") && argv.get(1).is_some_and(|a| is(a, "set")) {
        let mut i = 2;
        while i + 1 < argv.len() {
            if ["masterauth", "masteruser", "requirepass"]
                .iter()
                .any(|w| is(&argv[i], w))
            {
                argv[i + 1] = REDACTED;
            }
            i += 2;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn long_commands_are_trimmed() {
        let argv: Vec<Bytes> = (0..41).map(|i| b(&i.to_string())).collect();
        let t = trim_args(&argv);
        assert_eq!(t.len(), 32);
        assert_eq!(t[30], b("30"));
        assert_eq!(t[31], b("... (10 more arguments)"));
        let exactly: Vec<Bytes> = (0..32).map(|i| b(&i.to_string())).collect();
        assert_eq!(trim_args(&exactly), exactly);
    }

    #[test]
    fn long_arguments_are_trimmed() {
        let t = trim_args(&[b("set"), Bytes::from(vec![b'x'; 200])]);
        assert_eq!(t[1].len(), 128 + "... (72 more bytes)".len());
        assert!(t[1].ends_with(b"... (72 more bytes)"));
        let t = trim_args(&[Bytes::from(vec![b'x'; 128])]);
        assert_eq!(t[0].len(), 128);
    }

    #[test]
    fn threshold_and_length() {
        let mut log = Slowlog::default();
        log.record(-1, 10, &[b("get")], 1_000_000, 0, "a", None);
        assert!(log.is_empty());
        log.record(0, 2, &[b("a")], 0, 0, "a", None);
        log.record(10, 2, &[b("b")], 9, 0, "a", None);
        log.record(10, 2, &[b("c")], 10, 0, "a", None);
        log.record(0, 2, &[b("d")], 0, 0, "a", Some(&b("name")));
        let ids: Vec<u64> = log.newest(None).map(|e| e.id).collect();
        assert_eq!(ids, vec![2, 1]);
        assert_eq!(
            log.newest(Some(1)).next().map(|e| e.client_name.clone()),
            Some(b("name"))
        );
        log.reset();
        log.record(0, 2, &[b("e")], 0, 0, "a", None);
        assert_eq!(log.newest(None).next().map(|e| e.id), Some(3));
    }

    #[test]
    fn secrets_are_redacted() {
        let mut argv = vec![
            b("hello"),
            b("3"),
            b("AUTH"),
            b("u"),
            b("p"),
            b("SETNAME"),
            b("n"),
        ];
        redact(&mut argv);
        assert_eq!(argv[3], b("(redacted)"));
        assert_eq!(argv[4], b("(redacted)"));
        assert_eq!(argv[6], b("n"));
        let mut argv = vec![b("AUTH"), b("pw")];
        redact(&mut argv);
        assert_eq!(argv[1], b("(redacted)"));
    }
}
