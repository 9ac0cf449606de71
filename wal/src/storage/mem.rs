//! An in-memory file system that models a page cache over a disk, for crash
//! and fault tests.
//!
//! Model:
//! - Each file has a *cache* (what reads see) and a *disk* image (what survives
//!   power loss). Writes go to the cache and mark their 4 KiB pages dirty;
//!   `sync_data`/`sync_all` copy the dirty pages (and the length) to disk.
//! - Each directory has a *current* listing and a *durable* one, plus the list
//!   of entry operations (link, unlink, rename) since its last `sync_dir`.
//! - [`MemStorage::crash`] with [`CrashKind::PowerLoss`]: every dirty page is
//!   independently kept, dropped, or torn (each 512-byte sector kept or not);
//!   the file length falls back to the durable one or keeps the cached one;
//!   each directory keeps a random prefix of its unsynced entry operations
//!   (metadata journalling keeps their order). [`CrashKind::Process`] loses
//!   nothing: the page cache survives a killed process.
//! - Bytes written through a mapping are not tracked as dirty: unless flushed
//!   with [`super::Mapping::flush_range`] they are lost on power loss (one of
//!   the outcomes a real page cache allows).
//! - Faults: the Nth sync fails with EIO (and, as on Linux, the dirty pages are
//!   marked clean without reaching the disk); a capacity makes growth fail
//!   with ENOSPC; a byte range of a file can be made to fail reads with EIO;
//!   after N mutating operations every further one fails, as if the process
//!   had died there ([`MemStorage::crash_after_ops`]).
//! - Mappings: [`MemStorage::fail_mapped_reads`] makes a file's mappings
//!   report a failed read (the model of a SIGBUS the real storage catches);
//!   [`MemStorage::punch_hole`] makes a range sparse, so writing it must
//!   allocate again (ENOSPC past the capacity).
//!
//! Directories themselves (made by `create_dir_all`) are always durable.

use super::{Mapping, OpenOptions, Storage, StorageFile, PAGE_SIZE, SECTOR_SIZE};
use rand::Rng;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::{self, Debug};
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// What kind of crash to simulate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashKind {
    /// The process died; the page cache survives. Nothing written is lost.
    Process,
    /// The machine lost power: only synced data is certain to survive.
    PowerLoss,
}

/// An in-memory, fault-injecting file system. Clones share the same files.
#[derive(Clone, Default)]
pub struct MemStorage {
    shared: Arc<Shared>,
}

impl Debug for MemStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MemStorage")
    }
}

#[derive(Default)]
struct Shared {
    ns: Mutex<Namespace>,
    faults: Arc<FaultCell>,
}

/// The fault-injection state. Files hold this, not [`Shared`]: a file held
/// by the namespace must not hold the namespace (that cycle leaked every
/// MemStorage).
#[derive(Default)]
struct FaultCell {
    inner: Mutex<Faults>,
}

#[derive(Default)]
struct Namespace {
    next_inode: u64,
    files: HashMap<u64, Arc<MemFile>>,
    dirs: BTreeMap<PathBuf, Dir>,
    locks: HashSet<PathBuf>,
}

#[derive(Default, Clone)]
struct Dir {
    current: BTreeMap<String, u64>,
    durable: BTreeMap<String, u64>,
    pending: Vec<DirOp>,
}

#[derive(Clone, Debug)]
enum DirOp {
    Link(String, u64),
    Unlink(String),
    Rename(String, String),
}

impl DirOp {
    fn apply(&self, map: &mut BTreeMap<String, u64>) {
        match self {
            DirOp::Link(name, ino) => {
                map.insert(name.clone(), *ino);
            }
            DirOp::Unlink(name) => {
                map.remove(name);
            }
            DirOp::Rename(from, to) => {
                if let Some(ino) = map.remove(from) {
                    map.insert(to.clone(), ino);
                }
            }
        }
    }
}

#[derive(Default)]
struct Faults {
    syncs: u64,
    fail_syncs: BTreeSet<u64>,
    ops: u64,
    crash_after_ops: Option<u64>,
    capacity: Option<u64>,
    used: u64,
    read_errors: Vec<(u64, Range<u64>)>,
    /// Inodes whose mappings report failed reads (the model's SIGBUS).
    failed_maps: HashSet<u64>,
    /// Unallocated ranges of files (punched holes): writing there allocates.
    holes: Vec<(u64, Range<u64>)>,
}

fn eio() -> io::Error {
    io::Error::from_raw_os_error(libc::EIO)
}

fn crashed() -> io::Error {
    io::Error::other("simulated crash: the process is dead")
}

