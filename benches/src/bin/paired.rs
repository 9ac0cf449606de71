//! Single-writer durable-append latency, subjects interleaved.
//!
//! ```text
//! paired [--rounds N] [--ops K] [--sizes 128,4096]
//! paired --threads 1,8,64 [--rounds N] [--ops K] [--sizes 128]
//! ```
//!
//! Criterion runs one benchmark after the other; on a shared machine the
//! load can change between them. Here every subject (the log in each
//! `WriteMode` and the raw baselines) does a block of K durable appends in
//! turn, round after round (A, B, C, A, B, C, ...; the order rotates every
//! round), timing every operation. Printed per subject: p50 and p99 over all
//! rounds, and the median over rounds of (subject's p50 / raw
//! `pwrite`+`fdatasync`'s p50 in the same round), with its range, and the
//! write requests the block device completed per operation (an estimate:
//! the device is shared, and a journal commit is a write too).
//!
//! With `--threads`, the same interleaving for concurrent durable appends:
//! each round runs, for every thread count, K operations spread over the
//! threads on each subject in turn (raw `pwrite`+`fdatasync` serialised by
//! a mutex, the log, the acceptor store's accept with one group per
//! caller; `--only wal` or `--only store` keeps the raw baseline and that
//! one, e.g. to profile it), and prints ops/s (median of rounds) and the per-round ratios
//! against the raw baseline and against the same subject at one thread.
//! Built with `--features peers`, raft-engine (a raft group per caller,
//! `write(sync = true)`) and okaywal (`commit`) join the rounds as two more
//! subjects, and a second table gives every subject's per-round ratio to
//! each of them (`--only raft-engine`, `--only okaywal` work too).

