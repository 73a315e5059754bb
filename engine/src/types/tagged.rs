//! One-pointer storage for collections with a small and a big encoding.
//!
//! Why: a keyspace entry holds a 16-byte `Value`; a collection behind
//! `Box<Enum>` costs one allocation for the enum and another for its data,
//! where Redis pays a 16-byte robj plus one listpack/intset. Here the small
//! form is a single exact-size allocation (`ThinBuf`), and `SmallOrBig`
//! keeps either it or a `Box<B>` of the big form in one 8-byte word, so a
//! small collection costs exactly one allocation and `Value` stays 16 bytes.
//!
//! `ThinBuf` layout: `len: u32`, `aux: u32` (a counter the owner chooses:
//! member count, integer width), then exactly `len` bytes. The allocation is
//! `HEADER_BYTES + len` bytes, aligned to 4; every edit reallocates to the
//! exact size (as Redis's listpack and intset do; jemalloc's realloc stays in
//! place within a size class).
//!
//! `SmallOrBig` tagging: bit 0 of the pointer is 0 for a `ThinBuf` (its
//! allocation is 4-aligned) and 1 for a `Box<B>` (B is at least 2-aligned,
//! checked at compile time).
//!
//! Invariants: the pointer of a `ThinBuf` always owns a live allocation of
//! `HEADER_BYTES + len` bytes; `len <= THIN_BUF_BYTES_MAX`. Nothing here is
//! sized from client input without the caller's limits (the small forms are
//! bounded by the `*-max-listpack-*`/`set-max-intset-entries` settings).

use std::alloc::{alloc, dealloc, handle_alloc_error, realloc, Layout};
use std::marker::PhantomData;
use std::ptr::NonNull;

/// Bytes of the `len`/`aux` header in front of a `ThinBuf`'s bytes.
pub const HEADER_BYTES: usize = 8;
/// Longest `ThinBuf`.
pub const THIN_BUF_BYTES_MAX: usize = u32::MAX as usize - HEADER_BYTES;
const ALIGN: usize = 4;

/// An owned byte buffer plus a u32 counter behind one thin pointer.
#[repr(transparent)]
pub struct ThinBuf {
    ptr: NonNull<u8>,
}

// SAFETY: ThinBuf exclusively owns its allocation, like Vec<u8>.
unsafe impl Send for ThinBuf {}
// SAFETY: shared access only reads.
unsafe impl Sync for ThinBuf {}

fn layout(len: usize) -> Layout {
    if len > THIN_BUF_BYTES_MAX {
        too_long();
    }
    match Layout::from_size_align(HEADER_BYTES + len, ALIGN) {
        Ok(l) => l,
        Err(_) => too_long(),
    }
}

#[cold]
fn too_long() -> ! {
    panic!("ThinBuf longer than u32::MAX")
}

impl ThinBuf {
    /// An empty buffer with `aux` = 0.
    pub fn new() -> ThinBuf {
        ThinBuf::with_len(0)
    }

    /// A buffer holding `bytes` and `aux`.
    pub fn from_parts(aux: u32, bytes: &[u8]) -> ThinBuf {
        let mut b = ThinBuf::with_len(bytes.len());
        b.bytes_mut().copy_from_slice(bytes);
        b.set_aux(aux);
        b
    }

    /// A zero-filled buffer of `len` bytes.
    fn with_len(len: usize) -> ThinBuf {
        let l = layout(len);
        // SAFETY: the layout has a non-zero size (the header).
        let raw = unsafe { alloc(l) };
        let Some(ptr) = NonNull::new(raw) else {
            handle_alloc_error(l)
        };
        // SAFETY: the allocation holds HEADER_BYTES + len bytes.
        unsafe { std::ptr::write_bytes(raw, 0, HEADER_BYTES + len) };
        let mut b = ThinBuf { ptr };
        b.set_header(0, len as u32);
        b
    }

    #[inline]
    fn header(&self, i: usize) -> u32 {
        // SAFETY: the allocation starts with two u32s, 4-aligned.
        unsafe { std::ptr::read((self.ptr.as_ptr() as *const u32).add(i)) }
    }

