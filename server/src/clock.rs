//! Wall-clock time in the units the server uses.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// The wall clock read through the monotonic one: one `Instant` read per
/// call instead of a `SystemTime` one, with the offset between the two
/// re-synchronised by `resync` (the cron calls it every tick).
pub fn fast_now_ms(now: std::time::Instant) -> u64 {
    let base = BASE.with(|b| *b.borrow());
    base.1 + now.saturating_duration_since(base.0).as_millis() as u64
}

/// Re-reads the wall clock for `fast_now_ms`.
pub fn resync() {
    BASE.with(|b| *b.borrow_mut() = (std::time::Instant::now(), now_ms()));
}

thread_local! {
    static BASE: std::cell::RefCell<(std::time::Instant, u64)> =
        std::cell::RefCell::new((std::time::Instant::now(), now_ms()));
}
