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
//! durable. Every backend is wrapped in the same call counter
//! (`counting.rs`).
//!
//! Fair on a noisy disk: the runs are interleaved (each round runs every
//! workload on every row, the rows in a rotated order), each run gets a
//! fresh directory and starts after a `sync` of the file system, no
//! directory is deleted until the end, and the table shows the median of the
//! rounds for each cell.
//!
//! Run: `cargo bench -p paxos-store-omnipaxos --bench omnipaxos [-- flags]`
//! and with RocksDB: `cargo bench -p paxos-store-omnipaxos --features rocksdb --bench omnipaxos`
//! (needs `libclang-dev`; RocksDB takes minutes to build). Flags:
//! - `--entries N`: entries per run at (b) and (c); (a) gets N/10 (default 20000);
//! - `--rounds R`: rounds, the table shows the medians (default 3);
//! - `--only TEXT` (repeatable): only the rows whose label contains one of these;
//! - `--count`: after the table, the storage calls per decided entry on the
//!   leader and on each follower, which of them changed nothing, and
//!   paxos-store's syncs and records per sync;
//! - `--calls`: instead of the table, the latency of single storage calls
//!   on each backend, outside OmniPaxos (the floor each call costs).
//!
//! Set `BENCH_DIR` to put the stores on another file system (default: the
//! system's temporary directory).

mod calls;
mod counting;
mod setup;

use counting::{Counted, Counts};
use omnipaxos::macros::Entry;
use omnipaxos::messages::Message;
use omnipaxos::storage::Storage;
use omnipaxos::util::NodeId;
use omnipaxos::{ClusterConfig, OmniPaxos, OmniPaxosConfig, ServerConfig};
use paxos_store_benches::stats::median;
use serde::{Deserialize, Serialize};
#[cfg(feature = "rocksdb")]
use setup::Rocks;
use setup::{LogStats, OwnStores, Setup, SharedStore};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use tempfile::TempDir;

