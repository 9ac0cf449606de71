//! The decision table of recovery: every kind of thing recovery can find in
//! a log directory, and what it does about it under each
//! [`CorruptionPolicy`].
//!
//! The scan ([`survey`](super::survey), [`walk`](super::walk)) only says
//! *what* it found, as a [`Finding`]; [`decide`] alone says what to do about
//! it, and the repair does that. A new kind of damage is a new row here, and
//! cannot be added without one (`row` matches every finding), nor without
//! its expectation in the test below, which checks every (finding, policy)
//! pair. Each row names the cases of `FAULT-MODEL.md` it answers. (The idea
//! is TigerBeetle's: the journal's recovery cases, `src/vsr/journal.zig`.)
//!
//! Two kinds of rows:
//! - *housekeeping* and *lost evidence* rows act the same under every
//!   policy: a crash's leftovers are tidied, a log that lost what proves how
//!   far it reached is refused (case 15: "under every policy");
//! - *damage* rows depend on the policy: `Strict` refuses any damage and
//!   changes no record, `TolerateTornTail` cuts an unacknowledged torn tail
//!   and refuses damage to acknowledged records, `Salvage` leaves holes for
//!   those and reports them.
//!
//! Not findings, because nothing is decided about them: a watermark slot
//! that does not decode (torn, or of an earlier life of the file, case 4)
//! is simply not evidence; a record of another segment (recycled, case 4)
//! fails its checksum and is part of whatever span of bad bytes it lies in.

use crate::CorruptionPolicy;

/// What recovery found: one kind of file, gap or damage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Finding {
    // --- The directory (the listing, before any segment is read) ---
    /// `LOCK`, `MANIFEST`, or a segment at or below the one the manifest
    /// names: the log's own files.
    LogFile,
    /// The first `prepare-N.tmp` that is full size and all zeros: a spare an
    /// earlier run prepared (case 3).
    Spare,
    /// Any other `prepare-N.tmp` (a crash while preparing) or `MANIFEST.tmp`
    /// (a crash while replacing the manifest) (cases 3, 14).
    UnfinishedTemp,
    /// A file whose name is not the log's (case 7).
    ForeignFile,
    /// A segment named past the one the manifest names: a roll-over a crash
    /// cut short, or segments a torn-tail cut removed that a power loss
    /// brought back. No record in it was acknowledged (cases 3, 13, 14).
    BeyondManifest,
    /// The segment the manifest names is not in the listing (case 15).
    LastSegmentMissing,

    // --- Segment headers ---
    /// The segment the manifest names is empty (0 bytes) or all zeros
    /// (case 15).
    LastSegmentEmptied,
    /// The segment the manifest names has another sequence number: another
    /// file under its name (case 15).
    LastSegmentReplaced,
    /// No manifest, and the last segment is empty or all zeros: a crash
    /// while the log was being created, before its first segment was in
    /// place (case 3).
    AbandonedSegment,
    /// A header that is unreadable, garbage, of another format version, or
    /// all zeros in a segment that is not the last one (cases 3, 7, 8).
    BadHeader,
    /// The header names another first LSN than the file name (cases 5, 7).
    MisnamedSegment,
    /// The file's length differs from the size its header gives, or the
    /// size is impossible: truncated or extended (case 7).
    ResizedSegment,
    /// The segment carries another log's id (case 7).
    ForeignSegment,
    /// The segment's sequence number does not follow the previous one's
    /// (case 7).
    SequenceOutOfOrder,
    /// The manifest records a torn-tail erase in progress in the last
    /// segment: an earlier recovery could not prove it durable (cases 12, 13).
    EraseInProgress,
    /// No manifest, but segments holding records: the evidence of how far
    /// the log reached is gone (case 15).
    ManifestMissing,
    /// No manifest and no record: a crash while the log was being created,
    /// after its first segment was in place (case 3).
    ManifestNotYetWritten,
    /// No segment at all: a new log (or one whose creation a crash undid).
    NoSegment,

    // --- The LSN walk: the first LSN that is not where it belongs ---
    /// A segment starts below the LSN the log had reached (case 7).
    Overlap,
    /// A gap, at or below the durable watermark, wider than the segment
    /// before it could hold (cases 7, 15).
    GapBeyondSegment,
    /// The durable watermark lies more than a segment past the end of the
    /// log (cases 7, 15).
    WatermarkBeyondEnd,
    /// A valid frame where another LSN belongs: a stale copy, a misdirected
    /// write, a frame past the next segment's first LSN (cases 4, 5).
    Misdirected,
    /// Bytes that are not a valid frame between two records, costing no LSN
    /// (case 6).
    StrayBytes,
    /// Bytes that are not a valid frame after the last record of a segment
    /// that is not the last one, where the next segment continues the LSNs
    /// (case 6).
    TrailingBytes,
    /// LSNs at or below the durable watermark that are damaged or missing
    /// inside the log: a bit flip, a lost or zeroed write, a read error, a
    /// missing segment in the middle (cases 1, 3, 6, 7, 8).
    DamagedAcked,
    /// LSNs at or below the durable watermark missing at the end of the log
    /// (cases 7, 8).
    LostAckedTail,
    /// The first LSN not where it belongs is above the durable watermark:
    /// nothing from it on was acknowledged. Inside a segment, at a segment's
    /// end before a gap, or non-zero bytes after the last record (cases 1,
    /// 2, 12, 13).
    TornTail,
    /// The last record is followed by zeros only.
    CleanEnd,

    // --- What is kept ---
    /// Ranges of the last segment (where new records go) that could not be
    /// read: what they hide could resurface once the read error is gone
    /// (case 8).
    UnreadableInLastSegment,
    /// Kept records above the durable watermark: no completed sync proves
    /// them on disk, and a failed sync may have marked their pages clean
    /// without writing them (case 12).
    UnsyncedRecords,
}

