//! How acceptor operations are laid out inside one log record.
//!
//! A record holds one or more operations that were checked and written as one
//! atomic step (a single call, or a whole batch: the log's record checksum
//! makes the batch all-or-nothing across a crash).
//!
//! ```text
//! record  = count:u32 flags:u8 reserved[3] op{count}
//! op      = OpHeader(48 bytes) value[value_len]
//! value of a Put = (len:u32 bytes[len])*, for consecutive slots from `slot`
//! flags   = CONTINUES (1): the next record holds more of this batch;
//!           CONTINUATION (2): this record holds more of the previous one's
//! ```
//! A batch too large for one record is cut, between operations, into
//! consecutive records (appended together); it counts only once its last
//! record (without CONTINUES) is read, so it stays atomic across a crash.
//! A record without CONTINUATION discards an unfinished batch before it
//! (one a failed append left behind, never acknowledged).
//! `OpHeader` carries its own checksum (`key_crc`, CRC-32C) over its first 40
//! bytes, so that the group and slot of an operation can be trusted on their
//! own (to name the groups and slots of a damaged record).
//!
//! It is CRC-32C, not the log's CRC-32 (IEEE): a header with a CRC of the
//! same polynomial is a codeword of it, so the log's payload checksum could
//! not see one such header replaced by another of the same length (the XOR
//! of two codewords is a codeword, and the checksum of the rest is linear).
//! `wal_open`'s sibling `store_open` fuzz target found exactly that: 48
//! bytes of another record's operation header, copied over one, passed the
//! log's checks. (That change altered the record format; before 1.0 the
//! record format carries no version and old stores are not read.)
//! The group id `u64::MAX` is reserved: a `Repair` naming it means "every
//! group"; any other operation naming it does not decode.
//! All integers are little-endian.

use crate::types::{Ballot, GroupId, Slot};
use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Operation kinds as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    Promise = 1,
    Accept = 2,
    MarkChosen = 3,
    TruncateBelow = 4,
    RemoveGroup = 5,
    Repair = 6,
    /// Raw persistence: values of consecutive slots, no rule checked.
    Put = 7,
    /// Raw persistence: drop the slots at or above `slot`.
    DropFrom = 8,
    /// Raw persistence: per-group metadata, the key in `slot`.
    SetMeta = 9,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Promise,
            2 => Kind::Accept,
            3 => Kind::MarkChosen,
            4 => Kind::TruncateBelow,
            5 => Kind::RemoveGroup,
            6 => Kind::Repair,
            7 => Kind::Put,
            8 => Kind::DropFrom,
            9 => Kind::SetMeta,
            _ => return None,
        })
    }
}

#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct OpHeader {
    kind: u8,
    reserved: [u8; 3],
    value_len: U32,
    group: U64,
    /// The slot (the first slot for a promise, the first kept for a truncation).
    slot: U64,
    round: U64,
    node: U64,
    key_crc: U32,
    pad: U32,
}

/// The checksum of an operation header's first 40 bytes (see the module
/// docs for why it is not the log's CRC-32).
pub(crate) fn key_checksum(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes)
}

/// Bytes of one operation's header.
pub(crate) const OP_HEADER_LEN: usize = std::mem::size_of::<OpHeader>();
/// Bytes of a record's header.
pub(crate) const RECORD_HEADER_LEN: usize = 8;
/// Record flag: the next record holds more of this batch.
pub(crate) const CONTINUES: u8 = 1;
/// Record flag: this record holds more of the previous record's batch.
pub(crate) const CONTINUATION: u8 = 2;

/// One decoded operation; `value` is a byte range of the record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StoredOp {
    pub kind: Kind,
    pub group: GroupId,
    /// The slot; for [`Kind::SetMeta`], the metadata key (the on-disk
    /// format has one 8-byte field for both: read it with [`StoredOp::key`]).
    pub slot: Slot,
    pub ballot: Ballot,
    /// Offset and length of the value inside the record payload.
    pub value: (u32, u32),
}

impl StoredOp {
    /// The metadata key of a [`Kind::SetMeta`] operation.
    pub fn key(&self) -> u64 {
        debug_assert_eq!(self.kind, Kind::SetMeta, "only a metadata op has a key");
        self.slot.0
    }
}

