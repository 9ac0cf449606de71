//! The store's own checkpoint: the acceptor state of every group, written
//! through the snapshot crate, so that log segments before it can be dropped
//! and an idle group never pins old segments.
//!
//! ```text
//! image   = magic "PXACKP02" group{groups} trailer
//! trailer = position{shards}:u64 shards:u32 reserved:u32 groups:u64
//! group   = id:u64 promised_round:u64 promised_node:u64 promised_from:u64
//!           first_live:u64 slots:u32 metas:u32 slot{slots} meta{metas}
//! slot    = slot:u64 round:u64 node:u64 chosen:u8 reserved[3] value_len:u32 value
//! meta    = key:u64 value_len:u32 reserved:u32 value
//! ```
//! (little-endian). The snapshot file around it carries the checksums.
//!
//! A checkpoint copies the groups out one shard at a time
//! ([`crate::state::shard_of`]), so the shards are captured at different
//! points of the log: `position[i]` is the last log record shard `i`'s
//! groups include. Groups are in shard order, and by id within a shard;
//! positions never decrease from one shard to the next. Replay starts after
//! the snapshot's position (the first shard's) and skips, for a group, the
//! records at or below its shard's position: they are in the image already.
//!
//! Version 1 (magic "PXACKP01", `groups:u64` after the magic, no trailer,
//! groups by id) was captured whole at the snapshot's position; it still
//! decodes. No group has the reserved id `u64::MAX`: an image naming it
//! does not decode.

use crate::codec::DecodeError;
use crate::state::{shard_of, Group, Groups, ImageId, SlotEntry, ValueLoc, SHARDS};
use crate::types::{Ballot, GroupId, Slot};
use crate::value::{Images, Value};
use paxos_wal::Lsn;
use std::sync::Arc;
use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

