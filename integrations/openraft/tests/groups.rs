//! The multi-raft handle: one log storage per group at a time, groups
//! listed, a removed group gone for good (across a reopen).

mod common;

use common::sm::Config;
use openraft::storage::RaftLogStorage;
use openraft::Vote;
use paxos_store_openraft::{Error, RaftStore, StoreOptions};
use paxos_wal::storage::MemStorage;
use std::path::Path;

#[test]
fn groups_open_once_list_and_remove_durably() {
    let mem = MemStorage::new();
    let open = || RaftStore::<Config>::open_with(Path::new("/g"), StoreOptions::small(mem.shared())).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let store = open();
    for g in [3, 9] {
        let mut log = store.group(g).unwrap();
        rt.block_on(log.save_vote(&Vote::new(2, 1))).unwrap();
    }
    assert_eq!(store.groups(), [3, 9]);
    let held = store.group(3).unwrap();
    assert!(matches!(store.group(3), Err(Error::GroupInUse(3))));
    assert!(matches!(store.remove_group(3), Err(Error::GroupInUse(3))), "open groups are not removed");
    drop(held);
    store.remove_group(3).unwrap();
    assert_eq!(store.groups(), [9]);
    drop(store);
    let store = open();
    assert_eq!(store.groups(), [9], "the removal was durable");
    let mut log = store.group(9).unwrap();
    assert_eq!(rt.block_on(log.read_vote()).unwrap(), Some(Vote::new(2, 1)));
}
