//! The store: acceptor rules checked in log order, persisted atomically,
//! durable before the call returns.

use crate::checkpoint;
use crate::codec::{
    decode, expand, flags, put_body, Kind, RecordBuilder, StoredOp, CONTINUATION, CONTINUES, OP_HEADER_LEN,
};
use crate::error::{Result, StoreError};
use crate::state::{Group, Groups, SlotEntry, Undo, ValueLoc, ALL_GROUPS};
use crate::types::{AcceptOutcome, AcceptedEntry, Ballot, GroupId, Op, Outcome, PromiseOutcome, Slot, SlotRead};
use crate::value::Value;
use paxos_recovery::{recover, BoxError, RecoveryOptions, RecoveryReport, StateMachine};
use paxos_snapshot::{SnapshotOptions, SnapshotStore};
use paxos_wal::format::MANIFEST_FILE;
use paxos_wal::storage::{FsStorage, OpenOptions, Storage};
use paxos_wal::{CorruptionPolicy, Lsn, Record, StallHook, Wal, WalOptions, WalStats, WriteMode};
use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Options for [`AcceptorStore::open`].
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Size of each log segment (default 64 MiB).
    pub segment_size: u64,
    /// How the log writes and syncs (default `pwrite` + `fdatasync`).
    pub write_mode: WriteMode,
    /// What opening does about damaged records (default: cut a torn tail,
    /// fail on damage to acknowledged records).
    pub policy: CorruptionPolicy,
    /// Largest value accepted (default 1 MiB, at most what a segment holds).
    pub max_value_size: usize,
    /// Take a checkpoint (in the background) once the log holds more than
    /// this many segments; `None` turns automatic checkpoints off.
    pub checkpoint_after_segments: Option<usize>,
    /// Checkpoints kept (default 2: the log is kept back to the older one,
    /// so a damaged newest checkpoint can fall back to it).
    pub keep_checkpoints: usize,
    /// Pre-zero the next segment on a background thread (default true).
    pub background_prepare: bool,
    /// Least time between two writes of the log's durable-watermark slot
    /// (default 5 ms; zero: after every sync, no thread). See
    /// `paxos_wal::WalOptions::watermark_interval`.
    pub watermark_interval: Duration,
    /// The file system (default: the real one).
    pub storage: Arc<dyn Storage>,
    /// Report log syncs slower than a threshold (default none): a consensus
    /// library can hold off elections while the disk stalls. See
    /// [`StallHook`]; [`StoreStats::wal`] counts them (`slow_syncs`).
    pub stall: Option<StallHook>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            segment_size: 64 << 20,
            write_mode: WriteMode::Pwrite,
            policy: CorruptionPolicy::TolerateTornTail,
            max_value_size: 1 << 20,
            checkpoint_after_segments: Some(4),
            keep_checkpoints: 2,
            background_prepare: true,
            watermark_interval: WalOptions::default().watermark_interval,
            storage: FsStorage::shared(),
            stall: None,
        }
    }
}

impl StoreOptions {
    /// Small segments, no background threads: for tests and simulations on
    /// the given storage.
    pub fn small(storage: Arc<dyn Storage>) -> Self {
        StoreOptions {
            segment_size: 64 << 10,
            max_value_size: 16 << 10,
            checkpoint_after_segments: None,
            background_prepare: false,
            watermark_interval: Duration::ZERO,
            storage,
            ..Default::default()
        }
    }
}

/// What a checkpoint did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointInfo {
    /// The last LSN it covers.
    pub position: Lsn,
    /// Groups in it.
    pub groups: usize,
    /// Bytes of the image.
    pub bytes: usize,
    /// Log segments deleted after it.
    pub segments_removed: usize,
}

/// Counters of the store since it was opened ([`AcceptorStore::stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Operations that wrote a record.
    pub writes: u64,
    /// Log records appended (a batch is one record).
    pub records: u64,
    /// Syncs the log issued (group commit shares them).
    pub syncs: u64,
    /// Checkpoints taken.
    pub checkpoints: u64,
    /// Live log segments.
    pub segments: usize,
    /// How long the last checkpoint took (zero before the first), from the
    /// image's encoding to the log's truncation.
    pub checkpoint_last_duration: Duration,
    /// How long all checkpoints took.
    pub checkpoint_total_duration: Duration,
    /// Bytes of the last checkpoint's image (zero before the first).
    pub checkpoint_last_bytes: u64,
    /// Bytes of all checkpoint images written.
    pub checkpoint_total_bytes: u64,
    /// The log's own counters: the fsync latency histogram, bytes written,
    /// records per sync, slow syncs, how long it has been poisoned.
    pub wal: WalStats,
}

/// A read-only view of the store's log ([`AcceptorStore::log`]). Each field
/// is read on its own, so with concurrent writers they may be from slightly
/// different moments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogInfo {
    /// The first LSN still in the log (older segments go after checkpoints).
    pub first_lsn: Lsn,
    /// The last LSN appended, maybe not durable yet (`first_lsn - 1`: none).
    pub last_lsn: Lsn,
    /// Every record up to this LSN is durable.
    pub durable_lsn: Lsn,
    /// Live log segments.
    pub segments: usize,
    /// A sync failed: nothing more is written until the store is reopened.
    pub poisoned: bool,
}

struct Inner {
    groups: Groups,
    /// Acknowledged records were lost (found under `Salvage`).
    damaged: bool,
    /// The log and the in-memory state no longer agree (an internal
    /// invariant broke): every later write is refused until a reopen.
    broken: bool,
    /// Groups a value of which failed its check when read (see
    /// [`StoreError::DamagedValue`]); they refuse to vote until repaired.
    /// Shared with [`Shared::damaged_values`], which marks them from `resolve`
    /// (called with or without this struct locked). Lock order: `inner`, then this.
    damaged_values: Arc<Mutex<HashSet<GroupId>>>,
}

