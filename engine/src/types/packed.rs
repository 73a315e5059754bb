//! A packed run of byte-string entries in one buffer, walkable from either end
//! (the role Redis's listpack plays inside quicklist nodes and small hashes).
//!
//! Entry layout: `len` as LEB128 (7 bits a byte, low group first, high bit =
//! more follows), the element bytes, then `back`: the size of `len`+element
//! written so it can be read from its last byte leftwards (last byte holds the
//! low 7 bits; a set high bit means another byte lies to its left).
//!
//! Invariants: a buffer is a concatenation of whole entries; offsets handed
//! out by these functions always point at an entry start (or the buffer end).
//! Buffers are built only by this module, never decoded from client input, so
//! a malformed buffer is a bug; reads still never index out of bounds (they
//! yield empty slices instead of panicking).

/// Bytes LEB128 needs for `n`.
#[inline]
fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

/// Encoded size of an element of `elem_len` bytes.
#[inline]
pub fn entry_size(elem_len: usize) -> usize {
    let head = varint_len(elem_len) + elem_len;
    head + varint_len(head)
}

/// Writes `elem` as one entry into `out`, which must be exactly
/// `entry_size(elem.len())` bytes.
pub fn write(out: &mut [u8], elem: &[u8]) {
    write_entry(out, elem)
}

fn write_entry(out: &mut [u8], elem: &[u8]) {
    let mut pos = 0;
    let mut n = elem.len();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out[pos] = byte;
            pos += 1;
            break;
        }
        out[pos] = byte | 0x80;
        pos += 1;
    }
    out[pos..pos + elem.len()].copy_from_slice(elem);
    pos += elem.len();
    // Backlen: groups from high to low, every byte but the leftmost flagged.
    let head = pos;
    let groups = varint_len(head);
    for i in 0..groups {
        let shift = 7 * (groups - 1 - i);
        let mut byte = ((head >> shift) & 0x7f) as u8;
        if i > 0 {
            byte |= 0x80;
        }
        out[pos + i] = byte;
    }
}

/// Reads the entry at `off`: (element, offset of the next entry).
#[inline]
pub fn read(buf: &[u8], off: usize) -> (&[u8], usize) {
    let mut n = 0usize;
    let mut shift = 0;
    let mut pos = off;
    while let Some(&b) = buf.get(pos) {
        pos += 1;
        n |= ((b & 0x7f) as usize) << shift;
        shift += 7;
        if b & 0x80 == 0 || shift > 63 {
            break;
        }
    }
    let end = pos.saturating_add(n).min(buf.len());
    let elem = buf.get(pos..end).unwrap_or(&[]);
    (elem, end + varint_len(end - off))
}

/// The offset of the entry that ends at `end` (an entry start or the buffer end).
#[inline]
pub fn prev(buf: &[u8], end: usize) -> usize {
    let mut p = end;
    let mut n = 0usize;
    let mut shift = 0;
    while p > 0 {
        p -= 1;
        let b = buf[p];
        n |= ((b & 0x7f) as usize) << shift;
        shift += 7;
        if b & 0x80 == 0 || shift > 63 {
            break;
        }
    }
    p.saturating_sub(n)
}

/// Inserts `elem` as an entry starting at `off`, growing the buffer exactly.
pub fn insert(buf: &mut Vec<u8>, off: usize, elem: &[u8]) {
    let size = entry_size(elem.len());
    let old = buf.len();
    if buf.capacity() - old < size {
        buf.reserve_exact(size);
    }
    buf.resize(old + size, 0);
    buf.copy_within(off..old, off + size);
    write_entry(&mut buf[off..off + size], elem);
}

/// Appends `elem` as the last entry.
pub fn push(buf: &mut Vec<u8>, elem: &[u8]) {
    let off = buf.len();
    insert(buf, off, elem);
}

/// Replaces the entry at `off` (which ends at `end`) with `elem`.
pub fn replace(buf: &mut Vec<u8>, off: usize, end: usize, elem: &[u8]) {
    let size = entry_size(elem.len());
    let old = end - off;
    if size > old {
        buf.reserve_exact(size - old);
    }
    buf.splice(off..end, std::iter::repeat_n(0u8, size));
    write_entry(&mut buf[off..off + size], elem);
    if size < old {
        shrink(buf);
    }
}

/// Removes the bytes `off..end` (whole entries).
pub fn remove(buf: &mut Vec<u8>, off: usize, end: usize) {
    buf.drain(off..end);
    shrink(buf);
}

/// Gives back memory when much of the capacity is unused.
pub fn shrink(buf: &mut Vec<u8>) {
    if buf.capacity() > 64 && buf.len() < buf.capacity() / 2 {
        buf.shrink_to_fit();
    }
}

/// Iterates the elements of a whole buffer from the front.
pub fn iter(buf: &[u8]) -> Iter<'_> {
    Iter {
        buf,
        off: 0,
        end: buf.len(),
    }
}

#[derive(Clone)]
pub struct Iter<'a> {
    buf: &'a [u8],
    off: usize,
    end: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];
    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.off >= self.end {
            return None;
        }
        let (elem, next) = read(self.buf, self.off);
        self.off = next;
        Some(elem)
    }
}

impl<'a> DoubleEndedIterator for Iter<'a> {
    #[inline]
    fn next_back(&mut self) -> Option<&'a [u8]> {
        if self.off >= self.end {
            return None;
        }
        let start = prev(self.buf, self.end);
        self.end = start;
        Some(read(self.buf, start).0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(entry_size(0), 2);
        assert_eq!(entry_size(3), 5);
        assert_eq!(entry_size(126), 128);
        assert_eq!(entry_size(127), 130);
        assert_eq!(entry_size(200), 204);
    }

    #[test]
    fn walk_both_ways_with_mixed_sizes() {
        let elems: Vec<Vec<u8>> = [0usize, 1, 5, 126, 127, 128, 300, 16383, 16384, 70000]
            .iter()
            .map(|&n| vec![b'x'; n])
            .collect();
        let mut buf = Vec::new();
        for e in &elems {
            push(&mut buf, e);
        }
        let fwd: Vec<&[u8]> = iter(&buf).collect();
        assert_eq!(fwd.len(), elems.len());
        for (a, b) in fwd.iter().zip(elems.iter()) {
            assert_eq!(*a, &b[..]);
        }
        let back: Vec<&[u8]> = iter(&buf).rev().collect();
        for (a, b) in back.iter().zip(elems.iter().rev()) {
            assert_eq!(*a, &b[..]);
        }
    }

    #[test]
    fn insert_replace_remove() {
        let mut buf = Vec::new();
        push(&mut buf, b"a");
        push(&mut buf, b"c");
        let (_, second) = read(&buf, 0);
        insert(&mut buf, second, b"b");
        assert_eq!(iter(&buf).collect::<Vec<_>>(), vec![&b"a"[..], b"b", b"c"]);
        let (_, end_b) = read(&buf, second);
        replace(&mut buf, second, end_b, &[b'B'; 200]);
        let got: Vec<Vec<u8>> = iter(&buf).map(|e| e.to_vec()).collect();
        assert_eq!(got, vec![b"a".to_vec(), vec![b'B'; 200], b"c".to_vec()]);
        let (_, end_b) = read(&buf, second);
        remove(&mut buf, second, end_b);
        assert_eq!(iter(&buf).collect::<Vec<_>>(), vec![&b"a"[..], b"c"]);
    }
}