    #[inline]
    fn set_header(&mut self, i: usize, v: u32) {
        // SAFETY: as in `header`; the buffer is exclusively owned by `self`
        // (callers hold `&mut self` or are constructing it).
        unsafe { std::ptr::write((self.ptr.as_ptr() as *mut u32).add(i), v) }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.header(0) as usize
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    pub fn aux(&self) -> u32 {
        self.header(1)
    }

    #[inline]
    pub fn set_aux(&mut self, aux: u32) {
        self.set_header(1, aux);
    }

    /// Starts loading the header and first bytes (a walk about to read them).
    #[inline]
    pub fn prefetch(&self) {
        crate::prefetch::prefetch_read(self.ptr.as_ptr() as *const u8);
    }

    /// Bytes of the allocation (header included), for memory accounting.
    pub fn alloc_bytes(&self) -> usize {
        HEADER_BYTES + self.len()
    }

    #[inline]
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `len` bytes follow the header and are initialized.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(HEADER_BYTES), self.len()) }
    }

    #[inline]
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`, with exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr().add(HEADER_BYTES), self.len()) }
    }

    /// Replaces the bytes `off..end` with `new_len` bytes that `fill` writes
    /// (they start zeroed), reallocating to the exact new size. Out-of-range
    /// offsets are clamped (a bug in the caller, never a crash).
    pub fn splice_with(
        &mut self,
        off: usize,
        end: usize,
        new_len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) {
        let old_total = self.len();
        let end = end.min(old_total);
        let off = off.min(end);
        let tail = old_total - end;
        let new_total = old_total - (end - off) + new_len;
        let base = HEADER_BYTES + off;
        if new_total > old_total {
            self.resize_alloc(old_total, new_total);
        }
        // SAFETY: the allocation holds max(old_total, new_total) bytes after
        // the header here; `copy` handles the overlap.
        unsafe {
            let p = self.ptr.as_ptr();
            std::ptr::copy(p.add(base + (end - off)), p.add(base + new_len), tail);
            std::ptr::write_bytes(p.add(base), 0, new_len);
        }
        if new_total < old_total {
            self.resize_alloc(old_total, new_total);
        }
        self.set_header(0, new_total as u32);
        fill(&mut self.bytes_mut()[off..off + new_len]);
    }

    /// Replaces the bytes `off..end` with `with`.
    pub fn splice(&mut self, off: usize, end: usize, with: &[u8]) {
        self.splice_with(off, end, with.len(), |out| out.copy_from_slice(with));
    }

    fn resize_alloc(&mut self, old_len: usize, new_len: usize) {
        let new_layout = layout(new_len);
        // SAFETY: `ptr` was allocated with `layout(old_len)`; the new size is
        // non-zero.
        let raw = unsafe { realloc(self.ptr.as_ptr(), layout(old_len), new_layout.size()) };
        match NonNull::new(raw) {
            Some(p) => self.ptr = p,
            None => handle_alloc_error(new_layout),
        }
    }

    fn into_raw(self) -> NonNull<u8> {
        let p = self.ptr;
        std::mem::forget(self);
        p
    }

    /// # Safety
    /// `ptr` must come from `into_raw` and be owned by the caller.
    unsafe fn from_raw(ptr: NonNull<u8>) -> ThinBuf {
        ThinBuf { ptr }
    }
}

impl Default for ThinBuf {
    fn default() -> Self {
        ThinBuf::new()
    }
}

impl Drop for ThinBuf {
    fn drop(&mut self) {
        // SAFETY: the pointer owns an allocation of `layout(len)`.
        unsafe { dealloc(self.ptr.as_ptr(), layout(self.len())) }
    }
}

impl Clone for ThinBuf {
    fn clone(&self) -> ThinBuf {
        ThinBuf::from_parts(self.aux(), self.bytes())
    }
}

impl PartialEq for ThinBuf {
    fn eq(&self, other: &ThinBuf) -> bool {
        self.aux() == other.aux() && self.bytes() == other.bytes()
    }
}

impl std::fmt::Debug for ThinBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ThinBuf(aux {}, {} bytes)", self.aux(), self.len())
    }
}

/// A small form stored as a `ThinBuf`.
///
/// # Safety
/// Implementors must be `#[repr(transparent)]` over `ThinBuf` (so a
/// reference to the tagged word can be read as a reference to `Self`).
pub unsafe trait ThinRepr: Sized {
    fn into_buf(self) -> ThinBuf;
    fn from_buf(buf: ThinBuf) -> Self;
}

// SAFETY: trivially transparent over itself.
unsafe impl ThinRepr for ThinBuf {
    fn into_buf(self) -> ThinBuf {
        self
    }
    fn from_buf(buf: ThinBuf) -> ThinBuf {
        buf
    }
}

/// What a `SmallOrBig` holds.
pub enum Form<S, B> {
    Small(S),
    Big(B),
}

/// Either a small form `S` (a `ThinBuf`) or a `Box<B>`, in one tagged pointer.
#[repr(transparent)]
pub struct SmallOrBig<S: ThinRepr, B> {
    ptr: NonNull<u8>,
    _owns: PhantomData<(S, Box<B>)>,
}

