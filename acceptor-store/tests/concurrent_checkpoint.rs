//! Checkpoints taken while writers run (issue #17, item 1): a checkpoint
//! copies the groups out a shard at a time and lets writes in between, so
//! each shard is captured at a different point of the log. Several writer
//! threads (each owning its own groups, spread over the shards, and writing
//! batches that span two of them) run against a simple model while another
//! thread takes checkpoints back to back. Then the process dies after a
//! random number of file operations (inside a checkpoint's copy, write,
//! rename or log deletion, or a writer's append or sync) and the machine
//! loses power. After recovery every group holds exactly what its model
//! says: everything acknowledged, plus at most the one write that was in
//! flight when the store failed; nothing else.

use paxos_acceptor_store::*;
use paxos_store_testkit::store::{apply_batch, read_state, Reply, StoreState};
use paxos_wal::storage::{CrashKind, MemStorage};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const WRITERS: u64 = 3;
const GROUPS_PER_WRITER: u64 = 12;

/// Writer `w`'s groups: spread over the id space, so over the shards.
fn group(w: u64, i: u64) -> GroupId {
    GroupId((i * WRITERS + w) * 7919)
}

fn random_op(rng: &mut StdRng, w: u64, ballot: &mut u64) -> Op {
    let group = group(w, rng.random_range(0..GROUPS_PER_WRITER));
    let slot = Slot(rng.random_range(0..8));
    if rng.random_bool(0.8) {
        *ballot += 1;
    }
    let b = Ballot::new(*ballot, w);
    let value = |rng: &mut StdRng| vec![rng.random::<u8>(); rng.random_range(0..400)];
    match rng.random_range(0..20) {
        0..=2 => Op::Promise { group, ballot: b, from_slot: Slot(rng.random_range(0..4)) },
        3..=10 => Op::Accept { group, slot, ballot: b, value: value(rng) },
        11 => Op::TruncateBelow { group, slot: Slot(rng.random_range(0..4)) },
        12 => Op::RemoveGroup { group },
        13..=15 => {
            Op::Put { group, from: slot, ballot: b, values: (0..rng.random_range(1..4)).map(|_| value(rng)).collect() }
        }
        16 => Op::DropFrom { group, slot },
        _ => Op::SetMeta { group, key: rng.random_range(0..3), value: value(rng) },
    }
}

/// What one writer saw.
struct Writer {
    /// Its groups' state after its last acknowledged call.
    acked: StoreState,
    /// The same after the call that failed, if one did.
    in_flight: Option<StoreState>,
    calls: u64,
}

fn write(
    store: AcceptorStore,
    w: u64,
    seed: u64,
    stop: Arc<AtomicBool>,
    during: Arc<AtomicU64>,
    busy: Arc<AtomicBool>,
) -> Writer {
    let mut rng = StdRng::seed_from_u64(seed ^ (w << 32));
    let mut acked = StoreState::new();
    let mut ballot = 0;
    let mut calls = 0;
    while !stop.load(Ordering::Relaxed) {
        // One operation, or a batch of two over two of this writer's groups
        // (which are in different shards, mostly).
        let ops: Vec<Op> = (0..rng.random_range(1..=2)).map(|_| random_op(&mut rng, w, &mut ballot)).collect();
        let mut next = acked.clone();
        let (want, _) = apply_batch(&mut next, &ops);
        let in_checkpoint = busy.load(Ordering::Relaxed);
        match store.apply_batch(&ops) {
            Ok(got) => {
                let got: Vec<Reply> = got.into_iter().map(Reply::of).collect();
                assert_eq!(got, want, "writer {w}, call {calls}: {ops:?}");
                acked = next;
                calls += 1;
                if in_checkpoint {
                    during.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(_) => return Writer { acked, in_flight: Some(next), calls },
        }
    }
    Writer { acked, in_flight: None, calls }
}

fn only(state: &StoreState, w: u64) -> StoreState {
    let mine: Vec<GroupId> = (0..GROUPS_PER_WRITER).map(|i| group(w, i)).collect();
    state.iter().filter(|(g, _)| mine.contains(g)).map(|(g, s)| (*g, s.clone())).collect()
}

fn run(seed: u64) -> (u64, u64, u64) {
    let mem = MemStorage::new();
    let mut opts = StoreOptions::small(mem.shared());
    opts.log.segment_size = 32 << 10;
    // Half the seeds pace their checkpoints (sleeping between shards).
    opts.checkpoint_duty_cycle = if seed % 2 == 0 { 1.0 } else { 0.5 };
    let (store, _) = AcceptorStore::open("/s", opts.clone()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (during, busy) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (store, stop, during, busy) = (store.clone(), stop.clone(), during.clone(), busy.clone());
            std::thread::spawn(move || write(store, w, seed, stop, during, busy))
        })
        .collect();
    let checkpointer = {
        let (store, stop, busy) = (store.clone(), stop.clone(), busy.clone());
        std::thread::spawn(move || {
            let mut taken = 0;
            while !stop.load(Ordering::Relaxed) {
                busy.store(true, Ordering::Relaxed);
                let r = store.checkpoint();
                busy.store(false, Ordering::Relaxed);
                match r {
                    Ok(_) => taken += 1,
                    Err(_) => break,
                }
            }
            taken
        })
    };
    let mut rng = StdRng::seed_from_u64(seed);
    std::thread::sleep(Duration::from_millis(rng.random_range(20..120)));
    // The process dies a little later, wherever the threads then are.
    mem.crash_after_ops(rng.random_range(0..200));
    std::thread::sleep(Duration::from_millis(30));
    stop.store(true, Ordering::Relaxed);
    let writers: Vec<Writer> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    let checkpoints = checkpointer.join().unwrap();
    drop(store);
    mem.crash(CrashKind::PowerLoss, &mut rng);

    let (store, report) = AcceptorStore::open("/s", opts).unwrap();
    let got = read_state(&store).unwrap();
    for (w, writer) in writers.iter().enumerate() {
        let mine = only(&got, w as u64);
        let ok = mine == writer.acked || writer.in_flight.as_ref() == Some(&mine);
        assert!(
            ok,
            "seed {seed}, writer {w} after {} calls: recovered {mine:?}\nacknowledged {:?}\nin flight {:?}\n{report}",
            writer.calls, writer.acked, writer.in_flight
        );
    }
    let known: usize = (0..WRITERS).map(|w| only(&got, w).len()).sum();
    assert_eq!(known, got.len(), "seed {seed}: groups nobody wrote: {got:?}");
    (checkpoints, during.load(Ordering::Relaxed), writers.iter().map(|w| w.calls).sum())
}

#[test]
fn checkpoints_taken_while_writers_run_recover_exactly_what_was_acknowledged() {
    let (mut checkpoints, mut during, mut calls) = (0, 0, 0);
    for seed in 0..12 {
        let (c, d, n) = run(seed);
        assert!(c >= 1, "seed {seed}: no checkpoint finished before the crash");
        checkpoints += c;
        during += d;
        calls += n;
    }
    eprintln!("{checkpoints} checkpoints, {during} of {calls} calls during one");
    // The test means something only if checkpoints ran beside writes.
    assert!(checkpoints >= 12 && during >= 100, "{checkpoints} checkpoints, {during} of {calls} calls during one");
}
