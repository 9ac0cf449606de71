//! openraft 0.9.25 on paxos-store against openraft on RocksDB (the RocksDB
//! rows with `--features rocksdb`): committed entries per second and
//! `client_write` latency, one raft group and many.
//!
//! Workload (fixed, printed): every raft group is a single-node openraft
//! (`initialize`d with one member, so an entry commits once its append is
//! reported flushed, and `client_write` returns once it is applied), all
//! groups in one process on one tokio runtime. `--in-flight N` (default 64)
//! `client_write` calls are kept in flight in total, spread evenly over the
//! groups (at least one per group), each writing a 128-byte value. After a
//! warm-up, for `--secs S`: committed entries/s (writes that returned in the
//! window), p50 and p99 latency of the writes that started and returned in
//! it, the syncs per committed entry and the mean time of one sync. The state machine is the same
//! in-memory one on every row (`tests/common/sm.rs`); snapshots are off, so
//! only the log storage differs.
//!
//! Rows:
//! - paxos-store: every group a `LogStore` of ONE `RaftStore` (default
//!   options): all groups share its log and its syncs;
//! - RocksDB (feature `rocksdb`): one DB per group, as multi-raft users of
//!   openraft-rocksstore do; its log store ported to `RaftLogStorage` with
//!   the WAL synced before an append is reported flushed (see `rocks.rs`
//!   for why a port, and for what 0.9.21 itself syncs: nothing on the log
//!   path), the sync inline as openraft's own port does it, and on a flusher
//!   thread per DB (group commit within a DB);
//! - an in-memory log, reported flushed at once: NOT durable, the ceiling
//!   that openraft itself leaves on this machine.
//!
//! What bounds every durable row: openraft 0.9.25's core appends one
//! `client_write` entry per `append` call and awaits that call's flush
//! notice before it handles the next message (`RaftCore::append_to_log`).
//! So a group has one entry per sync however many writes are in flight, and
//! one group's rate is one over the latency of one durable append; storage
//! can share a sync only between groups.
//!
//! Fair on a noisy disk: each round runs every group count on every row, the
//! rows in a rotated order, each on a fresh directory after a `sync` of the
//! file system; the table shows the median of the rounds for each cell.
//!
//! Run: `cargo bench -p paxos-store-openraft --bench openraft [-- flags]`, and
//! with RocksDB: `cargo bench -p paxos-store-openraft --features rocksdb --bench openraft`
//! (needs `libclang-dev`; RocksDB takes minutes to build). Flags:
//! - `--secs S`: measured seconds per run (default 3), after `--warmup S`
//!   (default 0.5);
//! - `--rounds R`: rounds, the table shows the medians (default 3);
//! - `--groups A,B,..`: the group counts (default `1,64`);
//! - `--in-flight N`: writes in flight in total (default 64);
//! - `--only TEXT` (repeatable): only the rows whose label contains one of these.
//!
//! Set `BENCH_DIR` to put the stores on another file system (default: the
//! system's temporary directory).

mod mem;
#[cfg(feature = "rocksdb")]
mod rocks;
#[allow(dead_code)]
#[path = "../../tests/common/sm.rs"]
mod sm;

use openraft::error::{InstallSnapshotError, RPCError, RaftError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use openraft::storage::RaftLogStorage;
use openraft::{BasicNode, Raft, ServerState, SnapshotPolicy};
use paxos_store_benches::stats::median;
use paxos_store_openraft::{RaftStore, StoreOptions};
use sm::{Config, Request, StateMachine};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const VALUE: usize = 128;

/// The network of a single-node raft: never used.
struct NoNetwork;

fn unreachable<E: std::error::Error>() -> RPCError<u64, BasicNode, E> {
    RPCError::Unreachable(Unreachable::new(&std::io::Error::other("single-node raft: no peers")))
}

impl RaftNetworkFactory<Config> for NoNetwork {
    type Network = NoNetwork;
    async fn new_client(&mut self, _target: u64, _node: &BasicNode) -> NoNetwork {
        NoNetwork
    }
}

impl RaftNetwork<Config> for NoNetwork {
    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<Config>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        Err(unreachable())
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<Config>,
        _option: RPCOption,
    ) -> Result<InstallSnapshotResponse<u64>, RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>> {
        Err(unreachable())
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<u64>,
        _option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        Err(unreachable())
    }
}

