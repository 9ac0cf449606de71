//! openraft's own storage test suite (`openraft::testing::Suite::test_all`)
//! on the adapter: every test in it (35 in openraft 0.9.25), each on a fresh store in a temporary
//! directory, with the tests' in-memory state machine.

mod common;

use common::sm::{Config, StateMachine};
use openraft::testing::{StoreBuilder, Suite};
use openraft::StorageError;
use paxos_store_openraft::{LogStore, RaftStore, StoreOptions};
use tempfile::TempDir;

struct Builder;

impl StoreBuilder<Config, LogStore<Config>, StateMachine, TempDir> for Builder {
    async fn build(&self) -> Result<(TempDir, LogStore<Config>, StateMachine), StorageError<u64>> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        // Small segments: 35 stores are opened, each writes two.
        let mut opts = StoreOptions::default();
        opts.log.segment_size = 1 << 20;
        let store = RaftStore::<Config>::open_with(dir.path(), opts).expect("open the store");
        let log = store.group(1).expect("the group's log storage");
        Ok((dir, log, StateMachine::default()))
    }
}

#[test]
fn openraft_storage_suite_passes() {
    if let Err(e) = Suite::test_all(Builder) {
        panic!("openraft's storage suite failed: {e}");
    }
}
