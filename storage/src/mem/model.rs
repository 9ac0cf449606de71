//! How hard the simulated disk is: the switches of [`DiskModel`] (what each
//! means is told in the documentation of the `mem` module, in mod.rs).

#[cfg(doc)]
use super::{CrashKind, MemStorage};

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
