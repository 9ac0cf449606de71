//! The acceptor rules, durability of each call, truncation, batches,
//! concurrency and the typed answers to misuse.

mod common;

use common::granted;
use paxos_acceptor_store::*;
use paxos_wal::storage::{CrashKind, MemStorage};
use rand::SeedableRng;
use std::path::Path;
use std::sync::Arc;

fn mem_store() -> (MemStorage, StoreOptions) {
    let mem = MemStorage::new();
    let opts = StoreOptions::small(mem.shared());
    (mem, opts)
}

#[test]
fn promise_and_accept_follow_the_rules_and_survive_power_loss() {
    let (mem, opts) = mem_store();
    let root = Path::new("/a");
    let (s, _) = AcceptorStore::open(root, opts.clone()).unwrap();
    let g = GroupId(1);
    let (b1, b2, b3) = (Ballot::new(1, 1), Ballot::new(2, 1), Ballot::new(2, 2));
    assert!(granted(s.promise(g, b2, Slot(0)).unwrap()).is_empty());
    // I4: a promise or accept below the promised ballot is rejected, writes nothing.
    let records = s.stats().records;
    assert!(matches!(s.promise(g, b1, Slot(0)).unwrap(), PromiseOutcome::Rejected { promised } if promised == b2));
    assert_eq!(s.accept(g, Slot(3), b1, b"low").unwrap(), AcceptOutcome::Rejected { promised: b2 });
    assert_eq!(s.stats().records, records);
    assert_eq!(s.accept(g, Slot(3), b2, b"v3").unwrap(), AcceptOutcome::Accepted);
    assert_eq!(s.accept(g, Slot(5), b3, b"v5").unwrap(), AcceptOutcome::Accepted);
    // Accepting b3 implied promising it.
    assert_eq!(s.promised(g), Some(b3));
    assert_eq!(granted(s.promise(g, b3, Slot(4)).unwrap()), vec![(5, b3, b"v5".to_vec())]);
    drop(s);
    mem.crash(CrashKind::PowerLoss, &mut rand::rngs::StdRng::seed_from_u64(1));
    let (s, report) = AcceptorStore::open(root, opts).unwrap();
    assert!(report.damage.is_empty());
    // I1, I2: everything acknowledged is back.
    assert_eq!(s.promised(g), Some(b3));
    assert_eq!(
        granted(s.promise(g, Ballot::new(9, 1), Slot(0)).unwrap()),
        vec![(3, b2, b"v3".to_vec()), (5, b3, b"v5".to_vec())]
    );
    assert_eq!(s.accept(g, Slot(6), b3, b"late").unwrap(), AcceptOutcome::Rejected { promised: Ballot::new(9, 1) });
}

