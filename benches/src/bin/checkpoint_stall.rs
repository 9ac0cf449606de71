//! What a checkpoint costs the callers running beside it (issue #17, item 1).
//!
//! ```text
//! checkpoint_stall [--shape lwt|multi|both] [--threads 64] [--rounds 3] [--quiet-secs 2]
//!                  [--duty 0.1] [--timeline]
//! ```
//!
//! Shapes (on a fresh store, automatic checkpoints off):
//! - `lwt`: 10^6 single-slot groups, 128 B values (a Paxos group per key);
//! - `multi`: 10^4 groups of 100 live slots, 1 KiB values (about 1 GiB of
//!   live values).
//!
//! After filling the store and taking one checkpoint (so that later ones
//! copy values out of an image as well as out of the log), `--threads`
//! threads accept values in random groups and slots (ballots from one
//! counter, so nearly every accept is granted), each call durable before it
//! returns. Meanwhile the main thread alternates, `--rounds` times, a quiet
//! window and a `checkpoint()`; one more quiet window ends the run. A quiet
//! window lasts as long as the checkpoint before it took (at least
//! `--quiet-secs`), so both kinds of window sample the log's periodic work
//! (segment roll-overs) alike. Each call is counted in the window it
//! started in. Printed: accepts per second, p50/p99/p999 without and during
//! checkpoints, and their ratios, all from the same run; and the
//! checkpoints' calls again by the step of the checkpoint running when they
//! started (see `CheckpointSteps`). `--timeline` also prints, for the
//! first checkpoint, accepts per second, p99 and the slowest call in 100 ms
//! bins from half a second before it. `--duty` sets
//! `StoreOptions::checkpoint_duty_cycle` (default: the store's default).
//!
//! Disk: with automatic checkpoints off nothing trims the log while a
//! paced checkpoint runs. `multi`'s callers write about 130 MB/s of log; at
//! the default duty cycle its checkpoints take over a minute each and a run
//! needs more than 30 GB, so run it with `--duty 0.25` (about 10 GB).

use paxos_acceptor_store::{AcceptorStore, Ballot, GroupId, Op, Slot, StoreOptions};
use paxos_store_benches::stats::pct;
use paxos_store_benches::{apply_in_batches, dir};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Args {
    shapes: Vec<Shape>,
    threads: usize,
    rounds: usize,
    quiet: Duration,
    timeline: bool,
    duty: f64,
}

#[derive(Clone, Copy)]
struct Shape {
    name: &'static str,
    groups: u64,
    slots: u64,
    size: usize,
}

const LWT: Shape = Shape { name: "lwt", groups: 1_000_000, slots: 1, size: 128 };
const MULTI: Shape = Shape { name: "multi", groups: 10_000, slots: 100, size: 1024 };

