//! # paxos-storage: the storage seam of paxos-store
//!
//! The bottom of the stack: `paxos-wal` and `paxos-snapshot` both sit on
//! this crate and know nothing of each other.
//!
//! The storage seam: every file, directory and mapping operation the log (and
//! the snapshot store) performs goes through the [`Storage`] and
//! [`StorageFile`] traits.
//!
//! Two implementations exist:
//! - [`FsStorage`]: the real one, `std::fs` + `memmap2` + `fs2`.
//! - [`MemStorage`]: an in-memory model of a page cache over a disk, used by
//!   the crash tests, the fuzzers and the cluster simulator. On a simulated
//!   power loss every dirty 4 KiB page is independently kept, dropped or torn
//!   at 512-byte sectors, and directory operations that were not followed by
//!   a directory sync may be undone. Failures (EIO on sync or read, ENOSPC,
//!   a process crash after the Nth operation, an asynchronous write-back
//!   error, files lost or damaged between runs) can be injected. How harsh
//!   it is — e.g. whether a failed sync writes back part of the dirty pages
//!   and leaves the rest as clean "lying" pages that may later be evicted,
//!   as Linux does — is chosen with a [`DiskModel`].
//!
//! Keeping the seam small is deliberate: fault injection happens here and
//! nowhere in the write path.
//!
//! Mappings: [`Mapping::failed`] says an access to a mapping faulted.
//! `FsStorage` catches SIGBUS for the mappings it hands out (a process-wide
//! handler, see the `sigbus` module); `MemStorage` models it with
//! [`MemStorage::fail_mapped_reads`]. [`StorageFile::holes`] reports sparse
//! ranges, which the log fills before mapping a segment.
//!
//! ## Features
//!
//! - `sim` (off by default): the simulated disk, [`MemStorage`] and what
//!   goes with it ([`DiskModel`], [`CrashKind`], [`FaultCounts`]), and the
//!   `rand` dependency it draws its faults from. Tests, fuzzers and
//!   simulators enable it (usually through their dev-dependencies); a
//!   production build carries none of it.
//!
// Without `sim` the simulated disk's items do not exist: point their links
// at the paragraph above rather than leave them broken.
#![cfg_attr(
    not(feature = "sim"),
    doc = "[`MemStorage`]: #features\n[`MemStorage::fail_mapped_reads`]: #features\n\
           [`DiskModel`]: #features\n[`CrashKind`]: #features\n[`FaultCounts`]: #features"
)]
#![warn(missing_docs)]

mod fs;
#[cfg(feature = "sim")]
mod mem;
mod sigbus;

pub use fs::FsStorage;
#[cfg(feature = "sim")]
pub use mem::{CrashKind, DiskModel, FaultCounts, MemStorage};

use std::fmt::Debug;
use std::io;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

/// How to open a file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenOptions {
    /// Create the file if it is missing.
    pub create: bool,
    /// Every `write_at` is durable when it returns (`O_DSYNC`).
    pub dsync: bool,
}

impl OpenOptions {
    /// Open an existing file.
    pub fn existing() -> Self {
        Self::default()
    }
    /// Open, creating the file if it is missing.
    pub fn create() -> Self {
        Self { create: true, dsync: false }
    }
}

/// A file system, real or simulated.
pub trait Storage: Send + Sync + Debug + 'static {
    /// Create a directory and its missing parents, durably: the parent of
    /// every directory created is synced before this returns (a new
    /// directory entry, like a file's, is durable only once its parent
    /// directory is synced). When `dir` already exists its parent is synced
    /// again, since a crashed run may have created it without that sync.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Names of the entries of a directory (files only, unsorted).
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Open a file.
    fn open(&self, path: &Path, opts: OpenOptions) -> io::Result<Arc<dyn StorageFile>>;
    /// Rename a file (atomic replace of `to`). Durable only after [`Storage::sync_dir`].
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Unlink a file. Durable only after [`Storage::sync_dir`].
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Make the directory's entries (creates, renames, removals) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Take an exclusive, advisory lock on `path` (created if missing). Fails
    /// with [`io::ErrorKind::WouldBlock`] when another holder has it.
    fn lock(&self, path: &Path) -> io::Result<Box<dyn Debug + Send + Sync>>;
}

