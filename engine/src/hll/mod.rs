//! HyperLogLog sketches in Redis's byte representation.
//!
//! A sketch is an ordinary string value; Redis and Strata read each other's
//! bytes, so the layout is fixed:
//!
//! ```text
//! "HYLL" | encoding (0 dense, 1 sparse) | 3 unused bytes | cardinality cache (8 bytes LE)
//! dense:  16384 registers of 6 bits, packed least significant bit first (12288 bytes)
//! sparse: opcodes ZERO 00xxxxxx, XZERO 01xxxxxx yyyyyyyy, VAL 1vvvvvxx (see `sparse`)
//! ```
//!
//! The top bit of the last cache byte marks the cache invalid.
//!
//! Invariants kept by every writer here:
//! - a sketch that passes `check` and was written by this module covers
//!   exactly `REGISTERS` registers; sparse values never exceed
//!   `SPARSE_VAL_MAX_VALUE` (larger values force the dense encoding);
//! - any change of a register invalidates the cache;
//! - bytes a client supplied are never trusted: readers return `Corrupt`
//!   (Redis's INVALIDOBJ) instead of panicking, and a byte read just past the
//!   end reads as zero, as Redis's terminating NUL does.

// Sketch bytes come from clients: no panicking index or unwrap outside tests.
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::unwrap_used))]

use crate::thin::ByteBuf;
pub mod dense;
pub mod estimate;
pub mod murmur;
pub mod selftest;
pub mod sparse;

/// Bits of the hash that choose a register (HLL_P).
pub const P_BITS: u32 = 14;
/// Bits of the hash that remain for the run length (HLL_Q).
pub const Q_BITS: u32 = 64 - P_BITS;
pub const REGISTERS: usize = 1 << P_BITS;
/// Bits per dense register.
pub const REGISTER_BITS: usize = 6;
pub const REGISTER_MAX: u8 = (1 << REGISTER_BITS) - 1;
pub const HEADER_BYTES: usize = 16;
pub const DENSE_REGISTER_BYTES: usize = (REGISTERS * REGISTER_BITS).div_ceil(8);
pub const DENSE_BYTES: usize = HEADER_BYTES + DENSE_REGISTER_BYTES;
const _: () = assert!(DENSE_BYTES == 12304);
const _: () = assert!((Q_BITS as usize + 1) <= REGISTER_MAX as usize);

pub const MAGIC: &[u8; 4] = b"HYLL";
pub const ENCODING_DENSE: u8 = 0;
pub const ENCODING_SPARSE: u8 = 1;
pub(crate) const ENCODING_OFFSET: usize = 4;
const CACHE_OFFSET: usize = 8;
/// In the last cache byte: the cached cardinality is stale.
const CACHE_INVALID_BIT: u8 = 0x80;

/// The sketch's bytes are inconsistent (Redis's "Corrupted HLL object detected").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corrupt;

/// Whether `bytes` look like a sketch: magic, a known encoding and, when
/// dense, the exact dense size (Redis's isHLLObjectOrReply). Sparse bodies
/// are only checked when they are used.
pub fn check(bytes: &[u8]) -> bool {
    bytes.len() >= HEADER_BYTES
        && bytes.starts_with(MAGIC)
        && match bytes.get(ENCODING_OFFSET) {
            Some(&ENCODING_DENSE) => bytes.len() == DENSE_BYTES,
            Some(&ENCODING_SPARSE) => true,
            _ => false,
        }
}

/// The encoding byte (callers `check` first).
pub fn encoding(bytes: &[u8]) -> u8 {
    bytes.get(ENCODING_OFFSET).copied().unwrap_or(u8::MAX)
}

pub fn is_sparse(bytes: &[u8]) -> bool {
    encoding(bytes) == ENCODING_SPARSE
}

/// A new sketch with every register zero: sparse, one XZERO covering all
/// registers, a valid cache holding 0.
pub fn new_sketch() -> Vec<u8> {
    let mut v = Vec::with_capacity(HEADER_BYTES + 2);
    v.extend_from_slice(MAGIC);
    v.push(ENCODING_SPARSE);
    v.extend_from_slice(&[0u8; 3 + 8]);
    sparse::push_zeros(&mut v, REGISTERS);
    v
}