pub(crate) struct Shared {
    pub(crate) wal: Wal,
    /// The same set as `Inner::damaged_values`.
    damaged_values: Arc<Mutex<HashSet<GroupId>>>,
    snapshots: SnapshotStore,
    inner: Mutex<Inner>,
    opts: StoreOptions,
    max_value: usize,
    checkpoint_lock: Mutex<()>,
    checkpoint_running: AtomicBool,
    /// The oldest log record each phase-1b reply still has to read (see
    /// [`LogPin`]): a checkpoint keeps those records in the log.
    pins: Mutex<Vec<Lsn>>,
    writes: AtomicU64,
    records: AtomicU64,
    checkpoints: AtomicU64,
    /// Of the last checkpoint and of all: nanoseconds, bytes.
    checkpoint_last_ns: AtomicU64,
    checkpoint_total_ns: AtomicU64,
    checkpoint_last_bytes: AtomicU64,
    checkpoint_total_bytes: AtomicU64,
    /// [`AcceptorStore::replayed_value_bytes`].
    replayed_value_bytes: u64,
    dir: PathBuf,
    pub(crate) flusher: crate::submit::Flusher,
    pub(crate) apps: crate::app_snapshot::AppSnapshots,
}

/// Durable Paxos acceptor state for many groups. Cheap to clone; share it
/// between threads. See the crate documentation.
#[derive(Clone)]
pub struct AcceptorStore {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for AcceptorStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcceptorStore").field("dir", &self.shared.dir).finish()
    }
}

/// Rebuilds the groups from a checkpoint and the log.
#[derive(Default)]
struct Rebuild {
    groups: Groups,
    /// The operations of a batch cut over several records, until its last
    /// record.
    pending: Vec<(StoredOp, Lsn)>,
    /// While such a batch is open: the LSN its next record must have.
    pending_next: Option<Lsn>,
    /// Bytes of values in `pending`.
    pending_value_bytes: u64,
    /// Bytes of values in the batches applied after the checkpoint restored
    /// (see [`AcceptorStore::replayed_value_bytes`]).
    value_bytes: u64,
}

impl StateMachine for Rebuild {
    fn restore(&mut self, _position: Lsn, _metadata: &[u8], payload: &mut dyn Read) -> Result<(), BoxError> {
        let mut image = Vec::new();
        payload.read_to_end(&mut image)?;
        self.groups = checkpoint::decode(Arc::new(image))?;
        self.pending.clear();
        self.pending_next = None;
        self.pending_value_bytes = 0;
        self.value_bytes = 0;
        Ok(())
    }

    fn apply(&mut self, record: &Record) -> Result<(), BoxError> {
        let ops = decode(record)?;
        let f = flags(record);
        let lsn = record.lsn();
        let next = self.pending_next.take();
        if f & CONTINUATION == 0 {
            // A new batch: an unfinished one before it was never acknowledged
            // (its last record was never written).
            self.pending.clear();
            self.pending_value_bytes = 0;
        } else if next != Some(lsn) {
            // The start of this batch, or a record inside it, is not in the
            // log (only damage can do that, which the log reports under
            // Salvage): never apply part of a batch.
            self.pending.clear();
            self.pending_value_bytes = 0;
            return Ok(());
        }
        // A value's bytes as written (a put: its values, each with its
        // 4-byte length), before a put is expanded into its slots.
        self.pending_value_bytes += ops.iter().map(|op| u64::from(op.value.1)).sum::<u64>();
        let ops = ops.iter().flat_map(|op| expand(op, record));
        if f & CONTINUES != 0 {
            self.pending.extend(ops.map(|op| (op, lsn)));
            self.pending_next = Some(lsn + 1);
            return Ok(());
        }
        self.value_bytes += std::mem::take(&mut self.pending_value_bytes);
        for (op, at) in self.pending.drain(..) {
            self.groups.apply(&op, at, None);
        }
        for op in ops {
            self.groups.apply(&op, lsn, None);
        }
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

const CHECKPOINT_META: &[u8] = b"paxos-acceptor-checkpoint-v1";

/// A file in the store's directory that says a store lives here, written
/// (and its directory synced) the first time the store is opened.
const STORE_MARKER: &str = "STORE";

fn exists(storage: &dyn Storage, path: &Path) -> Result<bool> {
    match storage.open(path, OpenOptions::existing()) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(paxos_wal::Error::io("looking for", path, e).into()),
    }
}

fn write_marker(storage: &dyn Storage, dir: &Path, marker: &Path) -> Result<()> {
    let run = || -> std::io::Result<()> {
        let file = storage.open(marker, OpenOptions::create())?;
        file.write_all_at(b"paxos-acceptor-store 1\n", 0)?;
        file.sync_all()
    };
    run().map_err(|e| paxos_wal::Error::io("writing store marker", marker, e))?;
    storage.sync_dir(dir).map_err(|e| paxos_wal::Error::io("syncing directory", dir, e).into())
}

const BROKEN: &str = "the log got a record the store did not write; reopen the store";

/// An operation whose value is borrowed from the caller. `RepairAll` marks
/// every group repaired: it is written as a `Repair` naming [`ALL_GROUPS`],
/// which no real group can be (every other operation naming it is refused).
#[derive(Clone, Copy, Debug)]
pub(crate) enum OpRef<'a> {
    Promise { group: GroupId, ballot: Ballot, from_slot: Slot },
    Accept { group: GroupId, slot: Slot, ballot: Ballot, value: &'a [u8] },
    Chosen { group: GroupId, slot: Slot },
    Truncate { group: GroupId, slot: Slot },
    Remove { group: GroupId },
    Repair { group: GroupId },
    RepairAll,
    Put { group: GroupId, from: Slot, ballot: Ballot, values: &'a [Vec<u8>] },
    DropFrom { group: GroupId, slot: Slot },
    Meta { group: GroupId, key: u64, value: &'a [u8] },
}

impl OpRef<'_> {
    fn group(&self) -> GroupId {
        match *self {
            OpRef::Promise { group, .. }
            | OpRef::Accept { group, .. }
            | OpRef::Chosen { group, .. }
            | OpRef::Truncate { group, .. }
            | OpRef::Remove { group }
            | OpRef::Repair { group }
            | OpRef::Put { group, .. }
            | OpRef::DropFrom { group, .. }
            | OpRef::Meta { group, .. } => group,
            OpRef::RepairAll => ALL_GROUPS,
        }
    }

    /// Promises and accepts are votes: a group that needs repair refuses them.
    fn votes(&self) -> bool {
        matches!(self, OpRef::Promise { .. } | OpRef::Accept { .. })
    }
}

/// A decided reply waiting for the durability it depends on.
pub(crate) struct Pending {
    pub outcomes: Vec<Outcome>,
    /// Every record the replies depend on is at or below this LSN.
    pub wait_for: Lsn,
}

/// Keeps log records at or after `lsn` from being deleted while a reply
/// reads values from them outside the store lock. Taken under the store
/// lock, in the same critical section that saw the values' locations, so a
/// checkpoint that deletes log segments afterwards sees it (see
/// [`AcceptorStore::checkpoint`]); released when dropped.
struct LogPin<'a> {
    pins: &'a Mutex<Vec<Lsn>>,
    lsn: Lsn,
}

impl<'a> LogPin<'a> {
    fn new(pins: &'a Mutex<Vec<Lsn>>, lsn: Lsn) -> Self {
        lock(pins).push(lsn);
        LogPin { pins, lsn }
    }
}

impl Drop for LogPin<'_> {
    fn drop(&mut self) {
        let mut pins = lock(self.pins);
        if let Some(i) = pins.iter().position(|&p| p == self.lsn) {
            pins.swap_remove(i);
        }
    }
}

