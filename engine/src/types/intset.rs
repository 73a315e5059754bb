//! Redis's "intset": a sorted array of distinct integers stored at the
//! narrowest width (16, 32 or 64 bits) that holds every member.
//!
//! Storage: one `ThinBuf` (a single exact-size allocation, as Redis's intset)
//! whose `aux` is the width in bytes and whose bytes are the members,
//! little-endian, at that width.
//!
//! Invariants:
//! - the members are strictly increasing; the byte length is a multiple of
//!   the width;
//! - the width only grows (an insert that needs more bits upgrades every
//!   member; removals never downgrade), as in Redis, so the RDB blob and
//!   MEMORY USAGE follow the same rules.

use crate::types::tagged::{ThinBuf, ThinRepr};

#[derive(Debug, Clone, PartialEq)]
#[repr(transparent)]
pub struct IntSet(ThinBuf);

// SAFETY: IntSet is #[repr(transparent)] over ThinBuf.
unsafe impl ThinRepr for IntSet {
    fn into_buf(self) -> ThinBuf {
        self.0
    }
    fn from_buf(buf: ThinBuf) -> IntSet {
        IntSet(buf)
    }
}

impl Default for IntSet {
    fn default() -> Self {
        IntSet::new()
    }
}

/// Bytes per member needed for `v` (Redis's `_intsetValueEncoding`).
fn width_for(v: i64) -> usize {
    if i16::try_from(v).is_ok() {
        2
    } else if i32::try_from(v).is_ok() {
        4
    } else {
        8
    }
}

/// Reads a little-endian signed integer of `w` bytes.
#[inline]
fn read_le(b: &[u8], w: usize) -> i64 {
    match w {
        2 => i16::from_le_bytes([b[0], b[1]]) as i64,
        4 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64,
        _ => i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
    }
}

#[inline]
fn write_le(out: &mut [u8], w: usize, v: i64) {
    out.copy_from_slice(&v.to_le_bytes()[..w]);
}

impl IntSet {
    pub fn new() -> IntSet {
        let mut b = ThinBuf::new();
        b.set_aux(2);
        IntSet(b)
    }

    /// An intset of `width_bytes` (2, 4 or 8; others read as 8) holding
    /// `values`, which must be strictly increasing and fit the width (an RDB
    /// blob, validated by its decoder). Keeps the width as Redis does.
    pub fn from_sorted(values: &[i64], width_bytes: usize) -> IntSet {
        let widest = values.iter().map(|&v| width_for(v)).max().unwrap_or(2);
        let w = match width_bytes {
            2 | 4 => width_bytes.max(widest),
            _ => 8,
        };
        let mut bytes = Vec::with_capacity(values.len() * w);
        for &v in values {
            bytes.extend_from_slice(&v.to_le_bytes()[..w]);
        }
        IntSet(ThinBuf::from_parts(w as u32, &bytes))
    }

    pub fn len(&self) -> usize {
        self.0.len() / self.width_bytes()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Bytes per member: 2, 4 or 8.
    #[inline]
    pub fn width_bytes(&self) -> usize {
        match self.0.aux() {
            2 => 2,
            4 => 4,
            _ => 8,
        }
    }

    /// Heap bytes held (the one allocation).
    pub fn mem_bytes(&self) -> usize {
        self.0.alloc_bytes()
    }

    /// The member at sorted position `idx`.
    #[inline]
    pub fn get(&self, idx: usize) -> Option<i64> {
        let w = self.width_bytes();
        let b = self.0.bytes().get(idx * w..idx * w + w)?;
        Some(read_le(b, w))
    }

    /// Ok(position) if present, Err(insertion point) otherwise.
    fn search(&self, x: i64) -> Result<usize, usize> {
        if width_for(x) > self.width_bytes() {
            // Out of the current range: below every member if negative, above otherwise.
            return Err(if x < 0 { 0 } else { self.len() });
        }
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.get(mid).unwrap_or(i64::MAX).cmp(&x) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    pub fn contains(&self, x: i64) -> bool {
        self.search(x).is_ok()
    }

    /// Adds `x`; returns false if it was already a member.
    pub fn insert(&mut self, x: i64) -> bool {
        if width_for(x) > self.width_bytes() {
            self.upgrade(width_for(x));
        }
        let pos = match self.search(x) {
            Ok(_) => return false,
            Err(p) => p,
        };
        let w = self.width_bytes();
        self.0
            .splice_with(pos * w, pos * w, w, |out| write_le(out, w, x));
        true
    }

    /// Removes `x`; returns false if it was not a member.
    pub fn remove(&mut self, x: i64) -> bool {
        let pos = match self.search(x) {
            Ok(p) => p,
            Err(_) => return false,
        };
        self.remove_at(pos);
        true
    }

    /// Removes and returns the member at sorted position `idx`.
    pub fn remove_at(&mut self, idx: usize) -> Option<i64> {
        let v = self.get(idx)?;
        let w = self.width_bytes();
        self.0.splice(idx * w, idx * w + w, &[]);
        Some(v)
    }

    fn upgrade(&mut self, width: usize) {
        let all: Vec<i64> = self.iter().collect();
        *self = IntSet::from_sorted(&all, width);
    }

    /// Members in increasing order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = i64> + ExactSizeIterator + '_ {
        let w = self.width_bytes();
        self.0.bytes().chunks_exact(w).map(move |c| read_le(c, w))
    }

    /// Redis's serialized intset: encoding (u32 LE), length (u32 LE), then the
    /// members little-endian at the set's width (the RDB "intset" blob).
    pub fn to_blob(&self) -> Vec<u8> {
        let w = self.width_bytes();
        let mut out = Vec::with_capacity(8 + self.0.len());
        out.extend_from_slice(&(w as u32).to_le_bytes());
        out.extend_from_slice(&(self.len() as u32).to_le_bytes());
        out.extend_from_slice(self.0.bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_sorted_distinct_and_upgrades() {
        let mut s = IntSet::new();
        assert!(s.insert(5));
        assert!(s.insert(-3));
        assert!(!s.insert(5));
        assert_eq!(s.width_bytes(), 2);
        assert!(s.insert(70_000));
        assert_eq!(s.width_bytes(), 4);
        assert!(s.insert(i64::MIN));
        assert_eq!(s.width_bytes(), 8);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![i64::MIN, -3, 5, 70_000]);
        assert!(s.remove(i64::MIN));
        // Never downgrades.
        assert_eq!(s.width_bytes(), 8);
        assert!(!s.contains(i64::MAX));
        assert!(s.contains(70_000));
    }

    #[test]
    fn search_outside_width_is_absent() {
        let mut s = IntSet::new();
        s.insert(1);
        assert!(!s.contains(100_000));
        assert!(!s.contains(-100_000));
        assert!(!s.remove(1 << 40));
        assert_eq!(s.get(0), Some(1));
        assert_eq!(s.get(1), None);
    }

    #[test]
    fn blob_layout() {
        let mut s = IntSet::new();
        s.insert(2);
        s.insert(1);
        assert_eq!(s.to_blob(), vec![2, 0, 0, 0, 2, 0, 0, 0, 1, 0, 2, 0]);
    }
}
