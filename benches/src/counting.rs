//! A global allocator that counts the bytes of live heap allocations, for
//! the memory figures (`index_memory`, `scale`). A binary installs it:
//!
//! ```ignore
//! #[global_allocator]
//! static A: paxos_store_benches::counting::Counting = paxos_store_benches::counting::Counting;
//! ```
//!
//! and reads [`live`] before and after what it measures.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

/// The counting allocator (forwards to the system allocator).
pub struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

/// Bytes of live heap allocations now (0 if [`Counting`] is not installed).
pub fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

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
