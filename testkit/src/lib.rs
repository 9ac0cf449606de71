//! # paxos-store-testkit: the harness, outside the product crates
//!
//! The fuzz targets of the log and of the acceptor store as ordinary
//! functions, the models they check against, the disk images and mutations
//! they damage, and the seed-corpus helpers. The cargo-fuzz targets
//! (`fuzz/fuzz_targets/`), the stable seed tests (`tests/`) and the crates'
//! own tests use it; no product crate depends on it. What needs a product
//! crate's internals stays in that crate behind its `fuzzing` feature
//! (`paxos_acceptor_store::fuzzing`: the private codecs) and is re-exported
//! here.
//!
//! - [`hooked`]: a storage whose syncs, writes and directory syncs call a
//!   test's hooks first (slow disks, gates, failures).
//! - [`invariants`]: the acceptor invariants I1-I3 and I5, checked in one
//!   place (the simulator, the ops fuzz target and the model test call it).
//! - [`wal`]: the log's targets ([`wal::check_format_decoders`],
//!   [`wal::check_open_damaged_log`]), [`wal::Violation`], [`wal::FuzzInput`],
//!   [`wal::DiskImage`] and [`wal::Mutation`], the seed helpers.
//! - [`store`]: the acceptor store's targets ([`store::check_open_damaged_store`],
//!   [`store::check_ops_with_crashes`], the codec checks) and the model of
//!   the acceptor rules they check replies and recoveries against.
#![warn(missing_docs)]

pub mod hooked;
pub mod invariants;
pub mod store;
pub mod wal;
