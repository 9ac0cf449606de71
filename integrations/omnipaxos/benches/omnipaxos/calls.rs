//! `--calls`: the latency of single storage calls on each backend, outside
//! OmniPaxos: what one durable call costs (its floor), without messages,
//! threads or protocol. The backends take turns, call kind by call kind, so a
//! change in the disk's speed hits both alike.

#[cfg(feature = "rocksdb")]
use super::setup::Rocks;
use super::setup::{OwnStores, Setup};
use super::{bench_dir, settle, Args, Payload, PAYLOAD};
use omnipaxos::storage::Storage;
use std::time::Instant;

/// One kind of call: its name and the call number `i` on a storage.
type Call<S> = (&'static str, fn(&mut S, usize));

fn calls<S: Storage<Payload>>() -> [Call<S>; 3] {
    [
        ("append_entries(1 entry)", |s, i| {
            s.append_entries(vec![Payload { id: i as u64, data: vec![7; PAYLOAD] }]).expect("append")
        }),
        ("set_decided_idx", |s, i| s.set_decided_idx(i + 1).expect("decide")),
        ("append_entries(100 entries)", |s, i| {
            s.append_entries((0..100).map(|k| Payload { id: (i * 100 + k) as u64, data: vec![7; PAYLOAD] }).collect())
                .expect("append")
        }),
    ]
}

/// Latencies (µs) of `n` calls of kind `k` on a fresh storage.
fn time<X: Setup>(setup: &X, k: usize, n: usize) -> Vec<f64> {
    let dir = tempfile::tempdir_in(bench_dir()).expect("tempdir");
    settle();
    let (mut nodes, _) = setup.nodes(dir.path());
    let (_, call) = calls::<X::S>()[k];
    let s = &mut nodes[0];
    let mut v: Vec<f64> = (0..n)
        .map(|i| {
            let t = Instant::now();
            call(s, i);
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

fn line(label: &str, name: &str, v: &[f64]) {
    let n = v.len();
    let mean = v.iter().sum::<f64>() / n as f64;
    println!("| {label:<24} | {name:<28} | {mean:>8.1} | {:>8.1} | {:>8.1} |", v[n / 2], v[n * 99 / 100]);
}

pub fn run(args: &Args) {
    let n = args.entries.clamp(100, 5000);
    println!("Single storage calls, {n} per run, {} rounds, µs\n", args.rounds);
    println!("| {:<24} | {:<28} | {:>8} | {:>8} | {:>8} |", "storage", "call", "mean", "p50", "p99");
    println!("|{}|{}|---------:|---------:|---------:|", "-".repeat(26), "-".repeat(30));
    for k in 0..calls::<<OwnStores as Setup>::S>().len() {
        let name = calls::<<OwnStores as Setup>::S>()[k].0;
        let mut ours = Vec::new();
        #[cfg(feature = "rocksdb")]
        let mut rocks = Vec::new();
        for _ in 0..args.rounds {
            ours.extend(time(&OwnStores, k, n));
            #[cfg(feature = "rocksdb")]
            rocks.extend(time(&Rocks { sync: true }, k, n));
        }
        ours.sort_by(|a, b| a.total_cmp(b));
        line("paxos-store", name, &ours);
        #[cfg(feature = "rocksdb")]
        {
            rocks.sort_by(|a, b| a.total_cmp(b));
            line("RocksDB sync_writes on", name, &rocks);
        }
    }
}
