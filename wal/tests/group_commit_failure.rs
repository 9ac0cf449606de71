//! Group commit when a sync fails: every caller waiting on it gets an error,
//! nobody is told "durable" for an LSN above the durable point, and every
//! later append, sync and truncation fails with `Error::Poisoned`. After a
//! power loss, every LSN that was acknowledged is still there.

mod common;

use common::{dir, payload, records, rng};
use paxos_store_testkit::hooked::{Hooked, Hooks};
use paxos_wal::storage::{CrashKind, MemStorage};
use paxos_wal::{CorruptionPolicy, Error, Lsn, Wal, WalOptions};
use std::collections::HashSet;
use std::fmt::Debug;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::thread;
use std::time::Duration;

/// A sync that, once armed, stops inside `sync_data` until released: the
/// test holds a group-commit round in flight while more callers pile up.
#[derive(Debug, Default)]
struct Gate {
    armed: AtomicBool,
    state: Mutex<(bool, bool)>, // (a sync entered, released)
    cv: Condvar,
}

impl Gate {
    fn pass(&self) {
        if self.armed.swap(false, Ordering::SeqCst) {
            let mut s = self.state.lock().unwrap();
            s.0 = true;
            self.cv.notify_all();
            while !s.1 {
                s = self.cv.wait(s).unwrap();
            }
        }
    }
    fn wait_entered(&self) {
        let mut s = self.state.lock().unwrap();
        while !s.0 {
            s = self.cv.wait(s).unwrap();
        }
    }
    fn release(&self) {
        self.state.lock().unwrap().1 = true;
        self.cv.notify_all();
    }
}

/// The hooks of the tests' storage (a `Hooked` over the simulated disk).
#[derive(Debug)]
struct Gates {
    /// Every file sync stops here while it is armed.
    gate: Arc<Gate>,
    /// Once armed, the next `write_all_at` stops at this gate until
    /// released, then fails with EIO.
    write_gate: Arc<Gate>,
    /// Every directory sync fails with EIO while set.
    fail_dir_sync: AtomicBool,
}

impl Gates {
    fn new(gate: Arc<Gate>) -> Self {
        Gates { gate, write_gate: Arc::default(), fail_dir_sync: AtomicBool::new(false) }
    }
}

