//! `AcceptorStore::stats`: the log's counters (fsync histogram, bytes,
//! records per sync), checkpoint durations and sizes, the stall hook passed
//! through `StoreOptions`, and the time since the log was poisoned.

use paxos_acceptor_store::*;
use paxos_wal::storage::MemStorage;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn store_stats_carry_the_log_and_checkpoints() {
    let mem = MemStorage::new();
    let (s, _) = AcceptorStore::open(Path::new("/s"), StoreOptions::small(mem.shared())).unwrap();
    let g = GroupId(1);
    let b = Ballot::new(1, 1);
    for i in 0..20u64 {
        assert_eq!(s.accept(g, Slot(i), b, &[7; 64]).unwrap(), AcceptOutcome::Accepted);
    }
    let st = s.stats();
    assert_eq!(st.syncs, st.wal.syncs);
    assert!(st.wal.syncs >= 20, "every accept is durable before it returns: {}", st.wal.syncs);
    assert!(st.wal.bytes_written >= 20 * 64);
    assert!(st.wal.fsync.count() >= st.wal.syncs);
    assert!(st.wal.records_per_sync() >= 1.0);
    assert_eq!((st.checkpoints, st.checkpoint_last_bytes, st.checkpoint_total_duration), (0, 0, Duration::ZERO));

    let one = s.checkpoint().unwrap();
    let two = s.checkpoint().unwrap();
    let st = s.stats();
    assert_eq!(st.checkpoints, 2);
    assert_eq!(st.checkpoint_last_bytes, two.bytes as u64);
    assert_eq!(st.checkpoint_total_bytes, (one.bytes + two.bytes) as u64);
    assert!(st.checkpoint_last_bytes > 20 * 64, "the image holds the values");
    assert!(st.checkpoint_total_duration >= st.checkpoint_last_duration);
    assert!(st.checkpoint_last_duration > Duration::ZERO);
    assert_eq!(st.wal.poisoned_for, None);
}

#[test]
fn store_reports_poisoned_time_and_passes_the_stall_hook_on() {
    let mem = MemStorage::new();
    let stalls = Arc::new(AtomicU64::new(0));
    let seen = stalls.clone();
    // Threshold zero: every sync counts as a stall, so the hook is seen to
    // reach the log without a slow disk (the slow-disk case is the log's test).
    let mut opts = StoreOptions::small(mem.shared());
    opts.log.stall = Some(StallHook::new(Duration::ZERO, move |_| {
        seen.fetch_add(1, Ordering::Relaxed);
    }));
    let (s, _) = AcceptorStore::open(Path::new("/s"), opts).unwrap();
    let g = GroupId(1);
    s.accept(g, Slot(0), Ballot::new(1, 1), b"v").unwrap();
    let st = s.stats();
    assert!(st.wal.slow_syncs >= 1);
    assert_eq!(stalls.load(Ordering::Relaxed), st.wal.slow_syncs);

    mem.fail_sync(0);
    assert!(s.accept(g, Slot(1), Ballot::new(1, 1), b"w").is_err());
    assert!(s.log().poisoned);
    assert!(s.stats().wal.poisoned_for.is_some());
}
