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

use super::{Mapping, OpenOptions, Storage, StorageFile, PAGE_SIZE, SECTOR_SIZE};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::{self, Debug};
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// What kind of crash to simulate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashKind {
    /// The process died; the page cache survives. Nothing written is lost
    /// (but lying pages may be evicted, see [`DiskModel::evict_on_process_crash`]).
    Process,
    /// The machine lost power: only synced data is certain to survive.
    PowerLoss,
}

/// Which of Linux's harsher behaviours the model shows. Each is a switch a
/// test can name; see the module documentation for what each means.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DiskModel {
    /// A failed sync writes back an arbitrary (seeded) subset of the dirty
    /// pages, and the file length reaches the disk or not; off: none is
    /// written. Either way every dirty page is marked clean.
    pub failed_sync_writes_subset: bool,
    /// At a [`CrashKind::Process`] crash each lying page is evicted with this
    /// probability (0: never).
    pub evict_on_process_crash: f64,
    /// A failed `O_DSYNC` write leaves its data in the cache, clean; off: it
    /// fails before writing anything.
    pub dsync_failure_caches: bool,
    /// `create_dir_all` creates directories as entry operations of their
    /// parent and syncs the parent (a crash in between loses the directory);
    /// off: directories are durable at once, and `create_dir_all` performs no
    /// counted operation.
    pub volatile_mkdir: bool,
    /// A power loss keeps any subset of a directory's unsynced entry
    /// operations; off: a random prefix.
    pub dir_ops_any_subset: bool,
    /// Probability that a sector a torn page did not write holds garbage
    /// instead of its old bytes (outside the sector-atomic model; 0: never).
    pub garbage_in_torn_sectors: f64,
}

impl DiskModel {
    /// The historical model (what [`MemStorage::new`] uses): a failed sync
    /// writes nothing, a failed `O_DSYNC` write writes nothing, directories
    /// are durable at once, a power loss keeps a prefix of the entry
    /// operations, nothing is ever evicted by itself.
    pub const fn gentle() -> Self {
        DiskModel {
            failed_sync_writes_subset: false,
            evict_on_process_crash: 0.0,
            dsync_failure_caches: false,
            volatile_mkdir: false,
            dir_ops_any_subset: false,
            garbage_in_torn_sectors: 0.0,
        }
    }

    /// What Linux ext4/XFS allow (sector-atomic disk): every switch on,
    /// lying pages evicted at a process crash with probability 1/2, no
    /// garbage sectors.
    pub const fn linux() -> Self {
        DiskModel {
            failed_sync_writes_subset: true,
            evict_on_process_crash: 0.5,
            dsync_failure_caches: true,
            volatile_mkdir: true,
            dir_ops_any_subset: true,
            garbage_in_torn_sectors: 0.0,
        }
    }
}

impl Default for DiskModel {
    fn default() -> Self {
        Self::gentle()
    }
}

/// How often each fault of the model happened (see [`MemStorage::counts`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Syncs (file syncs and `O_DSYNC` writes) that reported EIO, injected
    /// or from a recorded write-back error.
    pub failed_syncs: u64,
    /// Failed syncs that wrote back a (seeded) subset of their dirty pages.
    pub partial_writebacks: u64,
    /// Pages marked clean without their cached bytes reaching the disk.
    pub lying_pages: u64,
    /// Lying pages evicted (reads now return the disk's bytes).
    pub evicted_pages: u64,
    /// Asynchronous write-back errors recorded.
    pub writeback_errors: u64,
    /// Unsynced directory entry operations a power loss undid.
    pub lost_dir_entries: u64,
    /// Directories a power loss undid (their mkdir was not synced).
    pub lost_dirs: u64,
    /// Torn sectors that came back as garbage.
    pub garbage_sectors: u64,
    /// Files removed between runs.
    pub files_removed: u64,
    /// Files truncated between runs.
    pub files_truncated: u64,
    /// Files zeroed between runs.
    pub files_zeroed: u64,
    /// Files replaced by a directory between runs.
    pub files_replaced_with_dir: u64,
}

impl FaultCounts {
    /// Add another storage's counts.
    pub fn add(&mut self, o: &FaultCounts) {
        self.failed_syncs += o.failed_syncs;
        self.partial_writebacks += o.partial_writebacks;
        self.lying_pages += o.lying_pages;
        self.evicted_pages += o.evicted_pages;
        self.writeback_errors += o.writeback_errors;
        self.lost_dir_entries += o.lost_dir_entries;
        self.lost_dirs += o.lost_dirs;
        self.garbage_sectors += o.garbage_sectors;
        self.files_removed += o.files_removed;
        self.files_truncated += o.files_truncated;
        self.files_zeroed += o.files_zeroed;
        self.files_replaced_with_dir += o.files_replaced_with_dir;
    }
}

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

