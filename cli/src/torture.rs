//! `paxos-store torture`: real process crashes. A child process runs acceptor
//! operations on a real directory and reports each acknowledged operation to
//! the parent through a pipe (its stdout), one line per reply it got back;
//! the parent kills it with SIGKILL at a random moment and starts a new
//! child, which first recovers the store and verifies that every promise and
//! accept the parent saw acknowledged survived, then goes on.
//!
//! Values are a function of (group, slot, ballot), so the parent only keeps
//! ballots. The expectations are handed to the child in a file.

use paxos_acceptor_store::{
    AcceptOutcome, AcceptorStore, Ballot, GroupId, PromiseOutcome, Slot, SlotRead, StoreOptions,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What the parent saw acknowledged.
#[derive(Default, Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// Highest promise acknowledged per group.
    pub promised: BTreeMap<u64, Ballot>,
    /// Highest accept acknowledged per (group, slot).
    pub accepted: BTreeMap<(u64, u64), Ballot>,
}

impl Expected {
    fn apply_line(&mut self, line: &str) -> bool {
        let f: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
        match (line.as_bytes().first(), f.as_slice()) {
            (Some(b'P'), [g, r, n]) => {
                let e = self.promised.entry(*g).or_default();
                *e = (*e).max(Ballot::new(*r, *n));
                true
            }
            (Some(b'A'), [g, s, r, n]) => {
                let b = Ballot::new(*r, *n);
                let e = self.accepted.entry((*g, *s)).or_default();
                *e = (*e).max(b);
                let p = self.promised.entry(*g).or_default();
                *p = (*p).max(b);
                true
            }
            _ => false,
        }
    }

    fn save(&self, path: &Path) -> std::io::Result<()> {
        let mut out = String::new();
        for (g, b) in &self.promised {
            out.push_str(&format!("P {g} {} {}\n", b.round, b.node));
        }
        for ((g, s), b) in &self.accepted {
            out.push_str(&format!("A {g} {s} {} {}\n", b.round, b.node));
        }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, out)?;
        std::fs::rename(tmp, path)
    }

    fn load(path: &Path) -> std::io::Result<Expected> {
        let mut e = Expected::default();
        if path.exists() {
            for line in std::fs::read_to_string(path)?.lines() {
                e.apply_line(line);
            }
        }
        Ok(e)
    }
}

/// The value an accept of (group, slot, ballot) carries.
pub fn value_of(g: u64, s: u64, b: Ballot) -> Vec<u8> {
    let mut v = format!("g{g} s{s} b{}.{} ", b.round, b.node).into_bytes();
    v.resize(96, b'#');
    v
}

/// Where the store of a torture run in `dir` is.
pub fn store_dir(dir: &Path) -> PathBuf {
    dir.join("store")
}

fn options() -> StoreOptions {
    let mut o = StoreOptions::default();
    o.log.segment_size = 1 << 20;
    o.checkpoint_after_segments = Some(3);
    o
}

/// Check a recovered store against what was acknowledged; returns the problems.
pub fn verify(store: &AcceptorStore, exp: &Expected) -> Vec<String> {
    let mut bad = Vec::new();
    for (g, b) in &exp.promised {
        let now = store.promised(GroupId(*g)).unwrap_or(Ballot::ZERO);
        if now < *b {
            bad.push(format!("group {g}: promised {now} after recovery, {b} was acknowledged"));
        }
    }
    for ((g, s), b) in &exp.accepted {
        match store.accepted(GroupId(*g), Slot(*s)) {
            Ok(SlotRead::Accepted { ballot, value, .. }) => {
                if ballot < *b {
                    bad.push(format!("group {g} slot {s}: accepted {ballot} after recovery, {b} was acknowledged"));
                } else if &*value != value_of(*g, *s, ballot).as_slice() {
                    bad.push(format!("group {g} slot {s}: wrong value for ballot {ballot}"));
                }
            }
            other => bad.push(format!("group {g} slot {s}: {b} was acknowledged, now {other:?}")),
        }
    }
    bad
}

