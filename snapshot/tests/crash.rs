//! Crash at every step of writing a snapshot, through the storage seam.
//!
//! For n = 0, 1, 2, ... the simulated process dies after n more storage
//! operations (`MemStorage::crash_after_ops`), so each step of a snapshot
//! write (create the temp file, each chunk write, the header write, the file
//! sync, the rename, the directory sync, each pruning removal, the last
//! directory sync) is in turn the one that never happens. Then the machine
//! loses power (several seeds: unsynced pages and unsynced directory
//! operations are kept, dropped or torn at random), and the store is reopened.
//!
//! Asserted after every crash:
//! - every snapshot file under a snapshot name verifies: nothing is skipped;
//! - the newest valid snapshot is the newest old one or the complete new one,
//!   byte for byte; and if the write had returned `Ok`, it is the new one and
//!   pruning is complete;
//! - no old snapshot is gone unless the new one is there (deletion only
//!   after the new one is durable);
//! - no temporary file is left, and the store can write again.

mod common;

use common::{dir, names, open_mem, payload};
use paxos_snapshot::{SnapshotMeta, SnapshotStore};
use paxos_storage::{CrashKind, MemStorage, Storage};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::collections::BTreeMap;
use std::io::Write;

const SEEDS: u64 = 16;

/// One snapshot as written: position, metadata, payload.
type Snap = (u64, Vec<u8>, Vec<u8>);

struct Scenario {
    keep: usize,
    old: Vec<Snap>,
    new: Snap,
    kind: CrashKind,
}

/// What one crash run produced.
#[derive(Default)]
struct Seen {
    runs: u64,
    /// The write failed, yet the new snapshot survived (crash after the rename).
    failed_but_new: u64,
    /// The write failed and the old snapshots are all there.
    failed_and_old: u64,
    /// Steps in a complete write.
    steps: u64,
}

fn write_streamed(store: &SnapshotStore, (pos, meta, data): &Snap) -> paxos_snapshot::Result<SnapshotMeta> {
    let mut w = store.begin(*pos, meta)?;
    for chunk in data.chunks(100_003) {
        if w.write_all(chunk).is_err() {
            break; // finish reports it, typed
        }
    }
    w.finish()
}

/// Runs the scenario with a crash after `n` operations; `None` once `n` is
/// past the end of the write (the write completed without a crash).
fn run(s: &Scenario, n: u64, seed: u64, seen: &mut Seen) -> Option<()> {
    let mem = MemStorage::new();
    let store = open_mem(&mem, s.keep);
    for (pos, meta, data) in &s.old {
        store.write(*pos, meta, data).unwrap();
    }
    let before = mem.op_count();
    mem.crash_after_ops(n);
    let res = write_streamed(&store, &s.new);
    let used = mem.op_count() - before;
    drop(store);
    if res.is_ok() && used < n {
        seen.steps = used;
        return None;
    }
    mem.crash(s.kind, &mut StdRng::seed_from_u64(seed));
    seen.runs += 1;
    let ctx = format!("crash after {n} ops, seed {seed}, write returned {res:?}");

    let store = open_mem(&mem, s.keep);
    assert!(!names(&mem, &dir()).iter().any(|f| f.ends_with(".tmp")), "temp file left: {ctx}");
    let (valid, skipped) = store.valid_snapshots().unwrap();
    assert!(skipped.is_empty(), "a damaged snapshot is visible: {skipped:?}; {ctx}");

    // What each position may hold: the old contents, or the new ones.
    let mut old: BTreeMap<u64, &Snap> = s.old.iter().map(|sn| (sn.0, sn)).collect();
    let new_present = valid.iter().any(|m| {
        let data = store.read_all(m).unwrap();
        let matches = |sn: &Snap| m.metadata == sn.1 && data == sn.2;
        let is_new = m.position == s.new.0 && matches(&s.new);
        assert!(is_new || old.get(&m.position).is_some_and(|sn| matches(sn)), "unexpected snapshot {m:?}: {ctx}");
        is_new
    });
    let newest_old = old.keys().next_back().copied();
    let latest = valid.first().map(|m| m.position);
    if new_present {
        assert_eq!(latest, Some(s.new.0.max(newest_old.unwrap_or(0))), "{ctx}");
    } else {
        assert_eq!(latest, newest_old, "{ctx}");
    }
    if res.is_ok() {
        assert!(new_present, "an acknowledged snapshot was lost: {ctx}");
        // Pruning was durable too: exactly the newest `keep` remain.
        old.insert(s.new.0, &s.new);
        let want: Vec<u64> = old.keys().rev().take(s.keep).copied().collect();
        let got: Vec<u64> = valid.iter().map(|m| m.position).collect();
        assert_eq!(got, want, "{ctx}");
    } else if new_present {
        seen.failed_but_new += 1;
    } else {
        // Nothing is deleted before the new snapshot is durable.
        let got: Vec<u64> = valid.iter().map(|m| m.position).collect();
        let want: Vec<u64> = old.keys().rev().copied().collect();
        assert_eq!(got, want, "old snapshots lost although the new one is absent: {ctx}");
        seen.failed_and_old += 1;
    }
    // The store works after recovery.
    store.write(u64::MAX, b"", b"after").unwrap();
    assert_eq!(store.latest_valid().unwrap().0.unwrap().position, u64::MAX);
    Some(())
}

