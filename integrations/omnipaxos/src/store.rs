//! The store: an acceptor store holding the storage of one or more
//! OmniPaxos nodes ("groups"), the write path, opening and checkpoints.

use crate::error::{Error, Result};
use crate::layout;
use crate::state::GroupState;
use crate::storage::OmniPaxosStorage;
use omnipaxos::storage::{Entry, StorageOp};
use paxos_acceptor_store::{AcceptorStore, RecoveryReport};
use paxos_wal::storage::Storage;
use paxos_wal::{Lsn, WalOptions};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Options for [`PaxosStore::open_with`] and [`OmniPaxosStorage::open_with`]:
/// the log's own options, nested, and the adapter's checkpoint policy.
///
/// The defaults are small, so that a process can hold tens of stores (one
/// per simulated node): 1 MiB log segments (a fresh store writes two: the
/// active one and the next one, pre-zeroed in the background) and a
/// checkpoint once 4 MiB of log has been written since the last one.
#[derive(Clone, Debug)]
pub struct OmniPaxosOptions {
    /// The log's options (`paxos_wal::WalOptions`): segment size (default
    /// here 1 MiB; at least 8 KiB, a multiple of 4 KiB; a batch larger than
    /// a segment is split over several records, one entry must fit in a
    /// segment, a snapshot need not: it is chunked), write mode (default
    /// `pwrite` + `fdatasync`), what opening does about damage (default:
    /// cut a torn tail, fail on damage to acknowledged records), background
    /// pre-zeroing, the durable-watermark interval, the file system, and a
    /// stall hook (report syncs slower than a threshold, e.g. to hold off
    /// elections while the disk stalls).
    pub log: WalOptions,
    /// Take a checkpoint once the log written since the last one exceeds
    /// both this many bytes and the size of the last checkpoint (so the cost
    /// of checkpoints stays proportional to what is written); `None` turns
    /// checkpoints off and the log grows without bound. Default 4 MiB.
    pub checkpoint_min_bytes: Option<u64>,
}

impl Default for OmniPaxosOptions {
    fn default() -> Self {
        OmniPaxosOptions {
            log: WalOptions { segment_size: 1 << 20, ..WalOptions::default() },
            checkpoint_min_bytes: Some(4 << 20),
        }
    }
}

impl OmniPaxosOptions {
    /// Tiny segments and checkpoints, no background thread: for tests and
    /// simulations on the given storage (e.g. a `MemStorage`).
    pub fn small(storage: Arc<dyn Storage>) -> Self {
        OmniPaxosOptions {
            log: WalOptions { segment_size: 16 << 10, ..WalOptions::small(storage) },
            checkpoint_min_bytes: Some(32 << 10),
        }
    }
}

/// What a checkpoint did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointInfo {
    /// The last log position it covers.
    pub position: Lsn,
    /// Bytes of the checkpoint image.
    pub bytes: usize,
    /// Log segments deleted after it.
    pub segments_removed: usize,
}

/// Counters of a store since it was opened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Calls that wrote (a `write_atomically` batch counts once).
    pub writes: u64,
    /// Calls that changed nothing, so wrote and synced nothing (an empty
    /// append, a value set to what it already was; OmniPaxos makes such
    /// calls, e.g. a follower flushing an empty batch on every flush tick).
    pub noop_writes: u64,
    /// Log records appended (a batch larger than a record takes several).
    pub records: u64,
    /// Syncs the log issued (concurrent writers of one store share them).
    pub syncs: u64,
    /// Checkpoints taken.
    pub checkpoints: u64,
    /// Automatic checkpoints that failed (the log keeps everything; see
    /// [`PaxosStore::checkpoint`] to retry and get the error).
    pub checkpoint_errors: u64,
    /// Live log segments.
    pub segments: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Default)]
struct CheckpointState {
    /// Value bytes written since the last checkpoint. At open, those that
    /// recovery replayed after the newest checkpoint: progress towards the
    /// next checkpoint survives a restart (a node killed every few hundred
    /// writes still checkpoints, so its log and open time stay bounded).
    log_bytes: u64,
    /// Size of the last checkpoint image.
    image_bytes: u64,
}

