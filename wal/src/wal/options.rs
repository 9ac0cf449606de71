//! How the log is opened: the write mode and the options of [`Wal::open`](super::Wal::open).

use super::StallHook;
use crate::storage::{FsStorage, Storage};
use crate::CorruptionPolicy;
use std::sync::Arc;
use std::time::Duration;

/// How records reach the disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WriteMode {
    /// `pwrite` into the (mapped) segment file, then `fdatasync`. The default:
    /// on the measured machines it was the fastest durable path for small
    /// records (writing through the mapping takes a page fault per written-back
    /// page; see `benches/`).
    #[default]
    Pwrite,
    /// `pwrite` on a file opened with `O_DSYNC`: every write is durable when it
    /// returns, no separate sync.
    Dsync,
    /// `memcpy` into the shared mapping, then `msync(MS_SYNC)` of the range.
    Mmap,
}

/// Options for [`Wal::open`](super::Wal::open).
#[derive(Clone, Debug)]
pub struct WalOptions {
    /// Size of every segment file (default 64 MiB; at least 8 KiB, a multiple of 4 KiB, below 4 GiB).
    pub segment_size: u64,
    /// How records are written and synced.
    pub write_mode: WriteMode,
    /// What to do about damage found on open.
    pub policy: CorruptionPolicy,
    /// Pre-zero the next segment on a background thread (default true). Turn
    /// off for deterministic tests: it is then prepared at roll-over.
    pub background_prepare: bool,
    /// Largest payload accepted (default: what a segment can hold).
    pub max_record_size: Option<usize>,
    /// Least time between two writes of the durable-watermark slot (default
    /// 5 ms). The slot proves the newest acknowledged records were durable
    /// (fault model case 7) where no later record does; writing it after
    /// every sync makes every sync carry a second page. A round within the
    /// interval leaves its watermark to a small thread that writes it when
    /// the interval has passed. Zero writes it after every round, on the
    /// caller's thread (deterministic; no thread).
    pub watermark_interval: Duration,
    /// The file system (default: the real one).
    pub storage: Arc<dyn Storage>,
    /// Report syncs slower than a threshold (default none). See [`StallHook`].
    pub stall: Option<StallHook>,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_size: 64 << 20,
            write_mode: WriteMode::default(),
            policy: CorruptionPolicy::default(),
            background_prepare: true,
            max_record_size: None,
            watermark_interval: Duration::from_millis(5),
            storage: FsStorage::shared(),
            stall: None,
        }
    }
}

impl WalOptions {
    /// Options for a small log on the given storage, for tests and
    /// simulations: 64 KiB segments, and no background threads.
    pub fn small(storage: Arc<dyn Storage>) -> Self {
        WalOptions {
            segment_size: 64 << 10,
            background_prepare: false,
            watermark_interval: Duration::ZERO,
            storage,
            ..Default::default()
        }
    }
}
