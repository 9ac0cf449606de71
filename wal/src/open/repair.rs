//! The repair: doing what the table decided, and handing the log over.
//!
//! Whatever recovery acts on must outlive what it erases: before erasing,
//! it writes the watermark it used into a kept segment's header and syncs
//! it, and it records the erase in the manifest so that an erase whose sync
//! failed is redone in full by the next open (fault cases 12-13, "The erase
//! protocol" in `FORMAT.md`). Under `Salvage` it zeroes the unreadable ranges
//! of the last segment, so that old records there cannot resurface over new
//! ones once the read error is gone. Everything kept is made durable before
//! the log takes a record.

use super::classify::{decide, unexpected, Action, Finding, Refusal};
use super::scan::read_range;
use super::survey::Found;
use super::walk::{End, Walk};
use super::{io_err, Recovered};
use crate::error::{Error, Result};
use crate::format::{frame_len, Lsn, WatermarkSlot, WATERMARK_SLOTS};
use crate::manifest::{self, Manifest};
use crate::report::{OpenReport, SegmentInfo, TornTail};
use crate::segment::{Prepared, Segment};
use crate::storage::{Storage, StorageFile, PAGE_SIZE};
use crate::CorruptionPolicy;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use zerocopy::IntoBytes;

/// Erase `[from, size)` of a segment: zero every non-zero byte, and every
/// page that could not be read (it reads as zeros, but may still hold stale
/// records that a later read finds once the error is gone), then sync.
/// Returns how many non-zero bytes were erased (unreadable ones not counted).
fn erase_from(file: &dyn StorageFile, path: &Path, from: u64, size: u64) -> Result<u64> {
    let (buf, unreadable) = read_range(file, path, from, size)?;
    let mut erased = 0u64;
    let mut wrote = false;
    let zeros = vec![0u8; PAGE_SIZE];
    let mut o = 0usize;
    while o < buf.len() {
        let end = (o + PAGE_SIZE).min(buf.len());
        let n = buf[o..end].iter().filter(|b| **b != 0).count() as u64;
        let (start, stop) = (from + o as u64, from + end as u64);
        let bad = unreadable.iter().any(|u| u.start < stop && start < u.end);
        if n > 0 || bad {
            erased += n;
            wrote = true;
            file.write_all_at(&zeros[..end - o], start).map_err(io_err("erasing torn tail", path))?;
        }
        o = end;
    }
    if wrote {
        file.sync_data().map_err(io_err("syncing erased tail", path))?;
    }
    Ok(erased)
}

/// Zero `[from, size)` of a segment whatever the page cache shows, then
/// sync: the redo of an erase that an earlier open could not prove durable.
/// After a failed sync the cache may show zeros that never reached the
/// disk (the pages were marked clean), so reading first would erase nothing.
pub(super) fn zero_all_from(file: &dyn StorageFile, path: &Path, from: u64, size: u64) -> Result<()> {
    let whole_tail = from..size;
    zero_ranges(file, path, std::slice::from_ref(&whole_tail), "redoing torn-tail erase")?;
    file.sync_data().map_err(io_err("syncing redone erase", path))
}

/// Erase a segment's tail from `from` on, after first recording the erase in
/// the manifest (which then names this segment as the last one): if the
/// erase's sync fails, or the process dies, the next open redoes it in full
/// before it reads anything (fault cases 12-13). Returns the bytes erased.
fn erase_tail(storage: &Arc<dyn Storage>, dir: &Path, seg: &Found, from: u64) -> Result<u64> {
    let intent =
        Manifest { log_id: seg.log_id, last_seq: seg.seq, last_first_lsn: seg.first_lsn, erase: Some((seg.seq, from)) };
    manifest::write(&**storage, dir, &intent)?;
    erase_from(&*seg.file, &seg.path, from, seg.size)
}

