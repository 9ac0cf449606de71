//! # paxos-store-openraft: openraft log storage on paxos-store
//!
//! [openraft](https://crates.io/crates/openraft) 0.9 takes its log through
//! `RaftLogStorage` (feature `storage-v2`, which this crate turns on, with
//! `serde`). [`RaftStore`] holds the logs of many raft groups in one
//! paxos-store directory; [`RaftStore::group`] hands out one group's
//! [`LogStore`]. Raft is a Multi-Paxos: a term is a ballot, a vote is a
//! promise, an append is an accept of a run of slots. See the crate's
//! README for the mapping and for which call is durable when.
//!
//! The state machine is the application's (openraft's `RaftStateMachine`):
//! this crate stores the log and the vote.
#![warn(missing_docs)]

mod error;
mod layout;
mod log;
mod store;

pub use error::{Error, Result};
pub use log::{LogReader, LogStore};
pub use paxos_acceptor_store::{RecoveryReport, StoreOptions, StoreStats};
pub use store::RaftStore;