impl Shared {
    /// The error for a value of `group` the log could not return; damage
    /// (not, say, a failed write-out) marks the group as needing repair.
    fn value_error(&self, group: GroupId, source: paxos_wal::Error) -> StoreError {
        if !source.is_damage() {
            return source.into();
        }
        lock(&self.damaged_values).insert(group);
        StoreError::DamagedValue { group, source }
    }
}

impl AcceptorStore {
    /// Open (or create) the store in `dir` (`dir/wal`, `dir/checkpoints`),
    /// recovering from the newest usable checkpoint and the log after it.
    pub fn open(dir: impl AsRef<Path>, opts: StoreOptions) -> Result<(AcceptorStore, RecoveryReport)> {
        let dir = dir.as_ref().to_path_buf();
        let wal_opts = WalOptions {
            segment_size: opts.segment_size,
            write_mode: opts.write_mode,
            policy: opts.policy,
            background_prepare: opts.background_prepare,
            max_record_size: None,
            watermark_interval: opts.watermark_interval,
            storage: opts.storage.clone(),
            stall: opts.stall.clone(),
        };
        let snap_opts = SnapshotOptions { keep: opts.keep_checkpoints.max(1), storage: opts.storage.clone() };
        // Once a store lived here, a missing log is a lost one (fault case
        // 15): check before recovery, which would create a new, empty log.
        let marker = dir.join(STORE_MARKER);
        let had_marker = exists(&*opts.storage, &marker)?;
        if had_marker && !exists(&*opts.storage, &dir.join("wal").join(MANIFEST_FILE))? {
            return Err(StoreError::LogLost { dir });
        }
        let mut sm = Rebuild::default();
        let rec = recover(
            dir.join("wal"),
            dir.join("checkpoints"),
            RecoveryOptions { wal: wal_opts, snapshots: snap_opts },
            &mut sm,
        )?;
        if !had_marker {
            write_marker(&*opts.storage, &dir, &marker)?;
        }
        let damaged = rec.report.damage.iter().any(|d| d.lsns.is_some());
        // Headers of one record holding one accept: 8 + 48 bytes.
        let max_value = opts.max_value_size.min(rec.wal.max_record_size().saturating_sub(56));
        let damaged_values = Arc::new(Mutex::new(HashSet::new()));
        let shared = Shared {
            wal: rec.wal,
            damaged_values: damaged_values.clone(),
            snapshots: rec.snapshots,
            inner: Mutex::new(Inner { groups: sm.groups, damaged, broken: false, damaged_values }),
            max_value,
            opts,
            checkpoint_lock: Mutex::new(()),
            checkpoint_running: AtomicBool::new(false),
            pins: Mutex::new(Vec::new()),
            writes: AtomicU64::new(0),
            records: AtomicU64::new(0),
            checkpoints: AtomicU64::new(0),
            checkpoint_last_ns: AtomicU64::new(0),
            checkpoint_total_ns: AtomicU64::new(0),
            checkpoint_last_bytes: AtomicU64::new(0),
            checkpoint_total_bytes: AtomicU64::new(0),
            replayed_value_bytes: sm.value_bytes,
            flusher: crate::submit::Flusher::new(),
            apps: crate::app_snapshot::AppSnapshots::new(dir.join("apps")),
            dir,
        };
        Ok((AcceptorStore { shared: Arc::new(shared) }, rec.report))
    }

    /// Bytes of values (of accepts, of puts with each value's 4-byte length,
    /// of metadata) in the batches that opening replayed from the log after
    /// the checkpoint it recovered from (all of the log's when there was
    /// none): roughly what was written since the newest checkpoint. Fixed
    /// at open. A checkpoint policy that counts bytes written since the last
    /// checkpoint starts from this, so its progress survives a restart.
    pub fn replayed_value_bytes(&self) -> u64 {
        self.shared.replayed_value_bytes
    }

    /// The largest value [`AcceptorStore::accept`] takes.
    pub fn max_value_size(&self) -> usize {
        self.shared.max_value
    }

