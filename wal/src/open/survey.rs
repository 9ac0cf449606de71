//! The survey: which files in the directory are the log's, and, for each
//! segment, whether its header puts it where its name and the manifest say;
//! then the scan of its records.
//!
//! Each file is classified as it is met, and what the table says to do
//! about it is done at once, in listing order (removing a leftover temp
//! file, redoing an interrupted erase), except removing segments past the
//! manifest, which waits until the segment the manifest names proved intact.

use super::classify::{decide, unexpected, Action, Finding, Refusal};
use super::repair::zero_all_from;
use super::scan::{read_range, read_range_into, scan, Scan};
use super::{bad, io_err};
use crate::error::{Error, Result};
use crate::format::{
    frame_len, parse_segment_name, segment_name, Lsn, SegmentHeader, WatermarkSlot, HEADER_PAGE, MANIFEST_FILE,
    MANIFEST_TEMP, TEMP_SUFFIX, WATERMARK_LEN, WATERMARK_SLOTS,
};
use crate::manifest::Manifest;
use crate::report::OpenReport;
use crate::segment::Prepared;
use crate::storage::{OpenOptions, Storage, StorageFile};
use crate::{CorruptionPolicy, LOCK_FILE};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One segment file found on disk, header checked, records scanned.
pub(super) struct Found {
    pub path: PathBuf,
    pub file: Arc<dyn StorageFile>,
    pub seq: u64,
    pub log_id: u64,
    pub first_lsn: Lsn,
    pub size: u64,
    pub scan: Scan,
    /// Byte ranges (file offsets) of the body that could not be read.
    pub unreadable: Vec<Range<u64>>,
}

/// The directory, tidied.
pub(super) struct Listing {
    /// The segments up to the one the manifest names, in LSN order.
    names: Vec<(Lsn, String)>,
    /// Segments past the manifest, to remove once the named one proved intact.
    beyond: Vec<PathBuf>,
    /// A spare an earlier run prepared, with its number.
    pub spare: Option<(u64, Prepared)>,
}

