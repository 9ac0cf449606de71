//! The snapshot directory: opening it (lock, temp-file cleanup), finding and
//! verifying snapshots, and the publish step writers end with (rename,
//! directory sync, pruning beyond `keep`).

use crate::error::{Result, SnapshotError};
use crate::format::{is_temp_name, parse_snapshot_name, snapshot_name, temp_name, MAX_METADATA_LEN};
use crate::reader::{open_snapshot, verify_snapshot, SnapshotReader};
use crate::writer::SnapshotWriter;
use crate::{Skipped, SnapshotMeta, SnapshotOptions, LOCK_FILE};
use paxos_storage::{OpenOptions, Storage};
use std::collections::HashSet;
use std::fmt::Debug;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// A directory of snapshots. See the crate documentation.
///
/// `Send + Sync`: share it behind an `Arc`; several writers may run at once
/// (their publish steps are serialised).
#[derive(Debug)]
pub struct SnapshotStore {
    inner: Arc<Inner>,
}

/// State shared by the store and its writers.
pub(crate) struct Inner {
    pub dir: PathBuf,
    pub storage: Arc<dyn Storage>,
    keep: usize,
    _lock: Box<dyn Debug + Send + Sync>,
    /// The error of a failed sync; once set, nothing more is written.
    poison: Mutex<Option<Arc<io::Error>>>,
    next_temp: AtomicU64,
    /// Serialises publishing (plan, rename, directory sync, pruning).
    publish: Mutex<()>,
    /// Snapshot files this store wrote or fully verified since it was opened
    /// (and has not seen fail since). Only pruning trusts this cache, to
    /// avoid re-reading every kept snapshot on each write;
    /// [`SnapshotStore::valid_snapshots`] and [`SnapshotStore::latest_valid`]
    /// always read the files.
    verified: Mutex<HashSet<PathBuf>>,
}

impl Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotStore").field("dir", &self.dir).field("keep", &self.keep).finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inner {
    pub fn check_poison(&self) -> Result<()> {
        match &*lock(&self.poison) {
            Some(cause) => Err(SnapshotError::Poisoned { cause: cause.clone() }),
            None => Ok(()),
        }
    }

    /// Record a failed sync and turn it into the error to return.
    pub fn poison(&self, op: &'static str, path: &Path, e: io::Error) -> SnapshotError {
        lock(&self.poison).get_or_insert_with(|| Arc::new(crate::error::copy_io(&e)));
        SnapshotError::io(op, path, e)
    }

    pub fn sync_dir(&self) -> Result<()> {
        self.storage.sync_dir(&self.dir).map_err(|e| self.poison("syncing directory", &self.dir, e))
    }

    /// Snapshot files by name, newest (highest position) first.
    fn scan(&self) -> Result<Vec<(u64, PathBuf)>> {
        let names = self.storage.list(&self.dir).map_err(|e| SnapshotError::io("listing", &self.dir, e))?;
        let mut found: Vec<(u64, PathBuf)> =
            names.iter().filter_map(|n| Some((parse_snapshot_name(n)?, self.dir.join(n)))).collect();
        found.sort_by_key(|f| std::cmp::Reverse(f.0));
        Ok(found)
    }

    /// Fully verify one snapshot file, keeping the cache in step.
    fn verify(&self, path: &Path, position: u64) -> Result<SnapshotMeta> {
        let res = verify_snapshot(&*self.storage, path, position);
        let mut cache = lock(&self.verified);
        match &res {
            Ok(_) => cache.insert(path.to_path_buf()),
            Err(_) => cache.remove(path),
        };
        res
    }

    fn known_valid(&self, path: &Path, position: u64) -> bool {
        let cached = lock(&self.verified).contains(path);
        cached || self.verify(path, position).is_ok()
    }

    /// What publishing a snapshot at `position` would delete: walking all
    /// snapshots newest first, with the new one in its place (replacing a
    /// file at the same position), everything after the `keep`th valid one.
    /// `Superseded` if that would include the new snapshot itself.
    pub fn plan(&self, position: u64) -> Result<Vec<PathBuf>> {
        let mut all: Vec<(u64, Option<PathBuf>)> =
            self.scan()?.into_iter().filter(|(p, _)| *p != position).map(|(p, path)| (p, Some(path))).collect();
        all.push((position, None));
        all.sort_by_key(|f| std::cmp::Reverse(f.0));
        let mut valid = 0;
        let mut newest = None;
        let mut delete = Vec::new();
        for (p, path) in all {
            if valid >= self.keep {
                match path {
                    Some(path) => delete.push(path),
                    None => {
                        let newest = newest.unwrap_or(p);
                        return Err(SnapshotError::Superseded { position, keep: self.keep, newest });
                    }
                }
                continue;
            }
            let ok = match &path {
                None => true,
                Some(path) => self.known_valid(path, p),
            };
            if ok {
                valid += 1;
                newest.get_or_insert(p);
            }
        }
        Ok(delete)
    }

    /// Rename a synced temporary file into place, sync the directory, then
    /// delete what `plan` says (and sync the directory again). `on_renamed`
    /// runs right after the rename succeeded.
    pub fn publish(&self, temp: &Path, meta: &SnapshotMeta, on_renamed: impl FnOnce()) -> Result<()> {
        let _guard = lock(&self.publish);
        self.check_poison()?;
        let delete = self.plan(meta.position)?;
        self.storage.rename(temp, &meta.path).map_err(|e| SnapshotError::io("renaming", temp, e))?;
        on_renamed();
        self.sync_dir()?;
        lock(&self.verified).insert(meta.path.clone());
        let prune = || -> Result<()> {
            for path in &delete {
                self.storage.remove(path).map_err(|e| SnapshotError::io("removing", path, e))?;
                lock(&self.verified).remove(path);
            }
            if !delete.is_empty() {
                self.sync_dir()?;
            }
            Ok(())
        };
        prune().map_err(|e| SnapshotError::PruneFailed { snapshot: Box::new(meta.clone()), source: Box::new(e) })
    }

    pub fn temp_path(&self, position: u64) -> PathBuf {
        self.dir.join(temp_name(position, self.next_temp.fetch_add(1, Ordering::Relaxed)))
    }
}

