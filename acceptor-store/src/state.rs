//! The in-memory acceptor state of every group, and the one function that
//! changes it ([`Groups::apply`]), used both live and during replay so the
//! two can never disagree.
//!
//! Values are not copied onto the heap: a slot remembers where its value is,
//! either in a log record (read zero-copy from the mapped segment) or in the
//! in-memory image of the last checkpoint.

use crate::codec::{Kind, StoredOp};
use crate::types::{Ballot, GroupId, Slot};
use hashbrown::HashTable;
use paxos_wal::Lsn;
use std::hash::BuildHasher;
use std::num::NonZeroU64;
use std::sync::{Arc, Mutex, MutexGuard};

/// Which in-memory checkpoint image a value lives in (see
/// [`crate::value::Images`]).
pub(crate) type ImageId = u32;

/// Where a value lives, in 16 bytes: a million groups hold a million of
/// these. Read it with [`ValueLoc::get`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct ValueLoc {
    /// A log record's LSN (never 0: LSNs start at 1), or [`IMAGE`] and an
    /// offset in an image. Bit 62 ([`MARK`]) is left to [`SlotEntry`].
    word: NonZeroU64,
    /// Log: the value's offset in the record's payload. Image: its id.
    a: u32,
    len: u32,
}

const IMAGE: u64 = 1 << 63;
const MARK: u64 = 1 << 62;
const FIELD: u64 = MARK - 1;

/// The LSNs a value location can name: replay refuses a log that goes
/// beyond (no log gets there by appending: 2^62 records).
pub(crate) const MAX_LSN: Lsn = FIELD;

/// A [`ValueLoc`], unpacked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Loc {
    /// Bytes `[off, off + len)` of the payload of log record `lsn`.
    Log { lsn: Lsn, off: u32, len: u32 },
    /// Bytes `[off, off + len)` of the in-memory checkpoint image `image`.
    Image { image: ImageId, off: u64, len: u32 },
}

impl ValueLoc {
    /// In the payload of record `lsn` (`1..=MAX_LSN`).
    pub fn log(lsn: Lsn, off: u32, len: u32) -> Self {
        assert!((1..=MAX_LSN).contains(&lsn), "LSN {lsn} out of range");
        ValueLoc { word: NonZeroU64::new(lsn).expect("checked"), a: off, len }
    }

    /// In image `image`, at `off` (an image is a `Vec`, far below 2^62 bytes).
    pub fn image(image: ImageId, off: u64, len: u32) -> Self {
        assert!(off <= FIELD, "image offset {off} out of range");
        ValueLoc { word: NonZeroU64::new(IMAGE | off).expect("IMAGE is set"), a: image, len }
    }

    pub fn get(self) -> Loc {
        let w = self.word.get();
        if w & IMAGE == 0 {
            Loc::Log { lsn: w & FIELD, off: self.a, len: self.len }
        } else {
            Loc::Image { image: self.a, off: w & FIELD, len: self.len }
        }
    }

    /// The record holding the value, if it is in the log.
    pub fn lsn(self) -> Option<Lsn> {
        match self.get() {
            Loc::Log { lsn, .. } => Some(lsn),
            Loc::Image { .. } => None,
        }
    }

    /// Whether a checkpoint at `position` holds this value: it was written
    /// at or before it, or it already lives in an (older) image.
    pub fn covered_by(self, position: Lsn) -> bool {
        self.lsn().is_none_or(|lsn| lsn <= position)
    }

    fn marked(self) -> bool {
        self.word.get() & MARK != 0
    }

    fn with_mark(self, mark: bool) -> Self {
        let w = if mark { self.word.get() | MARK } else { self.word.get() & !MARK };
        ValueLoc { word: NonZeroU64::new(w).expect("the LSN or IMAGE bit is set"), ..self }
    }
}

impl std::fmt::Debug for ValueLoc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.get().fmt(f)
    }
}

/// One accepted slot, in 40 bytes (the chosen mark rides in the value
/// location's spare bit).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct SlotEntry {
    pub slot: Slot,
    pub ballot: Ballot,
    loc: ValueLoc,
}

impl SlotEntry {
    pub fn new(slot: Slot, ballot: Ballot, value: ValueLoc, chosen: bool) -> Self {
        SlotEntry { slot, ballot, loc: value.with_mark(chosen) }
    }