/// Write a watermark slot carrying `watermark` into a kept segment's header
/// page and sync it, before recovery erases anything the watermark was read
/// from. Either slot may be overwritten: recovery takes the larger of the two
/// and `watermark` is already the largest evidence found.
fn persist_watermark(seg: &Found, watermark: Lsn) -> Result<()> {
    let slot = WatermarkSlot::new(seg.seq, 0, watermark);
    seg.file.write_all_at(slot.as_bytes(), WATERMARK_SLOTS[0]).map_err(io_err("writing watermark", &seg.path))?;
    seg.file.sync_data().map_err(io_err("syncing watermark", &seg.path))
}

/// Overwrite each range with zeros (not synced: the caller syncs).
fn zero_ranges(file: &dyn StorageFile, path: &Path, ranges: &[Range<u64>], op: &'static str) -> Result<()> {
    let zeros = vec![0u8; (ranges.iter().map(|r| r.end - r.start).max().unwrap_or(0)).min(1 << 20) as usize];
    for r in ranges {
        let mut at = r.start;
        while at < r.end {
            let n = (r.end - at).min(zeros.len() as u64);
            file.write_all_at(&zeros[..n as usize], at).map_err(io_err(op, path))?;
            at += n;
        }
    }
    Ok(())
}

/// Write back, unchanged, the kept frames of a segment whose LSN is above
/// `watermark` (coalescing adjacent frames), so that the next sync really
/// carries them to the disk.
fn rewrite_above(
    file: &dyn StorageFile,
    path: &Path,
    first_lsn: Lsn,
    offsets: &[u32],
    frames: &[(u64, Lsn, u32)],
    watermark: Lsn,
) -> Result<()> {
    let mut ranges: Vec<Range<u64>> = Vec::new();
    for &(off, lsn, len) in frames {
        let kept = lsn >= first_lsn && offsets.get((lsn - first_lsn) as usize) == Some(&(off as u32));
        if !kept || lsn <= watermark {
            continue;
        }
        let r = off..off + frame_len(len as usize);
        match ranges.last_mut() {
            Some(last) if last.end == r.start => last.end = r.end,
            _ => ranges.push(r),
        }
    }
    for r in ranges {
        let (buf, unreadable) = read_range(file, path, r.start, r.end)?;
        if !unreadable.is_empty() {
            // They were read once already; do not write zeros over them.
            return Err(Error::io("re-reading unsynced records", path, std::io::Error::from_raw_os_error(libc::EIO)));
        }
        file.write_all_at(&buf, r.start).map_err(io_err("rewriting unsynced records", path))?;
    }
    Ok(())
}

