//! A storage that takes `delay` for every file sync, over another one: a
//! disk whose fsync is as slow as a real one's, so that an acknowledgement
//! given before its sync returned has a window in which a power cut loses it.

use paxos_wal::storage::{Mapping, OpenOptions, Storage, StorageFile};
use std::fmt::Debug;
use std::io;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug)]
pub struct SlowSync {
    pub inner: Arc<dyn Storage>,
    pub delay: Duration,
}

#[derive(Debug)]
struct SlowFile {
    inner: Arc<dyn StorageFile>,
    delay: Duration,
}

impl Storage for SlowSync {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.inner.list(dir)
    }
    fn open(&self, path: &Path, opts: OpenOptions) -> io::Result<Arc<dyn StorageFile>> {
        Ok(Arc::new(SlowFile { inner: self.inner.open(path, opts)?, delay: self.delay }))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        self.inner.remove(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.inner.sync_dir(dir)
    }
    fn lock(&self, path: &Path) -> io::Result<Box<dyn Debug + Send + Sync>> {
        self.inner.lock(path)
    }
}

impl StorageFile for SlowFile {
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.inner.read_exact_at(buf, offset)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.inner.write_all_at(buf, offset)
    }
    fn sync_data(&self) -> io::Result<()> {
        std::thread::sleep(self.delay);
        self.inner.sync_data()
    }
    fn sync_all(&self) -> io::Result<()> {
        std::thread::sleep(self.delay);
        self.inner.sync_all()
    }
    fn map(&self, len: usize) -> io::Result<Arc<dyn Mapping>> {
        self.inner.map(len)
    }
    fn holes(&self) -> io::Result<Vec<Range<u64>>> {
        self.inner.holes()
    }
}
