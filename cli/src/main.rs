//! `paxos-store`: see `paxos-store --help`.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "paxos-store", version, about = "A durable store for Paxos acceptors: demo, crash-test, inspect")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Torture { dir, cycles, seed } => torture(dir, cycles, seed),
        Command::TortureChild { dir, seed } => match paxos_store_cli::torture::child(&dir, seed) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Demo { dir, commands, clients, value_size } => demo(dir, commands, clients, value_size),
        Command::Simulate { seeds, seed, steps, acceptors } => simulate(seed, seeds, steps, acceptors),
    }
}

fn simulate(first: u64, seeds: u64, steps: usize, acceptors: usize) -> ExitCode {
    let bar = indicatif::ProgressBar::new(seeds);
    let mut total = paxos_store_cli::sim::SimStats::default();
    for seed in first..first + seeds {
        let cfg = paxos_store_cli::sim::SimConfig { steps, acceptors, ..paxos_store_cli::sim::SimConfig::new(seed) };
        let stats = paxos_store_cli::sim::run(&cfg);
        for v in &stats.violations {
            bar.println(format!("VIOLATION {v}\n  replay: paxos-store simulate --seed {seed} --seeds 1 --steps {steps} --acceptors {acceptors}"));
        }
        total.add(&stats);
        bar.inc(1);
    }
    bar.finish_and_clear();
    println!(
        "{seeds} seeds: {} messages, {} slots chosen, {} crashes simulated ({} power losses, {} process crashes, {} crash points, {} during recovery), {} sync failures, {} disk-full periods, {} checkpoints, {} truncations, {} recoveries",
        total.messages,
        total.chosen,
        total.crashes(),
        total.power_losses,
        total.process_crashes,
        total.crash_points,
        total.recovery_crashes,
        total.sync_failures,
        total.disk_full,
        total.checkpoints,
        total.truncations,
        total.recoveries
    );
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