impl SnapshotStore {
    /// Open (or create) the snapshot directory `dir`: take its lock file and
    /// remove temporary files a crash left behind (then sync the directory).
    /// Snapshot files are not read until asked for.
    pub fn open(dir: impl AsRef<Path>, opts: SnapshotOptions) -> Result<SnapshotStore> {
        let dir = dir.as_ref().to_path_buf();
        if opts.keep == 0 {
            return Err(SnapshotError::InvalidOptions("keep must be at least 1".into()));
        }
        let storage = opts.storage;
        storage.create_dir_all(&dir).map_err(|e| SnapshotError::io("creating directory", &dir, e))?;
        let lock_path = dir.join(LOCK_FILE);
        let guard = storage.lock(&lock_path).map_err(|e| {
            if e.kind() == io::ErrorKind::WouldBlock {
                SnapshotError::Locked { dir: dir.clone() }
            } else {
                SnapshotError::io("locking", &lock_path, e)
            }
        })?;
        let inner = Inner {
            dir,
            storage,
            keep: opts.keep,
            _lock: guard,
            poison: Mutex::new(None),
            next_temp: AtomicU64::new(0),
            publish: Mutex::new(()),
            verified: Mutex::new(HashSet::new()),
        };
        let names = inner.storage.list(&inner.dir).map_err(|e| SnapshotError::io("listing", &inner.dir, e))?;
        let temps: Vec<&String> = names.iter().filter(|n| is_temp_name(n)).collect();
        for name in &temps {
            let path = inner.dir.join(name);
            inner.storage.remove(&path).map_err(|e| SnapshotError::io("removing", &path, e))?;
        }
        if !temps.is_empty() {
            inner.sync_dir()?;
        }
        Ok(SnapshotStore { inner: Arc::new(inner) })
    }

    /// The snapshot directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// How many valid snapshots the store keeps.
    pub fn keep(&self) -> usize {
        self.inner.keep
    }

