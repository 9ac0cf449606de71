//! A checkpoint image (the acceptor state of every group) decoded from arbitrary bytes.
//! The logic: `paxos_store_testkit::store::check_checkpoint_image`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(v) = paxos_store_testkit::store::check_checkpoint_image(data) {
        panic!("{v}");
    }
});
