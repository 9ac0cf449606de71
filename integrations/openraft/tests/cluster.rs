//! A 3-node openraft cluster in one process, each node's log on paxos-store
//! on its own simulated disk (`MemStorage`, Linux's page-cache semantics),
//! talking through an in-process network.
//!
//! A node loses power (its disk keeps only what was synced; the state
//! machine, in memory, is gone) and restarts from its disk; then all three
//! lose power at once and restart. Every write the cluster acknowledged
//! (`client_write` returned) must be in every node's state machine at the
//! end: the state machines are rebuilt only from what the logs kept, so a
//! log that acknowledged an append before its sync would lose writes here.

mod common;

use common::slow::SlowSync;
use common::sm::{Config, Request, StateMachine};
use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use openraft::{BasicNode, Raft, ServerState};
use paxos_store_openraft::{RaftStore, StoreOptions};
use paxos_store_testkit::hooked::Hooked;
use paxos_wal::storage::{CrashKind, MemStorage};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type NodeId = u64;

/// How long each sync of a node's disk takes.
const SYNC_MS: u64 = 5;
type Rpc<T, E = RaftError<NodeId>> = Result<T, RPCError<NodeId, BasicNode, E>>;

/// The running nodes, by id; a node that is down is absent (unreachable).
#[derive(Clone, Default)]
struct Router {
    nodes: Arc<Mutex<BTreeMap<NodeId, Raft<Config>>>>,
}

impl Router {
    fn get(&self, id: NodeId) -> Option<Raft<Config>> {
        self.nodes.lock().unwrap().get(&id).cloned()
    }
}

struct Link {
    router: Router,
    target: NodeId,
}

fn unreachable<E: std::error::Error>(target: NodeId) -> RPCError<NodeId, BasicNode, E> {
    let e = std::io::Error::other(format!("node {target} is down"));
    RPCError::Unreachable(Unreachable::new(&e))
}

impl RaftNetworkFactory<Config> for Router {
    type Network = Link;
    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> Link {
        Link { router: self.clone(), target }
    }
}

impl RaftNetwork<Config> for Link {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<Config>,
        _: RPCOption,
    ) -> Rpc<AppendEntriesResponse<NodeId>> {
        let raft = self.router.get(self.target).ok_or_else(|| unreachable(self.target))?;
        raft.append_entries(rpc).await.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<Config>,
        _: RPCOption,
    ) -> Rpc<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>> {
        let raft = self.router.get(self.target).ok_or_else(|| unreachable(self.target))?;
        raft.install_snapshot(rpc).await.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }

    async fn vote(&mut self, rpc: VoteRequest<NodeId>, _: RPCOption) -> Rpc<VoteResponse<NodeId>> {
        let raft = self.router.get(self.target).ok_or_else(|| unreachable(self.target))?;
        raft.vote(rpc).await.map_err(|e| RPCError::Network(NetworkError::new(&std::io::Error::other(e.to_string()))))
    }
}

struct Node {
    mem: MemStorage,
    /// The running node (its state machine is in memory: lost at a power cut).
    running: Option<(Raft<Config>, StateMachine, RaftStore<Config>)>,
}

struct Cluster {
    router: Router,
    nodes: BTreeMap<NodeId, Node>,
    config: Arc<openraft::Config>,
    rng: SmallRng,
}

impl Cluster {
    async fn start(&mut self, id: NodeId) {
        let node = self.nodes.get_mut(&id).unwrap();
        // Syncs take SYNC_MS, as on a real disk: an append acknowledged
        // before its sync would have that long to be lost by a power cut.
        let disk = Hooked::new(node.mem.shared(), SlowSync { delay: Duration::from_millis(SYNC_MS) });
        let store = RaftStore::<Config>::open_with(Path::new("/node"), StoreOptions::small(disk))
            .expect("open the node's store");
        let log = store.group(1).unwrap();
        if std::env::var("CLUSTER_TRACE").is_ok() {
            let a = store.acceptor_store();
            let g = paxos_acceptor_store::GroupId(1);
            eprintln!(
                "node {id} start: first {:?} last {:?} meta {:?} report {:?}",
                a.first_live_slot(g),
                a.last_accepted_slot(g),
                a.metadata(g).unwrap().iter().map(|(k, v)| (*k, v.len())).collect::<Vec<_>>(),
                store.recovery_report()
            );
        }
        let sm = StateMachine::default();
        let raft = Raft::new(id, self.config.clone(), self.router.clone(), log, sm.clone()).await.unwrap();
        self.router.nodes.lock().unwrap().insert(id, raft.clone());
        node.running = Some((raft, sm, store));
    }

    /// Cut `id`'s power: from this instant nothing more reaches its disk;
    /// its tasks are stopped, its memory is gone, its disk keeps what was synced.
    async fn power_cut(&mut self, id: NodeId) {
        self.nodes[&id].mem.crash_after_ops(0);
        self.after_power_cut(id).await;
    }

