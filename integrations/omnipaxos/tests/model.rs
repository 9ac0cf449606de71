//! Model test: seeded random sequences of every mutating call and of
//! `write_atomically` batches in the shapes OmniPaxos uses, applied to the
//! adapter and to `omnipaxos_storage`'s `MemoryStorage` side by side. At
//! random steps the adapter is dropped and reopened from its directory, or
//! (on the in-memory file system) the machine loses power, or a write fails
//! part-way (a process crash after N file operations, a failed sync). Every
//! getter must agree with the model after each step; a failed write must
//! leave the adapter exactly as before, and after the crash that follows it
//! the adapter holds either all of that write or none of it.

mod common;

use common::{Snap, E};
use omnipaxos::ballot_leader_election::Ballot;
use omnipaxos::storage::{StopSign, Storage, StorageOp};
use omnipaxos::ClusterConfig;
use omnipaxos_storage::memory_storage::MemoryStorage;
use paxos_store_omnipaxos::{OmniPaxosOptions, OmniPaxosStorage};
use paxos_wal::storage::{CrashKind, MemStorage};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::path::PathBuf;

/// A mutating operation, cloneable so it can go to both stores.
#[derive(Clone, Debug)]
enum Spec {
    Append(E),
    Appends(Vec<E>),
    Prefix(usize, Vec<E>),
    Promise(Ballot),
    Decided(usize),
    Accepted(Ballot),
    Compacted(usize),
    Trim(usize),
    Stop(Option<StopSign>),
    Snapshot(Option<Snap>),
}

impl Spec {
    fn op(&self) -> StorageOp<E> {
        match self.clone() {
            Spec::Append(e) => StorageOp::AppendEntry(e),
            Spec::Appends(es) => StorageOp::AppendEntries(es),
            Spec::Prefix(i, es) => StorageOp::AppendOnPrefix(i, es),
            Spec::Promise(b) => StorageOp::SetPromise(b),
            Spec::Decided(i) => StorageOp::SetDecidedIndex(i),
            Spec::Accepted(b) => StorageOp::SetAcceptedRound(b),
            Spec::Compacted(i) => StorageOp::SetCompactedIdx(i),
            Spec::Trim(i) => StorageOp::Trim(i),
            Spec::Stop(s) => StorageOp::SetStopsign(s),
            Spec::Snapshot(s) => StorageOp::SetSnapshot(s),
        }
    }

    /// Call the single method for this operation.
    fn call(&self, s: &mut impl Storage<E>) -> omnipaxos::storage::StorageResult<()> {
        match self.clone() {
            Spec::Append(e) => s.append_entry(e),
            Spec::Appends(es) => s.append_entries(es),
            Spec::Prefix(i, es) => s.append_on_prefix(i, es),
            Spec::Promise(b) => s.set_promise(b),
            Spec::Decided(i) => s.set_decided_idx(i),
            Spec::Accepted(b) => s.set_accepted_round(b),
            Spec::Compacted(i) => s.set_compacted_idx(i),
            Spec::Trim(i) => s.trim(i),
            Spec::Stop(st) => s.set_stopsign(st),
            Spec::Snapshot(sn) => s.set_snapshot(sn),
        }
    }
}

/// One step: a single call, or a batch.
#[derive(Clone, Debug)]
enum Step {
    Call(Spec),
    Batch(Vec<Spec>),
}

/// The model, plus the trim point it keeps privately (needed to generate
/// indices `MemoryStorage` accepts).
#[derive(Clone)]
struct Model {
    mem: MemoryStorage<E>,
    trimmed: usize,
}

impl Model {
    fn apply(&mut self, step: &Step) {
        let specs = match step {
            Step::Call(s) => std::slice::from_ref(s),
            Step::Batch(v) => v.as_slice(),
        };
        for s in specs {
            if let Spec::Trim(i) = s {
                self.trimmed = (*i).max(self.trimmed);
            }
        }
        match step {
            Step::Call(s) => s.call(&mut self.mem).unwrap(),
            Step::Batch(v) => self.mem.write_atomically(v.iter().map(Spec::op).collect()).unwrap(),
        }
    }

