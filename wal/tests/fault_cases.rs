//! The crash cases of `shared/design/fault-model.md` ("Cases every crash
//! test suite should name") that concern the log, one named test each.
//! Bad files (fault 7) and misuse are in `bad_files.rs`.

mod common;

use common::{
    assert_prefix, build_log, dir, file_mut, frames, load_image, lost_lsns, opts, payload, records, rng, save_image,
    seq_of, three_segments, valid_frames_anywhere, without, Image, Records, SEG,
};
use paxos_wal::format::{encode_record, frame_len, segment_name, SegmentHeader, MANIFEST_FILE, RECORD_MAGIC};
use paxos_wal::storage::{CrashKind, MemStorage, Storage};
use paxos_wal::{CorruptionPolicy, DamageKind, Error, Lsn, Wal};
use rand::Rng;
use std::collections::BTreeSet;

const TOLERATE: CorruptionPolicy = CorruptionPolicy::TolerateTornTail;
const SALVAGE: CorruptionPolicy = CorruptionPolicy::Salvage;

fn open(mem: &MemStorage, policy: CorruptionPolicy) -> paxos_wal::Result<(Wal, paxos_wal::OpenReport)> {
    Wal::open(dir(), opts(mem, policy))
}

/// Case 1: power loss keeping a random subset of dirty 4 KiB pages (a later
/// page durable, an earlier one not) -> nothing acknowledged lost; the hole is
/// cut as a torn tail (erased, reported), never left behind as "empty".
#[test]
fn case1_power_loss_keeping_a_random_subset_of_dirty_pages() {
    let (mut later_kept_earlier_lost, mut torn) = (0, 0);
    for seed in 0..200u64 {
        let mem = MemStorage::new();
        let mut r = rng(seed);
        let (wal, _) = open(&mem, TOLERATE).unwrap();
        let (mut appended, mut durable) = (Vec::new(), 0);
        for lsn in 1..=40u64 {
            let body = payload(lsn, seed, r.random_range(200..2500));
            wal.append(&body).unwrap();
            appended.push((lsn, body));
            if lsn == 10 || lsn == 20 {
                wal.sync().unwrap();
                durable = lsn as usize;
            }
        }
        assert!(wal.read(40).unwrap().is_some()); // everything written, nothing more synced
        drop(wal);
        mem.crash(CrashKind::PowerLoss, &mut r);
        let before = save_image(&mem);
        let (wal, report) = open(&mem, TOLERATE).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let ctx = format!("seed {seed}: {report}");
        let n = assert_prefix(&records(&wal), &appended, durable, &ctx) as u64;
        assert!(report.damage.is_empty(), "{ctx}");
        // Was a record above the cut still on disk (a later page kept, an earlier one lost)?
        let beyond = common::segments(&before)
            .iter()
            .any(|(_, b)| valid_frames_anywhere(b, seq_of(b)).iter().any(|f| f.lsn > n + 1));
        // Did anything but zeros follow the end of the log?
        let last = report.segments.last().unwrap();
        let last_name = last.path.file_name().unwrap().to_str().unwrap();
        let (_, last_before) = before.iter().find(|(n, _)| n == last_name).unwrap();
        let extra_files = common::segments(&before).len() > report.segments.len();
        let dirty = extra_files || last_before[last.bytes_used as usize..].iter().any(|b| *b != 0);
        assert_eq!(report.torn_tail.is_some(), dirty, "{ctx}");
        if beyond {
            later_kept_earlier_lost += 1;
            assert!(report.torn_tail.is_some(), "{ctx}");
        }
        torn += report.torn_tail.is_some() as u32;
        // After the cut only zeros follow the last record, in every segment.
        let after = save_image(&mem);
        assert_eq!(common::segments(&after).len(), report.segments.len(), "{ctx}");
        for s in &report.segments {
            let name = s.path.file_name().unwrap().to_str().unwrap();
            let (_, bytes) = after.iter().find(|(n, _)| n == name).unwrap();
            assert!(bytes[s.bytes_used as usize..].iter().all(|b| *b == 0), "{ctx}: {name} not erased");
        }
        // The cut log goes on: a new durable record survives another power loss.
        let lsn = wal.append_durable(b"after the cut").unwrap();
        assert_eq!(lsn, n + 1);
        drop(wal);
        mem.crash(CrashKind::PowerLoss, &mut r);
        let (wal, _) = open(&mem, TOLERATE).unwrap();
        assert_eq!(&*wal.read(lsn).unwrap().unwrap(), b"after the cut", "seed {seed}");
    }
    eprintln!("200 seeds: {torn} torn tails cut, {later_kept_earlier_lost} with a later record kept past a lost one");
    assert!(later_kept_earlier_lost > 0, "the seeds never kept a later page past a lost one");
}