    /// Start a streamed snapshot covering the log up to and including
    /// `position`. Write the payload through [`std::io::Write`], then call
    /// [`SnapshotWriter::finish`]; nothing is visible before `finish`.
    ///
    /// Fails early with [`SnapshotError::Superseded`] when `keep` valid
    /// snapshots newer than `position` exist (the new one would be pruned at
    /// once). Deciding that may read existing snapshots through once (the
    /// first time after open; the result is remembered for pruning).
    pub fn begin(&self, position: u64, metadata: &[u8]) -> Result<SnapshotWriter> {
        if metadata.len() > MAX_METADATA_LEN {
            return Err(SnapshotError::MetadataTooLarge { len: metadata.len(), max: MAX_METADATA_LEN });
        }
        self.inner.check_poison()?;
        {
            let _guard = lock(&self.inner.publish);
            self.inner.plan(position)?;
        }
        let temp = self.inner.temp_path(position);
        let file = self
            .inner
            .storage
            .open(&temp, OpenOptions::create())
            .map_err(|e| SnapshotError::io("creating", &temp, e))?;
        let path = self.inner.dir.join(snapshot_name(position));
        Ok(SnapshotWriter::new(self.inner.clone(), position, metadata, temp, path, file))
    }

    /// Write a whole snapshot from memory; when it returns `Ok` the snapshot
    /// is durable and older ones beyond `keep` are deleted.
    pub fn write(&self, position: u64, metadata: &[u8], payload: &[u8]) -> Result<SnapshotMeta> {
        let mut w = self.begin(position, metadata)?;
        // A failed write is remembered by the writer; `finish` reports it typed.
        let _ = w.write_all(payload);
        w.finish()
    }

    /// Headers of every snapshot file that looks like one (header, metadata
    /// and footer check out, length matches), newest (highest position)
    /// first. Payloads are not verified; files that do not check out are left
    /// out (see [`SnapshotStore::valid_snapshots`] for why).
    pub fn list(&self) -> Result<Vec<SnapshotMeta>> {
        Ok(self
            .inner
            .scan()?
            .into_iter()
            .filter_map(|(p, path)| open_snapshot(&*self.inner.storage, &path, p).ok().map(|o| o.meta))
            .collect())
    }

    /// Every snapshot that fully verifies (payload checksum read through),
    /// newest first, plus every snapshot file that does not, with the reason.
    pub fn valid_snapshots(&self) -> Result<(Vec<SnapshotMeta>, Vec<Skipped>)> {
        let mut valid = Vec::new();
        let mut skipped = Vec::new();
        for (p, path) in self.inner.scan()? {
            match self.inner.verify(&path, p) {
                Ok(meta) => valid.push(meta),
                Err(error) => skipped.push(Skipped { path, error }),
            }
        }
        Ok((valid, skipped))
    }

    /// The newest snapshot that fully verifies, plus the newer snapshot files
    /// that did not (and why), newest first.
    pub fn latest_valid(&self) -> Result<(Option<SnapshotMeta>, Vec<Skipped>)> {
        let mut skipped = Vec::new();
        for (p, path) in self.inner.scan()? {
            match self.inner.verify(&path, p) {
                Ok(meta) => return Ok((Some(meta), skipped)),
                Err(error) => skipped.push(Skipped { path, error }),
            }
        }
        Ok((None, skipped))
    }

    /// Open a snapshot's payload for streaming. Header, metadata and footer
    /// are checked again and must match `meta`; the reader verifies the
    /// payload checksum when it reaches the end and fails with an
    /// `io::Error` of kind `InvalidData` if it does not match.
    pub fn read(&self, meta: &SnapshotMeta) -> Result<SnapshotReader> {
        let opened = open_snapshot(&*self.inner.storage, &meta.path, meta.position)?;
        let changed = |reason| SnapshotError::Changed { path: meta.path.clone(), reason };
        if opened.meta.payload_len != meta.payload_len {
            return Err(changed("payload length differs"));
        }
        if opened.meta.metadata != meta.metadata {
            return Err(changed("metadata differs"));
        }
        Ok(SnapshotReader::new(opened))
    }

    /// Read and verify a snapshot's whole payload into memory.
    pub fn read_all(&self, meta: &SnapshotMeta) -> Result<Vec<u8>> {
        let mut reader = self.read(meta)?;
        let cap = usize::try_from(meta.payload_len)
            .map_err(|_| SnapshotError::io("reading", &meta.path, io::ErrorKind::OutOfMemory.into()))?;
        let mut out = Vec::with_capacity(cap);
        reader.read_rest(&mut out)?;
        Ok(out)
    }
}