/// The fault-injection state. Files hold this, not [`Shared`]: a file held
/// by the namespace must not hold the namespace (that cycle leaked every
/// MemStorage).
#[derive(Default)]
struct FaultCell {
    inner: Mutex<Faults>,
}

#[derive(Default)]
struct Namespace {
    next_inode: u64,
    files: HashMap<u64, Arc<MemFile>>,
    dirs: BTreeMap<PathBuf, Dir>,
    locks: HashSet<PathBuf>,
}

#[derive(Default, Clone)]
struct Dir {
    current: BTreeMap<String, u64>,
    durable: BTreeMap<String, u64>,
    pending: Vec<DirOp>,
}

/// An entry operation. Unlink and rename remember the inode the entry named,
/// so that a power loss that keeps some operations and drops others applies
/// each only to the entry it acted on.
#[derive(Clone, Debug)]
enum DirOp {
    Link(String, u64),
    Unlink(String, u64),
    Rename(String, String, u64),
    /// A subdirectory was created (it has no inode in the file map).
    Mkdir(String),
}

impl DirOp {
    fn apply(&self, map: &mut BTreeMap<String, u64>) {
        match self {
            DirOp::Link(name, ino) => {
                map.insert(name.clone(), *ino);
            }
            DirOp::Unlink(name, ino) => {
                if map.get(name) == Some(ino) {
                    map.remove(name);
                }
            }
            DirOp::Rename(from, to, ino) => {
                if map.get(from) == Some(ino) {
                    map.remove(from);
                    map.insert(to.clone(), *ino);
                }
            }
            DirOp::Mkdir(_) => {}
        }
    }
}

/// The storage's own RNG (decisions taken inside an operation).
struct OpRng(StdRng);

impl Default for OpRng {
    fn default() -> Self {
        OpRng(StdRng::seed_from_u64(0))
    }
}

#[derive(Default)]
struct Faults {
    syncs: u64,
    fail_syncs: BTreeSet<u64>,
    ops: u64,
    crash_after_ops: Option<u64>,
    capacity: Option<u64>,
    used: u64,
    read_errors: Vec<(u64, Range<u64>)>,
    /// Inodes whose mappings report failed reads (the model's SIGBUS).
    failed_maps: HashSet<u64>,
    /// Unallocated ranges of files (punched holes): writing there allocates.
    holes: Vec<(u64, Range<u64>)>,
    model: DiskModel,
    rng: OpRng,
    /// Inodes with a recorded, unreported write-back error.
    writeback_errors: BTreeSet<u64>,
    counts: FaultCounts,
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

    /// Make the `n`th sync from now (0 = the next one) fail with EIO.
    pub fn fail_sync(&self, n: u64) {
        let mut f = self.faults();
        let at = f.syncs + n;
        f.fail_syncs.insert(at);
    }

    /// Number of syncs (file syncs, `O_DSYNC` writes, mapping flushes) so far.
    pub fn sync_count(&self) -> u64 {
        self.faults().syncs
    }

    /// Number of mutating operations so far.
    pub fn op_count(&self) -> u64 {
        self.faults().ops
    }

    /// After `n` more mutating operations (writes, syncs, creates, renames,
    /// removals, directory syncs, and mkdirs under
    /// [`DiskModel::volatile_mkdir`]), every further one fails as if the
    /// process had died. Follow with [`MemStorage::crash`].
    pub fn crash_after_ops(&self, n: u64) {
        let mut f = self.faults();
        f.crash_after_ops = Some(f.ops + n);
    }

    /// Limit the total bytes all files may occupy; growth past it fails with ENOSPC.
    pub fn set_capacity(&self, bytes: Option<u64>) {
        self.faults().capacity = bytes;
    }

    /// How many handles share this file system (clones, and the storage
    /// handed to logs that are still open); 1 when this is the last one.
    pub fn handles(&self) -> usize {
        Arc::strong_count(&self.shared)
    }

    /// Bytes all files occupy now (what [`MemStorage::set_capacity`] limits).
    pub fn used_bytes(&self) -> u64 {
        self.faults().used
    }

    /// Reads of `range` of the file at `path` fail with EIO (a latent sector error).
    pub fn fail_reads(&self, path: &Path, range: Range<u64>) -> io::Result<()> {
        let ino = self.lookup(path)?;
        self.faults().read_errors.push((ino, range));
        Ok(())
    }

    /// Every mapping of the file at `path` (live or made later) reports a
    /// failed read ([`super::Mapping::failed`]): the model of a SIGBUS caught
    /// in a mapping (the file truncated under it, a hole that cannot be
    /// allocated, EIO while paging in). The bytes are left as they are: a
    /// reader must act on the flag. Cleared by [`MemStorage::crash`].
    pub fn fail_mapped_reads(&self, path: &Path) -> io::Result<()> {
        let ino = self.lookup(path)?;
        self.faults().failed_maps.insert(ino);
        Ok(())
    }

