//! A replicated key-value log: three OmniPaxos nodes in one process, each on
//! its own paxos-store directory. The example routes the messages itself (as
//! a real deployment's network would), kills a node without any shutdown,
//! keeps writing with the other two, restarts the killed node from its
//! directory, and shows it catching up with nothing lost.
//!
//! Run: `cargo run --release -p paxos-store-omnipaxos --example kv_cluster [DIR]`
//! (without DIR a temporary directory is used and removed afterwards).

use omnipaxos::macros::Entry;
use omnipaxos::messages::Message;
use omnipaxos::util::{LogEntry, NodeId};
use omnipaxos::{ClusterConfig, OmniPaxos, OmniPaxosConfig, ServerConfig};
use paxos_store_omnipaxos::OmniPaxosStorage;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A log entry: set `key` to `value`.
#[derive(Clone, Debug, Serialize, Deserialize, Entry)]
struct Put {
    key: String,
    value: u64,
}

type Node = OmniPaxos<Put, OmniPaxosStorage<Put>>;
const NODES: [NodeId; 3] = [1, 2, 3];

fn start(pid: NodeId, root: &Path) -> Result<Node, Box<dyn std::error::Error>> {
    // Opens (or creates) the node's store; after a crash this recovers
    // everything the node had acknowledged.
    let storage = OmniPaxosStorage::open(root.join(format!("node-{pid}")))?;
    let config = OmniPaxosConfig {
        cluster_config: ClusterConfig { configuration_id: 1, nodes: NODES.to_vec(), ..Default::default() },
        server_config: ServerConfig { pid, election_tick_timeout: 3, ..Default::default() },
    };
    Ok(config.build(storage)?)
}

/// Tick every live node and deliver messages until there are none left.
fn run(nodes: &mut BTreeMap<NodeId, Node>, rounds: usize) {
    for _ in 0..rounds {
        nodes.values_mut().for_each(|n| n.tick());
        loop {
            let mut msgs: Vec<Message<Put>> = Vec::new();
            for n in nodes.values_mut() {
                n.take_outgoing_messages(&mut msgs);
            }
            if msgs.is_empty() {
                break;
            }
            for m in msgs {
                if let Some(n) = nodes.get_mut(&m.get_receiver()) {
                    n.handle_incoming(m); // messages to a dead node are lost
                }
            }
        }
    }
}

fn leader(nodes: &mut BTreeMap<NodeId, Node>) -> NodeId {
    loop {
        let views: Vec<_> = nodes.values().map(|n| n.get_current_leader()).collect();
        if let Some(Some((l, true))) = views.first() {
            if nodes.contains_key(l) && views.iter().all(|v| *v == Some((*l, true))) {
                return *l;
            }
        }
        run(nodes, 1);
    }
}

fn put(nodes: &mut BTreeMap<NodeId, Node>, key: &str, value: u64) {
    let l = leader(nodes);
    nodes.get_mut(&l).unwrap().append(Put { key: key.into(), value }).expect("append");
}

fn state(node: &Node) -> BTreeMap<String, u64> {
    let mut kv = BTreeMap::new();
    for e in node.read_decided_suffix(0).unwrap_or_default() {
        if let LogEntry::Decided(p) = e {
            kv.insert(p.key, p.value);
        }
    }
    kv
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let root: PathBuf = std::env::args().nth(1).map(PathBuf::from).unwrap_or_else(|| tmp.path().to_path_buf());
    println!("stores under {}", root.display());

    let mut nodes = BTreeMap::new();
    for pid in NODES {
        nodes.insert(pid, start(pid, &root)?);
    }
    for i in 0..100 {
        put(&mut nodes, &format!("k{}", i % 10), i);
    }
    run(&mut nodes, 5);
    let l = leader(&mut nodes);
    println!("leader is node {l}; it decided {} entries", nodes[&l].get_decided_idx());

    // Kill a follower: no shutdown, no flush. Every write it acknowledged is
    // already durable.
    let victim = NODES.into_iter().find(|p| *p != l).unwrap();
    let decided_before = nodes[&victim].get_decided_idx();
    nodes.remove(&victim);
    println!("killed node {victim} at decided index {decided_before}");
    for i in 100..150 {
        put(&mut nodes, "late", i);
    }
    run(&mut nodes, 5);
    println!("the other two decided {} entries meanwhile", nodes[&l].get_decided_idx());

    let restarted = start(victim, &root)?;
    println!(
        "node {victim} restarted from disk: decided index {} (was {decided_before}), {} entries in its store",
        restarted.get_decided_idx(),
        restarted.get_accepted_idx()
    );
    assert!(restarted.get_decided_idx() >= decided_before, "nothing decided is lost");
    nodes.insert(victim, restarted);
    run(&mut nodes, 20);
    let states: Vec<_> = nodes.values().map(state).collect();
    assert!(states.windows(2).all(|w| w[0] == w[1]), "every node has the same state");
    println!(
        "after catching up every node decided {} entries; state: {:?}",
        nodes[&victim].get_decided_idx(),
        states[0]
    );
    Ok(())
}
