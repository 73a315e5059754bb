//! Redis's compact blob encodings as they appear inside RDB strings:
//! listpack (read and write), ziplist, intset (read and write) and zipmap
//! (read). Decoders turn a blob into plain entries and validate it fully
//! (header lengths, every entry in bounds, terminator), so corrupt input is an
//! error, never a panic or an out-of-bounds read.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::indexing_slicing))]

/// One element of a compact encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Elem {
    Int(i64),
    Bytes(Vec<u8>),
}

impl Elem {
    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            Elem::Int(n) => n.to_string().into_bytes(),
            Elem::Bytes(b) => b,
        }
    }
}

/// A cursor over a blob whose reads fail instead of panicking.
struct Cur<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).ok_or("length overflow")?;
        let s = self
            .b
            .get(self.pos..end)
            .ok_or_else(|| format!("entry runs past the end at byte {}", self.pos))?;
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(*self.take(1)?.first().ok_or("empty")?)
    }
    fn le(&mut self, n: usize) -> Result<u64, String> {
        let s = self.take(n)?;
        Ok(s.iter().rev().fold(0u64, |acc, &x| (acc << 8) | x as u64))
    }
}

fn sign_extend(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

// ---------------------------------------------------------------- listpack

const LP_HEADER_BYTES: usize = 6;
const LP_EOF: u8 = 0xFF;

/// Decodes and validates a listpack.
pub fn listpack_decode(blob: &[u8]) -> Result<Vec<Elem>, String> {
    let mut c = Cur { b: blob, pos: 0 };
    let total = c.le(4)? as usize;
    if total != blob.len() {
        return Err(format!(
            "listpack total bytes {total} but the blob has {}",
            blob.len()
        ));
    }
    let count = c.le(2)? as usize;
    let mut out = Vec::with_capacity(count.min(blob.len()));
    loop {
        let start = c.pos;
        let first = c.u8()?;
        if first == LP_EOF {
            break;
        }
        let elem = match first {
            0x00..=0x7F => Elem::Int(first as i64),
            0x80..=0xBF => Elem::Bytes(c.take((first & 0x3F) as usize)?.to_vec()),
            0xC0..=0xDF => {
                let lo = c.u8()? as u64;
                Elem::Int(sign_extend(((first as u64 & 0x1F) << 8) | lo, 13))
            }
            0xE0..=0xEF => {
                let lo = c.u8()? as usize;
                Elem::Bytes(c.take(((first as usize & 0x0F) << 8) | lo)?.to_vec())
            }
            0xF0 => {
                let n = c.le(4)? as usize;
                Elem::Bytes(c.take(n)?.to_vec())
            }
            0xF1 => Elem::Int(sign_extend(c.le(2)?, 16)),
            0xF2 => Elem::Int(sign_extend(c.le(3)?, 24)),
            0xF3 => Elem::Int(sign_extend(c.le(4)?, 32)),
            0xF4 => Elem::Int(c.le(8)? as i64),
            other => return Err(format!("invalid listpack entry encoding 0x{other:02x}")),
        };
        let entry_len = c.pos - start;
        let back = backlen_bytes(entry_len);
        let stored = c.take(back.len())?;
        if stored != back.as_slice() {
            return Err(format!(
                "listpack entry at byte {start} has a wrong back-length"
            ));
        }
        out.push(elem);
    }
    if c.pos != blob.len() {
        return Err("listpack has bytes after its terminator".into());
    }
    if count != 0xFFFF && count != out.len() {
        return Err(format!(
            "listpack header says {count} entries but holds {}",
            out.len()
        ));
    }
    Ok(out)
}

/// The back-length bytes for an entry of `l` bytes (encoding + data).
fn backlen_bytes(l: usize) -> Vec<u8> {
    let l = l as u64;
    if l <= 127 {
        vec![l as u8]
    } else if l < 16383 {
        vec![(l >> 7) as u8, ((l & 127) | 128) as u8]
    } else if l < 2_097_151 {
        vec![
            (l >> 14) as u8,
            (((l >> 7) & 127) | 128) as u8,
            ((l & 127) | 128) as u8,
        ]
    } else if l < 268_435_455 {
        vec![
            (l >> 21) as u8,
            (((l >> 14) & 127) | 128) as u8,
            (((l >> 7) & 127) | 128) as u8,
            ((l & 127) | 128) as u8,
        ]
    } else {
        vec![
            (l >> 28) as u8,
            (((l >> 21) & 127) | 128) as u8,
            (((l >> 14) & 127) | 128) as u8,
            (((l >> 7) & 127) | 128) as u8,
            ((l & 127) | 128) as u8,
        ]
    }
}

/// Builds a listpack the way Redis does: strings that are canonical integers
/// are stored in the smallest integer encoding.
pub fn listpack_encode<'a>(items: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = vec![0u8; LP_HEADER_BYTES];
    let mut count = 0usize;
    for item in items {
        let start = out.len();
        match strata_engine::value::parse_i64_strict(item) {
            Some(n) => encode_lp_int(&mut out, n),
            None => encode_lp_str(&mut out, item),
        }
        let len = out.len() - start;
        out.extend_from_slice(&backlen_bytes(len));
        count += 1;
    }
    out.push(LP_EOF);
    let total = out.len() as u32;
    let n = if count < 0xFFFF { count as u16 } else { 0xFFFF };
    for (slot, b) in out
        .iter_mut()
        .zip(total.to_le_bytes().into_iter().chain(n.to_le_bytes()))
    {
        *slot = b;
    }
    out
}