    /// Punch a hole in the file at `path` (`fallocate(PUNCH_HOLE |
    /// KEEP_SIZE)`): the range reads as zeros (cache and disk), frees its
    /// space, and must be allocated again (counted against the capacity,
    /// ENOSPC past it) when it is written. The part past the file's end is ignored.
    ///
    /// On a mapped file this changes mapped bytes from outside, as another
    /// process would: no slice of them may be held across the call.
    pub fn punch_hole(&self, path: &Path, range: Range<u64>) -> io::Result<()> {
        let ino = self.lookup(path)?;
        let file = self.ns().files[&ino].clone();
        let mut st = file.state();
        let range = range.start.min(st.len as u64)..range.end.min(st.len as u64);
        if range.is_empty() {
            return Ok(());
        }
        let zeros = vec![0u8; (range.end - range.start) as usize];
        st.cache.write(range.start as usize, &zeros);
        let end = (range.end as usize).min(st.disk.len());
        if (range.start as usize) < end {
            st.disk[range.start as usize..end].fill(0);
        }
        let mut f = self.faults();
        let already = hole_overlap(&f.holes, ino, &range);
        f.used -= (range.end - range.start) - already;
        carve_holes(&mut f.holes, ino, &range);
        f.holes.push((ino, range));
        Ok(())
    }

    /// Record an asynchronous write-back error for the file at `path`, as if
    /// the kernel's background write-back had failed: each dirty page is,
    /// with probability 1/2, marked clean without reaching the disk (a lying
    /// page), and the file's next sync reports EIO once (after writing the
    /// pages still dirty), even if it has nothing dirty.
    pub fn fail_writeback(&self, path: &Path, rng: &mut impl Rng) -> io::Result<()> {
        let file = self.file(path)?;
        let mut st = file.state();
        let dirty: Vec<usize> = st.dirty.iter().copied().collect();
        let mut lost = Vec::new();
        for page in dirty {
            if rng.random_bool(0.5) {
                st.dirty.remove(&page);
                lost.push(page);
            }
        }
        let lying = st.mark_lying(lost);
        let mut f = self.faults();
        f.writeback_errors.insert(file.ino);
        f.counts.writeback_errors += 1;
        f.counts.lying_pages += lying;
        Ok(())
    }

    /// Lying pages of all files: clean in the cache, but not what the disk holds.
    pub fn lying_pages(&self) -> u64 {
        let ns = self.ns();
        ns.files.values().map(|f| f.state().lying.len() as u64).sum()
    }

    /// Evict each lying page with probability 1/2 (files with a live mapping
    /// excepted): a later read returns what is on disk. Returns how many
    /// pages were evicted.
    pub fn evict(&self, rng: &mut impl Rng) -> u64 {
        self.evict_with(0.5, rng)
    }

    /// Evict every lying page (files with a live mapping excepted).
    pub fn evict_all(&self) -> u64 {
        self.evict_with(1.0, &mut StdRng::seed_from_u64(0))
    }

    fn evict_with(&self, p: f64, rng: &mut impl Rng) -> u64 {
        let ns = self.ns();
        let n: u64 = sorted_files(&ns).into_iter().map(|f| f.state().evict(p, rng)).sum();
        drop(ns);
        self.faults().counts.evicted_pages += n;
        n
    }

