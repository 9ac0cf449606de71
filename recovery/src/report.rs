//! The recovery report: what was found and done, for humans (`Display`) and
//! tools (serde).

use paxos_wal::{CorruptionPolicy, Damage, Lsn, TornTail};
use serde::Serialize;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// The snapshot recovery started from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SnapshotUsed {
    /// Its file.
    pub path: PathBuf,
    /// The last LSN it covers.
    pub position: Lsn,
    /// Payload bytes restored.
    pub payload_len: u64,
}

/// A snapshot that was not used, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SkippedSnapshot {
    /// Its file.
    pub path: PathBuf,
    /// Why it was skipped (damaged, or the log no longer continues it).
    pub reason: String,
}

/// How long each phase took (serialised as milliseconds: `open_log_ms`, ...).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Timings {
    /// Opening and validating the log.
    #[serde(rename = "open_log_ms", serialize_with = "as_ms")]
    pub open_log: Duration,
    /// Choosing, verifying and restoring the snapshot.
    #[serde(rename = "snapshot_ms", serialize_with = "as_ms")]
    pub snapshot: Duration,
    /// Replaying the log after it.
    #[serde(rename = "replay_ms", serialize_with = "as_ms")]
    pub replay: Duration,
    /// All of it.
    #[serde(rename = "total_ms", serialize_with = "as_ms")]
    pub total: Duration,
}

fn as_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1e3)
}

/// What [`crate::recover`] found and did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RecoveryReport {
    /// The corruption policy in force.
    pub policy: CorruptionPolicy,
    /// The snapshot used, if any.
    pub snapshot: Option<SnapshotUsed>,
    /// Newer (or unusable) snapshots skipped, and why.
    pub skipped_snapshots: Vec<SkippedSnapshot>,
    /// Records replayed after the snapshot.
    pub records_replayed: u64,
    /// Payload bytes replayed.
    pub bytes_replayed: u64,
    /// First and last LSN replayed.
    pub replayed_lsns: Option<(Lsn, Lsn)>,
    /// First LSN in the log after recovery.
    pub log_first_lsn: Lsn,
    /// Last LSN in the log after recovery.
    pub log_last_lsn: Lsn,
    /// The highest LSN the disk proved acknowledged.
    pub durable_watermark: Lsn,
    /// Live log segments.
    pub segments: usize,
    /// The unacknowledged torn tail that was cut, if any.
    pub torn_tail: Option<TornTail>,
    /// Damaged acknowledged records skipped (only under `Salvage`).
    pub damage: Vec<Damage>,
    /// Temporary files from an interrupted segment preparation, removed.
    pub removed_temp_files: Vec<String>,
    /// Unrelated files in the log directory, left alone.
    pub ignored_files: Vec<String>,
    /// An all-zero (or empty) last segment that was removed.
    pub dropped_empty_segment: Option<PathBuf>,
    /// Phase timings.
    pub timings: Timings,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

impl fmt::Display for RecoveryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "recovery ({:?} policy) in {:.1} ms", self.policy, ms(self.timings.total))?;
        match &self.snapshot {
            Some(s) => writeln!(
                f,
                "  snapshot:   {} (through lsn {}, {} bytes) in {:.1} ms",
                s.path.display(),
                s.position,
                s.payload_len,
                ms(self.timings.snapshot)
            )?,
            None => writeln!(f, "  snapshot:   none, replayed from the start of the log")?,
        }
        for s in &self.skipped_snapshots {
            writeln!(f, "  skipped:    {}: {}", s.path.display(), s.reason)?;
        }
        write!(f, "  log:        {} segment(s), lsns {}..={}", self.segments, self.log_first_lsn, self.log_last_lsn)?;
        writeln!(f, ", durable watermark {}, opened in {:.1} ms", self.durable_watermark, ms(self.timings.open_log))?;
        match self.replayed_lsns {
            Some((a, b)) => writeln!(
                f,
                "  replayed:   {} records ({} bytes), lsns {a}..={b}, in {:.1} ms",
                self.records_replayed,
                self.bytes_replayed,
                ms(self.timings.replay)
            )?,
            None => writeln!(f, "  replayed:   nothing")?,
        }
        match &self.torn_tail {
            Some(t) => writeln!(
                f,
                "  torn tail:  cut {} at offset {} from lsn {} ({} bytes erased, {} segment(s) removed)",
                t.segment.display(),
                t.offset,
                t.lsn,
                t.bytes_discarded,
                t.segments_removed.len()
            )?,
            None => writeln!(f, "  torn tail:  none")?,
        }
        for d in &self.damage {
            write!(
                f,
                "  DAMAGE:     {:?} in {} at offset {} ({} bytes)",
                d.kind,
                d.segment.display(),
                d.offset,
                d.len
            )?;
            match d.lsns {
                Some((a, b)) => writeln!(f, ", lsns {a}..={b} lost")?,
                None => writeln!(f, ", no record lost")?,
            }
        }
        for n in &self.removed_temp_files {
            writeln!(f, "  removed:    leftover {n}")?;
        }
        if let Some(p) = &self.dropped_empty_segment {
            writeln!(f, "  dropped:    all-zero last segment {}", p.display())?;
        }
        for n in &self.ignored_files {
            writeln!(f, "  ignored:    unrelated file {n}")?;
        }
        Ok(())
    }
}
