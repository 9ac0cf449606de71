//! Calls that change nothing write nothing, yet the state survives power
//! loss; calls that look alike but do change something still write and sync;
//! on a poisoned log a no-op fails like every write.
//!
//! Each call goes to the adapter (on the wal's in-memory file system, which
//! counts every file operation and sync) and to `MemoryStorage`; the getters
//! must agree after every call and after power loss.

mod common;

use common::{Snap, E};
use omnipaxos::ballot_leader_election::Ballot;
use omnipaxos::storage::{StopSign, Storage, StorageOp, StorageResult};
use omnipaxos::ClusterConfig;
use omnipaxos_storage::memory_storage::MemoryStorage;
use paxos_store_omnipaxos::{OmniPaxosOptions, OmniPaxosStorage};
use paxos_wal::storage::{CrashKind, MemStorage};
use rand::rngs::SmallRng;
use rand::SeedableRng;

const DIR: &str = "/node";
const TRIM: usize = 3;

fn open(ms: &MemStorage) -> OmniPaxosStorage<E> {
    OmniPaxosStorage::open_with(DIR, OmniPaxosOptions::small(ms.shared())).expect("open")
}

fn stopsign(id: u32) -> StopSign {
    StopSign::with(ClusterConfig { configuration_id: id, nodes: vec![1, 2, 3], ..Default::default() }, None)
}

/// Both stores, every call applied to both.
struct Pair {
    s: OmniPaxosStorage<E>,
    m: MemoryStorage<E>,
    /// The trim point (`MemoryStorage` keeps it private).
    trimmed: usize,
}

impl Pair {
    fn both(&mut self, f: impl Fn(&mut dyn FnMut(Call) -> StorageResult<()>)) {
        f(&mut |c| c.run(&mut self.m));
        f(&mut |c| c.run(&mut self.s));
    }

    fn call(&mut self, c: impl Fn() -> Call) -> StorageResult<()> {
        if let Call::Trim(i) = c() {
            self.trimmed = self.trimmed.max(i);
        }
        c().run(&mut self.m).expect("the model accepts it");
        c().run(&mut self.s)
    }

    /// Every getter agrees (entries from the trim point on).
    fn check(&self, what: &str) {
        let (s, m) = (&self.s, &self.m);
        assert_eq!(s.trimmed_idx(), self.trimmed, "{what}: trim point");
        assert_eq!(s.get_decided_idx().unwrap(), m.get_decided_idx().unwrap(), "{what}: decided");
        assert_eq!(s.get_accepted_round().unwrap(), m.get_accepted_round().unwrap(), "{what}: accepted round");
        assert_eq!(s.get_promise().unwrap(), m.get_promise().unwrap(), "{what}: promise");
        assert_eq!(s.get_compacted_idx().unwrap(), m.get_compacted_idx().unwrap(), "{what}: compacted");
        assert_eq!(s.get_stopsign().unwrap(), m.get_stopsign().unwrap(), "{what}: stopsign");
        assert_eq!(s.get_snapshot().unwrap(), m.get_snapshot().unwrap(), "{what}: snapshot");
        assert_eq!(s.get_log_len().unwrap(), m.get_log_len().unwrap(), "{what}: log len");
        let t = self.trimmed;
        assert_eq!(s.get_suffix(t).unwrap(), m.get_suffix(t).unwrap(), "{what}: log");
    }
}

/// One storage call, built fresh for each store.
enum Call {
    Appends(Vec<E>),
    Prefix(usize, Vec<E>),
    Promise(Ballot),
    Decided(usize),
    Accepted(Ballot),
    Compacted(usize),
    Trim(usize),
    Stop(Option<StopSign>),
    Snapshot(Option<Snap>),
    Batch(Vec<StorageOp<E>>),
}

impl Call {
    fn run(self, s: &mut impl Storage<E>) -> StorageResult<()> {
        match self {
            Call::Appends(es) => s.append_entries(es),
            Call::Prefix(i, es) => s.append_on_prefix(i, es),
            Call::Promise(b) => s.set_promise(b),
            Call::Decided(i) => s.set_decided_idx(i),
            Call::Accepted(b) => s.set_accepted_round(b),
            Call::Compacted(i) => s.set_compacted_idx(i),
            Call::Trim(i) => s.trim(i),
            Call::Stop(ss) => s.set_stopsign(ss),
            Call::Snapshot(sn) => s.set_snapshot(sn),
            Call::Batch(ops) => s.write_atomically(ops),
        }
    }
}

/// A node with some of everything: entries 0..10 trimmed to 3, a promise,
/// an accepted round, a decided and compacted index, a stop-sign, no snapshot.
fn node(ms: &MemStorage) -> Pair {
    let mut p = Pair { s: open(ms), m: MemoryStorage::default(), trimmed: TRIM };
    let b = Ballot::with(1, 4, 0, 2);
    p.both(|f| {
        f(Call::Appends((0..10).map(|i| E::new(i, 16)).collect())).unwrap();
        f(Call::Trim(TRIM)).unwrap();
        f(Call::Promise(b)).unwrap();
        f(Call::Accepted(b)).unwrap();
        f(Call::Decided(6)).unwrap();
        f(Call::Compacted(TRIM)).unwrap();
        f(Call::Stop(Some(stopsign(2)))).unwrap();
    });
    p.check("set up");
    p
}