/// The image of a log with 5 synced records of 500 bytes and a 6th of 5000
/// bytes written but not synced; returns it and the 6th frame's byte range.
fn log_with_unsynced_last() -> (Image, Records, std::ops::Range<usize>) {
    let mem = MemStorage::new();
    let (wal, _) = open(&mem, TOLERATE).unwrap();
    for lsn in 1..=5 {
        wal.append(&payload(lsn, 0, 500)).unwrap();
    }
    wal.sync().unwrap();
    wal.append(&payload(6, 0, 5000)).unwrap();
    assert!(wal.read(6).unwrap().is_some());
    let all = records(&wal);
    drop(wal);
    let image = save_image(&mem);
    let f = frames(&image[0].1)[5];
    assert_eq!(f.lsn, 6);
    (image, all, f.span().start as usize..f.span().end as usize)
}

/// Case 2: the last record torn at 512-byte sectors, in every pattern of kept
/// and lost sectors tried, including a torn length field, and a header that
/// is intact but claims more bytes than the segment holds -> a torn tail, cut,
/// never a fatal error (etcd #14098).
#[test]
fn case2_last_record_torn_at_sectors_and_a_torn_length_is_a_torn_tail() {
    let (after, all, rec) = log_with_unsynced_last();
    let mut before = after.clone();
    file_mut(&mut before, &after[0].0)[rec.clone()].fill(0);
    let sectors: Vec<usize> = (rec.start / 512..rec.end.div_ceil(512)).collect();
    let ns = sectors.len();
    let mut patterns: Vec<Vec<bool>> = Vec::new();
    for k in 0..=ns {
        patterns.push((0..ns).map(|i| i < k).collect()); // prefixes
        patterns.push((0..ns).map(|i| i >= k).collect()); // suffixes
    }
    for k in 0..ns {
        patterns.push((0..ns).map(|i| i == k).collect()); // one sector
        patterns.push((0..ns).map(|i| i != k).collect()); // all but one
    }
    let mut r = rng(2);
    patterns.extend((0..64).map(|_| (0..ns).map(|_| r.random_bool(0.5)).collect()));
    let name = after[0].0.clone();
    let mut torn = 0;
    for p in &patterns {
        let mut img = before.clone();
        for (i, &keep) in p.iter().enumerate() {
            if keep {
                let s = sectors[i] * 512..(sectors[i] * 512 + 512).min(after[0].1.len());
                file_mut(&mut img, &name)[s.clone()].copy_from_slice(&after[0].1[s]);
            }
        }
        let mem = load_image(&img);
        let (wal, report) = open(&mem, TOLERATE).unwrap_or_else(|e| panic!("sectors kept {p:?}: {e}"));
        let got = records(&wal);
        if p.iter().all(|k| *k) {
            assert_eq!(got, all);
        } else {
            assert_eq!(got, all[..5], "sectors kept {p:?}");
            assert!(report.damage.is_empty(), "{report}");
            let first_kept = p.iter().any(|k| *k);
            assert_eq!(report.torn_tail.is_some(), first_kept, "sectors kept {p:?}: {report}");
            torn += report.torn_tail.is_some() as u32;
        }
    }
    eprintln!("{} sector patterns of a {ns}-sector record, {torn} torn tails cut", patterns.len());

    // A torn length field: garbage in `len`, the header checksum no longer matches.
    let mut img = after.clone();
    file_mut(&mut img, &name)[rec.start + 4..rec.start + 8].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    let (wal, report) = open(&load_image(&img), TOLERATE).expect("a torn length is a torn tail");
    assert_eq!((records(&wal), report.torn_tail.map(|t| t.lsn)), (all[..5].to_vec(), Some(6)));

    // An intact header (its checksum matches) whose length runs far past the segment.
    for len in [u32::MAX, 1 << 30, 16 << 10] {
        let mut img = before.clone();
        let seq = seq_of(&img[0].1);
        let mut h = Vec::new();
        h.extend_from_slice(&RECORD_MAGIC.to_le_bytes());
        h.extend_from_slice(&len.to_le_bytes());
        h.extend_from_slice(&6u64.to_le_bytes());
        h.extend_from_slice(&seq.to_le_bytes());
        h.extend_from_slice(&5u64.to_le_bytes());
        let crc = crc32fast::hash(&h);
        h.extend_from_slice(&crc.to_le_bytes());
        h.extend_from_slice(&[0xAB; 4]);
        file_mut(&mut img, &name)[rec.start..rec.start + 40].copy_from_slice(&h);
        let mem = load_image(&img);
        match open(&mem, CorruptionPolicy::Strict) {
            Err(Error::TornTail(t)) => assert_eq!(t.lsn, 6),
            other => panic!("Strict must refuse a torn tail, got {other:?}"),
        }
        let (wal, report) = open(&mem, TOLERATE).expect("a length past the segment is a torn tail");
        assert_eq!(records(&wal), all[..5], "len {len}");
        assert_eq!(report.torn_tail.as_ref().map(|t| t.lsn), Some(6), "{report}");
        assert_eq!(wal.append_durable(b"next").unwrap(), 6);
        drop(wal);
        let (wal, report) = open(&mem, CorruptionPolicy::Strict).unwrap();
        assert!(report.torn_tail.is_none(), "the torn header was erased: {report}");
        assert_eq!(&*wal.read(6).unwrap().unwrap(), b"next");
    }
}

