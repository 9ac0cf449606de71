//! What the log measures about itself: counters, the fsync latency
//! histogram, and the stall hook. Everything on the sync path is a relaxed
//! atomic add on a fixed array: no allocation, no lock.

use super::Wal;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Number of buckets of [`SyncHistogram`]: 17 bounded ones (16 µs, 32 µs, …,
/// 2^16 × 16 µs ≈ 1.05 s) and one for everything slower.
pub const SYNC_BUCKETS: usize = 18;

/// The smallest bucket bound, in nanoseconds (16 µs).
const FIRST_BOUND_NS: u64 = 16_000;

/// Upper bound (inclusive) of bucket `i`; `None` for the last, unbounded one.
pub(crate) fn bucket_bound(i: usize) -> Option<Duration> {
    (i + 1 < SYNC_BUCKETS).then(|| Duration::from_nanos(FIRST_BOUND_NS << i))
}

/// The bucket a sync of `d` falls in: the first whose bound is at least `d`.
fn bucket_of(d: Duration) -> usize {
    let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    let q = ns.saturating_sub(1) / FIRST_BOUND_NS;
    ((u64::BITS - q.leading_zeros()) as usize).min(SYNC_BUCKETS - 1)
}

/// How long the log's syncs (`fdatasync`, or `msync` in
/// [`WriteMode::Mmap`](super::WriteMode)) took: counts in fixed
/// power-of-two buckets from 16 µs to about 1 s, plus their sum and the
/// largest one seen. Only the system call is timed. In
/// [`WriteMode::Dsync`](super::WriteMode) every write is its own sync and
/// there is no separate one to time: the histogram stays empty.
///
/// A quantile is read as the bound of the bucket it falls in (so it is
/// within a factor of two above the true value), like a Prometheus
/// histogram's `le` buckets.
///
/// ```
/// use paxos_wal::SyncHistogram;
/// use std::time::Duration;
/// let mut h = SyncHistogram::default();
/// for us in [20, 30, 40, 900] {
///     h.observe(Duration::from_micros(us));
/// }
/// assert_eq!(h.count(), 4);
/// assert_eq!(h.p50(), Some(Duration::from_micros(32)));
/// // In the bucket up to 1024 µs, capped at the slowest sync seen.
/// assert_eq!(h.p99(), Some(Duration::from_micros(900)));
/// assert_eq!(h.max(), Some(Duration::from_micros(900)));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncHistogram {
    /// Syncs per bucket; bucket `i` holds those at most
    /// [`SyncHistogram::bound`]`(i)` and above the bound of bucket `i - 1`.
    pub buckets: [u64; SYNC_BUCKETS],
    /// Total time of all syncs counted.
    pub sum: Duration,
    /// The slowest sync counted.
    pub slowest: Duration,
}

impl SyncHistogram {
    /// The inclusive upper bound of bucket `i`: 16 µs × 2^i; `None` for the
    /// last bucket, which holds every sync slower than about 1.05 s.
    pub fn bound(i: usize) -> Option<Duration> {
        bucket_bound(i)
    }

    /// Count one sync of `d` (for tests and for merging; the log itself
    /// counts into atomics).
    pub fn observe(&mut self, d: Duration) {
        self.buckets[bucket_of(d)] += 1;
        self.sum += d;
        self.slowest = self.slowest.max(d);
    }

    /// Add `other`'s syncs to these (e.g. to sum the logs of several stores).
    pub fn merge(&mut self, other: &SyncHistogram) {
        for (a, b) in self.buckets.iter_mut().zip(other.buckets) {
            *a += b;
        }
        self.sum += other.sum;
        self.slowest = self.slowest.max(other.slowest);
    }