pub(crate) struct Shared<T: Entry> {
    store: AcceptorStore,
    /// Each group's state as of its last durable write: what reads return.
    groups: Mutex<HashMap<u64, GroupState<T>>>,
    open_groups: Mutex<HashSet<u64>>,
    ckpt: Mutex<CheckpointState>,
    checkpointing: AtomicBool,
    writes: AtomicU64,
    noop_writes: AtomicU64,
    checkpoints_taken: AtomicU64,
    checkpoint_errors: AtomicU64,
    opts: OmniPaxosOptions,
    dir: PathBuf,
    report: RecoveryReport,
}

/// A paxos-store directory holding the durable storage of one or more
/// OmniPaxos nodes (groups, numbered by the caller). Cheap to clone; hand
/// each node its [`OmniPaxosStorage`] with [`PaxosStore::group`]. Nodes of one
/// store share its log, so concurrent nodes share syncs (group commit).
pub struct PaxosStore<T: Entry> {
    shared: Arc<Shared<T>>,
}

impl<T: Entry> Clone for PaxosStore<T> {
    fn clone(&self) -> Self {
        PaxosStore { shared: self.shared.clone() }
    }
}

impl<T: Entry> std::fmt::Debug for PaxosStore<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaxosStore").field("dir", &self.shared.dir).finish()
    }
}

impl<T: Entry> Shared<T> {
    pub(crate) fn close_group(&self, group: u64) {
        lock(&self.open_groups).remove(&group);
    }
}

impl<T: Entry> PaxosStore<T> {
    pub(crate) fn from_shared(shared: Arc<Shared<T>>) -> Self {
        PaxosStore { shared }
    }
}

impl<T> PaxosStore<T>
where
    T: Entry + Serialize + DeserializeOwned,
{
    /// Open (or create) the store in `dir` with the default options.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(dir, OmniPaxosOptions::default())
    }

    /// Open (or create) the store in `dir` (an acceptor store: `dir/wal`,
    /// `dir/checkpoints`): the newest usable checkpoint, then every batch in
    /// the log after it. A torn tail (a batch whose sync never returned) is
    /// cut; damage to acknowledged records is an error, never silently dropped.
    pub fn open_with(dir: impl AsRef<Path>, opts: OmniPaxosOptions) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        if opts.checkpoint_min_bytes == Some(0) {
            return Err(Error::InvalidOptions("checkpoint_min_bytes must be positive".into()));
        }
        let store_opts = paxos_acceptor_store::StoreOptions {
            log: opts.log.clone(),
            // Bounded by what one record holds; a snapshot is chunked to it.
            max_value_size: usize::MAX,
            // Checkpoints are taken here, synchronously (see maybe_checkpoint),
            // by a caller that waits: at full speed.
            checkpoint_after_segments: None,
            keep_checkpoints: 2,
            checkpoint_duty_cycle: 1.0,
        };
        let (store, report) = AcceptorStore::open(&dir, store_opts)?;
        let mut groups = HashMap::new();
        for g in store.groups() {
            groups.insert(g.0, layout::rebuild(&store, g.0)?);
        }
        let image_bytes = report.snapshot.as_ref().map_or(0, |s| s.payload_len);
        // The values written since that checkpoint, as `layout::plan` counts them.
        let log_bytes = store.replayed_value_bytes();
        let shared = Shared {
            store,
            groups: Mutex::new(groups),
            open_groups: Mutex::new(HashSet::new()),
            ckpt: Mutex::new(CheckpointState { log_bytes, image_bytes }),
            checkpointing: AtomicBool::new(false),
            writes: AtomicU64::new(0),
            noop_writes: AtomicU64::new(0),
            checkpoints_taken: AtomicU64::new(0),
            checkpoint_errors: AtomicU64::new(0),
            opts,
            dir,
            report,
        };
        Ok(PaxosStore { shared: Arc::new(shared) })
    }

    /// The storage of group `group`, for one OmniPaxos node. At most one
    /// handle per group is open at a time ([`Error::GroupInUse`]).
    pub fn group(&self, group: u64) -> Result<OmniPaxosStorage<T>> {
        if !lock(&self.shared.open_groups).insert(group) {
            return Err(Error::GroupInUse(group));
        }
        lock(&self.shared.groups).entry(group).or_default();
        Ok(OmniPaxosStorage::new(self.shared.clone(), group))
    }

    /// Every group that has state in the store (or was opened), sorted.
    pub fn groups(&self) -> Vec<u64> {
        let mut v: Vec<u64> = lock(&self.shared.groups).keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// What opening found and did (checkpoint used, records replayed, a torn tail cut).
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.shared.report
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// The acceptor store underneath (for inspection).
    pub fn acceptor_store(&self) -> &AcceptorStore {
        &self.shared.store
    }

    /// Counters since open.
    pub fn stats(&self) -> StoreStats {
        self.shared.stats()
    }

    /// Take a checkpoint now (they are also taken automatically, see
    /// [`OmniPaxosOptions::checkpoint_min_bytes`]).
    pub fn checkpoint(&self) -> Result<CheckpointInfo> {
        self.shared.checkpoint()
    }
}

