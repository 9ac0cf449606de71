//! Damage to acknowledged records: the default policy refuses to open and
//! names the damage; `Salvage` opens, reports it, and every group abstains
//! from voting until repaired (an acceptor that may have forgotten a promise
//! must not vote as if it had not made one).

mod common;

use common::four_groups;
use paxos_acceptor_store::*;
use std::path::Path;

#[test]
fn damage_is_named_and_salvage_makes_groups_abstain_until_repaired() {
    let (mem, opts) = four_groups();
    let seg = Path::new("/v/wal/00000000000000000001.wal");
    // Inside the payload of the first record (group 0's promise).
    mem.corrupt(seg, 4096 + 40 + 20, 0x08).unwrap();
    match AcceptorStore::open(Path::new("/v"), opts.clone()) {
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains("00000000000000000001.wal") && msg.contains("lsn 1"), "{msg}");
        }
        Ok(_) => panic!("damage to an acknowledged record must not open under the default policy"),
    }
    let mut salvage = opts;
    salvage.log.policy = CorruptionPolicy::Salvage;
    let (s, report) = AcceptorStore::open(Path::new("/v"), salvage.clone()).unwrap();
    assert_eq!(report.damage.len(), 1, "{report}");
    assert_eq!(report.damage[0].lsns, Some((1, 1)));
    // Group 0's promise was in the lost record: its promise reads lower than
    // what it acknowledged, so no group may vote.
    for g in 0..4 {
        assert!(s.needs_repair(GroupId(g)));
        assert!(matches!(
            s.promise(GroupId(g), Ballot::new(6, 0), Slot(0)),
            Err(StoreError::NeedsRepair { group }) if group == GroupId(g)
        ));
        assert!(matches!(s.accept(GroupId(g), Slot(1), Ballot::new(9, 9), b"x"), Err(StoreError::NeedsRepair { .. })));
    }
    // Reads and non-voting calls still work.
    assert!(matches!(s.accepted(GroupId(2), Slot(0)).unwrap(), SlotRead::Accepted { .. }));
    // The node re-learned group 0 from its peers.
    s.repair_group(GroupId(0)).unwrap();
    assert!(matches!(s.promise(GroupId(0), Ballot::new(6, 0), Slot(0)).unwrap(), PromiseOutcome::Granted { .. }));
    assert!(s.needs_repair(GroupId(1)));
    drop(s);
    // The repair is durable; the damage is still reported (the log keeps it).
    let (s, report) = AcceptorStore::open(Path::new("/v"), salvage.clone()).unwrap();
    assert_eq!(report.damage.len(), 1);
    assert!(!s.needs_repair(GroupId(0)));
    assert!(s.needs_repair(GroupId(3)));
    s.repair_all().unwrap();
    assert!(matches!(s.accept(GroupId(3), Slot(1), Ballot::new(9, 9), b"x").unwrap(), AcceptOutcome::Accepted));
    // While damage was unrepaired, a checkpoint kept the log that shows it;
    // now every group is repaired it may drop it.
    s.checkpoint().unwrap();
}