// SAFETY: owns either an S (a ThinBuf: Send + Sync) or a Box<B>.
unsafe impl<S: ThinRepr, B: Send> Send for SmallOrBig<S, B> {}
// SAFETY: as above; shared access only hands out shared references.
unsafe impl<S: ThinRepr, B: Sync> Sync for SmallOrBig<S, B> {}

const BIG_TAG: usize = 1;

impl<S: ThinRepr, B> SmallOrBig<S, B> {
    pub fn small(s: S) -> Self {
        SmallOrBig {
            ptr: s.into_buf().into_raw(),
            _owns: PhantomData,
        }
    }

    pub fn big(b: Box<B>) -> Self {
        const { assert!(std::mem::align_of::<B>() >= 2) };
        let raw = Box::into_raw(b) as *mut u8;
        // Keeps the pointer's provenance; the address is at least 2-aligned,
        // so adding the tag neither wraps nor leaves the allocation's range
        // by more than the one byte `wrapping_add` allows.
        let tagged = raw.wrapping_add(BIG_TAG);
        SmallOrBig {
            ptr: NonNull::new(tagged).unwrap_or(NonNull::dangling()),
            _owns: PhantomData,
        }
    }

    #[inline]
    pub fn is_big(&self) -> bool {
        self.ptr.as_ptr() as usize & BIG_TAG != 0
    }

    #[inline]
    fn big_ptr(&self) -> *mut B {
        self.ptr.as_ptr().wrapping_sub(BIG_TAG) as *mut B
    }

    #[inline]
    pub fn get(&self) -> Form<&S, &B> {
        if self.is_big() {
            // SAFETY: a tagged pointer came from Box::into_raw of a B.
            Form::Big(unsafe { &*self.big_ptr() })
        } else {
            // SAFETY: untagged, `self` has an S's exact representation (both
            // are transparent over one NonNull<u8>; see ThinRepr).
            Form::Small(unsafe { &*(self as *const Self as *const S) })
        }
    }

    #[inline]
    pub fn get_mut(&mut self) -> Form<&mut S, &mut B> {
        if self.is_big() {
            // SAFETY: as in `get`, with exclusive access.
            Form::Big(unsafe { &mut *self.big_ptr() })
        } else {
            // SAFETY: as in `get`; a ThinBuf that reallocates writes its new
            // (untagged) pointer through this reference, keeping us small.
            Form::Small(unsafe { &mut *(self as *mut Self as *mut S) })
        }
    }
}

impl<S: ThinRepr, B> Drop for SmallOrBig<S, B> {
    fn drop(&mut self) {
        if self.is_big() {
            // SAFETY: the tagged pointer came from Box::into_raw.
            drop(unsafe { Box::from_raw(self.big_ptr()) });
        } else {
            // SAFETY: an untagged pointer came from ThinBuf::into_raw.
            drop(S::from_buf(unsafe { ThinBuf::from_raw(self.ptr) }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splice_grows_and_shrinks_exactly() {
        let mut b = ThinBuf::new();
        assert_eq!(b.alloc_bytes(), HEADER_BYTES);
        b.splice(0, 0, b"world");
        b.splice(0, 0, b"hello ");
        assert_eq!(b.bytes(), b"hello world");
        b.splice(5, 6, b", big ");
        assert_eq!(b.bytes(), b"hello, big world");
        b.splice(0, 7, b"");
        assert_eq!(b.bytes(), b"big world");
        b.splice(3, 100, b"");
        assert_eq!(b.bytes(), b"big");
        b.set_aux(7);
        let c = b.clone();
        assert_eq!(c, b);
        assert_eq!(c.aux(), 7);
        assert_eq!(c.alloc_bytes(), HEADER_BYTES + 3);
    }

    #[test]
    fn tagged_holds_either_form() {
        let mut s: SmallOrBig<ThinBuf, Vec<u32>> = SmallOrBig::small(ThinBuf::from_parts(1, b"ab"));
        assert!(!s.is_big());
        if let Form::Small(b) = s.get_mut() {
            b.splice(2, 2, &[b'c'; 100]);
        }
        match s.get() {
            Form::Small(b) => assert_eq!(b.len(), 102),
            Form::Big(_) => panic!("expected small"),
        }
        s = SmallOrBig::big(Box::new(vec![1, 2, 3]));
        assert!(s.is_big());
        match s.get() {
            Form::Big(v) => assert_eq!(v, &vec![1, 2, 3]),
            Form::Small(_) => panic!("expected big"),
        }
        assert_eq!(std::mem::size_of::<SmallOrBig<ThinBuf, Vec<u32>>>(), 8);
        assert_eq!(
            std::mem::size_of::<Option<SmallOrBig<ThinBuf, Vec<u32>>>>(),
            8
        );
    }
}
