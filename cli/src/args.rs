//! The command line of `paxos-store` (a module of the binary, not of the
//! library): the commands and their arguments as clap parses them, the
//! range and probability checks on every number, and the cleaning of path
//! arguments.

use clap::{Parser, Subcommand};
use paxos_store_cli::paths;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub(crate) enum Policy {
    Strict,
    TolerateTornTail,
    Salvage,
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
pub(crate) enum Command {
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

/// The command line, parsed and checked (clap exits with its message on a
/// bad one), every path argument [`clean`]ed.
pub(crate) fn parse() -> Command {
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
    command
}
