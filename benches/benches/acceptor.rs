//! The acceptor store: durable accept (128 B and 4 KiB values) with 1, 8 and
//! 64 concurrent callers (each caller its own group, and 64 callers in one
//! group), 64-accept batches through `apply_batch`, and promise; each against
//! raw `pwrite`+`fdatasync` serialised under a mutex with the same thread
//! count and record size, in the same run.
//!
//! Automatic checkpoints are off (`checkpoint_after_segments: None`) so a
//! background checkpoint does not land in the middle of one benchmark; the
//! `recovery` benchmark measures checkpoints.

use criterion::measurement::WallTime;
use criterion::Throughput;
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkGroup, BenchmarkId, Criterion, SamplingMode};
use paxos_acceptor_store::{
    AcceptOutcome, AcceptorStore, Ballot, GroupId, Op, Outcome, PromiseOutcome, Slot, StoreOptions,
};
use paxos_store_benches::raw::{RawLog, RawMode};
use paxos_store_benches::threads::{run_threads, split, OPS_PER_ITER};
use paxos_store_benches::{criterion_config, dir, payload, quiet, SEGMENT_SIZE};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

const THREADS: [usize; 3] = [1, 8, 64];
const BALLOT: Ballot = Ballot { round: 1, node: 1 };
/// The group all callers share in the one-group case (per-caller groups are 0..64).
const SHARED_GROUP: GroupId = GroupId(1_000);
const BATCH: usize = 64;

type Err = Box<dyn std::error::Error + Send + Sync>;

