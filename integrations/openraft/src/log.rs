//! [`LogStore`]: openraft's `RaftLogStorage` on one acceptor-store group,
//! and its reader.

use crate::error::Error;
use crate::layout::{self, COMMITTED, PURGED, VOTE};
use crate::store::{lock, GroupMeta, Shared};
use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{AnyError, LogId, OptionalSend, RaftLogReader, RaftTypeConfig, StorageError, StorageIOError, Vote};
use paxos_acceptor_store::{GroupId, Op, Slot};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::{Arc, Mutex};

/// The log storage of one raft group (from [`crate::RaftStore::group`]):
/// implements openraft's `RaftLogStorage` (and `RaftLogReader`).
///
/// What is durable when:
/// - `save_vote`, `truncate` and `purge` are durable when they return
///   (each one record and one sync, shared with concurrent writers; they
///   await the sync without blocking the executor's thread);
/// - `append` returns once the entries are in the log, without waiting;
///   the `LogFlushed` callback fires on the store's flusher thread only
///   after the sync that covers them returned (with the error if it failed);
/// - `save_committed` is written without waiting: it becomes durable with the
///   next sync, and it is never durable without the entries it names (the
///   log is one ordered stream: a crash keeps a prefix of it);
/// - reads (`try_get_log_entries`, `get_log_state`, `read_vote`) show every
///   write that has started, as openraft expects.
pub struct LogStore<C: RaftTypeConfig> {
    shared: Arc<Shared<C>>,
    group: u64,
    meta: Arc<Mutex<GroupMeta<C::NodeId>>>,
}

impl<C: RaftTypeConfig> Drop for LogStore<C> {
    fn drop(&mut self) {
        self.shared.close_group(self.group);
    }
}

/// A reader of one raft group's log (`RaftLogStorage::get_log_reader`):
/// cheap to clone, usable beside the [`LogStore`] it came from.
pub struct LogReader<C: RaftTypeConfig> {
    shared: Arc<Shared<C>>,
    group: u64,
}

impl<C: RaftTypeConfig> Clone for LogReader<C> {
    fn clone(&self) -> Self {
        LogReader { shared: self.shared.clone(), group: self.group }
    }
}

fn write_err<NID: openraft::NodeId>(e: Error) -> StorageError<NID> {
    StorageIOError::write_logs(AnyError::new(&e)).into()
}

fn read_err<NID: openraft::NodeId>(e: Error) -> StorageError<NID> {
    StorageIOError::read_logs(AnyError::new(&e)).into()
}

/// `range` as slots `[from, to)`.
fn slots(range: &impl RangeBounds<u64>) -> (u64, u64) {
    let from = match range.start_bound() {
        Bound::Included(&i) => i,
        Bound::Excluded(&i) => i.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let to = match range.end_bound() {
        Bound::Included(&i) => i.saturating_add(1),
        Bound::Excluded(&i) => i,
        Bound::Unbounded => u64::MAX,
    };
    (from, to)
}

fn read_entries<C>(shared: &Shared<C>, group: u64, from: u64, to: u64) -> Result<Vec<C::Entry>, Error>
where
    C: RaftTypeConfig,
    C::Entry: DeserializeOwned,
{
    if from >= to {
        return Ok(Vec::new());
    }
    let found = shared.store.accepted_range(GroupId(group), Slot(from), Slot(to))?;
    found.iter().map(|e| layout::dec(group, "a log entry", &e.value)).collect()
}

impl<C> LogStore<C>
where
    C: RaftTypeConfig,
    C::Entry: Serialize + DeserializeOwned,
{
    pub(crate) fn new(shared: Arc<Shared<C>>, group: u64, meta: GroupMeta<C::NodeId>) -> Self {
        LogStore { shared, group, meta: Arc::new(Mutex::new(meta)) }
    }

    /// The raft group this storage holds.
    pub fn group(&self) -> u64 {
        self.group
    }

    /// Persist `ops` as one batch (atomic across a crash) and wait, without
    /// blocking the thread, until the sync that covers it returned.
    async fn write(&self, ops: &[Op]) -> Result<(), Error> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.shared.store.submit_batch_with(ops, move |r| {
            let _ = tx.send(r);
        })?;
        match rx.await {
            Ok(r) => r.map(|_| ()).map_err(Error::Store),
            // The flusher thread went away without answering (the store is
            // being dropped): never report that as durable.
            Err(_) => Err(Error::Store(paxos_acceptor_store::StoreError::Internal("the store's flusher stopped"))),
        }
    }

    fn set_meta(&self, key: u64, what: &'static str, v: &impl Serialize) -> Result<Op, Error> {
        Ok(Op::SetMeta { group: GroupId(self.group), key, value: layout::enc(what, v)? })
    }
}

