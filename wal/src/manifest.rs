//! Reading and replacing the log manifest (see [`ManifestRecord`]).

use crate::error::{Error, Result};
use crate::format::{Lsn, ManifestRecord, MANIFEST_FILE, MANIFEST_LEN, MANIFEST_TEMP};
use crate::storage::{OpenOptions, Storage};
use std::io;
use std::path::Path;
use zerocopy::IntoBytes;

/// What the manifest says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Manifest {
    pub log_id: u64,
    pub last_seq: u64,
    pub last_first_lsn: Lsn,
    /// A torn-tail erase in progress: `(segment seq, offset)`.
    pub erase: Option<(u64, u64)>,
}

/// Read the manifest of the log in `dir`: `None` when there is none.
pub(crate) fn read(storage: &dyn Storage, dir: &Path) -> Result<Option<Manifest>> {
    let path = dir.join(MANIFEST_FILE);
    let file = match storage.open(&path, OpenOptions::existing()) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::EISDIR) => {
            return Err(Error::BadManifest { path, reason: "not a regular file (a directory)".into() })
        }
        Err(e) => return Err(Error::io("opening manifest", &path, e)),
    };
    let len = file.len().map_err(|e| Error::io("reading length of", &path, e))?;
    if len != MANIFEST_LEN as u64 {
        return Err(Error::BadManifest { path, reason: format!("{len} bytes long, a manifest has {MANIFEST_LEN}") });
    }
    let mut buf = [0u8; MANIFEST_LEN];
    file.read_exact_at(&mut buf, 0).map_err(|e| Error::io("reading manifest", &path, e))?;
    let m = ManifestRecord::decode(&buf).map_err(|reason| Error::BadManifest { path, reason: reason.into() })?;
    Ok(Some(Manifest {
        log_id: m.log_id.get(),
        last_seq: m.last_seq.get(),
        last_first_lsn: m.last_first_lsn.get(),
        erase: m.erase(),
    }))
}

/// Replace the manifest atomically and durably: write a temporary file,
/// sync it, rename it over the manifest, sync the directory.
pub(crate) fn write(storage: &dyn Storage, dir: &Path, m: &Manifest) -> Result<()> {
    let tmp = dir.join(MANIFEST_TEMP);
    let path = dir.join(MANIFEST_FILE);
    match storage.remove(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("removing stale manifest", &tmp, e)),
    }
    let rec = ManifestRecord::new(m.log_id, m.last_seq, m.last_first_lsn, m.erase);
    let file = storage.open(&tmp, OpenOptions::create()).map_err(|e| Error::io("creating manifest", &tmp, e))?;
    file.write_all_at(rec.as_bytes(), 0).map_err(|e| Error::io("writing manifest", &tmp, e))?;
    file.sync_all().map_err(|e| Error::io("syncing manifest", &tmp, e))?;
    drop(file);
    storage.rename(&tmp, &path).map_err(|e| Error::io("renaming manifest", &path, e))?;
    storage.sync_dir(dir).map_err(|e| Error::io("syncing directory", dir, e))
}