    pub fn value(&self) -> ValueLoc {
        self.loc.with_mark(false)
    }

    /// Keeps the chosen mark.
    pub fn set_value(&mut self, value: ValueLoc) {
        self.loc = value.with_mark(self.chosen());
    }

    pub fn chosen(&self) -> bool {
        self.loc.marked()
    }

    pub fn set_chosen(&mut self, chosen: bool) {
        self.loc = self.loc.with_mark(chosen);
    }
}

impl std::fmt::Debug for SlotEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlotEntry")
            .field("slot", &self.slot)
            .field("ballot", &self.ballot)
            .field("value", &self.value())
            .field("chosen", &self.chosen())
            .finish()
    }
}

/// The acceptor state of one group, in 72 bytes.
///
/// Most groups of a lightweight-transaction user (a group per key) have
/// been promised, hold one slot and nothing else: that much is kept
/// inline. Anything more (a second slot, a truncation, a promise from a
/// slot other than 0, metadata) moves the group's slots and the rest to
/// [`More`], on the heap.
#[derive(Clone, Debug, Default)]
pub(crate) struct Group {
    pub promised: Ballot,
    /// The record that raised `promised` (what a rejection depends on).
    pub promise_lsn: Lsn,
    /// The one slot, while `more` is `None`.
    one: Option<SlotEntry>,
    more: Option<Box<More>>,
}

/// What a [`Group`] holds beyond one slot and its promise.
#[derive(Clone, Debug, Default)]
struct More {
    promised_from: Slot,
    /// Slots below this are truncated.
    first_live: Slot,
    /// The record that last raised `first_live` (what a `Truncated` reply
    /// depends on); 0 after a checkpoint restore, which is durable.
    first_live_lsn: Lsn,
    /// Accepted slots, sorted by slot.
    slots: Vec<SlotEntry>,
    /// Raw per-group metadata (`Op::SetMeta`), sorted by key.
    meta: Vec<(u64, ValueLoc)>,
}

// Issue #17's budget: 96 bytes of index per single-slot group at 10^6 groups.
const _: () = assert!(std::mem::size_of::<Option<SlotEntry>>() == 40);
const _: () = assert!(std::mem::size_of::<Group>() == 72);

impl Group {
    /// A group from its parts (a checkpoint's), kept inline if it fits.
    pub fn from_parts(
        promised: Ballot,
        promised_from: Slot,
        first_live: Slot,
        slots: Vec<SlotEntry>,
        meta: Vec<(u64, ValueLoc)>,
    ) -> Group {
        let mut g = Group { promised, ..Group::default() };
        if promised_from == Slot(0) && first_live == Slot(0) && slots.len() <= 1 && meta.is_empty() {
            g.one = slots.into_iter().next();
        } else {
            g.more = Some(Box::new(More { promised_from, first_live, first_live_lsn: 0, slots, meta }));
        }
        g
    }

    fn more_mut(&mut self) -> &mut More {
        let one = &mut self.one;
        self.more.get_or_insert_with(|| Box::new(More { slots: one.take().into_iter().collect(), ..More::default() }))
    }

    /// The slot the last promise started from.
    pub fn promised_from(&self) -> Slot {
        self.more.as_ref().map_or(Slot(0), |m| m.promised_from)
    }

    /// Slots below this are truncated.
    pub fn first_live(&self) -> Slot {
        self.more.as_ref().map_or(Slot(0), |m| m.first_live)
    }

    /// The record that last raised [`Group::first_live`].
    pub fn first_live_lsn(&self) -> Lsn {
        self.more.as_ref().map_or(0, |m| m.first_live_lsn)
    }

    pub fn set_promised_from(&mut self, from: Slot) {
        if from != Slot(0) || self.more.is_some() {
            self.more_mut().promised_from = from;
        }
    }

    pub fn set_first_live(&mut self, first_live: Slot, lsn: Lsn) {
        if first_live != Slot(0) || lsn != 0 || self.more.is_some() {
            let m = self.more_mut();
            m.first_live = first_live;
            m.first_live_lsn = lsn;
        }
    }

    /// Accepted slots, sorted by slot.
    pub fn slots(&self) -> &[SlotEntry] {
        match &self.more {
            Some(m) => &m.slots,
            None => self.one.as_slice(),
        }
    }

