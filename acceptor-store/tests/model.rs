//! Property test: random operation sequences over several groups against a
//! simple in-memory acceptor model, with reopen, process crash, power loss
//! and checkpoints at random points. After every step the outcomes match the
//! model; after every recovery invariants I1-I5 hold (everything
//! acknowledged is back, nothing invented, truncated slots stay gone). The
//! only thing allowed to differ after a power loss is a chosen mark that no
//! later durable write carried (marking chosen is lazy by contract).

use paxos_acceptor_store::*;
use paxos_store_testkit::invariants::{self, Acknowledged};
use paxos_store_testkit::store::{read_state, GroupState as KitGroup, StoreState};
use paxos_wal::storage::{CrashKind, MemStorage};
use proptest::prelude::*;
use rand::SeedableRng;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

#[derive(Clone, Debug)]
enum Step {
    Op(Op),
    Batch(Vec<Op>),
    Reopen,
    ProcessCrash,
    PowerLoss(u64),
    Checkpoint,
}

fn ballot() -> impl Strategy<Value = Ballot> {
    (0u64..6, 0u64..3).prop_map(|(r, n)| Ballot::new(r, n))
}

fn op() -> impl Strategy<Value = Op> {
    let g = (0u64..4).prop_map(GroupId);
    prop_oneof![
        3 => (g.clone(), ballot(), 0u64..6).prop_map(|(group, ballot, s)| Op::Promise { group, ballot, from_slot: Slot(s) }),
        6 => (g.clone(), 0u64..8, ballot(), prop::collection::vec(any::<u8>(), 0..300))
            .prop_map(|(group, s, ballot, value)| Op::Accept { group, slot: Slot(s), ballot, value }),
        2 => (g.clone(), 0u64..8).prop_map(|(group, s)| Op::MarkChosen { group, slot: Slot(s) }),
        1 => (g.clone(), 0u64..8).prop_map(|(group, s)| Op::TruncateBelow { group, slot: Slot(s) }),
        1 => g.clone().prop_map(|group| Op::RemoveGroup { group }),
        // Raw persistence, values large enough now and then that a batch
        // of them spans several records (one put stays under the 12 KiB limit).
        3 => (g.clone(), 0u64..8, ballot(), prop::collection::vec(prop_oneof![3 => 0usize..300, 1 => 2000usize..3900], 0..4))
            .prop_map(|(group, s, ballot, lens)| Op::Put {
                group,
                from: Slot(s),
                ballot,
                values: lens.iter().enumerate().map(|(i, len)| vec![(s as usize + i) as u8 ^ *len as u8; *len]).collect(),
            }),
        1 => (g.clone(), 0u64..8).prop_map(|(group, s)| Op::DropFrom { group, slot: Slot(s) }),
        2 => (g, 0u64..3, prop::collection::vec(any::<u8>(), 0..300))
            .prop_map(|(group, key, value)| Op::SetMeta { group, key, value }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        20 => op().prop_map(Step::Op),
        3 => prop::collection::vec(op(), 1..6).prop_map(Step::Batch),
        1 => Just(Step::Reopen),
        1 => Just(Step::ProcessCrash),
        2 => any::<u64>().prop_map(Step::PowerLoss),
        1 => Just(Step::Checkpoint),
    ]
}

#[derive(Clone, Debug, Default)]
struct MGroup {
    promised: Ballot,
    first_live: u64,
    /// slot -> (ballot, value, chosen)
    slots: BTreeMap<u64, (Ballot, Vec<u8>, bool)>,
    meta: BTreeMap<u64, Vec<u8>>,
}

#[derive(Default)]
struct Model {
    groups: BTreeMap<GroupId, MGroup>,
    /// Chosen marks not yet carried by a durable write.
    lazy_chosen: BTreeSet<(GroupId, u64)>,
}

#[derive(Debug, PartialEq)]
enum MOut {
    /// Accepted entries, and the first live slot.
    Granted(Vec<(u64, Ballot, Vec<u8>)>, u64),
    Rejected(Ballot),
    Accepted,
    Truncated(u64),
    Done,
}

impl Model {
    /// Apply an op; returns (outcome, whether it wrote a durable record).
    /// A group exists once a record was written for it: one this call
    /// created without writing is forgotten again.
    fn apply(&mut self, op: &Op) -> (MOut, bool) {
        let g = op.group();
        let existed = self.groups.contains_key(&g);
        let (out, wrote) = self.apply_inner(op);
        if !existed && !wrote {
            self.groups.remove(&g);
        }
        (out, wrote)
    }

    fn apply_inner(&mut self, op: &Op) -> (MOut, bool) {
        match op {
            Op::Promise { group, ballot, from_slot } => {
                let g = self.groups.entry(*group).or_default();
                if *ballot < g.promised {
                    return (MOut::Rejected(g.promised), false);
                }
                let wrote = *ballot > g.promised;
                g.promised = *ballot;
                let acc = g.slots.range(from_slot.0..).map(|(s, (b, v, _))| (*s, *b, v.clone())).collect();
                let first_live = g.first_live;
                (MOut::Granted(acc, first_live), wrote)
            }
            Op::Accept { group, slot, ballot, value } => {
                let g = self.groups.entry(*group).or_default();
                if slot.0 < g.first_live {
                    let out = MOut::Truncated(g.first_live);
                    return (out, false);
                }
                if *ballot < g.promised {
                    return (MOut::Rejected(g.promised), false);
                }
                g.promised = *ballot;
                let chosen = g.slots.get(&slot.0).is_some_and(|e| e.2);
                g.slots.insert(slot.0, (*ballot, value.clone(), chosen));
                (MOut::Accepted, true)
            }
            Op::MarkChosen { group, slot } => {
                if let Some(e) = self.groups.get_mut(group).and_then(|g| g.slots.get_mut(&slot.0)) {
                    if !e.2 {
                        e.2 = true;
                        self.lazy_chosen.insert((*group, slot.0));
                    }
                }
                (MOut::Done, false)
            }
            Op::TruncateBelow { group, slot } => {
                let g = self.groups.entry(*group).or_default();
                if slot.0 > g.first_live {
                    g.first_live = slot.0;
                    g.slots.retain(|s, _| *s >= slot.0);
                    self.lazy_chosen.retain(|(gg, s)| gg != group || *s >= slot.0);
                    return (MOut::Done, true);
                }
                (MOut::Done, false)
            }
            Op::RemoveGroup { group } => {
                let existed = self.groups.remove(group).is_some();
                self.lazy_chosen.retain(|(g, _)| g != group);
                (MOut::Done, existed)
            }
            Op::Put { group, from, ballot, values } => {
                let g = self.groups.entry(*group).or_default();
                if values.is_empty() || from.0 + values.len() as u64 <= g.first_live {
                    return (MOut::Done, false);
                }
                for (i, v) in values.iter().enumerate() {
                    let slot = from.0 + i as u64;
                    if slot >= g.first_live {
                        g.slots.insert(slot, (*ballot, v.clone(), false));
                        self.lazy_chosen.remove(&(*group, slot));
                    }
                }
                (MOut::Done, true)
            }
            Op::DropFrom { group, slot } => match self.groups.get_mut(group) {
                Some(g) if g.slots.range(slot.0..).next().is_some() => {
                    g.slots.retain(|s, _| *s < slot.0);
                    self.lazy_chosen.retain(|(gg, s)| gg != group || *s < slot.0);
                    (MOut::Done, true)
                }
                _ => (MOut::Done, false),
            },
            Op::SetMeta { group, key, value } => {
                self.groups.entry(*group).or_default().meta.insert(*key, value.clone());
                (MOut::Done, true)
            }
        }
    }
}

fn out_of(o: Outcome) -> MOut {
    match o {
        Outcome::Promise(PromiseOutcome::Granted { accepted, first_live_slot }) => MOut::Granted(
            accepted.into_iter().map(|e| (e.slot.0, e.ballot, e.value.to_vec())).collect(),
            first_live_slot.0,
        ),
        Outcome::Promise(PromiseOutcome::Rejected { promised }) => MOut::Rejected(promised),
        Outcome::Accept(AcceptOutcome::Accepted) => MOut::Accepted,
        Outcome::Accept(AcceptOutcome::Rejected { promised }) => MOut::Rejected(promised),
        Outcome::Accept(AcceptOutcome::Truncated { first_live_slot }) => MOut::Truncated(first_live_slot.0),
        Outcome::Done => MOut::Done,
    }
}

/// The model as the test kit's state, for its invariant checker.
fn kit_state(model: &Model) -> StoreState {
    model
        .groups
        .iter()
        .map(|(g, mg)| {
            let gs = KitGroup {
                promised: mg.promised,
                first_live: Slot(mg.first_live),
                slots: mg.slots.iter().map(|(s, (b, v, c))| (Slot(*s), (*b, v.clone(), *c))).collect(),
                meta: mg.meta.clone(),
            };
            (*g, gs)
        })
        .collect()
}

fn check_state(store: &AcceptorStore, model: &Model, after_power_loss: bool) -> Result<(), TestCaseError> {
    // The invariants, by the one checker the simulator uses too (the exact
    // comparison below is stronger; this names what broke).
    let got = read_state(store).map_err(|e| TestCaseError::fail(format!("reading the store: {e}")))?;
    let bad = invariants::check(&got, &Acknowledged::exactly(&kit_state(model)));
    prop_assert!(bad.is_empty(), "{}", bad.join("; "));
    for (gid, mg) in &model.groups {
        let promised = store.promised(*gid).unwrap_or(Ballot::ZERO);
        prop_assert_eq!(promised, mg.promised, "I1: promised ballot of {}", gid);
        let got: Vec<(u64, Ballot, Vec<u8>, bool)> = store
            .accepted_from(*gid, Slot(0))
            .unwrap()
            .into_iter()
            .map(|e| (e.slot.0, e.ballot, e.value.to_vec(), e.chosen))
            .collect();
        let want: Vec<(u64, Ballot, Vec<u8>, bool)> =
            mg.slots.iter().map(|(s, (b, v, c))| (*s, *b, v.clone(), *c)).collect();
        prop_assert_eq!(got.len(), want.len(), "I2/I3/I5: slots of {}", gid);
        for (g, w) in got.iter().zip(&want) {
            prop_assert_eq!((g.0, g.1, &g.2), (w.0, w.1, &w.2), "I2: slot of {}", gid);
            let lazy = model.lazy_chosen.contains(&(*gid, w.0));
            if !(after_power_loss && lazy) {
                prop_assert_eq!(g.3, w.3, "chosen mark of {} slot {}", gid, w.0);
            } else {
                prop_assert!(!g.3 || w.3, "I3: a chosen mark nobody wrote");
            }
        }
        let meta: BTreeMap<u64, Vec<u8>> =
            store.metadata(*gid).unwrap().into_iter().map(|(k, v)| (k, v.to_vec())).collect();
        prop_assert_eq!(&meta, &mg.meta, "metadata of {}", gid);
        if mg.first_live > 0 {
            prop_assert_eq!(store.first_live_slot(*gid), Some(Slot(mg.first_live)), "I5: truncation point of {}", gid);
        }
    }
    for gid in store.groups() {
        let known = model.groups.contains_key(&gid);
        prop_assert!(known, "I3: store invented group {}", gid);
    }
    Ok(())
}

static STEPS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static CRASHES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn run(steps: Vec<Step>) -> Result<(), TestCaseError> {
    use std::sync::atomic::Ordering::Relaxed;
    STEPS.fetch_add(steps.len() as u64, Relaxed);
    CRASHES.fetch_add(
        steps.iter().filter(|s| matches!(s, Step::PowerLoss(_) | Step::ProcessCrash)).count() as u64,
        Relaxed,
    );
    let mem = MemStorage::new();
    let root = Path::new("/m");
    let mut opts = StoreOptions::small(mem.shared());
    opts.log.segment_size = 16 << 10;
    let (mut store, _) = AcceptorStore::open(root, opts.clone()).unwrap();
    let mut model = Model::default();
    for step in steps {
        match step {
            Step::Op(op) => {
                let got = store.apply_batch(std::slice::from_ref(&op)).unwrap();
                let (want, wrote) = model.apply(&op);
                if wrote {
                    model.lazy_chosen.clear();
                }
                prop_assert_eq!(out_of(got.into_iter().next().unwrap()), want, "outcome of {:?}", op);
            }
            Step::Batch(ops) => {
                let got = store.apply_batch(&ops).unwrap();
                let mut any = false;
                let mut lazy_before = model.lazy_chosen.clone();
                for (op, o) in ops.iter().zip(got) {
                    let (want, wrote) = model.apply(op);
                    any |= wrote;
                    prop_assert_eq!(out_of(o), want, "outcome of {:?} in a batch", op);
                }
                if any {
                    // The batch's own marks are in the same durable record.
                    lazy_before.clear();
                    model.lazy_chosen.clear();
                }
            }
            Step::Reopen | Step::ProcessCrash | Step::PowerLoss(_) => {
                drop(store);
                // Lazy chosen marks may be lost by any stop without a sync:
                // they can sit in the log's user-space buffer.
                let power = true;
                match step {
                    Step::ProcessCrash => mem.crash(CrashKind::Process, &mut rand::rngs::StdRng::seed_from_u64(0)),
                    Step::PowerLoss(seed) => {
                        mem.crash(CrashKind::PowerLoss, &mut rand::rngs::StdRng::seed_from_u64(seed))
                    }
                    _ => {}
                }
                let (s, report) = AcceptorStore::open(root, opts.clone()).unwrap();
                prop_assert!(report.damage.is_empty(), "no damage without bit rot: {}", report);
                store = s;
                check_state(&store, &model, power)?;
                if power {
                    // What survived is now durable; forget which marks were lazy,
                    // taking the store's word for them.
                    for (g, s) in std::mem::take(&mut model.lazy_chosen) {
                        let kept =
                            matches!(store.accepted(g, Slot(s)).unwrap(), SlotRead::Accepted { chosen: true, .. });
                        if let Some(e) = model.groups.get_mut(&g).and_then(|mg| mg.slots.get_mut(&s)) {
                            e.2 = kept;
                        }
                    }
                }
            }
            Step::Checkpoint => {
                store.checkpoint().unwrap();
                model.lazy_chosen.clear();
            }
        }
        check_state(&store, &model, false)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, max_shrink_iters: 2000, ..ProptestConfig::default() })]
    #[test]
    fn store_matches_the_model_across_crashes(steps in prop::collection::vec(step(), 1..80)) {
        run(steps)?;
        eprintln!("model test so far: {} steps, {} crashes", STEPS.load(std::sync::atomic::Ordering::Relaxed), CRASHES.load(std::sync::atomic::Ordering::Relaxed));
    }
}
