//! Every reply waits for every record it depends on, including replies that
//! write nothing themselves (a `Truncated` accept, a rejection, a no-op): a
//! record another caller appended but has not synced yet must be durable
//! before a reply that reports its effect is handed out.

use paxos_acceptor_store::*;
use paxos_wal::storage::{CrashKind, MemStorage};
use rand::SeedableRng;
use std::path::Path;

fn open(mem: &MemStorage, root: &str) -> AcceptorStore {
    AcceptorStore::open(Path::new(root), StoreOptions::small(mem.shared())).unwrap().0
}

/// Queue `op` with `submit` (appended, not synced); the LSN of its record.
fn queue(s: &AcceptorStore, op: Op) -> (Ticket, u64) {
    let before = s.log().last_lsn;
    let ticket = s.submit(op).unwrap();
    let lsn = s.log().last_lsn;
    assert_eq!(lsn, before + 1, "the queued operation wrote one record");
    assert!(s.log().durable_lsn < lsn && !ticket.is_durable(), "the queued record is not synced yet");
    (ticket, lsn)
}

#[test]
fn truncated_reply_waits_for_the_truncation_record() {
    let mem = MemStorage::new();
    let s = open(&mem, "/t");
    let (g, b) = (GroupId(1), Ballot::new(1, 1));
    for slot in 0..4 {
        assert_eq!(s.accept(g, Slot(slot), b, b"v").unwrap(), AcceptOutcome::Accepted);
    }
    // Another caller's truncation, appended but not synced.
    let (ticket, truncation) = queue(&s, Op::TruncateBelow { group: g, slot: Slot(2) });
    assert_eq!(s.accept(g, Slot(1), b, b"late").unwrap(), AcceptOutcome::Truncated { first_live_slot: Slot(2) });
    assert!(s.log().durable_lsn >= truncation, "`Truncated` was answered before the truncation was durable");
    // So a power cut now cannot take the truncation back.
    drop(ticket);
    drop(s);
    mem.crash(CrashKind::PowerLoss, &mut rand::rngs::StdRng::seed_from_u64(1));
    let s = open(&mem, "/t");
    assert_eq!(s.first_live_slot(g), Some(Slot(2)));
}

#[test]
fn truncated_reply_in_a_batch_waits_for_the_truncation_record() {
    let mem = MemStorage::new();
    let s = open(&mem, "/b");
    let (g, b) = (GroupId(2), Ballot::new(1, 1));
    let (_ticket, truncation) = queue(&s, Op::TruncateBelow { group: g, slot: Slot(5) });
    let accept = Op::Accept { group: g, slot: Slot(3), ballot: b, value: b"v".to_vec() };
    match &s.apply_batch(&[accept]).unwrap()[..] {
        [Outcome::Accept(AcceptOutcome::Truncated { first_live_slot: Slot(5) })] => {}
        other => panic!("{other:?}"),
    }
    assert!(s.log().durable_lsn >= truncation);
}

/// The truncation point a `Truncated` reply waits for survives a batch
/// that is taken back (its append failed) and a restart.
#[test]
fn the_truncation_record_is_tracked_through_undo_and_replay() {
    let mem = MemStorage::new();
    let s = open(&mem, "/u");
    let (g, b) = (GroupId(3), Ballot::new(1, 1));
    s.truncate_below(g, Slot(2)).unwrap();
    // A batch too large for the log is refused and undone: the truncation it
    // carried must not be what a later reply waits for.
    let big = vec![0u8; s.max_value_size()];
    let too_much: Vec<Op> = std::iter::once(Op::TruncateBelow { group: g, slot: Slot(9) })
        .chain((0..8).map(|i| Op::SetMeta { group: g, key: i, value: big.clone() }))
        .collect();
    mem.set_capacity(Some(mem.used_bytes()));
    assert!(s.apply_batch(&too_much).is_err());
    mem.set_capacity(None);
    assert_eq!(s.first_live_slot(g), Some(Slot(2)));
    assert_eq!(s.accept(g, Slot(1), b, b"x").unwrap(), AcceptOutcome::Truncated { first_live_slot: Slot(2) });
    drop(s);
    let s = open(&mem, "/u");
    assert_eq!(s.accept(g, Slot(1), b, b"x").unwrap(), AcceptOutcome::Truncated { first_live_slot: Slot(2) });
    let (_ticket, truncation) = queue(&s, Op::TruncateBelow { group: g, slot: Slot(4) });
    assert_eq!(s.accept(g, Slot(3), b, b"x").unwrap(), AcceptOutcome::Truncated { first_live_slot: Slot(4) });
    assert!(s.log().durable_lsn >= truncation);
}

#[test]
fn removing_an_absent_group_waits_for_the_removal_record() {
    let mem = MemStorage::new();
    let s = open(&mem, "/r");
    let g = GroupId(4);
    s.promise(g, Ballot::new(1, 1), Slot(0)).unwrap();
    let (ticket, removal) = queue(&s, Op::RemoveGroup { group: g });
    // The group is already gone (in memory): this removal writes nothing,
    // but its `Done` depends on the queued removal.
    s.remove_group(g).unwrap();
    assert!(s.log().durable_lsn >= removal, "`Done` was answered before the removal was durable");
    drop(ticket);
    drop(s);
    mem.crash(CrashKind::PowerLoss, &mut rand::rngs::StdRng::seed_from_u64(2));
    let s = open(&mem, "/r");
    assert_eq!(s.groups(), Vec::<GroupId>::new());
}

/// Every other reply that writes nothing: each waits for the record queued
/// before it that it reports (or that made it a no-op).
#[test]
fn replies_that_write_nothing_wait_for_what_they_report() {
    let (b1, b2) = (Ballot::new(1, 1), Ballot::new(2, 2));
    let g = GroupId(5);
    let accept = |slot, ballot| Op::Accept { group: g, slot: Slot(slot), ballot, value: b"v".to_vec() };
    let promise = |ballot| Op::Promise { group: g, ballot, from_slot: Slot(0) };
    // (queued, then answered without a write of its own)
    let cases: Vec<(Op, Op)> = vec![
        (promise(b2), promise(b1)),
        (promise(b2), accept(0, b1)),
        (promise(b2), promise(b2)),
        (accept(0, b2), accept(0, b1)),
        (Op::TruncateBelow { group: g, slot: Slot(3) }, Op::TruncateBelow { group: g, slot: Slot(2) }),
        (
            Op::TruncateBelow { group: g, slot: Slot(3) },
            Op::Put { group: g, from: Slot(0), ballot: b1, values: vec![b"p".to_vec()] },
        ),
        (Op::DropFrom { group: g, slot: Slot(0) }, Op::DropFrom { group: g, slot: Slot(0) }),
        (Op::RemoveGroup { group: g }, Op::RemoveGroup { group: g }),
    ];
    for (i, (queued, answered)) in cases.into_iter().enumerate() {
        let mem = MemStorage::new();
        let s = open(&mem, "/n");
        s.apply_batch(&[accept(0, b1), accept(1, b1)]).unwrap();
        let (_ticket, lsn) = queue(&s, queued.clone());
        let records = s.stats().records;
        let out = s.apply_batch(std::slice::from_ref(&answered)).unwrap();
        assert_eq!(s.stats().records, records, "case {i}: {answered:?} wrote nothing");
        assert!(s.log().durable_lsn >= lsn, "case {i}: {answered:?} answered {out:?} before {queued:?} was durable");
    }
}
