//! Disk use and open time of a node restarted often (issue #17): the same
//! writes (default options, real files) once in one process and once in
//! short runs, each dropped without a close (as a kill leaves it: the page
//! cache keeps everything synced) and reopened. Prints, for each, the live
//! segments, the bytes on disk, the checkpoints taken and the time of the
//! last opens. The node trims its log as OmniPaxos does after a snapshot, so
//! the live state stays small and only the log can grow.
//!
//! Run: `cargo run --release -p paxos-store-omnipaxos --example restarts [RUNS] [WRITES_PER_RUN] [PAD]`
//! (default 200 runs of 500 entries of 100 bytes of padding: 10 MB of
//! values, each run far below the 4 MiB that triggers a checkpoint).

use omnipaxos::macros::Entry;
use omnipaxos::storage::Storage;
use paxos_store_omnipaxos::OmniPaxosStorage;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Clone, Debug, Serialize, Deserialize, Entry)]
struct E {
    id: u64,
    pad: Vec<u8>,
}

fn write(s: &mut OmniPaxosStorage<E>, id: u64, pad: usize) {
    s.append_entry(E { id, pad: vec![(id % 251) as u8; pad] }).expect("append");
    let len = id as usize + 1;
    if len % 100 == 0 {
        s.set_decided_idx(len).expect("decide");
        s.trim(len - 20).expect("trim");
    }
}

fn disk_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for sub in ["wal", "checkpoints"] {
        for e in std::fs::read_dir(dir.join(sub)).expect("read dir") {
            total += e.expect("entry").metadata().expect("metadata").len();
        }
    }
    total
}

/// Open `dir`, timed.
fn open(dir: &Path) -> (OmniPaxosStorage<E>, Duration) {
    let t = Instant::now();
    let s = OmniPaxosStorage::open(dir).expect("open");
    (s, t.elapsed())
}

fn report(what: &str, dir: &Path, checkpoints: u64, opens: &[Duration]) {
    let (s, t) = open(dir);
    let segments = s.store().stats().segments;
    drop(s);
    let last: Vec<String> = opens.iter().rev().take(5).rev().map(|d| format!("{:.1}", d.as_secs_f64() * 1e3)).collect();
    println!(
        "{what:<12} {segments:>3} segments, {:>6.1} MiB on disk, {checkpoints:>3} checkpoints; \
         open now {:.1} ms, last opens of the runs [{}] ms",
        disk_bytes(dir) as f64 / (1 << 20) as f64,
        t.as_secs_f64() * 1e3,
        last.join(", ")
    );
}

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u64>().expect("a number"));
    let runs = args.next().unwrap_or(200);
    let per_run = args.next().unwrap_or(500);
    let pad = args.next().unwrap_or(100) as usize;
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let tmp = tmp.path();

    let one = tmp.join("one-process");
    let (mut s, _) = open(&one);
    for id in 0..runs * per_run {
        write(&mut s, id, pad);
    }
    let checkpoints = s.store().stats().checkpoints;
    drop(s);
    report("one process", &one, checkpoints, &[]);

    let many = tmp.join("restarted");
    let mut checkpoints = 0;
    let mut opens = Vec::new();
    for run in 0..runs {
        let (mut s, t) = open(&many);
        opens.push(t);
        for id in run * per_run..(run + 1) * per_run {
            write(&mut s, id, pad);
        }
        checkpoints += s.store().stats().checkpoints;
    }
    report("restarted", &many, checkpoints, &opens);
}
