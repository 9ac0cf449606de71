//! Checkpoint progress survives a reopen (issue #17, "bounded under
//! restarts"): a node whose every run is killed before it has written enough
//! values to reach a checkpoint still checkpoints, because opening counts the
//! values written since the newest checkpoint (what recovery replayed). The
//! same writes, once in one process and once in 200 short runs each ended by
//! a process crash, must leave about the same log on disk: segments, bytes
//! and records replayed by the next open within 1.5x. Not timed: it counts.

mod common;

use common::E;
use omnipaxos::storage::Storage;
use paxos_store_omnipaxos::{OmniPaxosOptions, OmniPaxosStorage};
use paxos_wal::storage::{CrashKind, MemStorage, OpenOptions};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use std::path::Path;

const DIR: &str = "/node";
/// Short runs, each far below one checkpoint's worth of values: 150 entries
/// of about 110 bytes (16 KiB) against the 32 KiB of `OmniPaxosOptions::small`.
const RUNS: usize = 200;
const WRITES_PER_RUN: usize = 150;
/// Every this many entries the node decides and trims, keeping `KEEP`
/// entries, as OmniPaxos does after a snapshot: the live state stays small,
/// so without checkpoints the log is all that grows.
const TRIM_EVERY: u64 = 50;
const KEEP: u64 = 20;

fn open(ms: &MemStorage) -> OmniPaxosStorage<E> {
    OmniPaxosStorage::open_with(DIR, OmniPaxosOptions::small(ms.shared())).expect("open")
}

/// Write entry `id` (and, every `TRIM_EVERY`, decide and trim).
fn write(s: &mut OmniPaxosStorage<E>, id: u64) {
    s.append_entry(E::new(id, 100)).expect("append");
    let len = id + 1;
    if len % TRIM_EVERY == 0 {
        s.set_decided_idx(len as usize).expect("decide");
        s.trim((len - KEEP) as usize).expect("trim");
    }
}

#[derive(Debug)]
struct Outcome {
    segments: usize,
    disk_bytes: u64,
    checkpoints: u64,
    /// Records the next open replays (what its time is proportional to).
    replayed_on_open: u64,
}

/// Drop the store and its handles, then a process crash (the page cache
/// survives, the directory lock goes), as when the node is killed.
fn kill(s: OmniPaxosStorage<E>, ms: &MemStorage, rng: &mut SmallRng) {
    drop(s);
    ms.crash(CrashKind::Process, rng);
}

/// Bytes of the files in the store's log and checkpoint directories
/// (`MemStorage::used_bytes` keeps counting removed files until a power loss).
fn disk_bytes(ms: &MemStorage) -> u64 {
    let fs = ms.shared();
    let mut total = 0;
    for sub in ["wal", "checkpoints"] {
        let dir = Path::new(DIR).join(sub);
        for name in fs.list(&dir).expect("list") {
            total += fs.open(&dir.join(name), OpenOptions::existing()).and_then(|f| f.len()).expect("len");
        }
    }
    total
}

fn finish(s: OmniPaxosStorage<E>, ms: &MemStorage, rng: &mut SmallRng, checkpoints: u64) -> Outcome {
    let segments = s.store().stats().segments;
    kill(s, ms, rng);
    let disk_bytes = disk_bytes(ms);
    let s = open(ms);
    let replayed_on_open = s.store().recovery_report().records_replayed;
    let len = s.get_log_len().expect("log len") as u64 + s.trimmed_idx() as u64;
    assert_eq!(len, (RUNS * WRITES_PER_RUN) as u64, "every entry is there");
    Outcome { segments, disk_bytes, checkpoints, replayed_on_open }
}

#[test]
fn checkpoint_progress_survives_reopens() {
    let mut rng = SmallRng::seed_from_u64(17);
    let total = (RUNS * WRITES_PER_RUN) as u64;

    // All the writes in one process.
    let ms = MemStorage::new();
    let mut s = open(&ms);
    for id in 0..total {
        write(&mut s, id);
    }
    let checkpoints = s.store().stats().checkpoints;
    let one = finish(s, &ms, &mut rng, checkpoints);

    // The same writes, the node killed and reopened after every run.
    let ms = MemStorage::new();
    let mut checkpoints = 0;
    let mut id = 0;
    let mut s = open(&ms);
    for run in 0..RUNS {
        for _ in 0..WRITES_PER_RUN {
            write(&mut s, id);
            id += 1;
        }
        let st = s.store().stats();
        checkpoints += st.checkpoints;
        assert_eq!(st.checkpoint_errors, 0);
        if run + 1 < RUNS {
            kill(s, &ms, &mut rng);
            s = open(&ms);
        }
    }
    let restarts = finish(s, &ms, &mut rng, checkpoints);

    eprintln!("one process: {one:?}\nrestarted:   {restarts:?}");
    assert!(one.checkpoints > 10, "the workload checkpoints in one process: {one:?}");
    assert!(restarts.checkpoints > 10, "a node restarted often checkpoints too: {restarts:?}");
    let within = |a: u64, b: u64| a * 2 <= b * 3;
    assert!(within(restarts.segments as u64, one.segments as u64), "segments: {restarts:?} vs {one:?}");
    assert!(within(restarts.disk_bytes, one.disk_bytes), "disk bytes: {restarts:?} vs {one:?}");
    assert!(
        within(restarts.replayed_on_open, one.replayed_on_open.max(1)),
        "records replayed on open: {restarts:?} vs {one:?}"
    );
}
