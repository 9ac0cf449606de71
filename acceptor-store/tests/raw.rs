//! The raw-persistence operations (`Put`, `DropFrom`, `SetMeta`), for a
//! library that enforces the protocol itself: they check no acceptor rule,
//! survive reopen, checkpoints and crashes, and a batch of them too large for
//! one log record is still all-or-nothing.

use paxos_acceptor_store::*;
use paxos_wal::storage::{CrashKind, MemStorage};
use rand::SeedableRng;
use std::path::Path;

fn slots(store: &AcceptorStore, g: GroupId) -> Vec<(u64, Ballot, Vec<u8>)> {
    store.accepted_from(g, Slot(0)).unwrap().into_iter().map(|e| (e.slot.0, e.ballot, e.value.to_vec())).collect()
}

/// Small options with 16 KiB segments: a batch of a few large values is
/// cut into several records.
fn split_opts(mem: &MemStorage) -> StoreOptions {
    let mut o = StoreOptions::small(mem.shared());
    o.log.segment_size = 16 << 10;
    o
}

fn meta(store: &AcceptorStore, g: GroupId) -> Vec<(u64, Vec<u8>)> {
    store.metadata(g).unwrap().into_iter().map(|(k, v)| (k, v.to_vec())).collect()
}

#[test]
fn raw_writes_check_no_rule_and_survive_reopen_and_checkpoints() {
    let mem = MemStorage::new();
    let opts = StoreOptions::small(mem.shared());
    let root = Path::new("/raw");
    let (store, _) = AcceptorStore::open(root, opts.clone()).unwrap();
    let g = GroupId(3);
    let high = Ballot::new(9, 1);
    let low = Ballot::new(1, 1);
    assert!(matches!(store.promise(g, high, Slot(0)).unwrap(), PromiseOutcome::Granted { .. }));
    // A rule-checked accept at the low ballot is refused; a raw put is not,
    // and leaves the promise alone.
    assert_eq!(store.accept(g, Slot(0), low, b"x").unwrap(), AcceptOutcome::Rejected { promised: high });
    let values: Vec<Vec<u8>> = (0..5).map(|i| vec![i as u8; 10]).collect();
    store.apply_batch(&[Op::Put { group: g, from: Slot(0), ballot: low, values }]).unwrap();
    assert_eq!(store.promised(g), Some(high));
    // Replace the suffix from slot 3, set metadata twice, truncate below 1.
    store
        .apply_batch(&[
            Op::DropFrom { group: g, slot: Slot(3) },
            Op::Put { group: g, from: Slot(3), ballot: high, values: vec![b"new".to_vec()] },
            Op::SetMeta { group: g, key: 7, value: b"first".to_vec() },
            Op::SetMeta { group: g, key: 2, value: b"two".to_vec() },
            Op::SetMeta { group: g, key: 7, value: b"second".to_vec() },
        ])
        .unwrap();
    store.truncate_below(g, Slot(1)).unwrap();
    // A put below the truncation point is left alone.
    store.apply_batch(&[Op::Put { group: g, from: Slot(0), ballot: high, values: vec![b"old".to_vec()] }]).unwrap();
    let want_slots = vec![(1, low, vec![1; 10]), (2, low, vec![2; 10]), (3, high, b"new".to_vec())];
    let want_meta = vec![(2, b"two".to_vec()), (7, b"second".to_vec())];
    assert_eq!(slots(&store, g), want_slots);
    assert_eq!(meta(&store, g), want_meta);
    assert_eq!(store.first_live_slot(g), Some(Slot(1)));

    drop(store);
    let (store, _) = AcceptorStore::open(root, opts.clone()).unwrap();
    assert_eq!((slots(&store, g), meta(&store, g)), (want_slots.clone(), want_meta.clone()), "after a reopen");
    // Through a checkpoint (metadata in the image), with the log before it gone.
    store.checkpoint().unwrap();
    store.apply_batch(&[Op::SetMeta { group: g, key: 2, value: b"2".to_vec() }]).unwrap();
    store.checkpoint().unwrap();
    let want_meta = vec![(2, b"2".to_vec()), (7, b"second".to_vec())];
    assert_eq!(meta(&store, g), want_meta, "values moved into the checkpoint image");
    drop(store);
    mem.crash(CrashKind::PowerLoss, &mut rand::rngs::StdRng::seed_from_u64(1));
    let (store, report) = AcceptorStore::open(root, opts).unwrap();
    assert!(report.snapshot.is_some(), "{report}");
    assert_eq!((slots(&store, g), meta(&store, g)), (want_slots, want_meta), "after a checkpoint and a power loss");
    assert_eq!(store.promised(g), Some(high));
}

