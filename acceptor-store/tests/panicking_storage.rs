//! A write that panics half-way (here: a storage that panics while the log
//! rolls over to a new segment, inside the write's critical section) leaves
//! the in-memory state ahead of the log. The store must not go on as if
//! nothing happened: later writes and checkpoints are refused (a checkpoint
//! must neither hang waiting for the write to settle nor write the
//! half-applied state into an image), and a reopen recovers from the log.

use paxos_acceptor_store::*;
use paxos_store_testkit::hooked::{Hooked, Hooks};
use paxos_wal::storage::MemStorage;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

#[derive(Debug, Default)]
struct PanicOnDirSync(AtomicBool);

impl Hooks for PanicOnDirSync {
    fn before_sync_dir(&self, _dir: &Path) -> std::io::Result<()> {
        if self.0.load(Ordering::SeqCst) {
            panic!("a storage that panics");
        }
        Ok(())
    }
}

#[test]
fn a_write_that_panics_half_way_stops_writes_and_checkpoints_until_reopened() {
    let mem = MemStorage::new();
    let disk = Hooked::new(mem.shared(), PanicOnDirSync::default());
    let mut opts = StoreOptions::small(disk.clone());
    opts.log.segment_size = 16 << 10;
    let (store, _) = AcceptorStore::open("/p", opts.clone()).unwrap();
    let b = Ballot::new(1, 1);
    store.accept(GroupId(1), Slot(0), b, b"kept").unwrap();
    disk.hooks().0.store(true, Ordering::SeqCst);
    let mut slot = 1;
    let panicked = catch_unwind(AssertUnwindSafe(|| loop {
        store.accept(GroupId(1), Slot(slot), b, &[7; 1000]).unwrap();
        slot += 1;
    }));
    assert!(panicked.is_err(), "the roll-over panicked");
    disk.hooks().0.store(false, Ordering::SeqCst);

    assert!(matches!(store.accept(GroupId(2), Slot(0), b, b"x"), Err(StoreError::Internal(_))));
    let (tx, rx) = mpsc::channel();
    let checkpointing = store.clone();
    let thread = std::thread::spawn(move || tx.send(checkpointing.checkpoint().map(|_| ())));
    let got = rx.recv_timeout(Duration::from_secs(20)).expect("the checkpoint returned instead of hanging");
    assert!(matches!(got, Err(StoreError::Internal(_))), "{got:?}");
    // The thread's clone of the store holds the directory's lock until the
    // thread ends, which is after it sent: wait for it, or the reopen below
    // can find the directory still locked.
    thread.join().unwrap().unwrap();
    drop(store);

    let (store, report) = AcceptorStore::open("/p", opts).unwrap();
    assert_eq!(&*store.accepted_from(GroupId(1), Slot(0)).unwrap()[0].value, b"kept", "{report}");
    store.accept(GroupId(2), Slot(0), b, b"writes again").unwrap();
}
