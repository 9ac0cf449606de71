//! A file: its page cache over its disk image, write-back, lying pages,
//! power loss; and the handle the store reads, writes and syncs through.

use super::faults::FaultCell;
use super::map::{MemMapping, RawBuf};
use super::{eio, is_eio};
use crate::{Mapping, StorageFile, PAGE_SIZE, SECTOR_SIZE};
use rand::Rng;
use std::collections::BTreeSet;
use std::fmt::{self, Debug};
use std::io;
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Default)]
pub(super) struct FileState {
    pub(super) cache: RawBuf,
    pub(super) len: usize,
    pub(super) disk: Vec<u8>,
    pub(super) dirty: BTreeSet<usize>,
    /// Clean pages whose cached bytes are not what the disk holds (a failed
    /// sync or write-back marked them clean unwritten): eviction candidates.
    pub(super) lying: BTreeSet<usize>,
    pub(super) maps: usize,
}

impl FileState {
    fn ensure_len(&mut self, end: usize) -> io::Result<()> {
        if end <= self.len {
            return Ok(());
        }
        if self.maps > 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "cannot grow a mapped file"));
        }
        if end > self.cache.cap {
            let mut bigger = RawBuf::zeroed(end.max(self.cache.cap * 2));
            bigger.write(0, &self.cache.to_vec(self.len));
            self.cache = bigger;
        }
        self.len = end;
        Ok(())
    }

    fn pages(offset: usize, len: usize) -> std::ops::RangeInclusive<usize> {
        if len == 0 {
            #[allow(clippy::reversed_empty_ranges)]
            return 1..=0;
        }
        offset / PAGE_SIZE..=(offset + len - 1) / PAGE_SIZE
    }

    fn write(&mut self, offset: usize, bytes: &[u8]) {
        self.cache.write(offset, bytes);
        for page in Self::pages(offset, bytes.len()) {
            self.dirty.insert(page);
            self.lying.remove(&page);
        }
    }

    /// Copy `pages` from the cache to the disk, at the disk's length.
    pub(super) fn write_back(&mut self, pages: &[usize]) {
        for &page in pages {
            let start = page * PAGE_SIZE;
            let end = (start + PAGE_SIZE).min(self.len).min(self.disk.len());
            if start < end {
                self.cache.read(start, &mut self.disk[start..end]);
            }
        }
        for page in pages {
            if !self.differs(*page) {
                self.lying.remove(page);
            }
        }
    }

    pub(super) fn flush(&mut self, pages: impl IntoIterator<Item = usize>) {
        self.disk.resize(self.len, 0);
        let pages: Vec<usize> = pages.into_iter().collect();
        self.write_back(&pages);
    }

    fn sync(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        self.flush(dirty);
    }

    /// Whether the cached page differs from the disk's (zeros past its end).
    fn differs(&self, page: usize) -> bool {
        let start = page * PAGE_SIZE;
        let end = (start + PAGE_SIZE).min(self.len);
        if start >= end {
            return false;
        }
        let mut page = [0u8; PAGE_SIZE];
        let cached = &mut page[..end - start];
        self.cache.read(start, cached);
        cached.iter().enumerate().any(|(i, b)| *b != self.disk.get(start + i).copied().unwrap_or(0))
    }

    /// Note the (no longer dirty) `pages` whose cache differs from the disk
    /// as lying; returns how many.
    pub(super) fn mark_lying(&mut self, pages: impl IntoIterator<Item = usize>) -> u64 {
        let mut n = 0;
        for page in pages {
            if self.differs(page) && self.lying.insert(page) {
                n += 1;
            }
        }
        n
    }

    /// Evict each lying page with probability `p` (none while mapped).
    pub(super) fn evict(&mut self, p: f64, rng: &mut impl Rng) -> u64 {
        if self.maps > 0 || self.lying.is_empty() {
            return 0;
        }
        let mut n = 0;
        for page in self.lying.clone() {
            if p < 1.0 && !rng.random_bool(p) {
                continue;
            }
            let start = page * PAGE_SIZE;
            let end = (start + PAGE_SIZE).min(self.len);
            if start < end {
                let bytes: Vec<u8> = (start..end).map(|i| self.disk.get(i).copied().unwrap_or(0)).collect();
                self.cache.write(start, &bytes);
            }
            self.lying.remove(&page);
            n += 1;
        }
        n
    }

    /// Returns how many sectors came back as garbage.
    pub(super) fn power_loss(&mut self, garbage: f64, rng: &mut impl Rng) -> u64 {
        let len = if self.len != self.disk.len() && rng.random_bool(0.5) { self.len } else { self.disk.len() };
        let cache = self.cache.to_vec(self.len);
        self.disk.resize(len, 0);
        let mut garbled = 0;
        for page in std::mem::take(&mut self.dirty) {
            let start = page * PAGE_SIZE;
            let end = (start + PAGE_SIZE).min(len).min(cache.len());
            if start >= end {
                continue;
            }
            match rng.random_range(0..3) {
                0 => self.disk[start..end].copy_from_slice(&cache[start..end]),
                1 => {}
                _ => {
                    let mut s = start;
                    while s < end {
                        let e = (s + SECTOR_SIZE).min(end);
                        if rng.random_bool(0.5) {
                            self.disk[s..e].copy_from_slice(&cache[s..e]);
                        } else if garbage > 0.0 && rng.random_bool(garbage) {
                            rng.fill_bytes(&mut self.disk[s..e]);
                            garbled += 1;
                        }
                        s = e;
                    }
                }
            }
        }
        let mut fresh = RawBuf::zeroed(len);
        fresh.write(0, &self.disk);
        self.cache = fresh;
        self.len = len;
        self.lying.clear();
        garbled
    }
}

