//! The latency monitor: per event ("command", "fast-command", ...), the
//! latest `LATENCY_SAMPLES_MAX` spikes at one-second resolution and the worst
//! ever seen, plus the text reports of LATENCY DOCTOR and LATENCY GRAPH.
//!
//! Invariants: an event's samples are in time order with distinct seconds (a
//! second spike within the same second keeps the larger value); at most
//! `LATENCY_SAMPLES_MAX` samples per event; `max_ms` is never below a sample.

use std::collections::{BTreeMap, VecDeque};

/// Samples kept per event (LATENCY_TS_LEN).
pub const LATENCY_SAMPLES_MAX: usize = 160;
/// Width of LATENCY GRAPH, in samples per block of rows.
pub const GRAPH_COLUMNS: usize = 80;
/// Height of the graph in text rows.
const GRAPH_ROWS: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub time_s: u64,
    pub latency_ms: u64,
}

#[derive(Debug, Default)]
pub struct EventSeries {
    pub samples: VecDeque<Sample>,
    pub max_ms: u64,
}

#[derive(Debug, Default)]
pub struct LatencyMonitor {
    /// By event name, sorted so LATEST and DOCTOR are stable.
    events: BTreeMap<String, EventSeries>,
}

impl LatencyMonitor {
    /// Adds a spike of `latency_ms` for `event` at `time_s`.
    pub fn add(&mut self, event: &str, latency_ms: u64, time_s: u64) {
        let series = self.events.entry(event.to_string()).or_default();
        series.max_ms = series.max_ms.max(latency_ms);
        if let Some(last) = series.samples.back_mut() {
            if last.time_s == time_s {
                last.latency_ms = last.latency_ms.max(latency_ms);
                return;
            }
        }
        series.samples.push_back(Sample { time_s, latency_ms });
        if series.samples.len() > LATENCY_SAMPLES_MAX {
            series.samples.pop_front();
        }
    }

