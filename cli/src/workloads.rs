//! The commands that run a workload of their own: `demo`, `simulate`,
//! `torture` and `bench` (a module of the `paxos-store` binary).

use crate::{fail, print_json};
use paxos_store_cli::paths;
use paxos_store_cli::progress::Progress;
use std::path::PathBuf;
use std::process::ExitCode;

pub(crate) fn simulate(
    first: u64,
    seeds: u64,
    steps: usize,
    acceptors: usize,
    gentle_disk: bool,
    file_damage: f64,
) -> ExitCode {
    let Some(last) = first.checked_add(seeds - 1) else {
        return fail(format!("--seed {first} --seeds {seeds}: the last seed would be past {}", u64::MAX));
    };
    let mut bar = Progress::new("simulate", seeds, "seeds");
    let mut total = paxos_store_cli::sim::SimStats::default();
    for seed in first..=last {
        let mut cfg =
            paxos_store_cli::sim::SimConfig { steps, acceptors, ..paxos_store_cli::sim::SimConfig::new(seed) };
        cfg.file_damage = file_damage;
        if gentle_disk {
            cfg.disk = paxos_wal::storage::DiskModel::gentle();
        }
        let stats = paxos_store_cli::sim::run(&cfg);
        for v in &stats.violations {
            // Printed, not left to the progress display: a violation must
            // always be seen.
            bar.suspend(|| {
                println!(
                    "VIOLATION {v}\n  replay: paxos-store simulate --seed {seed} --seeds 1 --steps {steps} --acceptors {acceptors} --file-damage {file_damage}{}",
                    if gentle_disk { " --gentle-disk" } else { "" }
                )
            });
        }
        total.add(&stats);
        bar.inc(1);
    }
    bar.finish();
    println!("{seeds} seeds ({} disk):\n{}", if gentle_disk { "gentle" } else { "Linux" }, total.summary());
    println!("{} violations", total.violations.len());
    if total.violations.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// A directory to work in: the one given (created if missing, a file
/// refused), or a new temporary one in the system temp dir, removed when
/// the returned guard is dropped.
fn work_dir(given: Option<PathBuf>, prefix: &str) -> Result<(PathBuf, Option<tempfile::TempDir>), String> {
    match given {
        Some(d) => {
            paths::dir_to_write(&d)?;
            Ok((d, None))
        }
        None => {
            let t = tempfile::Builder::new().prefix(prefix).tempdir().map_err(|e| {
                format!("cannot create a temporary directory in {}: {e}", std::env::temp_dir().display())
            })?;
            Ok((t.path().to_path_buf(), Some(t)))
        }
    }
}

pub(crate) fn demo(dir: Option<PathBuf>, commands: u64, clients: usize, value_size: usize) -> ExitCode {
    let (dir, tmp) = match work_dir(dir, "paxos-store-demo-") {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    let stores: Vec<PathBuf> =
        (0..paxos_store_cli::demo::ACCEPTORS).map(|i| paxos_store_cli::demo::acceptor_dir(&dir, i)).collect();
    let place = if tmp.is_some() {
        "in a temporary directory, removed at exit (--dir DIR keeps the stores)".to_string()
    } else {
        format!("in {}", paths::show(&dir))
    };
    println!(
        "paxos-store demo: {} acceptors, Multi-Paxos, {clients} clients, {commands} commands of {value_size} B, {place}",
        stores.len()
    );
    let cfg = paxos_store_cli::demo::DemoConfig { dir, commands, clients, value_size, progress: true };
    match paxos_store_cli::demo::run(&cfg) {
        Ok(r) => {
            let secs = r.elapsed.as_secs_f64();
            println!(
                "commands chosen:        {} in {:.2} s = {:.0} commands/s",
                r.chosen,
                secs,
                r.chosen as f64 / secs
            );
            println!(
                "durable accepts acked:  {} = {:.0} durable operations/s",
                r.durable_accepts,
                r.durable_accepts as f64 / secs
            );
            println!(
                "syncs issued:           {} ({:.1} durable accepts per sync)",
                r.syncs,
                r.durable_accepts as f64 / r.syncs.max(1) as f64
            );
            println!(
                "commit latency:         p50 {:.0} us, p99 {:.0} us",
                r.latency.0.as_secs_f64() * 1e6,
                r.latency.1.as_secs_f64() * 1e6
            );
            let us = |d: Option<std::time::Duration>| d.unwrap_or_default().as_secs_f64() * 1e6;
            println!(
                "fsync latency:          p50 {:.0} us, p99 {:.0} us, max {:.0} us over {} syncs (bucket bounds)",
                us(r.fsync.p50()),
                us(r.fsync.p99()),
                us(r.fsync.max()),
                r.fsync.count()
            );
            println!("verified:               {} slots held by a majority with identical values", r.verified_slots);
            println!("the killed acceptor's {}", r.recovery);
            if tmp.is_none() {
                for (i, s) in stores.iter().enumerate() {
                    println!("acceptor {i}'s store:     {}", paths::show(s));
                }
                println!("look at one:            paxos-store inspect {}", paths::show(&stores[0]));
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

pub(crate) fn torture(dir: Option<PathBuf>, cycles: u64, seed: u64) -> ExitCode {
    let (dir, tmp) = match work_dir(dir, "paxos-store-torture-") {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return fail(format!("cannot find this program's path to start children: {e}")),
    };
    let mut bar = Progress::new("torture", cycles, "kill -9 cycles");
    let res = paxos_store_cli::torture::parent(&exe, &dir, cycles, seed, |s| bar.set_position(s.cycles));
    bar.finish();
    let place = if tmp.is_some() {
        "a temporary directory (removed at exit; --dir DIR keeps it)".to_string()
    } else {
        paths::show(&paxos_store_cli::torture::store_dir(&dir))
    };
    match res {
        Ok(s) => {
            for v in &s.violations {
                println!("VIOLATION {v}");
            }
            println!(
                "{} kill -9 cycles on the store in {place}: {} operations acknowledged, {} facts verified after restarts, {} torn tails cut, {} violations",
                s.cycles,
                s.acknowledged,
                s.verified,
                s.torn_tails,
                s.violations.len()
            );
            if s.violations.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => fail(format!("torture in {place}: {e}")),
    }
}

pub(crate) fn bench(
    dir: Option<PathBuf>,
    ops: u64,
    sizes: Vec<usize>,
    callers: Vec<usize>,
    json: bool,
    plot: Option<PathBuf>,
) -> ExitCode {
    if let Some(p) = &plot {
        if p.is_dir() {
            return fail(format!("{}: is a directory (--plot takes a file name)", paths::show(p)));
        }
        if let Some(parent) = p.parent().filter(|q| !q.as_os_str().is_empty()) {
            if !parent.is_dir() {
                return fail(format!("{} (the folder of --plot {})", paths::does_not_exist(parent), paths::show(p)));
            }
        }
    }
    let disk = match dir {
        Some(d) => {
            if let Err(e) = paths::dir_to_write(&d) {
                return fail(e);
            }
            d
        }
        None => std::env::temp_dir(),
    };
    let tmp = match tempfile::Builder::new().prefix("paxos-store-bench-").tempdir_in(&disk) {
        Ok(t) => t,
        Err(e) => return fail(format!("{}: cannot create a directory to measure in: {e}", paths::show(&disk))),
    };
    let cases = sizes.len() as u64 * (5 + callers.len() as u64 + 1);
    let cfg = paxos_store_cli::bench::BenchConfig { dir: tmp.path().to_path_buf(), ops, sizes, concurrency: callers };
    let mut bar = Progress::new("bench", cases, "cases");
    let mut started = 0;
    let rows = paxos_store_cli::bench::run(&cfg, |what| {
        bar.set_position(started);
        started += 1;
        bar.set_message(what.to_string());
    });
    bar.finish();
    drop(tmp);
    if json {
        print_json(&rows);
    } else {
        println!("durable writes in {} ({} operations per case)", paths::show(&disk), ops);
        print!("{}", paxos_store_cli::bench::table(&rows));
    }
    if let Some(p) = plot {
        let disk = paxos_store_cli::bench::disk_label(&disk);
        if let Err(e) = paxos_store_cli::bench::plot(&rows, &p, &disk) {
            return fail(format!("{}: {e}", paths::show(&p)));
        }
        if !json {
            println!("plot written to {}", paths::show(&p));
        }
    }
    ExitCode::SUCCESS
}