    /// The rest of a power cut, once `id`'s disk takes no more writes.
    async fn after_power_cut(&mut self, id: NodeId) {
        let node = self.nodes.get_mut(&id).unwrap();
        self.router.nodes.lock().unwrap().remove(&id);
        let (raft, _sm, store) = node.running.take().unwrap();
        raft.shutdown().await.unwrap();
        drop((raft, store));
        // Let every thread of the dead node let go of its disk.
        let deadline = Instant::now() + Duration::from_secs(10);
        while node.mem.handles() > 1 {
            assert!(Instant::now() < deadline, "node {id}'s store was not released");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        node.mem.crash(CrashKind::PowerLoss, &mut self.rng);
    }

    async fn leader(&self) -> Raft<Config> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            for n in self.nodes.values() {
                if let Some((raft, _, _)) = &n.running {
                    if raft.metrics().borrow().state == ServerState::Leader {
                        return raft.clone();
                    }
                }
            }
            assert!(Instant::now() < deadline, "no leader elected");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Write `key = value` through the leader until the cluster acknowledges it.
    async fn write(&self, key: String, value: String) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let leader = self.leader().await;
            match leader.client_write(Request { key: key.clone(), value: value.clone() }).await {
                Ok(_) => return,
                Err(e) => {
                    assert!(Instant::now() < deadline, "write of {key} never acknowledged: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }

    /// Wait until every running node has applied everything the leader committed.
    async fn settle(&self) -> u64 {
        let leader = self.leader().await;
        // A write in the leader's term commits (and so applies) everything before it.
        self.write("settle".into(), "x".into()).await;
        let committed = leader.metrics().borrow().last_applied.map_or(0, |l| l.index);
        for n in self.nodes.values() {
            if let Some((raft, _, _)) = &n.running {
                raft.wait(Some(Duration::from_secs(20)))
                    .applied_index_at_least(Some(committed), "catch up")
                    .await
                    .unwrap();
            }
        }
        committed
    }
}

/// Write unique keys through whichever node leads, recording each write the
/// cluster acknowledged, until told to stop.
async fn writer(
    router: Router,
    task: u64,
    stop: Arc<std::sync::atomic::AtomicBool>,
    acked: Arc<Mutex<Vec<(String, String)>>>,
) {
    let mut i = 0;
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        let leader =
            router.nodes.lock().unwrap().values().find(|r| r.metrics().borrow().state == ServerState::Leader).cloned();
        let Some(leader) = leader else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let (k, v) = (format!("w{task}-{i}"), format!("{i}"));
        if leader.client_write(Request { key: k.clone(), value: v.clone() }).await.is_ok() {
            acked.lock().unwrap().push((k, v));
            i += 1;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_keeps_every_acknowledged_write_across_power_cuts() {
    let config = openraft::Config {
        heartbeat_interval: 50,
        election_timeout_min: 150,
        election_timeout_max: 300,
        // The tests' state machine lives in memory, so its snapshots die
        // with a node: never purge the log behind one.
        snapshot_policy: openraft::SnapshotPolicy::Never,
        ..Default::default()
    };
    let mut c = Cluster {
        router: Router::default(),
        nodes: (1..=3).map(|id| (id, Node { mem: MemStorage::new(), running: None })).collect(),
        config: Arc::new(config.validate().unwrap()),
        rng: SmallRng::seed_from_u64(7),
    };
    for id in 1..=3 {
        c.start(id).await;
    }
    let members: BTreeMap<NodeId, BasicNode> = (1..=3).map(|id| (id, BasicNode::default())).collect();
    c.router.get(1).unwrap().initialize(members).await.unwrap();

    let mut acked: BTreeMap<String, String> = BTreeMap::new();
    let mut n = 0;
    let mut write_some = async |c: &Cluster, acked: &mut BTreeMap<String, String>, count: usize| {
        for _ in 0..count {
            n += 1;
            let (k, v) = (format!("k{}", n % 40), format!("v{n}"));
            c.write(k.clone(), v.clone()).await;
            acked.insert(k, v);
        }
    };

    write_some(&c, &mut acked, 60).await;
    // The leader loses power; the others elect a new one and go on.
    let first = c.leader().await.metrics().borrow().id;
    c.power_cut(first).await;
    write_some(&c, &mut acked, 40).await;
    // It restarts from its disk and catches up.
    c.start(first).await;
    write_some(&c, &mut acked, 20).await;
    c.settle().await;

    // All three lose power at once, with writes in flight, and restart
    // from their disks: what was acknowledged before the cut must survive.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let in_flight = Arc::new(Mutex::new(Vec::new()));
    let writers: Vec<_> =
        (0..8).map(|t| tokio::spawn(writer(c.router.clone(), t, stop.clone(), in_flight.clone()))).collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for id in 1..=3 {
        c.nodes[&id].mem.crash_after_ops(0);
    }
    // Acknowledgements that arrive from now on were not given before the cut.
    let acked_before_cut = in_flight.lock().unwrap().clone();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for id in 1..=3 {
        c.after_power_cut(id).await;
    }
    for w in writers {
        w.abort();
    }
    assert!(acked_before_cut.len() > 20, "only {} writes in flight were acknowledged", acked_before_cut.len());
    acked.extend(acked_before_cut);
    for id in 1..=3 {
        c.start(id).await;
    }
    let applied = c.settle().await;
    assert!(applied > 120, "the restarted cluster applied only up to {applied}");

    for (id, node) in &c.nodes {
        let (_, sm, store) = node.running.as_ref().unwrap();
        let state = sm.state();
        for (k, v) in &acked {
            assert_eq!(state.data.get(k), Some(v), "node {id} lost the acknowledged write {k} = {v}");
        }
        let members: BTreeSet<NodeId> = state.last_membership.membership().voter_ids().collect();
        assert_eq!(members, (1..=3).collect(), "node {id}'s membership");
        let _ = store;
    }
}
