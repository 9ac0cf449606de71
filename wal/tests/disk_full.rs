//! A full disk (fault 5): appends that need a new segment get
//! `Error::NoSpace`, the log is not poisoned, nothing of a refused call is
//! ever written, and once space is freed the log goes on.

mod common;

use common::{dir, opts, payload, records, rng};
use paxos_wal::storage::{CrashKind, MemStorage};
use paxos_wal::{CorruptionPolicy, Error, Lsn, Wal, WalOptions};
use rand::Rng;

/// A batch whose second record needs a new segment, on a full disk, used to
/// return `NoSpace` after buffering its first record: the caller was told
/// the batch failed, yet the next sync made that record durable under an LSN
/// the caller never saw, and every later LSN was one off.
#[test]
fn a_refused_batch_leaves_nothing_behind() {
    for background_prepare in [false, true] {
        let mem = MemStorage::new();
        let o = WalOptions { background_prepare, ..opts(&mem, CorruptionPolicy::TolerateTornTail) };
        let (wal, _) = Wal::open(dir(), o.clone()).unwrap();
        for lsn in 1..=10 {
            wal.append(&payload(lsn, 0, 1000)).unwrap();
        }
        wal.sync().unwrap();
        drop(wal); // (joins a background preparer, so the capacity below is exact)
                   // No spare to reuse: the roll-over below must allocate a segment.
        for name in paxos_wal::storage::Storage::list(&mem, dir()).unwrap() {
            if name.starts_with("prepare-") {
                paxos_wal::storage::Storage::remove(&mem, &dir().join(name)).unwrap();
            }
        }
        let (wal, _) = Wal::open(dir(), WalOptions { background_prepare: false, ..o.clone() }).unwrap();
        mem.set_capacity(Some(mem.used_bytes() + 1000));
        // Record 11 fits in the first segment, 12 needs the second.
        let batch: Vec<Vec<u8>> = (11..=13).map(|l| payload(l, 0, 1000)).collect();
        match wal.append_batch(batch.iter().map(|b| b.as_slice())) {
            Err(Error::NoSpace { .. }) => {}
            other => panic!("expected NoSpace, got {other:?}"),
        }
        assert_eq!(wal.last_lsn(), 10, "part of the refused batch was buffered");
        assert!(!wal.is_poisoned());
        wal.sync().unwrap();
        mem.set_capacity(None);
        assert_eq!(wal.append_batch(batch.iter().map(|b| b.as_slice())).unwrap(), 11..14);
        wal.sync().unwrap();
        drop(wal);
        mem.crash(CrashKind::PowerLoss, &mut rng(1));
        let (wal, _) = Wal::open(dir(), o).unwrap();
        let expect: Vec<(Lsn, Vec<u8>)> = (1..=13).map(|l| (l, payload(l, 0, 1000))).collect();
        assert_eq!(records(&wal), expect, "background_prepare {background_prepare}");
    }
}

/// Random appends and batches while the capacity shrinks and grows: every
/// call either succeeds with the next LSNs or fails with `NoSpace` having
/// buffered nothing; after a power loss the log holds exactly the accepted
/// records (all of them were synced).
#[test]
fn appends_on_a_filling_disk_are_all_or_nothing() {
    let mut refused = 0;
    for seed in 0..40u64 {
        let mut r = rng(seed);
        let mem = MemStorage::new();
        let o = opts(&mem, CorruptionPolicy::TolerateTornTail);
        let (wal, _) = Wal::open(dir(), o.clone()).unwrap();
        let mut accepted: Vec<(Lsn, Vec<u8>)> = Vec::new();
        for step in 0..60u64 {
            if r.random_bool(0.2) {
                let room = r.random_range(0..40_000);
                mem.set_capacity(Some(mem.used_bytes() + room));
            } else if r.random_bool(0.1) {
                mem.set_capacity(None);
            }
            let n = r.random_range(1..6u64);
            let next = accepted.len() as u64 + 1;
            let bodies: Vec<Vec<u8>> = (0..n).map(|i| payload(next + i, step, r.random_range(0..4000))).collect();
            match wal.append_batch(bodies.iter().map(|b| b.as_slice())) {
                Ok(got) => {
                    assert_eq!(got, next..next + n);
                    accepted.extend((next..).zip(bodies));
                }
                Err(Error::NoSpace { .. }) => {
                    assert_eq!(wal.last_lsn(), next - 1, "seed {seed}: a refused batch was buffered");
                    refused += 1;
                }
                Err(e) => panic!("seed {seed}: {e}"),
            }
            assert!(!wal.is_poisoned());
            if r.random_bool(0.3) {
                wal.sync().unwrap();
            }
        }
        wal.sync().unwrap();
        drop(wal);
        mem.set_capacity(None);
        mem.crash(CrashKind::PowerLoss, &mut r);
        let (wal, report) = Wal::open(dir(), o).unwrap();
        assert_eq!(records(&wal), accepted, "seed {seed}: {report}");
    }
    eprintln!("40 seeds, {refused} appends refused for lack of space, none left a trace");
    assert!(refused > 0);
}
