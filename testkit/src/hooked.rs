//! A storage over another one whose file syncs, file writes and directory
//! syncs first call a test's [`Hooks`]: a slow disk, a sync held at a gate
//! while callers pile up, a write or directory sync that fails. Everything
//! else goes straight through.
//!
//! ```
//! use paxos_store_testkit::hooked::{Hooked, Hooks};
//! use paxos_wal::storage::MemStorage;
//! use std::time::Duration;
//!
//! /// Every sync takes 2 ms, as on a real disk.
//! #[derive(Debug)]
//! struct Slow;
//! impl Hooks for Slow {
//!     fn before_sync(&self, _all: bool) -> std::io::Result<()> {
//!         std::thread::sleep(Duration::from_millis(2));
//!         Ok(())
//!     }
//! }
//! let disk = Hooked::new(MemStorage::new().shared(), Slow);
//! # let _ = disk;
//! ```

use paxos_wal::storage::{Mapping, OpenOptions, Storage, StorageFile};
use std::fmt::Debug;
use std::io;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

/// What a test does before the storage acts; an error is the operation's.
pub trait Hooks: Send + Sync + Debug + 'static {
    /// Before a file's `sync_data` (`all: false`) or `sync_all` (`true`).
    fn before_sync(&self, _all: bool) -> io::Result<()> {
        Ok(())
    }
    /// Before a write to a file.
    fn before_write(&self) -> io::Result<()> {
        Ok(())
    }
    /// Before a directory sync.
    fn before_sync_dir(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }
}

/// `inner`, with `hooks` called first (see the module documentation).
#[derive(Debug)]
pub struct Hooked<H: Hooks> {
    inner: Arc<dyn Storage>,
    hooks: Arc<H>,
}

impl<H: Hooks> Hooked<H> {
    /// `inner` with `hooks`; the hooks stay reachable through [`Hooked::hooks`].
    pub fn new(inner: Arc<dyn Storage>, hooks: H) -> Arc<Self> {
        Arc::new(Hooked { inner, hooks: Arc::new(hooks) })
    }

    /// The hooks (to arm a gate, change a delay, ...).
    pub fn hooks(&self) -> &H {
        &self.hooks
    }
}

#[derive(Debug)]
struct HookedFile<H: Hooks> {
    inner: Arc<dyn StorageFile>,
    hooks: Arc<H>,
}

impl<H: Hooks> Storage for Hooked<H> {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.inner.list(dir)
    }
    fn open(&self, path: &Path, opts: OpenOptions) -> io::Result<Arc<dyn StorageFile>> {
        Ok(Arc::new(HookedFile { inner: self.inner.open(path, opts)?, hooks: self.hooks.clone() }))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        self.inner.remove(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.hooks.before_sync_dir(dir)?;
        self.inner.sync_dir(dir)
    }
    fn lock(&self, path: &Path) -> io::Result<Box<dyn Debug + Send + Sync>> {
        self.inner.lock(path)
    }
}

impl<H: Hooks> StorageFile for HookedFile<H> {
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.inner.read_exact_at(buf, offset)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.hooks.before_write()?;
        self.inner.write_all_at(buf, offset)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.hooks.before_sync(false)?;
        self.inner.sync_data()
    }
    fn sync_all(&self) -> io::Result<()> {
        self.hooks.before_sync(true)?;
        self.inner.sync_all()
    }
    fn shrink(&self, len: u64) -> io::Result<()> {
        self.inner.shrink(len)
    }
    fn map(&self, len: usize) -> io::Result<Arc<dyn Mapping>> {
        self.inner.map(len)
    }
    fn holes(&self) -> io::Result<Vec<Range<u64>>> {
        self.inner.holes()
    }
}