/// A batch of puts about three records long, with the process dying after
/// every possible number of storage operations and then a power loss: the
/// batch is there whole or not at all, and whole whenever it was acknowledged.
#[test]
fn a_batch_larger_than_a_record_is_atomic_across_a_crash() {
    let g = GroupId(1);
    let batch = |tag: u8| -> Vec<Op> {
        // Three puts of four values each: at least three records of 16 KiB.
        (0..3u64)
            .map(|p| Op::Put {
                group: g,
                from: Slot(4 * p),
                ballot: Ballot::ZERO,
                values: (4 * p..4 * p + 4).map(|i| vec![tag ^ i as u8; 3000]).collect(),
            })
            .collect()
    };
    let root = Path::new("/atomic");
    let (mut acked, mut lost, mut whole_unacked) = (0, 0, 0);
    for n in 0..80u64 {
        for seed in 0..3u64 {
            let mem = MemStorage::new();
            let opts = split_opts(&mem);
            let (store, _) = AcceptorStore::open(root, opts.clone()).unwrap();
            store.apply_batch(&batch(1)).unwrap();
            let records = store.stats().records;
            mem.crash_after_ops(n);
            let ok = store.apply_batch(&batch(2)).is_ok();
            if ok {
                assert!(store.stats().records - records >= 3, "the batch spans several records");
            }
            drop(store);
            mem.crash(CrashKind::PowerLoss, &mut rand::rngs::StdRng::seed_from_u64(seed));
            let (store, _) = AcceptorStore::open(root, opts).unwrap();
            let got = slots(&store, g);
            let as_of = |tag: u8| -> Vec<(u64, Ballot, Vec<u8>)> {
                batch(tag)
                    .into_iter()
                    .flat_map(|op| match op {
                        Op::Put { from, ballot, values, .. } => {
                            values.into_iter().enumerate().map(move |(i, v)| (from.0 + i as u64, ballot, v))
                        }
                        _ => unreachable!(),
                    })
                    .collect()
            };
            if got == as_of(2) {
                if ok {
                    acked += 1;
                } else {
                    whole_unacked += 1;
                }
            } else {
                assert!(!ok, "n={n} seed={seed}: an acknowledged batch was lost");
                let tags: Vec<u8> = got.iter().map(|(slot, _, v)| v.first().map_or(0, |b| b ^ *slot as u8)).collect();
                assert!(got == as_of(1), "n={n} seed={seed}: part of a batch (value tags by slot: {tags:?})");
                lost += 1;
            }
        }
    }
    assert!(acked > 0 && lost > 0, "both fates covered: {acked} acked, {lost} lost, {whole_unacked} whole unacked");
}

