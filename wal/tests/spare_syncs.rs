//! Preparing a segment (writing it full of zeros) syncs it a MiB at a time:
//! one sync of the whole 64 MiB at the end kept the disk busy ~120 ms, and
//! the log's own syncs, queued behind it, stalled every caller for 10-30 ms
//! just after each roll-over (`scale` at 10^6 groups: 264-308 calls over
//! 8 ms in 8 s before, 31-34 after).

use paxos_store_testkit::hooked::{Hooked, Hooks};
use paxos_wal::storage::MemStorage;
use paxos_wal::{Wal, WalOptions};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The most file writes seen between two file syncs.
#[derive(Debug, Default)]
struct WritesBetweenSyncs {
    since: AtomicUsize,
    most: AtomicUsize,
}

impl Hooks for WritesBetweenSyncs {
    fn before_write(&self) -> std::io::Result<()> {
        let n = self.since.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(n, Ordering::SeqCst);
        Ok(())
    }
    fn before_sync(&self, _all: bool) -> std::io::Result<()> {
        self.since.store(0, Ordering::SeqCst);
        Ok(())
    }
}

#[test]
fn a_new_segment_is_synced_a_mib_at_a_time() {
    let disk = Hooked::new(MemStorage::new().shared(), WritesBetweenSyncs::default());
    let opts = WalOptions { segment_size: 8 << 20, ..WalOptions::small(disk.clone()) };
    // A fresh log prepares its first segment on the spot: 8 MiB of zeros.
    let (wal, _) = Wal::open("/spare", opts).unwrap();
    wal.append_durable(b"one").unwrap();
    assert!(disk.hooks().most.load(Ordering::SeqCst) <= 2, "{:?}", disk.hooks());
}