    /// Simulate a crash. All handles and mappings of the crashed process must
    /// have been dropped. Injected faults are cleared (an unreported
    /// write-back error survives a process crash).
    pub fn crash(&self, kind: CrashKind, rng: &mut impl Rng) {
        let mut ns = self.ns();
        ns.locks.clear();
        let model = {
            let mut f = self.faults();
            f.crash_after_ops = None;
            f.fail_syncs.clear();
            f.read_errors.clear();
            f.failed_maps.clear();
            if kind == CrashKind::PowerLoss {
                f.writeback_errors.clear();
            }
            f.model
        };
        if kind == CrashKind::Process {
            drop(ns);
            if model.evict_on_process_crash > 0.0 {
                self.evict_with(model.evict_on_process_crash, rng);
            }
            return;
        }
        let mut lost_entries = 0;
        let mut lost_dirs = Vec::new();
        for (path, dir) in ns.dirs.iter_mut() {
            let n = dir.pending.len();
            let keep: Vec<bool> = if model.dir_ops_any_subset {
                (0..n).map(|_| rng.random_bool(0.5)).collect()
            } else {
                let k = rng.random_range(0..=n);
                (0..n).map(|i| i < k).collect()
            };
            for (op, kept) in dir.pending.iter().zip(keep) {
                if kept {
                    op.apply(&mut dir.durable);
                } else {
                    lost_entries += 1;
                    if let DirOp::Mkdir(name) = op {
                        lost_dirs.push(path.join(name));
                    }
                }
            }
            dir.pending.clear();
            dir.current = dir.durable.clone();
        }
        ns.dirs.retain(|p, _| !lost_dirs.iter().any(|l| p.starts_with(l)));
        let live: HashSet<u64> = ns.dirs.values().flat_map(|d| d.current.values().copied()).collect();
        ns.files.retain(|ino, _| live.contains(ino));
        let mut used = 0;
        let mut garbage = 0;
        // Inode order, so that a seeded crash is reproducible.
        for file in sorted_files(&ns) {
            let mut st = file.state();
            assert_eq!(st.maps, 0, "MemStorage::crash with a live mapping");
            garbage += st.power_loss(model.garbage_in_torn_sectors, rng);
            used += st.len as u64;
        }
        let mut f = self.faults();
        f.used = used;
        f.counts.lost_dir_entries += lost_entries;
        f.counts.lost_dirs += lost_dirs.len() as u64;
        f.counts.garbage_sectors += garbage;
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

    /// Flip bits of a file on disk and in the cache (bit rot). Out-of-range
    /// offsets are ignored.
    ///
    /// On a mapped file this changes a mapped byte from outside, as another
    /// process would: no slice of it may be held across the call (read a
    /// record again afterwards).
    pub fn corrupt(&self, path: &Path, offset: u64, xor: u8) -> io::Result<()> {
        let file = self.file(path)?;
        let mut st = file.state();
        let off = offset as usize;
        if off < st.len {
            // SAFETY: `off < len <= cap`, a raw one-byte access under the
            // file's lock. With the log open this is a change from outside
            // the program (`Mapping` rule 4): the test must not hold a slice
            // of this byte across the call (a derefed `Record`) or read it
            // from another thread meanwhile. The tests that corrupt an open
            // log read again only after the call returns.
            unsafe { *st.cache.ptr().add(off) ^= xor };
        }
        if off < st.disk.len() {
            st.disk[off] ^= xor;
        }
        Ok(())
    }

    /// Replace a file's contents, durably (a file planted by a test).
    pub fn put_file(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let file = self.open(path, OpenOptions::create())?;
        file.write_all_at(bytes, 0)?;
        file.sync_all()?;
        let dir = path.parent().unwrap_or(Path::new(""));
        self.sync_dir(dir)
    }

    /// Remove a file durably, as an operator or a backup tool would between
    /// runs (the store must be down).
    pub fn remove_file(&self, path: &Path) -> io::Result<()> {
        let (dir, name) = split(path)?;
        let mut ns = self.ns();
        let d = ns.dirs.get_mut(&dir).ok_or_else(|| not_found(path))?;
        d.current.remove(&name).ok_or_else(|| not_found(path))?;
        d.durable.remove(&name);
        drop(ns);
        self.faults().counts.files_removed += 1;
        Ok(())
    }

    /// Cut (or extend with zeros) a file to `len` bytes durably, between
    /// runs (the store must be down).
    pub fn truncate_file(&self, path: &Path, len: u64) -> io::Result<()> {
        self.rewrite(path, |bytes| bytes.resize(len as usize, 0))?;
        self.faults().counts.files_truncated += 1;
        Ok(())
    }

    /// Overwrite a whole file with zeros durably, keeping its length,
    /// between runs (the store must be down).
    pub fn zero_file(&self, path: &Path) -> io::Result<()> {
        self.rewrite(path, |bytes| bytes.fill(0))?;
        self.faults().counts.files_zeroed += 1;
        Ok(())
    }

    /// Replace a file by an empty directory of the same name durably, between
    /// runs (the store must be down). Listing no longer shows the file;
    /// opening or creating it fails with EISDIR.
    pub fn replace_with_dir(&self, path: &Path) -> io::Result<()> {
        let (dir, name) = split(path)?;
        let mut ns = self.ns();
        let d = ns.dirs.get_mut(&dir).ok_or_else(|| not_found(path))?;
        d.current.remove(&name).ok_or_else(|| not_found(path))?;
        d.durable.remove(&name);
        ns.dirs.insert(path.to_path_buf(), Dir::default());
        drop(ns);
        self.faults().counts.files_replaced_with_dir += 1;
        Ok(())
    }

    /// Set a file's cache and disk to `f(its cached bytes)`, nothing dirty.
    fn rewrite(&self, path: &Path, f: impl FnOnce(&mut Vec<u8>)) -> io::Result<()> {
        let file = self.file(path)?;
        let mut st = file.state();
        if st.maps > 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "cannot rewrite a mapped file"));
        }
        let old = st.len as u64;
        let mut bytes = st.cache.to_vec(st.len);
        f(&mut bytes);
        let mut fresh = RawBuf::zeroed(bytes.len());
        fresh.write(0, &bytes);
        st.cache = fresh;
        st.len = bytes.len();
        st.disk = bytes;
        st.dirty.clear();
        st.lying.clear();
        let new = st.len as u64;
        drop(st);
        let mut fl = self.faults();
        fl.used = (fl.used + new).saturating_sub(old);
        Ok(())
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

