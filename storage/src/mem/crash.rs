//! Crashes: a killed process or a power loss, and the eviction of lying pages.

use super::dir::{DirOp, Namespace};
use super::file::MemFile;
#[cfg(doc)]
use super::DiskModel;
use super::MemStorage;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashSet;
use std::sync::Arc;

/// What kind of crash to simulate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashKind {
    /// The process died; the page cache survives. Nothing written is lost
    /// (but lying pages may be evicted, see [`DiskModel::evict_on_process_crash`]).
    Process,
    /// The machine lost power: only synced data is certain to survive.
    PowerLoss,
}

impl MemStorage {
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
}

/// The files of a namespace in inode order (reproducible iteration).
fn sorted_files(ns: &Namespace) -> Vec<Arc<MemFile>> {
    let mut files: Vec<(&u64, &Arc<MemFile>)> = ns.files.iter().collect();
    files.sort_by_key(|(ino, _)| **ino);
    files.into_iter().map(|(_, f)| f.clone()).collect()
}
