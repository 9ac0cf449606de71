//! Reproducers the fuzzer (`fuzz/`, target `wal_open`) found, as plain
//! scenario tests. Each one's raw fuzz input is also kept in
//! `fuzz/seeds/wal_open/` (`regress-*`), where `fuzz_seeds.rs` runs it.

mod common;

use common::{dir, opts, payload, records, rng, seg_path};
use paxos_wal::format::{frame_len, HEADER_PAGE};
use paxos_wal::storage::{CrashKind, MemStorage};
use paxos_wal::{CorruptionPolicy, Wal};

/// Found by `wal_open` (seed `regress-unreadable-tail-resurfaces`): an
/// unsynced tail that could not be read during recovery was cut as a torn
/// tail, but `erase_from` only zeroed pages it had *read* as non-zero, and
/// an unreadable page reads as zeros. The stale records stayed on disk. New
/// records were appended at the cut; once the read error was gone (it was
/// transient: the power loss cleared it), the scan found the stale records
/// behind the new ones, with the very LSNs that came next, and returned them
/// as part of the log: records from an earlier life, never acknowledged,
/// after records appended later.
#[test]
fn an_unreadable_torn_tail_is_erased_and_cannot_resurface_after_new_appends() {
    for policy in [CorruptionPolicy::TolerateTornTail, CorruptionPolicy::Salvage] {
        let mem = MemStorage::new();
        let (wal, _) = Wal::open(dir(), opts(&mem, policy)).unwrap();
        // 8 records of 192-byte frames end on a sector boundary.
        assert_eq!(frame_len(152), 192);
        for lsn in 1..=8 {
            wal.append(&payload(lsn, 0, 152)).unwrap();
        }
        wal.sync().unwrap();
        for lsn in 9..=14 {
            wal.append(&payload(lsn, 0, 152)).unwrap();
        }
        assert!(wal.read(14).unwrap().is_some(), "written out, not synced");
        drop(wal);
        let tail = HEADER_PAGE + 8 * 192;
        mem.fail_reads(&seg_path(1), tail..tail + 6 * 192).unwrap();

        let (wal, report) = Wal::open(dir(), opts(&mem, policy)).unwrap();
        assert_eq!((wal.last_lsn(), report.torn_tail.is_some()), (8, true), "{policy:?}: {report}");
        // Two short records: the stale 11..=14 lie beyond them.
        wal.append(&payload(9, 1, 10)).unwrap();
        wal.append(&payload(10, 1, 10)).unwrap();
        wal.sync().unwrap();
        drop(wal);
        mem.crash(CrashKind::PowerLoss, &mut rng(0));

        let (wal, report) = Wal::open(dir(), opts(&mem, policy)).unwrap();
        let mut expect: Vec<(u64, Vec<u8>)> = (1..=8).map(|l| (l, payload(l, 0, 152))).collect();
        expect.push((9, payload(9, 1, 10)));
        expect.push((10, payload(10, 1, 10)));
        let got = records(&wal);
        let lsns: Vec<u64> = got.iter().map(|r| r.0).collect();
        assert!(got == expect, "{policy:?}: stale records resurfaced: lsns {lsns:?}, report {report}");
    }
}
