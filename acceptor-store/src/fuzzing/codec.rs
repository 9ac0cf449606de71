//! The two fuzz checks that need the store's private codecs: the record
//! codec and the checkpoint image decoder on arbitrary bytes. The test kit
//! (`paxos-store-testkit`) wraps them as fuzz targets; a broken property is
//! the `Err` string.

use crate::checkpoint;
use crate::codec::{decode, decode_ops, Kind, RecordBuilder};
use crate::state::{Groups, Loc, ValueLoc, SHARDS};
use crate::types::{Ballot, GroupId, Op, Slot};
use crate::value::Images;
use crate::value::Value;
use paxos_wal::storage::MemStorage;
use paxos_wal::{Wal, WalOptions};
use std::sync::{Arc, OnceLock};

/// The property `what` describes, unless `cond` holds.
fn ensure(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(what())
    }
}

/// Bytes of a record header and of an operation header.
const RECORD_HEADER: usize = 8;
const OP_HEADER: usize = 48;

/// What one input decoded to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodecSummary {
    /// Operations decoded (`None`: the record was rejected).
    pub ops: Option<usize>,
    /// Some operation header decoded although its reserved bytes are not
    /// zero (the decoder does not check them; the header checksum covers them).
    pub reserved_nonzero: bool,
}

/// Recompute every checksum a record payload carries, walking its layout as
/// far as the bytes allow, so a fuzzer gets past them to the length checks.
fn seal_record(buf: &mut [u8]) {
    if buf.len() < RECORD_HEADER {
        return;
    }
    let count = u32::from_le_bytes(buf[..4].try_into().expect("4 bytes")) as usize;
    let mut off = RECORD_HEADER;
    for _ in 0..count.min(buf.len() / OP_HEADER) {
        if off + OP_HEADER > buf.len() {
            return;
        }
        let crc = crate::codec::key_checksum(&buf[off..off + 40]);
        buf[off + 40..off + 44].copy_from_slice(&crc.to_le_bytes());
        let len = u32::from_le_bytes(buf[off + 4..off + 8].try_into().expect("4 bytes")) as usize;
        off = off.saturating_add(OP_HEADER).saturating_add(len);
    }
}

/// Decode the input as one acceptor log record (first byte: 1 = reseal the
/// operation headers' checksums first, anything else = as is; the rest: the
/// payload) and check:
/// - the internal decoder and the public [`decode_ops`] agree on success;
/// - a decoded record accounts for every byte: the record header, each
///   operation header and value, nothing after; every value lies inside it;
/// - [`decode_ops`] returns the same operations, repair marks left out,
///   with the same value bytes;
/// - re-encoding the operations (the crate's private `RecordBuilder`) gives back the input,
///   except the three reserved bytes of an operation header (and so its
///   checksum), which the decoder does not check, and decodes to the same
///   operations.
pub fn check_record_codec(data: &[u8]) -> Result<CodecSummary, String> {
    let (reseal, mut buf) = match data.split_first() {
        Some((mode, rest)) => (*mode == 1, rest.to_vec()),
        None => (false, Vec::new()),
    };
    if reseal {
        seal_record(&mut buf);
    }
    let inner = decode(&buf);
    let public = decode_ops(&buf);
    ensure(inner.is_ok() == public.is_ok(), || {
        format!("decode says {inner:?}, decode_ops says {public:?} for {:02x?}", &buf[..buf.len().min(128)])
    })?;
    let Ok(ops) = inner else { return Ok(CodecSummary { ops: None, reserved_nonzero: false }) };
    let ctx = || format!("record {:02x?}: {ops:?}", &buf[..buf.len().min(128)]);
    let public = public.unwrap_or_default();
    let count = u32::from_le_bytes(buf[..4].try_into().expect("decoded, so at least 8 bytes")) as usize;
    ensure(ops.len() == count, || format!("{} operations, header says {count}: {}", ops.len(), ctx()))?;
    let mut off = RECORD_HEADER;
    let mut builder = RecordBuilder::new();
    let mut reserved_nonzero = false;
    let mut expected_public = Vec::new();
    for op in &ops {
        let (vo, vl) = (op.value.0 as usize, op.value.1 as usize);
        ensure(vo == off + OP_HEADER && vo + vl <= buf.len(), || format!("value at {vo}: {}", ctx()))?;
        reserved_nonzero |= buf[off + 1..off + 4].iter().any(|b| *b != 0);
        let value = &buf[vo..vo + vl];
        let at = builder.push(op.kind, op.group, op.slot, op.ballot, value);
        ensure(at as usize == vo, || format!("re-encoded value at {at}, not {vo}: {}", ctx()))?;
        let (group, slot, ballot) = (op.group, op.slot, op.ballot);
        expected_public.push(match op.kind {
            Kind::Promise => Some(Op::Promise { group, ballot, from_slot: slot }),
            Kind::Accept => Some(Op::Accept { group, slot, ballot, value: value.to_vec() }),
            Kind::MarkChosen => Some(Op::MarkChosen { group, slot }),
            Kind::TruncateBelow => Some(Op::TruncateBelow { group, slot }),
            Kind::RemoveGroup => Some(Op::RemoveGroup { group }),
            Kind::Put => Some(Op::Put {
                group,
                from: slot,
                ballot,
                values: crate::codec::expand(op, &buf)
                    .map(|v| buf[v.value.0 as usize..(v.value.0 + v.value.1) as usize].to_vec())
                    .collect(),
            }),
            Kind::DropFrom => Some(Op::DropFrom { group, slot }),
            Kind::SetMeta => Some(Op::SetMeta { group, key: slot.0, value: value.to_vec() }),
            Kind::Repair => None,
        });
        off = vo + vl;
    }
    ensure(off == buf.len(), || format!("{} bytes unaccounted for: {}", buf.len() - off, ctx()))?;
    let expected_public: Vec<Op> = expected_public.into_iter().flatten().collect();
    ensure(public == expected_public, || format!("decode_ops gave {public:?}: {}", ctx()))?;
    let again = builder.finish_with(crate::codec::flags(&buf));
    // The input with every operation's reserved bytes zeroed (and its
    // header checksum, which covers them, recomputed): what the encoder writes.
    let mut masked = buf.clone();
    let mut o = RECORD_HEADER;
    for op in &ops {
        if masked[o + 1..o + 4] != [0; 3] {
            masked[o + 1..o + 4].fill(0);
            let crc = crate::codec::key_checksum(&masked[o..o + 40]);
            masked[o + 40..o + 44].copy_from_slice(&crc.to_le_bytes());
        }
        o = (op.value.0 + op.value.1) as usize;
    }
    ensure(again == masked, || format!("re-encoded to {:02x?}: {}", &again[..again.len().min(128)], ctx()))?;
    let redecoded = decode(&again).map_err(|e| format!("re-encoded record does not decode: {e}"))?;
    ensure(redecoded == ops, || format!("re-encoded record decodes to {redecoded:?}: {}", ctx()))?;
    Ok(CodecSummary { ops: Some(ops.len()), reserved_nonzero })
}

