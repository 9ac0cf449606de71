//! A `Storage<T>` wrapper that counts what OmniPaxos asks of its storage:
//! the mutating calls by kind, the ones among them that change nothing
//! (the same value again, an empty append), and the reads. The bench wraps
//! every backend in it, so both sides pay the same few atomic increments;
//! with `--count` it prints the counts per decided entry.

use omnipaxos::ballot_leader_election::Ballot;
use omnipaxos::storage::{Entry, StopSign, Storage, StorageOp, StorageResult};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// The mutating calls, in the order the table prints them.
pub const KINDS: [&str; 11] = [
    "write_atomically",
    "append_entry",
    "append_entries",
    "append_on_prefix",
    "set_promise",
    "set_decided_idx",
    "set_accepted_round",
    "set_stopsign",
    "trim",
    "set_compacted_idx",
    "set_snapshot",
];
const WA: usize = 0;
const AE: usize = 1;
const AES: usize = 2;
const AOP: usize = 3;
const PROM: usize = 4;
const DEC: usize = 5;
const ACC: usize = 6;
const SS: usize = 7;
const TRIM: usize = 8;
const COMP: usize = 9;
const SNAP: usize = 10;

/// Counters of one node's storage.
#[derive(Default)]
pub struct Counts {
    calls: [AtomicU64; 11],
    noops: [AtomicU64; 11],
    reads: AtomicU64,
    /// Whether to look for calls that change nothing (costs reads, so only with `--count`).
    detect: AtomicBool,
}

/// A copy of the counters at one moment.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub calls: [u64; 11],
    pub noops: [u64; 11],
    pub reads: u64,
}

impl Counts {
    pub fn new(detect: bool) -> Arc<Self> {
        let c = Counts::default();
        c.detect.store(detect, Ordering::Relaxed);
        Arc::new(c)
    }

    pub fn snapshot(&self) -> Snapshot {
        let mut s = Snapshot::default();
        for k in 0..KINDS.len() {
            s.calls[k] = self.calls[k].load(Ordering::Relaxed);
            s.noops[k] = self.noops[k].load(Ordering::Relaxed);
        }
        s.reads = self.reads.load(Ordering::Relaxed);
        s
    }
}

impl Snapshot {
    /// `self - earlier`.
    pub fn since(&self, earlier: &Snapshot) -> Snapshot {
        let mut d = Snapshot::default();
        for k in 0..KINDS.len() {
            d.calls[k] = self.calls[k] - earlier.calls[k];
            d.noops[k] = self.noops[k] - earlier.noops[k];
        }
        d.reads = self.reads - earlier.reads;
        d
    }

    pub fn writes(&self) -> u64 {
        self.calls.iter().sum()
    }

    pub fn noop_writes(&self) -> u64 {
        self.noops.iter().sum()
    }
}

/// Counts the calls to `inner`.
pub struct Counted<S> {
    inner: S,
    counts: Arc<Counts>,
}

impl<S> Counted<S> {
    pub fn new(inner: S, counts: Arc<Counts>) -> Self {
        Counted { inner, counts }
    }
}

impl<S> Counted<S> {
    fn call(&self, kind: usize, noop: impl FnOnce() -> bool) {
        self.counts.calls[kind].fetch_add(1, Ordering::Relaxed);
        if self.counts.detect.load(Ordering::Relaxed) && noop() {
            self.counts.noops[kind].fetch_add(1, Ordering::Relaxed);
        }
    }

    fn read(&self) {
        self.counts.reads.fetch_add(1, Ordering::Relaxed);
    }
}

/// Whether `op` would leave `s` as it is (as far as the trait's getters
/// show: a trim is never counted as one, the trim point being invisible).
fn op_is_noop<T: Entry, S: Storage<T>>(s: &S, op: &StorageOp<T>) -> bool {
    match op {
        StorageOp::AppendEntry(_) => false,
        StorageOp::AppendEntries(es) => es.is_empty(),
        StorageOp::AppendOnPrefix(i, es) => es.is_empty() && s.get_suffix(*i).is_ok_and(|v| v.is_empty()),
        StorageOp::SetPromise(b) => s.get_promise().is_ok_and(|p| p == Some(*b)),
        StorageOp::SetDecidedIndex(i) => s.get_decided_idx().is_ok_and(|d| d == *i),
        StorageOp::SetAcceptedRound(b) => s.get_accepted_round().is_ok_and(|a| a == Some(*b)),
        StorageOp::SetCompactedIdx(i) => s.get_compacted_idx().is_ok_and(|c| c == *i),
        StorageOp::Trim(_) => false,
        StorageOp::SetStopsign(ss) => s.get_stopsign().is_ok_and(|cur| cur == *ss),
        StorageOp::SetSnapshot(_) => false,
    }
}

impl<T: Entry, S: Storage<T>> Storage<T> for Counted<S> {
    fn write_atomically(&mut self, ops: Vec<StorageOp<T>>) -> StorageResult<()> {
        self.call(WA, || ops.iter().all(|op| op_is_noop(&self.inner, op)));
        self.inner.write_atomically(ops)
    }

    fn append_entry(&mut self, entry: T) -> StorageResult<()> {
        self.call(AE, || false);
        self.inner.append_entry(entry)
    }