/// Appends across two segment boundaries (segment 1 is full after 11 records
/// of 1000 bytes), syncing after every second record. Returns what was
/// appended, how many a completed sync covered, and how many file-system
/// operations the run performed after the crash point.
fn rollover_workload(mem: &MemStorage, crash_after: Option<u64>) -> (Records, usize, u64) {
    let (wal, _) = open(mem, TOLERATE).unwrap();
    let mut appended = Vec::new();
    for lsn in 1..=11u64 {
        wal.append(&payload(lsn, 0, 1000)).unwrap();
        appended.push((lsn, payload(lsn, 0, 1000)));
    }
    wal.sync().unwrap();
    let mut durable = 11;
    let crash_point = mem.op_count();
    if let Some(n) = crash_after {
        mem.crash_after_ops(n);
    }
    for lsn in 12..=30u64 {
        if wal.append(&payload(lsn, 0, 1000)).is_err() {
            break;
        }
        appended.push((lsn, payload(lsn, 0, 1000)));
        if lsn % 2 == 0 {
            if wal.sync().is_err() {
                break;
            }
            durable = lsn as usize;
        }
    }
    drop(wal);
    (appended, durable, mem.op_count() - crash_point)
}

/// Case 3: a crash at each step of creating a new segment and rolling over to
/// it (create, pre-zero, sync, header, sync, rename, directory sync, and the
/// appends around them), followed by a process crash or a power loss -> the
/// log opens, holds every synced record, leaves no temporary file, and every
/// segment left is fully valid.
#[test]
fn case3_crash_at_each_step_of_a_segment_rollover() {
    let (_, _, total) = rollover_workload(&MemStorage::new(), None);
    assert!(total > 20, "{total} operations");
    let mut cases = 0;
    for n in 0..=total {
        for (kind, seed) in [(CrashKind::Process, 0), (CrashKind::PowerLoss, n), (CrashKind::PowerLoss, n + 1000)] {
            let mem = MemStorage::new();
            let (appended, durable, _) = rollover_workload(&mem, Some(n));
            mem.crash(kind, &mut rng(seed));
            let (wal, report) = open(&mem, TOLERATE).unwrap_or_else(|e| panic!("crash after {n} ops, {kind:?}: {e}"));
            let ctx = format!("crash after {n} ops, {kind:?} seed {seed}: {report}");
            let kept = assert_prefix(&records(&wal), &appended, durable, &ctx);
            assert!(report.damage.is_empty(), "{ctx}");
            let mut names = mem.list(dir()).unwrap();
            names.sort();
            // A spare cut short is removed; one that was complete (full size,
            // all zeros) is kept as the next segment.
            for n in names.iter().filter(|n| n.starts_with("prepare-")) {
                let spare = mem.read_file(&dir().join(n)).unwrap();
                assert!(spare.len() as u64 == SEG && spare.iter().all(|b| *b == 0), "{ctx}: left {n}");
            }
            let known = |n: &String| n.ends_with(".wal") || n == MANIFEST_FILE || n.starts_with("prepare-");
            assert!(names.iter().all(known), "{ctx}: left {names:?}");
            assert_eq!(names.iter().filter(|n| n.ends_with(".wal")).count(), report.segments.len(), "{ctx}");
            for (i, s) in report.segments.iter().enumerate() {
                assert!(s.records > 0 || i + 1 == report.segments.len(), "{ctx}: empty segment in the middle");
            }
            // The recovered log takes durable appends that survive a power loss.
            let mut acked = records(&wal);
            for i in 0..4u64 {
                let lsn = kept as u64 + 1 + i;
                assert_eq!(wal.append_durable(&payload(lsn, 9, 3000)).unwrap(), lsn);
                acked.push((lsn, payload(lsn, 9, 3000)));
            }
            drop(wal);
            mem.crash(CrashKind::PowerLoss, &mut rng(seed + 7));
            let (wal, report) = open(&mem, TOLERATE).unwrap_or_else(|e| panic!("{ctx}: second open: {e}"));
            assert_eq!(records(&wal), acked, "{ctx}: then {report}");
            cases += 1;
        }
    }
    eprintln!("roll-over: crashed after each of {} operations x 3 crash kinds = {cases} cases", total + 1);
}

