//! The store's handle: opening (recovery, the store marker), the public
//! operations (each goes through `write.rs`), the reads, stats. The rules
//! are in `rules.rs`, the write path in `write.rs`, replay in `replay.rs`,
//! checkpoints in `checkpointing.rs`.

use crate::error::{Result, StoreError};
use crate::options::{LogInfo, StoreOptions, StoreStats};
use crate::replay::Rebuild;
use crate::rules::OpRef;
use crate::state::{Group, Groups, SlotEntry, ValueLoc};
use crate::types::{AcceptOutcome, AcceptedEntry, Ballot, GroupId, Op, Outcome, PromiseOutcome, Slot, SlotRead};
use crate::value::Value;
use paxos_recovery::{recover, RecoveryOptions, RecoveryReport};
use paxos_snapshot::{SnapshotOptions, SnapshotStore};
use paxos_wal::format::MANIFEST_FILE;
use paxos_wal::storage::{OpenOptions, Storage};
use paxos_wal::{Lsn, Wal};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub(crate) struct Inner {
    pub(crate) groups: Groups,
    /// Acknowledged records were lost (found under `Salvage`).
    pub(crate) damaged: bool,
    /// The log and the in-memory state no longer agree (an internal
    /// invariant broke): every later write is refused until a reopen.
    pub(crate) broken: bool,
    /// Groups a value of which failed its check when read (see
    /// [`StoreError::DamagedValue`]); they refuse to vote until repaired.
    /// Shared with [`Shared::damaged_values`], which marks them from `resolve`
    /// (called with or without this struct locked). Lock order: `inner`, then this.
    pub(crate) damaged_values: Arc<Mutex<HashSet<GroupId>>>,
}

pub(crate) struct Shared {
    pub(crate) wal: Wal,
    /// The same set as `Inner::damaged_values`.
    pub(crate) damaged_values: Arc<Mutex<HashSet<GroupId>>>,
    pub(crate) snapshots: SnapshotStore,
    pub(crate) inner: Mutex<Inner>,
    pub(crate) opts: StoreOptions,
    pub(crate) max_value: usize,
    pub(crate) checkpoint_lock: Mutex<()>,
    pub(crate) checkpoint_running: AtomicBool,
    /// How many [`AcceptorStore::close`] calls wait for a checkpoint in
    /// progress: while any does, that checkpoint stops pacing itself and
    /// finishes at full speed. Back to zero once they have it, so the clones
    /// still open pace their later checkpoints as usual.
    pub(crate) closing: AtomicUsize,
    /// A write panicked (a storage that panics, or a bug) after changing the
    /// state and before appending its record or taking the change back:
    /// the state no longer matches the log, so every later write and
    /// checkpoint is refused until a reopen.
    pub(crate) panicked: AtomicBool,
    /// The checkpoint images values point into (see [`crate::value::Images`]).
    pub(crate) images: crate::value::Images,
    /// The oldest log record each phase-1b reply still has to read (see
    /// [`LogPin`]): a checkpoint keeps those records in the log.
    pub(crate) pins: Mutex<Vec<Lsn>>,
    pub(crate) writes: AtomicU64,
    pub(crate) records: AtomicU64,
    pub(crate) checkpoints: AtomicU64,
    /// Of the last checkpoint and of all: nanoseconds, bytes.
    pub(crate) checkpoint_last_ns: AtomicU64,
    pub(crate) checkpoint_total_ns: AtomicU64,
    pub(crate) checkpoint_last_bytes: AtomicU64,
    pub(crate) checkpoint_total_bytes: AtomicU64,
    /// [`AcceptorStore::replayed_value_bytes`].
    pub(crate) replayed_value_bytes: u64,
    pub(crate) dir: PathBuf,
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

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

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

pub(crate) const BROKEN: &str = "the log got a record the store did not write; reopen the store";
pub(crate) const PANICKED: &str = "a write panicked half-way; reopen the store";

/// Marks the store as [`Shared::panicked`] if dropped while its thread
/// panics (held across a write's critical section).
pub(crate) struct PanicGuard<'a>(pub(crate) &'a AtomicBool);

impl Drop for PanicGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}

