//! An in-memory file system that models a page cache over a disk, for crash
//! and fault tests.
//!
//! Model:
//! - Each file has a *cache* (what reads see) and a *disk* image (what survives
//!   power loss). Writes go to the cache and mark their 4 KiB pages dirty;
//!   `sync_data`/`sync_all` copy the dirty pages (and the length) to disk.
//! - Each directory has a *current* listing and a *durable* one, plus the list
//!   of entry operations (link, unlink, rename, and — see [`DiskModel`] —
//!   mkdir of a subdirectory) since its last `sync_dir`.
//! - [`MemStorage::crash`] with [`CrashKind::PowerLoss`]: every dirty page is
//!   independently kept, dropped, or torn (each 512-byte sector kept or not);
//!   the file length falls back to the durable one or keeps the cached one;
//!   each directory keeps a random prefix (or, with
//!   [`DiskModel::dir_ops_any_subset`], any subset) of its unsynced entry
//!   operations. [`CrashKind::Process`] loses nothing written: the page cache
//!   survives a killed process — but it may evict *lying* pages (below).
//! - Bytes written through a mapping are not tracked as dirty: unless flushed
//!   with [`super::Mapping::flush_range`] they are lost on power loss (one of
//!   the outcomes a real page cache allows).
//! - Faults: the Nth sync fails with EIO; a capacity makes growth fail with
//!   ENOSPC; a byte range of a file can be made to fail reads with EIO; after
//!   N mutating operations every further one fails, as if the process had
//!   died there ([`MemStorage::crash_after_ops`]); an asynchronous write-back
//!   error can be recorded for a file ([`MemStorage::fail_writeback`]); files
//!   can be removed, truncated, zeroed or replaced by a directory between runs
//!   ([`MemStorage::remove_file`] and friends).
//! - Mappings: [`MemStorage::fail_mapped_reads`] makes a file's mappings
//!   report a failed read (the model of a SIGBUS the real storage catches);
//!   [`MemStorage::punch_hole`] makes a range sparse, so writing it must
//!   allocate again (ENOSPC past the capacity).
//!
//! # How hard the disk is: [`DiskModel`]
//!
//! [`MemStorage::new`] keeps the historical, *gentle* model
//! ([`DiskModel::gentle`]) that existing tests were written against. The
//! [`DiskModel::linux`] model is what Linux ext4/XFS really allow, and is what
//! the cluster simulator and the fuzz disk use:
//! - **fsyncgate**: a failed `fsync`/`fdatasync` writes back an arbitrary
//!   (seeded) subset of the dirty pages, reports EIO once, and marks every
//!   dirty page clean; a later sync succeeds without writing them. Pages whose
//!   cache then differs from the disk are *lying pages*: the kernel may evict
//!   them at any time, after which a read returns the disk's bytes (zeros past
//!   the disk's end). [`MemStorage::evict`] evicts some explicitly, and a
//!   process crash evicts each with [`DiskModel::evict_on_process_crash`].
//!   (Lying pages are tracked in the gentle model too; only the automatic
//!   eviction is off.) Files with a live mapping are never evicted.
//! - **O_DSYNC**: a failed `O_DSYNC` write leaves its data in the cache,
//!   clean and (apart from a subset, under fsyncgate) not on disk.
//! - **errseq**: [`MemStorage::fail_writeback`] records a background
//!   write-back error (some dirty pages marked clean unwritten); the file's
//!   next sync (or `O_DSYNC` write) reports EIO once, even if it had nothing
//!   dirty. An unreported error survives a process crash (Linux ≥ 4.16
//!   reports an unseen error to the next opener) but not a power loss.
//! - **Directories**: `create_dir_all` makes each directory it creates
//!   durable by syncing its parent (the contract of
//!   [`Storage::create_dir_all`]); the mkdir is an entry operation of the
//!   parent, so a crash between the mkdir and that sync can lose the
//!   directory and everything in it. A power loss undoes any subset of the
//!   unsynced entry operations, applied in order and each only if the entry
//!   still names the inode it named (a rename happened or did not).
//! - Optionally (**outside the sector-atomic guarantee**, off in both
//!   presets): a torn page's unwritten sector holds garbage instead of its old
//!   bytes ([`DiskModel::garbage_in_torn_sectors`]).
//!
//! Decisions taken inside an operation (which pages a failed sync writes)
//! come from the storage's own RNG, seeded with [`MemStorage::with_model`];
//! decisions of [`MemStorage::crash`], [`MemStorage::evict`] and
//! [`MemStorage::fail_writeback`] come from the RNG the caller passes. The
//! same seeds and the same operations give the same result. Every fault the
//! model applied is counted ([`MemStorage::counts`]).

