//! The write path.

use crate::checkpointing::LogPin;
use crate::codec::{expand, put_body, RecordBuilder, StoredOp, CONTINUATION, CONTINUES, OP_HEADER_LEN};
use crate::error::{Result, StoreError};
use crate::rules::{self, Body, DependsOn, OpRef};
use crate::state::{SlotEntry, Undo, ALL_GROUPS};
use crate::store::{lock, AcceptorStore, PanicGuard, BROKEN, PANICKED};
use crate::types::{AcceptedEntry, GroupId, Op, Outcome, PromiseOutcome, Slot};
use crate::value::Value;
use paxos_wal::Lsn;
use std::sync::atomic::Ordering;

/// A granted promise's phase-1b contents, taken under the store lock; the
/// values in the log are read after it is released.
struct Phase1b {
    /// Where in the outcomes.
    at: usize,
    group: GroupId,
    /// The entries, each with its value if that is in a checkpoint image.
    entries: Vec<(SlotEntry, Option<Value>)>,
    first_live_slot: Slot,
}

/// Why a log whose LSNs reach 2^62 is refused.
pub(crate) const LSN_RANGE: &str = "an LSN beyond the store's range (2^62)";

/// A decided reply waiting for the durability it depends on.
pub(crate) struct Pending {
    pub outcomes: Vec<Outcome>,
    /// Every record the replies depend on is at or below this LSN.
    pub wait_for: Lsn,
}

impl AcceptorStore {
    pub(crate) fn execute_one(&self, op: Op) -> Result<Outcome> {
        let pending = self.decide_ops(std::slice::from_ref(&op))?;
        Ok(self.wait(pending)?.pop().expect("one outcome per operation"))
    }

    pub(crate) fn decide_ops(&self, ops: &[Op]) -> Result<Pending> {
        let refs: Vec<OpRef<'_>> = ops
            .iter()
            .map(|op| {
                Ok(match op {
                    Op::Promise { group, ballot, from_slot } => {
                        OpRef::Promise { group: *group, ballot: *ballot, from_slot: *from_slot }
                    }
                    Op::Accept { group, slot, ballot, value } => {
                        self.check_value(value)?;
                        OpRef::Accept { group: *group, slot: *slot, ballot: *ballot, value }
                    }
                    Op::MarkChosen { group, slot } => OpRef::MarkChosen { group: *group, slot: *slot },
                    Op::TruncateBelow { group, slot } => OpRef::TruncateBelow { group: *group, slot: *slot },
                    Op::RemoveGroup { group } => OpRef::RemoveGroup { group: *group },
                    Op::Put { group, from, ballot, values } => {
                        self.check_value_len(values.iter().map(|v| 4 + v.len()).sum())?;
                        if from.0.checked_add((values.len() as u64).saturating_sub(1)).is_none() {
                            return Err(StoreError::InvalidOp("a put runs past the last slot"));
                        }
                        OpRef::Put { group: *group, from: *from, ballot: *ballot, values }
                    }
                    Op::DropFrom { group, slot } => OpRef::DropFrom { group: *group, slot: *slot },
                    Op::SetMeta { group, key, value } => {
                        self.check_value(value)?;
                        OpRef::SetMeta { group: *group, key: *key, value }
                    }
                })
            })
            .collect::<Result<_>>()?;
        self.decide(&refs)
    }

    /// Wait for the durability the replies depend on, then hand them out.
    pub(crate) fn wait(&self, pending: Pending) -> Result<Vec<Outcome>> {
        if pending.wait_for > 0 {
            self.shared.wal.wait_durable(pending.wait_for)?;
        }
        self.maybe_checkpoint();
        Ok(pending.outcomes)
    }