/// The child: recover, verify, then run operations until killed, printing
/// one line per acknowledged operation.
pub fn child(dir: &Path, seed: u64) -> Result<(), Box<dyn std::error::Error>> {
    let exp = Expected::load(&dir.join("expected.txt"))?;
    let (store, report) = AcceptorStore::open(store_dir(dir), options())?;
    let bad = verify(&store, &exp);
    let mut out = std::io::stdout().lock();
    writeln!(out, "RECOVERED {} {}", report.records_replayed, report.torn_tail.is_some() as u8)?;
    for b in &bad {
        writeln!(out, "VIOLATION {b}")?;
    }
    writeln!(out, "VERIFIED {} {}", exp.promised.len() + exp.accepted.len(), bad.len())?;
    out.flush()?;
    let mut rng = StdRng::seed_from_u64(seed);
    loop {
        let g = rng.random_range(0..8u64);
        let promised = store.promised(GroupId(g)).unwrap_or(Ballot::ZERO);
        if rng.random_bool(0.2) {
            let b = Ballot::new(promised.round + 1, rng.random_range(0..3));
            if let PromiseOutcome::Granted { .. } = store.promise(GroupId(g), b, Slot(0))? {
                writeln!(out, "P {g} {} {}", b.round, b.node)?;
            }
        } else {
            let s = rng.random_range(0..64u64);
            let b = promised.max(Ballot::new(1, 0));
            if store.accept(GroupId(g), Slot(s), b, &value_of(g, s, b))? == AcceptOutcome::Accepted {
                writeln!(out, "A {g} {s} {} {}", b.round, b.node)?;
            }
        }
        out.flush()?;
    }
}

/// What a torture run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TortureStats {
    /// Kill-and-recover cycles.
    pub cycles: u64,
    /// Operations the parent saw acknowledged.
    pub acknowledged: u64,
    /// Facts verified after restarts.
    pub verified: u64,
    /// Recoveries that cut a torn tail.
    pub torn_tails: u64,
    /// Problems found.
    pub violations: Vec<String>,
}

/// The parent: run `cycles` kill/restart cycles of `exe torture-child`.
pub fn parent(
    exe: &Path,
    dir: &Path,
    cycles: u64,
    seed: u64,
    mut progress: impl FnMut(&TortureStats),
) -> Result<TortureStats, Box<dyn std::error::Error>> {
    std::fs::create_dir_all(dir)?;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut exp = Expected::default();
    let mut stats = TortureStats::default();
    for cycle in 0..=cycles {
        exp.save(&dir.join("expected.txt"))?;
        let mut child = Command::new(exe)
            .arg("torture-child")
            .arg("--dir")
            .arg(dir)
            .arg("--seed")
            .arg((seed ^ cycle.wrapping_mul(0x9E37_79B9_7F4A_7C15)).to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let last = cycle == cycles;
        let run_for = Duration::from_millis(if last { 0 } else { rng.random_range(5..150) });
        let mut verified_seen = false;
        let mut started: Option<Instant> = None;
        loop {
            let timeout = match started {
                Some(t) => run_for.saturating_sub(t.elapsed()),
                None => Duration::from_secs(30),
            };
            match rx.recv_timeout(timeout) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("VIOLATION ") {
                        stats.violations.push(format!("cycle {cycle}: {rest}"));
                    } else if let Some(rest) = line.strip_prefix("VERIFIED ") {
                        stats.verified += rest.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or(0);
                        verified_seen = true;
                        started = Some(Instant::now());
                        if last {
                            break;
                        }
                    } else if let Some(rest) = line.strip_prefix("RECOVERED ") {
                        stats.torn_tails += rest.ends_with(" 1") as u64;
                    } else if exp.apply_line(&line) {
                        stats.acknowledged += 1;
                    }
                }
                Err(_) => break,
            }
        }
        // SIGKILL: no clean shutdown, the page cache keeps what was written.
        let _ = child.kill();
        let status = child.wait()?;
        // Lines already in the pipe were acknowledged before the kill.
        let _ = reader.join();
        for line in rx.try_iter() {
            if exp.apply_line(&line) {
                stats.acknowledged += 1;
            }
        }
        if !verified_seen {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            stats.violations.push(format!("cycle {cycle}: the child did not recover ({status}): {}", err.trim()));
        }
        stats.cycles = cycle;
        progress(&stats);
    }
    Ok(stats)
}