/// Do what the table says about how the log ends and about what it keeps,
/// make everything kept durable, and hand the log over. The damage the
/// policy refuses was refused before this.
#[allow(clippy::too_many_arguments)]
pub(super) fn repair(
    storage: &Arc<dyn Storage>,
    dir: &Path,
    manifest: Option<Manifest>,
    mut found: Vec<Found>,
    walk: Walk,
    watermark: Lsn,
    policy: CorruptionPolicy,
    mut report: OpenReport,
    spare: Option<(u64, Prepared)>,
) -> Result<Recovered> {
    let Walk { mut offsets, mut ends, next_lsn, end, .. } = walk;
    // Whether the manifest on disk now asks for an erase (cleared at the end).
    let mut erase_recorded = false;
    match end {
        End::Clean => match decide(Finding::CleanEnd, policy) {
            Action::Keep => {}
            a => unexpected(Finding::CleanEnd, a),
        },
        End::LostAcked { dirty } => match decide(Finding::LostAckedTail, policy) {
            // The walk left the holes; new records go after them.
            Action::HoleAndEraseTail => {
                if dirty {
                    let (seg, end) = (found.last().expect("at least one segment"), *ends.last().expect("walked"));
                    persist_watermark(seg, watermark)?;
                    erase_tail(storage, dir, seg, end)?;
                    erase_recorded = true;
                }
            }
            a => unexpected(Finding::LostAckedTail, a),
        },
        End::Torn { seg: i, offset: off, lsn } => {
            let mut torn = TornTail {
                segment: found[i].path.clone(),
                offset: off,
                lsn,
                bytes_discarded: 0,
                segments_removed: found[i + 1..].iter().map(|f| f.path.clone()).collect(),
            };
            match decide(Finding::TornTail, policy) {
                Action::Refuse(Refusal::TornTail) => return Err(Error::TornTail(torn)),
                Action::Cut => {}
                a => unexpected(Finding::TornTail, a),
            }
            // Cut the torn tail: erase it in its segment, remove later
            // segments. The watermark may come from a record in the tail
            // about to be erased (when the slots are damaged): record it
            // first, or the next open would see a lower one and take
            // reported holes for a torn tail.
            persist_watermark(&found[i], watermark)?;
            torn.bytes_discarded = erase_tail(storage, dir, &found[i], off)?;
            erase_recorded = true;
            for f in found.drain(i + 1..).rev() {
                storage.remove(&f.path).map_err(io_err("removing torn segment", &f.path))?;
            }
            if !torn.segments_removed.is_empty() {
                storage.sync_dir(dir).map_err(io_err("syncing directory", dir))?;
            }
            offsets.truncate(i + 1);
            ends.truncate(i + 1);
            ends[i] = off;
            debug_assert_eq!(next_lsn, lsn, "the walk ends where the tail is cut");
            report.torn_tail = Some(torn);
        }
    }

    // Everything that survived is made durable before anyone acts on it (a
    // process crash leaves unsynced records in the page cache). A sync alone
    // is not enough for records above the watermark: they may sit in pages
    // that a failed sync marked clean without writing them (a reopen after
    // `Error::Poisoned` in the same boot), or that were written through a
    // mapping (the seam promises only `Mapping::flush_range` covers those); a
    // sync of ours would skip those pages. So rewrite the kept
    // frames above the watermark first (at or below it, a completed sync
    // covered them).
    //
    // Under Salvage, the unreadable ranges of the last segment (the one new
    // records go to) are zeroed first: a hole there may hold old, unsynced
    // records that a later scan, once the read error is gone, would take for
    // the LSNs new records take. Their contents were never returned, and the
    // damage is in the report. (In earlier segments nothing new is written,
    // and a frame at or past the next segment's first LSN is rejected, so
    // what a read error there hides, the records of the hole themselves, is
    // left for a later read to find. Strict and TolerateTornTail keep no
    // holes and change nothing here.)
    match decide(Finding::UnreadableInLastSegment, policy) {
        Action::Zero => {
            if let Some(f) = found.last() {
                zero_ranges(&*f.file, &f.path, &f.unreadable, "zeroing unreadable range")?;
            }
        }
        Action::Keep => {}
        a => unexpected(Finding::UnreadableInLastSegment, a),
    }
    match decide(Finding::UnsyncedRecords, policy) {
        Action::Rewrite => {
            for (k, f) in found.iter().enumerate() {
                rewrite_above(&*f.file, &f.path, f.first_lsn, &offsets[k], &f.scan.frames, watermark)?;
            }
        }
        a => unexpected(Finding::UnsyncedRecords, a),
    }
    let log_id = found[0].log_id;
    let last = found.last().expect("at least one segment");
    let clean = Manifest { log_id, last_seq: last.seq, last_first_lsn: last.first_lsn, erase: None };
    let mut segments = Vec::with_capacity(found.len());
    for (f, offs) in found.into_iter().zip(offsets) {
        f.file.sync_data().map_err(io_err("syncing segment", &f.path))?;
        segments.push(Segment::new(f.path, f.file, f.seq, f.first_lsn, f.size, offs)?);
    }
    // Only now, with every repair synced, may the manifest stop asking for
    // an erase (nothing is appended before this returns).
    if erase_recorded || manifest != Some(clean) {
        manifest::write(&**storage, dir, &clean)?;
    }
    for (s, end) in segments.iter().zip(&ends) {
        report.segments.push(SegmentInfo {
            path: s.path.clone(),
            seq: s.seq,
            first_lsn: s.first_lsn,
            records: s.record_count(),
            bytes_used: *end,
            size: s.size,
        });
    }
    report.first_lsn = segments[0].first_lsn;
    report.last_lsn = next_lsn - 1;
    let write_offset = *ends.last().expect("at least one segment");
    Ok(Recovered { segments, log_id: Some(log_id), next_lsn, write_offset, watermark, report, spare })
}