fn encode_lp_int(out: &mut Vec<u8>, n: i64) {
    if (0..=127).contains(&n) {
        out.push(n as u8);
    } else if (-4096..=4095).contains(&n) {
        let u = (n as u64) & 0x1FFF;
        out.push(0xC0 | (u >> 8) as u8);
        out.push(u as u8);
    } else if (-32768..=32767).contains(&n) {
        out.push(0xF1);
        out.extend_from_slice(&(n as i16).to_le_bytes());
    } else if (-8_388_608..=8_388_607).contains(&n) {
        out.push(0xF2);
        out.extend((n as i32).to_le_bytes().into_iter().take(3));
    } else if (i32::MIN as i64..=i32::MAX as i64).contains(&n) {
        out.push(0xF3);
        out.extend_from_slice(&(n as i32).to_le_bytes());
    } else {
        out.push(0xF4);
        out.extend_from_slice(&n.to_le_bytes());
    }
}

fn encode_lp_str(out: &mut Vec<u8>, s: &[u8]) {
    let len = s.len();
    if len < 64 {
        out.push(0x80 | len as u8);
    } else if len < 4096 {
        out.push(0xE0 | (len >> 8) as u8);
        out.push(len as u8);
    } else {
        out.push(0xF0);
        out.extend_from_slice(&(len as u32).to_le_bytes());
    }
    out.extend_from_slice(s);
}

// ---------------------------------------------------------------- ziplist

const ZIP_HEADER_BYTES: usize = 10;
const ZIP_END: u8 = 0xFF;
const ZIP_BIG_PREVLEN: u8 = 254;

/// Decodes and validates a ziplist (RDB versions before 10).
pub fn ziplist_decode(blob: &[u8]) -> Result<Vec<Elem>, String> {
    let mut c = Cur { b: blob, pos: 0 };
    let total = c.le(4)? as usize;
    if total != blob.len() {
        return Err(format!(
            "ziplist total bytes {total} but the blob has {}",
            blob.len()
        ));
    }
    let tail = c.le(4)? as usize;
    let count = c.le(2)? as usize;
    let mut out = Vec::with_capacity(count.min(blob.len()));
    let mut prev_len = 0usize;
    let mut last_start = ZIP_HEADER_BYTES;
    loop {
        let start = c.pos;
        let first = c.u8()?;
        if first == ZIP_END {
            break;
        }
        let prevlen = if first == ZIP_BIG_PREVLEN {
            c.le(4)? as usize
        } else {
            first as usize
        };
        if prevlen != prev_len {
            return Err(format!(
                "ziplist entry at byte {start} has a wrong previous-entry length"
            ));
        }
        let enc = c.u8()?;
        let elem = match enc >> 6 {
            0 => Elem::Bytes(c.take((enc & 0x3F) as usize)?.to_vec()),
            1 => {
                let lo = c.u8()? as usize;
                Elem::Bytes(c.take(((enc as usize & 0x3F) << 8) | lo)?.to_vec())
            }
            2 => {
                let s = c.take(4)?;
                let n = s.iter().fold(0usize, |acc, &x| (acc << 8) | x as usize);
                Elem::Bytes(c.take(n)?.to_vec())
            }
            _ => match enc {
                0xC0 => Elem::Int(sign_extend(c.le(2)?, 16)),
                0xD0 => Elem::Int(sign_extend(c.le(4)?, 32)),
                0xE0 => Elem::Int(c.le(8)? as i64),
                0xF0 => Elem::Int(sign_extend(c.le(3)?, 24)),
                0xFE => Elem::Int(sign_extend(c.le(1)?, 8)),
                0xF1..=0xFD => Elem::Int((enc & 0x0F) as i64 - 1),
                other => return Err(format!("invalid ziplist entry encoding 0x{other:02x}")),
            },
        };
        prev_len = c.pos - start;
        last_start = start;
        out.push(elem);
    }
    if c.pos != blob.len() {
        return Err("ziplist has bytes after its terminator".into());
    }
    if !out.is_empty() && tail != last_start {
        return Err("ziplist tail offset is wrong".into());
    }
    if count != 0xFFFF && count != out.len() {
        return Err(format!(
            "ziplist header says {count} entries but holds {}",
            out.len()
        ));
    }
    Ok(out)
}