#[test]
fn truncated_slots_get_a_typed_answer_and_stay_gone() {
    let (mem, opts) = mem_store();
    let root = Path::new("/t");
    let (s, _) = AcceptorStore::open(root, opts.clone()).unwrap();
    let g = GroupId(2);
    let b = Ballot::new(1, 0);
    for i in 0..10 {
        assert_eq!(s.accept(g, Slot(i), b, format!("v{i}").as_bytes()).unwrap(), AcceptOutcome::Accepted);
    }
    s.truncate_below(g, Slot(6)).unwrap();
    assert!(matches!(s.accepted(g, Slot(5)).unwrap(), SlotRead::Truncated { first_live_slot: Slot(6) }));
    assert_eq!(s.accept(g, Slot(2), b, b"x").unwrap(), AcceptOutcome::Truncated { first_live_slot: Slot(6) });
    drop(s);
    mem.crash(CrashKind::PowerLoss, &mut rand::rngs::StdRng::seed_from_u64(2));
    let (s, _) = AcceptorStore::open(root, opts).unwrap();
    // I5: recovery never resurrects them.
    let slots: Vec<u64> = s.accepted_from(g, Slot(0)).unwrap().iter().map(|e| e.slot.0).collect();
    assert_eq!(slots, vec![6, 7, 8, 9]);
    assert!(matches!(s.accepted(g, Slot(0)).unwrap(), SlotRead::Truncated { .. }));
    match s.accepted(g, Slot(7)).unwrap() {
        SlotRead::Accepted { value, .. } => assert_eq!(&*value, b"v7"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_batch_is_one_record_one_sync_and_all_or_nothing() {
    let (mem, opts) = mem_store();
    let root = Path::new("/b");
    let (s, _) = AcceptorStore::open(root, opts.clone()).unwrap();
    let b = Ballot::new(3, 1);
    let ops: Vec<Op> = (0..64)
        .map(|i| Op::Accept { group: GroupId(i % 4), slot: Slot(i), ballot: b, value: vec![i as u8; 100] })
        .collect();
    let syncs = mem.sync_count();
    let out = s.apply_batch(&ops).unwrap();
    assert_eq!(out.len(), 64);
    assert!(out.iter().all(|o| matches!(o, Outcome::Accept(AcceptOutcome::Accepted))));
    assert_eq!(mem.sync_count() - syncs, 1, "a 64-operation batch costs one sync");
    assert_eq!(s.stats().records, 1);
}

#[test]
fn a_batch_that_was_never_synced_is_lost_whole_or_kept_whole() {
    let b = Ballot::new(3, 1);
    let mut kept = [0; 2];
    for seed in 0..24 {
        let (mem, opts) = mem_store();
        let root = Path::new("/b");
        let (s, _) = AcceptorStore::open(root, opts.clone()).unwrap();
        s.accept(GroupId(0), Slot(0), b, b"acknowledged").unwrap();
        let more: Vec<Op> =
            (0..64).map(|i| Op::Accept { group: GroupId(9), slot: Slot(i), ballot: b, value: vec![7; 200] }).collect();
        mem.crash_after_ops(1); // the record's write happens, its sync never does
        assert!(s.apply_batch(&more).is_err());
        drop(s);
        mem.crash(CrashKind::PowerLoss, &mut rand::rngs::StdRng::seed_from_u64(seed));
        let (s, _) = AcceptorStore::open(root, opts).unwrap();
        let n = s.accepted_from(GroupId(9), Slot(0)).unwrap().len();
        assert!(n == 0 || n == 64, "seed {seed}: a torn batch left {n} of 64");
        kept[(n == 64) as usize] += 1;
        assert_eq!(s.accepted_from(GroupId(0), Slot(0)).unwrap().len(), 1);
    }
    assert!(kept[0] > 0, "some power losses should lose the unsynced batch: {kept:?}");
}

#[test]
fn concurrent_accepts_never_both_win_against_one_promise() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = StoreOptions::default();
    opts.log.segment_size = 1 << 20;
    let (s, _) = AcceptorStore::open(dir.path(), opts).unwrap();
    let g = GroupId(3);
    let (b1, b2) = (Ballot::new(1, 1), Ballot::new(2, 2));
    s.promise(g, b1, Slot(0)).unwrap();
    let barrier = Arc::new(std::sync::Barrier::new(17));
    let accepts: Vec<_> = (0..16u64)
        .map(|i| {
            let (s, barrier) = (s.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                (i, s.accept(g, Slot(i), b1, b"from b1").unwrap())
            })
        })
        .collect();
    barrier.wait();
    let reply = granted(s.promise(g, b2, Slot(0)).unwrap());
    for t in accepts {
        let (slot, outcome) = t.join().unwrap();
        let in_reply = reply.iter().any(|(s, b, _)| *s == slot && *b == b1);
        match outcome {
            // Accepted before the promise entered the log: the phase-1b reply must show it.
            AcceptOutcome::Accepted => assert!(in_reply, "slot {slot} accepted but missing from the promise reply"),
            AcceptOutcome::Rejected { promised } => {
                assert_eq!(promised, b2);
                assert!(!in_reply);
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn misuse_gets_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = StoreOptions { max_value_size: 1000, ..Default::default() };
    opts.log.segment_size = 1 << 20;
    let (s, _) = AcceptorStore::open(dir.path(), opts.clone()).unwrap();
    assert!(matches!(
        s.accept(GroupId(1), Slot(0), Ballot::new(1, 1), &[0; 1001]),
        Err(StoreError::ValueTooLarge { len: 1001, max: 1000 })
    ));
    assert!(s.groups().is_empty(), "a refused accept created no group");
    // Unknown groups read as empty, never panic.
    assert!(matches!(s.accepted(GroupId(42), Slot(1)).unwrap(), SlotRead::Empty));
    assert_eq!(s.promised(GroupId(42)), None);
    // A second process on the same directory.
    match AcceptorStore::open(dir.path(), opts) {
        Err(StoreError::Recovery(paxos_recovery::RecoveryError::Wal(paxos_wal::Error::Locked { .. }))) => {}
        other => panic!("expected a lock error, got {other:?}"),
    }
}

#[test]
fn checkpoints_bound_the_log_and_keep_every_value() {
    let (mem, mut opts) = mem_store();
    opts.log.segment_size = 16 << 10;
    let root = Path::new("/c");
    let (s, _) = AcceptorStore::open(root, opts.clone()).unwrap();
    let b = Ballot::new(1, 1);
    let mut max_segments = 0;
    for round in 0..40u64 {
        for g in 0..8u64 {
            let slot = Slot(round);
            s.accept(GroupId(g), slot, b, format!("g{g} r{round} {:0>200}", 0).as_bytes()).unwrap();
            if round >= 3 {
                s.truncate_below(GroupId(g), Slot(round - 2)).unwrap();
            }
        }
        // An idle group written once, at the start, must not pin the log.
        if round == 0 {
            s.accept(GroupId(99), Slot(0), b, b"idle").unwrap();
        }
        if round % 5 == 4 {
            s.checkpoint().unwrap();
        }
        max_segments = max_segments.max(s.stats().segments);
    }
    assert!(max_segments <= 12, "log grew to {max_segments} segments");
    drop(s);
    mem.crash(CrashKind::PowerLoss, &mut rand::rngs::StdRng::seed_from_u64(3));
    let (s, report) = AcceptorStore::open(root, opts).unwrap();
    assert!(report.snapshot.is_some(), "{report}");
    assert!(report.log_first_lsn > 1, "old segments were dropped: {report}");
    for g in 0..8u64 {
        let got: Vec<u64> = s.accepted_from(GroupId(g), Slot(0)).unwrap().iter().map(|e| e.slot.0).collect();
        assert_eq!(got, vec![37, 38, 39], "group {g}");
    }
    match s.accepted(GroupId(99), Slot(0)).unwrap() {
        SlotRead::Accepted { value, .. } => assert_eq!(&*value, b"idle"),
        other => panic!("{other:?}"),
    }
}

/// `close` makes everything durable, the lazy chosen mark and the log's
/// pending durable watermark included: after a power loss the watermark
/// covers the last record (so damage there would be reported, not cut).
#[test]
fn close_makes_everything_durable_with_its_watermark() {
    let (mem, opts) = mem_store();
    let mut opts = opts;
    opts.log.watermark_interval = std::time::Duration::from_secs(3600);
    let root = Path::new("/close");
    let (s, _) = AcceptorStore::open(root, opts.clone()).unwrap();
    let (g, b) = (GroupId(5), Ballot::new(2, 1));
    s.promise(g, b, Slot(0)).unwrap();
    s.accept(g, Slot(0), b, b"v0").unwrap();
    s.accept(g, Slot(1), b, b"v1").unwrap();
    s.mark_chosen(g, Slot(1)).unwrap(); // lazy: not synced by itself
    s.close().unwrap();
    mem.crash(CrashKind::PowerLoss, &mut rand::rngs::StdRng::seed_from_u64(7));
    let (s, report) = AcceptorStore::open(root, opts).unwrap();
    assert_eq!(report.durable_watermark, report.log_last_lsn, "{report}");
    match s.accepted(g, Slot(1)).unwrap() {
        SlotRead::Accepted { value, chosen, .. } => assert!(&*value == b"v1" && chosen),
        other => panic!("{other:?}"),
    }
}

/// A phase-1b reply says where the group's live slots begin: the slots below
/// were truncated (decided), and their absence from the reply does not mean
/// "nothing accepted".
#[test]
fn a_promise_reports_the_first_live_slot() {
    let (_mem, opts) = mem_store();
    let (s, _) = AcceptorStore::open(Path::new("/flive"), opts).unwrap();
    let (g, b) = (GroupId(3), Ballot::new(1, 1));
    for slot in 0..8 {
        s.accept(g, Slot(slot), b, format!("v{slot}").as_bytes()).unwrap();
    }
    s.truncate_below(g, Slot(5)).unwrap();
    match s.promise(g, Ballot::new(2, 1), Slot(0)).unwrap() {
        PromiseOutcome::Granted { accepted, first_live_slot } => {
            assert_eq!(first_live_slot, Slot(5));
            assert_eq!(accepted.iter().map(|e| e.slot.0).collect::<Vec<_>>(), vec![5, 6, 7]);
        }
        other => panic!("{other:?}"),
    }
    match s.promise(GroupId(99), Ballot::new(1, 1), Slot(0)).unwrap() {
        PromiseOutcome::Granted { accepted, first_live_slot } => {
            assert!(accepted.is_empty() && first_live_slot == Slot(0))
        }
        other => panic!("{other:?}"),
    }
}

/// `replayed_value_bytes` counts the values written after the checkpoint
/// that opening restored (an accept: its value; a put: each value with its
/// 4-byte length; metadata: its value), whole batches only.
#[test]
fn replayed_value_bytes_count_the_values_after_the_newest_checkpoint() {
    let (mem, opts) = mem_store();
    let root = Path::new("/rvb");
    let b = Ballot::new(1, 1);
    let (s, _) = AcceptorStore::open(root, opts.clone()).unwrap();
    assert_eq!(s.replayed_value_bytes(), 0);
    s.accept(GroupId(1), Slot(0), b, &[7; 100]).unwrap();
    drop(s);
    let (s, _) = AcceptorStore::open(root, opts.clone()).unwrap();
    assert_eq!(s.replayed_value_bytes(), 100, "no checkpoint yet: the whole log");
    s.checkpoint().unwrap();
    s.accept(GroupId(1), Slot(1), b, &[7; 30]).unwrap();
    s.promise(GroupId(2), b, Slot(0)).unwrap();
    s.apply_batch(&[
        Op::Put { group: GroupId(3), from: Slot(0), ballot: b, values: vec![vec![1; 10], vec![2; 20]] },
        Op::SetMeta { group: GroupId(3), key: 1, value: vec![3; 5] },
    ])
    .unwrap();
    // A batch larger than a record (several records, one batch) counts once.
    let big = vec![vec![9u8; 6000]; 20];
    s.apply_batch(
        &big.iter()
            .enumerate()
            .map(|(i, v)| Op::SetMeta { group: GroupId(4), key: i as u64, value: v.clone() })
            .collect::<Vec<_>>(),
    )
    .unwrap();
    assert!(s.stats().records > 4, "the big batch spans records");
    drop(s);
    mem.crash(CrashKind::Process, &mut rand::rngs::StdRng::seed_from_u64(4));
    let (s, report) = AcceptorStore::open(root, opts.clone()).unwrap();
    assert!(report.snapshot.is_some());
    assert_eq!(s.replayed_value_bytes(), 30 + (4 + 10) + (4 + 20) + 5 + 20 * 6000);
    s.checkpoint().unwrap();
    drop(s);
    let (s, _) = AcceptorStore::open(root, opts).unwrap();
    assert_eq!(s.replayed_value_bytes(), 0, "nothing after the newest checkpoint");
}

/// The store's own policy (`checkpoint_after_segments`) counts live
/// segments, which a reopen finds as they were: a store reopened after every
/// few writes still checkpoints and keeps its log bounded (issue #17).
#[test]
fn automatic_checkpoints_keep_the_log_bounded_across_reopens() {
    let mem = MemStorage::new();
    let mut opts = StoreOptions::small(mem.shared());
    opts.log.segment_size = 16 << 10;
    opts.checkpoint_after_segments = Some(4);
    let root = Path::new("/auto");
    let b = Ballot::new(1, 1);
    let mut max_segments = 0;
    let mut checkpoints = std::collections::BTreeSet::new();
    for run in 0..60u64 {
        let (s, report) = AcceptorStore::open(root, opts.clone()).unwrap();
        // Counted from what opening recovers from: a checkpoint taken in the
        // background is not yet in the stats when a run reads them.
        checkpoints.extend(report.snapshot.map(|c| c.position));
        for i in 0..20u64 {
            let slot = Slot(run * 20 + i);
            s.accept(GroupId(1), slot, b, &[1; 300]).unwrap();
            s.truncate_below(GroupId(1), Slot(slot.0.saturating_sub(5))).unwrap();
        }
        max_segments = max_segments.max(s.stats().segments);
        drop(s);
        // A background checkpoint holds a clone of the store until it ends
        // (the other handle of the file system is in `opts`).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while mem.handles() > 2 {
            assert!(std::time::Instant::now() < deadline, "a background checkpoint never ended");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        mem.crash(CrashKind::Process, &mut rand::rngs::StdRng::seed_from_u64(run));
    }
    // The runs wrote about 50 segments' worth of log, each run less than one.
    let checkpoints = checkpoints.len();
    eprintln!("{checkpoints} checkpoints, at most {max_segments} segments");
    assert!(checkpoints >= 5, "{checkpoints} checkpoints");
    assert!(max_segments <= 8, "log grew to {max_segments} segments");
}

/// Callers ask the error what it is instead of matching three levels deep.
#[test]
fn errors_say_whether_the_store_is_locked_full_or_poisoned() {
    let mem = MemStorage::new();
    let opts = || StoreOptions::small(mem.shared());
    let (store, _) = AcceptorStore::open("/e", opts()).unwrap();
    let e = AcceptorStore::open("/e", opts()).unwrap_err();
    assert!(e.is_locked() && !e.is_no_space() && !e.is_poisoned(), "{e:?}");

    mem.set_capacity(Some(mem.used_bytes()));
    let mut slot = 0;
    let e = loop {
        match store.accept(GroupId(1), Slot(slot), Ballot::new(1, 1), &[7; 4000]) {
            Ok(_) => slot += 1,
            Err(e) => break e,
        }
        assert!(slot < 10_000, "the disk never filled");
    };
    assert!(e.is_no_space() && !e.is_locked(), "{e:?}");
    mem.set_capacity(None);

    mem.fail_sync(0);
    let e = store.accept(GroupId(1), Slot(slot + 1), Ballot::new(1, 1), b"v").unwrap_err();
    assert!(!e.is_no_space(), "{e:?}");
    let e = store.accept(GroupId(1), Slot(slot + 2), Ballot::new(1, 1), b"v").unwrap_err();
    assert!(e.is_poisoned() && !e.is_locked() && !e.is_damage(), "{e:?}");
}

#[test]
fn the_largest_group_slot_and_ballot_survive_truncation_checkpoints_and_power_loss() {
    let (mem, opts) = mem_store();
    let root = Path::new("/max");
    let (s, _) = AcceptorStore::open(root, opts.clone()).unwrap();
    // u64::MAX is the store's reserved group; the one below it is the largest a caller may use.
    let g = GroupId(u64::MAX - 1);
    let (low, top) = (Ballot::new(1, 1), Ballot::new(u64::MAX, u64::MAX));
    for slot in [0, u64::MAX / 2, u64::MAX - 1, u64::MAX] {
        assert_eq!(s.accept(g, Slot(slot), low, b"v").unwrap(), AcceptOutcome::Accepted);
    }
    // `to` is exclusive, so the last slot is reached only by `accepted_from`.
    assert_eq!(s.accepted_range(g, Slot(u64::MAX - 1), Slot(u64::MAX)).unwrap().len(), 1);
    assert!(s.accepted_range(g, Slot(u64::MAX), Slot(0)).unwrap().is_empty());
    assert_eq!(granted(s.promise(g, top, Slot(u64::MAX)).unwrap()), vec![(u64::MAX, low, b"v".to_vec())]);
    assert_eq!(s.accept(g, Slot(u64::MAX), top, b"w").unwrap(), AcceptOutcome::Accepted);
    s.mark_chosen(g, Slot(u64::MAX)).unwrap();
    s.checkpoint().unwrap();
    s.truncate_below(g, Slot(u64::MAX)).unwrap();
    assert!(matches!(s.accepted(g, Slot(u64::MAX - 1)).unwrap(), SlotRead::Truncated { .. }));
    drop(s);
    mem.crash(CrashKind::PowerLoss, &mut rand::rngs::StdRng::seed_from_u64(7));
    let (s, report) = AcceptorStore::open(root, opts.clone()).unwrap();
    assert!(report.damage.is_empty());
    assert_eq!(s.promised(g), Some(top));
    assert!(matches!(s.accepted(g, Slot(u64::MAX - 1)).unwrap(), SlotRead::Truncated { .. }));
    assert!(
        matches!(s.accepted(g, Slot(u64::MAX)).unwrap(), SlotRead::Accepted { ballot, ref value, chosen: true } if ballot == top && &**value == b"w")
    );
    s.checkpoint().unwrap();
    drop(s);
    let (s, _) = AcceptorStore::open(root, opts).unwrap();
    assert_eq!(granted(s.promise(g, top, Slot(0)).unwrap()), vec![(u64::MAX, top, b"w".to_vec())]);
}
