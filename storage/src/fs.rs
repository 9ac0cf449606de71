//! The real file system: `std::fs`, `memmap2` and `fs2`.

use super::sigbus::{self, Registration};
use super::{Mapping, OpenOptions, Storage, StorageFile};
use std::fmt::Debug;
use std::fs::{self, File};
use std::io;
use std::ops::Range;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::sync::Arc;

/// The real file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct FsStorage;

impl FsStorage {
    /// The real file system, behind the seam.
    pub fn shared() -> Arc<dyn Storage> {
        Arc::new(FsStorage)
    }
}

impl Storage for FsStorage {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        // Missing directories, innermost first.
        let mut missing = Vec::new();
        let mut p = Some(dir);
        while let Some(d) = p {
            if d.as_os_str().is_empty() || d.is_dir() {
                break;
            }
            missing.push(d);
            p = d.parent();
        }
        if missing.is_empty() {
            // It exists, but a crashed run may have made it without syncing
            // its parent (contract rule 3): sync the parent again.
            return match dir.parent() {
                None => Ok(()),
                Some(_) => self.sync_dir(parent_of(dir)),
            };
        }
        for d in missing.into_iter().rev() {
            match fs::create_dir(d) {
                Ok(()) => {}
                // Made concurrently by someone else: still sync its parent.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && d.is_dir() => {}
                Err(e) => return Err(e),
            }
            self.sync_dir(parent_of(d))?;
        }
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        Ok(names)
    }

    fn open(&self, path: &Path, opts: OpenOptions) -> io::Result<Arc<dyn StorageFile>> {
        let mut o = fs::OpenOptions::new();
        o.read(true).write(true).create(opts.create);
        if opts.dsync {
            o.custom_flags(libc::O_DSYNC);
        }
        Ok(Arc::new(FsFile { file: o.open(path)? }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn Debug + Send + Sync>> {
        let file = fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        fs2::FileExt::try_lock_exclusive(&file)?;
        // The lock lives as long as the open file description.
        Ok(Box::new(file))
    }
}

/// The directory holding `path` (`.` for a bare relative name).
fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[derive(Debug)]
struct FsFile {
    file: File,
}

impl StorageFile for FsFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.file.write_all_at(buf, offset)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn sync_all(&self) -> io::Result<()> {
        self.file.sync_all()
    }

    fn shrink(&self, len: u64) -> io::Result<()> {
        if len > self.len()? {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "shrink would grow the file"));
        }
        self.file.set_len(len)
    }

    fn map(&self, len: usize) -> io::Result<Arc<dyn Mapping>> {
        if (self.len()? as usize) < len {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "cannot map past the end of a file"));
        }
        let raw = memmap2::MmapOptions::new().len(len).map_raw(&self.file)?;
        // Registered before anyone reads it, so a SIGBUS in it is caught
        // (see `sigbus`); if it cannot be registered it is not handed out.
        let reg = sigbus::register(raw.as_ptr(), raw.len())?;
        Ok(Arc::new(FsMapping { reg, raw }))
    }

    fn holes(&self) -> io::Result<Vec<Range<u64>>> {
        let len = self.len()?;
        let fd = self.file.as_raw_fd();
        let seek = |off: u64, whence: libc::c_int| -> io::Result<Option<u64>> {
            // SAFETY: lseek on a descriptor we own; it only moves the file
            // offset, which this crate never uses (all I/O is positional).
            let r = unsafe { libc::lseek(fd, off as libc::off_t, whence) };
            if r >= 0 {
                return Ok(Some(r as u64));
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                // No data (or no hole) at or after `off`; or a kernel or
                // file system that cannot tell (then no hole is known).
                Some(libc::ENXIO | libc::EINVAL | libc::EOPNOTSUPP) => Ok(None),
                _ => Err(e),
            }
        };
        let mut holes = Vec::new();
        let mut off = 0;
        while off < len {
            let Some(hole) = seek(off, libc::SEEK_HOLE)? else { break };
            if hole >= len {
                break;
            }
            let data = seek(hole, libc::SEEK_DATA)?.unwrap_or(len).min(len);
            if data <= hole {
                // A file system that does not report holes reliably: stop.
                break;
            }
            holes.push(hole..data);
            off = data;
        }
        Ok(holes)
    }
}

#[derive(Debug)]
struct FsMapping {
    // Declared first: dropped (unregistered) before the mapping is unmapped.
    reg: Registration,
    raw: memmap2::MmapRaw,
}

// SAFETY: (1) `raw` is a `MAP_SHARED`, `PROT_READ | PROT_WRITE` mapping
// made once in `map`; `as_ptr`/`len` return its fixed start and length, and
// file-backed pages are always initialised (zeros past the end of the file).
// `MmapRaw` is `Send + Sync` and hands out only a raw pointer. (2) It is
// unmapped only when `raw` is dropped with this value; nothing else here
// remaps or moves it, and truncating, renaming or removing the file does not
// unmap it. (3) It was registered with `sigbus` before it was handed out, and
// `reg` is dropped (unregistered) before `raw` is unmapped (field order):
// while it lives, a SIGBUS in it (truncation, failed allocation, EIO) gets
// a private zero page mapped over the faulting page and sets the flag that
// `failed` reads, so the range stays valid memory. (4) Nothing here writes
// to the mapped bytes or keeps a reference to them; `flush_range` is an
// `msync`, which only writes them back.
unsafe impl Mapping for FsMapping {
    fn as_ptr(&self) -> *mut u8 {
        self.raw.as_mut_ptr()
    }

    fn len(&self) -> usize {
        self.raw.len()
    }

    fn flush_range(&self, offset: usize, len: usize) -> io::Result<()> {
        self.raw.flush_range(offset, len)
    }

    fn failed(&self) -> bool {
        self.reg.failed()
    }
}
