//! A cache prefetch hint, for walks whose next addresses are known a few
//! steps ahead (the snapshot walk, the skiplist descent). It has no effect
//! on memory, so it is safe to call with any pointer; on targets without
//! the instruction it does nothing.

/// Starts loading the cache line holding `p`.
#[inline(always)]
pub fn prefetch_read<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 never faults and changes no memory, whatever `p` is.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
