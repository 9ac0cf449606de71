//! The in-memory acceptor state of every group, and the one function that
//! changes it ([`Groups::apply`]), used both live and during replay so the
//! two can never disagree.
//!
//! Values are not copied onto the heap: a slot remembers where its value is,
//! either in a log record (read zero-copy from the mapped segment) or in the
//! in-memory image of the last checkpoint.

use crate::codec::{Kind, StoredOp};
use crate::types::{Ballot, GroupId, Slot};
use paxos_wal::Lsn;
use std::collections::HashMap;
use std::sync::Arc;

/// Where a value lives.
#[derive(Clone, Debug)]
pub(crate) enum ValueLoc {
    /// Bytes `[off, off + len)` of the payload of log record `lsn`.
    Log { lsn: Lsn, off: u32, len: u32 },
    /// Bytes of a checkpoint image held in memory.
    Image { image: Arc<Vec<u8>>, off: u64, len: u32 },
}

impl ValueLoc {
    /// Whether a checkpoint at `position` holds this value: it was written
    /// at or before it, or it already lives in an (older) image.
    pub fn covered_by(&self, position: Lsn) -> bool {
        match self {
            ValueLoc::Log { lsn, .. } => *lsn <= position,
            ValueLoc::Image { .. } => true,
        }
    }
}

/// One accepted slot.
#[derive(Clone, Debug)]
pub(crate) struct SlotEntry {
    pub slot: Slot,
    pub ballot: Ballot,
    pub value: ValueLoc,
    pub chosen: bool,
}

/// The acceptor state of one group.
#[derive(Clone, Debug, Default)]
pub(crate) struct Group {
    pub promised: Ballot,
    pub promised_from: Slot,
    /// The record that raised `promised` (what a rejection depends on).
    pub promise_lsn: Lsn,
    /// Slots below this are truncated.
    pub first_live: Slot,
    /// The record that last raised `first_live` (what a `Truncated` reply
    /// depends on); 0 after a checkpoint restore, which is durable.
    pub first_live_lsn: Lsn,
    /// Accepted slots, sorted by slot.
    pub slots: Vec<SlotEntry>,
    /// Raw per-group metadata (`Op::SetMeta`), sorted by key; boxed so a
    /// group without any costs one pointer.
    pub meta: Option<Box<[(u64, ValueLoc)]>>,
}

impl Group {
    pub fn find(&self, slot: Slot) -> Result<usize, usize> {
        // Logs grow at the end: answer that case without a search.
        match self.slots.last() {
            None => Err(0),
            Some(last) if last.slot < slot => Err(self.slots.len()),
            Some(last) if last.slot == slot => Ok(self.slots.len() - 1),
            Some(_) => self.slots.binary_search_by_key(&slot, |e| e.slot),
        }
    }

    pub fn index_at_or_after(&self, slot: Slot) -> usize {
        self.slots.partition_point(|e| e.slot < slot)
    }

    /// The metadata entries, sorted by key.
    pub fn meta(&self) -> &[(u64, ValueLoc)] {
        self.meta.as_deref().unwrap_or(&[])
    }

    /// Set `key` (`None`: unset it); returns what it held. Replacing a
    /// value (the common case) does not reallocate.
    fn set_meta(&mut self, key: u64, value: Option<ValueLoc>) -> Option<ValueLoc> {
        let found = self.meta().binary_search_by_key(&key, |e| e.0);
        match (found, value) {
            (Ok(i), Some(v)) => {
                let m = self.meta.as_deref_mut().expect("found in it");
                Some(std::mem::replace(&mut m[i].1, v))
            }
            (Ok(i), None) => {
                let mut m = self.meta.take().expect("found in it").into_vec();
                let before = m.remove(i).1;
                self.meta = (!m.is_empty()).then(|| m.into_boxed_slice());
                Some(before)
            }
            (Err(i), Some(v)) => {
                let mut m = self.meta.take().map(|m| m.into_vec()).unwrap_or_default();
                m.insert(i, (key, v));
                self.meta = Some(m.into_boxed_slice());
                None
            }
            (Err(_), None) => None,
        }
    }
}