    /// Promise `ballot` in `group` (phase 1b). Granted if `ballot` is at
    /// least the promised one (equal: an idempotent retry, nothing written);
    /// the reply carries every accepted slot at or after `from_slot`. The
    /// promise is durable before this returns. A rejection writes nothing,
    /// but waits until the promise it reports is durable.
    pub fn promise(&self, group: GroupId, ballot: Ballot, from_slot: Slot) -> Result<PromiseOutcome> {
        match self.execute_one(Op::Promise { group, ballot, from_slot })? {
            Outcome::Promise(p) => Ok(p),
            other => unreachable!("a promise answered {other:?}"),
        }
    }

    /// Accept `value` for `slot` at `ballot` (phase 2b), if no higher ballot
    /// was promised and the slot is not truncated. Durable before this returns.
    pub fn accept(&self, group: GroupId, slot: Slot, ballot: Ballot, value: &[u8]) -> Result<AcceptOutcome> {
        self.check_value(value)?;
        let pending = self.decide(&[OpRef::Accept { group, slot, ballot, value }])?;
        match self.wait(pending)?.pop() {
            Some(Outcome::Accept(a)) => Ok(a),
            other => unreachable!("an accept answered {other:?}"),
        }
    }

    /// Record that `slot`'s value is chosen. Durability is lazy: the mark is
    /// carried by the next sync (a chosen value can always be re-learned from
    /// the other acceptors), so this does not wait. A slot with nothing
    /// accepted here is left alone.
    pub fn mark_chosen(&self, group: GroupId, slot: Slot) -> Result<()> {
        self.decide(&[OpRef::Chosen { group, slot }]).map(|_| ())
    }

    /// Drop every slot below `slot` (the application has a snapshot through
    /// `slot - 1`). Durable before this returns: truncated slots are never
    /// returned again, and recovery never resurrects them.
    pub fn truncate_below(&self, group: GroupId, slot: Slot) -> Result<()> {
        self.execute_one(Op::TruncateBelow { group, slot }).map(|_| ())
    }

    /// Forget a finished group entirely (as LWT systems expire their Paxos
    /// state). A later promise on the same id starts from nothing: only remove
    /// groups no proposer will use again.
    pub fn remove_group(&self, group: GroupId) -> Result<()> {
        self.execute_one(Op::RemoveGroup { group }).map(|_| ())
    }

    /// Apply many operations as one atomic step with one sync: the rules are
    /// checked in order (each operation sees the ones before it), every write
    /// goes into one log record, so after a crash either all of them are
    /// there or none. Returns each operation's outcome, in order.
    pub fn apply_batch(&self, ops: &[Op]) -> Result<Vec<Outcome>> {
        let pending = self.decide_ops(ops)?;
        self.wait(pending)
    }

    /// After damage was found under `Salvage`, every group refuses to vote
    /// ([`StoreError::NeedsRepair`]). Once the node has re-learned `group`'s
    /// state from its peers (or installed a snapshot), this lets it vote again.
    /// Durable before it returns. The reserved id `GroupId(u64::MAX)` is
    /// refused ([`StoreError::ReservedGroup`]): use
    /// [`AcceptorStore::repair_all`] to repair every group.
    pub fn repair_group(&self, group: GroupId) -> Result<()> {
        let pending = self.decide(&[OpRef::Repair { group }])?;
        self.wait(pending)?;
        // A value found damaged while running: the node has re-learned the
        // group (the damaged record stays in the log until a checkpoint or a
        // new accept replaces what pointed at it; reading it again marks the
        // group again).
        lock(&self.shared.damaged_values).remove(&group);
        Ok(())
    }

    /// Like [`AcceptorStore::repair_group`] for every group at once (the
    /// only way to mark every group repaired).
    pub fn repair_all(&self) -> Result<()> {
        let pending = self.decide(&[OpRef::RepairAll])?;
        self.wait(pending)?;
        lock(&self.shared.damaged_values).clear();
        Ok(())
    }

    /// Whether `group` must not vote until repaired. (The reserved id
    /// `GroupId(u64::MAX)` never votes: every call naming it is refused.)
    pub fn needs_repair(&self, group: GroupId) -> bool {
        let inner = lock(&self.shared.inner);
        Self::blocked(&inner, group)
    }

    fn blocked(inner: &Inner, group: GroupId) -> bool {
        (inner.damaged && !inner.groups.repaired_all && !inner.groups.repaired.contains(&group))
            || lock(&inner.damaged_values).contains(&group)
    }

    /// Make everything written so far durable (including lazy chosen marks).
    pub fn sync(&self) -> Result<()> {
        self.shared.wal.sync().map_err(Into::into)
    }

    /// Close the store cleanly: wait for a checkpoint in progress, then make
    /// everything written durable, with the log's durable watermark
    /// (`paxos_wal::Wal::sync_watermark`), so that damage found later in the
    /// last records is reported as corruption, never taken for a torn tail.
    /// Dropping the store is always safe too (it looks like a crash to the
    /// disk). Clones of this store (and a background checkpoint that is just
    /// ending) keep the directory locked until they are dropped.
    pub fn close(self) -> Result<()> {
        let _no_checkpoint = lock(&self.shared.checkpoint_lock);
        self.shared.wal.sync_watermark().map_err(Into::into)
    }

    /// The ballot promised in `group` (`None`: the group is unknown).
    ///
    /// Like every read ([`AcceptorStore::accepted`],
    /// [`AcceptorStore::accepted_from`], [`AcceptorStore::first_live_slot`],
    /// [`AcceptorStore::metadata`], [`AcceptorStore::groups`]) this **may
    /// show state that is not durable yet**: it reflects every operation
    /// that has *started*, including one whose record a crash can still take
    /// back. A reply to a peer built on a read must first call
    /// [`AcceptorStore::sync`]; the operations ([`AcceptorStore::promise`],
    /// [`AcceptorStore::accept`], ...) wait by themselves.
    pub fn promised(&self, group: GroupId) -> Option<Ballot> {
        lock(&self.shared.inner).groups.map.get(&group).map(|g| g.promised)
    }

