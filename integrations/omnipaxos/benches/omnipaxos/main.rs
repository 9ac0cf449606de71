//! OmniPaxos on paxos-store against OmniPaxos on `omnipaxos_storage`'s
//! RocksDB `PersistentStorage` (the latter with `--features rocksdb`).
//!
//! Workload (fixed, printed): 3 nodes in one process, entries carrying a
//! 128-byte payload, proposals made at the leader; measured at the leader:
//! decided entries per second, and the commit latency of each entry (from
//! `append` to the leader's decided index passing it), p50 and p99.
//! - (a) 1 proposal in flight, OmniPaxos `batch_size` 1
//! - (b) 100 in flight, `batch_size` 1
//! - (c) 100 in flight, `batch_size` 100
//!
//! each with the messages routed by one thread, and again with one thread
//! per node; paxos-store also with the three nodes as three groups of one
//! shared store (one thread per node), so concurrent nodes share syncs.
//! Like for like: one store per node otherwise; RocksDB with `sync_writes`
//! on (0.2.4's default); RocksDB with it off is reported, labelled as not
//! durable.
//!
//! Run: `cargo bench -p paxos-store-omnipaxos --bench omnipaxos [-- --entries N]`
//! and with RocksDB: `cargo bench -p paxos-store-omnipaxos --features rocksdb --bench omnipaxos`
//! (needs `libclang-dev`; RocksDB takes minutes to build).

use omnipaxos::macros::Entry;
use omnipaxos::messages::Message;
use omnipaxos::storage::Storage;
use omnipaxos::util::NodeId;
use omnipaxos::{ClusterConfig, OmniPaxos, OmniPaxosConfig, ServerConfig};
use paxos_store_omnipaxos::{OmniPaxosStorage, PaxosStore, StoreOptions};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

#[derive(Clone, Debug, Serialize, Deserialize, Entry)]
struct Payload {
    id: u64,
    data: Vec<u8>,
}

const PIDS: [NodeId; 3] = [1, 2, 3];
const PAYLOAD: usize = 128;
const TICK: Duration = Duration::from_millis(5);

#[derive(Clone, Copy)]
struct Workload {
    name: &'static str,
    in_flight: usize,
    batch: usize,
}

const WORKLOADS: [Workload; 3] = [
    Workload { name: "a", in_flight: 1, batch: 1 },
    Workload { name: "b", in_flight: 100, batch: 1 },
    Workload { name: "c", in_flight: 100, batch: 100 },
];

struct Result {
    per_sec: f64,
    p50: Duration,
    p99: Duration,
}

type Node<S> = OmniPaxos<Payload, S>;

fn build<S: Storage<Payload>>(pid: NodeId, batch: usize, storage: S) -> Node<S> {
    let config = OmniPaxosConfig {
        cluster_config: ClusterConfig { configuration_id: 1, nodes: PIDS.to_vec(), ..Default::default() },
        server_config: ServerConfig {
            pid,
            batch_size: batch,
            election_tick_timeout: 40,
            flush_batch_tick_timeout: 2,
            ..Default::default()
        },
    };
    config.build(storage).expect("valid config")
}

/// Route every pending message until none are left (one thread).
fn route<S: Storage<Payload>>(nodes: &mut BTreeMap<NodeId, Node<S>>) {
    loop {
        let mut msgs: Vec<Message<Payload>> = Vec::new();
        for n in nodes.values_mut() {
            n.take_outgoing_messages(&mut msgs);
        }
        if msgs.is_empty() {
            return;
        }
        for m in msgs {
            if let Some(n) = nodes.get_mut(&m.get_receiver()) {
                n.handle_incoming(m);
            }
        }
    }
}

/// Tick (without waiting) until every node follows one leader in the accept phase.
fn elect<S: Storage<Payload>>(nodes: &mut BTreeMap<NodeId, Node<S>>) -> NodeId {
    for _ in 0..100_000 {
        let views: Vec<_> = nodes.values().map(|n| n.get_current_leader()).collect();
        if let Some(Some((l, true))) = views.first() {
            if views.iter().all(|v| *v == Some((*l, true))) {
                return *l;
            }
        }
        nodes.values_mut().for_each(|n| n.tick());
        route(nodes);
    }
    panic!("no leader elected");
}

/// Proposals and latencies at the leader.
struct Meter {
    total: usize,
    in_flight: usize,
    base: usize,
    proposed: usize,
    seen: usize,
    sent: Vec<Instant>,
    lat: Vec<Duration>,
    next_id: u64,
}

