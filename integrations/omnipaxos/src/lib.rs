//! # paxos-store-omnipaxos: durable storage for OmniPaxos on paxos-store
//!
//! [OmniPaxos](https://crates.io/crates/omnipaxos) (0.2.4) takes its storage
//! through `omnipaxos::storage::Storage<T>`. [`OmniPaxosStorage`] implements
//! it on paxos-store's write-ahead log for every
//! `T: Entry + Serialize + DeserializeOwned` (OmniPaxos's `serde` feature,
//! which this crate turns on, makes `T::Snapshot` serialise too).
//!
//! ## The guarantee
//! - **Every mutating method is durable before it returns** (`append_entry`,
//!   `append_entries`, `append_on_prefix`, `set_promise`,
//!   `set_accepted_round`, `set_decided_idx`, `set_stopsign`, `trim`,
//!   `set_compacted_idx`, `set_snapshot`): OmniPaxos sends its replies right
//!   after these calls return.
//! - **`write_atomically` is atomic across a crash and costs one sync**:
//!   after recovery all of its operations are there or none. When it (or any
//!   write) fails, the in-memory state is exactly as before the call: a
//!   batch is applied to memory only after its sync returned.
//! - **A call that changes nothing writes nothing**: an empty append, an
//!   `AppendOnPrefix` with no entries that cuts nothing, a value set to what
//!   it already is, a trim at or below the trim point, or a
//!   `write_atomically` made only of such operations returns at once, with no
//!   record and no sync. This keeps the guarantee: the in-memory state only
//!   ever holds batches whose sync has returned (it *is* the durable state),
//!   so an operation that leaves it as it is leaves nothing to make durable.
//!   OmniPaxos makes such calls routinely (a follower flushes its empty batch
//!   on every flush tick; `flush_batch` before a promise). While the log is
//!   poisoned they fail like every write.
//! - A failed sync poisons the log (paxos-wal's contract): every later write
//!   fails until the store is reopened, which recovers from what is really
//!   on disk. A batch whose sync failed may or may not be there after that
//!   (its outcome is unknown, as for any failed write), but never a part of it.
//!
//! ## Raw persistence, not rule checks
//! The storage is an `AcceptorStore` group (crate `paxos-acceptor-store`),
//! written only through that store's **raw-persistence** operations
//! (`Op::Put`, `Op::DropFrom`, `Op::SetMeta`, with `Op::TruncateBelow` for
//! the trim point): OmniPaxos enforces the protocol itself (ballots,
//! promises, what may be overwritten), so every write here is stored as
//! given and no acceptor rule is checked. The store's rule-checking calls
//! (`promise`, `accept`, ...) are for acceptors that leave the rules to
//! paxos-store; a group uses one kind or the other.

//! ## Semantics
//! Those of `omnipaxos_storage` 0.2.4's `MemoryStorage`, exactly:
//! - indices are absolute log positions, the trimmed prefix included;
//!   `get_log_len` counts the entries after the trim point;
//! - `Trim(i)` may point past the end of the log (a follower receiving a
//!   snapshot): the log empties and restarts at `i`, so a following
//!   `AppendOnPrefix(i, …)` puts its first entry at index `i`;
//! - `AppendOnPrefix(i, …)` keeps the entries below `i` and appends after
//!   them (when `i` is past the end, after the end);
//! - the compacted index is a value of its own, distinct from the trim point;
//! - `get_entries(from, to)` is empty unless every entry of `[from, to)` is
//!   present (never partial, never an error), `get_suffix(from)` likewise.
//!
//! Where `MemoryStorage` underflows (an index below the trim point, which
//! OmniPaxos never passes) this adapter does not panic: reads return empty,
//! a trim below the trim point changes nothing, and `AppendOnPrefix` below it
//! keeps the log and appends (as a release build of `MemoryStorage` does).
//!
//! ## How it is stored
//! A [`PaxosStore`] is an acceptor store in a directory (`dir/wal`,
//! `dir/checkpoints`); each OmniPaxos node is one of its groups (see
//! `layout.rs`): the entry at log index `i` is slot `i` (postcard-encoded),
//! the trim point is the group's truncation point, `AppendOnPrefix` drops
//! the suffix and puts the new entries, and promise, accepted round, decided
//! and compacted indices, stop-sign and snapshot are durable per-group
//! registers (the snapshot cut into chunks, so it may be larger than a
//! segment). Each call is planned into one `apply_batch`: one sync, atomic
//! across a crash, spread over several log records when it is larger than
//! one. Once the batch is durable it is applied to the node's in-memory
//! state (entries as `T`, so reads are clones, as with `MemoryStorage`);
//! opening rebuilds that state from the acceptor store, which recovers from
//! its newest usable checkpoint and the log after it.
//!
//! Disk follows the live state, not history: once the values written since
//! the last checkpoint exceed both [`OmniPaxosOptions::checkpoint_min_bytes`]
//! and the last checkpoint's size, the writer that crossed the line takes
//! the acceptor store's checkpoint (every group's state) and the log
//! segments before the *previous* checkpoint are deleted (kept so a damaged
//! newest checkpoint can fall back to it). So the log after an OmniPaxos
//! trim or snapshot shrinks, and checkpoint work stays proportional to what
//! is written. The count survives a restart: opening starts it from the
//! values recovery replayed after the newest checkpoint, so a node killed
//! every few hundred writes checkpoints as if it had run in one process
//! (`tests/restarts.rs`). One entry must fit in a log record (a segment,
//! less headers).
//!
//! One store may hold several OmniPaxos nodes ("groups",
//! [`PaxosStore::group`]): nodes on different threads then share the log's
//! syncs (group commit). [`OmniPaxosStorage::open`] is the one-node shortcut.
//! Opening is cheap: the default segment is 1 MiB.
//!
//! ## Serialisation
//! postcard 1.x: a compact (varint) serde format with a documented, stable
//! wire format, actively maintained. (bincode 1.x, which `omnipaxos_storage`
//! uses, is no longer maintained.) Like bincode it is not self-describing:
//! entry types that need `deserialize_any` (untagged enums, flatten) do not
//! round-trip.
//!
//! ## Example
//! ```
//! use omnipaxos::macros::Entry;
//! use omnipaxos::storage::{Storage, StorageOp};
//! use paxos_store_omnipaxos::OmniPaxosStorage;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Entry)]
//! struct Put(u64, String);
//!
//! let dir = tempfile::tempdir()?;
//! let mut s = OmniPaxosStorage::<Put>::open(dir.path())?;
//! s.append_entries(vec![Put(1, "a".into()), Put(2, "b".into())])?; // durable now
//! s.write_atomically(vec![StorageOp::Trim(1), StorageOp::SetCompactedIdx(1)])?; // one sync
//! drop(s);
//!
//! let s = OmniPaxosStorage::<Put>::open(dir.path())?; // as after a crash
//! assert_eq!(s.get_log_len()?, 1);
//! assert_eq!(s.get_entries(1, 2)?, vec![Put(2, "b".into())]);
//! assert_eq!(s.get_entries(0, 2)?, vec![]); // index 0 is trimmed: never partial
//! assert_eq!(s.get_compacted_idx()?, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

mod error;
mod layout;
mod state;
mod storage;
mod store;

pub use error::{Error, Result};
pub use paxos_acceptor_store::RecoveryReport;
pub use paxos_wal::{WalOptions, WriteMode};
pub use storage::OmniPaxosStorage;
pub use store::{CheckpointInfo, OmniPaxosOptions, PaxosStore, StoreStats};