    /// The first live (not truncated) slot of `group`. May show a
    /// truncation that is not durable yet (see [`AcceptorStore::promised`]).
    pub fn first_live_slot(&self, group: GroupId) -> Option<Slot> {
        lock(&self.shared.inner).groups.map.get(&group).map(|g| g.first_live)
    }

    /// What `slot` of `group` holds; the value is read zero-copy. May show
    /// state that is not durable yet (see [`AcceptorStore::promised`]).
    pub fn accepted(&self, group: GroupId, slot: Slot) -> Result<SlotRead> {
        let inner = lock(&self.shared.inner);
        let Some(g) = inner.groups.map.get(&group) else { return Ok(SlotRead::Empty) };
        if slot < g.first_live {
            return Ok(SlotRead::Truncated { first_live_slot: g.first_live });
        }
        match g.find(slot) {
            Ok(i) => {
                let e = &g.slots[i];
                let value = self.resolve(group, &e.value)?;
                Ok(SlotRead::Accepted { ballot: e.ballot, value, chosen: e.chosen })
            }
            Err(_) => Ok(SlotRead::Empty),
        }
    }

    /// Every accepted slot of `group` at or after `from`, in slot order.
    /// May show state that is not durable yet (see [`AcceptorStore::promised`]).
    pub fn accepted_from(&self, group: GroupId, from: Slot) -> Result<Vec<AcceptedEntry>> {
        let inner = lock(&self.shared.inner);
        match inner.groups.map.get(&group) {
            Some(g) => self.entries(group, g, from),
            None => Ok(Vec::new()),
        }
    }

    /// Every accepted slot of `group` in `from..to`, in slot order (a
    /// range read: one lock, values zero-copy). May show state that is not
    /// durable yet (see [`AcceptorStore::promised`]).
    pub fn accepted_range(&self, group: GroupId, from: Slot, to: Slot) -> Result<Vec<AcceptedEntry>> {
        let inner = lock(&self.shared.inner);
        let Some(g) = inner.groups.map.get(&group) else { return Ok(Vec::new()) };
        let (a, b) = (g.index_at_or_after(from), g.index_at_or_after(to));
        g.slots[a..b.max(a)].iter().map(|e| self.entry(group, e)).collect()
    }

    /// The highest accepted slot of `group` (`None`: none, or the group is
    /// unknown). May show state that is not durable yet (see
    /// [`AcceptorStore::promised`]).
    pub fn last_accepted_slot(&self, group: GroupId) -> Option<Slot> {
        lock(&self.shared.inner).groups.map.get(&group).and_then(|g| g.slots.last().map(|e| e.slot))
    }

    /// The raw metadata of `group` ([`Op::SetMeta`]): every key set, with
    /// its value, sorted by key (empty for an unknown group). May show state
    /// that is not durable yet (see [`AcceptorStore::promised`]).
    pub fn metadata(&self, group: GroupId) -> Result<Vec<(u64, Value)>> {
        let inner = lock(&self.shared.inner);
        let Some(g) = inner.groups.map.get(&group) else { return Ok(Vec::new()) };
        g.meta().iter().map(|(k, loc)| Ok((*k, self.resolve(group, loc)?))).collect()
    }

    /// Every known group, sorted. May list a group whose creation, or leave
    /// out one whose removal, is not durable yet (see
    /// [`AcceptorStore::promised`]).
    pub fn groups(&self) -> Vec<GroupId> {
        let mut v: Vec<GroupId> = lock(&self.shared.inner).groups.map.keys().copied().collect();
        v.sort();
        v
    }

    /// Counters since open.
    pub fn stats(&self) -> StoreStats {
        let s = &self.shared;
        let wal = s.wal.stats();
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StoreStats {
            writes: g(&s.writes),
            records: g(&s.records),
            syncs: wal.syncs,
            checkpoints: g(&s.checkpoints),
            segments: s.wal.segment_count(),
            checkpoint_last_duration: Duration::from_nanos(g(&s.checkpoint_last_ns)),
            checkpoint_total_duration: Duration::from_nanos(g(&s.checkpoint_total_ns)),
            checkpoint_last_bytes: g(&s.checkpoint_last_bytes),
            checkpoint_total_bytes: g(&s.checkpoint_total_bytes),
            wal,
        }
    }

    /// A read-only view of the underlying log (LSNs, segments, poisoned).
    /// The log itself is not handed out: the store must stay its only
    /// writer, so nothing outside the store can append to it.
    ///
    /// ```compile_fail
    /// # fn f(store: &paxos_acceptor_store::AcceptorStore) {
    /// store.wal().append(b"not a store record");
    /// # }
    /// ```
    pub fn log(&self) -> LogInfo {
        let wal = &self.shared.wal;
        LogInfo {
            first_lsn: wal.first_lsn(),
            last_lsn: wal.last_lsn(),
            durable_lsn: wal.durable_lsn(),
            segments: wal.segment_count(),
            poisoned: wal.is_poisoned(),
        }
    }

    /// The value at `loc`, verified by the log. A damaged one marks `group`
    /// as needing repair and is [`StoreError::DamagedValue`].
    fn resolve(&self, group: GroupId, loc: &ValueLoc) -> Result<Value> {
        match Value::try_resolve(loc, &self.shared.wal) {
            Ok(v) => v.ok_or(StoreError::MissingValue { group }),
            Err(source) => Err(self.shared.value_error(group, source)),
        }
    }

    fn entries(&self, group: GroupId, g: &Group, from: Slot) -> Result<Vec<AcceptedEntry>> {
        g.slots[g.index_at_or_after(from)..].iter().map(|e| self.entry(group, e)).collect()
    }

    fn entry(&self, group: GroupId, e: &SlotEntry) -> Result<AcceptedEntry> {
        Ok(AcceptedEntry { slot: e.slot, ballot: e.ballot, value: self.resolve(group, &e.value)?, chosen: e.chosen })
    }

