//! The library behind the `paxos-store` command line tool: the cluster
//! simulator, the kill -9 torture loop, the demo and the inspection commands,
//! kept here so tests (and fuzz targets) can drive them directly.
//!
//! ```
//! // One seed of the cluster simulation, as `paxos-store simulate --seeds 1`
//! // runs it: no invariant may be violated.
//! use paxos_store_cli::sim::{run, SimConfig};
//!
//! let stats = run(&SimConfig { steps: 300, ..SimConfig::new(1) });
//! assert!(stats.violations.is_empty(), "{:?}", stats.violations);
//! ```
//!
//! ```
//! // `paxos-store inspect` on a store made here.
//! use paxos_acceptor_store::{AcceptorStore, Ballot, GroupId, Slot, StoreOptions};
//!
//! let dir = tempfile::tempdir()?;
//! let opts = { let mut o = StoreOptions::default(); o.log.segment_size = 64 << 10; o };
//! let (store, _) = AcceptorStore::open(dir.path(), opts)?;
//! store.promise(GroupId(7), Ballot::new(1, 0), Slot(0))?;
//! store.accept(GroupId(7), Slot(0), Ballot::new(1, 0), b"x = 1")?;
//! store.close()?;
//! let report = paxos_store_cli::inspect::inspect(dir.path(), false)?;
//! assert_eq!(report.groups.len(), 1);
//! assert_eq!(report.groups[0].accepted_slots, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod bench;
pub mod demo;
pub mod inspect;
pub mod paths;
pub mod progress;
pub mod sim;
pub mod torture;
