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

use paxos_acceptor_store::{AcceptOutcome, AcceptorStore, Ballot, GroupId, Op, PromiseOutcome, Slot, StoreOptions};
use paxos_store_testkit::invariants::{self, Acknowledged};
use paxos_store_testkit::store::read_state;
use paxos_wal::storage::{CrashKind, DiskModel, FaultCounts, MemStorage, Storage};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
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

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Messages delivered.
    pub messages: u64,
    /// Slots chosen.
    pub chosen: u64,
    /// Simulated power losses.
    pub power_losses: u64,
    /// Simulated process crashes.
    pub process_crashes: u64,
    /// Syncs made to fail with EIO.
    pub sync_failures: u64,
    /// Periods of a full disk.
    pub disk_full: u64,
    /// Crashes at a random upcoming I/O operation.
    pub crash_points: u64,
    /// Crashes during recovery.
    pub recovery_crashes: u64,
    /// Checkpoints attempted.
    pub checkpoints: u64,
    /// Truncations acknowledged (the call returned) or queued (`submit`).
    pub truncations: u64,
    /// Recoveries (restarts) completed.
    pub recoveries: u64,
    /// Opens that failed with an I/O error of the simulated disk (a failed
    /// sync during recovery); the process is restarted.
    pub recovery_io_failures: u64,
    /// Background write-back errors injected on a segment.
    pub writeback_faults: u64,
    /// Segments whose mapped reads were made to fail (the simulated disk's
    /// SIGBUS: a segment truncated or unreadable under the running store).
    pub mapped_read_faults: u64,
    /// Store calls answered with a typed error because a value could not be
    /// read from its mapping (`StoreError::DamagedValue`).
    pub damaged_value_errors: u64,
    /// Segment files damaged between runs, by [`DamageClass`].
    pub files_damaged: [u64; 4],
    /// ... of which the damaged file was the last segment.
    pub last_segment_damaged: [u64; 4],
    /// Acceptors lost after damage, by class: the store refused to open.
    pub lost_refused: [u64; 4],
    /// Acceptors lost after damage, by class: the store opened and reported
    /// the damage.
    pub lost_reported: [u64; 4],
    /// Damage after which the store opened cleanly but had lost acknowledged
    /// state (a violation; the acceptor is then taken out).
    pub damage_violated: [u64; 4],
    /// Damage after which the store opened cleanly and every acknowledged
    /// fact was still there (e.g. an old, already checkpointed segment).
    pub damage_harmless: [u64; 4],
    /// What the simulated disks counted (partial write-backs, evictions,
    /// lost directory entries, ...).
    pub disk: FaultCounts,
    /// Invariant violations (empty in a correct store).
    pub violations: Vec<String>,
}

impl SimStats {
    /// Add another run's counts.
    pub fn add(&mut self, o: &SimStats) {
        self.messages += o.messages;
        self.chosen += o.chosen;
        self.power_losses += o.power_losses;
        self.process_crashes += o.process_crashes;
        self.sync_failures += o.sync_failures;
        self.disk_full += o.disk_full;
        self.crash_points += o.crash_points;
        self.recovery_crashes += o.recovery_crashes;
        self.checkpoints += o.checkpoints;
        self.truncations += o.truncations;
        self.recoveries += o.recoveries;
        self.recovery_io_failures += o.recovery_io_failures;
        self.writeback_faults += o.writeback_faults;
        self.mapped_read_faults += o.mapped_read_faults;
        self.damaged_value_errors += o.damaged_value_errors;
        for i in 0..4 {
            self.files_damaged[i] += o.files_damaged[i];
            self.last_segment_damaged[i] += o.last_segment_damaged[i];
            self.lost_refused[i] += o.lost_refused[i];
            self.lost_reported[i] += o.lost_reported[i];
            self.damage_harmless[i] += o.damage_harmless[i];
            self.damage_violated[i] += o.damage_violated[i];
        }
        self.disk.add(&o.disk);
        self.violations.extend(o.violations.iter().cloned());
    }

    /// All simulated crashes of any kind.
    pub fn crashes(&self) -> u64 {
        self.power_losses + self.process_crashes + self.crash_points + self.recovery_crashes
    }

