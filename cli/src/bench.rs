//! `paxos-store bench`: what `pg_test_fsync` does for PostgreSQL, for Paxos
//! acceptors. On the user's own disk it measures, in one run:
//! - raw durable-write methods, one writer: `pwrite`+`fdatasync`,
//!   `pwrite`+`fsync`, `O_DSYNC`, `O_DIRECT|O_DSYNC`, mmap+`msync`, at each
//!   record size;
//! - the store's own durable accept with 1..64 concurrent callers, and as
//!   64-operation batches;
//!
//! and reports ops/s, p50, p99 and the ratio to the floor (raw
//! `pwrite`+`fdatasync` of the same record size, measured in the same run).

use paxos_acceptor_store::{AcceptOutcome, AcceptorStore, Ballot, GroupId, Op, Slot, StoreOptions};
use paxos_store_benches::raw::{RawLog, RawMode};
use serde::Serialize;
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// What to measure.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    /// Directory on the disk to measure (files are created and removed).
    pub dir: PathBuf,
    /// Durable operations per case.
    pub ops: u64,
    /// Record / value sizes.
    pub sizes: Vec<usize>,
    /// Concurrent callers for the store.
    pub concurrency: Vec<usize>,
}

/// One measured case.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// What was measured (`raw` or `store`).
    pub kind: String,
    /// The method.
    pub method: String,
    /// Record or value size in bytes.
    pub size: usize,
    /// Concurrent callers.
    pub callers: usize,
    /// Durable operations completed.
    pub ops: u64,
    /// Durable operations per second.
    pub ops_per_sec: f64,
    /// Median latency of one durable operation, microseconds.
    pub p50_us: f64,
    /// 99th percentile latency, microseconds.
    pub p99_us: f64,
    /// Throughput relative to the floor (raw `pwrite`+`fdatasync`, one
    /// writer, same size, same run): above 1 is faster.
    pub vs_floor: f64,
    /// Why the case could not run, if it could not.
    pub error: Option<String>,
}

