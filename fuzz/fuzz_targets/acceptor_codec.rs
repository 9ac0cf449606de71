//! One acceptor log record (a batch of operations) decoded from arbitrary bytes.
//! The logic: `paxos_store_testkit::store::check_record_codec`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(v) = paxos_store_testkit::store::check_record_codec(data) {
        panic!("{v}");
    }
});
