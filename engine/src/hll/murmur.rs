//! MurmurHash64A (Austin Appleby's 64-bit MurmurHash2 for 64-bit machines),
//! the hash Redis feeds HyperLogLog elements through, and the mapping of a
//! hash to (register index, run length) that Redis uses.
//!
//! Invariant: blocks are read little-endian whatever the host, so the same
//! element lands in the same register on every machine (as in Redis).

use super::{P_BITS, Q_BITS, REGISTERS};

/// The seed Redis passes for HyperLogLog elements.
pub const HLL_SEED: u64 = 0xadc8_3b19;

const M: u64 = 0xc6a4_a793_5bd1_e995;
const R: u32 = 47;

/// MurmurHash64A of `data` with `seed`.
pub fn murmur64a(data: &[u8], seed: u64) -> u64 {
    let mut h = seed ^ (data.len() as u64).wrapping_mul(M);
    let mut blocks = data.chunks_exact(8);
    for block in &mut blocks {
        let mut buf = [0u8; 8];
        buf.copy_from_slice(block);
        let mut k = u64::from_le_bytes(buf);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        // The tail bytes are xored in at their little-endian positions.
        for (i, &b) in tail.iter().enumerate() {
            h ^= (b as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element goes to and the value it offers: the low `P_BITS`
/// bits of the hash pick the register; the value is one plus the number of
/// trailing zero bits of the remaining `Q_BITS` bits (a sentinel bit above
/// them caps it at `Q_BITS + 1`).
pub fn pattern(element: &[u8]) -> (usize, u8) {
    let hash = murmur64a(element, HLL_SEED);
    let index = (hash as usize) & (REGISTERS - 1);
    let rest = (hash >> P_BITS) | (1u64 << Q_BITS);
    (index, rest.trailing_zeros() as u8 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        // Empty input with seed 0 hashes to 0 (every step keeps 0).
        assert_eq!(murmur64a(b"", 0), 0);
        // (register, value) pairs as redis-server 7.0.15 reports them
        // (PFADD into an empty sketch, then PFDEBUG DECODE): tail-only,
        // empty, exactly one block, and block plus tail inputs.
        let cases: &[(&[u8], usize, u8)] = &[
            (b"x", 16374, 2),
            (b"y", 14932, 3),
            (b"z", 8581, 1),
            (b"a", 12711, 2),
            (b"b", 15780, 1),
            (b"hello", 9216, 1),
            (b"", 5938, 2),
            (b"foobar12", 15489, 2),
            (b"foobar123", 638, 1),
        ];
        for &(element, index, count) in cases {
            assert_eq!(pattern(element), (index, count), "{element:?}");
        }
    }

    #[test]
    fn pattern_is_capped() {
        for i in 0..10_000u32 {
            let (idx, count) = pattern(&i.to_le_bytes());
            assert!(idx < REGISTERS);
            assert!((1..=Q_BITS as u8 + 1).contains(&count));
        }
    }
}
