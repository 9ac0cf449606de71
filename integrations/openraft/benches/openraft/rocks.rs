//! The RocksDB rows' log storage: openraft-rocksstore's log store, ported
//! to openraft 0.9's `RaftLogStorage` (feature `rocksdb`).
//!
//! Why a port and not the crate: openraft-rocksstore 0.9.21 (the newest 0.9
//! on the registry) implements the v1 `RaftStorage`, reached through
//! `openraft::RaftStorage` and `Adaptor`, both of which openraft removes when
//! feature `storage-v2` is on, and `RaftLogStorage` cannot be implemented
//! outside openraft without `storage-v2` (it is sealed). One build has one
//! openraft, so the crate and this adapter cannot be built together. (Its
//! `rocksdb` 0.22 would also clash with the `rocksdb` 0.21 that the OmniPaxos
//! bench already links: one `librocksdb-sys` per workspace.)
//!
//! What is kept from openraft-rocksstore 0.9.21: one DB per raft group with
//! its column families (`meta`, `sm_meta`, `sm_data`, `logs`) and
//! `Options::default()`; each entry one `put_cf` into `logs` under its index
//! (8 bytes big-endian), valued serde_json; the vote and purge point
//! serde_json in `meta`; `delete_range_cf` for truncate and purge.
//!
//! Syncs: 0.9.21 syncs nothing on the log path (default `WriteOptions`, and
//! `Adaptor` reports an append flushed as soon as `append_to_log` returns);
//! its only sync is a `flush_wal(true)` at the end of each state-machine
//! apply. Here the log syncs where openraft's own `RaftLogStorage` port of
//! rocksstore (its `main` branch) does: `flush_wal(true)` before an append is
//! reported flushed, and in `save_vote` and `truncate`. Two ways:
//! - [`Flush::Inline`]: as that port, inside `append`, on openraft's task;
//! - [`Flush::Thread`]: a flusher thread per DB that gathers the callbacks
//!   waiting and covers them with one `flush_wal(true)` (group commit within
//!   one DB): stronger than rocksstore, so that the comparison is with a good
//!   RocksDB log, not a naive one.
//!
//! The state machine is not RocksDB's: every row uses the same in-memory one.

use crate::sm::Config;
use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{AnyError, Entry, LogId, OptionalSend, RaftLogReader, StorageError, StorageIOError, Vote};
use rocksdb::{ColumnFamily, ColumnFamilyDescriptor, Direction, IteratorMode, Options, DB};
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

type NodeId = u64;
type Result<T> = std::result::Result<T, StorageError<NodeId>>;

/// Where the WAL sync of an append happens.
#[derive(Clone, Copy, Debug)]
pub enum Flush {
    /// In `append`, before the callback (openraft's own port does this).
    Inline,
    /// On the DB's flusher thread, one sync for every append waiting.
    Thread,
}

/// The `flush_wal(true)` calls of a row's DBs and their time.
#[derive(Default)]
pub struct Syncs {
    count: AtomicU64,
    nanos: AtomicU64,
}

impl Syncs {
    pub fn get(&self) -> (u64, Duration) {
        (self.count.load(Ordering::Relaxed), Duration::from_nanos(self.nanos.load(Ordering::Relaxed)))
    }

    fn flush(&self, db: &DB) -> std::result::Result<(), rocksdb::Error> {
        let t = Instant::now();
        let r = db.flush_wal(true);
        self.nanos.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        r
    }
}

/// One raft group's log in its own RocksDB.
#[derive(Clone)]
pub struct RocksLog {
    db: Arc<DB>,
    syncs: Arc<Syncs>,
    flusher: Option<Sender<LogFlushed<Config>>>,
}

fn w_err(e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageIOError::write_logs(AnyError::new(&e)).into()
}

fn r_err(e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageIOError::read_logs(AnyError::new(&e)).into()
}

