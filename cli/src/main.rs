//! `paxos-store`: see `paxos-store --help`.

mod args;
mod stores;
mod workloads;

use args::Command;
use std::process::ExitCode;

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

fn main() -> ExitCode {
    // `paxos-store inspect DIR --records | head` must end quietly when the
    // reader goes, as other command line tools do, not panic on a closed
    // stdout: take back the default action of SIGPIPE, which Rust ignores.
    // SAFETY: at the start of main, before any thread exists; SIG_DFL is a
    // valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    match args::parse() {
        Command::Bench { dir, ops, sizes, callers, json, plot } => {
            workloads::bench(dir, ops, sizes, callers, json, plot)
        }
        Command::Inspect { dir, records, json } => stores::inspect(&dir, records, json),
        Command::Verify { dir, json } => stores::verify(&dir, json),
        Command::Recover { dir, policy, json } => stores::recover(&dir, policy, json),
        Command::Torture { dir, cycles, seed } => workloads::torture(dir, cycles, seed),
        Command::TortureChild { dir, seed } => match paxos_store_cli::torture::child(&dir, seed) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Demo { dir, commands, clients, value_size } => workloads::demo(dir, commands, clients, value_size),
        Command::Simulate { seeds, seed, steps, acceptors, gentle_disk, file_damage } => {
            workloads::simulate(seed, seeds, steps, acceptors, gentle_disk, file_damage)
        }
    }
}
