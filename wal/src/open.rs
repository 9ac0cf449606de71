//! Opening a log after a clean shutdown or a crash: scan every segment,
//! validate every record, find the durable watermark, and tell a torn tail
//! (cut) from damage to acknowledged records (reported, never cut silently).
//!
//! The scan reads segments with `pread`, not through the mapping, so a disk
//! read error becomes a reported damaged range rather than a SIGBUS.
//!
//! Classification, for the first LSN `p` that is not where it belongs:
//! - `p > D` (D = the durable watermark, the highest LSN the disk proves was
//!   covered by a completed sync): nothing at or after `p` was acknowledged,
//!   so everything from `p` on is a torn tail. It is erased (zeroed and
//!   synced, later segments removed) so it can never resurface.
//! - `p <= D`: acknowledged records are damaged or missing. `Strict` and
//!   `TolerateTornTail` fail with the damaged ranges; `Salvage` records the
//!   missing LSNs as holes, reports them, and goes on.
//!
//! Whatever recovery acts on must outlive what it erases: before erasing,
//! it writes the watermark it used into a kept segment's header and syncs
//! it; and under `Salvage` it zeroes the unreadable ranges of the last
//! segment, so that old records there cannot resurface over new ones once
//! the read error is gone.

use crate::error::{Error, Result};
use crate::format::{
    decode_record, frame_len, parse_segment_name, segment_name, FrameError, Lsn, SegmentHeader, WatermarkSlot,
    HEADER_PAGE, MANIFEST_FILE, MANIFEST_TEMP, RECORD_HEADER_LEN, RECORD_MAGIC, TEMP_SUFFIX, WATERMARK_LEN,
    WATERMARK_SLOTS,
};
use crate::manifest::{self, Manifest};
use crate::report::{Damage, DamageKind, OpenReport, SegmentInfo, TornTail};
use crate::segment::{Prepared, Segment, HOLE};
use crate::storage::{OpenOptions, Storage, StorageFile, PAGE_SIZE};
use crate::{CorruptionPolicy, LOCK_FILE};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zerocopy::IntoBytes;

/// The state of the log on disk after recovery.
pub(crate) struct Recovered {
    pub segments: Vec<Segment>,
    /// The log's identity, from its segments (`None`: no segment left).
    pub log_id: Option<u64>,
    pub next_lsn: Lsn,
    pub write_offset: u64,
    pub watermark: Lsn,
    pub report: OpenReport,
    /// A pre-zeroed spare an earlier run left, full size and all zeros: the
    /// next segment, instead of zeroing a new one. With its number.
    pub spare: Option<(u64, Prepared)>,
}

/// One segment file found on disk, header checked.
struct Found {
    path: PathBuf,
    file: Arc<dyn StorageFile>,
    seq: u64,
    log_id: u64,
    first_lsn: Lsn,
    size: u64,
    scan: Scan,
    /// Byte ranges (file offsets) of the body that could not be read.
    unreadable: Vec<Range<u64>>,
}

/// What the scan of one segment found.
#[derive(Default)]
struct Scan {
    /// Valid frames: (file offset, lsn, payload length).
    frames: Vec<(u64, Lsn, u32)>,
    /// Byte ranges that are not valid frames (file offsets), with their kind.
    spans: Vec<(Range<u64>, DamageKind)>,
    max_acked: Lsn,
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |e| Error::io(op, path, e)
}

fn bad(path: &Path, reason: impl Into<String>) -> Error {
    Error::BadSegment { path: path.to_path_buf(), reason: reason.into() }
}

/// The most LSNs a segment of `size` bytes can hold.
fn capacity(size: u64) -> u64 {
    (size - HEADER_PAGE) / frame_len(0)
}

/// Read `[start, end)` of a file into a buffer; ranges that fail with a read
/// error are zero-filled and returned.
fn read_range(file: &dyn StorageFile, path: &Path, start: u64, end: u64) -> Result<(Vec<u8>, Vec<Range<u64>>)> {
    const CHUNK: u64 = 1 << 20;
    let mut buf = vec![0u8; (end - start) as usize];
    let mut unreadable = Vec::new();
    let mut off = start;
    while off < end {
        let n = (end - off).min(CHUNK);
        let dst = &mut buf[(off - start) as usize..(off - start + n) as usize];
        match file.read_exact_at(dst, off) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EIO) => {
                // Retry sector by sector to narrow the unreadable range.
                let mut s = off;
                while s < off + n {
                    let m = (off + n - s).min(512);
                    let d = &mut buf[(s - start) as usize..(s - start + m) as usize];
                    if file.read_exact_at(d, s).is_err() {
                        d.fill(0);
                        match unreadable.last_mut() {
                            Some(r @ Range { .. }) if r.end == s => r.end = s + m,
                            _ => unreadable.push(s..s + m),
                        }
                    }
                    s += m;
                }
            }
            Err(e) => return Err(Error::io("reading segment", path, e)),
        }
        off += n;
    }
    Ok((buf, unreadable))
}

