//! `ThinBytes`: a growable byte string behind a single 8-byte pointer.
//!
//! Why: a keyspace entry is one allocation holding the key pointer, the value
//! and the chain link. With `Vec<u8>` (24 bytes) inside the value, an entry
//! lands in jemalloc's 64-byte class; with this 8-byte handle it fits the
//! 48-byte class, which is what keeps 1M small strings under Redis's memory.
//!
//! Layout of the allocation: `len: u32`, `cap: u32` (little-endian, native
//! order), then `cap` bytes. Invariants: `len <= cap <= u32::MAX`; the pointer
//! is never null and always owns an allocation of `HEADER + cap` bytes with
//! alignment 4, including for empty strings (cap may be 0).

use std::alloc::{alloc, dealloc, handle_alloc_error, realloc, Layout};
use std::ptr::NonNull;

const HEADER: usize = 8;
/// Longest string (Redis's own limit is 512 MB, far below).
pub const THIN_BYTES_MAX: usize = u32::MAX as usize;

pub struct ThinBytes {
    ptr: NonNull<u8>,
}

// SAFETY: ThinBytes owns its allocation exclusively, like Vec<u8>.
unsafe impl Send for ThinBytes {}
// SAFETY: shared access only reads.
unsafe impl Sync for ThinBytes {}

fn layout(cap: usize) -> Layout {
    match Layout::from_size_align(HEADER + cap, 4) {
        Ok(l) => l,
        Err(_) => capacity_overflow(),
    }
}

#[cold]
fn capacity_overflow() -> ! {
    panic!("ThinBytes capacity overflow")
}

impl ThinBytes {
    /// Starts loading the header and first bytes (a walk about to copy them).
    #[inline]
    pub fn prefetch(&self) {
        let p = self.ptr.as_ptr() as *const u8;
        crate::prefetch::prefetch_read(p);
        crate::prefetch::prefetch_read(p.wrapping_add(64));
    }

    pub fn with_capacity(cap: usize) -> ThinBytes {
        if cap > THIN_BYTES_MAX {
            capacity_overflow();
        }
        let l = layout(cap);
        // SAFETY: the layout has a non-zero size (the header).
        let raw = unsafe { alloc(l) };
        let Some(ptr) = NonNull::new(raw) else {
            handle_alloc_error(l)
        };
        let mut t = ThinBytes { ptr };
        t.set_len(0);
        t.set_cap(cap);
        t
    }

    pub fn from_slice(b: &[u8]) -> ThinBytes {
        let mut t = ThinBytes::with_capacity(b.len());
        t.extend_from_slice(b);
        t
    }

    #[inline]
    fn header(&self) -> [u32; 2] {
        // SAFETY: the allocation starts with 8 header bytes, aligned to 4.
        unsafe { std::ptr::read(self.ptr.as_ptr() as *const [u32; 2]) }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.header()[0] as usize
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    pub fn capacity(&self) -> usize {
        self.header()[1] as usize
    }

    fn set_len(&mut self, len: usize) {
        // SAFETY: header is within the allocation and aligned.
        unsafe { (self.ptr.as_ptr() as *mut u32).write(len as u32) }
    }

    fn set_cap(&mut self, cap: usize) {
        // SAFETY: header is within the allocation and aligned.
        unsafe { (self.ptr.as_ptr() as *mut u32).add(1).write(cap as u32) }
    }

    #[inline]
    fn data(&self) -> *mut u8 {
        // SAFETY: the data area starts right after the header.
        unsafe { self.ptr.as_ptr().add(HEADER) }
    }

    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `len` bytes after the header are initialised.
        unsafe { std::slice::from_raw_parts(self.data(), self.len()) }
    }

    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as above, and we hold &mut self.
        unsafe { std::slice::from_raw_parts_mut(self.data(), self.len()) }
    }

    /// Makes room for `extra` more bytes, growing geometrically (as sds does).
    pub fn reserve(&mut self, extra: usize) {
        let need = self
            .len()
            .checked_add(extra)
            .unwrap_or_else(|| capacity_overflow());
        let cap = self.capacity();
        if need <= cap {
            return;
        }
        let new_cap = need
            .max(cap.saturating_mul(2))
            .min(THIN_BYTES_MAX)
            .max(need);
        if new_cap > THIN_BYTES_MAX {
            capacity_overflow();
        }
        // SAFETY: ptr was allocated with layout(cap); the new size is non-zero.
        let raw = unsafe { realloc(self.ptr.as_ptr(), layout(cap), HEADER + new_cap) };
        let Some(ptr) = NonNull::new(raw) else {
            handle_alloc_error(layout(new_cap))
        };
        self.ptr = ptr;
        self.set_cap(new_cap);
    }

    pub fn extend_from_slice(&mut self, b: &[u8]) {
        self.reserve(b.len());
        let len = self.len();
        // SAFETY: reserve made room for b.len() bytes after len; b cannot
        // overlap our allocation because we hold &mut self.
        unsafe { std::ptr::copy_nonoverlapping(b.as_ptr(), self.data().add(len), b.len()) };
        self.set_len(len + b.len());
    }

    pub fn push(&mut self, byte: u8) {
        self.extend_from_slice(&[byte]);
    }

    /// Grows with `fill` bytes or shortens to `new_len`.
    pub fn resize(&mut self, new_len: usize, fill: u8) {
        let len = self.len();
        if new_len <= len {
            self.set_len(new_len);
            return;
        }
        self.reserve(new_len - len);
        // SAFETY: reserve made room up to new_len.
        unsafe { std::ptr::write_bytes(self.data().add(len), fill, new_len - len) };
        self.set_len(new_len);
    }

    pub fn truncate(&mut self, len: usize) {
        if len < self.len() {
            self.set_len(len);
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        self.as_slice().to_vec()
    }
}

