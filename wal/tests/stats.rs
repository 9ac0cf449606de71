//! What `Wal::stats` reports: syncs, bytes, records per sync, the fsync
//! histogram, the stall hook (a slow sync calls it, fast ones do not) and
//! how long the log has been poisoned.

mod common;

use common::dir;
use paxos_store_testkit::hooked::{Hooked, Hooks};
use paxos_wal::storage::MemStorage;
use paxos_wal::{StallHook, Wal, WalOptions};
use std::fmt::Debug;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

#[test]
fn stats_count_syncs_bytes_and_records_per_sync() {
    let mem = MemStorage::new();
    let (wal, _) = Wal::open(dir(), WalOptions::small(mem.shared())).unwrap();
    assert_eq!(wal.stats().fsync.count(), 0);
    assert_eq!(wal.stats().records_per_sync(), 0.0);
    // 10 rounds of 3 records each.
    for i in 0..10u8 {
        wal.append_batch([&[i; 100][..], &[i; 50][..], &[i; 10][..]]).unwrap();
        wal.sync().unwrap();
    }
    let s = wal.stats();
    assert_eq!(s.appends, 30);
    assert_eq!(s.syncs, 10);
    assert_eq!(s.records_synced, 30);
    assert_eq!(s.records_per_sync(), 3.0);
    assert!(s.bytes_written >= 10 * 160, "frames include the payloads: {}", s.bytes_written);
    // One data sync per round (one segment each).
    assert_eq!(s.fsync.count(), 10);
    assert!(s.fsync.p50().is_some() && s.fsync.p99() >= s.fsync.p50());
    assert_eq!(s.fsync.max(), Some(s.fsync.slowest));
    assert_eq!((s.slow_syncs, s.poisoned_for), (0, None));
    // Nothing appended: a sync is no round.
    wal.sync().unwrap();
    assert_eq!(wal.stats().syncs, 10);
}

/// Data syncs sleep for `delay` (0: no sleep); `sync_all` does not.
#[derive(Debug)]
struct Slow {
    delay: Arc<Mutex<Duration>>,
}

impl Hooks for Slow {
    fn before_sync(&self, all: bool) -> io::Result<()> {
        let d = *self.delay.lock().unwrap();
        if !all && !d.is_zero() {
            thread::sleep(d);
        }
        Ok(())
    }
}

#[test]
fn stall_hook_fires_for_a_slow_sync_and_not_for_fast_ones() {
    let delay = Arc::new(Mutex::new(Duration::ZERO));
    let storage = Hooked::new(MemStorage::new().shared(), Slow { delay: delay.clone() });
    let calls = Arc::new(Mutex::new(Vec::new()));
    let seen = calls.clone();
    let opts = WalOptions {
        stall: Some(StallHook::new(Duration::from_millis(100), move |took| seen.lock().unwrap().push(took))),
        ..WalOptions::small(storage)
    };
    let (wal, _) = Wal::open(dir(), opts).unwrap();
    for _ in 0..20 {
        wal.append_durable(b"fast").unwrap();
    }
    assert!(calls.lock().unwrap().is_empty(), "fast syncs are no stall: {:?}", calls.lock().unwrap());
    assert_eq!(wal.stats().slow_syncs, 0);

    *delay.lock().unwrap() = Duration::from_millis(150);
    wal.append_durable(b"slow").unwrap();
    *delay.lock().unwrap() = Duration::ZERO;
    let got = calls.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "one slow sync, one call: {got:?}");
    assert!(got[0] >= Duration::from_millis(150), "reports how long it took: {got:?}");
    let s = wal.stats();
    assert_eq!(s.slow_syncs, 1);
    assert!(s.fsync.max().unwrap() >= Duration::from_millis(150));
    // The slow sync sits in the 262 ms bucket (150 ms < 16 µs × 2^14).
    assert_eq!(s.fsync.buckets[14], 1);

    wal.append_durable(b"fast again").unwrap();
    assert_eq!(calls.lock().unwrap().len(), 1);
    assert_eq!(wal.stats().slow_syncs, 1);
}

#[test]
fn no_hook_counts_no_stalls() {
    let delay = Arc::new(Mutex::new(Duration::from_millis(20)));
    let storage = Hooked::new(MemStorage::new().shared(), Slow { delay });
    let (wal, _) = Wal::open(dir(), WalOptions::small(storage)).unwrap();
    wal.append_durable(b"x").unwrap();
    let s = wal.stats();
    assert_eq!(s.slow_syncs, 0);
    assert!(s.fsync.max().unwrap() >= Duration::from_millis(20));
}

#[test]
fn poisoned_time_is_reported_after_a_failed_sync() {
    let mem = MemStorage::new();
    let (wal, _) = Wal::open(dir(), WalOptions::small(mem.shared())).unwrap();
    wal.append_durable(b"ok").unwrap();
    assert_eq!(wal.stats().poisoned_for, None);
    mem.fail_sync(0); // the next sync
    assert!(wal.append_durable(b"lost").is_err());
    let first = wal.stats().poisoned_for.expect("poisoned");
    thread::sleep(Duration::from_millis(5));
    let later = wal.stats().poisoned_for.expect("still poisoned");
    assert!(later >= first + Duration::from_millis(5), "{first:?} then {later:?}");
    // The failed round is no sync; the failed fsync is still timed.
    let s = wal.stats();
    assert_eq!(s.syncs, 1);
    assert_eq!(s.fsync.count(), 2);
}

#[test]
fn stats_are_shared_between_concurrent_writers() {
    let mem = MemStorage::new();
    let (wal, _) = Wal::open(dir(), WalOptions { segment_size: 1 << 20, ..WalOptions::small(mem.shared()) }).unwrap();
    let wal = Arc::new(wal);
    let done = Arc::new(AtomicU64::new(0));
    let hs: Vec<_> = (0..8)
        .map(|_| {
            let (wal, done) = (wal.clone(), done.clone());
            thread::spawn(move || {
                for _ in 0..50 {
                    wal.append_durable(b"record").unwrap();
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    let s = wal.stats();
    assert_eq!(s.records_synced, 400);
    assert_eq!(s.fsync.count(), s.syncs);
    assert!(s.records_per_sync() >= 1.0);
}
