//! LZF compression in the format Redis uses for RDB strings (liblzf's
//! "very fast" variant). Written from the format description:
//!
//! - a control byte `c < 32` starts a literal run of `c + 1` bytes;
//! - otherwise it is a back reference: length `c >> 5` (7 means "read one more
//!   byte and add it"), plus 2; offset `((c & 0x1f) << 8 | next byte) + 1`
//!   bytes back from the output position.
//!
//! Invariant: `decompress` never writes past `expected_len` and never reads
//! past the input, whatever the input holds.
#![deny(clippy::indexing_slicing)]

/// Longest literal run one control byte can describe.
const LITERAL_RUN_MAX: usize = 32;
/// Longest back reference (7 + 255 + 2).
const MATCH_LEN_MAX: usize = 264;
/// Farthest back reference.
const OFFSET_MAX: usize = 8192;
const HASH_BITS: u32 = 14;

/// Compresses `input`; None when the output would not be smaller than
/// `input.len() - 1` bytes (Redis then stores the string uncompressed).
pub fn compress(input: &[u8]) -> Option<Vec<u8>> {
    let n = input.len();
    if n < 4 {
        return None;
    }
    let out_max = n - 1;
    let mut out: Vec<u8> = Vec::with_capacity(out_max);
    let mut table = vec![0usize; 1 << HASH_BITS]; // positions + 1; 0 = empty
    let mut lit_start = 0usize;
    let mut i = 0usize;
    let hash = |p: usize| -> usize {
        let v = (input[p] as u32) << 16 | (input[p + 1] as u32) << 8 | input[p + 2] as u32;
        (v.wrapping_mul(2_654_435_761) >> (32 - HASH_BITS)) as usize
    };
    #[allow(clippy::indexing_slicing)]
    while i + 2 < n {
        let h = hash(i);
        let cand = table[h];
        table[h] = i + 1;
        if cand > 0 {
            let c = cand - 1;
            let off = i - c;
            if off > 0 && off <= OFFSET_MAX && input[c..c + 3] == input[i..i + 3] {
                let mut len = 3;
                while i + len < n && len < MATCH_LEN_MAX && input[c + len] == input[i + len] {
                    len += 1;
                }
                flush_literals(&mut out, &input[lit_start..i]);
                let l = len - 2;
                let o = off - 1;
                if l < 7 {
                    out.push(((l as u8) << 5) | (o >> 8) as u8);
                } else {
                    out.push((7u8 << 5) | (o >> 8) as u8);
                    out.push((l - 7) as u8);
                }
                out.push((o & 0xff) as u8);
                if out.len() >= out_max {
                    return None;
                }
                i += len;
                lit_start = i;
                continue;
            }
        }
        i += 1;
        if out.len() + (i - lit_start) + (i - lit_start) / LITERAL_RUN_MAX + 1 >= out_max {
            return None;
        }
    }
    #[allow(clippy::indexing_slicing)]
    flush_literals(&mut out, &input[lit_start..]);
    if out.len() >= out_max {
        return None;
    }
    Some(out)
}

fn flush_literals(out: &mut Vec<u8>, mut lit: &[u8]) {
    while !lit.is_empty() {
        let run = lit.len().min(LITERAL_RUN_MAX);
        out.push((run - 1) as u8);
        let (head, tail) = lit.split_at(run);
        out.extend_from_slice(head);
        lit = tail;
    }
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
    let mut out: Vec<u8> = Vec::with_capacity(expected_len.min(input.len().saturating_mul(4)).min(1 << 20));
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
        let data: Vec<u8> = (0..200u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        if let Some(c) = compress(&data) {
            assert_eq!(decompress(&c, data.len()).unwrap(), data);
        }
    }

    #[test]
    fn decodes_streams_written_by_redis() {
        // DUMP payloads from redis-server 7.0.15 (SET k <100 x 'a'>; SET k2 "hello hello ...").
        let a100 = [0x01, b'a', b'a', 0xe0, 0x57, 0x00, 0x01, b'a', b'a'];
        assert_eq!(decompress(&a100, 100).unwrap(), vec![b'a'; 100]);
        let hello = b"\x06hello h\xe0\x0e\x05\x04world\xe0\x01\x05\x01ld";
        assert_eq!(decompress(hello, 47).unwrap(), b"hello hello hello hello hello world world world".to_vec());
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