    /// Counts per fault class, one class a line.
    pub fn summary(&self) -> String {
        let d = &self.disk;
        let per = |v: &[u64; 4]| {
            DamageClass::ALL.iter().map(|c| format!("{} {}", v[*c as usize], c.name())).collect::<Vec<_>>().join(", ")
        };
        [
            format!("{} messages, {} slots chosen, {} recoveries, {} checkpoints, {} truncations", self.messages, self.chosen, self.recoveries, self.checkpoints, self.truncations),
            format!(
                "crashes: {} ({} power losses, {} process crashes, {} crash points, {} during recovery)",
                self.crashes(),
                self.power_losses,
                self.process_crashes,
                self.crash_points,
                self.recovery_crashes
            ),
            format!(
                "sync faults: {} injected, {} failed syncs seen by the store ({} with partial write-back), {} lying pages, {} evicted, {} write-back errors, {} recoveries failed by I/O",
                self.sync_failures, d.failed_syncs, d.partial_writebacks, d.lying_pages, d.evicted_pages, d.writeback_errors, self.recovery_io_failures
            ),
            format!("directories: {} unsynced entries lost at power loss, {} directories lost", d.lost_dir_entries, d.lost_dirs),
            format!(
                "mapped reads: {} segments made to fail, {} calls answered with a typed error",
                self.mapped_read_faults, self.damaged_value_errors
            ),
            format!("disk full: {} periods; garbage sectors: {}", self.disk_full, d.garbage_sectors),
            format!("files damaged between runs: {} (last segment: {})", per(&self.files_damaged), per(&self.last_segment_damaged)),
            format!("  acceptor lost, open refused: {}", per(&self.lost_refused)),
            format!("  acceptor lost, damage reported: {}", per(&self.lost_reported)),
            format!("  opened, nothing acknowledged lost: {}", per(&self.damage_harmless)),
            format!("  opened as an older state (VIOLATION): {}", per(&self.damage_violated)),
        ]
        .join("\n")
    }
}

/// How a segment file was damaged between runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DamageClass {
    /// Removed.
    Removed = 0,
    /// Cut short.
    Truncated = 1,
    /// Overwritten with zeros.
    Zeroed = 2,
    /// Replaced by a directory.
    ReplacedWithDir = 3,
}

impl DamageClass {
    /// Every class, in index order.
    pub const ALL: [DamageClass; 4] =
        [DamageClass::Removed, DamageClass::Truncated, DamageClass::Zeroed, DamageClass::ReplacedWithDir];

    /// Its name in the summary.
    pub fn name(self) -> &'static str {
        match self {
            DamageClass::Removed => "removed",
            DamageClass::Truncated => "truncated",
            DamageClass::Zeroed => "zeroed",
            DamageClass::ReplacedWithDir => "replaced by a dir",
        }
    }
}

/// Damage done to an acceptor's files while it was down.
#[derive(Clone, Debug)]
struct Damage {
    class: DamageClass,
    file: String,
    last: bool,
}

type Value = Vec<u8>;

/// A granted promise's contents: the accepted entries (slot, ballot, value)
/// and the group's first live slot (the slots below it are decided).
type Phase1b = (Vec<(Slot, Ballot, Value)>, Slot);

#[derive(Clone, Debug)]
enum Msg {
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

enum Phase {
    Idle,
    One { promises: BTreeMap<usize, Phase1b> },
    Two { values: BTreeMap<Slot, Value>, votes: BTreeMap<Slot, BTreeSet<usize>> },
}

struct Proposer {
    id: usize,
    round: u64,
    ballot: Ballot,
    group: GroupId,
    first: Slot,
    window: u64,
    phase: Phase,
    last_progress: usize,
    nonce: u64,
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
    fn majority(&self) -> usize {
        self.cfg.acceptors / 2 + 1
    }

    fn violation(&mut self, what: String) {
        self.stats.violations.push(format!("seed {} step {}: {what}", self.cfg.seed, self.step));
    }

    fn send(&mut self, m: Msg) {
        self.net.push(m);
    }

    /// Take acceptor `a` down after a failure or an injected crash.
    fn crash(&mut self, a: usize, kind: CrashKind) {
        let acc = &mut self.acceptors[a];
        acc.store = None;
        acc.mem.crash(kind, &mut self.rng);
        acc.mem.set_capacity(None);
        acc.full_until = None;
        acc.mapped_fault = false;
        acc.down_until = self.step + self.rng.random_range(1..50);
        match kind {
            CrashKind::PowerLoss => self.stats.power_losses += 1,
            CrashKind::Process => self.stats.process_crashes += 1,
        }
    }