#[derive(Clone, Debug, Serialize, Deserialize, Entry)]
pub struct Payload {
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
fn run_single<S: Storage<Payload>>(
    mut nodes: BTreeMap<NodeId, Node<S>>,
    leader: NodeId,
    wl: Workload,
    total: usize,
) -> Result {
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
    nodes: BTreeMap<NodeId, Node<S>>,
    leader: NodeId,
    wl: Workload,
    total: usize,
) -> Result {
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

/// One run: fresh stores in a fresh directory (kept until the end), an
/// election, then the measured workload.
fn run<X: Setup>(label: &str, setup: &X, threaded: bool, wl: Workload, args: &Args, keep: &mut Vec<TempDir>) -> Run {
    let dir = tempfile::tempdir_in(bench_dir()).expect("tempdir");
    settle();
    let (storages, probe) = setup.nodes(dir.path());
    let counts: Vec<(NodeId, Arc<Counts>)> = PIDS.iter().map(|p| (*p, Counts::new(args.count))).collect();
    let mut nodes: BTreeMap<NodeId, Node<Counted<X::S>>> = storages
        .into_iter()
        .zip(&counts)
        .map(|(s, (p, c))| (*p, build(*p, wl.batch, Counted::new(s, c.clone()))))
        .collect();
    let leader = elect(&mut nodes);
    let before: Vec<counting::Snapshot> = counts.iter().map(|(_, c)| c.snapshot()).collect();
    let log_before = probe.as_ref().map(|f| f());
    // Fewer entries for the one-at-a-time workload.
    let n = if wl.in_flight == 1 { args.entries / 10 } else { args.entries };
    let result = if threaded { run_threaded(nodes, leader, wl, n) } else { run_single(nodes, leader, wl, n) };
    let notes = if args.count {
        let calls: Vec<(NodeId, counting::Snapshot)> =
            counts.iter().zip(&before).map(|((p, c), b)| (*p, c.snapshot().since(b))).collect();
        let log = probe.zip(log_before).map(|(f, b)| {
            f().iter()
                .zip(b)
                .map(|(a, b)| LogStats { records: a.records - b.records, syncs: a.syncs - b.syncs })
                .collect()
        });
        counting::lines(&format!("{label}, ({})", wl.name), leader, n, &calls, log)
    } else {
        Vec::new()
    };
    keep.push(dir);
    Run { result, notes }
}

struct Run {
    result: Result,
    notes: Vec<String>,
}

fn bench_dir() -> std::path::PathBuf {
    std::env::var("BENCH_DIR").map(Into::into).unwrap_or_else(|_| std::env::temp_dir())
}

/// Let the previous run's write-back finish before the next one starts.
fn settle() {
    let _ = std::process::Command::new("sync").status();
    thread::sleep(Duration::from_millis(50));
}

struct Args {
    entries: usize,
    rounds: usize,
    only: Vec<String>,
    count: bool,
}

/// A row of the table: a label and how to run one workload of it.
type RowFn<'a> = Box<dyn Fn(Workload, &Args, &mut Vec<TempDir>) -> Run + 'a>;

fn rows() -> Vec<(&'static str, RowFn<'static>)> {
    fn row<X: Setup + 'static>(label: &'static str, setup: X, threaded: bool) -> (&'static str, RowFn<'static>) {
        (label, Box::new(move |wl, args, keep| run(label, &setup, threaded, wl, args, keep)))
    }
    #[allow(unused_mut)]
    let mut v = vec![
        row("paxos-store, one store per node, 1 thread", OwnStores, false),
        row("paxos-store, one store per node, thread/node", OwnStores, true),
        row("paxos-store, one shared store, thread/node", SharedStore, true),
    ];
    #[cfg(feature = "rocksdb")]
    v.extend([
        row("RocksDB sync_writes on, 1 thread", Rocks { sync: true }, false),
        row("RocksDB sync_writes on, thread/node", Rocks { sync: true }, true),
        row("RocksDB sync_writes OFF (not durable), 1 thread", Rocks { sync: false }, false),
        row("RocksDB sync_writes OFF (not durable), thread/node", Rocks { sync: false }, true),
    ]);
    v
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let value = |flag: &str| argv.iter().position(|a| a == flag).and_then(|i| argv.get(i + 1));
    let args = Args {
        entries: value("--entries").and_then(|v| v.parse().ok()).unwrap_or(20_000),
        rounds: value("--rounds").and_then(|v| v.parse().ok()).unwrap_or(3).max(1),
        only: argv.windows(2).filter(|w| w[0] == "--only").map(|w| w[1].clone()).collect(),
        count: argv.iter().any(|a| a == "--count"),
    };
    if argv.iter().any(|a| a == "--calls") {
        calls::run(&args);
        return;
    }
    let rows: Vec<_> = rows()
        .into_iter()
        .filter(|(l, _)| args.only.is_empty() || args.only.iter().any(|o| l.contains(o.as_str())))
        .collect();
    let e = args.entries;
    println!("OmniPaxos 0.2.4, 3 nodes in one process, {PAYLOAD} B payload per entry, measured at the leader;");
    println!("(a) 1 in flight, batch_size 1 ({} entries); (b) 100 in flight, batch_size 1; (c) 100 in flight, batch_size 100 ({e} entries)", e / 10);
    println!(
        "columns per workload: decided entries/s, p50 and p99 commit latency (ms); median of {} interleaved rounds\n",
        args.rounds
    );
    // results[row][workload]: one Result per round.
    let mut results: Vec<Vec<Vec<Result>>> =
        rows.iter().map(|_| WORKLOADS.iter().map(|_| Vec::new()).collect()).collect();
    let mut notes: Vec<Vec<Vec<String>>> =
        rows.iter().map(|_| WORKLOADS.iter().map(|_| Vec::new()).collect()).collect();
    let mut keep = Vec::new();
    for round in 0..args.rounds {
        for (w, wl) in WORKLOADS.iter().enumerate() {
            for k in 0..rows.len() {
                let r = (k + round) % rows.len();
                let (label, f) = &rows[r];
                eprintln!("round {}/{}: ({}) {label}", round + 1, args.rounds, wl.name);
                let run = f(*wl, &args, &mut keep);
                results[r][w].push(run.result);
                if round == 0 {
                    notes[r][w] = run.notes;
                }
            }
        }
    }
    let mut head = format!("| {:<50} |", "storage, routing");
    let mut rule = format!("|{}|", "-".repeat(52));
    for wl in WORKLOADS {
        head += &format!(" ({}) ent/s | p50 ms  | p99 ms  |", wl.name);
        rule += "----------:|--------:|--------:|";
    }
    println!("{head}\n{rule}");
    for ((label, _), cells) in rows.iter().zip(&results) {
        let mut line = format!("| {label:<50} |");
        for runs in cells {
            let m = |f: &dyn Fn(&Result) -> f64| median(runs.iter().map(f).collect());
            line += &format!(
                " {:>9.0} | {:>7.2} | {:>7.2} |",
                m(&|r| r.per_sec),
                m(&|r| r.p50.as_secs_f64() * 1e3),
                m(&|r| r.p99.as_secs_f64() * 1e3)
            );
        }
        println!("{line}");
    }
    #[cfg(not(feature = "rocksdb"))]
    println!("\n(RocksDB rows: build with --features rocksdb)");
    if args.count {
        println!("\nStorage calls per decided entry (first round; the measured run only, election excluded):");
        notes.iter().flatten().flatten().for_each(|l| println!("{l}"));
    }
    drop(keep);
}
