//! The Paxos vocabulary: groups, slots, ballots, operations and outcomes.

use serde::Serialize;
use std::fmt;

/// An independent Paxos instance or log (a shard, a key). Many groups share
/// one store and one stream of syncs.
///
/// **`GroupId(u64::MAX)` is reserved** (the log uses it internally to mean
/// "every group"): every operation naming it is refused with
/// [`crate::StoreError::ReservedGroup`] and reads of it find nothing. Any
/// other value is a valid id.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct GroupId(pub u64);

/// A position in a group's log. Single-decree users use one slot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Slot(pub u64);

/// A ballot, totally ordered by `(round, node)` (PMMC's (seqnum, leader)).
/// `Ballot::ZERO` is below every ballot a proposer uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Ballot {
    /// The round number; compared first.
    pub round: u64,
    /// The proposer's node id; breaks ties.
    pub node: u64,
}

impl Ballot {
    /// The ballot no promise has been made for.
    pub const ZERO: Ballot = Ballot { round: 0, node: 0 };
    /// A ballot.
    pub fn new(round: u64, node: u64) -> Self {
        Ballot { round, node }
    }
}

impl fmt::Display for Ballot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {})", self.round, self.node)
    }
}

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "g{}", self.0)
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s{}", self.0)
    }
}

/// One operation, for [`crate::AcceptorStore::apply_batch`] and
/// [`crate::AcceptorStore::submit`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Phase 1b: promise `ballot` for every slot; report accepted values at or after `from_slot`.
    Promise {
        /// The group.
        group: GroupId,
        /// The ballot to promise.
        ballot: Ballot,
        /// First slot whose accepted values the reply carries.
        from_slot: Slot,
    },
    /// Phase 2b: accept `value` for `slot` at `ballot`.
    Accept {
        /// The group.
        group: GroupId,
        /// The slot.
        slot: Slot,
        /// The ballot.
        ballot: Ballot,
        /// The value.
        value: Vec<u8>,
    },
    /// Learn: `slot`'s value is chosen. Lazy: its `Done` does not wait for
    /// a sync (the next sync carries the mark; a chosen value can be
    /// re-learned), unlike every other operation's outcome.
    MarkChosen {
        /// The group.
        group: GroupId,
        /// The slot.
        slot: Slot,
    },
    /// Drop every slot below `slot`.
    TruncateBelow {
        /// The group.
        group: GroupId,
        /// First slot kept.
        slot: Slot,
    },
    /// Forget the group entirely.
    RemoveGroup {
        /// The group.
        group: GroupId,
    },
    /// **Raw persistence** (no acceptor rule checked): store `values` in
    /// the consecutive slots from `from` at `ballot`, replacing what those
    /// slots held (their chosen marks too). The promised ballot is neither
    /// checked nor raised. Slots below the truncation point are left alone.
    /// For a library that enforces the protocol itself (see the crate docs).
    /// The values of one `Put` go into one log record: together they must
    /// fit the value size limit (use several `Put`s for more). A `Put`
    /// without values changes nothing; one whose slots would run past
    /// `u64::MAX` is refused (`StoreError::InvalidOp`).
    Put {
        /// The group.
        group: GroupId,
        /// The slot of the first value.
        from: Slot,
        /// The ballot stored with every value.
        ballot: Ballot,
        /// The values, for slots `from`, `from + 1`, ...
        values: Vec<Vec<u8>>,
    },
    /// **Raw persistence**: drop every slot at or above `slot` (a log suffix
    /// about to be replaced; follow it with [`Op::Put`]s in the same batch).
    DropFrom {
        /// The group.
        group: GroupId,
        /// First slot dropped.
        slot: Slot,
    },
    /// **Raw persistence**: set the group's metadata `key` to `value` (a
    /// durable per-group register: a library's own ballots, indices, a
    /// snapshot). Kept until overwritten or the group is removed;
    /// truncation leaves it alone.
    SetMeta {
        /// The group.
        group: GroupId,
        /// The key (any number the caller chooses).
        key: u64,
        /// The value.
        value: Vec<u8>,
    },
}

impl Op {
    /// The group the operation is for.
    pub fn group(&self) -> GroupId {
        match self {
            Op::Promise { group, .. }
            | Op::Accept { group, .. }
            | Op::MarkChosen { group, .. }
            | Op::TruncateBelow { group, .. }
            | Op::RemoveGroup { group }
            | Op::Put { group, .. }
            | Op::DropFrom { group, .. }
            | Op::SetMeta { group, .. } => *group,
        }
    }
}

/// One accepted slot, as a phase-1b reply carries it.
#[derive(Clone, Debug)]
pub struct AcceptedEntry {
    /// The slot.
    pub slot: Slot,
    /// The ballot it was accepted at.
    pub ballot: Ballot,
    /// The value (zero-copy from the log where possible).
    pub value: crate::Value,
    /// Whether the slot is known chosen.
    pub chosen: bool,
}

/// The answer to a promise.
#[derive(Clone, Debug)]
pub enum PromiseOutcome {
    /// Promised; every accepted slot at or after `from_slot`.
    Granted {
        /// The accepted entries, in slot order.
        accepted: Vec<AcceptedEntry>,
        /// The group's first live slot: every slot below it was truncated
        /// (chosen, and covered by the application's snapshot), so its
        /// accepted value is gone from this reply. A proposer must not
        /// propose in a slot below the highest `first_live_slot` of its
        /// phase-1b quorum: that slot is decided, and an empty reply for it
        /// does not mean "nothing accepted". (Learn it from a peer or a
        /// snapshot instead.)
        first_live_slot: Slot,
    },
    /// A higher (or equal, for a different promise) ballot was promised before. Nothing was written.
    Rejected {
        /// The ballot promised.
        promised: Ballot,
    },
}

/// The answer to an accept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AcceptOutcome {
    /// Accepted and durable.
    Accepted,
    /// A higher ballot was promised. Nothing was written.
    Rejected {
        /// The ballot promised.
        promised: Ballot,
    },
    /// The slot is below the group's truncation point (nothing was
    /// written; the truncation is durable before this is returned).
    Truncated {
        /// The first slot still live.
        first_live_slot: Slot,
    },
}

/// The answer to any operation of a batch.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// Of a promise.
    Promise(PromiseOutcome),
    /// Of an accept.
    Accept(AcceptOutcome),
    /// Of a mark-chosen, truncation, removal, or a raw write.
    Done,
}

/// What a read of one slot finds.
#[derive(Clone, Debug)]
pub enum SlotRead {
    /// An accepted value.
    Accepted {
        /// Its ballot.
        ballot: Ballot,
        /// The value.
        value: crate::Value,
        /// Whether it is known chosen.
        chosen: bool,
    },
    /// Nothing accepted in this slot.
    Empty,
    /// The slot was truncated.
    Truncated {
        /// The first slot still live.
        first_live_slot: Slot,
    },
}
