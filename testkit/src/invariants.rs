//! The acceptor invariants of `FAULT-MODEL.md`, checked in one place.
//!
//! A checker gets what a store shows ([`StoreState`], from
//! [`crate::store::read_state`]) and what the acceptor told the world
//! ([`Acknowledged`]: lower bounds, from replies it sent) plus what was ever
//! written to it (the upper bound), and names every invariant broken:
//!
//! - **I1** a promised ballot never goes below one acknowledged;
//! - **I2** an acknowledged accept is still there, at that ballot with that
//!   value or at a higher ballot (unless a truncation the acceptor was asked
//!   for dropped its slot);
//! - **I3** nothing invented: every accepted (slot, ballot, value) was
//!   written by some call;
//! - **I5** a truncation point acknowledged never goes back.
//!
//! (I4, every reply follows the rules, is a property of replies, checked
//! where replies are made against the model of the rules in
//! [`crate::store`]; I6 concerns a cluster, checked by the simulator.)
//!
//! The simulator (`paxos-store simulate`), the fuzz target of operation
//! sequences ([`crate::store::check_ops_with_crashes`]) and the acceptor
//! store's model test call [`check`]; the last two also compare the whole
//! state with their model, which is stronger, and [`Acknowledged::exactly`]
//! turns such a model state into the bounds.

use crate::store::StoreState;
use paxos_acceptor_store::{Ballot, GroupId, Slot};
use std::collections::{BTreeMap, BTreeSet};

/// What an acceptor acknowledged, and what was written to it.
#[derive(Clone, Debug, Default)]
pub struct Acknowledged {
    /// The highest ballot each group acknowledged promising (I1).
    pub promised: BTreeMap<GroupId, Ballot>,
    /// Accepts acknowledged: the highest ballot per slot and its value (I2).
    pub accepted: BTreeMap<(GroupId, Slot), (Ballot, Vec<u8>)>,
    /// Every (group, slot, ballot, value) any call wrote, acknowledged or
    /// not (I3).
    pub written: BTreeSet<(GroupId, Slot, Ballot, Vec<u8>)>,
    /// The truncation point each group acknowledged (I5).
    pub truncated: BTreeMap<GroupId, Slot>,
    /// The highest truncation each group was asked for, acknowledged or not:
    /// an acknowledged accept below it may be gone.
    pub truncate_attempted: BTreeMap<GroupId, Slot>,
}

impl Acknowledged {
    /// The bounds of a state known exactly (a model's): everything in it
    /// acknowledged, nothing else written.
    pub fn exactly(state: &StoreState) -> Self {
        let mut a = Acknowledged::default();
        for (g, gs) in state {
            a.promised.insert(*g, gs.promised);
            a.truncated.insert(*g, gs.first_live);
            a.truncate_attempted.insert(*g, gs.first_live);
            for (s, (b, v, _chosen)) in &gs.slots {
                a.accepted.insert((*g, *s), (*b, v.clone()));
                a.written.insert((*g, *s, *b, v.clone()));
            }
        }
        a
    }
}

/// Every invariant `state` breaks against `acked`, one message each
/// (starting with the invariant's name); empty if none.
pub fn check(state: &StoreState, acked: &Acknowledged) -> Vec<String> {
    let mut bad = Vec::new();
    for (g, b) in &acked.promised {
        let now = state.get(g).map_or(Ballot::ZERO, |gs| gs.promised);
        if now < *b {
            bad.push(format!("I1: {g} promised {now} < acknowledged {b}"));
        }
    }
    for ((g, s), (b, v)) in &acked.accepted {
        let gs = state.get(g);
        let attempted = acked.truncate_attempted.get(g).copied().unwrap_or_default();
        match gs.and_then(|gs| gs.slots.get(s)) {
            Some((ballot, value, _)) => {
                if ballot < b || (ballot == b && value != v) {
                    bad.push(format!("I2: {g} {s}: has {ballot}, acknowledged {b}"));
                }
            }
            None if *s < attempted && gs.is_none_or(|gs| *s < gs.first_live) => {}
            None => bad.push(format!("I2: {g} {s}: acknowledged {b}, now gone")),
        }
    }
    for (g, gs) in state {
        for (s, (b, v, _)) in &gs.slots {
            if !acked.written.contains(&(*g, *s, *b, v.clone())) {
                bad.push(format!("I3: {g} {s} holds {b} that was never written"));
            }
        }
    }
    for (g, t) in &acked.truncated {
        let now = state.get(g).map_or(Slot(0), |gs| gs.first_live);
        if now < *t {
            bad.push(format!("I5: {g} resurrected slots below {t} (first live slot {now})"));
        }
    }
    bad
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::GroupState;

    fn state(promised: u64, first_live: u64, slots: &[(u64, u64, &[u8])]) -> StoreState {
        let gs = GroupState {
            promised: Ballot::new(promised, 0),
            first_live: Slot(first_live),
            slots: slots.iter().map(|(s, b, v)| (Slot(*s), (Ballot::new(*b, 0), v.to_vec(), false))).collect(),
            meta: BTreeMap::new(),
        };
        StoreState::from([(GroupId(1), gs)])
    }

    #[test]
    fn each_invariant_is_caught() {
        let acked = Acknowledged::exactly(&state(5, 2, &[(3, 5, b"x")]));
        assert!(check(&state(5, 2, &[(3, 5, b"x")]), &acked).is_empty());
        let names = |s: &StoreState| check(s, &acked).iter().map(|m| m[..2].to_string()).collect::<Vec<_>>();
        assert_eq!(names(&state(4, 2, &[(3, 5, b"x")])), ["I1"]);
        assert_eq!(names(&state(5, 2, &[])), ["I2"]);
        assert_eq!(names(&state(5, 2, &[(3, 5, b"y")])), ["I2", "I3"]);
        assert_eq!(names(&state(5, 2, &[(3, 5, b"x"), (4, 5, b"z")])), ["I3"]);
        assert_eq!(names(&state(5, 1, &[(3, 5, b"x")])), ["I5"]);
        // A higher ballot at an acknowledged slot is fine (a later accept),
        // if someone wrote it.
        let mut more = acked.clone();
        more.written.insert((GroupId(1), Slot(3), Ballot::new(7, 0), b"w".to_vec()));
        assert!(check(&state(7, 2, &[(3, 7, b"w")]), &more).is_empty());
        // An acknowledged accept below a truncation asked for may be gone.
        more.truncate_attempted.insert(GroupId(1), Slot(4));
        assert!(check(&state(5, 4, &[]), &more).is_empty());
    }
}
