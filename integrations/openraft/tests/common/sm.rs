//! A minimal in-memory key-value state machine and type configuration, for
//! the tests and the example only: the state machine is the application's.
//! Its snapshot is the whole map, serialised (postcard).

use openraft::storage::{RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::{Entry, EntryPayload, LogId, RaftSnapshotBuilder, StorageError, StoredMembership};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::{Arc, Mutex};

/// Set `key` to `value`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub key: String,
    pub value: String,
}

/// The value `key` held before.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response(pub Option<String>);

openraft::declare_raft_types!(
    /// The tests' raft types: node ids are `u64`, nodes `BasicNode`.
    pub Config:
        D = Request,
        R = Response,
);

pub type NodeId = u64;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct State {
    pub last_applied: Option<LogId<NodeId>>,
    pub last_membership: StoredMembership<NodeId, openraft::BasicNode>,
    pub data: BTreeMap<String, String>,
}

#[derive(Default)]
struct Inner {
    state: State,
    snapshot: Option<(SnapshotMeta<NodeId, openraft::BasicNode>, Vec<u8>)>,
    snapshots_built: u64,
}

/// The state machine; clones share it (the test reads it while raft runs).
#[derive(Clone, Default)]
pub struct StateMachine {
    inner: Arc<Mutex<Inner>>,
}

impl StateMachine {
    pub fn state(&self) -> State {
        self.inner.lock().unwrap().state.clone()
    }

    pub fn get(&self, key: &str) -> Option<String> {
        self.inner.lock().unwrap().state.data.get(key).cloned()
    }
}

impl RaftSnapshotBuilder<Config> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<Config>, StorageError<NodeId>> {
        let mut inner = self.inner.lock().unwrap();
        let data = postcard::to_allocvec(&inner.state).expect("encode the state");
        inner.snapshots_built += 1;
        let last = inner.state.last_applied;
        let meta = SnapshotMeta {
            last_log_id: last,
            last_membership: inner.state.last_membership.clone(),
            snapshot_id: format!("{}-{}", last.map_or(0, |l| l.index), inner.snapshots_built),
        };
        inner.snapshot = Some((meta.clone(), data.clone()));
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(data)) })
    }
}

impl RaftStateMachine<Config> for StateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, openraft::BasicNode>), StorageError<NodeId>> {
        let inner = self.inner.lock().unwrap();
        Ok((inner.state.last_applied, inner.state.last_membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<Config>> + Send,
    {
        let mut inner = self.inner.lock().unwrap();
        let mut out = Vec::new();
        for e in entries {
            inner.state.last_applied = Some(e.log_id);
            match e.payload {
                EntryPayload::Blank => out.push(Response(None)),
                EntryPayload::Normal(r) => out.push(Response(inner.state.data.insert(r.key, r.value))),
                EntryPayload::Membership(m) => {
                    inner.state.last_membership = StoredMembership::new(Some(e.log_id), m);
                    out.push(Response(None));
                }
            }
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError<NodeId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, openraft::BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<NodeId>> {
        let data = snapshot.into_inner();
        let state: State = postcard::from_bytes(&data).expect("decode a snapshot");
        let mut inner = self.inner.lock().unwrap();
        inner.state = state;
        inner.snapshot = Some((meta.clone(), data));
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<Config>>, StorageError<NodeId>> {
        let inner = self.inner.lock().unwrap();
        Ok(inner
            .snapshot
            .as_ref()
            .map(|(meta, data)| Snapshot { meta: meta.clone(), snapshot: Box::new(Cursor::new(data.clone())) }))
    }
}