impl Hooks for Gates {
    fn before_sync(&self, _all: bool) -> io::Result<()> {
        self.gate.pass();
        Ok(())
    }
    fn before_write(&self) -> io::Result<()> {
        if self.write_gate.armed.load(Ordering::SeqCst) {
            self.write_gate.pass();
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        Ok(())
    }
    fn before_sync_dir(&self, _dir: &Path) -> io::Result<()> {
        if self.fail_dir_sync.load(Ordering::SeqCst) {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        Ok(())
    }
}

fn assert_poisoned<T: Debug>(r: paxos_wal::Result<T>, what: &str) {
    assert!(matches!(r, Err(Error::Poisoned { .. })), "{what}: expected Poisoned, got {r:?}");
}

/// One round is held inside its (failing) sync while 32 more callers append
/// and wait; when it fails, the leader and all 32 get an error.
#[test]
fn every_caller_waiting_on_a_failed_sync_gets_the_error() {
    const WAITERS: usize = 32;
    let mem = MemStorage::new();
    let gate = Arc::new(Gate::default());
    let storage = Hooked::new(mem.shared(), Gates::new(gate.clone()));
    let opts = WalOptions { segment_size: 1 << 20, ..WalOptions::small(storage) };
    let (wal, _) = Wal::open(dir(), opts).unwrap();
    let wal = Arc::new(wal);
    for lsn in 1..=10 {
        wal.append_durable(&payload(lsn, 0, 100)).unwrap();
    }
    let durable = wal.durable_lsn();
    assert_eq!(durable, 10);

    gate.armed.store(true, Ordering::SeqCst);
    mem.fail_sync(0);
    let leader = {
        let wal = wal.clone();
        thread::spawn(move || wal.append_durable(&payload(11, 0, 100)))
    };
    gate.wait_entered(); // the leader's round is inside its sync now
    let appended = Arc::new(AtomicUsize::new(0));
    let waiters: Vec<_> = (0..WAITERS)
        .map(|t| {
            let (wal, appended) = (wal.clone(), appended.clone());
            thread::spawn(move || {
                let lsn = wal.append(&payload(100 + t as u64, 1, 100)).expect("append before the failure");
                appended.fetch_add(1, Ordering::SeqCst);
                (lsn, wal.wait_durable(lsn))
            })
        })
        .collect();
    while appended.load(Ordering::SeqCst) < WAITERS {
        thread::yield_now();
    }
    // Give the waiters time to park on the round in flight. (Not needed for
    // the assertions: a caller that comes later finds the log poisoned.)
    thread::sleep(Duration::from_millis(50));
    gate.release();

    assert_poisoned(leader.join().unwrap(), "the leader");
    for w in waiters {
        let (lsn, r) = w.join().unwrap();
        assert!(lsn > durable);
        assert_poisoned(r, &format!("waiter on lsn {lsn}"));
    }
    assert!(wal.is_poisoned());
    assert_eq!(wal.durable_lsn(), durable, "the failed round moved the durable point");
    assert_poisoned(wal.append(b"later"), "append");
    assert_poisoned(wal.append_batch([&b"a"[..], b"b"]), "append_batch");
    assert_poisoned(wal.append_durable(b"later"), "append_durable");
    assert_poisoned(wal.sync(), "sync");
    assert_poisoned(wal.wait_durable(wal.last_lsn()), "wait_durable");
    assert_poisoned(wal.delete_segments_before(5), "delete_segments_before");
    assert!(wal.wait_durable(durable).is_ok(), "what was durable before stays durable");

    drop(Arc::try_unwrap(wal).expect("all threads joined"));
    mem.crash(CrashKind::PowerLoss, &mut rng(1));
    let (wal, report) = Wal::open(dir(), WalOptions::small(mem.shared())).unwrap();
    let got = records(&wal);
    assert_eq!(got[..10], (1..=10).map(|l| (l, payload(l, 0, 100))).collect::<Vec<_>>()[..], "{report}");
    let tried: HashSet<Vec<u8>> =
        std::iter::once(payload(11, 0, 100)).chain((0..WAITERS as u64).map(|t| payload(100 + t, 1, 100))).collect();
    assert!(got[10..].iter().all(|(_, b)| tried.contains(b)), "a record nobody appended: {report}");
    assert!(report.damage.is_empty());
}

/// 16 writers doing durable appends while the k-th sync from some point on
/// fails (a group-commit round, a roll-over's preparation or its header sync):
/// every writer ends with an error, no acknowledged LSN is above the durable
/// point, and after a power loss every acknowledged record is back.
#[test]
fn concurrent_writers_when_a_sync_fails_are_never_acknowledged_past_the_durable_point() {
    const THREADS: u64 = 16;
    let (mut acked_total, mut hit) = (0, 0);
    for k in (0..24u64).map(|i| i * i) {
        let mem = MemStorage::new();
        let opts = common::opts(&mem, CorruptionPolicy::TolerateTornTail);
        let (wal, _) = Wal::open(dir(), opts.clone()).unwrap();
        let wal = Arc::new(wal);
        let base = mem.sync_count();
        mem.fail_sync(k);
        let start = Arc::new(Barrier::new(THREADS as usize));
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let (wal, start) = (wal.clone(), start.clone());
                thread::spawn(move || {
                    start.wait();
                    let mut acked: Vec<(Lsn, Vec<u8>)> = Vec::new();
                    let mut tried = Vec::new();
                    for i in 0..200u64 {
                        let body = payload(t, i, (t * 131 + i * 17) as usize % 1500);
                        tried.push(body.clone());
                        match wal.append_durable(&body) {
                            Ok(lsn) => {
                                assert!(wal.durable_lsn() >= lsn);
                                acked.push((lsn, body));
                            }
                            Err(e) => {
                                assert!(wal.is_poisoned(), "thread {t}: {e}");
                                assert_poisoned(wal.append(b"after"), "append after the failure");
                                return (acked, tried, true);
                            }
                        }
                    }
                    (acked, tried, false)
                })
            })
            .collect();
        let (mut acked, mut tried) = (Vec::new(), HashSet::new());
        for t in threads {
            let (mine, bodies, failed) = t.join().unwrap();
            assert!(failed || mine.len() == 200, "k {k}: a writer stopped without an error");
            acked.extend(mine);
            tried.extend(bodies);
        }
        let durable = wal.durable_lsn();
        // The k-th sync was reached (some writers may have finished before it).
        assert!(mem.sync_count() > base + k, "k {k}: the workload ended before the failing sync");
        assert!(wal.is_poisoned());
        hit += 1;
        assert!(acked.iter().all(|(l, _)| *l <= durable), "k {k}: acknowledged past the durable point {durable}");
        acked.sort();
        acked_total += acked.len();
        drop(Arc::try_unwrap(wal).expect("all threads joined"));
        mem.crash(CrashKind::PowerLoss, &mut rng(k));
        let (wal, report) =
            Wal::open(dir(), opts).unwrap_or_else(|e| panic!("k {k}: reopen after the failed sync: {e}"));
        let got = records(&wal);
        assert!(got.len() as u64 >= durable, "k {k}: durable records lost: {report}");
        for (lsn, body) in &acked {
            assert!(got[*lsn as usize - 1] == (*lsn, body.clone()), "k {k}: acknowledged lsn {lsn} lost or changed");
        }
        assert!(got.iter().all(|(_, b)| tried.contains(b)), "k {k}: a record nobody appended: {report}");
    }
    eprintln!("{hit} failing-sync positions (0..=529), {acked_total} acknowledged appends checked after power loss");
}

