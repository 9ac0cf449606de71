//! The store's own checkpoint: the acceptor state of every group, written
//! through the snapshot crate, so that log segments before it can be dropped
//! and an idle group never pins old segments.
//!
//! ```text
//! image  = magic "PXACKP01" groups:u64 group{groups}
//! group  = id:u64 promised_round:u64 promised_node:u64 promised_from:u64
//!          first_live:u64 slots:u32 metas:u32 slot{slots} meta{metas}
//! slot   = slot:u64 round:u64 node:u64 chosen:u8 reserved[3] value_len:u32 value
//! meta   = key:u64 value_len:u32 reserved:u32 value
//! ```
//! (little-endian). The snapshot file around it carries the checksums. No
//! group has the reserved id `u64::MAX`: an image naming it does not decode.

use crate::codec::DecodeError;
use crate::state::{Group, Groups, SlotEntry, ValueLoc};
use crate::types::{Ballot, GroupId, Slot};
use crate::value::Value;
use std::sync::Arc;
use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

const MAGIC: &[u8; 8] = b"PXACKP01";

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

/// Serialise every group; `value` resolves a slot's value bytes.
pub(crate) fn encode(groups: &Groups, value: impl Fn(&ValueLoc) -> Option<Value>) -> Result<Vec<u8>, GroupId> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(groups.map.len() as u64).to_le_bytes());
    let mut ids: Vec<&GroupId> = groups.map.keys().collect();
    ids.sort();
    for id in ids {
        let g = &groups.map[id];
        let rec = GroupRec {
            id: id.0.into(),
            round: g.promised.round.into(),
            node: g.promised.node.into(),
            promised_from: g.promised_from.0.into(),
            first_live: g.first_live.0.into(),
            slots: (g.slots.len() as u32).into(),
            metas: (g.meta().len() as u32).into(),
        };
        out.extend_from_slice(rec.as_bytes());
        for e in &g.slots {
            let v = value(&e.value).ok_or(*id)?;
            let rec = SlotRec {
                slot: e.slot.0.into(),
                round: e.ballot.round.into(),
                node: e.ballot.node.into(),
                chosen: e.chosen as u8,
                reserved: [0; 3],
                value_len: (v.len() as u32).into(),
            };
            out.extend_from_slice(rec.as_bytes());
            out.extend_from_slice(&v);
        }
        for (key, loc) in g.meta() {
            let v = value(loc).ok_or(*id)?;
            let rec = MetaRec { key: (*key).into(), value_len: (v.len() as u32).into(), reserved: 0.into() };
            out.extend_from_slice(rec.as_bytes());
            out.extend_from_slice(&v);
        }
    }
    Ok(out)
}

/// Rebuild the groups from an image; values point into the image.
pub(crate) fn decode(image: Arc<Vec<u8>>) -> Result<Groups, DecodeError> {
    let bytes: &[u8] = &image;
    if bytes.len() < 16 || &bytes[..8] != MAGIC {
        return Err(DecodeError("not a checkpoint image"));
    }
    let count = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
    let mut off = 16usize;
    let mut groups = Groups::default();
    for _ in 0..count {
        let (g, _) = GroupRec::read_from_prefix(&bytes[off..]).map_err(|_| DecodeError("truncated group"))?;
        off += std::mem::size_of::<GroupRec>();
        let n = g.slots.get() as usize;
        if n > (bytes.len() - off) / std::mem::size_of::<SlotRec>() {
            return Err(DecodeError("more slots than bytes"));
        }
        let mut group = Group {
            promised: Ballot::new(g.round.get(), g.node.get()),
            promised_from: Slot(g.promised_from.get()),
            promise_lsn: 0,
            first_live: Slot(g.first_live.get()),
            first_live_lsn: 0,
            slots: Vec::with_capacity(n),
            meta: None,
        };
        for _ in 0..n {
            let (s, _) = SlotRec::read_from_prefix(&bytes[off..]).map_err(|_| DecodeError("truncated slot"))?;
            off += std::mem::size_of::<SlotRec>();
            let len = s.value_len.get();
            if len as usize > bytes.len() - off {
                return Err(DecodeError("value runs past the image"));
            }
            let slot = Slot(s.slot.get());
            if group.slots.last().is_some_and(|e| e.slot >= slot) {
                return Err(DecodeError("slots out of order"));
            }
            group.slots.push(SlotEntry {
                slot,
                ballot: Ballot::new(s.round.get(), s.node.get()),
                value: ValueLoc::Image { image: image.clone(), off: off as u64, len },
                chosen: s.chosen != 0,
            });
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
            meta.push((key, ValueLoc::Image { image: image.clone(), off: off as u64, len }));
            off += len as usize;
        }
        group.meta = (!meta.is_empty()).then(|| meta.into_boxed_slice());
        if g.id.get() == crate::state::ALL_GROUPS.0 {
            return Err(DecodeError("the reserved group id"));
        }
        if groups.map.insert(GroupId(g.id.get()), group).is_some() {
            return Err(DecodeError("group listed twice"));
        }
    }
    if off != bytes.len() {
        return Err(DecodeError("trailing bytes after the last group"));
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_naming_the_reserved_group_does_not_decode() {
        let image = |id: GroupId| {
            let mut groups = Groups::default();
            groups.map.insert(id, Group { first_live: Slot(3), ..Group::default() });
            encode(&groups, |_| None).unwrap()
        };
        let ok = decode(Arc::new(image(GroupId(u64::MAX - 1)))).unwrap();
        assert_eq!(ok.map[&GroupId(u64::MAX - 1)].first_live, Slot(3));
        assert!(decode(Arc::new(image(crate::state::ALL_GROUPS))).is_err());
    }
}