    fn end(&self) -> usize {
        self.trimmed + self.mem.get_log_len().unwrap()
    }
}

struct Gen {
    rng: SmallRng,
    next_id: u64,
}

impl Gen {
    fn entries(&mut self, n: usize) -> Vec<E> {
        (0..n)
            .map(|_| {
                self.next_id += 1;
                let pad = if self.rng.random_ratio(1, 40) {
                    self.rng.random_range(2000..9000)
                } else {
                    self.rng.random_range(0..150)
                };
                E::new(self.next_id, pad)
            })
            .collect()
    }

    fn ballot(&mut self) -> Ballot {
        let r = &mut self.rng;
        Ballot::with(r.random_range(1..3), r.random_range(0..50), r.random_range(0..3), r.random_range(1..4))
    }

    fn stopsign(&mut self) -> Option<StopSign> {
        if self.rng.random_bool(0.4) {
            return None;
        }
        let cfg = ClusterConfig {
            configuration_id: self.rng.random_range(2..9),
            nodes: vec![1, 2, 3, 4],
            ..Default::default()
        };
        let meta = self.rng.random_bool(0.5).then(|| vec![7; self.rng.random_range(0..20)]);
        Some(StopSign::with(cfg, meta))
    }

    fn snapshot(&mut self) -> Option<Snap> {
        if self.rng.random_ratio(1, 8) {
            return None;
        }
        // Now and then larger than a segment: the batch spans several records.
        let blob = if self.rng.random_ratio(1, 6) {
            self.rng.random_range(17_000..40_000)
        } else {
            self.rng.random_range(0..300)
        };
        Some(Snap { count: self.rng.random_range(0..100), sum: self.rng.random(), blob: vec![0x5a; blob] })
    }

    /// An index at or after the trim point, sometimes past the end of the log.
    fn index(&mut self, m: &Model) -> usize {
        m.trimmed + self.rng.random_range(0..=m.end() - m.trimmed + 3)
    }

    /// A single operation valid for `MemoryStorage` when `m` is its state.
    fn spec(&mut self, m: &Model) -> Spec {
        match self.rng.random_range(0..12) {
            0 | 1 => Spec::Append(self.entries(1).pop().unwrap()),
            2 | 3 => {
                let n = self.rng.random_range(0..8);
                Spec::Appends(self.entries(n))
            }
            4 => {
                let (i, n) = (m.trimmed + self.rng.random_range(0..=m.end() - m.trimmed), self.rng.random_range(0..5));
                Spec::Prefix(i, self.entries(n))
            }
            5 => Spec::Promise(self.ballot()),
            6 => Spec::Decided(self.rng.random_range(0..=m.end())),
            7 => Spec::Accepted(self.ballot()),
            8 => Spec::Compacted(self.rng.random_range(0..=m.end())),
            9 => Spec::Trim(self.index(m)),
            10 => Spec::Stop(self.stopsign()),
            _ => Spec::Snapshot(self.snapshot()),
        }
    }

    fn step(&mut self, m: &Model) -> Step {
        match self.rng.random_range(0..10) {
            0..=4 => Step::Call(self.spec(m)),
            5 => {
                // AcceptSync: accepted round, decided index, maybe a snapshot
                // (trim past the end + compact + snapshot), the suffix from
                // the sync index, maybe a stop-sign set or cleared.
                let mut v = vec![Spec::Accepted(self.ballot()), Spec::Decided(self.rng.random_range(0..=m.end()))];
                let sync = if self.rng.random_bool(0.5) {
                    let s = self.index(m);
                    v.extend([Spec::Trim(s), Spec::Compacted(s), Spec::Snapshot(self.snapshot())]);
                    s
                } else {
                    m.trimmed + self.rng.random_range(0..=m.end() - m.trimmed)
                };
                let n = self.rng.random_range(0..10);
                v.push(Spec::Prefix(sync, self.entries(n)));
                if self.rng.random_bool(0.5) {
                    v.push(Spec::Stop(self.stopsign()));
                }
                Step::Batch(v)
            }
            6 => {
                // try_trim / try_snapshot.
                let i = m.trimmed + self.rng.random_range(0..=m.end() - m.trimmed);
                let mut v = vec![Spec::Trim(i), Spec::Compacted(i)];
                if self.rng.random_bool(0.5) {
                    v.push(Spec::Snapshot(self.snapshot()));
                }
                Step::Batch(v)
            }
            7 => Step::Batch(vec![Spec::Accepted(self.ballot()), Spec::Decided(self.rng.random_range(0..=m.end()))]),
            _ => {
                // A random mix; indices follow the trim point through the batch.
                let mut scratch = m.clone();
                let n = self.rng.random_range(0..6);
                let mut v = Vec::new();
                for _ in 0..n {
                    let s = self.spec(&scratch);
                    scratch.apply(&Step::Call(s.clone()));
                    v.push(s);
                }
                Step::Batch(v)
            }
        }
    }
}

