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
    let mut opts = StoreOptions { checkpoint_after_segments: None, ..Default::default() };
    opts.log.segment_size = 64 << 20;
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
    let mut opts = StoreOptions { checkpoint_after_segments: None, ..Default::default() };
    opts.log.segment_size = 64 << 20;
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

/// Which device and file system hold `dir`, from `/proc/self/mounts`:
/// `"DIR on DEVICE (FSTYPE)"`, or just `DIR` where that cannot be read.
pub fn disk_label(dir: &Path) -> String {
    let shown = crate::paths::show(dir);
    let Ok(abs) = dir.canonicalize() else { return shown };
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") else { return shown };
    let mut best: Option<(usize, String, String)> = None;
    for line in mounts.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 3 {
            continue;
        }
        let at = f[1].replace("\\040", " ");
        if abs.starts_with(&at) && best.as_ref().is_none_or(|b| at.len() > b.0) {
            best = Some((at.len(), f[0].to_string(), f[2].to_string()));
        }
    }
    match best {
        Some((_, dev, fs)) => format!("{shown} on {dev} ({fs})"),
        None => shown,
    }
}

/// `12000` -> `12k`, `1500` -> `1.5k`, `800` -> `800`.
fn short_count(v: f64) -> String {
    if v >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if v >= 1e3 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

/// Microseconds as `50 us`, `2 ms`, `1.5 s`.
fn short_time(us: f64) -> String {
    if us >= 1e6 {
        format!("{} s", trim(us / 1e6))
    } else if us >= 1e3 {
        format!("{} ms", trim(us / 1e3))
    } else {
        format!("{} us", trim(us))
    }
}

/// 1-2-5 steps covering `lo..=hi`.
fn steps_125(lo: f64, hi: f64) -> Vec<f64> {
    let mut out = Vec::new();
    let mut decade = 10f64.powf(lo.log10().floor());
    while decade <= hi {
        for m in [1.0, 2.0, 5.0] {
            let v = decade * m;
            if v >= lo && v <= hi {
                out.push(v);
            }
        }
        decade *= 10.0;
    }
    out
}

/// Draw throughput and latency of the store's durable accept against the
/// number of callers, one line per record size, with the raw
/// `pwrite`+`fdatasync` floor (one writer) for reference. `disk` says what
/// was measured (see [`disk_label`]); it goes into the title.
pub fn plot(rows: &[Row], path: &Path, disk: &str) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    let store: Vec<&Row> =
        rows.iter().filter(|r| r.kind == "store" && r.method == "durable accept" && r.error.is_none()).collect();
    let mut callers: Vec<usize> = store.iter().map(|r| r.callers).collect();
    callers.sort_unstable();
    callers.dedup();
    let mut sizes: Vec<usize> = store.iter().map(|r| r.size).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let (Some(&cmin), Some(&cmax)) = (callers.first(), callers.last()) else {
        return Err("no measured store rows to plot".into());
    };
    let floors: Vec<(usize, f64)> = sizes
        .iter()
        .filter_map(|s| {
            rows.iter()
                .find(|r| r.kind == "raw" && r.method == "pwrite+fdatasync" && r.size == *s && r.error.is_none())
                .map(|r| (*s, r.ops_per_sec))
        })
        .collect();
    let ops = store.iter().map(|r| r.ops).max().unwrap_or(0);

    let (w, h) = (1200u32, 600u32);
    let root = SVGBackend::new(path, (w, h)).into_drawing_area();
    root.fill(&WHITE)?;
    let size_list = sizes.iter().map(|s| format!("{s} B")).collect::<Vec<_>>().join(" and ");
    let (title, body) = root.split_vertically(56);
    title.draw(&Text::new(
        format!("paxos-store bench: durable accepts, records of {size_list}"),
        (16, 8),
        ("sans-serif", 22).into_font().style(FontStyle::Bold),
    ))?;
    title.draw(&Text::new(
        format!("disk: {disk}; about {ops} operations per case"),
        (16, 34),
        ("sans-serif", 15).into_font().color(&RGBColor(80, 80, 80)),
    ))?;
    let (charts, legend_area) = body.split_vertically(h - 56 - 80);
    let (left, right) = charts.split_horizontally(w / 2);
    let (legend_left, legend_right) = legend_area.split_horizontally(w / 2);
    let palette = [RGBColor(31, 119, 180), RGBColor(214, 39, 40), RGBColor(44, 160, 44), RGBColor(148, 103, 189)];
    let color = |i: usize| palette[i % palette.len()];
    let grid = RGBColor(225, 225, 225);
    // Callers on a log axis, a tick and a label at each count measured.
    let xs: Vec<f64> = callers.iter().map(|&c| c as f64).collect();
    let x_range = || {
        let (lo, hi) = if cmin == cmax { (cmin as f64 / 2.0, cmax as f64 * 2.0) } else { (cmin as f64, cmax as f64) };
        (lo / 1.25..hi * 1.25).log_scale().with_key_points(xs.clone())
    };
    let x_fmt = |x: &f64| format!("{}", x.round() as u64);

    // Throughput, log scale: the one-writer floor is often 1/100 of the
    // store with many callers, and must still read.
    let thr_all: Vec<f64> =
        store.iter().map(|r| r.ops_per_sec).chain(floors.iter().map(|f| f.1)).filter(|v| *v > 0.0).collect();
    let tlo = thr_all.iter().copied().fold(f64::INFINITY, f64::min).min(1e9);
    let thi = thr_all.iter().copied().fold(0.0, f64::max).max(tlo * 10.0);
    let (tlo, thi) = (10f64.powf((tlo / 1.3).log10().floor()), 10f64.powf((thi * 1.3).log10().ceil()));
    let mut thr = ChartBuilder::on(&left)
        .caption("throughput (higher is better, log scale)", ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(x_range(), (tlo..thi).log_scale().with_key_points(steps_125(tlo, thi)))?;
    thr.configure_mesh()
        .light_line_style(WHITE)
        .bold_line_style(grid)
        .x_desc("concurrent callers")
        .y_desc("durable accepts per second")
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&|v| short_count(*v))
        .label_style(("sans-serif", 13))
        .draw()?;
    let mut legend_l: Vec<(String, RGBColor, bool)> = Vec::new();
    for (i, size) in sizes.iter().enumerate() {
        let c = color(i);
        let pts: Vec<(f64, f64)> =
            store.iter().filter(|r| r.size == *size).map(|r| (r.callers as f64, r.ops_per_sec)).collect();
        thr.draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))?;
        thr.draw_series(pts.iter().map(|p| Circle::new(*p, 3, c.filled())))?;
        legend_l.push((format!("store, {size} B records"), c, false));
        if let Some((_, f)) = floors.iter().find(|f| f.0 == *size) {
            let ends = vec![(xs[0] / 1.25, *f), (xs[xs.len() - 1] * 1.25, *f)];
            thr.draw_series(DashedLineSeries::new(ends, 8, 5, c.mix(0.7).stroke_width(1)))?;
            legend_l.push((
                format!("raw floor, {size} B: pwrite+fdatasync, 1 writer, {}/s", short_count(f.round())),
                c,
                true,
            ));
        }
    }

    // Latency, log scale so that p50 and p99 both read.
    let lats: Vec<f64> = store.iter().flat_map(|r| [r.p50_us, r.p99_us]).filter(|v| *v > 0.0).collect();
    let lo = lats.iter().copied().fold(f64::INFINITY, f64::min).min(1e6);
    let hi = lats.iter().copied().fold(0.0, f64::max).max(lo * 10.0);
    let (ylo, yhi) = (10f64.powf((lo / 1.3).log10().floor()), 10f64.powf((hi * 1.3).log10().ceil()));
    let mut lat = ChartBuilder::on(&right)
        .caption("latency of one durable accept (lower is better, log scale)", ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(x_range(), (ylo..yhi).log_scale().with_key_points(steps_125(ylo, yhi)))?;
    lat.configure_mesh()
        .light_line_style(WHITE)
        .bold_line_style(grid)
        .x_desc("concurrent callers")
        .y_desc("latency")
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&|v| short_time(*v))
        .label_style(("sans-serif", 13))
        .draw()?;
    let mut legend_r: Vec<(String, RGBColor, bool)> = Vec::new();
    for (i, size) in sizes.iter().enumerate() {
        let c = color(i);
        let of = |f: fn(&Row) -> f64| -> Vec<(f64, f64)> {
            store.iter().filter(|r| r.size == *size && f(r) > 0.0).map(|r| (r.callers as f64, f(r))).collect()
        };
        let p50 = of(|r| r.p50_us);
        let p99 = of(|r| r.p99_us);
        lat.draw_series(LineSeries::new(p50.clone(), c.stroke_width(2)))?;
        lat.draw_series(p50.iter().map(|p| Circle::new(*p, 3, c.filled())))?;
        lat.draw_series(DashedLineSeries::new(p99.clone(), 8, 5, c.stroke_width(2)))?;
        lat.draw_series(p99.iter().map(|p| Circle::new(*p, 3, c.stroke_width(1))))?;
        legend_r.push((format!("p50, {size} B records"), c, false));
        legend_r.push((format!("p99, {size} B records"), c, true));
    }

    // The legends sit under the charts, covering nothing.
    for (area, items) in [(&legend_left, &legend_l), (&legend_right, &legend_r)] {
        for (k, (label, c, dashed)) in items.iter().enumerate() {
            let (col, row) = (k % 2, k / 2);
            let (x, y) = (80 + col as i32 * 250, 12 + row as i32 * 22);
            if *dashed {
                for seg in 0..3 {
                    let x0 = x + seg * 10;
                    area.draw(&PathElement::new(vec![(x0, y), (x0 + 6, y)], c.stroke_width(2)))?;
                }
            } else {
                area.draw(&PathElement::new(vec![(x, y), (x + 26, y)], c.stroke_width(2)))?;
            }
            area.draw(&Text::new(label.clone(), (x + 34, y - 7), ("sans-serif", 13)))?;
        }
    }
    root.present()?;
    Ok(())
}
