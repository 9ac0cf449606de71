//! The commands given an existing store, or a directory of stores:
//! `inspect`, `verify` and `recover`, and how their results are printed
//! (a module of the `paxos-store` binary).

use crate::args::Policy;
use crate::{fail, print_json};
use paxos_store_cli::paths;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

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

pub(crate) fn inspect(dir: &Path, records: bool, json: bool) -> ExitCode {
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

pub(crate) fn verify(dir: &Path, json: bool) -> ExitCode {
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

pub(crate) fn recover(dir: &Path, policy: Policy, json: bool) -> ExitCode {
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
