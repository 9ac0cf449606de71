//! The in-memory state of one OmniPaxos node's storage, and the one function
//! that changes it ([`GroupState::apply`]), used both live (after the record
//! is durable) and during replay, so the two can never disagree.
//!
//! The semantics are those of `omnipaxos_storage` 0.2.4's `MemoryStorage`,
//! operation for operation; where `MemoryStorage` would underflow (an index
//! below the trim point, which OmniPaxos never passes) this module does not
//! panic: see each method.

use omnipaxos::ballot_leader_election::Ballot;
use omnipaxos::storage::{Entry, StopSign, StorageOp};
use std::collections::VecDeque;

/// Everything one OmniPaxos node keeps in its storage.
#[derive(Clone, Debug)]
pub(crate) struct GroupState<T: Entry> {
    /// Entries after the trim point: `log[i]` is the entry at absolute index `trimmed_idx + i`.
    pub log: VecDeque<T>,
    /// Absolute index of `log[0]`: entries below it were trimmed.
    pub trimmed_idx: u64,
    /// The compacted index as set by OmniPaxos (its own value, not the trim point).
    pub compacted_idx: u64,
    pub decided_idx: u64,
    pub promise: Option<Ballot>,
    pub accepted_round: Option<Ballot>,
    pub stopsign: Option<StopSign>,
    pub snapshot: Option<T::Snapshot>,
    /// Chunks the stored snapshot takes (see `layout.rs`); not OmniPaxos state.
    pub snapshot_chunks: u64,
}

impl<T: Entry> Default for GroupState<T> {
    fn default() -> Self {
        GroupState {
            log: VecDeque::new(),
            trimmed_idx: 0,
            compacted_idx: 0,
            decided_idx: 0,
            promise: None,
            accepted_round: None,
            stopsign: None,
            snapshot: None,
            snapshot_chunks: 0,
        }
    }
}

impl<T: Entry> GroupState<T> {
    /// Apply one operation, as `MemoryStorage` does.
    pub fn apply(&mut self, op: StorageOp<T>) {
        match op {
            StorageOp::AppendEntry(e) => self.log.push_back(e),
            StorageOp::AppendEntries(es) => self.log.extend(es),
            StorageOp::AppendOnPrefix(from, es) => {
                // Keep the entries below `from`. A `from` below the trim
                // point keeps the whole log (as a release build of
                // `MemoryStorage` does; a debug build panics). A `from` past
                // the end keeps the whole log too: the entries go at the end.
                if let Some(keep) = (from as u64).checked_sub(self.trimmed_idx) {
                    self.log.truncate(usize::try_from(keep).unwrap_or(usize::MAX));
                }
                self.log.extend(es);
            }
            StorageOp::SetPromise(b) => self.promise = Some(b),
            StorageOp::SetDecidedIndex(i) => self.decided_idx = i as u64,
            StorageOp::SetAcceptedRound(b) => self.accepted_round = Some(b),
            StorageOp::SetCompactedIdx(i) => self.compacted_idx = i as u64,
            StorageOp::Trim(idx) => {
                // Past the end: everything goes and the log restarts at `idx`
                // (a follower installing a snapshot). Below the current trim
                // point (never issued by OmniPaxos) nothing changes.
                let idx = idx as u64;
                if let Some(n) = idx.checked_sub(self.trimmed_idx) {
                    let n = usize::try_from(n).unwrap_or(usize::MAX).min(self.log.len());
                    self.log.drain(..n);
                    self.trimmed_idx = idx;
                }
            }
            StorageOp::SetStopsign(s) => self.stopsign = s,
            StorageOp::SetSnapshot(s) => self.snapshot = s,
        }
    }

