//! The store's options and the figures it reports.

use paxos_wal::storage::Storage;
use paxos_wal::{Lsn, WalOptions, WalStats};
use std::sync::Arc;
use std::time::Duration;

/// Options for [`AcceptorStore::open`](crate::AcceptorStore::open): the
/// log's own options, nested, and the store's.
///
/// ```
/// # use paxos_acceptor_store::StoreOptions;
/// let mut opts = StoreOptions::default();
/// opts.log.segment_size = 16 << 20; // the log's: segment size, write mode, policy, storage...
/// opts.checkpoint_after_segments = Some(8); // the store's
/// ```
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// The log's options (`paxos_wal::WalOptions`): segment size (default
    /// 64 MiB), how it writes and syncs (default `pwrite` + `fdatasync`),
    /// what opening does about damage (default: cut a torn tail, fail on
    /// damage to acknowledged records), background pre-zeroing of the next
    /// segment, the durable-watermark interval, the file system, and a
    /// stall hook (report syncs slower than a threshold, e.g. to hold off
    /// elections; [`StoreStats::wal`] counts them as `slow_syncs`).
    pub log: WalOptions,
    /// Largest value accepted (default 1 MiB, at most what a segment holds).
    pub max_value_size: usize,
    /// Take a checkpoint (in the background) once the log holds more than
    /// this many segments; `None` turns automatic checkpoints off.
    pub checkpoint_after_segments: Option<usize>,
    /// Checkpoints kept (default 2: the log is kept back to the older one,
    /// so a damaged newest checkpoint can fall back to it).
    pub keep_checkpoints: usize,
    /// The share of its time a checkpoint spends working (default 0.1): it
    /// sleeps the rest, between shards and between chunks of the image it
    /// writes (which it also syncs as it goes, so that the final sync does
    /// not hold the disk for long). A checkpoint of 10^6 groups needs about
    /// a core-second; callers that keep the CPUs busy lose throughput to
    /// whatever share it takes (`checkpoint_stall` in the benches measures
    /// it). 1.0: as fast as it can, as [`StoreOptions::small`] has it.
    ///
    /// A checkpoint stops pacing itself, and finishes as fast as it can,
    /// while [`AcceptorStore::close`](crate::AcceptorStore::close) waits
    /// for it (later checkpoints of the clones still open pace as usual),
    /// once an automatic one is all that holds the store, and once (with
    /// automatic checkpoints on) the log has grown by another
    /// `checkpoint_after_segments` segments while it ran: pacing never lets
    /// the log outgrow its bound.
    pub checkpoint_duty_cycle: f64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            log: WalOptions::default(),
            max_value_size: 1 << 20,
            checkpoint_after_segments: Some(4),
            keep_checkpoints: 2,
            checkpoint_duty_cycle: 0.1,
        }
    }
}

impl StoreOptions {
    /// Small segments (64 KiB), small values (16 KiB), no background
    /// threads, no automatic checkpoints, checkpoints at full speed: for
    /// tests and simulations on the given storage.
    pub fn small(storage: Arc<dyn Storage>) -> Self {
        StoreOptions {
            log: WalOptions::small(storage),
            max_value_size: 16 << 10,
            checkpoint_after_segments: None,
            checkpoint_duty_cycle: 1.0,
            ..Default::default()
        }
    }
}

/// What a checkpoint did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointInfo {
    /// The last LSN it covers (of every group: each shard of groups was
    /// copied at this position or later).
    pub position: Lsn,
    /// Groups in it.
    pub groups: usize,
    /// Bytes of the image.
    pub bytes: usize,
    /// Time it slept to keep to [`StoreOptions::checkpoint_duty_cycle`].
    pub paced: std::time::Duration,
    /// Log segments deleted after it.
    pub segments_removed: usize,
    /// How long each of its steps took, pacing included, in order: copying
    /// the groups out shard by shard and encoding the image; writing and
    /// syncing the image; pointing the index at the image and letting older
    /// images go; deleting the log segments it covers.
    pub steps: CheckpointSteps,
}

/// [`CheckpointInfo::steps`]: how long each step of a checkpoint took.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckpointSteps {
    /// Copying the groups out of the index, a shard at a time, and encoding
    /// the image.
    pub copy: std::time::Duration,
    /// Writing the image and making it durable.
    pub write: std::time::Duration,
    /// Pointing the index's values at the image, a shard at a time, and
    /// letting the images before it go.
    pub repoint: std::time::Duration,
    /// Deleting the log segments the kept checkpoints cover.
    pub delete: std::time::Duration,
}

/// Counters of the store since it was opened ([`crate::AcceptorStore::stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Operations that wrote a record.
    pub writes: u64,
    /// Log records appended (a batch is one record).
    pub records: u64,
    /// Syncs the log issued (group commit shares them).
    pub syncs: u64,
    /// Checkpoints taken.
    pub checkpoints: u64,
    /// Live log segments.
    pub segments: usize,
    /// How long the last checkpoint took (zero before the first), from the
    /// image's encoding to the log's truncation.
    pub checkpoint_last_duration: Duration,
    /// How long all checkpoints took.
    pub checkpoint_total_duration: Duration,
    /// Bytes of the last checkpoint's image (zero before the first).
    pub checkpoint_last_bytes: u64,
    /// Bytes of all checkpoint images written.
    pub checkpoint_total_bytes: u64,
    /// The log's own counters: the fsync latency histogram, bytes written,
    /// records per sync, slow syncs, how long it has been poisoned.
    pub wal: WalStats,
}

/// A read-only view of the store's log ([`crate::AcceptorStore::log`]). Each field
/// is read on its own, so with concurrent writers they may be from slightly
/// different moments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogInfo {
    /// The first LSN still in the log (older segments go after checkpoints).
    pub first_lsn: Lsn,
    /// The last LSN appended, maybe not durable yet (`first_lsn - 1`: none).
    pub last_lsn: Lsn,
    /// Every record up to this LSN is durable.
    pub durable_lsn: Lsn,
    /// Live log segments.
    pub segments: usize,
    /// A sync failed: nothing more is written until the store is reopened.
    pub poisoned: bool,
}
