//! Publishing [`StoreStats`] through the [`metrics`] facade (feature
//! `metrics`), so that whatever exporter the application installed
//! (Prometheus, StatsD, OpenTelemetry, ...) carries them.
//!
//! Publishing reads a [`StoreStats`] snapshot and sets every metric to it:
//! the sync path itself never calls into the facade, so an exporter costs
//! the writers nothing. Call [`AcceptorStore::publish_metrics`] on a timer
//! (e.g. every second) or before each scrape. Counters are set with
//! `absolute`, so publishing twice counts nothing twice.
//!
//! | name | kind | unit | what |
//! | --- | --- | --- | --- |
//! | `paxos_wal_fsync_duration_seconds_bucket{le}` | counter | count | syncs that took at most `le` seconds (cumulative, `le` from `0.000016` to `1.048576`, then `+Inf`): a Prometheus histogram, like etcd's `wal_fsync_duration_seconds` |
//! | `paxos_wal_fsync_duration_seconds_sum` | gauge | seconds | total time in syncs |
//! | `paxos_wal_fsync_duration_seconds_count` | counter | count | syncs timed |
//! | `paxos_wal_fsync_max_seconds` | gauge | seconds | the slowest sync since open |
//! | `paxos_wal_syncs_total` | counter | count | group-commit rounds that wrote and synced |
//! | `paxos_wal_appends_total` | counter | count | records appended |
//! | `paxos_wal_records_synced_total` | counter | count | records made durable by those rounds (divide by `paxos_wal_syncs_total` for records per sync) |
//! | `paxos_wal_bytes_written_total` | counter | bytes | record bytes written |
//! | `paxos_wal_slow_syncs_total` | counter | count | syncs above the stall threshold (`StoreOptions::log.stall`, [`StallHook`](crate::StallHook)) |
//! | `paxos_wal_rollovers_total` | counter | count | segments activated |
//! | `paxos_wal_stalled_rollovers_total` | counter | count | roll-overs that prepared a segment on the spot |
//! | `paxos_wal_poisoned_seconds` | gauge | seconds | time since a failed write or sync poisoned the log (0: healthy) |
//! | `paxos_wal_segments` | gauge | count | live segment files |
//! | `paxos_store_writes_total` | counter | count | operations that wrote a record |
//! | `paxos_store_checkpoints_total` | counter | count | checkpoints taken |
//! | `paxos_store_checkpoint_last_duration_seconds` | gauge | seconds | how long the last checkpoint took |
//! | `paxos_store_checkpoint_duration_seconds_sum` | gauge | seconds | how long all checkpoints took |
//! | `paxos_store_checkpoint_last_bytes` | gauge | bytes | size of the last checkpoint image |
//! | `paxos_store_checkpoint_bytes_total` | counter | bytes | bytes of all checkpoint images |
//!
//! Every metric is published without labels beyond `le`; an application
//! with several stores publishes each under its own recorder scope or adds
//! labels in its exporter.

use crate::{AcceptorStore, StoreStats};
use metrics::{counter, describe_counter, describe_gauge, gauge, Unit};
use paxos_wal::{SyncHistogram, SYNC_BUCKETS};

/// The `le` label of each fsync bucket, in seconds (the bounds of
/// [`SyncHistogram::bound`]), the last one unbounded.
pub const FSYNC_LE: [&str; SYNC_BUCKETS] = [
    "0.000016", "0.000032", "0.000064", "0.000128", "0.000256", "0.000512", "0.001024", "0.002048", "0.004096",
    "0.008192", "0.016384", "0.032768", "0.065536", "0.131072", "0.262144", "0.524288", "1.048576", "+Inf",
];