    /// Whether `op` would leave this state exactly as it is (see [`GroupState::apply`]):
    /// an empty append, an `AppendOnPrefix` with no entries that cuts nothing,
    /// a value set to what it already is, a trim at or below the trim point.
    /// Exact, never a guess: a `true` here means `apply(op)` changes nothing.
    /// (Entries and snapshots are not compared: `T` need not be `PartialEq`.)
    pub fn is_noop(&self, op: &StorageOp<T>) -> bool {
        match op {
            StorageOp::AppendEntry(_) => false,
            StorageOp::AppendEntries(es) => es.is_empty(),
            StorageOp::AppendOnPrefix(from, es) => {
                es.is_empty()
                    && (*from as u64).checked_sub(self.trimmed_idx).is_none_or(|keep| keep >= self.log.len() as u64)
            }
            StorageOp::SetPromise(b) => self.promise == Some(*b),
            StorageOp::SetDecidedIndex(i) => self.decided_idx == *i as u64,
            StorageOp::SetAcceptedRound(b) => self.accepted_round == Some(*b),
            StorageOp::SetCompactedIdx(i) => self.compacted_idx == *i as u64,
            StorageOp::Trim(idx) => *idx as u64 <= self.trimmed_idx,
            StorageOp::SetStopsign(s) => self.stopsign == *s,
            StorageOp::SetSnapshot(s) => s.is_none() && self.snapshot.is_none(),
        }
    }

    /// Entries `[from, to)`, or an empty vector unless every one of them is
    /// present (never a partial range).
    pub fn entries(&self, from: usize, to: usize) -> Vec<T> {
        let (Some(a), Some(b)) = (self.offset(from), self.offset(to)) else { return Vec::new() };
        if a > b || b > self.log.len() {
            return Vec::new();
        }
        self.log.range(a..b).cloned().collect()
    }

    /// Entries from `from` to the end; empty if `from` is trimmed or past the end.
    pub fn suffix(&self, from: usize) -> Vec<T> {
        match self.offset(from) {
            Some(a) if a <= self.log.len() => self.log.range(a..).cloned().collect(),
            _ => Vec::new(),
        }
    }