/// The syncs a row's storage made so far, and the time spent in them.
type Probe = Box<dyn Fn() -> (u64, Duration) + Send + Sync>;

/// A row's storage: the log storages of `groups` raft groups in `dir`, and
/// its sync counters.
trait Backend {
    type Log: RaftLogStorage<Config>;
    fn open(&self, dir: &Path, groups: usize) -> (Vec<Self::Log>, Probe);
}

/// All groups in one `RaftStore`.
struct PaxosStore;
impl Backend for PaxosStore {
    type Log = paxos_store_openraft::LogStore<Config>;
    fn open(&self, dir: &Path, groups: usize) -> (Vec<Self::Log>, Probe) {
        let store = RaftStore::<Config>::open_with(dir.join("paxos-store"), StoreOptions::default()).expect("open");
        let logs = (0..groups as u64).map(|g| store.group(g).expect("group")).collect();
        (
            logs,
            Box::new(move || {
                let st = store.stats();
                (st.syncs, st.wal.fsync.sum)
            }),
        )
    }
}

/// Each group's log in memory, not durable (the ceiling).
struct Memory;
impl Backend for Memory {
    type Log = mem::MemLog;
    fn open(&self, _dir: &Path, groups: usize) -> (Vec<Self::Log>, Probe) {
        ((0..groups).map(|_| mem::MemLog::default()).collect(), Box::new(|| (0, Duration::ZERO)))
    }
}

/// One RocksDB per group.
#[cfg(feature = "rocksdb")]
struct Rocks(rocks::Flush);
#[cfg(feature = "rocksdb")]
impl Backend for Rocks {
    type Log = rocks::RocksLog;
    fn open(&self, dir: &Path, groups: usize) -> (Vec<Self::Log>, Probe) {
        let syncs = Arc::new(rocks::Syncs::default());
        let logs = (0..groups)
            .map(|g| rocks::RocksLog::open(&dir.join(format!("rocks-{g}")), self.0, syncs.clone()))
            .collect();
        (logs, Box::new(move || syncs.get()))
    }
}

struct Args {
    secs: f64,
    warmup: f64,
    rounds: usize,
    groups: Vec<usize>,
    in_flight: usize,
    only: Vec<String>,
}

#[derive(Clone, Copy)]
struct Measured {
    per_sec: f64,
    p50: Duration,
    p99: Duration,
    syncs_per_entry: f64,
    /// Mean duration of one sync, ms (0 without syncs).
    sync_ms: f64,
}

fn raft_config() -> Arc<openraft::Config> {
    let c = openraft::Config {
        cluster_name: "bench".into(),
        // Nothing to replicate to; the leader keeps its lease.
        heartbeat_interval: 500,
        election_timeout_min: 1500,
        election_timeout_max: 3000,
        snapshot_policy: SnapshotPolicy::Never,
        ..Default::default()
    };
    Arc::new(c.validate().expect("a valid raft config"))
}