use paxos_acceptor_store::{AcceptOutcome, AcceptorStore, Ballot, GroupId, Slot, StoreOptions};
use paxos_store_benches::raw::{RawLog, RawMode};
use paxos_store_benches::stats::pct;
use paxos_store_benches::threads::{run_threads, split};
use paxos_store_benches::{dir, payload, quiet, SEGMENT_SIZE};
use paxos_wal::{Wal, WalOptions, WriteMode};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
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

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn list(args: &[String], name: &str, default: &str) -> Vec<usize> {
    arg(args, name).map_or(default.into(), |v| v).split(',').map(|s| s.parse().expect("a list like 1,8,64")).collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize = arg(&args, "--rounds").map_or(10, |v| v.parse().expect("--rounds N"));
    let tmp = dir::bench_dir("paired").expect("bench dir");
    if arg(&args, "--threads").is_some() {
        let ops: u64 = arg(&args, "--ops").map_or(4096, |v| v.parse().expect("--ops K"));
        let threads = list(&args, "--threads", "1,8,64");
        for size in list(&args, "--sizes", "128") {
            concurrent(tmp.path(), rounds, ops, &threads, size);
        }
        return;
    }
    let ops: usize = arg(&args, "--ops").map_or(300, |v| v.parse().expect("--ops K"));
    let sizes = list(&args, "--sizes", "128,4096");
    println!("rounds {rounds}, {ops} durable appends per subject per round, dir {}", tmp.path().display());
    for size in sizes {
        let mut subjects: Vec<(&str, Subject)> = Vec::new();
        for mode in RawMode::ALL {
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
        let mut dev_writes = vec![0u64; n];
        for round in 0..rounds {
            // The logs' background segment zeroing must not land in anyone's block.
            quiet(tmp.path());
            for k in 0..n {
                let s = (round + k) % n;
                let mut lat = Vec::with_capacity(ops);
                let w0 = dir::device_writes(tmp.path()).unwrap_or(0);
                for _ in 0..ops {
                    let t = Instant::now();
                    subjects[s].1.op(&rec);
                    lat.push(t.elapsed());
                }
                dev_writes[s] += dir::device_writes(tmp.path()).unwrap_or(0).saturating_sub(w0);
                lat.sort();
                samples[s].push(lat);
            }
        }
        println!("\n{size} B records");
        println!(
            "| subject | p50 | p99 | p50 / raw pwrite+fdatasync p50 (median of rounds, range) | device writes/op |"
        );
        println!("| --- | --- | --- | --- | --- |");
        for (s, (name, _)) in subjects.iter().enumerate() {
            let mut all: Vec<Duration> = samples[s].iter().flatten().copied().collect();
            all.sort();
            let ratios: Vec<f64> = (0..rounds)
                .map(|r| pct(&samples[s][r], 0.5).as_secs_f64() / pct(&samples[0][r], 0.5).as_secs_f64())
                .collect();
            let (lo, hi) = ratios.iter().fold((f64::MAX, 0f64), |(l, h), &x| (l.min(x), h.max(x)));
            println!(
                "| {name} | {:.1} us | {:.1} us | {:.2}x ({lo:.2}-{hi:.2}) | {:.2} |",
                pct(&all, 0.5).as_secs_f64() * 1e6,
                pct(&all, 0.99).as_secs_f64() * 1e6,
                median(ratios),
                dev_writes[s] as f64 / (ops * rounds) as f64
            );
        }
    }
}

/// Interleaved concurrent throughput: see the module docs.
fn concurrent(dir: &Path, rounds: usize, ops: u64, threads: &[usize], size: usize) {
    let raw = RawLog::create(&dir.join(format!("raw-{size}")), SEGMENT_SIZE, RawMode::PwriteFdatasync).expect("raw");
    let raw = Mutex::new(raw);
    let (wal, _) = Wal::open(dir.join(format!("wal-{size}")), WalOptions::default()).expect("open wal");
    let opts = StoreOptions { checkpoint_after_segments: None, ..Default::default() };
    let (store, _) = AcceptorStore::open(dir.join(format!("store-{size}")), opts).expect("open store");
    let ballot = Ballot::new(1, 1);
    let max_threads = threads.iter().copied().max().unwrap_or(1);
    for g in 0..max_threads as u64 {
        store.promise(GroupId(g), ballot, Slot(0)).expect("promise");
    }
    let slots: Vec<AtomicU64> = (0..max_threads).map(|_| AtomicU64::new(0)).collect();
    let rec = payload(size, 10);
    type Op<'a> = Box<dyn Fn(usize) -> Result<(), String> + Sync + 'a>;
    let subjects: Vec<(&str, Op)> = vec![
        (
            "raw_pwrite_fdatasync (mutex)",
            Box::new(|_| raw.lock().unwrap().append_durable(&rec).map(|_| ()).map_err(|e| e.to_string())),
        ),
        (
            "wal append+wait_durable",
            Box::new(|_| {
                let lsn = wal.append(&rec).map_err(|e| e.to_string())?;
                wal.wait_durable(lsn).map_err(|e| e.to_string())
            }),
        ),
        (
            "store accept (group per caller)",
            Box::new(|i| {
                let slot = Slot(slots[i].fetch_add(1, Ordering::Relaxed));
                match store.accept(GroupId(i as u64), slot, ballot, &rec) {
                    Ok(AcceptOutcome::Accepted) => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            }),
        ),
    ];
    #[cfg(feature = "peers")]
    let (raft, okay) = (
        paxos_store_benches::peers::RaftEngineLog::open(&dir.join(format!("raft-engine-{size}")), max_threads)
            .expect("open raft-engine"),
        paxos_store_benches::peers::OkayWal::open(&dir.join(format!("okaywal-{size}"))).expect("open okaywal"),
    );
    #[cfg(feature = "peers")]
    let subjects: Vec<(&str, Op)> = subjects
        .into_iter()
        .chain([
            (
                "raft-engine write(sync) (group per caller)",
                Box::new(|i| raft.append_durable(i, &rec).map(drop).map_err(|e| e.to_string())) as Op,
            ),
            ("okaywal commit", Box::new(|_| okay.append_durable(&rec).map(drop).map_err(|e| e.to_string())) as Op),
        ])
        .collect();
    let only = std::env::args().collect::<Vec<_>>();
    let only = arg(&only, "--only");
    let subjects: Vec<(&str, Op)> = subjects
        .into_iter()
        .filter(|(n, _)| n.starts_with("raw") || only.as_ref().is_none_or(|o| n.starts_with(o.as_str())))
        .collect();
    // ops/s[subject][threads][round], and context switches per operation.
    let mut thr = vec![vec![Vec::new(); threads.len()]; subjects.len()];
    let mut switches = vec![vec![Vec::new(); threads.len()]; subjects.len()];
    for round in 0..rounds {
        for (ti, &t) in threads.iter().enumerate() {
            for k in 0..subjects.len() {
                let s = (round + k) % subjects.len();
                quiet(dir);
                let before = paxos_store_benches::context_switches();
                let d = run_threads(&split(ops, t), |i, n| (0..n).try_for_each(|_| (subjects[s].1)(i)))
                    .unwrap_or_else(|e| panic!("{}: {e}", subjects[s].0));
                thr[s][ti].push(ops as f64 / d.as_secs_f64());
                switches[s][ti].push((paxos_store_benches::context_switches() - before) as f64 / ops as f64);
            }
        }
    }
    println!("\n{size} B, {ops} durable operations per subject per thread count per round, {rounds} rounds");
    println!("| subject | threads | ops/s (median) | / raw same threads (median, range) | / same subject at 1 thread (median, range) | context switches per op (median) |");
    println!("| --- | --- | --- | --- | --- | --- |");
    let one = threads.iter().position(|&t| t == 1);
    let range = |v: Vec<f64>| {
        let (lo, hi) = v.iter().fold((f64::MAX, 0f64), |(l, h), &x| (l.min(x), h.max(x)));
        format!("{:.2}x ({lo:.2}-{hi:.2})", median(v))
    };
    for (s, (name, _)) in subjects.iter().enumerate() {
        for (ti, &t) in threads.iter().enumerate() {
            let vs_raw: Vec<f64> = (0..rounds).map(|r| thr[s][ti][r] / thr[0][ti][r]).collect();
            let vs_one = one.map_or("-".into(), |o| range((0..rounds).map(|r| thr[s][ti][r] / thr[s][o][r]).collect()));
            let cs = median(switches[s][ti].clone());
            println!("| {name} | {t} | {:.0} | {} | {vs_one} | {cs:.2} |", median(thr[s][ti].clone()), range(vs_raw));
        }
    }
    #[cfg(feature = "peers")]
    peer_ratios(&subjects.iter().map(|(n, _)| *n).collect::<Vec<_>>(), threads, rounds, &thr);
    let st = wal.stats();
    println!(
        "wal: {} appends in {} syncs; store: {} records in {} syncs",
        st.appends,
        st.syncs,
        store.stats().records,
        store.stats().syncs
    );
}

/// Every subject's per-round throughput over each peer's, same threads.
#[cfg(feature = "peers")]
fn peer_ratios(names: &[&str], threads: &[usize], rounds: usize, thr: &[Vec<Vec<f64>>]) {
    let peers: Vec<usize> =
        (0..names.len()).filter(|&s| names[s].starts_with("raft-engine") || names[s].starts_with("okaywal")).collect();
    if peers.is_empty() {
        return;
    }
    let head: Vec<String> = peers.iter().map(|&p| format!("/ {} (median, range)", names[p])).collect();
    println!("\n| subject | threads | {} |", head.join(" | "));
    println!("| --- | --- |{}", " --- |".repeat(peers.len()));
    for (s, name) in names.iter().enumerate() {
        for (ti, &t) in threads.iter().enumerate() {
            let cells: Vec<String> = peers
                .iter()
                .map(|&p| {
                    let v: Vec<f64> = (0..rounds).map(|r| thr[s][ti][r] / thr[p][ti][r]).collect();
                    let (lo, hi) = v.iter().fold((f64::MAX, 0f64), |(l, h), &x| (l.min(x), h.max(x)));
                    format!("{:.2}x ({lo:.2}-{hi:.2})", median(v))
                })
                .collect();
            println!("| {name} | {t} | {} |", cells.join(" | "));
        }
    }
}
