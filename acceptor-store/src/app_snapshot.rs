//! Per-group application snapshots: an opaque, streamed snapshot of the
//! application's state through some slot, stored beside the log so a lagging
//! replica can be caught up from it. Finishing one truncates the group below
//! the slot after it.
//!
//! Each group's snapshots live in `dir/apps/<group>/`, written atomically by
//! `paxos-snapshot` (temp file, sync, rename, directory sync); the newest one
//! is kept.

use crate::error::{Result, StoreError};
use crate::store::AcceptorStore;
use crate::types::{GroupId, Slot};
use paxos_snapshot::{SnapshotOptions, SnapshotReader, SnapshotStore, SnapshotWriter};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

pub(crate) struct AppSnapshots {
    dir: PathBuf,
    open: Mutex<HashMap<GroupId, Arc<SnapshotStore>>>,
}

impl AppSnapshots {
    pub fn new(dir: PathBuf) -> Self {
        AppSnapshots { dir, open: Mutex::new(HashMap::new()) }
    }
}

/// A streamed application snapshot being written; see
/// [`AcceptorStore::begin_app_snapshot`].
pub struct AppSnapshotWriter {
    writer: SnapshotWriter,
    store: AcceptorStore,
    group: GroupId,
    through: Slot,
}

impl Write for AppSnapshotWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

impl AppSnapshotWriter {
    /// Make the snapshot durable, then truncate the group below the slot
    /// after the one it covers. Dropping the writer instead abandons it.
    pub fn finish(self) -> Result<()> {
        self.writer.finish()?;
        self.store.truncate_below(self.group, Slot(self.through.0 + 1))
    }
}

/// The newest application snapshot of a group.
pub struct AppSnapshot {
    /// The last slot it covers.
    pub through: Slot,
    reader: SnapshotReader,
}

impl Read for AppSnapshot {
    /// Streams the payload; the checksum is verified at its end (an
    /// `InvalidData` error if it does not match).
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader.read(buf)
    }
}

impl AcceptorStore {
    fn app_store(&self, group: GroupId) -> Result<Arc<SnapshotStore>> {
        let apps = &self.shared.apps;
        let mut open = apps.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = open.get(&group) {
            return Ok(s.clone());
        }
        let dir = apps.dir.join(format!("{:020}", group.0));
        let store = Arc::new(SnapshotStore::open(dir, SnapshotOptions { keep: 1, storage: self.storage().clone() })?);
        open.insert(group, store.clone());
        Ok(store)
    }

    /// Start writing `group`'s application snapshot through slot `through`
    /// (its own, or one received from a peer to install). Finishing it
    /// truncates the group below `through + 1`. The reserved id
    /// `GroupId(u64::MAX)` is refused ([`StoreError::ReservedGroup`]).
    pub fn begin_app_snapshot(&self, group: GroupId, through: Slot) -> Result<AppSnapshotWriter> {
        if group == crate::state::ALL_GROUPS {
            return Err(StoreError::ReservedGroup);
        }
        let writer = self.app_store(group)?.begin(through.0, b"app")?;
        Ok(AppSnapshotWriter { writer, store: self.clone(), group, through })
    }

    /// The newest application snapshot of `group` that verifies, to stream
    /// to a lagging replica (or `None`; always for the reserved id
    /// `GroupId(u64::MAX)`).
    pub fn app_snapshot(&self, group: GroupId) -> Result<Option<AppSnapshot>> {
        if group == crate::state::ALL_GROUPS {
            return Ok(None);
        }
        let store = self.app_store(group)?;
        let (meta, _skipped) = store.latest_valid()?;
        match meta {
            Some(meta) => Ok(Some(AppSnapshot { through: Slot(meta.position), reader: store.read(&meta)? })),
            None => Ok(None),
        }
    }
}
