//! A phase-1b reply that includes a value appended but not yet written out
//! (still in the log's group-commit buffer) reads it after the store lock is
//! released (issue #17): the reply has the right bytes, and while it waits
//! for the write-out (behind a sync that holds the log's I/O) every other
//! caller goes on.

mod common;

use common::granted;
use paxos_acceptor_store::*;
use paxos_wal::storage::{CrashKind, MemStorage};
use paxos_wal::StallHook;
use rand::SeedableRng;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[test]
fn a_promise_reply_with_an_unwritten_value_has_its_bytes() {
    let mem = MemStorage::new();
    let opts = StoreOptions::small(mem.shared());
    let root = Path::new("/p");
    let (s, _) = AcceptorStore::open(root, opts.clone()).unwrap();
    let (g, b1, b2) = (GroupId(1), Ballot::new(1, 1), Ballot::new(2, 1));
    assert_eq!(s.accept(g, Slot(0), b1, b"written").unwrap(), AcceptOutcome::Accepted);
    // Appended, not written out: the ticket is not waited on.
    let ticket = s.submit(Op::Accept { group: g, slot: Slot(1), ballot: b1, value: b"buffered".to_vec() }).unwrap();
    assert!(!ticket.is_durable());
    // A batch: an accept, then a promise whose reply shows it (both unwritten).
    let out = s
        .apply_batch(&[
            Op::Accept { group: g, slot: Slot(2), ballot: b1, value: b"same batch".to_vec() },
            Op::Promise { group: g, ballot: b2, from_slot: Slot(0) },
        ])
        .unwrap();
    let Some(Outcome::Promise(p)) = out.into_iter().nth(1) else { panic!("a promise answers a promise") };
    let want = vec![(0, b1, b"written".to_vec()), (1, b1, b"buffered".to_vec()), (2, b1, b"same batch".to_vec())];
    assert_eq!(granted(p), want);
    assert!(ticket.is_durable(), "the promise's reply waited for what it shows");
    drop(ticket);
    // A retry of the same promise shows the same, and so does recovery.
    assert_eq!(granted(s.promise(g, b2, Slot(0)).unwrap()), want);
    drop(s);
    mem.crash(CrashKind::PowerLoss, &mut rand::rngs::StdRng::seed_from_u64(7));
    let (s, _) = AcceptorStore::open(root, opts).unwrap();
    assert_eq!(granted(s.promise(g, b2, Slot(0)).unwrap()), want);
}

/// A sync that, once armed, stops inside the log's I/O lock (the stall
/// hook runs there, after the system call) until released.
struct Gate {
    armed: AtomicBool,
    entered: Mutex<Sender<()>>,
    release: Mutex<Receiver<()>>,
}

#[test]
fn other_callers_go_on_while_a_promise_reply_waits_for_a_write_out() {
    let (entered_tx, entered) = channel();
    let (release, release_rx) = channel();
    let gate = Arc::new(Gate {
        armed: AtomicBool::new(false),
        entered: Mutex::new(entered_tx),
        release: Mutex::new(release_rx),
    });
    let mem = MemStorage::new();
    let mut opts = StoreOptions::small(mem.shared());
    let hook_gate = gate.clone();
    opts.log.stall = Some(StallHook::new(Duration::ZERO, move |_| {
        if hook_gate.armed.swap(false, Ordering::AcqRel) {
            hook_gate.entered.lock().unwrap().send(()).unwrap();
            hook_gate.release.lock().unwrap().recv().unwrap();
        }
    }));
    let (s, _) = AcceptorStore::open(Path::new("/q"), opts).unwrap();
    let (g, b1, b2) = (GroupId(1), Ballot::new(1, 1), Ballot::new(2, 1));

    // A: an accept whose sync stops inside the log's I/O lock.
    gate.armed.store(true, Ordering::Release);
    let a = {
        let s = s.clone();
        std::thread::spawn(move || s.accept(GroupId(9), Slot(0), b1, b"a"))
    };
    entered.recv_timeout(Duration::from_secs(30)).expect("A's sync reached the hook");
    // Appended after A's round took the buffer: not written out until the
    // log's I/O lock is free again.
    let ticket = s.submit(Op::Accept { group: g, slot: Slot(0), ballot: b1, value: b"unwritten".to_vec() }).unwrap();
    // B: a promise whose reply shows that value, so it must write it out.
    let b = {
        let s = s.clone();
        std::thread::spawn(move || s.promise(g, b2, Slot(0)))
    };
    // B's promise is decided (its state applied) and B cannot finish while
    // A's sync holds the I/O lock. Every other caller goes on meanwhile: a
    // read and a whole decision on another group, each under the store lock.
    // (Before the fix B held the store lock while it waited: these calls
    // never returned; the probe runs on a thread so that shows as a failure.)
    let (done_tx, done) = channel();
    let probe = {
        let s = s.clone();
        std::thread::spawn(move || {
            while s.promised(g) != Some(b2) {
                std::thread::yield_now();
            }
            let t = s.submit(Op::Promise { group: GroupId(5), ballot: b1, from_slot: Slot(0) }).unwrap();
            done_tx.send(()).unwrap();
            t
        })
    };
    if done.recv_timeout(Duration::from_secs(30)).is_err() {
        // Let everything finish before failing, so the test does not hang.
        release.send(()).unwrap();
        panic!("a caller was blocked behind a promise reply's write-out (the store lock was held across it)");
    }
    assert!(!b.is_finished(), "B finished while the log's I/O was still held");
    release.send(()).unwrap();
    assert_eq!(a.join().unwrap().unwrap(), AcceptOutcome::Accepted);
    assert_eq!(granted(b.join().unwrap().unwrap()), vec![(0, b1, b"unwritten".to_vec())]);
    assert!(ticket.is_durable());
    assert!(matches!(probe.join().unwrap().wait().unwrap(), Outcome::Promise(PromiseOutcome::Granted { .. })));
}
