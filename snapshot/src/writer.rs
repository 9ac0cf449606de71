//! Writing one snapshot: stream the payload into a temporary file, then
//! [`SnapshotWriter::finish`] seals, syncs and publishes it.
//!
//! The payload length is not known in advance, so the header (which records
//! it) is written last, at offset 0, before the file is synced. Until the
//! rename nothing carries a snapshot name, so a crash at any point before it
//! leaves only a temporary file, which the next open removes.

use crate::error::{copy_io, Result, SnapshotError};
use crate::format::{SnapshotFooter, SnapshotHeader, HEADER_LEN};
use crate::store::Inner;
use crate::SnapshotMeta;
use paxos_storage::StorageFile;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use zerocopy::IntoBytes;

/// Bytes buffered before they are written to the temporary file.
const WRITE_CHUNK: usize = 256 << 10;

/// A snapshot being written; implements [`std::io::Write`] for the payload.
///
/// Nothing is visible to readers until [`SnapshotWriter::finish`] returns.
/// Dropping a writer without finishing abandons it: its temporary file is
/// removed (best effort; if that fails or the process dies, the next
/// [`crate::SnapshotStore::open`] removes it).
pub struct SnapshotWriter {
    inner: Arc<Inner>,
    position: u64,
    metadata: Vec<u8>,
    temp: PathBuf,
    path: PathBuf,
    file: Arc<dyn StorageFile>,
    /// Bytes not yet written; they belong at file offset `written`.
    buf: Vec<u8>,
    written: u64,
    payload_len: u64,
    hasher: crc32fast::Hasher,
    /// The first write error; the writer is dead after it.
    failed: Option<io::Error>,
    /// The temporary file has been renamed into place: nothing to clean up.
    renamed: bool,
}

impl std::fmt::Debug for SnapshotWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotWriter")
            .field("temp", &self.temp)
            .field("position", &self.position)
            .field("payload_len", &self.payload_len)
            .finish()
    }
}

impl SnapshotWriter {
    pub(crate) fn new(
        inner: Arc<Inner>,
        position: u64,
        metadata: &[u8],
        temp: PathBuf,
        path: PathBuf,
        file: Arc<dyn StorageFile>,
    ) -> Self {
        // The header's place is held by zeros until `finish` knows the length.
        let mut buf = Vec::with_capacity(WRITE_CHUNK.max(HEADER_LEN + metadata.len()));
        buf.resize(HEADER_LEN, 0);
        buf.extend_from_slice(metadata);
        SnapshotWriter {
            inner,
            position,
            metadata: metadata.to_vec(),
            temp,
            path,
            file,
            buf,
            written: 0,
            payload_len: 0,
            hasher: crc32fast::Hasher::new(),
            failed: None,
            renamed: false,
        }
    }

    /// The position this snapshot covers.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Payload bytes accepted so far.
    pub fn payload_len(&self) -> u64 {
        self.payload_len
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        if let Some(e) = &self.failed {
            return Err(copy_io(e));
        }
        if self.buf.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.file.write_all_at(&self.buf, self.written) {
            self.failed = Some(copy_io(&e));
            return Err(e);
        }
        self.written += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Write out what is buffered and sync the temporary file. Nothing
    /// becomes visible or durable as a snapshot (only
    /// [`SnapshotWriter::finish`] does that), but `finish`'s own sync has
    /// less left to write: a large snapshot written beside latency-sensitive
    /// I/O can spread its write-back this way. A failed sync poisons the
    /// store, as in `finish`.
    pub fn sync_data(&mut self) -> Result<()> {
        self.inner.check_poison()?;
        self.flush_buf().map_err(|e| SnapshotError::io("writing", &self.temp, e))?;
        if let Err(e) = self.file.sync_data() {
            self.failed = Some(copy_io(&e));
            return Err(self.inner.poison("syncing", &self.temp, e));
        }
        Ok(())
    }

    /// Seal the snapshot and make it durable: write the footer and the
    /// header, sync the file, rename it into place, sync the directory, then
    /// delete snapshots beyond `keep` (and sync the directory again).
    ///
    /// When this returns `Ok` the snapshot is durable. An error before the
    /// rename leaves nothing behind but a temporary file; a failed sync
    /// poisons the store. [`SnapshotError::PruneFailed`] means the snapshot
    /// is durable but older ones could not all be removed.
    pub fn finish(mut self) -> Result<SnapshotMeta> {
        self.finish_inner()
    }

    fn finish_inner(&mut self) -> Result<SnapshotMeta> {
        if let Some(e) = &self.failed {
            return Err(SnapshotError::io("writing", &self.temp, copy_io(e)));
        }
        self.inner.check_poison()?;
        let header = SnapshotHeader::new(self.position, &self.metadata, self.payload_len);
        let footer = SnapshotFooter::new(self.position, self.hasher.clone().finalize());
        self.buf.extend_from_slice(footer.as_bytes());
        let temp = self.temp.clone();
        let io_err = |e| SnapshotError::io("writing", &temp, e);
        if self.written == 0 {
            // Everything is still buffered: one write, header included.
            self.buf[..HEADER_LEN].copy_from_slice(header.as_bytes());
            self.flush_buf().map_err(io_err)?;
        } else {
            self.flush_buf().map_err(io_err)?;
            self.file.write_all_at(header.as_bytes(), 0).map_err(io_err)?;
        }
        if let Err(e) = self.file.sync_all() {
            return Err(self.inner.poison("syncing", &self.temp, e));
        }
        let meta = SnapshotMeta {
            path: self.path.clone(),
            position: self.position,
            metadata: std::mem::take(&mut self.metadata),
            payload_len: self.payload_len,
        };
        let renamed = &mut self.renamed;
        self.inner.publish(&self.temp, &meta, || *renamed = true)?;
        Ok(meta)
    }
}

impl Write for SnapshotWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if let Some(e) = &self.failed {
            return Err(copy_io(e));
        }
        let mut rest = data;
        while !rest.is_empty() {
            if self.buf.len() >= WRITE_CHUNK {
                self.flush_buf()?;
            }
            let take = (WRITE_CHUNK - self.buf.len()).min(rest.len());
            let (now, later) = rest.split_at(take);
            self.hasher.update(now);
            self.buf.extend_from_slice(now);
            self.payload_len += take as u64;
            rest = later;
        }
        Ok(data.len())
    }

    /// Hands buffered bytes to the file. This does not make anything durable
    /// or visible; only [`SnapshotWriter::finish`] does.
    fn flush(&mut self) -> io::Result<()> {
        self.flush_buf()
    }
}

impl Drop for SnapshotWriter {
    fn drop(&mut self) {
        if !self.renamed {
            // Best effort: a leftover is removed by the next open.
            let _ = self.inner.storage.remove(&self.temp);
        }
    }
}
