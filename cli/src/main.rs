//! `paxos-store`: see `paxos-store --help`.

use clap::{Parser, Subcommand};
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

#[derive(Subcommand)]
enum Command {
    /// What durability costs on this disk: raw durable-write methods against
    /// the store's durable accept with 1..64 callers and batches (like
    /// PostgreSQL's pg_test_fsync).
    Bench {
        /// Directory on the disk to measure (default: a temporary directory here).
        dir: Option<PathBuf>,
        /// Durable operations per case.
        #[arg(long, default_value_t = 2000)]
        ops: u64,
        /// Record/value sizes in bytes.
        #[arg(long, value_delimiter = ',', default_values_t = [128usize, 4096])]
        sizes: Vec<usize>,
        /// Concurrent callers for the store.
        #[arg(long, value_delimiter = ',', default_values_t = [1usize, 2, 4, 8, 16, 32, 64])]
        callers: Vec<usize>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// Draw throughput and latency against callers into this SVG file.
        #[arg(long)]
        plot: Option<PathBuf>,
    },
    /// Show a store: segments, checkpoints, groups, ballots, slots, record
    /// counts. Reads a copy; never modifies the directory.
    Inspect {
        /// The store directory (holds wal/ and checkpoints/).
        dir: PathBuf,
        /// Dump every record's operations.
        #[arg(long)]
        records: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Check every checksum and the acceptor invariants; exit code 0 only
    /// when clean. Reads a copy; never modifies the directory.
    Verify {
        /// The store directory.
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
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Real process crashes: a child runs acceptor operations and reports
    /// each acknowledged one; the parent SIGKILLs it at random moments and
    /// restarts it; each restart recovers and verifies every acknowledged
    /// promise and accept.
    Torture {
        /// Directory for the store (default: a temporary directory).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
        /// Kill/restart cycles.
        #[arg(long, default_value_t = 50)]
        cycles: u64,
        /// Seed for the kill times and operations.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// (internal) the child process of `torture`.
    #[command(hide = true)]
    TortureChild {
        #[arg(long)]
        dir: std::path::PathBuf,
        #[arg(long)]
        seed: u64,
    },
    /// The main job: a 3-acceptor Multi-Paxos group on real stores, many
    /// concurrent clients, one acceptor killed without a clean shutdown and
    /// recovered; prints throughput, syncs, latency and the recovery report.
    Demo {
        /// Directory for the stores (default: a temporary directory).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
        /// Commands to choose.
        #[arg(long, default_value_t = 30_000)]
        commands: u64,
        /// Concurrent clients.
        #[arg(long, default_value_t = 32)]
        clients: usize,
        /// Bytes per command.
        #[arg(long, default_value_t = 128)]
        value_size: usize,
    },
    /// Run seeded simulations of a Paxos cluster on fault-injected stores and
    /// check every invariant (I1-I6).
    Simulate {
        /// How many seeds to run.
        #[arg(long, default_value_t = 100)]
        seeds: u64,
        /// The first seed (replay one failing run with `--seed N --seeds 1`).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Steps per run.
        #[arg(long, default_value_t = 3000)]
        steps: usize,
        /// Acceptors per cluster (3 or 5).
        #[arg(long, default_value_t = 3)]
        acceptors: usize,
        /// Simulate the historical, gentler disk instead of Linux's
        /// behaviours (fsyncgate, lying pages, any subset of directory
        /// entries lost).
        #[arg(long)]
        gentle_disk: bool,
        /// Probability, at each restart, that one of the acceptor's segment
        /// files was removed, truncated, zeroed or replaced by a directory
        /// while it was down.
        #[arg(long, default_value_t = 0.03)]
        file_damage: f64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
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
    let bar = indicatif::ProgressBar::new(seeds);
    let mut total = paxos_store_cli::sim::SimStats::default();
    for seed in first..first + seeds {
        let mut cfg =
            paxos_store_cli::sim::SimConfig { steps, acceptors, ..paxos_store_cli::sim::SimConfig::new(seed) };
        cfg.file_damage = file_damage;
        if gentle_disk {
            cfg.disk = paxos_wal::storage::DiskModel::gentle();
        }
        let stats = paxos_store_cli::sim::run(&cfg);
        for v in &stats.violations {
            // Not `bar.println`: a hidden bar (output not a terminal, as in
            // CI) prints nothing, and a violation must always be seen.
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
    bar.finish_and_clear();
    println!("{seeds} seeds ({} disk):\n{}", if gentle_disk { "gentle" } else { "Linux" }, total.summary());
    println!("{} violations", total.violations.len());
    if total.violations.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn demo(dir: Option<std::path::PathBuf>, commands: u64, clients: usize, value_size: usize) -> ExitCode {
    let tmp;
    let dir = match dir {
        Some(d) => d,
        None => match tempfile::tempdir_in(".").or_else(|_| tempfile::tempdir()) {
            Ok(t) => {
                tmp = t;
                tmp.path().to_path_buf()
            }
            Err(e) => {
                eprintln!("error: cannot create a temporary directory: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    println!(
        "paxos-store demo: 3 acceptors, Multi-Paxos, {clients} clients, {commands} commands of {value_size} B, in {}",
        dir.display()
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
            println!("verified:               {} slots held by a majority with identical values", r.verified_slots);
            println!("the killed acceptor's {}", r.recovery);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn torture(dir: Option<std::path::PathBuf>, cycles: u64, seed: u64) -> ExitCode {
    let tmp = tempfile::tempdir_in(".").or_else(|_| tempfile::tempdir());
    let dir = match (dir, &tmp) {
        (Some(d), _) => d,
        (None, Ok(t)) => t.path().to_path_buf(),
        (None, Err(e)) => {
            eprintln!("error: cannot create a temporary directory: {e}");
            return ExitCode::FAILURE;
        }
    };
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot find this program's path to start children: {e}");
            return ExitCode::FAILURE;
        }
    };
    let bar = indicatif::ProgressBar::new(cycles);
    let res = paxos_store_cli::torture::parent(&exe, &dir, cycles, seed, |s| bar.set_position(s.cycles));
    bar.finish_and_clear();
    match res {
        Ok(s) => {
            for v in &s.violations {
                println!("VIOLATION {v}");
            }
            println!(
                "{} kill -9 cycles in {}: {} operations acknowledged, {} facts verified after restarts, {} torn tails cut, {} violations",
                s.cycles,
                dir.display(),
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
        Err(e) => {
            eprintln!("error: torture in {}: {e}", dir.display());
            ExitCode::FAILURE
        }
    }
}

fn inspect(dir: &Path, records: bool, json: bool) -> ExitCode {
    let r = match paxos_store_cli::inspect::inspect(dir, records) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    if json {
        print_json(&r);
        return ExitCode::SUCCESS;
    }
    println!("{}: {} bytes, log lsns {}..={} ({} records)", r.dir.display(), r.bytes, r.lsns.0, r.lsns.1, r.records);
    for s in &r.segments {
        println!(
            "  segment {} seq {} first lsn {} records {} used {}/{} bytes",
            s.path.display(),
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
            None => println!("  checkpoint {} through lsn {} ({} bytes)", s.path.display(), s.position, s.payload_len),
            Some(p) => println!("  checkpoint {} UNUSABLE: {p}", s.path.display()),
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
    ExitCode::SUCCESS
}

fn verify(dir: &Path, json: bool) -> ExitCode {
    let r = match paxos_store_cli::inspect::verify(dir) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    if json {
        print_json(&r);
    } else {
        for n in &r.notes {
            println!("note: {n}");
        }
        for p in &r.problems {
            println!("PROBLEM: {p}");
        }
        println!(
            "{}: {} records, {} checkpoints, {} groups checked: {}",
            r.dir.display(),
            r.records,
            r.snapshots,
            r.groups,
            if r.problems.is_empty() { "clean".to_string() } else { format!("{} problem(s)", r.problems.len()) }
        );
    }
    if r.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn recover(dir: &Path, policy: Policy, json: bool) -> ExitCode {
    if !dir.join("wal").is_dir() {
        return fail(format!("{}: not a paxos-store directory (no wal/ inside)", dir.display()));
    }
    let policy = match policy {
        Policy::Strict => paxos_acceptor_store::CorruptionPolicy::Strict,
        Policy::TolerateTornTail => paxos_acceptor_store::CorruptionPolicy::TolerateTornTail,
        Policy::Salvage => paxos_acceptor_store::CorruptionPolicy::Salvage,
    };
    let opts = paxos_acceptor_store::StoreOptions { policy, checkpoint_after_segments: None, ..Default::default() };
    match paxos_acceptor_store::AcceptorStore::open(dir, opts) {
        Ok((store, report)) => {
            if json {
                print_json(&report);
            } else {
                print!("{report}");
                println!("  groups:     {}", store.groups().len());
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(format!("{}: {e}", dir.display())),
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
    let tmp = match &dir {
        Some(d) => tempfile::tempdir_in(d),
        None => tempfile::tempdir_in("."),
    };
    let tmp = match tmp {
        Ok(t) => t,
        Err(e) => return fail(format!("cannot create a directory to measure in: {e}")),
    };
    if callers.contains(&0) || sizes.contains(&0) || ops == 0 {
        return fail("--ops, --sizes and --callers must be positive");
    }
    let cfg = paxos_store_cli::bench::BenchConfig { dir: tmp.path().to_path_buf(), ops, sizes, concurrency: callers };
    let bar = indicatif::ProgressBar::new_spinner();
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    let rows = paxos_store_cli::bench::run(&cfg, |what| bar.set_message(what.to_string()));
    bar.finish_and_clear();
    if json {
        print_json(&rows);
    } else {
        println!("durable writes on {} ({} operations per case)", tmp.path().display(), ops);
        print!("{}", paxos_store_cli::bench::table(&rows));
    }
    if let Some(p) = plot {
        if let Err(e) = paxos_store_cli::bench::plot(&rows, &p) {
            return fail(format!("{}: {e}", p.display()));
        }
        if !json {
            println!("plot written to {}", p.display());
        }
    }
    ExitCode::SUCCESS
}
