//! One thread keeping N durable operations in flight through tickets (each
//! awaited as a `Future`), against 64 blocking threads, same store, same run.
//!
//! ```text
//! tickets [--rounds R] [--ops K] [--inflight 1,64,1024] [--threads 64] [--size 128]
//! ```
//!
//! Every round, each subject in turn (the order rotates every round) does
//! K durable 128 B accepts on one acceptor store, spread over 64 groups:
//! `tickets/N` submits from one thread and awaits the tickets on one
//! executor (`futures::executor::block_on` over a `FuturesUnordered`),
//! topping the window back up to N as each one resolves; `threads/64` calls
//! the blocking `accept` from 64 threads (a group per thread). Printed per
//! subject: durable ops/s (median of rounds), p50/p99 latency over all
//! rounds (submit to resolved, or the blocking call), operations per sync,
//! and the median (range) over rounds of its ops/s divided by the blocking
//! threads' ops/s in the same round.

use futures::executor::block_on;
use futures::stream::{FuturesUnordered, StreamExt};
use paxos_acceptor_store::{AcceptOutcome, AcceptorStore, Ballot, GroupId, Op, Outcome, Slot, StoreOptions};
use paxos_store_benches::stats::pct;
use paxos_store_benches::threads::{run_threads, split};
use paxos_store_benches::{dir, payload, quiet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const GROUPS: u64 = 64;

#[derive(Clone, Copy)]
enum Subject {
    Tickets(usize),
    Threads(usize),
}

impl Subject {
    fn name(self) -> String {
        match self {
            Subject::Tickets(n) => format!("tickets/{n} in flight, 1 thread"),
            Subject::Threads(t) => format!("threads/{t} blocking"),
        }
    }
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// `ops` accepts on fresh groups `base..base + GROUPS`; the latencies and the
/// wall time.
fn run(store: &AcceptorStore, subject: Subject, ops: u64, base: u64, value: &[u8]) -> (Vec<Duration>, Duration) {
    let accept = |i: u64| Op::Accept {
        group: GroupId(base + i % GROUPS),
        slot: Slot(i / GROUPS),
        ballot: Ballot::new(1, 1),
        value: value.to_vec(),
    };
    match subject {
        Subject::Tickets(window) => {
            let start = Instant::now();
            let lat = block_on(async {
                let mut lat = Vec::with_capacity(ops as usize);
                let mut in_flight = FuturesUnordered::new();
                let submit = |i: u64| {
                    let began = Instant::now();
                    let ticket = store.submit(accept(i)).expect("submit");
                    async move { (ticket.await.expect("durable"), began.elapsed()) }
                };
                let mut next = 0;
                while next < ops && in_flight.len() < window {
                    in_flight.push(submit(next));
                    next += 1;
                }
                while let Some((outcome, took)) = in_flight.next().await {
                    assert!(matches!(outcome, Outcome::Accept(AcceptOutcome::Accepted)));
                    lat.push(took);
                    if next < ops {
                        in_flight.push(submit(next));
                        next += 1;
                    }
                }
                lat
            });
            (lat, start.elapsed())
        }
        Subject::Threads(threads) => {
            let all = Mutex::new(Vec::with_capacity(ops as usize));
            let counts = split(ops, threads);
            let elapsed = run_threads(&counts, |t, n| {
                let mut lat = Vec::with_capacity(n as usize);
                for k in 0..n {
                    let began = Instant::now();
                    // Thread t owns group base + t (64 threads, 64 groups).
                    let out = store.accept(GroupId(base + t as u64 % GROUPS), Slot(k), Ballot::new(1, 1), value)?;
                    assert!(matches!(out, AcceptOutcome::Accepted));
                    lat.push(began.elapsed());
                }
                all.lock().unwrap().extend(lat);
                Ok::<(), paxos_acceptor_store::StoreError>(())
            })
            .expect("accept");
            (all.into_inner().unwrap(), elapsed)
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize = arg(&args, "--rounds").map_or(5, |v| v.parse().expect("--rounds R"));
    let ops: u64 = arg(&args, "--ops").map_or(16384, |v| v.parse().expect("--ops K"));
    let size: usize = arg(&args, "--size").map_or(128, |v| v.parse().expect("--size B"));
    let threads: usize = arg(&args, "--threads").map_or(64, |v| v.parse().expect("--threads T"));
    let windows: Vec<usize> = arg(&args, "--inflight")
        .map_or("1,64,1024".into(), |v| v)
        .split(',')
        .map(|s| s.parse().expect("a list like 1,64,1024"))
        .collect();
    let mut subjects: Vec<Subject> = windows.iter().map(|&n| Subject::Tickets(n)).collect();
    subjects.push(Subject::Threads(threads));
    let baseline = subjects.len() - 1;
    let n = subjects.len();

    let tmp = dir::bench_dir("tickets").expect("bench dir");
    let (store, _) = AcceptorStore::open(tmp.path(), StoreOptions::default()).expect("open the store");
    let value = payload(size, 5);
    println!("rounds {rounds}, {ops} durable {size} B accepts per subject per round, dir {}", tmp.path().display());

    let mut lat: Vec<Vec<Duration>> = vec![Vec::new(); n];
    let mut rate: Vec<Vec<f64>> = vec![Vec::new(); n];
    let mut syncs = vec![0u64; n];
    let mut group_base = 0;
    for round in 0..rounds {
        for k in 0..n {
            let s = (round + k) % n;
            quiet(tmp.path());
            let before = store.stats().syncs;
            let (l, elapsed) = run(&store, subjects[s], ops, group_base, &value);
            group_base += GROUPS;
            syncs[s] += store.stats().syncs - before;
            rate[s].push(ops as f64 / elapsed.as_secs_f64());
            lat[s].extend(l);
        }
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average after the run: {}", load.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
    println!(
        "| subject | ops/s (median of rounds) | p50 | p99 | ops per sync | / {} (median of rounds, range) |",
        subjects[baseline].name()
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for s in 0..n {
        lat[s].sort();
        let ratios: Vec<f64> = (0..rounds).map(|r| rate[s][r] / rate[baseline][r]).collect();
        let (lo, hi) = ratios.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        println!(
            "| {} | {:.0} | {:.1?} | {:.1?} | {:.1} | {:.2}x ({lo:.2}-{hi:.2}) |",
            subjects[s].name(),
            median(rate[s].clone()),
            pct(&lat[s], 0.5),
            pct(&lat[s], 0.99),
            (ops * rounds as u64) as f64 / syncs[s].max(1) as f64,
            median(ratios),
        );
    }
}
