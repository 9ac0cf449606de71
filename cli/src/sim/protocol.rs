//! The Paxos protocol driven over the simulated network: the messages, the
//! acceptors' replies from their real stores, and the proposers running
//! single-decree Paxos and Multi-Paxos windows.

use super::Sim;
use paxos_acceptor_store::{AcceptOutcome, Ballot, GroupId, PromiseOutcome, Slot};
use rand::Rng;
use std::collections::{BTreeMap, BTreeSet};

pub(super) type Value = Vec<u8>;

/// A granted promise's contents: the accepted entries (slot, ballot, value)
/// and the group's first live slot (the slots below it are decided).
type Phase1b = (Vec<(Slot, Ballot, Value)>, Slot);

#[derive(Clone, Debug)]
pub(super) enum Msg {
    Prepare {
        p: usize,
        a: usize,
        group: GroupId,
        ballot: Ballot,
        from: Slot,
    },
    /// A granted promise carries the accepted entries and the first live slot.
    Promise {
        p: usize,
        a: usize,
        ballot: Ballot,
        reply: Result<Phase1b, Ballot>,
    },
    Accept {
        p: usize,
        a: usize,
        group: GroupId,
        slot: Slot,
        ballot: Ballot,
        value: Value,
    },
    Accepted {
        p: usize,
        a: usize,
        slot: Slot,
        ballot: Ballot,
        reply: Result<(), Ballot>,
    },
    Learn {
        a: usize,
        group: GroupId,
        slot: Slot,
    },
}

pub(super) enum Phase {
    Idle,
    One { promises: BTreeMap<usize, Phase1b> },
    Two { values: BTreeMap<Slot, Value>, votes: BTreeMap<Slot, BTreeSet<usize>> },
}

pub(super) struct Proposer {
    pub(super) id: usize,
    pub(super) round: u64,
    pub(super) ballot: Ballot,
    pub(super) group: GroupId,
    pub(super) first: Slot,
    pub(super) window: u64,
    pub(super) phase: Phase,
    pub(super) last_progress: usize,
    pub(super) nonce: u64,
}

impl Sim {
    fn majority(&self) -> usize {
        self.cfg.acceptors / 2 + 1
    }

    fn send(&mut self, m: Msg) {
        self.net.push(m);
    }

    pub(super) fn deliver(&mut self, m: Msg) {
        self.stats.messages += 1;
        match m {
            Msg::Prepare { p, a, group, ballot, from } => {
                let Some(store) = self.acceptors[a].store.clone() else { return };
                let r = store.promise(group, ballot, from);
                drop(store); // a crash below must find no live handle
                match r {
                    Ok(PromiseOutcome::Granted { accepted, first_live_slot }) => {
                        let acked = &mut self.acceptors[a].acked;
                        let e = acked.promised.entry(group).or_default();
                        *e = (*e).max(ballot);
                        let entries = accepted.into_iter().map(|e| (e.slot, e.ballot, e.value.to_vec())).collect();
                        self.send(Msg::Promise { p, a, ballot, reply: Ok((entries, first_live_slot)) });
                    }
                    Ok(PromiseOutcome::Rejected { promised }) => {
                        self.send(Msg::Promise { p, a, ballot, reply: Err(promised) })
                    }
                    Err(e) => self.failed(a, &e),
                }
            }
            Msg::Accept { p, a, group, slot, ballot, value } => {
                let Some(store) = self.acceptors[a].store.clone() else { return };
                self.acceptors[a].acked.written.insert((group, slot, ballot, value.clone()));
                let r = store.accept(group, slot, ballot, &value);
                drop(store);
                match r {
                    Ok(AcceptOutcome::Accepted) => {
                        let acked = &mut self.acceptors[a].acked;
                        let e = acked.promised.entry(group).or_default();
                        *e = (*e).max(ballot);
                        let cur = acked.accepted.entry((group, slot)).or_insert((ballot, value.clone()));
                        if cur.0 <= ballot {
                            *cur = (ballot, value);
                        }
                        self.send(Msg::Accepted { p, a, slot, ballot, reply: Ok(()) });
                    }
                    Ok(AcceptOutcome::Rejected { promised }) => {
                        self.send(Msg::Accepted { p, a, slot, ballot, reply: Err(promised) })
                    }
                    Ok(AcceptOutcome::Truncated { first_live_slot }) => {
                        // Told a proposer the slots below are gone: that is
                        // acknowledged, like a truncation that returned.
                        let t = self.acceptors[a].acked.truncated.entry(group).or_default();
                        *t = (*t).max(first_live_slot);
                    }
                    Err(e) => self.failed(a, &e),
                }
            }
            Msg::Learn { a, group, slot } => {
                let r = self.acceptors[a].store.as_ref().map(|s| s.mark_chosen(group, slot));
                if let Some(Err(e)) = r {
                    self.failed(a, &e);
                }
            }
            Msg::Promise { p, a, ballot, reply } => self.on_promise(p, a, ballot, reply),
            Msg::Accepted { p, a, slot, ballot, reply } => self.on_accepted(p, a, slot, ballot, reply),
        }
    }

