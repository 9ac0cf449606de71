//! A log long enough (16 MiB of segments or more) that opening it scans its
//! segments on several threads: the records, the damage found and the
//! report are what a one-segment-at-a-time scan finds.

mod common;

use common::*;
use paxos_wal::storage::{MemStorage, Storage};
use paxos_wal::{CorruptionPolicy, Error, Wal, WalOptions};

const SEGMENT: u64 = 2 << 20;

fn big(mem: &MemStorage, policy: CorruptionPolicy) -> WalOptions {
    WalOptions { segment_size: SEGMENT, ..opts(mem, policy) }
}

/// 12 segments of 2 MiB, 48 KiB records.
fn build(mem: &MemStorage) -> Records {
    let (wal, _) = Wal::open(dir(), big(mem, CorruptionPolicy::TolerateTornTail)).unwrap();
    let mut all = Vec::new();
    while wal.segment_count() < 12 {
        let lsn = wal.last_lsn() + 1;
        let p = payload(lsn, 7, 48 << 10);
        assert_eq!(wal.append(&p).unwrap(), lsn);
        all.push((lsn, p));
    }
    wal.sync().unwrap();
    all
}

#[test]
fn a_long_log_scanned_in_parallel_reads_back_and_reports_damage_by_lsn() {
    let mem = MemStorage::new();
    let all = build(&mem);
    let (wal, report) = Wal::open(dir(), big(&mem, CorruptionPolicy::TolerateTornTail)).unwrap();
    assert!(report.damage.is_empty() && report.torn_tail.is_none(), "{report}");
    assert_eq!(report.segments.len(), 12);
    assert_eq!(records(&wal), all);
    drop(wal);

    // Damage a record in two segments (the third and the ninth): both
    // are found, each by its own LSN, whichever thread scanned it.
    let names = mem.list(dir()).unwrap();
    let mut segs: Vec<_> = names.iter().filter(|n| n.ends_with(".wal")).cloned().collect();
    segs.sort();
    let mut hit = Vec::new();
    for name in [&segs[2], &segs[8]] {
        let path = dir().join(name);
        let mut seg = mem.read_file(&path).unwrap();
        let f = &frames(&seg)[1];
        seg[f.offset as usize + paxos_wal::format::RECORD_HEADER_LEN + 5] ^= 0x10;
        mem.put_file(&path, &seg).unwrap();
        hit.push(f.lsn);
    }
    match Wal::open(dir(), big(&mem, CorruptionPolicy::TolerateTornTail)) {
        Err(Error::Corruption { damage }) => {
            for lsn in &hit {
                assert!(damage.iter().any(|d| d.lsns == Some((*lsn, *lsn))), "lsn {lsn}: {damage:?}");
            }
        }
        other => panic!("expected corruption of {hit:?}, got {:?}", other.map(|(_, r)| r.to_string())),
    }
    let (wal, report) = Wal::open(dir(), big(&mem, CorruptionPolicy::Salvage)).unwrap();
    let lost = lost_lsns(&report);
    assert_eq!(lost, hit.iter().copied().collect(), "{report}");
    assert_eq!(records(&wal), without(&all, &lost));
}