    pub fn slots_mut(&mut self) -> &mut [SlotEntry] {
        match &mut self.more {
            Some(m) => &mut m.slots,
            None => self.one.as_mut_slice(),
        }
    }

    /// Put `e` at index `i` (as [`Group::find`] gave it).
    pub fn insert_slot(&mut self, i: usize, e: SlotEntry) {
        if self.more.is_none() && self.one.is_none() {
            debug_assert_eq!(i, 0);
            self.one = Some(e);
        } else {
            self.more_mut().slots.insert(i, e);
        }
    }

    /// Take out the slots at `range` (indexes).
    pub fn drain_slots(&mut self, range: std::ops::Range<usize>) -> Vec<SlotEntry> {
        if range.is_empty() {
            return Vec::new();
        }
        match &mut self.more {
            Some(m) => m.slots.drain(range).collect(),
            None => {
                debug_assert_eq!(range, 0..1);
                self.one.take().into_iter().collect()
            }
        }
    }

    /// Put `slots`, all below the group's, before them.
    pub fn prepend_slots(&mut self, mut slots: Vec<SlotEntry>) {
        if !slots.is_empty() {
            let m = self.more_mut();
            slots.append(&mut m.slots);
            m.slots = slots;
        }
    }

    /// Put `slots`, all above the group's, after them.
    pub fn append_slots(&mut self, mut slots: Vec<SlotEntry>) {
        match slots.len() {
            0 => {}
            1 if self.more.is_none() && self.one.is_none() => self.one = slots.pop(),
            _ => self.more_mut().slots.append(&mut slots),
        }
    }

    pub fn find(&self, slot: Slot) -> Result<usize, usize> {
        let slots = self.slots();
        // Logs grow at the end: answer that case without a search.
        match slots.last() {
            None => Err(0),
            Some(last) if last.slot < slot => Err(slots.len()),
            Some(last) if last.slot == slot => Ok(slots.len() - 1),
            Some(_) => slots.binary_search_by_key(&slot, |e| e.slot),
        }
    }

    pub fn index_at_or_after(&self, slot: Slot) -> usize {
        self.slots().partition_point(|e| e.slot < slot)
    }

    /// The metadata entries, sorted by key.
    pub fn meta(&self) -> &[(u64, ValueLoc)] {
        self.more.as_ref().map_or(&[], |m| &m.meta)
    }

    pub fn meta_mut(&mut self) -> &mut [(u64, ValueLoc)] {
        self.more.as_mut().map_or(&mut [], |m| &mut m.meta)
    }

