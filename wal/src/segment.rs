//! One segment file: preparing (pre-zeroing) it, activating it under its
//! final name, writing to it, and finding and verifying records in its
//! mapping.
//!
//! # Lending the mapping
//!
//! A segment's mapping is shared by the log's writers (group-commit rounds,
//! the watermark writer) and any number of readers, each of which may hold a
//! [`Record`](crate::Record) whose bytes are a slice of the mapping. Rust
//! forbids a byte to be written while a `&[u8]` over it lives, so the segment
//! itself keeps the two apart, whatever its callers do:
//!
//! 1. **Slices only of the sealed range.** The only slices made of the
//!    mapping ([`Segment::lend`], via [`Segment::locate`] and
//!    [`Segment::payload`]) lie in `HEADER_PAGE..sealed`. `sealed` (the
//!    written mark, in bytes) is read with `Acquire`.
//! 2. **Writes only outside it.** Every write to the segment's bytes, through
//!    the mapping or with `pwrite` on its file (the same page cache; on the
//!    simulated disk the same memory), goes through [`Segment::write`]. It
//!    accepts a range only inside the header page (the watermark slots,
//!    never lent) or at or above `sealed`, and after writing record frames
//!    moves `sealed` to their end (`Release`): from then on they may be lent
//!    out and are never written again.
//! 3. **The mark only rises while shared.** `sealed` is lowered only through
//!    `&mut self` ([`Segment::reopen_at`]), when no slice of the segment can
//!    exist.
//! 4. **One writer at a time.** [`Segment::write`] and [`Segment::sync`]
//!    hold the `writing` lock, so writes never overlap each other or a flush
//!    (which reads the bytes, on the simulated disk), as the `Mapping`
//!    contract requires of its user. (The log makes them under its own I/O
//!    lock anyway: this one is never contended.)
//!
//! So every byte a slice covers was written before the slice was made (the
//! write happens-before the `Release` store of `sealed` that the `Acquire`
//! load saw) and is not written while the slice lives. The mapping itself is
//! trusted to stay valid for its lifetime (the `unsafe` contract of
//! `Mapping`), faults included; its contents are not trusted (another process
//! may change the file), which the checksums and `Mapping::failed` cover.

use crate::error::{Error, Result};
use crate::format::{
    decode_record, frame_len, segment_name, FrameError, Lsn, RecordHeader, SegmentHeader, WatermarkSlot, HEADER_PAGE,
    RECORD_HEADER_LEN, TEMP_SUFFIX, WATERMARK_SLOTS,
};
use crate::storage::{Mapping, OpenOptions, Storage, StorageFile, PAGE_SIZE};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use zerocopy::{FromBytes, IntoBytes};

/// Marks an LSN whose record was lost to damage (only under `Salvage`).
pub(crate) const HOLE: u32 = u32::MAX;

/// How a write reaches a segment (see [`Segment::write`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Via {
    /// Copied into the mapping.
    Mapping,
    /// `pwrite` on the file.
    File,
}

/// A live segment: its file, its mapping and the offset of each record.
#[derive(Debug)]
pub(crate) struct Segment {
    pub path: PathBuf,
    /// Private: every write goes through [`Segment::write`] (module docs).
    file: Arc<dyn StorageFile>,
    /// Private: slices of it only through [`Segment::lend`] (module docs).
    map: Arc<dyn Mapping>,
    /// The written mark: the bytes `HEADER_PAGE..sealed` were written and are
    /// never written again; only they are lent out. At most `size`.
    sealed: AtomicU64,
    /// Held by every write and sync of the segment.
    writing: Mutex<()>,
    pub seq: u64,
    pub first_lsn: Lsn,
    pub size: u64,
    /// `offsets[i]` is the byte offset of the record `first_lsn + i`, or [`HOLE`].
    pub offsets: RwLock<Vec<u32>>,
    /// Which records' payload checksums were verified through the mapping.
    verified: Verified,
}

/// A bitset of verified records (by index in the segment), lock-free, in
/// chunks allocated on first use: a segment of 64 MiB can hold 1.6 million
/// records, but a log reads few of them.
#[derive(Debug)]
struct Verified {
    chunks: Box<[OnceLock<Box<[AtomicU64]>>]>,
}