/// The files of a namespace in inode order (reproducible iteration).
fn sorted_files(ns: &Namespace) -> Vec<Arc<MemFile>> {
    let mut files: Vec<(&u64, &Arc<MemFile>)> = ns.files.iter().collect();
    files.sort_by_key(|(ino, _)| **ino);
    files.into_iter().map(|(_, f)| f.clone()).collect()
}

impl FaultCell {
    fn faults(&self) -> MutexGuard<'_, Faults> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn op(&self) -> io::Result<()> {
        let mut f = self.faults();
        if let Some(limit) = f.crash_after_ops {
            if f.ops >= limit {
                return Err(crashed());
            }
        }
        f.ops += 1;
        Ok(())
    }

    /// Count a sync; `Err` when this one is to fail.
    fn sync(&self) -> io::Result<()> {
        self.op()?;
        let mut f = self.faults();
        let n = f.syncs;
        f.syncs += 1;
        if f.fail_syncs.remove(&n) {
            return Err(eio());
        }
        Ok(())
    }

    /// A sync of `st` failed with EIO: `pages` (taken from the dirty set)
    /// are marked clean; under fsyncgate a seeded subset of them (and maybe
    /// the length) reaches the disk first.
    fn failed_sync(&self, st: &mut FileState, pages: Vec<usize>) {
        let mut f = self.faults();
        f.counts.failed_syncs += 1;
        if f.model.failed_sync_writes_subset {
            f.counts.partial_writebacks += 1;
            let rng = &mut f.rng.0;
            if st.disk.len() < st.len && rng.random_bool(0.5) {
                st.disk.resize(st.len, 0);
            }
            let written: Vec<usize> = pages.iter().copied().filter(|_| rng.random_bool(0.5)).collect();
            st.write_back(&written);
        }
        f.counts.lying_pages += st.mark_lying(pages);
    }

    /// Take the file's unreported write-back error, if any.
    fn take_writeback_error(&self, ino: u64) -> bool {
        let mut f = self.faults();
        let had = f.writeback_errors.remove(&ino);
        if had {
            f.counts.failed_syncs += 1;
        }
        had
    }

    fn grow(&self, by: u64) -> io::Result<()> {
        let mut f = self.faults();
        if let Some(cap) = f.capacity {
            if f.used + by > cap {
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
        }
        f.used += by;
        Ok(())
    }
}

/// Bytes of `range` of file `ino` that lie in holes.
fn hole_overlap(holes: &[(u64, Range<u64>)], ino: u64, range: &Range<u64>) -> u64 {
    holes
        .iter()
        .filter(|(i, _)| *i == ino)
        .map(|(_, h)| h.end.min(range.end).saturating_sub(h.start.max(range.start)))
        .sum()
}

/// Remove `range` of file `ino` from the holes (it is allocated now).
fn carve_holes(holes: &mut Vec<(u64, Range<u64>)>, ino: u64, range: &Range<u64>) {
    let mut out = Vec::with_capacity(holes.len() + 1);
    for (i, h) in holes.drain(..) {
        if i != ino || h.end <= range.start || range.end <= h.start {
            out.push((i, h));
            continue;
        }
        if h.start < range.start {
            out.push((i, h.start..range.start));
        }
        if range.end < h.end {
            out.push((i, range.end..h.end));
        }
    }
    *holes = out;
}

impl FaultCell {
    /// A write to `range` of file `ino` allocates the holes it covers: ENOSPC
    /// past the capacity (nothing allocated then).
    fn allocate(&self, ino: u64, range: Range<u64>) -> io::Result<()> {
        let mut f = self.faults();
        let need = hole_overlap(&f.holes, ino, &range);
        if need == 0 {
            return Ok(());
        }
        if let Some(cap) = f.capacity {
            if f.used + need > cap {
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
        }
        f.used += need;
        carve_holes(&mut f.holes, ino, &range);
        Ok(())
    }
}

fn split(path: &Path) -> io::Result<(PathBuf, String)> {
    let name = path.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
    Ok((dir, name.to_string_lossy().into_owned()))
}

impl Storage for MemStorage {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut ns = self.ns();
        if !self.faults().model.volatile_mkdir {
            let mut p = Some(dir);
            while let Some(d) = p {
                ns.dirs.entry(d.to_path_buf()).or_default();
                p = d.parent();
            }
            return Ok(());
        }
        // Missing directories, innermost first.
        let mut missing = Vec::new();
        let mut p = Some(dir);
        while let Some(d) = p {
            if ns.dirs.contains_key(d) {
                break;
            }
            missing.push(d);
            p = d.parent();
        }
        if missing.is_empty() {
            // It exists, but a crashed run may have made it without syncing
            // its parent: sync the parent again, as FsStorage does.
            if let Some(parent) = dir.parent().filter(|p| ns.dirs.contains_key(*p)) {
                self.op()?;
                sync_dir_entries(&mut ns, parent);
            }
            return Ok(());
        }
        for d in missing.into_iter().rev() {
            let parent = d.parent().filter(|p| ns.dirs.contains_key(*p));
            if let (Some(parent), Ok((_, name))) = (parent, split(d)) {
                if ns.dirs[parent].current.contains_key(&name) {
                    return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
                }
                self.op()?; // mkdir
                ns.dirs.insert(d.to_path_buf(), Dir::default());
                ns.dirs.get_mut(parent).expect("checked").pending.push(DirOp::Mkdir(name));
                self.op()?; // fsync of the parent
                sync_dir_entries(&mut ns, parent);
            } else {
                // A root: always there.
                ns.dirs.insert(d.to_path_buf(), Dir::default());
            }
        }
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let ns = self.ns();
        let d = ns.dirs.get(dir).ok_or_else(|| not_found(dir))?;
        Ok(d.current.keys().cloned().collect())
    }

