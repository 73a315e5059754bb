//! Redis's "intset": a sorted array of distinct integers stored at the
//! narrowest width (16, 32 or 64 bits) that holds every member.
//!
//! Invariants:
//! - the members are strictly increasing;
//! - the width only grows (an insert that needs more bits upgrades every
//!   member; removals never downgrade), as in Redis, so the RDB blob and
//!   MEMORY USAGE follow the same rules.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntSet {
    W16(Vec<i16>),
    W32(Vec<i32>),
    W64(Vec<i64>),
}

impl Default for IntSet {
    fn default() -> Self {
        IntSet::W16(Vec::new())
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

impl IntSet {
    pub fn new() -> IntSet {
        IntSet::default()
    }

    /// An intset of `width_bytes` (2, 4 or 8; others read as 8) holding
    /// `values`, which must be strictly increasing and fit the width (an RDB
    /// blob, validated by its decoder). Keeps the width as Redis does.
    pub fn from_sorted(values: &[i64], width_bytes: usize) -> IntSet {
        match width_bytes {
            2 if values.iter().all(|&v| i16::try_from(v).is_ok()) => {
                IntSet::W16(values.iter().map(|&v| v as i16).collect())
            }
            2 | 4 if values.iter().all(|&v| i32::try_from(v).is_ok()) => {
                IntSet::W32(values.iter().map(|&v| v as i32).collect())
            }
            _ => IntSet::W64(values.to_vec()),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            IntSet::W16(v) => v.len(),
            IntSet::W32(v) => v.len(),
            IntSet::W64(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes per member: 2, 4 or 8.
    pub fn width_bytes(&self) -> usize {
        match self {
            IntSet::W16(_) => 2,
            IntSet::W32(_) => 4,
            IntSet::W64(_) => 8,
        }
    }

    /// Heap bytes held (capacity times width).
    pub fn mem_bytes(&self) -> usize {
        match self {
            IntSet::W16(v) => v.capacity() * 2,
            IntSet::W32(v) => v.capacity() * 4,
            IntSet::W64(v) => v.capacity() * 8,
        }
    }

    /// The member at sorted position `idx`.
    pub fn get(&self, idx: usize) -> Option<i64> {
        match self {
            IntSet::W16(v) => v.get(idx).map(|&x| x as i64),
            IntSet::W32(v) => v.get(idx).map(|&x| x as i64),
            IntSet::W64(v) => v.get(idx).copied(),
        }
    }

    /// Ok(position) if present, Err(insertion point) otherwise.
    fn search(&self, x: i64) -> Result<usize, usize> {
        if width_for(x) > self.width_bytes() {
            // Out of the current range: below every member if negative, above otherwise.
            return Err(if x < 0 { 0 } else { self.len() });
        }
        match self {
            IntSet::W16(v) => v.binary_search(&(x as i16)),
            IntSet::W32(v) => v.binary_search(&(x as i32)),
            IntSet::W64(v) => v.binary_search(&x),
        }
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
        match self {
            IntSet::W16(v) => v.insert(pos, x as i16),
            IntSet::W32(v) => v.insert(pos, x as i32),
            IntSet::W64(v) => v.insert(pos, x),
        }
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
        if idx >= self.len() {
            return None;
        }
        Some(match self {
            IntSet::W16(v) => v.remove(idx) as i64,
            IntSet::W32(v) => v.remove(idx) as i64,
            IntSet::W64(v) => v.remove(idx),
        })
    }

    fn upgrade(&mut self, width: usize) {
        let all: Vec<i64> = self.iter().collect();
        *self = match width {
            2 => IntSet::W16(all.into_iter().map(|x| x as i16).collect()),
            4 => IntSet::W32(all.into_iter().map(|x| x as i32).collect()),
            _ => IntSet::W64(all),
        };
    }

    /// Members in increasing order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = i64> + '_ {
        let (a, b, c) = match self {
            IntSet::W16(v) => (Some(v.iter()), None, None),
            IntSet::W32(v) => (None, Some(v.iter()), None),
            IntSet::W64(v) => (None, None, Some(v.iter())),
        };
        a.into_iter()
            .flatten()
            .map(|&x| x as i64)
            .chain(b.into_iter().flatten().map(|&x| x as i64))
            .chain(c.into_iter().flatten().copied())
    }

    /// Redis's serialized intset: encoding (u32 LE), length (u32 LE), then the
    /// members little-endian at the set's width (the RDB "intset" blob).
    pub fn to_blob(&self) -> Vec<u8> {
        let w = self.width_bytes();
        let mut out = Vec::with_capacity(8 + w * self.len());
        out.extend_from_slice(&(w as u32).to_le_bytes());
        out.extend_from_slice(&(self.len() as u32).to_le_bytes());
        match self {
            IntSet::W16(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            IntSet::W32(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            IntSet::W64(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        }
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
