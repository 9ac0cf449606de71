//! Typed errors of the acceptor store.

use crate::types::GroupId;

/// Result of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What can go wrong. A rejection by the acceptor rules is not an error: it
/// is an outcome ([`crate::PromiseOutcome::Rejected`], ...).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The log failed (I/O, full disk, poisoned by a failed sync, locked...).
    #[error(transparent)]
    Wal(#[from] paxos_wal::Error),
    /// The checkpoint directory failed.
    #[error(transparent)]
    Snapshot(#[from] paxos_snapshot::SnapshotError),
    /// Opening could not recover the store.
    #[error(transparent)]
    Recovery(#[from] paxos_recovery::RecoveryError),
    /// The store's directory says a store lives here (its `STORE` marker),
    /// but its log is gone (no log manifest): opening it would forget every
    /// promise and accept. Nothing was created. To really start over as a new
    /// acceptor, remove the whole directory.
    #[error("{} holds a store whose log is gone (no wal/MANIFEST): refusing to start it empty", dir.display())]
    LogLost {
        /// The store's directory.
        dir: std::path::PathBuf,
    },
    /// A value larger than the configured limit.
    #[error("value of {len} bytes is larger than the limit of {max} bytes")]
    ValueTooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// An operation that cannot be stored as given (nothing was written).
    #[error("invalid operation: {0}")]
    InvalidOp(&'static str),
    /// The operation names `GroupId(u64::MAX)`, which is reserved (see
    /// [`GroupId`]); nothing was written.
    #[error("group id u64::MAX is reserved and names no group")]
    ReservedGroup,
    /// Acknowledged records were lost to damage (found under `Salvage`), so
    /// the store cannot know what this group promised or accepted: it must not
    /// vote until the node has repaired it (re-learned its state from peers)
    /// and called [`crate::AcceptorStore::repair_group`].
    #[error("group {group} must not vote until it is repaired: acknowledged records were lost to damage")]
    NeedsRepair {
        /// The group.
        group: GroupId,
    },
    /// A log record that passed its checksum does not decode (a bug or a foreign log).
    #[error("record at lsn {lsn}: {source}")]
    BadRecord {
        /// The record.
        lsn: u64,
        /// What is wrong.
        #[source]
        source: crate::codec::DecodeError,
    },
    /// An internal invariant of the store broke (a bug): the call's records
    /// may be in the log, and every later write is refused with this error
    /// until the store is reopened (which recovers from the log).
    #[error("internal error: {0}")]
    Internal(&'static str),
    /// A value of `group` failed its check when it was read from the log (a
    /// record whose bytes changed after they were written, or a segment
    /// truncated or unreadable under the running store; `source` says which
    /// and where). Nothing of it was returned. The group now refuses to vote
    /// ([`StoreError::NeedsRepair`]) until the node has re-learned its state
    /// from its peers and called [`crate::AcceptorStore::repair_group`]: a
    /// phase-1b reply without that value would be a wrong reply.
    #[error("a value of group {group} is damaged in the log ({source}); the group must not vote until it is repaired")]
    DamagedValue {
        /// The group.
        group: GroupId,
        /// The log's error ([`paxos_wal::Error::DamagedRecord`] or [`paxos_wal::Error::MappedReadFailed`]).
        #[source]
        source: paxos_wal::Error,
    },
    /// A value the store points at is no longer in the log (an internal invariant broke).
    #[error("value of group {group} is missing from the log")]
    MissingValue {
        /// The group.
        group: GroupId,
    },
}

impl StoreError {
    /// Whether the disk is full (`ENOSPC`), wherever it was met (the log,
    /// the checkpoints, recovery): free space, then reopen or retry.
    ///
    /// ```
    /// # use paxos_acceptor_store::*;
    /// # fn f(store: &AcceptorStore) {
    /// match store.accept(GroupId(1), Slot(0), Ballot::new(1, 1), b"v") {
    ///     Err(e) if e.is_no_space() => { /* alert the operator, stop voting */ }
    ///     Err(e) if e.is_poisoned() => { /* a sync failed: reopen the store */ }
    ///     _ => {}
    /// }
    /// # }
    /// ```
    pub fn is_no_space(&self) -> bool {
        match self {
            StoreError::Wal(e) => e.is_no_space(),
            StoreError::Snapshot(e) => e.is_no_space(),
            StoreError::Recovery(e) => e.is_no_space(),
            _ => false,
        }
    }

    /// Whether another process (or another open store in this one) holds
    /// the directory: only one store may have it open.
    pub fn is_locked(&self) -> bool {
        match self {
            StoreError::Wal(e) => e.is_locked(),
            StoreError::Snapshot(e) => e.is_locked(),
            StoreError::Recovery(e) => e.is_locked(),
            _ => false,
        }
    }

    /// Whether the store refuses writes because a sync or write failed
    /// earlier (contract 2): reopen it, which recovers from what is on disk.
    pub fn is_poisoned(&self) -> bool {
        match self {
            StoreError::Wal(e) => e.is_poisoned(),
            StoreError::Snapshot(e) => e.is_poisoned(),
            _ => false,
        }
    }

    /// Whether acknowledged data was found damaged ([`StoreError::DamagedValue`],
    /// [`StoreError::NeedsRepair`], or damage reported by the log or a
    /// checkpoint): the group (or node) must re-learn from its peers.
    pub fn is_damage(&self) -> bool {
        match self {
            StoreError::Wal(e) => e.is_damage(),
            StoreError::Snapshot(e) => e.is_damage(),
            StoreError::DamagedValue { .. } | StoreError::NeedsRepair { .. } => true,
            _ => false,
        }
    }
}