const MAGIC_V1: &[u8; 8] = b"PXACKP01";
const MAGIC: &[u8; 8] = b"PXACKP02";

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct GroupRec {
    id: U64,
    round: U64,
    node: U64,
    promised_from: U64,
    first_live: U64,
    slots: U32,
    metas: U32,
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct MetaRec {
    key: U64,
    value_len: U32,
    reserved: U32,
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct SlotRec {
    slot: U64,
    round: U64,
    node: U64,
    chosen: u8,
    reserved: [u8; 3],
    value_len: U32,
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct TrailerEnd {
    shards: U32,
    reserved: U32,
    groups: U64,
}

/// A group's scalar fields.
pub(crate) struct Head {
    pub id: GroupId,
    pub promised: Ballot,
    pub promised_from: Slot,
    pub first_live: Slot,
}

/// Writes an image a group at a time, in shard order.
pub(crate) struct Encoder {
    out: Vec<u8>,
    groups: u64,
}

impl Encoder {
    pub fn new() -> Self {
        Encoder { out: MAGIC.to_vec(), groups: 0 }
    }

    /// Append group `id`; `value` resolves a slot's value bytes (`None`:
    /// it could not, and the group is the error).
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn group(
        &mut self,
        id: GroupId,
        g: &Group,
        value: impl FnMut(&ValueLoc) -> Option<Value>,
    ) -> Result<(), GroupId> {
        let head = Head { id, promised: g.promised, promised_from: g.promised_from(), first_live: g.first_live() };
        self.group_parts(&head, g.slots(), g.meta(), value)
    }

    /// [`Encoder::group`] from its parts.
    pub fn group_parts(
        &mut self,
        g: &Head,
        slots: &[SlotEntry],
        meta: &[(u64, ValueLoc)],
        mut value: impl FnMut(&ValueLoc) -> Option<Value>,
    ) -> Result<(), GroupId> {
        let out = &mut self.out;
        let rec = GroupRec {
            id: g.id.0.into(),
            round: g.promised.round.into(),
            node: g.promised.node.into(),
            promised_from: g.promised_from.0.into(),
            first_live: g.first_live.0.into(),
            slots: (slots.len() as u32).into(),
            metas: (meta.len() as u32).into(),
        };
        out.extend_from_slice(rec.as_bytes());
        for e in slots {
            let v = value(&e.value()).ok_or(g.id)?;
            let rec = SlotRec {
                slot: e.slot.0.into(),
                round: e.ballot.round.into(),
                node: e.ballot.node.into(),
                chosen: e.chosen() as u8,
                reserved: [0; 3],
                value_len: (v.len() as u32).into(),
            };
            out.extend_from_slice(rec.as_bytes());
            out.extend_from_slice(&v);
        }
        for (key, loc) in meta {
            let v = value(loc).ok_or(g.id)?;
            let rec = MetaRec { key: (*key).into(), value_len: (v.len() as u32).into(), reserved: 0.into() };
            out.extend_from_slice(rec.as_bytes());
            out.extend_from_slice(&v);
        }
        self.groups += 1;
        Ok(())
    }

    /// The image, with each shard's position (`positions.len() == SHARDS`).
    pub fn finish(mut self, positions: &[Lsn]) -> Vec<u8> {
        debug_assert_eq!(positions.len(), SHARDS);
        for p in positions {
            self.out.extend_from_slice(&p.to_le_bytes());
        }
        let end =
            TrailerEnd { shards: (positions.len() as u32).into(), reserved: 0.into(), groups: self.groups.into() };
        self.out.extend_from_slice(end.as_bytes());
        self.out
    }
}

/// Serialise every group, all captured at `position`; `value` resolves a
/// slot's value bytes.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn encode(
    groups: &Groups,
    positions: &[Lsn],
    value: impl Fn(&ValueLoc) -> Option<Value>,
) -> Result<Vec<u8>, GroupId> {
    let mut ids = groups.map.keys();
    ids.sort_by_key(|id| (shard_of(*id), *id));
    let mut enc = Encoder::new();
    for id in ids {
        enc.group(id, &groups.map.shard_of(id)[&id], &value)?;
    }
    Ok(enc.finish(positions))
}

/// Reads an image a group at a time.
pub(crate) struct Reader {
    image: Arc<Vec<u8>>,
    /// The id the values' locations name the image by.
    id: ImageId,
    off: usize,
    /// Where the groups end (the trailer starts).
    end: usize,
    left: u64,
    /// Each shard's position (`None`: a version-1 image, captured whole).
    positions: Option<Vec<Lsn>>,
    /// The order key of the last group read.
    last: Option<(usize, GroupId)>,
}

impl Reader {
    /// Read `image`, which [`Images`] holds as `id`.
    pub fn new(image: Arc<Vec<u8>>, id: ImageId) -> Result<Self, DecodeError> {
        let bytes: &[u8] = &image;
        let magic = bytes.get(..8).ok_or(DecodeError("not a checkpoint image"))?;
        let (off, end, left, positions) = if magic == MAGIC_V1 {
            let count = bytes.get(8..16).ok_or(DecodeError("not a checkpoint image"))?;
            (16, bytes.len(), u64::from_le_bytes(count.try_into().expect("8 bytes")), None)
        } else if magic == MAGIC {
            let tail = bytes.len().checked_sub(std::mem::size_of::<TrailerEnd>()).filter(|t| *t >= 8);
            let tail = tail.ok_or(DecodeError("no room for the trailer"))?;
            let (t, _) = TrailerEnd::read_from_prefix(&bytes[tail..]).map_err(|_| DecodeError("no trailer"))?;
            if t.shards.get() as usize != SHARDS || t.reserved.get() != 0 {
                return Err(DecodeError("a trailer for another shard count"));
            }
            let end = tail.checked_sub(SHARDS * 8).filter(|e| *e >= 8).ok_or(DecodeError("no room for positions"))?;
            let positions: Vec<Lsn> =
                bytes[end..tail].chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))).collect();
            if positions.windows(2).any(|w| w[0] > w[1]) {
                return Err(DecodeError("shard positions out of order"));
            }
            (8, end, t.groups.get(), Some(positions))
        } else {
            return Err(DecodeError("not a checkpoint image"));
        };
        Ok(Reader { image, id, off, end, left, positions, last: None })
    }

    /// The next group; `None` after the last (and then every byte was read).
    pub fn next_group(&mut self) -> Result<Option<(GroupId, Group)>, DecodeError> {
        if self.left == 0 {
            return if self.off == self.end {
                Ok(None)
            } else {
                Err(DecodeError("trailing bytes after the last group"))
            };
        }
        self.left -= 1;
        let image = &self.image;
        let bytes: &[u8] = &image[..self.end];
        let mut off = self.off;
        let (g, _) = GroupRec::read_from_prefix(&bytes[off..]).map_err(|_| DecodeError("truncated group"))?;
        off += std::mem::size_of::<GroupRec>();
        let id = GroupId(g.id.get());
        if id == crate::state::ALL_GROUPS {
            return Err(DecodeError("the reserved group id"));
        }
        let key = if self.positions.is_some() { (shard_of(id), id) } else { (0, id) };
        if self.last.is_some_and(|last| last >= key) {
            return Err(DecodeError("groups out of order"));
        }
        self.last = Some(key);
        let n = g.slots.get() as usize;
        if n > (bytes.len() - off) / std::mem::size_of::<SlotRec>() {
            return Err(DecodeError("more slots than bytes"));
        }
        let mut slots: Vec<SlotEntry> = Vec::with_capacity(n);
        for _ in 0..n {
            let (s, _) = SlotRec::read_from_prefix(&bytes[off..]).map_err(|_| DecodeError("truncated slot"))?;
            off += std::mem::size_of::<SlotRec>();
            let len = s.value_len.get();
            if len as usize > bytes.len() - off {
                return Err(DecodeError("value runs past the image"));
            }
            let slot = Slot(s.slot.get());
            if slots.last().is_some_and(|e| e.slot >= slot) {
                return Err(DecodeError("slots out of order"));
            }
            let ballot = Ballot::new(s.round.get(), s.node.get());
            slots.push(SlotEntry::new(slot, ballot, ValueLoc::image(self.id, off as u64, len), s.chosen != 0));
            off += len as usize;
        }
        let metas = g.metas.get() as usize;
        if metas > (bytes.len() - off) / std::mem::size_of::<MetaRec>() {
            return Err(DecodeError("more metadata than bytes"));
        }
        let mut meta = Vec::with_capacity(metas);
        for _ in 0..metas {
            let (m, _) = MetaRec::read_from_prefix(&bytes[off..]).map_err(|_| DecodeError("truncated metadata"))?;
            off += std::mem::size_of::<MetaRec>();
            let len = m.value_len.get();
            if len as usize > bytes.len() - off || m.reserved.get() != 0 {
                return Err(DecodeError("metadata value runs past the image"));
            }
            let key = m.key.get();
            if meta.last().is_some_and(|(k, _)| *k >= key) {
                return Err(DecodeError("metadata keys out of order"));
            }
            meta.push((key, ValueLoc::image(self.id, off as u64, len)));
            off += len as usize;
        }
        let promised = Ballot::new(g.round.get(), g.node.get());
        let group = Group::from_parts(promised, Slot(g.promised_from.get()), Slot(g.first_live.get()), slots, meta);
        self.off = off;
        Ok(Some((id, group)))
    }
}