/// Case 4: a recycled segment still holding stale records with valid
/// checksums (of an earlier life: another sequence number) -> never replayed.
#[test]
fn case4_stale_records_of_a_recycled_segment_never_replay() {
    let (image, all) = three_segments();
    let s2 = segment_name(52);
    let s3 = segment_name(103);

    // (a) Stale frames right after the last record: the next LSNs, valid
    // checksums, an older sequence number, and a watermark that claims a lot.
    let mut img = image.clone();
    let end = frames(&img[2].1).last().unwrap().span().end as usize;
    let mut stale = Vec::new();
    for lsn in 151..=153 {
        encode_record(&mut stale, lsn, seq_of(&img[2].1) - 1, 10_000, &payload(lsn, 66, 200));
    }
    file_mut(&mut img, &s3)[end..end + stale.len()].copy_from_slice(&stale);
    let mem = load_image(&img);
    let (wal, report) = open(&mem, TOLERATE).expect("stale frames after the end are a torn tail");
    assert_eq!(records(&wal), all, "{report}");
    assert!(report.durable_watermark <= 150, "stale frames raised the watermark: {report}");
    let torn = report.torn_tail.expect("the stale frames are cut");
    assert!(torn.bytes_discarded > 0 && torn.lsn == 151);
    assert_eq!(wal.append_durable(b"new 151").unwrap(), 151);
    drop(wal);
    mem.crash(CrashKind::PowerLoss, &mut rng(4));
    let (wal, _) = open(&mem, TOLERATE).unwrap();
    assert_eq!(&*wal.read(151).unwrap().unwrap(), b"new 151");
    assert_eq!(wal.last_lsn(), 151);

    // (b) A segment recycled under a new header whose body still holds the
    // records of its earlier life, at the very LSNs and offsets expected.
    let mut img = image.clone();
    let mut old_life = Vec::new();
    for lsn in 52..=102 {
        encode_record(&mut old_life, lsn, 0, 0, &payload(lsn, 99, 200));
    }
    file_mut(&mut img, &s2)[4096..4096 + old_life.len()].copy_from_slice(&old_life);
    match open(&load_image(&img), TOLERATE) {
        Err(Error::Corruption { damage }) => {
            assert_eq!(damage.len(), 1, "{damage:?}");
            assert!(damage[0].segment.ends_with(&s2) && damage[0].lsns == Some((52, 102)), "{damage:?}");
        }
        other => panic!("expected corruption of lsns 52..=102, got {other:?}"),
    }
    let (wal, report) = open(&load_image(&img), SALVAGE).unwrap();
    assert_eq!(lost_lsns(&report), (52..=102).collect());
    assert_eq!(records(&wal), without(&all, &(52..=102).collect()), "{report}");

    // (c) A whole segment file of another life (its own header, sequence
    // number 7) in the middle: the sequence numbers no longer increase.
    let mut img = image.clone();
    let log_id = SegmentHeader::decode(&image[0].1).unwrap().log_id.get();
    let mut foreign = vec![0u8; 16 << 10];
    foreign[..64].copy_from_slice(zerocopy::IntoBytes::as_bytes(&SegmentHeader::new(7, 52, 16 << 10, log_id)));
    foreign[4096..4096 + old_life.len()].copy_from_slice(&old_life);
    *file_mut(&mut img, &s2) = foreign;
    match open(&load_image(&img), SALVAGE) {
        Err(Error::BadSegment { path, reason }) => {
            assert!(path.ends_with(&s3) && reason.contains("sequence number"), "{}: {reason}", path.display())
        }
        other => panic!("expected a sequence-number error, got {other:?}"),
    }

    // (d) A segment of *another log* that fits perfectly (copied from a
    // peer, say): the right sequence number and first LSN, valid records of
    // its own. Only the log id tells it apart; without it, its records would
    // be returned as this log's (invented data).
    let mut img = image.clone();
    let s2_header = SegmentHeader::decode(file_mut(&mut img, &s2)).unwrap();
    let seq = s2_header.seq.get();
    let mut other = Vec::new();
    for lsn in 52..=102 {
        encode_record(&mut other, lsn, seq, 0, &payload(lsn, 7, 200));
    }
    let mut foreign = vec![0u8; 16 << 10];
    let header = SegmentHeader::new(seq, 52, 16 << 10, log_id ^ 1);
    foreign[..64].copy_from_slice(zerocopy::IntoBytes::as_bytes(&header));
    foreign[4096..4096 + other.len()].copy_from_slice(&other);
    *file_mut(&mut img, &s2) = foreign;
    for policy in [TOLERATE, SALVAGE] {
        match open(&load_image(&img), policy) {
            Err(Error::BadSegment { path, reason }) => {
                assert!(path.ends_with(&s2) && reason.contains("another log"), "{}: {reason}", path.display())
            }
            other => panic!("expected a foreign-log error, got {other:?}"),
        }
    }
}

