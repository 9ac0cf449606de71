//! A log kept in memory and reported flushed at once: **not durable**. Its
//! row is the ceiling that openraft itself (and this machine's CPUs) leaves
//! to any log storage in this workload.

use crate::sm::Config;
use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{Entry, LogId, OptionalSend, RaftLogReader, StorageError, Vote};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::RangeBounds;
use std::sync::{Arc, Mutex};

type Result<T> = std::result::Result<T, StorageError<u64>>;

#[derive(Default)]
struct Inner {
    log: BTreeMap<u64, Entry<Config>>,
    vote: Option<Vote<u64>>,
    last_purged: Option<LogId<u64>>,
}

/// One raft group's log, in memory.
#[derive(Clone, Default)]
pub struct MemLog(Arc<Mutex<Inner>>);

impl RaftLogReader<Config> for MemLog {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<Config>>> {
        Ok(self.0.lock().unwrap().log.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftLogStorage<Config> for MemLog {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<Config>> {
        let inner = self.0.lock().unwrap();
        let last = inner.log.values().next_back().map(|e| e.log_id).or(inner.last_purged);
        Ok(LogState { last_purged_log_id: inner.last_purged, last_log_id: last })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<()> {
        self.0.lock().unwrap().vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>> {
        Ok(self.0.lock().unwrap().vote)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<Config>) -> Result<()>
    where
        I: IntoIterator<Item = Entry<Config>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut inner = self.0.lock().unwrap();
        for e in entries {
            inner.log.insert(e.log_id.index, e);
        }
        drop(inner);
        callback.log_io_completed(Ok(()));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> Result<()> {
        self.0.lock().unwrap().log.split_off(&log_id.index);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> Result<()> {
        let mut inner = self.0.lock().unwrap();
        inner.log = inner.log.split_off(&(log_id.index + 1));
        inner.last_purged = Some(log_id);
        Ok(())
    }
}