/// Under `Salvage` a damaged record inside a batch is skipped: the records
/// of that batch around it must not be applied either (a review found the
/// two outer records of three applied, the middle one's slots missing).
#[test]
fn salvage_never_applies_part_of_a_batch_around_a_damaged_record() {
    let mem = MemStorage::new();
    let opts = split_opts(&mem);
    let root = Path::new("/salvage");
    let (store, _) = AcceptorStore::open(root, opts.clone()).unwrap();
    let g = GroupId(1);
    // One value fills a record, so the batch is one record per segment.
    let v = store.max_value_size() - 4;
    let ops: Vec<Op> = (0..3)
        .map(|i| Op::Put { group: g, from: Slot(i), ballot: Ballot::ZERO, values: vec![vec![i as u8; v]] })
        .collect();
    store.apply_batch(&ops).unwrap();
    assert_eq!(store.stats().records, 3);
    store.close().unwrap();
    let wal = root.join("wal");
    let mut segs: Vec<String> =
        opts.log.storage.list(&wal).unwrap().into_iter().filter(|n| n.ends_with(".wal")).collect();
    segs.sort();
    // The middle record: the first record of the second segment.
    mem.corrupt(&wal.join(&segs[1]), 4096 + 40 + 200, 0x08).unwrap();
    let mut salvage = opts;
    salvage.log.policy = CorruptionPolicy::Salvage;
    let (store, report) = AcceptorStore::open(root, salvage).unwrap();
    assert!(!report.damage.is_empty(), "the flip is reported: {report}");
    let got: Vec<u64> = store.accepted_from(g, Slot(0)).unwrap().into_iter().map(|e| e.slot.0).collect();
    assert!(got.is_empty(), "part of a batch applied: slots {got:?}");
    assert!(store.needs_repair(g), "lost acknowledged records: the group must not vote");
}

/// A review found that a `Put` without values, alone in the first record
/// of a split batch, made replay take the next record for a continuation
/// without a start: the rest of the acknowledged batch was gone after a
/// reopen, with no damage reported. Such a `Put` now changes and writes
/// nothing, and replay tracks an open batch explicitly.
#[test]
fn an_empty_put_in_a_split_batch_loses_nothing_on_reopen() {
    let mem = MemStorage::new();
    let opts = split_opts(&mem);
    let root = Path::new("/emptyput");
    let (store, _) = AcceptorStore::open(root, opts.clone()).unwrap();
    let g = GroupId(1);
    let v = store.max_value_size() - 4;
    store
        .apply_batch(&[
            Op::Put { group: g, from: Slot(5), ballot: Ballot::ZERO, values: vec![] },
            Op::Put { group: g, from: Slot(0), ballot: Ballot::ZERO, values: vec![vec![7u8; v]] },
            Op::Put { group: g, from: Slot(1), ballot: Ballot::ZERO, values: vec![vec![8u8; v]] },
        ])
        .unwrap();
    let live: Vec<u64> = store.accepted_from(g, Slot(0)).unwrap().into_iter().map(|e| e.slot.0).collect();
    assert_eq!(live, vec![0, 1]);
    store.close().unwrap();
    let (store, report) = AcceptorStore::open(root, opts).unwrap();
    let got: Vec<u64> = store.accepted_from(g, Slot(0)).unwrap().into_iter().map(|e| e.slot.0).collect();
    assert_eq!(got, live, "{report}");
}

/// A `Put` whose slots would run past `u64::MAX` is refused, not folded
/// onto the last slot.
#[test]
fn a_put_past_the_last_slot_is_refused() {
    let mem = MemStorage::new();
    let (store, _) = AcceptorStore::open(Path::new("/max"), StoreOptions::small(mem.shared())).unwrap();
    let g = GroupId(1);
    let three = vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()];
    let err = store.apply_batch(&[Op::Put { group: g, from: Slot(u64::MAX - 1), ballot: Ballot::ZERO, values: three }]);
    assert!(matches!(err, Err(StoreError::InvalidOp(_))), "{err:?}");
    assert!(store.groups().is_empty(), "nothing written");
    // The last slot itself is fine.
    let two = vec![b"a".to_vec(), b"b".to_vec()];
    store.apply_batch(&[Op::Put { group: g, from: Slot(u64::MAX - 1), ballot: Ballot::ZERO, values: two }]).unwrap();
    let got: Vec<(u64, Vec<u8>)> =
        store.accepted_from(g, Slot(0)).unwrap().into_iter().map(|e| (e.slot.0, e.value.to_vec())).collect();
    assert_eq!(got, vec![(u64::MAX - 1, b"a".to_vec()), (u64::MAX, b"b".to_vec())]);
}