/// Every shape of a call that changes nothing, as OmniPaxos makes them.
fn noops() -> Vec<Box<dyn Fn() -> Call>> {
    let b = Ballot::with(1, 4, 0, 2);
    vec![
        Box::new(|| Call::Appends(vec![])),
        Box::new(|| Call::Prefix(10, vec![])),
        Box::new(|| Call::Prefix(14, vec![])),
        Box::new(move || Call::Promise(b)),
        Box::new(move || Call::Accepted(b)),
        Box::new(|| Call::Decided(6)),
        Box::new(|| Call::Compacted(TRIM)),
        Box::new(|| Call::Trim(TRIM)),
        Box::new(|| Call::Stop(Some(stopsign(2)))),
        Box::new(|| Call::Snapshot(None)),
        Box::new(|| Call::Batch(vec![])),
        // AcceptSync from the leader this node already follows, nothing to sync.
        Box::new(move || {
            Call::Batch(vec![
                StorageOp::SetAcceptedRound(b),
                StorageOp::SetDecidedIndex(6),
                StorageOp::AppendOnPrefix(10, vec![]),
                StorageOp::SetStopsign(Some(stopsign(2))),
            ])
        }),
    ]
}

#[test]
fn a_call_that_changes_nothing_writes_nothing_and_survives_power_loss() {
    let ms = MemStorage::new();
    let mut rng = SmallRng::seed_from_u64(1);
    let mut p = node(&ms);
    let before = p.s.store().stats();
    let (ops, syncs) = (ms.op_count(), ms.sync_count());
    let calls = noops();
    for (i, c) in calls.iter().enumerate() {
        p.call(c).unwrap_or_else(|e| panic!("no-op {i}: {e}"));
        p.check(&format!("after no-op {i}"));
    }
    assert_eq!(ms.op_count(), ops, "a no-op touched the file system");
    assert_eq!(ms.sync_count(), syncs, "a no-op synced");
    let after = p.s.store().stats();
    assert_eq!((after.records, after.syncs, after.writes), (before.records, before.syncs, before.writes));
    assert_eq!(after.noop_writes - before.noop_writes, calls.len() as u64);

    // What they left behind is exactly what was durable.
    drop(p.s);
    ms.crash(CrashKind::PowerLoss, &mut rng);
    p.s = open(&ms);
    p.check("after power loss");
}

#[test]
fn calls_that_look_alike_but_change_something_are_written() {
    let ms = MemStorage::new();
    let mut rng = SmallRng::seed_from_u64(2);
    let mut p = node(&ms);
    let b = Ballot::with(1, 4, 0, 2);
    let changes: Vec<Box<dyn Fn() -> Call>> = vec![
        Box::new(|| Call::Prefix(9, vec![])), // cuts the last entry
        Box::new(|| Call::Stop(None)),
        Box::new(|| Call::Stop(Some(stopsign(3)))),
        Box::new(|| Call::Trim(TRIM + 1)),
        Box::new(|| Call::Decided(7)),
        Box::new(|| Call::Compacted(TRIM + 1)),
        Box::new(move || Call::Promise(Ballot { n: 5, ..b })),
        Box::new(move || Call::Accepted(Ballot { pid: 3, ..b })),
        Box::new(|| Call::Snapshot(Some(Snap { count: 1, sum: 2, blob: vec![] }))),
        Box::new(|| Call::Snapshot(None)),
        // One change among no-ops: the whole batch is written.
        Box::new(|| Call::Batch(vec![StorageOp::SetDecidedIndex(7), StorageOp::SetDecidedIndex(8)])),
        Box::new(|| Call::Trim(20)), // past the end: the log restarts at 20
        Box::new(|| Call::Prefix(20, vec![E::new(20, 4)])),
    ];
    for (i, c) in changes.iter().enumerate() {
        let syncs = ms.sync_count();
        let records = p.s.store().stats().records;
        p.call(c).unwrap_or_else(|e| panic!("change {i}: {e}"));
        assert!(ms.sync_count() > syncs, "change {i} was not synced");
        assert_eq!(p.s.store().stats().records, records + 1, "change {i} was not written");
        p.check(&format!("after change {i}"));
        drop(p.s);
        ms.crash(CrashKind::PowerLoss, &mut rng);
        p.s = open(&ms);
        p.check(&format!("after change {i} and power loss"));
    }
}

#[test]
fn on_a_poisoned_log_a_no_op_fails_like_every_write() {
    let ms = MemStorage::new();
    let mut rng = SmallRng::seed_from_u64(3);
    let mut p = node(&ms);
    ms.fail_sync(0);
    assert!(p.s.set_decided_idx(8).is_err(), "the sync failed");
    // The failed write's outcome on disk is unknown: a no-op with respect to
    // memory may not be one with respect to the disk, so it must not claim
    // to be durable.
    for (i, c) in noops().iter().enumerate() {
        assert!(c().run(&mut p.s).is_err(), "no-op {i} on a poisoned log returned Ok");
    }
    p.check("the failed write left memory as it was");
    drop(p.s);
    ms.crash(CrashKind::PowerLoss, &mut rng);
    p.s = open(&ms);
    let d = p.s.get_decided_idx().unwrap();
    assert!(d == 6 || d == 8, "decided {d}: all or none of the failed write");
    p.m.set_decided_idx(d).unwrap();
    p.check("after power loss");
}
