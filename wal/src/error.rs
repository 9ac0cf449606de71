//! Typed errors of the log.

use crate::report::{Damage, TornTail};
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

/// Result of log operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong. Every variant is something a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
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
    /// The disk is full (ENOSPC). The log stays readable; appends that need a
    /// new segment fail until space is freed.
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
    /// A sync failed earlier; nothing more is written until the log is
    /// reopened (and so recovered from what is really on disk).
    #[error("the log is poisoned by a failed sync ({cause}); reopen it to recover")]
    Poisoned {
        /// The error of the sync that failed.
        cause: Arc<io::Error>,
    },
    /// A record is larger than a segment can hold.
    #[error("record of {len} bytes is larger than the limit of {max} bytes")]
    RecordTooLarge {
        /// Payload length asked for.
        len: usize,
        /// The largest payload allowed.
        max: usize,
    },
    /// A file that should be a segment is not a valid one.
    #[error("bad segment {}: {reason}", path.display())]
    BadSegment {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The segment the log's manifest names as the last one (records may
    /// have been acknowledged in it) is missing, emptied, zeroed or replaced:
    /// acknowledged records may be lost, under every policy. The log is not
    /// opened as a shorter or a new one. (A node that really wants to start
    /// over as a new acceptor must remove the whole directory: an acceptor
    /// that forgets its promises breaks Paxos.)
    #[error("the log's last segment {} is {reason}: acknowledged records may be lost", path.display())]
    LostSegment {
        /// The segment the manifest names.
        path: PathBuf,
        /// What happened to it.
        reason: String,
    },
    /// The log's manifest is damaged (or not a manifest).
    #[error("bad manifest {}: {reason}", path.display())]
    BadManifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Segments holding records but no manifest: the log's end cannot be
    /// proven (its manifest was removed, or the log was copied without it).
    #[error("{} holds {records} record(s) but no MANIFEST: the end of the log cannot be proven", dir.display())]
    MissingManifest {
        /// The log directory.
        dir: PathBuf,
        /// Valid records found.
        records: u64,
    },
    /// Records that had been acknowledged as durable are damaged or missing.
    /// Nothing was repaired; open with [`crate::CorruptionPolicy::Salvage`] to
    /// skip them and learn exactly which.
    #[error("{} damaged range(s) in acknowledged records, first: {}", damage.len(), damage[0])]
    Corruption {
        /// Every damaged range found.
        damage: Vec<Damage>,
    },
    /// Under [`crate::CorruptionPolicy::Strict`], a torn tail is an error
    /// too. Nothing was cut: the [`TornTail`] says where a cut would be.
    #[error(
        "torn tail under the strict policy, left as it is: {} from offset {} (lsn {} on), {} later segment(s)",
        .0.segment.display(),
        .0.offset,
        .0.lsn,
        .0.segments_removed.len()
    )]
    TornTail(TornTail),
    /// The LSN was never appended.
    #[error("lsn {lsn} was never appended (last is {last})")]
    NoSuchLsn {
        /// LSN asked for.
        lsn: u64,
        /// Last LSN appended.
        last: u64,
    },
    /// Bad options.
    #[error("invalid options: {0}")]
    InvalidOptions(String),
    /// A record read from a live segment does not match its checksum (or its
    /// header no longer names it): its bytes changed on disk or in the page
    /// cache after it was written. Nothing of it was returned. Reopening the
    /// log reports the damage (as [`Error::Corruption`], or as holes under
    /// [`crate::CorruptionPolicy::Salvage`]); the caller should treat what
    /// the record held as lost and repair it from elsewhere.
    #[error("record {lsn} at offset {offset} of {} is damaged ({reason}); reopen the log to recover", path.display())]
    DamagedRecord {
        /// The segment file.
        path: PathBuf,
        /// The record asked for.
        lsn: u64,
        /// Byte offset of its frame in the segment.
        offset: u64,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Reading a segment through its mapping faulted (a SIGBUS, caught; in
    /// [`crate::WriteMode::Mmap`], writing too, which poisons the log): the
    /// file was truncated or replaced under the running log, a hole in it
    /// could not be allocated on a full disk, or the disk failed to read a
    /// page back in. What the read saw is not returned, and the segment
    /// refuses every further read until the log is reopened (recovery reads
    /// with `pread` and reports exactly what is damaged).
    #[error("access to {} through its mapping failed (truncated under the log, a hole on a full disk, or a read error); reopen the log to recover", path.display())]
    MappedReadFailed {
        /// The segment file.
        path: PathBuf,
        /// The record being read (0 when not reading one record, e.g. a write through the mapping).
        lsn: u64,
    },
}

impl Error {
    /// Whether this error says a record in a live segment is damaged or
    /// unreadable ([`Error::DamagedRecord`], [`Error::MappedReadFailed`]):
    /// the data is lost from this copy and must be repaired from elsewhere.
    pub fn is_damage(&self) -> bool {
        matches!(self, Error::DamagedRecord { .. } | Error::MappedReadFailed { .. })
    }

    /// Whether the disk is full (`ENOSPC`), from any operation.
    pub fn is_no_space(&self) -> bool {
        matches!(self, Error::NoSpace { .. })
    }

    /// Whether another process (or another handle in this one) holds the
    /// log's directory lock.
    pub fn is_locked(&self) -> bool {
        matches!(self, Error::Locked { .. })
    }

    /// Whether the log refuses writes because an earlier sync or write
    /// failed (reopen it to recover from what is on disk).
    pub fn is_poisoned(&self) -> bool {
        matches!(self, Error::Poisoned { .. })
    }

    /// Wrap an I/O error, turning ENOSPC into [`Error::NoSpace`].
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        let path = path.into();
        if source.raw_os_error() == Some(libc::ENOSPC) || source.kind() == io::ErrorKind::StorageFull {
            return Error::NoSpace { op, path };
        }
        Error::Io { op, path, source }
    }
}
