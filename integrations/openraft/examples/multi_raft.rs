//! Multi-raft on one paxos-store: 16 raft groups (single-node, so a write
//! commits once its entry is durable locally), each driven by its own tokio
//! tasks, all logging to one `RaftStore`. Their appends share the store's
//! syncs: the example prints entries committed, log records, and syncs.
//!
//! `cargo run --release -p paxos-store-openraft --example multi_raft`

#[path = "../tests/common/sm.rs"]
#[allow(dead_code)]
mod sm;

use openraft::{BasicNode, Raft};
use paxos_store_openraft::RaftStore;
use sm::{Config, Request, StateMachine};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// A network for single-node groups: there is nobody to talk to.
struct NoPeers;
struct NoLink;

impl openraft::RaftNetworkFactory<Config> for NoPeers {
    type Network = NoLink;
    async fn new_client(&mut self, _: u64, _: &BasicNode) -> NoLink {
        NoLink
    }
}

type Rpc<T, E = openraft::error::RaftError<u64>> = Result<T, openraft::error::RPCError<u64, BasicNode, E>>;

fn nobody<E: std::error::Error>() -> openraft::error::RPCError<u64, BasicNode, E> {
    openraft::error::RPCError::Unreachable(openraft::error::Unreachable::new(&std::io::Error::other("no peers")))
}

impl openraft::RaftNetwork<Config> for NoLink {
    async fn append_entries(
        &mut self,
        _: openraft::raft::AppendEntriesRequest<Config>,
        _: openraft::network::RPCOption,
    ) -> Rpc<openraft::raft::AppendEntriesResponse<u64>> {
        Err(nobody())
    }
    async fn install_snapshot(
        &mut self,
        _: openraft::raft::InstallSnapshotRequest<Config>,
        _: openraft::network::RPCOption,
    ) -> Rpc<
        openraft::raft::InstallSnapshotResponse<u64>,
        openraft::error::RaftError<u64, openraft::error::InstallSnapshotError>,
    > {
        Err(nobody())
    }
    async fn vote(
        &mut self,
        _: openraft::raft::VoteRequest<u64>,
        _: openraft::network::RPCOption,
    ) -> Rpc<openraft::raft::VoteResponse<u64>> {
        Err(nobody())
    }
}

const GROUPS: u64 = 16;
const TASKS_PER_GROUP: u64 = 4;
const WRITES_PER_TASK: u64 = 250;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = RaftStore::<Config>::open(dir.path())?;
    let config = Arc::new(openraft::Config::default().validate()?);
    let mut rafts = Vec::new();
    for g in 0..GROUPS {
        // Each group is its own raft (here with one member, node 1).
        let raft = Raft::new(1, config.clone(), NoPeers, store.group(g)?, StateMachine::default()).await?;
        raft.initialize(BTreeMap::from([(1u64, BasicNode::default())])).await?;
        rafts.push(raft);
    }
    for raft in &rafts {
        raft.wait(None).state(openraft::ServerState::Leader, "elected").await?;
    }
    let before = store.stats();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (g, raft) in rafts.iter().enumerate() {
        for t in 0..TASKS_PER_GROUP {
            let raft = raft.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..WRITES_PER_TASK {
                    let req = Request { key: format!("g{g}-t{t}-{i}"), value: "x".repeat(128) };
                    raft.client_write(req).await.expect("committed");
                }
            }));
        }
    }
    for t in tasks {
        t.await?;
    }
    let took = started.elapsed();
    let after = store.stats();
    let entries = GROUPS * TASKS_PER_GROUP * WRITES_PER_TASK;
    let syncs = after.syncs - before.syncs;
    println!(
        "{GROUPS} raft groups on one store: {entries} entries committed in {:.2} s ({:.0}/s)",
        took.as_secs_f64(),
        entries as f64 / took.as_secs_f64()
    );
    println!(
        "{} log records, {syncs} syncs: {:.1} entries per sync (each group alone would need at least one sync per append)",
        after.records - before.records,
        entries as f64 / syncs.max(1) as f64
    );
    let w = &after.wal.fsync;
    println!("fsync p50 {:?}, p99 {:?}", w.quantile(0.5), w.quantile(0.99));
    for raft in rafts {
        raft.shutdown().await?;
    }
    Ok(())
}
