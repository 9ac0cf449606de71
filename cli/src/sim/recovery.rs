//! Restarting a crashed acceptor through the real recovery path (crashes and
//! failed syncs during recovery included), and judging what it recovered.

use super::{options, Sim, ROOT};
use paxos_acceptor_store::AcceptorStore;
use paxos_store_testkit::invariants;
use paxos_store_testkit::store::read_state;
use paxos_wal::storage::CrashKind;
use rand::Rng;

impl Sim {
    pub(super) fn restart(&mut self, a: usize) {
        let mem = self.acceptors[a].mem.clone();
        let damage = if self.cfg.faults && self.rng.random_bool(self.cfg.file_damage) { self.damage(a) } else { None };
        if self.cfg.faults && self.rng.random_bool(0.2) {
            // Crash in the middle of recovery itself, then recover again.
            mem.crash_after_ops(self.rng.random_range(0..6));
            if AcceptorStore::open(ROOT, options(&mem)).is_err() {
                mem.crash(CrashKind::PowerLoss, &mut self.rng);
                self.stats.recovery_crashes += 1;
            } else {
                mem.crash(CrashKind::Process, &mut self.rng);
            }
        } else if self.cfg.faults && self.rng.random_bool(0.1) {
            // A sync fails during recovery: the process gives up and is
            // restarted on the same boot (lying pages may be evicted).
            mem.fail_sync(self.rng.random_range(0..4));
            self.stats.sync_failures += 1;
            let _ = AcceptorStore::open(ROOT, options(&mem));
            mem.crash(CrashKind::Process, &mut self.rng);
        }
        let failed_syncs = mem.counts().failed_syncs;
        match AcceptorStore::open(ROOT, options(&mem)) {
            Ok((store, report)) => {
                if !report.damage.is_empty() {
                    if let Some(d) = &damage {
                        // Honest: the acceptor knows it lost data and must not serve.
                        self.stats.lost_reported[d.class as usize] += 1;
                        self.lose(a);
                        return;
                    }
                    self.violation(format!("acceptor {a}: damage without bit rot: {report}"));
                }
                self.acceptors[a].store = Some(store);
                self.stats.recoveries += 1;
                let before = self.stats.violations.len();
                self.check(a);
                if let Some(d) = damage {
                    let after = format!(
                        " [after the {} segment {} was {} between runs]",
                        if d.last { "last" } else { "older" },
                        d.file,
                        d.class.name()
                    );
                    for v in &mut self.stats.violations[before..] {
                        v.push_str(&after);
                    }
                    if self.stats.violations.len() == before {
                        self.stats.damage_harmless[d.class as usize] += 1;
                    } else {
                        // Reported once; an acceptor serving a shorter log
                        // would only repeat it (and mask later findings).
                        self.stats.damage_violated[d.class as usize] += 1;
                        self.lose(a);
                    }
                }
            }
            Err(_) if damage.is_some() => {
                let d = damage.expect("checked");
                self.stats.lost_refused[d.class as usize] += 1;
                self.lose(a);
            }
            Err(_) if mem.counts().failed_syncs > failed_syncs => {
                // An I/O error of the disk (a write-back error reported to
                // the new process): restart again later.
                self.stats.recovery_io_failures += 1;
                mem.crash(CrashKind::Process, &mut self.rng);
                self.acceptors[a].down_until = self.step + 1;
            }
            Err(e) => self.violation(format!("acceptor {a} failed to recover: {e}")),
        }
    }

    /// The acceptor lost its disk: it stays down for the rest of the run.
    fn lose(&mut self, a: usize) {
        let acc = &mut self.acceptors[a];
        acc.store = None;
        acc.lost = true;
        acc.down_until = usize::MAX;
    }

    /// I1-I3 and I5 for acceptor `a` against what it acknowledged (the
    /// test kit's checker; I4 is checked on every reply as it is made).
    pub(super) fn check(&mut self, a: usize) {
        let Some(store) = self.acceptors[a].store.clone() else { return };
        let bad = match read_state(&store) {
            Ok(state) => invariants::check(&state, &self.acceptors[a].acked),
            Err(e) => vec![format!("I2: acceptor {a} cannot read its state back: {e}")],
        };
        for b in bad {
            self.violation(format!("acceptor {a}: {b}"));
        }
    }
}