impl Shared {
    /// The error for a value of `group` the log could not return; damage
    /// (not, say, a failed write-out) marks the group as needing repair.
    pub(crate) fn value_error(&self, group: GroupId, source: paxos_wal::Error) -> StoreError {
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
        let wal_opts = opts.log.clone();
        let snap_opts = SnapshotOptions { keep: opts.keep_checkpoints.max(1), storage: opts.log.storage.clone() };
        // Once a store lived here, a missing log is a lost one (fault case
        // 15): check before recovery, which would create a new, empty log.
        let marker = dir.join(STORE_MARKER);
        let had_marker = exists(&*opts.log.storage, &marker)?;
        if had_marker && !exists(&*opts.log.storage, &dir.join("wal").join(MANIFEST_FILE))? {
            return Err(StoreError::LogLost { dir });
        }
        let mut sm = Rebuild::default();
        let rec = recover(
            dir.join("wal"),
            dir.join("checkpoints"),
            RecoveryOptions { wal: wal_opts, snapshots: snap_opts },
            &mut sm,
        )?;
        // The checkpoint holds every shard's records up to that shard's
        // position, which may be past its own (the first shard's): the log
        // must reach the last, or new records would reuse LSNs that replay
        // skips for the shards copied after them.
        let copied_to = sm.positions.as_ref().and_then(|p| p.last().copied());
        if let (Some(position), Some(used)) = (copied_to, &rec.report.snapshot) {
            if position > rec.wal.last_lsn() {
                let log_last_lsn = rec.wal.last_lsn();
                let path = used.path.clone();
                return Err(paxos_recovery::RecoveryError::LogBehindSnapshot { path, position, log_last_lsn }.into());
            }
        }
        if !had_marker {
            write_marker(&*opts.log.storage, &dir, &marker)?;
        }
        sm.groups.map.opened();
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
            closing: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            images: sm.images,
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
    /// none), less those the checkpoint's image held already (a shard
    /// copied after the write): what was written since the newest
    /// checkpoint. Fixed at open. A checkpoint policy that counts bytes
    /// written since the last checkpoint starts from this, so its progress
    /// survives a restart.
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
        self.decide(&[OpRef::MarkChosen { group, slot }]).map(|_| ())
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

    pub(crate) fn blocked(inner: &Inner, group: GroupId) -> bool {
        (inner.damaged && !inner.groups.repaired_all && !inner.groups.repaired.contains(&group))
            || lock(&inner.damaged_values).contains(&group)
    }

    /// Make everything written so far durable (including lazy chosen marks).
    pub fn sync(&self) -> Result<()> {
        self.shared.wal.sync().map_err(Into::into)
    }

    /// Close the store cleanly: wait for a checkpoint in progress (which
    /// stops pacing itself, see [`StoreOptions::checkpoint_duty_cycle`]), then make
    /// everything written durable, with the log's durable watermark
    /// (`paxos_wal::Wal::sync_watermark`), so that damage found later in the
    /// last records is reported as corruption, never taken for a torn tail.
    /// Dropping the store is always safe too (it looks like a crash to the
    /// disk). Clones of this store (and a background checkpoint that is just
    /// ending) keep the directory locked until they are dropped.
    pub fn close(self) -> Result<()> {
        self.shared.closing.fetch_add(1, Ordering::Relaxed);
        let _no_checkpoint = lock(&self.shared.checkpoint_lock);
        self.shared.closing.fetch_sub(1, Ordering::Relaxed);
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
        lock(&self.shared.inner).groups.map.get(group, |g| g.promised)
    }

    /// The first live (not truncated) slot of `group`. May show a
    /// truncation that is not durable yet (see [`AcceptorStore::promised`]).
    pub fn first_live_slot(&self, group: GroupId) -> Option<Slot> {
        lock(&self.shared.inner).groups.map.get(group, |g| g.first_live())
    }

    /// What `slot` of `group` holds; the value is read zero-copy. May show
    /// state that is not durable yet (see [`AcceptorStore::promised`]).
    pub fn accepted(&self, group: GroupId, slot: Slot) -> Result<SlotRead> {
        let inner = lock(&self.shared.inner);
        let shard = inner.groups.map.shard_of(group);
        let Some(g) = shard.get(&group) else { return Ok(SlotRead::Empty) };
        if slot < g.first_live() {
            return Ok(SlotRead::Truncated { first_live_slot: g.first_live() });
        }
        match g.find(slot) {
            Ok(i) => {
                let e = &g.slots()[i];
                let value = self.resolve(group, &e.value())?;
                Ok(SlotRead::Accepted { ballot: e.ballot, value, chosen: e.chosen() })
            }
            Err(_) => Ok(SlotRead::Empty),
        }
    }

    /// Every accepted slot of `group` at or after `from`, in slot order.
    /// May show state that is not durable yet (see [`AcceptorStore::promised`]).
    pub fn accepted_from(&self, group: GroupId, from: Slot) -> Result<Vec<AcceptedEntry>> {
        let inner = lock(&self.shared.inner);
        let shard = inner.groups.map.shard_of(group);
        match shard.get(&group) {
            Some(g) => self.entries(group, g, from),
            None => Ok(Vec::new()),
        }
    }

    /// Every accepted slot of `group` in `from..to`, in slot order (a
    /// range read: one lock, values zero-copy). May show state that is not
    /// durable yet (see [`AcceptorStore::promised`]).
    pub fn accepted_range(&self, group: GroupId, from: Slot, to: Slot) -> Result<Vec<AcceptedEntry>> {
        let inner = lock(&self.shared.inner);
        let shard = inner.groups.map.shard_of(group);
        let Some(g) = shard.get(&group) else { return Ok(Vec::new()) };
        let (a, b) = (g.index_at_or_after(from), g.index_at_or_after(to));
        g.slots()[a..b.max(a)].iter().map(|e| self.entry(group, e)).collect()
    }

    /// The highest accepted slot of `group` (`None`: none, or the group is
    /// unknown). May show state that is not durable yet (see
    /// [`AcceptorStore::promised`]).
    pub fn last_accepted_slot(&self, group: GroupId) -> Option<Slot> {
        lock(&self.shared.inner).groups.map.get(group, |g| g.slots().last().map(|e| e.slot)).flatten()
    }

    /// The raw metadata of `group` ([`Op::SetMeta`]): every key set, with
    /// its value, sorted by key (empty for an unknown group). May show state
    /// that is not durable yet (see [`AcceptorStore::promised`]).
    pub fn metadata(&self, group: GroupId) -> Result<Vec<(u64, Value)>> {
        let inner = lock(&self.shared.inner);
        let shard = inner.groups.map.shard_of(group);
        let Some(g) = shard.get(&group) else { return Ok(Vec::new()) };
        g.meta().iter().map(|(k, loc)| Ok((*k, self.resolve(group, loc)?))).collect()
    }

    /// Every known group, sorted. May list a group whose creation, or leave
    /// out one whose removal, is not durable yet (see
    /// [`AcceptorStore::promised`]).
    pub fn groups(&self) -> Vec<GroupId> {
        let mut v = lock(&self.shared.inner).groups.map.keys();
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
    pub(crate) fn resolve(&self, group: GroupId, loc: &ValueLoc) -> Result<Value> {
        match Value::try_resolve(loc, &self.shared.wal, &self.shared.images) {
            Ok(v) => v.ok_or(StoreError::MissingValue { group }),
            Err(source) => Err(self.shared.value_error(group, source)),
        }
    }

    fn entries(&self, group: GroupId, g: &Group, from: Slot) -> Result<Vec<AcceptedEntry>> {
        g.slots()[g.index_at_or_after(from)..].iter().map(|e| self.entry(group, e)).collect()
    }

    fn entry(&self, group: GroupId, e: &SlotEntry) -> Result<AcceptedEntry> {
        Ok(AcceptedEntry {
            slot: e.slot,
            ballot: e.ballot,
            value: self.resolve(group, &e.value())?,
            chosen: e.chosen(),
        })
    }

    pub(crate) fn storage(&self) -> &Arc<dyn Storage> {
        &self.shared.opts.log.storage
    }

    pub(crate) fn check_value(&self, value: &[u8]) -> Result<()> {
        self.check_value_len(value.len())
    }

    pub(crate) fn check_value_len(&self, len: usize) -> Result<()> {
        if len > self.shared.max_value {
            return Err(StoreError::ValueTooLarge { len, max: self.shared.max_value });
        }
        Ok(())
    }
}
