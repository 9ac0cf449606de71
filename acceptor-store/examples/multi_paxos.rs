//! A Multi-Paxos acceptor (PMMC style): a leader's one prepare covers every
//! slot from a given one onwards, then a stream of accepts, one per slot,
//! arrives from the stable leader; commits mark slots chosen; the
//! application snapshots and truncates the log it no longer needs.
//!
//! Run: `cargo run -p paxos-acceptor-store --example multi_paxos`

use paxos_acceptor_store::*;
use std::io::Write;

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let mut opts = StoreOptions::default();
    opts.log.segment_size = 4 << 20;
    let (store, _) = AcceptorStore::open(dir.path(), opts.clone())?;
    let log = GroupId(1);

    // Phase 1 for every slot from 0 with leader 1's ballot.
    let leader = Ballot::new(1, 1);
    let PromiseOutcome::Granted { accepted, .. } = store.promise(log, leader, Slot(0))? else {
        unreachable!("fresh store")
    };
    println!("prepare {leader} from s0: granted, {} accepted slots to report", accepted.len());

    // Phase 2, many slots: a batch of accepts costs one record and one sync.
    let batch: Vec<Op> = (0..64)
        .map(|i| Op::Accept { group: log, slot: Slot(i), ballot: leader, value: format!("cmd {i}").into_bytes() })
        .collect();
    let syncs = store.stats().syncs;
    let out = store.apply_batch(&batch)?;
    println!("accepted a batch of {} slots with {} sync", out.len(), store.stats().syncs - syncs);
    for i in 0..64 {
        store.mark_chosen(log, Slot(i))?; // learned: lazily durable
    }

    // A new leader takes over: its phase 1b reply carries what was accepted.
    let next = Ballot::new(2, 3);
    if let PromiseOutcome::Granted { accepted, first_live_slot } = store.promise(log, next, Slot(60))? {
        let slots: Vec<String> =
            accepted.iter().map(|e| format!("{}={}", e.slot, String::from_utf8_lossy(&e.value))).collect();
        // Slots below `first_live_slot` were truncated (decided): never propose there.
        println!("prepare {next} from s60: {} (first live slot {first_live_slot})", slots.join(", "));
    }
    // The old leader's late accept is rejected.
    println!("late accept from {leader}: {:?}", store.accept(log, Slot(64), leader, b"stale")?);

    // The application snapshots its state through slot 49: slots below 50 go.
    let mut snap = store.begin_app_snapshot(log, Slot(49))?;
    snap.write_all(b"state machine image through slot 49")?;
    snap.finish()?;
    println!("after the app snapshot: first live slot {:?}", store.first_live_slot(log));
    println!("read of a truncated slot: {:?}", store.accepted(log, Slot(3))?);
    Ok(())
}
