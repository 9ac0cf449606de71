//! A heap buffer aligned to 4 KiB, as `O_DIRECT` requires.

use std::alloc::{self, Layout};
use std::ptr::NonNull;

/// The alignment (and size granularity) `O_DIRECT` writes use here.
pub const ALIGN: usize = 4096;

/// A zero-initialised heap buffer whose start is aligned to [`ALIGN`] bytes
/// and whose length is a non-zero multiple of it.
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    layout: Layout,
}

// SAFETY: AlignedBuf owns its allocation exclusively (like a Box<[u8]>);
// shared access only hands out `&[u8]`.
unsafe impl Send for AlignedBuf {}
// SAFETY: as above; `&AlignedBuf` only gives read access.
unsafe impl Sync for AlignedBuf {}

impl AlignedBuf {
    /// A zeroed buffer of at least `len` bytes, rounded up to a multiple of
    /// [`ALIGN`] (at least one block).
    pub fn zeroed(len: usize) -> Self {
        let len = round_up(len.max(1));
        let layout = Layout::from_size_align(len, ALIGN).expect("ALIGN is a power of two and len is small");
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(raw).unwrap_or_else(|| alloc::handle_alloc_error(layout));
        AlignedBuf { ptr, layout }
    }

    /// Length in bytes (a multiple of [`ALIGN`]).
    pub fn len(&self) -> usize {
        self.layout.size()
    }

    /// Always false: the buffer holds at least one block.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` points to `len()` initialised (zeroed at allocation)
        // bytes that this buffer owns for its whole life.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len()) }
    }

    /// The bytes, writable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_slice`, and `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len()) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `zeroed` with exactly this layout, freed once.
        unsafe { alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

impl std::fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AlignedBuf({} bytes)", self.len())
    }
}

/// `n` rounded up to a multiple of [`ALIGN`].
pub fn round_up(n: usize) -> usize {
    n.div_ceil(ALIGN) * ALIGN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_is_aligned_zeroed_and_rounded_up() {
        for want in [1, 128, 4095, 4096, 4097, 3 * 4096 + 5] {
            let b = AlignedBuf::zeroed(want);
            assert_eq!(b.as_slice().as_ptr() as usize % ALIGN, 0, "misaligned for {want}");
            assert_eq!(b.len() % ALIGN, 0);
            assert!(b.len() >= want && b.len() < want + ALIGN, "{want} -> {}", b.len());
            assert!(b.as_slice().iter().all(|&x| x == 0));
        }
        assert_eq!(AlignedBuf::zeroed(0).len(), ALIGN);
    }

    #[test]
    fn writes_are_kept() {
        let mut b = AlignedBuf::zeroed(8192);
        b.as_mut_slice()[4095] = 7;
        b.as_mut_slice()[8191] = 9;
        assert_eq!(b.as_slice()[4095], 7);
        assert_eq!(b.as_slice()[8191], 9);
        assert_eq!(b.as_slice().iter().filter(|&&x| x != 0).count(), 2);
    }

    #[test]
    fn round_up_is_the_next_multiple() {
        assert_eq!(round_up(0), 0);
        assert_eq!(round_up(1), 4096);
        assert_eq!(round_up(4096), 4096);
        assert_eq!(round_up(4097), 8192);
    }
}