/// One run: `groups` single-node rafts on fresh storage, `in_flight` writers
/// in total, measured for `args.secs` after `args.warmup`.
fn run<B: Backend>(backend: &B, groups: usize, args: &Args) -> Measured {
    let dir = tempfile::tempdir_in(bench_dir()).expect("tempdir");
    settle();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_time().build().expect("a tokio runtime");
    let result = rt.block_on(async {
        let (logs, syncs) = backend.open(dir.path(), groups);
        let config = raft_config();
        let mut rafts = Vec::new();
        for log in logs {
            let raft = Raft::new(1, config.clone(), NoNetwork, log, StateMachine::default()).await.expect("raft");
            raft.initialize(BTreeSet::from([1u64])).await.expect("initialize");
            rafts.push(raft);
        }
        for raft in &rafts {
            raft.wait(Some(Duration::from_secs(10))).state(ServerState::Leader, "leader").await.expect("a leader");
        }
        let per_group = (args.in_flight / groups).max(1);
        let start = Instant::now();
        let warm = start + Duration::from_secs_f64(args.warmup);
        let end = warm + Duration::from_secs_f64(args.secs);
        let mut tasks = Vec::new();
        for (g, raft) in rafts.iter().enumerate() {
            for w in 0..per_group {
                let raft = raft.clone();
                tasks.push(tokio::spawn(async move {
                    let mut lat = Vec::new();
                    let mut done_in_window = 0u64;
                    let value = "v".repeat(VALUE);
                    loop {
                        let t = Instant::now();
                        if t >= end {
                            break;
                        }
                        let req = Request { key: format!("g{g}-w{w}"), value: value.clone() };
                        raft.client_write(req).await.expect("client_write");
                        let done = Instant::now();
                        if done >= warm && done <= end {
                            done_in_window += 1;
                            if t >= warm {
                                lat.push(done - t);
                            }
                        }
                    }
                    (lat, done_in_window)
                }));
            }
        }
        tokio::time::sleep_until(warm.into()).await;
        let syncs_at_warm = syncs();
        tokio::time::sleep_until(end.into()).await;
        let syncs_at_end = syncs();
        let n_syncs = syncs_at_end.0 - syncs_at_warm.0;
        let sync_time = syncs_at_end.1.saturating_sub(syncs_at_warm.1);
        let mut lat = Vec::new();
        let mut committed = 0;
        for t in tasks {
            let (l, n) = t.await.expect("a writer");
            lat.extend(l);
            committed += n;
        }
        for raft in &rafts {
            raft.shutdown().await.expect("shutdown");
        }
        drop(rafts);
        lat.sort_unstable();
        let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
        Measured {
            per_sec: committed as f64 / args.secs,
            p50: pct(0.50),
            p99: pct(0.99),
            syncs_per_entry: n_syncs as f64 / committed.max(1) as f64,
            sync_ms: sync_time.as_secs_f64() * 1e3 / n_syncs.max(1) as f64,
        }
    });
    rt.shutdown_timeout(Duration::from_secs(10));
    drop(dir);
    result
}

fn bench_dir() -> std::path::PathBuf {
    std::env::var("BENCH_DIR").map(Into::into).unwrap_or_else(|_| std::env::temp_dir())
}

/// Let the previous run's write-back (and deletion) finish before the next one starts.
fn settle() {
    let _ = std::process::Command::new("sync").status();
    std::thread::sleep(Duration::from_millis(200));
}

/// A row of the table: a label and how to run one group count of it.
type RowFn = Box<dyn Fn(usize, &Args) -> Measured>;