impl<C> RaftLogReader<C> for LogStore<C>
where
    C: RaftTypeConfig,
    C::Entry: Serialize + DeserializeOwned,
{
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<C::Entry>, StorageError<C::NodeId>> {
        let (from, to) = slots(&range);
        read_entries(&self.shared, self.group, from, to).map_err(read_err)
    }
}

impl<C> RaftLogReader<C> for LogReader<C>
where
    C: RaftTypeConfig,
    C::Entry: Serialize + DeserializeOwned,
{
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<C::Entry>, StorageError<C::NodeId>> {
        let (from, to) = slots(&range);
        read_entries(&self.shared, self.group, from, to).map_err(read_err)
    }
}

impl<C> RaftLogStorage<C> for LogStore<C>
where
    C: RaftTypeConfig,
    C::Entry: Serialize + DeserializeOwned,
{
    type LogReader = LogReader<C>;

    async fn get_log_state(&mut self) -> Result<LogState<C>, StorageError<C::NodeId>> {
        let m = lock(&self.meta);
        let last_log_id = m.last_log.clone().or_else(|| m.last_purged.clone());
        Ok(LogState { last_purged_log_id: m.last_purged.clone(), last_log_id })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        LogReader { shared: self.shared.clone(), group: self.group }
    }

    async fn save_vote(&mut self, vote: &Vote<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        let op = self.set_meta(VOTE, "the vote", vote).map_err(write_err)?;
        self.write(&[op]).await.map_err(|e| StorageIOError::write_vote(AnyError::new(&e)))?;
        lock(&self.meta).vote = Some(vote.clone());
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<C::NodeId>>, StorageError<C::NodeId>> {
        Ok(lock(&self.meta).vote.clone())
    }

    async fn save_committed(&mut self, committed: Option<LogId<C::NodeId>>) -> Result<(), StorageError<C::NodeId>> {
        // Not awaited: openraft does not need it durable (a lost committed id
        // is re-learned), and the one stream keeps it behind its entries.
        let op = self.set_meta(COMMITTED, "the committed log id", &committed).map_err(write_err)?;
        drop(self.shared.store.submit(op).map_err(|e| write_err(e.into()))?);
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<C::NodeId>>, StorageError<C::NodeId>> {
        layout::committed::<C>(&self.shared.store, self.group).map_err(read_err)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<C>) -> Result<(), StorageError<C::NodeId>>
    where
        I: IntoIterator<Item = C::Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<C::Entry> = entries.into_iter().collect();
        let Some(last) = entries.last().map(|e| openraft::RaftLogId::get_log_id(e).clone()) else {
            // Nothing to write; the notice must still wait for what came before.
            let r = self.shared.store.sync().map_err(|e| std::io::Error::other(Error::from(e)));
            callback.log_io_completed(r);
            return Ok(());
        };
        let ops =
            layout::plan_append::<C>(self.group, &entries, self.shared.store.max_value_size()).map_err(write_err)?;
        self.shared
            .store
            .submit_batch_with(&ops, move |r| {
                callback.log_io_completed(r.map(|_| ()).map_err(|e| std::io::Error::other(Error::from(e))))
            })
            .map_err(|e| write_err(e.into()))?;
        let mut m = lock(&self.meta);
        if m.last_log.as_ref().is_none_or(|l| l.index <= last.index) {
            m.last_log = Some(last);
        }
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        // Every entry at or after `log_id.index` goes.
        let op = Op::DropFrom { group: GroupId(self.group), slot: Slot(log_id.index) };
        self.write(&[op]).await.map_err(write_err)?;
        let last = layout::last_log_id::<C>(&self.shared.store, self.group).map_err(read_err)?;
        lock(&self.meta).last_log = last;
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        // Every entry up to and including `log_id.index` goes; the purge
        // point and the truncation in one atomic batch.
        let ops = [
            self.set_meta(PURGED, "the purge point", &log_id).map_err(write_err)?,
            Op::TruncateBelow { group: GroupId(self.group), slot: Slot(log_id.index.saturating_add(1)) },
        ];
        self.write(&ops).await.map_err(write_err)?;
        let mut m = lock(&self.meta);
        if m.last_log.as_ref().is_none_or(|l| l.index <= log_id.index) {
            m.last_log = None;
        }
        m.last_purged = Some(log_id);
        Ok(())
    }
}
