//! The namespace: directories, their entries, and the entry operations that
//! are durable only once the directory is synced.

use super::file::{FileState, MemFile, MemHandle};
use super::{is_a_dir, not_found, MemStorage};
use crate::{OpenOptions, Storage, StorageFile};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::{self, Debug};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub(super) struct Namespace {
    pub(super) next_inode: u64,
    pub(super) files: HashMap<u64, Arc<MemFile>>,
    pub(super) dirs: BTreeMap<PathBuf, Dir>,
    pub(super) locks: HashSet<PathBuf>,
}

#[derive(Default, Clone)]
pub(super) struct Dir {
    pub(super) current: BTreeMap<String, u64>,
    pub(super) durable: BTreeMap<String, u64>,
    pub(super) pending: Vec<DirOp>,
}

/// An entry operation. Unlink and rename remember the inode the entry named,
/// so that a power loss that keeps some operations and drops others applies
/// each only to the entry it acted on.
#[derive(Clone, Debug)]
pub(super) enum DirOp {
    Link(String, u64),
    Unlink(String, u64),
    Rename(String, String, u64),
    /// A subdirectory was created (it has no inode in the file map).
    Mkdir(String),
}

impl DirOp {
    pub(super) fn apply(&self, map: &mut BTreeMap<String, u64>) {
        match self {
            DirOp::Link(name, ino) => {
                map.insert(name.clone(), *ino);
            }
            DirOp::Unlink(name, ino) => {
                if map.get(name) == Some(ino) {
                    map.remove(name);
                }
            }
            DirOp::Rename(from, to, ino) => {
                if map.get(from) == Some(ino) {
                    map.remove(from);
                    map.insert(to.clone(), *ino);
                }
            }
            DirOp::Mkdir(_) => {}
        }
    }
}

pub(super) fn split(path: &Path) -> io::Result<(PathBuf, String)> {
    let name = path.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
    Ok((dir, name.to_string_lossy().into_owned()))
}

impl Storage for MemStorage {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut ns = self.ns();
        if !self.faults().model.volatile_mkdir {
            let mut p = Some(dir);
            while let Some(d) = p {
                ns.dirs.entry(d.to_path_buf()).or_default();
                p = d.parent();
            }
            return Ok(());
        }
        // Missing directories, innermost first.
        let mut missing = Vec::new();
        let mut p = Some(dir);
        while let Some(d) = p {
            if ns.dirs.contains_key(d) {
                break;
            }
            missing.push(d);
            p = d.parent();
        }
        if missing.is_empty() {
            // It exists, but a crashed run may have made it without syncing
            // its parent: sync the parent again, as FsStorage does.
            if let Some(parent) = dir.parent().filter(|p| ns.dirs.contains_key(*p)) {
                self.op()?;
                sync_dir_entries(&mut ns, parent);
            }
            return Ok(());
        }
        for d in missing.into_iter().rev() {
            let parent = d.parent().filter(|p| ns.dirs.contains_key(*p));
            if let (Some(parent), Ok((_, name))) = (parent, split(d)) {
                if ns.dirs[parent].current.contains_key(&name) {
                    return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
                }
                self.op()?; // mkdir
                ns.dirs.insert(d.to_path_buf(), Dir::default());
                ns.dirs.get_mut(parent).expect("checked").pending.push(DirOp::Mkdir(name));
                self.op()?; // fsync of the parent
                sync_dir_entries(&mut ns, parent);
            } else {
                // A root: always there.
                ns.dirs.insert(d.to_path_buf(), Dir::default());
            }
        }
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let ns = self.ns();
        let d = ns.dirs.get(dir).ok_or_else(|| not_found(dir))?;
        Ok(d.current.keys().cloned().collect())
    }

    fn open(&self, path: &Path, opts: OpenOptions) -> io::Result<Arc<dyn StorageFile>> {
        let (dir, name) = split(path)?;
        let mut ns = self.ns();
        let existing = ns.dirs.get(&dir).ok_or_else(|| not_found(&dir))?.current.get(&name).copied();
        let file = match existing {
            Some(ino) => ns.files[&ino].clone(),
            None if ns.dirs.contains_key(path) => return Err(is_a_dir()),
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
            None => return Err(not_found(path)),
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
        if ns.dirs.contains_key(to) || ns.dirs.contains_key(from) {
            return Err(is_a_dir());
        }
        let d = ns.dirs.get_mut(&dir).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        let ino = d.current.remove(&from_name).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        d.current.insert(to_name.clone(), ino);
        d.pending.push(DirOp::Rename(from_name, to_name, ino));
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let (dir, name) = split(path)?;
        self.op()?;
        let mut ns = self.ns();
        if ns.dirs.contains_key(path) {
            return Err(is_a_dir());
        }
        let d = ns.dirs.get_mut(&dir).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        let ino = d.current.remove(&name).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        d.pending.push(DirOp::Unlink(name, ino));
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.op()?;
        let mut ns = self.ns();
        if !ns.dirs.contains_key(dir) {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        sync_dir_entries(&mut ns, dir);
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

/// Make a directory's entries (and the subdirectories made in it) durable.
fn sync_dir_entries(ns: &mut Namespace, dir: &Path) {
    if let Some(d) = ns.dirs.get_mut(dir) {
        d.durable = d.current.clone();
        d.pending.clear();
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
