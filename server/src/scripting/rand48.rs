//! The 48-bit linear congruential generator behind Lua's `math.random` in
//! Redis (the POSIX `drand48` family): x' = (a·x + c) mod 2^48 with
//! a = 0x5DEECE66D, c = 0xB; `lrand48` is the top 31 bits. Seeding keeps
//! the low 16 bits at 0x330E, as `srand48` does, so `math.randomseed(n)`
//! gives the same sequence as redis-server.
//!
//! One generator serves both VMs (Redis keeps one process-wide state).

use std::cell::Cell;

const A: u64 = 0x5_DEEC_E66D;
const C: u64 = 0xB;
const MASK_48: u64 = (1 << 48) - 1;
/// REDIS_LRAND48_MAX: `math.random` divides by it.
pub const LRAND48_MAX: i64 = i32::MAX as i64;

thread_local! {
    static STATE: Cell<u64> = Cell::new(initial_state());
}

/// Redis does not seed the generator per script; its start state depends
/// on the process, so ours does too.
fn initial_state() -> u64 {
    let t = crate::clock::now_us() ^ ((std::process::id() as u64) << 20);
    seed_state(t as i32)
}

fn seed_state(seed: i32) -> u64 {
    (((seed as u32 as u64) << 16) | 0x330E) & MASK_48
}

/// `math.randomseed(seed)`.
pub fn srand48(seed: i32) {
    STATE.with(|s| s.set(seed_state(seed)));
}

/// The next value in 0..2^31.
pub fn lrand48() -> i64 {
    STATE.with(|s| {
        let x = (A.wrapping_mul(s.get()).wrapping_add(C)) & MASK_48;
        s.set(x);
        (x >> 17) as i64
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_redis_after_seeding() {
        // redis-server 7.0.15: math.randomseed(0); tostring(math.random())
        srand48(0);
        let r = (lrand48() % LRAND48_MAX) as f64 / LRAND48_MAX as f64;
        assert_eq!(format!("{:.14}", r), "0.17082803611217");
        srand48(1);
        let r = (lrand48() % LRAND48_MAX) as f64 / LRAND48_MAX as f64;
        assert_eq!(format!("{:.15}", r), "0.041630344484761");
    }
}