fn run(s: &mut OmniPaxosStorage<E>, step: &Step) -> omnipaxos::storage::StorageResult<()> {
    match step {
        Step::Call(spec) => spec.call(s),
        Step::Batch(v) => s.write_atomically(v.iter().map(Spec::op).collect()),
    }
}

/// Every getter of `s` agrees with the model.
fn same(s: &OmniPaxosStorage<E>, m: &Model, rng: &mut SmallRng) -> Result<(), String> {
    let r = &m.mem;
    macro_rules! eq {
        ($what:expr, $a:expr, $b:expr) => {
            let (a, b) = ($a, $b);
            if a != b {
                return Err(format!("{}: adapter {:?} != model {:?}", $what, a, b));
            }
        };
    }
    eq!("trim point", s.trimmed_idx(), m.trimmed);
    eq!("decided", s.get_decided_idx().unwrap(), r.get_decided_idx().unwrap());
    eq!("accepted round", s.get_accepted_round().unwrap(), r.get_accepted_round().unwrap());
    eq!("log len", s.get_log_len().unwrap(), r.get_log_len().unwrap());
    eq!("promise", s.get_promise().unwrap(), r.get_promise().unwrap());
    eq!("stopsign", s.get_stopsign().unwrap(), r.get_stopsign().unwrap());
    eq!("compacted", s.get_compacted_idx().unwrap(), r.get_compacted_idx().unwrap());
    eq!("snapshot", s.get_snapshot().unwrap(), r.get_snapshot().unwrap());
    eq!("whole suffix", s.get_suffix(m.trimmed).unwrap(), r.get_suffix(m.trimmed).unwrap());
    for _ in 0..4 {
        let from = m.trimmed + rng.random_range(0..=m.end() - m.trimmed + 2);
        let to = m.trimmed + rng.random_range(0..=m.end() - m.trimmed + 2);
        eq!(format!("entries({from}, {to})"), s.get_entries(from, to).unwrap(), r.get_entries(from, to).unwrap());
        eq!(format!("suffix({from})"), s.get_suffix(from).unwrap(), r.get_suffix(from).unwrap());
    }
    if m.trimmed > 0 {
        // Below the trim point (MemoryStorage would underflow): empty, never partial.
        eq!("entries below the trim point", s.get_entries(m.trimmed - 1, m.end()).unwrap(), vec![]);
        eq!("suffix below the trim point", s.get_suffix(m.trimmed - 1).unwrap(), vec![]);
    }
    Ok(())
}

enum Disk {
    Real(tempfile::TempDir),
    Mem(MemStorage),
}

fn open(disk: &Disk, dir: &PathBuf) -> OmniPaxosStorage<E> {
    let storage = match disk {
        Disk::Real(_) => paxos_wal::storage::FsStorage::shared(),
        Disk::Mem(m) => m.shared(),
    };
    OmniPaxosStorage::open_with(dir, OmniPaxosOptions::small(storage)).expect("reopen")
}

#[derive(Default, Debug)]
struct Counts {
    steps: u64,
    reopens: u64,
    power_losses: u64,
    failed_writes: u64,
    failed_then_absent: u64,
    failed_then_present: u64,
    checkpoints: u64,
    /// Log records beyond one per write: batches split over several records.
    extra_records: u64,
    /// Calls that changed nothing, so wrote nothing (their state must still
    /// survive reopen and power loss).
    noop_writes: u64,
}