impl Meter {
    fn new(total: usize, in_flight: usize, base: usize) -> Self {
        Meter {
            total,
            in_flight,
            base,
            proposed: 0,
            seen: 0,
            sent: Vec::with_capacity(total),
            lat: Vec::new(),
            next_id: 0,
        }
    }

    fn propose<S: Storage<Payload>>(&mut self, leader: &mut Node<S>) {
        while self.proposed < self.total && self.proposed - self.seen < self.in_flight {
            self.next_id += 1;
            self.sent.push(Instant::now());
            leader.append(Payload { id: self.next_id, data: vec![7; PAYLOAD] }).expect("append at the leader");
            self.proposed += 1;
        }
    }

    /// Record what the leader decided since last time; true when all are.
    fn observe<S: Storage<Payload>>(&mut self, leader: &Node<S>) -> bool {
        let decided = (leader.get_decided_idx() - self.base).min(self.proposed);
        let now = Instant::now();
        for k in self.seen..decided {
            self.lat.push(now - self.sent[k]);
        }
        self.seen = self.seen.max(decided);
        self.seen == self.total
    }

    fn result(mut self, elapsed: Duration) -> Result {
        self.lat.sort_unstable();
        let pct = |p: f64| self.lat[((self.lat.len() as f64 * p) as usize).min(self.lat.len() - 1)];
        Result { per_sec: self.total as f64 / elapsed.as_secs_f64(), p50: pct(0.50), p99: pct(0.99) }
    }
}

/// One thread routes every message.
fn run_single<S: Storage<Payload>>(mut nodes: BTreeMap<NodeId, Node<S>>, wl: Workload, total: usize) -> Result {
    let leader = elect(&mut nodes);
    let mut m = Meter::new(total, wl.in_flight, nodes[&leader].get_decided_idx());
    let start = Instant::now();
    let mut last_tick = start;
    loop {
        m.propose(nodes.get_mut(&leader).unwrap());
        route(&mut nodes);
        if m.observe(&nodes[&leader]) {
            break;
        }
        if last_tick.elapsed() >= TICK {
            last_tick = Instant::now();
            nodes.values_mut().for_each(|n| n.tick());
        }
    }
    m.result(start.elapsed())
}

