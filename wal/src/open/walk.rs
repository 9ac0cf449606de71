//! The walk over the LSNs: where each LSN of the log is, and every place
//! where the next one is not where it belongs, as a [`Finding`].
//!
//! For the first LSN `p` that is not where it belongs (bad checksum, zeros,
//! a frame of another segment or LSN, a missing segment), with D the durable
//! watermark:
//! - `p > D`: nothing from `p` on was acknowledged, so the rest of the log is
//!   a torn tail ([`Finding::TornTail`]);
//! - `p <= D`: acknowledged records are damaged or missing
//!   ([`Finding::DamagedAcked`], or [`Finding::LostAckedTail`] at the end of
//!   the log); the walk leaves holes for them and goes on.
//!
//! The walk does no I/O and changes nothing: what each finding costs is for
//! the table to say and the repair to do. It only refuses the findings that
//! make the log impossible to walk on (a segment that overlaps the one
//! before, a gap wider than a segment).

use super::classify::{decide, unexpected, Action, Finding, Refusal};
use super::survey::Found;
use super::{bad, capacity};
use crate::error::{Error, Result};
use crate::format::{frame_len, Lsn, HEADER_PAGE};
use crate::report::{Damage, DamageKind};
use crate::segment::HOLE;
use crate::CorruptionPolicy;
use std::collections::BTreeMap;

/// How the log ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum End {
    /// Zeros after the last record ([`Finding::CleanEnd`]).
    Clean,
    /// A torn tail from `lsn` on, cut at `offset` of segment `seg`
    /// ([`Finding::TornTail`]).
    Torn { seg: usize, offset: u64, lsn: Lsn },
    /// Acknowledged LSNs missing at the end of the log
    /// ([`Finding::LostAckedTail`]); `dirty`: non-zero bytes follow the last
    /// record.
    LostAcked { dirty: bool },
}

/// What the walk found.
pub(super) struct Walk {
    /// Per segment, the offset of each LSN's frame ([`HOLE`] for a hole).
    pub offsets: Vec<Vec<u32>>,
    /// Per segment, the first byte after its last record.
    pub ends: Vec<u64>,
    /// The next LSN the log hands out (past the holes of a lost tail).
    pub next_lsn: Lsn,
    /// Records found, and their payload bytes.
    pub records: u64,
    pub payload_bytes: u64,
    /// Every damaged range, in the order found, with its finding.
    pub damage: Vec<(Finding, Damage)>,
    pub end: End,
}

/// The error for a finding the table refuses as a bad segment.
fn refuse(f: Finding, policy: CorruptionPolicy, seg: &Found, reason: String) -> Error {
    match decide(f, policy) {
        Action::Refuse(Refusal::BadSegment) => bad(&seg.path, reason),
        a => unexpected(f, a),
    }
}

/// The damage of the LSNs `lsns`, which belong at `[from, to)` of `seg`: its
/// kind is that of the first bad span there (none: the records are missing).
fn gap(f: Finding, seg: &Found, from: u64, to: u64, lsns: (Lsn, Lsn)) -> (Finding, Damage) {
    let kind = seg
        .scan
        .spans
        .iter()
        .find(|(r, _)| r.start >= from && r.start < to.max(from + 1))
        .map_or(DamageKind::Missing, |(_, k)| *k);
    let len = if kind == DamageKind::Missing { 0 } else { to - from };
    (f, Damage { segment: seg.path.clone(), offset: from, len, lsns: Some(lsns), kind })
}

/// Whether `seg` holds bytes that are not valid frames past `end`.
fn dirty_after(seg: &Found, end: u64) -> bool {
    seg.scan.spans.iter().any(|(r, _)| r.end > end)
}