/// Records per chunk of [`Verified`].
const CHUNK_BITS: usize = 4096;

impl Verified {
    fn new(size: u64) -> Self {
        let max_records = (size.saturating_sub(HEADER_PAGE) / frame_len(0)) as usize + 1;
        Verified { chunks: (0..max_records.div_ceil(CHUNK_BITS)).map(|_| OnceLock::new()).collect() }
    }

    fn get(&self, idx: usize) -> bool {
        let Some(chunk) = self.chunks.get(idx / CHUNK_BITS).and_then(OnceLock::get) else { return false };
        let bit = idx % CHUNK_BITS;
        chunk[bit / 64].load(Ordering::Relaxed) & (1 << (bit % 64)) != 0
    }

    fn set(&self, idx: usize) {
        let Some(cell) = self.chunks.get(idx / CHUNK_BITS) else { return };
        let chunk = cell.get_or_init(|| (0..CHUNK_BITS / 64).map(|_| AtomicU64::new(0)).collect());
        let bit = idx % CHUNK_BITS;
        chunk[bit / 64].fetch_or(1 << (bit % 64), Ordering::Relaxed);
    }
}

/// Fill the holes of a segment file with written zeros and sync, so that no
/// page of its mapping needs an allocation later (a write to a hole of a
/// mapped file on a full disk is a SIGBUS, and a sparse copy of a log, say by
/// `cp --sparse=always`, is full of them). A full disk is [`Error::NoSpace`]:
/// the segment is not mapped.
fn fill_holes(file: &dyn StorageFile, path: &Path, size: u64) -> Result<()> {
    let holes = file.holes().map_err(|e| Error::io("finding holes in", path, e))?;
    let mut filled = false;
    let zeros = vec![0u8; 1 << 20];
    for hole in holes {
        let (mut off, end) = (hole.start.min(size), hole.end.min(size));
        while off < end {
            let n = (end - off).min(zeros.len() as u64) as usize;
            file.write_all_at(&zeros[..n], off).map_err(|e| Error::io("filling a hole in", path, e))?;
            off += n as u64;
            filled = true;
        }
    }
    if filled {
        file.sync_data().map_err(|e| Error::io("syncing the filled holes of", path, e))?;
    }
    Ok(())
}

/// What [`Segment::let_go`] gives back at a time.
const RELEASE_STEP: u64 = 1 << 20;

impl Segment {
    /// Give a deleted segment's blocks back to the file system a MiB at a
    /// time, calling `between` after each: shrink the file, sync, repeat.
    /// Call it only once the segment's directory entry is gone for good
    /// (removed and the directory synced), so that nothing on disk names the
    /// file and a crash half-way leaves no trace of it. Freeing a 64 MiB
    /// segment at once (its last close) held a concurrent `fdatasync` of the
    /// log 11-14 ms on the machine measured (ext4 mounted with `discard`,
    /// which trims what a commit frees); a MiB per commit kept it under
    /// 1-4 ms (`benches/README.md`, "Checkpoint stall").
    ///
    /// Only if this is the last reference to the segment and to its mapping:
    /// a reader still holding either keeps the file whole (shrinking a mapped
    /// file turns a read past its new end into a SIGBUS), and the blocks go
    /// with the reader, at once. A storage that cannot shrink files does the
    /// same. A failed sync is returned (rule 2: the caller poisons the log),
    /// although the file is already out of the log.
    pub(crate) fn let_go(self: Arc<Self>, mut between: impl FnMut()) -> std::io::Result<()> {
        let Ok(seg) = Arc::try_unwrap(self) else { return Ok(()) };
        let Segment { file, mut map, .. } = seg;
        if Arc::get_mut(&mut map).is_none() {
            return Ok(());
        }
        drop(map);
        let mut len = file.len()?;
        while len > 0 {
            len = len.saturating_sub(RELEASE_STEP);
            if file.shrink(len).is_err() {
                return Ok(());
            }
            // `fsync`, as measured: it commits the shrink (and so frees
            // this piece) now, not with the next piece.
            file.sync_all()?;
            between();
        }
        Ok(())
    }