    /// Check the rules for `ops` in order, append one record with every write
    /// and apply it, all under the store lock so that rules are checked in
    /// the order records enter the log. Does not wait for durability. The
    /// values of phase-1b replies are read after the lock is released (no
    /// write or sync ever happens under it here).
    pub(crate) fn decide(&self, ops: &[OpRef<'_>]) -> Result<Pending> {
        let shared = &*self.shared;
        let mut inner = lock(&shared.inner);
        if inner.broken {
            return Err(StoreError::Internal(BROKEN));
        }
        if shared.panicked.load(Ordering::SeqCst) {
            return Err(StoreError::Internal(PANICKED));
        }
        let _panic = PanicGuard(&shared.panicked);
        for op in ops {
            let g = op.group();
            if g == ALL_GROUPS && !matches!(op, OpRef::RepairAll) {
                return Err(StoreError::ReservedGroup);
            }
            if op.votes() && Self::blocked(&inner, g) {
                return Err(StoreError::NeedsRepair { group: g });
            }
        }
        // The store is the log's only writer, and appends under this lock:
        // the batch's first record will get exactly this LSN. A batch too
        // large for one record goes into consecutive records (see codec).
        let lsn = shared.wal.last_lsn() + 1;
        // A value's location holds LSNs up to 2^62 (no log appends that
        // many; a forged one could start near there). A batch takes at most
        // a record per operation.
        if lsn.saturating_add(ops.len() as u64) > crate::state::MAX_LSN {
            return Err(StoreError::BadRecord { lsn: lsn - 1, source: crate::codec::DecodeError(LSN_RANGE) });
        }
        let max_payload = shared.wal.max_record_size();
        let mut builders = vec![RecordBuilder::new()];
        let mut undo: Vec<Undo> = Vec::new();
        let mut outcomes = Vec::with_capacity(ops.len());
        let mut replies: Vec<Phase1b> = Vec::new();
        let mut wait_for: Lsn = 0;
        let mut durable_write = false;
        let mut writes = 0u64;
        for op in ops {
            let group = op.group();
            let shard = inner.groups.map.shard_of(group);
            let state = shard.get(&group);
            let (promise_lsn, first_live_lsn) = state.map_or((0, 0), |g| (g.promise_lsn, g.first_live_lsn()));
            let decision = rules::decide(op, state);
            drop(shard);
            match decision.depends_on {
                DependsOn::Nothing => {}
                DependsOn::Promise => wait_for = wait_for.max(promise_lsn),
                DependsOn::Truncation => wait_for = wait_for.max(first_live_lsn),
                DependsOn::EverythingBefore => wait_for = wait_for.max(lsn - 1),
            }
            if let Some(w) = decision.write {
                let put;
                let value: &[u8] = match w.body {
                    Body::Empty => &[],
                    Body::Bytes(b) => b,
                    Body::Values(values) => {
                        put = put_body(values);
                        &put
                    }
                };
                // Into the current record, or a new one when it is full.
                let full = builders
                    .last()
                    .is_some_and(|b| !b.is_empty() && b.len() + OP_HEADER_LEN + value.len() > max_payload);
                if full {
                    builders.push(RecordBuilder::new());
                }
                let at = lsn + builders.len() as u64 - 1;
                let builder = builders.last_mut().expect("one builder at least");
                let off = builder.push(w.kind, group, w.slot, w.ballot, value);
                let stored =
                    StoredOp { kind: w.kind, group, slot: w.slot, ballot: w.ballot, value: (off, value.len() as u32) };
                for op in expand(&stored, builder.bytes()) {
                    inner.groups.apply(&op, at, Some(&mut undo));
                }
                writes += 1;
                durable_write |= w.durable;
            }
            if let Some(from_slot) = decision.phase1b_from {
                // Phase-1b contents as of this point of the batch (after the
                // promise's own write); the values are read below, unlocked.
                // A value in a checkpoint image is taken here, under the
                // shard's lock: once that is released a checkpoint can point
                // the shard at its own image and let this one go (it takes
                // the shard's lock to repoint, and lets old images go only
                // after every shard was repointed).
                let entries = inner
                    .groups
                    .map
                    .get(group, |st| {
                        st.slots()[st.index_at_or_after(from_slot)..]
                            .iter()
                            .map(|e| {
                                let image = e.value().lsn().is_none();
                                let value = image.then(|| Value::try_resolve(&e.value(), &shared.wal, &shared.images));
                                (*e, value.and_then(|v| v.ok().flatten()))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let Outcome::Promise(PromiseOutcome::Granted { first_live_slot, .. }) = decision.outcome else {
                    unreachable!("only a granted promise carries phase 1b")
                };
                replies.push(Phase1b { at: outcomes.len(), group, entries, first_live_slot });
            }
            outcomes.push(decision.outcome);
        }
        if !builders[0].is_empty() {
            let n = builders.len();
            let payloads: Vec<Vec<u8>> = builders
                .into_iter()
                .enumerate()
                .map(|(i, b)| {
                    let continuation = if i > 0 { CONTINUATION } else { 0 };
                    let continues = if i + 1 < n { CONTINUES } else { 0 };
                    b.finish_with(continuation | continues)
                })
                .collect();
            let last = match shared.wal.append_batch(payloads.iter().map(|p| p.as_slice())) {
                Ok(got) if got.start == lsn => {
                    inner.groups.settle(&undo);
                    got.end - 1
                }
                Ok(_) => {
                    // Someone else appended (no handle to the log leaves
                    // the crate, so only a bug can): the state just applied
                    // points at the wrong records. Take it back and refuse
                    // every later write; a reopen replays the log as it is.
                    inner.groups.undo(undo);
                    inner.broken = true;
                    return Err(StoreError::Internal(BROKEN));
                }
                Err(e) => {
                    inner.groups.undo(undo);
                    return Err(e.into());
                }
            };
            shared.records.fetch_add(n as u64, Ordering::Relaxed);
            shared.writes.fetch_add(writes, Ordering::Relaxed);
            if durable_write {
                wait_for = wait_for.max(last);
            }
        }
        // The replies' values are read with the store lock released: one
        // appended but not yet written out (still in the log's group-commit
        // buffer, maybe this batch's own) makes the read write the buffer
        // out, which waits for the log's I/O, i.e. for a sync in progress.
        // The locations were taken above, as of this point of the log, and
        // records never change; the pin keeps a checkpoint from deleting
        // them meanwhile. Values in a checkpoint image were taken above.
        let oldest = replies.iter().flat_map(|r| &r.entries).filter_map(|(e, _)| e.value().lsn()).min();
        let _pin = oldest.map(|lsn| LogPin::new(&shared.pins, lsn));
        drop(inner);
        for Phase1b { at: i, group, entries, first_live_slot } in replies {
            let accepted = entries
                .into_iter()
                .map(|(e, taken)| {
                    let value = match (taken, e.value().lsn()) {
                        (Some(value), _) => value,
                        (None, Some(_)) => self.resolve(group, &e.value())?,
                        (None, None) => return Err(StoreError::MissingValue { group }),
                    };
                    Ok(AcceptedEntry { slot: e.slot, ballot: e.ballot, value, chosen: e.chosen() })
                })
                .collect::<Result<Vec<_>>>()?;
            outcomes[i] = Outcome::Promise(PromiseOutcome::Granted { accepted, first_live_slot });
        }
        Ok(Pending { outcomes, wait_for })
    }
}
