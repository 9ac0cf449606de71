//! Issue #17 item 4: open time of a store with about 1 GiB of live state,
//! and whether it grows with history.
//!
//! ```text
//! open_speed [--groups 10000] [--slots 100] [--size 1024] [--churn 1] [--more 10] [--opens 3] [--dir D]
//! ```
//!
//! 1. Fill: every slot of every group accepts a `--size` value (10^4 groups
//!    of 100 slots of 1 KiB: ~1 GiB live), in batches of `--slots`.
//! 2. Churn `--churn` times: every slot accepts a new value (the live state
//!    stays the same size; the history grows).
//! 3. Close; open `--opens` times with the page cache warm (after one open
//!    to warm it), then `--opens` times cold (the store's files evicted
//!    with `posix_fadvise(DONTNEED)` first).
//! 4. Churn `--more` times as much again, and measure the same opens.
//!
//! Default options (automatic checkpoints once the log holds more than 4
//! segments, two kept) except `checkpoint_duty_cycle = 1.0`: the bench
//! measures opens, not pacing, and churning 10 GiB through paced
//! checkpoints would take hours. Bytes read = the newest checkpoint's
//! image + the log segments on disk (the last one is read only as far as
//! it is written, so this slightly overstates them).

use paxos_acceptor_store::{AcceptorStore, Ballot, GroupId, Op, Slot, StoreOptions};
use paxos_store_benches::stats::pct;
use paxos_store_benches::{apply_in_batches, dir};
use std::path::Path;
use std::time::{Duration, Instant};

struct Args {
    groups: u64,
    slots: u64,
    size: usize,
    churn: u64,
    more: u64,
    opens: usize,
    /// Build the store here and keep it (default: a temporary directory).
    dir: Option<std::path::PathBuf>,
}

fn args() -> Result<Args, String> {
    let mut a = Args { groups: 10_000, slots: 100, size: 1024, churn: 1, more: 10, opens: 3, dir: None };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let n = |v: String| v.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--groups" => a.groups = n(value()?)?,
            "--slots" => a.slots = n(value()?)?,
            "--size" => a.size = n(value()?)? as usize,
            "--churn" => a.churn = n(value()?)?,
            "--more" => a.more = n(value()?)?,
            "--opens" => a.opens = n(value()?)? as usize,
            "--dir" => a.dir = Some(value()?.into()),
            "--bench" => {}
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

fn options() -> StoreOptions {
    StoreOptions { checkpoint_duty_cycle: 1.0, ..StoreOptions::default() }
}

/// Accept a value in every slot of every group, `rounds` times over; round
/// `r` writes ballot `r` (so every accept is granted).
fn churn(path: &Path, a: &Args, rounds: std::ops::Range<u64>) -> Result<(), Box<dyn std::error::Error>> {
    let (store, _) = AcceptorStore::open(path, options())?;
    for round in rounds {
        let mut value = vec![0u8; a.size];
        let ops = (0..a.groups).flat_map(|g| (0..a.slots).map(move |s| (g, s))).map(|(g, s)| {
            value[..8].copy_from_slice(&(round ^ g << 20 ^ s).to_le_bytes());
            Op::Accept { group: GroupId(g), slot: Slot(s), ballot: Ballot::new(round + 1, 1), value: value.clone() }
        });
        apply_in_batches(&store, ops, a.slots as usize)?;
    }
    store.close()?;
    Ok(())
}

struct Opened {
    warm: Vec<Duration>,
    cold: Vec<Duration>,
    /// Image bytes + log segment bytes.
    bytes: u64,
    image: u64,
    segments: usize,
    /// open_log, snapshot, replay of the last warm open.
    phases: (Duration, Duration, Duration),
}

fn measure(path: &Path, a: &Args) -> Result<Opened, Box<dyn std::error::Error>> {
    let open = || -> Result<_, Box<dyn std::error::Error>> {
        let t = Instant::now();
        let (store, report) = AcceptorStore::open(path, options())?;
        let took = t.elapsed();
        store.close()?;
        Ok((took, report))
    };
    let (_, report) = open()?;
    let mut warm = Vec::new();
    let mut phases = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    for _ in 0..a.opens {
        let (took, r) = open()?;
        warm.push(took);
        phases = (r.timings.open_log, r.timings.snapshot, r.timings.replay);
    }
    let mut cold = Vec::new();
    for _ in 0..a.opens {
        dir::evict_from_page_cache(path)?;
        cold.push(open()?.0);
    }
    let image = report.snapshot.as_ref().map_or(0, |s| s.payload_len);
    let log = segment_bytes(&path.join("wal"))?;
    Ok(Opened { warm, cold, bytes: image + log, image, segments: report.segments, phases })
}

/// Bytes of the log's segments (not its spare, manifest or other files).
fn segment_bytes(wal: &Path) -> std::io::Result<u64> {
    let mut n = 0;
    for e in std::fs::read_dir(wal)? {
        let e = e?;
        if e.file_name().to_string_lossy().ends_with(".wal") {
            n += e.metadata()?.len();
        }
    }
    Ok(n)
}

fn median(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    pct(&v, 0.5)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = args()?;
    let live = a.groups * a.slots * a.size as u64;
    println!(
        "open_speed: {} groups x {} slots x {} B = {} MiB live; churn {}x, then {}x more",
        a.groups,
        a.slots,
        a.size,
        live >> 20,
        a.churn,
        a.churn * a.more
    );
    let tmp = dir::bench_dir("open_speed")?;
    let path = a.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    let t = Instant::now();
    churn(&path, &a, 0..1 + a.churn)?;
    eprintln!("filled and churned in {:.1} s", t.elapsed().as_secs_f64());
    let first = measure(&path, &a)?;
    let t = Instant::now();
    churn(&path, &a, 1 + a.churn..1 + a.churn + a.churn * a.more)?;
    eprintln!("churned {}x more in {:.1} s", a.more, t.elapsed().as_secs_f64());
    let second = measure(&path, &a)?;
    let mib = |b: u64, d: Duration| b as f64 / (1u64 << 20) as f64 / d.as_secs_f64();
    println!("| history | image MiB | segments | bytes read MiB | warm open ms (median) | warm MiB/s | cold open ms (median) | cold MiB/s | log / image / replay ms (warm) |");
    println!("| --- | --: | --: | --: | --: | --: | --: | --: | --- |");
    for (name, o) in [(format!("{}x", a.churn), &first), (format!("{}x", a.churn * (1 + a.more)), &second)] {
        let (w, c) = (median(&o.warm), median(&o.cold));
        println!(
            "| {name} | {} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} / {:.0} / {:.0} |",
            o.image >> 20,
            o.segments,
            o.bytes >> 20,
            w.as_secs_f64() * 1e3,
            mib(o.bytes, w),
            c.as_secs_f64() * 1e3,
            mib(o.bytes, c),
            o.phases.0.as_secs_f64() * 1e3,
            o.phases.1.as_secs_f64() * 1e3,
            o.phases.2.as_secs_f64() * 1e3,
        );
    }
    let ratio = median(&second.warm).as_secs_f64() / median(&first.warm).as_secs_f64();
    println!("warm open after {}x more history: {ratio:.2}x", a.more);
    Ok(())
}