impl MemStorage {
    /// A new, empty in-memory file system.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same file system behind the seam.
    pub fn shared(&self) -> Arc<dyn Storage> {
        Arc::new(self.clone())
    }

    fn ns(&self) -> MutexGuard<'_, Namespace> {
        self.shared.ns.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn faults(&self) -> MutexGuard<'_, Faults> {
        self.shared.faults.faults()
    }

    /// Make the `n`th sync from now (0 = the next one) fail with EIO.
    pub fn fail_sync(&self, n: u64) {
        let mut f = self.faults();
        let at = f.syncs + n;
        f.fail_syncs.insert(at);
    }

    /// Number of syncs (file syncs, `O_DSYNC` writes, mapping flushes) so far.
    pub fn sync_count(&self) -> u64 {
        self.faults().syncs
    }

    /// Number of mutating operations so far.
    pub fn op_count(&self) -> u64 {
        self.faults().ops
    }

    /// After `n` more mutating operations (writes, syncs, creates, renames,
    /// removals, directory syncs), every further one fails as if the process
    /// had died. Follow with [`MemStorage::crash`].
    pub fn crash_after_ops(&self, n: u64) {
        let mut f = self.faults();
        f.crash_after_ops = Some(f.ops + n);
    }

    /// Limit the total bytes all files may occupy; growth past it fails with ENOSPC.
    pub fn set_capacity(&self, bytes: Option<u64>) {
        self.faults().capacity = bytes;
    }

    /// How many handles share this file system (clones, and the storage
    /// handed to logs that are still open); 1 when this is the last one.
    pub fn handles(&self) -> usize {
        Arc::strong_count(&self.shared)
    }

    /// Bytes all files occupy now (what [`MemStorage::set_capacity`] limits).
    pub fn used_bytes(&self) -> u64 {
        self.faults().used
    }

    /// Reads of `range` of the file at `path` fail with EIO (a latent sector error).
    pub fn fail_reads(&self, path: &Path, range: Range<u64>) -> io::Result<()> {
        let ino = self.lookup(path)?;
        self.faults().read_errors.push((ino, range));
        Ok(())
    }

    /// Every mapping of the file at `path` (live or made later) reports a
    /// failed read ([`super::Mapping::failed`]): the model of a SIGBUS caught
    /// in a mapping (the file truncated under it, a hole that cannot be
    /// allocated, EIO while paging in). The bytes are left as they are: a
    /// reader must act on the flag. Cleared by [`MemStorage::crash`].
    pub fn fail_mapped_reads(&self, path: &Path) -> io::Result<()> {
        let ino = self.lookup(path)?;
        self.faults().failed_maps.insert(ino);
        Ok(())
    }

    /// Punch a hole in the file at `path` (`fallocate(PUNCH_HOLE |
    /// KEEP_SIZE)`): the range reads as zeros (cache and disk), frees its
    /// space, and must be allocated again (counted against the capacity,
    /// ENOSPC past it) when it is written. The part past the file's end is ignored.
    pub fn punch_hole(&self, path: &Path, range: Range<u64>) -> io::Result<()> {
        let ino = self.lookup(path)?;
        let file = self.ns().files[&ino].clone();
        let mut st = file.state();
        let range = range.start.min(st.len as u64)..range.end.min(st.len as u64);
        if range.is_empty() {
            return Ok(());
        }
        let zeros = vec![0u8; (range.end - range.start) as usize];
        st.cache.write(range.start as usize, &zeros);
        let end = (range.end as usize).min(st.disk.len());
        if (range.start as usize) < end {
            st.disk[range.start as usize..end].fill(0);
        }
        let mut f = self.faults();
        let already = hole_overlap(&f.holes, ino, &range);
        f.used -= (range.end - range.start) - already;
        carve_holes(&mut f.holes, ino, &range);
        f.holes.push((ino, range));
        Ok(())
    }

    /// Simulate a crash. All handles and mappings of the crashed process must
    /// have been dropped. Injected faults are cleared.
    pub fn crash(&self, kind: CrashKind, rng: &mut impl Rng) {
        let mut ns = self.ns();
        ns.locks.clear();
        {
            let mut f = self.faults();
            f.crash_after_ops = None;
            f.fail_syncs.clear();
            f.read_errors.clear();
            f.failed_maps.clear();
        }
        if kind == CrashKind::Process {
            return;
        }
        for dir in ns.dirs.values_mut() {
            let keep = rng.random_range(0..=dir.pending.len());
            for op in &dir.pending[..keep] {
                op.apply(&mut dir.durable);
            }
            dir.pending.clear();
            dir.current = dir.durable.clone();
        }
        let live: HashSet<u64> = ns.dirs.values().flat_map(|d| d.current.values().copied()).collect();
        ns.files.retain(|ino, _| live.contains(ino));
        let mut used = 0;
        // Inode order, so that a seeded crash is reproducible.
        let mut files: Vec<(&u64, &Arc<MemFile>)> = ns.files.iter().collect();
        files.sort_by_key(|(ino, _)| **ino);
        for (_, file) in files {
            let mut st = file.state();
            assert_eq!(st.maps, 0, "MemStorage::crash with a live mapping");
            st.power_loss(rng);
            used += st.len as u64;
        }
        self.faults().used = used;
    }

    /// The cached contents of a file (what a read would return).
    pub fn read_file(&self, path: &Path) -> io::Result<Vec<u8>> {
        let ino = self.lookup(path)?;
        let file = self.ns().files[&ino].clone();
        let st = file.state();
        Ok(st.cache.as_slice(st.len).to_vec())
    }

    /// Flip bits of a file on disk and in the cache (bit rot). Out-of-range
    /// offsets are ignored.
    pub fn corrupt(&self, path: &Path, offset: u64, xor: u8) -> io::Result<()> {
        let ino = self.lookup(path)?;
        let file = self.ns().files[&ino].clone();
        let mut st = file.state();
        let off = offset as usize;
        if off < st.len {
            // SAFETY: `off < len <= cap`, and no mapping reader exists in a
            // test that corrupts a file (the process is "down").
            unsafe { *st.cache.ptr().add(off) ^= xor };
        }
        if off < st.disk.len() {
            st.disk[off] ^= xor;
        }
        Ok(())
    }

    /// Replace a file's contents, durably (a file planted by a test).
    pub fn put_file(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let file = self.open(path, OpenOptions::create())?;
        file.write_all_at(bytes, 0)?;
        file.sync_all()?;
        let dir = path.parent().unwrap_or(Path::new(""));
        self.sync_dir(dir)
    }

    fn lookup(&self, path: &Path) -> io::Result<u64> {
        let (dir, name) = split(path)?;
        let ns = self.ns();
        ns.dirs
            .get(&dir)
            .and_then(|d| d.current.get(&name))
            .copied()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{}", path.display())))
    }

    /// Count a mutating operation; fails once the simulated process is dead.
    fn op(&self) -> io::Result<()> {
        self.shared.faults.op()
    }
}

