//! Changes from outside the store: bit rot, and files planted, removed,
//! truncated, zeroed or replaced by a directory between runs.

use super::dir::{split, Dir, Namespace};
use super::map::RawBuf;
use super::{not_found, MemStorage};
use crate::{OpenOptions, Storage};
use std::io;
use std::path::Path;

impl MemStorage {
    /// Flip bits of a file on disk and in the cache (bit rot). Out-of-range
    /// offsets are ignored.
    ///
    /// On a mapped file this changes a mapped byte from outside, as another
    /// process would: no slice of it may be held across the call (read a
    /// record again afterwards).
    pub fn corrupt(&self, path: &Path, offset: u64, xor: u8) -> io::Result<()> {
        let file = self.file(path)?;
        let mut st = file.state();
        let off = offset as usize;
        if off < st.len {
            // SAFETY: `off < len <= cap`, a raw one-byte access under the
            // file's lock. With the log open this is a change from outside
            // the program (`Mapping` rule 4): the test must not hold a slice
            // of this byte across the call (a derefed `Record`) or read it
            // from another thread meanwhile. The tests that corrupt an open
            // log read again only after the call returns.
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

    /// Remove a file durably, as an operator or a backup tool would between
    /// runs (the store must be down).
    pub fn remove_file(&self, path: &Path) -> io::Result<()> {
        unlink_durably(&mut self.ns(), path)?;
        self.faults().counts.files_removed += 1;
        Ok(())
    }

    /// Cut (or extend with zeros) a file to `len` bytes durably, between
    /// runs (the store must be down).
    pub fn truncate_file(&self, path: &Path, len: u64) -> io::Result<()> {
        self.rewrite(path, |bytes| bytes.resize(len as usize, 0))?;
        self.faults().counts.files_truncated += 1;
        Ok(())
    }

    /// Overwrite a whole file with zeros durably, keeping its length,
    /// between runs (the store must be down).
    pub fn zero_file(&self, path: &Path) -> io::Result<()> {
        self.rewrite(path, |bytes| bytes.fill(0))?;
        self.faults().counts.files_zeroed += 1;
        Ok(())
    }

    /// Replace a file by an empty directory of the same name durably, between
    /// runs (the store must be down). Listing no longer shows the file;
    /// opening or creating it fails with EISDIR.
    pub fn replace_with_dir(&self, path: &Path) -> io::Result<()> {
        let mut ns = self.ns();
        unlink_durably(&mut ns, path)?;
        ns.dirs.insert(path.to_path_buf(), Dir::default());
        drop(ns);
        self.faults().counts.files_replaced_with_dir += 1;
        Ok(())
    }

    /// Set a file's cache and disk to `f(its cached bytes)`, nothing dirty.
    fn rewrite(&self, path: &Path, f: impl FnOnce(&mut Vec<u8>)) -> io::Result<()> {
        let file = self.file(path)?;
        let mut st = file.state();
        if st.maps > 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "cannot rewrite a mapped file"));
        }
        let old = st.len as u64;
        let mut bytes = st.cache.to_vec(st.len);
        f(&mut bytes);
        let mut fresh = RawBuf::zeroed(bytes.len());
        fresh.write(0, &bytes);
        st.cache = fresh;
        st.len = bytes.len();
        st.disk = bytes;
        st.dirty.clear();
        st.lying.clear();
        let new = st.len as u64;
        drop(st);
        let mut fl = self.faults();
        fl.used = (fl.used + new).saturating_sub(old);
        Ok(())
    }
}

/// Take `path`'s name out of its directory, as if the removal had been
/// synced.
fn unlink_durably(ns: &mut Namespace, path: &Path) -> io::Result<()> {
    let (dir, name) = split(path)?;
    let d = ns.dirs.get_mut(&dir).ok_or_else(|| not_found(path))?;
    d.current.remove(&name).ok_or_else(|| not_found(path))?;
    d.durable.remove(&name);
    Ok(())
}
