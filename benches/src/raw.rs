//! Raw durable-append baselines: the floor the log is measured against.
//!
//! A [`RawLog`] appends records back to back into one pre-zeroed file and
//! makes each durable before returning, with nothing else: no framing, no
//! checksums, no index, no group commit. It wraps around to offset 0 at the
//! end of the file (the blocks are already allocated and written, as in a
//! recycled segment). These use `std::fs`/`libc` directly on purpose: they
//! are the floor, not the product, and go around the storage seam.

use crate::aligned::{round_up, AlignedBuf, ALIGN};
use crate::dir::prezeroed_file;
use memmap2::MmapMut;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

/// How a raw baseline makes a record durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RawMode {
    /// `pwrite`, then `fdatasync`.
    PwriteFdatasync,
    /// `pwrite` on a file opened with `O_DSYNC`.
    PwriteDsync,
    /// `pwrite` of whole 4 KiB blocks from an aligned buffer on a file opened
    /// with `O_DIRECT | O_DSYNC`; each record is padded to whole blocks.
    DirectDsync,
    /// `memcpy` into a shared mapping, then `msync(MS_SYNC)` of the range.
    MmapMsync,
    /// As [`RawMode::PwriteFdatasync`], and after each sync a 16-byte
    /// counter is written (not synced) into the first 4 KiB page, which
    /// records never use: the next `fdatasync` has two pages to write. This
    /// is the pattern of the log's durable watermark; a diagnostic, not a
    /// floor.
    PwriteFdatasyncWatermark,
}

impl RawMode {
    /// Every mode.
    pub const ALL: [RawMode; 5] = [
        RawMode::PwriteFdatasync,
        RawMode::PwriteDsync,
        RawMode::DirectDsync,
        RawMode::MmapMsync,
        RawMode::PwriteFdatasyncWatermark,
    ];

    /// A short name for benchmark ids.
    pub fn name(self) -> &'static str {
        match self {
            RawMode::PwriteFdatasync => "raw_pwrite_fdatasync",
            RawMode::PwriteDsync => "raw_pwrite_odsync",
            RawMode::DirectDsync => "raw_odirect_odsync",
            RawMode::MmapMsync => "raw_mmap_msync",
            RawMode::PwriteFdatasyncWatermark => "raw_pwrite_fdatasync_watermark",
        }
    }
}

/// One file, appended to durably in one [`RawMode`].
pub struct RawLog {
    file: File,
    mode: RawMode,
    len: u64,
    offset: u64,
    map: Option<MmapMut>,
    block: Option<AlignedBuf>,
    wraps: u64,
    counter: u64,
}

impl std::fmt::Debug for RawLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawLog").field("mode", &self.mode).field("offset", &self.offset).finish()
    }
}