    fn open(&self, path: &Path, opts: OpenOptions) -> io::Result<Arc<dyn StorageFile>> {
        let (dir, name) = split(path)?;
        let mut ns = self.ns();
        let existing = ns.dirs.get(&dir).ok_or_else(|| not_found(&dir))?.current.get(&name).copied();
        let file = match existing {
            Some(ino) => ns.files[&ino].clone(),
            None if ns.dirs.contains_key(path) => return Err(is_a_dir()),
            None if opts.create => {
                self.op()?;
                let ino = ns.next_inode;
                ns.next_inode += 1;
                let file =
                    Arc::new(MemFile { shared: self.shared.faults.clone(), ino, st: Mutex::new(FileState::default()) });
                ns.files.insert(ino, file.clone());
                let d = ns.dirs.get_mut(&dir).expect("checked above");
                d.current.insert(name.clone(), ino);
                d.pending.push(DirOp::Link(name, ino));
                file
            }
            None => return Err(not_found(path)),
        };
        Ok(Arc::new(MemHandle { file, dsync: opts.dsync }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let (dir, from_name) = split(from)?;
        let (to_dir, to_name) = split(to)?;
        if dir != to_dir {
            return Err(io::Error::new(io::ErrorKind::Unsupported, "rename across directories"));
        }
        self.op()?;
        let mut ns = self.ns();
        if ns.dirs.contains_key(to) || ns.dirs.contains_key(from) {
            return Err(is_a_dir());
        }
        let d = ns.dirs.get_mut(&dir).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        let ino = d.current.remove(&from_name).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        d.current.insert(to_name.clone(), ino);
        d.pending.push(DirOp::Rename(from_name, to_name, ino));
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let (dir, name) = split(path)?;
        self.op()?;
        let mut ns = self.ns();
        if ns.dirs.contains_key(path) {
            return Err(is_a_dir());
        }
        let d = ns.dirs.get_mut(&dir).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        let ino = d.current.remove(&name).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        d.pending.push(DirOp::Unlink(name, ino));
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.op()?;
        let mut ns = self.ns();
        if !ns.dirs.contains_key(dir) {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        sync_dir_entries(&mut ns, dir);
        Ok(())
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn Debug + Send + Sync>> {
        let mut ns = self.ns();
        if !ns.locks.insert(path.to_path_buf()) {
            return Err(io::Error::new(io::ErrorKind::WouldBlock, "lock is held"));
        }
        Ok(Box::new(MemLock { storage: self.clone(), path: path.to_path_buf() }))
    }
}

/// Make a directory's entries (and the subdirectories made in it) durable.
fn sync_dir_entries(ns: &mut Namespace, dir: &Path) {
    if let Some(d) = ns.dirs.get_mut(dir) {
        d.durable = d.current.clone();
        d.pending.clear();
    }
}

struct MemLock {
    storage: MemStorage,
    path: PathBuf,
}

impl Debug for MemLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MemLock({})", self.path.display())
    }
}

impl Drop for MemLock {
    fn drop(&mut self) {
        self.storage.ns().locks.remove(&self.path);
    }
}

/// A heap buffer whose address never changes while it is mapped.
///
/// It never makes a reference (`&[u8]`) into its bytes: they are read and
/// written with raw copies of exactly the range concerned, so that a
/// mapping's user may hold a slice of one part of the buffer, or write
/// through the mapping to another, while this file's state is read or
/// written elsewhere (see the `Mapping` implementation below).
struct RawBuf {
    ptr: *mut u8,
    cap: usize,
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
    fn zeroed(cap: usize) -> Self {
        let b: Box<[u8]> = vec![0u8; cap].into_boxed_slice();
        let cap = b.len();
        Self { ptr: Box::into_raw(b) as *mut u8, cap }
    }
    fn ptr(&self) -> *mut u8 {
        self.ptr
    }
    /// Copy `out.len()` bytes from `offset` into `out`.
    fn read(&self, offset: usize, out: &mut [u8]) {
        assert!(offset <= self.cap && out.len() <= self.cap - offset);
        // SAFETY: the range is inside the allocation (asserted above), which
        // is initialised; `out` is a distinct buffer. A raw copy makes no
        // reference over the rest of the buffer, where a mapping may be
        // written meanwhile.
        unsafe { std::ptr::copy_nonoverlapping(self.ptr.add(offset), out.as_mut_ptr(), out.len()) };
    }
    /// The first `len` bytes, copied.
    fn to_vec(&self, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        self.read(0, &mut v);
        v
    }
    fn write(&mut self, offset: usize, bytes: &[u8]) {
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

#[derive(Default)]
struct FileState {
    cache: RawBuf,
    len: usize,
    disk: Vec<u8>,
    dirty: BTreeSet<usize>,
    /// Clean pages whose cached bytes are not what the disk holds (a failed
    /// sync or write-back marked them clean unwritten): eviction candidates.
    lying: BTreeSet<usize>,
    maps: usize,
}

impl FileState {
    fn ensure_len(&mut self, end: usize) -> io::Result<()> {
        if end <= self.len {
            return Ok(());
        }
        if self.maps > 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "cannot grow a mapped file"));
        }
        if end > self.cache.cap {
            let mut bigger = RawBuf::zeroed(end.max(self.cache.cap * 2));
            bigger.write(0, &self.cache.to_vec(self.len));
            self.cache = bigger;
        }
        self.len = end;
        Ok(())
    }

    fn pages(offset: usize, len: usize) -> std::ops::RangeInclusive<usize> {
        if len == 0 {
            #[allow(clippy::reversed_empty_ranges)]
            return 1..=0;
        }
        offset / PAGE_SIZE..=(offset + len - 1) / PAGE_SIZE
    }

    fn write(&mut self, offset: usize, bytes: &[u8]) {
        self.cache.write(offset, bytes);
        for page in Self::pages(offset, bytes.len()) {
            self.dirty.insert(page);
            self.lying.remove(&page);
        }
    }

    /// Copy `pages` from the cache to the disk, at the disk's length.
    fn write_back(&mut self, pages: &[usize]) {
        for &page in pages {
            let start = page * PAGE_SIZE;
            let end = (start + PAGE_SIZE).min(self.len).min(self.disk.len());
            if start < end {
                self.cache.read(start, &mut self.disk[start..end]);
            }
        }
        for page in pages {
            if !self.differs(*page) {
                self.lying.remove(page);
            }
        }
    }

    fn flush(&mut self, pages: impl IntoIterator<Item = usize>) {
        self.disk.resize(self.len, 0);
        let pages: Vec<usize> = pages.into_iter().collect();
        self.write_back(&pages);
    }

    fn sync(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        self.flush(dirty);
    }

    /// Whether the cached page differs from the disk's (zeros past its end).
    fn differs(&self, page: usize) -> bool {
        let start = page * PAGE_SIZE;
        let end = (start + PAGE_SIZE).min(self.len);
        if start >= end {
            return false;
        }
        let mut page = [0u8; PAGE_SIZE];
        let cached = &mut page[..end - start];
        self.cache.read(start, cached);
        cached.iter().enumerate().any(|(i, b)| *b != self.disk.get(start + i).copied().unwrap_or(0))
    }

    /// Note the (no longer dirty) `pages` whose cache differs from the disk
    /// as lying; returns how many.
    fn mark_lying(&mut self, pages: impl IntoIterator<Item = usize>) -> u64 {
        let mut n = 0;
        for page in pages {
            if self.differs(page) && self.lying.insert(page) {
                n += 1;
            }
        }
        n
    }

    /// Evict each lying page with probability `p` (none while mapped).
    fn evict(&mut self, p: f64, rng: &mut impl Rng) -> u64 {
        if self.maps > 0 || self.lying.is_empty() {
            return 0;
        }
        let mut n = 0;
        for page in self.lying.clone() {
            if p < 1.0 && !rng.random_bool(p) {
                continue;
            }
            let start = page * PAGE_SIZE;
            let end = (start + PAGE_SIZE).min(self.len);
            if start < end {
                let bytes: Vec<u8> = (start..end).map(|i| self.disk.get(i).copied().unwrap_or(0)).collect();
                self.cache.write(start, &bytes);
            }
            self.lying.remove(&page);
            n += 1;
        }
        n
    }

    /// Returns how many sectors came back as garbage.
    fn power_loss(&mut self, garbage: f64, rng: &mut impl Rng) -> u64 {
        let len = if self.len != self.disk.len() && rng.random_bool(0.5) { self.len } else { self.disk.len() };
        let cache = self.cache.to_vec(self.len);
        self.disk.resize(len, 0);
        let mut garbled = 0;
        for page in std::mem::take(&mut self.dirty) {
            let start = page * PAGE_SIZE;
            let end = (start + PAGE_SIZE).min(len).min(cache.len());
            if start >= end {
                continue;
            }
            match rng.random_range(0..3) {
                0 => self.disk[start..end].copy_from_slice(&cache[start..end]),
                1 => {}
                _ => {
                    let mut s = start;
                    while s < end {
                        let e = (s + SECTOR_SIZE).min(end);
                        if rng.random_bool(0.5) {
                            self.disk[s..e].copy_from_slice(&cache[s..e]);
                        } else if garbage > 0.0 && rng.random_bool(garbage) {
                            rng.fill_bytes(&mut self.disk[s..e]);
                            garbled += 1;
                        }
                        s = e;
                    }
                }
            }
        }
        let mut fresh = RawBuf::zeroed(len);
        fresh.write(0, &self.disk);
        self.cache = fresh;
        self.len = len;
        self.lying.clear();
        garbled
    }
}

struct MemFile {
    shared: Arc<FaultCell>,
    ino: u64,
    st: Mutex<FileState>,
}

impl MemFile {
    fn state(&self) -> MutexGuard<'_, FileState> {
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct MemHandle {
    file: Arc<MemFile>,
    dsync: bool,
}

impl Debug for MemHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MemFile(inode {})", self.file.ino)
    }
}

