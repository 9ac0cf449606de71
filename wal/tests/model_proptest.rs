//! Property test: random sequences of appends (0 bytes to the largest
//! record), batches, syncs, truncations, reopens, process crashes, power
//! losses, failed syncs, process deaths after the Nth file-system operation
//! and deaths of recovery itself, against a `Vec` model, on 16 KiB segments
//! (frequent roll-overs), under both tolerant policies, all write modes, and
//! with or without the background segment preparer.
//!
//! The model holds every record appended since the log's first LSN and the
//! highest LSN a completed sync (or a recovery) made durable. After every
//! reopen the log must hold the model's durable prefix plus possibly a prefix
//! of the not-yet-durable suffix: nothing acknowledged lost, nothing
//! invented, nothing reordered. The disk never rots here, so no open may
//! report damage, and under `TolerateTornTail` (or `Salvage`) no open may fail.
//! After a truncation the LSNs below `first_lsn()` are gone and the rest intact.
//!
//! `PROPTEST_CASES=5000 cargo test -p paxos-wal --test model_proptest -- --nocapture`
//! runs a longer search and prints what it covered.

mod common;

use common::{dir, opts, payload, records, rng, SEG};
use paxos_wal::format::max_payload;
use paxos_wal::storage::{CrashKind, MemStorage};
use paxos_wal::{CorruptionPolicy, Lsn, Wal, WriteMode};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Append {
        len: usize,
        salt: u64,
    },
    Batch {
        lens: Vec<usize>,
        salt: u64,
    },
    Sync,
    /// Drop the log and open it again (drop does no I/O: like a kill).
    Reopen,
    ProcessCrash,
    PowerLoss {
        seed: u64,
    },
    /// Truncate below a point `at`/255 of the way from the first to the next LSN.
    Truncate {
        at: u8,
    },
    /// The next sync fails with EIO, then the process dies (`seed: None`) or
    /// the machine loses power.
    SyncFails {
        seed: Option<u64>,
    },
    /// The process dies after `n` more file-system operations while running
    /// `steps` (append of a length, then a sync if the flag is set); then the
    /// page cache survives (`seed: None`) or the power fails too.
    CrashAfterOps {
        n: u8,
        steps: Vec<(usize, bool)>,
        salt: u64,
        seed: Option<u64>,
    },
    /// Recovery itself dies after `n` operations, then the power fails.
    CrashInRecovery {
        n: u8,
        seed: u64,
    },
}

fn len() -> impl Strategy<Value = usize> {
    let max = max_payload(SEG);
    prop_oneof![
        2 => Just(0usize),
        6 => 1usize..200,
        3 => 200usize..3000,
        1 => (max - 64)..=max,
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (len(), any::<u64>()).prop_map(|(len, salt)| Op::Append { len, salt }),
        3 => (prop::collection::vec(len(), 0..6), any::<u64>()).prop_map(|(lens, salt)| Op::Batch { lens, salt }),
        5 => Just(Op::Sync),
        1 => Just(Op::Reopen),
        1 => Just(Op::ProcessCrash),
        2 => any::<u64>().prop_map(|seed| Op::PowerLoss { seed }),
        1 => any::<u8>().prop_map(|at| Op::Truncate { at }),
        1 => any::<Option<u64>>().prop_map(|seed| Op::SyncFails { seed }),
        2 => (0u8..48, prop::collection::vec((len(), any::<bool>()), 1..8), any::<u64>(), any::<Option<u64>>())
            .prop_map(|(n, steps, salt, seed)| Op::CrashAfterOps { n, steps, salt, seed }),
        1 => (0u8..24, any::<u64>()).prop_map(|(n, seed)| Op::CrashInRecovery { n, seed }),
    ]
}

/// Counts printed as the cases run (`--nocapture`), to show what was covered.
#[derive(Clone, Copy, Debug, Default)]
struct Totals {
    cases: u64,
    ops: u64,
    reopens: u64,
    max_segments: usize,
}

thread_local! {
    static TOTALS: std::cell::RefCell<Totals> = std::cell::RefCell::new(Totals::default());
}

struct Model {
    /// LSN of `records[0]`.
    first: Lsn,
    /// Every record appended and not truncated away, in LSN order.
    records: Vec<Vec<u8>>,
    /// Every LSN at or below this one was acknowledged durable.
    durable: Lsn,
}

impl Model {
    fn next(&self) -> Lsn {
        self.first + self.records.len() as u64
    }
}