    pub fn new(
        path: PathBuf,
        file: Arc<dyn StorageFile>,
        seq: u64,
        first_lsn: Lsn,
        size: u64,
        offsets: Vec<u32>,
    ) -> Result<Self> {
        fill_holes(&*file, &path, size)?;
        let map = file.map(size as usize).map_err(|e| Error::io("mapping", &path, e))?;
        if (map.len() as u64) < size {
            let e = std::io::Error::other(format!("{} bytes mapped of {size}", map.len()));
            return Err(Error::io("mapping", &path, e));
        }
        let verified = Verified::new(size);
        Ok(Segment {
            path,
            file,
            map,
            // Sealed whole: a recovered segment is written no more, except
            // the last one, which the log reopens at its end (`reopen_at`).
            sealed: AtomicU64::new(size),
            writing: Mutex::new(()),
            seq,
            first_lsn,
            size,
            offsets: RwLock::new(offsets),
            verified,
        })
    }

    /// Let records be written again from `offset` (the end of the last
    /// record): for a fresh segment, or the last one recovered. Takes
    /// `&mut self`, so no slice of the segment exists.
    pub fn reopen_at(&mut self, offset: u64) {
        assert!((HEADER_PAGE..=self.size).contains(&offset), "write offset {offset} outside the segment");
        *self.sealed.get_mut() = offset;
    }

