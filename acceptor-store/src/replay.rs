//! Replay: the store's state rebuilt from a checkpoint and the log after it.

use crate::checkpoint;
use crate::codec::{decode, expand, flags, StoredOp, CONTINUATION, CONTINUES};
use crate::state::Groups;
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
}

impl StateMachine for Rebuild {
    fn restore(&mut self, _position: Lsn, _metadata: &[u8], payload: &mut dyn Read) -> Result<(), BoxError> {
        let mut image = Vec::new();
        payload.read_to_end(&mut image)?;
        self.groups = checkpoint::decode(Arc::new(image))?;
        self.pending.clear();
        self.pending_next = None;
        self.pending_value_bytes = 0;
        self.value_bytes = 0;
        Ok(())
    }

    fn apply(&mut self, record: &Record) -> Result<(), BoxError> {
        let ops = decode(record)?;
        let f = flags(record);
        let lsn = record.lsn();
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
        // 4-byte length), before a put is expanded into its slots.
        self.pending_value_bytes += ops.iter().map(|op| u64::from(op.value.1)).sum::<u64>();
        let ops = ops.iter().flat_map(|op| expand(op, record));
        if f & CONTINUES != 0 {
            self.pending.extend(ops.map(|op| (op, lsn)));
            self.pending_next = Some(lsn + 1);
            return Ok(());
        }
        self.value_bytes += std::mem::take(&mut self.pending_value_bytes);
        for (op, at) in self.pending.drain(..) {
            self.groups.apply(&op, at, None);
        }
        for op in ops {
            self.groups.apply(&op, lsn, None);
        }
        Ok(())
    }
}
