//! Index memory per live slot: heap bytes the acceptor store's in-memory
//! index holds per single-slot group (the lightweight-transaction shape)
//! and per live slot of one Multi-Paxos log, for a few sizes.
//!
//! Memory is not a time, so this is a plain `harness = false` program, not
//! criterion. The method: a counting global allocator; the heap bytes live
//! after accepting N values (in batches of 1000 `Op::Accept`s) minus those
//! live before, over N — each reading taken once the log's background
//! segment pre-zeroing (a 1 MiB buffer on another thread) is done (not
//! waiting for it moves the figures at 10 000 values by 1 MiB / 10 000 =
//! ~105 bytes per value; the example this replaced did not wait).
//! Values stay in the mapped log and are not on the heap, so not counted.
//!
//! Run: `cargo bench -p paxos-store-benches --bench index_memory`
//! (a name filter that does not match `index_memory` skips it, so
//! `cargo bench -- group_commit` does not run it).

use paxos_acceptor_store::{AcceptorStore, Ballot, GroupId, Op, Slot, StoreOptions};
use paxos_store_benches::counting::{self, Counting};
use paxos_store_benches::{apply_in_batches, dir, quiet};
use std::path::Path;
use std::time::{Duration, Instant};

#[global_allocator]
static A: Counting = Counting;

/// Counts of values measured; the last one writes ~350 MiB of log.
const SIZES: [u64; 3] = [10_000, 100_000, 1_000_000];
const VALUE: usize = 128;

/// Live heap bytes once the store's background work under `dir` is done:
/// the log pre-zeroes its next segment on another thread with a 1 MiB
/// buffer, which would otherwise land in (or leave) a reading at random
/// (10 000 values are only ~1.3 MiB of log). Waits for the spare segment
/// (the log always has one being built or ready: wait until one exists at
/// full size, then [`quiet`]), then until the count holds still for 20 ms.
fn settled_live(dir: &Path) -> isize {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !spare_ready(dir) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    quiet(dir);
    let mut last = counting::live();
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(20));
        let now = counting::live();
        if now == last {
            break;
        }
        last = now;
    }
    last
}

/// Whether a pre-zeroed spare segment (`prepare-*.tmp`) of full size is
/// under `dir` (the store keeps its log in a subdirectory).
fn spare_ready(dir: &Path) -> bool {
    std::fs::read_dir(dir).into_iter().flatten().flatten().any(|e| {
        let name = e.file_name();
        let name = name.to_string_lossy();
        match e.file_type() {
            Ok(t) if t.is_dir() => spare_ready(&e.path()),
            Ok(t) if t.is_file() => {
                name.starts_with("prepare-")
                    && name.ends_with(".tmp")
                    && e.metadata().is_ok_and(|m| m.len() >= paxos_store_benches::SEGMENT_SIZE)
            }
            _ => false,
        }
    })
}

/// Accept every op of `ops` in batches of 1000 and return the growth of
/// live heap bytes over the whole fill, each end read by [`settled_live`].
fn heap_growth(
    store: &AcceptorStore,
    dir: &Path,
    ops: impl Iterator<Item = Op>,
) -> paxos_acceptor_store::Result<isize> {
    let before = settled_live(dir);
    apply_in_batches(store, ops, 1000)?;
    Ok(settled_live(dir) - before)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `cargo bench` passes `--bench` and any filter; run unless a filter excludes us.
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    if !filters.is_empty() && !filters.iter().any(|f| "index_memory".contains(f.as_str())) {
        return Ok(());
    }
    let b = Ballot::new(1, 1);
    let value = vec![7u8; VALUE];
    println!("index_memory: heap bytes of the acceptor store's index ({VALUE} B values stay in the log)");
    println!("| values | bytes per single-slot group | bytes per live slot (one group) | log segments |");
    println!("| --- | --- | --- | --- |");
    for n in SIZES {
        let tmp = dir::bench_dir("index_memory")?;
        let opts = StoreOptions { checkpoint_after_segments: None, ..Default::default() };
        let (store, _) = AcceptorStore::open(tmp.path(), opts)?;
        let groups = heap_growth(
            &store,
            tmp.path(),
            (0..n).map(|g| Op::Accept { group: GroupId(1 + g), slot: Slot(0), ballot: b, value: value.clone() }),
        )?;
        let slots = heap_growth(
            &store,
            tmp.path(),
            (0..n).map(|s| Op::Accept { group: GroupId(0), slot: Slot(s), ballot: b, value: value.clone() }),
        )?;
        println!(
            "| {n} | {:.1} | {:.1} | {} |",
            groups as f64 / n as f64,
            slots as f64 / n as f64,
            store.stats().segments
        );
    }
    Ok(())
}
