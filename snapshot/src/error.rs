//! Typed errors of the snapshot store.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

/// Result of snapshot operations.
pub type Result<T, E = SnapshotError> = std::result::Result<T, E>;

/// What can go wrong. Every variant is something a caller can act on; the
/// ones that describe a damaged file say which file.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// An I/O operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The disk is full (ENOSPC). Nothing half-written becomes visible: the
    /// temporary file is removed (or, after a crash, on the next open).
    #[error("no space left on device while {op} {}", path.display())]
    NoSpace {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
    },
    /// Another process (or another open in this one) holds the directory.
    #[error("{} is locked by another process; stop it or use another directory", dir.display())]
    Locked {
        /// The locked directory.
        dir: PathBuf,
    },
    /// A sync failed earlier. Its dirty pages may be lost while the kernel
    /// reports them clean, so nothing more is written until the store is
    /// reopened. Reading still works.
    #[error("the snapshot store is poisoned by a failed sync ({cause}); reopen it")]
    Poisoned {
        /// The error of the sync that failed.
        cause: Arc<io::Error>,
    },
    /// The file's header is not a valid snapshot header of this format: wrong
    /// magic, header or metadata checksum mismatch, impossible lengths, or a
    /// position that does not match the file name.
    #[error("bad snapshot header in {}: {reason}", path.display())]
    BadHeader {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A self-consistent header of a format version this code cannot read.
    #[error("{} has snapshot format version {version}, this build reads only version {}", path.display(), crate::format::FORMAT_VERSION)]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version found.
        version: u32,
    },
    /// The file is shorter than its header says (or than a header).
    #[error("snapshot {} is truncated: {actual} bytes, expected {expected}", path.display())]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Bytes the header promises (the header size when even that is missing).
        expected: u64,
        /// Bytes in the file.
        actual: u64,
    },
    /// The file is longer than its header says.
    #[error("snapshot {} has trailing bytes: {actual} bytes, expected {expected}", path.display())]
    TrailingBytes {
        /// The file.
        path: PathBuf,
        /// Bytes the header promises.
        expected: u64,
        /// Bytes in the file.
        actual: u64,
    },
    /// The footer is not the footer of this snapshot (wrong magic or position).
    #[error("bad snapshot footer in {}: {reason}", path.display())]
    BadFooter {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The payload does not match the checksum in the footer.
    #[error("snapshot {} payload checksum mismatch", path.display())]
    ChecksumMismatch {
        /// The file.
        path: PathBuf,
    },
    /// The file changed between being listed and being opened (for example
    /// it was rewritten at the same position).
    #[error("snapshot {} no longer matches what was listed: {reason}", path.display())]
    Changed {
        /// The file.
        path: PathBuf,
        /// What differs.
        reason: &'static str,
    },
    /// Caller metadata is larger than the format allows.
    #[error("snapshot metadata of {len} bytes is larger than the limit of {max} bytes")]
    MetadataTooLarge {
        /// Length given.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// At least `keep` valid snapshots newer than `position` exist, so a
    /// snapshot at `position` would be pruned at once. Nothing was written.
    #[error("a snapshot at position {position} would be pruned at once: {keep} newer valid snapshot(s) exist (newest at {newest})")]
    Superseded {
        /// Position asked for.
        position: u64,
        /// The store's `keep`.
        keep: usize,
        /// Position of the newest valid snapshot.
        newest: u64,
    },
    /// The new snapshot is durable, but removing snapshots beyond `keep`
    /// failed; they are retried by the next successful write.
    #[error("snapshot at position {} is durable, but pruning older ones failed: {source}", snapshot.position)]
    PruneFailed {
        /// The snapshot that was written (durable).
        snapshot: Box<crate::SnapshotMeta>,
        /// Why pruning failed.
        #[source]
        source: Box<SnapshotError>,
    },
    /// Bad options.
    #[error("invalid options: {0}")]
    InvalidOptions(String),
}

impl SnapshotError {
    /// Wrap an I/O error, turning ENOSPC into [`SnapshotError::NoSpace`].
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        let path = path.into();
        if source.kind() == io::ErrorKind::StorageFull {
            return SnapshotError::NoSpace { op, path };
        }
        SnapshotError::Io { op, path, source }
    }

    /// Whether the disk is full (`ENOSPC`).
    pub fn is_no_space(&self) -> bool {
        matches!(self, SnapshotError::NoSpace { .. })
    }

    /// Whether another handle holds the snapshot directory's lock.
    pub fn is_locked(&self) -> bool {
        matches!(self, SnapshotError::Locked { .. })
    }

    /// Whether the store refuses writes after a failed sync.
    pub fn is_poisoned(&self) -> bool {
        matches!(self, SnapshotError::Poisoned { .. })
    }

    /// Whether the error says the file is damaged or not a snapshot (as
    /// opposed to an I/O failure or misuse).
    pub fn is_damage(&self) -> bool {
        matches!(
            self,
            SnapshotError::BadHeader { .. }
                | SnapshotError::UnsupportedVersion { .. }
                | SnapshotError::Truncated { .. }
                | SnapshotError::TrailingBytes { .. }
                | SnapshotError::BadFooter { .. }
                | SnapshotError::ChecksumMismatch { .. }
        )
    }

    /// Convert to an `io::Error` for the `std::io::Read`/`Write` impls:
    /// damage becomes [`io::ErrorKind::InvalidData`], an I/O failure keeps
    /// its kind. The typed error is the inner error.
    pub(crate) fn into_io(self) -> io::Error {
        let kind = match &self {
            SnapshotError::Io { source, .. } => source.kind(),
            SnapshotError::NoSpace { .. } => io::ErrorKind::StorageFull,
            e if e.is_damage() => io::ErrorKind::InvalidData,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, self)
    }
}

/// A copy of an I/O error that keeps its OS error code (or kind and message).
pub(crate) fn copy_io(e: &io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(e.kind(), e.to_string()),
    }
}
