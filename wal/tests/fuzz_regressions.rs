//! Reproducers the fuzzer (`fuzz/`, target `wal_open`) found, as plain
//! scenario tests. Each one's raw fuzz input is also kept in
//! `fuzz/seeds/wal_open/` (`regress-*`), where `fuzz_seeds.rs` runs it.

mod common;

use common::{dir, frames, opts, payload, records, rng, seg_path};
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

/// Found by `wal_open` (input now a seed:
/// `fuzz/seeds/wal_open/regress-salvage-stale-copy-shadows-new-record`). Under `Salvage`, three faults together return wrong
/// data for an acknowledged record:
/// 1. a misdirected write leaves valid frames of later records (12, 13) at
///    an earlier offset of the same segment, over records 3 and 4;
/// 2. that range cannot be read during recovery: it becomes a reported
///    hole (3..=4, at or below the durable watermark), kept, not erased;
/// 3. the tail (from 12, above the watermark) is torn and cut.
///
/// New records 12 and 13 are appended and synced. After a power loss the
/// read error is gone: the scan meets the stale copy of the old 12 first,
/// takes it for LSN 12 (declaring 3..=11 a hole), and rejects the real
/// records 5..=11 and the new 12 and 13 as misdirected. LSN 12 then reads
/// back the old bytes: an acknowledged record silently replaced.
///
/// The fix (open.rs, pass 2): a frame whose LSN is ahead of the
/// expected one is taken as misdirected, not as the end of a hole, when a
/// later frame of the same segment carries an LSN in `[expected, lsn)`
/// (keep the LSNs of the frames not yet walked in a `BTreeSet` and query
/// `range(expected..lsn)`). The in-order chain then wins: 3..=4 stay a hole,
/// 5..=11 and the new 12, 13 are read back.
#[test]
fn a_stale_misdirected_frame_behind_a_read_error_never_shadows_a_new_record() {
    let policy = CorruptionPolicy::Salvage;
    let mem = MemStorage::new();
    let (wal, _) = Wal::open(dir(), opts(&mem, policy)).unwrap();
    for lsn in 1..=14 {
        wal.append(&payload(lsn, 0, 100)).unwrap();
        if lsn == 10 {
            wal.sync().unwrap();
        }
    }
    assert!(wal.read(14).unwrap().is_some(), "11..=14 written out, not synced");
    drop(wal);
    let seg = mem.read_file(&seg_path(1)).unwrap();
    let offsets = frame_offsets(&seg, 14);
    let at = |lsn: u64| offsets[lsn as usize - 1];
    let f = frame_len(100) as usize;
    // 1. A misdirected write: the frames of 12 and 13 land where 3 and 4 are.
    let mut damaged = seg.clone();
    damaged.copy_within(at(12)..at(12) + 2 * f, at(3));
    // 3. The tail from 12 is torn (above the durable watermark of 10).
    damaged[at(12) + 50] ^= 0xFF;
    mem.put_file(&seg_path(1), &damaged).unwrap();
    // 2. The misdirected copies cannot be read during this recovery.
    mem.fail_reads(&seg_path(1), at(3) as u64..(at(3) + 2 * f) as u64).unwrap();

    let (wal, report) = Wal::open(dir(), opts(&mem, policy)).unwrap();
    assert_eq!(wal.last_lsn(), 11, "{report}");
    let new12 = wal.append(&payload(12, 1, 30)).unwrap();
    let new13 = wal.append(&payload(13, 1, 30)).unwrap();
    assert_eq!((new12, new13), (12, 13));
    wal.sync().unwrap();
    drop(wal);
    mem.crash(CrashKind::PowerLoss, &mut rng(1));

    let (wal, report) = Wal::open(dir(), opts(&mem, policy)).unwrap();
    let got = records(&wal);
    let lost = common::lost_lsns(&report);
    for (lsn, bytes) in &got {
        let want = if *lsn >= 12 { payload(*lsn, 1, 30) } else { payload(*lsn, 0, 100) };
        assert!(*bytes == want, "lsn {lsn} holds other bytes than were acknowledged: {report}");
    }
    for lsn in [12, 13] {
        assert!(got.iter().any(|r| r.0 == lsn) || lost.contains(&lsn), "acknowledged lsn {lsn} lost unreported");
    }
}

/// Offsets of the first `n` record frames of an undamaged segment image.
fn frame_offsets(seg: &[u8], n: usize) -> Vec<usize> {
    let offsets: Vec<usize> = frames(seg).iter().take(n).map(|f| f.offset as usize).collect();
    assert_eq!(offsets.len(), n, "the segment holds {n} frames");
    offsets
}

