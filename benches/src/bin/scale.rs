//! The scale curve of issue #17 (item 7): accepts at 10^2, 10^4 and 10^6
//! single-slot groups (the lightweight-transaction shape, a Paxos group per
//! key), with heap and open time beside each.
//!
//! ```text
//! scale [--groups 100,10000,1000000] [--threads 64] [--secs 3] [--size 128]
//! ```
//!
//! For each group count, on a fresh store with the default options
//! (64 MiB segments, automatic checkpoints in the background once the log
//! holds more than 4 segments):
//! 1. every group accepts one value (batches of 1000);
//! 2. `--threads` threads re-accept values in random groups for `--secs`
//!    seconds, each call durable before it returns: accepts per second,
//!    p50/p99/p999 latency, checkpoints taken meanwhile;
//! 3. heap per group: live heap bytes (a counting allocator) after the run
//!    minus before the store was opened, over the group count. Values in
//!    the mapped log are not on the heap, values moved into a checkpoint's
//!    image are: this is everything the store holds, not only its index
//!    (`--bench index_memory` measures the index alone);
//! 4. the store is closed and reopened: open time (warm page cache) and
//!    what recovery read.

use paxos_acceptor_store::{AcceptorStore, Ballot, GroupId, Op, Slot, StoreOptions};
use paxos_store_benches::counting::{self, Counting};
use paxos_store_benches::stats::pct;
use paxos_store_benches::{apply_in_batches, dir};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[global_allocator]
static A: Counting = Counting;

struct Args {
    groups: Vec<u64>,
    threads: usize,
    secs: f64,
    size: usize,
}

fn args() -> Result<Args, String> {
    let mut a = Args { groups: vec![100, 10_000, 1_000_000], threads: 64, secs: 3.0, size: 128 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--groups" => {
                a.groups = value()?
                    .split(',')
                    .map(|g| g.parse().map_err(|e| format!("--groups: {e}")))
                    .collect::<Result<_, _>>()?
            }
            "--threads" => a.threads = value()?.parse().map_err(|e| format!("--threads: {e}"))?,
            "--secs" => a.secs = value()?.parse().map_err(|e| format!("--secs: {e}"))?,
            "--size" => a.size = value()?.parse().map_err(|e| format!("--size: {e}"))?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

/// A small xorshift per thread: which group to accept in next.
fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = args()?;
    println!(
        "scale: single-slot groups, {} threads re-accepting {} B values in random groups for {} s",
        a.threads, a.size, a.secs
    );
    println!("| groups | accepts/s | p50 ms | p99 ms | p999 ms | checkpoints during the run | heap bytes per group | open ms | segments |");
    println!("| --: | --: | --: | --: | --: | --: | --: | --: | --: |");
    for &groups in &a.groups {
        let tmp = dir::bench_dir("scale")?;
        let heap_before = counting::live();
        let (store, _) = AcceptorStore::open(tmp.path(), StoreOptions::default())?;
        let value = vec![7u8; a.size];
        let first = Ballot::new(1, 0);
        let accepts =
            (0..groups).map(|g| Op::Accept { group: GroupId(g), slot: Slot(0), ballot: first, value: value.clone() });
        apply_in_batches(&store, accepts, 1000)?;
        let checkpoints_before = store.stats().checkpoints;
        let stop = Arc::new(AtomicBool::new(false));
        let latencies = Arc::new(Mutex::new(Vec::new()));
        let started = Instant::now();
        let workers: Vec<_> = (0..a.threads)
            .map(|t| {
                let (store, stop, latencies, value) = (store.clone(), stop.clone(), latencies.clone(), value.clone());
                std::thread::spawn(move || {
                    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (t as u64 + 1);
                    let mut mine = Vec::new();
                    let mut round = 2u64;
                    while !stop.load(Ordering::Relaxed) {
                        let g = GroupId(next(&mut x) % groups);
                        round += 1;
                        let t0 = Instant::now();
                        // Accepted or rejected (another thread's higher
                        // ballot): either reply is durable before it returns.
                        store.accept(g, Slot(0), Ballot::new(round, t as u64), &value).expect("accept");
                        mine.push(t0.elapsed());
                    }
                    latencies.lock().unwrap().extend(mine);
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs_f64(a.secs));
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            w.join().expect("worker");
        }
        let took = started.elapsed();
        let checkpoints = store.stats().checkpoints - checkpoints_before;
        let mut lat = std::mem::take(&mut *latencies.lock().unwrap());
        lat.sort_unstable();
        // Let a background checkpoint finish before the heap is read.
        std::thread::sleep(Duration::from_millis(200));
        let heap = counting::live() - heap_before;
        let segments = store.stats().segments;
        store.close()?;
        let t0 = Instant::now();
        let (reopened, report) = AcceptorStore::open(tmp.path(), StoreOptions::default())?;
        let open = t0.elapsed();
        assert_eq!(reopened.groups().len() as u64, groups, "every group back: {report}");
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "| {groups} | {:.0} | {:.2} | {:.2} | {:.2} | {checkpoints} | {:.0} | {:.0} | {segments} |",
            lat.len() as f64 / took.as_secs_f64(),
            ms(pct(&lat, 0.5)),
            ms(pct(&lat, 0.99)),
            ms(pct(&lat, 0.999)),
            heap as f64 / groups as f64,
            ms(open),
        );
    }
    Ok(())
}
