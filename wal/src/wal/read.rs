//! Reading: records borrowed zero-copy from the segments' mappings, each
//! checked against its checksum before it is handed out (see
//! `Segment::locate`).

use super::Wal;
use crate::error::{Error, Result};
use crate::format::Lsn;
use crate::segment::Segment;
use std::fmt::Debug;
use std::ops::Deref;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// A record read from the log: its payload, borrowed from the segment's
/// mapping (no copy). Keeps the segment mapped while alive.
///
/// The payload was intact when the record was read (checksum verified, every
/// page readable). The bytes are not copied, so a file damaged or truncated
/// *after* that shows through: a page lost to truncation then reads as
/// zeros (never a crash); [`Record::check`] tells whether that happened.
#[derive(Clone)]
pub struct Record {
    lsn: Lsn,
    seg: Arc<Segment>,
    start: usize,
    len: usize,
}

impl Record {
    /// The record's LSN.
    pub fn lsn(&self) -> Lsn {
        self.lsn
    }

    /// Whether the record's segment is still readable: an error if a read
    /// through its mapping has faulted since (then the payload may read as
    /// zeros). Call it after using the bytes to be sure of what was used.
    pub fn check(&self) -> Result<()> {
        if self.seg.failed() {
            return Err(Error::MappedReadFailed { path: self.seg.path.clone(), lsn: self.lsn });
        }
        Ok(())
    }
}

impl Deref for Record {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.seg.payload(self.start, self.len)
    }
}

impl Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Record(lsn {}, {} bytes)", self.lsn, self.len)
    }
}

impl Wal {
    /// Read the record at `lsn`, zero-copy from the mapping. `None` if it is
    /// not in the log (never appended, truncated away, or a hole left by
    /// damage under `Salvage`).
    ///
    /// The record is verified first: [`Error::DamagedRecord`] if its bytes
    /// no longer match its checksum (changed on disk or in the page cache
    /// since they were written; the payload is hashed on the first read of
    /// each record, the header on every read), [`Error::MappedReadFailed`]
    /// if reading it through the mapping faulted (the segment was truncated
    /// under the log, or a page could not be read back in).
    pub fn read(&self, lsn: Lsn) -> Result<Option<Record>> {
        if lsn > self.written.load(Ordering::Acquire) {
            if lsn > self.last_lsn() {
                return Ok(None);
            }
            self.write_out()?;
        }
        let segs = self.segments.read().unwrap_or_else(|e| e.into_inner());
        let i = segs.partition_point(|s| s.first_lsn <= lsn);
        if i == 0 {
            return Ok(None);
        }
        let seg = &segs[i - 1];
        Ok(seg.locate(lsn)?.map(|(start, len)| Record { lsn, seg: seg.clone(), start, len }))
    }

    /// Iterate the records from `from` to the last one appended when the
    /// iterator was made. Holes (under `Salvage`) are skipped. Each record
    /// is verified as by [`Wal::read`]; a damaged one is an `Err` item, and
    /// the iteration goes on after it.
    pub fn iter_from(&self, from: Lsn) -> Result<Iter> {
        let last = self.last_lsn();
        if last > self.written.load(Ordering::Acquire) {
            self.write_out()?;
        }
        let segs = self.segments.read().unwrap_or_else(|e| e.into_inner()).clone();
        let from = from.max(segs[0].first_lsn);
        Ok(Iter { segs, next: from, last, seg: 0 })
    }
}

/// Iterator over records, from [`Wal::iter_from`].
pub struct Iter {
    segs: Vec<Arc<Segment>>,
    next: Lsn,
    last: Lsn,
    seg: usize,
}

impl Iterator for Iter {
    type Item = Result<Record>;
    fn next(&mut self) -> Option<Result<Record>> {
        while self.next <= self.last {
            while self.seg + 1 < self.segs.len() && self.segs[self.seg + 1].first_lsn <= self.next {
                self.seg += 1;
            }
            let lsn = self.next;
            self.next += 1;
            let seg = &self.segs[self.seg];
            match seg.locate(lsn) {
                Ok(Some((start, len))) => return Some(Ok(Record { lsn, seg: seg.clone(), start, len })),
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
        }
        None
    }
}
