//! Errors of the adapter. openraft sees them as `StorageError`s (see
//! `log.rs`); the store's own calls return them as they are.

use paxos_acceptor_store::StoreError;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The acceptor store refused or failed (a failed sync poisons it: every
    /// later write fails until it is reopened).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A value could not be serialised.
    #[error("cannot encode {what}: {source}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// postcard's error.
        source: postcard::Error,
    },
    /// A stored value does not decode: it was not written by this adapter
    /// with this type configuration (its checksum was fine).
    #[error("group {group}: {what} does not decode")]
    Decode {
        /// The raft group.
        group: u64,
        /// What was being decoded.
        what: &'static str,
    },
    /// A raft group's log storage is already open ([`crate::RaftStore::group`]).
    #[error("raft group {0} is already open")]
    GroupInUse(u64),
    /// A log entry is larger than the store's largest value.
    #[error("a log entry of {len} bytes is larger than the store's largest value ({max} bytes)")]
    EntryTooLarge {
        /// Serialised size of the entry.
        len: usize,
        /// The store's `max_value_size` (less 4 bytes of length).
        max: usize,
    },
}

/// Result of the adapter's own calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;