/// One concurrent benchmark: `op(thread)` run `OPS_PER_ITER` times per
/// iteration over `threads` threads.
fn concurrent<F>(g: &mut BenchmarkGroup<'_, WallTime>, dir: &Path, name: &str, threads: usize, op: F)
where
    F: Fn(usize) -> Result<(), Err> + Sync,
{
    quiet(dir);
    g.throughput(Throughput::Elements(OPS_PER_ITER));
    g.bench_with_input(BenchmarkId::new(name, threads), &threads, |b, &t| {
        b.iter_custom(|iters| {
            run_threads(&split(iters * OPS_PER_ITER, t), |i, n| (0..n).try_for_each(|_| op(i)))
                .unwrap_or_else(|e| panic!("{name}/{t}: {e}"))
        })
    });
}

/// A bench directory with a raw baseline log (`raw`) and a store (`store/`)
/// whose groups 0..64 and `SHARED_GROUP` have promised `BALLOT`.
fn setup(label: &str) -> (tempfile::TempDir, Mutex<RawLog>, AcceptorStore) {
    let tmp = dir::bench_dir(label).expect("bench dir");
    let log = RawLog::create(&tmp.path().join("raw"), SEGMENT_SIZE, RawMode::PwriteFdatasync).expect("raw log");
    let opts = StoreOptions { checkpoint_after_segments: None, ..Default::default() };
    let (store, _) = AcceptorStore::open(tmp.path().join("store"), opts).expect("open store");
    for gid in (0..64).map(GroupId).chain([SHARED_GROUP]) {
        let out = store.promise(gid, BALLOT, Slot(0)).expect("promise");
        assert!(matches!(out, PromiseOutcome::Granted { .. }), "{out:?}");
    }
    (tmp, Mutex::new(log), store)
}

fn raw_op(raw: &Mutex<RawLog>, rec: &[u8]) -> Result<(), Err> {
    raw.lock().unwrap_or_else(|e| e.into_inner()).append_durable(rec)?;
    Ok(())
}

fn accepted(out: AcceptOutcome) -> Result<(), Err> {
    match out {
        AcceptOutcome::Accepted => Ok(()),
        other => Err(format!("accept answered {other:?}").into()),
    }
}

fn accepts(c: &mut Criterion, size: usize) {
    let mut g = c.benchmark_group(format!("acceptor/accept_{size}B"));
    g.sampling_mode(SamplingMode::Flat);
    let value = payload(size, 4);
    let (tmp, raw, store) = setup("acceptor-accept");
    let next_slot: Vec<AtomicU64> = (0..64).map(|_| AtomicU64::new(0)).collect();
    let shared_slot = AtomicU64::new(0);
    for threads in THREADS {
        concurrent(&mut g, tmp.path(), "raw_pwrite_fdatasync", threads, |_| raw_op(&raw, &value));
        let syncs = store.stats().syncs;
        concurrent(&mut g, tmp.path(), "accept", threads, |i| {
            let slot = Slot(next_slot[i].fetch_add(1, Ordering::Relaxed));
            accepted(store.accept(GroupId(i as u64), slot, BALLOT, &value)?)
        });
        report_syncs(&store, &format!("accept_{size}B/{threads}"), syncs);
    }
    let syncs = store.stats().syncs;
    concurrent(&mut g, tmp.path(), "accept_one_group", 64, |_| {
        let slot = Slot(shared_slot.fetch_add(1, Ordering::Relaxed));
        accepted(store.accept(SHARED_GROUP, slot, BALLOT, &value)?)
    });
    report_syncs(&store, &format!("accept_one_group_{size}B/64"), syncs);
    g.finish();
}

fn report_syncs(store: &AcceptorStore, what: &str, syncs_before: u64) {
    let s = store.stats();
    eprintln!(
        "{what}: {} syncs so far in this store ({} since the case began), {} records",
        s.syncs,
        s.syncs - syncs_before,
        s.records
    );
}

fn batches(c: &mut Criterion, size: usize) {
    let mut g = c.benchmark_group(format!("acceptor/batch_{size}B"));
    let value = payload(size, 5);
    let (tmp, raw, store) = setup("acceptor-batch");
    let mut slot = 0u64;
    g.throughput(Throughput::Elements(1));
    quiet(tmp.path());
    g.bench_with_input(BenchmarkId::new("raw_pwrite_fdatasync", 1), &1, |b, _| {
        b.iter(|| raw_op(&raw, &value).expect("raw"))
    });
    quiet(tmp.path());
    g.bench_with_input(BenchmarkId::new("accept", 1), &1, |b, _| {
        b.iter(|| {
            slot += 1;
            accepted(store.accept(GroupId(0), Slot(slot), BALLOT, &value).expect("accept")).expect("accepted")
        })
    });
    // 64 accepts in one record and one sync; spread over 8 groups.
    let (syncs, records) = (store.stats().syncs, store.stats().records);
    let mut batches_run = 0u64;
    g.throughput(Throughput::Elements(BATCH as u64));
    quiet(tmp.path());
    g.bench_with_input(BenchmarkId::new("apply_batch64", 1), &1, |b, _| {
        b.iter_batched(
            || {
                (0..BATCH)
                    .map(|k| {
                        slot += 1;
                        Op::Accept {
                            group: GroupId(k as u64 % 8),
                            slot: Slot(slot),
                            ballot: BALLOT,
                            value: value.clone(),
                        }
                    })
                    .collect::<Vec<Op>>()
            },
            |ops| {
                batches_run += 1;
                let outs = store.apply_batch(&ops).expect("apply_batch");
                assert!(outs.iter().all(|o| matches!(o, Outcome::Accept(AcceptOutcome::Accepted))));
            },
            BatchSize::PerIteration,
        )
    });
    let s = store.stats();
    eprintln!(
        "apply_batch64_{size}B: {batches_run} batches, {} records, {} syncs ({:.2} syncs per batch)",
        s.records - records,
        s.syncs - syncs,
        (s.syncs - syncs) as f64 / batches_run.max(1) as f64
    );
    g.finish();
}

fn promises(c: &mut Criterion) {
    let mut g = c.benchmark_group("acceptor/promise");
    g.sampling_mode(SamplingMode::Flat);
    let rec = payload(128, 6);
    let (tmp, raw, store) = setup("acceptor-promise");
    // Each caller raises its own group's ballot: every promise is granted and writes.
    let round: Vec<AtomicU64> = (0..64).map(|_| AtomicU64::new(2)).collect();
    for threads in [1, 64] {
        concurrent(&mut g, tmp.path(), "raw_pwrite_fdatasync", threads, |_| raw_op(&raw, &rec));
        concurrent(&mut g, tmp.path(), "promise", threads, |i| {
            let b = Ballot::new(round[i].fetch_add(1, Ordering::Relaxed), 1);
            match store.promise(GroupId(i as u64), b, Slot(u64::MAX))? {
                PromiseOutcome::Granted { .. } => Ok(()),
                other => Err(format!("promise answered {other:?}").into()),
            }
        });
    }
    g.finish();
}

fn bench(c: &mut Criterion) {
    for size in [128, 4096] {
        accepts(c, size);
    }
    for size in [128, 4096] {
        batches(c, size);
    }
    promises(c);
}

fn config() -> Criterion {
    criterion_config().measurement_time(Duration::from_secs(4))
}

criterion_group! { name = benches; config = config(); targets = bench }
criterion_main!(benches);