/// Case 5: a misdirected write (a valid record at the wrong offset, or in the
/// wrong segment) -> rejected by the LSN and sequence-number checks: never
/// returned in place of the record it overwrote, never returned twice.
#[test]
fn case5_misdirected_writes_are_rejected() {
    let (image, all) = three_segments();
    let s1 = segment_name(1);
    let s2 = segment_name(52);
    let s3 = segment_name(103);
    let f2 = frames(&image[1].1);
    let at = |lsn: Lsn| f2.iter().find(|f| f.lsn == lsn).unwrap().span();

    // (a) LSN 60's frame written over LSN 70's place, in the same segment.
    let mut img = image.clone();
    let (src, dst) = (at(60), at(70));
    let frame = img[1].1[src.start as usize..src.end as usize].to_vec();
    file_mut(&mut img, &s2)[dst.start as usize..dst.end as usize].copy_from_slice(&frame);
    // (b) LSN 10's frame (segment 1) written over LSN 80's place in segment 2.
    let f1 = frames(&image[0].1);
    let src = f1[9].span();
    assert_eq!(f1[9].lsn, 10);
    let frame = img[0].1[src.start as usize..src.end as usize].to_vec();
    let dst = at(80);
    file_mut(&mut img, &s2)[dst.start as usize..dst.end as usize].copy_from_slice(&frame);
    match open(&load_image(&img), TOLERATE) {
        Err(Error::Corruption { damage }) => {
            let named: Vec<_> = damage.iter().filter_map(|d| d.lsns).collect();
            assert_eq!(named, [(70, 70), (80, 80)], "{damage:?}");
            assert!(damage.iter().all(|d| d.segment.ends_with(&s2)));
        }
        other => panic!("expected corruption at lsns 70 and 80, got {other:?}"),
    }
    let (wal, report) = open(&load_image(&img), SALVAGE).unwrap();
    assert_eq!(lost_lsns(&report), BTreeSet::from([70, 80]), "{report}");
    assert!(report.damage.iter().any(|d| d.kind == DamageKind::Misdirected), "{report}");
    assert_eq!(records(&wal), without(&all, &BTreeSet::from([70, 80])));
    let _ = s1;

    // (c) The last record's frame written again past the end of the log:
    // ignored, never replayed as LSN 151, and gone once the log goes on.
    for gap in [0usize, 8, 512] {
        let mut img = image.clone();
        let last = frames(&img[2].1).last().unwrap().span();
        let frame = img[2].1[last.start as usize..last.end as usize].to_vec();
        let at = last.end as usize + gap;
        file_mut(&mut img, &s3)[at..at + frame.len()].copy_from_slice(&frame);
        let mem = load_image(&img);
        let (wal, report) = open(&mem, TOLERATE).unwrap_or_else(|e| panic!("gap {gap}: {e}"));
        assert_eq!(records(&wal), all, "gap {gap}: {report}");
        assert!(report.damage.iter().all(|d| d.lsns.is_none()), "{report}");
        assert_eq!(wal.append_durable(&payload(151, 5, 300)).unwrap(), 151);
        assert_eq!(wal.append_durable(&payload(152, 5, 300)).unwrap(), 152);
        drop(wal);
        let (wal, report) = open(&mem, CorruptionPolicy::Strict).unwrap_or_else(|e| panic!("gap {gap}: {e}"));
        assert_eq!(records(&wal).len(), 152, "{report}");
        assert_eq!(&*wal.read(151).unwrap().unwrap(), &payload(151, 5, 300)[..]);
    }
}