/// The error a refusing finding returns.
fn refuse(f: Finding, policy: CorruptionPolicy, path: &Path, reason: String) -> Error {
    match decide(f, policy) {
        Action::Refuse(Refusal::LostSegment) => Error::LostSegment { path: path.to_path_buf(), reason },
        Action::Refuse(Refusal::BadSegment) => bad(path, reason),
        a => unexpected(f, a),
    }
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

/// List the directory, classify every entry and act on it (keep, remove,
/// ignore), check that the segment the manifest names is there, and sync
/// the directory.
pub(super) fn list(
    storage: &Arc<dyn Storage>,
    dir: &Path,
    manifest: Option<&Manifest>,
    policy: CorruptionPolicy,
    segment_size: u64,
    report: &mut OpenReport,
) -> Result<Listing> {
    let mut names = Vec::new();
    let mut beyond = Vec::new();
    let mut spare = None;
    let mut listing = storage.list(dir).map_err(io_err("listing", dir))?;
    listing.sort();
    for name in listing {
        let temp = temp_number(&name);
        let segment = parse_segment_name(&name);
        let mut fit = None;
        let finding = if name == LOCK_FILE || name == MANIFEST_FILE {
            Finding::LogFile
        } else if temp.is_some() && spare.is_none() && {
            // The spare the last run prepared is kept, not zeroed again.
            fit = reusable_spare(storage, &dir.join(&name), segment_size)?;
            fit.is_some()
        } {
            Finding::Spare
        } else if temp.is_some() || name == MANIFEST_TEMP {
            Finding::UnfinishedTemp
        } else if let Some(lsn) = segment {
            // Segments past the last one the manifest names never took a
            // record that anyone was told about. They are never read.
            match manifest {
                Some(m) if lsn > m.last_first_lsn => Finding::BeyondManifest,
                _ => Finding::LogFile,
            }
        } else {
            Finding::ForeignFile
        };
        match (finding, decide(finding, policy)) {
            (Finding::LogFile, Action::Keep) => names.extend(segment.map(|lsn| (lsn, name))),
            (Finding::Spare, Action::KeepAsSpare) => spare = temp.zip(fit),
            (Finding::UnfinishedTemp, Action::Remove) => {
                storage.remove(&dir.join(&name)).map_err(io_err("removing temp file", dir))?;
                report.removed_temp_files.push(name);
            }
            (Finding::BeyondManifest, Action::Remove) => beyond.push(dir.join(name)),
            (Finding::ForeignFile, Action::Ignore) => report.ignored_files.push(name),
            (f, a) => unexpected(f, a),
        }
    }
    names.sort();
    if let Some(m) = manifest {
        if names.last().is_none_or(|(lsn, _)| *lsn != m.last_first_lsn) {
            let path = dir.join(segment_name(m.last_first_lsn));
            let reason = "missing (deleted, or not a regular file)".into();
            return Err(refuse(Finding::LastSegmentMissing, policy, &path, reason));
        }
    }
    // Always sync the directory, even when nothing was removed: a process
    // that died between a rename (or unlink) and its directory sync leaves an
    // entry that the listing shows but a power loss can still undo. Recovery
    // acts on the listing, and the log then appends and acknowledges records
    // in those files, so the listing must be durable first.
    storage.sync_dir(dir).map_err(io_err("syncing directory", dir))?;
    report.ignored_files.sort();
    Ok(Listing { names, beyond, spare })
}

/// Below this many bytes of segments, one thread scans them all: starting
/// threads costs more than it saves (the simulations open small logs
/// thousands of times).
const PARALLEL_FROM: u64 = 16 << 20;
/// At most this many threads scan segments,
const SCAN_THREADS: usize = 4;
/// and their buffers (a whole segment each) take at most this much memory
/// (four of the default 64 MiB segments; one thread whatever the size).
const SCAN_MEMORY: u64 = 256 << 20;

/// Read and scan every segment's records (from `HEADER_PAGE` on), on a few
/// threads at once: checking a long log's checksums is CPU work, one
/// segment at a time. Each thread reads into one buffer it reuses: a fresh
/// 64 MiB buffer per segment cost more in page faults than the scan did.
/// Returns the highest `acked` field of a valid frame.
fn scan_bodies(found: &mut [Found]) -> Result<Lsn> {
    let bytes: u64 = found.iter().map(|f| f.size).sum();
    let largest = found.iter().map(|f| f.size).max().unwrap_or(1).max(1);
    let threads = if bytes < PARALLEL_FROM {
        1
    } else {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        cores.min(SCAN_THREADS).min(found.len()).min(usize::try_from(SCAN_MEMORY / largest).unwrap_or(1).max(1))
    };
    let next = std::sync::atomic::AtomicUsize::new(0);
    type Scanned = Result<(Scan, Vec<Range<u64>>)>;
    let results: Vec<std::sync::Mutex<Option<Scanned>>> = found.iter().map(|_| Default::default()).collect();
    let work = || {
        let mut buf = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(f) = found.get(i) else { break };
            let scanned = read_range_into(&*f.file, &f.path, HEADER_PAGE, f.size, &mut buf)
                .map(|unreadable| (scan(&buf, f.seq, &unreadable), unreadable));
            *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(scanned);
        }
    };
    if threads <= 1 {
        work();
    } else {
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(work);
            }
        });
    }
    let mut watermark = 0;
    for (f, r) in found.iter_mut().zip(results) {
        let (scan, unreadable) = r.into_inner().unwrap_or_else(|e| e.into_inner()).expect("every segment scanned")?;
        watermark = watermark.max(scan.max_acked);
        (f.scan, f.unreadable) = (scan, unreadable);
    }
    Ok(watermark)
}

