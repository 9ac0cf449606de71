//! # paxos-acceptor-store: durable Paxos acceptor state
//!
//! The API a Paxos node embeds. One store holds many independent Paxos
//! groups ([`GroupId`]: a shard, a key, a log), each with its promised ballot,
//! the accepted (ballot, value) of each live [`Slot`], which slots are known
//! chosen, and its truncation point. It serves single-decree Paxos (one slot
//! per group), Multi-Paxos (a slot log; one promise covers every slot) and
//! per-key lightweight-transaction Paxos (many small groups) at once.
//!
//! ## The guarantee
//! Every call checks the acceptor rules and persists its record as one atomic
//! step, and returns only after everything its reply depends on is durable:
//! - [`AcceptorStore::promise`] grants a ballot at least the promised one and
//!   returns the accepted slots (phase 1b), or rejects with the promised
//!   ballot, writing nothing;
//! - [`AcceptorStore::accept`] accepts at a ballot at least the promised one
//!   (phase 2b), or rejects, or answers `Truncated` for a truncated slot;
//! - [`AcceptorStore::truncate_below`], [`AcceptorStore::remove_group`] are
//!   durable before they return; [`AcceptorStore::mark_chosen`] is lazy (the
//!   next sync carries it: a chosen value can be re-learned).
//!
//! Rules are checked under one lock in the order records enter the log, so
//! two concurrent accepts can never both win against one promise; concurrent
//! calls still share syncs (group commit in the log).
//! [`AcceptorStore::apply_batch`] applies many operations with one record and
//! one sync, atomic across a crash.
//!
//! ## Event loops and async
//! [`AcceptorStore::submit`] checks the rules and appends now, and returns a
//! [`Ticket`] for the outcome; a `Ticket` is a [`Future`](std::future::Future)
//! (`Output = Result<Outcome>`) that any executor can await, woken only after
//! the sync that covers it returned (or with the error if that sync failed),
//! so one thread can keep many operations in flight and still share syncs.
//! [`Ticket::wait`] blocks a thread instead, and
//! [`AcceptorStore::submit_with`] takes a callback. The crate depends on no
//! async runtime.
//!
//! ```
//! use paxos_acceptor_store::*;
//! let dir = tempfile::tempdir()?;
//! let (store, _) = AcceptorStore::open(dir.path(), StoreOptions::default())?;
//! let tickets: Vec<Ticket> = (0..100)
//!     .map(|i| store.submit(Op::Accept { group: GroupId(i % 4), slot: Slot(i), ballot: Ballot::new(1, 1), value: b"v".to_vec() }))
//!     .collect::<Result<_>>()?;
//! // All in flight on one thread; a few syncs cover them all.
//! for outcome in futures::executor::block_on(futures::future::join_all(tickets)) {
//!     assert!(matches!(outcome?, Outcome::Accept(AcceptOutcome::Accepted)));
//! }
//! assert_eq!(store.log().durable_lsn, store.log().last_lsn);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Raw persistence, for libraries that enforce the protocol themselves
//! A Paxos library with its own protocol logic (OmniPaxos, through
//! `paxos-store-omnipaxos`) needs storage, not a second rule checker. Three
//! operations of [`AcceptorStore::apply_batch`] are **raw persistence**: they
//! check no acceptor rule and never touch the promised ballot, and are
//! durable before the batch returns, atomic with the rest of the batch:
//! - [`Op::Put`] stores a slot's (ballot, value) (a truncated slot is left alone);
//! - [`Op::DropFrom`] drops a log suffix (with `Put`s after it in the same
//!   batch: "replace the suffix from slot *s*");
//! - [`Op::SetMeta`] sets a durable per-group register (the library's own
//!   ballots, indices, a snapshot), read back with [`AcceptorStore::metadata`].
//!
//! [`Op::TruncateBelow`] (a trimmed prefix) serves both kinds of user. Every
//! other call checks the rules above. Use one kind per group: raw writes
//! can break what the checked calls promise (a `Put` below a promise).
//! A batch too large for one log record is cut into several consecutive
//! records and still counts only whole.
//!
//! ```
//! use paxos_acceptor_store::*;
//! let dir = tempfile::tempdir()?;
//! let mut opts = StoreOptions::default();
//! opts.log.segment_size = 1 << 20; // the log's options are nested: `opts.log`
//! let (store, _) = AcceptorStore::open(dir.path(), opts)?;
//! let g = GroupId(1);
//! // A log of three entries and a register, then the suffix from slot 1
//! // replaced: one batch each, durable and atomic.
//! let values = vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()];
//! store.apply_batch(&[
//!     Op::Put { group: g, from: Slot(0), ballot: Ballot::ZERO, values },
//!     Op::SetMeta { group: g, key: 1, value: b"decided=0".to_vec() },
//! ])?;
//! store.apply_batch(&[
//!     Op::DropFrom { group: g, slot: Slot(1) },
//!     Op::Put { group: g, from: Slot(1), ballot: Ballot::ZERO, values: vec![b"B".to_vec()] },
//! ])?;
//! let log: Vec<Vec<u8>> = store.accepted_from(g, Slot(0))?.iter().map(|e| e.value.to_vec()).collect();
//! assert_eq!(log, vec![b"a".to_vec(), b"B".to_vec()]);
//! assert_eq!(&*store.metadata(g)?[0].1, b"decided=0");
//! // No rule was involved: nothing was promised.
//! assert_eq!(store.promised(g), Some(Ballot::ZERO));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## How it is stored
//! Records go to a `paxos-wal` log in `dir/wal`. Values are not copied onto
//! the heap: a slot points into the mapped log, and reads ([`Value`]) borrow
//! from it. Once the log holds more than a few segments the store writes a
//! checkpoint (the state of every group, through `paxos-snapshot` in
//! `dir/checkpoints`); values move into the checkpoint's in-memory image and
//! the log segments before the previous checkpoint are deleted, so disk and
//! memory follow the live state, not history, and an idle group pins nothing.
//! Opening recovers through `paxos-recovery`: newest usable checkpoint, then
//! the log after it.
//!
//! ## Inside: modules, threads and locks
//! One concept per module: `rules` (the acceptor rules, a pure function of a
//! group's state and an operation), `write` (the write path: rules checked
//! and records built under the store lock, one append, replies handed out
//! after the sync), `replay` (records back into state on open), `state`
//! (the per-group index), `codec` (the record format), `checkpointing` (when
//! and how a checkpoint is taken; `checkpoint` is its image codec),
//! `submit` (tickets and callbacks), `store` (open, reads, the handle).
//!
//! Threads: the callers; the log's own (segment preparer, watermark writer;
//! a caller leads each group-commit round, see `paxos-wal`); the store's
//! flusher (started by the first ticket polled or callback submitted: it
//! waits for the covering sync and fires callbacks, after letting go of the
//! store); a checkpoint thread while an automatic checkpoint runs. Lock
//! order: the checkpoint lock, then the store lock (`inner`), then one of
//! the 4096 shards of groups, then the set of damaged values, then the
//! pins; the log's locks are taken below all of them. No write or sync runs
//! under the store lock except the one append of a batch (a reply's values
//! are read after it is released).
//!
//! Checkpoints stay off the write path: a checkpoint takes the store lock
//! only to pick the next shard up (and the log position it is at), copies
//! that shard's groups (locations, not values) under the shard's own lock,
//! and reads values, encodes, writes and syncs with no lock held; it points
//! the values at the new image a shard at a time, again under the shard's
//! lock only. A caller that touches the shard being copied at that moment
//! waits for it, holding the store lock, so the others wait behind it:
//! for the few microseconds a shard (1/4096 of the groups) takes.
//!
//! ## Damage
//! Under [`CorruptionPolicy::Salvage`], if acknowledged records were lost the
//! store cannot know which groups they touched, so every group refuses to
//! vote ([`StoreError::NeedsRepair`]) until the node re-learns it and calls
//! [`AcceptorStore::repair_group`] (or [`AcceptorStore::repair_all`]): an
//! acceptor that forgot a promise must not vote as if it had not made it.
//! Until then the log that shows the damage is kept.
//!
//! A value the log finds damaged while the store runs (its record no longer
//! matches its checksum, or its segment was truncated under the store) is
//! never put in a reply: the operation fails with
//! [`StoreError::DamagedValue`], and that group alone refuses to vote until
//! [`AcceptorStore::repair_group`].
//!
//! ## Example
//! ```
//! use paxos_acceptor_store::*;
//! let dir = tempfile::tempdir()?;
//! let mut opts = StoreOptions::default();
//! opts.log.segment_size = 1 << 20; // the log's options are nested: `opts.log`
//! let (store, _report) = AcceptorStore::open(dir.path(), opts.clone())?;
//! let g = GroupId(7);
//! let b1 = Ballot::new(1, 1);
//! assert!(matches!(store.promise(g, b1, Slot(0))?, PromiseOutcome::Granted { .. }));
//! assert_eq!(store.accept(g, Slot(0), b1, b"x = 1")?, AcceptOutcome::Accepted);
//! // A lower ballot is rejected and nothing is written.
//! let low = Ballot::new(0, 9);
//! assert_eq!(store.accept(g, Slot(1), low, b"nope")?, AcceptOutcome::Rejected { promised: b1 });
//! drop(store);
//! // After a restart, a higher ballot's phase 1b sees the accepted value.
//! let (store, report) = AcceptorStore::open(dir.path(), opts)?;
//! match store.promise(g, Ballot::new(2, 3), Slot(0))? {
//!     // Slots below `first_live_slot` are truncated (decided): never propose there.
//!     PromiseOutcome::Granted { accepted, first_live_slot } => {
//!         assert_eq!(first_live_slot, Slot(0));
//!         assert_eq!(accepted.len(), 1);
//!         assert_eq!(&*accepted[0].value, b"x = 1");
//!     }
//!     other => panic!("{other:?}"),
//! }
//! println!("{report}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Features
//!
//! - `sim` (off by default): through `paxos-wal/sim`, the simulated disk
//!   `paxos_wal::storage::MemStorage`. For tests, fuzzers and simulators; a
//!   production build carries none of it.
//! - `fuzzing` (off by default; implies `sim`): the [`fuzzing`] module, the
//!   two checks the test kit (`paxos-store-testkit`, where the fuzz targets,
//!   the models and the seed helpers live) needs from inside the store.
//! - `metrics` (off by default): [`AcceptorStore::publish_metrics`] and the
//!   [`metrics`][metrics-mod] module publish [`AcceptorStore::stats`] (fsync latency
//!   histogram `paxos_wal_fsync_duration_seconds`, syncs, bytes, records
//!   per sync, slow syncs, poisoned time, checkpoints) through the
//!   `metrics` facade crate, so any exporter (Prometheus included) carries
//!   them. Without it, [`AcceptorStore::stats`] has the same numbers.
//!
// Without `sim` (or `metrics`) the module does not exist: point its link at
// the paragraph above rather than leave it broken.
#![cfg_attr(not(any(test, feature = "fuzzing")), doc = "[`fuzzing`]: #features")]
#![cfg_attr(not(feature = "metrics"), doc = "[`AcceptorStore::publish_metrics`]: #features\n[metrics-mod]: #features")]
#![cfg_attr(feature = "metrics", doc = "[metrics-mod]: mod@crate::metrics")]
#![warn(missing_docs)]

mod app_snapshot;
mod checkpoint;
mod checkpointing;
mod codec;
mod error;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
#[cfg(feature = "metrics")]
pub mod metrics;
mod options;
mod replay;
mod rules;
mod state;
mod store;
mod submit;
mod types;
mod value;
mod write;

pub use app_snapshot::{AppSnapshot, AppSnapshotWriter};
pub use codec::{decode_ops, DecodeError};
pub use error::{Result, StoreError};
pub use options::{CheckpointInfo, CheckpointSteps, LogInfo, StoreOptions, StoreStats};
pub use paxos_recovery::RecoveryReport;
pub use paxos_wal::{CorruptionPolicy, StallHook, SyncHistogram, WalStats, WriteMode};
pub use store::AcceptorStore;
pub use submit::Ticket;
pub use types::{AcceptOutcome, AcceptedEntry, Ballot, GroupId, Op, Outcome, PromiseOutcome, Slot, SlotRead};
pub use value::Value;
