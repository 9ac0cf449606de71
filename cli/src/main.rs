//! `paxos-store`: see `paxos-store --help`.

use clap::{Parser, Subcommand};
use paxos_store_cli::paths;
use paxos_store_cli::progress::Progress;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Policy {
    Strict,
    TolerateTornTail,
    Salvage,
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::FAILURE
}

fn print_json(v: &impl serde::Serialize) {
    match serde_json::to_string_pretty(v) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("error: cannot render JSON: {e}"),
    }
}

#[derive(Parser)]
#[command(name = "paxos-store", version, about = "A durable store for Paxos acceptors: demo, crash-test, inspect")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Positive counts up to `max`.
fn count(max: u64) -> clap::builder::RangedU64ValueParser<u64> {
    clap::builder::RangedU64ValueParser::<u64>::new().range(1..=max)
}

/// Positive sizes and numbers of threads up to `max`.
fn small(max: u64) -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::<usize>::new().range(1..=max)
}

/// A probability, 0 to 1.
fn probability(s: &str) -> Result<f64, String> {
    let p: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err(format!("{p} is not a probability (0 to 1)"))
    }
}

/// Largest value or record size: the store's default `max_value_size`.
const MAX_SIZE: u64 = 1 << 20;

#[derive(Subcommand)]
enum Command {
    /// What durability costs on this disk: raw durable-write methods against
    /// the store's durable accept with 1..64 callers and batches (like
    /// PostgreSQL's pg_test_fsync).
    Bench {
        /// Directory on the disk to measure, created if missing (default: the
        /// system temporary directory, which may be memory, not a disk).
        /// Files are made in a temporary folder inside it and removed.
        dir: Option<PathBuf>,
        /// Durable operations per case (1 to 10,000,000).
        #[arg(long, default_value_t = 2000, value_parser = count(10_000_000))]
        ops: u64,
        /// Record/value sizes in bytes (1 to 1 MiB each).
        #[arg(long, value_delimiter = ',', default_values_t = [128usize, 4096], value_parser = small(MAX_SIZE))]
        sizes: Vec<usize>,
        /// Concurrent callers for the store (1 to 1024 each).
        #[arg(long, value_delimiter = ',', default_values_t = [1usize, 2, 4, 8, 16, 32, 64], value_parser = small(1024))]
        callers: Vec<usize>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// Draw throughput and latency against callers into this SVG file.
        #[arg(long)]
        plot: Option<PathBuf>,
    },
    /// Show a store: segments, checkpoints, groups, ballots, slots, record
    /// counts. Reads a copy; never modifies the directory. Given a directory
    /// that holds stores (`demo --dir D` makes D/acceptor-0..2), shows each.
    Inspect {
        /// The store directory (holds wal/ and checkpoints/), or a directory
        /// of stores.
        dir: PathBuf,
        /// Dump every record's operations.
        #[arg(long)]
        records: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Check every checksum and the acceptor invariants; exit code 0 only
    /// when clean. Reads a copy; never modifies the directory. Given a
    /// directory that holds stores, checks each.
    Verify {
        /// The store directory, or a directory of stores.
        dir: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Run recovery on the directory (cutting a torn tail, under the policy)
    /// and print the report.
    Recover {
        /// The store directory.
        dir: PathBuf,
        /// What to do about damage.
        #[arg(long, value_enum, default_value_t = Policy::TolerateTornTail)]
        policy: Policy,
        /// Machine-readable output (durations in milliseconds, keys `*_ms`).
        #[arg(long)]
        json: bool,
    },
    /// Real process crashes: a child runs acceptor operations and reports
    /// each acknowledged one; the parent SIGKILLs it at random moments and
    /// restarts it; each restart recovers and verifies every acknowledged
    /// promise and accept.
    Torture {
        /// Directory for the store, created if missing; the store is DIR/store
        /// (default: a temporary directory, removed at exit).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Kill/restart cycles (1 to 1,000,000).
        #[arg(long, default_value_t = 50, value_parser = count(1_000_000))]
        cycles: u64,
        /// Seed for the kill times and operations.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// (internal) the child process of `torture`.
    #[command(hide = true)]
    TortureChild {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        seed: u64,
    },
    /// The main job: a 3-acceptor Multi-Paxos group on real stores, many
    /// concurrent clients, one acceptor killed without a clean shutdown and
    /// recovered; prints throughput, syncs, latency and the recovery report.
    Demo {
        /// Directory for the stores, created if missing and kept: the stores
        /// are DIR/acceptor-0, -1 and -2 (default: a temporary directory,
        /// removed at exit).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Commands to choose (1 to 10,000,000).
        #[arg(long, default_value_t = 30_000, value_parser = count(10_000_000))]
        commands: u64,
        /// Concurrent clients (1 to 1024).
        #[arg(long, default_value_t = 32, value_parser = small(1024))]
        clients: usize,
        /// Bytes per command (1 to 1 MiB).
        #[arg(long, default_value_t = 128, value_parser = small(MAX_SIZE))]
        value_size: usize,
    },
    /// Run seeded simulations of a Paxos cluster on fault-injected stores and
    /// check every invariant (I1-I6, defined in FAULT-MODEL.md).
    Simulate {
        /// How many seeds to run (1 to 100,000,000).
        #[arg(long, default_value_t = 100, value_parser = count(100_000_000))]
        seeds: u64,
        /// The first seed (replay one failing run with `--seed N --seeds 1`).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Steps per run (1 to 10,000,000).
        #[arg(long, default_value_t = 3000, value_parser = small(10_000_000))]
        steps: usize,
        /// Acceptors per cluster (3 or 5).
        #[arg(long, default_value_t = 3, value_parser = clap::builder::TypedValueParser::map(clap::builder::PossibleValuesParser::new(["3", "5"]), |s: String| s.parse::<usize>().unwrap_or(3)))]
        acceptors: usize,
        /// Simulate the historical, gentler disk instead of Linux's
        /// behaviours (fsyncgate, lying pages, any subset of directory
        /// entries lost).
        #[arg(long)]
        gentle_disk: bool,
        /// Probability (0 to 1), at each restart, that one of the acceptor's
        /// segment files was removed, truncated, zeroed or replaced by a
        /// directory while it was down.
        #[arg(long, default_value_t = 0.03, value_parser = probability)]
        file_damage: f64,
    },
}

/// A path from the command line without a leading `./`, so that every path
/// printed from it (reports included) reads as the user would write it.
fn clean(p: PathBuf) -> PathBuf {
    PathBuf::from(paths::show(&p))
}

fn main() -> ExitCode {
    // `paxos-store inspect DIR --records | head` must end quietly when the
    // reader goes, as other command line tools do, not panic on a closed
    // stdout: take back the default action of SIGPIPE, which Rust ignores.
    // SAFETY: at the start of main, before any thread exists; SIG_DFL is a
    // valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let mut command = cli.command;
    match &mut command {
        Command::Bench { dir, plot, .. } => {
            *dir = dir.take().map(clean);
            *plot = plot.take().map(clean);
        }
        Command::Inspect { dir, .. } | Command::Verify { dir, .. } | Command::Recover { dir, .. } => {
            *dir = clean(std::mem::take(dir));
        }
        Command::Torture { dir, .. } | Command::Demo { dir, .. } => *dir = dir.take().map(clean),
        Command::TortureChild { .. } | Command::Simulate { .. } => {}
    }
    match command {
        Command::Bench { dir, ops, sizes, callers, json, plot } => bench(dir, ops, sizes, callers, json, plot),
        Command::Inspect { dir, records, json } => inspect(&dir, records, json),
        Command::Verify { dir, json } => verify(&dir, json),
        Command::Recover { dir, policy, json } => recover(&dir, policy, json),
        Command::Torture { dir, cycles, seed } => torture(dir, cycles, seed),
        Command::TortureChild { dir, seed } => match paxos_store_cli::torture::child(&dir, seed) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Demo { dir, commands, clients, value_size } => demo(dir, commands, clients, value_size),
        Command::Simulate { seeds, seed, steps, acceptors, gentle_disk, file_damage } => {
            simulate(seed, seeds, steps, acceptors, gentle_disk, file_damage)
        }
    }
}

fn simulate(first: u64, seeds: u64, steps: usize, acceptors: usize, gentle_disk: bool, file_damage: f64) -> ExitCode {
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

fn demo(dir: Option<PathBuf>, commands: u64, clients: usize, value_size: usize) -> ExitCode {
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

fn torture(dir: Option<PathBuf>, cycles: u64, seed: u64) -> ExitCode {
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

/// The stores a reading command (`inspect`, `verify`) looks at: `dir`
/// itself, or the stores in its subfolders when it is not one itself.
fn stores_to_read(dir: &Path) -> Result<Vec<PathBuf>, String> {
    match paths::check_store(dir) {
        Ok(()) => Ok(vec![dir.to_path_buf()]),
        Err(e) => {
            let inside = if dir.is_dir() { paths::stores_in(dir) } else { Vec::new() };
            if inside.is_empty() {
                Err(e)
            } else {
                Ok(inside)
            }
        }
    }
}

fn inspect(dir: &Path, records: bool, json: bool) -> ExitCode {
    let stores = match stores_to_read(dir) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let mut all = Vec::new();
    for store in &stores {
        match paxos_store_cli::inspect::inspect(store, records) {
            Ok(r) => all.push(r),
            Err(e) => return fail(e),
        }
    }
    if json {
        if stores.len() == 1 && stores[0] == dir {
            print_json(&all[0]);
        } else {
            print_json(&all);
        }
        return ExitCode::SUCCESS;
    }
    if stores.len() > 1 || stores[0] != dir {
        println!("{}: {} stores", paths::show(dir), stores.len());
    }
    for r in &all {
        show_inspection(r);
    }
    ExitCode::SUCCESS
}

fn show_inspection(r: &paxos_store_cli::inspect::Inspection) {
    println!(
        "{}: {} bytes, log lsns {}..={} ({} records)",
        paths::show(&r.dir),
        r.bytes,
        r.lsns.0,
        r.lsns.1,
        r.records
    );
    for s in &r.segments {
        println!(
            "  segment {} seq {} first lsn {} records {} used {}/{} bytes",
            paths::show(&s.path),
            s.seq,
            s.first_lsn,
            s.records,
            s.bytes_used,
            s.size
        );
    }
    if let Some(t) = &r.torn_tail {
        println!("  torn tail: {t}");
    }
    for d in &r.damage {
        println!("  DAMAGE: {d}");
    }
    for s in &r.snapshots {
        match &s.problem {
            None => {
                println!("  checkpoint {} through lsn {} ({} bytes)", paths::show(&s.path), s.position, s.payload_len)
            }
            Some(p) => println!("  checkpoint {} UNUSABLE: {p}", paths::show(&s.path)),
        }
    }
    println!("  {} group(s)", r.groups.len());
    for g in r.groups.iter().take(50) {
        println!(
            "    g{} promised ({}, {}) first live slot {} accepted {} chosen {} last slot {}",
            g.group,
            g.promised.0,
            g.promised.1,
            g.first_live_slot,
            g.accepted_slots,
            g.chosen_slots,
            g.last_slot.map_or("-".to_string(), |s| s.to_string())
        );
    }
    if r.groups.len() > 50 {
        println!("    ... {} more (use --json for all)", r.groups.len() - 50);
    }
    for o in &r.ops {
        println!("  lsn {:>8}  {}", o.lsn, o.op);
    }
}

fn verify(dir: &Path, json: bool) -> ExitCode {
    let stores = match stores_to_read(dir) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let mut all = Vec::new();
    for store in &stores {
        match paxos_store_cli::inspect::verify(store) {
            Ok(r) => all.push(r),
            Err(e) => return fail(e),
        }
    }
    let single = stores.len() == 1 && stores[0] == dir;
    if json {
        if single {
            print_json(&all[0]);
        } else {
            print_json(&all);
        }
    } else {
        for r in &all {
            for n in &r.notes {
                println!("note: {}: {n}", paths::show(&r.dir));
            }
            for p in &r.problems {
                println!("PROBLEM: {}: {p}", paths::show(&r.dir));
            }
            println!(
                "{}: {} records, {} checkpoints, {} groups checked: {}",
                paths::show(&r.dir),
                r.records,
                r.snapshots,
                r.groups,
                if r.problems.is_empty() { "clean".to_string() } else { format!("{} problem(s)", r.problems.len()) }
            );
        }
        if !single {
            let bad = all.iter().filter(|r| !r.problems.is_empty()).count();
            println!(
                "{}: {} stores verified: {}",
                paths::show(dir),
                all.len(),
                if bad == 0 { "all clean".to_string() } else { format!("{bad} with problems") }
            );
        }
    }
    if all.iter().all(|r| r.problems.is_empty()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The recovery report for tools: durations as milliseconds, the unit in
/// the key (`open_log_ms`), not serde's `{"secs":..,"nanos":..}`.
fn report_json(r: &paxos_acceptor_store::RecoveryReport, groups: usize) -> serde_json::Value {
    let mut v = serde_json::to_value(r).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        let t = &r.timings;
        o.remove("timings");
        o.insert("open_log_ms".into(), ms(t.open_log).into());
        o.insert("snapshot_ms".into(), ms(t.snapshot).into());
        o.insert("replay_ms".into(), ms(t.replay).into());
        o.insert("total_ms".into(), ms(t.total).into());
        o.insert("groups".into(), groups.into());
    }
    v
}

fn recover(dir: &Path, policy: Policy, json: bool) -> ExitCode {
    if let Err(e) = paths::check_store(dir) {
        return fail(e);
    }
    let policy = match policy {
        Policy::Strict => paxos_acceptor_store::CorruptionPolicy::Strict,
        Policy::TolerateTornTail => paxos_acceptor_store::CorruptionPolicy::TolerateTornTail,
        Policy::Salvage => paxos_acceptor_store::CorruptionPolicy::Salvage,
    };
    let mut opts = paxos_acceptor_store::StoreOptions { checkpoint_after_segments: None, ..Default::default() };
    opts.log.policy = policy;
    match paxos_acceptor_store::AcceptorStore::open(dir, opts) {
        Ok((store, report)) => {
            if json {
                print_json(&report_json(&report, store.groups().len()));
            } else {
                print!("{report}");
                println!("  groups:     {}", store.groups().len());
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(paths::open_error(dir, &e)),
    }
}

fn bench(
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