pub(super) struct MemFile {
    pub(super) shared: Arc<FaultCell>,
    pub(super) ino: u64,
    pub(super) st: Mutex<FileState>,
}

impl MemFile {
    pub(super) fn state(&self) -> MutexGuard<'_, FileState> {
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub(super) struct MemHandle {
    pub(super) file: Arc<MemFile>,
    pub(super) dsync: bool,
}

impl Debug for MemHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MemFile(inode {})", self.file.ino)
    }
}

impl StorageFile for MemHandle {
    fn len(&self) -> io::Result<u64> {
        Ok(self.file.state().len as u64)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let end = offset + buf.len() as u64;
        {
            let f = self.file.shared.faults();
            if f.read_errors.iter().any(|(ino, r)| *ino == self.file.ino && r.start < end && offset < r.end) {
                return Err(eio());
            }
        }
        let st = self.file.state();
        if end > st.len as u64 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
        }
        st.cache.read(offset as usize, buf);
        Ok(())
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        let shared = &self.file.shared;
        let synced = if self.dsync { shared.sync() } else { shared.op() };
        let failed = match synced {
            Ok(()) => false,
            Err(e) if self.dsync && is_eio(&e) && shared.faults().model.dsync_failure_caches => true,
            Err(e) => return Err(e),
        };
        let end = offset as usize + buf.len();
        self.file.shared.allocate(self.file.ino, offset..end as u64)?;
        let mut st = self.file.state();
        if end > st.len {
            shared.grow((end - st.len) as u64)?;
        }
        st.ensure_len(end)?;
        st.write(offset as usize, buf);
        if failed {
            // The data stays in the cache, clean, not (or partly) on disk.
            let pages: Vec<usize> = FileState::pages(offset as usize, buf.len()).collect();
            for p in &pages {
                st.dirty.remove(p);
            }
            shared.failed_sync(&mut st, pages);
            return Err(eio());
        }
        if self.dsync {
            st.sync();
            if shared.take_writeback_error(self.file.ino) {
                return Err(eio());
            }
        }
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let shared = &self.file.shared;
        let res = shared.sync();
        let mut st = self.file.state();
        match res {
            Ok(()) => {
                st.sync();
                if shared.take_writeback_error(self.file.ino) {
                    return Err(eio());
                }
                Ok(())
            }
            Err(e) => {
                if is_eio(&e) {
                    // As on Linux: the failed pages are marked clean (and,
                    // under fsyncgate, some of them written); a pending
                    // write-back error is reported by this failure too.
                    let dirty: Vec<usize> = std::mem::take(&mut st.dirty).into_iter().collect();
                    shared.failed_sync(&mut st, dirty);
                    shared.faults().writeback_errors.remove(&self.file.ino);
                }
                Err(e)
            }
        }
    }

    fn sync_all(&self) -> io::Result<()> {
        self.sync_data()
    }

    /// As `ftruncate` to a smaller length: the cut bytes read as zeros if
    /// the file grows again, and the disk keeps its old length until the
    /// next sync (a power loss before it may leave either). The blocks are
    /// counted free at once. Refused while the file is mapped.
    fn shrink(&self, len: u64) -> io::Result<()> {
        self.file.shared.op()?;
        let mut st = self.file.state();
        if st.maps > 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "cannot shrink a mapped file"));
        }
        let (old, len) = (st.len, usize::try_from(len).unwrap_or(usize::MAX));
        if len > old {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "shrink would grow the file"));
        }
        st.cache.write(len, &vec![0; old - len]);
        st.len = len;
        // A page cut whole is neither dirty nor lying any more.
        let first_gone = len.div_ceil(PAGE_SIZE);
        st.dirty.retain(|&p| p < first_gone);
        st.lying.retain(|&p| p < first_gone);
        drop(st);
        let mut f = self.file.shared.faults();
        f.used = f.used.saturating_sub((old - len) as u64);
        Ok(())
    }

    fn map(&self, len: usize) -> io::Result<Arc<dyn Mapping>> {
        let mut st = self.file.state();
        if len > st.len {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "cannot map past the end of a file"));
        }
        st.maps += 1;
        Ok(Arc::new(MemMapping { file: self.file.clone(), ptr: st.cache.ptr(), len }))
    }

    fn holes(&self) -> io::Result<Vec<Range<u64>>> {
        let f = self.file.shared.faults();
        let mut holes: Vec<Range<u64>> =
            f.holes.iter().filter(|(i, _)| *i == self.file.ino).map(|(_, h)| h.clone()).collect();
        holes.sort_by_key(|h| h.start);
        Ok(holes)
    }
}
