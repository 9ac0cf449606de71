//! A `Ticket` is a `Future`: woken by the group commit only after the sync
//! that covers it returned, with the error when that sync failed.

use futures::executor::block_on;
use futures::future::join_all;
use futures::task::noop_waker;
use paxos_acceptor_store::*;
use paxos_wal::storage::MemStorage;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

fn accept(g: u64, s: u64, b: u64, v: &[u8]) -> Op {
    Op::Accept { group: GroupId(g), slot: Slot(s), ballot: Ballot::new(b, 1), value: v.to_vec() }
}

fn open(mem: &MemStorage, root: &str) -> AcceptorStore {
    AcceptorStore::open(Path::new(root), StoreOptions::small(mem.shared())).unwrap().0
}

/// Poll once with a waker that does nothing.
fn poll_once(t: &mut Ticket) -> Poll<Result<Outcome>> {
    let waker = noop_waker();
    Pin::new(t).poll(&mut Context::from_waker(&waker))
}

#[test]
fn many_concurrent_tickets_complete_with_their_outcomes_and_share_syncs() {
    let mem = MemStorage::new();
    let s = open(&mem, "/many");
    // Promise ballot 5 in every group: accepts at ballot 3 are rejected, at 7 accepted.
    for g in 0..8 {
        s.promise(GroupId(g), Ballot::new(5, 1), Slot(0)).unwrap();
    }
    let n = 2000u64;
    let syncs = mem.sync_count();
    let tickets: Vec<Ticket> =
        (0..n).map(|i| s.submit(accept(i % 8, i, if i % 3 == 0 { 3 } else { 7 }, b"v")).unwrap()).collect();
    let last = s.log().last_lsn;
    let outcomes = block_on(join_all(tickets));
    assert!(s.log().durable_lsn >= last, "every future resolved only once its record was durable");
    for (i, r) in outcomes.into_iter().enumerate() {
        match r.unwrap() {
            Outcome::Accept(AcceptOutcome::Rejected { promised }) => {
                assert_eq!(i % 3, 0, "slot {i}");
                assert!(promised >= Ballot::new(5, 1));
            }
            Outcome::Accept(AcceptOutcome::Accepted) => assert_ne!(i % 3, 0, "slot {i}"),
            other => panic!("slot {i}: {other:?}"),
        }
    }
    let used = mem.sync_count() - syncs;
    assert!(used * 50 <= n, "{n} tickets took {used} syncs");

    // Many executors at once (one per thread), each driving its own tickets.
    let syncs = mem.sync_count();
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                for round in 0..10u64 {
                    let tickets: Vec<Ticket> =
                        (0..50u64).map(|i| s.submit(accept(100 + t, round * 50 + i, 1, b"w")).unwrap()).collect();
                    for r in block_on(join_all(tickets)) {
                        assert!(matches!(r.unwrap(), Outcome::Accept(AcceptOutcome::Accepted)));
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let used = mem.sync_count() - syncs;
    assert!(used * 10 <= 4000, "4000 tickets on 8 threads took {used} syncs");
    for t in 0..8 {
        assert_eq!(s.accepted_from(GroupId(100 + t), Slot(0)).unwrap().len(), 500);
    }
}

#[test]
fn a_failed_sync_resolves_every_pending_future_to_the_error() {
    let mem = MemStorage::new();
    let s = open(&mem, "/fail");
    s.accept(GroupId(1), Slot(0), Ballot::new(1, 1), b"durable").unwrap();
    mem.fail_sync(0);
    // All submitted before any sync: the one sync that would cover them fails.
    let tickets: Vec<Ticket> = (1..200).map(|i| s.submit(accept(1, i, 1, b"lost")).unwrap()).collect();
    let results = block_on(join_all(tickets));
    assert_eq!(results.len(), 199);
    for (i, r) in results.iter().enumerate() {
        assert!(r.is_err(), "ticket {i} resolved Ok after its sync failed: {r:?}");
    }
    assert!(s.log().durable_lsn < s.log().last_lsn);
    // The log is poisoned: later submissions are refused or resolve to errors.
    if let Ok(t) = s.submit(accept(1, 500, 1, b"after")) {
        assert!(block_on(t).is_err());
    }
}

#[test]
fn a_failed_sync_reaches_futures_on_many_threads() {
    let mem = MemStorage::new();
    let s = open(&mem, "/failmany");
    s.accept(GroupId(1), Slot(0), Ballot::new(1, 1), b"durable").unwrap();
    mem.fail_sync(0);
    // All submitted before any thread polls (the first failed sync poisons
    // the log, and later submissions are refused).
    let batches: Vec<Vec<Ticket>> =
        (0..4u64).map(|t| (0..50u64).map(|i| s.submit(accept(10 + t, i, 1, b"lost")).unwrap()).collect()).collect();
    let threads: Vec<_> =
        batches.into_iter().map(|tickets| std::thread::spawn(move || block_on(join_all(tickets)))).collect();
    for t in threads {
        for r in t.join().unwrap() {
            assert!(r.is_err(), "resolved Ok after its sync failed: {r:?}");
        }
    }
}

#[test]
fn a_future_is_not_ready_before_its_record_is_durable() {
    let mem = MemStorage::new();
    let s = open(&mem, "/ready");
    let syncs = mem.sync_count();
    let mut t = s.submit(accept(3, 0, 1, b"v")).unwrap();
    let lsn = s.log().last_lsn;
    assert!(s.log().durable_lsn < lsn && !t.is_durable());
    // A future that answered before the sync would be ready here, at once,
    // with no sync taken.
    let mut polls = 0;
    loop {
        polls += 1;
        match poll_once(&mut t) {
            Poll::Pending => std::thread::yield_now(),
            Poll::Ready(r) => {
                assert!(matches!(r.unwrap(), Outcome::Accept(AcceptOutcome::Accepted)));
                assert!(s.log().durable_lsn >= lsn, "ready before its record was durable");
                assert!(mem.sync_count() > syncs, "ready without a sync");
                break;
            }
        }
    }
    assert!(polls > 1, "the first poll found an unsynced record ready");
    // Polled again after completion: an error, not a second outcome.
    assert!(matches!(poll_once(&mut t), Poll::Ready(Err(_))));

    // Already durable when first polled: ready at once, no flusher round trip.
    let t = s.submit(accept(3, 1, 1, b"w")).unwrap();
    s.sync().unwrap();
    assert!(t.is_durable());
    let mut t = t;
    assert!(matches!(poll_once(&mut t), Poll::Ready(Ok(Outcome::Accept(AcceptOutcome::Accepted)))));
}

#[test]
fn a_polled_ticket_can_still_be_waited_on_and_dropped_tickets_block_nothing() {
    let mem = MemStorage::new();
    let s = open(&mem, "/drop");
    // Polled (so handed to the flusher), then waited on by the thread.
    let mut t = s.submit(accept(4, 0, 1, b"a")).unwrap();
    let lsn = s.log().last_lsn;
    if poll_once(&mut t).is_pending() {
        assert!(matches!(t.wait().unwrap(), Outcome::Accept(AcceptOutcome::Accepted)));
    }
    assert!(s.log().durable_lsn >= lsn);
    // Dropped before completion: polled once and dropped, or never polled.
    for i in 1..100 {
        let mut t = s.submit(accept(4, i, 1, b"b")).unwrap();
        if i % 2 == 0 {
            let _ = poll_once(&mut t);
        }
        drop(t);
    }
    let last = block_on(s.submit(accept(4, 100, 1, b"c")).unwrap()).unwrap();
    assert!(matches!(last, Outcome::Accept(AcceptOutcome::Accepted)));
    assert_eq!(s.accepted_from(GroupId(4), Slot(0)).unwrap().len(), 101);
    // The store closes with tickets dropped mid-flight.
    drop(s);
    let s = open(&mem, "/drop");
    assert_eq!(s.accepted_from(GroupId(4), Slot(0)).unwrap().len(), 101);
}

#[test]
fn a_ticket_is_a_send_future() {
    fn send_future<F: Future<Output = Result<Outcome>> + Send + Unpin + 'static>(_: &F) {}
    let mem = MemStorage::new();
    let s = open(&mem, "/send");
    let t = s.submit(accept(5, 0, 1, b"v")).unwrap();
    send_future(&t);
    block_on(t).unwrap();
}
