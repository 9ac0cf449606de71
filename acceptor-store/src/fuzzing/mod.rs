//! What the test kit (`paxos-store-testkit`) needs from inside the store,
//! and only that: the checks of the private record codec and checkpoint
//! image codec on arbitrary bytes. Compiled for the crate's own tests and
//! under the `fuzzing` feature; product builds carry none of it.

mod codec;

pub use codec::{check_checkpoint_image, check_record_codec, CodecSummary, ImageSummary};