    /// Write `bytes` at `offset`, through the mapping or with `pwrite`:
    /// record frames at or above the written mark (which then moves past
    /// them: from now on they can be read, and are never written again), or
    /// a watermark slot inside the header page. Panics on any other range:
    /// it could be lent out to a reader (module docs).
    ///
    /// A fault while writing through the mapping (no block for the page on a
    /// full disk, the file shrunk under it) was caught and went to a private
    /// zero page, not the file: the write failed.
    pub fn write(&self, via: Via, offset: u64, bytes: &[u8]) -> Result<()> {
        let end = offset.checked_add(bytes.len() as u64).filter(|&end| end <= self.size);
        let end = end.unwrap_or_else(|| panic!("a write of {} bytes at {offset} runs past the segment", bytes.len()));
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        // Only ever stored under `writing`, which we hold.
        let sealed = self.sealed.load(Ordering::Relaxed);
        let header = end <= HEADER_PAGE;
        assert!(header || offset >= sealed, "a write at {offset} below the written mark {sealed}");
        match via {
            Via::File => self.file.write_all_at(bytes, offset).map_err(|e| Error::io("writing", &self.path, e))?,
            Via::Mapping => {
                // SAFETY: `offset..end` lies inside the mapping (`end <=
                // size <= map.len()`, checked in `new`), valid for writes
                // while `self.map` lives (the `Mapping` contract); `bytes`
                // is a separate buffer. No slice covers the range: slices
                // are made only of `HEADER_PAGE..sealed`, and the range is
                // in the header page or at or above `sealed` (asserted), a
                // mark that only rises. No other write or flush of the
                // segment runs meanwhile: we hold `writing`.
                unsafe {
                    std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.map.as_ptr().add(offset as usize), bytes.len())
                };
                if self.map.failed() {
                    return Err(Error::MappedReadFailed { path: self.path.clone(), lsn: 0 });
                }
            }
        }
        if !header {
            // The frames are written: they may be lent out from now on.
            self.sealed.store(end, Ordering::Release);
        }
        Ok(())
    }

    /// Make what was written below `hi` durable: `msync` of `0..hi` (so the
    /// header page, where a watermark slot may have been copied, is carried
    /// too; only dirty pages are written), or `fdatasync` of the file.
    pub fn sync(&self, via: Via, hi: u64) -> std::io::Result<()> {
        // A flush reads the bytes it writes back (on the simulated disk, in
        // this process): no write may run beside it.
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        match via {
            Via::Mapping => self.map.flush_range(0, hi.min(self.size) as usize),
            Via::File => self.file.sync_data(),
        }
    }

    /// Whether an access to the mapping has faulted (see `Mapping::failed`).
    pub fn failed(&self) -> bool {
        self.map.failed()
    }

    /// Number of LSNs (records and holes) in this segment.
    pub fn record_count(&self) -> u64 {
        self.offsets.read().unwrap_or_else(|e| e.into_inner()).len() as u64
    }

    /// Where the payload of `lsn` lives in the mapping, `(start, len)`,
    /// after checking that it is intact. `None` if this segment has no such
    /// record (or a hole there). The caller guarantees the record was written
    /// (lsn <= written lsn).
    ///
    /// The first read of a record verifies its whole frame (header checksum,
    /// segment sequence number, LSN, payload checksum) and remembers that it
    /// did; later reads check the header checksum and the length again and
    /// touch every page of the payload, but do not hash the payload again.
    /// Every read ends by checking that no access to the mapping faulted.
    pub fn locate(&self, lsn: Lsn) -> Result<Option<(usize, usize)>> {
        let Some(idx) = lsn.checked_sub(self.first_lsn) else { return Ok(None) };
        let idx = idx as usize;
        let Some(&off) = self.offsets.read().unwrap_or_else(|e| e.into_inner()).get(idx) else { return Ok(None) };
        if off == HOLE {
            return Ok(None);
        }
        let failed = || Error::MappedReadFailed { path: self.path.clone(), lsn };
        let damaged = |reason| Error::DamagedRecord { path: self.path.clone(), lsn, offset: off as u64, reason };
        if self.map.failed() {
            return Err(failed());
        }
        let off = off as usize;
        // The sealed bytes from the record on (none if the offset lies outside
        // them, which only a bug could make: then it "runs past the segment").
        let sealed = self.sealed.load(Ordering::Acquire) as usize;
        let rest = if (HEADER_PAGE as usize..=sealed).contains(&off) { self.lend(off..sealed) } else { &[] };
        let checked = if self.verified.get(idx) {
            check_header(rest, lsn).inspect(|len| touch(&rest[RECORD_HEADER_LEN..RECORD_HEADER_LEN + len]))
        } else {
            match decode_record(rest, self.seq) {
                Ok(f) if f.lsn == lsn => Ok(f.len as usize),
                Ok(_) => Err("its header names another lsn"),
                Err(e) => Err(frame_error(e)),
            }
        };
        // After the bytes were read: a fault while reading them replaced a
        // page with zeros, and whatever was concluded from them is void.
        if self.map.failed() {
            return Err(failed());
        }
        let len = checked.map_err(damaged)?;
        self.verified.set(idx);
        Ok(Some((off + RECORD_HEADER_LEN, len)))
    }

    /// The payload `start..start + len` of a record `locate` found (panics
    /// if that range is not sealed, which `locate` checked).
    pub fn payload(&self, start: usize, len: usize) -> &[u8] {
        self.lend(start..start + len)
    }

    /// A slice of the mapping: `range` must lie in the sealed bytes
    /// `HEADER_PAGE..sealed` (panics otherwise). The only place a slice of
    /// the mapping is made.
    fn lend(&self, range: Range<usize>) -> &[u8] {
        let sealed = self.sealed.load(Ordering::Acquire);
        assert!(
            HEADER_PAGE as usize <= range.start && range.start <= range.end && range.end as u64 <= sealed,
            "lending {range:?} of a segment sealed up to {sealed}"
        );
        // SAFETY: the range lies inside the mapping (`sealed <= size <=
        // map.len()`), which stays valid, initialised memory while `self.map`
        // lives, so for the borrow of `self` this slice carries (the
        // `Mapping` contract; a page that can no longer be backed, the file
        // shrunk or damaged under us, reads as zeros and sets
        // `map.failed()`, which `locate` checks after reading). Its bytes
        // were written before `sealed` rose past them (`Release` in `write`,
        // `Acquire` above) and are never written again: `write` refuses any
        // range below `sealed` outside the header page, `sealed` only rises
        // while the segment is shared, and the header page is never lent.
        // Their contents can still change from outside the program, which
        // the checksums catch.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(range.start), range.len()) }
    }
}

