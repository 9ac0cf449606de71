//! A tour of the log: concurrent durable appends sharing syncs, a reopen,
//! and what recovery reports.

use paxos_wal::{Wal, WalOptions};
use std::sync::Arc;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let opts = WalOptions { segment_size: 4 << 20, ..Default::default() };
    let (wal, report) = Wal::open(dir.path(), opts.clone())?;
    println!("opened {}: {report}", dir.path().display());
    let wal = Arc::new(wal);
    for threads in [1usize, 8, 64] {
        let per = 2000 / threads;
        let start = Instant::now();
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let wal = wal.clone();
                std::thread::spawn(move || {
                    for i in 0..per {
                        wal.append_durable(format!("accept t{t} i{i} {:0>100}", 0).as_bytes()).expect("append");
                    }
                })
            })
            .collect();
        let before = wal.stats().syncs;
        for h in handles {
            h.join().expect("writer");
        }
        let secs = start.elapsed().as_secs_f64();
        let syncs = wal.stats().syncs - before;
        let ops = threads * per;
        println!(
            "{threads:>3} writers: {ops} durable appends in {secs:.2}s = {:.0} ops/s, {syncs} syncs ({:.1} appends per sync)",
            ops as f64 / secs,
            ops as f64 / syncs.max(1) as f64
        );
    }
    let last = wal.last_lsn();
    drop(wal);
    let start = Instant::now();
    let (wal, report) = Wal::open(dir.path(), opts)?;
    println!("reopened in {:.1} ms: {report}", start.elapsed().as_secs_f64() * 1e3);
    assert_eq!(wal.last_lsn(), last);
    Ok(())
}