/// How to take back one applied operation (a batch whose record could not
/// be appended is undone, in reverse order).
#[derive(Debug)]
pub(crate) enum Undo {
    /// The group did not exist.
    Created(GroupId),
    /// The group's scalar fields before.
    Scalars {
        group: GroupId,
        promised: Ballot,
        promised_from: Slot,
        promise_lsn: Lsn,
        first_live: Slot,
        first_live_lsn: Lsn,
    },
    /// A slot before (None: it was empty).
    Slot { group: GroupId, slot: Slot, before: Option<SlotEntry> },
    /// Slots dropped by a truncation.
    Drained { group: GroupId, slots: Vec<SlotEntry> },
    /// Slots dropped from the end (`DropFrom`).
    DroppedTail { group: GroupId, slots: Vec<SlotEntry> },
    /// A metadata key before (None: unset).
    Meta { group: GroupId, key: u64, before: Option<ValueLoc> },
    /// A removed group.
    Removed { group: GroupId, state: Group },
    /// The repair marks before.
    Repair { all: bool, group: Option<GroupId>, was: bool },
}

/// Every group.
#[derive(Debug, Default)]
pub(crate) struct Groups {
    pub map: HashMap<GroupId, Group>,
    /// Groups repaired after damage (see [`crate::AcceptorStore::repair_group`]).
    pub repaired: std::collections::HashSet<GroupId>,
    /// Every group was repaired.
    pub repaired_all: bool,
}

/// The group id a `Repair` record uses to mean "every group". It is
/// reserved: the store refuses every operation naming it, and a record or
/// checkpoint that names it for anything but a repair does not decode, so
/// no real group can have it.
pub(crate) const ALL_GROUPS: GroupId = GroupId(u64::MAX);

impl Groups {
    fn group_mut(&mut self, id: GroupId, undo: &mut Option<&mut Vec<Undo>>) -> &mut Group {
        use std::collections::hash_map::Entry;
        match self.map.entry(id) {
            Entry::Occupied(e) => {
                if let Some(u) = undo {
                    let g = e.get();
                    u.push(Undo::Scalars {
                        group: id,
                        promised: g.promised,
                        promised_from: g.promised_from,
                        promise_lsn: g.promise_lsn,
                        first_live: g.first_live,
                        first_live_lsn: g.first_live_lsn,
                    });
                }
                e.into_mut()
            }
            Entry::Vacant(e) => {
                if let Some(u) = undo {
                    u.push(Undo::Created(id));
                }
                e.insert(Group::default())
            }
        }
    }