/// Re-check a verified record's header (cheap: 32 bytes hashed) and return
/// its payload length, checked against what remains of the segment.
fn check_header(rest: &[u8], lsn: Lsn) -> std::result::Result<usize, &'static str> {
    let Ok((h, body)) = RecordHeader::ref_from_prefix(rest) else { return Err("runs past the segment") };
    if crc32fast::hash(&h.as_bytes()[..32]) != h.header_crc.get() {
        return Err("header checksum mismatch");
    }
    if h.lsn.get() != lsn {
        return Err("its header names another lsn");
    }
    let len = h.len.get() as usize;
    if len > body.len() {
        return Err("length runs past the segment");
    }
    Ok(len)
}

/// Read one byte of every page of `bytes`, so that a page that can no longer
/// be backed faults now (and is caught), not later in the caller's hands.
fn touch(bytes: &[u8]) {
    let mut i = 0;
    while i < bytes.len() {
        // SAFETY: `i < bytes.len()`, so the pointer is in bounds of a live slice.
        unsafe { std::ptr::read_volatile(bytes.as_ptr().add(i)) };
        i += PAGE_SIZE - (bytes.as_ptr() as usize + i) % PAGE_SIZE;
    }
}

fn frame_error(e: FrameError) -> &'static str {
    match e {
        FrameError::Short => "runs past the segment",
        FrameError::Zero => "zeroed",
        FrameError::BadHeader => "header checksum mismatch",
        FrameError::ForeignSegment => "its header names another segment",
        FrameError::BadLength => "length runs past the segment",
        FrameError::BadPayload => "payload checksum mismatch",
    }
}

/// A pre-zeroed file waiting under a temporary name to become a segment.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub path: PathBuf,
    pub file: Arc<dyn StorageFile>,
}

/// Create and pre-zero a segment file of `size` bytes under a temporary name,
/// and sync it, so that later writes never allocate and `fdatasync` never has
/// to commit metadata.
pub(crate) fn prepare(storage: &Arc<dyn Storage>, dir: &Path, id: u64, size: u64) -> Result<Prepared> {
    let path = dir.join(format!("prepare-{id:020}{TEMP_SUFFIX}"));
    let run = || -> std::io::Result<Arc<dyn StorageFile>> {
        let file = storage.open(&path, OpenOptions::create())?;
        let zeros = vec![0u8; 1 << 20];
        let mut off = 0u64;
        while off < size {
            let n = (size - off).min(zeros.len() as u64) as usize;
            file.write_all_at(&zeros[..n], off)?;
            off += n as u64;
            // A MiB at a time: one sync of the whole segment at the end
            // (64 MiB, ~120 ms of this disk) queued the log's own syncs
            // behind it, and every caller waited 10-30 ms just after each
            // roll-over. A MiB is ~2 ms of the disk.
            file.sync_data()?;
        }
        file.sync_all()?;
        Ok(file)
    };
    match run() {
        Ok(file) => Ok(Prepared { path, file }),
        Err(e) => {
            let _ = storage.remove(&path);
            Err(Error::io("preallocating", &path, e))
        }
    }
}

/// Give a prepared file its header and its final name: write the header page,
/// sync, rename, sync the directory. Returns the segment, mapped.
// All nine are needed and distinct; a struct for two call sites would only rename them.
#[allow(clippy::too_many_arguments)]
pub(crate) fn activate(
    storage: &Arc<dyn Storage>,
    dir: &Path,
    prepared: Prepared,
    seq: u64,
    first_lsn: Lsn,
    size: u64,
    durable: Lsn,
    dsync: bool,
    log_id: u64,
) -> Result<Segment> {
    let path = dir.join(segment_name(first_lsn));
    let mut page = vec![0u8; HEADER_PAGE as usize];
    page[..64].copy_from_slice(SegmentHeader::new(seq, first_lsn, size, log_id).as_bytes());
    let slot = WATERMARK_SLOTS[0] as usize;
    page[slot..slot + 32].copy_from_slice(WatermarkSlot::new(seq, 0, durable).as_bytes());
    let tmp = &prepared.path;
    prepared.file.write_all_at(&page, 0).map_err(|e| Error::io("writing segment header", tmp, e))?;
    prepared.file.sync_data().map_err(|e| Error::io("syncing segment header", tmp, e))?;
    storage.rename(tmp, &path).map_err(|e| {
        if e.raw_os_error() == Some(libc::EISDIR) {
            // Not the log's file: refuse rather than write around it.
            let reason = "a directory is where this segment must go".to_string();
            Error::BadSegment { path: path.clone(), reason }
        } else {
            Error::io("renaming segment", &path, e)
        }
    })?;
    storage.sync_dir(dir).map_err(|e| Error::io("syncing directory", dir, e))?;
    let file = if dsync {
        storage
            .open(&path, OpenOptions { create: false, dsync: true })
            .map_err(|e| Error::io("opening segment", &path, e))?
    } else {
        prepared.file
    };
    let mut seg = Segment::new(path, file, seq, first_lsn, size, Vec::new())?;
    seg.reopen_at(HEADER_PAGE);
    Ok(seg)
}

