//! A store whose log directory is gone while its directory remains is a
//! store that lost its log, never a new store (fault case 15, contract rule
//! 9): an acceptor that restarts empty forgets its promises.

use paxos_acceptor_store::{AcceptorStore, Ballot, GroupId, PromiseOutcome, Slot, StoreError, StoreOptions};

fn opts() -> StoreOptions {
    let mut o = StoreOptions::default();
    o.log.segment_size = 1 << 20;
    o
}

#[test]
fn a_store_whose_log_directory_was_removed_is_refused_not_opened_empty() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = AcceptorStore::open(dir.path(), opts()).unwrap();
    let g = GroupId(7);
    assert!(matches!(store.promise(g, Ballot::new(5, 1), Slot(0)).unwrap(), PromiseOutcome::Granted { .. }));
    store.close().unwrap();

    std::fs::remove_dir_all(dir.path().join("wal")).unwrap();
    for _ in 0..2 {
        match AcceptorStore::open(dir.path(), opts()) {
            Err(StoreError::LogLost { dir: d }) => assert_eq!(d, dir.path()),
            Err(e) => panic!("expected LogLost, got {e}"),
            Ok((s, report)) => panic!("opened with promised {:?}: {report}", s.promised(g)),
        }
        assert!(!dir.path().join("wal").exists(), "the refused open created a log");
    }

    // Starting over is explicit: remove the whole directory.
    std::fs::remove_dir_all(dir.path()).unwrap();
    let (store, _) = AcceptorStore::open(dir.path(), opts()).unwrap();
    assert_eq!(store.promised(g), None);
}

#[test]
fn a_store_whose_last_segment_was_removed_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = AcceptorStore::open(dir.path(), opts()).unwrap();
    store.promise(GroupId(1), Ballot::new(3, 2), Slot(0)).unwrap();
    store.close().unwrap();
    for e in std::fs::read_dir(dir.path().join("wal")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "wal") {
            std::fs::remove_file(p).unwrap();
        }
    }
    let err = AcceptorStore::open(dir.path(), opts()).map(|_| ()).unwrap_err();
    assert!(
        matches!(err, StoreError::Recovery(paxos_recovery::RecoveryError::Wal(paxos_wal::Error::LostSegment { .. }))),
        "{err}"
    );
}
