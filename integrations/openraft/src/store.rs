//! [`RaftStore`]: one acceptor store holding the logs of many raft groups,
//! and the per-group bookkeeping a [`crate::LogStore`] keeps in memory.

use crate::error::{Error, Result};
use crate::layout;
use crate::log::LogStore;
use openraft::{LogId, RaftTypeConfig, Vote};
use paxos_acceptor_store::{AcceptorStore, GroupId, RecoveryReport, StoreOptions, StoreStats};
use std::collections::HashSet;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a group's log storage keeps in memory so that `get_log_state` and
/// `read_vote` do not read the store: derived from the store at open, and
/// changed only after the store accepted the write that changes it.
pub(crate) struct GroupMeta<NID: openraft::NodeId> {
    pub vote: Option<Vote<NID>>,
    pub last_purged: Option<LogId<NID>>,
    /// The id of the last entry in the log (`None`: the log is empty).
    pub last_log: Option<LogId<NID>>,
}

pub(crate) struct Shared<C: RaftTypeConfig> {
    pub store: AcceptorStore,
    open_groups: Mutex<HashSet<u64>>,
    dir: PathBuf,
    report: RecoveryReport,
    _c: PhantomData<fn() -> C>,
}

impl<C: RaftTypeConfig> Shared<C> {
    pub(crate) fn close_group(&self, group: u64) {
        lock(&self.open_groups).remove(&group);
    }
}

/// A paxos-store directory holding the raft logs of one or more raft groups
/// ("multi-raft"): each group's log is one acceptor-store group, and every
/// group's appends go through the one log, so groups driven by different
/// tasks share its syncs (group commit). Cheap to clone.
///
/// ```
/// # use paxos_store_openraft::RaftStore;
/// # use std::io::Cursor; // declare_raft_types! names it (the default snapshot data)
/// openraft::declare_raft_types!(pub Config: D = String, R = String);
/// let dir = tempfile::tempdir()?;
/// let store = RaftStore::<Config>::open(dir.path())?;
/// let shard_7 = store.group(7)?; // a `RaftLogStorage<Config>` for `Raft::new`
/// let shard_8 = store.group(8)?; // shares the log, and its syncs, with shard 7
/// assert!(store.group(7).is_err()); // one handle per group
/// # drop((shard_7, shard_8));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RaftStore<C: RaftTypeConfig> {
    shared: Arc<Shared<C>>,
}

impl<C: RaftTypeConfig> Clone for RaftStore<C> {
    fn clone(&self) -> Self {
        RaftStore { shared: self.shared.clone() }
    }
}

impl<C: RaftTypeConfig> std::fmt::Debug for RaftStore<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftStore").field("dir", &self.shared.dir).finish()
    }
}

impl<C> RaftStore<C>
where
    C: RaftTypeConfig,
    C::Entry: serde::Serialize + serde::de::DeserializeOwned,
{
    /// Open (or create) the store in `dir` with the acceptor store's default
    /// options (64 MiB segments, a checkpoint in the background once the log
    /// holds more than 4 segments).
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(dir, StoreOptions::default())
    }

    /// Open (or create) the store in `dir` with `opts` (the acceptor store's
    /// options: segment size, write mode, checkpoint policy, storage, stall
    /// hook). Recovery is the acceptor store's: the newest usable
    /// checkpoint, then the log after it; a torn tail (writes whose sync
    /// never returned, so never acknowledged) is cut, damage to
    /// acknowledged records is an error.
    pub fn open_with(dir: impl AsRef<Path>, opts: StoreOptions) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let (store, report) = AcceptorStore::open(&dir, opts)?;
        let shared = Shared { store, open_groups: Mutex::new(HashSet::new()), dir, report, _c: PhantomData };
        Ok(RaftStore { shared: Arc::new(shared) })
    }

    /// The log storage of raft group `group`, for `openraft::Raft::new`. At
    /// most one handle per group is open at a time ([`Error::GroupInUse`]);
    /// dropping it lets the group be opened again.
    pub fn group(&self, group: u64) -> Result<LogStore<C>> {
        if group == u64::MAX {
            // The acceptor store reserves it (every write would be refused).
            return Err(Error::Store(paxos_acceptor_store::StoreError::ReservedGroup));
        }
        if !lock(&self.shared.open_groups).insert(group) {
            return Err(Error::GroupInUse(group));
        }
        // The group's vote, purge point and last log id, from the store
        // (which holds every write made so far, in this process or before).
        let meta = match layout::rebuild::<C>(&self.shared.store, group) {
            Ok(m) => m,
            Err(e) => {
                self.shared.close_group(group);
                return Err(e);
            }
        };
        Ok(LogStore::new(self.shared.clone(), group, meta))
    }

    /// Every raft group with state in the store, sorted.
    pub fn groups(&self) -> Vec<u64> {
        self.shared.store.groups().into_iter().map(|g| g.0).collect()
    }

    /// Forget raft group `group` entirely (its log, vote and purge point),
    /// durably. Refused while the group's log storage is open.
    pub fn remove_group(&self, group: u64) -> Result<()> {
        // Held across the removal, so the group cannot be opened meanwhile.
        let open = lock(&self.shared.open_groups);
        if open.contains(&group) {
            return Err(Error::GroupInUse(group));
        }
        self.shared.store.remove_group(GroupId(group))?;
        Ok(())
    }

    /// What opening found and did (checkpoint used, records replayed, a torn tail cut).
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.shared.report
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// The acceptor store underneath (for inspection and its stats).
    pub fn acceptor_store(&self) -> &AcceptorStore {
        &self.shared.store
    }

    /// Counters since open: writes, records, syncs (shared by every group),
    /// the fsync latency histogram, checkpoints.
    pub fn stats(&self) -> StoreStats {
        self.shared.store.stats()
    }
}
