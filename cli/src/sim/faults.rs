//! Faults drawn during a run: power loss and process crashes, failed syncs,
//! a full disk, crash points, background write-back errors, failing mapped
//! reads, and the checkpoints and truncations drawn among them.

use super::{Sim, ROOT};
use paxos_acceptor_store::{GroupId, Op, Slot};
use paxos_wal::storage::{CrashKind, Storage};
use rand::Rng;
use std::path::Path;

impl Sim {
    /// Take acceptor `a` down after a failure or an injected crash.
    pub(super) fn crash(&mut self, a: usize, kind: CrashKind) {
        let acc = &mut self.acceptors[a];
        acc.store = None;
        acc.mem.crash(kind, &mut self.rng);
        acc.mem.set_capacity(None);
        acc.full_until = None;
        acc.mapped_fault = false;
        acc.down_until = self.step + self.rng.random_range(1..50);
        match kind {
            CrashKind::PowerLoss => self.stats.power_losses += 1,
            CrashKind::Process => self.stats.process_crashes += 1,
        }
    }

    /// An error from the store: the acceptor process dies (a failed sync
    /// poisons the store; a crash point means the process is dead).
    pub(super) fn failed(&mut self, a: usize, e: &paxos_acceptor_store::StoreError) {
        if matches!(e, paxos_acceptor_store::StoreError::DamagedValue { .. }) {
            self.stats.damaged_value_errors += 1;
        }
        let full = matches!(e, paxos_acceptor_store::StoreError::Wal(paxos_wal::Error::NoSpace { .. }));
        if full {
            return; // no reply; the acceptor stays up and retries later
        }
        // The process dies; half of the time it is restarted on the same
        // boot, over a page cache that may hold lying pages.
        let kind = if self.rng.random_bool(0.5) { CrashKind::Process } else { CrashKind::PowerLoss };
        self.crash(a, kind);
    }

    pub(super) fn inject_fault(&mut self) {
        let a = self.rng.random_range(0..self.cfg.acceptors);
        if self.acceptors[a].store.is_none() {
            return;
        }
        match self.rng.random_range(0..9) {
            0 => self.crash(a, CrashKind::PowerLoss),
            1 => self.crash(a, CrashKind::Process),
            2 => {
                self.acceptors[a].mem.fail_sync(self.rng.random_range(0..3));
                self.stats.sync_failures += 1;
            }
            3 => {
                let used = self.acceptors[a].mem.used_bytes();
                self.acceptors[a].mem.set_capacity(Some(used));
                self.acceptors[a].full_until = Some(self.step + self.rng.random_range(10..200));
                self.stats.disk_full += 1;
            }
            4 => {
                // Die at a random upcoming I/O operation: inside an append,
                // a roll-over, a checkpoint or a truncation.
                self.acceptors[a].mem.crash_after_ops(self.rng.random_range(0..12));
                self.stats.crash_points += 1;
            }
            5 => {
                // A background write-back of the last segment fails: its
                // next sync reports EIO (errseq).
                let mem = self.acceptors[a].mem.clone();
                let dir = Path::new(ROOT).join("wal");
                let last = mem.list(&dir).ok().and_then(|l| l.into_iter().filter(|n| n.ends_with(".wal")).max());
                if let Some(name) = last {
                    if mem.fail_writeback(&dir.join(name), &mut self.rng).is_ok() {
                        self.stats.writeback_faults += 1;
                    }
                }
            }
            6 => {
                // A segment's mapping starts failing reads (it was truncated
                // by another process, or a page cannot be read back): the
                // store must answer with a typed error, never a SIGBUS or a
                // wrong value.
                let mem = self.acceptors[a].mem.clone();
                let dir = Path::new(ROOT).join("wal");
                let mut segs: Vec<String> = mem.list(&dir).unwrap_or_default();
                segs.retain(|n| n.ends_with(".wal"));
                segs.sort();
                if !segs.is_empty() {
                    let i =
                        if self.rng.random_bool(0.6) { segs.len() - 1 } else { self.rng.random_range(0..segs.len()) };
                    if mem.fail_mapped_reads(&dir.join(&segs[i])).is_ok() {
                        self.acceptors[a].mapped_fault = true;
                        self.stats.mapped_read_faults += 1;
                    }
                }
            }
            _ => self.maintain(a),
        }
    }

    /// Checkpoint, or truncate a chosen prefix.
    fn maintain(&mut self, a: usize) {
        let Some(store) = self.acceptors[a].store.clone() else { return };
        if self.rng.random_bool(0.5) {
            self.stats.checkpoints += 1;
            let r = store.checkpoint();
            let poisoned = store.log().poisoned;
            drop(store);
            if let Err(e) = r {
                let full = matches!(&e, paxos_acceptor_store::StoreError::Snapshot(_)) && !poisoned;
                if !full {
                    self.failed(a, &e);
                }
            }
            return;
        }
        let group = GroupId(self.rng.random_range(0..self.cfg.groups));
        let mut upto = 0;
        while self.chosen.contains_key(&(group, Slot(upto))) {
            upto += 1;
        }
        if upto == 0 {
            return;
        }
        let below = Slot(self.rng.random_range(1..=upto));
        let acked = &mut self.acceptors[a].acked;
        let t = acked.truncate_attempted.entry(group).or_default();
        *t = (*t).max(below);
        if self.rng.random_bool(0.3) {
            // Queued, not waited for (an event-loop node): its record becomes
            // durable with a later sync, and a reply that depends on it (an
            // accept answered Truncated) must wait for it (I5, case 18).
            match store.submit(Op::TruncateBelow { group, slot: below }) {
                Ok(_) => self.stats.truncations += 1,
                Err(e) => {
                    drop(store);
                    self.failed(a, &e);
                }
            }
            return;
        }
        let r = store.truncate_below(group, below);
        drop(store);
        match r {
            Ok(()) => {
                let acked = &mut self.acceptors[a].acked;
                let t = acked.truncated.entry(group).or_default();
                *t = (*t).max(below);
                self.stats.truncations += 1;
            }
            Err(e) => self.failed(a, &e),
        }
    }
}
