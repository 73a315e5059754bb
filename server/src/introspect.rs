//! What the server records about itself for INFO, SLOWLOG, LATENCY and
//! MEMORY: the slow log, latency spikes, per-command latency histograms,
//! instantaneous rates sampled by the cron, memory peaks, and the few
//! switches DEBUG flips.
//!
//! Dispatch calls `after_call` once per executed command; the cron calls
//! `cron`. Neither allocates in proportion to anything a client sent beyond
//! the bounded slow-log entry.

use bytes::Bytes;

use crate::client::Client;
use crate::commands::{flags, CommandSpec};
use crate::latency::LatencyMonitor;
use crate::server::Server;
use crate::slowlog::Slowlog;

/// Samples averaged for an instantaneous rate (STATS_METRIC_SAMPLES).
pub const RATE_SAMPLES: usize = 16;
/// How often the cron takes a rate sample.
pub const RATE_SAMPLE_PERIOD_MS: u64 = 100;

/// A rate averaged over the last `RATE_SAMPLES` cron samples.
#[derive(Debug, Default, Clone)]
pub struct Rate {
    samples: [f64; RATE_SAMPLES],
    idx: usize,
    last_value: u64,
    last_ms: u64,
}

impl Rate {
    /// Records the per-second rate since the previous sample.
    pub fn sample(&mut self, value: u64, now_ms: u64) {
        if self.last_ms != 0 && now_ms > self.last_ms {
            let delta = value.saturating_sub(self.last_value) as f64;
            self.samples[self.idx] = delta * 1000.0 / (now_ms - self.last_ms) as f64;
            self.idx = (self.idx + 1) % RATE_SAMPLES;
        }
        self.last_value = value;
        self.last_ms = now_ms;
    }

    pub fn per_second(&self) -> f64 {
        self.samples.iter().sum::<f64>() / RATE_SAMPLES as f64
    }
}

/// A latency histogram with two significant digits (HdrHistogram's layout
/// with 256 sub-buckets), over 1 ns .. 1 s, as INFO latencystats reports.
#[derive(Debug, Default, Clone)]
pub struct Histogram {
    /// Count by bucket (the lowest value the bucket holds).
    counts: std::collections::BTreeMap<u64, u64>,
    total: u64,
}

/// Values below this are exact; above, buckets double in width per power of two.
const HIST_EXACT_BELOW: u64 = 256;
pub const HIST_LOWEST_NS: u64 = 1;
pub const HIST_HIGHEST_NS: u64 = 1_000_000_000;

impl Histogram {
    fn bucket_width(v: u64) -> u64 {
        if v < HIST_EXACT_BELOW {
            1
        } else {
            1 << (63 - v.leading_zeros() - 7)
        }
    }