/// Why an open is refused: the error it returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Refusal {
    /// [`Error::LostSegment`](crate::Error::LostSegment).
    LostSegment,
    /// [`Error::BadSegment`](crate::Error::BadSegment).
    BadSegment,
    /// [`Error::MissingManifest`](crate::Error::MissingManifest).
    MissingManifest,
    /// [`Error::Corruption`](crate::Error::Corruption), with every damaged
    /// range whose finding refuses so.
    Corruption,
    /// [`Error::TornTail`](crate::Error::TornTail). Checked after the
    /// corruption refusals: damage wins over a torn tail.
    TornTail,
}

/// What recovery does about a finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Action {
    /// Leave it as it is; nothing to repair or report.
    Keep,
    /// Keep the file as the next segment (not zeroed again).
    KeepAsSpare,
    /// Leave the file alone and list it in the report.
    Ignore,
    /// Remove the file, sync the directory, and report it. (Segments past
    /// the manifest are removed only once the segment it names proved
    /// intact.)
    Remove,
    /// Zero the recorded range again, whatever the page cache shows, and
    /// sync, before the segment is read.
    RedoErase,
    /// Make a new log.
    Create,
    /// Report the damaged bytes (no LSN is lost) and skip them.
    Report,
    /// Leave holes for the LSNs, report them, and go on.
    Hole,
    /// As `Hole`; and if non-zero bytes follow the last record, erase them
    /// (under the erase protocol) before new records take the next LSNs.
    HoleAndEraseTail,
    /// Erase from the first missing LSN on, under the erase protocol: record
    /// the watermark, zero and sync the tail, remove later segments; report
    /// the torn tail.
    Cut,
    /// Write zeros over the ranges (synced with the segment).
    Zero,
    /// Write the records back unchanged, so that the sync that follows
    /// really carries them.
    Rewrite,
    /// Refuse to open.
    Refuse(Refusal),
}

/// One row: the fault-model cases it answers and the action under each policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Row {
    /// Case numbers of `FAULT-MODEL.md` ("Cases every crash test suite names").
    pub cases: &'static [u8],
    pub strict: Action,
    pub tolerate: Action,
    pub salvage: Action,
}

/// The same action under every policy.
const fn all(cases: &'static [u8], a: Action) -> Row {
    Row { cases, strict: a, tolerate: a, salvage: a }
}

