//! The store against a simple model: random sequences of writes (including
//! rewrites of a position and writes that are refused as superseded),
//! abandoned writers, reopens with another `keep`, power losses between
//! operations, and bit rot while the store is closed. After every step the
//! store's valid snapshots (positions, metadata, payloads, newest first) and
//! its skipped ones must be exactly the model's.

mod common;

use common::{dir, open_mem, payload};
use paxos_snapshot::{SnapshotError, SnapshotStore};
use paxos_storage::{CrashKind, MemStorage, Storage};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::collections::BTreeMap;
use std::io::Write;

#[derive(Clone, Debug)]
enum Op {
    Write {
        pos: u64,
        len: usize,
        seed: u64,
    },
    Abandon {
        pos: u64,
    },
    Reopen {
        keep: usize,
    },
    PowerLoss {
        seed: u64,
    },
    /// Flip a byte of the `which`-th intact snapshot file (by position) while closed.
    Rot {
        which: usize,
        offset: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..12u64, 0..3000usize, any::<u64>()).prop_map(|(pos, len, seed)| Op::Write { pos, len, seed }),
        1 => (0..12u64).prop_map(|pos| Op::Abandon { pos }),
        1 => (1..=3usize).prop_map(|keep| Op::Reopen { keep }),
        1 => any::<u64>().prop_map(|seed| Op::PowerLoss { seed }),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(which, offset)| Op::Rot { which, offset }),
    ]
}

#[derive(Clone, Debug)]
struct Entry {
    metadata: Vec<u8>,
    data: Vec<u8>,
    valid: bool,
}

/// The model: snapshot files by position, and the rule for a write.
struct Model {
    keep: usize,
    files: BTreeMap<u64, Entry>,
}

impl Model {
    /// Apply a write; `false` if the store must refuse it as superseded.
    fn write(&mut self, pos: u64, entry: Entry) -> bool {
        let newer_valid = self.files.range(pos + 1..).filter(|(_, e)| e.valid).count();
        if newer_valid >= self.keep {
            return false;
        }
        self.files.insert(pos, entry);
        // Everything after the keep-th valid snapshot, newest first, goes.
        let mut valid = 0;
        let mut cut = None;
        for (p, e) in self.files.iter().rev() {
            if valid >= self.keep {
                cut = Some(*p);
                break;
            }
            valid += e.valid as usize;
        }
        if let Some(cut) = cut {
            self.files.retain(|p, _| *p > cut);
        }
        true
    }
}

fn check(store: &SnapshotStore, model: &Model) -> Result<(), TestCaseError> {
    let (valid, skipped) = store.valid_snapshots().unwrap();
    let got: Vec<(u64, Vec<u8>, Vec<u8>)> =
        valid.iter().map(|m| (m.position, m.metadata.clone(), store.read_all(m).unwrap())).collect();
    let want: Vec<(u64, Vec<u8>, Vec<u8>)> = model
        .files
        .iter()
        .rev()
        .filter(|(_, e)| e.valid)
        .map(|(p, e)| (*p, e.metadata.clone(), e.data.clone()))
        .collect();
    prop_assert_eq!(&got, &want);
    let got_skipped: Vec<String> = skipped.iter().map(|s| s.path.display().to_string()).collect();
    let want_skipped: Vec<String> = model
        .files
        .iter()
        .rev()
        .filter(|(_, e)| !e.valid)
        .map(|(p, _)| dir().join(format!("snap-{p:020}.snap")).display().to_string())
        .collect();
    prop_assert_eq!(got_skipped, want_skipped);
    prop_assert!(skipped.iter().all(|s| s.error.is_damage()));
    let (latest, _) = store.latest_valid().unwrap();
    prop_assert_eq!(latest.map(|m| m.position), want.first().map(|w| w.0));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn store_matches_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        let mem = MemStorage::new();
        let mut model = Model { keep: 2, files: BTreeMap::new() };
        let mut store = Some(open_mem(&mem, model.keep));
        for op in ops {
            match op {
                Op::Write { pos, len, seed } => {
                    let entry = Entry { metadata: seed.to_le_bytes().to_vec(), data: payload(seed, len), valid: true };
                    let res = store.as_ref().unwrap().write(pos, &entry.metadata, &entry.data);
                    let accepted = model.write(pos, entry);
                    match res {
                        Ok(meta) => prop_assert!(accepted && meta.position == pos),
                        Err(SnapshotError::Superseded { position, .. }) => prop_assert!(!accepted && position == pos),
                        Err(e) => return Err(TestCaseError::fail(format!("write {pos}: {e}"))),
                    }
                }
                Op::Abandon { pos } => {
                    if let Ok(mut w) = store.as_ref().unwrap().begin(pos, b"never") {
                        w.write_all(&payload(pos, 300_000)).unwrap();
                    }
                }
                Op::Reopen { keep } => {
                    drop(store.take());
                    model.keep = keep;
                    store = Some(open_mem(&mem, keep));
                }
                Op::PowerLoss { seed } => {
                    drop(store.take());
                    mem.crash(CrashKind::PowerLoss, &mut StdRng::seed_from_u64(seed));
                    store = Some(open_mem(&mem, model.keep));
                }
                Op::Rot { which, offset } => {
                    // Only intact files: a second flip could undo the first.
                    let intact = model.files.values().filter(|e| e.valid).count();
                    if intact == 0 {
                        continue;
                    }
                    drop(store.take());
                    let (pos, entry) = model.files.iter_mut().filter(|(_, e)| e.valid).nth(which % intact).unwrap();
                    let path = dir().join(format!("snap-{pos:020}.snap"));
                    let len = mem.read_file(&path).unwrap().len();
                    mem.corrupt(&path, (offset % len) as u64, 0x10).unwrap();
                    entry.valid = false;
                    store = Some(open_mem(&mem, model.keep));
                }
            }
            check(store.as_ref().unwrap(), &model)?;
            let temps = mem.list(&dir()).unwrap().into_iter().filter(|n| n.ends_with(".tmp")).count();
            prop_assert_eq!(temps, 0);
        }
    }
}