/// Case 6: a bit flip in a middle record -> `TolerateTornTail` fails with
/// `Error::Corruption` naming the segment and the LSN; `Salvage` reports it,
/// leaves a hole, and keeps every later record.
#[test]
fn case6_bit_flip_in_a_middle_record() {
    let (mut image, all) = three_segments();
    let s2 = segment_name(52);
    let f = frames(&image[1].1).into_iter().find(|f| f.lsn == 75).unwrap();
    file_mut(&mut image, &s2)[f.offset as usize + 100] ^= 0x10;
    let err = open(&load_image(&image), TOLERATE).unwrap_err();
    let Error::Corruption { damage } = &err else { panic!("expected corruption, got {err:?}") };
    assert_eq!(damage.len(), 1);
    assert!(damage[0].segment.ends_with(&s2));
    assert_eq!((damage[0].lsns, damage[0].kind, damage[0].offset), (Some((75, 75)), DamageKind::Checksum, f.offset));
    let msg = err.to_string();
    assert!(msg.contains(&s2) && msg.contains("lsn 75"), "{msg}");
    assert!(matches!(open(&load_image(&image), CorruptionPolicy::Strict), Err(Error::Corruption { .. })));

    let mem = load_image(&image);
    let (wal, report) = open(&mem, SALVAGE).unwrap();
    assert_eq!(report.damage, *damage);
    assert_eq!(records(&wal), without(&all, &BTreeSet::from([75])));
    assert!(wal.read(75).unwrap().is_none());
    assert_eq!(&*wal.read(76).unwrap().unwrap(), &all[75].1[..]);
    assert_eq!(wal.append_durable(b"151").unwrap(), 151);
    drop(wal);
    // The damage stays on disk and is reported again, never forgotten.
    assert!(matches!(open(&mem, TOLERATE), Err(Error::Corruption { .. })));
}

