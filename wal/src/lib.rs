//! # paxos-wal: a segmented, memory-mapped write-ahead log
//!
//! The durability layer under paxos-store. It knows nothing of Paxos: it
//! stores opaque records, numbered by a [`Lsn`], and tells you when they are
//! durable.
//!
//! ## Design
//!
//! - **Segments.** The log is a directory of fixed-size segment files named by
//!   the LSN of their first record (`00000000000000000001.wal`, zero-padded so
//!   names sort). A segment is created under a temporary name, *pre-zeroed*
//!   (every block written, so later writes never allocate and `fdatasync`
//!   never has to commit metadata) and synced; when the log rolls over to it,
//!   its header is written and synced, it is renamed to its final name and
//!   the directory is synced. The next segment is prepared ahead of time on a
//!   background thread, so roll-over does not wait for the zeroing.
//! - **Mapped.** Every segment is mapped with memmap2. Reads and iteration
//!   return payloads borrowed from the mapping ([`Record`] derefs to `&[u8]`),
//!   no copy. Recovery scans with `pread`, so a disk read error is a reported
//!   damaged range, not a SIGBUS.
//! - **Verified reads.** A record is checked against its checksums through
//!   the mapping before it is handed out: the whole frame on its first read
//!   (the verdict is cached per segment), the header on every read. Damage
//!   that happened while the log was open (another process rewrote bytes,
//!   bit rot in the page cache) is [`Error::DamagedRecord`], never wrong
//!   bytes. A segment truncated under the running log, or a page the disk
//!   cannot read back in, would kill a mapped reader with SIGBUS: the real
//!   storage catches that for its own mappings (a process-wide handler that
//!   chains to any previous one) and the read is [`Error::MappedReadFailed`].
//!   Holes in a segment (a sparse copy) are filled before it is mapped, so a
//!   full disk is [`Error::NoSpace`] at open, not a SIGBUS later. Measured:
//!   about 25 ns more for the first read of a 100-byte record, 9 ns more for
//!   later reads. See "Reading a live log" in `FORMAT.md`.
//! - **Writes.** By default records are written with `pwrite` into the mapped
//!   file and made durable with `fdatasync` ([`WriteMode::Pwrite`]); `O_DSYNC`
//!   and writing through the mapping + `msync` are options. On the machines
//!   this was measured on, writing small records through the mapping was 2-3x
//!   slower (a write fault per page that was just written back).
//! - **Group commit.** [`Wal::append`] only buffers. [`Wal::wait_durable`]
//!   either finds a sync round running and sleeps, or leads one: it takes
//!   everything appended so far, writes it with one `pwrite` per segment
//!   touched and one `fdatasync`, then wakes exactly the waiters that round
//!   covered and hands the next round to one waiter that is left. A lone
//!   caller syncs on its own thread (no hand-off cost). Under heavy
//!   concurrency (the last round covered 16 waiters or more) a leader yields
//!   its CPU once before gathering, so the callers just woken append first
//!   and the round is larger.
//! - **Failures.** A failed write or sync poisons the log: every later
//!   append, sync and truncation returns [`Error::Poisoned`], and every caller
//!   waiting on the failed round gets the error; nobody is told "durable".
//!   Reopening recovers from what is really on disk.
//! - **Recovery.** See [`OpenReport`] and the module docs of `open/mod.rs`
//!   (scan, classify, repair; what each kind of damage costs under each
//!   [`CorruptionPolicy`] is one decision table, `open/classify.rs`): every
//!   record is validated (header checksum before its length is trusted,
//!   payload checksum, segment sequence number, LSN against position), and
//!   every segment must carry the log's id (a segment of another log is
//!   refused). A sync is followed by a small *durable watermark* written to the segment's
//!   header page (carried to disk by the next sync; at most once per
//!   [`WalOptions::watermark_interval`], so that a busy log does not pay a
//!   second page per sync), and every record carries the watermark current
//!   when it was written. Damage at or below the
//!   highest watermark found is corruption of acknowledged data: reported
//!   with segment, offset and LSNs, never cut. Damage above it is a torn
//!   tail: erased (zeroed and synced, so it can never resurface) and
//!   reported. [`CorruptionPolicy`] says what to do about corruption.
//! - **Manifest.** A small `MANIFEST` file, replaced atomically when the log
//!   is created and at every roll-over (before the new segment takes a
//!   record), names the last segment: a deleted, emptied, zeroed or
//!   replaced last segment is [`Error::LostSegment`] under every policy,
//!   never a shorter or a new log. Recovery also records a torn-tail erase
//!   in it before erasing, and redoes the erase in full on the next open if
//!   it could not prove it durable (a failed sync marks the zeroed pages
//!   clean without writing them). See `FORMAT.md`.
//! - **Threads and locks.** The log runs at most two threads of its own: the
//!   *segment preparer* (one at a time, with `background_prepare`), which
//!   pre-zeroes the next segment and is joined by the roll-over that takes
//!   it or by drop; and the *watermark writer* (`wal-watermark`, started by
//!   the first round whose watermark falls within
//!   [`WalOptions::watermark_interval`]; none with a zero interval), which
//!   writes the newest pending slot once the interval has passed and stops
//!   on drop without writing. The *group-commit leader* is a role, not a
//!   thread: a caller of [`Wal::wait_durable`] that found no round running,
//!   or the oldest waiter the previous leader handed the round to. Locks, in
//!   the order they are taken: the I/O lock (a round's writes and syncs,
//!   every slot write, the write-out before a read), then the state lock
//!   (appends, pending chunks, waiters; held across a roll-over), then the
//!   segment list, then a segment's offsets. The watermark slots' lock is
//!   taken only under the I/O lock or alone, and nothing is locked under it.
//!   Waiters of a round park with no lock held; a roll-over, though, does
//!   its I/O (joining the preparer, activating the segment, writing the
//!   manifest) under the state lock, so appends wait for it.
//! - **Fault injection.** All I/O goes through [`storage::Storage`] (the
//!   `paxos-storage` crate, re-exported); tests use [`storage::MemStorage`],
//!   which simulates power loss page by page (feature `sim`).
//!
//! The exact byte layout is in `FORMAT.md` and [`format`](mod@format).
//!
//! ## Example
//!
//! ```
//! use paxos_wal::{Wal, WalOptions};
//! let dir = tempfile::tempdir()?;
//! let opts = WalOptions { segment_size: 1 << 20, ..Default::default() };
//! let (wal, report) = Wal::open(dir.path(), opts.clone())?;
//! assert!(report.created);
//! let a = wal.append(b"promise 7")?;
//! let b = wal.append_durable(b"accept 7 x")?; // covers `a` too
//! assert!(wal.durable_lsn() >= a);
//! assert_eq!(&*wal.read(b)?.unwrap(), b"accept 7 x");
//! drop(wal);
//! let (wal, report) = Wal::open(dir.path(), opts)?;
//! assert_eq!(report.records, 2);
//! let all: Vec<Vec<u8>> = wal.iter_from(1)?.map(|r| r.map(|r| r.to_vec())).collect::<Result<_, _>>()?;
//! assert_eq!(all, vec![b"promise 7".to_vec(), b"accept 7 x".to_vec()]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Features
//!
//! - `sim` (off by default): the simulated disk of `paxos-storage`
//!   ([`storage::MemStorage`] and its companions), for tests, fuzzers and
//!   simulators; a production build carries none of it. The log's fuzz
//!   targets, models and seed helpers live in the test kit
//!   (`paxos-store-testkit`), outside the product crates.
//!
// Without `sim` these items do not exist: point their links at the
// paragraph above rather than leave them broken.
#![cfg_attr(not(feature = "sim"), doc = "[`storage::MemStorage`]: #features")]
#![warn(missing_docs)]