/// Builds the payload of one record.
#[derive(Default)]
pub(crate) struct RecordBuilder {
    buf: Vec<u8>,
    count: u32,
}

impl RecordBuilder {
    pub fn new() -> Self {
        RecordBuilder { buf: vec![0; RECORD_HEADER_LEN], count: 0 }
    }

    /// Add an operation; returns the offset of its value in the payload.
    pub fn push(&mut self, kind: Kind, group: GroupId, slot: Slot, ballot: Ballot, value: &[u8]) -> u32 {
        let mut h = OpHeader {
            kind: kind as u8,
            reserved: [0; 3],
            value_len: (value.len() as u32).into(),
            group: group.0.into(),
            slot: slot.0.into(),
            round: ballot.round.into(),
            node: ballot.node.into(),
            key_crc: 0.into(),
            pad: 0.into(),
        };
        h.key_crc = key_checksum(&h.as_bytes()[..40]).into();
        self.buf.extend_from_slice(h.as_bytes());
        let at = self.buf.len() as u32;
        self.buf.extend_from_slice(value);
        self.count += 1;
        at
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes of the payload so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// The payload so far.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Finish with record flags ([`CONTINUES`], [`CONTINUATION`]).
    pub fn finish_with(mut self, flags: u8) -> Vec<u8> {
        self.buf[..4].copy_from_slice(&self.count.to_le_bytes());
        self.buf[4] = flags;
        self.buf
    }
}

/// The value of a `Put`: each value with its length in front.
pub(crate) fn put_body(values: &[Vec<u8>]) -> Vec<u8> {
    let mut body = Vec::with_capacity(values.iter().map(|v| 4 + v.len()).sum());
    for v in values {
        body.extend_from_slice(&(v.len() as u32).to_le_bytes());
        body.extend_from_slice(v);
    }
    body
}

/// The byte ranges (offset in `payload`, length) of the values of a `Put`
/// whose body is `payload[off..off + len]`; `None` if the body does not
/// parse exactly.
fn put_values(payload: &[u8], off: usize, len: usize) -> Option<Vec<(u32, u32)>> {
    let body = payload.get(off..off.checked_add(len)?)?;
    let mut at = 0usize;
    let mut out = Vec::new();
    while at < body.len() {
        let n = u32::from_le_bytes(body.get(at..at + 4)?.try_into().ok()?) as usize;
        at += 4;
        if n > body.len() - at {
            return None;
        }
        out.push(((off + at) as u32, n as u32));
        at += n;
    }
    Some(out)
}

/// The single-slot operations a decoded operation stands for: a `Put` of
/// several values is one per value (its `value` the value's range), every
/// other kind itself. `payload` is the record the operation was decoded
/// from (or is being built in), whose `Put` bodies [`decode`] checked.
pub(crate) fn expand<'a>(op: &'a StoredOp, payload: &'a [u8]) -> impl Iterator<Item = StoredOp> + 'a {
    let put = op.kind == Kind::Put;
    // Only a Put allocates: every other kind is passed through as it is.
    let values = if put {
        put_values(payload, op.value.0 as usize, op.value.1 as usize).expect("a checked Put body")
    } else {
        Vec::new()
    };
    (!put).then(|| op.clone()).into_iter().chain(values.into_iter().enumerate().map(move |(i, v)| StoredOp {
        slot: Slot(op.slot.0.saturating_add(i as u64)),
        value: v,
        ..op.clone()
    }))
}

/// The flags of a record (see the module docs); [`decode`] checks them.
pub(crate) fn flags(payload: &[u8]) -> u8 {
    payload.get(4).copied().unwrap_or(0)
}

/// Why a record could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("undecodable acceptor record: {0}")]
pub struct DecodeError(pub &'static str);

/// Decode every operation of a record payload. Never reads out of bounds.
pub(crate) fn decode(payload: &[u8]) -> Result<Vec<StoredOp>, DecodeError> {
    if payload.len() < RECORD_HEADER_LEN {
        return Err(DecodeError("shorter than its header"));
    }
    let count = u32::from_le_bytes(payload[..4].try_into().expect("4 bytes"));
    if payload[4] & !(CONTINUES | CONTINUATION) != 0 || payload[5..8] != [0; 3] {
        return Err(DecodeError("reserved bytes are not zero"));
    }
    if count as usize > payload.len() / OP_HEADER_LEN {
        return Err(DecodeError("more operations than bytes"));
    }
    let mut ops = Vec::with_capacity(count as usize);
    let mut off = RECORD_HEADER_LEN;
    for _ in 0..count {
        let (h, _) = OpHeader::read_from_prefix(&payload[off..]).map_err(|_| DecodeError("truncated operation"))?;
        if key_checksum(&h.as_bytes()[..40]) != h.key_crc.get() || h.pad.get() != 0 {
            return Err(DecodeError("operation header checksum mismatch"));
        }
        let kind = Kind::from_u8(h.kind).ok_or(DecodeError("unknown operation kind"))?;
        off += OP_HEADER_LEN;
        let len = h.value_len.get() as usize;
        if len > payload.len() - off {
            return Err(DecodeError("value runs past the record"));
        }
        if kind == Kind::Put && put_values(payload, off, len).is_none() {
            return Err(DecodeError("the values of a put do not parse"));
        }
        if h.group.get() == crate::state::ALL_GROUPS.0 && kind != Kind::Repair {
            return Err(DecodeError("an operation names the reserved group id"));
        }
        ops.push(StoredOp {
            kind,
            group: GroupId(h.group.get()),
            slot: Slot(h.slot.get()),
            ballot: Ballot::new(h.round.get(), h.node.get()),
            value: (off as u32, len as u32),
        });
        off += len;
    }
    if off != payload.len() {
        return Err(DecodeError("trailing bytes after the last operation"));
    }
    Ok(ops)
}

/// Decode the operations of one log record of an acceptor store, for tools
/// that inspect a store (`paxos-store inspect --records`). Repair marks are
/// not operations a caller submits and are left out.
pub fn decode_ops(payload: &[u8]) -> Result<Vec<crate::types::Op>, DecodeError> {
    use crate::types::Op;
    let value = |o: &StoredOp| payload[o.value.0 as usize..(o.value.0 + o.value.1) as usize].to_vec();
    Ok(decode(payload)?
        .into_iter()
        .filter_map(|o| {
            let (g, s, b) = (o.group, o.slot, o.ballot);
            Some(match o.kind {
                Kind::Promise => Op::Promise { group: g, ballot: b, from_slot: s },
                Kind::Accept => Op::Accept { group: g, slot: s, ballot: b, value: value(&o) },
                Kind::MarkChosen => Op::MarkChosen { group: g, slot: s },
                Kind::TruncateBelow => Op::TruncateBelow { group: g, slot: s },
                Kind::RemoveGroup => Op::RemoveGroup { group: g },
                Kind::Put => {
                    Op::Put { group: g, from: s, ballot: b, values: expand(&o, payload).map(|v| value(&v)).collect() }
                }
                Kind::DropFrom => Op::DropFrom { group: g, slot: s },
                Kind::SetMeta => Op::SetMeta { group: g, key: o.key(), value: value(&o) },
                Kind::Repair => return None,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_value_offsets() {
        let mut b = RecordBuilder::new();
        let o1 = b.push(Kind::Promise, GroupId(1), Slot(3), Ballot::new(5, 2), b"");
        let o2 = b.push(Kind::Accept, GroupId(9), Slot(4), Ballot::new(6, 1), b"value!");
        let p = b.finish_with(0);
        let ops = decode(&p).unwrap();
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[0].kind, Kind::Promise);
        assert_eq!(ops[0].value, (o1, 0));
        assert_eq!(ops[1].group, GroupId(9));
        assert_eq!(ops[1].ballot, Ballot::new(6, 1));
        assert_eq!(&p[o2 as usize..o2 as usize + 6], b"value!");
    }

    #[test]
    fn a_put_holds_consecutive_slots_and_a_bad_body_is_refused() {
        let mut b = RecordBuilder::new();
        let body = put_body(&[b"ab".to_vec(), Vec::new(), b"cde".to_vec()]);
        b.push(Kind::Put, GroupId(2), Slot(7), Ballot::ZERO, &body);
        let p = b.finish_with(0);
        let ops = decode(&p).unwrap();
        let each: Vec<StoredOp> = expand(&ops[0], &p).collect();
        let got: Vec<(u64, &[u8])> =
            each.iter().map(|o| (o.slot.0, &p[o.value.0 as usize..(o.value.0 + o.value.1) as usize])).collect();
        assert_eq!(got, vec![(7, &b"ab"[..]), (8, &b""[..]), (9, &b"cde"[..])]);
        // A length that runs past the body.
        let mut b = RecordBuilder::new();
        b.push(Kind::Put, GroupId(2), Slot(7), Ballot::ZERO, &[9, 0, 0, 0, 1, 2]);
        assert!(decode(&b.finish_with(0)).is_err());
    }

    #[test]
    fn only_a_repair_may_name_the_reserved_group() {
        let reserved = crate::state::ALL_GROUPS;
        let mut b = RecordBuilder::new();
        b.push(Kind::Repair, reserved, Slot(0), Ballot::ZERO, b"");
        assert_eq!(decode(&b.finish_with(0)).unwrap()[0].group, reserved);
        for kind in [
            Kind::Promise,
            Kind::Accept,
            Kind::MarkChosen,
            Kind::TruncateBelow,
            Kind::RemoveGroup,
            Kind::DropFrom,
            Kind::SetMeta,
        ] {
            let mut b = RecordBuilder::new();
            b.push(Kind::Repair, GroupId(1), Slot(0), Ballot::ZERO, b"");
            b.push(kind, reserved, Slot(0), Ballot::new(1, 1), b"v");
            let p = b.finish_with(0);
            assert!(decode(&p).is_err() && decode_ops(&p).is_err(), "{kind:?} of the reserved group decoded");
        }
        let mut b = RecordBuilder::new();
        b.push(Kind::Put, reserved, Slot(0), Ballot::ZERO, &put_body(&[b"v".to_vec()]));
        assert!(decode(&b.finish_with(0)).is_err());
    }

    /// Replay of a record naming the reserved group for anything but a
    /// repair is a typed error, not state for a group no call can reach.
    #[test]
    fn replaying_an_operation_on_the_reserved_group_is_an_error() {
        use crate::{AcceptorStore, StoreError, StoreOptions};
        use paxos_wal::storage::MemStorage;
        use paxos_wal::{Wal, WalOptions};
        let reserved = crate::state::ALL_GROUPS;
        let write = |kind: Kind| {
            let mem = MemStorage::new();
            let (wal, _) = Wal::open("/r/wal", WalOptions::small(mem.shared())).unwrap();
            let mut b = RecordBuilder::new();
            b.push(kind, reserved, Slot(0), Ballot::new(1, 1), b"");
            wal.append_durable(&b.finish_with(0)).unwrap();
            wal.close().unwrap();
            AcceptorStore::open("/r", StoreOptions::small(mem.shared()))
        };
        match write(Kind::Promise) {
            Err(StoreError::Recovery(paxos_recovery::RecoveryError::StateMachine { lsn: 1, .. })) => {}
            other => panic!("{other:?}"),
        }
        // The repair marker opens.
        let (store, _) = write(Kind::Repair).unwrap();
        assert!(store.groups().is_empty());
    }

    #[test]
    fn garbage_is_an_error_never_a_panic() {
        let mut b = RecordBuilder::new();
        b.push(Kind::Accept, GroupId(1), Slot(1), Ballot::new(1, 1), &[7; 20]);
        let p = b.finish_with(0);
        for cut in 0..p.len() {
            assert!(decode(&p[..cut]).is_err(), "prefix of {cut} bytes decoded");
        }
        for i in 0..p.len() {
            let mut q = p.clone();
            q[i] ^= 0x55;
            // A flip in the value itself is not this layer's to catch (the
            // log's record checksum is); anything else must be rejected.
            if i < 8 + OP_HEADER_LEN {
                assert!(decode(&q).is_err(), "flip at {i} decoded");
            }
        }
    }
}
