//! Reproducers of bugs the crash tests found in recovery, kept as
//! regression tests. Each names the scenario and what used to go wrong.

mod common;

use common::{dir, opts, payload, records, rng};
use paxos_wal::storage::{CrashKind, MemStorage};
use paxos_wal::{CorruptionPolicy, Wal, WalOptions, WriteMode};

const TOLERATE: CorruptionPolicy = CorruptionPolicy::TolerateTornTail;

/// A process killed between a roll-over's rename and its directory sync
/// leaves the new segment visible but its name not durable. Recovery used to
/// adopt it without syncing the directory; the reopened log then appended and
/// acknowledged records in it, and a power loss took the name, and with it
/// every record acknowledged there (the log silently ended before them).
#[test]
fn recovery_makes_the_directory_durable_before_appending_to_a_renamed_segment() {
    let mut cases = 0;
    for n in 0..24u64 {
        for seed in 0..6u64 {
            let mem = MemStorage::new();
            let (wal, _) = Wal::open(dir(), opts(&mem, TOLERATE)).unwrap();
            // Fill the first segment exactly (11 frames of 1040 bytes) and
            // make it durable, so the roll-over below starts from a complete segment.
            for i in 1..=11u64 {
                wal.append(&payload(i, 0, 1000)).unwrap();
            }
            wal.sync().unwrap();
            mem.crash_after_ops(n);
            let mut durable = 11;
            for i in 12..=14u64 {
                if wal.append(&payload(i, 0, 1000)).is_err() || wal.sync().is_err() {
                    break;
                }
                durable = i;
            }
            drop(wal);
            mem.crash(CrashKind::Process, &mut rng(seed));
            let (wal, _) = Wal::open(dir(), opts(&mem, TOLERATE)).unwrap();
            let first_new = wal.last_lsn() + 1;
            for i in 0..6u64 {
                wal.append_durable(&payload(first_new + i, 1, 1000)).unwrap();
            }
            let acked = records(&wal);
            drop(wal);
            mem.crash(CrashKind::PowerLoss, &mut rng(seed));
            let (wal, report) = Wal::open(dir(), opts(&mem, TOLERATE))
                .unwrap_or_else(|e| panic!("n={n} seed={seed}: open failed: {e}"));
            let got = records(&wal);
            assert!(got.len() >= acked.len(), "n={n} seed={seed}: acknowledged records lost: {report}");
            assert_eq!(got[..acked.len()], acked[..], "n={n} seed={seed}");
            assert!(acked.len() as u64 >= durable);
            cases += 1;
        }
    }
    eprintln!("{cases} crash points x power-loss seeds");
}

/// After a failed sync the kernel marks the unwritten pages clean: they stay
/// readable in the page cache but never reach the disk, and a later sync skips
/// them. Reopening in the same boot (no crash) used to read those records
/// back, call them durable after a sync that did not write them, and hand out
/// later LSNs as durable on top of them; a power loss then lost them and the
/// next open failed with "damage to acknowledged records".
#[test]
fn reopen_after_a_failed_sync_makes_what_it_keeps_really_durable() {
    for seed in 0..16u64 {
        let mem = MemStorage::new();
        let (wal, _) = Wal::open(dir(), opts(&mem, TOLERATE)).unwrap();
        for i in 1..=3u64 {
            wal.append(&payload(i, 0, 1000)).unwrap();
        }
        wal.sync().unwrap();
        mem.fail_sync(0);
        for i in 4..=7u64 {
            wal.append(&payload(i, 0, 1000)).unwrap();
        }
        assert!(wal.sync().is_err());
        assert_eq!(wal.durable_lsn(), 3);
        drop(wal);
        // Same boot: no crash, the page cache (with its clean, unwritten pages) stays.
        let (wal, report) = Wal::open(dir(), opts(&mem, TOLERATE)).unwrap();
        assert!(report.last_lsn >= 3, "{report}");
        let lsn = wal.append_durable(&payload(wal.last_lsn() + 1, 1, 1000)).unwrap();
        let acked = records(&wal);
        assert_eq!(acked.len() as u64, lsn);
        drop(wal);
        mem.crash(CrashKind::PowerLoss, &mut rng(seed));
        let (wal, report) = Wal::open(dir(), opts(&mem, TOLERATE))
            .unwrap_or_else(|e| panic!("seed {seed}: open after power loss failed: {e}"));
        assert_eq!(records(&wal)[..acked.len()], acked[..], "seed {seed}: {report}");
    }
}

/// Records written through the mapping (`WriteMode::Mmap`) but never flushed
/// are in memory only; recovery kept them and called them durable after a
/// file sync that does not cover mapping writes, so a power loss lost records
/// the reopened log had reported durable.
#[test]
fn unflushed_mapping_writes_kept_by_recovery_survive_a_power_loss() {
    for seed in 0..8u64 {
        let mem = MemStorage::new();
        let o = WalOptions { write_mode: WriteMode::Mmap, ..opts(&mem, TOLERATE) };
        let (wal, _) = Wal::open(dir(), o.clone()).unwrap();
        wal.append(&payload(1, 0, 0)).unwrap();
        wal.append(&payload(2, 0, 300)).unwrap();
        assert!(wal.read(2).unwrap().is_some()); // written out, not synced
        drop(wal);
        let (wal, _) = Wal::open(dir(), o.clone()).unwrap();
        assert_eq!(wal.last_lsn(), 2);
        assert_eq!(wal.durable_lsn(), 2);
        let kept = records(&wal);
        drop(wal);
        mem.crash(CrashKind::PowerLoss, &mut rng(seed));
        let (wal, report) = Wal::open(dir(), o).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert_eq!(records(&wal), kept, "seed {seed}: {report}");
    }
}