/// Walk the LSNs of `found` (non-empty, in order) against `watermark`.
pub(super) fn walk(found: &[Found], watermark: Lsn, policy: CorruptionPolicy) -> Result<Walk> {
    let mut w = Walk {
        offsets: Vec::with_capacity(found.len()),
        ends: Vec::with_capacity(found.len()),
        next_lsn: found[0].first_lsn,
        records: 0,
        payload_bytes: 0,
        damage: Vec::new(),
        end: End::Clean,
    };
    let mut expected = found[0].first_lsn;
    'segments: for (i, seg) in found.iter().enumerate() {
        if i > 0 && seg.first_lsn == expected && dirty_after(&found[i - 1], w.ends[i - 1]) {
            // The next segment continues the LSNs: bytes after the last
            // record of the one before cost no record, but the log never
            // writes there: damage, reported (or refused, as the table says).
            let (prev, end) = (&found[i - 1], w.ends[i - 1]);
            for (r, kind) in prev.scan.spans.iter().filter(|(r, _)| r.end > end) {
                let start = r.start.max(end);
                let d =
                    Damage { segment: prev.path.clone(), offset: start, len: r.end - start, lsns: None, kind: *kind };
                w.damage.push((Finding::TrailingBytes, d));
            }
        }
        if i > 0 && seg.first_lsn != expected {
            if seg.first_lsn < expected {
                let reason = format!("starts at lsn {} but the log reached {}", seg.first_lsn, expected);
                return Err(refuse(Finding::Overlap, policy, seg, reason));
            }
            let prev = &found[i - 1];
            let end = w.ends[i - 1];
            if expected > watermark {
                w.end = End::Torn { seg: i - 1, offset: end, lsn: expected };
                break 'segments;
            }
            if seg.first_lsn - expected > capacity(prev.size) {
                return Err(refuse(
                    Finding::GapBeyondSegment,
                    policy,
                    seg,
                    "a gap larger than a segment before it".into(),
                ));
            }
            w.damage.push(gap(Finding::DamagedAcked, prev, end, prev.size, (expected, seg.first_lsn - 1)));
            w.offsets[i - 1].extend(std::iter::repeat_n(HOLE, (seg.first_lsn - expected) as usize));
            expected = seg.first_lsn;
        }
        let mut offs = Vec::with_capacity(seg.scan.frames.len());
        let mut end = HEADER_PAGE;
        let cap = capacity(seg.size);
        // LSNs of the frames not walked yet: a frame ahead of the expected
        // LSN is a stale or misdirected copy, not the end of a hole, when a
        // later frame still carries an LSN in between.
        let mut ahead: BTreeMap<Lsn, usize> = BTreeMap::new();
        for &(_, lsn, _) in &seg.scan.frames {
            *ahead.entry(lsn).or_default() += 1;
        }
        for &(off, lsn, len) in &seg.scan.frames {
            if let Some(n) = ahead.get_mut(&lsn) {
                *n -= 1;
                if *n == 0 {
                    ahead.remove(&lsn);
                }
            }
            let shadowing = lsn > expected && ahead.range(expected..lsn).next().is_some();
            // The next segment starts at its first LSN: a frame here at or
            // past it is a stale or misdirected copy.
            let beyond = found.get(i + 1).is_some_and(|next| lsn >= next.first_lsn);
            if lsn < expected || lsn - seg.first_lsn >= cap || shadowing || beyond {
                let d = Damage {
                    segment: seg.path.clone(),
                    offset: off,
                    len: frame_len(len as usize),
                    lsns: None,
                    kind: DamageKind::Misdirected,
                };
                w.damage.push((Finding::Misdirected, d));
                continue;
            }
            if lsn > expected {
                if expected > watermark {
                    w.offsets.push(offs);
                    w.ends.push(end);
                    w.end = End::Torn { seg: i, offset: end, lsn: expected };
                    break 'segments;
                }
                w.damage.push(gap(Finding::DamagedAcked, seg, end, off, (expected, lsn - 1)));
                offs.extend(std::iter::repeat_n(HOLE, (lsn - expected) as usize));
                expected = lsn;
            }
            offs.push(off as u32);
            end = off + frame_len(len as usize);
            expected += 1;
            w.records += 1;
            w.payload_bytes += len as u64;
        }
        // Bad bytes between records, costing no LSN.
        for (r, kind) in &seg.scan.spans {
            let covered =
                |d: &Damage| d.segment == seg.path && d.offset <= r.start && r.start < d.offset + d.len.max(1);
            if r.end <= end && !w.damage.iter().any(|(_, d)| covered(d)) {
                let d = Damage {
                    segment: seg.path.clone(),
                    offset: r.start,
                    len: r.end - r.start,
                    lsns: None,
                    kind: *kind,
                };
                w.damage.push((Finding::StrayBytes, d));
            }
        }
        w.offsets.push(offs);
        w.ends.push(end);
    }
    if w.end == End::Clean {
        let last = found.len() - 1;
        let seg = &found[last];
        let end = w.ends[last];
        let dirty = dirty_after(seg, end);
        if expected <= watermark {
            // Acknowledged records are missing at the end of the log.
            if watermark - expected > capacity(seg.size) {
                let reason = "durable watermark far beyond the end of the log".into();
                return Err(refuse(Finding::WatermarkBeyondEnd, policy, seg, reason));
            }
            w.damage.push(gap(Finding::LostAckedTail, seg, end, seg.size, (expected, watermark)));
            // Holes, in case the policy goes on (only `Salvage` does).
            w.offsets[last].extend(std::iter::repeat_n(HOLE, (watermark + 1 - expected) as usize));
            expected = watermark + 1;
            w.end = End::LostAcked { dirty };
        } else if dirty {
            w.end = End::Torn { seg: last, offset: end, lsn: expected };
        }
    }
    w.next_lsn = expected;
    Ok(w)
}
