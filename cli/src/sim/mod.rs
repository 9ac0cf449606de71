//! A deterministic simulation of a Paxos cluster on fault-injected stores.
//!
//! Acceptors are real [`AcceptorStore`]s, each on its own
//! [`MemStorage`] (the in-memory page cache + disk model). Proposers run
//! single-decree Paxos (one slot) and Multi-Paxos (one prepare for a window of
//! slots, then an accept per slot) over a simulated network that drops,
//! duplicates, delays and reorders messages. Everything is driven by one
//! seeded RNG on one thread: the same seed replays the same run.
//!
//! Faults drawn by the seed: power loss of an acceptor at any point (each
//! dirty page kept, dropped or torn), process crash, EIO on a sync, a full
//! disk, a crash at a random upcoming I/O operation (which lands inside
//! appends, segment roll-overs, checkpoints and truncations), checkpoints, and
//! crashes during recovery itself. A crashed acceptor restarts through the
//! real recovery path.
//!
//! The disk is [`DiskModel::linux`] by default ([`SimConfig::disk`]): a failed
//! sync writes back an arbitrary part of the dirty pages and leaves the rest
//! as clean "lying" pages, which a process crash (an acceptor whose store
//! failed is restarted on the same boot half of the time) may evict; syncs
//! fail during recovery too; a background write-back error can hit a
//! segment; a power loss undoes any subset of unsynced directory entries.
//! Between a crash and a restart an acceptor's segment file may be removed,
//! truncated, zeroed or replaced by a directory (an operator or a backup
//! tool; [`SimConfig::file_damage`]). An acceptor whose store then refuses to
//! open, or opens reporting damage, is *lost*: it stays down and is counted
//! per class. Only an open that succeeds without reporting damage and then
//! shows state older than acknowledged is a violation.
//!
//! Checked: after every recovery, and on every acceptor at the end, the
//! acceptor invariants I1-I5 against what that acceptor acknowledged
//! (replies it actually sent); after every chosen value, agreement (I6): no
//! slot is ever chosen with two values.
//!
//! The simulation is laid out one concept per file: the configuration, the
//! cluster's state and the run loop here; the Paxos messages and the
//! proposers that drive them in `protocol`; the faults drawn during a run in
//! `faults`; restarts through recovery in `recovery`; damage to segment
//! files between runs in `damage`; the counts and their summary in `stats`.

mod damage;
mod faults;
mod protocol;
mod recovery;
mod stats;

pub use damage::DamageClass;
pub use stats::SimStats;

use paxos_acceptor_store::{AcceptorStore, Ballot, GroupId, Slot, StoreOptions};
use paxos_store_testkit::invariants::Acknowledged;
use paxos_wal::storage::{CrashKind, DiskModel, MemStorage};
use protocol::{Msg, Phase, Proposer, Value};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::path::Path;

/// What to simulate.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The seed; the same seed replays the same run.
    pub seed: u64,
    /// Acceptors (3 or 5).
    pub acceptors: usize,
    /// Concurrent proposers.
    pub proposers: usize,
    /// Paxos groups.
    pub groups: u64,
    /// Simulation steps.
    pub steps: usize,
    /// Inject faults (crashes, EIO, full disk).
    pub faults: bool,
    /// How harsh each acceptor's simulated disk is.
    pub disk: DiskModel,
    /// Probability, at each restart, that one of the acceptor's segment
    /// files (the last one more often) was removed, truncated, zeroed or
    /// replaced by a directory while it was down (0 with `faults` off).
    pub file_damage: f64,
}

impl SimConfig {
    /// A small cluster for `seed`.
    pub fn new(seed: u64) -> Self {
        SimConfig {
            seed,
            acceptors: 3,
            proposers: 2,
            groups: 3,
            steps: 3000,
            faults: true,
            disk: DiskModel::linux(),
            file_damage: 0.03,
        }
    }
}

/// What one acceptor acknowledged (replies it sent) and attempted.
/// What an acceptor acknowledged and what was written to it: the test
/// kit's bounds, which its invariant checker judges recoveries against.
type Acked = Acknowledged;

