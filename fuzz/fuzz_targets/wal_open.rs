//! A valid log damaged as the input says, then opened, reopened, appended to
//! and power-cycled. The logic: `paxos_store_testkit::wal::check_open_damaged_log`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(v) = paxos_store_testkit::wal::check_open_damaged_log(data) {
        panic!("{v}");
    }
});
