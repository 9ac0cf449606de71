//! Operation sequences with crash points, power losses and faults, checked against a model.
//! The logic: `paxos_store_testkit::store::check_ops_with_crashes`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(v) = paxos_store_testkit::store::check_ops_with_crashes(data) {
        panic!("{v}");
    }
});
