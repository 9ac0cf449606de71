//! How a batch of storage operations is laid out in the log.
//!
//! One call (a single mutating method, or a whole `write_atomically` batch)
//! is one *batch*: the list of its operations, serialised with postcard.
//! A batch normally fits in one log record; a larger one (a big snapshot or
//! suffix) is cut into *chunks*, one record each, appended together so their
//! LSNs are consecutive. Every record starts with a 12-byte header:
//!
//! ```text
//! record = magic:u8 (0xA7) version:u8 (1) flags:u8 reserved:u8 (0) group:u64 body
//! flags  = FIRST (1): the first chunk of a batch; LAST (2): the last one
//! ```
//!
//! A batch counts only when its LAST chunk is read. A FIRST chunk discards
//! any unfinished batch before it: chunks that a failed append left behind
//! (never acknowledged) can never be glued to a later batch. The log's own
//! record checksums make each chunk all-or-nothing, and the caller waits for
//! the LAST chunk's sync, so a batch is atomic across a crash.
//!
//! The body is `Vec<Op>`: postcard's variant index then the fields, indices as
//! `u64` varints. [`OpRef`] (what is written, borrowing the caller's
//! operations) and [`Op`] (what is read) must list the same variants in the
//! same order.

use crate::error::{Error, Result};
use omnipaxos::ballot_leader_election::Ballot;
use omnipaxos::storage::{Entry, StopSign, StorageOp};
use serde::{Deserialize, Serialize};

/// Bytes of the header in front of every record.
pub(crate) const HEADER_LEN: usize = 12;
const MAGIC: u8 = 0xA7;
const VERSION: u8 = 1;
const FIRST: u8 = 1;
const LAST: u8 = 2;

