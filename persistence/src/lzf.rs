//! LZF compression in the format Redis uses for RDB strings (liblzf's
//! "very fast" variant, as Redis builds it). The format:
//!
//! - a control byte `c < 32` starts a literal run of `c + 1` bytes;
//! - otherwise it is a back reference: length `c >> 5` (7 means "read one more
//!   byte and add it"), plus 2; offset `((c & 0x1f) << 8 | next byte) + 1`
//!   bytes back from the output position.
//!
//! Invariant: `decompress` never writes past `expected_len` and never reads
//! past the input, whatever the input holds.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

/// Longest literal run one control byte can describe (MAX_LIT).
const LITERAL_RUN_MAX: usize = 1 << 5;
/// Longest back reference in octets (MAX_REF: 7 + 255 + 2).
const MATCH_LEN_MAX: usize = (1 << 8) + (1 << 3);
/// Farthest back reference (MAX_OFF).
const OFFSET_MAX: usize = 1 << 13;
/// Hash table of liblzf as Redis builds it (HLOG 16).
const HASH_BITS: u32 = 16;
const HASH_SLOTS: usize = 1 << HASH_BITS;

/// Compresses `input` as Redis's rdbSaveLzfStringObject does: liblzf's
/// `lzf_compress` (VERY_FAST, HLOG 16, offsets in the table) with room for
/// `input.len() - 4` bytes; None when that does not suffice, or the input
/// is 4 bytes or less (Redis then stores the string uncompressed).
///
/// The output is byte for byte liblzf's. Like Redis's, the hash table is
/// not cleared between calls (Redis keeps it on the stack with INIT_HTAB
/// 0): stale entries take part in match finding, exactly as in Redis, so
/// the same sequence of compressions on one thread gives the same bytes.
pub fn compress(input: &[u8]) -> Option<Vec<u8>> {
    let n = input.len();
    if n <= 4 {
        return None;
    }
    HASH_TABLE.with(|t| compress_with(input, &mut t.borrow_mut(), n - 4))
}

thread_local! {
    static HASH_TABLE: std::cell::RefCell<Vec<u32>> = std::cell::RefCell::new(vec![0u32; HASH_SLOTS]);
}

/// liblzf's IDX for VERY_FAST: `((h >> (3*8 - HLOG)) - h*5) & (HSIZE - 1)`.
#[inline]
fn slot_of(h: u32) -> usize {
    ((h >> (24 - HASH_BITS)).wrapping_sub(h.wrapping_mul(5)) as usize) & (HASH_SLOTS - 1)
}

/// `lzf_compress(input, n, out, out_len)`, statement for statement: `op` is
/// the output position (a run's control byte is reserved before its
/// literals), `lit` the length of the current literal run. Every index is
/// checked by the conditions liblzf itself tests before writing.
#[allow(clippy::indexing_slicing)]
fn compress_with(input: &[u8], table: &mut [u32], out_len: usize) -> Option<Vec<u8>> {
    let n = input.len();
    if n < 3 || out_len == 0 || table.len() != HASH_SLOTS {
        return None;
    }
    let mut out = vec![0u8; out_len];
    let (mut ip, mut op, mut lit) = (0usize, 1usize, 0usize);
    let mut hval = (input[0] as u32) << 8 | input[1] as u32;
    while ip + 2 < n {
        hval = hval << 8 | input[ip + 2] as u32;
        let slot = slot_of(hval);
        let r = table[slot] as usize;
        table[slot] = ip as u32;
        // A stale or later entry makes `off` wrap past OFFSET_MAX.
        let off = ip.wrapping_sub(r).wrapping_sub(1);
        if off < OFFSET_MAX
            && r > 0
            && input[r + 2] == input[ip + 2]
            && input[r] == input[ip]
            && input[r + 1] == input[ip + 1]
        {
            let mut len = 2;
            let maxlen = (n - ip - len).min(MATCH_LEN_MAX);
            if op + 3 + 1 >= out_len && op - (lit == 0) as usize + 3 + 1 >= out_len {
                return None;
            }
            out[op - lit - 1] = (lit as u8).wrapping_sub(1); // stop the run
            op -= (lit == 0) as usize; // an empty run takes no byte
            'extend: {
                if maxlen > 16 {
                    for _ in 0..16 {
                        len += 1;
                        if input[r + len] != input[ip + len] {
                            break 'extend;
                        }
                    }
                }
                loop {
                    len += 1;
                    if !(len < maxlen && input[r + len] == input[ip + len]) {
                        break;
                    }
                }
            }
            len -= 2;
            ip += 1;
            if len < 7 {
                out[op] = ((off >> 8) + (len << 5)) as u8;
                op += 1;
            } else {
                out[op] = ((off >> 8) + (7 << 5)) as u8;
                out[op + 1] = (len - 7) as u8;
                op += 2;
            }
            out[op] = off as u8;
            op += 2; // the offset byte, then a new run's control byte
            lit = 0;
            ip += len + 1;
            if ip + 2 >= n {
                break;
            }
            // VERY_FAST: hash the two positions before the new one.
            ip -= 2;
            hval = (input[ip] as u32) << 8 | input[ip + 1] as u32;
            for _ in 0..2 {
                hval = hval << 8 | input[ip + 2] as u32;
                table[slot_of(hval)] = ip as u32;
                ip += 1;
            }
        } else {
            if op >= out_len {
                return None;
            }
            out[op] = input[ip];
            (op, ip, lit) = (op + 1, ip + 1, lit + 1);
            if lit == LITERAL_RUN_MAX {
                out[op - lit - 1] = (lit - 1) as u8;
                (lit, op) = (0, op + 1);
            }
        }
    }
    if op + 3 > out_len {
        return None;
    }
    while ip < n {
        out[op] = input[ip];
        (op, ip, lit) = (op + 1, ip + 1, lit + 1);
        if lit == LITERAL_RUN_MAX {
            out[op - lit - 1] = (lit - 1) as u8;
            (lit, op) = (0, op + 1);
        }
    }
    out[op - lit - 1] = (lit as u8).wrapping_sub(1);
    op -= (lit == 0) as usize;
    out.truncate(op);
    Some(out)
}

