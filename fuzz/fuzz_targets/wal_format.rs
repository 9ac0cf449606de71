//! Record frames, segment headers, watermark slots and segment names decoded
//! from arbitrary bytes. The logic: `paxos_store_testkit::wal::check_format_decoders`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(v) = paxos_store_testkit::wal::check_format_decoders(data) {
        panic!("{v}");
    }
});