/// One operation as written, borrowing from the caller's `StorageOp`.
#[derive(Serialize)]
enum OpRef<'a, T, S> {
    AppendEntry(&'a T),
    AppendEntries(&'a [T]),
    AppendOnPrefix(u64, &'a [T]),
    SetPromise(&'a Ballot),
    SetDecidedIndex(u64),
    SetAcceptedRound(&'a Ballot),
    SetCompactedIdx(u64),
    Trim(u64),
    SetStopsign(&'a Option<StopSign>),
    SetSnapshot(&'a Option<S>),
}

/// One operation as read back.
#[derive(Deserialize)]
enum Op<T, S> {
    AppendEntry(T),
    AppendEntries(Vec<T>),
    AppendOnPrefix(u64, Vec<T>),
    SetPromise(Ballot),
    SetDecidedIndex(u64),
    SetAcceptedRound(Ballot),
    SetCompactedIdx(u64),
    Trim(u64),
    SetStopsign(Option<StopSign>),
    SetSnapshot(Option<S>),
}

fn to_ref<T: Entry>(op: &StorageOp<T>) -> OpRef<'_, T, T::Snapshot> {
    match op {
        StorageOp::AppendEntry(e) => OpRef::AppendEntry(e),
        StorageOp::AppendEntries(es) => OpRef::AppendEntries(es),
        StorageOp::AppendOnPrefix(i, es) => OpRef::AppendOnPrefix(*i as u64, es),
        StorageOp::SetPromise(b) => OpRef::SetPromise(b),
        StorageOp::SetDecidedIndex(i) => OpRef::SetDecidedIndex(*i as u64),
        StorageOp::SetAcceptedRound(b) => OpRef::SetAcceptedRound(b),
        StorageOp::SetCompactedIdx(i) => OpRef::SetCompactedIdx(*i as u64),
        StorageOp::Trim(i) => OpRef::Trim(*i as u64),
        StorageOp::SetStopsign(s) => OpRef::SetStopsign(s),
        StorageOp::SetSnapshot(s) => OpRef::SetSnapshot(s),
    }
}

fn idx(i: u64) -> Result<usize, DecodeError> {
    usize::try_from(i).map_err(|_| DecodeError("an index does not fit this machine's usize"))
}

fn from_op<T: Entry>(op: Op<T, T::Snapshot>) -> Result<StorageOp<T>, DecodeError> {
    Ok(match op {
        Op::AppendEntry(e) => StorageOp::AppendEntry(e),
        Op::AppendEntries(es) => StorageOp::AppendEntries(es),
        Op::AppendOnPrefix(i, es) => StorageOp::AppendOnPrefix(idx(i)?, es),
        Op::SetPromise(b) => StorageOp::SetPromise(b),
        Op::SetDecidedIndex(i) => StorageOp::SetDecidedIndex(idx(i)?),
        Op::SetAcceptedRound(b) => StorageOp::SetAcceptedRound(b),
        Op::SetCompactedIdx(i) => StorageOp::SetCompactedIdx(idx(i)?),
        Op::Trim(i) => StorageOp::Trim(idx(i)?),
        Op::SetStopsign(s) => StorageOp::SetStopsign(s),
        Op::SetSnapshot(s) => StorageOp::SetSnapshot(s),
    })
}

/// Serialise `ops` of `group` into record payloads of at most `max_record`
/// bytes each. Fails (writing nothing) if an entry or snapshot does not
/// serialise.
pub(crate) fn encode<T>(group: u64, ops: &[StorageOp<T>], max_record: usize) -> Result<Vec<Vec<u8>>>
where
    T: Entry + Serialize,
{
    let refs: Vec<OpRef<'_, T, T::Snapshot>> = ops.iter().map(to_ref).collect();
    let mut buf = Vec::with_capacity(64);
    buf.extend_from_slice(&header(FIRST | LAST, group));
    let buf = postcard::to_extend(&refs, buf).map_err(Error::Encode)?;
    let body_max = max_record - HEADER_LEN;
    if buf.len() - HEADER_LEN <= body_max {
        return Ok(vec![buf]);
    }
    let chunks: Vec<&[u8]> = buf[HEADER_LEN..].chunks(body_max).collect();
    let n = chunks.len();
    Ok(chunks
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            let flags = if i == 0 { FIRST } else { 0 } | if i + 1 == n { LAST } else { 0 };
            let mut rec = Vec::with_capacity(HEADER_LEN + body.len());
            rec.extend_from_slice(&header(flags, group));
            rec.extend_from_slice(body);
            rec
        })
        .collect())
}

fn header(flags: u8, group: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..4].copy_from_slice(&[MAGIC, VERSION, flags, 0]);
    h[4..].copy_from_slice(&group.to_le_bytes());
    h
}

/// Why a record or checkpoint could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("undecodable record: {0}")]
pub struct DecodeError(pub &'static str);

/// Decode a batch body into its operations.
pub(crate) fn decode_ops<T>(body: &[u8]) -> Result<Vec<StorageOp<T>>, DecodeError>
where
    T: Entry + for<'de> Deserialize<'de>,
{
    let (ops, rest): (Vec<Op<T, T::Snapshot>>, &[u8]) =
        postcard::take_from_bytes(body).map_err(|_| DecodeError("operations do not deserialise"))?;
    if !rest.is_empty() {
        return Err(DecodeError("trailing bytes after the operations"));
    }
    ops.into_iter().map(from_op).collect()
}

/// Puts batches back together from records read in LSN order.
#[derive(Default)]
pub(crate) struct Reassembler {
    /// An unfinished batch: its group and the body so far.
    pending: Option<(u64, Vec<u8>)>,
}

/// A whole batch: its group and body.
pub(crate) enum Batch<'a> {
    /// Fitted in one record: borrowed from it.
    Whole(u64, &'a [u8]),
    /// Put together from chunks.
    Joined(u64, Vec<u8>),
}

impl Reassembler {
    /// Feed the next record; returns a batch when this record completes one.
    pub fn push<'a>(&mut self, record: &'a [u8]) -> Result<Option<Batch<'a>>, DecodeError> {
        if record.len() < HEADER_LEN {
            return Err(DecodeError("shorter than its header"));
        }
        if record[0] != MAGIC || record[1] != VERSION || record[3] != 0 {
            return Err(DecodeError("bad magic, version or reserved byte"));
        }
        let flags = record[2];
        if flags & !(FIRST | LAST) != 0 {
            return Err(DecodeError("unknown flags"));
        }
        let group = u64::from_le_bytes(record[4..HEADER_LEN].try_into().expect("8 bytes"));
        let body = &record[HEADER_LEN..];
        if flags & FIRST != 0 {
            // Whatever was unfinished was never acknowledged: drop it.
            self.pending = None;
            if flags & LAST != 0 {
                return Ok(Some(Batch::Whole(group, body)));
            }
            self.pending = Some((group, body.to_vec()));
            return Ok(None);
        }
        match &mut self.pending {
            Some((g, buf)) if *g == group => buf.extend_from_slice(body),
            _ => return Err(DecodeError("a continuation chunk without its first chunk")),
        }
        if flags & LAST != 0 {
            let (g, buf) = self.pending.take().expect("checked above");
            return Ok(Some(Batch::Joined(g, buf)));
        }
        Ok(None)
    }

    /// Forget an unfinished batch (replay restarts from a checkpoint).
    pub fn reset(&mut self) {
        self.pending = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    struct E(u64, String);
    impl Entry for E {
        type Snapshot = omnipaxos::storage::NoSnapshot;
    }

    fn roundtrip(ops: &[StorageOp<E>], max: usize) -> Vec<(u64, String)> {
        let recs = encode(7, ops, max).unwrap();
        assert!(recs.iter().all(|r| r.len() <= max));
        let mut r = Reassembler::default();
        let mut out = Vec::new();
        for rec in &recs {
            if let Some(b) = r.push(rec).unwrap() {
                let (g, body) = match &b {
                    Batch::Whole(g, b) => (*g, b.to_vec()),
                    Batch::Joined(g, b) => (*g, b.clone()),
                };
                assert_eq!(g, 7);
                for op in decode_ops::<E>(&body).unwrap() {
                    out.push((g, format!("{op:?}")));
                }
            }
        }
        out
    }

    #[test]
    fn every_operation_round_trips_whole_and_chunked() {
        let ss = StopSign::with(Default::default(), Some(vec![1, 2]));
        let ops = vec![
            StorageOp::AppendEntry(E(1, "a".into())),
            StorageOp::AppendEntries(vec![E(2, "b".into()), E(3, "x".repeat(300))]),
            StorageOp::AppendOnPrefix(2, vec![E(9, "c".into())]),
            StorageOp::SetPromise(Ballot::with(1, 2, 3, 4)),
            StorageOp::SetDecidedIndex(5),
            StorageOp::SetAcceptedRound(Ballot::with(1, 3, 0, 2)),
            StorageOp::SetCompactedIdx(6),
            StorageOp::Trim(7),
            StorageOp::SetStopsign(Some(ss)),
            StorageOp::SetStopsign(None),
            StorageOp::SetSnapshot(None),
        ];
        let want: Vec<String> = ops.iter().map(|o| format!("{o:?}")).collect();
        for max in [4096, HEADER_LEN + 1, HEADER_LEN + 50] {
            let got: Vec<String> = roundtrip(&ops, max).into_iter().map(|(_, s)| s).collect();
            assert_eq!(got, want, "max record {max}");
        }
    }

    #[test]
    fn a_first_chunk_drops_an_unfinished_batch() {
        let big = vec![StorageOp::AppendEntry(E(1, "y".repeat(100)))];
        let recs = encode(1, &big, HEADER_LEN + 40).unwrap();
        assert!(recs.len() > 2);
        let small = encode(2, &[StorageOp::<E>::SetDecidedIndex(3)], 4096).unwrap();
        let mut r = Reassembler::default();
        // The big batch's last chunk never made it; a new batch follows.
        for rec in &recs[..recs.len() - 1] {
            assert!(r.push(rec).unwrap().is_none());
        }
        match r.push(&small[0]).unwrap() {
            Some(Batch::Whole(2, body)) => {
                assert_eq!(format!("{:?}", decode_ops::<E>(body).unwrap()), "[SetDecidedIndex(3)]")
            }
            _ => panic!("expected the small batch"),
        }
        // A continuation with nothing before it is an error, never a panic.
        assert!(r.push(&recs[1]).is_err());
        assert!(r.push(&[MAGIC]).is_err());
        assert!(decode_ops::<E>(&[0xff, 0xff, 0xff]).is_err());
    }
}
