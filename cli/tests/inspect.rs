//! `inspect`, `verify` and `recover` on real directories: what they report,
//! that the first two never modify anything, and that damage is named.

use paxos_acceptor_store::{AcceptorStore, Ballot, GroupId, Slot, StoreOptions};
use std::collections::BTreeMap;
use std::path::Path;

fn snapshot_of(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for sub in ["wal", "checkpoints"] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap() {
            let p = e.unwrap().path();
            out.insert(p.display().to_string(), std::fs::read(&p).unwrap());
        }
    }
    out
}

fn build(dir: &Path) {
    let mut opts = StoreOptions { checkpoint_after_segments: None, ..Default::default() };
    opts.log.segment_size = 64 << 10;
    let (s, _) = AcceptorStore::open(dir, opts).unwrap();
    for g in 0..3u64 {
        s.promise(GroupId(g), Ballot::new(2, g), Slot(0)).unwrap();
        for i in 0..20 {
            s.accept(GroupId(g), Slot(i), Ballot::new(2, g), format!("g{g} v{i}").as_bytes()).unwrap();
        }
        s.mark_chosen(GroupId(g), Slot(0)).unwrap();
    }
    s.checkpoint().unwrap();
    s.truncate_below(GroupId(1), Slot(5)).unwrap();
}

#[test]
fn inspect_and_verify_report_without_modifying() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let before = snapshot_of(dir.path());
    let r = paxos_store_cli::inspect::inspect(dir.path(), true).unwrap();
    assert_eq!(r.groups.len(), 3);
    let g1 = r.groups.iter().find(|g| g.group == 1).unwrap();
    assert_eq!((g1.promised, g1.first_live_slot, g1.accepted_slots), ((2, 1), 5, 15));
    assert_eq!(r.snapshots.len(), 1);
    assert!(r.ops.iter().any(|o| o.op.starts_with("truncate g1 below s5")), "{:?}", r.ops.last());
    let v = paxos_store_cli::inspect::verify(dir.path()).unwrap();
    assert!(v.problems.is_empty(), "{:?}", v.problems);
    assert_eq!(v.groups, 3);
    assert_eq!(snapshot_of(dir.path()), before, "inspect and verify must not modify the directory");
}

#[test]
fn verify_names_a_flipped_byte_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let seg = std::fs::read_dir(dir.path().join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "wal"))
        .unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[4096 + 60] ^= 0x10;
    std::fs::write(&seg, &bytes).unwrap();
    let v = paxos_store_cli::inspect::verify(dir.path()).unwrap();
    assert!(!v.problems.is_empty());
    assert!(v.problems[0].contains(&seg.display().to_string()), "{:?}", v.problems);
    assert!(v.problems[0].contains("lsn 1"), "{:?}", v.problems);
    let err = paxos_store_cli::inspect::inspect(Path::new("/definitely/not/here"), false).unwrap_err();
    assert_eq!(err, "/definitely/not/here: does not exist");
}
