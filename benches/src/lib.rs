//! # paxos-store-benches: what durability costs, measured against the floor
//!
//! Criterion benchmarks of the log ([`paxos_wal`]) and the acceptor store
//! ([`paxos_acceptor_store`]), each next to a *raw baseline measured in the
//! same run on the same disk*: absolute figures drift by +-20% between runs
//! on a shared virtual machine, ratios against a baseline taken minutes apart
//! in the same process do not.
//!
//! ## Design
//! - **Where.** Every file is created under `target/paxos-bench/` at the
//!   workspace root, or `$PAXOS_BENCH_DIR` ([`dir::bench_dir`]); never a
//!   system temp dir, which may be tmpfs where a sync costs nothing. A
//!   warning is printed if the directory is on tmpfs anyway.
//! - **The floor.** [`raw::RawLog`] appends records back to back into a
//!   pre-zeroed file ([`dir::prezeroed_file`]: every block written, so a
//!   sync never commits allocation metadata, as in the log's prepared
//!   segments) and makes each durable in one of four ways: `pwrite` +
//!   `fdatasync`, `pwrite` with `O_DSYNC`, `O_DIRECT|O_DSYNC` from a 4 KiB
//!   aligned buffer ([`aligned::AlignedBuf`]), `memcpy` into a mapping +
//!   `msync`. They use `std::fs`/`libc` directly, around the storage seam:
//!   they are the floor, not the product.
//! - **Concurrency.** [`threads::run_threads`] spawns the threads once per
//!   criterion sample and releases them together with a barrier; one
//!   iteration is [`threads::OPS_PER_ITER`] durable operations spread over
//!   the threads, so `Throughput::Elements` reads as operations per second.
//!   The raw baseline under concurrency is serialised by a mutex (no group
//!   commit): what a log without group commit would get.
//! - **Short runs.** [`criterion_config`] keeps the whole suite to minutes.
//! - **Ratios.** The `bench-report` binary reads criterion's saved
//!   estimates and prints, for every benchmark, its median against the
//!   `raw_pwrite_fdatasync` of the same group and parameter, and for
//!   concurrent ones against the same subject at one thread. The `paired`
//!   binary measures single-writer per-operation p50/p99 latency with the
//!   subjects interleaved in blocks (A, B, A, B, ...).
//! - **Peers.** With the `peers` feature, the `peers` module (not built by default)
//!   wraps TiKV's raft-engine and okaywal in the same durable append, for
//!   the `peers` benchmark and the `paired --threads` rounds.
//!
//! See `README.md` in this crate for the commands and the measured figures.
//!
//! ## Example
//! ```
//! use paxos_store_benches::{dir, raw::{RawLog, RawMode}};
//! let tmp = dir::bench_dir("doc")?;
//! let mut log = RawLog::create(&tmp.path().join("raw"), 1 << 20, RawMode::PwriteFdatasync)?;
//! let at = log.append_durable(&[7u8; 128])?; // durable when it returns
//! assert_eq!((at, log.offset()), (0, 128));
//! # Ok::<(), std::io::Error>(())
//! ```

#![warn(missing_docs)]

pub mod aligned;
pub mod counting;
pub mod dir;
#[cfg(feature = "peers")]
pub mod peers;
pub mod raw;
pub mod stats;
pub mod threads;

use std::time::Duration;

/// Criterion settings for short runs: 10 samples, 1 s warm-up, 3 s of
/// measurement per benchmark, no plots. Command-line flags
/// (`--sample-size`, `--measurement-time`, `--save-baseline`) still apply:
/// `criterion_group!` applies them on top of this.
pub fn criterion_config() -> criterion::Criterion {
    criterion::Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .without_plots()
}

/// A record of `len` bytes with a recognisable, non-zero pattern (a
/// pre-zeroed file must not already hold what is written).
pub fn payload(len: usize, seed: u64) -> Vec<u8> {
    (0..len).map(|i| (seed.wrapping_mul(131).wrapping_add(i as u64) % 251) as u8 + 1).collect()
}

/// Context switches (voluntary and involuntary) of every thread of this
/// process so far, ended threads included (`getrusage(RUSAGE_SELF)`). On
/// 2 cores the wake-ups of 64 callers bind, so the concurrent benchmarks
/// report switches per operation beside throughput.
pub fn context_switches() -> u64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `usage` is a valid, writable `rusage`; getrusage only writes
    // it, and RUSAGE_SELF is a valid `who`. Zeroed is a valid `rusage`
    // (plain integers), so reading it is sound whatever the call did.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    (usage.ru_nvcsw + usage.ru_nivcsw) as u64
}

/// Segment size of the logs the benchmarks open (the default, 64 MiB), and
/// the size of the raw baselines' files.
pub const SEGMENT_SIZE: u64 = 64 << 20;

/// [`dir::settle`] everything under `dir` (spares of [`SEGMENT_SIZE`]),
/// before a measurement. Panics on I/O errors: for benchmark set-up only.
pub fn quiet(dir: &std::path::Path) {
    dir::settle(dir, SEGMENT_SIZE, Duration::from_secs(60)).expect("settle the bench directory");
}

/// Apply `ops` to `store` in batches of `batch` operations (each one
/// `apply_batch`: one record, one sync): how the benchmarks fill a store.
pub fn apply_in_batches(
    store: &paxos_acceptor_store::AcceptorStore,
    ops: impl Iterator<Item = paxos_acceptor_store::Op>,
    batch: usize,
) -> paxos_acceptor_store::Result<()> {
    let mut pending = Vec::with_capacity(batch);
    for op in ops {
        pending.push(op);
        if pending.len() == batch {
            store.apply_batch(&pending)?;
            pending.clear();
        }
    }
    if !pending.is_empty() {
        store.apply_batch(&pending)?;
    }
    Ok(())
}

/// Whether `$PAXOS_BENCH_BIG` asks for the large (1 GiB) recovery cases.
pub fn big_runs() -> bool {
    std::env::var_os("PAXOS_BENCH_BIG").is_some_and(|v| !v.is_empty() && v != "0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_has_the_length_no_zero_and_depends_on_the_seed() {
        let a = payload(4096, 1);
        assert_eq!(a.len(), 4096);
        assert!(a.iter().all(|&b| b != 0));
        assert_ne!(a, payload(4096, 2));
        assert_eq!(a, payload(4096, 1));
    }
}
