//! One segment file: preparing (pre-zeroing) it, activating it under its
//! final name, and finding records in its mapping.

use crate::error::{Error, Result};
use crate::format::{
    segment_name, Lsn, RecordHeader, SegmentHeader, WatermarkSlot, HEADER_PAGE, RECORD_HEADER_LEN, TEMP_SUFFIX,
    WATERMARK_SLOTS,
};
use crate::storage::{Mapping, OpenOptions, Storage, StorageFile};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use zerocopy::{FromBytes, IntoBytes};

/// Marks an LSN whose record was lost to damage (only under `Salvage`).
pub(crate) const HOLE: u32 = u32::MAX;

/// A live segment: its file, its mapping and the offset of each record.
#[derive(Debug)]
pub(crate) struct Segment {
    pub path: PathBuf,
    pub file: Arc<dyn StorageFile>,
    pub map: Arc<dyn Mapping>,
    pub seq: u64,
    pub first_lsn: Lsn,
    pub size: u64,
    /// `offsets[i]` is the byte offset of the record `first_lsn + i`, or [`HOLE`].
    pub offsets: RwLock<Vec<u32>>,
}

impl Segment {
    pub fn new(
        path: PathBuf,
        file: Arc<dyn StorageFile>,
        seq: u64,
        first_lsn: Lsn,
        size: u64,
        offsets: Vec<u32>,
    ) -> Result<Self> {
        let map = file.map(size as usize).map_err(|e| Error::io("mapping", &path, e))?;
        Ok(Segment { path, file, map, seq, first_lsn, size, offsets: RwLock::new(offsets) })
    }

    /// Number of LSNs (records and holes) in this segment.
    pub fn record_count(&self) -> u64 {
        self.offsets.read().unwrap_or_else(|e| e.into_inner()).len() as u64
    }

    /// Where the payload of `lsn` lives in the mapping: `(start, len)`.
    /// The caller guarantees the record was written (lsn <= written lsn).
    pub fn locate(&self, lsn: Lsn) -> Option<(usize, usize)> {
        let idx = lsn.checked_sub(self.first_lsn)? as usize;
        let off = *self.offsets.read().unwrap_or_else(|e| e.into_inner()).get(idx)?;
        if off == HOLE {
            return None;
        }
        let off = off as usize;
        let header = &self.bytes()[off..off + RECORD_HEADER_LEN];
        let (h, _) = RecordHeader::read_from_prefix(header).ok()?;
        Some((off + RECORD_HEADER_LEN, h.len.get() as usize))
    }

    /// The whole mapped segment.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the mapping covers `map.len()` bytes of a fully preallocated
        // file that is never shrunk while mapped, so every page is backed.
        // Callers only look at ranges that were completely written before
        // (record headers and payloads below the written mark) and that are
        // never written again while this segment is alive.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr(), self.map.len()) }
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
    storage.rename(tmp, &path).map_err(|e| Error::io("renaming segment", &path, e))?;
    storage.sync_dir(dir).map_err(|e| Error::io("syncing directory", dir, e))?;
    let file = if dsync {
        storage
            .open(&path, OpenOptions { create: false, dsync: true })
            .map_err(|e| Error::io("opening segment", &path, e))?
    } else {
        prepared.file
    };
    Segment::new(path, file, seq, first_lsn, size, Vec::new())
}
