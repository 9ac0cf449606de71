//! Reading a segment with `pread`, not through a mapping, so that a disk
//! read error becomes a reported damaged range rather than a SIGBUS (fault
//! case 8): the bytes of a range, and the records of a segment's body.
//!
//! Nothing here decides anything: [`scan`] says which byte ranges are valid
//! frames and which are not; the walk over the LSNs says what that means.

use crate::error::{Error, Result};
use crate::format::{decode_record, frame_len, FrameError, Lsn, HEADER_PAGE, RECORD_HEADER_LEN, RECORD_MAGIC};
use crate::report::DamageKind;
use crate::storage::{StorageFile, PAGE_SIZE};
use std::ops::Range;
use std::path::Path;

/// What the scan of one segment found.
#[derive(Default)]
pub(super) struct Scan {
    /// Valid frames: (file offset, lsn, payload length).
    pub frames: Vec<(u64, Lsn, u32)>,
    /// Byte ranges that are not valid frames (file offsets), with their kind.
    pub spans: Vec<(Range<u64>, DamageKind)>,
    /// The highest `acked` field of the valid frames.
    pub max_acked: Lsn,
}

/// Read `[start, end)` of a file into a buffer; ranges that fail with a read
/// error are zero-filled and returned.
pub(super) fn read_range(
    file: &dyn StorageFile,
    path: &Path,
    start: u64,
    end: u64,
) -> Result<(Vec<u8>, Vec<Range<u64>>)> {
    let mut buf = Vec::new();
    let unreadable = read_range_into(file, path, start, end, &mut buf)?;
    Ok((buf, unreadable))
}

/// [`read_range`] into `buf` (resized to fit; every byte is overwritten, so
/// a buffer reused from another read leaks nothing into this one).
pub(super) fn read_range_into(
    file: &dyn StorageFile,
    path: &Path,
    start: u64,
    end: u64,
    buf: &mut Vec<u8>,
) -> Result<Vec<Range<u64>>> {
    const CHUNK: u64 = 1 << 20;
    buf.resize((end - start) as usize, 0);
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
    Ok(unreadable)
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
pub(super) fn scan(body: &[u8], seq: u64, unreadable: &[Range<u64>]) -> Scan {
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