fn rows() -> Vec<(&'static str, RowFn)> {
    fn row<B: Backend + 'static>(label: &'static str, b: B) -> (&'static str, RowFn) {
        (label, Box::new(move |groups, args| run(&b, groups, args)))
    }
    #[allow(unused_mut)]
    let mut v = vec![row("paxos-store, one RaftStore for all groups", PaxosStore)];
    #[cfg(feature = "rocksdb")]
    v.extend([
        row("RocksDB per group, WAL sync in append", Rocks(rocks::Flush::Inline)),
        row("RocksDB per group, WAL sync on a flusher thread", Rocks(rocks::Flush::Thread)),
    ]);
    v.push(row("in-memory log, NOT durable (openraft's ceiling)", Memory));
    v
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let value = |flag: &str| argv.iter().position(|a| a == flag).and_then(|i| argv.get(i + 1));
    let args = Args {
        secs: value("--secs").and_then(|v| v.parse().ok()).unwrap_or(3.0),
        warmup: value("--warmup").and_then(|v| v.parse().ok()).unwrap_or(0.5),
        rounds: value("--rounds").and_then(|v| v.parse().ok()).unwrap_or(3).max(1),
        groups: value("--groups")
            .map(|v| v.split(',').filter_map(|g| g.trim().parse().ok()).filter(|g| *g > 0).collect())
            .unwrap_or_else(|| vec![1, 64]),
        in_flight: value("--in-flight").and_then(|v| v.parse().ok()).unwrap_or(64).max(1),
        only: argv.windows(2).filter(|w| w[0] == "--only").map(|w| w[1].clone()).collect(),
    };
    let rows: Vec<_> = rows()
        .into_iter()
        .filter(|(l, _)| args.only.is_empty() || args.only.iter().any(|o| l.contains(o.as_str())))
        .collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "openraft 0.9.25, single-node rafts in one process (tokio, {threads} worker threads), {VALUE} B values, \
         {} writes in flight in total (at least 1 per group);",
        args.in_flight
    );
    println!(
        "committed entries/s, p50/p99 client_write latency (ms), syncs per committed entry; {} s after {} s warm-up; \
         median of {} interleaved rounds\n",
        args.secs, args.warmup, args.rounds
    );
    // results[row][group count]: one Result per round.
    let mut results: Vec<Vec<Vec<Measured>>> =
        rows.iter().map(|_| args.groups.iter().map(|_| Vec::new()).collect()).collect();
    for round in 0..args.rounds {
        for (k, &groups) in args.groups.iter().enumerate() {
            for i in 0..rows.len() {
                let r = (i + round) % rows.len();
                let (label, f) = &rows[r];
                let res = f(groups, &args);
                eprintln!(
                    "round {}/{}: {groups} groups, {label}: {:.0}/s p50 {:.2} ms p99 {:.2} ms, {:.3} syncs/entry of {:.3} ms",
                    round + 1,
                    args.rounds,
                    res.per_sec,
                    res.p50.as_secs_f64() * 1e3,
                    res.p99.as_secs_f64() * 1e3,
                    res.syncs_per_entry,
                    res.sync_ms
                );
                results[r][k].push(res);
            }
        }
    }
    println!("| {:<48} | groups | entries/s | p50 ms | p99 ms | syncs/entry | ms/sync |", "storage");
    println!("|{}|-------:|----------:|-------:|-------:|------------:|--------:|", "-".repeat(50));
    let cell = |runs: &[Measured], f: &dyn Fn(&Measured) -> f64| median(runs.iter().map(f).collect());
    for (k, &groups) in args.groups.iter().enumerate() {
        for ((label, _), cells) in rows.iter().zip(&results) {
            let runs = &cells[k];
            println!(
                "| {label:<48} | {groups:>6} | {:>9.0} | {:>6.2} | {:>6.2} | {:>11.3} | {:>7.3} |",
                cell(runs, &|r| r.per_sec),
                cell(runs, &|r| r.p50.as_secs_f64() * 1e3),
                cell(runs, &|r| r.p99.as_secs_f64() * 1e3),
                cell(runs, &|r| r.syncs_per_entry),
                cell(runs, &|r| r.sync_ms)
            );
        }
    }
    if rows.len() > 1 && rows[0].0.starts_with("paxos-store") {
        println!("\npaxos-store / row, medians (entries/s ratio; p50 and p99 as row's latency / paxos-store's):\n");
        println!("| {:<48} | groups | entries/s | p50 | p99 |", "against");
        println!("|{}|-------:|----------:|----:|----:|", "-".repeat(50));
        for (k, &groups) in args.groups.iter().enumerate() {
            let ours = &results[0][k];
            for ((label, _), cells) in
                rows.iter().zip(&results).skip(1).filter(|((l, _), _)| !l.contains("NOT durable"))
            {
                let theirs = &cells[k];
                println!(
                    "| {label:<48} | {groups:>6} | {:>8.2}x | {:>4.2}x | {:>4.2}x |",
                    cell(ours, &|r| r.per_sec) / cell(theirs, &|r| r.per_sec),
                    cell(theirs, &|r| r.p50.as_secs_f64()) / cell(ours, &|r| r.p50.as_secs_f64()),
                    cell(theirs, &|r| r.p99.as_secs_f64()) / cell(ours, &|r| r.p99.as_secs_f64()),
                );
            }
        }
    }
    #[cfg(not(feature = "rocksdb"))]
    println!("\n(RocksDB rows: build with --features rocksdb)");
}