    /// Syncs counted.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// Mean sync time (`None` before the first sync).
    pub fn mean(&self) -> Option<Duration> {
        let n = self.count();
        (n > 0).then(|| self.sum / u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// The `q`-quantile (`q` in `0.0..=1.0`), as the upper bound of the
    /// bucket it falls in, capped at the slowest sync seen (so a quantile in
    /// the last, unbounded bucket is the slowest sync). `None` before the
    /// first sync.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        // The rank of the quantile, 1-based: at least the first sync.
        let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.buckets.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(bucket_bound(i).map_or(self.slowest, |b| b.min(self.slowest)));
            }
        }
        Some(self.slowest)
    }

    /// The median ([`SyncHistogram::quantile`] of 0.5).
    pub fn p50(&self) -> Option<Duration> {
        self.quantile(0.5)
    }

    /// The 99th percentile ([`SyncHistogram::quantile`] of 0.99).
    pub fn p99(&self) -> Option<Duration> {
        self.quantile(0.99)
    }

    /// The slowest sync (`None` before the first sync).
    pub fn max(&self) -> Option<Duration> {
        (self.count() > 0).then_some(self.slowest)
    }
}

/// The live histogram: one atomic per bucket.
#[derive(Default)]
pub(super) struct AtomicHistogram {
    buckets: [AtomicU64; SYNC_BUCKETS],
    sum_ns: AtomicU64,
    max_ns: AtomicU64,
}

impl AtomicHistogram {
    pub(super) fn record(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.buckets[bucket_of(d)].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
        self.max_ns.fetch_max(ns, Ordering::Relaxed);
    }

    pub(super) fn snapshot(&self) -> SyncHistogram {
        SyncHistogram {
            buckets: std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed)),
            sum: Duration::from_nanos(self.sum_ns.load(Ordering::Relaxed)),
            slowest: Duration::from_nanos(self.max_ns.load(Ordering::Relaxed)),
        }
    }
}

/// A stall detector for [`WalOptions::stall`](super::WalOptions): when a
/// sync took longer than `threshold`, `callback` is called with how long it
/// took, on the thread that ran the sync, right after the sync returned
/// (whether it succeeded or not), and [`WalStats::slow_syncs`](super::WalStats)
/// counts it.
///
/// A consensus library can use it to hold off elections while the disk,
/// not the leader, is slow. The callback runs while the log's I/O lock is
/// held: keep it short (set a flag, send on a channel) and never call back
/// into the log or store from it.
///
/// ```
/// use paxos_wal::{StallHook, WalOptions};
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
/// let stalls = Arc::new(AtomicU64::new(0));
/// let seen = stalls.clone();
/// let opts = WalOptions {
///     stall: Some(StallHook::new(Duration::from_millis(100), move |_took| {
///         seen.fetch_add(1, Ordering::Relaxed);
///     })),
///     ..Default::default()
/// };
/// # let _ = opts;
/// ```
#[derive(Clone)]
pub struct StallHook {
    /// A sync slower than this is a stall.
    pub threshold: Duration,
    /// Called with the duration of each stalled sync.
    pub callback: Arc<dyn Fn(Duration) + Send + Sync>,
}

impl StallHook {
    /// A hook calling `callback` for every sync slower than `threshold`.
    pub fn new(threshold: Duration, callback: impl Fn(Duration) + Send + Sync + 'static) -> Self {
        StallHook { threshold, callback: Arc::new(callback) }
    }
}

impl fmt::Debug for StallHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StallHook").field("threshold", &self.threshold).finish_non_exhaustive()
    }
}

/// Counters of what the log did since it was opened ([`Wal::stats`]).
/// Each is read on its own, so with concurrent writers they may be from
/// slightly different moments.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WalStats {
    /// Records appended.
    pub appends: u64,
    /// Group-commit rounds that wrote and synced (each one sync per segment touched).
    pub syncs: u64,
    /// Segments activated by roll-over.
    pub rollovers: u64,
    /// Roll-overs that had to prepare a segment on the spot (no spare ready).
    pub stalled_rollovers: u64,
    /// Bytes of records (frames: headers and payloads) written to segments.
    pub bytes_written: u64,
    /// Records made durable by the group-commit rounds counted in `syncs`
    /// (see [`WalStats::records_per_sync`]).
    pub records_synced: u64,
    /// How long each data sync took (`fdatasync`, `msync`).
    pub fsync: SyncHistogram,
    /// Syncs slower than the [`WalOptions::stall`](super::WalOptions::stall) threshold (0 without a hook).
    pub slow_syncs: u64,
    /// How long ago the log was poisoned by a failed write or sync (`None`:
    /// it is healthy). Writing stays refused from then on until a reopen.
    pub poisoned_for: Option<Duration>,
}