#[derive(Debug, PartialEq, Eq)]
pub enum LzfError {
    /// The input ended inside a control sequence or literal run.
    Truncated,
    /// A back reference points before the start of the output.
    BadReference,
    /// The output would exceed the declared length.
    TooLong,
    /// The output is shorter than the declared length.
    TooShort,
}

/// Decompresses into exactly `expected_len` bytes.
pub fn decompress(input: &[u8], expected_len: usize) -> Result<Vec<u8>, LzfError> {
    // The declared length comes from a file: cap the up-front reservation.
    let mut out: Vec<u8> =
        Vec::with_capacity(expected_len.min(input.len().saturating_mul(4)).min(1 << 20));
    let mut i = 0usize;
    while i < input.len() {
        let ctrl = *input.get(i).ok_or(LzfError::Truncated)? as usize;
        i += 1;
        if ctrl < 32 {
            let run = ctrl + 1;
            let lit = input.get(i..i + run).ok_or(LzfError::Truncated)?;
            if out.len() + run > expected_len {
                return Err(LzfError::TooLong);
            }
            out.extend_from_slice(lit);
            i += run;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += *input.get(i).ok_or(LzfError::Truncated)? as usize;
                i += 1;
            }
            len += 2;
            let low = *input.get(i).ok_or(LzfError::Truncated)? as usize;
            i += 1;
            let back = ((ctrl & 0x1f) << 8 | low) + 1;
            if back > out.len() {
                return Err(LzfError::BadReference);
            }
            if out.len() + len > expected_len {
                return Err(LzfError::TooLong);
            }
            let start = out.len() - back;
            for k in 0..len {
                // Overlapping copies repeat the pattern, byte by byte.
                let b = *out.get(start + k).ok_or(LzfError::BadReference)?;
                out.push(b);
            }
        }
    }
    if out.len() != expected_len {
        return Err(LzfError::TooShort);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn compresses_repetitive_data() {
        let data = b"abcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabc".repeat(10);
        let c = compress(&data).unwrap();
        assert!(c.len() < data.len() / 4);
        assert_eq!(decompress(&c, data.len()).unwrap(), data);
    }

    #[test]
    fn incompressible_returns_none() {
        let data: Vec<u8> = (0..200u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        if let Some(c) = compress(&data) {
            assert_eq!(decompress(&c, data.len()).unwrap(), data);
        }
    }

    #[test]
    fn compresses_as_redis_does() {
        // DUMP payloads of redis-server 7.0.15 (its first compressions, so a
        // clear hash table), and its raw fallback for tight outputs.
        let fresh = |data: &[u8]| compress_with(data, &mut vec![0; HASH_SLOTS], data.len() - 4);
        assert_eq!(
            fresh(&[b'a'; 100]).unwrap(),
            [0x01, b'a', b'a', 0xe0, 0x57, 0x00, 0x01, b'a', b'a']
        );
        assert_eq!(
            fresh(b"hello hello hello hello hello world world world").unwrap(),
            b"\x06hello h\xe0\x0e\x05\x04world\xe0\x01\x05\x01ld".to_vec()
        );
        // Needs len - 4 bytes of room, with liblzf's margins.
        assert_eq!(compress(b"abcd"), None);
        assert_eq!(fresh(b"abcdefghijklmnopqrstuvwxyz"), None);
    }

    #[test]
    fn decodes_streams_written_by_redis() {
        // DUMP payloads from redis-server 7.0.15 (SET k <100 x 'a'>; SET k2 "hello hello ...").
        let a100 = [0x01, b'a', b'a', 0xe0, 0x57, 0x00, 0x01, b'a', b'a'];
        assert_eq!(decompress(&a100, 100).unwrap(), vec![b'a'; 100]);
        let hello = b"\x06hello h\xe0\x0e\x05\x04world\xe0\x01\x05\x01ld";
        assert_eq!(
            decompress(hello, 47).unwrap(),
            b"hello hello hello hello hello world world world".to_vec()
        );
    }

    #[test]
    fn corrupt_inputs_are_errors() {
        assert_eq!(decompress(&[0x05, b'a'], 6), Err(LzfError::Truncated));
        assert_eq!(decompress(&[0x20, 0x05], 3), Err(LzfError::BadReference));
        assert_eq!(decompress(&[0x00, b'a'], 5), Err(LzfError::TooShort));
        assert_eq!(decompress(&[0x01, b'a', b'b'], 1), Err(LzfError::TooLong));
    }

    proptest! {
        #[test]
        fn round_trip(data in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), any::<u8>()], 0..3000)) {
            if let Some(c) = compress(&data) {
                prop_assert!(c.len() < data.len());
                prop_assert_eq!(decompress(&c, data.len()).unwrap(), data);
            }
        }

        #[test]
        fn decompress_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200), len in 0usize..1000) {
            let _ = decompress(&data, len);
        }
    }
}