    pub fn get(&self, event: &str) -> Option<&EventSeries> {
        self.events.get(event)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &EventSeries)> {
        self.events.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Forgets every event; returns how many there were.
    pub fn reset_all(&mut self) -> usize {
        let n = self.events.len();
        self.events.clear();
        n
    }

    /// Forgets one event; true if it had data.
    pub fn reset(&mut self, event: &str) -> bool {
        self.events.remove(event).is_some()
    }

    /// LATENCY DOCTOR's report.
    pub fn doctor(&self, now_s: u64, threshold_ms: u64, slowlog_slower_than_us: i64) -> String {
        if self.events.is_empty() && threshold_ms == 0 {
            return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".to_string();
        }
        if self.events.is_empty() {
            return "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n".to_string();
        }
        let mut out = String::from(
            "Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n",
        );
        let mut slow_commands = false;
        for (i, (name, s)) in self.events.iter().enumerate() {
            let n = s.samples.len() as u64;
            let sum: u64 = s.samples.iter().map(|x| x.latency_ms).sum();
            let avg = sum.checked_div(n).unwrap_or(0);
            let mad = s
                .samples
                .iter()
                .map(|x| x.latency_ms.abs_diff(avg))
                .sum::<u64>()
                .checked_div(n)
                .unwrap_or(0);
            let period = match (s.samples.front(), s.samples.back()) {
                (Some(first), Some(_)) if n > 0 => {
                    now_s.saturating_sub(first.time_s) as f64 / n as f64
                }
                _ => 0.0,
            };
            out.push_str(&format!(
                "{}. {}: {} latency spikes (average {}ms, mean deviation {}ms, period {:.2} sec). Worst all time event {}ms.\n",
                i + 1,
                name,
                n,
                avg,
                mad,
                period,
                s.max_ms
            ));
            if name == "command" || name == "fast-command" {
                slow_commands = true;
            }
        }
        out.push_str("\nI have a few advices for you:\n\n");
        if slow_commands
            && slowlog_slower_than_us >= 0
            && slowlog_slower_than_us as u64 / 1000 > threshold_ms
        {
            out.push_str(&format!("- Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than {}'.\n", threshold_ms * 1000));
        }
        if slow_commands {
            out.push_str("- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n");
            out.push_str("- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n");
        }
        out
    }

    /// LATENCY GRAPH's report for an event with samples.
    pub fn graph(&self, event: &str, now_s: u64) -> Option<String> {
        let s = self.events.get(event)?;
        let values: Vec<u64> = s.samples.iter().map(|x| x.latency_ms).collect();
        let (min, max) = (values.iter().copied().min()?, values.iter().copied().max()?);
        let labels: Vec<String> = s
            .samples
            .iter()
            .map(|x| age_label(now_s.saturating_sub(x.time_s)))
            .collect();
        let mut out = format!(
            "{event} - high {max} ms, low {min} ms (all time high {} ms)\n",
            s.max_ms
        );
        out.push_str(&"-".repeat(GRAPH_COLUMNS));
        out.push('\n');
        for start in (0..values.len()).step_by(GRAPH_COLUMNS) {
            let end = (start + GRAPH_COLUMNS).min(values.len());
            render_rows(&mut out, &values[start..end], &labels[start..end], min, max);
        }
        Some(out)
    }
}

/// "12s", "5m", "3h" or "2d" ago.
fn age_label(elapsed_s: u64) -> String {
    match elapsed_s {
        e if e < 60 => format!("{e}s"),
        e if e < 3600 => format!("{}m", e / 60),
        e if e < 86_400 => format!("{}h", e / 3600),
        e => format!("{}d", e / 86_400),
    }
}

/// A filled sparkline: each of `GRAPH_ROWS` text rows covers three levels
/// ('_', 'o', '#'), full rows below a bar's top show '|'; under it, one blank
/// row and then the labels written downwards, one character per row.
fn render_rows(out: &mut String, values: &[u64], labels: &[String], min: u64, max: u64) {
    const LEVELS: &[u8] = b"_o#";
    let levels_total = (LEVELS.len() * GRAPH_ROWS) as f64;
    let range = if max == min { 1.0 } else { (max - min) as f64 };
    let level_of = |v: u64| -> i64 {
        let l = ((v - min) as f64 * levels_total / range) as i64;
        l.clamp(0, levels_total as i64 - 1)
    };
    for row in 0..GRAPH_ROWS {
        // The lowest level this row shows.
        let base = ((GRAPH_ROWS - 1 - row) * LEVELS.len()) as i64;
        let line: String = values
            .iter()
            .map(|&v| {
                let idx = level_of(v) - base;
                match idx {
                    i if i < 0 => ' ',
                    i if (i as usize) < LEVELS.len() => LEVELS[i as usize] as char,
                    _ => '|',
                }
            })
            .collect();
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str(&" ".repeat(values.len()));
    out.push('\n');
    let tallest = labels.iter().map(|l| l.len()).max().unwrap_or(0);
    for ch in 0..tallest {
        let line: String = labels
            .iter()
            .map(|l| l.as_bytes().get(ch).map_or(' ', |&c| c as char))
            .collect();
        out.push_str(&line);
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sample_per_second_keeping_the_worst() {
        let mut m = LatencyMonitor::default();
        m.add("command", 200, 10);
        m.add("command", 100, 10);
        m.add("command", 50, 11);
        let s = m
            .get("command")
            .map(|s| s.samples.iter().copied().collect::<Vec<_>>());
        assert_eq!(
            s,
            Some(vec![
                Sample {
                    time_s: 10,
                    latency_ms: 200
                },
                Sample {
                    time_s: 11,
                    latency_ms: 50
                }
            ])
        );
        assert_eq!(m.get("command").map(|s| s.max_ms), Some(200));
        for t in 0..500 {
            m.add("x", 1, 100 + t);
        }
        assert_eq!(
            m.get("x").map(|s| s.samples.len()),
            Some(LATENCY_SAMPLES_MAX)
        );
    }

    #[test]
    fn doctor_report_as_redis_writes_it() {
        let mut m = LatencyMonitor::default();
        assert!(m.doctor(0, 0, 10_000).starts_with("I'm sorry, Dave"));
        assert!(m.doctor(0, 1, 10_000).starts_with("Dave, no latency spike"));
        for (t, v) in [(867, 200), (868, 100), (869, 50), (870, 130)] {
            m.add("command", v, t);
        }
        let expected = "Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n1. command: 4 latency spikes (average 120ms, mean deviation 45ms, period 1.00 sec). Worst all time event 200ms.\n\nI have a few advices for you:\n\n- Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than 1000'.\n- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n";
        assert_eq!(m.doctor(871, 1, 10_000), expected);
    }

    #[test]
    fn graph_as_redis_draws_it() {
        let mut m = LatencyMonitor::default();
        for (t, v) in [(867, 200), (868, 100), (869, 50), (870, 130)] {
            m.add("command", v, t);
        }
        let expected = format!(
            "command - high 200 ms, low 50 ms (all time high 200 ms)\n{}\n#   \n|  _\n|o |\n||_|\n    \n4321\nssss\n",
            "-".repeat(80)
        );
        assert_eq!(m.graph("command", 871).unwrap_or_default(), expected);
    }

    #[test]
    fn graph_of_one_sample() {
        let mut m = LatencyMonitor::default();
        m.add("command", 200, 1000);
        let g = m.graph("command", 1000).unwrap_or_default();
        let expected = format!(
            "command - high 200 ms, low 200 ms (all time high 200 ms)\n{}\n \n \n \n_\n \n0\ns\n",
            "-".repeat(80)
        );
        assert_eq!(g, expected);
        assert!(m.graph("nope", 0).is_none());
    }
}
