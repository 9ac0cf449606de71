//! Helpers several of the store's test files share.
#![allow(dead_code)]

use paxos_acceptor_store::*;
use paxos_wal::storage::MemStorage;
use std::path::Path;

/// The accepted entries of a granted promise, values copied out; panics on
/// any other outcome.
pub fn granted(p: PromiseOutcome) -> Vec<(u64, Ballot, Vec<u8>)> {
    match p {
        PromiseOutcome::Granted { accepted, .. } => {
            accepted.into_iter().map(|e| (e.slot.0, e.ballot, e.value.to_vec())).collect()
        }
        other => panic!("expected a grant, got {other:?}"),
    }
}

/// A small store at `/v` on a simulated disk: four groups, each with a
/// promise and an accepted value (group 0's promise is the first record).
pub fn four_groups() -> (MemStorage, StoreOptions) {
    let mem = MemStorage::new();
    let opts = StoreOptions::small(mem.shared());
    let (s, _) = AcceptorStore::open(Path::new("/v"), opts.clone()).unwrap();
    for g in 0..4u64 {
        s.promise(GroupId(g), Ballot::new(5, g), Slot(0)).unwrap();
        s.accept(GroupId(g), Slot(0), Ballot::new(5, g), b"value").unwrap();
    }
    (mem, opts)
}
