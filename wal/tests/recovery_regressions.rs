//! Reproducers of bugs the crash tests found in recovery, kept as
//! regression tests. Each names the scenario and what used to go wrong.

mod common;

use common::{dir, opts, payload, records, rng};
use paxos_wal::storage::{CrashKind, MemStorage};
use paxos_wal::{CorruptionPolicy, Wal};

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
