//! Recovery: the time to open a store (or a bare log) holding ~100 MiB of
//! log, reported as bytes of log data per second (`Throughput::Bytes`).
//!
//! - `store_log_only`: the acceptor store, 4 KiB accepts, no checkpoint:
//!   open replays the whole log.
//! - `store_checkpointed`: the same store after `AcceptorStore::checkpoint()`:
//!   open restores the checkpoint image and replays nothing after it (the
//!   log segments it covers are still there, as with one checkpoint the
//!   store keeps the log back to the older one).
//! - `wal_128B`: a bare `Wal` of 128 B records (many small records: the
//!   per-record cost of validation).
//!
//! Each in two cache states: `warm` (files in the page cache, as after a
//! process restart) and `cold` (this store's files evicted from the page
//! cache with `posix_fadvise(DONTNEED)` before every open, as after a
//! reboot; only these files are evicted). Only the open is timed; the
//! spare-segment preparation is off (`background_prepare: false`) so no
//! background zeroing overlaps it.
//!
//! `PAXOS_BENCH_BIG=1` adds the same cases at 1 GiB (needs ~3 GiB of disk
//! under the bench directory and a few minutes).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput};
use paxos_acceptor_store::{AcceptorStore, Ballot, GroupId, Op, Slot, StoreOptions};
use paxos_store_benches::{big_runs, criterion_config, dir, payload, quiet};
use paxos_wal::{Wal, WalOptions};
use std::path::Path;
use std::time::{Duration, Instant};

const MIB: u64 = 1 << 20;
const VALUE: usize = 4096;
const GROUPS: u64 = 1024;

fn store_opts() -> StoreOptions {
    let mut o = StoreOptions { checkpoint_after_segments: None, ..Default::default() };
    o.log.background_prepare = false;
    o
}

/// Fill a store with `bytes` of 4 KiB accepted values, in 64-accept batches
/// over `GROUPS` groups; checkpoint at the end if asked.
fn build_store(path: &Path, bytes: u64, checkpoint: bool) {
    let mut opts = store_opts();
    opts.log.background_prepare = true;
    let (store, _) = AcceptorStore::open(path, opts).expect("open");
    let ballot = Ballot::new(1, 1);
    for g in 0..GROUPS {
        store.promise(GroupId(g), ballot, Slot(0)).expect("promise");
    }
    let value = payload(VALUE, 7);
    let n = bytes / VALUE as u64;
    let mut ops = Vec::with_capacity(64);
    for i in 0..n {
        ops.push(Op::Accept { group: GroupId(i % GROUPS), slot: Slot(i / GROUPS), ballot, value: value.clone() });
        if ops.len() == 64 || i + 1 == n {
            store.apply_batch(&ops).expect("apply_batch");
            ops.clear();
        }
    }
    if checkpoint {
        let info = store.checkpoint().expect("checkpoint");
        eprintln!(
            "checkpoint: {} groups, {} bytes, {} segments removed",
            info.groups, info.bytes, info.segments_removed
        );
    }
}

/// Fill a bare log with `bytes` of 128 B records.
fn build_wal(path: &Path, bytes: u64) {
    let (wal, _) = Wal::open(path, WalOptions::default()).expect("open wal");
    let rec = payload(128, 8);
    let n = bytes / 128;
    let batch: Vec<&[u8]> = vec![&rec[..]; 1024];
    let mut done = 0;
    while done < n {
        let k = (n - done).min(1024) as usize;
        wal.append_batch(batch[..k].iter().copied()).expect("append_batch");
        done += k as u64;
    }
    wal.sync().expect("sync");
}

/// Time `open` only (not the drop of what it opened), `iters` times,
/// evicting the directory from the page cache first if `cold`.
fn time_opens<T>(iters: u64, path: &Path, cold: bool, open: impl Fn(&Path) -> T) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        if cold {
            dir::evict_from_page_cache(path).expect("evict");
        }
        let t = Instant::now();
        let opened = open(path);
        total += t.elapsed();
        drop(opened);
    }
    total
}

fn open_store(path: &Path) -> AcceptorStore {
    let (store, _) = AcceptorStore::open(path, store_opts()).expect("recover store");
    assert_eq!(store.groups().len() as u64, GROUPS);
    store
}

fn open_wal(path: &Path) -> Wal {
    Wal::open(path, WalOptions { background_prepare: false, ..Default::default() }).expect("recover wal").0
}

fn case(c: &mut Criterion, bytes: u64) {
    let mut g = c.benchmark_group(format!("recovery/{}MiB", bytes / MIB));
    g.sampling_mode(SamplingMode::Flat);
    g.throughput(Throughput::Bytes(bytes));
    if bytes > 256 * MIB {
        g.measurement_time(Duration::from_secs(30));
    }
    let log_only = dir::bench_dir("recovery-store").expect("bench dir");
    build_store(log_only.path(), bytes, false);
    let checkpointed = dir::bench_dir("recovery-ckpt").expect("bench dir");
    build_store(checkpointed.path(), bytes, true);
    let wal = dir::bench_dir("recovery-wal").expect("bench dir");
    build_wal(wal.path(), bytes);
    for d in [&log_only, &checkpointed, &wal] {
        quiet(d.path());
    }
    for cold in [false, true] {
        let cache = if cold { "cold" } else { "warm" };
        g.bench_function(BenchmarkId::new("store_log_only", cache), |b| {
            b.iter_custom(|iters| time_opens(iters, log_only.path(), cold, open_store))
        });
        g.bench_function(BenchmarkId::new("store_checkpointed", cache), |b| {
            b.iter_custom(|iters| time_opens(iters, checkpointed.path(), cold, open_store))
        });
        g.bench_function(BenchmarkId::new("wal_128B", cache), |b| {
            b.iter_custom(|iters| time_opens(iters, wal.path(), cold, open_wal))
        });
    }
    for (name, d) in [("store_log_only", &log_only), ("store_checkpointed", &checkpointed), ("wal_128B", &wal)] {
        eprintln!("{name}: {} MiB on disk", dir::dir_bytes(d.path()).unwrap_or(0) / MIB);
    }
    g.finish();
}

fn bench(c: &mut Criterion) {
    case(c, 100 * MIB);
    if big_runs() {
        case(c, 1024 * MIB);
    }
}

criterion_group! { name = benches; config = criterion_config(); targets = bench }
criterion_main!(benches);