mod error;
pub mod format;
mod manifest;
mod open;
mod report;
mod segment;
mod wal;

pub use error::{Error, Result};
pub use format::Lsn;
/// The storage seam (the `paxos-storage` crate), re-exported so that
/// `paxos_wal::storage::...` paths keep working.
pub use paxos_storage as storage;
pub use report::{Damage, DamageKind, OpenReport, SegmentInfo, TornTail};
pub use wal::{Iter, Record, StallHook, SyncHistogram, Wal, WalOptions, WalStats, WriteMode, SYNC_BUCKETS};

/// Name of the lock file in a log directory.
pub const LOCK_FILE: &str = "LOCK";

/// What opening a log does about damaged records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum CorruptionPolicy {
    /// Any damage, even an unacknowledged torn tail, is an error, and no
    /// record is cut or erased. (Housekeeping still happens: unfinished
    /// `prepare-N.tmp` files are removed, segments past the one the manifest
    /// names are removed, an interrupted torn-tail erase is completed, and
    /// the directory and segments are synced.)
    Strict,
    /// Cut an unacknowledged torn tail; fail on damage to acknowledged records.
    #[default]
    TolerateTornTail,
    /// Cut a torn tail; skip damaged acknowledged records, leaving holes, and
    /// report exactly which LSNs were lost so the caller can repair them.
    Salvage,
}