impl ThinBytes {
    /// Replaces `range` with `with` (shifting the tail).
    pub fn splice_bytes(&mut self, range: std::ops::Range<usize>, with: &[u8]) {
        let len = self.len();
        let (start, end) = (
            range.start.min(len),
            range.end.min(len).max(range.start.min(len)),
        );
        let tail = self.as_slice()[end..].to_vec();
        self.truncate(start);
        self.extend_from_slice(with);
        self.extend_from_slice(&tail);
    }

    pub fn remove_byte(&mut self, pos: usize) {
        if pos < self.len() {
            self.splice_bytes(pos..pos + 1, &[]);
        }
    }
}

/// The byte-buffer operations in-place encoders (HyperLogLog) need, for both
/// `Vec<u8>` and `ThinBytes`.
pub trait ByteBuf: std::ops::DerefMut<Target = [u8]> {
    fn splice_bytes(&mut self, range: std::ops::Range<usize>, with: &[u8]);
    fn remove_byte(&mut self, pos: usize);
    fn truncate_to(&mut self, len: usize);
    fn set_bytes(&mut self, bytes: Vec<u8>);
}

impl ByteBuf for Vec<u8> {
    fn splice_bytes(&mut self, range: std::ops::Range<usize>, with: &[u8]) {
        self.splice(range, with.iter().copied());
    }
    fn remove_byte(&mut self, pos: usize) {
        if pos < self.len() {
            self.remove(pos);
        }
    }
    fn truncate_to(&mut self, len: usize) {
        self.truncate(len);
    }
    fn set_bytes(&mut self, bytes: Vec<u8>) {
        *self = bytes;
    }
}

impl ByteBuf for ThinBytes {
    fn splice_bytes(&mut self, range: std::ops::Range<usize>, with: &[u8]) {
        ThinBytes::splice_bytes(self, range, with);
    }
    fn remove_byte(&mut self, pos: usize) {
        ThinBytes::remove_byte(self, pos);
    }
    fn truncate_to(&mut self, len: usize) {
        self.truncate(len);
    }
    fn set_bytes(&mut self, bytes: Vec<u8>) {
        *self = ThinBytes::from(bytes);
    }
}

impl Drop for ThinBytes {
    fn drop(&mut self) {
        // SAFETY: ptr was allocated with layout(capacity) and is dropped once.
        unsafe { dealloc(self.ptr.as_ptr(), layout(self.capacity())) }
    }
}

impl Clone for ThinBytes {
    fn clone(&self) -> ThinBytes {
        ThinBytes::from_slice(self.as_slice())
    }
}

impl std::ops::Deref for ThinBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl std::ops::DerefMut for ThinBytes {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.as_mut_slice()
    }
}

impl PartialEq for ThinBytes {
    fn eq(&self, other: &ThinBytes) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for ThinBytes {}

impl std::fmt::Debug for ThinBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_slice()))
    }
}

impl From<&[u8]> for ThinBytes {
    fn from(b: &[u8]) -> ThinBytes {
        ThinBytes::from_slice(b)
    }
}

impl From<Vec<u8>> for ThinBytes {
    fn from(v: Vec<u8>) -> ThinBytes {
        ThinBytes::from_slice(&v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_shrinks_and_clones() {
        let mut t = ThinBytes::with_capacity(0);
        assert!(t.is_empty());
        for i in 0..1000u32 {
            t.push((i % 251) as u8);
        }
        assert_eq!(t.len(), 1000);
        assert_eq!(t[999], (999 % 251) as u8);
        t.resize(2000, 7);
        assert_eq!(t[1999], 7);
        t.truncate(10);
        assert_eq!(t.len(), 10);
        let c = t.clone();
        assert_eq!(c, t);
        t.as_mut_slice()[0] = 42;
        assert_ne!(c, t);
        assert_eq!(std::mem::size_of::<ThinBytes>(), 8);
        assert_eq!(std::mem::size_of::<Option<ThinBytes>>(), 8);
    }
}
