//! Listpacks: Redis's compact sequence of strings and integers, the format
//! of stream nodes in memory and in RDB files (written from the public
//! format description).
//!
//! Layout: total bytes (u32 LE), element count (u16 LE, 65535 = unknown),
//! the elements, and an end byte 0xFF. Each element is an encoding byte with
//! its data, then a "backlen" of 1-5 bytes giving the size of the encoding
//! and data so the list can be walked backwards.
//!
//! Invariants of a `Listpack` built here: the header's total equals the
//! buffer length; the count is exact below 65535; the last byte is 0xFF.
//! Readers never index past the buffer: a malformed buffer reads as `None`.

pub const HEADER_BYTES: usize = 6;
pub const END_BYTE: u8 = 0xFF;
/// Element count meaning "unknown, walk the list" (LP_HDR_NUMELE_UNKNOWN).
pub const COUNT_UNKNOWN: u16 = u16::MAX;

/// An element as read back: listpacks store integer-looking strings as integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LpVal<'a> {
    Int(i64),
    Str(&'a [u8]),
}

impl LpVal<'_> {
    /// The integer, if the element is one.
    pub fn int(&self) -> Option<i64> {
        match self {
            LpVal::Int(v) => Some(*v),
            LpVal::Str(_) => None,
        }
    }

    /// The element as the string it was stored from.
    pub fn to_vec(&self) -> Vec<u8> {
        match self {
            LpVal::Int(v) => v.to_string().into_bytes(),
            LpVal::Str(s) => s.to_vec(),
        }
    }

    pub fn eq_bytes(&self, b: &[u8]) -> bool {
        match self {
            LpVal::Str(s) => *s == b,
            LpVal::Int(v) => crate::value::parse_i64_strict(b) == Some(*v),
        }
    }
}

/// Bytes of the encoding byte(s) and data for an integer.
fn int_body_bytes(v: i64) -> usize {
    if (0..=127).contains(&v) {
        1
    } else if (-4096..=4095).contains(&v) {
        2
    } else if (-32768..=32767).contains(&v) {
        3
    } else if (-8_388_608..=8_388_607).contains(&v) {
        4
    } else if (i32::MIN as i64..=i32::MAX as i64).contains(&v) {
        5
    } else {
        9
    }
}

fn str_body_bytes(len: usize) -> usize {
    if len < 64 {
        1 + len
    } else if len < 4096 {
        2 + len
    } else {
        5 + len
    }
}

fn backlen_bytes(body: usize) -> usize {
    if body <= 127 {
        1
    } else if body < 16383 {
        2
    } else if body < 2_097_151 {
        3
    } else if body < 268_435_455 {
        4
    } else {
        5
    }
}

/// Bytes an integer element takes in a listpack.
pub fn int_entry_bytes(v: i64) -> usize {
    let b = int_body_bytes(v);
    b + backlen_bytes(b)
}

/// Bytes a string element takes (stored as an integer when it is one).
pub fn str_entry_bytes(s: &[u8]) -> usize {
    match crate::value::parse_i64_strict(s) {
        Some(v) => int_entry_bytes(v),
        None => {
            let b = str_body_bytes(s.len());
            b + backlen_bytes(b)
        }
    }
}

