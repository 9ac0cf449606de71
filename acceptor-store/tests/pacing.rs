//! A paced checkpoint counts a slow sync as work and owes a long nap after
//! it; `close()` must not wait that nap out: the checkpoint naps in slices
//! and hurries once the store is closing.

use paxos_acceptor_store::*;
use paxos_store_testkit::hooked::{Hooked, Hooks};
use paxos_wal::storage::MemStorage;
use std::time::Duration;

/// Every sync takes 300 ms.
#[derive(Debug)]
struct SlowSyncs;

impl Hooks for SlowSyncs {
    fn before_sync(&self, _all: bool) -> std::io::Result<()> {
        std::thread::sleep(Duration::from_millis(300));
        Ok(())
    }
}

#[test]
fn close_cuts_short_the_nap_a_slow_sync_earned() {
    let disk = Hooked::new(MemStorage::new().shared(), SlowSyncs);
    let mut opts = StoreOptions::small(disk);
    // Work 1%: the image's 300 ms sync earns a ~30 s nap.
    opts.checkpoint_duty_cycle = 0.01;
    let (store, _) = AcceptorStore::open("/slow", opts).unwrap();
    let b = Ballot::new(1, 1);
    let ops: Vec<Op> =
        (0..100).map(|g| Op::Accept { group: GroupId(g), slot: Slot(0), ballot: b, value: vec![1; 100] }).collect();
    store.apply_batch(&ops).unwrap();
    let checkpointing = store.clone();
    let running = std::thread::spawn(move || checkpointing.checkpoint());
    std::thread::sleep(Duration::from_secs(1));
    store.close().unwrap();
    let info = running.join().unwrap().unwrap();
    assert!(info.paced > Duration::ZERO && info.paced < Duration::from_secs(10), "{info:?}");
}
