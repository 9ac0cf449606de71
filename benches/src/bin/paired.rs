//! Single-writer durable-append latency, subjects interleaved.
//!
//! ```text
//! paired [--rounds N] [--ops K] [--sizes 128,4096]
//! ```
//!
//! Criterion runs one benchmark after the other; on a shared machine the
//! load can change between them. Here every subject (the log in each
//! `WriteMode` and the raw baselines) does a block of K durable appends in
//! turn, round after round (A, B, C, A, B, C, ...; the order rotates every
//! round), timing every operation. Printed per subject: p50 and p99 over all
//! rounds, and the median over rounds of (subject's p50 / raw
//! `pwrite`+`fdatasync`'s p50 in the same round), with its range.

use paxos_store_benches::raw::{RawLog, RawMode};
use paxos_store_benches::{dir, payload, quiet};
use paxos_wal::{Wal, WalOptions, WriteMode};
use std::time::{Duration, Instant};

enum Subject {
    Raw(RawLog),
    Wal(Box<Wal>),
}

impl Subject {
    fn op(&mut self, rec: &[u8]) {
        match self {
            Subject::Raw(r) => {
                r.append_durable(rec).expect("raw durable append");
            }
            Subject::Wal(w) => {
                let lsn = w.append(rec).expect("append");
                w.wait_durable(lsn).expect("wait_durable");
            }
        }
    }
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize = arg(&args, "--rounds").map_or(10, |v| v.parse().expect("--rounds N"));
    let ops: usize = arg(&args, "--ops").map_or(300, |v| v.parse().expect("--ops K"));
    let sizes: Vec<usize> = arg(&args, "--sizes")
        .map_or("128,4096".into(), |v| v)
        .split(',')
        .map(|s| s.parse().expect("--sizes 128,4096"))
        .collect();
    let tmp = dir::bench_dir("paired").expect("bench dir");
    println!("rounds {rounds}, {ops} durable appends per subject per round, dir {}", tmp.path().display());
    for size in sizes {
        let mut subjects: Vec<(&str, Subject)> = Vec::new();
        for mode in [RawMode::PwriteFdatasync, RawMode::PwriteDsync, RawMode::DirectDsync, RawMode::MmapMsync] {
            match RawLog::create(&tmp.path().join(format!("{}-{size}", mode.name())), 64 << 20, mode) {
                Ok(l) => subjects.push((mode.name(), Subject::Raw(l))),
                Err(e) => eprintln!("skipping {}: {e}", mode.name()),
            }
        }
        for (name, mode) in
            [("wal_pwrite", WriteMode::Pwrite), ("wal_dsync", WriteMode::Dsync), ("wal_mmap", WriteMode::Mmap)]
        {
            let opts = WalOptions { write_mode: mode, ..Default::default() };
            let (w, _) = Wal::open(tmp.path().join(format!("{name}-{size}")), opts).expect("open wal");
            subjects.push((name, Subject::Wal(Box::new(w))));
        }
        let rec = payload(size, 9);
        let n = subjects.len();
        let mut samples: Vec<Vec<Vec<Duration>>> = vec![Vec::new(); n];
        for round in 0..rounds {
            // The logs' background segment zeroing must not land in anyone's block.
            quiet(tmp.path());
            for k in 0..n {
                let s = (round + k) % n;
                let mut lat = Vec::with_capacity(ops);
                for _ in 0..ops {
                    let t = Instant::now();
                    subjects[s].1.op(&rec);
                    lat.push(t.elapsed());
                }
                lat.sort();
                samples[s].push(lat);
            }
        }
        println!("\n{size} B records");
        println!("| subject | p50 | p99 | p50 / raw pwrite+fdatasync p50 (median of rounds, range) |");
        println!("| --- | --- | --- | --- |");
        for (s, (name, _)) in subjects.iter().enumerate() {
            let mut all: Vec<Duration> = samples[s].iter().flatten().copied().collect();
            all.sort();
            let ratios: Vec<f64> = (0..rounds)
                .map(|r| pct(&samples[s][r], 0.5).as_secs_f64() / pct(&samples[0][r], 0.5).as_secs_f64())
                .collect();
            let (lo, hi) = ratios.iter().fold((f64::MAX, 0f64), |(l, h), &x| (l.min(x), h.max(x)));
            println!(
                "| {name} | {:.1} us | {:.1} us | {:.2}x ({lo:.2}-{hi:.2}) |",
                pct(&all, 0.5).as_secs_f64() * 1e6,
                pct(&all, 0.99).as_secs_f64() * 1e6,
                median(ratios)
            );
        }
    }
}