/// Case 7: a bit flip in the *last* acknowledged record, once the watermark
/// of the sync that covered it is on disk (or still in the page cache) ->
/// corruption, never cut as a torn tail.
#[test]
fn case7_bit_flip_in_the_last_acknowledged_record() {
    for (what, kind) in [("after a power loss", CrashKind::PowerLoss), ("after a process crash", CrashKind::Process)] {
        for seed in 0..8u64 {
            let mem = MemStorage::new();
            let all = build_log(&mem, 20, |l| 100 + l as usize, 7);
            if kind == CrashKind::PowerLoss {
                // A clean reopen carries the last watermark slot to the disk.
                drop(open(&mem, TOLERATE).unwrap());
            }
            mem.crash(kind, &mut rng(seed));
            let f = frames(&mem.read_file(&common::seg_path(1)).unwrap()).pop().unwrap();
            assert_eq!(f.lsn, 20);
            mem.corrupt(&common::seg_path(1), f.offset + 45, 0x01).unwrap();
            match open(&mem, TOLERATE) {
                Err(Error::Corruption { damage }) => {
                    assert_eq!(damage[0].lsns, Some((20, 20)), "{what}: {damage:?}")
                }
                other => panic!("{what}, seed {seed}: the damaged last record was not reported: {other:?}"),
            }
            let (wal, report) = open(&mem, SALVAGE).unwrap();
            assert!(report.torn_tail.is_none(), "{report}");
            assert_eq!(lost_lsns(&report), BTreeSet::from([20]));
            assert_eq!(records(&wal), all[..19]);
            // LSN 20 is never handed out again.
            assert_eq!(wal.append(b"next").unwrap(), 21);
        }
    }
}

/// Case 8: EIO while reading during recovery -> a reported damaged range of
/// kind `ReadError` (or a typed error for an unreadable header), not a crash.
#[test]
fn case8_read_errors_during_recovery() {
    let (image, all) = three_segments();
    let s2 = common::seg_path(52);
    let f = frames(&image[1].1).into_iter().find(|f| f.lsn == 75).unwrap();
    let bad = f.offset + 60..f.offset + 61;
    let mem = load_image(&image);
    mem.fail_reads(&s2, bad.clone()).unwrap();
    match open(&mem, TOLERATE) {
        Err(Error::Corruption { damage }) => {
            assert!(damage.iter().all(|d| d.kind == DamageKind::ReadError && d.segment == s2), "{damage:?}");
            assert!(damage.iter().any(|d| d.lsns.is_some_and(|(a, b)| a <= 75 && 75 <= b)), "{damage:?}");
        }
        other => panic!("expected a read-error damage report, got {other:?}"),
    }
    let mem = load_image(&image);
    mem.fail_reads(&s2, bad).unwrap();
    let (wal, report) = open(&mem, SALVAGE).unwrap();
    let lost = lost_lsns(&report);
    assert!(lost.contains(&75) && lost.len() <= 3, "a 512-byte sector holds at most 3 of these records: {report}");
    assert!(report.damage.iter().all(|d| d.kind == DamageKind::ReadError));
    assert_eq!(records(&wal), without(&all, &lost));

    // An unreadable segment header is a typed error naming the file.
    for range in [0..64, 0..16384] {
        let mem = load_image(&image);
        mem.fail_reads(&s2, range).unwrap();
        match open(&mem, SALVAGE) {
            Err(Error::BadSegment { path, reason }) => assert!(path == s2 && reason.contains("unreadable"), "{reason}"),
            other => panic!("expected BadSegment, got {other:?}"),
        }
    }

    // Unreadable sectors in the unused end of the last segment: nothing
    // acknowledged is there, so the log opens with every record.
    let mem = load_image(&image);
    mem.fail_reads(&common::seg_path(103), 16000..16100).unwrap();
    let (wal, report) = open(&mem, TOLERATE).unwrap();
    assert_eq!(records(&wal), all, "{report}");
}