/// Check every segment's header (acting on what the table says), redo an
/// interrupted erase, read the watermark slots and scan the records; then
/// remove the segments past the manifest. Returns the segments and the
/// durable watermark: the highest LSN an intact slot or record proves was
/// covered by a completed sync.
pub(super) fn segments(
    storage: &Arc<dyn Storage>,
    dir: &Path,
    manifest: Option<&Manifest>,
    listing: &mut Listing,
    policy: CorruptionPolicy,
    report: &mut OpenReport,
) -> Result<(Vec<Found>, Lsn)> {
    let mut found: Vec<Found> = Vec::new();
    let mut watermark: Lsn = 0;
    let count = listing.names.len();
    for (i, (lsn, name)) in std::mem::take(&mut listing.names).into_iter().enumerate() {
        let path = dir.join(&name);
        let file = storage.open(&path, OpenOptions::existing()).map_err(io_err("opening segment", &path))?;
        let len = file.len().map_err(io_err("reading length of", &path))?;
        let head_len = len.min(HEADER_PAGE);
        let (head, head_bad) = read_range(&*file, &path, 0, head_len)?;
        let header = if head_bad.is_empty() { SegmentHeader::decode(&head) } else { Err("unreadable header") };
        // The segment the manifest names as the last one must be intact:
        // records may have been acknowledged in it.
        let named_last = manifest.filter(|m| m.last_first_lsn == lsn);
        let all_zero = || -> Result<bool> {
            Ok(head_bad.is_empty() && read_range(&*file, &path, 0, len)?.0.iter().all(|b| *b == 0))
        };
        let header = match header {
            Ok(h) => h,
            Err(reason) => {
                let (finding, reason) = if named_last.is_some() {
                    if len == 0 {
                        (Finding::LastSegmentEmptied, "empty (truncated to 0 bytes)")
                    } else if all_zero()? {
                        (Finding::LastSegmentEmptied, "zeroed")
                    } else {
                        (Finding::BadHeader, reason)
                    }
                } else if i + 1 == count && all_zero()? {
                    (Finding::AbandonedSegment, reason)
                } else {
                    (Finding::BadHeader, reason)
                };
                match decide(finding, policy) {
                    Action::Remove => {
                        drop(file);
                        storage.remove(&path).map_err(io_err("removing empty segment", &path))?;
                        storage.sync_dir(dir).map_err(io_err("syncing directory", dir))?;
                        report.dropped_empty_segment = Some(path);
                        continue;
                    }
                    _ => return Err(refuse(finding, policy, &path, reason.into())),
                }
            }
        };
        let (seq, size) = (header.seq.get(), header.segment_size.get());
        if header.first_lsn.get() != lsn {
            let reason = format!("its name says lsn {lsn}, its header {}", header.first_lsn.get());
            return Err(refuse(Finding::MisnamedSegment, policy, &path, reason));
        }
        if size != len || size < HEADER_PAGE + frame_len(0) || size > u32::MAX as u64 {
            let reason = format!("{len} bytes long, its header says {size} (truncated or extended)");
            return Err(refuse(Finding::ResizedSegment, policy, &path, reason));
        }
        let log_id = header.log_id.get();
        if let Some(m) = manifest {
            if log_id != m.log_id {
                let reason =
                    format!("it belongs to another log (log id {log_id:#x}; the manifest has {:#x})", m.log_id);
                return Err(refuse(Finding::ForeignSegment, policy, &path, reason));
            }
        }
        if let Some(m) = named_last {
            if seq != m.last_seq {
                let reason = format!("replaced (sequence number {seq}; the manifest says {})", m.last_seq);
                return Err(refuse(Finding::LastSegmentReplaced, policy, &path, reason));
            }
            if let Some((erase_seq, from)) = m.erase {
                if erase_seq == seq && (HEADER_PAGE..size).contains(&from) {
                    match decide(Finding::EraseInProgress, policy) {
                        Action::RedoErase => {
                            zero_all_from(&*file, &path, from, size)?;
                            report.erase_redone = Some((path.clone(), from));
                        }
                        a => unexpected(Finding::EraseInProgress, a),
                    }
                }
            }
        }
        if let Some(first) = found.first() {
            if log_id != first.log_id {
                let reason = format!(
                    "it belongs to another log (log id {log_id:#x}; {} has {:#x})",
                    first.path.display(),
                    first.log_id
                );
                return Err(refuse(Finding::ForeignSegment, policy, &path, reason));
            }
        }
        if let Some(prev) = found.last() {
            if seq <= prev.seq {
                let reason = format!("sequence number {seq} does not follow {}", prev.seq);
                return Err(refuse(Finding::SequenceOutOfOrder, policy, &path, reason));
            }
        }
        for slot in WATERMARK_SLOTS {
            let s = slot as usize;
            if let Some(d) = WatermarkSlot::decode(&head[s..s + WATERMARK_LEN], seq) {
                watermark = watermark.max(d);
            }
        }
        // Records are scanned below, every segment at once.
        found.push(Found { path, file, seq, log_id, first_lsn: lsn, size, scan: Scan::default(), unreadable: vec![] });
    }
    watermark = watermark.max(scan_bodies(&mut found)?);
    for path in std::mem::take(&mut listing.beyond) {
        storage.remove(&path).map_err(io_err("removing segment beyond the manifest", &path))?;
        report.segments_beyond_manifest.push(path);
    }
    if !report.segments_beyond_manifest.is_empty() {
        storage.sync_dir(dir).map_err(io_err("syncing directory", dir))?;
    }
    Ok((found, watermark))
}