    fn append_entries(&mut self, entries: Vec<T>) -> StorageResult<()> {
        self.call(AES, || entries.is_empty());
        self.inner.append_entries(entries)
    }

    fn append_on_prefix(&mut self, from_idx: usize, entries: Vec<T>) -> StorageResult<()> {
        let op = StorageOp::AppendOnPrefix(from_idx, entries);
        self.call(AOP, || op_is_noop(&self.inner, &op));
        let StorageOp::AppendOnPrefix(from_idx, entries) = op else { unreachable!() };
        self.inner.append_on_prefix(from_idx, entries)
    }

    fn set_promise(&mut self, n_prom: Ballot) -> StorageResult<()> {
        self.call(PROM, || op_is_noop(&self.inner, &StorageOp::<T>::SetPromise(n_prom)));
        self.inner.set_promise(n_prom)
    }

    fn set_decided_idx(&mut self, ld: usize) -> StorageResult<()> {
        self.call(DEC, || op_is_noop(&self.inner, &StorageOp::<T>::SetDecidedIndex(ld)));
        self.inner.set_decided_idx(ld)
    }

    fn get_decided_idx(&self) -> StorageResult<usize> {
        self.read();
        self.inner.get_decided_idx()
    }

    fn set_accepted_round(&mut self, na: Ballot) -> StorageResult<()> {
        self.call(ACC, || op_is_noop(&self.inner, &StorageOp::<T>::SetAcceptedRound(na)));
        self.inner.set_accepted_round(na)
    }

    fn get_accepted_round(&self) -> StorageResult<Option<Ballot>> {
        self.read();
        self.inner.get_accepted_round()
    }

    fn get_entries(&self, from: usize, to: usize) -> StorageResult<Vec<T>> {
        self.read();
        self.inner.get_entries(from, to)
    }

    fn get_log_len(&self) -> StorageResult<usize> {
        self.read();
        self.inner.get_log_len()
    }

    fn get_suffix(&self, from: usize) -> StorageResult<Vec<T>> {
        self.read();
        self.inner.get_suffix(from)
    }

    fn get_promise(&self) -> StorageResult<Option<Ballot>> {
        self.read();
        self.inner.get_promise()
    }

    fn set_stopsign(&mut self, s: Option<StopSign>) -> StorageResult<()> {
        let op = StorageOp::<T>::SetStopsign(s);
        self.call(SS, || op_is_noop(&self.inner, &op));
        let StorageOp::SetStopsign(s) = op else { unreachable!() };
        self.inner.set_stopsign(s)
    }

    fn get_stopsign(&self) -> StorageResult<Option<StopSign>> {
        self.read();
        self.inner.get_stopsign()
    }

    fn trim(&mut self, idx: usize) -> StorageResult<()> {
        self.call(TRIM, || false);
        self.inner.trim(idx)
    }

    fn set_compacted_idx(&mut self, idx: usize) -> StorageResult<()> {
        self.call(COMP, || op_is_noop(&self.inner, &StorageOp::<T>::SetCompactedIdx(idx)));
        self.inner.set_compacted_idx(idx)
    }

    fn get_compacted_idx(&self) -> StorageResult<usize> {
        self.read();
        self.inner.get_compacted_idx()
    }

    fn set_snapshot(&mut self, snapshot: Option<T::Snapshot>) -> StorageResult<()> {
        self.call(SNAP, || false);
        self.inner.set_snapshot(snapshot)
    }

    fn get_snapshot(&self) -> StorageResult<Option<T::Snapshot>> {
        self.read();
        self.inner.get_snapshot()
    }
}

/// The calls (and, for paxos-store, records and syncs) per decided entry of
/// one run, as lines of text.
pub fn lines(
    what: &str,
    leader: omnipaxos::util::NodeId,
    decided: usize,
    calls: &[(omnipaxos::util::NodeId, Snapshot)],
    log: Option<Vec<super::LogStats>>,
) -> Vec<String> {
    let per = |x: u64| x as f64 / decided as f64;
    let mut out = vec![format!("{what}: {decided} entries decided")];
    for (pid, c) in calls {
        let role = if *pid == leader { "leader  " } else { "follower" };
        let kinds: Vec<String> = KINDS
            .iter()
            .enumerate()
            .filter(|(k, _)| c.calls[*k] > 0)
            .map(|(k, name)| format!("{name} {:.3} (no-op {:.3})", per(c.calls[k]), per(c.noops[k])))
            .collect();
        out.push(format!(
            "  node {pid} {role}: calls {:.3}, of which change nothing {:.3}; reads {:.3}; {}",
            per(c.writes()),
            per(c.noop_writes()),
            per(c.reads),
            kinds.join(", ")
        ));
    }
    if let Some(log) = log {
        let syncs: u64 = log.iter().map(|l| l.syncs).sum();
        let records: u64 = log.iter().map(|l| l.records).sum();
        let each: Vec<String> = log.iter().map(|l| format!("{:.3}", per(l.syncs))).collect();
        out.push(format!(
            "  paxos-store: syncs {:.3} (per store: {}), records {:.3}, records per sync {:.2}",
            per(syncs),
            each.join(", "),
            per(records),
            records as f64 / syncs.max(1) as f64
        ));
    }
    out
}