    fn restart(&mut self, a: usize) {
        let mem = self.acceptors[a].mem.clone();
        let damage = if self.cfg.faults && self.rng.random_bool(self.cfg.file_damage) { self.damage(a) } else { None };
        if self.cfg.faults && self.rng.random_bool(0.2) {
            // Crash in the middle of recovery itself, then recover again.
            mem.crash_after_ops(self.rng.random_range(0..6));
            if AcceptorStore::open(ROOT, options(&mem)).is_err() {
                mem.crash(CrashKind::PowerLoss, &mut self.rng);
                self.stats.recovery_crashes += 1;
            } else {
                mem.crash(CrashKind::Process, &mut self.rng);
            }
        } else if self.cfg.faults && self.rng.random_bool(0.1) {
            // A sync fails during recovery: the process gives up and is
            // restarted on the same boot (lying pages may be evicted).
            mem.fail_sync(self.rng.random_range(0..4));
            self.stats.sync_failures += 1;
            let _ = AcceptorStore::open(ROOT, options(&mem));
            mem.crash(CrashKind::Process, &mut self.rng);
        }
        let failed_syncs = mem.counts().failed_syncs;
        match AcceptorStore::open(ROOT, options(&mem)) {
            Ok((store, report)) => {
                if !report.damage.is_empty() {
                    if let Some(d) = &damage {
                        // Honest: the acceptor knows it lost data and must not serve.
                        self.stats.lost_reported[d.class as usize] += 1;
                        self.lose(a);
                        return;
                    }
                    self.violation(format!("acceptor {a}: damage without bit rot: {report}"));
                }
                self.acceptors[a].store = Some(store);
                self.stats.recoveries += 1;
                let before = self.stats.violations.len();
                self.check(a);
                if let Some(d) = damage {
                    let after = format!(
                        " [after the {} segment {} was {} between runs]",
                        if d.last { "last" } else { "older" },
                        d.file,
                        d.class.name()
                    );
                    for v in &mut self.stats.violations[before..] {
                        v.push_str(&after);
                    }
                    if self.stats.violations.len() == before {
                        self.stats.damage_harmless[d.class as usize] += 1;
                    } else {
                        // Reported once; an acceptor serving a shorter log
                        // would only repeat it (and mask later findings).
                        self.stats.damage_violated[d.class as usize] += 1;
                        self.lose(a);
                    }
                }
            }
            Err(_) if damage.is_some() => {
                let d = damage.expect("checked");
                self.stats.lost_refused[d.class as usize] += 1;
                self.lose(a);
            }
            Err(_) if mem.counts().failed_syncs > failed_syncs => {
                // An I/O error of the disk (a write-back error reported to
                // the new process): restart again later.
                self.stats.recovery_io_failures += 1;
                mem.crash(CrashKind::Process, &mut self.rng);
                self.acceptors[a].down_until = self.step + 1;
            }
            Err(e) => self.violation(format!("acceptor {a} failed to recover: {e}")),
        }
    }

    /// The acceptor lost its disk: it stays down for the rest of the run.
    fn lose(&mut self, a: usize) {
        let acc = &mut self.acceptors[a];
        acc.store = None;
        acc.lost = true;
        acc.down_until = usize::MAX;
    }

    /// Damage one of the (down) acceptor's segment files as an operator or a
    /// backup tool might: the last one more often.
    fn damage(&mut self, a: usize) -> Option<Damage> {
        let mem = self.acceptors[a].mem.clone();
        let dir = Path::new(ROOT).join("wal");
        let mut segments: Vec<String> = mem.list(&dir).ok()?.into_iter().filter(|n| n.ends_with(".wal")).collect();
        if segments.is_empty() {
            return None;
        }
        segments.sort();
        let last = segments.len() - 1;
        let i = if self.rng.random_bool(0.6) { last } else { self.rng.random_range(0..segments.len()) };
        let path = dir.join(&segments[i]);
        let class = DamageClass::ALL[self.rng.random_range(0..4)];
        let done = match class {
            DamageClass::Removed => mem.remove_file(&path),
            DamageClass::Truncated => {
                let len = mem.read_file(&path).map(|b| b.len() as u64).unwrap_or(0);
                mem.truncate_file(&path, self.rng.random_range(0..=len))
            }
            DamageClass::Zeroed => mem.zero_file(&path),
            DamageClass::ReplacedWithDir => mem.replace_with_dir(&path),
        };
        done.ok()?;
        self.stats.files_damaged[class as usize] += 1;
        if i == last {
            self.stats.last_segment_damaged[class as usize] += 1;
        }
        Some(Damage { class, file: segments[i].clone(), last: i == last })
    }

    /// I1-I3 and I5 for acceptor `a` against what it acknowledged (the
    /// test kit's checker; I4 is checked on every reply as it is made).
    fn check(&mut self, a: usize) {
        let Some(store) = self.acceptors[a].store.clone() else { return };
        let bad = match read_state(&store) {
            Ok(state) => invariants::check(&state, &self.acceptors[a].acked),
            Err(e) => vec![format!("I2: acceptor {a} cannot read its state back: {e}")],
        };
        for b in bad {
            self.violation(format!("acceptor {a}: {b}"));
        }
    }

