//! Injected faults: failing syncs and reads, a capacity, a crash after N
//! operations, punched holes, write-back errors; and the count of every
//! fault the model applied.

use super::file::FileState;
use super::{crashed, eio, DiskModel, MemStorage};
#[cfg(doc)]
use crate::Mapping;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeSet, HashSet};
use std::io;
use std::ops::Range;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

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

/// The fault-injection state. Files hold this, not [`Shared`](super::Shared):
/// a file held by the namespace must not hold the namespace (that cycle
/// leaked every MemStorage).
#[derive(Default)]
pub(super) struct FaultCell {
    inner: Mutex<Faults>,
}

/// The storage's own RNG (decisions taken inside an operation).
pub(super) struct OpRng(pub(super) StdRng);

impl Default for OpRng {
    fn default() -> Self {
        OpRng(StdRng::seed_from_u64(0))
    }
}

#[derive(Default)]
pub(super) struct Faults {
    pub(super) syncs: u64,
    pub(super) fail_syncs: BTreeSet<u64>,
    pub(super) ops: u64,
    pub(super) crash_after_ops: Option<u64>,
    pub(super) capacity: Option<u64>,
    pub(super) used: u64,
    pub(super) read_errors: Vec<(u64, Range<u64>)>,
    /// Inodes whose mappings report failed reads (the model's SIGBUS).
    pub(super) failed_maps: HashSet<u64>,
    /// Unallocated ranges of files (punched holes): writing there allocates.
    pub(super) holes: Vec<(u64, Range<u64>)>,
    pub(super) model: DiskModel,
    pub(super) rng: OpRng,
    /// Inodes with a recorded, unreported write-back error.
    pub(super) writeback_errors: BTreeSet<u64>,
    pub(super) counts: FaultCounts,
}

impl MemStorage {
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
    /// failed read ([`Mapping::failed`]): the model of a SIGBUS caught
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
}

impl FaultCell {
    pub(super) fn faults(&self) -> MutexGuard<'_, Faults> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn op(&self) -> io::Result<()> {
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
    pub(super) fn sync(&self) -> io::Result<()> {
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
    pub(super) fn failed_sync(&self, st: &mut FileState, pages: Vec<usize>) {
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
    pub(super) fn take_writeback_error(&self, ino: u64) -> bool {
        let mut f = self.faults();
        let had = f.writeback_errors.remove(&ino);
        if had {
            f.counts.failed_syncs += 1;
        }
        had
    }

    pub(super) fn grow(&self, by: u64) -> io::Result<()> {
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
    pub(super) fn allocate(&self, ino: u64, range: Range<u64>) -> io::Result<()> {
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
