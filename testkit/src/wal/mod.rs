//! Fuzz targets of the log, as ordinary functions, and the helpers the
//! acceptor store's targets share.
//!
//! Each `check_*` function takes arbitrary bytes and either returns a summary
//! of what the input exercised, or a [`Violation`]: a property of the code
//! under test that the input broke. A panic inside the code under test is a
//! finding too (the fuzzer reports it as a crash). The same functions run in
//! three places:
//! - the cargo-fuzz targets in `fuzz/fuzz_targets/` (nightly, libFuzzer),
//!   which panic on a `Violation`;
//! - the stable unit tests in `tests/fuzz_seeds.rs`, over the checked-in
//!   seed corpus `fuzz/seeds/<target>/` (which also keeps every reproducer
//!   the fuzzer found);
//! - a debugger, on a single crash file.
//!
//! Targets here:
//! - [`check_format_decoders`]: record frames, segment headers, watermark
//!   slots and segment names decoded from arbitrary bytes. Decoding never
//!   panics; what decodes re-encodes to the same bytes; what is rejected is
//!   rejected for a reason the format gives.
//! - [`check_open_damaged_log`]: a valid log, built once, damaged as the
//!   input says ([`Mutation`]: flipped bits, overwritten or zeroed ranges,
//!   truncated, extended, removed, renamed, duplicated or planted files,
//!   misdirected copies, unreadable sectors), then opened. Opening returns a
//!   typed error, or records that are byte-identical to what was appended
//!   with every loss either reported or above the durable watermark; the
//!   opened log can be reopened, appended to and survive a power loss.
//!
//! Inputs are read with [`FuzzInput`], which never runs out (it returns
//! zeros), so every byte string is a valid input. Seeds can be written from
//! typed values with [`FuzzOutput`] and [`Mutation::encode`].
//!
//! ```
//! use paxos_store_testkit::wal::{check_open_damaged_log, open_log_input, Mutation};
//! use paxos_wal::CorruptionPolicy;
//! // Flip one bit in the first record of the first segment: acknowledged
//! // data is damaged, so the default policy must refuse to open.
//! let flip = Mutation::FlipBit { file: 0, offset: 4096 + 50, bit: 3 };
//! let input = open_log_input(CorruptionPolicy::TolerateTornTail, 0, &[flip], 7);
//! let summary = check_open_damaged_log(&input).expect("no property broken");
//! assert!(summary.refused());
//! ```

mod decode;
mod disk;
mod input;
mod open;

pub use decode::{check_format_decoders, FormatSummary};
pub use disk::{DamageLog, DiskImage, Mutation, NameSpec};
pub use input::{FuzzInput, FuzzOutput};
pub use open::{base_log_records, check_open_damaged_log, open_log_input, LogOpenSummary, LogOutcome, LOG_DIR};

use paxos_wal::storage::{CrashKind, MemStorage};
use rand::SeedableRng;
use std::fmt;

/// A property the code under test broke for some input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation(pub String);

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "property violated: {}", self.0)
    }
}

impl std::error::Error for Violation {}

impl Violation {
    /// Check `cond`; if it is false, the violation `what()` describes.
    pub fn ensure(cond: bool, what: impl FnOnce() -> String) -> Result<(), Violation> {
        if cond {
            Ok(())
        } else {
            Err(Violation(what()))
        }
    }
}

/// Simulate a crash of `mem` with an RNG seeded by `seed`: the same seed
/// drops, keeps and tears the same dirty pages (see [`MemStorage::crash`]).
pub fn crash_seeded(mem: &MemStorage, kind: CrashKind, seed: u64) {
    mem.crash(kind, &mut rand::rngs::StdRng::seed_from_u64(seed));
}

/// `len` deterministic pseudo-random bytes (xorshift64) from `seed`: test
/// payloads that differ for every seed, so a record read back at the wrong
/// place never compares equal to the expected one.
///
/// ```
/// use paxos_store_testkit::wal::test_bytes;
/// assert_eq!(test_bytes(7, 16), test_bytes(7, 16));
/// assert_ne!(test_bytes(7, 16), test_bytes(8, 16));
/// ```
pub fn test_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// The checked-in seed corpus of a fuzz target: `fuzz/seeds/<target>/` of
/// this repository (shared by the stable seed tests of every crate).
pub fn seed_dir(target: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds").join(target)
}

/// Write described seeds into a target's seed corpus (for the ignored
/// `write_seed_corpora` tests, after an input format changed).
pub fn write_seed_files<N: AsRef<str>>(target: &str, seeds: impl IntoIterator<Item = (N, Vec<u8>)>) {
    let dir = seed_dir(target);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for (name, bytes) in seeds {
        let path = dir.join(name.as_ref());
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

/// Panics naming the first described seed whose checked-in file is missing
/// or differs (it is stale: the describing test file changed).
pub fn assert_seed_files_current<N: AsRef<str>>(target: &str, described: impl IntoIterator<Item = (N, Vec<u8>)>) {
    let files = seed_files(target);
    for (name, bytes) in described {
        let name = name.as_ref();
        let file = files.iter().find(|(n, _)| n == name);
        assert!(file.map(|f| &f.1) == Some(&bytes), "{target}/{name} is stale: run write_seed_corpora");
    }
}

/// Every seed file of a target, `(file name, bytes)`, sorted by name.
/// Panics if the directory is missing or empty: the seed tests need seeds.
pub fn seed_files(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = seed_dir(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let e = e.expect("dir entry");
            (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).expect("seed"))
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no seeds in {}", dir.display());
    out
}