fn tally(s: &OmniPaxosStorage<E>, counts: &mut Counts) {
    let st = s.store().stats();
    counts.checkpoints += st.checkpoints;
    counts.extra_records += st.records.saturating_sub(st.writes);
    counts.noop_writes += st.noop_writes;
}

fn simulate(seed: u64, steps: usize, mem: bool, counts: &mut Counts) {
    let mut g = Gen { rng: SmallRng::seed_from_u64(seed), next_id: 0 };
    let mut check_rng = SmallRng::seed_from_u64(seed ^ 0xabcdef);
    let disk = if mem { Disk::Mem(MemStorage::new()) } else { Disk::Real(tempfile::tempdir().unwrap()) };
    let dir = match &disk {
        Disk::Real(t) => t.path().join("node"),
        Disk::Mem(_) => PathBuf::from("/node"),
    };
    let mut m = Model { mem: MemoryStorage::default(), trimmed: 0 };
    let mut s = open(&disk, &dir);
    for i in 0..steps {
        let ctx = |what: &str| format!("seed {seed} step {i} ({}): {what}", if mem { "mem" } else { "real" });
        let step = g.step(&m);
        if std::env::var("MODEL_TRACE").is_ok() {
            eprintln!("{}", format!("{i}: {step:?}").chars().take(300).collect::<String>());
        }
        let mut after = m.clone();
        after.apply(&step);
        let fault = g.rng.random_range(0..100);
        if let (Disk::Mem(ms), true) = (&disk, fault < 8) {
            // A write that fails part-way: the process dies after a few file
            // operations, or the sync fails.
            if fault < 5 {
                ms.crash_after_ops(g.rng.random_range(0..4));
            } else {
                ms.fail_sync(0);
            }
            let res = run(&mut s, &step);
            if res.is_err() {
                counts.failed_writes += 1;
                same(&s, &m, &mut check_rng)
                    .unwrap_or_else(|e| panic!("{}", ctx(&format!("after a failed write: {e}"))));
            }
            tally(&s, counts);
            drop(s);
            ms.crash(CrashKind::PowerLoss, &mut g.rng);
            counts.power_losses += 1;
            s = open(&disk, &dir);
            if res.is_ok() {
                m = after;
            } else if same(&s, &after, &mut check_rng).is_ok() {
                counts.failed_then_present += 1;
                m = after;
            } else {
                counts.failed_then_absent += 1;
            }
            same(&s, &m, &mut check_rng).unwrap_or_else(|e| panic!("{}", ctx(&format!("after the crash: {e}"))));
        } else {
            run(&mut s, &step).unwrap_or_else(|e| panic!("{}", ctx(&format!("{e}"))));
            m = after;
            same(&s, &m, &mut check_rng).unwrap_or_else(|e| panic!("{}", ctx(&e)));
        }
        counts.steps += 1;
        let event = g.rng.random_range(0..100);
        if event < 6 {
            tally(&s, counts);
            drop(s);
            if let (Disk::Mem(ms), true) = (&disk, event < 3) {
                ms.crash(CrashKind::PowerLoss, &mut g.rng);
                counts.power_losses += 1;
            } else {
                counts.reopens += 1;
            }
            s = open(&disk, &dir);
            same(&s, &m, &mut check_rng).unwrap_or_else(|e| panic!("{}", ctx(&format!("after reopen: {e}"))));
        }
    }
    tally(&s, counts);
}

#[test]
fn matches_memory_storage_across_reopens_on_a_real_directory() {
    let mut c = Counts::default();
    for seed in 0..3 {
        simulate(seed, 250, false, &mut c);
    }
    println!("{c:?}");
    assert!(c.reopens > 10 && c.checkpoints > 0 && c.noop_writes > 10, "{c:?}");
}

#[test]
fn matches_memory_storage_across_power_loss_and_failed_writes() {
    let mut c = Counts::default();
    for seed in 100..112 {
        simulate(seed, 300, true, &mut c);
    }
    println!("{c:?}");
    assert!(
        c.power_losses > 50 && c.failed_writes > 20 && c.checkpoints > 0 && c.extra_records > 0 && c.noop_writes > 10,
        "{c:?}"
    );
}