/// A whole decoded image.
pub(crate) struct Image {
    pub groups: Groups,
    /// Each shard's position (`None`: a version-1 image).
    pub positions: Option<Vec<Lsn>>,
}

/// Rebuild the groups from an image, which `images` holds from then on;
/// values point into it.
pub(crate) fn decode(image: Arc<Vec<u8>>, images: &Images) -> Result<Image, DecodeError> {
    let id = images.add(image.clone());
    decode_as(image, id).inspect_err(|_| images.remove(id))
}

fn decode_as(image: Arc<Vec<u8>>, id: ImageId) -> Result<Image, DecodeError> {
    let mut r = Reader::new(image, id)?;
    let groups = Groups::default();
    while let Some((group, g)) = r.next_group()? {
        if groups.map.insert(group, g).is_some() {
            return Err(DecodeError("group listed twice"));
        }
    }
    Ok(Image { groups, positions: r.positions })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_group(id: GroupId) -> Groups {
        let groups = Groups::default();
        groups.map.insert(id, Group::from_parts(Ballot::ZERO, Slot(0), Slot(3), Vec::new(), Vec::new()));
        groups
    }

    #[test]
    fn an_image_naming_the_reserved_group_does_not_decode() {
        let image = |id: GroupId| encode(&one_group(id), &[0; SHARDS], |_| None).unwrap();
        let ok = decode(Arc::new(image(GroupId(u64::MAX - 1))), &Images::default()).unwrap();
        assert_eq!(ok.groups.map.get(GroupId(u64::MAX - 1), |g| g.first_live()), Some(Slot(3)));
        assert!(decode(Arc::new(image(crate::state::ALL_GROUPS)), &Images::default()).is_err());
    }

    /// Stores written before shards were captured one at a time still open.
    #[test]
    fn a_version_1_image_still_decodes() {
        let mut v1 = MAGIC_V1.to_vec();
        v1.extend_from_slice(&1u64.to_le_bytes());
        for field in [5u64, 2, 1, 0, 3] {
            v1.extend_from_slice(&field.to_le_bytes());
        }
        v1.extend_from_slice(&1u32.to_le_bytes());
        v1.extend_from_slice(&0u32.to_le_bytes());
        for field in [4u64, 2, 1] {
            v1.extend_from_slice(&field.to_le_bytes());
        }
        v1.extend_from_slice(&[1, 0, 0, 0]);
        v1.extend_from_slice(&3u32.to_le_bytes());
        v1.extend_from_slice(b"abc");
        let image = decode(Arc::new(v1), &Images::default()).unwrap();
        assert!(image.positions.is_none());
        let shard = image.groups.map.shard_of(GroupId(5));
        let g = &shard[&GroupId(5)];
        assert_eq!((g.promised, g.first_live(), g.slots().len()), (Ballot::new(2, 1), Slot(3), 1));
        let e = g.slots()[0];
        assert!(e.chosen() && e.slot == Slot(4) && e.ballot == Ballot::new(2, 1));
    }

    #[test]
    fn positions_and_group_order_are_checked() {
        let groups = one_group(GroupId(1));
        groups.map.insert(GroupId(2), Group::default());
        let positions: Vec<Lsn> = (0..SHARDS as u64).map(|i| 10 + i).collect();
        let image = encode(&groups, &positions, |_| None).unwrap();
        let ok = decode(Arc::new(image.clone()), &Images::default()).unwrap();
        assert_eq!((ok.groups.map.len(), ok.positions), (2, Some(positions.clone())));

        let mut backwards = positions.clone();
        backwards.swap(7, 8);
        assert!(decode(Arc::new(encode(&groups, &backwards, |_| None).unwrap()), &Images::default()).is_err());

        // The same two groups, swapped.
        let (a, b) = (
            (GroupId(1), Group::from_parts(Ballot::ZERO, Slot(0), Slot(3), Vec::new(), Vec::new())),
            (GroupId(2), Group::default()),
        );
        let (first, second) = if (shard_of(a.0), a.0) < (shard_of(b.0), b.0) { (b, a) } else { (a, b) };
        let mut enc = Encoder::new();
        enc.group(first.0, &first.1, |_| None).unwrap();
        enc.group(second.0, &second.1, |_| None).unwrap();
        assert!(decode(Arc::new(enc.finish(&positions)), &Images::default()).is_err());

        // A byte between the last group and the trailer.
        let mut trailing = image.clone();
        trailing.insert(image.len() - SHARDS * 8 - 16, 0);
        assert!(matches!(
            decode(Arc::new(trailing), &Images::default()),
            Err(DecodeError("trailing bytes after the last group"))
        ));
        assert!(decode(Arc::new(image[..image.len() - 1].to_vec()), &Images::default()).is_err());
    }
}