fn encode_int(out: &mut Vec<u8>, v: i64) {
    let start = out.len();
    match int_body_bytes(v) {
        1 => out.push(v as u8),
        2 => {
            let u = if v < 0 { (1i64 << 13) + v } else { v } as u16;
            out.push(0xC0 | (u >> 8) as u8);
            out.push(u as u8);
        }
        3 => {
            out.push(0xF1);
            out.extend_from_slice(&(v as i16).to_le_bytes());
        }
        4 => {
            out.push(0xF2);
            out.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        }
        5 => {
            out.push(0xF3);
            out.extend_from_slice(&(v as i32).to_le_bytes());
        }
        _ => {
            out.push(0xF4);
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    push_backlen(out, out.len() - start);
}

fn encode_str(out: &mut Vec<u8>, s: &[u8]) {
    if let Some(v) = crate::value::parse_i64_strict(s) {
        encode_int(out, v);
        return;
    }
    let start = out.len();
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
    push_backlen(out, out.len() - start);
}

fn push_backlen(out: &mut Vec<u8>, body: usize) {
    let n = backlen_bytes(body);
    // Most significant group first; every byte but the first has bit 7 set,
    // so a reader walking backwards knows when to stop.
    for i in (0..n).rev() {
        let group = ((body >> (7 * i)) & 127) as u8;
        out.push(if i == n - 1 { group } else { group | 128 });
    }
}

/// Reads the element at `off`: its value and the offset of the next element.
pub fn read(lp: &[u8], off: usize) -> Option<(LpVal<'_>, usize)> {
    let b0 = *lp.get(off)?;
    let (val, body) = if b0 & 0x80 == 0 {
        (LpVal::Int(b0 as i64), 1)
    } else if b0 & 0xC0 == 0x80 {
        let len = (b0 & 0x3F) as usize;
        (LpVal::Str(lp.get(off + 1..off + 1 + len)?), 1 + len)
    } else if b0 & 0xE0 == 0xC0 {
        let u = (((b0 & 0x1F) as u16) << 8) | *lp.get(off + 1)? as u16;
        let v = if u >= 1 << 12 {
            u as i64 - (1 << 13)
        } else {
            u as i64
        };
        (LpVal::Int(v), 2)
    } else if b0 & 0xF0 == 0xE0 {
        let len = (((b0 & 0x0F) as usize) << 8) | *lp.get(off + 1)? as usize;
        (LpVal::Str(lp.get(off + 2..off + 2 + len)?), 2 + len)
    } else {
        match b0 {
            0xF0 => {
                let len = u32::from_le_bytes(lp.get(off + 1..off + 5)?.try_into().ok()?) as usize;
                let end = off.checked_add(5)?.checked_add(len)?;
                (LpVal::Str(lp.get(off + 5..end)?), 5 + len)
            }
            0xF1 => {
                let v = i16::from_le_bytes(lp.get(off + 1..off + 3)?.try_into().ok()?);
                (LpVal::Int(v as i64), 3)
            }
            0xF2 => {
                let b = lp.get(off + 1..off + 4)?;
                let v = i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8;
                (LpVal::Int(v as i64), 4)
            }
            0xF3 => {
                let v = i32::from_le_bytes(lp.get(off + 1..off + 5)?.try_into().ok()?);
                (LpVal::Int(v as i64), 5)
            }
            0xF4 => {
                let v = i64::from_le_bytes(lp.get(off + 1..off + 9)?.try_into().ok()?);
                (LpVal::Int(v), 9)
            }
            _ => return None,
        }
    };
    let next = off + body + backlen_bytes(body);
    if next >= lp.len() {
        // The end byte always follows the last element.
        return None;
    }
    Some((val, next))
}

/// Sealed listpacks packed together fill one allocation of at most this
/// many bytes (a jemalloc size class: 64 KiB), instead of one allocation
/// each rounded up to its size class (up to a fifth of a node lost).
pub const PACK_BYTES_MAX: usize = 64 * 1024;

/// A listpack in a buffer of its own (`Owned`, the only form that grows),
/// or a read-only slice of a chunk shared with other sealed listpacks
/// (`Packed`). Writing to a packed listpack first copies it out; a chunk is
/// freed when its last listpack goes or is copied out.
#[derive(Debug, Clone)]
pub struct Listpack {
    buf: Buf,
}

#[derive(Debug, Clone)]
enum Buf {
    Owned(Vec<u8>),
    Packed {
        chunk: std::sync::Arc<[u8]>,
        off: u32,
        len: u32,
    },
}

impl PartialEq for Listpack {
    fn eq(&self, other: &Listpack) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Listpack {}

impl Listpack {
    /// An empty listpack with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Listpack {
        let mut buf = Vec::with_capacity(capacity.max(HEADER_BYTES + 1));
        buf.extend_from_slice(&((HEADER_BYTES + 1) as u32).to_le_bytes());
        buf.extend_from_slice(&0u16.to_le_bytes());
        buf.push(END_BYTE);
        Listpack {
            buf: Buf::Owned(buf),
        }
    }

    /// Takes a buffer read from a file after checking its structure: the
    /// header total, every element, and the end byte. Returns None if any
    /// of it is wrong.
    pub fn from_bytes(buf: Vec<u8>) -> Option<Listpack> {
        if buf.len() < HEADER_BYTES + 1 || buf.last() != Some(&END_BYTE) {
            return None;
        }
        let total = u32::from_le_bytes(buf[..4].try_into().ok()?) as usize;
        if total != buf.len() {
            return None;
        }
        let lp = Listpack {
            buf: Buf::Owned(buf),
        };
        let bytes = lp.as_bytes();
        let mut off = HEADER_BYTES;
        let mut n: usize = 0;
        while off < bytes.len() - 1 {
            let (_, next) = read(bytes, off)?;
            off = next;
            n += 1;
        }
        let declared = lp.declared_count();
        if declared != COUNT_UNKNOWN && declared as usize != n {
            return None;
        }
        Some(lp)
    }

    pub fn as_bytes(&self) -> &[u8] {
        match &self.buf {
            Buf::Owned(v) => v,
            Buf::Packed { chunk, off, len } => {
                let (off, len) = (*off as usize, *len as usize);
                chunk.get(off..off + len).unwrap_or(&[])
            }
        }
    }

    pub fn len_bytes(&self) -> usize {
        self.as_bytes().len()
    }

    /// Bytes this listpack holds in memory (a packed one: its share).
    pub fn capacity(&self) -> usize {
        match &self.buf {
            Buf::Owned(v) => v.capacity(),
            Buf::Packed { len, .. } => *len as usize,
        }
    }

    pub fn shrink_to_fit(&mut self) {
        if let Buf::Owned(v) = &mut self.buf {
            v.shrink_to_fit();
        }
    }

    pub fn is_packed(&self) -> bool {
        matches!(self.buf, Buf::Packed { .. })
    }

    /// Packs these listpacks into one shared chunk (callers keep the total
    /// within PACK_BYTES_MAX). Already packed ones are left alone.
    pub fn pack(lps: &mut [&mut Listpack]) {
        let total: usize = lps
            .iter()
            .filter(|lp| !lp.is_packed())
            .map(|lp| lp.len_bytes())
            .sum();
        let mut chunk = Vec::with_capacity(total);
        let mut spans = Vec::with_capacity(lps.len());
        for lp in lps.iter() {
            if !lp.is_packed() {
                spans.push((chunk.len(), lp.len_bytes()));
                chunk.extend_from_slice(lp.as_bytes());
            }
        }
        let chunk: std::sync::Arc<[u8]> = chunk.into();
        let mut spans = spans.into_iter();
        for lp in lps.iter_mut().filter(|lp| !lp.is_packed()) {
            let Some((off, len)) = spans.next() else {
                break;
            };
            lp.buf = Buf::Packed {
                chunk: chunk.clone(),
                off: off as u32,
                len: len as u32,
            };
        }
    }

    /// Runs `f` on the buffer to write to (a packed listpack is copied
    /// out first).
    fn with_owned<R>(&mut self, f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        if let Buf::Packed { chunk, off, len } = &self.buf {
            let (off, len) = (*off as usize, *len as usize);
            let copy = chunk.get(off..off + len).unwrap_or(&[]).to_vec();
            self.buf = Buf::Owned(copy);
        }
        match &mut self.buf {
            Buf::Owned(v) => f(v),
            // Not reached: the buffer was made owned just above.
            Buf::Packed { .. } => f(&mut Vec::new()),
        }
    }

    fn declared_count(&self) -> u16 {
        let b = self.as_bytes();
        u16::from_le_bytes([b[4], b[5]])
    }

    /// Offset of the first element, None when empty.
    pub fn first(&self) -> Option<usize> {
        (self.len_bytes() > HEADER_BYTES + 1).then_some(HEADER_BYTES)
    }

    pub fn get(&self, off: usize) -> Option<(LpVal<'_>, usize)> {
        read(self.as_bytes(), off)
    }

    /// Appends one element (encoded by `encode`), fixing the header.
    fn push_with(&mut self, encode: impl FnOnce(&mut Vec<u8>)) {
        self.with_owned(|buf| {
            buf.pop();
            encode(buf);
            buf.push(END_BYTE);
            set_total(buf);
            add_count(buf, 1);
        });
    }

    pub fn push_int(&mut self, v: i64) {
        self.push_with(|buf| encode_int(buf, v));
    }

    pub fn push_str(&mut self, s: &[u8]) {
        self.push_with(|buf| encode_str(buf, s));
    }

    /// Replaces the element at `off` with an integer; returns the offset of
    /// the element after it (positions after `off` shift by the size change).
    pub fn replace_int(&mut self, off: usize, v: i64) -> Option<usize> {
        let (_, next) = read(self.as_bytes(), off)?;
        let mut enc = Vec::with_capacity(12);
        encode_int(&mut enc, v);
        let new_next = off + enc.len();
        self.with_owned(|buf| {
            if enc.len() == next - off {
                // Same size (the common case: a counter moving by one).
                buf[off..next].copy_from_slice(&enc);
            } else {
                buf.splice(off..next, enc);
                set_total(buf);
            }
        });
        Some(new_next)
    }
}

fn set_total(buf: &mut [u8]) {
    let total = buf.len() as u32;
    buf[..4].copy_from_slice(&total.to_le_bytes());
}

fn add_count(buf: &mut [u8], added: usize) {
    let c = u16::from_le_bytes([buf[4], buf[5]]);
    if c != COUNT_UNKNOWN {
        let n = (c as usize + added).min(COUNT_UNKNOWN as usize) as u16;
        buf[4..6].copy_from_slice(&n.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_encoding() {
        let ints = [
            0i64,
            127,
            128,
            -1,
            -4096,
            4095,
            4096,
            -32768,
            32767,
            40000,
            -8_388_608,
            8_388_607,
            8_388_608,
            i32::MIN as i64,
            i32::MAX as i64,
            i64::MIN,
            i64::MAX,
        ];
        let strs: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"abc".to_vec(),
            vec![b'x'; 63],
            vec![b'y'; 64],
            vec![b'z'; 4095],
            vec![b'w'; 4096],
            vec![b'v'; 70_000],
            b"01".to_vec(),
            b"-0".to_vec(),
        ];
        let mut lp = Listpack::with_capacity(16);
        for &i in &ints {
            lp.push_int(i);
        }
        for s in &strs {
            lp.push_str(s);
        }
        let mut expected_len = HEADER_BYTES + 1;
        expected_len += ints.iter().map(|&i| int_entry_bytes(i)).sum::<usize>();
        expected_len += strs.iter().map(|s| str_entry_bytes(s)).sum::<usize>();
        assert_eq!(lp.len_bytes(), expected_len);
        let lp = Listpack::from_bytes(lp.as_bytes().to_vec()).expect("valid");
        let mut off = lp.first();
        let mut got = Vec::new();
        while let Some(o) = off {
            let (v, next) = match lp.get(o) {
                Some(x) => x,
                None => break,
            };
            got.push(v.to_vec());
            off = Some(next);
        }
        let want: Vec<Vec<u8>> = ints
            .iter()
            .map(|i| i.to_string().into_bytes())
            .chain(strs.iter().cloned())
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn integer_strings_are_stored_as_integers() {
        let mut lp = Listpack::with_capacity(16);
        lp.push_str(b"100");
        assert_eq!(lp.get(HEADER_BYTES).map(|x| x.0), Some(LpVal::Int(100)));
        assert_eq!(lp.len_bytes(), HEADER_BYTES + 1 + 2);
    }

    #[test]
    fn replace_grows_and_shrinks() {
        let mut lp = Listpack::with_capacity(16);
        lp.push_int(1);
        lp.push_str(b"tail");
        let next = lp.replace_int(HEADER_BYTES, 1_000_000).unwrap();
        assert_eq!(lp.get(next).map(|x| x.0), Some(LpVal::Str(b"tail")));
        let next = lp.replace_int(HEADER_BYTES, 2).unwrap();
        assert_eq!(next, HEADER_BYTES + 2);
        assert!(Listpack::from_bytes(lp.as_bytes().to_vec()).is_some());
    }

    #[test]
    fn malformed_input_is_rejected() {
        assert!(Listpack::from_bytes(vec![]).is_none());
        assert!(Listpack::from_bytes(vec![7, 0, 0, 0, 0, 0, 0]).is_none());
        assert!(Listpack::from_bytes(vec![8, 0, 0, 0, 1, 0, 0x85, 0xFF]).is_none());
        assert!(Listpack::from_bytes(vec![7, 0, 0, 0, 0, 0, 0xFF]).is_some());
    }
}
