//! Replay: the store's state rebuilt from a checkpoint and the log after it.

use crate::checkpoint;
use crate::codec::{decode, expand, flags, DecodeError, Kind, StoredOp, CONTINUATION, CONTINUES};
use crate::state::{Groups, MAX_LSN};
use crate::value::Images;
use paxos_recovery::{BoxError, StateMachine};
use paxos_wal::{Lsn, Record};
use std::io::Read;
use std::sync::Arc;

/// Rebuilds the groups from a checkpoint and the log.
#[derive(Default)]
pub(crate) struct Rebuild {
    pub(crate) groups: Groups,
    /// The operations of a batch cut over several records, until its last
    /// record.
    pub(crate) pending: Vec<(StoredOp, Lsn)>,
    /// While such a batch is open: the LSN its next record must have.
    pub(crate) pending_next: Option<Lsn>,
    /// Bytes of values in `pending`.
    pub(crate) pending_value_bytes: u64,
    /// Bytes of values in the batches applied after the checkpoint restored
    /// (see [`AcceptorStore::replayed_value_bytes`]).
    pub(crate) value_bytes: u64,
    /// The restored checkpoint's shard positions (see `checkpoint.rs`): a
    /// group's records at or below its shard's are in the image already.
    pub(crate) positions: Option<Vec<Lsn>>,
    /// The restored checkpoint's image, which its groups' values point into.
    pub(crate) images: Images,
}

impl Rebuild {
    /// The restored image holds what `op` (of the record at `lsn`) wrote:
    /// the record is at or below its group's shard position.
    fn in_image(&self, op: &StoredOp, lsn: Lsn) -> bool {
        op.kind != Kind::Repair && self.positions.as_ref().is_some_and(|p| lsn <= p[crate::state::shard_of(op.group)])
    }

    fn apply_op(&mut self, op: &StoredOp, lsn: Lsn) {
        if !self.in_image(op, lsn) {
            self.groups.apply(op, lsn, None);
        }
    }
}

impl StateMachine for Rebuild {
    fn restore(&mut self, position: Lsn, _metadata: &[u8], payload: &mut dyn Read) -> Result<(), BoxError> {
        let mut image = Vec::new();
        payload.read_to_end(&mut image)?;
        self.images = Images::default();
        let image = checkpoint::decode(Arc::new(image), &self.images)?;
        if image.positions.as_ref().is_some_and(|p| p[0] != position) {
            return Err(DecodeError("the image's first shard is not at the checkpoint's position").into());
        }
        self.groups = image.groups;
        self.positions = image.positions;
        self.pending.clear();
        self.pending_next = None;
        self.pending_value_bytes = 0;
        self.value_bytes = 0;
        Ok(())
    }

    fn apply(&mut self, record: &Record) -> Result<(), BoxError> {
        let lsn = record.lsn();
        if lsn > MAX_LSN {
            return Err(DecodeError(crate::write::LSN_RANGE).into());
        }
        let ops = decode(record)?;
        let f = flags(record);
        let next = self.pending_next.take();
        if f & CONTINUATION == 0 {
            // A new batch: an unfinished one before it was never acknowledged
            // (its last record was never written).
            self.pending.clear();
            self.pending_value_bytes = 0;
        } else if next != Some(lsn) {
            // The start of this batch, or a record inside it, is not in the
            // log (only damage can do that, which the log reports under
            // Salvage): never apply part of a batch.
            self.pending.clear();
            self.pending_value_bytes = 0;
            return Ok(());
        }
        // A value's bytes as written (a put: its values, each with its
        // 4-byte length), before a put is expanded into its slots; not those
        // the image holds already.
        self.pending_value_bytes +=
            ops.iter().filter(|op| !self.in_image(op, lsn)).map(|op| u64::from(op.value.1)).sum::<u64>();
        let ops = ops.iter().flat_map(|op| expand(op, record));
        if f & CONTINUES != 0 {
            self.pending.extend(ops.map(|op| (op, lsn)));
            self.pending_next = Some(lsn + 1);
            return Ok(());
        }
        self.value_bytes += std::mem::take(&mut self.pending_value_bytes);
        for (op, at) in std::mem::take(&mut self.pending) {
            self.apply_op(&op, at);
        }
        for op in ops {
            self.apply_op(&op, lsn);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{put_body, RecordBuilder};
    use crate::state::{shard_of, Group, SHARDS};
    use crate::types::{Ballot, GroupId, Slot};
    use paxos_wal::storage::MemStorage;
    use paxos_wal::{Wal, WalOptions};

    /// A group's records at or below its shard's position are in the image
    /// already and are not applied again; a group of an earlier shard, with
    /// a lower position, gets the same record applied. (The image here does
    /// not hold what the record wrote, so applying it twice would show.)
    #[test]
    fn records_a_shards_copy_holds_are_not_replayed() {
        let b = GroupId(1);
        let a = GroupId((2..).find(|&id| shard_of(GroupId(id)) > shard_of(b)).unwrap());
        let groups = Groups::default();
        groups.map.insert(a, Group::default());
        groups.map.insert(b, Group::default());
        // Every shard copied at lsn 1; from `a`'s on, at lsn 2.
        let positions: Vec<Lsn> = (0..SHARDS).map(|i| if i < shard_of(a) { 1 } else { 2 }).collect();
        let image = checkpoint::encode(&groups, &positions, |_| None).unwrap();

        let (wal, _) = Wal::open("/replay", WalOptions::small(MemStorage::new().shared())).unwrap();
        let mut batch = RecordBuilder::new();
        let value = put_body(&[b"x".to_vec()]);
        for g in [a, b] {
            batch.push(Kind::Put, g, Slot(3), Ballot::new(1, 1), &value);
        }
        wal.append(b"lsn 1: before the checkpoint").unwrap();
        wal.append(&batch.finish_with(0)).unwrap();
        let mut rebuild = Rebuild::default();
        rebuild.restore(1, &[], &mut &image[..]).unwrap();
        for rec in wal.iter_from(2).unwrap() {
            rebuild.apply(&rec.unwrap()).unwrap();
        }
        let slots = |g| rebuild.groups.map.get(g, |g| g.slots().iter().map(|e| e.slot.0).collect::<Vec<_>>()).unwrap();
        assert_eq!((slots(a), slots(b)), (vec![], vec![3]));
        // Only `b`'s value (4 bytes of length and "x") counts as replayed.
        assert_eq!(rebuild.value_bytes, 5);
    }

    /// The image's first shard is the checkpoint's own position.
    #[test]
    fn an_image_whose_positions_disagree_with_its_checkpoint_is_refused() {
        let image = checkpoint::encode(&Groups::default(), &[5; SHARDS], |_| None).unwrap();
        assert!(Rebuild::default().restore(4, &[], &mut &image[..]).is_err());
        assert!(Rebuild::default().restore(5, &[], &mut &image[..]).is_ok());
    }
}