/// The cached cardinality, unless it is marked stale.
pub fn cached_cardinality(bytes: &[u8]) -> Option<u64> {
    let cache: [u8; 8] = bytes.get(CACHE_OFFSET..CACHE_OFFSET + 8)?.try_into().ok()?;
    if cache[7] & CACHE_INVALID_BIT != 0 {
        return None;
    }
    Some(u64::from_le_bytes(cache))
}

/// Stores `card` in the cache. A value with the top bit set reads as stale
/// afterwards, as in Redis.
pub fn set_cached_cardinality(bytes: &mut [u8], card: u64) {
    if let Some(cache) = bytes.get_mut(CACHE_OFFSET..CACHE_OFFSET + 8) {
        cache.copy_from_slice(&card.to_le_bytes());
    }
}

/// Marks the cache stale (only the flag bit changes).
pub fn invalidate_cache(bytes: &mut [u8]) {
    if let Some(b) = bytes.get_mut(CACHE_OFFSET + 7) {
        *b |= CACHE_INVALID_BIT;
    }
}

/// Offers `element` to the sketch. Returns whether a register grew.
/// `sparse_bytes_max` is `hll-sparse-max-bytes`. A change inside the sparse
/// encoding marks the cache stale; a dense change does not (as in Redis):
/// the caller invalidates the cache once when its command changed anything.
pub fn add<B: ByteBuf>(
    hll: &mut B,
    element: &[u8],
    sparse_bytes_max: usize,
) -> Result<bool, Corrupt> {
    let (index, count) = murmur::pattern(element);
    set_register(hll, index, count, sparse_bytes_max)
}

/// Raises register `index` to `count` if it is lower, in either encoding
/// (a sparse sketch may become dense). Returns whether it changed. The cache
/// flag is handled as in `add`.
pub fn set_register<B: ByteBuf>(
    hll: &mut B,
    index: usize,
    count: u8,
    sparse_bytes_max: usize,
) -> Result<bool, Corrupt> {
    match encoding(hll) {
        ENCODING_DENSE => Ok(dense::raise(dense_registers_mut(hll)?, index, count)),
        ENCODING_SPARSE => sparse::raise(hll, index, count, sparse_bytes_max),
        _ => Err(Corrupt),
    }
}

/// Converts a sparse sketch to dense in place; the header (cache and unused
/// bytes included) is kept. Returns true if it was sparse.
pub fn to_dense<B: ByteBuf>(hll: &mut B) -> Result<bool, Corrupt> {
    if encoding(hll) != ENCODING_SPARSE {
        return Ok(false);
    }
    let dense = sparse::to_dense(hll)?;
    hll.set_bytes(dense);
    Ok(true)
}

fn dense_registers_mut(hll: &mut [u8]) -> Result<&mut [u8], Corrupt> {
    hll.get_mut(HEADER_BYTES..DENSE_BYTES).ok_or(Corrupt)
}

fn dense_registers(hll: &[u8]) -> Result<&[u8], Corrupt> {
    hll.get(HEADER_BYTES..DENSE_BYTES).ok_or(Corrupt)
}

/// One byte per register: the union the multi-key commands build.
pub type RawRegisters = Box<[u8; REGISTERS]>;

pub fn raw_registers() -> RawRegisters {
    Box::new([0u8; REGISTERS])
}

/// max[i] = max(max[i], register i of `hll`). On `Corrupt`, `max` may hold a
/// partial merge.
pub fn merge_into(max: &mut [u8; REGISTERS], hll: &[u8]) -> Result<(), Corrupt> {
    match encoding(hll) {
        ENCODING_DENSE => {
            let regs = dense_registers(hll)?;
            for (i, m) in max.iter_mut().enumerate() {
                let v = dense::get(regs, i);
                if v > *m {
                    *m = v;
                }
            }
            Ok(())
        }
        ENCODING_SPARSE => sparse::merge_into(max, hll),
        _ => Err(Corrupt),
    }
}

