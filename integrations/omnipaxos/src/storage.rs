//! The OmniPaxos-facing handle: `omnipaxos::storage::Storage<T>` on a group
//! of a [`PaxosStore`].

use crate::error::Result;
use crate::store::{OmniPaxosOptions, PaxosStore, Shared};
use omnipaxos::ballot_leader_election::Ballot;
use omnipaxos::storage::{Entry, StopSign, Storage, StorageOp, StorageResult};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;

/// Durable storage for one OmniPaxos node: implements
/// [`omnipaxos::storage::Storage`] for every `T: Entry + Serialize +
/// DeserializeOwned`. Every mutating method is durable when it returns; see
/// the crate documentation. `Send + 'static` (when `T` is `Send`), so a node
/// can live in a thread or an actor.
pub struct OmniPaxosStorage<T: Entry> {
    shared: Arc<Shared<T>>,
    group: u64,
}

impl<T: Entry> std::fmt::Debug for OmniPaxosStorage<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OmniPaxosStorage").field("group", &self.group).finish()
    }
}

impl<T: Entry> OmniPaxosStorage<T> {
    pub(crate) fn new(shared: Arc<Shared<T>>, group: u64) -> Self {
        OmniPaxosStorage { shared, group }
    }

    /// The group this handle serves.
    pub fn group_id(&self) -> u64 {
        self.group
    }
}

impl<T> OmniPaxosStorage<T>
where
    T: Entry + Serialize + DeserializeOwned,
{
    /// Open (or create) a store of its own in `dir`, with the default
    /// (small) options, and return the storage of its group 0.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(dir, OmniPaxosOptions::default())
    }

    /// Like [`OmniPaxosStorage::open`] with options.
    pub fn open_with(dir: impl AsRef<Path>, opts: OmniPaxosOptions) -> Result<Self> {
        PaxosStore::open_with(dir, opts)?.group(0)
    }

    /// The store this handle belongs to (for stats, checkpoints, the recovery report).
    pub fn store(&self) -> PaxosStore<T> {
        PaxosStore::from_shared(self.shared.clone())
    }

    /// The trim point: the absolute index of the first entry still stored
    /// (entries below it were trimmed). Not part of OmniPaxos's `Storage`
    /// trait; for inspection and tests.
    pub fn trimmed_idx(&self) -> usize {
        self.shared.read(self.group, |s| s.trimmed_idx as usize)
    }

    fn commit(&mut self, ops: Vec<StorageOp<T>>) -> StorageResult<()> {
        Ok(self.shared.commit(self.group, ops)?)
    }
}

impl<T: Entry> Drop for OmniPaxosStorage<T> {
    fn drop(&mut self) {
        self.shared.close_group(self.group);
    }
}

/// Writes: every one is a batch of the log, durable before it returns
/// (raw persistence: OmniPaxos enforces the protocol, nothing is checked);
/// one that changes nothing returns at once (its state is already durable).
/// Reads: from memory.
impl<T> Storage<T> for OmniPaxosStorage<T>
where
    T: Entry + Serialize + DeserializeOwned,
{
    fn write_atomically(&mut self, ops: Vec<StorageOp<T>>) -> StorageResult<()> {
        self.commit(ops)
    }

    fn append_entry(&mut self, entry: T) -> StorageResult<()> {
        self.commit(vec![StorageOp::AppendEntry(entry)])
    }

    fn append_entries(&mut self, entries: Vec<T>) -> StorageResult<()> {
        self.commit(vec![StorageOp::AppendEntries(entries)])
    }

    fn append_on_prefix(&mut self, from_idx: usize, entries: Vec<T>) -> StorageResult<()> {
        self.commit(vec![StorageOp::AppendOnPrefix(from_idx, entries)])
    }

    fn set_promise(&mut self, n_prom: Ballot) -> StorageResult<()> {
        self.commit(vec![StorageOp::SetPromise(n_prom)])
    }

    fn set_decided_idx(&mut self, ld: usize) -> StorageResult<()> {
        self.commit(vec![StorageOp::SetDecidedIndex(ld)])
    }

    fn get_decided_idx(&self) -> StorageResult<usize> {
        Ok(self.shared.read(self.group, |s| s.decided_idx as usize))
    }

    fn set_accepted_round(&mut self, na: Ballot) -> StorageResult<()> {
        self.commit(vec![StorageOp::SetAcceptedRound(na)])
    }

    fn get_accepted_round(&self) -> StorageResult<Option<Ballot>> {
        Ok(self.shared.read(self.group, |s| s.accepted_round))
    }

    fn get_entries(&self, from: usize, to: usize) -> StorageResult<Vec<T>> {
        Ok(self.shared.read(self.group, |s| s.entries(from, to)))
    }

    fn get_log_len(&self) -> StorageResult<usize> {
        Ok(self.shared.read(self.group, |s| s.log.len()))
    }

    fn get_suffix(&self, from: usize) -> StorageResult<Vec<T>> {
        Ok(self.shared.read(self.group, |s| s.suffix(from)))
    }

    fn get_promise(&self) -> StorageResult<Option<Ballot>> {
        Ok(self.shared.read(self.group, |s| s.promise))
    }

    fn set_stopsign(&mut self, s: Option<StopSign>) -> StorageResult<()> {
        self.commit(vec![StorageOp::SetStopsign(s)])
    }

    fn get_stopsign(&self) -> StorageResult<Option<StopSign>> {
        Ok(self.shared.read(self.group, |s| s.stopsign.clone()))
    }

    fn trim(&mut self, idx: usize) -> StorageResult<()> {
        self.commit(vec![StorageOp::Trim(idx)])
    }

    fn set_compacted_idx(&mut self, idx: usize) -> StorageResult<()> {
        self.commit(vec![StorageOp::SetCompactedIdx(idx)])
    }

    fn get_compacted_idx(&self) -> StorageResult<usize> {
        Ok(self.shared.read(self.group, |s| s.compacted_idx as usize))
    }

    fn set_snapshot(&mut self, snapshot: Option<T::Snapshot>) -> StorageResult<()> {
        self.commit(vec![StorageOp::SetSnapshot(snapshot)])
    }

    fn get_snapshot(&self) -> StorageResult<Option<T::Snapshot>> {
        Ok(self.shared.read(self.group, |s| s.snapshot.clone()))
    }
}