    /// An error from the store: the acceptor process dies (a failed sync
    /// poisons the store; a crash point means the process is dead).
    fn failed(&mut self, a: usize, e: &paxos_acceptor_store::StoreError) {
        if matches!(e, paxos_acceptor_store::StoreError::DamagedValue { .. }) {
            self.stats.damaged_value_errors += 1;
        }
        let full = matches!(e, paxos_acceptor_store::StoreError::Wal(paxos_wal::Error::NoSpace { .. }));
        if full {
            return; // no reply; the acceptor stays up and retries later
        }
        // The process dies; half of the time it is restarted on the same
        // boot, over a page cache that may hold lying pages.
        let kind = if self.rng.random_bool(0.5) { CrashKind::Process } else { CrashKind::PowerLoss };
        self.crash(a, kind);
    }

    fn deliver(&mut self, m: Msg) {
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
    fn tick(&mut self, p: usize) {
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

    fn inject_fault(&mut self) {
        let a = self.rng.random_range(0..self.cfg.acceptors);
        if self.acceptors[a].store.is_none() {
            return;
        }
        match self.rng.random_range(0..9) {
            0 => self.crash(a, CrashKind::PowerLoss),
            1 => self.crash(a, CrashKind::Process),
            2 => {
                self.acceptors[a].mem.fail_sync(self.rng.random_range(0..3));
                self.stats.sync_failures += 1;
            }
            3 => {
                let used = self.acceptors[a].mem.used_bytes();
                self.acceptors[a].mem.set_capacity(Some(used));
                self.acceptors[a].full_until = Some(self.step + self.rng.random_range(10..200));
                self.stats.disk_full += 1;
            }
            4 => {
                // Die at a random upcoming I/O operation: inside an append,
                // a roll-over, a checkpoint or a truncation.
                self.acceptors[a].mem.crash_after_ops(self.rng.random_range(0..12));
                self.stats.crash_points += 1;
            }
            5 => {
                // A background write-back of the last segment fails: its
                // next sync reports EIO (errseq).
                let mem = self.acceptors[a].mem.clone();
                let dir = Path::new(ROOT).join("wal");
                let last = mem.list(&dir).ok().and_then(|l| l.into_iter().filter(|n| n.ends_with(".wal")).max());
                if let Some(name) = last {
                    if mem.fail_writeback(&dir.join(name), &mut self.rng).is_ok() {
                        self.stats.writeback_faults += 1;
                    }
                }
            }
            6 => {
                // A segment's mapping starts failing reads (it was truncated
                // by another process, or a page cannot be read back): the
                // store must answer with a typed error, never a SIGBUS or a
                // wrong value.
                let mem = self.acceptors[a].mem.clone();
                let dir = Path::new(ROOT).join("wal");
                let mut segs: Vec<String> = mem.list(&dir).unwrap_or_default();
                segs.retain(|n| n.ends_with(".wal"));
                segs.sort();
                if !segs.is_empty() {
                    let i =
                        if self.rng.random_bool(0.6) { segs.len() - 1 } else { self.rng.random_range(0..segs.len()) };
                    if mem.fail_mapped_reads(&dir.join(&segs[i])).is_ok() {
                        self.acceptors[a].mapped_fault = true;
                        self.stats.mapped_read_faults += 1;
                    }
                }
            }
            _ => self.maintain(a),
        }
    }

    /// Checkpoint, or truncate a chosen prefix.
    fn maintain(&mut self, a: usize) {
        let Some(store) = self.acceptors[a].store.clone() else { return };
        if self.rng.random_bool(0.5) {
            self.stats.checkpoints += 1;
            let r = store.checkpoint();
            let poisoned = store.log().poisoned;
            drop(store);
            if let Err(e) = r {
                let full = matches!(&e, paxos_acceptor_store::StoreError::Snapshot(_)) && !poisoned;
                if !full {
                    self.failed(a, &e);
                }
            }
            return;
        }
        let group = GroupId(self.rng.random_range(0..self.cfg.groups));
        let mut upto = 0;
        while self.chosen.contains_key(&(group, Slot(upto))) {
            upto += 1;
        }
        if upto == 0 {
            return;
        }
        let below = Slot(self.rng.random_range(1..=upto));
        let acked = &mut self.acceptors[a].acked;
        let t = acked.truncate_attempted.entry(group).or_default();
        *t = (*t).max(below);
        if self.rng.random_bool(0.3) {
            // Queued, not waited for (an event-loop node): its record becomes
            // durable with a later sync, and a reply that depends on it (an
            // accept answered Truncated) must wait for it (I5, case 18).
            match store.submit(Op::TruncateBelow { group, slot: below }) {
                Ok(_) => self.stats.truncations += 1,
                Err(e) => {
                    drop(store);
                    self.failed(a, &e);
                }
            }
            return;
        }
        let r = store.truncate_below(group, below);
        drop(store);
        match r {
            Ok(()) => {
                let acked = &mut self.acceptors[a].acked;
                let t = acked.truncated.entry(group).or_default();
                *t = (*t).max(below);
                self.stats.truncations += 1;
            }
            Err(e) => self.failed(a, &e),
        }
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
