//! What the test kit (`paxos-store-testkit`) needs from inside the store,
//! and only that: the checks of the private record codec and checkpoint
//! image codec on arbitrary bytes, and which shard a group falls in. Compiled for the crate's own tests and
//! under the `fuzzing` feature; product builds carry none of it.

mod codec;

pub use codec::{check_checkpoint_image, check_record_codec, CodecSummary, ImageSummary};

/// The index shard `group` falls in (of 4096): the store's own hash, so that
/// a harness aiming groups at one shard can check it still does.
pub fn shard_of(group: crate::GroupId) -> usize {
    crate::state::shard_of(group)
}
