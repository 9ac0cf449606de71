//! How one raft group's log storage sits in an acceptor-store group, all of
//! it through the store's raw-persistence operations (openraft enforces the
//! protocol, so no acceptor rule is checked):
//!
//! - the entry at log index `i` is slot `i`, its value the entry serialised
//!   with postcard, stored at ballot `(term, 0)` (so `paxos-store inspect`
//!   shows each slot's term); consecutive entries go in one `Op::Put`, cut
//!   where the store's value limit says;
//! - `truncate(log_id)` is `Op::DropFrom` slot `log_id.index`;
//! - `purge(log_id)` is `Op::TruncateBelow` slot `log_id.index + 1`, with
//!   the purged log id in a metadata register, in one batch;
//! - the vote and the committed log id are metadata registers (`Op::SetMeta`).

use crate::error::{Error, Result};
use crate::store::GroupMeta;
use openraft::{LogId, RaftLogId, RaftTypeConfig, Vote};
use paxos_acceptor_store::{AcceptorStore, Ballot, GroupId, Op, Slot, SlotRead};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The vote (postcard `Vote<NodeId>`).
pub(crate) const VOTE: u64 = 1;
/// The committed log id (postcard `Option<LogId<NodeId>>`).
pub(crate) const COMMITTED: u64 = 2;
/// The last purged log id (postcard `LogId<NodeId>`).
pub(crate) const PURGED: u64 = 3;

pub(crate) fn enc<V: Serialize + ?Sized>(what: &'static str, v: &V) -> Result<Vec<u8>> {
    postcard::to_extend(v, Vec::with_capacity(128)).map_err(|source| Error::Encode { what, source })
}

pub(crate) fn dec<V: DeserializeOwned>(group: u64, what: &'static str, bytes: &[u8]) -> Result<V> {
    postcard::from_bytes(bytes).map_err(|_| Error::Decode { group, what })
}

/// The `Put`s that store `entries` (consecutive, as openraft appends them)
/// in `group`; `max_value` is the largest value the store takes. Returns
/// them with the last entry's log id.
pub(crate) fn plan_append<C>(group: u64, entries: &[C::Entry], max_value: usize) -> Result<Vec<Op>>
where
    C: RaftTypeConfig,
    C::Entry: Serialize,
{
    let g = GroupId(group);
    let mut out = Vec::new();
    let mut run: Vec<Vec<u8>> = Vec::new();
    let (mut size, mut from, mut term) = (0usize, 0u64, 0u64);
    for e in entries {
        let id = e.get_log_id();
        let value = enc("a log entry", e)?;
        if 4 + value.len() > max_value {
            return Err(Error::EntryTooLarge { len: value.len(), max: max_value.saturating_sub(4) });
        }
        // A new run where the values would pass the limit, or the term (the
        // run's ballot) changes, or the index is not the next one.
        let next = from + run.len() as u64;
        if !run.is_empty() && (size + 4 + value.len() > max_value || id.leader_id.term != term || id.index != next) {
            out.push(Op::Put {
                group: g,
                from: Slot(from),
                ballot: Ballot::new(term, 0),
                values: std::mem::take(&mut run),
            });
            size = 0;
        }
        if run.is_empty() {
            from = id.index;
            term = id.leader_id.term;
        }
        size += 4 + value.len();
        run.push(value);
    }
    if !run.is_empty() {
        out.push(Op::Put { group: g, from: Slot(from), ballot: Ballot::new(term, 0), values: run });
    }
    Ok(out)
}

/// The log id of the entry in `slot` of `group`, if there is one.
pub(crate) fn log_id_at<C>(store: &AcceptorStore, group: u64, slot: Slot) -> Result<Option<LogId<C::NodeId>>>
where
    C: RaftTypeConfig,
    C::Entry: DeserializeOwned,
{
    match store.accepted(GroupId(group), slot)? {
        SlotRead::Accepted { value, .. } => {
            let e: C::Entry = dec(group, "a log entry", &value)?;
            Ok(Some(e.get_log_id().clone()))
        }
        _ => Ok(None),
    }
}

/// The id of the last entry of `group`'s log (`None`: the log is empty).
pub(crate) fn last_log_id<C>(store: &AcceptorStore, group: u64) -> Result<Option<LogId<C::NodeId>>>
where
    C: RaftTypeConfig,
    C::Entry: DeserializeOwned,
{
    match store.last_accepted_slot(GroupId(group)) {
        Some(slot) => log_id_at::<C>(store, group, slot),
        None => Ok(None),
    }
}

/// A group's vote, purge point and last log id, from the store.
pub(crate) fn rebuild<C>(store: &AcceptorStore, group: u64) -> Result<GroupMeta<C::NodeId>>
where
    C: RaftTypeConfig,
    C::Entry: DeserializeOwned,
{
    let meta = store.metadata(GroupId(group))?;
    let get = |key: u64| meta.binary_search_by_key(&key, |(k, _)| *k).ok().map(|i| &meta[i].1);
    let vote: Option<Vote<C::NodeId>> = get(VOTE).map(|v| dec(group, "the vote", v)).transpose()?;
    let last_purged: Option<LogId<C::NodeId>> = get(PURGED).map(|v| dec(group, "the purge point", v)).transpose()?;
    let last_log = last_log_id::<C>(store, group)?;
    Ok(GroupMeta { vote, last_purged, last_log })
}

/// The committed log id stored for `group`.
pub(crate) fn committed<C>(store: &AcceptorStore, group: u64) -> Result<Option<LogId<C::NodeId>>>
where
    C: RaftTypeConfig,
{
    let meta = store.metadata(GroupId(group))?;
    match meta.binary_search_by_key(&COMMITTED, |(k, _)| *k) {
        Ok(i) => dec(group, "the committed log id", &meta[i].1),
        Err(_) => Ok(None),
    }
}