    pub fn record(&mut self, value_ns: u64) {
        let v = value_ns.clamp(HIST_LOWEST_NS, HIST_HIGHEST_NS);
        let lowest = v & !(Self::bucket_width(v) - 1);
        *self.counts.entry(lowest).or_insert(0) += 1;
        self.total += 1;
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// For a reporting level: the highest value equivalent to it and how many
    /// recorded values are at or below that.
    pub fn cumulative_at(&self, level_ns: u64) -> (u64, u64) {
        let upper =
            (level_ns & !(Self::bucket_width(level_ns) - 1)) + Self::bucket_width(level_ns) - 1;
        (upper, self.counts.range(..=upper).map(|(_, n)| n).sum())
    }

    /// The highest value equivalent to the one at `percentile` (0..=100).
    pub fn value_at(&self, percentile: f64) -> u64 {
        let wanted = ((percentile.clamp(0.0, 100.0) / 100.0) * self.total as f64 + 0.5) as u64;
        let wanted = wanted.max(1);
        let mut seen = 0;
        for (&lowest, &n) in &self.counts {
            seen += n;
            if seen >= wanted {
                return lowest + Self::bucket_width(lowest) - 1;
            }
        }
        0
    }
}

#[derive(Debug)]
pub struct Introspection {
    pub slowlog: Slowlog,
    pub latency: LatencyMonitor,
    /// Per full command name, for INFO latencystats.
    pub histograms: ahash::AHashMap<String, Histogram>,
    pub ops_rate: Rate,
    pub net_input_rate: Rate,
    pub net_output_rate: Rate,
    last_rate_sample_ms: u64,
    /// Allocated bytes right after start-up (used_memory_startup).
    pub startup_memory_bytes: u64,
    pub peak_memory_bytes: u64,
    /// When cleared by DEBUG SET-ACTIVE-EXPIRE 0, the cron expires no keys.
    pub active_expire: bool,
    /// DEBUG QUICKLIST-PACKED-THRESHOLD, in bytes.
    pub quicklist_packed_threshold: u64,
    /// Replication ids INFO reports (DEBUG CHANGE-REPL-ID makes new ones).
    pub replid: String,
    pub replid2: String,
}

impl Default for Introspection {
    fn default() -> Self {
        let startup = crate::family::server::allocated_bytes();
        Introspection {
            slowlog: Slowlog::default(),
            latency: LatencyMonitor::default(),
            histograms: Default::default(),
            ops_rate: Rate::default(),
            net_input_rate: Rate::default(),
            net_output_rate: Rate::default(),
            last_rate_sample_ms: 0,
            startup_memory_bytes: startup,
            peak_memory_bytes: startup,
            active_expire: true,
            quicklist_packed_threshold: 1 << 30,
            replid: crate::server::random_hex(40),
            replid2: "0".repeat(40),
        }
    }
}

/// Records one executed command: latency histogram, slow log, latency spike.
pub fn after_call(
    srv: &mut Server,
    client: &Client,
    spec: &CommandSpec,
    full_name: &str,
    argv: &[Bytes],
    duration_us: u64,
) {
    let intro = &mut srv.introspect;
    match intro.histograms.get_mut(full_name) {
        Some(h) => h.record(duration_us.saturating_mul(1000)),
        None => {
            let mut h = Histogram::default();
            h.record(duration_us.saturating_mul(1000));
            intro.histograms.insert(full_name.to_string(), h);
        }
    }
    if spec.flags & flags::SKIP_SLOWLOG != 0 {
        return;
    }
    let threshold_us = srv.config.slowlog_log_slower_than_us;
    let log_slow = threshold_us >= 0 && duration_us >= threshold_us as u64;
    let threshold_ms = srv.config.latency_monitor_threshold_ms;
    let duration_ms = duration_us / 1000;
    let spike = threshold_ms > 0 && duration_ms >= threshold_ms;
    if !log_slow && !spike {
        return;
    }
    let now_s = crate::clock::now_ms() / 1000;
    if log_slow {
        let mut logged = argv.to_vec();
        crate::slowlog::redact(&mut logged);
        intro.slowlog.record(
            threshold_us,
            srv.config.slowlog_max_len,
            &logged,
            duration_us,
            now_s,
            &client.addr,
            client.name.as_ref(),
        );
    }
    if spike {
        let event = if spec.flags & flags::FAST != 0 {
            "fast-command"
        } else {
            "command"
        };
        intro.latency.add(event, duration_ms, now_s);
    }
}

/// Cron work: rate samples every `RATE_SAMPLE_PERIOD_MS`, the memory peak.
pub fn cron(srv: &mut Server, now_ms: u64) {
    let intro = &mut srv.introspect;
    if now_ms.saturating_sub(intro.last_rate_sample_ms) >= RATE_SAMPLE_PERIOD_MS {
        intro.last_rate_sample_ms = now_ms;
        intro
            .ops_rate
            .sample(srv.stats.total_commands_processed, now_ms);
        intro
            .net_input_rate
            .sample(srv.stats.net_input_bytes, now_ms);
        intro
            .net_output_rate
            .sample(srv.stats.net_output_bytes, now_ms);
    }
    update_peak(srv);
}

/// Raises the memory peak to the current allocation; returns the allocation.
pub fn update_peak(srv: &mut Server) -> u64 {
    let used = crate::family::server::allocated_bytes();
    if used > srv.introspect.peak_memory_bytes {
        srv.introspect.peak_memory_bytes = used;
    }
    used
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_reports_highest_equivalent_values() {
        let mut h = Histogram::default();
        h.record(7000);
        assert_eq!(h.value_at(50.0), 7007);
        assert_eq!(h.value_at(99.9), 7007);
        let mut h = Histogram::default();
        for v in [3000, 3000, 4000] {
            h.record(v);
        }
        assert_eq!(h.value_at(50.0), 3007);
        assert_eq!(h.value_at(99.0), 4015);
        let mut h = Histogram::default();
        h.record(100);
        assert_eq!(h.value_at(50.0), 100);
    }

    #[test]
    fn rates_average_the_samples() {
        let mut r = Rate::default();
        r.sample(0, 1000);
        r.sample(100, 1100);
        assert_eq!(r.per_second(), 1000.0 / RATE_SAMPLES as f64);
    }
}
