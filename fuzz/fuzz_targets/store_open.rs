//! A store with groups, two checkpoints and a few log segments, damaged as the input says, then opened.
//! The logic: `paxos_store_testkit::store::check_open_damaged_store`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(v) = paxos_store_testkit::store::check_open_damaged_store(data) {
        panic!("{v}");
    }
});
