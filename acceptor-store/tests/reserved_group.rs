//! `GroupId(u64::MAX)` is reserved (a `Repair` record uses it to mean
//! "every group"): every call naming it is refused with a typed error and
//! writes nothing, reads of it find nothing, and only `repair_all` repairs
//! every group.

mod common;

use common::four_groups;
use paxos_acceptor_store::*;
use paxos_wal::storage::MemStorage;
use std::io::Write;
use std::path::Path;

const RESERVED: GroupId = GroupId(u64::MAX);

/// A store of four groups whose first record (group 0's promise) is damaged.
fn damaged() -> (MemStorage, StoreOptions) {
    let (mem, opts) = four_groups();
    mem.corrupt(Path::new("/v/wal/00000000000000000001.wal"), 4096 + 40 + 20, 0x08).unwrap();
    let mut salvage = opts;
    salvage.log.policy = CorruptionPolicy::Salvage;
    (mem, salvage)
}

#[test]
fn repairing_the_reserved_group_id_is_refused_and_unblocks_nothing() {
    let (_mem, salvage) = damaged();
    let (s, _) = AcceptorStore::open(Path::new("/v"), salvage.clone()).unwrap();
    assert!(matches!(s.repair_group(RESERVED), Err(StoreError::ReservedGroup)));
    for g in 0..4 {
        assert!(s.needs_repair(GroupId(g)));
        assert!(matches!(
            s.promise(GroupId(g), Ballot::new(6, 0), Slot(0)),
            Err(StoreError::NeedsRepair { group }) if group == GroupId(g)
        ));
    }
    // Nor can the reserved id vote while the others are blocked.
    assert!(matches!(s.promise(RESERVED, Ballot::new(6, 0), Slot(0)), Err(StoreError::ReservedGroup)));
    assert!(matches!(s.accept(RESERVED, Slot(0), Ballot::new(6, 0), b"x"), Err(StoreError::ReservedGroup)));
    drop(s);
    // Nothing was written: still blocked after a restart; repair_all is the way.
    let (s, _) = AcceptorStore::open(Path::new("/v"), salvage.clone()).unwrap();
    assert!(s.needs_repair(GroupId(2)));
    s.repair_all().unwrap();
    drop(s);
    let (s, _) = AcceptorStore::open(Path::new("/v"), salvage).unwrap();
    assert!((0..4).all(|g| !s.needs_repair(GroupId(g))));
    assert!(matches!(s.accept(GroupId(3), Slot(1), Ballot::new(9, 9), b"x").unwrap(), AcceptOutcome::Accepted));
}

#[test]
fn operations_on_the_reserved_group_id_are_refused() {
    let mem = MemStorage::new();
    let (s, _) = AcceptorStore::open(Path::new("/o"), StoreOptions::small(mem.shared())).unwrap();
    let (g, b) = (RESERVED, Ballot::new(1, 1));
    let refused = |r: Result<()>, what: &str| {
        assert!(matches!(r, Err(StoreError::ReservedGroup)), "{what}: {r:?}");
    };
    refused(s.promise(g, b, Slot(0)).map(drop), "promise");
    refused(s.accept(g, Slot(0), b, b"v").map(drop), "accept");
    refused(s.mark_chosen(g, Slot(0)), "mark_chosen");
    refused(s.truncate_below(g, Slot(1)), "truncate_below");
    refused(s.remove_group(g), "remove_group");
    refused(s.repair_group(g), "repair_group");
    refused(s.begin_app_snapshot(g, Slot(0)).map(drop), "begin_app_snapshot");
    let ops = [
        Op::Promise { group: g, ballot: b, from_slot: Slot(0) },
        Op::Accept { group: g, slot: Slot(0), ballot: b, value: b"v".to_vec() },
        Op::MarkChosen { group: g, slot: Slot(0) },
        Op::TruncateBelow { group: g, slot: Slot(1) },
        Op::RemoveGroup { group: g },
        Op::Put { group: g, from: Slot(0), ballot: b, values: vec![b"p".to_vec()] },
        Op::DropFrom { group: g, slot: Slot(0) },
        Op::SetMeta { group: g, key: 1, value: b"m".to_vec() },
    ];
    for op in ops {
        refused(s.apply_batch(std::slice::from_ref(&op)).map(drop), &format!("apply_batch {op:?}"));
        refused(s.submit(op.clone()).map(drop), &format!("submit {op:?}"));
        refused(s.submit_with(op.clone(), |_| panic!("a refused op has no outcome")), &format!("submit_with {op:?}"));
        // A batch naming it anywhere is refused whole.
        let good = Op::SetMeta { group: GroupId(1), key: 1, value: b"ok".to_vec() };
        refused(s.apply_batch(&[good, op.clone()]).map(drop), &format!("batch with {op:?}"));
    }
    assert_eq!(s.log().last_lsn, 0, "nothing was written");
    assert!(s.groups().is_empty());
    // Reads answer empty.
    assert_eq!(s.promised(g), None);
    assert_eq!(s.first_live_slot(g), None);
    assert!(matches!(s.accepted(g, Slot(0)).unwrap(), SlotRead::Empty));
    assert!(s.accepted_from(g, Slot(0)).unwrap().is_empty());
    assert!(s.metadata(g).unwrap().is_empty());
    assert!(s.app_snapshot(g).unwrap().is_none());
    // The id just below it is an ordinary group.
    let mut w = s.begin_app_snapshot(GroupId(u64::MAX - 1), Slot(0)).unwrap();
    w.write_all(b"app").unwrap();
    w.finish().unwrap();
    assert_eq!(s.first_live_slot(GroupId(u64::MAX - 1)), Some(Slot(1)));
}
