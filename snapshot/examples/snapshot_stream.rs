//! Streams a large snapshot through the store on the real file system and
//! prints what it cost: write (including fsync, rename, directory fsync),
//! full verification, streamed read, and the process's peak resident memory,
//! which stays near the 256 KiB buffers however large the payload is.
//!
//! `cargo run --release -p paxos-snapshot --example snapshot_stream -- [MiB] [dir]`

use paxos_snapshot::{SnapshotOptions, SnapshotStore};
use std::io::{Read, Write};
use std::time::Instant;

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mib: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(512);
    let tmp = tempfile::tempdir()?;
    let dir = args.next().map(std::path::PathBuf::from).unwrap_or_else(|| tmp.path().to_path_buf());
    let store = SnapshotStore::open(&dir, SnapshotOptions::default())?;
    let total = mib << 20;
    let mut chunk = vec![0u8; 1 << 20];
    let mib_s = |secs: f64| mib as f64 / secs;

    let t = Instant::now();
    let mut w = store.begin(1, b"example")?;
    for i in 0..mib {
        chunk.iter_mut().enumerate().for_each(|(j, b)| *b = (i as usize ^ j) as u8);
        w.write_all(&chunk)?;
    }
    let meta = w.finish()?;
    let write = t.elapsed().as_secs_f64();
    assert_eq!(meta.payload_len, total);

    let t = Instant::now();
    let (latest, skipped) = store.latest_valid()?;
    let verify = t.elapsed().as_secs_f64();
    assert!(skipped.is_empty() && latest.as_ref() == Some(&meta));

    let t = Instant::now();
    let mut r = store.read(&meta)?;
    let mut n = 0u64;
    loop {
        let got = r.read(&mut chunk)?;
        if got == 0 {
            break;
        }
        n += got as u64;
    }
    let read = t.elapsed().as_secs_f64();
    assert_eq!(n, total);

    println!("payload {mib} MiB in {}", dir.display());
    println!("write+fsync+rename+dir fsync: {write:.2} s ({:.0} MiB/s)", mib_s(write));
    println!("latest_valid (full verify):   {verify:.2} s ({:.0} MiB/s)", mib_s(verify));
    println!("streamed read + verify:       {read:.2} s ({:.0} MiB/s)", mib_s(read));
    if let Some(kib) = peak_rss_kib() {
        println!("peak RSS: {:.1} MiB", kib as f64 / 1024.0);
    }
    Ok(())
}
