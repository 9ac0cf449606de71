//! # paxos-snapshot: atomic, checksummed, streamed snapshot files
//!
//! A snapshot is the state of an application (for paxos-store: an acceptor's
//! state) as of a log position, so that the log before that position can be
//! dropped. This crate stores snapshots; it knows nothing of Paxos or of the
//! log: a position is an opaque `u64`, metadata and payload are opaque bytes.
//!
//! ## Design
//!
//! - **One file per snapshot**, named by its position
//!   (`snap-00000000000000000042.snap`, zero-padded so names sort). The file
//!   is a fixed 64-byte header (magic, format version, position, payload
//!   length, metadata length and checksum, header checksum), the caller's
//!   metadata, the payload, and a 16-byte footer (payload checksum, position
//!   again). `FORMAT.md` and the [`format`](mod@format) module give the exact layout.
//! - **Verified without trusting a length first.** The header's own CRC32 is
//!   checked before any length in it is used; then the file length must
//!   equal header + metadata + payload + footer exactly; then the metadata
//!   checksum; the payload checksum is checked while streaming. A truncated
//!   file, a flipped byte anywhere, a wrong magic or version, an empty file:
//!   each is a typed [`SnapshotError`], never a panic, never accepted.
//! - **Streamed.** [`SnapshotStore::begin`] returns a [`SnapshotWriter`]
//!   (`std::io::Write`) and [`SnapshotStore::read`] a [`SnapshotReader`]
//!   (`std::io::Read`); both work in 256 KiB chunks, so a multi-GiB snapshot
//!   never has to fit in memory. The payload length is learnt at the end, so
//!   the header is written last (before the sync). The reader compares the
//!   payload checksum when it has read the last byte, *before* returning the
//!   last chunk.
//! - **Atomic.** A snapshot is written to `snap-<position>.<n>.tmp` in the
//!   same directory, synced, renamed to its final name, and the directory is
//!   synced. A crash at any step leaves the old set of snapshots, or the old
//!   set plus the complete new one: never a half snapshot under a snapshot
//!   name. Writing the same position again replaces the file atomically.
//!   Temporary files left by a crash are removed on [`SnapshotStore::open`]
//!   (and the directory synced).
//! - **Keeps the newest N valid snapshots** ([`SnapshotOptions::keep`],
//!   default 2). Only after the new snapshot is durable are older ones
//!   deleted (then the directory synced): walking newest first, everything
//!   after the N-th valid snapshot goes. Damaged snapshots newer than that
//!   stay, to be reported. A write that would itself be pruned at once is
//!   refused ([`SnapshotError::Superseded`]).
//! - **Falls back.** [`SnapshotStore::latest_valid`] returns the newest
//!   snapshot that fully verifies and reports every newer one it skipped and
//!   why; [`SnapshotStore::valid_snapshots`] returns all valid ones newest
//!   first, so recovery can fall back further (e.g. when the log no longer
//!   covers the newest).
//! - **Failures.** A failed file or directory sync poisons the store: every
//!   later write fails with [`SnapshotError::Poisoned`] until it is
//!   reopened. ENOSPC is [`SnapshotError::NoSpace`]. The directory is
//!   locked (`LOCK`); a second open gets [`SnapshotError::Locked`].
//! - **Fault injection.** All I/O goes through
//!   [`paxos_storage::Storage`]; tests use the simulated disk
//!   `paxos_storage::MemStorage` (feature `sim` of `paxos-storage`) to crash
//!   at every step of a write and simulate power loss.
//!
//! ## Example
//!
//! ```
//! use paxos_snapshot::{SnapshotOptions, SnapshotStore};
//! use std::io::{Read, Write};
//!
//! let dir = tempfile::tempdir()?;
//! let store = SnapshotStore::open(dir.path(), SnapshotOptions::default())?;
//! store.write(10, b"term=1", b"state as of position 10")?;
//!
//! // Stream a larger one.
//! let mut w = store.begin(20, b"term=2")?;
//! for i in 0..1000u32 {
//!     w.write_all(&i.to_le_bytes())?;
//! }
//! let meta = w.finish()?; // durable now
//! assert_eq!((meta.position, meta.payload_len), (20, 4000));
//!
//! // Recovery: the newest snapshot that verifies.
//! let (latest, skipped) = store.latest_valid()?;
//! let latest = latest.expect("a snapshot");
//! assert!(skipped.is_empty());
//! assert_eq!(latest.metadata, b"term=2");
//! let mut payload = Vec::new();
//! store.read(&latest)?.read_to_end(&mut payload)?; // checksum verified at the end
//! assert_eq!(&payload[4..8], &1u32.to_le_bytes());
//!
//! // The default keeps two snapshots: a third prunes the oldest.
//! store.write(30, b"", b"newer")?;
//! let positions: Vec<u64> = store.list()?.iter().map(|m| m.position).collect();
//! assert_eq!(positions, vec![30, 20]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

mod error;
pub mod format;
mod reader;
mod store;
mod writer;

pub use error::{Result, SnapshotError};
pub use reader::SnapshotReader;
pub use store::SnapshotStore;
pub use writer::SnapshotWriter;

use paxos_storage::{FsStorage, Storage};
use std::path::PathBuf;
use std::sync::Arc;

/// Name of the lock file in a snapshot directory.
pub const LOCK_FILE: &str = "LOCK";

/// How to open a [`SnapshotStore`].
#[derive(Clone, Debug)]
pub struct SnapshotOptions {
    /// How many valid snapshots to keep (at least 1; default 2).
    pub keep: usize,
    /// Where the files live (default: the real file system).
    pub storage: Arc<dyn Storage>,
}

impl Default for SnapshotOptions {
    fn default() -> Self {
        SnapshotOptions { keep: 2, storage: FsStorage::shared() }
    }
}

/// What a snapshot's header says about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotMeta {
    /// The snapshot file.
    pub path: PathBuf,
    /// The snapshot covers the log up to and including this position.
    pub position: u64,
    /// The caller's metadata, as given to [`SnapshotStore::begin`].
    pub metadata: Vec<u8>,
    /// Payload length in bytes.
    pub payload_len: u64,
}

/// A snapshot file that did not verify, and why.
#[derive(Debug)]
pub struct Skipped {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub error: SnapshotError,
}