/// Found by `wal_open` after the fix above (input
/// `fuzz/seeds/wal_open/regress-salvage-unreadable-hole-resurfaces`). Under `Salvage`, an unreadable range *inside* the kept
/// part of a segment (a reported hole, with a valid frame after it) is left
/// as it is. It still holds records, here unsynced ones beyond the end the
/// open settles on. New records are appended after the hole; once the read
/// error is gone, the scan walks into the hole, finds the old records with
/// exactly the LSNs the new ones took, returns the old bytes for them, and
/// rejects the new records as misdirected: acknowledged records silently
/// replaced. (When the new records went to the next segment instead, the
/// log no longer opened at all: "starts at lsn 92 but the log reached 95".)
///
/// The fix (open.rs): under `Salvage`, zero the unreadable ranges of the
/// last segment, where new records go (their records are reported lost; the
/// caller repairs them from peers, not from this disk), as `erase_from` does
/// for a cut tail; and a frame whose LSN is at or past the next segment's
/// first LSN is misdirected (which covers the earlier segments).
#[test]
fn an_unreadable_hole_cannot_resurface_over_new_records() {
    let policy = CorruptionPolicy::Salvage;
    let mem = MemStorage::new();
    let (wal, _) = Wal::open(dir(), opts(&mem, policy)).unwrap();
    for lsn in 1..=14 {
        wal.append(&payload(lsn, 0, 152)).unwrap();
        if lsn == 10 {
            wal.sync().unwrap();
        }
    }
    assert!(wal.read(14).unwrap().is_some(), "11..=14 written out, not synced");
    drop(wal);
    let seg = mem.read_file(&seg_path(1)).unwrap();
    let at = frame_offsets(&seg, 14);
    let end = at[13] + 192;
    // A misdirected copy of record 9's frame lands after the end of the log
    // (in the next sector), and records 9..=14 cannot be read.
    let copy = end.next_multiple_of(512);
    let mut damaged = seg.clone();
    damaged.copy_within(at[8]..at[8] + 192, copy);
    mem.put_file(&seg_path(1), &damaged).unwrap();
    mem.fail_reads(&seg_path(1), at[8] as u64..end as u64).unwrap();

    let (wal, report) = Wal::open(dir(), opts(&mem, policy)).unwrap();
    let first = records(&wal);
    let next = wal.last_lsn() + 1;
    let fresh: Vec<(u64, Vec<u8>)> = (next..next + 2).map(|l| (l, payload(l, 1, 40))).collect();
    for (lsn, p) in &fresh {
        assert_eq!(wal.append(p).unwrap(), *lsn, "{report}");
    }
    wal.sync().unwrap();
    drop(wal);
    mem.crash(CrashKind::PowerLoss, &mut rng(2));

    let (wal, report) = Wal::open(dir(), opts(&mem, policy)).unwrap();
    let got = records(&wal);
    let lost = common::lost_lsns(&report);
    for (lsn, bytes) in &fresh {
        let now = got.iter().find(|r| r.0 == *lsn).map(|r| &r.1);
        assert!(now == Some(bytes) || (now.is_none() && lost.contains(lsn)), "acknowledged lsn {lsn}: {report}");
    }
    for (lsn, bytes) in &first {
        let now = got.iter().find(|r| r.0 == *lsn).map(|r| &r.1);
        assert!(now == Some(bytes) || (now.is_none() && lost.contains(lsn)), "lsn {lsn} changed: {report}");
    }
}

/// Found by `wal_open` (input `fuzz/seeds/wal_open/regress-salvage-erased-watermark-evidence`).
/// Under `Salvage`, the durable watermark D is
/// the highest watermark slot or record `acked` field found. With both
/// slots damaged, D can come from a record in the torn tail, which
/// recovery then erases; it does not record D anywhere (`Wal::open` writes
/// a slot only when the log ends above D). The next open sees a lower D,
/// takes the holes that the first open reported as damage for a torn tail,
/// and cuts from there: records the first open returned (acknowledged,
/// synced ones) are erased, reported only as a torn tail.
///
/// The fix (open.rs, `recover`): before erasing anything, write a watermark
/// slot carrying D into the segment's header page and sync it, so the
/// evidence recovery acted on outlives what it erases.
#[test]
fn the_watermark_recovery_used_survives_the_records_it_erases() {
    let policy = CorruptionPolicy::Salvage;
    let mem = MemStorage::new();
    let (wal, _) = Wal::open(dir(), opts(&mem, policy)).unwrap();
    for lsn in 1..=14 {
        wal.append(&payload(lsn, 0, 152)).unwrap();
        if lsn == 8 || lsn == 12 {
            wal.sync().unwrap();
        }
    }
    assert!(wal.read(14).unwrap().is_some(), "13 and 14 (acked = 12) written out, not synced");
    drop(wal);
    let seg = mem.read_file(&seg_path(1)).unwrap();
    let at = frame_offsets(&seg, 14);
    let mut damaged = seg.clone();
    damaged[512..1056].fill(0); // both watermark slots
    for lsn in [9, 10, 13] {
        damaged[at[lsn - 1] + 60] ^= 0x20;
    }
    mem.put_file(&seg_path(1), &damaged).unwrap();

    let (wal, report) = Wal::open(dir(), opts(&mem, policy)).unwrap();
    let first = records(&wal);
    assert_eq!(report.durable_watermark, 12, "record 14 proves 1..=12 were acknowledged: {report}");
    assert!(first.iter().any(|r| r.0 == 12), "{report}");
    drop(wal);
    let (wal, again) = Wal::open(dir(), opts(&mem, policy)).unwrap();
    let lsns: Vec<u64> = records(&wal).iter().map(|r| r.0).collect();
    assert!(records(&wal) == first, "second open returned {lsns:?}; first: {report}; second: {again}");
}

/// The raw fuzz inputs of bugs not fixed yet (`fuzz/known-bugs/wal_open/`,
/// none open). When one is fixed, move its file to
/// `fuzz/seeds/wal_open/regress-*`, where the seed-corpus test checks it.
#[test]
fn known_bug_inputs_hold_their_properties() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/known-bugs/wal_open");
    let Ok(entries) = std::fs::read_dir(&dir) else { return }; // none open
    for entry in entries {
        let path = entry.unwrap().path();
        let input = std::fs::read(&path).unwrap();
        if let Err(v) = paxos_store_testkit::wal::check_open_damaged_log(&input) {
            panic!("{}: {v}", path.display());
        }
    }
}
