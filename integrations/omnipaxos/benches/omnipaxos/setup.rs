//! How a row gets its three nodes' storages: one paxos-store per node, one
//! shared paxos-store (a group per node), or one RocksDB per node.

use super::{Payload, PIDS};
use omnipaxos::storage::Storage;
use paxos_store_omnipaxos::{OmniPaxosStorage, PaxosStore};
use std::path::Path;

/// Log records and syncs of one paxos-store so far.
#[derive(Clone, Copy)]
pub struct LogStats {
    pub records: u64,
    pub syncs: u64,
}

/// The counters of each store of a run (paxos-store only).
pub type Probe = Box<dyn Fn() -> Vec<LogStats>>;

pub trait Setup {
    type S: Storage<Payload> + Send + 'static;
    /// The storages of nodes `PIDS`, in order, in `dir`.
    fn nodes(&self, dir: &Path) -> (Vec<Self::S>, Option<Probe>);
}

fn probe(stores: Vec<PaxosStore<Payload>>) -> Option<Probe> {
    Some(Box::new(move || {
        stores
            .iter()
            .map(|s| {
                let st = s.stats();
                LogStats { records: st.records, syncs: st.syncs }
            })
            .collect()
    }))
}

/// One paxos-store per node, default options.
pub struct OwnStores;
impl Setup for OwnStores {
    type S = OmniPaxosStorage<Payload>;
    fn nodes(&self, dir: &Path) -> (Vec<Self::S>, Option<Probe>) {
        let nodes: Vec<Self::S> =
            PIDS.iter().map(|p| OmniPaxosStorage::open(dir.join(format!("node-{p}"))).expect("open")).collect();
        let stores = nodes.iter().map(|n| n.store()).collect();
        (nodes, probe(stores))
    }
}

/// One paxos-store, default options, a group per node.
pub struct SharedStore;
impl Setup for SharedStore {
    type S = OmniPaxosStorage<Payload>;
    fn nodes(&self, dir: &Path) -> (Vec<Self::S>, Option<Probe>) {
        let store = PaxosStore::open(dir.join("shared")).expect("open");
        (PIDS.iter().map(|p| store.group(*p).expect("group")).collect(), probe(vec![store]))
    }
}

/// One RocksDB `PersistentStorage` per node, `sync_writes` as given.
#[cfg(feature = "rocksdb")]
pub struct Rocks {
    pub sync: bool,
}
#[cfg(feature = "rocksdb")]
impl Setup for Rocks {
    type S = omnipaxos_storage::persistent_storage::PersistentStorage<Payload>;
    fn nodes(&self, dir: &Path) -> (Vec<Self::S>, Option<Probe>) {
        use omnipaxos_storage::persistent_storage::{PersistentStorage, PersistentStorageConfig};
        let nodes = PIDS
            .iter()
            .map(|p| {
                let path = dir.join(format!("rocks-{p}")).to_string_lossy().into_owned();
                let mut cfg = PersistentStorageConfig::with_path(path);
                cfg.set_sync_writes(self.sync);
                PersistentStorage::open(cfg)
            })
            .collect();
        (nodes, None)
    }
}