impl<T> Shared<T>
where
    T: Entry + Serialize + DeserializeOwned,
{
    /// Persist `ops` of `group` as one batch of the acceptor store (one
    /// sync), wait until it is durable, then apply it to the group's state.
    /// On any error nothing was applied.
    ///
    /// A batch that changes nothing (every operation a no-op on the group's
    /// state: an empty append, a value set to what it is) writes nothing and
    /// does not sync: the in-memory state only ever holds batches whose sync
    /// returned, so it already is durable, and recovery returns it. Unless
    /// the log is poisoned: a failed write's outcome on disk is unknown, so
    /// then the batch goes to the store and fails like every write.
    pub(crate) fn commit(&self, group: u64, ops: Vec<StorageOp<T>>) -> Result<()> {
        let max_value = self.store.max_value_size();
        let plan = {
            let mut groups = lock(&self.groups);
            let state = groups.entry(group).or_default();
            if !self.store.log().poisoned && ops.iter().all(|op| state.is_noop(op)) {
                self.noop_writes.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            // One handle per group, so the state cannot move before the apply below.
            layout::plan(group, state, &ops, max_value)?
        };
        if plan.ops.is_empty() {
            // Only no-ops, let through because the log is poisoned: fail as
            // every write does.
            self.store.sync()?;
        } else {
            self.store.apply_batch(&plan.ops)?;
        }
        {
            let mut groups = lock(&self.groups);
            let state = groups.entry(group).or_default();
            for op in ops {
                state.apply(op);
            }
            state.snapshot_chunks = plan.snapshot_chunks;
        }
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.maybe_checkpoint(plan.bytes);
        Ok(())
    }

    /// Read `group`'s state.
    pub(crate) fn read<R>(&self, group: u64, f: impl FnOnce(&GroupState<T>) -> R) -> R {
        let mut groups = lock(&self.groups);
        f(groups.entry(group).or_default())
    }

    fn maybe_checkpoint(&self, bytes: u64) {
        let Some(min) = self.opts.checkpoint_min_bytes else { return };
        let due = {
            let mut c = lock(&self.ckpt);
            c.log_bytes += bytes;
            c.log_bytes > min.max(c.image_bytes)
        };
        // Synchronous, in the writer that crossed the threshold (a background
        // thread would keep the store open after its last handle is dropped).
        // The write itself is already durable and applied: a failed
        // checkpoint must not turn it into an error. The log keeps
        // everything, so nothing is lost; the next write retries.
        if due && !self.checkpointing.swap(true, Ordering::AcqRel) {
            if self.checkpoint().is_err() {
                self.checkpoint_errors.fetch_add(1, Ordering::Relaxed);
            }
            self.checkpointing.store(false, Ordering::Release);
        }
    }

    fn checkpoint(&self) -> Result<CheckpointInfo> {
        // The acceptor store's checkpoint: every group's state, durably, then
        // the log before the previous checkpoint is deleted.
        let info = self.store.checkpoint()?;
        {
            let mut c = lock(&self.ckpt);
            c.image_bytes = info.bytes as u64;
            // Writes that raced with it are not counted again: the next
            // checkpoint may come a little late.
            c.log_bytes = 0;
        }
        self.checkpoints_taken.fetch_add(1, Ordering::Relaxed);
        Ok(CheckpointInfo { position: info.position, bytes: info.bytes, segments_removed: info.segments_removed })
    }

    fn stats(&self) -> StoreStats {
        let st = self.store.stats();
        StoreStats {
            writes: self.writes.load(Ordering::Relaxed),
            noop_writes: self.noop_writes.load(Ordering::Relaxed),
            records: st.records,
            syncs: st.syncs,
            checkpoints: self.checkpoints_taken.load(Ordering::Relaxed),
            checkpoint_errors: self.checkpoint_errors.load(Ordering::Relaxed),
            segments: st.segments,
        }
    }
}