/// A read of a record not yet written writes the pending chunks out under
/// the I/O lock. If that write fails, the log is poisoned, but a leader that
/// had passed its poison check before, and waits for the I/O lock, must not
/// then take the (now empty) pending list, sync nothing and publish
/// "durable" for a record that never reached the file. (Audit finding 2.)
#[test]
fn a_leader_behind_a_failed_write_out_is_not_told_durable() {
    let mem = MemStorage::new();
    let storage = Hooked::new(mem.shared(), Gates::new(Arc::default()));
    let write_gate = storage.hooks().write_gate.clone();
    let (wal, _) = Wal::open(dir(), WalOptions::small(storage)).unwrap();
    let wal = Arc::new(wal);
    wal.append_durable(&payload(1, 0, 100)).unwrap();
    let lsn = wal.append(&payload(2, 0, 100)).unwrap();

    write_gate.armed.store(true, Ordering::SeqCst);
    let reader = {
        let wal = wal.clone();
        thread::spawn(move || wal.read(lsn).map(|r| r.is_some()))
    };
    write_gate.wait_entered(); // the reader holds the I/O lock, its write stopped
    let leader = {
        let wal = wal.clone();
        thread::spawn(move || wal.wait_durable(lsn))
    };
    // Let the leader pass its poison check and block on the I/O lock.
    thread::sleep(Duration::from_millis(100));
    write_gate.release();

    let read = reader.join().unwrap();
    assert!(read.is_err(), "the failed write-out: {read:?}");
    assert_poisoned(leader.join().unwrap(), "the leader behind the failed write-out");
    assert!(wal.durable_lsn() < lsn, "durable moved past a record that was never written");

    drop(Arc::try_unwrap(wal).expect("all threads joined"));
    mem.crash(CrashKind::PowerLoss, &mut rng(2));
    let (wal, _) = Wal::open(dir(), WalOptions::small(mem.shared())).unwrap();
    assert_eq!(records(&wal)[..1], [(1, payload(1, 0, 100))]);
}

/// A failed directory sync while truncating the log's prefix poisons the log
/// like any failed sync (contract rule 2; audit finding 8).
#[test]
fn a_failed_directory_sync_in_delete_segments_before_poisons_the_log() {
    let mem = MemStorage::new();
    let storage = Hooked::new(mem.shared(), Gates::new(Arc::default()));
    let opts = WalOptions { segment_size: 16 << 10, ..WalOptions::small(storage.clone()) };
    let (wal, _) = Wal::open(dir(), opts).unwrap();
    for lsn in 1..=40 {
        wal.append_durable(&payload(lsn, 0, 1000)).unwrap();
    }
    assert!(wal.segment_count() > 2);
    storage.hooks().fail_dir_sync.store(true, Ordering::SeqCst);
    assert!(wal.delete_segments_before(wal.last_lsn()).is_err());
    assert!(wal.is_poisoned(), "a failed directory sync left the log writable");
    assert_poisoned(wal.append_durable(b"after"), "append after the failed directory sync");
}

/// Every file `sync_all` fails with EIO while armed (the log's own syncs are
/// `sync_data`).
#[derive(Debug, Default)]
struct FailSyncAll(AtomicBool);

impl Hooks for FailSyncAll {
    fn before_sync(&self, all: bool) -> io::Result<()> {
        if all && self.0.load(Ordering::SeqCst) {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        Ok(())
    }
}

/// A failed sync while a deleted segment's blocks are given back (on the
/// real file system, under the test kit's hooks) poisons the log too,
/// although the segment is already out of the directory.
#[test]
fn a_failed_sync_while_giving_back_a_deleted_segment_poisons_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = Hooked::new(paxos_wal::storage::FsStorage::shared(), FailSyncAll::default());
    let opts = WalOptions { segment_size: 2 << 20, storage: storage.clone(), ..Default::default() };
    let (wal, _) = Wal::open(tmp.path(), opts).unwrap();
    while wal.segment_count() < 3 {
        wal.append(&[7u8; 32 << 10]).unwrap();
    }
    wal.sync().unwrap();
    let second = wal.segment_starts()[1];
    storage.hooks().0.store(true, Ordering::SeqCst);
    let mut calls = 0;
    let err = wal.delete_segments_before_with(second, || calls += 1).unwrap_err();
    assert!(err.to_string().contains("giving back"), "{err}");
    assert_eq!(calls, 0, "no piece is reported given back before its sync returned");
    assert!(wal.is_poisoned(), "a failed sync left the log writable");
    assert_poisoned(wal.append_durable(b"after"), "append after the failed sync");
    assert_eq!(wal.segment_starts()[0], second, "the segment is out of the log all the same");
}
