//! Mappings: the heap buffer a file's cache lives in, and the mapping of it
//! the store reads through.

use super::file::MemFile;
use crate::{Mapping, PAGE_SIZE};
use std::fmt::{self, Debug};
use std::io;
use std::sync::Arc;

/// A heap buffer whose address never changes while it is mapped.
///
/// It never makes a reference (`&[u8]`) into its bytes: they are read and
/// written with raw copies of exactly the range concerned, so that a
/// mapping's user may hold a slice of one part of the buffer, or write
/// through the mapping to another, while this file's state is read or
/// written elsewhere (see the `Mapping` implementation below).
pub(super) struct RawBuf {
    ptr: *mut u8,
    pub(super) cap: usize,
}

// SAFETY: RawBuf owns its allocation like a Box<[u8]>; all access through it
// is under the FileState mutex, and access through a mapping follows the
// rules of `Mapping` (no write overlaps another access to the same bytes).
unsafe impl Send for RawBuf {}

impl Default for RawBuf {
    fn default() -> Self {
        Self::zeroed(0)
    }
}

impl RawBuf {
    pub(super) fn zeroed(cap: usize) -> Self {
        let b: Box<[u8]> = vec![0u8; cap].into_boxed_slice();
        let cap = b.len();
        Self { ptr: Box::into_raw(b) as *mut u8, cap }
    }
    pub(super) fn ptr(&self) -> *mut u8 {
        self.ptr
    }
    /// Copy `out.len()` bytes from `offset` into `out`.
    pub(super) fn read(&self, offset: usize, out: &mut [u8]) {
        assert!(offset <= self.cap && out.len() <= self.cap - offset);
        // SAFETY: the range is inside the allocation (asserted above), which
        // is initialised; `out` is a distinct buffer. A raw copy makes no
        // reference over the rest of the buffer, where a mapping may be
        // written meanwhile.
        unsafe { std::ptr::copy_nonoverlapping(self.ptr.add(offset), out.as_mut_ptr(), out.len()) };
    }
    /// The first `len` bytes, copied.
    pub(super) fn to_vec(&self, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        self.read(0, &mut v);
        v
    }
    pub(super) fn write(&mut self, offset: usize, bytes: &[u8]) {
        assert!(offset <= self.cap && bytes.len() <= self.cap - offset);
        // SAFETY: the range is inside the allocation (asserted above); a raw
        // copy creates no reference that could alias a mapping reader's slice.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.add(offset), bytes.len()) };
    }
}

impl Drop for RawBuf {
    fn drop(&mut self) {
        // SAFETY: ptr/cap came from Box::into_raw of a boxed slice of length cap.
        unsafe { drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(self.ptr, self.cap))) };
    }
}

pub(super) struct MemMapping {
    pub(super) file: Arc<MemFile>,
    pub(super) ptr: *mut u8,
    pub(super) len: usize,
}

// SAFETY: the pointer targets a RawBuf that is neither freed nor moved while
// `maps > 0` (see the `Mapping` impl); the rules of `Mapping` (no write
// overlaps another access to the same bytes) keep threads apart.
unsafe impl Send for MemMapping {}
// SAFETY: as for Send: shared access follows the rules of `Mapping`.
unsafe impl Sync for MemMapping {}

impl Debug for MemMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MemMapping(inode {}, {} bytes)", self.file.ino, self.len)
    }
}

// SAFETY: (1) `ptr` and `len` are fixed when the mapping is made (`map`,
// under the file's lock): `ptr` is the start of the file's RawBuf, a zeroed
// (so initialised) heap allocation of `cap >= st.len >= len` bytes; Send and
// Sync are above. (2) While `maps > 0` that RawBuf is never replaced (so
// never freed or moved): the only places that replace it refuse or assert
// first, under the same lock (`ensure_len` refuses to grow a mapped file,
// `rewrite` refuses a mapped file, `crash` asserts no live mapping before
// `power_loss`), and `maps` counts this value from `map` until its `Drop`.
// `file` keeps the FileState, and so the buffer, alive even when the storage
// is dropped or the file unlinked. (3) Heap memory never faults: failures are
// modelled by `failed_maps` (`fail_mapped_reads`), which `failed` reports;
// the bytes stay readable. (4) The buffer is written only by the caller's
// own `write_all_at` of the file, by fault injection a test asks for
// (`corrupt`, `punch_hole`), and by `evict`, which skips a mapped file;
// `flush_range` only reads the pages it flushes, and RawBuf never makes a
// reference into the buffer (raw copies of exactly the range concerned).
unsafe impl Mapping for MemMapping {
    fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }

    fn len(&self) -> usize {
        self.len
    }

    fn flush_range(&self, offset: usize, len: usize) -> io::Result<()> {
        self.file.shared.sync()?;
        let mut st = self.file.state();
        if len > 0 {
            let pages = offset / PAGE_SIZE..=(offset + len - 1) / PAGE_SIZE;
            for p in pages.clone() {
                st.dirty.remove(&p);
            }
            st.flush(pages);
        }
        Ok(())
    }

    fn failed(&self) -> bool {
        self.file.shared.faults().failed_maps.contains(&self.file.ino)
    }
}

impl Drop for MemMapping {
    fn drop(&mut self) {
        self.file.state().maps -= 1;
    }
}
