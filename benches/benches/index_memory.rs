//! Index memory per live slot: heap bytes the acceptor store's in-memory
//! index holds per single-slot group (the lightweight-transaction shape)
//! and per live slot of one Multi-Paxos log, for a few sizes.
//!
//! Memory is not a time, so this is a plain `harness = false` program, not
//! criterion. The method is `acceptor-store/examples/index_memory.rs`'s: a
//! counting global allocator; the heap bytes live after accepting N values
//! (in batches of 1000 `Op::Accept`s) minus those live before, over N.
//! Values stay in the mapped log and are not on the heap, so not counted.
//!
//! Run: `cargo bench -p paxos-store-benches --bench index_memory`
//! (a name filter that does not match `index_memory` skips it, so
//! `cargo bench -- group_commit` does not run it).

use paxos_acceptor_store::{AcceptorStore, Ballot, GroupId, Op, Slot, StoreOptions};
use paxos_store_benches::dir;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; it only
// counts the bytes of live allocations.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller upholds GlobalAlloc::alloc's contract.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        // SAFETY: p was allocated by System with layout l.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Counts of values measured; the last one writes ~350 MiB of log.
const SIZES: [u64; 3] = [10_000, 100_000, 1_000_000];
const VALUE: usize = 128;

/// Accept every op of `ops` in batches of 1000 and return the growth of
/// live heap bytes over the whole fill.
fn heap_growth(store: &AcceptorStore, ops: impl Iterator<Item = Op>) -> paxos_acceptor_store::Result<isize> {
    let before = LIVE.load(Ordering::Relaxed);
    let mut batch = Vec::with_capacity(1000);
    for op in ops {
        batch.push(op);
        if batch.len() == 1000 {
            store.apply_batch(&batch)?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        store.apply_batch(&batch)?;
    }
    drop(batch);
    Ok(LIVE.load(Ordering::Relaxed) - before)
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
            (0..n).map(|g| Op::Accept { group: GroupId(1 + g), slot: Slot(0), ballot: b, value: value.clone() }),
        )?;
        let slots = heap_growth(
            &store,
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
