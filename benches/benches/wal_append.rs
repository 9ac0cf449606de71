//! Single-writer durable append (append + wait_durable) of 128 B and 4 KiB
//! records, for each `WriteMode`, next to raw baselines on a pre-zeroed
//! file measured in the same run: `pwrite`+`fdatasync`, `pwrite` with
//! `O_DSYNC`, `O_DIRECT|O_DSYNC` (4 KiB aligned), `memcpy` into a mapping +
//! `msync`. The raw `pwrite`+`fdatasync` runs first and last in each group
//! (`raw_pwrite_fdatasync` and `raw_pwrite_fdatasync_again`), so drift during
//! the group shows.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use paxos_store_benches::raw::{RawLog, RawMode};
use paxos_store_benches::{criterion_config, dir, payload};
use paxos_wal::{Wal, WalOptions, WriteMode};

/// The size of the raw baseline files and the log's segments.
const FILE_LEN: u64 = 64 << 20;

fn raw(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    mode: RawMode,
    size: usize,
) {
    let tmp = dir::bench_dir("wal_append-raw").expect("bench dir");
    let mut log = match RawLog::create(&tmp.path().join("raw"), FILE_LEN, mode) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("skipping {name}: {e}");
            return;
        }
    };
    let rec = payload(size, 1);
    c.bench_with_input(BenchmarkId::new(name, size), &size, |b, _| {
        b.iter(|| log.append_durable(&rec).expect("raw durable append"))
    });
}

fn wal(c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>, mode: WriteMode, size: usize) {
    let tmp = dir::bench_dir("wal_append-wal").expect("bench dir");
    let opts = WalOptions { segment_size: FILE_LEN, write_mode: mode, ..Default::default() };
    let (wal, _) = Wal::open(tmp.path(), opts).expect("open wal");
    let rec = payload(size, 2);
    let name = match mode {
        WriteMode::Pwrite => "wal_pwrite",
        WriteMode::Dsync => "wal_dsync",
        WriteMode::Mmap => "wal_mmap",
    };
    c.bench_with_input(BenchmarkId::new(name, size), &size, |b, _| {
        b.iter(|| {
            let lsn = wal.append(&rec).expect("append");
            wal.wait_durable(lsn).expect("wait_durable");
        })
    });
    let s = wal.stats();
    eprintln!(
        "{name}/{size}: {} appends, {} syncs, {} roll-overs ({} stalled)",
        s.appends, s.syncs, s.rollovers, s.stalled_rollovers
    );
}

fn bench(c: &mut Criterion) {
    for size in [128usize, 4096] {
        let mut g = c.benchmark_group(format!("wal_append/{size}B"));
        g.throughput(Throughput::Elements(1));
        raw(&mut g, "raw_pwrite_fdatasync", RawMode::PwriteFdatasync, size);
        for mode in [WriteMode::Pwrite, WriteMode::Dsync, WriteMode::Mmap] {
            wal(&mut g, mode, size);
        }
        for mode in [RawMode::PwriteDsync, RawMode::DirectDsync, RawMode::MmapMsync] {
            raw(&mut g, mode.name(), mode, size);
        }
        raw(&mut g, "raw_pwrite_fdatasync_again", RawMode::PwriteFdatasync, size);
        g.finish();
    }
}

criterion_group! { name = benches; config = criterion_config(); targets = bench }
criterion_main!(benches);