struct Acceptor {
    mem: MemStorage,
    store: Option<AcceptorStore>,
    /// Lost after its files were damaged: stays down, is not checked.
    lost: bool,
    down_until: usize,
    acked: Acked,
    full_until: Option<usize>,
    /// Its mappings fail reads (until the process restarts).
    mapped_fault: bool,
}

struct Sim {
    cfg: SimConfig,
    rng: StdRng,
    acceptors: Vec<Acceptor>,
    proposers: Vec<Proposer>,
    net: Vec<Msg>,
    chosen: BTreeMap<(GroupId, Slot), Value>,
    stats: SimStats,
    step: usize,
}

const ROOT: &str = "/node";

fn options(mem: &MemStorage) -> StoreOptions {
    let mut o = StoreOptions::small(mem.shared());
    o.log.segment_size = 16 << 10;
    o.max_value_size = 1024;
    o
}

impl Sim {
    fn violation(&mut self, what: String) {
        self.stats.violations.push(format!("seed {} step {}: {what}", self.cfg.seed, self.step));
    }

    fn run(&mut self) {
        for step in 0..self.cfg.steps {
            self.step = step;
            for a in 0..self.cfg.acceptors {
                if self.acceptors[a].store.is_none() && !self.acceptors[a].lost && step >= self.acceptors[a].down_until
                {
                    self.restart(a);
                }
                if self.acceptors[a].full_until.is_some_and(|t| step >= t) {
                    self.acceptors[a].mem.set_capacity(None);
                    self.acceptors[a].full_until = None;
                }
            }
            let r: f64 = self.rng.random();
            if self.cfg.faults && r < 0.01 {
                self.inject_fault();
            } else if r < 0.05 || self.net.is_empty() {
                let p = self.rng.random_range(0..self.cfg.proposers);
                self.tick(p);
            } else {
                let i = self.rng.random_range(0..self.net.len());
                let m = self.net.swap_remove(i);
                let roll: f64 = self.rng.random();
                if roll < 0.05 {
                    continue; // dropped
                }
                if roll < 0.08 {
                    self.net.push(m.clone()); // duplicated
                }
                self.deliver(m);
            }
        }
        for a in 0..self.cfg.acceptors {
            // A process whose mappings fail answers with typed errors; what
            // it holds is judged after it restarts.
            if self.acceptors[a].mapped_fault && self.acceptors[a].store.is_some() {
                self.crash(a, CrashKind::Process);
            }
            if self.acceptors[a].store.is_none() && !self.acceptors[a].lost {
                self.restart(a);
            }
            self.check(a);
        }
        for acc in &self.acceptors {
            self.stats.disk.add(&acc.mem.counts());
        }
    }
}

/// Run one simulation.
pub fn run(cfg: &SimConfig) -> SimStats {
    let mut sim = Sim {
        rng: StdRng::seed_from_u64(cfg.seed),
        acceptors: Vec::new(),
        proposers: (0..cfg.proposers)
            .map(|id| Proposer {
                id,
                round: 0,
                ballot: Ballot::ZERO,
                group: GroupId(0),
                first: Slot(0),
                window: 1,
                phase: Phase::Idle,
                last_progress: 0,
                nonce: 0,
            })
            .collect(),
        net: Vec::new(),
        chosen: BTreeMap::new(),
        stats: SimStats::default(),
        step: 0,
        cfg: cfg.clone(),
    };
    for a in 0..cfg.acceptors {
        let mem = MemStorage::with_model(cfg.disk, sim.rng.random());
        let store = AcceptorStore::open(Path::new(ROOT), options(&mem)).map(|(s, _)| s).ok();
        sim.acceptors.push(Acceptor {
            mem,
            store,
            lost: false,
            down_until: 0,
            acked: Acked::default(),
            full_until: None,
            mapped_fault: false,
        });
        if sim.acceptors[a].store.is_none() {
            sim.violation(format!("acceptor {a} did not open"));
        }
    }
    sim.run();
    sim.stats
}
