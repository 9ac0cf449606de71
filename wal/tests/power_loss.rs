//! Power loss at random points, and a crash of recovery itself.
//!
//! For each seed: a single writer appends records of random sizes (across
//! many 16 KiB segments) with syncs in between, then the power fails. The
//! first recovery must keep every record a completed sync covered and invent
//! nothing. Then, on fresh copies of that same disk, recovery is killed after
//! each possible number of its file-system operations, the power fails again,
//! and a clean recovery must give exactly the records a clean first recovery
//! gave. Last, `delete_segments_before` is killed at each of its steps.

mod common;

use common::{assert_prefix, dir, load_image, opts, payload, records, rng, save_image};
use paxos_wal::format::max_payload;
use paxos_wal::storage::{CrashKind, MemStorage};
use paxos_wal::{CorruptionPolicy, Lsn, Wal};
use rand::Rng;

const SEEDS: u64 = 300;
const TOLERATE: CorruptionPolicy = CorruptionPolicy::TolerateTornTail;

/// Append and sync at random; returns every record appended and how many of
/// them a completed sync covered.
fn workload(mem: &MemStorage, seed: u64) -> (Vec<(Lsn, Vec<u8>)>, usize) {
    let mut r = rng(seed);
    let (wal, _) = Wal::open(dir(), opts(mem, TOLERATE)).unwrap();
    let max = max_payload(common::SEG);
    let mut appended = Vec::new();
    let mut durable = 0;
    for _ in 0..r.random_range(1..120) {
        let len = match r.random_range(0..20) {
            0 => 0,
            1 => r.random_range(max - 100..=max),
            2..=5 => r.random_range(1000..6000),
            _ => r.random_range(1..300),
        };
        let lsn = appended.len() as u64 + 1;
        assert_eq!(wal.append(&payload(lsn, seed, len)).unwrap(), lsn);
        appended.push((lsn, payload(lsn, seed, len)));
        if r.random_bool(0.15) {
            wal.sync().unwrap();
            durable = appended.len();
        } else if r.random_bool(0.1) {
            // Written out (pwrite) but not synced: dirty pages at the power loss.
            assert!(wal.read(lsn).unwrap().is_some());
        }
    }
    drop(wal);
    mem.crash(CrashKind::PowerLoss, &mut r);
    (appended, durable)
}

#[test]
fn power_loss_keeps_every_synced_record_and_a_crashed_recovery_recovers_the_same() {
    let (mut crash_cases, mut torn, mut kept_unsynced, mut failed_opens) = (0u64, 0u64, 0u64, 0u64);
    for seed in 0..SEEDS {
        let mem = MemStorage::new();
        let (appended, durable) = workload(&mem, seed);
        let image = save_image(&mem);

        // The reference: a clean recovery of this disk.
        let clean = load_image(&image);
        let before = clean.op_count();
        let (wal, report) = Wal::open(dir(), opts(&clean, TOLERATE))
            .unwrap_or_else(|e| panic!("seed {seed}: recovery after power loss failed: {e}"));
        let ops = clean.op_count() - before;
        let expect = records(&wal);
        let ctx = format!("seed {seed}: {report}");
        let n = assert_prefix(&expect, &appended, durable, &ctx);
        assert!(report.damage.is_empty(), "{ctx}");
        if let Some(t) = &report.torn_tail {
            assert!(t.lsn as usize > durable && t.lsn as usize == n + 1, "{ctx}");
            torn += 1;
        }
        kept_unsynced += (n - durable) as u64;
        drop(wal);

        // Recovery killed after each number of operations it performs, then
        // a second power loss, then a clean reopen.
        for k in 0..=ops {
            let m = load_image(&image);
            m.crash_after_ops(k);
            match Wal::open(dir(), opts(&m, TOLERATE)) {
                Ok((wal, _)) => drop(wal),
                Err(_) => failed_opens += 1,
            }
            m.crash(CrashKind::PowerLoss, &mut rng(seed * 1000 + k));
            let (wal, report) = Wal::open(dir(), opts(&m, TOLERATE))
                .unwrap_or_else(|e| panic!("seed {seed}, recovery killed after {k} ops: reopen failed: {e}"));
            assert!(report.damage.is_empty(), "seed {seed} k {k}: {report}");
            assert!(
                records(&wal) == expect,
                "seed {seed}: recovery killed after {k} ops gave other records than a clean one: {report}"
            );
            crash_cases += 1;
        }
    }
    eprintln!(
        "{SEEDS} power-loss seeds: {torn} torn tails cut, {kept_unsynced} unsynced records kept; \
         {crash_cases} crashed recoveries ({failed_opens} died before finishing), all equal to a clean one"
    );
}

/// A crash at each step of `delete_segments_before` (unlinks, directory sync,
/// each deleted segment shrunk and synced),
/// then a process crash or a power loss: the log is always a contiguous
/// suffix of what was there, starting at a segment boundary between the old
/// first LSN and the truncation point, with every record intact; once
/// `delete_segments_before` has returned, the truncated segments never come back.
#[test]
fn crash_during_truncation_leaves_a_contiguous_suffix() {
    let mem = MemStorage::new();
    let all = common::build_log(&mem, 300, |l| (l * 37 % 400) as usize, 10);
    let image = save_image(&mem);
    let firsts: Vec<Lsn> =
        common::segments(&image).iter().map(|(n, _)| paxos_wal::format::parse_segment_name(n).unwrap()).collect();
    assert!(firsts.len() >= 5, "{firsts:?}");
    let target = firsts[4] + 1;
    let mut cases = 0;
    // 4 unlinks, a directory sync, then a shrink and a sync per segment: 13
    // operations, and a few more so that the last points return whole.
    for k in 0..16u64 {
        for (kind, seed) in [(CrashKind::Process, 0), (CrashKind::PowerLoss, k), (CrashKind::PowerLoss, k + 99)] {
            let m = load_image(&image);
            let (wal, _) = Wal::open(dir(), opts(&m, TOLERATE)).unwrap();
            m.crash_after_ops(k);
            let returned = wal.delete_segments_before(target).is_ok();
            drop(wal);
            m.crash(kind, &mut rng(seed));
            let (wal, report) = Wal::open(dir(), opts(&m, TOLERATE))
                .unwrap_or_else(|e| panic!("truncation killed after {k} ops, {kind:?}: {e}"));
            let first = wal.first_lsn();
            assert!(firsts[..=4].contains(&first), "k {k}: first lsn {first}: {report}");
            if returned {
                assert_eq!(first, firsts[4], "k {k}: truncated segments came back: {report}");
            }
            assert_eq!(records(&wal), all[first as usize - 1..], "k {k} {kind:?}: {report}");
            cases += 1;
        }
    }
    eprintln!("truncation killed at 16 points x 3 crash kinds: {cases} cases");
}