/// Describe every metric (name, unit, help text) to the installed
/// recorder. Optional; exporters that print help text use it.
pub fn describe() {
    describe_counter!(
        "paxos_wal_fsync_duration_seconds_bucket",
        Unit::Count,
        "Log syncs (fdatasync/msync) that took at most `le` seconds."
    );
    describe_gauge!("paxos_wal_fsync_duration_seconds_sum", Unit::Seconds, "Total time spent in log syncs.");
    describe_counter!("paxos_wal_fsync_duration_seconds_count", Unit::Count, "Log syncs timed.");
    describe_gauge!("paxos_wal_fsync_max_seconds", Unit::Seconds, "The slowest log sync since open.");
    describe_counter!("paxos_wal_syncs_total", Unit::Count, "Group-commit rounds that wrote and synced.");
    describe_counter!("paxos_wal_appends_total", Unit::Count, "Records appended to the log.");
    describe_counter!("paxos_wal_records_synced_total", Unit::Count, "Records made durable by group-commit rounds.");
    describe_counter!("paxos_wal_bytes_written_total", Unit::Bytes, "Record bytes written to the log.");
    describe_counter!("paxos_wal_slow_syncs_total", Unit::Count, "Log syncs slower than the stall threshold.");
    describe_counter!("paxos_wal_rollovers_total", Unit::Count, "Log segments activated.");
    describe_counter!(
        "paxos_wal_stalled_rollovers_total",
        Unit::Count,
        "Roll-overs that prepared a segment on the spot."
    );
    describe_gauge!(
        "paxos_wal_poisoned_seconds",
        Unit::Seconds,
        "Time since a failed write or sync poisoned the log (0: healthy)."
    );
    describe_gauge!("paxos_wal_segments", Unit::Count, "Live log segment files.");
    describe_counter!("paxos_store_writes_total", Unit::Count, "Store operations that wrote a record.");
    describe_counter!("paxos_store_checkpoints_total", Unit::Count, "Checkpoints taken.");
    describe_gauge!(
        "paxos_store_checkpoint_last_duration_seconds",
        Unit::Seconds,
        "How long the last checkpoint took."
    );
    describe_gauge!("paxos_store_checkpoint_duration_seconds_sum", Unit::Seconds, "How long all checkpoints took.");
    describe_gauge!("paxos_store_checkpoint_last_bytes", Unit::Bytes, "Size of the last checkpoint image.");
    describe_counter!("paxos_store_checkpoint_bytes_total", Unit::Bytes, "Bytes of all checkpoint images.");
}

fn publish_fsync(h: &SyncHistogram) {
    let mut cumulative = 0;
    for (i, le) in FSYNC_LE.iter().enumerate() {
        cumulative += h.buckets[i];
        counter!("paxos_wal_fsync_duration_seconds_bucket", "le" => *le).absolute(cumulative);
    }
    gauge!("paxos_wal_fsync_duration_seconds_sum").set(h.sum.as_secs_f64());
    counter!("paxos_wal_fsync_duration_seconds_count").absolute(cumulative);
    gauge!("paxos_wal_fsync_max_seconds").set(h.slowest.as_secs_f64());
}

impl StoreStats {
    /// Set every metric of the table in [the module docs](crate::metrics)
    /// to this snapshot, through the installed `metrics` recorder.
    pub fn publish_metrics(&self) {
        let w = &self.wal;
        publish_fsync(&w.fsync);
        counter!("paxos_wal_syncs_total").absolute(w.syncs);
        counter!("paxos_wal_appends_total").absolute(w.appends);
        counter!("paxos_wal_records_synced_total").absolute(w.records_synced);
        counter!("paxos_wal_bytes_written_total").absolute(w.bytes_written);
        counter!("paxos_wal_slow_syncs_total").absolute(w.slow_syncs);
        counter!("paxos_wal_rollovers_total").absolute(w.rollovers);
        counter!("paxos_wal_stalled_rollovers_total").absolute(w.stalled_rollovers);
        gauge!("paxos_wal_poisoned_seconds").set(w.poisoned_for.map_or(0.0, |d| d.as_secs_f64()));
        gauge!("paxos_wal_segments").set(self.segments as f64);
        counter!("paxos_store_writes_total").absolute(self.writes);
        counter!("paxos_store_checkpoints_total").absolute(self.checkpoints);
        gauge!("paxos_store_checkpoint_last_duration_seconds").set(self.checkpoint_last_duration.as_secs_f64());
        gauge!("paxos_store_checkpoint_duration_seconds_sum").set(self.checkpoint_total_duration.as_secs_f64());
        gauge!("paxos_store_checkpoint_last_bytes").set(self.checkpoint_last_bytes as f64);
        counter!("paxos_store_checkpoint_bytes_total").absolute(self.checkpoint_total_bytes);
    }
}

impl AcceptorStore {
    /// Publish [`AcceptorStore::stats`] through the `metrics` facade (names
    /// and units in [the module docs](crate::metrics)). Cheap enough for a
    /// timer: a snapshot of atomics, then one facade call per metric.
    pub fn publish_metrics(&self) {
        self.stats().publish_metrics();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn le_labels_are_the_bucket_bounds_in_seconds() {
        for (i, le) in FSYNC_LE.iter().enumerate() {
            match SyncHistogram::bound(i) {
                Some(b) => assert_eq!(le.parse::<f64>().unwrap(), b.as_secs_f64()),
                None => assert_eq!(*le, "+Inf"),
            }
        }
        assert_eq!(SyncHistogram::bound(0), Some(Duration::from_micros(16)));
    }
}