fn id_to_bin(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

fn bin_to_id(b: &[u8]) -> u64 {
    u64::from_be_bytes(b[..8].try_into().expect("an 8-byte key"))
}

// The helpers return openraft's `StorageError`, as the trait's methods do.
#[allow(clippy::result_large_err)]
impl RocksLog {
    /// Open (create) the DB in `path` as openraft-rocksstore 0.9.21 does;
    /// `syncs` counts its `flush_wal(true)` calls.
    pub fn open(path: &Path, flush: Flush, syncs: Arc<Syncs>) -> Self {
        let mut db_opts = Options::default();
        db_opts.create_missing_column_families(true);
        db_opts.create_if_missing(true);
        let cfs = ["meta", "sm_meta", "sm_data", "logs"].map(|n| ColumnFamilyDescriptor::new(n, Options::default()));
        let db = Arc::new(DB::open_cf_descriptors(&db_opts, path, cfs).expect("open RocksDB"));
        let flusher = match flush {
            Flush::Inline => None,
            Flush::Thread => {
                let (tx, rx) = channel::<LogFlushed<Config>>();
                let (db, syncs) = (db.clone(), syncs.clone());
                std::thread::spawn(move || {
                    while let Ok(first) = rx.recv() {
                        // Everything put before these callbacks were sent is
                        // in the WAL's buffer: one sync covers them all.
                        let waiting: Vec<_> = std::iter::once(first).chain(rx.try_iter()).collect();
                        let r = syncs.flush(&db);
                        for cb in waiting {
                            cb.log_io_completed(r.clone().map_err(std::io::Error::other));
                        }
                    }
                });
                Some(tx)
            }
        };
        RocksLog { db, syncs, flusher }
    }

    fn cf_meta(&self) -> &ColumnFamily {
        self.db.cf_handle("meta").expect("cf meta")
    }

    fn cf_logs(&self) -> &ColumnFamily {
        self.db.cf_handle("logs").expect("cf logs")
    }

    fn sync(&self) -> std::result::Result<(), rocksdb::Error> {
        self.syncs.flush(&self.db)
    }

    fn get_meta<V: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<V>> {
        match self.db.get_cf(self.cf_meta(), key).map_err(r_err)? {
            None => Ok(None),
            Some(b) => Ok(Some(serde_json::from_slice(&b).map_err(r_err)?)),
        }
    }

    fn put_meta<V: serde::Serialize>(&self, key: &str, v: &V) -> Result<()> {
        let bytes = serde_json::to_vec(v).map_err(w_err)?;
        self.db.put_cf(self.cf_meta(), key, bytes).map_err(w_err)
    }
}

impl RaftLogReader<Config> for RocksLog {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<Config>>> {
        let start = match range.start_bound() {
            Bound::Included(x) => id_to_bin(*x),
            Bound::Excluded(x) => id_to_bin(*x + 1),
            Bound::Unbounded => id_to_bin(0),
        };
        let mut res = Vec::new();
        for item in self.db.iterator_cf(self.cf_logs(), IteratorMode::From(&start, Direction::Forward)) {
            let (id, val) = item.map_err(r_err)?;
            if !range.contains(&bin_to_id(&id)) {
                break;
            }
            res.push(serde_json::from_slice(&val).map_err(r_err)?);
        }
        Ok(res)
    }
}

impl RaftLogStorage<Config> for RocksLog {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<Config>> {
        let last = match self.db.iterator_cf(self.cf_logs(), IteratorMode::End).next() {
            None => None,
            Some(item) => {
                let (_, bytes) = item.map_err(r_err)?;
                Some(serde_json::from_slice::<Entry<Config>>(&bytes).map_err(r_err)?.log_id)
            }
        };
        let last_purged_log_id: Option<LogId<NodeId>> = self.get_meta("last_purged_log_id")?;
        Ok(LogState { last_purged_log_id, last_log_id: last.or(last_purged_log_id) })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<()> {
        self.put_meta("vote", vote)?;
        self.sync().map_err(|e| StorageIOError::write_vote(AnyError::new(&e)))?;
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>> {
        self.get_meta("vote")
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<Config>) -> Result<()>
    where
        I: IntoIterator<Item = Entry<Config>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        for entry in entries {
            let value = serde_json::to_vec(&entry).map_err(w_err)?;
            self.db.put_cf(self.cf_logs(), id_to_bin(entry.log_id.index), value).map_err(w_err)?;
        }
        match &self.flusher {
            Some(tx) => tx.send(callback).map_err(w_err)?,
            None => {
                self.sync().map_err(w_err)?;
                callback.log_io_completed(Ok(()));
            }
        }
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<()> {
        self.db.delete_range_cf(self.cf_logs(), id_to_bin(log_id.index), id_to_bin(u64::MAX)).map_err(w_err)?;
        self.sync().map_err(w_err)
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<()> {
        self.put_meta("last_purged_log_id", &log_id)?;
        self.db.delete_range_cf(self.cf_logs(), id_to_bin(0), id_to_bin(log_id.index + 1)).map_err(w_err)
    }
}
