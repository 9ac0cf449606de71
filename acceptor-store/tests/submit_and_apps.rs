//! Non-blocking submission (tickets and callbacks) and per-group
//! application snapshots.

use paxos_acceptor_store::*;
use paxos_wal::storage::{CrashKind, MemStorage};
use rand::SeedableRng;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::mpsc::channel;

fn accept(g: u64, s: u64, v: &[u8]) -> Op {
    Op::Accept { group: GroupId(g), slot: Slot(s), ballot: Ballot::new(1, 1), value: v.to_vec() }
}

#[test]
fn tickets_hand_out_outcomes_only_once_durable() {
    let mem = MemStorage::new();
    let (s, _) = AcceptorStore::open(Path::new("/s"), StoreOptions::small(mem.shared())).unwrap();
    let tickets: Vec<Ticket> = (0..10).map(|i| s.submit(accept(1, i, b"v")).unwrap()).collect();
    assert!(tickets.iter().all(|t| !t.is_durable()), "nothing was synced yet");
    let syncs = mem.sync_count();
    for t in tickets {
        assert!(matches!(t.wait().unwrap(), Outcome::Accept(AcceptOutcome::Accepted)));
    }
    assert_eq!(mem.sync_count() - syncs, 1, "ten submissions shared one sync");
}

#[test]
fn callbacks_fire_after_the_sync_and_all_get_the_error_when_it_fails() {
    let mem = MemStorage::new();
    let (s, _) = AcceptorStore::open(Path::new("/c"), StoreOptions::small(mem.shared())).unwrap();
    let (tx, rx) = channel();
    for i in 0..20 {
        let tx = tx.clone();
        s.submit_with(accept(2, i, b"ok"), move |r| tx.send((i, r.is_ok())).unwrap()).unwrap();
    }
    let mut got: Vec<(u64, bool)> = (0..20).map(|_| rx.recv().unwrap()).collect();
    got.sort();
    assert!(got.iter().all(|(_, ok)| *ok));
    let log = s.log();
    assert_eq!(log.durable_lsn, log.last_lsn, "callbacks fired only after the sync");
    // Now the covering sync fails: every callback gets an error, none "durable".
    mem.fail_sync(0);
    let mut submitted = 0;
    for i in 20..40 {
        let tx = tx.clone();
        // Once the failed sync poisoned the log, submitting itself fails.
        if s.submit_with(accept(2, i, b"lost"), move |r| tx.send((i, r.is_ok())).unwrap()).is_ok() {
            submitted += 1;
        }
    }
    assert!(submitted > 0);
    let failed: Vec<(u64, bool)> = (0..submitted).map(|_| rx.recv().unwrap()).collect();
    assert!(failed.iter().all(|(_, ok)| !ok), "{failed:?}");
    assert!(matches!(s.accept(GroupId(2), Slot(99), Ballot::new(1, 1), b"x"), Err(StoreError::Wal(_))));
}

#[test]
fn app_snapshots_stream_truncate_and_survive_power_loss() {
    let mem = MemStorage::new();
    let root = Path::new("/p");
    let opts = StoreOptions::small(mem.shared());
    let (s, _) = AcceptorStore::open(root, opts.clone()).unwrap();
    let g = GroupId(5);
    for i in 0..8 {
        s.apply_batch(&[accept(5, i, format!("cmd{i}").as_bytes())]).unwrap();
    }
    assert!(s.app_snapshot(g).unwrap().is_none());
    let mut w = s.begin_app_snapshot(g, Slot(4)).unwrap();
    for chunk in 0..100u32 {
        w.write_all(&chunk.to_le_bytes().repeat(50)).unwrap();
    }
    w.finish().unwrap();
    assert_eq!(s.first_live_slot(g), Some(Slot(5)));
    drop(s);
    mem.crash(CrashKind::PowerLoss, &mut rand::rngs::StdRng::seed_from_u64(9));
    let (s, _) = AcceptorStore::open(root, opts).unwrap();
    assert_eq!(s.first_live_slot(g), Some(Slot(5)));
    let mut snap = s.app_snapshot(g).unwrap().expect("durable snapshot");
    assert_eq!(snap.through, Slot(4));
    let mut bytes = Vec::new();
    snap.read_to_end(&mut bytes).unwrap();
    assert_eq!(bytes.len(), 100 * 200);
    assert_eq!(&bytes[200..204], &1u32.to_le_bytes());
    let live: Vec<u64> = s.accepted_from(g, Slot(0)).unwrap().iter().map(|e| e.slot.0).collect();
    assert_eq!(live, vec![5, 6, 7]);
}
