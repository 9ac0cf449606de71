//! Typed errors of the adapter.

use std::path::PathBuf;

/// Result of the adapter's own API.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong. OmniPaxos panics on a storage error, so the
/// `Storage<T>` methods return one only for a real failure: I/O (then the log
/// is poisoned and the store must be reopened) or an entry that does not
/// serialise (then nothing was written).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The log failed (I/O, disk full, poisoned by an earlier failed sync, locked...).
    #[error("log: {0}")]
    Wal(#[from] paxos_wal::Error),
    /// A checkpoint could not be written or read.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] paxos_snapshot::SnapshotError),
    /// Opening could not rebuild the state (damage to acknowledged records,
    /// a checkpoint the log does not continue, an undecodable record).
    #[error("recovery of {}: {source}", dir.display())]
    Recovery {
        /// The store's directory.
        dir: PathBuf,
        /// What recovery said.
        #[source]
        source: paxos_recovery::RecoveryError,
    },
    /// An entry, snapshot or stop-sign could not be serialised; nothing was written.
    #[error("cannot serialise the operations: {0}")]
    Encode(postcard::Error),
    /// Another open handle already serves this group of the store.
    #[error("group {0} of this store is already open")]
    GroupInUse(u64),
    /// Bad options.
    #[error("invalid options: {0}")]
    InvalidOptions(String),
}