fn crash_everywhere(s: Scenario) -> Seen {
    let mut seen = Seen::default();
    'steps: for n in 0.. {
        for seed in 0..SEEDS {
            if run(&s, n, seed, &mut seen).is_none() {
                break 'steps;
            }
        }
    }
    assert!(seen.steps >= 5, "a write takes at least 5 steps, saw {}", seen.steps);
    // n = 0..steps crash before each step; n = steps crashes after the last.
    assert_eq!(seen.runs, (seen.steps + 1) * SEEDS, "every step crashed with every seed");
    assert!(seen.failed_and_old > 0);
    seen
}

fn snap(pos: u64, len: usize) -> Snap {
    (pos, format!("meta {pos}").into_bytes(), payload(pos, len))
}

#[test]
fn power_loss_at_every_step_of_a_streamed_write_that_prunes() {
    let seen = crash_everywhere(Scenario {
        keep: 1,
        old: vec![snap(10, 5000)],
        new: snap(20, 600_000),
        kind: CrashKind::PowerLoss,
    });
    // Create, 3 chunk writes, header, sync, rename, dir sync, remove, dir sync.
    assert_eq!(seen.steps, 10);
    assert!(seen.failed_but_new > 0, "the window between rename and directory sync was never hit");
}

#[test]
fn power_loss_at_every_step_of_a_small_write_with_two_kept() {
    let seen = crash_everywhere(Scenario {
        keep: 2,
        old: vec![snap(10, 100), snap(20, 3000)],
        new: snap(30, 10),
        kind: CrashKind::PowerLoss,
    });
    // Create, one write, sync, rename, dir sync, remove, dir sync.
    assert_eq!(seen.steps, 7);
    assert!(seen.failed_but_new > 0, "the window between rename and directory sync was never hit");
}

#[test]
fn power_loss_at_every_step_of_rewriting_the_same_position() {
    let seen = crash_everywhere(Scenario {
        keep: 2,
        old: vec![snap(10, 100), snap(20, 300_000)],
        new: (20, b"rewritten".to_vec(), payload(99, 300_000)),
        kind: CrashKind::PowerLoss,
    });
    assert!(seen.failed_but_new > 0);
}

#[test]
fn process_crash_at_every_step() {
    let seen = crash_everywhere(Scenario {
        keep: 1,
        old: vec![snap(10, 5000)],
        new: snap(20, 600_000),
        kind: CrashKind::Process,
    });
    // A killed process loses nothing: the new snapshot is there exactly when
    // the rename happened (steps 7.. of 10).
    assert_eq!(seen.failed_but_new, 3 * SEEDS);
}

#[test]
fn power_loss_into_an_empty_directory() {
    crash_everywhere(Scenario { keep: 2, old: vec![], new: snap(1, 70_000), kind: CrashKind::PowerLoss });
}

#[test]
fn a_crash_while_open_removes_temp_files_is_recovered_by_the_next_open() {
    let mem = MemStorage::new();
    let store = open_mem(&mem, 2);
    store.write(5, b"m", b"five").unwrap();
    drop(store);
    for i in 0..3u64 {
        mem.put_file(&dir().join(format!("snap-00000000000000000006.{i}.tmp")), &payload(i, 9000)).unwrap();
    }
    for n in 0..5u64 {
        for seed in 0..4 {
            // Each run starts from a durable copy of the planted state.
            let fresh = MemStorage::new();
            fresh.create_dir_all(&dir()).unwrap();
            for f in names(&mem, &dir()) {
                fresh.put_file(&dir().join(&f), &mem.read_file(&dir().join(&f)).unwrap()).unwrap();
            }
            fresh.crash_after_ops(n);
            let res = SnapshotStore::open(dir(), common::mem_opts(&fresh, 2));
            drop(res);
            fresh.crash(CrashKind::PowerLoss, &mut StdRng::seed_from_u64(seed));
            let store = open_mem(&fresh, 2);
            assert_eq!(names(&fresh, &dir()), vec!["snap-00000000000000000005.snap"], "n {n} seed {seed}");
            let (latest, skipped) = store.latest_valid().unwrap();
            assert!(skipped.is_empty());
            assert_eq!(store.read_all(&latest.unwrap()).unwrap(), b"five");
        }
    }
}
