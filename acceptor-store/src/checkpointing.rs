//! Checkpoints.

use crate::checkpoint;
use crate::error::{Result, StoreError};
use crate::options::CheckpointInfo;
use crate::store::{lock, AcceptorStore};
use crate::value::Value;
use paxos_wal::Lsn;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub(crate) const CHECKPOINT_META: &[u8] = b"paxos-acceptor-checkpoint-v1";

/// Keeps log records at or after `lsn` from being deleted while a reply
/// reads values from them outside the store lock. Taken under the store
/// lock, in the same critical section that saw the values' locations, so a
/// checkpoint that deletes log segments afterwards sees it (see
/// [`AcceptorStore::checkpoint`]); released when dropped.
pub(crate) struct LogPin<'a> {
    pins: &'a Mutex<Vec<Lsn>>,
    lsn: Lsn,
}

impl<'a> LogPin<'a> {
    pub(crate) fn new(pins: &'a Mutex<Vec<Lsn>>, lsn: Lsn) -> Self {
        lock(pins).push(lsn);
        LogPin { pins, lsn }
    }
}

impl Drop for LogPin<'_> {
    fn drop(&mut self) {
        let mut pins = lock(self.pins);
        if let Some(i) = pins.iter().position(|&p| p == self.lsn) {
            pins.swap_remove(i);
        }
    }
}

impl AcceptorStore {
    /// Take a checkpoint now: write the acceptor state of every group
    /// (durably, through the snapshot store), then delete the log segments
    /// that the previous checkpoint already covers.
    pub fn checkpoint(&self) -> Result<CheckpointInfo> {
        let shared = &*self.shared;
        let _one_at_a_time = lock(&shared.checkpoint_lock);
        let started = Instant::now();
        let (image, position, groups, keep_log) = {
            let inner = lock(&shared.inner);
            let position = shared.wal.last_lsn();
            let failed = std::cell::RefCell::new(None);
            let image = checkpoint::encode(&inner.groups, |loc| {
                Value::try_resolve(loc, &shared.wal).unwrap_or_else(|e| {
                    *failed.borrow_mut() = Some(e);
                    None
                })
            })
            .map_err(|group| match failed.take() {
                Some(source) => shared.value_error(group, source),
                None => StoreError::MissingValue { group },
            })?;
            // While damage is unrepaired, keep the log that shows it.
            (image, position, inner.groups.map.len(), inner.damaged && !inner.groups.repaired_all)
        };
        shared.wal.wait_durable(position)?;
        let bytes = image.len();
        shared.snapshots.write(position, CHECKPOINT_META, &image)?;
        // Values at or below `position` now live in the image: point at it,
        // so the log segments holding them can go.
        let image = Arc::new(image);
        let decoded = checkpoint::decode(image).map_err(|source| StoreError::BadRecord { lsn: position, source })?;
        {
            let mut inner = lock(&shared.inner);
            for (id, g) in decoded.map {
                let Some(live) = inner.groups.map.get_mut(&id) else { continue };
                for (key, loc) in g.meta.map(|m| m.into_vec()).unwrap_or_default() {
                    let Some(m) = live.meta.as_deref_mut() else { break };
                    if let Ok(i) = m.binary_search_by_key(&key, |e| e.0) {
                        if m[i].1.covered_by(position) {
                            m[i].1 = loc;
                        }
                    }
                }
                // Both sorted by slot: walk them together.
                let mut i = 0;
                for e in g.slots {
                    while i < live.slots.len() && live.slots[i].slot < e.slot {
                        i += 1;
                    }
                    let Some(cur) = live.slots.get_mut(i).filter(|c| c.slot == e.slot) else { continue };
                    let old = cur.value.covered_by(position);
                    if old && cur.ballot == e.ballot {
                        cur.value = e.value;
                    }
                }
            }
        }
        let mut segments_removed = 0;
        if !keep_log {
            let snaps = shared.snapshots.list()?;
            if let Some(older) = snaps.get(shared.opts.keep_checkpoints.max(2) - 1).or(snaps.get(1)) {
                // A reply reading values outside the store lock (`decide`)
                // may hold a location at or below `older.position` only if
                // it took it before `older`'s checkpoint pointed such values
                // at its image (above, under the store lock): it pinned the
                // record in that same critical section, so the pin is seen
                // here. Later locations are all after `older.position`.
                let pinned = lock(&shared.pins).iter().min().copied();
                let upto = pinned.map_or(older.position + 1, |p| p.min(older.position + 1));
                segments_removed = shared.wal.delete_segments_before(upto)?;
            }
        }
        let took = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        shared.checkpoint_last_ns.store(took, Ordering::Relaxed);
        shared.checkpoint_total_ns.fetch_add(took, Ordering::Relaxed);
        shared.checkpoint_last_bytes.store(bytes as u64, Ordering::Relaxed);
        shared.checkpoint_total_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        shared.checkpoints.fetch_add(1, Ordering::Relaxed);
        Ok(CheckpointInfo { position, groups, bytes, segments_removed })
    }

    pub(crate) fn maybe_checkpoint(&self) {
        let Some(limit) = self.shared.opts.checkpoint_after_segments else { return };
        if self.shared.wal.segment_count() <= limit || self.shared.checkpoint_running.swap(true, Ordering::AcqRel) {
            return;
        }
        let store = self.clone();
        std::thread::spawn(move || {
            // A failure here is not lost: the log keeps everything, and a
            // failed sync poisons the log for every later caller.
            let _ = store.checkpoint();
            store.shared.checkpoint_running.store(false, Ordering::Release);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::ValueLoc;
    use crate::{Ballot, GroupId, Slot, StoreOptions};
    use paxos_wal::storage::MemStorage;

    /// A checkpoint keeps the records a reply still has to read: while a pin
    /// is held, no segment holding it (or anything after it) is deleted.
    #[test]
    fn checkpoints_keep_pinned_records() {
        let mem = MemStorage::new();
        let mut opts = StoreOptions::small(mem.shared());
        opts.log.segment_size = 16 << 10;
        let (s, _) = AcceptorStore::open("/pin", opts).unwrap();
        let b = Ballot::new(1, 1);
        let mut slot = 0;
        let mut write_segments = |s: &AcceptorStore, n: usize| {
            let until = s.log().segments + n;
            while s.log().segments < until {
                s.accept(GroupId(1), Slot(slot), b, &[1; 500]).unwrap();
                s.truncate_below(GroupId(1), Slot(slot)).unwrap();
                slot += 1;
            }
        };
        write_segments(&s, 1);
        let pinned = s.log().last_lsn;
        let pin = LogPin::new(&s.shared.pins, pinned);
        for _ in 0..4 {
            write_segments(&s, 2);
            s.checkpoint().unwrap();
        }
        assert!(s.log().first_lsn <= pinned, "a pinned record was deleted: {:?}", s.log());
        assert!(Value::try_resolve(&ValueLoc::Log { lsn: pinned, off: 0, len: 0 }, &s.shared.wal).unwrap().is_some());
        drop(pin);
        write_segments(&s, 2);
        s.checkpoint().unwrap();
        assert!(s.log().first_lsn > pinned, "unpinned, the log is truncated: {:?}", s.log());
    }
}
