//! Group commit: 1, 8 and 64 concurrent writers doing durable 128 B appends
//! on one `Wal`, against raw `pwrite`+`fdatasync` serialised under a mutex
//! (no group commit) with the same thread counts, in the same run.
//!
//! One iteration = `OPS_PER_ITER` durable appends spread evenly over the
//! threads; threads are spawned once per sample and released by a barrier.
//! Throughput is in durable appends per second.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput};
use paxos_store_benches::raw::{RawLog, RawMode};
use paxos_store_benches::threads::{run_threads, split, OPS_PER_ITER};
use paxos_store_benches::{criterion_config, dir, payload, quiet, SEGMENT_SIZE};
use paxos_wal::{Wal, WalOptions};
use std::sync::Mutex;
use std::time::Duration;

const SIZE: usize = 128;
const THREADS: [usize; 3] = [1, 8, 64];

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group(format!("group_commit/{SIZE}B"));
    g.throughput(Throughput::Elements(OPS_PER_ITER));
    g.sampling_mode(SamplingMode::Flat);
    let rec = payload(SIZE, 3);

    let tmp = dir::bench_dir("group_commit").expect("bench dir");
    let raw = RawLog::create(&tmp.path().join("raw"), SEGMENT_SIZE, RawMode::PwriteFdatasync).expect("raw");
    let raw = Mutex::new(raw);
    let (wal, _) = Wal::open(tmp.path().join("wal"), WalOptions::default()).expect("open wal");

    // Interleaved by thread count: raw, wal at 1; raw, wal at 8; raw, wal at 64.
    for threads in THREADS {
        quiet(tmp.path());
        g.bench_with_input(BenchmarkId::new("raw_pwrite_fdatasync", threads), &threads, |b, &t| {
            b.iter_custom(|iters| {
                run_threads(&split(iters * OPS_PER_ITER, t), |_, n| {
                    for _ in 0..n {
                        raw.lock().unwrap_or_else(|e| e.into_inner()).append_durable(&rec)?;
                    }
                    Ok::<(), std::io::Error>(())
                })
                .expect("raw durable append")
            })
        });
        quiet(tmp.path());
        let before = wal.stats();
        g.bench_with_input(BenchmarkId::new("wal", threads), &threads, |b, &t| {
            b.iter_custom(|iters| {
                run_threads(&split(iters * OPS_PER_ITER, t), |_, n| {
                    for _ in 0..n {
                        let lsn = wal.append(&rec)?;
                        wal.wait_durable(lsn)?;
                    }
                    Ok::<(), paxos_wal::Error>(())
                })
                .expect("wal durable append")
            })
        });
        let after = wal.stats();
        let (appends, syncs) = (after.appends - before.appends, after.syncs - before.syncs);
        eprintln!(
            "wal/{threads}: {appends} appends in {syncs} syncs ({:.1} appends per sync), {} roll-overs",
            appends as f64 / syncs.max(1) as f64,
            after.rollovers - before.rollovers
        );
    }
    g.finish();
}

fn config() -> Criterion {
    criterion_config().measurement_time(Duration::from_secs(4))
}

criterion_group! { name = benches; config = config(); targets = bench }
criterion_main!(benches);
