//! The store: one log and one checkpoint directory holding the storage of
//! one or more OmniPaxos nodes ("groups"), the write path, recovery and
//! checkpoints.

use crate::error::{Error, Result};
use crate::record::{self, Batch, DecodeError, Reassembler};
use crate::state::GroupState;
use crate::storage::OmniPaxosStorage;
use omnipaxos::storage::{Entry, StorageOp};
use paxos_recovery::{recover, BoxError, RecoveryOptions, RecoveryReport, StateMachine};
use paxos_snapshot::{SnapshotOptions, SnapshotStore};
use paxos_wal::storage::{FsStorage, Storage};
use paxos_wal::{CorruptionPolicy, Lsn, Record, Wal, WalOptions, WriteMode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

/// Options for [`PaxosStore::open_with`] and [`OmniPaxosStorage::open_with`].
///
/// The defaults are small, so that a process can hold tens of stores (one
/// per simulated node): 1 MiB log segments (a fresh store writes two: the
/// active one and the next one, pre-zeroed in the background) and a
/// checkpoint once 4 MiB of log has been written since the last one.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Size of each log segment (default 1 MiB; at least 8 KiB, a multiple of
    /// 4 KiB). A batch larger than a segment is split over several records.
    pub segment_size: u64,
    /// How the log writes and syncs (default `pwrite` + `fdatasync`).
    pub write_mode: WriteMode,
    /// Pre-zero the next segment on a background thread (default true).
    pub background_prepare: bool,
    /// Least time between two writes of the log's durable-watermark slot
    /// (default 5 ms; zero: after every sync, no thread). See
    /// `paxos_wal::WalOptions::watermark_interval`.
    pub watermark_interval: Duration,
    /// Take a checkpoint once the log written since the last one exceeds
    /// both this many bytes and the size of the last checkpoint (so the cost
    /// of checkpoints stays proportional to what is written); `None` turns
    /// checkpoints off and the log grows without bound. Default 4 MiB.
    pub checkpoint_min_bytes: Option<u64>,
    /// The file system (default: the real one).
    pub storage: Arc<dyn Storage>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            segment_size: 1 << 20,
            write_mode: WriteMode::Pwrite,
            background_prepare: true,
            watermark_interval: WalOptions::default().watermark_interval,
            checkpoint_min_bytes: Some(4 << 20),
            storage: FsStorage::shared(),
        }
    }
}