    /// Set `key` (`None`: unset it); returns what it held.
    fn set_meta(&mut self, key: u64, value: Option<ValueLoc>) -> Option<ValueLoc> {
        let found = self.meta().binary_search_by_key(&key, |e| e.0);
        match (found, value) {
            (Ok(i), Some(v)) => Some(std::mem::replace(&mut self.meta_mut()[i].1, v)),
            (Ok(i), None) => Some(self.more_mut().meta.remove(i).1),
            (Err(i), Some(v)) => {
                self.more_mut().meta.insert(i, (key, v));
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

/// The groups of one shard, by id: the groups themselves in a dense
/// vector, and a hash table of their positions in it (2 bytes and a control
/// byte per bucket, see [`Index`]), so a group costs its 80 bytes and
/// little more. The vector grows by a sixteenth at a time, not by
/// doubling: doubling leaves a quarter of it unused on average. While the
/// store opens it does double (growing by a sixteenth copies the vector
/// sixteen times over: 10% of a replay's time), and is trimmed once open
/// ([`GroupMap::opened`]).
#[derive(Debug)]
pub(crate) struct GroupTable {
    index: Index,
    entries: Vec<(GroupId, Group)>,
    /// The store is opening: grow by doubling.
    opening: bool,
    /// The hash's key ([`fold`]), random per table.
    key: [u64; 2],
}

/// A keyed hash of a group id: the id and a per-table random key through
/// two folded multiplies (the 128-bit product's halves XORed), the
/// construction of foldhash, hashbrown's default. `std`'s SipHash cost
/// 50-80 ns more per lookup at 10^6 groups (the index is probed on every
/// operation, under the store lock); a random key still keeps ids a user
/// picks from colliding by design.
fn fold(x: u64, key: [u64; 2]) -> u64 {
    let fold = |a: u64, b: u64| {
        let p = u128::from(a) * u128::from(b);
        (p as u64) ^ ((p >> 64) as u64)
    };
    fold(fold(x ^ key[0], 0x243F_6A88_85A3_08D3) ^ key[1], 0x1319_8A2E_0370_7344)
}

/// Positions in a shard's vector of groups, by hash: 2 bytes each while
/// the shard holds at most 65 536 groups (up to about 2.7 x 10^8 groups in
/// all), 4 beyond.
#[derive(Debug)]
enum Index {
    Narrow(HashTable<u16>),
    Wide(HashTable<u32>),
}

impl Index {
    /// The position filed under `hash` for which `eq` holds.
    fn find(&self, hash: u64, mut eq: impl FnMut(usize) -> bool) -> Option<usize> {
        match self {
            Index::Narrow(t) => t.find(hash, |&i| eq(i.into())).map(|&i| i.into()),
            Index::Wide(t) => t.find(hash, |&i| eq(i as usize)).map(|&i| i as usize),
        }
    }

    /// File position `i` under `hash`; `rehash` gives any filed position's
    /// hash (for growing).
    fn insert(&mut self, hash: u64, i: usize, rehash: impl Fn(usize) -> u64) {
        if let Index::Narrow(t) = self {
            match u16::try_from(i) {
                Ok(at) => {
                    t.insert_unique(hash, at, |&j| rehash(j.into()));
                    return;
                }
                Err(_) => {
                    let mut wide = HashTable::with_capacity(t.len() + 1);
                    for &j in t.iter() {
                        wide.insert_unique(rehash(j.into()), u32::from(j), |&k| rehash(k as usize));
                    }
                    *self = Index::Wide(wide);
                }
            }
        }
        let Index::Wide(t) = self else { unreachable!("widened above") };
        let at = u32::try_from(i).expect("fewer than 2^32 groups in a shard");
        t.insert_unique(hash, at, |&j| rehash(j as usize));
    }

    /// Unfile the position filed under `hash` for which `eq` holds.
    fn remove(&mut self, hash: u64, mut eq: impl FnMut(usize) -> bool) -> Option<usize> {
        match self {
            Index::Narrow(t) => t.find_entry(hash, |&i| eq(i.into())).ok().map(|e| e.remove().0.into()),
            Index::Wide(t) => t.find_entry(hash, |&i| eq(i as usize)).ok().map(|e| e.remove().0 as usize),
        }
    }

    /// File position `from`, filed under `hash`, as `to` (below it).
    fn refile(&mut self, hash: u64, from: usize, to: usize) {
        let missing = "every group is indexed";
        match self {
            Index::Narrow(t) => *t.find_mut(hash, |&i| usize::from(i) == from).expect(missing) = to as u16,
            Index::Wide(t) => *t.find_mut(hash, |&i| i as usize == from).expect(missing) = to as u32,
        }
    }
}

impl Default for GroupTable {
    fn default() -> Self {
        let random = std::hash::RandomState::new();
        let key = [random.hash_one(1u64), random.hash_one(2u64)];
        GroupTable { index: Index::Narrow(HashTable::new()), entries: Vec::new(), opening: true, key }
    }
}

impl GroupTable {
    fn hash(&self, id: GroupId) -> u64 {
        fold(id.0, self.key)
    }

    fn position(&self, id: GroupId) -> Option<usize> {
        let entries = &self.entries;
        self.index.find(self.hash(id), |i| entries[i].0 == id)
    }

    pub fn get(&self, id: &GroupId) -> Option<&Group> {
        self.position(*id).map(|i| &self.entries[i].1)
    }

    pub fn get_mut(&mut self, id: &GroupId) -> Option<&mut Group> {
        self.position(*id).map(|i| &mut self.entries[i].1)
    }

    /// Group `id`, created empty if it was not there (then `true`).
    pub fn get_or_create(&mut self, id: GroupId) -> (&mut Group, bool) {
        match self.position(id) {
            Some(i) => (&mut self.entries[i].1, false),
            None => {
                let i = self.push(id, Group::default());
                (&mut self.entries[i].1, true)
            }
        }
    }

    fn push(&mut self, id: GroupId, group: Group) -> usize {
        let i = self.entries.len();
        if i == self.entries.capacity() && !self.opening {
            self.entries.reserve_exact((i / 16).max(4));
        }
        self.entries.push((id, group));
        let hash = self.hash(id);
        let (entries, key) = (&self.entries, self.key);
        self.index.insert(hash, i, |j| fold(entries[j].0 .0, key));
        i
    }

    /// Put `group` in as `id`; returns the group it replaced.
    pub fn insert(&mut self, id: GroupId, group: Group) -> Option<Group> {
        let (g, created) = self.get_or_create(id);
        let before = std::mem::replace(g, group);
        (!created).then_some(before)
    }

    pub fn remove(&mut self, id: &GroupId) -> Option<Group> {
        let hash = self.hash(*id);
        let entries = &self.entries;
        let i = self.index.remove(hash, |i| entries[i].0 == *id)?;
        // The last group moves into the hole: point its index entry there.
        let last = self.entries.len() - 1;
        if i != last {
            self.index.refile(self.hash(self.entries[last].0), last, i);
        }
        Some(self.entries.swap_remove(i).1)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The store is open: trim what doubling left unused to a sixteenth
    /// (glibc shrinks in place), and grow by a sixteenth from now on.
    fn opened(&mut self) {
        self.opening = false;
        let keep = self.entries.len() + self.entries.len() / 16;
        self.entries.shrink_to(keep);
    }

    /// Every group, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&GroupId, &Group)> {
        self.entries.iter().map(|(id, g)| (id, g))
    }

    pub fn keys(&self) -> impl Iterator<Item = &GroupId> {
        self.entries.iter().map(|(id, _)| id)
    }
}

impl std::ops::Index<&GroupId> for GroupTable {
    type Output = Group;
    fn index(&self, id: &GroupId) -> &Group {
        self.get(id).expect("no such group")
    }
}

/// The groups of one shard (it derefs to them).
#[derive(Debug, Default)]
pub(crate) struct Shard {
    groups: GroupTable,
    /// A write was applied here whose record is not appended yet (it may
    /// still be undone): a checkpoint does not point this shard's values at
    /// its image meanwhile, or an undo could bring back a location it
    /// already moved. Set by [`Groups::apply`] with an undo log, cleared by
    /// [`Groups::settle`] or [`Groups::undo`].
    pub unsettled: bool,
}

impl std::ops::Deref for Shard {
    type Target = GroupTable;
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

    /// The store is open (see [`GroupTable`]'s growth).
    pub fn opened(&self) {
        for i in 0..SHARDS {
            self.shard(i).groups.opened();
        }
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

fn group_mut<'a>(table: &'a mut GroupTable, id: GroupId, undo: &mut Option<&mut Vec<Undo>>) -> &'a mut Group {
    let (g, created) = table.get_or_create(id);
    if let Some(u) = undo {
        u.push(if created {
            Undo::Created(id)
        } else {
            Undo::Scalars {
                group: id,
                promised: g.promised,
                promised_from: g.promised_from(),
                promise_lsn: g.promise_lsn,
                first_live: g.first_live(),
                first_live_lsn: g.first_live_lsn(),
            }
        });
    }
    g
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
                    g.set_promised_from(op.slot);
                    g.promise_lsn = lsn;
                }
            }
            // An accept raises the promise and keeps a chosen mark; a raw
            // put does neither.
            Kind::Accept | Kind::Put => {
                let accept = op.kind == Kind::Accept;
                let g = group_mut(map, op.group, &mut undo);
                if op.slot < g.first_live() {
                    return;
                }
                if accept && op.ballot > g.promised {
                    // Accepting a ballot implies promising it.
                    g.promised = op.ballot;
                    g.promise_lsn = lsn;
                }
                let value = ValueLoc::log(lsn, op.value.0, op.value.1);
                let before = match g.find(op.slot) {
                    Ok(i) => {
                        let e = &mut g.slots_mut()[i];
                        let chosen = accept && e.chosen();
                        Some(std::mem::replace(e, SlotEntry::new(op.slot, op.ballot, value, chosen)))
                    }
                    Err(i) => {
                        g.insert_slot(i, SlotEntry::new(op.slot, op.ballot, value, false));
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
                            u.push(Undo::Slot { group: op.group, slot: op.slot, before: Some(g.slots()[i]) });
                        }
                        g.slots_mut()[i].set_chosen(true);
                    }
                }
            }
            Kind::TruncateBelow => {
                let g = group_mut(map, op.group, &mut undo);
                if op.slot > g.first_live() {
                    g.set_first_live(op.slot, lsn);
                    let n = g.index_at_or_after(op.slot);
                    let drained = g.drain_slots(0..n);
                    if let Some(u) = undo.as_mut() {
                        u.push(Undo::Drained { group: op.group, slots: drained });
                    }
                }
            }
            Kind::DropFrom => {
                let g = group_mut(map, op.group, &mut undo);
                let n = g.index_at_or_after(op.slot);
                let dropped = g.drain_slots(n..g.slots().len());
                if let Some(u) = undo.as_mut() {
                    u.push(Undo::DroppedTail { group: op.group, slots: dropped });
                }
            }
            Kind::SetMeta => {
                let g = group_mut(map, op.group, &mut undo);
                let loc = ValueLoc::log(lsn, op.value.0, op.value.1);
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
                    let g = shard.get_or_create(group).0;
                    g.promised = promised;
                    g.set_promised_from(promised_from);
                    g.promise_lsn = promise_lsn;
                    g.set_first_live(first_live, first_live_lsn);
                }
                Undo::Slot { group, slot, before } => {
                    let mut shard = self.map.shard_of(group);
                    let g = shard.get_or_create(group).0;
                    match (g.find(slot), before) {
                        (Ok(i), Some(b)) => g.slots_mut()[i] = b,
                        (Ok(i), None) => {
                            g.drain_slots(i..i + 1);
                        }
                        (Err(i), Some(b)) => g.insert_slot(i, b),
                        (Err(_), None) => {}
                    }
                }
                Undo::Drained { group, slots } => {
                    self.map.shard_of(group).get_or_create(group).0.prepend_slots(slots);
                }
                Undo::DroppedTail { group, slots } => {
                    self.map.shard_of(group).get_or_create(group).0.append_slots(slots);
                }
                Undo::Meta { group, key, before } => {
                    self.map.shard_of(group).get_or_create(group).0.set_meta(key, before);
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[test]
    fn a_value_location_round_trips_and_keeps_the_mark_apart() {
        for (loc, want) in [
            (ValueLoc::log(1, 0, 0), Loc::Log { lsn: 1, off: 0, len: 0 }),
            (ValueLoc::log(MAX_LSN, u32::MAX, u32::MAX), Loc::Log { lsn: MAX_LSN, off: u32::MAX, len: u32::MAX }),
            (ValueLoc::image(0, 0, 0), Loc::Image { image: 0, off: 0, len: 0 }),
            (ValueLoc::image(u32::MAX, FIELD, 7), Loc::Image { image: u32::MAX, off: FIELD, len: 7 }),
        ] {
            assert_eq!(loc.get(), want);
            for chosen in [false, true] {
                let mut e = SlotEntry::new(Slot(9), Ballot::new(2, 3), loc, chosen);
                assert_eq!((e.value().get(), e.chosen()), (want, chosen));
                e.set_chosen(!chosen);
                e.set_value(loc);
                assert_eq!((e.value(), e.chosen()), (loc, !chosen));
            }
        }
        assert!(ValueLoc::log(5, 0, 0).covered_by(5) && !ValueLoc::log(6, 0, 0).covered_by(5));
        assert!(ValueLoc::image(1, 1 << 40, 3).covered_by(0));
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn an_lsn_past_the_range_is_refused() {
        ValueLoc::log(MAX_LSN + 1, 0, 0);
    }

    #[derive(Clone, Debug)]
    enum TableOp {
        Insert(u8, u64),
        Create(u8),
        Remove(u8),
    }

    fn table_op() -> impl Strategy<Value = TableOp> {
        prop_oneof![
            (any::<u8>(), any::<u64>()).prop_map(|(id, v)| TableOp::Insert(id, v)),
            any::<u8>().prop_map(TableOp::Create),
            any::<u8>().prop_map(TableOp::Remove),
        ]
    }

    fn marked(round: u64) -> Group {
        Group { promised: Ballot::new(round, 0), ..Group::default() }
    }

    proptest! {
        /// The table (a dense vector and an index into it, with removal by
        /// swapping the last group into the hole) against a map.
        #[test]
        fn a_group_table_agrees_with_a_map(ops in proptest::collection::vec(table_op(), 1..400)) {
            let mut table = GroupTable::default();
            let mut model: HashMap<GroupId, u64> = HashMap::new();
            for op in ops {
                match op {
                    TableOp::Insert(id, v) => {
                        let id = GroupId(id.into());
                        let before = table.insert(id, marked(v)).map(|g| g.promised.round);
                        prop_assert_eq!(before, model.insert(id, v));
                    }
                    TableOp::Create(id) => {
                        let id = GroupId(id.into());
                        let (g, created) = table.get_or_create(id);
                        prop_assert_eq!(created, !model.contains_key(&id));
                        prop_assert_eq!(g.promised.round, *model.entry(id).or_insert(0));
                    }
                    TableOp::Remove(id) => {
                        let id = GroupId(id.into());
                        prop_assert_eq!(table.remove(&id).map(|g| g.promised.round), model.remove(&id));
                    }
                }
                prop_assert_eq!(table.len(), model.len());
                for id in 0..=255u64 {
                    let id = GroupId(id);
                    prop_assert_eq!(table.get(&id).map(|g| g.promised.round), model.get(&id).copied());
                }
            }
            let mut keys: Vec<GroupId> = table.keys().copied().collect();
            keys.sort();
            let mut want: Vec<GroupId> = model.keys().copied().collect();
            want.sort();
            prop_assert_eq!(keys, want);
        }
    }

    /// While opening a shard doubles its vector; once open it keeps at
    /// most a sixteenth spare, and grows by a sixteenth.
    #[test]
    fn an_opened_shard_keeps_a_sixteenth_spare() {
        let mut table = GroupTable::default();
        for id in 0..600 {
            table.insert(GroupId(id), Group::default());
        }
        assert_eq!(table.entries.capacity(), 1024, "doubling while opening");
        table.opened();
        assert_eq!(table.entries.capacity(), 600 + 600 / 16);
        for id in 600..700 {
            table.insert(GroupId(id), Group::default());
            assert!(table.entries.capacity() <= table.entries.len() + table.entries.len() / 16 + 4);
        }
    }

    /// Past 65 536 groups a shard's index takes 4-byte positions.
    #[test]
    fn a_shard_past_65536_groups_widens_its_index() {
        let mut table = GroupTable::default();
        let n = u64::from(u16::MAX) + 10;
        for id in 0..n {
            assert!(table.insert(GroupId(id), marked(id)).is_none());
        }
        assert!(matches!(table.index, Index::Wide(_)));
        for id in (0..n).step_by(7) {
            assert_eq!(table.remove(&GroupId(id)).map(|g| g.promised.round), Some(id));
        }
        for id in 0..n {
            let want = (id % 7 != 0).then_some(id);
            assert_eq!(table.get(&GroupId(id)).map(|g| g.promised.round), want, "group {id}");
        }
    }

    #[derive(Clone, Debug)]
    enum GroupOp {
        Accept(u8),
        DrainBelow(u8),
        DropFrom(u8),
        Prepend(u8),
        Append(u8),
        From(u8),
        FirstLive(u8),
        Meta(u8, bool),
    }

    fn group_op() -> impl Strategy<Value = GroupOp> {
        prop_oneof![
            4 => any::<u8>().prop_map(|s| GroupOp::Accept(s % 8)),
            1 => any::<u8>().prop_map(|s| GroupOp::DrainBelow(s % 9)),
            1 => any::<u8>().prop_map(|s| GroupOp::DropFrom(s % 9)),
            1 => any::<u8>().prop_map(|n| GroupOp::Prepend(n % 3)),
            1 => any::<u8>().prop_map(|n| GroupOp::Append(n % 3)),
            1 => any::<u8>().prop_map(|s| GroupOp::From(s % 3)),
            1 => any::<u8>().prop_map(|s| GroupOp::FirstLive(s % 3)),
            1 => (any::<u8>(), any::<bool>()).prop_map(|(k, set)| GroupOp::Meta(k % 4, set)),
        ]
    }

    fn entry(slot: u64) -> SlotEntry {
        SlotEntry::new(Slot(slot), Ballot::new(slot, 1), ValueLoc::log(slot + 1, 0, 0), slot % 2 == 0)
    }

    proptest! {
        /// A group's slots, kept inline while it has one and nothing else,
        /// against a plain vector.
        #[test]
        fn a_group_agrees_with_a_vector(ops in proptest::collection::vec(group_op(), 1..60)) {
            let mut g = Group::default();
            let mut slots: Vec<SlotEntry> = Vec::new();
            let mut meta: Vec<(u64, ValueLoc)> = Vec::new();
            let (mut from, mut first_live) = (Slot(0), (Slot(0), 0));
            for op in ops {
                match op {
                    GroupOp::Accept(s) => match g.find(Slot(s.into())) {
                        Ok(i) => {
                            g.slots_mut()[i].set_chosen(true);
                            slots[i].set_chosen(true);
                        }
                        Err(i) => {
                            g.insert_slot(i, entry(s.into()));
                            slots.insert(i, entry(s.into()));
                        }
                    },
                    GroupOp::DrainBelow(s) => {
                        let n = g.index_at_or_after(Slot(s.into()));
                        prop_assert_eq!(g.drain_slots(0..n), slots.drain(..n).collect::<Vec<_>>());
                    }
                    GroupOp::DropFrom(s) => {
                        let n = g.index_at_or_after(Slot(s.into()));
                        prop_assert_eq!(g.drain_slots(n..g.slots().len()), slots.drain(n..).collect::<Vec<_>>());
                    }
                    GroupOp::Prepend(n) => {
                        // Slots below every slot held: 100.. are above them all,
                        // so prepend below the first (or anywhere when empty).
                        let below = slots.first().map_or(3, |e| e.slot.0);
                        let new: Vec<SlotEntry> = (below.saturating_sub(n.into())..below).map(entry).collect();
                        g.prepend_slots(new.clone());
                        slots.splice(0..0, new);
                    }
                    GroupOp::Append(n) => {
                        let above = slots.last().map_or(0, |e| e.slot.0 + 1);
                        let new: Vec<SlotEntry> = (above..above + u64::from(n)).map(entry).collect();
                        g.append_slots(new.clone());
                        slots.extend(new);
                    }
                    GroupOp::From(s) => {
                        from = Slot(s.into());
                        g.set_promised_from(from);
                    }
                    GroupOp::FirstLive(s) => {
                        first_live = (Slot(s.into()), u64::from(s) * 10);
                        g.set_first_live(first_live.0, first_live.1);
                    }
                    GroupOp::Meta(k, set) => {
                        let value = set.then(|| ValueLoc::image(1, k.into(), 1));
                        let before = match (meta.binary_search_by_key(&u64::from(k), |e| e.0), value) {
                            (Ok(i), Some(v)) => Some(std::mem::replace(&mut meta[i].1, v)),
                            (Ok(i), None) => Some(meta.remove(i).1),
                            (Err(i), Some(v)) => {
                                meta.insert(i, (k.into(), v));
                                None
                            }
                            (Err(_), None) => None,
                        };
                        prop_assert_eq!(g.set_meta(k.into(), value), before);
                    }
                }
                prop_assert_eq!(g.slots(), &slots[..]);
                prop_assert_eq!(g.meta(), &meta[..]);
                prop_assert_eq!((g.promised_from(), g.first_live(), g.first_live_lsn()), (from, first_live.0, first_live.1));
            }
            let copy = Group::from_parts(g.promised, g.promised_from(), g.first_live(), slots.clone(), meta.clone());
            prop_assert_eq!(copy.slots(), &slots[..]);
            prop_assert_eq!(copy.meta(), &meta[..]);
            prop_assert_eq!((copy.promised_from(), copy.first_live()), (from, first_live.0));
        }
    }

    /// The budget of issue #17: a group that holds one slot and its promise
    /// takes no heap beyond its 80-byte entry in its shard.
    #[test]
    fn a_single_slot_group_stays_inline() {
        let mut g = Group::default();
        g.set_promised_from(Slot(0));
        g.set_first_live(Slot(0), 0);
        g.insert_slot(0, entry(0));
        g.slots_mut()[0].set_chosen(true);
        assert!(g.more.is_none());
        g.insert_slot(1, entry(1));
        assert!(g.more.is_some() && g.one.is_none());
    }
}
