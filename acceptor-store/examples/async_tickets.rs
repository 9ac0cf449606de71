//! Many tokio tasks on one thread, one store: each task submits an accept
//! and awaits its ticket, which resolves once the sync covering it returned.
//! The tasks share syncs (group commit) without a thread per caller.
//!
//! ```text
//! cargo run --release -p paxos-acceptor-store --example async_tickets
//! ```

use paxos_acceptor_store::{AcceptOutcome, AcceptorStore, Ballot, GroupId, Op, Outcome, Slot, StoreOptions};
use std::time::{Duration, Instant};

const TASKS: u64 = 1024;
const RUN: Duration = Duration::from_secs(2);

fn main() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (store, _) = AcceptorStore::open(dir.path(), StoreOptions::default()).expect("open the store");
    // A current-thread runtime: every task runs on this one thread; the
    // store's flusher thread leads the syncs and wakes the tasks.
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("a runtime");
    let syncs_before = store.stats().syncs;
    let start = Instant::now();
    let mut latencies: Vec<Duration> = rt.block_on(async {
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut lat = Vec::new();
                    let mut slot = 0;
                    while start.elapsed() < RUN {
                        let op = Op::Accept {
                            group: GroupId(t),
                            slot: Slot(slot),
                            ballot: Ballot::new(1, 1),
                            value: vec![7; 128],
                        };
                        let began = Instant::now();
                        // Appended now; awaited until durable.
                        let ticket = store.submit(op).expect("submit");
                        let outcome = ticket.await.expect("durable");
                        assert!(matches!(outcome, Outcome::Accept(AcceptOutcome::Accepted)));
                        lat.push(began.elapsed());
                        slot += 1;
                    }
                    lat
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("task"));
        }
        all
    });
    let elapsed = start.elapsed().as_secs_f64();
    let syncs = store.stats().syncs - syncs_before;
    let log = store.log();
    assert_eq!(log.durable_lsn, log.last_lsn, "every awaited ticket was durable");
    latencies.sort();
    let ops = latencies.len();
    let pct = |p: f64| latencies[((ops as f64 * p) as usize).min(ops - 1)];
    println!("{TASKS} tasks on a current-thread runtime, one store, 128 B accepts, {elapsed:.1} s");
    println!("durable ops:  {ops} ({:.0} ops/s)", ops as f64 / elapsed);
    println!("syncs:        {syncs} ({:.1} ops per sync)", ops as f64 / syncs.max(1) as f64);
    println!("latency:      p50 {:?}, p99 {:?}", pct(0.50), pct(0.99));
}