impl StoreOptions {
    /// Tiny segments and checkpoints, no background thread: for tests and
    /// simulations on the given storage (e.g. a `MemStorage`).
    pub fn small(storage: Arc<dyn Storage>) -> Self {
        StoreOptions {
            segment_size: 16 << 10,
            background_prepare: false,
            watermark_interval: Duration::ZERO,
            checkpoint_min_bytes: Some(32 << 10),
            storage,
            ..Default::default()
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
    /// Log records appended (a batch larger than a segment takes several).
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

const CHECKPOINT_META: &[u8] = b"paxos-store-omnipaxos-checkpoint-v1";

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Default)]
struct CheckpointState {
    /// Log bytes written since the last checkpoint.
    log_bytes: u64,
    /// Size of the last checkpoint image.
    image_bytes: u64,
}

pub(crate) struct Shared<T: Entry> {
    wal: Wal,
    checkpoints: SnapshotStore,
    groups: Mutex<HashMap<u64, GroupState<T>>>,
    open_groups: Mutex<HashSet<u64>>,
    /// Writers hold it shared from append to apply; a checkpoint takes it
    /// exclusively, so every record it covers has been applied.
    writers: RwLock<()>,
    ckpt: Mutex<CheckpointState>,
    checkpoint_lock: Mutex<()>,
    checkpointing: AtomicBool,
    writes: AtomicU64,
    noop_writes: AtomicU64,
    checkpoints_taken: AtomicU64,
    checkpoint_errors: AtomicU64,
    max_record: usize,
    opts: StoreOptions,
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

/// Rebuilds every group from the newest usable checkpoint and the log.
struct Rebuild<T: Entry> {
    groups: HashMap<u64, GroupState<T>>,
    reasm: Reassembler,
    ckpt: CheckpointState,
}

impl<T> StateMachine for Rebuild<T>
where
    T: Entry + DeserializeOwned,
{
    fn restore(&mut self, _position: Lsn, metadata: &[u8], payload: &mut dyn Read) -> Result<(), BoxError> {
        if metadata != CHECKPOINT_META {
            return Err(Box::new(DecodeError("not a checkpoint of this adapter")));
        }
        let mut image = Vec::new();
        payload.read_to_end(&mut image)?;
        self.groups = decode_image(&image)?;
        self.reasm.reset();
        self.ckpt = CheckpointState { log_bytes: 0, image_bytes: image.len() as u64 };
        Ok(())
    }

    fn apply(&mut self, record: &Record) -> Result<(), BoxError> {
        self.ckpt.log_bytes += record.len() as u64;
        let (group, ops) = match self.reasm.push(record)? {
            None => return Ok(()),
            Some(Batch::Whole(g, body)) => (g, record::decode_ops::<T>(body)?),
            Some(Batch::Joined(g, body)) => (g, record::decode_ops::<T>(&body)?),
        };
        let state = self.groups.entry(group).or_default();
        for op in ops {
            state.apply(op);
        }
        Ok(())
    }
}

/// A checkpoint image: a format version, then every group's state.
#[derive(Serialize)]
#[serde(bound(serialize = "T: Serialize"))]
struct ImageRef<'a, T: Entry> {
    version: u32,
    groups: Vec<(u64, &'a GroupState<T>)>,
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
struct Image<T: Entry> {
    version: u32,
    groups: Vec<(u64, GroupState<T>)>,
}

fn decode_image<T: Entry + DeserializeOwned>(bytes: &[u8]) -> Result<HashMap<u64, GroupState<T>>, DecodeError> {
    let (image, rest): (Image<T>, &[u8]) =
        postcard::take_from_bytes(bytes).map_err(|_| DecodeError("checkpoint image does not deserialise"))?;
    if image.version != 1 || !rest.is_empty() {
        return Err(DecodeError("unknown checkpoint version or trailing bytes"));
    }
    Ok(image.groups.into_iter().collect())
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
        Self::open_with(dir, StoreOptions::default())
    }

    /// Open (or create) the store in `dir` (`dir/wal`, `dir/checkpoints`):
    /// the newest usable checkpoint, then every batch in the log after it.
    /// A torn tail (a batch whose sync never returned) is cut; damage to
    /// acknowledged records is an error, never silently dropped.
    pub fn open_with(dir: impl AsRef<Path>, opts: StoreOptions) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        if opts.checkpoint_min_bytes == Some(0) {
            return Err(Error::InvalidOptions("checkpoint_min_bytes must be positive".into()));
        }
        let wal_opts = WalOptions {
            segment_size: opts.segment_size,
            write_mode: opts.write_mode,
            policy: CorruptionPolicy::TolerateTornTail,
            background_prepare: opts.background_prepare,
            max_record_size: None,
            watermark_interval: opts.watermark_interval,
            storage: opts.storage.clone(),
        };
        let snap_opts = SnapshotOptions { keep: 2, storage: opts.storage.clone() };
        let mut sm =
            Rebuild { groups: HashMap::new(), reasm: Reassembler::default(), ckpt: CheckpointState::default() };
        let rec = recover(
            dir.join("wal"),
            dir.join("checkpoints"),
            RecoveryOptions { wal: wal_opts, snapshots: snap_opts },
            &mut sm,
        )
        .map_err(|source| Error::Recovery { dir: dir.clone(), source })?;
        let max_record = rec.wal.max_record_size();
        if max_record <= record::HEADER_LEN {
            return Err(Error::InvalidOptions("segment_size leaves no room for a record".into()));
        }
        let shared = Shared {
            wal: rec.wal,
            checkpoints: rec.snapshots,
            groups: Mutex::new(sm.groups),
            open_groups: Mutex::new(HashSet::new()),
            writers: RwLock::new(()),
            ckpt: Mutex::new(sm.ckpt),
            checkpoint_lock: Mutex::new(()),
            checkpointing: AtomicBool::new(false),
            writes: AtomicU64::new(0),
            noop_writes: AtomicU64::new(0),
            checkpoints_taken: AtomicU64::new(0),
            checkpoint_errors: AtomicU64::new(0),
            max_record,
            opts,
            dir,
            report: rec.report,
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

    /// Every group that has state in the store, sorted.
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

    /// Counters since open.
    pub fn stats(&self) -> StoreStats {
        self.shared.stats()
    }

    /// Take a checkpoint now (they are also taken automatically, see
    /// [`StoreOptions::checkpoint_min_bytes`]).
    pub fn checkpoint(&self) -> Result<CheckpointInfo> {
        self.shared.checkpoint()
    }
}

impl<T> Shared<T>
where
    T: Entry + Serialize + DeserializeOwned,
{
    /// Persist `ops` of `group` as one batch, wait until it is durable, then
    /// apply it. On any error nothing was applied.
    ///
    /// A batch that changes nothing (every operation a no-op on the group's
    /// state: an empty append, a value set to what it is) writes nothing and
    /// does not sync: the in-memory state only ever holds batches whose sync
    /// returned, so it already is durable, and recovery returns it. Unless
    /// the log is poisoned: a failed write's outcome on disk is unknown, so
    /// then the batch goes to the log and fails like every write.
    pub(crate) fn commit(&self, group: u64, ops: Vec<StorageOp<T>>) -> Result<()> {
        if !self.wal.is_poisoned() && self.read(group, |s| ops.iter().all(|op| s.is_noop(op))) {
            self.noop_writes.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let records = record::encode(group, &ops, self.max_record)?;
        let bytes: u64 = records.iter().map(|r| r.len() as u64).sum();
        {
            let _writing = self.writers.read().unwrap_or_else(|e| e.into_inner());
            let lsns = self.wal.append_batch(records.iter().map(|r| r.as_slice()))?;
            self.wal.wait_durable(lsns.end - 1)?;
            let mut groups = lock(&self.groups);
            let state = groups.entry(group).or_default();
            for op in ops {
                state.apply(op);
            }
        }
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.maybe_checkpoint(bytes);
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
        let _one_at_a_time = lock(&self.checkpoint_lock);
        let (image, position) = {
            // No write is between append and apply while this is held.
            let _quiet = self.writers.write().unwrap_or_else(|e| e.into_inner());
            let position = self.wal.last_lsn();
            self.wal.wait_durable(position)?;
            let groups = lock(&self.groups);
            let mut list: Vec<(u64, &GroupState<T>)> = groups.iter().map(|(g, s)| (*g, s)).collect();
            list.sort_unstable_by_key(|(g, _)| *g);
            let image = postcard::to_allocvec(&ImageRef { version: 1, groups: list }).map_err(Error::Encode)?;
            (image, position)
        };
        self.checkpoints.write(position, CHECKPOINT_META, &image)?;
        {
            let mut c = lock(&self.ckpt);
            c.image_bytes = image.len() as u64;
            // Writes after `position` (possible with concurrent groups) are
            // not counted again: the next checkpoint may come a little late.
            c.log_bytes = 0;
        }
        // Keep the log back to the previous checkpoint, so a damaged newest
        // checkpoint can fall back to it.
        let segments_removed = match self.checkpoints.list()?.get(1) {
            Some(older) => self.wal.truncate_prefix(older.position + 1)?,
            None => 0,
        };
        self.checkpoints_taken.fetch_add(1, Ordering::Relaxed);
        Ok(CheckpointInfo { position, bytes: image.len(), segments_removed })
    }

    fn stats(&self) -> StoreStats {
        let w = self.wal.stats();
        StoreStats {
            writes: self.writes.load(Ordering::Relaxed),
            noop_writes: self.noop_writes.load(Ordering::Relaxed),
            records: w.appends,
            syncs: w.syncs,
            checkpoints: self.checkpoints_taken.load(Ordering::Relaxed),
            checkpoint_errors: self.checkpoint_errors.load(Ordering::Relaxed),
            segments: self.wal.segment_count(),
        }
    }
}
