//! Single-writer durable append (append + wait_durable) of 128 B and 4 KiB
//! records, for each `WriteMode`, next to raw baselines on a pre-zeroed
//! file measured in the same run: `pwrite`+`fdatasync`, `pwrite` with
//! `O_DSYNC`, `O_DIRECT|O_DSYNC` (4 KiB aligned), `memcpy` into a mapping +
//! `msync`. The raw `pwrite`+`fdatasync` runs first and last in each group
//! (`raw_pwrite_fdatasync` and `raw_pwrite_fdatasync_again`), so drift during
//! the group shows. Before every benchmark the disk is let go quiet
//! (`quiet`: the log's background segment zeroing finished and synced).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use paxos_store_benches::raw::{RawLog, RawMode};
use paxos_store_benches::{criterion_config, dir, payload, quiet, SEGMENT_SIZE};
use paxos_wal::{Wal, WalOptions, WriteMode};

enum Subject {
    Raw(RawLog),
    Wal(Box<Wal>),
}

fn bench(c: &mut Criterion) {
    for size in [128usize, 4096] {
        let tmp = dir::bench_dir("wal_append").expect("bench dir");
        let raw = |mode: RawMode| match RawLog::create(&tmp.path().join(format!("{mode:?}")), SEGMENT_SIZE, mode) {
            Ok(l) => Some(Subject::Raw(l)),
            Err(e) => {
                eprintln!("skipping {}: {e}", mode.name());
                None
            }
        };
        let wal = |mode: WriteMode| {
            let opts = WalOptions { segment_size: SEGMENT_SIZE, write_mode: mode, ..Default::default() };
            let (w, _) = Wal::open(tmp.path().join(format!("wal-{mode:?}")), opts).expect("open wal");
            Some(Subject::Wal(Box::new(w)))
        };
        let mut subjects: Vec<(&str, Option<Subject>)> = vec![
            ("raw_pwrite_fdatasync", raw(RawMode::PwriteFdatasync)),
            ("wal_pwrite", wal(WriteMode::Pwrite)),
            ("wal_dsync", wal(WriteMode::Dsync)),
            ("wal_mmap", wal(WriteMode::Mmap)),
            (RawMode::PwriteDsync.name(), raw(RawMode::PwriteDsync)),
            (RawMode::DirectDsync.name(), raw(RawMode::DirectDsync)),
            (RawMode::MmapMsync.name(), raw(RawMode::MmapMsync)),
            ("raw_pwrite_fdatasync_again", raw(RawMode::PwriteFdatasync)),
        ];
        let rec = payload(size, 1);
        let mut g = c.benchmark_group(format!("wal_append/{size}B"));
        g.throughput(Throughput::Elements(1));
        for (name, subject) in &mut subjects {
            let Some(subject) = subject else { continue };
            quiet(tmp.path());
            match subject {
                Subject::Raw(log) => {
                    g.bench_with_input(BenchmarkId::new(*name, size), &size, |b, _| {
                        b.iter(|| log.append_durable(&rec).expect("raw durable append"))
                    });
                }
                Subject::Wal(wal) => {
                    g.bench_with_input(BenchmarkId::new(*name, size), &size, |b, _| {
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
            }
        }
        g.finish();
    }
}

criterion_group! { name = benches; config = criterion_config(); targets = bench }
criterion_main!(benches);
