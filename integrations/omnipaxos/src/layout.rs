//! How one OmniPaxos node's storage sits in an acceptor-store group, all of
//! it through the store's raw-persistence operations (OmniPaxos enforces the
//! protocol, so no acceptor rule is checked):
//!
//! - the entry at absolute log index `i` is slot `i`, its value the entry
//!   serialised with postcard (consecutive entries in one `Op::Put`, cut
//!   where the store's value limit says; ballot zero);
//! - the trim point is the group's truncation point (`Op::TruncateBelow`);
//! - `AppendOnPrefix` is `Op::DropFrom` the cut, then `Put`s;
//! - every other field is a metadata register (`Op::SetMeta`) holding the
//!   field serialised with postcard: promise, accepted round, decided index,
//!   compacted index, stop-sign; the snapshot is cut into chunks no larger
//!   than the store's largest value, under keys `SNAPSHOT_CHUNK + i`, with
//!   their count under `SNAPSHOT`.
//!
//! A call is planned against the group's state (so indices follow the trim
//! point through a batch, exactly as [`GroupState::apply`] moves them) and
//! becomes one `apply_batch`: one sync, atomic across a crash.

use crate::error::{Error, Result};
use crate::state::GroupState;
use omnipaxos::storage::{Entry, StorageOp};
use paxos_acceptor_store::{AcceptorStore, Ballot, GroupId, Op, Slot};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::VecDeque;

const PROMISE: u64 = 1;
const ACCEPTED_ROUND: u64 = 2;
const DECIDED: u64 = 3;
const COMPACTED: u64 = 4;
const STOPSIGN: u64 = 5;
/// The number of snapshot chunks (postcard `u64`); 0 with no snapshot.
const SNAPSHOT: u64 = 6;
/// Chunk `i` of the serialised `Option<T::Snapshot>` is under `SNAPSHOT_CHUNK + i`.
const SNAPSHOT_CHUNK: u64 = 1 << 32;

fn enc<V: Serialize + ?Sized>(v: &V) -> Result<Vec<u8>> {
    // One allocation for a typical entry, not a string of small regrowths.
    postcard::to_extend(v, Vec::with_capacity(256)).map_err(Error::Encode)
}

fn dec<V: DeserializeOwned>(group: u64, what: &'static str, bytes: &[u8]) -> Result<V> {
    postcard::from_bytes(bytes).map_err(|_| Error::Decode { group, what })
}

/// What persists one call.
pub(crate) struct Plan {
    /// The store operations, for one `apply_batch`.
    pub ops: Vec<Op>,
    /// Bytes of values they write (for the checkpoint policy).
    pub bytes: u64,
    /// Snapshot chunks holding data once they are applied.
    pub snapshot_chunks: u64,
}