    pub(crate) fn storage(&self) -> &Arc<dyn Storage> {
        &self.shared.opts.storage
    }

    fn check_value(&self, value: &[u8]) -> Result<()> {
        self.check_value_len(value.len())
    }

    fn check_value_len(&self, len: usize) -> Result<()> {
        if len > self.shared.max_value {
            return Err(StoreError::ValueTooLarge { len, max: self.shared.max_value });
        }
        Ok(())
    }

    fn execute_one(&self, op: Op) -> Result<Outcome> {
        let pending = self.decide_ops(std::slice::from_ref(&op))?;
        Ok(self.wait(pending)?.pop().expect("one outcome per operation"))
    }

    pub(crate) fn decide_ops(&self, ops: &[Op]) -> Result<Pending> {
        let refs: Vec<OpRef<'_>> = ops
            .iter()
            .map(|op| {
                Ok(match op {
                    Op::Promise { group, ballot, from_slot } => {
                        OpRef::Promise { group: *group, ballot: *ballot, from_slot: *from_slot }
                    }
                    Op::Accept { group, slot, ballot, value } => {
                        self.check_value(value)?;
                        OpRef::Accept { group: *group, slot: *slot, ballot: *ballot, value }
                    }
                    Op::MarkChosen { group, slot } => OpRef::Chosen { group: *group, slot: *slot },
                    Op::TruncateBelow { group, slot } => OpRef::Truncate { group: *group, slot: *slot },
                    Op::RemoveGroup { group } => OpRef::Remove { group: *group },
                    Op::Put { group, from, ballot, values } => {
                        self.check_value_len(values.iter().map(|v| 4 + v.len()).sum())?;
                        if from.0.checked_add((values.len() as u64).saturating_sub(1)).is_none() {
                            return Err(StoreError::InvalidOp("a put runs past the last slot"));
                        }
                        OpRef::Put { group: *group, from: *from, ballot: *ballot, values }
                    }
                    Op::DropFrom { group, slot } => OpRef::DropFrom { group: *group, slot: *slot },
                    Op::SetMeta { group, key, value } => {
                        self.check_value(value)?;
                        OpRef::Meta { group: *group, key: *key, value }
                    }
                })
            })
            .collect::<Result<_>>()?;
        self.decide(&refs)
    }

    /// Wait for the durability the replies depend on, then hand them out.
    pub(crate) fn wait(&self, pending: Pending) -> Result<Vec<Outcome>> {
        if pending.wait_for > 0 {
            self.shared.wal.wait_durable(pending.wait_for)?;
        }
        self.maybe_checkpoint();
        Ok(pending.outcomes)
    }