/// Cases 12 and 13 (audit finding 3): recovery cuts a torn tail whose
/// records carry the segment's own sequence number; the sync of any step of
/// that cut fails (so the zeros it wrote may sit in pages marked clean that
/// never reach the disk); the store is reopened in the same boot (the page
/// cache shows zeros) and takes new records at the cut LSNs; then the power
/// goes. The cut records must never come back over the new ones.
#[test]
fn case12_13_a_cut_whose_erase_did_not_reach_the_disk_never_comes_back() {
    let (image, all) = {
        let mem = MemStorage::new();
        let all = common::build_log(&mem, 5, |_| 200, 1);
        (save_image(&mem), all)
    };
    let s1 = segment_name(1);
    let seq = seq_of(&image[0].1);
    let end = frames(&image[0].1).last().unwrap().span().end as usize;
    // A tail of the segment's own life: 6 intact, 7 torn, 8 intact; 7 ends
    // on a page boundary, so that a new 7 of the same size rewrites no page
    // of the stale 8 (the page cache writes back whole pages: a shared page
    // would carry the cache's zeros over it).
    let f = frame_len(200) as usize;
    let len7 = (end + f).next_multiple_of(4096) + 4096 - (end + f) - 40;
    let mut tail = Vec::new();
    encode_record(&mut tail, 6, seq, 5, &payload(6, 5, 200));
    encode_record(&mut tail, 7, seq, 5, &payload(7, 5, len7));
    encode_record(&mut tail, 8, seq, 5, &payload(8, 5, 200));
    assert_eq!((end + tail.len() - f) % 4096, 0);
    tail[f + 60] ^= 0xFF;
    let mut img = image.clone();
    file_mut(&mut img, &s1)[end..end + tail.len()].copy_from_slice(&tail);
    // How many syncs an undisturbed recovery of this image makes.
    let syncs = {
        let mem = load_image(&img);
        let before = mem.sync_count();
        let (_, report) = open(&mem, TOLERATE).unwrap();
        assert_eq!(report.torn_tail.as_ref().map(|t| t.lsn), Some(7), "{report}");
        mem.sync_count() - before
    };
    let mut failed_opens = 0;
    for n in 0..syncs {
        let mem = load_image(&img);
        mem.fail_sync(n);
        let first = open(&mem, TOLERATE);
        let reopened = match first {
            Ok((wal, _)) => wal,
            Err(_) => {
                failed_opens += 1;
                // A reopen in the same boot: the page cache survives.
                mem.crash(CrashKind::Process, &mut rng(n));
                open(&mem, TOLERATE).unwrap_or_else(|e| panic!("n {n}: reopen: {e}")).0
            }
        };
        let mut expect = all.clone();
        expect.push((6, payload(6, 5, 200)));
        assert_eq!(records(&reopened), expect, "n {n}");
        // New records at the cut LSNs, the same size as the cut ones, so a
        // stale frame 8 would sit exactly where the next record belongs.
        assert_eq!(reopened.append_durable(&payload(7, 6, len7)).unwrap(), 7);
        expect.push((7, payload(7, 6, len7)));
        drop(reopened);
        mem.crash(CrashKind::PowerLoss, &mut rng(n + 100));
        let (wal, report) = open(&mem, TOLERATE).unwrap_or_else(|e| panic!("n {n}: after the power loss: {e}"));
        let got = records(&wal);
        let lsns: Vec<Lsn> = got.iter().map(|r| r.0).collect();
        assert!(got == expect, "n {n}: a cut record came back: lsns {lsns:?}, {report}");
    }
    assert_eq!(failed_opens, syncs, "every failing sync fails the open");
}