impl RawLog {
    /// Create `path` pre-zeroed with `len` bytes (a multiple of 4 KiB) and
    /// open it for `mode`. Fails (`InvalidInput` from the kernel) where the
    /// file system has no `O_DIRECT`, e.g. tmpfs.
    pub fn create(path: &Path, len: u64, mode: RawMode) -> io::Result<RawLog> {
        if len == 0 || len % ALIGN as u64 != 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "length must be a non-zero multiple of 4 KiB"));
        }
        prezeroed_file(path, len)?;
        let flags = match mode {
            RawMode::PwriteFdatasync | RawMode::MmapMsync | RawMode::PwriteFdatasyncWatermark => 0,
            RawMode::PwriteDsync => libc::O_DSYNC,
            RawMode::DirectDsync => libc::O_DSYNC | o_direct()?,
        };
        let file = OpenOptions::new().read(true).write(true).custom_flags(flags).open(path)?;
        let map = match mode {
            // SAFETY: the file was just created by us with `len` bytes and is
            // never truncated while mapped; no other process maps it.
            RawMode::MmapMsync => Some(unsafe { MmapMut::map_mut(&file)? }),
            _ => None,
        };
        let block = (mode == RawMode::DirectDsync).then(|| AlignedBuf::zeroed(ALIGN));
        let start = Self::start(mode);
        if len <= start {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "no room after the header page"));
        }
        Ok(RawLog { file, mode, len, offset: start, map, block, wraps: 0, counter: 0 })
    }

    /// Where records start: after the header page in the watermark mode, else 0.
    fn start(mode: RawMode) -> u64 {
        if mode == RawMode::PwriteFdatasyncWatermark {
            ALIGN as u64
        } else {
            0
        }
    }

    /// The mode.
    pub fn mode(&self) -> RawMode {
        self.mode
    }

    /// Where the next record goes.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// How many times the log wrapped around to offset 0.
    pub fn wraps(&self) -> u64 {
        self.wraps
    }

    /// Append `record` and return once it is durable. Returns the offset it
    /// was written at. Under [`RawMode::DirectDsync`] the record is copied
    /// into an aligned buffer padded with zeros to whole 4 KiB blocks, and
    /// the next record starts at the next block.
    pub fn append_durable(&mut self, record: &[u8]) -> io::Result<u64> {
        let span = match self.mode {
            RawMode::DirectDsync => round_up(record.len().max(1)) as u64,
            _ => record.len() as u64,
        };
        let start = Self::start(self.mode);
        if span > self.len - start {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "record larger than the file"));
        }
        if self.offset + span > self.len {
            self.offset = start;
            self.wraps += 1;
        }
        let at = self.offset;
        match self.mode {
            RawMode::PwriteFdatasync => {
                self.file.write_all_at(record, at)?;
                self.file.sync_data()?;
            }
            RawMode::PwriteDsync => self.file.write_all_at(record, at)?,
            RawMode::PwriteFdatasyncWatermark => {
                self.file.write_all_at(record, at)?;
                self.file.sync_data()?;
                self.counter += 1;
                let mut mark = [0u8; 16];
                mark[..8].copy_from_slice(&self.counter.to_le_bytes());
                mark[8..].copy_from_slice(&(at + span).to_le_bytes());
                // Like the log's watermark: 2 slots, alternating, carried by the next sync.
                self.file.write_all_at(&mark, 16 * (self.counter % 2))?;
            }
            RawMode::DirectDsync => {
                let block = self.block.get_or_insert_with(|| AlignedBuf::zeroed(span as usize));
                if block.len() < span as usize {
                    *block = AlignedBuf::zeroed(span as usize);
                }
                let buf = &mut block.as_mut_slice()[..span as usize];
                buf[..record.len()].copy_from_slice(record);
                buf[record.len()..].fill(0);
                write_direct(&self.file, block, span as usize, at)?;
            }
            RawMode::MmapMsync => {
                let map = self.map.as_mut().expect("mapped in create");
                map[at as usize..at as usize + record.len()].copy_from_slice(record);
                map.flush_range(at as usize, record.len())?;
            }
        }
        self.offset += span;
        Ok(at)
    }
}

/// Write the first `len` bytes of `buf` at `offset` of a file opened with
/// `O_DIRECT`. Rejects with `InvalidInput`, before any system call, a length
/// or offset that is not a multiple of 4 KiB or a length beyond the buffer
/// (the kernel would fail with `EINVAL` or, worse, the write be partial).
pub fn write_direct(file: &File, buf: &AlignedBuf, len: usize, offset: u64) -> io::Result<()> {
    if len == 0 || len % ALIGN != 0 || offset % ALIGN as u64 != 0 || len > buf.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("O_DIRECT write of {len} bytes at {offset}: length and offset must be multiples of {ALIGN}"),
        ));
    }
    file.write_all_at(&buf.as_slice()[..len], offset)
}

#[cfg(target_os = "linux")]
fn o_direct() -> io::Result<i32> {
    Ok(libc::O_DIRECT)
}