impl FaultCell {
    fn faults(&self) -> MutexGuard<'_, Faults> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn op(&self) -> io::Result<()> {
        let mut f = self.faults();
        if let Some(limit) = f.crash_after_ops {
            if f.ops >= limit {
                return Err(crashed());
            }
        }
        f.ops += 1;
        Ok(())
    }

    /// Count a sync; `Err` when this one is to fail.
    fn sync(&self) -> io::Result<()> {
        self.op()?;
        let mut f = self.faults();
        let n = f.syncs;
        f.syncs += 1;
        if f.fail_syncs.remove(&n) {
            return Err(eio());
        }
        Ok(())
    }

    fn grow(&self, by: u64) -> io::Result<()> {
        let mut f = self.faults();
        if let Some(cap) = f.capacity {
            if f.used + by > cap {
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
        }
        f.used += by;
        Ok(())
    }
}

/// Bytes of `range` of file `ino` that lie in holes.
fn hole_overlap(holes: &[(u64, Range<u64>)], ino: u64, range: &Range<u64>) -> u64 {
    holes
        .iter()
        .filter(|(i, _)| *i == ino)
        .map(|(_, h)| h.end.min(range.end).saturating_sub(h.start.max(range.start)))
        .sum()
}

/// Remove `range` of file `ino` from the holes (it is allocated now).
fn carve_holes(holes: &mut Vec<(u64, Range<u64>)>, ino: u64, range: &Range<u64>) {
    let mut out = Vec::with_capacity(holes.len() + 1);
    for (i, h) in holes.drain(..) {
        if i != ino || h.end <= range.start || range.end <= h.start {
            out.push((i, h));
            continue;
        }
        if h.start < range.start {
            out.push((i, h.start..range.start));
        }
        if range.end < h.end {
            out.push((i, range.end..h.end));
        }
    }
    *holes = out;
}