fn args() -> Result<Args, String> {
    let mut a = Args {
        shapes: vec![LWT, MULTI],
        threads: 64,
        rounds: 3,
        quiet: Duration::from_secs(2),
        timeline: false,
        duty: StoreOptions::default().checkpoint_duty_cycle,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--shape" => {
                a.shapes = match value()?.as_str() {
                    "lwt" => vec![LWT],
                    "multi" => vec![MULTI],
                    "both" => vec![LWT, MULTI],
                    other => return Err(format!("--shape: lwt, multi or both, not {other}")),
                }
            }
            "--timeline" => a.timeline = true,
            "--duty" => a.duty = value()?.parse().map_err(|e| format!("--duty: {e}"))?,
            "--threads" => a.threads = value()?.parse().map_err(|e| format!("--threads: {e}"))?,
            "--rounds" => a.rounds = value()?.parse().map_err(|e| format!("--rounds: {e}"))?,
            "--quiet-secs" => {
                a.quiet = Duration::from_secs_f64(value()?.parse().map_err(|e| format!("--quiet-secs: {e}"))?)
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// Calls that started in one kind of window: their latencies, and the
/// windows' total length.
#[derive(Default)]
struct Class {
    lat: Vec<Duration>,
    time: Duration,
}

impl Class {
    fn rate(&self) -> f64 {
        self.lat.len() as f64 / self.time.as_secs_f64()
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = args()?;
    println!("checkpoint_stall: {} threads, {} rounds, quiet windows of {:?}", a.threads, a.rounds, a.quiet);
    println!("| shape | window | accepts/s | p50 ms | p99 ms | p999 ms | checkpoint ms (each) | image MiB |");
    println!("| --- | --- | --: | --: | --: | --: | --: | --: |");
    for &shape in &a.shapes {
        run(&a, shape)?;
    }
    Ok(())
}

fn run(a: &Args, shape: Shape) -> Result<(), Box<dyn std::error::Error>> {
    let tmp = dir::bench_dir("checkpoint-stall")?;
    let opts =
        || StoreOptions { checkpoint_after_segments: None, checkpoint_duty_cycle: a.duty, ..StoreOptions::default() };
    let (store, _) = AcceptorStore::open(tmp.path(), opts())?;
    let value = vec![7u8; shape.size];
    let first = Ballot::new(1, 0);
    let fill = (0..shape.groups).flat_map(|g| {
        let value = &value;
        (0..shape.slots).map(move |s| Op::Accept {
            group: GroupId(g),
            slot: Slot(s),
            ballot: first,
            value: value.clone(),
        })
    });
    apply_in_batches(&store, fill, 1000)?;
    let t0 = Instant::now();
    store.checkpoint()?;
    let mut last = t0.elapsed();

    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicU64::new(2));
    let calls = Arc::new(Mutex::new(Vec::new()));
    let origin = Instant::now();
    let workers: Vec<_> = (0..a.threads)
        .map(|t| {
            let (store, stop, rounds, calls, value) =
                (store.clone(), stop.clone(), rounds.clone(), calls.clone(), value.clone());
            std::thread::spawn(move || {
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (t as u64 + 1);
                let mut mine = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let g = GroupId(next(&mut x) % shape.groups);
                    let s = Slot(next(&mut x) % shape.slots);
                    let b = Ballot::new(rounds.fetch_add(1, Ordering::Relaxed), t as u64);
                    let t0 = Instant::now();
                    store.accept(g, s, b, &value).expect("accept");
                    mine.push((t0 - origin, t0.elapsed()));
                }
                calls.lock().unwrap().extend(mine);
            })
        })
        .collect();
    // (start, end, during a checkpoint)
    let mut windows = Vec::new();
    let mut took = Vec::new();
    // Each checkpoint's start and the ends of its steps.
    let mut steps: Vec<[Duration; 5]> = Vec::new();
    let mut image = 0;
    for _ in 0..a.rounds {
        let q = Instant::now();
        std::thread::sleep(a.quiet.max(last));
        let c = Instant::now();
        windows.push((q - origin, c - origin, false));
        let info = store.checkpoint()?;
        windows.push((c - origin, origin.elapsed(), true));
        let st = info.steps;
        let mut at = c - origin;
        let mut ends = [at; 5];
        for (i, d) in [st.copy, st.write, st.repoint, st.delete].into_iter().enumerate() {
            at += d;
            ends[i + 1] = at;
        }
        steps.push(ends);
        last = c.elapsed();
        took.push(last);
        image = info.bytes;
    }
    let q = Instant::now();
    std::thread::sleep(a.quiet.max(last));
    windows.push((q - origin, origin.elapsed(), false));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("worker");
    }
    let mut without = Class::default();
    let mut during = Class::default();
    for &(s, e, ck) in &windows {
        let class = if ck { &mut during } else { &mut without };
        class.time += e - s;
    }
    let all = std::mem::take(&mut *calls.lock().unwrap());
    if a.timeline {
        if let Some(&(cs, ce, _)) = windows.iter().find(|w| w.2) {
            let from = cs.saturating_sub(Duration::from_millis(500));
            let mut bins: Vec<Vec<Duration>> = vec![Vec::new(); ((ce - from).as_millis() / 100 + 1) as usize];
            for (start, lat) in &all {
                if *start >= from && *start < ce {
                    bins[((*start - from).as_millis() / 100) as usize].push(*lat);
                }
            }
            for (b, lat) in bins.iter_mut().enumerate() {
                lat.sort_unstable();
                let ms = |d: Duration| d.as_secs_f64() * 1e3;
                eprintln!(
                    "t={:+6} ms {:7} accepts/s  p99 {:6.2} ms  slowest {:6.1} ms",
                    (b as i64 * 100) - 500,
                    lat.len() * 10,
                    ms(pct(lat, 0.99)),
                    ms(lat.last().copied().unwrap_or_default())
                );
            }
        }
    }
    // The calls of the checkpoints' windows again, by the step running
    // when they started.
    let mut by_step: [Class; 4] = Default::default();
    for ends in &steps {
        for (i, class) in by_step.iter_mut().enumerate() {
            class.time += ends[i + 1] - ends[i];
        }
    }
    for (start, lat) in all {
        if let Some(&(_, _, ck)) = windows.iter().find(|(s, e, _)| *s <= start && start < *e) {
            if ck { &mut during } else { &mut without }.lat.push(lat);
            if let Some(ends) = steps.iter().find(|e| e[0] <= start && start < e[4]) {
                let i = (1..5).find(|&i| start < ends[i]).unwrap_or(4) - 1;
                by_step[i].lat.push(lat);
            }
        }
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let each: Vec<String> = took.iter().map(|d| format!("{:.0}", ms(*d))).collect();
    // One row of the table: `c`'s calls (sorted here), then `rest`, the
    // last two columns.
    let row = |window: String, c: &mut Class, rest: String| {
        c.lat.sort_unstable();
        println!(
            "| {} | {window} | {:.0} | {:.3} | {:.3} | {:.3} | {rest} |",
            shape.name,
            c.rate(),
            ms(pct(&c.lat, 0.5)),
            ms(pct(&c.lat, 0.99)),
            ms(pct(&c.lat, 0.999)),
        );
    };
    let mib = image as f64 / (1 << 20) as f64;
    row("without".into(), &mut without, format!(" | {mib:.0}"));
    row("during".into(), &mut during, format!("{} | {mib:.0}", each.join(", ")));
    for (name, c) in ["copy", "write", "repoint", "delete"].iter().zip(by_step.iter_mut()) {
        if !c.lat.is_empty() {
            row(format!("during: {name} ({:.1} s)", c.time.as_secs_f64()), c, "|".into());
        }
    }
    let r = |p| ms(pct(&during.lat, p)) / ms(pct(&without.lat, p));
    println!(
        "| {} | during / without | {:.2}x | {:.2}x | {:.2}x | {:.2}x | | |",
        shape.name,
        during.rate() / without.rate(),
        r(0.5),
        r(0.99),
        r(0.999)
    );
    Ok(())
}
