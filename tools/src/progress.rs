//! Progress on a terminal for the checkers: a reader wrapper that prints
//! "<name>: N% (M MB)" on stderr about five times a second while the file is
//! read, and nothing at all when standard output is not a terminal (scripts
//! and CI get only the report).

use std::io::{IsTerminal, Read, Write};
use std::time::{Duration, Instant};

/// How often the progress line is redrawn.
const REDRAW_EVERY: Duration = Duration::from_millis(200);
/// Files smaller than this finish too fast to need progress.
const PROGRESS_MIN_BYTES: u64 = 64 << 20;

pub struct Progress<R> {
    inner: R,
    name: String,
    total: u64,
    done: u64,
    last: Instant,
    enabled: bool,
}

impl<R: Read> Progress<R> {
    /// Wraps `inner` (a file of `total` bytes, read from `start`).
    pub fn new(inner: R, name: &str, total: u64, start: u64) -> Progress<R> {
        let enabled = total >= PROGRESS_MIN_BYTES && std::io::stdout().is_terminal();
        Progress {
            inner,
            name: name.to_string(),
            total,
            done: start,
            last: Instant::now(),
            enabled,
        }
    }

    fn draw(&self) {
        let pct = self
            .done
            .saturating_mul(100)
            .checked_div(self.total)
            .unwrap_or(100);
        let mut err = std::io::stderr();
        let _ = write!(err, "\r{}: {pct}% ({} MB)", self.name, self.done >> 20);
        let _ = err.flush();
    }
}

impl<R: Read> Read for Progress<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        if self.enabled && (n == 0 || self.last.elapsed() >= REDRAW_EVERY) {
            self.last = Instant::now();
            self.draw();
            if n == 0 {
                let _ = writeln!(std::io::stderr());
                self.enabled = false;
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_bytes_through_and_stays_silent_off_a_terminal() {
        let data = vec![7u8; 100_000];
        let mut p = Progress::new(&data[..], "x", PROGRESS_MIN_BYTES * 2, 0);
        assert!(!p.enabled || std::io::stdout().is_terminal());
        let mut out = Vec::new();
        p.read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
        assert_eq!(p.done, 100_000);
    }
}