/// The estimated cardinality of a sketch (ignores the cache). A sparse body
/// that does not cover exactly `REGISTERS` registers is `Corrupt`.
pub fn count(hll: &[u8]) -> Result<u64, Corrupt> {
    let histogram = match encoding(hll) {
        ENCODING_DENSE => dense::histogram(dense_registers(hll)?),
        ENCODING_SPARSE => sparse::histogram(hll)?,
        _ => return Err(Corrupt),
    };
    Ok(estimate::cardinality(&histogram))
}

/// The estimated cardinality of a union built by `merge_into`.
pub fn count_raw(max: &[u8; REGISTERS]) -> u64 {
    let mut histogram = estimate::Histogram::default();
    for &v in max.iter() {
        histogram.add(v, 1);
    }
    estimate::cardinality(&histogram)
}

/// Every register's value (converts nothing; PFDEBUG GETREG converts first).
pub fn registers(hll: &[u8]) -> Result<RawRegisters, Corrupt> {
    let mut out = raw_registers();
    match encoding(hll) {
        ENCODING_DENSE => {
            let regs = dense_registers(hll)?;
            for (i, o) in out.iter_mut().enumerate() {
                *o = dense::get(regs, i);
            }
        }
        _ => {
            let dense = sparse::to_dense(hll)?;
            let regs = dense_registers(&dense)?;
            for (i, o) in out.iter_mut().enumerate() {
                *o = dense::get(regs, i);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_sketch_is_one_xzero() {
        let s = new_sketch();
        assert_eq!(s, b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\0\x7f\xff");
        assert!(check(&s));
        assert_eq!(cached_cardinality(&s), Some(0));
        assert_eq!(count(&s), Ok(0));
    }

    #[test]
    fn check_follows_redis() {
        assert!(!check(b"HYLL\x01\0\0\0\0\0\0\0\0\0\0"), "short header");
        assert!(
            check(b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\0"),
            "empty sparse body"
        );
        assert!(!check(b"HYLL\x02\0\0\0\0\0\0\0\0\0\0\0\x7f\xff"));
        assert!(!check(b"HYLX\x01\0\0\0\0\0\0\0\0\0\0\0\x7f\xff"));
        let mut d = vec![0u8; DENSE_BYTES];
        d[..4].copy_from_slice(MAGIC);
        assert!(check(&d));
        d.push(0);
        assert!(!check(&d), "dense must be exact");
    }

    #[test]
    fn cache_flag() {
        let mut s = new_sketch();
        set_cached_cardinality(&mut s, 1234);
        assert_eq!(cached_cardinality(&s), Some(1234));
        invalidate_cache(&mut s);
        assert_eq!(cached_cardinality(&s), None);
        assert_eq!(&s[8..16], &[0xd2, 0x04, 0, 0, 0, 0, 0, 0x80]);
    }

    #[test]
    fn union_counts_like_adds() {
        let mut a = new_sketch();
        let mut b = new_sketch();
        let mut both = new_sketch();
        for i in 0..3000u32 {
            let e = i.to_string();
            let target = if i % 2 == 0 { &mut a } else { &mut b };
            add(target, e.as_bytes(), 3000).unwrap();
            add(&mut both, e.as_bytes(), 3000).unwrap();
        }
        let mut max = raw_registers();
        merge_into(&mut max, &a).unwrap();
        merge_into(&mut max, &b).unwrap();
        assert_eq!(count_raw(&max), count(&both).unwrap());
        assert_eq!(*registers(&both).unwrap(), *max);
    }

    #[test]
    fn estimates_match_redis() {
        // PFCOUNT of "e0".."e<n-1>" as redis-server 7.0.15 answers, with the
        // encoding it had then (sparse up to 1000, dense after).
        let mut s = new_sketch();
        let mut added = 0;
        for (n, want, sparse) in [
            (1, 1, true),
            (10, 10, true),
            (100, 100, true),
            (1000, 1008, true),
            (10_000, 9973, false),
            (100_000, 100_853, false),
        ] {
            for i in added..n {
                add(&mut s, format!("e{i}").as_bytes(), 3000).unwrap();
            }
            added = n;
            assert_eq!(count(&s), Ok(want), "{n} elements");
            assert_eq!(is_sparse(&s), sparse, "{n} elements");
        }
    }
}
