//! Values read back from the log while the store runs are verified: a value
//! whose bytes changed under the store, or whose segment was truncated under
//! it, is a typed error and the group needs repair; never a wrong phase-1b
//! reply, never a SIGBUS.

use paxos_acceptor_store::{AcceptorStore, Ballot, GroupId, PromiseOutcome, Slot, SlotRead, StoreError, StoreOptions};
use paxos_wal::format::segment_name;
use paxos_wal::storage::MemStorage;
use std::fs::OpenOptions;
use std::path::Path;

fn value(i: u64, len: usize) -> Vec<u8> {
    (0..len).map(|j| (i as usize * 131 + j * 7) as u8 | 1).collect()
}

fn damaged(r: Result<impl std::fmt::Debug, StoreError>, group: GroupId) {
    match r {
        Err(StoreError::DamagedValue { group: g, source }) => {
            assert_eq!(g, group);
            assert!(source.is_damage(), "{source:?}");
        }
        other => panic!("expected DamagedValue for {group:?}, got {other:?}"),
    }
}

#[test]
fn a_value_changed_under_the_open_store_is_a_typed_error_and_the_group_needs_repair() {
    let mem = MemStorage::new();
    let root = Path::new("/s");
    let (s, _) = AcceptorStore::open(root, StoreOptions::small(mem.shared())).unwrap();
    let (g, other) = (GroupId(1), GroupId(2));
    let b1 = Ballot::new(1, 1);
    for grp in [g, other] {
        s.promise(grp, b1, Slot(0)).unwrap();
        s.accept(grp, Slot(0), b1, &value(grp.0, 64)).unwrap();
        s.accept(grp, Slot(1), b1, &value(grp.0 + 10, 64)).unwrap();
    }
    // Eight payload bytes of g's slot-0 value are zeroed in the page cache.
    let seg = root.join("wal").join(segment_name(1));
    let bytes = mem.read_file(&seg).unwrap();
    let v = value(g.0, 64);
    let at = bytes.windows(v.len()).position(|w| w == v).expect("value in the segment") as u64;
    for i in 0..8 {
        mem.corrupt(&seg, at + 20 + i, bytes[(at + 20 + i) as usize]).unwrap();
    }
    // Phase 1b: no reply with a wrong value, a typed error; the group needs repair.
    damaged(s.promise(g, Ballot::new(2, 2), Slot(0)), g);
    assert!(s.needs_repair(g));
    damaged(s.accepted(g, Slot(0)), g);
    assert!(matches!(
        s.accept(g, Slot(2), Ballot::new(2, 2), b"x"),
        Err(StoreError::NeedsRepair { group }) if group == g
    ));
    // The other group is untouched.
    assert!(!s.needs_repair(other));
    assert!(matches!(s.promise(other, Ballot::new(2, 2), Slot(0)).unwrap(), PromiseOutcome::Granted { .. }));
    // After the node re-learned the group, it votes again.
    s.repair_group(g).unwrap();
    assert!(!s.needs_repair(g));
    let b3 = Ballot::new(3, 1);
    s.accept(g, Slot(0), b3, b"re-learned").unwrap();
    match s.promise(g, Ballot::new(4, 1), Slot(0)).unwrap() {
        PromiseOutcome::Granted { accepted, .. } => {
            assert_eq!(accepted.len(), 2);
            assert_eq!(&*accepted[0].value, b"re-learned");
            assert_eq!(&*accepted[1].value, &value(g.0 + 10, 64)[..]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_store_whose_segment_is_truncated_under_it_answers_with_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = StoreOptions::default();
    opts.log.segment_size = 1 << 20;
    opts.log.background_prepare = false;
    let (s, _) = AcceptorStore::open(dir.path(), opts).unwrap();
    let g = GroupId(7);
    let b1 = Ballot::new(1, 1);
    s.promise(g, b1, Slot(0)).unwrap();
    for slot in 0..40 {
        s.accept(g, Slot(slot), b1, &value(slot, 4000)).unwrap();
    }
    assert!(matches!(s.accepted(g, Slot(39)).unwrap(), SlotRead::Accepted { .. }));
    // Another process cuts the live segment to 64 KiB: most values are gone.
    let seg = dir.path().join("wal").join(segment_name(1));
    OpenOptions::new().write(true).open(&seg).unwrap().set_len(64 << 10).unwrap();
    damaged(s.promise(g, Ballot::new(2, 2), Slot(0)), g);
    assert!(s.needs_repair(g));
    damaged(s.accepted(g, Slot(30)), g);
    // Refuses to vote from now on, until repaired.
    assert!(matches!(s.promise(g, Ballot::new(3, 2), Slot(0)), Err(StoreError::NeedsRepair { .. })));
}
