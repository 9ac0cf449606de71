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
use std::sync::{Arc, Mutex, MutexGuard};

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

/// Groups are kept in this many shards, by a fixed hash of their id
/// ([`shard_of`]), so that a checkpoint can copy them out a shard at a time,
/// taking the store lock for a few microseconds each (see
/// [`crate::AcceptorStore::checkpoint`]). The shard of a group is part of
/// the checkpoint format: changing it changes the image's version.
pub(crate) const SHARD_BITS: u32 = 12;
pub(crate) const SHARDS: usize = 1 << SHARD_BITS;

/// The shard of `id` (a Fibonacci hash: ids that are consecutive, as most
/// users number their groups, spread evenly).
pub(crate) fn shard_of(id: GroupId) -> usize {
    (id.0.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SHARD_BITS)) as usize
}

/// The groups of one shard (it derefs to them).
#[derive(Debug, Default)]
pub(crate) struct Shard {
    groups: HashMap<GroupId, Group>,
    /// A write was applied here whose record is not appended yet (it may
    /// still be undone): a checkpoint does not point this shard's values at
    /// its image meanwhile, or an undo could bring back a location it
    /// already moved. Set by [`Groups::apply`] with an undo log, cleared by
    /// [`Groups::settle`] or [`Groups::undo`].
    pub unsettled: bool,
}

impl std::ops::Deref for Shard {
    type Target = HashMap<GroupId, Group>;
    fn deref(&self) -> &Self::Target {
        &self.groups
    }
}

impl std::ops::DerefMut for Shard {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.groups
    }
}

/// Every group, in [`SHARDS`] hash maps, each behind its own lock.
///
/// Every change and every read of the store goes through the store lock
/// first, so these locks are never contended by callers: only a checkpoint
/// takes one without the store lock (it copies a shard out, or points a
/// shard's values at its image, while callers go on with the other 4095).
/// Lock order: the store lock, then at most one shard; never the store
/// lock while holding a shard. Cloning the map clones the handle.
#[derive(Clone, Debug)]
pub(crate) struct GroupMap {
    shards: Arc<[Mutex<Shard>]>,
}

impl Default for GroupMap {
    fn default() -> Self {
        GroupMap { shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect() }
    }
}

impl GroupMap {
    /// The shard holding `id`, locked.
    pub fn shard_of(&self, id: GroupId) -> MutexGuard<'_, Shard> {
        self.shard(shard_of(id))
    }

    /// Shard `i`, locked.
    pub fn shard(&self, i: usize) -> MutexGuard<'_, Shard> {
        self.shards[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `f` of group `id`, if it exists.
    pub fn get<R>(&self, id: GroupId, f: impl FnOnce(&Group) -> R) -> Option<R> {
        self.shard_of(id).get(&id).map(f)
    }

    pub fn insert(&self, id: GroupId, group: Group) -> Option<Group> {
        self.shard_of(id).insert(id, group)
    }

    /// How many groups (sums the shards).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        (0..SHARDS).map(|i| self.shard(i).len()).sum()
    }

    /// Every group id, in no particular order.
    pub fn keys(&self) -> Vec<GroupId> {
        let mut ids = Vec::new();
        for i in 0..SHARDS {
            ids.extend(self.shard(i).keys().copied());
        }
        ids
    }
}

impl Undo {
    /// The group whose shard the undone write changed (none for a repair).
    fn group(&self) -> Option<GroupId> {
        match self {
            Undo::Created(group)
            | Undo::Scalars { group, .. }
            | Undo::Slot { group, .. }
            | Undo::Drained { group, .. }
            | Undo::DroppedTail { group, .. }
            | Undo::Meta { group, .. }
            | Undo::Removed { group, .. } => Some(*group),
            Undo::Repair { .. } => None,
        }
    }
}

