//! Measures the in-memory index: heap bytes per single-slot group (the
//! lightweight-transaction shape) and per live slot of one Multi-Paxos log.
//! Values stay in the mapped log and are not counted (they are not on the
//! heap). Uses a counting global allocator.
//!
//! Run: `cargo run --release -p paxos-acceptor-store --example index_memory -- 1000000`

use paxos_acceptor_store::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts bytes.
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

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let n: u64 = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(200_000);
    let dir = tempfile::tempdir_in(".")?;
    let opts = StoreOptions { checkpoint_after_segments: None, ..Default::default() };
    let (store, _) = AcceptorStore::open(dir.path(), opts)?;
    let value = [7u8; 128];
    let b = Ballot::new(1, 1);
    let fill = |ops: &mut dyn Iterator<Item = Op>| -> Result<()> {
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
        Ok(())
    };
    let before = LIVE.load(Ordering::Relaxed);
    fill(&mut (0..n).map(|g| Op::Accept { group: GroupId(1 + g), slot: Slot(0), ballot: b, value: value.to_vec() }))?;
    let groups = LIVE.load(Ordering::Relaxed) - before;
    let before = LIVE.load(Ordering::Relaxed);
    fill(&mut (0..n).map(|s| Op::Accept { group: GroupId(0), slot: Slot(s), ballot: b, value: value.to_vec() }))?;
    let slots = LIVE.load(Ordering::Relaxed) - before;
    println!("{n} single-slot groups: {groups} heap bytes = {:.1} bytes per group", groups as f64 / n as f64);
    println!("one group with {n} live slots: {slots} heap bytes = {:.1} bytes per slot", slots as f64 / n as f64);
    println!("log: {} segments; values (128 B each) stay in the mapped log", store.stats().segments);
    Ok(())
}