/// The operations that persist `ops` on `group`, whose state is `state`;
/// `max_value` is the largest value the store takes.
pub(crate) fn plan<T>(group: u64, state: &GroupState<T>, ops: &[StorageOp<T>], max_value: usize) -> Result<Plan>
where
    T: Entry + Serialize,
{
    let g = GroupId(group);
    let mut out = Vec::new();
    // The trim point and the end of the log, as the batch moves them.
    let mut trimmed = state.trimmed_idx;
    let mut end = state.trimmed_idx + state.log.len() as u64;
    let mut chunks_before = state.snapshot_chunks;
    let meta = |out: &mut Vec<Op>, key: u64, value: Vec<u8>| out.push(Op::SetMeta { group: g, key, value });
    let puts = |out: &mut Vec<Op>, from: u64, entries: &[T]| -> Result<u64> {
        // One Put per run of entries whose values (4 bytes of length each)
        // fit the store's limit; an entry too large alone gets the store's error.
        let (mut values, mut size, mut at) = (Vec::new(), 0usize, from);
        for e in entries {
            let value = enc(e)?;
            if !values.is_empty() && size + 4 + value.len() > max_value {
                let run = std::mem::take(&mut values);
                let next = at + run.len() as u64;
                out.push(Op::Put { group: g, from: Slot(at), ballot: Ballot::ZERO, values: run });
                at = next;
                size = 0;
            }
            size += 4 + value.len();
            values.push(value);
        }
        if !values.is_empty() {
            out.push(Op::Put { group: g, from: Slot(at), ballot: Ballot::ZERO, values });
        }
        Ok(from + entries.len() as u64)
    };
    for op in ops {
        match op {
            StorageOp::AppendEntry(e) => end = puts(&mut out, end, std::slice::from_ref(e))?,
            StorageOp::AppendEntries(es) => end = puts(&mut out, end, es)?,
            StorageOp::AppendOnPrefix(from, es) => {
                // As GroupState::apply: below the trim point or past the end,
                // the entries go at the end.
                let from = *from as u64;
                let at = if from < trimmed { end } else { from.min(end) };
                if at < end {
                    out.push(Op::DropFrom { group: g, slot: Slot(at) });
                }
                end = puts(&mut out, at, es)?;
            }
            StorageOp::Trim(idx) => {
                let idx = *idx as u64;
                if idx > trimmed {
                    out.push(Op::TruncateBelow { group: g, slot: Slot(idx) });
                    trimmed = idx;
                    end = end.max(idx);
                }
            }
            StorageOp::SetPromise(b) => meta(&mut out, PROMISE, enc(&Some(b))?),
            StorageOp::SetAcceptedRound(b) => meta(&mut out, ACCEPTED_ROUND, enc(&Some(b))?),
            StorageOp::SetDecidedIndex(i) => meta(&mut out, DECIDED, enc(&(*i as u64))?),
            StorageOp::SetCompactedIdx(i) => meta(&mut out, COMPACTED, enc(&(*i as u64))?),
            StorageOp::SetStopsign(s) => meta(&mut out, STOPSIGN, enc(s)?),
            StorageOp::SetSnapshot(s) => {
                let whole = enc(s)?;
                let chunk = max_value.max(1);
                let n = whole.len().div_ceil(chunk) as u64;
                for (i, c) in whole.chunks(chunk).enumerate() {
                    meta(&mut out, SNAPSHOT_CHUNK + i as u64, c.to_vec());
                }
                // Empty the chunks a bigger snapshot left, so they hold no space.
                for i in n..chunks_before {
                    meta(&mut out, SNAPSHOT_CHUNK + i, Vec::new());
                }
                meta(&mut out, SNAPSHOT, enc(&n)?);
                chunks_before = n;
            }
        }
    }
    let bytes = out
        .iter()
        .map(|op| match op {
            Op::Put { values, .. } => values.iter().map(|v| 4 + v.len() as u64).sum(),
            Op::SetMeta { value, .. } => value.len() as u64,
            _ => 0,
        })
        .sum();
    Ok(Plan { ops: out, bytes, snapshot_chunks: chunks_before })
}

/// Rebuild `group`'s state from the store (on open).
pub(crate) fn rebuild<T>(store: &AcceptorStore, group: u64) -> Result<GroupState<T>>
where
    T: Entry + DeserializeOwned,
{
    let g = GroupId(group);
    let mut s = GroupState::<T>::default();
    let first = store.first_live_slot(g).unwrap_or(Slot(0));
    s.trimmed_idx = first.0;
    let entries = store.accepted_from(g, first)?;
    let mut log = VecDeque::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        if e.slot.0 != first.0 + i as u64 {
            return Err(Error::Decode { group, what: "a hole in the log" });
        }
        log.push_back(dec(group, "an entry", &e.value)?);
    }
    s.log = log;
    let meta = store.metadata(g)?;
    let get = |key: u64| meta.binary_search_by_key(&key, |(k, _)| *k).ok().map(|i| &meta[i].1);
    if let Some(v) = get(PROMISE) {
        s.promise = dec(group, "the promise", v)?;
    }
    if let Some(v) = get(ACCEPTED_ROUND) {
        s.accepted_round = dec(group, "the accepted round", v)?;
    }
    if let Some(v) = get(DECIDED) {
        s.decided_idx = dec(group, "the decided index", v)?;
    }
    if let Some(v) = get(COMPACTED) {
        s.compacted_idx = dec(group, "the compacted index", v)?;
    }
    if let Some(v) = get(STOPSIGN) {
        s.stopsign = dec(group, "the stop-sign", v)?;
    }
    if let Some(v) = get(SNAPSHOT) {
        let n: u64 = dec(group, "the snapshot chunk count", v)?;
        let mut whole = Vec::new();
        for i in 0..n {
            let c = get(SNAPSHOT_CHUNK + i).ok_or(Error::Decode { group, what: "a missing snapshot chunk" })?;
            whole.extend_from_slice(c);
        }
        s.snapshot = dec(group, "the snapshot", &whole)?;
        s.snapshot_chunks = n;
    }
    Ok(s)
}