/// Every group.
#[derive(Debug, Default)]
pub(crate) struct Groups {
    pub map: GroupMap,
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

fn group_mut<'a>(
    map: &'a mut HashMap<GroupId, Group>,
    id: GroupId,
    undo: &mut Option<&mut Vec<Undo>>,
) -> &'a mut Group {
    use std::collections::hash_map::Entry;
    match map.entry(id) {
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

impl Groups {
    /// Apply one operation that was written in record `lsn` (already checked
    /// against the acceptor rules when it was written). With `undo`, record
    /// how to take it back.
    pub fn apply(&mut self, op: &StoredOp, lsn: Lsn, mut undo: Option<&mut Vec<Undo>>) {
        if op.kind == Kind::Repair {
            self.repair(op.group, undo);
            return;
        }
        let mut shard = self.map.shard_of(op.group);
        let undone_before = undo.as_ref().map_or(0, |u| u.len());
        let map = &mut shard.groups;
        match op.kind {
            Kind::Promise => {
                let g = group_mut(map, op.group, &mut undo);
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
                let g = group_mut(map, op.group, &mut undo);
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
                if let Some(u) = undo.as_mut() {
                    u.push(Undo::Slot { group: op.group, slot: op.slot, before });
                }
            }
            Kind::MarkChosen => {
                if let Some(g) = map.get_mut(&op.group) {
                    if let Ok(i) = g.find(op.slot) {
                        if let Some(u) = undo.as_mut() {
                            u.push(Undo::Slot { group: op.group, slot: op.slot, before: Some(g.slots[i].clone()) });
                        }
                        g.slots[i].chosen = true;
                    }
                }
            }
            Kind::TruncateBelow => {
                let g = group_mut(map, op.group, &mut undo);
                if op.slot > g.first_live {
                    g.first_live = op.slot;
                    g.first_live_lsn = lsn;
                    let n = g.index_at_or_after(op.slot);
                    let drained: Vec<SlotEntry> = g.slots.drain(..n).collect();
                    if let Some(u) = undo.as_mut() {
                        u.push(Undo::Drained { group: op.group, slots: drained });
                    }
                }
            }
            Kind::DropFrom => {
                let g = group_mut(map, op.group, &mut undo);
                let n = g.index_at_or_after(op.slot);
                let dropped: Vec<SlotEntry> = g.slots.drain(n..).collect();
                if let Some(u) = undo.as_mut() {
                    u.push(Undo::DroppedTail { group: op.group, slots: dropped });
                }
            }
            Kind::SetMeta => {
                let g = group_mut(map, op.group, &mut undo);
                let loc = ValueLoc::Log { lsn, off: op.value.0, len: op.value.1 };
                let before = g.set_meta(op.key(), Some(loc));
                if let Some(u) = undo.as_mut() {
                    u.push(Undo::Meta { group: op.group, key: op.key(), before });
                }
            }
            Kind::RemoveGroup => {
                if let Some(state) = map.remove(&op.group) {
                    if let Some(u) = undo.as_mut() {
                        u.push(Undo::Removed { group: op.group, state });
                    }
                }
            }
            Kind::Repair => {} // above
        }
        if undo.is_some_and(|u| u.len() > undone_before) {
            shard.unsettled = true;
        }
    }

    fn repair(&mut self, group: GroupId, undo: Option<&mut Vec<Undo>>) {
        if group == ALL_GROUPS {
            if let Some(u) = undo {
                u.push(Undo::Repair { all: true, group: None, was: self.repaired_all });
            }
            self.repaired_all = true;
        } else {
            let was = !self.repaired.insert(group);
            if let Some(u) = undo {
                u.push(Undo::Repair { all: false, group: Some(group), was });
            }
        }
    }

    /// The records of the writes in `undo` were appended: nothing of them
    /// will be undone.
    pub fn settle(&self, undo: &[Undo]) {
        for u in undo {
            if let Some(group) = u.group() {
                self.map.shard_of(group).unsettled = false;
            }
        }
    }

    /// Take back operations, newest first.
    pub fn undo(&mut self, undo: Vec<Undo>) {
        let groups: Vec<GroupId> = undo.iter().filter_map(Undo::group).collect();
        for u in undo.into_iter().rev() {
            match u {
                Undo::Created(id) => {
                    self.map.shard_of(id).remove(&id);
                }
                Undo::Scalars { group, promised, promised_from, promise_lsn, first_live, first_live_lsn } => {
                    let mut shard = self.map.shard_of(group);
                    let g = shard.entry(group).or_default();
                    g.promised = promised;
                    g.promised_from = promised_from;
                    g.promise_lsn = promise_lsn;
                    g.first_live = first_live;
                    g.first_live_lsn = first_live_lsn;
                }
                Undo::Slot { group, slot, before } => {
                    let mut shard = self.map.shard_of(group);
                    let g = shard.entry(group).or_default();
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
                    let mut shard = self.map.shard_of(group);
                    let g = shard.entry(group).or_default();
                    slots.append(&mut g.slots);
                    g.slots = slots;
                }
                Undo::DroppedTail { group, mut slots } => {
                    self.map.shard_of(group).entry(group).or_default().slots.append(&mut slots);
                }
                Undo::Meta { group, key, before } => {
                    self.map.shard_of(group).entry(group).or_default().set_meta(key, before);
                }
                Undo::Removed { group, state } => {
                    self.map.shard_of(group).insert(group, state);
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
        for group in groups {
            self.map.shard_of(group).unsettled = false;
        }
    }
}
