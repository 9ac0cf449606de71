//! Peers (feature `peers`): the `group_commit` workload — 1, 8 and 64
//! threads doing durable 128 B appends — on raw `pwrite`+`fdatasync`
//! serialised by a mutex (the floor, same run), the log (`append` +
//! `wait_durable`), TiKV's raft-engine (a raft group per thread, one entry
//! per `write(sync = true)`) and okaywal (`begin_entry`, `write_chunk`,
//! `commit`).
//!
//! One iteration = `OPS_PER_ITER` durable appends spread evenly over the
//! threads; threads are spawned once per sample and released by a barrier;
//! the bench directory is settled before every benchmark. Ids:
//! `peers/<subject>/<threads>`; throughput in durable appends per second.
//!
//! Run: `cargo bench -p paxos-store-benches --features peers --bench peers`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput};
use paxos_store_benches::peers::{OkayWal, RaftEngineLog};
use paxos_store_benches::raw::{RawLog, RawMode};
use paxos_store_benches::threads::{run_threads, split, OPS_PER_ITER};
use paxos_store_benches::{criterion_config, dir, payload, quiet, SEGMENT_SIZE};
use paxos_wal::{Wal, WalOptions};
use std::sync::Mutex;
use std::time::Duration;

const SIZE: usize = 128;
const THREADS: [usize; 3] = [1, 8, 64];

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("peers");
    g.throughput(Throughput::Elements(OPS_PER_ITER));
    g.sampling_mode(SamplingMode::Flat);
    let rec = payload(SIZE, 3);

    let tmp = dir::bench_dir("peers").expect("bench dir");
    let raw = RawLog::create(&tmp.path().join("raw"), SEGMENT_SIZE, RawMode::PwriteFdatasync).expect("raw");
    let raw = Mutex::new(raw);
    let (wal, _) = Wal::open(tmp.path().join("wal"), WalOptions::default()).expect("open wal");
    let max_threads = THREADS.into_iter().max().unwrap_or(1);
    let raft = RaftEngineLog::open(&tmp.path().join("raft-engine"), max_threads).expect("open raft-engine");
    let okay = OkayWal::open(&tmp.path().join("okaywal")).expect("open okaywal");

    type Op<'a> = Box<dyn Fn(usize) -> Result<(), String> + Sync + 'a>;
    let subjects: [(&str, Op); 4] = [
        (
            "raw_pwrite_fdatasync",
            Box::new(|_| {
                raw.lock().unwrap_or_else(|e| e.into_inner()).append_durable(&rec).map(drop).map_err(|e| e.to_string())
            }),
        ),
        (
            "wal",
            Box::new(|_| {
                let lsn = wal.append(&rec).map_err(|e| e.to_string())?;
                wal.wait_durable(lsn).map_err(|e| e.to_string())
            }),
        ),
        ("raft_engine", Box::new(|i| raft.append_durable(i, &rec).map(drop).map_err(|e| e.to_string()))),
        ("okaywal", Box::new(|_| okay.append_durable(&rec).map(drop).map_err(|e| e.to_string()))),
    ];

    // Interleaved by thread count: every subject at 1, then at 8, then at 64.
    for threads in THREADS {
        for (name, op) in &subjects {
            quiet(tmp.path());
            g.bench_with_input(BenchmarkId::new(*name, threads), &threads, |b, &t| {
                b.iter_custom(|iters| {
                    run_threads(&split(iters * OPS_PER_ITER, t), |i, n| (0..n).try_for_each(|_| op(i)))
                        .unwrap_or_else(|e| panic!("{name}: {e}"))
                })
            });
        }
    }
    g.finish();
}

fn config() -> Criterion {
    criterion_config().measurement_time(Duration::from_secs(4))
}

criterion_group! { name = benches; config = config(); targets = bench }
criterion_main!(benches);
