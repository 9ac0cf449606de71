//! Reading a snapshot file: checking its header, metadata and footer
//! ([`open_snapshot`]) and streaming its payload through the checksum
//! ([`SnapshotReader`]).
//!
//! Order of checks, so that no length is trusted before it is known good:
//! 1. the file is at least a header long;
//! 2. magic, header checksum, version, header length (in [`SnapshotHeader::decode`]);
//! 3. the header's position equals the one in the file name;
//! 4. the file length equals header + metadata + payload + footer (checked
//!    arithmetic; only now are the lengths used, and every buffer is bounded
//!    by the real file size);
//! 5. the metadata checksum; the footer's magic and position;
//! 6. while streaming: the payload checksum, compared when the last payload
//!    byte has been read and *before* that last chunk is handed out.

use crate::error::{copy_io, Result, SnapshotError};
use crate::format::{HeaderError, SnapshotFooter, SnapshotHeader, FOOTER_LEN, HEADER_LEN};
use crate::SnapshotMeta;
use paxos_storage::{OpenOptions, Storage, StorageFile};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Payload bytes read (and checksummed) per `pread`.
const READ_CHUNK: u64 = 256 << 10;

/// A snapshot file whose header, metadata and footer have been checked.
pub(crate) struct Opened {
    pub meta: SnapshotMeta,
    pub file: Arc<dyn StorageFile>,
    pub payload_offset: u64,
    pub payload_crc: u32,
}

fn read_at(file: &dyn StorageFile, path: &Path, buf: &mut [u8], offset: u64) -> Result<()> {
    file.read_exact_at(buf, offset).map_err(|e| SnapshotError::io("reading", path, e))
}

/// Open the snapshot file at `path` (named for `position`) and check
/// everything but the payload.
pub(crate) fn open_snapshot(storage: &dyn Storage, path: &Path, position: u64) -> Result<Opened> {
    let file = storage.open(path, OpenOptions::existing()).map_err(|e| SnapshotError::io("opening", path, e))?;
    let actual = file.len().map_err(|e| SnapshotError::io("reading the length of", path, e))?;
    let bad = |reason: &str| SnapshotError::BadHeader { path: path.to_path_buf(), reason: reason.to_string() };
    if actual < HEADER_LEN as u64 {
        return Err(SnapshotError::Truncated { path: path.to_path_buf(), expected: HEADER_LEN as u64, actual });
    }
    let mut raw = [0u8; HEADER_LEN];
    read_at(&*file, path, &mut raw, 0)?;
    let header = SnapshotHeader::decode(&raw).map_err(|e| match e {
        HeaderError::Bad(reason) => bad(reason),
        HeaderError::Version(version) => SnapshotError::UnsupportedVersion { path: path.to_path_buf(), version },
    })?;
    if header.position.get() != position {
        return Err(bad(&format!("header position {} does not match the file name", header.position.get())));
    }
    let expected = header.file_len().ok_or_else(|| bad("lengths overflow"))?;
    if actual < expected {
        return Err(SnapshotError::Truncated { path: path.to_path_buf(), expected, actual });
    }
    if actual > expected {
        return Err(SnapshotError::TrailingBytes { path: path.to_path_buf(), expected, actual });
    }
    // The length is now confirmed by the file's real size (and capped by the header check).
    let mut metadata = vec![0u8; header.metadata_len.get() as usize];
    read_at(&*file, path, &mut metadata, HEADER_LEN as u64)?;
    if crc32fast::hash(&metadata) != header.metadata_crc.get() {
        return Err(bad("metadata checksum mismatch"));
    }
    let mut raw_footer = [0u8; FOOTER_LEN];
    read_at(&*file, path, &mut raw_footer, expected - FOOTER_LEN as u64)?;
    let payload_crc = SnapshotFooter::decode(&raw_footer, position)
        .map_err(|reason| SnapshotError::BadFooter { path: path.to_path_buf(), reason })?;
    let meta = SnapshotMeta { path: path.to_path_buf(), position, metadata, payload_len: header.payload_len.get() };
    Ok(Opened { meta, file, payload_offset: header.payload_offset(), payload_crc })
}

/// Check a whole snapshot file, payload included.
pub(crate) fn verify_snapshot(storage: &dyn Storage, path: &Path, position: u64) -> Result<SnapshotMeta> {
    let opened = open_snapshot(storage, path, position)?;
    let meta = opened.meta.clone();
    let mut reader = SnapshotReader::new(opened);
    while reader.fill()? > 0 {}
    Ok(meta)
}