impl FaultCell {
    /// A write to `range` of file `ino` allocates the holes it covers: ENOSPC
    /// past the capacity (nothing allocated then).
    fn allocate(&self, ino: u64, range: Range<u64>) -> io::Result<()> {
        let mut f = self.faults();
        let need = hole_overlap(&f.holes, ino, &range);
        if need == 0 {
            return Ok(());
        }
        if let Some(cap) = f.capacity {
            if f.used + need > cap {
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
        }
        f.used += need;
        carve_holes(&mut f.holes, ino, &range);
        Ok(())
    }
}

fn split(path: &Path) -> io::Result<(PathBuf, String)> {
    let name = path.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
    Ok((dir, name.to_string_lossy().into_owned()))
}

impl Storage for MemStorage {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut ns = self.ns();
        let mut p = Some(dir);
        while let Some(d) = p {
            ns.dirs.entry(d.to_path_buf()).or_default();
            p = d.parent();
        }
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let ns = self.ns();
        let d =
            ns.dirs.get(dir).ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{}", dir.display())))?;
        Ok(d.current.keys().cloned().collect())
    }

    fn open(&self, path: &Path, opts: OpenOptions) -> io::Result<Arc<dyn StorageFile>> {
        let (dir, name) = split(path)?;
        let mut ns = self.ns();
        let existing = ns
            .dirs
            .get(&dir)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{}", dir.display())))?
            .current
            .get(&name)
            .copied();
        let file = match existing {
            Some(ino) => ns.files[&ino].clone(),
            None if opts.create => {
                self.op()?;
                let ino = ns.next_inode;
                ns.next_inode += 1;
                let file =
                    Arc::new(MemFile { shared: self.shared.faults.clone(), ino, st: Mutex::new(FileState::default()) });
                ns.files.insert(ino, file.clone());
                let d = ns.dirs.get_mut(&dir).expect("checked above");
                d.current.insert(name.clone(), ino);
                d.pending.push(DirOp::Link(name, ino));
                file
            }
            None => return Err(io::Error::new(io::ErrorKind::NotFound, format!("{}", path.display()))),
        };
        Ok(Arc::new(MemHandle { file, dsync: opts.dsync }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let (dir, from_name) = split(from)?;
        let (to_dir, to_name) = split(to)?;
        if dir != to_dir {
            return Err(io::Error::new(io::ErrorKind::Unsupported, "rename across directories"));
        }
        self.op()?;
        let mut ns = self.ns();
        let d = ns.dirs.get_mut(&dir).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        let ino = d.current.remove(&from_name).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        d.current.insert(to_name.clone(), ino);
        d.pending.push(DirOp::Rename(from_name, to_name));
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let (dir, name) = split(path)?;
        self.op()?;
        let mut ns = self.ns();
        let d = ns.dirs.get_mut(&dir).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        d.current.remove(&name).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        d.pending.push(DirOp::Unlink(name));
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.op()?;
        let mut ns = self.ns();
        let d = ns.dirs.get_mut(dir).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        d.durable = d.current.clone();
        d.pending.clear();
        Ok(())
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn Debug + Send + Sync>> {
        let mut ns = self.ns();
        if !ns.locks.insert(path.to_path_buf()) {
            return Err(io::Error::new(io::ErrorKind::WouldBlock, "lock is held"));
        }
        Ok(Box::new(MemLock { storage: self.clone(), path: path.to_path_buf() }))
    }
}

struct MemLock {
    storage: MemStorage,
    path: PathBuf,
}

impl Debug for MemLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MemLock({})", self.path.display())
    }
}

impl Drop for MemLock {
    fn drop(&mut self) {
        self.storage.ns().locks.remove(&self.path);
    }
}

/// A heap buffer whose address never changes while it is mapped.
struct RawBuf {
    ptr: *mut u8,
    cap: usize,
}

// SAFETY: RawBuf owns its allocation like a Box<[u8]>; all access is guarded by
// the FileState mutex or follows the mapping discipline documented on Mapping.
unsafe impl Send for RawBuf {}

impl Default for RawBuf {
    fn default() -> Self {
        Self::zeroed(0)
    }
}

impl RawBuf {
    fn zeroed(cap: usize) -> Self {
        let b: Box<[u8]> = vec![0u8; cap].into_boxed_slice();
        let cap = b.len();
        Self { ptr: Box::into_raw(b) as *mut u8, cap }
    }
    fn ptr(&self) -> *mut u8 {
        self.ptr
    }
    fn as_slice(&self, len: usize) -> &[u8] {
        assert!(len <= self.cap);
        // SAFETY: ptr is valid for `cap` initialised bytes and len <= cap.
        unsafe { std::slice::from_raw_parts(self.ptr, len) }
    }
    fn write(&mut self, offset: usize, bytes: &[u8]) {
        assert!(offset + bytes.len() <= self.cap);
        // SAFETY: the range is inside the allocation (asserted above); a raw
        // copy creates no reference that could alias a mapping reader's slice.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.add(offset), bytes.len()) };
    }
}

impl Drop for RawBuf {
    fn drop(&mut self) {
        // SAFETY: ptr/cap came from Box::into_raw of a boxed slice of length cap.
        unsafe { drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(self.ptr, self.cap))) };
    }
}