/// The table. One arm per finding (the match is exhaustive).
pub(super) const fn row(f: Finding) -> Row {
    use Action::*;
    use Finding as F;
    use Refusal::*;
    match f {
        F::LogFile => all(&[], Keep),
        F::Spare => all(&[3], KeepAsSpare),
        F::UnfinishedTemp => all(&[3, 14], Remove),
        F::ForeignFile => all(&[7], Ignore),
        F::BeyondManifest => all(&[3, 13, 14], Remove),
        F::LastSegmentMissing => all(&[15], Refuse(LostSegment)),
        F::LastSegmentEmptied => all(&[15], Refuse(LostSegment)),
        F::LastSegmentReplaced => all(&[15], Refuse(LostSegment)),
        F::AbandonedSegment => all(&[3], Remove),
        F::BadHeader => all(&[3, 7, 8], Refuse(BadSegment)),
        F::MisnamedSegment => all(&[5, 7], Refuse(BadSegment)),
        F::ResizedSegment => all(&[7], Refuse(BadSegment)),
        F::ForeignSegment => all(&[7], Refuse(BadSegment)),
        F::SequenceOutOfOrder => all(&[7], Refuse(BadSegment)),
        F::EraseInProgress => all(&[12, 13], RedoErase),
        F::ManifestMissing => all(&[15], Refuse(MissingManifest)),
        F::ManifestNotYetWritten => all(&[3], Keep),
        F::NoSegment => all(&[3], Create),
        F::Overlap => all(&[7], Refuse(BadSegment)),
        F::GapBeyondSegment => all(&[7, 15], Refuse(BadSegment)),
        F::WatermarkBeyondEnd => all(&[7, 15], Refuse(BadSegment)),
        F::Misdirected => Row { cases: &[4, 5], strict: Refuse(Corruption), tolerate: Report, salvage: Report },
        F::StrayBytes => Row { cases: &[6], strict: Refuse(Corruption), tolerate: Report, salvage: Report },
        // As `StrayBytes` (the same bytes between two records): no record is
        // lost, but the log never writes there, so it is damage: `Strict`
        // refuses it, the others report it.
        F::TrailingBytes => Row { cases: &[6], strict: Refuse(Corruption), tolerate: Report, salvage: Report },
        F::DamagedAcked => {
            Row { cases: &[1, 3, 6, 7, 8], strict: Refuse(Corruption), tolerate: Refuse(Corruption), salvage: Hole }
        }
        F::LostAckedTail => {
            Row { cases: &[7, 8], strict: Refuse(Corruption), tolerate: Refuse(Corruption), salvage: HoleAndEraseTail }
        }
        F::TornTail => Row { cases: &[1, 2, 12, 13], strict: Refuse(TornTail), tolerate: Cut, salvage: Cut },
        F::CleanEnd => all(&[], Keep),
        F::UnreadableInLastSegment => Row { cases: &[8], strict: Keep, tolerate: Keep, salvage: Zero },
        F::UnsyncedRecords => all(&[12], Rewrite),
    }
}

/// A finding that reached code that cannot carry out `a`: the table was
/// changed without the code that acts on that row.
#[track_caller]
pub(super) fn unexpected(f: Finding, a: Action) -> ! {
    unreachable!("recovery has no way to {a:?} for {f:?}: the decision table and the code disagree")
}

/// What recovery does about `f` under `policy`.
pub(super) const fn decide(f: Finding, policy: CorruptionPolicy) -> Action {
    let r = row(f);
    match policy {
        CorruptionPolicy::Strict => r.strict,
        CorruptionPolicy::TolerateTornTail => r.tolerate,
        CorruptionPolicy::Salvage => r.salvage,
    }
}

#[cfg(test)]
mod tests {
    use super::Action::*;
    use super::Finding as F;
    use super::Refusal::*;
    use super::*;
    use CorruptionPolicy::{Salvage, Strict, TolerateTornTail as Tolerate};

    const POLICIES: [CorruptionPolicy; 3] = [Strict, Tolerate, Salvage];

    /// Every finding, in declaration order.
    const FINDINGS: [Finding; 30] = [
        F::LogFile,
        F::Spare,
        F::UnfinishedTemp,
        F::ForeignFile,
        F::BeyondManifest,
        F::LastSegmentMissing,
        F::LastSegmentEmptied,
        F::LastSegmentReplaced,
        F::AbandonedSegment,
        F::BadHeader,
        F::MisnamedSegment,
        F::ResizedSegment,
        F::ForeignSegment,
        F::SequenceOutOfOrder,
        F::EraseInProgress,
        F::ManifestMissing,
        F::ManifestNotYetWritten,
        F::NoSegment,
        F::Overlap,
        F::GapBeyondSegment,
        F::WatermarkBeyondEnd,
        F::Misdirected,
        F::StrayBytes,
        F::TrailingBytes,
        F::DamagedAcked,
        F::LostAckedTail,
        F::TornTail,
        F::CleanEnd,
        F::UnreadableInLastSegment,
        F::UnsyncedRecords,
    ];

    /// The position of `f` in `FINDINGS`. Exhaustive: a new finding does
    /// not compile until it is listed here, and then `FINDINGS` must hold it.
    fn index(f: Finding) -> usize {
        match f {
            F::LogFile => 0,
            F::Spare => 1,
            F::UnfinishedTemp => 2,
            F::ForeignFile => 3,
            F::BeyondManifest => 4,
            F::LastSegmentMissing => 5,
            F::LastSegmentEmptied => 6,
            F::LastSegmentReplaced => 7,
            F::AbandonedSegment => 8,
            F::BadHeader => 9,
            F::MisnamedSegment => 10,
            F::ResizedSegment => 11,
            F::ForeignSegment => 12,
            F::SequenceOutOfOrder => 13,
            F::EraseInProgress => 14,
            F::ManifestMissing => 15,
            F::ManifestNotYetWritten => 16,
            F::NoSegment => 17,
            F::Overlap => 18,
            F::GapBeyondSegment => 19,
            F::WatermarkBeyondEnd => 20,
            F::Misdirected => 21,
            F::StrayBytes => 22,
            F::TrailingBytes => 23,
            F::DamagedAcked => 24,
            F::LostAckedTail => 25,
            F::TornTail => 26,
            F::CleanEnd => 27,
            F::UnreadableInLastSegment => 28,
            F::UnsyncedRecords => 29,
        }
    }