struct Harness {
    mem: MemStorage,
    policy: CorruptionPolicy,
    mode: WriteMode,
    background: bool,
    wal: Option<Wal>,
    model: Model,
    reopens: u64,
    max_segs: usize,
}

impl Harness {
    fn options(&self) -> paxos_wal::WalOptions {
        paxos_wal::WalOptions {
            write_mode: self.mode,
            background_prepare: self.background,
            ..opts(&self.mem, self.policy)
        }
    }

    fn wal(&self) -> &Wal {
        self.wal.as_ref().expect("open")
    }

    fn append(&mut self, lens: &[usize], salt: u64) {
        let first = self.model.next();
        let bodies: Vec<Vec<u8>> = lens.iter().enumerate().map(|(i, &l)| payload(first + i as u64, salt, l)).collect();
        let got = if bodies.len() == 1 {
            self.wal().append(&bodies[0]).map(|l| l..l + 1)
        } else {
            self.wal().append_batch(bodies.iter().map(|b| b.as_slice()))
        };
        let got = got.unwrap_or_else(|e| panic!("append of {lens:?} failed: {e}"));
        assert_eq!(got, first..first + bodies.len() as u64, "LSNs handed out");
        self.model.records.extend(bodies);
    }

    /// Drop the log, optionally crash, reopen, and check what came back.
    fn reopen(&mut self, crash: Option<(CrashKind, u64)>) {
        drop(self.wal.take());
        if let Some((kind, seed)) = crash {
            self.mem.crash(kind, &mut rng(seed));
        }
        self.reopens += 1;
        let (wal, report) = Wal::open(dir(), self.options())
            .unwrap_or_else(|e| panic!("open after {crash:?} under {:?} failed: {e}", self.policy));
        let m = &mut self.model;
        assert!(report.damage.is_empty(), "damage on a disk that never rots: {report}");
        assert!(report.dropped_empty_segment.is_none(), "{report}");
        assert_eq!(wal.first_lsn(), m.first, "first lsn after reopen: {report}");
        let got = records(&wal);
        let last = wal.last_lsn();
        assert!(last >= m.durable, "acknowledged records lost: last {last} < durable {}: {report}", m.durable);
        assert!(last < m.next(), "records invented: last {last}, only {} appended: {report}", m.next() - 1);
        assert_eq!(got.len() as u64, last + 1 - m.first, "holes in a log that never rotted: {report}");
        for (i, (lsn, bytes)) in got.iter().enumerate() {
            assert_eq!(*lsn, m.first + i as u64, "LSNs out of order");
            assert!(*bytes == m.records[i], "lsn {lsn} differs from what was appended");
        }
        assert_eq!((report.first_lsn, report.last_lsn), (m.first, last), "{report}");
        if let Some(t) = &report.torn_tail {
            assert_eq!(t.lsn, last + 1, "torn tail lsn: {report}");
            assert!(t.lsn > m.durable, "an acknowledged record was cut as torn: {report}");
        }
        assert!(report.durable_watermark < m.next(), "watermark claims unappended records: {report}");
        // Recovery makes everything it kept durable.
        assert_eq!(wal.durable_lsn(), last);
        m.records.truncate((last + 1 - m.first) as usize);
        m.durable = last;
        self.wal = Some(wal);
    }