    fn on_promise(&mut self, p: usize, a: usize, ballot: Ballot, reply: Result<Phase1b, Ballot>) {
        let majority = self.majority();
        let pr = &mut self.proposers[p];
        if ballot != pr.ballot {
            return;
        }
        let Phase::One { promises } = &mut pr.phase else { return };
        match reply {
            Err(promised) => {
                pr.round = pr.round.max(promised.round);
                pr.phase = Phase::Idle;
            }
            Ok(entries) => {
                promises.insert(a, entries);
                if promises.len() < majority {
                    return;
                }
                // A slot below some acceptor's first live slot was truncated
                // there: it is decided, and that acceptor's silence about it
                // does not mean "nothing accepted". Never propose in it.
                let decided_below = promises.values().map(|(_, first_live)| *first_live).max().unwrap_or_default();
                let mut values = BTreeMap::new();
                for s in pr.first.0.max(decided_below.0)..pr.first.0 + pr.window {
                    let slot = Slot(s);
                    let highest = promises
                        .values()
                        .flat_map(|(entries, _)| entries)
                        .filter(|(es, _, _)| *es == slot)
                        .max_by_key(|(_, b, _)| *b)
                        .map(|(_, _, v)| v.clone());
                    pr.nonce += 1;
                    let own = format!("p{}-{}-{}-{}", pr.id, pr.group.0, s, pr.nonce).into_bytes();
                    values.insert(slot, highest.unwrap_or(own));
                }
                let (group, ballot) = (pr.group, pr.ballot);
                if values.is_empty() {
                    pr.phase = Phase::Idle;
                    return;
                }
                pr.phase = Phase::Two { values: values.clone(), votes: BTreeMap::new() };
                pr.last_progress = self.step;
                for (slot, value) in values {
                    for a in 0..self.cfg.acceptors {
                        self.send(Msg::Accept { p, a, group, slot, ballot, value: value.clone() });
                    }
                }
            }
        }
    }

    fn on_accepted(&mut self, p: usize, a: usize, slot: Slot, ballot: Ballot, reply: Result<(), Ballot>) {
        let majority = self.majority();
        let step = self.step;
        let pr = &mut self.proposers[p];
        if ballot != pr.ballot {
            return;
        }
        let Phase::Two { values, votes } = &mut pr.phase else { return };
        match reply {
            Err(promised) => {
                pr.round = pr.round.max(promised.round);
                pr.phase = Phase::Idle;
            }
            Ok(()) => {
                let v = votes.entry(slot).or_default();
                if !v.insert(a) || v.len() != majority {
                    return;
                }
                pr.last_progress = step;
                let value = values[&slot].clone();
                let group = pr.group;
                let done = votes.values().filter(|v| v.len() >= majority).count() == values.len();
                if done {
                    pr.phase = Phase::Idle;
                }
                match self.chosen.get(&(group, slot)) {
                    Some(prev) if *prev != value => {
                        let msg = format!(
                            "I6: {group} {slot} chosen twice: {:?} and {:?}",
                            String::from_utf8_lossy(prev),
                            String::from_utf8_lossy(&value)
                        );
                        self.violation(msg);
                    }
                    Some(_) => {}
                    None => {
                        self.chosen.insert((group, slot), value);
                        self.stats.chosen += 1;
                    }
                }
                for a in 0..self.cfg.acceptors {
                    self.send(Msg::Learn { a, group, slot });
                }
            }
        }
    }

    /// A proposer starts (or restarts after a timeout or a rejection) phase 1.
    pub(super) fn tick(&mut self, p: usize) {
        let step = self.step;
        let idle = matches!(self.proposers[p].phase, Phase::Idle);
        if !idle && step - self.proposers[p].last_progress < 200 {
            return;
        }
        let group = GroupId(self.rng.random_range(0..self.cfg.groups));
        // The first slot of the group not known chosen.
        let mut first = 0;
        while self.chosen.contains_key(&(group, Slot(first))) {
            first += 1;
        }
        // Single-decree (one slot) or a Multi-Paxos window.
        let window = if self.rng.random_bool(0.5) { 1 } else { self.rng.random_range(2..5) };
        let pr = &mut self.proposers[p];
        pr.round += 1;
        pr.ballot = Ballot::new(pr.round, pr.id as u64);
        pr.group = group;
        pr.first = Slot(first);
        pr.window = window;
        pr.phase = Phase::One { promises: BTreeMap::new() };
        pr.last_progress = step;
        let ballot = pr.ballot;
        for a in 0..self.cfg.acceptors {
            self.send(Msg::Prepare { p, a, group, ballot, from: Slot(first) });
        }
    }
}