/// What one checkpoint image decoded to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageSummary {
    /// Groups decoded (`None`: the image was rejected).
    pub groups: Option<usize>,
    /// Slots decoded.
    pub slots: usize,
    /// The image was already in the encoder's canonical form (groups in
    /// order, reserved bytes zero, chosen marks 0 or 1).
    pub canonical: bool,
}

/// A log to resolve values against: `Value::resolve` takes one, and image
/// values never touch it.
fn no_log() -> &'static Wal {
    static LOG: OnceLock<Wal> = OnceLock::new();
    LOG.get_or_init(|| {
        let opts = WalOptions { segment_size: 8 << 10, ..WalOptions::small(MemStorage::new().shared()) };
        Wal::open("/fuzz/unused-log", opts).expect("opening an empty in-memory log").0
    })
}

type Flat = Vec<(GroupId, Ballot, Slot, Slot, Vec<(Slot, Ballot, Vec<u8>, bool)>)>;

/// Every field of every group, in group order, values copied (from the
/// images in `images`).
fn flatten(groups: &Groups, images: &Images) -> Result<Flat, String> {
    let mut out = Vec::new();
    let mut ids = groups.map.keys();
    ids.sort();
    for id in &ids {
        let shard = groups.map.shard_of(*id);
        let g = &shard[id];
        let mut slots = Vec::new();
        for e in g.slots() {
            let Loc::Image { image, off, len } = e.value().get() else {
                return Err(format!("{id} {}: a decoded image value points into a log", e.slot));
            };
            let image = images.get(image).ok_or_else(|| format!("{id} {}: no image {image}", e.slot))?;
            let v = image
                .get(off as usize..off as usize + len as usize)
                .ok_or_else(|| format!("{id} {}: value {off}+{len} lies outside the image", e.slot))?;
            slots.push((e.slot, e.ballot, v.to_vec(), e.chosen()));
        }
        out.push((*id, g.promised, g.promised_from(), g.first_live(), slots));
    }
    Ok(out)
}

/// Decode the input as a checkpoint image (the store's own format, inside a
/// snapshot file) and check: decoding never panics; a decoded image has its
/// slots in strictly increasing order with every value inside the image;
/// encoding it again (the private `checkpoint::encode`) gives an image of the same
/// length that decodes to the same groups and is a fixed point (encoding
/// that again gives the same bytes); a canonical input comes back byte for
/// byte.
pub fn check_checkpoint_image(data: &[u8]) -> Result<ImageSummary, String> {
    let image = Arc::new(data.to_vec());
    let ctx = || format!("image {:02x?}", &data[..data.len().min(128)]);
    let images = Images::default();
    let Ok(decoded) = checkpoint::decode(image, &images) else {
        return Ok(ImageSummary { groups: None, slots: 0, canonical: false });
    };
    let flat = flatten(&decoded.groups, &images)?;
    for (id, _, _, _, slots) in &flat {
        ensure(slots.windows(2).all(|w| w[0].0 < w[1].0), || format!("{id}: slots out of order: {}", ctx()))?;
    }
    let resolve = |loc: &ValueLoc| Value::resolve(loc, no_log(), &images);
    // A version-1 image comes back as version 2, every shard at position 0.
    let positions = decoded.positions.clone().unwrap_or_else(|| vec![0; SHARDS]);
    let again =
        checkpoint::encode(&decoded.groups, &positions, resolve).map_err(|g| format!("encode lost {g}: {}", ctx()))?;
    if decoded.positions.is_some() {
        ensure(again.len() == data.len(), || format!("re-encoded to {} bytes: {}", again.len(), ctx()))?;
    }
    let redecoded = checkpoint::decode(Arc::new(again.clone()), &images)
        .map_err(|e| format!("re-encoded image does not decode ({e}): {}", ctx()))?;
    ensure(flatten(&redecoded.groups, &images)? == flat, || {
        format!("re-encoded image decodes differently: {}", ctx())
    })?;
    ensure(redecoded.positions.as_ref() == Some(&positions), || format!("positions changed: {}", ctx()))?;
    let third = checkpoint::encode(&redecoded.groups, &positions, resolve).map_err(|g| format!("encode lost {g}"))?;
    ensure(third == again, || format!("encoding is not a fixed point: {}", ctx()))?;
    let slots = flat.iter().map(|g| g.4.len()).sum();
    Ok(ImageSummary { groups: Some(flat.len()), slots, canonical: again == data })
}