// ---------------------------------------------------------------- intset

/// Decodes and validates an intset (sorted, unique, of one width).
pub fn intset_decode(blob: &[u8]) -> Result<Vec<i64>, String> {
    let mut c = Cur { b: blob, pos: 0 };
    let width = c.le(4)? as usize;
    if !matches!(width, 2 | 4 | 8) {
        return Err(format!("invalid intset encoding {width}"));
    }
    let len = c.le(4)? as usize;
    if len.checked_mul(width).and_then(|n| n.checked_add(8)) != Some(blob.len()) {
        return Err("intset length does not match its size".into());
    }
    let mut out: Vec<i64> = Vec::with_capacity(len);
    for _ in 0..len {
        let v = sign_extend(c.le(width)?, (width * 8) as u32);
        if let Some(&last) = out.last() {
            if v <= last {
                return Err("intset is not sorted or has duplicates".into());
            }
        }
        out.push(v);
    }
    Ok(out)
}

/// Builds an intset with the narrowest width holding every value (sorted input).
pub fn intset_encode(values: &[i64]) -> Vec<u8> {
    let width: usize = if values.iter().all(|&v| i16::try_from(v).is_ok()) {
        2
    } else if values.iter().all(|&v| i32::try_from(v).is_ok()) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + values.len() * width);
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(values.len() as u32).to_le_bytes());
    for &v in values {
        out.extend(v.to_le_bytes().into_iter().take(width));
    }
    out
}

// ---------------------------------------------------------------- zipmap

pub type FieldValue = (Vec<u8>, Vec<u8>);

/// Decodes a zipmap (hashes in RDB versions before 4) into field/value pairs.
pub fn zipmap_decode(blob: &[u8]) -> Result<Vec<FieldValue>, String> {
    let mut c = Cur { b: blob, pos: 0 };
    let _count = c.u8()?;
    let mut out = Vec::new();
    let read_len = |c: &mut Cur| -> Result<Option<usize>, String> {
        let first = c.u8()?;
        match first {
            0xFF => Ok(None),
            254 => Ok(Some(c.le(4)? as usize)),
            253 => Err("invalid zipmap length".into()),
            n => Ok(Some(n as usize)),
        }
    };
    while let Some(klen) = read_len(&mut c)? {
        let key = c.take(klen)?.to_vec();
        let Some(vlen) = read_len(&mut c)? else {
            return Err("zipmap ends after a key".into());
        };
        let free = c.u8()? as usize;
        let val = c.take(vlen)?.to_vec();
        c.take(free)?;
        out.push((key, val));
    }
    if c.pos != blob.len() {
        return Err("zipmap has bytes after its terminator".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn listpack_matches_redis_bytes() {
        // From redis-server 7.0.15: HSET h a 1 -> DUMP payload listpack.
        let lp = listpack_encode([&b"a"[..], &b"1"[..]]);
        assert_eq!(
            lp,
            vec![0x0c, 0, 0, 0, 0x02, 0x00, 0x81, b'a', 0x02, 0x01, 0x01, 0xff]
        );
        assert_eq!(
            listpack_decode(&lp).unwrap(),
            vec![Elem::Bytes(b"a".to_vec()), Elem::Int(1)]
        );
    }

    #[test]
    fn intset_round_trip_and_widths() {
        let v = vec![-5, 1, 300];
        let b = intset_encode(&v);
        assert_eq!(&b[..4], &2u32.to_le_bytes());
        assert_eq!(intset_decode(&b).unwrap(), v);
        let big = vec![1, 1 << 40];
        assert_eq!(intset_decode(&intset_encode(&big)).unwrap(), big);
        assert!(intset_decode(&intset_encode(&[3, 1])).is_err());
    }

    proptest! {
        #[test]
        fn listpack_round_trip(items in proptest::collection::vec(prop_oneof![
            any::<i64>().prop_map(|n| n.to_string().into_bytes()),
            proptest::collection::vec(any::<u8>(), 0..5000),
        ], 0..40)) {
            let lp = listpack_encode(items.iter().map(|v| v.as_slice()));
            let back: Vec<Vec<u8>> = listpack_decode(&lp).unwrap().into_iter().map(Elem::into_bytes).collect();
            prop_assert_eq!(back, items);
        }

        #[test]
        fn decoders_never_panic(blob in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = listpack_decode(&blob);
            let _ = ziplist_decode(&blob);
            let _ = intset_decode(&blob);
            let _ = zipmap_decode(&blob);
        }
    }
}