    /// Check the rules for `ops` in order, append one record with every write
    /// and apply it, all under the store lock so that rules are checked in
    /// the order records enter the log. Does not wait for durability. The
    /// values of phase-1b replies are read after the lock is released (no
    /// write or sync ever happens under it here).
    pub(crate) fn decide(&self, ops: &[OpRef<'_>]) -> Result<Pending> {
        let shared = &*self.shared;
        let mut inner = lock(&shared.inner);
        if inner.broken {
            return Err(StoreError::Internal(BROKEN));
        }
        for op in ops {
            let g = op.group();
            if g == ALL_GROUPS && !matches!(op, OpRef::RepairAll) {
                return Err(StoreError::ReservedGroup);
            }
            if op.votes() && Self::blocked(&inner, g) {
                return Err(StoreError::NeedsRepair { group: g });
            }
        }
        // The store is the log's only writer, and appends under this lock:
        // the batch's first record will get exactly this LSN. A batch too
        // large for one record goes into consecutive records (see codec).
        let lsn = shared.wal.last_lsn() + 1;
        let max_payload = shared.wal.max_record_size();
        let mut builders = vec![RecordBuilder::new()];
        let mut undo: Vec<Undo> = Vec::new();
        let mut outcomes = Vec::with_capacity(ops.len());
        let mut replies: Vec<(usize, GroupId, Vec<SlotEntry>, Slot)> = Vec::new();
        let mut wait_for: Lsn = 0;
        let mut durable_write = false;
        let mut writes = 0u64;
        for op in ops {
            let group = op.group();
            let state = inner.groups.map.get(&group);
            let promised = state.map_or(Ballot::ZERO, |g| g.promised);
            let promise_lsn = state.map_or(0, |g| g.promise_lsn);
            let first_live = state.map_or(Slot(0), |g| g.first_live);
            let first_live_lsn = state.map_or(0, |g| g.first_live_lsn);
            let mut write = |kind: Kind, slot: Slot, ballot: Ballot, value: &[u8], inner: &mut Inner| {
                let full = builders
                    .last()
                    .is_some_and(|b| !b.is_empty() && b.len() + OP_HEADER_LEN + value.len() > max_payload);
                if full {
                    builders.push(RecordBuilder::new());
                }
                let at = lsn + builders.len() as u64 - 1;
                let builder = builders.last_mut().expect("one builder at least");
                let off = builder.push(kind, group, slot, ballot, value);
                let stored = StoredOp { kind, group, slot, ballot, value: (off, value.len() as u32) };
                for op in expand(&stored, builder.bytes()) {
                    inner.groups.apply(&op, at, Some(&mut undo));
                }
                writes += 1;
            };
            let outcome = match *op {
                OpRef::Promise { ballot, from_slot, .. } => {
                    if ballot < promised {
                        wait_for = wait_for.max(promise_lsn);
                        Outcome::Promise(PromiseOutcome::Rejected { promised })
                    } else {
                        if ballot > promised {
                            write(Kind::Promise, from_slot, ballot, &[], &mut inner);
                            durable_write = true;
                        } else {
                            // A retry of the same promise: nothing new to write,
                            // but it (and what the reply shows) must be durable.
                            wait_for = wait_for.max(lsn - 1);
                        }
                        // Phase-1b contents as of this point of the batch.
                        let locs = inner
                            .groups
                            .map
                            .get(&group)
                            .map(|st| st.slots[st.index_at_or_after(from_slot)..].to_vec())
                            .unwrap_or_default();
                        replies.push((outcomes.len(), group, locs, first_live));
                        Outcome::Promise(PromiseOutcome::Granted { accepted: Vec::new(), first_live_slot: first_live })
                    }
                }
                OpRef::Accept { slot, ballot, value, .. } => {
                    if slot < first_live {
                        // The reply reports the truncation point: it waits
                        // for the record that set it (maybe not yet synced).
                        wait_for = wait_for.max(first_live_lsn);
                        Outcome::Accept(AcceptOutcome::Truncated { first_live_slot: first_live })
                    } else if ballot < promised {
                        wait_for = wait_for.max(promise_lsn);
                        Outcome::Accept(AcceptOutcome::Rejected { promised })
                    } else {
                        write(Kind::Accept, slot, ballot, value, &mut inner);
                        durable_write = true;
                        Outcome::Accept(AcceptOutcome::Accepted)
                    }
                }
                OpRef::Chosen { slot, .. } => {
                    let present = state.and_then(|g| g.find(slot).ok().map(|i| g.slots[i].chosen));
                    if present == Some(false) {
                        write(Kind::Chosen, slot, Ballot::ZERO, &[], &mut inner);
                    }
                    Outcome::Done
                }
                OpRef::Truncate { slot, .. } => {
                    if slot > first_live {
                        write(Kind::Truncate, slot, Ballot::ZERO, &[], &mut inner);
                        durable_write = true;
                    } else {
                        wait_for = wait_for.max(lsn - 1);
                    }
                    Outcome::Done
                }
                OpRef::Remove { .. } => {
                    if state.is_some() {
                        write(Kind::Remove, Slot(0), Ballot::ZERO, &[], &mut inner);
                        durable_write = true;
                    } else {
                        // Already absent, maybe by a removal not yet synced:
                        // "done" must not come before it is durable.
                        wait_for = wait_for.max(lsn - 1);
                    }
                    Outcome::Done
                }
                OpRef::Repair { .. } | OpRef::RepairAll => {
                    write(Kind::Repair, Slot(0), Ballot::ZERO, &[], &mut inner);
                    durable_write = true;
                    Outcome::Done
                }
                OpRef::Put { from, ballot, values, .. } => {
                    if values.is_empty() || from.0.saturating_add(values.len() as u64) <= first_live.0 {
                        // Nothing to store (no value, or every slot truncated):
                        // what that depends on must be durable.
                        wait_for = wait_for.max(lsn - 1);
                    } else {
                        write(Kind::Put, from, ballot, &put_body(values), &mut inner);
                        durable_write = true;
                    }
                    Outcome::Done
                }
                OpRef::DropFrom { slot, .. } => {
                    if state.is_some_and(|g| g.slots.last().is_some_and(|e| e.slot >= slot)) {
                        write(Kind::DropFrom, slot, Ballot::ZERO, &[], &mut inner);
                        durable_write = true;
                    } else {
                        wait_for = wait_for.max(lsn - 1);
                    }
                    Outcome::Done
                }
                OpRef::Meta { key, value, .. } => {
                    write(Kind::Meta, Slot(key), Ballot::ZERO, value, &mut inner);
                    durable_write = true;
                    Outcome::Done
                }
            };
            outcomes.push(outcome);
        }
        if !builders[0].is_empty() {
            let n = builders.len();
            let payloads: Vec<Vec<u8>> = builders
                .into_iter()
                .enumerate()
                .map(|(i, b)| {
                    let continuation = if i > 0 { CONTINUATION } else { 0 };
                    let continues = if i + 1 < n { CONTINUES } else { 0 };
                    b.finish_with(continuation | continues)
                })
                .collect();
            let last = match shared.wal.append_batch(payloads.iter().map(|p| p.as_slice())) {
                Ok(got) if got.start == lsn => got.end - 1,
                Ok(_) => {
                    // Someone else appended (no handle to the log leaves
                    // the crate, so only a bug can): the state just applied
                    // points at the wrong records. Take it back and refuse
                    // every later write; a reopen replays the log as it is.
                    inner.groups.undo(undo);
                    inner.broken = true;
                    return Err(StoreError::Internal(BROKEN));
                }
                Err(e) => {
                    inner.groups.undo(undo);
                    return Err(e.into());
                }
            };
            shared.records.fetch_add(n as u64, Ordering::Relaxed);
            shared.writes.fetch_add(writes, Ordering::Relaxed);
            if durable_write {
                wait_for = wait_for.max(last);
            }
        }
        // The replies' values are read with the store lock released: one
        // appended but not yet written out (still in the log's group-commit
        // buffer, maybe this batch's own) makes the read write the buffer
        // out, which waits for the log's I/O, i.e. for a sync in progress.
        // The locations were taken above, as of this point of the log, and
        // records never change; the pin keeps a checkpoint from deleting
        // them meanwhile. Values in a checkpoint image need no pin.
        let oldest = replies
            .iter()
            .flat_map(|(_, _, entries, _)| entries)
            .filter_map(|e| match e.value {
                ValueLoc::Log { lsn, .. } => Some(lsn),
                ValueLoc::Image { .. } => None,
            })
            .min();
        let _pin = oldest.map(|lsn| LogPin::new(&shared.pins, lsn));
        drop(inner);
        for (i, group, entries, first_live_slot) in replies {
            let accepted = entries
                .iter()
                .map(|e| {
                    let value = self.resolve(group, &e.value)?;
                    Ok(AcceptedEntry { slot: e.slot, ballot: e.ballot, value, chosen: e.chosen })
                })
                .collect::<Result<Vec<_>>>()?;
            outcomes[i] = Outcome::Promise(PromiseOutcome::Granted { accepted, first_live_slot });
        }
        Ok(Pending { outcomes, wait_for })
    }

    /// Take a checkpoint now: write the acceptor state of every group
    /// (durably, through the snapshot store), then delete the log segments
    /// that the previous checkpoint already covers.
    pub fn checkpoint(&self) -> Result<CheckpointInfo> {
        let shared = &*self.shared;
        let _one_at_a_time = lock(&shared.checkpoint_lock);
        let started = Instant::now();
        let (image, position, groups, keep_log) = {
            let inner = lock(&shared.inner);
            let position = shared.wal.last_lsn();
            let failed = std::cell::RefCell::new(None);
            let image = checkpoint::encode(&inner.groups, |loc| {
                Value::try_resolve(loc, &shared.wal).unwrap_or_else(|e| {
                    *failed.borrow_mut() = Some(e);
                    None
                })
            })
            .map_err(|group| match failed.take() {
                Some(source) => shared.value_error(group, source),
                None => StoreError::MissingValue { group },
            })?;
            // While damage is unrepaired, keep the log that shows it.
            (image, position, inner.groups.map.len(), inner.damaged && !inner.groups.repaired_all)
        };
        shared.wal.wait_durable(position)?;
        let bytes = image.len();
        shared.snapshots.write(position, CHECKPOINT_META, &image)?;
        // Values at or below `position` now live in the image: point at it,
        // so the log segments holding them can go.
        let image = Arc::new(image);
        let decoded = checkpoint::decode(image).map_err(|source| StoreError::BadRecord { lsn: position, source })?;
        {
            let mut inner = lock(&shared.inner);
            for (id, g) in decoded.map {
                let Some(live) = inner.groups.map.get_mut(&id) else { continue };
                for (key, loc) in g.meta.map(|m| m.into_vec()).unwrap_or_default() {
                    let Some(m) = live.meta.as_deref_mut() else { break };
                    if let Ok(i) = m.binary_search_by_key(&key, |e| e.0) {
                        if m[i].1.covered_by(position) {
                            m[i].1 = loc;
                        }
                    }
                }
                // Both sorted by slot: walk them together.
                let mut i = 0;
                for e in g.slots {
                    while i < live.slots.len() && live.slots[i].slot < e.slot {
                        i += 1;
                    }
                    let Some(cur) = live.slots.get_mut(i).filter(|c| c.slot == e.slot) else { continue };
                    let old = cur.value.covered_by(position);
                    if old && cur.ballot == e.ballot {
                        cur.value = e.value;
                    }
                }
            }
        }
        let mut segments_removed = 0;
        if !keep_log {
            let snaps = shared.snapshots.list()?;
            if let Some(older) = snaps.get(shared.opts.keep_checkpoints.max(2) - 1).or(snaps.get(1)) {
                // A reply reading values outside the store lock (`decide`)
                // may hold a location at or below `older.position` only if
                // it took it before `older`'s checkpoint pointed such values
                // at its image (above, under the store lock): it pinned the
                // record in that same critical section, so the pin is seen
                // here. Later locations are all after `older.position`.
                let pinned = lock(&shared.pins).iter().min().copied();
                let upto = pinned.map_or(older.position + 1, |p| p.min(older.position + 1));
                segments_removed = shared.wal.truncate_prefix(upto)?;
            }
        }
        let took = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        shared.checkpoint_last_ns.store(took, Ordering::Relaxed);
        shared.checkpoint_total_ns.fetch_add(took, Ordering::Relaxed);
        shared.checkpoint_last_bytes.store(bytes as u64, Ordering::Relaxed);
        shared.checkpoint_total_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        shared.checkpoints.fetch_add(1, Ordering::Relaxed);
        Ok(CheckpointInfo { position, groups, bytes, segments_removed })
    }

    fn maybe_checkpoint(&self) {
        let Some(limit) = self.shared.opts.checkpoint_after_segments else { return };
        if self.shared.wal.segment_count() <= limit || self.shared.checkpoint_running.swap(true, Ordering::AcqRel) {
            return;
        }
        let store = self.clone();
        std::thread::spawn(move || {
            // A failure here is not lost: the log keeps everything, and a
            // failed sync poisons the log for every later caller.
            let _ = store.checkpoint();
            store.shared.checkpoint_running.store(false, Ordering::Release);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paxos_wal::storage::MemStorage;

    /// A checkpoint keeps the records a reply still has to read: while a pin
    /// is held, no segment holding it (or anything after it) is deleted.
    #[test]
    fn checkpoints_keep_pinned_records() {
        let mem = MemStorage::new();
        let mut opts = StoreOptions::small(mem.shared());
        opts.segment_size = 16 << 10;
        let (s, _) = AcceptorStore::open("/pin", opts).unwrap();
        let b = Ballot::new(1, 1);
        let mut slot = 0;
        let mut write_segments = |s: &AcceptorStore, n: usize| {
            let until = s.log().segments + n;
            while s.log().segments < until {
                s.accept(GroupId(1), Slot(slot), b, &[1; 500]).unwrap();
                s.truncate_below(GroupId(1), Slot(slot)).unwrap();
                slot += 1;
            }
        };
        write_segments(&s, 1);
        let pinned = s.log().last_lsn;
        let pin = LogPin::new(&s.shared.pins, pinned);
        for _ in 0..4 {
            write_segments(&s, 2);
            s.checkpoint().unwrap();
        }
        assert!(s.log().first_lsn <= pinned, "a pinned record was deleted: {:?}", s.log());
        assert!(Value::try_resolve(&ValueLoc::Log { lsn: pinned, off: 0, len: 0 }, &s.shared.wal).unwrap().is_some());
        drop(pin);
        write_segments(&s, 2);
        s.checkpoint().unwrap();
        assert!(s.log().first_lsn > pinned, "unpinned, the log is truncated: {:?}", s.log());
    }
}