    /// Apply one operation that was written in record `lsn` (already checked
    /// against the acceptor rules when it was written). With `undo`, record
    /// how to take it back.
    pub fn apply(&mut self, op: &StoredOp, lsn: Lsn, mut undo: Option<&mut Vec<Undo>>) {
        match op.kind {
            Kind::Promise => {
                let g = self.group_mut(op.group, &mut undo);
                if op.ballot >= g.promised {
                    g.promised = op.ballot;
                    g.promised_from = op.slot;
                    g.promise_lsn = lsn;
                }
            }
            // An accept raises the promise and keeps a chosen mark; a raw
            // put does neither.
            Kind::Accept | Kind::Put => {
                let accept = op.kind == Kind::Accept;
                let g = self.group_mut(op.group, &mut undo);
                if op.slot < g.first_live {
                    return;
                }
                if accept && op.ballot > g.promised {
                    // Accepting a ballot implies promising it.
                    g.promised = op.ballot;
                    g.promise_lsn = lsn;
                }
                let entry = SlotEntry {
                    slot: op.slot,
                    ballot: op.ballot,
                    value: ValueLoc::Log { lsn, off: op.value.0, len: op.value.1 },
                    chosen: false,
                };
                let before = match g.find(op.slot) {
                    Ok(i) => {
                        let chosen = accept && g.slots[i].chosen;
                        Some(std::mem::replace(&mut g.slots[i], SlotEntry { chosen, ..entry }))
                    }
                    Err(i) => {
                        if g.slots.is_empty() {
                            // Most groups of a lightweight-transaction user hold
                            // one slot: do not let Vec round the first
                            // allocation up to four entries.
                            g.slots.reserve_exact(1);
                        }
                        g.slots.insert(i, entry);
                        None
                    }
                };
                if let Some(u) = undo {
                    u.push(Undo::Slot { group: op.group, slot: op.slot, before });
                }
            }
            Kind::MarkChosen => {
                if let Some(g) = self.map.get_mut(&op.group) {
                    if let Ok(i) = g.find(op.slot) {
                        if let Some(u) = undo {
                            u.push(Undo::Slot { group: op.group, slot: op.slot, before: Some(g.slots[i].clone()) });
                        }
                        g.slots[i].chosen = true;
                    }
                }
            }
            Kind::TruncateBelow => {
                let g = self.group_mut(op.group, &mut undo);
                if op.slot > g.first_live {
                    g.first_live = op.slot;
                    g.first_live_lsn = lsn;
                    let n = g.index_at_or_after(op.slot);
                    let drained: Vec<SlotEntry> = g.slots.drain(..n).collect();
                    if let Some(u) = undo {
                        u.push(Undo::Drained { group: op.group, slots: drained });
                    }
                }
            }
            Kind::DropFrom => {
                let g = self.group_mut(op.group, &mut undo);
                let n = g.index_at_or_after(op.slot);
                let dropped: Vec<SlotEntry> = g.slots.drain(n..).collect();
                if let Some(u) = undo {
                    u.push(Undo::DroppedTail { group: op.group, slots: dropped });
                }
            }
            Kind::SetMeta => {
                let g = self.group_mut(op.group, &mut undo);
                let loc = ValueLoc::Log { lsn, off: op.value.0, len: op.value.1 };
                let before = g.set_meta(op.key(), Some(loc));
                if let Some(u) = undo {
                    u.push(Undo::Meta { group: op.group, key: op.key(), before });
                }
            }
            Kind::RemoveGroup => {
                if let Some(state) = self.map.remove(&op.group) {
                    if let Some(u) = undo {
                        u.push(Undo::Removed { group: op.group, state });
                    }
                }
            }
            Kind::Repair => {
                if op.group == ALL_GROUPS {
                    if let Some(u) = undo {
                        u.push(Undo::Repair { all: true, group: None, was: self.repaired_all });
                    }
                    self.repaired_all = true;
                } else {
                    let was = !self.repaired.insert(op.group);
                    if let Some(u) = undo {
                        u.push(Undo::Repair { all: false, group: Some(op.group), was });
                    }
                }
            }
        }
    }

    /// Take back operations, newest first.
    pub fn undo(&mut self, undo: Vec<Undo>) {
        for u in undo.into_iter().rev() {
            match u {
                Undo::Created(id) => {
                    self.map.remove(&id);
                }
                Undo::Scalars { group, promised, promised_from, promise_lsn, first_live, first_live_lsn } => {
                    let g = self.map.entry(group).or_default();
                    g.promised = promised;
                    g.promised_from = promised_from;
                    g.promise_lsn = promise_lsn;
                    g.first_live = first_live;
                    g.first_live_lsn = first_live_lsn;
                }
                Undo::Slot { group, slot, before } => {
                    let g = self.map.entry(group).or_default();
                    match (g.find(slot), before) {
                        (Ok(i), Some(b)) => g.slots[i] = b,
                        (Ok(i), None) => {
                            g.slots.remove(i);
                        }
                        (Err(i), Some(b)) => g.slots.insert(i, b),
                        (Err(_), None) => {}
                    }
                }
                Undo::Drained { group, mut slots } => {
                    let g = self.map.entry(group).or_default();
                    slots.append(&mut g.slots);
                    g.slots = slots;
                }
                Undo::DroppedTail { group, mut slots } => {
                    self.map.entry(group).or_default().slots.append(&mut slots);
                }
                Undo::Meta { group, key, before } => {
                    self.map.entry(group).or_default().set_meta(key, before);
                }
                Undo::Removed { group, state } => {
                    self.map.insert(group, state);
                }
                Undo::Repair { all, group, was } => {
                    if all {
                        self.repaired_all = was;
                    } else if let (Some(g), false) = (group, was) {
                        self.repaired.remove(&g);
                    }
                }
            }
        }
    }
}