mod crash;
mod damage;
mod dir;
mod faults;
mod file;
mod map;
mod model;

pub use crash::CrashKind;
pub use faults::FaultCounts;
pub use model::DiskModel;

use crate::Storage;
use dir::{split, Namespace};
use faults::{FaultCell, Faults, OpRng};
use file::MemFile;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::fmt::{self, Debug};
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

/// An in-memory, fault-injecting file system. Clones share the same files.
#[derive(Clone, Default)]
pub struct MemStorage {
    shared: Arc<Shared>,
}

impl Debug for MemStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MemStorage")
    }
}

#[derive(Default)]
struct Shared {
    ns: Mutex<Namespace>,
    faults: Arc<FaultCell>,
}

fn eio() -> io::Error {
    io::Error::from_raw_os_error(libc::EIO)
}

fn is_eio(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EIO)
}

fn crashed() -> io::Error {
    io::Error::other("simulated crash: the process is dead")
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{}", path.display()))
}

fn is_a_dir() -> io::Error {
    io::Error::from_raw_os_error(libc::EISDIR)
}

impl MemStorage {
    /// A new, empty in-memory file system with the gentle model
    /// ([`DiskModel::gentle`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// A new, empty in-memory file system with `model`, its own RNG (which
    /// pages a failed sync writes back) seeded with `seed`.
    pub fn with_model(model: DiskModel, seed: u64) -> Self {
        let mem = Self::default();
        {
            let mut f = mem.faults();
            f.model = model;
            f.rng = OpRng(StdRng::seed_from_u64(seed));
        }
        mem
    }

    /// The model in force.
    pub fn model(&self) -> DiskModel {
        self.faults().model
    }

    /// Change the model from now on.
    pub fn set_model(&self, model: DiskModel) {
        self.faults().model = model;
    }

    /// Re-seed the storage's own RNG.
    pub fn set_seed(&self, seed: u64) {
        self.faults().rng = OpRng(StdRng::seed_from_u64(seed));
    }

    /// How often each fault of the model happened so far.
    pub fn counts(&self) -> FaultCounts {
        self.faults().counts
    }

    /// The same file system behind the seam.
    pub fn shared(&self) -> Arc<dyn Storage> {
        Arc::new(self.clone())
    }

    fn ns(&self) -> MutexGuard<'_, Namespace> {
        self.shared.ns.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn faults(&self) -> MutexGuard<'_, Faults> {
        self.shared.faults.faults()
    }

    /// How many handles share this file system (clones, and the storage
    /// handed to logs that are still open); 1 when this is the last one.
    pub fn handles(&self) -> usize {
        Arc::strong_count(&self.shared)
    }

    /// The cached contents of a file (what a read would return).
    pub fn read_file(&self, path: &Path) -> io::Result<Vec<u8>> {
        let file = self.file(path)?;
        let st = file.state();
        Ok(st.cache.to_vec(st.len))
    }

    /// The on-disk contents of a file (what a power loss now would keep of
    /// its synced data).
    pub fn read_disk(&self, path: &Path) -> io::Result<Vec<u8>> {
        let file = self.file(path)?;
        let disk = file.state().disk.clone();
        Ok(disk)
    }

    fn file(&self, path: &Path) -> io::Result<Arc<MemFile>> {
        let ino = self.lookup(path)?;
        Ok(self.ns().files[&ino].clone())
    }

    fn lookup(&self, path: &Path) -> io::Result<u64> {
        let (dir, name) = split(path)?;
        let ns = self.ns();
        ns.dirs.get(&dir).and_then(|d| d.current.get(&name)).copied().ok_or_else(|| not_found(path))
    }

    /// Count a mutating operation; fails once the simulated process is dead.
    fn op(&self) -> io::Result<()> {
        self.shared.faults.op()
    }
}