impl StorageFile for MemHandle {
    fn len(&self) -> io::Result<u64> {
        Ok(self.file.state().len as u64)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let end = offset + buf.len() as u64;
        {
            let f = self.file.shared.faults();
            if f.read_errors.iter().any(|(ino, r)| *ino == self.file.ino && r.start < end && offset < r.end) {
                return Err(eio());
            }
        }
        let st = self.file.state();
        if end > st.len as u64 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
        }
        st.cache.read(offset as usize, buf);
        Ok(())
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        let shared = &self.file.shared;
        let synced = if self.dsync { shared.sync() } else { shared.op() };
        let failed = match synced {
            Ok(()) => false,
            Err(e) if self.dsync && is_eio(&e) && shared.faults().model.dsync_failure_caches => true,
            Err(e) => return Err(e),
        };
        let end = offset as usize + buf.len();
        self.file.shared.allocate(self.file.ino, offset..end as u64)?;
        let mut st = self.file.state();
        if end > st.len {
            shared.grow((end - st.len) as u64)?;
        }
        st.ensure_len(end)?;
        st.write(offset as usize, buf);
        if failed {
            // The data stays in the cache, clean, not (or partly) on disk.
            let pages: Vec<usize> = FileState::pages(offset as usize, buf.len()).collect();
            for p in &pages {
                st.dirty.remove(p);
            }
            shared.failed_sync(&mut st, pages);
            return Err(eio());
        }
        if self.dsync {
            st.sync();
            if shared.take_writeback_error(self.file.ino) {
                return Err(eio());
            }
        }
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let shared = &self.file.shared;
        let res = shared.sync();
        let mut st = self.file.state();
        match res {
            Ok(()) => {
                st.sync();
                if shared.take_writeback_error(self.file.ino) {
                    return Err(eio());
                }
                Ok(())
            }
            Err(e) => {
                if is_eio(&e) {
                    // As on Linux: the failed pages are marked clean (and,
                    // under fsyncgate, some of them written); a pending
                    // write-back error is reported by this failure too.
                    let dirty: Vec<usize> = std::mem::take(&mut st.dirty).into_iter().collect();
                    shared.failed_sync(&mut st, dirty);
                    shared.faults().writeback_errors.remove(&self.file.ino);
                }
                Err(e)
            }
        }
    }

    fn sync_all(&self) -> io::Result<()> {
        self.sync_data()
    }

    fn map(&self, len: usize) -> io::Result<Arc<dyn Mapping>> {
        let mut st = self.file.state();
        if len > st.len {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "cannot map past the end of a file"));
        }
        st.maps += 1;
        Ok(Arc::new(MemMapping { file: self.file.clone(), ptr: st.cache.ptr(), len }))
    }

    fn holes(&self) -> io::Result<Vec<Range<u64>>> {
        let f = self.file.shared.faults();
        let mut holes: Vec<Range<u64>> =
            f.holes.iter().filter(|(i, _)| *i == self.file.ino).map(|(_, h)| h.clone()).collect();
        holes.sort_by_key(|h| h.start);
        Ok(holes)
    }
}

struct MemMapping {
    file: Arc<MemFile>,
    ptr: *mut u8,
    len: usize,
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
