//! Helpers shared by the integration tests.
#![allow(dead_code)]

use paxos_snapshot::{SnapshotOptions, SnapshotStore};
use paxos_storage::MemStorage;
use std::path::{Path, PathBuf};

/// The snapshot directory used on `MemStorage`.
pub fn dir() -> PathBuf {
    PathBuf::from("/snaps")
}

pub fn mem_opts(mem: &MemStorage, keep: usize) -> SnapshotOptions {
    SnapshotOptions { keep, storage: mem.shared() }
}

pub fn open_mem(mem: &MemStorage, keep: usize) -> SnapshotStore {
    SnapshotStore::open(dir(), mem_opts(mem, keep)).expect("open")
}

/// Deterministic, position-dependent bytes (no two payloads of a test
/// alike): the test kit's xorshift64 from `seed`.
pub fn payload(seed: u64, len: usize) -> Vec<u8> {
    paxos_store_testkit::wal::test_bytes(seed, len)
}

/// Names of the files in a directory of `mem`, sorted.
pub fn names(mem: &MemStorage, dir: &Path) -> Vec<String> {
    use paxos_storage::Storage;
    let mut n = mem.list(dir).unwrap();
    n.sort();
    n
}

/// Positions of the valid snapshots, newest first, with their payloads.
pub fn valid(store: &SnapshotStore) -> Vec<(u64, Vec<u8>, Vec<u8>)> {
    let (valid, _) = store.valid_snapshots().unwrap();
    valid.iter().map(|m| (m.position, m.metadata.clone(), store.read_all(m).unwrap())).collect()
}
