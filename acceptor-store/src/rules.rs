//! The acceptor rules, as a pure function of a group's state and an
//! operation ([`decide`]), and the operations they apply to ([`OpRef`]).

use crate::codec::Kind;
use crate::state::ALL_GROUPS;
use crate::types::{AcceptOutcome, Ballot, GroupId, Outcome, PromiseOutcome, Slot};

/// An operation whose value is borrowed from the caller. `RepairAll` marks
/// every group repaired: it is written as a `Repair` naming [`ALL_GROUPS`],
/// which no real group can be (every other operation naming it is refused).
#[derive(Clone, Copy, Debug)]
pub(crate) enum OpRef<'a> {
    Promise { group: GroupId, ballot: Ballot, from_slot: Slot },
    Accept { group: GroupId, slot: Slot, ballot: Ballot, value: &'a [u8] },
    MarkChosen { group: GroupId, slot: Slot },
    TruncateBelow { group: GroupId, slot: Slot },
    RemoveGroup { group: GroupId },
    Repair { group: GroupId },
    RepairAll,
    Put { group: GroupId, from: Slot, ballot: Ballot, values: &'a [Vec<u8>] },
    DropFrom { group: GroupId, slot: Slot },
    SetMeta { group: GroupId, key: u64, value: &'a [u8] },
}

impl OpRef<'_> {
    pub(crate) fn group(&self) -> GroupId {
        match *self {
            OpRef::Promise { group, .. }
            | OpRef::Accept { group, .. }
            | OpRef::MarkChosen { group, .. }
            | OpRef::TruncateBelow { group, .. }
            | OpRef::RemoveGroup { group }
            | OpRef::Repair { group }
            | OpRef::Put { group, .. }
            | OpRef::DropFrom { group, .. }
            | OpRef::SetMeta { group, .. } => group,
            OpRef::RepairAll => ALL_GROUPS,
        }
    }

    /// Promises and accepts are votes: a group that needs repair refuses them.
    pub(crate) fn votes(&self) -> bool {
        matches!(self, OpRef::Promise { .. } | OpRef::Accept { .. })
    }
}

/// What a group's state holds, as the rules read it (absent: a group nobody
/// wrote to, or one removed).
pub(crate) type GroupState<'a> = Option<&'a crate::state::Group>;

/// The body of a record to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// The values of a put, encoded with their lengths when written.
    Values(&'a [Vec<u8>]),
}

/// A record the rules ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Write<'a> {
    pub kind: Kind,
    pub slot: Slot,
    pub ballot: Ballot,
    pub body: Body<'a>,
    /// The outcome waits for this record's sync. Only a chosen mark does
    /// not: a chosen value can be re-learned (see [`crate::Op::MarkChosen`]).
    pub durable: bool,
}

/// Which earlier record an outcome depends on, beside its own write: the
/// reply must not be handed out before that record is durable (contract 8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DependsOn {
    /// Nothing earlier (the outcome is its own write, or is lazy).
    Nothing,
    /// The record that raised the promised ballot (a rejection reports it).
    Promise,
    /// The record that raised the first live slot (a "truncated" answer
    /// reports it).
    Truncation,
    /// Everything logged before this batch (a call that finds its work
    /// already done, maybe by a record whose sync is still running).
    EverythingBefore,
}

/// The rule for one operation, decided from the group's state alone.
#[derive(Clone, Debug)]
pub(crate) struct Decision<'a> {
    pub write: Option<Write<'a>>,
    pub outcome: Outcome,
    pub depends_on: DependsOn,
    /// A granted promise: the reply carries every accepted slot from here,
    /// as the state is after this operation (phase 1b).
    pub phase1b_from: Option<Slot>,
}

impl<'a> Decision<'a> {
    fn answer(outcome: Outcome, depends_on: DependsOn) -> Self {
        Decision { write: None, outcome, depends_on, phase1b_from: None }
    }

