//! A plain in-memory model of the acceptor rules, and the observable state
//! of a store in the same shape, so the two can be compared with `==`.
//!
//! The model follows the documented contract, not the store's code: a
//! promise at least the promised ballot is granted (a higher one is
//! written), an accept at least the promised ballot is accepted (and raises
//! it) unless its slot is truncated, a chosen mark is lazy, a truncation
//! drops slots below its point, a removal forgets the group. The raw
//! writes check nothing: a put stores consecutive slots (those not truncated), a
//! drop removes the slots from its point on, a metadata write sets its key.
//! A group exists once something was written for it.

use paxos_acceptor_store::{
    AcceptOutcome, AcceptorStore, Ballot, GroupId, Op, Outcome, PromiseOutcome, Slot, StoreError,
};
use std::collections::BTreeMap;

/// The observable acceptor state of one group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupState {
    /// The promised ballot.
    pub promised: Ballot,
    /// Slots below this one are truncated.
    pub first_live: Slot,
    /// Accepted slots: ballot, value, chosen mark.
    pub slots: BTreeMap<Slot, (Ballot, Vec<u8>, bool)>,
    /// Raw metadata.
    pub meta: BTreeMap<u64, Vec<u8>>,
}

/// The observable state of every group of a store.
pub type StoreState = BTreeMap<GroupId, GroupState>;

/// Everything a store shows through its read API, copied out (no value
/// stays borrowed from the store's mapped log).
pub fn read_state(store: &AcceptorStore) -> Result<StoreState, StoreError> {
    let mut state = StoreState::new();
    for g in store.groups() {
        let mut gs = GroupState {
            promised: store.promised(g).unwrap_or(Ballot::ZERO),
            first_live: store.first_live_slot(g).unwrap_or_default(),
            slots: BTreeMap::new(),
            meta: store.metadata(g)?.into_iter().map(|(k, v)| (k, v.to_vec())).collect(),
        };
        for e in store.accepted_from(g, Slot(0))? {
            gs.slots.insert(e.slot, (e.ballot, e.value.to_vec(), e.chosen));
        }
        state.insert(g, gs);
    }
    Ok(state)
}

/// A reply, with values copied out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// A granted promise: the accepted slots it reports (slot, ballot,
    /// value, chosen), and the group's first live slot.
    Granted(Vec<(Slot, Ballot, Vec<u8>, bool)>, Slot),
    /// A promise or accept rejected: the promised ballot.
    Rejected(Ballot),
    /// An accept accepted.
    Accepted,
    /// An accept for a truncated slot: the first live slot.
    Truncated(Slot),
    /// A chosen mark, truncation or removal.
    Done,
}

impl Reply {
    /// Copy an outcome out of the store.
    pub fn of(o: Outcome) -> Reply {
        match o {
            Outcome::Promise(PromiseOutcome::Granted { accepted, first_live_slot }) => Reply::Granted(
                accepted.into_iter().map(|e| (e.slot, e.ballot, e.value.to_vec(), e.chosen)).collect(),
                first_live_slot,
            ),
            Outcome::Promise(PromiseOutcome::Rejected { promised }) => Reply::Rejected(promised),
            Outcome::Accept(AcceptOutcome::Accepted) => Reply::Accepted,
            Outcome::Accept(AcceptOutcome::Rejected { promised }) => Reply::Rejected(promised),
            Outcome::Accept(AcceptOutcome::Truncated { first_live_slot }) => Reply::Truncated(first_live_slot),
            Outcome::Done => Reply::Done,
        }
    }
}

/// What an operation writes to the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Write {
    /// Nothing.
    Nothing,
    /// A record that the next sync carries (a chosen mark).
    Lazy,
    /// A record that is durable before the call returns.
    Durable,
}