#[derive(Default)]
struct FileState {
    cache: RawBuf,
    len: usize,
    disk: Vec<u8>,
    dirty: BTreeSet<usize>,
    maps: usize,
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
            bigger.write(0, self.cache.as_slice(self.len));
            self.cache = bigger;
        }
        self.len = end;
        Ok(())
    }

    fn write(&mut self, offset: usize, bytes: &[u8]) {
        self.cache.write(offset, bytes);
        if !bytes.is_empty() {
            for page in offset / PAGE_SIZE..=(offset + bytes.len() - 1) / PAGE_SIZE {
                self.dirty.insert(page);
            }
        }
    }

    fn flush(&mut self, pages: impl IntoIterator<Item = usize>) {
        self.disk.resize(self.len, 0);
        for page in pages {
            let start = page * PAGE_SIZE;
            let end = (start + PAGE_SIZE).min(self.len);
            if start < end {
                self.disk[start..end].copy_from_slice(&self.cache.as_slice(self.len)[start..end]);
            }
        }
    }

    fn sync(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        self.flush(dirty);
    }

    fn power_loss(&mut self, rng: &mut impl Rng) {
        let len = if self.len != self.disk.len() && rng.random_bool(0.5) { self.len } else { self.disk.len() };
        let cache = self.cache.as_slice(self.len).to_vec();
        self.disk.resize(len, 0);
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
    }
}

struct MemFile {
    shared: Arc<FaultCell>,
    ino: u64,
    st: Mutex<FileState>,
}

impl MemFile {
    fn state(&self) -> MutexGuard<'_, FileState> {
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct MemHandle {
    file: Arc<MemFile>,
    dsync: bool,
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
        buf.copy_from_slice(&st.cache.as_slice(st.len)[offset as usize..end as usize]);
        Ok(())
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        if self.dsync {
            self.file.shared.sync()?;
        } else {
            self.file.shared.op()?;
        }
        let end = offset as usize + buf.len();
        self.file.shared.allocate(self.file.ino, offset..end as u64)?;
        let mut st = self.file.state();
        if end > st.len {
            self.file.shared.grow((end - st.len) as u64)?;
        }
        st.ensure_len(end)?;
        st.write(offset as usize, buf);
        if self.dsync {
            st.sync();
        }
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let res = self.file.shared.sync();
        let mut st = self.file.state();
        match res {
            Ok(()) => {
                st.sync();
                Ok(())
            }
            Err(e) => {
                if e.raw_os_error() == Some(libc::EIO) {
                    // As on Linux: the failed pages are marked clean, unwritten.
                    st.dirty.clear();
                }
                Err(e)
            }
        }
    }

    fn sync_all(&self) -> io::Result<()> {
        self.sync_data()
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

struct MemMapping {
    file: Arc<MemFile>,
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the pointer targets a RawBuf that is neither freed nor moved while
// `maps > 0` (growth is refused and crash() asserts no mapping is live); the
// mapping discipline (documented on Mapping) keeps readers and writers apart.
unsafe impl Send for MemMapping {}
// SAFETY: as for Send: shared access follows the Mapping discipline.
unsafe impl Sync for MemMapping {}

impl Debug for MemMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MemMapping(inode {}, {} bytes)", self.file.ino, self.len)
    }
}

impl Mapping for MemMapping {
    fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }

    fn len(&self) -> usize {
        self.len
    }

    fn flush_range(&self, offset: usize, len: usize) -> io::Result<()> {
        self.file.shared.sync()?;
        let mut st = self.file.state();
        if len > 0 {
            let pages = offset / PAGE_SIZE..=(offset + len - 1) / PAGE_SIZE;
            for p in pages.clone() {
                st.dirty.remove(&p);
            }
            st.flush(pages);
        }
        Ok(())
    }

    fn failed(&self) -> bool {
        self.file.shared.faults().failed_maps.contains(&self.file.ino)
    }
}

impl Drop for MemMapping {
    fn drop(&mut self) {
        self.file.state().maps -= 1;
    }
}