    /// What each (finding, policy) pair is expected to do, written out
    /// independently of `row`: (Strict, TolerateTornTail, Salvage).
    fn expected(f: Finding) -> [Action; 3] {
        let every = |a| [a, a, a];
        match f {
            F::LogFile | F::ManifestNotYetWritten | F::CleanEnd => every(Keep),
            F::Spare => every(KeepAsSpare),
            F::UnfinishedTemp | F::BeyondManifest | F::AbandonedSegment => every(Remove),
            F::ForeignFile => every(Ignore),
            F::LastSegmentMissing | F::LastSegmentEmptied | F::LastSegmentReplaced => every(Refuse(LostSegment)),
            F::BadHeader
            | F::MisnamedSegment
            | F::ResizedSegment
            | F::ForeignSegment
            | F::SequenceOutOfOrder
            | F::Overlap
            | F::GapBeyondSegment
            | F::WatermarkBeyondEnd => every(Refuse(BadSegment)),
            F::EraseInProgress => every(RedoErase),
            F::ManifestMissing => every(Refuse(MissingManifest)),
            F::NoSegment => every(Create),
            F::Misdirected | F::StrayBytes | F::TrailingBytes => [Refuse(Corruption), Report, Report],
            F::DamagedAcked => [Refuse(Corruption), Refuse(Corruption), Hole],
            F::LostAckedTail => [Refuse(Corruption), Refuse(Corruption), HoleAndEraseTail],
            F::TornTail => [Refuse(TornTail), Cut, Cut],
            F::UnreadableInLastSegment => [Keep, Keep, Zero],
            F::UnsyncedRecords => every(Rewrite),
        }
    }

    #[test]
    fn every_finding_is_listed_once() {
        for (i, f) in FINDINGS.iter().enumerate() {
            assert_eq!(index(*f), i, "{f:?} is out of place in FINDINGS");
        }
    }

    #[test]
    fn the_table_matches_the_expectation_for_every_finding_and_policy() {
        for f in FINDINGS {
            for (p, want) in POLICIES.iter().zip(expected(f)) {
                assert_eq!(decide(f, *p), want, "{f:?} under {p:?}");
            }
        }
    }

    #[test]
    fn every_row_names_fault_model_cases() {
        for f in FINDINGS {
            let cases = row(f).cases;
            // Rows that are no fault at all name none.
            let benign = matches!(f, F::LogFile | F::CleanEnd);
            assert_eq!(cases.is_empty(), benign, "{f:?}: {cases:?}");
            assert!(cases.iter().all(|c| (1..=21).contains(c)), "{f:?}: {cases:?}");
            assert!(cases.windows(2).all(|w| w[0] < w[1]), "{f:?}: {cases:?} not sorted");
        }
    }

    /// The promises of `CorruptionPolicy`'s documentation, for every row.
    #[test]
    fn the_policies_keep_their_documented_promises() {
        for f in FINDINGS {
            let [strict, tolerate, salvage] = POLICIES.map(|p| decide(f, p));
            // Strict: any damage is an error, and no record is cut or erased.
            assert!(!matches!(strict, Cut | Hole | HoleAndEraseTail | Report | Zero), "{f:?}: {strict:?}");
            // TolerateTornTail: cuts a torn tail, never leaves holes.
            assert!(!matches!(tolerate, Hole | HoleAndEraseTail | Zero), "{f:?}: {tolerate:?}");
            // Salvage: never refuses damage to records.
            assert!(!matches!(salvage, Refuse(Corruption | TornTail)), "{f:?}: {salvage:?}");
            // Only a torn tail is refused as a torn tail.
            for a in [strict, tolerate, salvage] {
                assert_eq!(a == Refuse(TornTail), f == F::TornTail && a == strict, "{f:?}: {a:?}");
            }
            // Lost evidence (case 15) and bad files are refused under every
            // policy alike.
            if matches!(strict, Refuse(LostSegment | BadSegment | MissingManifest)) {
                assert!(tolerate == strict && salvage == strict, "{f:?}");
            }
        }
    }
}