/// One open file.
pub trait StorageFile: Send + Sync + Debug {
    /// Current length in bytes.
    fn len(&self) -> io::Result<u64>;
    /// Whether the file is empty.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
    /// Fill `buf` from `offset`; an `UnexpectedEof` error if the file is shorter.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Write all of `buf` at `offset` (extending the file if needed).
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// `fdatasync`: data (and the length) written so far becomes durable.
    fn sync_data(&self) -> io::Result<()>;
    /// `fsync`: data and metadata become durable.
    fn sync_all(&self) -> io::Result<()>;
    /// Map the first `len` bytes of the file (which must exist: the file is
    /// never grown or shrunk while mapped).
    fn map(&self, len: usize) -> io::Result<Arc<dyn Mapping>>;
    /// Shrink the file to `len` bytes (`ftruncate`), not durable until a
    /// sync. Only for a file nothing maps any more: the log gives a deleted
    /// segment's blocks back a piece at a time with it. Default: unsupported
    /// (the file's blocks then go all at once when it is closed).
    fn shrink(&self, _len: u64) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }
    /// The holes of a sparse file (ranges with no blocks allocated), in
    /// order. A read of a hole through a mapping is fine, but the first write
    /// to it must allocate, and on a full disk that is a SIGBUS in a mapping
    /// (or an ENOSPC where none was expected). The log fills holes before it
    /// maps a segment. Default: no holes.
    fn holes(&self) -> io::Result<Vec<Range<u64>>> {
        Ok(Vec::new())
    }
}

/// A shared, writable memory mapping of a file's first `len()` bytes.
///
/// The mapping hands out a raw pointer, and the caller reads and writes the
/// mapped bytes through it with no further check: the trait is `unsafe` to
/// implement because the caller's memory safety rests on what the
/// implementation promises below.
///
/// # Safety
///
/// An implementation promises, for as long as the value lives (until the
/// last `Arc` to it is dropped):
///
/// 1. **A stable, valid range.** [`Mapping::as_ptr`] returns the same
///    non-null pointer on every call and [`Mapping::len`] the same length,
///    and `as_ptr()..as_ptr() + len()` is one range of initialised memory,
///    valid for reads and writes of any of its bytes, from any thread (hence
///    `Send + Sync`).
/// 2. **Never moved or released.** The range is not unmapped, freed,
///    reallocated or moved while the value lives, whatever happens to the
///    file or the storage meanwhile: the file truncated, grown, renamed or
///    removed, the storage dropped, or (on a simulated disk) a simulated
///    crash. It is released only when the value is dropped.
/// 3. **Faults are caught, not fatal.** An access the backing store cannot
///    satisfy (the file truncated under the mapping, a hole that cannot be
///    allocated on a full disk, EIO while a page is read back in) neither
///    kills the process nor leaves the range invalid: the access completes
///    (a read returns zeros, a write goes nowhere durable) and
///    [`Mapping::failed`] returns `true` from then on. [`FsStorage`] does
///    this by catching SIGBUS (the `sigbus` module maps a private zero page
///    over the faulting page); an implementation that cannot catch such
///    faults must not hand out mappings of files that can change under it.
/// 4. **No writes of its own.** The implementation never writes to the
///    mapped bytes on its own account and keeps no reference (`&`/`&mut`)
///    to them: they change only through the caller's writes (through the
///    pointer, or [`StorageFile::write_all_at`] of the same file), or from
///    outside the program (another process writing to or truncating the
///    file; on a simulated disk, fault injection a test asks for).
///    [`Mapping::flush_range`] and [`Mapping::failed`] at most *read* them.
///
/// # Using the pointer
///
/// The caller, in turn, treats the range as memory shared between threads:
/// a write through the pointer must not overlap, in bytes and in time, any
/// other access to the same bytes: a slice (`&[u8]`) over them, another
/// write, a [`Mapping::flush_range`] covering them, or I/O of the same file
/// range through [`StorageFile`] (on a simulated disk, the same memory).
/// The log keeps to this by lending out slices only of records that were
/// written and are never written again, and by making every write and flush
/// of a segment under one lock (`paxos-wal`'s `segment` module). The
/// contents stay untrusted (another process may change them): a reader
/// verifies what it read (checksums) and checks [`Mapping::failed`] *after*
/// reading.
pub unsafe trait Mapping: Send + Sync + Debug {
    /// Start of the mapped bytes (the same pointer on every call).
    fn as_ptr(&self) -> *mut u8;
    /// Number of mapped bytes (the same on every call).
    fn len(&self) -> usize;
    /// Whether the mapping is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// `msync(MS_SYNC)` of a range: bytes written through the mapping become durable.
    fn flush_range(&self, offset: usize, len: usize) -> io::Result<()>;
    /// Whether an access to the mapping failed (a SIGBUS, caught: the file
    /// was truncated under it, a hole could not be allocated, or a page could
    /// not be read back in). The failing page then reads as zeros, so a
    /// reader checks this *after* it read, and distrusts what it read if set.
    /// Once set it stays set for the life of the mapping.
    fn failed(&self) -> bool;
}

/// The size of a page, the unit in which a page cache writes back.
pub const PAGE_SIZE: usize = 4096;
/// The size of a sector, the unit a disk writes atomically.
pub const SECTOR_SIZE: usize = 512;