/// Apply `op` to `state` by the acceptor rules; the reply and what it writes.
pub fn apply(state: &mut StoreState, op: &Op) -> (Reply, Write) {
    let g = op.group();
    let (promised, first_live) = state.get(&g).map_or((Ballot::ZERO, Slot(0)), |s| (s.promised, s.first_live));
    match op {
        Op::Promise { ballot, from_slot, .. } => {
            if *ballot < promised {
                return (Reply::Rejected(promised), Write::Nothing);
            }
            let write = if *ballot > promised {
                state.entry(g).or_default().promised = *ballot;
                Write::Durable
            } else {
                Write::Nothing
            };
            let accepted = state.get(&g).map_or_else(Vec::new, |s| {
                s.slots.range(*from_slot..).map(|(slot, (b, v, c))| (*slot, *b, v.clone(), *c)).collect()
            });
            (Reply::Granted(accepted, first_live), write)
        }
        Op::Accept { slot, ballot, value, .. } => {
            if *slot < first_live {
                return (Reply::Truncated(first_live), Write::Nothing);
            }
            if *ballot < promised {
                return (Reply::Rejected(promised), Write::Nothing);
            }
            let gs = state.entry(g).or_default();
            gs.promised = *ballot;
            let chosen = gs.slots.get(slot).is_some_and(|e| e.2);
            gs.slots.insert(*slot, (*ballot, value.clone(), chosen));
            (Reply::Accepted, Write::Durable)
        }
        Op::MarkChosen { slot, .. } => match state.get_mut(&g).and_then(|s| s.slots.get_mut(slot)) {
            Some(e) if !e.2 => {
                e.2 = true;
                (Reply::Done, Write::Lazy)
            }
            _ => (Reply::Done, Write::Nothing),
        },
        Op::TruncateBelow { slot, .. } => {
            if *slot <= first_live {
                return (Reply::Done, Write::Nothing);
            }
            let gs = state.entry(g).or_default();
            gs.first_live = *slot;
            gs.slots.retain(|s, _| *s >= *slot);
            (Reply::Done, Write::Durable)
        }
        Op::RemoveGroup { .. } => {
            let write = if state.remove(&g).is_some() { Write::Durable } else { Write::Nothing };
            (Reply::Done, write)
        }
        Op::Put { from, ballot, values, .. } => {
            if values.is_empty() || from.0.saturating_add(values.len() as u64) <= first_live.0 {
                return (Reply::Done, Write::Nothing);
            }
            let gs = state.entry(g).or_default();
            for (i, v) in values.iter().enumerate() {
                let slot = Slot(from.0 + i as u64);
                if slot >= first_live {
                    gs.slots.insert(slot, (*ballot, v.clone(), false));
                }
            }
            (Reply::Done, Write::Durable)
        }
        Op::DropFrom { slot, .. } => match state.get_mut(&g) {
            Some(gs) if gs.slots.range(*slot..).next().is_some() => {
                gs.slots.retain(|s, _| *s < *slot);
                (Reply::Done, Write::Durable)
            }
            _ => (Reply::Done, Write::Nothing),
        },
        Op::SetMeta { key, value, .. } => {
            state.entry(g).or_default().meta.insert(*key, value.clone());
            (Reply::Done, Write::Durable)
        }
    }
}

/// Apply every operation of a batch (one record) in order.
pub fn apply_batch(state: &mut StoreState, ops: &[Op]) -> (Vec<Reply>, Write) {
    let mut write = Write::Nothing;
    let replies = ops
        .iter()
        .map(|op| {
            let (r, w) = apply(state, op);
            write = write.max(w);
            r
        })
        .collect();
    (replies, write)
}

/// A short description of how two states differ (for violation messages).
pub fn diff(got: &StoreState, want: &StoreState) -> String {
    let mut out = Vec::new();
    for g in got.keys().chain(want.keys()).collect::<std::collections::BTreeSet<_>>() {
        match (got.get(g), want.get(g)) {
            (Some(a), Some(b)) if a == b => {}
            (a, b) => out.push(format!("{g}: got {a:?}, want {b:?}")),
        }
    }
    out.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_follows_the_acceptor_rules() {
        let (g, b1, b2) = (GroupId(1), Ballot::new(1, 0), Ballot::new(2, 0));
        let mut st = StoreState::new();
        let promise = |ballot| Op::Promise { group: g, ballot, from_slot: Slot(0) };
        let accept = |slot, ballot, v: &[u8]| Op::Accept { group: g, slot: Slot(slot), ballot, value: v.to_vec() };
        // A zero-ballot promise on an unknown group leaves no trace.
        assert_eq!(apply(&mut st, &promise(Ballot::ZERO)), (Reply::Granted(vec![], Slot(0)), Write::Nothing));
        assert!(st.is_empty());
        assert_eq!(apply(&mut st, &promise(b2)).1, Write::Durable);
        assert_eq!(apply(&mut st, &accept(0, b1, b"x")), (Reply::Rejected(b2), Write::Nothing));
        assert_eq!(apply(&mut st, &accept(0, b2, b"y")), (Reply::Accepted, Write::Durable));
        let chosen = Op::MarkChosen { group: g, slot: Slot(0) };
        assert_eq!(apply(&mut st, &chosen).1, Write::Lazy);
        assert_eq!(apply(&mut st, &chosen).1, Write::Nothing);
        // A re-accept keeps the chosen mark and raises the promise.
        let b3 = Ballot::new(3, 1);
        apply(&mut st, &accept(0, b3, b"z"));
        assert_eq!(st[&g].slots[&Slot(0)], (b3, b"z".to_vec(), true));
        assert_eq!(st[&g].promised, b3);
        assert_eq!(
            apply(&mut st, &promise(b3)),
            (Reply::Granted(vec![(Slot(0), b3, b"z".to_vec(), true)], Slot(0)), Write::Nothing)
        );
        let truncate = Op::TruncateBelow { group: g, slot: Slot(1) };
        assert_eq!(apply(&mut st, &truncate).1, Write::Durable);
        assert_eq!(apply(&mut st, &accept(0, b3, b"w")), (Reply::Truncated(Slot(1)), Write::Nothing));
        assert!(st[&g].slots.is_empty());
        assert_eq!(apply(&mut st, &Op::RemoveGroup { group: g }).1, Write::Durable);
        assert!(st.is_empty());
    }
}
