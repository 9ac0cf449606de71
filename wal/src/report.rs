//! What opening a log found and did.

use crate::format::Lsn;
use std::fmt;
use std::path::PathBuf;

/// What is wrong with a damaged range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum DamageKind {
    /// Bytes that do not form valid records (checksum, magic or length wrong).
    Checksum,
    /// A valid record at a position where another LSN belongs (misdirected
    /// or duplicated write).
    Misdirected,
    /// Records that should be there are absent (a hole, a missing segment,
    /// or acknowledged records missing at the end of the log).
    Missing,
    /// The disk returned an error when the range was read.
    ReadError,
}

/// A damaged range of acknowledged records.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Damage {
    /// The segment file.
    pub segment: PathBuf,
    /// Byte offset in the segment where the damage starts.
    pub offset: u64,
    /// Bytes affected (0 when records are missing rather than damaged).
    pub len: u64,
    /// The LSNs lost, first and last (inclusive); `None` when the damage hit
    /// no record that belongs to the log (garbage between valid records).
    pub lsns: Option<(Lsn, Lsn)>,
    /// What kind of damage.
    pub kind: DamageKind,
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} in {} at offset {}", self.kind, self.segment.display(), self.offset)?;
        if self.len > 0 {
            write!(f, " ({} bytes)", self.len)?;
        }
        match self.lsns {
            Some((a, b)) if a == b => write!(f, ", lsn {a}"),
            Some((a, b)) => write!(f, ", lsns {a}..={b}"),
            None => write!(f, ", no record lost"),
        }
    }
}

/// An unacknowledged tail that was cut off.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct TornTail {
    /// The segment where the cut was made.
    pub segment: PathBuf,
    /// Byte offset of the cut.
    pub offset: u64,
    /// The first LSN that is no longer in the log (the next one appended).
    pub lsn: Lsn,
    /// Non-zero bytes that were erased at and after the cut.
    pub bytes_discarded: u64,
    /// Whole segments after the cut that were removed.
    pub segments_removed: Vec<PathBuf>,
}

impl fmt::Display for TornTail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cut {} at offset {} from lsn {} ({} bytes erased, {} later segment(s) removed)",
            self.segment.display(),
            self.offset,
            self.lsn,
            self.bytes_discarded,
            self.segments_removed.len()
        )
    }
}

/// One segment of an opened log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    /// The file.
    pub path: PathBuf,
    /// Its sequence number.
    pub seq: u64,
    /// Its first LSN.
    pub first_lsn: Lsn,
    /// Records (holes included) it holds.
    pub records: u64,
    /// Bytes used by the header page and records.
    pub bytes_used: u64,
    /// Size of the file.
    pub size: u64,
}

/// What [`crate::Wal::open`] found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// The live segments after opening.
    pub segments: Vec<SegmentInfo>,
    /// First LSN in the log (0 if the log is empty and starts at 1).
    pub first_lsn: Lsn,
    /// Last LSN in the log (first_lsn - 1 if it is empty).
    pub last_lsn: Lsn,
    /// Valid records found.
    pub records: u64,
    /// Payload bytes of the valid records.
    pub payload_bytes: u64,
    /// The highest LSN the disk proves was acknowledged as durable: damage at
    /// or below it is corruption, never a torn tail.
    pub durable_watermark: Lsn,
    /// The unacknowledged tail that was cut, if any.
    pub torn_tail: Option<TornTail>,
    /// Damage to acknowledged records (only under `Salvage`; the other
    /// policies fail instead). Those LSNs read as holes.
    pub damage: Vec<Damage>,
    /// Leftover temporary files (a crash while preparing a segment) removed.
    pub removed_temp_files: Vec<String>,
    /// Files in the directory that are not the log's, left alone.
    pub ignored_files: Vec<String>,
    /// An empty (all-zero) last segment that was removed (only beyond the
    /// segment the manifest names: that one must be intact).
    pub dropped_empty_segment: Option<PathBuf>,
    /// Segments that lie beyond the last one the manifest names, removed:
    /// a roll-over cut short by a crash before its segment took a record,
    /// or segments a torn-tail cut had removed, back after a power loss.
    pub segments_beyond_manifest: Vec<PathBuf>,
    /// A torn-tail erase that an earlier open began and could not prove
    /// durable (a failed sync, a crash), redone in full: the segment and the
    /// offset from which it was zeroed.
    pub erase_redone: Option<(PathBuf, u64)>,
    /// Whether the log was newly created.
    pub created: bool,
}

impl fmt::Display for OpenReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.created {
            return write!(f, "new log created");
        }
        write!(
            f,
            "{} segment(s), lsns {}..={}, {} records ({} payload bytes), durable watermark {}",
            self.segments.len(),
            self.first_lsn,
            self.last_lsn,
            self.records,
            self.payload_bytes,
            self.durable_watermark
        )?;
        if let Some(t) = &self.torn_tail {
            write!(f, "; torn tail: {t}")?;
        }
        for d in &self.damage {
            write!(f, "; damage: {d}")?;
        }
        if !self.removed_temp_files.is_empty() {
            write!(f, "; removed temp files {:?}", self.removed_temp_files)?;
        }
        if !self.ignored_files.is_empty() {
            write!(f, "; ignored files {:?}", self.ignored_files)?;
        }
        if let Some(p) = &self.dropped_empty_segment {
            write!(f, "; dropped empty segment {}", p.display())?;
        }
        for p in &self.segments_beyond_manifest {
            write!(f, "; removed segment beyond the manifest {}", p.display())?;
        }
        if let Some((p, off)) = &self.erase_redone {
            write!(f, "; redid an interrupted torn-tail erase of {} from offset {off}", p.display())?;
        }
        Ok(())
    }
}
