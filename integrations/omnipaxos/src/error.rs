//! Typed errors of the adapter.

/// Result of the adapter's own API.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong. OmniPaxos panics on a storage error, so the
/// `Storage<T>` methods return one only for a real failure: I/O (then the log
/// is poisoned and the store must be reopened) or an entry that does not
/// serialise (then nothing was written).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The acceptor store failed: I/O (then the log is poisoned and the store
    /// must be reopened), a full disk, a locked directory, an entry larger
    /// than a segment, or on open damage to acknowledged records.
    #[error("store: {0}")]
    Store(#[from] paxos_acceptor_store::StoreError),
    /// On open, a stored entry or field does not deserialise as this `T`
    /// (another entry type, or a store of another program).
    #[error("group {group}: {what} does not deserialise")]
    Decode {
        /// The group.
        group: u64,
        /// What.
        what: &'static str,
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