/// Find the next valid frame at or after `from` (an offset into `body`).
fn resync(body: &[u8], from: usize, seq: u64) -> Option<usize> {
    let magic = RECORD_MAGIC.to_le_bytes();
    let mut o = from.next_multiple_of(8);
    while o + RECORD_HEADER_LEN <= body.len() {
        // Skip whole zero pages quickly (the unused end of a segment).
        if o % PAGE_SIZE == 0 && o + PAGE_SIZE <= body.len() && body[o..o + PAGE_SIZE].iter().all(|b| *b == 0) {
            o += PAGE_SIZE;
            continue;
        }
        if body[o..o + 4] == magic && decode_record(&body[o..], seq).is_ok() {
            return Some(o);
        }
        o += 8;
    }
    None
}

/// Scan the records of one segment. `body` holds the bytes from `HEADER_PAGE`.
fn scan(body: &[u8], seq: u64, unreadable: &[Range<u64>]) -> Scan {
    let mut s = Scan::default();
    let at = |o: usize| HEADER_PAGE + o as u64;
    let mut o = 0usize;
    while o + RECORD_HEADER_LEN <= body.len() {
        let r = decode_record(&body[o..], seq);
        if let Ok(f) = r {
            let end = at(o) + frame_len(f.len as usize);
            if !unreadable.iter().any(|u| u.start < end && at(o) < u.end) {
                s.frames.push((at(o), f.lsn, f.len));
                s.max_acked = s.max_acked.max(f.acked);
                o += frame_len(f.len as usize) as usize;
                continue;
            }
        }
        let next = resync(body, o + 8, seq);
        // A read error anywhere in the damaged span (not only in the header
        // at its start: an unreadable sector in a payload zero-fills it and
        // fails its checksum) makes it a read error, not bit rot.
        let span_end = next.map_or(at(body.len()), at);
        let kind = if unreadable.iter().any(|u| u.start < span_end && at(o) < u.end) {
            DamageKind::ReadError
        } else if r == Err(FrameError::Zero) {
            DamageKind::Missing
        } else {
            DamageKind::Checksum
        };
        match next {
            Some(next) => {
                s.spans.push((at(o)..at(next), kind));
                o = next;
            }
            None => {
                if kind != DamageKind::Missing || body[o..].iter().any(|b| *b != 0) {
                    s.spans.push((at(o)..at(body.len()), kind));
                }
                break;
            }
        }
    }
    s
}

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
fn zero_all_from(file: &dyn StorageFile, path: &Path, from: u64, size: u64) -> Result<()> {
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

/// The number of a segment being prepared (`prepare-N.tmp`, see
/// `segment::prepare`). Other files, whatever their suffix, are not the log's.
fn temp_number(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("prepare-").and_then(|n| n.strip_suffix(TEMP_SUFFIX))?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A spare an earlier run prepared, if it is fit to become the next segment:
/// exactly `size` bytes, every byte readable and zero. (Its zeros need not be
/// durable yet: activating it syncs the file's data before it takes a record,
/// and holes are filled before it is mapped.) A crash while preparing leaves
/// a shorter or unfinished file: that one is removed.
fn reusable_spare(storage: &Arc<dyn Storage>, path: &Path, size: u64) -> Result<Option<Prepared>> {
    let file = storage.open(path, OpenOptions::existing()).map_err(io_err("opening temp file", path))?;
    if file.len().map_err(io_err("reading length of", path))? != size {
        return Ok(None);
    }
    let (bytes, unreadable) = read_range(&*file, path, 0, size)?;
    if !unreadable.is_empty() || bytes.iter().any(|b| *b != 0) {
        return Ok(None);
    }
    Ok(Some(Prepared { path: path.to_path_buf(), file }))
}

pub(crate) fn recover(
    storage: &Arc<dyn Storage>,
    dir: &Path,
    policy: CorruptionPolicy,
    segment_size: u64,
) -> Result<Recovered> {
    let mut report = OpenReport::default();
    let manifest = manifest::read(&**storage, dir)?;
    let mut names = Vec::new();
    let mut spare = None;
    let mut listing = storage.list(dir).map_err(io_err("listing", dir))?;
    listing.sort();
    for name in listing {
        let temp = temp_number(&name);
        if name == LOCK_FILE || name == MANIFEST_FILE {
            continue;
        }
        if let (Some(n), None) = (temp, &spare) {
            // The spare the last run prepared is kept, not zeroed again.
            if let Some(p) = reusable_spare(storage, &dir.join(&name), segment_size)? {
                spare = Some((n, p));
                continue;
            }
        }
        if temp.is_some() || name == MANIFEST_TEMP {
            storage.remove(&dir.join(&name)).map_err(io_err("removing temp file", dir))?;
            report.removed_temp_files.push(name);
        } else if let Some(lsn) = parse_segment_name(&name) {
            names.push((lsn, name));
        } else {
            report.ignored_files.push(name);
        }
    }
    names.sort();
    // Segments past the last one the manifest names never took a record that
    // anyone was told about: a roll-over that a crash cut short before its
    // first append, or segments a torn-tail cut removed that a power loss
    // brought back. They are never read, and removed once the segment the
    // manifest names has proved intact.
    let mut beyond = Vec::new();
    if let Some(m) = &manifest {
        while names.last().is_some_and(|(lsn, _)| *lsn > m.last_first_lsn) {
            beyond.insert(0, dir.join(names.pop().expect("checked").1));
        }
        if names.last().is_none_or(|(lsn, _)| *lsn != m.last_first_lsn) {
            return Err(Error::LostSegment {
                path: dir.join(segment_name(m.last_first_lsn)),
                reason: "missing (deleted, or not a regular file)".into(),
            });
        }
    }
    // Always sync the directory, even when nothing was removed: a process
    // that died between a rename (or unlink) and its directory sync leaves an
    // entry that the listing shows but a power loss can still undo. Recovery
    // acts on the listing, and the log then appends and acknowledges records
    // in those files, so the listing must be durable first.
    storage.sync_dir(dir).map_err(io_err("syncing directory", dir))?;
    report.ignored_files.sort();

    // Pass 1: headers, watermarks, and a scan of every segment.
    let mut found: Vec<Found> = Vec::new();
    let mut watermark: Lsn = 0;
    let count = names.len();
    for (i, (lsn, name)) in names.into_iter().enumerate() {
        let path = dir.join(&name);
        let file = storage.open(&path, OpenOptions::existing()).map_err(io_err("opening segment", &path))?;
        let len = file.len().map_err(io_err("reading length of", &path))?;
        let head_len = len.min(HEADER_PAGE);
        let (head, head_bad) = read_range(&*file, &path, 0, head_len)?;
        let header = if head_bad.is_empty() { SegmentHeader::decode(&head) } else { Err("unreadable header") };
        // The segment the manifest names as the last one must be intact:
        // records may have been acknowledged in it.
        let named_last = manifest.as_ref().filter(|m| m.last_first_lsn == lsn);
        let lost = |reason: String| Error::LostSegment { path: path.clone(), reason };
        let all_zero = || -> Result<bool> {
            Ok(head_bad.is_empty() && read_range(&*file, &path, 0, len)?.0.iter().all(|b| *b == 0))
        };
        let header = match header {
            Ok(h) => h,
            Err(reason) if named_last.is_some() => {
                return Err(if len == 0 {
                    lost("empty (truncated to 0 bytes)".into())
                } else if all_zero()? {
                    lost("zeroed".into())
                } else {
                    bad(&path, reason)
                });
            }
            Err(reason) => {
                let last = i + 1 == count;
                if last && all_zero()? {
                    drop(file);
                    storage.remove(&path).map_err(io_err("removing empty segment", &path))?;
                    storage.sync_dir(dir).map_err(io_err("syncing directory", dir))?;
                    report.dropped_empty_segment = Some(path);
                    continue;
                }
                return Err(bad(&path, reason));
            }
        };
        let (seq, size) = (header.seq.get(), header.segment_size.get());
        if header.first_lsn.get() != lsn {
            return Err(bad(&path, format!("its name says lsn {lsn}, its header {}", header.first_lsn.get())));
        }
        if size != len || size < HEADER_PAGE + frame_len(0) || size > u32::MAX as u64 {
            return Err(bad(&path, format!("{len} bytes long, its header says {size} (truncated or extended)")));
        }
        let log_id = header.log_id.get();
        if let Some(m) = &manifest {
            if log_id != m.log_id {
                return Err(bad(
                    &path,
                    format!("it belongs to another log (log id {log_id:#x}; the manifest has {:#x})", m.log_id),
                ));
            }
        }
        if let Some(m) = named_last {
            if seq != m.last_seq {
                return Err(lost(format!("replaced (sequence number {seq}; the manifest says {})", m.last_seq)));
            }
            if let Some((erase_seq, from)) = m.erase {
                if erase_seq == seq && (HEADER_PAGE..size).contains(&from) {
                    zero_all_from(&*file, &path, from, size)?;
                    report.erase_redone = Some((path.clone(), from));
                }
            }
        }
        if let Some(first) = found.first() {
            if log_id != first.log_id {
                return Err(bad(
                    &path,
                    format!(
                        "it belongs to another log (log id {log_id:#x}; {} has {:#x})",
                        first.path.display(),
                        first.log_id
                    ),
                ));
            }
        }
        if let Some(prev) = found.last() {
            if seq <= prev.seq {
                return Err(bad(&path, format!("sequence number {seq} does not follow {}", prev.seq)));
            }
        }
        for slot in WATERMARK_SLOTS {
            let s = slot as usize;
            if let Some(d) = WatermarkSlot::decode(&head[s..s + WATERMARK_LEN], seq) {
                watermark = watermark.max(d);
            }
        }
        let (body, unreadable) = read_range(&*file, &path, HEADER_PAGE, size)?;
        let scan = scan(&body, seq, &unreadable);
        watermark = watermark.max(scan.max_acked);
        found.push(Found { path, file, seq, log_id, first_lsn: lsn, size, scan, unreadable });
    }
    for path in beyond {
        storage.remove(&path).map_err(io_err("removing segment beyond the manifest", &path))?;
        report.segments_beyond_manifest.push(path);
    }
    if !report.segments_beyond_manifest.is_empty() {
        storage.sync_dir(dir).map_err(io_err("syncing directory", dir))?;
    }
    report.durable_watermark = watermark;
    if manifest.is_none() {
        // A log always has a manifest from its first segment on, except
        // after a crash while it was being created (then no record exists).
        let records: u64 = found.iter().map(|f| f.scan.frames.len() as u64).sum();
        if records > 0 {
            return Err(Error::MissingManifest { dir: dir.to_path_buf(), records });
        }
    }
    if found.is_empty() {
        // A dropped all-zero segment still tells where the log had got to:
        // never hand out its LSNs again (a snapshot may cover them).
        let next_lsn = report
            .dropped_empty_segment
            .as_deref()
            .and_then(|p| p.file_name()?.to_str().and_then(parse_segment_name))
            .unwrap_or(1)
            .max(watermark + 1);
        report.created = next_lsn == 1;
        return Ok(Recovered {
            segments: Vec::new(),
            log_id: None,
            next_lsn,
            write_offset: 0,
            watermark,
            report,
            spare,
        });
    }

    // Whether the manifest on disk now asks for an erase (cleared at the end).
    let mut erase_recorded = false;
    // Pass 2: walk the LSN sequence and classify every gap.
    let mut expected = found[0].first_lsn;
    let mut offsets: Vec<Vec<u32>> = Vec::with_capacity(found.len());
    // (segment index, offset) of the first byte after the last accepted record.
    let mut cut: Option<(usize, u64, Lsn)> = None;
    let mut ends: Vec<u64> = Vec::with_capacity(found.len());
    let mut damage = Vec::new();
    let gap = |seg: &Found, from: u64, to: u64, lsns: (Lsn, Lsn), damage: &mut Vec<Damage>| {
        let kind = seg
            .scan
            .spans
            .iter()
            .find(|(r, _)| r.start >= from && r.start < to.max(from + 1))
            .map_or(DamageKind::Missing, |(_, k)| *k);
        let len = if kind == DamageKind::Missing { 0 } else { to - from };
        damage.push(Damage { segment: seg.path.clone(), offset: from, len, lsns: Some(lsns), kind });
    };
    'segments: for (i, seg) in found.iter().enumerate() {
        if i > 0 && seg.first_lsn != expected {
            if seg.first_lsn < expected {
                return Err(bad(
                    &seg.path,
                    format!("starts at lsn {} but the log reached {}", seg.first_lsn, expected),
                ));
            }
            let prev = &found[i - 1];
            let end = ends[i - 1];
            if expected > watermark {
                cut = Some((i - 1, end, expected));
                break 'segments;
            }
            if seg.first_lsn - expected > capacity(prev.size) {
                return Err(bad(&seg.path, "a gap larger than a segment before it"));
            }
            gap(prev, end, prev.size, (expected, seg.first_lsn - 1), &mut damage);
            offsets[i - 1].extend(std::iter::repeat_n(HOLE, (seg.first_lsn - expected) as usize));
            expected = seg.first_lsn;
        }
        let mut offs = Vec::with_capacity(seg.scan.frames.len());
        let mut end = HEADER_PAGE;
        let cap = capacity(seg.size);
        // LSNs of the frames not walked yet: a frame ahead of the expected
        // LSN is a stale or misdirected copy, not the end of a hole, when a
        // later frame still carries an LSN in between.
        let mut ahead: std::collections::BTreeMap<Lsn, usize> = std::collections::BTreeMap::new();
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
                damage.push(Damage {
                    segment: seg.path.clone(),
                    offset: off,
                    len: frame_len(len as usize),
                    lsns: None,
                    kind: crate::report::DamageKind::Misdirected,
                });
                continue;
            }
            if lsn > expected {
                if expected > watermark {
                    offsets.push(offs);
                    ends.push(end);
                    cut = Some((i, end, expected));
                    break 'segments;
                }
                gap(seg, end, off, (expected, lsn - 1), &mut damage);
                offs.extend(std::iter::repeat_n(HOLE, (lsn - expected) as usize));
                expected = lsn;
            }
            offs.push(off as u32);
            end = off + frame_len(len as usize);
            expected += 1;
            report.records += 1;
            report.payload_bytes += len as u64;
        }
        // Garbage between records that cost no LSN.
        for (r, kind) in &seg.scan.spans {
            if r.end <= end
                && !damage
                    .iter()
                    .any(|d| d.segment == seg.path && d.offset <= r.start && r.start < d.offset + d.len.max(1))
            {
                damage.push(Damage {
                    segment: seg.path.clone(),
                    offset: r.start,
                    len: r.end - r.start,
                    lsns: None,
                    kind: *kind,
                });
            }
        }
        offsets.push(offs);
        ends.push(end);
    }
    let last = found.len() - 1;
    if cut.is_none() {
        let seg = &found[last];
        let end = ends[last];
        let dirty_tail = seg.scan.spans.iter().any(|(r, _)| r.end > end);
        if expected <= watermark {
            // Acknowledged records are missing at the end of the log.
            if watermark - expected > capacity(seg.size) {
                return Err(bad(&seg.path, "durable watermark far beyond the end of the log"));
            }
            gap(seg, end, seg.size, (expected, watermark), &mut damage);
            if policy == CorruptionPolicy::Salvage {
                offsets[last].extend(std::iter::repeat_n(HOLE, (watermark + 1 - expected) as usize));
                if dirty_tail {
                    persist_watermark(seg, watermark)?;
                    erase_tail(storage, dir, seg, end)?;
                    erase_recorded = true;
                }
                expected = watermark + 1;
            }
        } else if dirty_tail {
            cut = Some((last, end, expected));
        }
    }
    let real_damage: Vec<Damage> = damage.iter().filter(|d| d.lsns.is_some()).cloned().collect();
    if !damage.is_empty() && policy == CorruptionPolicy::Strict {
        return Err(Error::Corruption { damage });
    }
    if !real_damage.is_empty() && policy != CorruptionPolicy::Salvage {
        return Err(Error::Corruption { damage: real_damage });
    }
    report.damage = damage;

    // Cut the torn tail: erase it in its segment, remove later segments.
    if let Some((i, off, lsn)) = cut {
        let mut torn = TornTail {
            segment: found[i].path.clone(),
            offset: off,
            lsn,
            bytes_discarded: 0,
            segments_removed: found[i + 1..].iter().map(|f| f.path.clone()).collect(),
        };
        if policy == CorruptionPolicy::Strict {
            return Err(Error::TornTail(torn));
        }
        // The watermark may come from a record in the tail about to be
        // erased (when the slots are damaged): record it first, or the next
        // open would see a lower one and take reported holes for a torn tail.
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
        expected = lsn;
        report.torn_tail = Some(torn);
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
    if policy == CorruptionPolicy::Salvage {
        if let Some(f) = found.last() {
            zero_ranges(&*f.file, &f.path, &f.unreadable, "zeroing unreadable range")?;
        }
    }
    for (k, f) in found.iter().enumerate() {
        rewrite_above(&*f.file, &f.path, f.first_lsn, &offsets[k], &f.scan.frames, watermark)?;
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
    report.last_lsn = expected - 1;
    let write_offset = *ends.last().expect("at least one segment");
    Ok(Recovered { segments, log_id: Some(log_id), next_lsn: expected, write_offset, watermark, report, spare })
}