    /// Position in `log` of absolute index `idx` (`None` below the trim point).
    fn offset(&self, idx: usize) -> Option<usize> {
        (idx as u64).checked_sub(self.trimmed_idx).map(|o| usize::try_from(o).unwrap_or(usize::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    struct E(u64);
    impl Entry for E {
        type Snapshot = omnipaxos::storage::NoSnapshot;
    }

    fn s(ops: Vec<StorageOp<E>>) -> GroupState<E> {
        let mut g = GroupState::default();
        for op in ops {
            g.apply(op);
        }
        g
    }

    #[test]
    fn absolute_indices_across_a_trim() {
        let g = s(vec![StorageOp::AppendEntries((0..10).map(E).collect()), StorageOp::Trim(4)]);
        assert_eq!(g.log.len(), 6);
        assert_eq!(g.entries(4, 6), vec![E(4), E(5)]);
        assert_eq!(g.entries(3, 6), vec![], "a trimmed entry makes the range absent");
        assert_eq!(g.entries(8, 11), vec![], "past the end: never partial");
        assert_eq!(g.entries(7, 5), vec![]);
        assert_eq!(g.suffix(8), vec![E(8), E(9)]);
        assert_eq!(g.suffix(10), vec![]);
        assert_eq!(g.suffix(11), vec![]);
        assert_eq!(g.suffix(2), vec![]);
    }

    /// `StorageOp` is not `Clone`.
    fn dup(op: &StorageOp<E>) -> StorageOp<E> {
        match op {
            StorageOp::AppendEntry(e) => StorageOp::AppendEntry(e.clone()),
            StorageOp::AppendEntries(es) => StorageOp::AppendEntries(es.clone()),
            StorageOp::AppendOnPrefix(i, es) => StorageOp::AppendOnPrefix(*i, es.clone()),
            StorageOp::SetPromise(b) => StorageOp::SetPromise(*b),
            StorageOp::SetDecidedIndex(i) => StorageOp::SetDecidedIndex(*i),
            StorageOp::SetAcceptedRound(b) => StorageOp::SetAcceptedRound(*b),
            StorageOp::SetCompactedIdx(i) => StorageOp::SetCompactedIdx(*i),
            StorageOp::Trim(i) => StorageOp::Trim(*i),
            StorageOp::SetStopsign(s) => StorageOp::SetStopsign(s.clone()),
            StorageOp::SetSnapshot(s) => StorageOp::SetSnapshot(*s),
        }
    }

    /// `is_noop` is exact: it says "no change" exactly when `apply` changes
    /// nothing (a snapshot is never compared, so setting one always counts
    /// as a change).
    #[test]
    fn is_noop_is_true_exactly_when_apply_changes_nothing() {
        let b = |n| Ballot::with(1, n, 0, 1);
        let ss =
            |id| Some(StopSign::with(omnipaxos::ClusterConfig { configuration_id: id, ..Default::default() }, None));
        let states = vec![
            s(vec![]),
            s(vec![StorageOp::AppendEntries((0..5).map(E).collect())]),
            s(vec![StorageOp::AppendEntries((0..5).map(E).collect()), StorageOp::Trim(3)]),
            s(vec![StorageOp::AppendEntries((0..2).map(E).collect()), StorageOp::Trim(4)]),
            s(vec![
                StorageOp::AppendEntries((0..6).map(E).collect()),
                StorageOp::Trim(2),
                StorageOp::SetPromise(b(3)),
                StorageOp::SetAcceptedRound(b(2)),
                StorageOp::SetDecidedIndex(4),
                StorageOp::SetCompactedIdx(2),
                StorageOp::SetStopsign(ss(2)),
                StorageOp::SetSnapshot(Some(omnipaxos::storage::NoSnapshot)),
            ]),
        ];
        let mut ops: Vec<StorageOp<E>> = vec![
            StorageOp::AppendEntry(E(9)),
            StorageOp::AppendEntries(vec![]),
            StorageOp::AppendEntries(vec![E(9)]),
            StorageOp::SetSnapshot(None),
            StorageOp::SetSnapshot(Some(omnipaxos::storage::NoSnapshot)),
            StorageOp::SetStopsign(None),
            StorageOp::SetStopsign(ss(2)),
            StorageOp::SetStopsign(ss(3)),
        ];
        for i in 0..9 {
            ops.extend([
                StorageOp::AppendOnPrefix(i, vec![]),
                StorageOp::AppendOnPrefix(i, vec![E(9)]),
                StorageOp::SetDecidedIndex(i),
                StorageOp::SetCompactedIdx(i),
                StorageOp::Trim(i),
                StorageOp::SetPromise(b(i as u32)),
                StorageOp::SetAcceptedRound(b(i as u32)),
            ]);
        }
        let mut noops = 0;
        for st in &states {
            for op in &ops {
                let mut after = st.clone();
                after.apply(dup(op));
                let unchanged = format!("{after:?}") == format!("{st:?}");
                let noop = st.is_noop(op);
                if matches!(op, StorageOp::SetSnapshot(Some(_))) {
                    assert!(!noop, "{op:?} on {st:?}");
                } else {
                    assert_eq!(noop, unchanged, "{op:?} on {st:?}");
                }
                noops += noop as usize;
            }
        }
        assert!(noops > 50, "the cases cover no-ops: {noops}");
    }

    #[test]
    fn trim_past_the_end_then_append_on_prefix_restarts_the_log() {
        let g = s(vec![
            StorageOp::AppendEntries((0..3).map(E).collect()),
            StorageOp::Trim(10),
            StorageOp::AppendOnPrefix(10, vec![E(10), E(11)]),
        ]);
        assert_eq!(g.trimmed_idx, 10);
        assert_eq!(g.entries(10, 12), vec![E(10), E(11)]);
        // A trim below the trim point changes nothing.
        let mut h = g.clone();
        h.apply(StorageOp::Trim(5));
        assert_eq!((h.trimmed_idx, h.log.len()), (10, 2));
    }
}