    fn write(kind: Kind, slot: Slot, ballot: Ballot, body: Body<'a>, outcome: Outcome) -> Self {
        let write = Some(Write { kind, slot, ballot, body, durable: true });
        Decision { write, outcome, depends_on: DependsOn::Nothing, phase1b_from: None }
    }
}

/// The acceptor's rules: what `op` writes and answers when its group is in
/// `state`. A pure function, to be read against the papers (Lamport, "Paxos
/// Made Simple", §2.2: an acceptor promises a prepare with a ballot higher
/// than any it promised, and accepts a proposal unless it promised a higher
/// ballot) and tested alone; the write path applies what it decides.
///
/// Beside the classic rules: a promise at the ballot already promised is a
/// retry (granted again, nothing written); an accept below the group's
/// truncation point answers `Truncated` (the slot was decided and dropped);
/// the raw-persistence operations write unless they would change nothing.
pub(crate) fn decide<'a>(op: &OpRef<'a>, state: GroupState<'_>) -> Decision<'a> {
    let promised = state.map_or(Ballot::ZERO, |g| g.promised);
    let first_live = state.map_or(Slot(0), |g| g.first_live());
    match *op {
        OpRef::Promise { ballot, from_slot, .. } => {
            if ballot < promised {
                return Decision::answer(Outcome::Promise(PromiseOutcome::Rejected { promised }), DependsOn::Promise);
            }
            let granted =
                Outcome::Promise(PromiseOutcome::Granted { accepted: Vec::new(), first_live_slot: first_live });
            let mut d = if ballot > promised {
                Decision::write(Kind::Promise, from_slot, ballot, Body::Empty, granted)
            } else {
                // A retry of the same promise: nothing new to write, but it
                // (and what the reply shows) must be durable.
                Decision::answer(granted, DependsOn::EverythingBefore)
            };
            d.phase1b_from = Some(from_slot);
            d
        }
        OpRef::Accept { slot, ballot, value, .. } => {
            if slot < first_live {
                Decision::answer(
                    Outcome::Accept(AcceptOutcome::Truncated { first_live_slot: first_live }),
                    DependsOn::Truncation,
                )
            } else if ballot < promised {
                Decision::answer(Outcome::Accept(AcceptOutcome::Rejected { promised }), DependsOn::Promise)
            } else {
                Decision::write(
                    Kind::Accept,
                    slot,
                    ballot,
                    Body::Bytes(value),
                    Outcome::Accept(AcceptOutcome::Accepted),
                )
            }
        }
        OpRef::MarkChosen { slot, .. } => {
            let unmarked = state.and_then(|g| g.find(slot).ok().map(|i| !g.slots()[i].chosen())) == Some(true);
            if unmarked {
                let mut d = Decision::write(Kind::MarkChosen, slot, Ballot::ZERO, Body::Empty, Outcome::Done);
                d.write.as_mut().expect("a write").durable = false;
                d
            } else {
                Decision::answer(Outcome::Done, DependsOn::Nothing)
            }
        }
        OpRef::TruncateBelow { slot, .. } => {
            if slot > first_live {
                Decision::write(Kind::TruncateBelow, slot, Ballot::ZERO, Body::Empty, Outcome::Done)
            } else {
                Decision::answer(Outcome::Done, DependsOn::EverythingBefore)
            }
        }
        OpRef::RemoveGroup { .. } => {
            if state.is_some() {
                Decision::write(Kind::RemoveGroup, Slot(0), Ballot::ZERO, Body::Empty, Outcome::Done)
            } else {
                // Already absent, maybe by a removal not yet synced: "done"
                // must not come before it is durable.
                Decision::answer(Outcome::Done, DependsOn::EverythingBefore)
            }
        }
        OpRef::Repair { .. } | OpRef::RepairAll => {
            Decision::write(Kind::Repair, Slot(0), Ballot::ZERO, Body::Empty, Outcome::Done)
        }
        OpRef::Put { from, ballot, values, .. } => {
            if values.is_empty() || from.0.saturating_add(values.len() as u64) <= first_live.0 {
                // Nothing to store (no value, or every slot truncated): what
                // that depends on must be durable.
                Decision::answer(Outcome::Done, DependsOn::EverythingBefore)
            } else {
                Decision::write(Kind::Put, from, ballot, Body::Values(values), Outcome::Done)
            }
        }
        OpRef::DropFrom { slot, .. } => {
            if state.is_some_and(|g| g.slots().last().is_some_and(|e| e.slot >= slot)) {
                Decision::write(Kind::DropFrom, slot, Ballot::ZERO, Body::Empty, Outcome::Done)
            } else {
                Decision::answer(Outcome::Done, DependsOn::EverythingBefore)
            }
        }
        OpRef::SetMeta { key, value, .. } => {
            // The key travels in the record's slot field (FORMAT: a metadata
            // op's slot is its key).
            Decision::write(Kind::SetMeta, Slot(key), Ballot::ZERO, Body::Bytes(value), Outcome::Done)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Group, SlotEntry, ValueLoc};

    const G: GroupId = GroupId(7);

    fn b(round: u64) -> Ballot {
        Ballot::new(round, 1)
    }

    /// A group that promised `promised` and truncated below `first_live`,
    /// with slots `slots` accepted (the first one chosen).
    fn group(promised: u64, first_live: u64, slots: &[u64]) -> Group {
        let slots = slots
            .iter()
            .enumerate()
            .map(|(i, &s)| SlotEntry::new(Slot(s), b(promised), ValueLoc::log(1, 0, 0), i == 0));
        Group::from_parts(b(promised), Slot(0), Slot(first_live), slots.collect(), Vec::new())
    }

    fn promise(round: u64) -> OpRef<'static> {
        OpRef::Promise { group: G, ballot: b(round), from_slot: Slot(3) }
    }

    fn accept(slot: u64, round: u64) -> OpRef<'static> {
        OpRef::Accept { group: G, slot: Slot(slot), ballot: b(round), value: b"v" }
    }

    #[test]
    fn a_promise_is_granted_only_at_or_above_the_promised_ballot() {
        let g = group(5, 0, &[]);
        let d = decide(&promise(4), Some(&g));
        assert!(matches!(d.outcome, Outcome::Promise(PromiseOutcome::Rejected { promised }) if promised == b(5)));
        assert_eq!((d.write, d.depends_on, d.phase1b_from), (None, DependsOn::Promise, None));

        let d = decide(&promise(6), Some(&g));
        assert!(matches!(d.outcome, Outcome::Promise(PromiseOutcome::Granted { .. })));
        let w = d.write.expect("a higher ballot is written");
        assert_eq!((w.kind, w.ballot, w.slot, w.durable), (Kind::Promise, b(6), Slot(3), true));
        assert_eq!(d.phase1b_from, Some(Slot(3)));

        // A retry at the promised ballot: granted again, nothing written,
        // but the reply waits for everything before it.
        let d = decide(&promise(5), Some(&g));
        assert!(matches!(d.outcome, Outcome::Promise(PromiseOutcome::Granted { .. })));
        assert_eq!((d.write, d.depends_on, d.phase1b_from), (None, DependsOn::EverythingBefore, Some(Slot(3))));

        // An unknown group has promised nothing.
        assert!(decide(&promise(1), None).write.is_some());
    }

    #[test]
    fn a_granted_promise_reports_the_truncation_point() {
        let d = decide(&promise(9), Some(&group(5, 4, &[4, 5])));
        assert!(matches!(d.outcome, Outcome::Promise(PromiseOutcome::Granted { first_live_slot: Slot(4), .. })));
    }

    #[test]
    fn an_accept_is_taken_unless_a_higher_ballot_was_promised_or_the_slot_is_truncated() {
        let g = group(5, 10, &[]);
        let d = decide(&accept(12, 5), Some(&g));
        assert!(matches!(d.outcome, Outcome::Accept(AcceptOutcome::Accepted)));
        let w = d.write.unwrap();
        assert_eq!(
            (w.kind, w.slot, w.ballot, w.body, w.durable),
            (Kind::Accept, Slot(12), b(5), Body::Bytes(b"v"), true)
        );
        assert!(decide(&accept(12, 7), Some(&g)).write.is_some(), "a higher ballot than promised is accepted");

        let d = decide(&accept(12, 4), Some(&g));
        assert!(matches!(d.outcome, Outcome::Accept(AcceptOutcome::Rejected { promised }) if promised == b(5)));
        assert_eq!((d.write, d.depends_on), (None, DependsOn::Promise));

        // Below the truncation point, whatever the ballot: truncated, and the
        // reply waits for the record that truncated.
        for round in [4, 5, 9] {
            let d = decide(&accept(9, round), Some(&g));
            assert!(matches!(d.outcome, Outcome::Accept(AcceptOutcome::Truncated { first_live_slot: Slot(10) })));
            assert_eq!((d.write, d.depends_on), (None, DependsOn::Truncation));
        }
    }

    #[test]
    fn a_chosen_mark_is_written_once_and_lazily() {
        let g = group(5, 0, &[1, 2]); // slot 1 chosen, slot 2 not
        let d = decide(&OpRef::MarkChosen { group: G, slot: Slot(2) }, Some(&g));
        let w = d.write.unwrap();
        assert_eq!((w.kind, w.durable, d.depends_on), (Kind::MarkChosen, false, DependsOn::Nothing));
        for slot in [1, 3] {
            let d = decide(&OpRef::MarkChosen { group: G, slot: Slot(slot) }, Some(&g));
            assert_eq!((d.write, d.depends_on), (None, DependsOn::Nothing), "slot {slot}");
        }
    }

    #[test]
    fn calls_that_change_nothing_write_nothing_and_wait_for_everything_before() {
        let g = group(5, 4, &[4, 5]);
        let nothing = [
            OpRef::TruncateBelow { group: G, slot: Slot(4) },
            OpRef::TruncateBelow { group: G, slot: Slot(2) },
            OpRef::Put { group: G, from: Slot(0), ballot: Ballot::ZERO, values: &[] },
            OpRef::DropFrom { group: G, slot: Slot(6) },
        ];
        for op in nothing {
            let d = decide(&op, Some(&g));
            assert_eq!((d.write, d.depends_on), (None, DependsOn::EverythingBefore), "{op:?}");
        }
        let d = decide(&OpRef::RemoveGroup { group: G }, None);
        assert_eq!((d.write, d.depends_on), (None, DependsOn::EverythingBefore));
        let values = [b"x".to_vec(), b"y".to_vec()];
        let d = decide(&OpRef::Put { group: G, from: Slot(2), ballot: Ballot::ZERO, values: &values }, Some(&g));
        assert_eq!(d.write, None, "every slot of the put is truncated");
    }

    #[test]
    fn writes_that_change_something_are_durable() {
        let g = group(5, 4, &[4, 5]);
        let values = [b"x".to_vec(), b"y".to_vec()];
        let writes = [
            (OpRef::TruncateBelow { group: G, slot: Slot(5) }, Kind::TruncateBelow),
            (OpRef::RemoveGroup { group: G }, Kind::RemoveGroup),
            (OpRef::Repair { group: G }, Kind::Repair),
            (OpRef::RepairAll, Kind::Repair),
            (OpRef::Put { group: G, from: Slot(3), ballot: Ballot::ZERO, values: &values }, Kind::Put),
            (OpRef::DropFrom { group: G, slot: Slot(5) }, Kind::DropFrom),
            (OpRef::SetMeta { group: G, key: 9, value: b"m" }, Kind::SetMeta),
        ];
        for (op, kind) in writes {
            let d = decide(&op, Some(&g));
            let w = d.write.unwrap_or_else(|| panic!("{op:?} writes"));
            assert_eq!((w.kind, w.durable, d.depends_on), (kind, true, DependsOn::Nothing), "{op:?}");
        }
        let d = decide(&OpRef::SetMeta { group: G, key: 9, value: b"m" }, None);
        assert_eq!(d.write.unwrap().slot, Slot(9), "a metadata key travels in the slot field");
    }
}