#[cfg(all(test, feature = "sim"))]
mod tests {
    use super::*;
    use crate::format::encode_record;
    use crate::storage::MemStorage;

    const SIZE: u64 = 4 * HEADER_PAGE;

    /// A segment of zeros on the simulated disk, as recovery leaves it.
    fn recovered() -> Segment {
        let mem = MemStorage::new();
        let path = PathBuf::from("/s/1.wal");
        mem.create_dir_all(Path::new("/s")).unwrap();
        let file = mem.open(&path, OpenOptions::create()).unwrap();
        file.write_all_at(&vec![0u8; SIZE as usize], 0).unwrap();
        Segment::new(path, file, 1, 1, SIZE, Vec::new()).unwrap()
    }

    /// A fresh segment, open for records.
    fn segment() -> Segment {
        let mut seg = recovered();
        seg.reopen_at(HEADER_PAGE);
        seg
    }

    fn frame(lsn: Lsn, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_record(&mut out, lsn, 1, 0, payload);
        out
    }

    #[test]
    fn written_records_are_lent_and_unwritten_ones_are_not() {
        for via in [Via::Mapping, Via::File] {
            let seg = segment();
            let (a, b) = (frame(1, b"first"), frame(2, b"second"));
            let at_b = HEADER_PAGE + a.len() as u64;
            seg.offsets.write().unwrap().extend([HEADER_PAGE as u32, at_b as u32]);
            seg.write(via, HEADER_PAGE, &a).unwrap();
            let (start, len) = seg.locate(1).unwrap().unwrap();
            assert_eq!(seg.payload(start, len), b"first");
            // Record 2 has an offset but is not written: nothing past the
            // written mark is read, so it runs past what may be lent.
            match seg.locate(2) {
                Err(Error::DamagedRecord { reason: "runs past the segment", .. }) => {}
                other => panic!("{via:?}: expected a refusal, got {other:?}"),
            }
            seg.write(via, at_b, &b).unwrap();
            let (start, len) = seg.locate(2).unwrap().unwrap();
            assert_eq!(seg.payload(start, len), b"second");
            // A watermark slot (the header page is never lent) may be written any time.
            seg.write(via, WATERMARK_SLOTS[1], &[7; 32]).unwrap();
            seg.sync(via, at_b + b.len() as u64).unwrap();
            assert_eq!(seg.payload(start, len), b"second");
        }
    }

    #[test]
    #[should_panic(expected = "below the written mark")]
    fn a_write_over_lent_records_is_refused() {
        let seg = segment();
        let a = frame(1, b"first");
        seg.write(Via::Mapping, HEADER_PAGE, &a).unwrap();
        let _ = seg.write(Via::Mapping, HEADER_PAGE + 8, b"over");
    }

    #[test]
    #[should_panic(expected = "lending")]
    fn nothing_past_the_written_mark_is_lent() {
        let seg = segment();
        seg.write(Via::Mapping, HEADER_PAGE, &frame(1, b"first")).unwrap();
        let _ = seg.payload(HEADER_PAGE as usize, 4096);
    }

    #[test]
    fn a_recovered_segment_is_sealed_whole() {
        let seg = recovered();
        let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = seg.write(Via::File, HEADER_PAGE, b"x");
        }));
        assert!(refused.is_err(), "a recovered segment takes no record until reopened");
        assert_eq!(seg.payload(HEADER_PAGE as usize, 16), &[0u8; 16]);
    }
}
