//! Bit-flip sweep over a whole store: several groups, a checkpoint and a
//! few segments. Every byte of every file is flipped in turn (on a fresh
//! copy); each open must either fail with a typed error naming the damage,
//! or recover exactly the original state, or (under `Salvage`) report the
//! damage and make every group abstain. Never wrong data, never a panic.
//! The default run sweeps every header byte and a stride of the rest; the
//! full sweep is `cargo test -p paxos-acceptor-store --test bitflip -- --ignored`.

use paxos_acceptor_store::*;
use paxos_wal::storage::{MemStorage, Storage};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

type State = BTreeMap<u64, (Ballot, Slot, Vec<(u64, Ballot, Vec<u8>, bool)>)>;

const ROOT: &str = "/flip";

fn opts(mem: &MemStorage) -> StoreOptions {
    let mut o = StoreOptions::small(mem.shared());
    o.log.segment_size = 16 << 10;
    o
}

fn state(s: &AcceptorStore) -> State {
    s.groups()
        .into_iter()
        .map(|g| {
            let slots = s
                .accepted_from(g, Slot(0))
                .unwrap()
                .into_iter()
                .map(|e| (e.slot.0, e.ballot, e.value.to_vec(), e.chosen))
                .collect();
            (g.0, (s.promised(g).unwrap(), s.first_live_slot(g).unwrap(), slots))
        })
        .collect()
}

/// Build the store; return every file's bytes and the state it holds.
fn build() -> (Vec<(PathBuf, Vec<u8>)>, State) {
    let mem = MemStorage::new();
    let (s, _) = AcceptorStore::open(ROOT, opts(&mem)).unwrap();
    for round in 0..6u64 {
        for g in 0..4u64 {
            let b = Ballot::new(round + 1, g);
            s.promise(GroupId(g), b, Slot(0)).unwrap();
            for i in 0..3 {
                let v = format!("g{g} r{round} i{i} {:0>300}", 0);
                s.accept(GroupId(g), Slot(round * 3 + i), b, v.as_bytes()).unwrap();
            }
            s.mark_chosen(GroupId(g), Slot(round * 3)).unwrap();
        }
        if round == 2 {
            s.checkpoint().unwrap();
            s.truncate_below(GroupId(1), Slot(4)).unwrap();
        }
    }
    s.sync().unwrap();
    let want = state(&s);
    assert!(s.stats().segments >= 3, "want a few segments, got {}", s.stats().segments);
    drop(s);
    let mut files = Vec::new();
    for dir in ["wal", "checkpoints"] {
        let d = Path::new(ROOT).join(dir);
        let mut names = mem.list(&d).unwrap();
        names.sort();
        for n in names {
            if n == "LOCK" {
                continue;
            }
            let p = d.join(n);
            files.push((p.clone(), mem.read_file(&p).unwrap()));
        }
    }
    (files, want)
}

#[derive(Debug, Default)]
struct Counts {
    cases: u64,
    identical: u64,
    refused: u64,
    salvaged_with_report: u64,
}

fn open_copy(files: &[(PathBuf, Vec<u8>)], flip: (usize, usize)) -> MemStorage {
    let mem = MemStorage::new();
    for (i, (p, bytes)) in files.iter().enumerate() {
        mem.create_dir_all(p.parent().unwrap()).unwrap();
        let mut b = bytes.clone();
        if i == flip.0 {
            b[flip.1] ^= 0x5a;
        }
        mem.put_file(p, &b).unwrap();
    }
    mem
}

fn sweep(stride: usize) -> Counts {
    let (files, want) = build();
    let mut c = Counts::default();
    for (fi, (path, bytes)) in files.iter().enumerate() {
        for off in 0..bytes.len() {
            // Headers (first 4 KiB page and every record header region) always;
            // elsewhere a stride.
            if off >= 4096 + 512 && off % stride != 0 {
                continue;
            }
            c.cases += 1;
            let mem = open_copy(&files, (fi, off));
            match AcceptorStore::open(ROOT, opts(&mem)) {
                Ok((s, _)) => {
                    let got = state(&s);
                    assert!(got == want, "{}@{off}: opened with different state and no report", path.display());
                    c.identical += 1;
                }
                Err(_) => c.refused += 1,
            }
            let mem = open_copy(&files, (fi, off));
            let mut salvage = opts(&mem);
            salvage.log.policy = CorruptionPolicy::Salvage;
            if let Ok((s, report)) = AcceptorStore::open(ROOT, salvage) {
                if state(&s) != want {
                    assert!(
                        !report.damage.is_empty(),
                        "{}@{off}: salvage returned different state without reporting damage",
                        path.display()
                    );
                    for g in 0..4 {
                        assert!(s.needs_repair(GroupId(g)), "{}@{off}: g{g} votes after damage", path.display());
                    }
                    c.salvaged_with_report += 1;
                }
            }
        }
    }
    c
}

#[test]
fn every_header_byte_and_a_stride_of_the_rest() {
    let c = sweep(61);
    eprintln!("bit-flip sweep (stride 61): {c:?}");
    assert!(c.cases > 5000);
    assert!(c.refused > 0 && c.identical > 0);
}

#[test]
#[ignore = "full sweep: every byte of every file (a few minutes)"]
fn every_byte_of_every_file() {
    let c = sweep(1);
    eprintln!("bit-flip sweep (every byte): {c:?}");
}