#[cfg(not(target_os = "linux"))]
fn o_direct() -> io::Result<i32> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "O_DIRECT is only benchmarked on Linux"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dir::{bench_dir, read_at};

    fn record(i: usize, len: usize) -> Vec<u8> {
        (0..len).map(|j| (i * 31 + j) as u8 | 1).collect()
    }

    #[test]
    fn every_mode_writes_records_back_to_back_and_they_read_back() {
        let dir = bench_dir("test-raw").unwrap();
        for mode in RawMode::ALL {
            let path = dir.path().join(mode.name());
            let mut log = match RawLog::create(&path, 64 << 10, mode) {
                Ok(l) => l,
                // tmpfs has no O_DIRECT: the one mode that may be unavailable.
                Err(e) if mode == RawMode::DirectDsync && e.raw_os_error() == Some(libc::EINVAL) => continue,
                Err(e) => panic!("{mode:?}: {e}"),
            };
            let mut expect = Vec::new();
            for (i, len) in [128usize, 4096, 1, 300].into_iter().enumerate() {
                let r = record(i, len);
                let at = log.append_durable(&r).unwrap();
                expect.push((at, r));
            }
            drop(log);
            let mut next = if mode == RawMode::PwriteFdatasyncWatermark { 4096 } else { 0 };
            for (at, r) in &expect {
                assert_eq!(*at, next, "{mode:?}: records not back to back");
                assert_eq!(&read_at(&path, *at, r.len()).unwrap(), r, "{mode:?}");
                next = at + if mode == RawMode::DirectDsync { round_up(r.len()) as u64 } else { r.len() as u64 };
            }
            if mode == RawMode::DirectDsync {
                // Padding after a short record is zeros, not stale bytes of the previous one.
                let pad = read_at(&path, expect[3].0 + 300, 4096 - 300).unwrap();
                assert!(pad.iter().all(|&b| b == 0));
            }
            if mode == RawMode::PwriteFdatasyncWatermark {
                // Four appends: counter 4 in slot 0, counter 3 in slot 1, each with the end offset.
                let hdr = read_at(&path, 0, 32).unwrap();
                let word = |i: usize| u64::from_le_bytes(hdr[i * 8..i * 8 + 8].try_into().unwrap());
                assert_eq!((word(0), word(1)), (4, 4096 + 128 + 4096 + 1 + 300));
                assert_eq!((word(2), word(3)), (3, 4096 + 128 + 4096 + 1));
            }
        }
    }

    #[test]
    fn wraps_around_at_the_end_of_the_file() {
        let dir = bench_dir("test-wrap").unwrap();
        let path = dir.path().join("log");
        let mut log = RawLog::create(&path, 8192, RawMode::PwriteFdatasync).unwrap();
        let offs: Vec<u64> = (0..5).map(|i| log.append_durable(&record(i, 3000)).unwrap()).collect();
        assert_eq!(offs, vec![0, 3000, 0, 3000, 0]);
        assert_eq!(log.wraps(), 2);
        assert_eq!(read_at(&path, 0, 3000).unwrap(), record(4, 3000));
        assert!(log.append_durable(&[0u8; 8193]).is_err(), "a record larger than the file must be refused");
    }

    #[test]
    fn create_rejects_lengths_that_are_not_whole_blocks() {
        let dir = bench_dir("test-len").unwrap();
        for len in [0, 100, 4097] {
            let e = RawLog::create(&dir.path().join("x"), len, RawMode::PwriteFdatasync).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "len {len}");
        }
    }

    #[test]
    fn direct_writer_rejects_misaligned_sizes_and_offsets() {
        let dir = bench_dir("test-direct").unwrap();
        let path = dir.path().join("log");
        // The checks run before any system call, so a plain file will do.
        prezeroed_file(&path, 16384).unwrap();
        let file = OpenOptions::new().read(true).write(true).open(&path).unwrap();
        let buf = AlignedBuf::zeroed(8192);
        for (len, off) in [(128, 0), (4096, 512), (0, 0), (4095, 4096), (12288, 0)] {
            let e = write_direct(&file, &buf, len, off).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "len {len} at {off}");
        }
        // Nothing was written by the rejected calls.
        assert!(std::fs::read(&path).unwrap().iter().all(|&b| b == 0));
    }

    #[test]
    fn direct_writer_handles_unaligned_records_by_padding() {
        let dir = bench_dir("test-direct-pad").unwrap();
        let path = dir.path().join("log");
        let mut log = match RawLog::create(&path, 32768, RawMode::DirectDsync) {
            Ok(l) => l,
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => return, // no O_DIRECT here (tmpfs)
            Err(e) => panic!("{e}"),
        };
        // 5000 bytes: two blocks; the next record starts at 8192, aligned.
        assert_eq!(log.append_durable(&record(1, 5000)).unwrap(), 0);
        assert_eq!(log.append_durable(&record(2, 10)).unwrap(), 8192);
        assert_eq!(log.offset(), 12288);
        assert_eq!(read_at(&path, 0, 5000).unwrap(), record(1, 5000));
        assert_eq!(read_at(&path, 8192, 10).unwrap(), record(2, 10));
    }
}