/// Why a reader stopped: kept so every later read reports it again.
enum Failure {
    Checksum,
    Io(io::Error),
}

/// Streams a snapshot's payload ([`std::io::Read`]), verifying its checksum.
///
/// The payload is read in chunks; the checksum is compared as soon as the
/// last payload byte has been read, before that last chunk is returned, so a
/// caller never gets `Ok` for every byte of a damaged payload. On a mismatch
/// the read fails with [`io::ErrorKind::InvalidData`] wrapping
/// [`SnapshotError::ChecksumMismatch`], and every later read fails the same way.
pub struct SnapshotReader {
    path: PathBuf,
    file: Arc<dyn StorageFile>,
    offset: u64,
    remaining: u64,
    expected_crc: u32,
    hasher: crc32fast::Hasher,
    verified: bool,
    buf: Vec<u8>,
    pos: usize,
    filled: usize,
    failure: Option<Failure>,
}

impl std::fmt::Debug for SnapshotReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotReader").field("path", &self.path).field("remaining", &self.remaining).finish()
    }
}

impl SnapshotReader {
    pub(crate) fn new(opened: Opened) -> Self {
        let remaining = opened.meta.payload_len;
        SnapshotReader {
            path: opened.meta.path,
            file: opened.file,
            offset: opened.payload_offset,
            remaining,
            expected_crc: opened.payload_crc,
            hasher: crc32fast::Hasher::new(),
            verified: false,
            buf: vec![0u8; remaining.min(READ_CHUNK) as usize],
            pos: 0,
            filled: 0,
            failure: None,
        }
    }

    /// Payload bytes not yet read from the file.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    fn failed(&self) -> Option<SnapshotError> {
        self.failure.as_ref().map(|f| match f {
            Failure::Checksum => SnapshotError::ChecksumMismatch { path: self.path.clone() },
            Failure::Io(e) => SnapshotError::io("reading", &self.path, copy_io(e)),
        })
    }

    /// Read the next chunk into the buffer; returns its length, 0 at the
    /// (verified) end.
    pub(crate) fn fill(&mut self) -> Result<usize> {
        if let Some(e) = self.failed() {
            return Err(e);
        }
        self.pos = 0;
        self.filled = 0;
        if self.remaining > 0 {
            let n = self.remaining.min(self.buf.len() as u64) as usize;
            if let Err(e) = self.file.read_exact_at(&mut self.buf[..n], self.offset) {
                self.failure = Some(Failure::Io(copy_io(&e)));
                return Err(SnapshotError::io("reading", &self.path, e));
            }
            self.hasher.update(&self.buf[..n]);
            self.offset += n as u64;
            self.remaining -= n as u64;
            self.filled = n;
        }
        if self.remaining == 0 && !self.verified {
            if self.hasher.clone().finalize() != self.expected_crc {
                self.failure = Some(Failure::Checksum);
                self.filled = 0;
                return Err(SnapshotError::ChecksumMismatch { path: self.path.clone() });
            }
            self.verified = true;
        }
        Ok(self.filled)
    }

    /// Read the rest of the payload into `out`, verified.
    pub(crate) fn read_rest(&mut self, out: &mut Vec<u8>) -> Result<()> {
        out.extend_from_slice(&self.buf[self.pos..self.filled]);
        self.pos = self.filled;
        while self.fill()? > 0 {
            out.extend_from_slice(&self.buf[..self.filled]);
            self.pos = self.filled;
        }
        Ok(())
    }
}

impl Read for SnapshotReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        if self.pos == self.filled && self.fill().map_err(SnapshotError::into_io)? == 0 {
            return Ok(0);
        }
        let n = out.len().min(self.filled - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }

    /// The payload's length is known: one allocation of it, not the
    /// doubling series the default grows by (for a 1 GiB payload that
    /// copies it about once more and faults in twice its size).
    fn read_to_end(&mut self, out: &mut Vec<u8>) -> io::Result<usize> {
        let before = out.len();
        let rest = usize::try_from(self.remaining).unwrap_or(usize::MAX).saturating_add(self.filled - self.pos);
        out.try_reserve_exact(rest).map_err(|e| io::Error::new(io::ErrorKind::OutOfMemory, e))?;
        self.read_rest(out).map_err(SnapshotError::into_io)?;
        Ok(out.len() - before)
    }
}