/// One thread per node; messages go over channels.
fn run_threaded<S: Storage<Payload> + Send + 'static>(
    mut nodes: BTreeMap<NodeId, Node<S>>,
    wl: Workload,
    total: usize,
) -> Result {
    let leader = elect(&mut nodes);
    let base = nodes[&leader].get_decided_idx();
    let mut senders: BTreeMap<NodeId, Sender<Message<Payload>>> = BTreeMap::new();
    let mut inboxes: BTreeMap<NodeId, Receiver<Message<Payload>>> = BTreeMap::new();
    for pid in PIDS {
        let (tx, rx) = channel();
        senders.insert(pid, tx);
        inboxes.insert(pid, rx);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut handles = Vec::new();
    for (pid, mut node) in nodes {
        let inbox = inboxes.remove(&pid).unwrap();
        let peers = senders.clone();
        let mut meter = (pid == leader).then(|| Meter::new(total, wl.in_flight, base));
        let stop = stop.clone();
        handles.push(thread::spawn(move || -> Option<Meter> {
            let mut last_tick = Instant::now();
            let mut out = Vec::new();
            while !stop.load(Ordering::Acquire) {
                if let Some(m) = &mut meter {
                    m.propose(&mut node);
                }
                // Send before blocking on the inbox: the replies depend on it.
                node.take_outgoing_messages(&mut out);
                for msg in out.drain(..) {
                    let _ = peers[&msg.get_receiver()].send(msg);
                }
                let first = match inbox.recv_timeout(TICK) {
                    Ok(msg) => Some(msg),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                };
                for msg in first.into_iter().chain(std::iter::from_fn(|| inbox.try_recv().ok())) {
                    node.handle_incoming(msg);
                }
                if last_tick.elapsed() >= TICK {
                    last_tick = Instant::now();
                    node.tick();
                }
                node.take_outgoing_messages(&mut out);
                for msg in out.drain(..) {
                    let _ = peers[&msg.get_receiver()].send(msg);
                }
                if let Some(m) = &mut meter {
                    if m.observe(&node) {
                        stop.store(true, Ordering::Release);
                    }
                }
            }
            meter
        }));
    }
    drop(senders);
    let mut meter = None;
    for h in handles {
        if let Some(m) = h.join().expect("node thread") {
            meter = Some(m);
        }
    }
    meter.expect("the leader's meter").result(start.elapsed())
}

fn fmt_row(label: &str, results: &[Result]) -> String {
    let mut s = format!("| {label:<44} |");
    for r in results {
        s += &format!(" {:>9.0} | {:>7.2} | {:>7.2} |", r.per_sec, ms(r.p50), ms(r.p99));
    }
    s
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// How a run gets its three nodes' storages.
trait Setup {
    type S: Storage<Payload> + Send + 'static;
    fn nodes(&self, dir: &Path) -> Vec<Self::S>;
}

struct OwnStores;
impl Setup for OwnStores {
    type S = OmniPaxosStorage<Payload>;
    fn nodes(&self, dir: &Path) -> Vec<Self::S> {
        PIDS.iter().map(|p| OmniPaxosStorage::open(dir.join(format!("node-{p}"))).expect("open")).collect()
    }
}

struct SharedStore;
impl Setup for SharedStore {
    type S = OmniPaxosStorage<Payload>;
    fn nodes(&self, dir: &Path) -> Vec<Self::S> {
        let store = PaxosStore::open_with(dir.join("shared"), StoreOptions::default()).expect("open");
        PIDS.iter().map(|p| store.group(*p).expect("group")).collect()
    }
}

#[cfg(feature = "rocksdb")]
struct Rocks {
    sync: bool,
}
#[cfg(feature = "rocksdb")]
impl Setup for Rocks {
    type S = omnipaxos_storage::persistent_storage::PersistentStorage<Payload>;
    fn nodes(&self, dir: &Path) -> Vec<Self::S> {
        use omnipaxos_storage::persistent_storage::{PersistentStorage, PersistentStorageConfig};
        PIDS.iter()
            .map(|p| {
                let path = dir.join(format!("rocks-{p}")).to_string_lossy().into_owned();
                let mut cfg = PersistentStorageConfig::with_path(path);
                cfg.set_sync_writes(self.sync);
                PersistentStorage::open(cfg)
            })
            .collect()
    }
}

fn row<X: Setup>(label: &str, setup: &X, threaded: bool, entries: usize) -> String {
    let results: Vec<Result> = WORKLOADS
        .iter()
        .map(|wl| {
            let dir = tempfile::tempdir_in(
                std::env::var("BENCH_DIR").map(Into::into).unwrap_or_else(|_| std::env::temp_dir()),
            )
            .expect("tempdir");
            let nodes: BTreeMap<NodeId, Node<X::S>> =
                PIDS.iter().zip(setup.nodes(dir.path())).map(|(p, s)| (*p, build(*p, wl.batch, s))).collect();
            // Fewer entries for the one-at-a-time workload.
            let n = if wl.in_flight == 1 { entries / 10 } else { entries };
            if threaded {
                run_threaded(nodes, *wl, n)
            } else {
                run_single(nodes, *wl, n)
            }
        })
        .collect();
    let line = fmt_row(label, &results);
    println!("{line}");
    line
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let entries = args
        .iter()
        .position(|a| a == "--entries")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000usize);
    println!("OmniPaxos 0.2.4, 3 nodes in one process, {PAYLOAD} B payload per entry, measured at the leader;");
    println!("(a) 1 in flight, batch_size 1 ({} entries); (b) 100 in flight, batch_size 1; (c) 100 in flight, batch_size 100 ({entries} entries)", entries / 10);
    println!("columns per workload: decided entries/s, p50 and p99 commit latency (ms)\n");
    let mut head = format!("| {:<44} |", "storage, routing");
    let mut rule = format!("|{}|", "-".repeat(46));
    for wl in WORKLOADS {
        head += &format!(" ({}) ent/s | p50 ms  | p99 ms  |", wl.name);
        rule += "----------:|--------:|--------:|";
    }
    println!("{head}\n{rule}");
    row("paxos-store, one store per node, 1 thread", &OwnStores, false, entries);
    row("paxos-store, one store per node, thread/node", &OwnStores, true, entries);
    row("paxos-store, one shared store, thread/node", &SharedStore, true, entries);
    #[cfg(feature = "rocksdb")]
    {
        row("RocksDB sync_writes on, 1 thread", &Rocks { sync: true }, false, entries);
        row("RocksDB sync_writes on, thread/node", &Rocks { sync: true }, true, entries);
        row("RocksDB sync_writes OFF (not durable), 1 thread", &Rocks { sync: false }, false, entries);
        row("RocksDB sync_writes OFF (not durable), thread/node", &Rocks { sync: false }, true, entries);
    }
    #[cfg(not(feature = "rocksdb"))]
    println!("\n(RocksDB rows: build with --features rocksdb)");
}