fn pct(lat: &mut [Duration], p: f64) -> f64 {
    if lat.is_empty() {
        return 0.0;
    }
    lat.sort_unstable();
    lat[((lat.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e6
}

fn row(kind: &str, method: &str, size: usize, callers: usize, elapsed: Duration, mut lat: Vec<Duration>) -> Row {
    let ops = lat.len() as u64;
    Row {
        kind: kind.into(),
        method: method.into(),
        size,
        callers,
        ops,
        ops_per_sec: ops as f64 / elapsed.as_secs_f64(),
        p50_us: pct(&mut lat, 0.5),
        p99_us: pct(&mut lat, 0.99),
        vs_floor: 0.0,
        error: None,
    }
}

fn failed(kind: &str, method: &str, size: usize, callers: usize, e: impl std::fmt::Display) -> Row {
    Row {
        kind: kind.into(),
        method: method.into(),
        size,
        callers,
        ops: 0,
        ops_per_sec: 0.0,
        p50_us: 0.0,
        p99_us: 0.0,
        vs_floor: 0.0,
        error: Some(e.to_string()),
    }
}

fn raw(dir: &Path, mode: RawMode, size: usize, ops: u64) -> std::io::Result<(Duration, Vec<Duration>)> {
    let path = dir.join(format!("raw-{}.dat", mode.name()));
    let mut log = RawLog::create(&path, 64 << 20, mode)?;
    let record = vec![0xA5u8; size];
    let mut lat = Vec::with_capacity(ops as usize);
    let start = Instant::now();
    for _ in 0..ops {
        let t = Instant::now();
        log.append_durable(&record)?;
        lat.push(t.elapsed());
    }
    let elapsed = start.elapsed();
    drop(log);
    std::fs::remove_file(&path)?;
    Ok((elapsed, lat))
}

/// `pwrite` + `fsync` (the raw baselines' library has no plain-fsync mode).
fn raw_fsync(dir: &Path, size: usize, ops: u64) -> std::io::Result<(Duration, Vec<Duration>)> {
    let path = dir.join("raw-fsync.dat");
    paxos_store_benches::dir::prezeroed_file(&path, 64 << 20)?;
    let file = OpenOptions::new().read(true).write(true).open(&path)?;
    let record = vec![0x5Au8; size];
    let mut lat = Vec::with_capacity(ops as usize);
    let mut off = 0u64;
    let start = Instant::now();
    for _ in 0..ops {
        let t = Instant::now();
        if off + size as u64 > 64 << 20 {
            off = 0;
        }
        file.write_all_at(&record, off)?;
        file.sync_all()?;
        off += size as u64;
        lat.push(t.elapsed());
    }
    let elapsed = start.elapsed();
    drop(file);
    std::fs::remove_file(&path)?;
    Ok((elapsed, lat))
}

fn store_accepts(dir: &Path, size: usize, callers: usize, ops: u64) -> Result<(Duration, Vec<Duration>), String> {
    let sdir = dir.join(format!("store-{size}-{callers}"));
    let opts = StoreOptions { segment_size: 64 << 20, checkpoint_after_segments: None, ..Default::default() };
    let (store, _) = AcceptorStore::open(&sdir, opts).map_err(|e| e.to_string())?;
    let value = vec![0x3Cu8; size];
    let per = ops / callers as u64;
    let barrier = Arc::new(Barrier::new(callers + 1));
    let handles: Vec<_> = (0..callers)
        .map(|c| {
            let (store, value, barrier) = (store.clone(), value.clone(), barrier.clone());
            std::thread::spawn(move || -> Result<Vec<Duration>, String> {
                let mut lat = Vec::with_capacity(per as usize);
                barrier.wait();
                for i in 0..per {
                    let t = Instant::now();
                    let out = store
                        .accept(GroupId(c as u64), Slot(i), Ballot::new(1, 0), &value)
                        .map_err(|e| e.to_string())?;
                    if out != AcceptOutcome::Accepted {
                        return Err(format!("unexpected {out:?}"));
                    }
                    lat.push(t.elapsed());
                }
                Ok(lat)
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    let mut lat = Vec::new();
    for h in handles {
        lat.extend(h.join().map_err(|_| "a caller panicked".to_string())??);
    }
    let elapsed = start.elapsed();
    drop(store);
    let _ = std::fs::remove_dir_all(&sdir);
    Ok((elapsed, lat))
}

fn store_batches(dir: &Path, size: usize, ops: u64) -> Result<(Duration, Vec<Duration>), String> {
    let sdir = dir.join(format!("store-batch-{size}"));
    let opts = StoreOptions { segment_size: 64 << 20, checkpoint_after_segments: None, ..Default::default() };
    let (store, _) = AcceptorStore::open(&sdir, opts).map_err(|e| e.to_string())?;
    let value = vec![0x3Cu8; size];
    let mut lat = Vec::new();
    let start = Instant::now();
    let mut slot = 0;
    while (lat.len() as u64) < ops {
        let batch: Vec<Op> = (0..64)
            .map(|_| {
                slot += 1;
                Op::Accept { group: GroupId(1), slot: Slot(slot), ballot: Ballot::new(1, 0), value: value.clone() }
            })
            .collect();
        let t = Instant::now();
        store.apply_batch(&batch).map_err(|e| e.to_string())?;
        // Each operation of the batch became durable at the same moment.
        lat.extend(std::iter::repeat_n(t.elapsed(), 64));
    }
    let elapsed = start.elapsed();
    drop(store);
    let _ = std::fs::remove_dir_all(&sdir);
    Ok((elapsed, lat))
}

/// Run every case; `progress` is told the name of each before it starts.
pub fn run(cfg: &BenchConfig, mut progress: impl FnMut(&str)) -> Vec<Row> {
    let mut rows = Vec::new();
    for &size in &cfg.sizes {
        let methods: [(&str, Option<RawMode>); 5] = [
            ("pwrite+fdatasync", Some(RawMode::PwriteFdatasync)),
            ("pwrite+fsync", None),
            ("O_DSYNC", Some(RawMode::PwriteDsync)),
            ("O_DIRECT|O_DSYNC", Some(RawMode::DirectDsync)),
            ("mmap+msync", Some(RawMode::MmapMsync)),
        ];
        let first = rows.len();
        for (name, mode) in methods {
            progress(&format!("raw {name} {size} B"));
            let r = match mode {
                Some(m) => raw(&cfg.dir, m, size, cfg.ops),
                None => raw_fsync(&cfg.dir, size, cfg.ops),
            };
            rows.push(match r {
                Ok((el, lat)) => row("raw", name, size, 1, el, lat),
                Err(e) => failed("raw", name, size, 1, e),
            });
        }
        for &callers in &cfg.concurrency {
            progress(&format!("store accept {size} B x{callers}"));
            rows.push(match store_accepts(&cfg.dir, size, callers, cfg.ops.max(callers as u64)) {
                Ok((el, lat)) => row("store", "durable accept", size, callers, el, lat),
                Err(e) => failed("store", "durable accept", size, callers, e),
            });
        }
        progress(&format!("store batches of 64, {size} B"));
        rows.push(match store_batches(&cfg.dir, size, cfg.ops.max(64)) {
            Ok((el, lat)) => row("store", "batch of 64", size, 1, el, lat),
            Err(e) => failed("store", "batch of 64", size, 1, e),
        });
        let floor = rows[first].ops_per_sec;
        for r in &mut rows[first..] {
            if floor > 0.0 {
                r.vs_floor = r.ops_per_sec / floor;
            }
        }
    }
    rows
}

/// The table, for humans.
pub fn table(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<6} {:<20} {:>6} {:>7} {:>12} {:>10} {:>10} {:>9}\n",
        "", "method", "size", "callers", "ops/s", "p50 us", "p99 us", "vs floor"
    );
    for r in rows {
        match &r.error {
            Some(e) => {
                out.push_str(&format!("{:<6} {:<20} {:>6} {:>7}  n/a: {e}\n", r.kind, r.method, r.size, r.callers))
            }
            None => out.push_str(&format!(
                "{:<6} {:<20} {:>6} {:>7} {:>12.0} {:>10.1} {:>10.1} {:>8.2}x\n",
                r.kind, r.method, r.size, r.callers, r.ops_per_sec, r.p50_us, r.p99_us, r.vs_floor
            )),
        }
    }
    out
}

/// Draw throughput and latency of the store's durable accept against the
/// number of callers, one line per size, with the floor for reference.
pub fn plot(rows: &[Row], path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    let root = SVGBackend::new(path, (1000, 450)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(500);
    let store: Vec<&Row> =
        rows.iter().filter(|r| r.kind == "store" && r.method == "durable accept" && r.error.is_none()).collect();
    let max_callers = store.iter().map(|r| r.callers).max().unwrap_or(1) as f64;
    let max_ops = store.iter().map(|r| r.ops_per_sec).fold(1.0, f64::max) * 1.1;
    let max_lat = store.iter().map(|r| r.p99_us).fold(1.0, f64::max) * 1.1;
    let sizes: Vec<usize> = {
        let mut s: Vec<usize> = store.iter().map(|r| r.size).collect();
        s.dedup();
        s
    };
    let colors = [RED, BLUE, GREEN, MAGENTA];
    let mut thr = ChartBuilder::on(&left)
        .caption("durable accepts/s vs callers", ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d((1f64..max_callers).log_scale(), 0f64..max_ops)?;
    thr.configure_mesh().x_desc("concurrent callers").y_desc("ops/s").draw()?;
    let mut lat = ChartBuilder::on(&right)
        .caption("latency vs callers (p50 solid, p99 dashed)", ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d((1f64..max_callers).log_scale(), 0f64..max_lat)?;
    lat.configure_mesh().x_desc("concurrent callers").y_desc("microseconds").draw()?;
    for (i, size) in sizes.iter().enumerate() {
        let color = colors[i % colors.len()];
        let pts = |f: fn(&Row) -> f64| -> Vec<(f64, f64)> {
            store.iter().filter(|r| r.size == *size).map(|r| (r.callers as f64, f(r))).collect()
        };
        thr.draw_series(LineSeries::new(pts(|r| r.ops_per_sec), color.stroke_width(2)))?
            .label(format!("store {size} B"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], color));
        if let Some(floor) = rows.iter().find(|r| r.kind == "raw" && r.size == *size && r.error.is_none()) {
            let f = floor.ops_per_sec;
            thr.draw_series(LineSeries::new(vec![(1.0, f), (max_callers, f)], color.mix(0.4)))?
                .label(format!("floor {size} B (pwrite+fdatasync)"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], color.mix(0.4)));
        }
        lat.draw_series(LineSeries::new(pts(|r| r.p50_us), color.stroke_width(2)))?;
        lat.draw_series(DashedLineSeries::new(pts(|r| r.p99_us), 6, 4, color.into()))?;
    }
    thr.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
    root.present()?;
    Ok(())
}