impl WalStats {
    /// Records per group-commit round, on average: how much group commit is
    /// sharing syncs (0.0 before the first round).
    pub fn records_per_sync(&self) -> f64 {
        if self.syncs == 0 {
            0.0
        } else {
            self.records_synced as f64 / self.syncs as f64
        }
    }
}

// Indices of the log's counters (`Wal::stats`, the field).
pub(super) const APPENDS: usize = 0;
pub(super) const SYNCS: usize = 1;
pub(super) const ROLLOVERS: usize = 2;
pub(super) const STALLS: usize = 3;
pub(super) const BYTES: usize = 4;
pub(super) const RECORDS_SYNCED: usize = 5;
pub(super) const SLOW_SYNCS: usize = 6;

impl Wal {
    /// What the log did since it was opened.
    pub fn stats(&self) -> WalStats {
        let g = |i: usize| self.stats[i].load(Ordering::Relaxed);
        WalStats {
            appends: g(APPENDS),
            syncs: g(SYNCS),
            rollovers: g(ROLLOVERS),
            stalled_rollovers: g(STALLS),
            bytes_written: g(BYTES),
            records_synced: g(RECORDS_SYNCED),
            fsync: self.fsync.snapshot(),
            slow_syncs: g(SLOW_SYNCS),
            poisoned_for: self.poison.1.get().map(|t| t.elapsed()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_powers_of_two_from_16us() {
        let us = Duration::from_micros;
        assert_eq!(bucket_of(Duration::ZERO), 0);
        assert_eq!(bucket_of(us(16)), 0);
        assert_eq!(bucket_of(us(16) + Duration::from_nanos(1)), 1);
        assert_eq!(bucket_of(us(32)), 1);
        assert_eq!(bucket_of(us(33)), 2);
        assert_eq!(bucket_of(us(64)), 2);
        assert_eq!(bucket_of(us(1000)), 6); // 1024 µs
        assert_eq!(SyncHistogram::bound(16), Some(us(16 << 16)));
        assert_eq!(bucket_of(us(16 << 16)), 16);
        assert_eq!(bucket_of(us(16 << 16) + Duration::from_nanos(1)), 17);
        assert_eq!(bucket_of(Duration::from_secs(3600)), 17);
        assert_eq!(SyncHistogram::bound(17), None);
        for i in 0..SYNC_BUCKETS - 1 {
            let b = SyncHistogram::bound(i).unwrap();
            assert_eq!(bucket_of(b), i, "a bound falls in its own bucket");
        }
    }

    #[test]
    fn quantiles_read_bucket_bounds() {
        let mut h = SyncHistogram::default();
        assert_eq!((h.p50(), h.p99(), h.max(), h.mean()), (None, None, None, None));
        for _ in 0..98 {
            h.observe(Duration::from_micros(100)); // bucket of 128 µs
        }
        h.observe(Duration::from_millis(5)); // 8192 µs
        h.observe(Duration::from_secs(2)); // beyond the last bound
        assert_eq!(h.count(), 100);
        assert_eq!(h.p50(), Some(Duration::from_micros(128)));
        assert_eq!(h.quantile(0.98), Some(Duration::from_micros(128)));
        assert_eq!(h.p99(), Some(Duration::from_micros(8192)));
        assert_eq!(h.quantile(1.0), Some(Duration::from_secs(2)));
        assert_eq!(h.max(), Some(Duration::from_secs(2)));
        assert_eq!(h.quantile(0.0), Some(Duration::from_micros(128)));
        // Capped at the slowest sync: never above what was seen.
        let mut one = SyncHistogram::default();
        one.observe(Duration::from_micros(70));
        assert_eq!(one.p99(), Some(Duration::from_micros(70)));
    }

    #[test]
    fn atomic_histogram_snapshots_what_it_recorded() {
        let a = AtomicHistogram::default();
        let mut h = SyncHistogram::default();
        for us in [1, 17, 500, 70_000, 2_000_000] {
            a.record(Duration::from_micros(us));
            h.observe(Duration::from_micros(us));
        }
        assert_eq!(a.snapshot(), h);
        let mut twice = h;
        twice.merge(&h);
        assert_eq!(twice.count(), 10);
        assert_eq!(twice.sum, h.sum * 2);
        assert_eq!((twice.p50(), twice.max()), (h.p50(), h.max()));
    }
}
