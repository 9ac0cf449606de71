//! Fuzz targets of the acceptor store, as ordinary functions.
//!
//! Like [`crate::wal`] (whose input reader, disk images, mutations and
//! [`Violation`] these share): each `check_*` function takes arbitrary bytes
//! and returns a summary of what the input exercised, or the property the
//! store broke. They run as cargo-fuzz targets (`fuzz/fuzz_targets/`, which
//! panic on a violation) and, on stable, over the checked-in seed corpora in
//! `fuzz/seeds/<target>/` (`tests/store_fuzz_seeds.rs`).
//!
//! - [`check_record_codec`]: one log record of operations from arbitrary
//!   bytes; decoding never panics, accounts for every byte, and what decodes
//!   re-encodes to the same bytes.
//! - [`check_checkpoint_image`]: a checkpoint image (the store's own format,
//!   inside a snapshot file) from arbitrary bytes; decoding never panics,
//!   and encoding what decoded is a fixed point that decodes to the same.
//! - [`check_open_damaged_store`]: a store with several groups, two
//!   checkpoints and a few log segments, damaged as the input says, opened:
//!   a typed error, or every acknowledged promise and accept back with the
//!   same values (I1, I2), nothing invented (I3), truncations kept (I5),
//!   or under `Salvage` every group abstaining.
//! - [`check_ops_with_crashes`]: operation sequences with crash points,
//!   power losses, failed syncs, a full disk and crashes during recovery,
//!   against a model of the acceptor rules: every reply (I4) and every
//!   recovery (I1-I3, I5) checked exactly.
//!
//! [`Violation`]: crate::wal::Violation
//!
//! ```
//! use paxos_store_testkit::store::{check_ops_with_crashes, Death, FuzzOp, Step};
//! // Promise, accept, then the power fails before anything else: both were
//! // acknowledged, so both must be back.
//! let steps = [
//!     Step::Op(FuzzOp::Promise { group: 1, round: 3, node: 0, from: 0 }),
//!     Step::Op(FuzzOp::Accept { group: 1, slot: 2, round: 3, node: 0, len: 10 }),
//!     Step::Restart(Death::PowerLoss(42)),
//! ];
//! let summary = check_ops_with_crashes(&Step::encode_all(&steps)).expect("no property broken");
//! assert_eq!((summary.replies, summary.power_losses), (2, 2)); // the step's, and the final one
//! ```

mod model;
mod open;
mod ops;

use crate::wal::Violation;
pub use model::{apply, apply_batch, read_state, GroupState, Reply, StoreState, Write};
pub use open::{
    base_store_image, base_store_image_of, check_open_damaged_store, store_open_input, store_open_input_shaped,
    StoreOpenSummary, StoreOutcome, StoreShape, STORE_DIR,
};
pub use ops::{check_ops_with_crashes, Death, FuzzOp, OpsSummary, Step, Width, MAX_STEPS};
pub use paxos_acceptor_store::fuzzing::{CodecSummary, ImageSummary};

/// One acceptor log record decoded from arbitrary bytes (see
/// `paxos_acceptor_store::fuzzing::check_record_codec`): decoding never
/// panics, accounts for every byte, and what decodes re-encodes to the
/// same bytes.
pub fn check_record_codec(data: &[u8]) -> Result<CodecSummary, Violation> {
    paxos_acceptor_store::fuzzing::check_record_codec(data).map_err(Violation)
}

/// A checkpoint image decoded from arbitrary bytes (see
/// `paxos_acceptor_store::fuzzing::check_checkpoint_image`): decoding never
/// panics, and encoding what decoded is a fixed point.
pub fn check_checkpoint_image(data: &[u8]) -> Result<ImageSummary, Violation> {
    paxos_acceptor_store::fuzzing::check_checkpoint_image(data).map_err(Violation)
}