    fn run(&mut self, op: &Op) {
        match op {
            Op::Append { len, salt } => self.append(&[*len], *salt),
            Op::Batch { lens, salt } => self.append(lens, *salt),
            Op::Sync => {
                self.wal().sync().expect("sync");
                self.model.durable = self.model.next() - 1;
                assert_eq!(self.wal().durable_lsn(), self.model.durable);
            }
            Op::Reopen => self.reopen(None),
            Op::ProcessCrash => self.reopen(Some((CrashKind::Process, 0))),
            Op::PowerLoss { seed } => self.reopen(Some((CrashKind::PowerLoss, *seed))),
            Op::SyncFails { seed } => {
                let unsynced = self.model.next() - 1 > self.model.durable;
                self.mem.fail_sync(0);
                match self.wal().sync() {
                    Ok(()) => self.model.durable = self.model.next() - 1,
                    Err(e) => {
                        assert!(unsynced, "sync with nothing to sync failed: {e}");
                        assert!(self.wal().is_poisoned());
                        assert!(self.wal().durable_lsn() == self.model.durable);
                        assert!(matches!(self.wal().append(b"x"), Err(paxos_wal::Error::Poisoned { .. })));
                    }
                }
                let kind = if seed.is_some() { CrashKind::PowerLoss } else { CrashKind::Process };
                self.reopen(Some((kind, seed.unwrap_or(0))));
                return;
            }
            Op::CrashAfterOps { n, steps, salt, seed } => {
                self.mem.crash_after_ops(*n as u64);
                for (i, &(len, sync)) in steps.iter().enumerate() {
                    let lsn = self.model.next();
                    let body = payload(lsn, salt.wrapping_add(i as u64), len);
                    match self.wal().append(&body) {
                        Ok(got) => assert_eq!(got, lsn),
                        Err(_) => break,
                    }
                    self.model.records.push(body);
                    if sync {
                        if self.wal().sync().is_err() {
                            break;
                        }
                        self.model.durable = lsn;
                    }
                }
                let kind = if seed.is_some() { CrashKind::PowerLoss } else { CrashKind::Process };
                self.reopen(Some((kind, seed.unwrap_or(0))));
                return;
            }
            Op::CrashInRecovery { n, seed } => {
                drop(self.wal.take());
                self.mem.crash(CrashKind::Process, &mut rng(0));
                self.mem.crash_after_ops(*n as u64);
                // It may fail (the process dies) or, with enough operations, succeed.
                drop(Wal::open(dir(), self.options()));
                self.reopen(Some((CrashKind::PowerLoss, *seed)));
                return;
            }
            Op::Truncate { at } => {
                let m = &self.model;
                let span = m.next() - m.first;
                let lsn = m.first + span * *at as u64 / 255;
                let old_first = m.first;
                let removed = self.wal().delete_segments_before(lsn).expect("delete_segments_before");
                let first = self.wal().first_lsn();
                assert!(
                    first >= old_first && first <= lsn.max(old_first),
                    "first {first} after truncating below {lsn}"
                );
                assert_eq!(removed > 0, first > old_first);
                assert!(first <= m.next());
                self.model.records.drain(..(first - old_first) as usize);
                self.model.first = first;
                if first > 1 {
                    assert!(self.wal().read(first - 1).unwrap().is_none(), "lsn {} survived truncation", first - 1);
                }
                // Everything from the new first LSN on is intact.
                let got = records(self.wal());
                assert_eq!(got.len(), self.model.records.len());
                for (i, (lsn, bytes)) in got.iter().enumerate() {
                    assert!(*lsn == first + i as u64 && *bytes == self.model.records[i], "lsn {lsn} after truncation");
                }
            }
        }
        // Everything appended reads back, whether durable or not.
        let m = &self.model;
        if let Some(last) = m.records.last() {
            let r = self.wal().read(m.next() - 1).unwrap().expect("last record readable");
            assert!(&*r == last.as_slice());
        }
        assert_eq!(self.wal().last_lsn(), m.next() - 1);
        self.max_segs = self.max_segs.max(self.wal().segment_count());
    }
}

fn policy() -> impl Strategy<Value = CorruptionPolicy> {
    prop_oneof![3 => Just(CorruptionPolicy::TolerateTornTail), 1 => Just(CorruptionPolicy::Salvage)]
}

fn mode() -> impl Strategy<Value = WriteMode> {
    prop_oneof![4 => Just(WriteMode::Pwrite), 1 => Just(WriteMode::Dsync), 1 => Just(WriteMode::Mmap)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, max_shrink_iters: 2000, ..ProptestConfig::default() })]

    #[test]
    fn log_matches_model_across_crashes(
        policy in policy(),
        mode in mode(),
        background in prop::bool::weighted(0.25),
        ops in prop::collection::vec(op(), 1..100),
    ) {
        let mem = MemStorage::new();
        let (wal, report) = Wal::open(dir(), paxos_wal::WalOptions { write_mode: mode, background_prepare: background, ..opts(&mem, policy) })
            .expect("create");
        prop_assert!(report.created);
        let mut h = Harness {
            mem,
            policy,
            mode,
            background,
            wal: Some(wal),
            model: Model { first: 1, records: Vec::new(), durable: 0 },
            reopens: 0,
            max_segs: 0,
        };
        for op in &ops {
            h.run(op);
        }
        // End every case with a power loss, so each one checks recovery at least once.
        h.reopen(Some((CrashKind::PowerLoss, ops.len() as u64)));
        let t = TOTALS.with(|t| {
            let mut t = t.borrow_mut();
            t.cases += 1;
            t.ops += ops.len() as u64;
            t.reopens += h.reopens;
            t.max_segments = t.max_segments.max(h.max_segs);
            *t
        });
        if t.cases % 64 == 0 {
            eprintln!("{t:?}");
        }
    }
}
