//! The fuzz targets of `paxos_store_testkit::wal`, run on stable over the
//! checked-in seed corpora in `fuzz/seeds/<target>/` (which also hold every
//! reproducer the fuzzer found). Each seed must pass every property, and the
//! corpus as a whole must reach the outcomes it is meant to cover, so a
//! change that quietly stops a seed from exercising its path fails here.
//!
//! The seed files are written by `write_seed_corpora` (ignored; run it with
//! `cargo test -p paxos-store-testkit --test wal_fuzz_seeds -- --ignored` after changing an
//! input format) from the typed descriptions below; reproducers the fuzzer
//! found are added by hand and never rewritten.

use paxos_store_testkit::wal::{
    check_format_decoders, check_open_damaged_log, open_log_input, FormatSummary, LogOutcome, Mutation, NameSpec,
};
use paxos_wal::format::{encode_record, segment_name, SegmentHeader, WatermarkSlot};
use paxos_wal::CorruptionPolicy::{Salvage, Strict, TolerateTornTail};
use zerocopy::IntoBytes;

use paxos_store_testkit::wal::seed_files as seeds;

fn with_mode(mode: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![mode];
    v.extend_from_slice(body);
    v
}

fn format_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut record = Vec::new();
    encode_record(&mut record, 12, 3, 11, b"promise g7 b(4,1)");
    let mut flipped = record.clone();
    flipped[45] ^= 0x10;
    let garbage: Vec<u8> = (0..96u32).map(|i| (i * 89 + 7) as u8).collect();
    let mut page = SegmentHeader::new(2, 52, 8192, 0x1D).as_bytes().to_vec();
    page.resize(512, 0);
    page.extend_from_slice(WatermarkSlot::new(2, 4, 60).as_bytes());
    vec![
        ("record", with_mode(0, &record)),
        ("record-fixed-seq", with_mode(4 | (3 << 3), &record)),
        ("record-bad-payload", with_mode(0, &flipped)),
        ("record-resealed", with_mode(1, &flipped)),
        ("zeros", with_mode(0, &[0; 48])),
        ("short", with_mode(0, &record[..30])),
        ("garbage-sealed-magic", with_mode(2, &garbage)),
        ("segment-header", with_mode(0, SegmentHeader::new(1, 1, 8192, 0x1D).as_bytes())),
        ("header-page", with_mode(0, &page)),
        ("watermark-slot", with_mode(0, WatermarkSlot::new(9, 1, 77).as_bytes())),
        ("segment-name", with_mode(0, segment_name(103).as_bytes())),
        ("segment-name-overflow", with_mode(0, b"99999999999999999999.wal")),
    ]
}

// Both base logs have three 8 KiB segments (files 0, 1, 2): LSNs 1..=33,
// 34..=67 and 68..; record 90 starts at offset 6872 of the last one, record
// 97 (the last unsynced record of base 1) at 7744.

/// Offset of a byte inside the payload of the first record of a segment.
const FIRST_PAYLOAD: u16 = 4096 + 40 + 10;

fn open_seeds() -> Vec<(&'static str, Vec<u8>)> {
    use Mutation::*;
    let flip = FlipBit { file: 0, offset: FIRST_PAYLOAD, bit: 2 };
    let mid = FlipBit { file: 1, offset: 4096 + 600, bit: 7 };
    vec![
        ("clean", open_log_input(TolerateTornTail, 0, &[], 1)),
        ("clean-unsynced-salvage", open_log_input(Salvage, 1, &[], 2)),
        ("clean-unsynced-strict", open_log_input(Strict, 1, &[], 3)),
        ("flip-first-record", open_log_input(TolerateTornTail, 0, std::slice::from_ref(&flip), 4)),
        ("flip-first-record-salvage", open_log_input(Salvage, 0, std::slice::from_ref(&flip), 5)),
        ("flip-middle-salvage", open_log_input(Salvage, 1, &[mid], 6)),
        ("zero-header-page", open_log_input(TolerateTornTail, 0, &[Zero { file: 2, offset: 0, len: 4096 }], 7)),
        ("zero-whole-last-segment", open_log_input(TolerateTornTail, 1, &[Zero { file: 2, offset: 0, len: 8192 }], 8)),
        ("truncate-middle", open_log_input(TolerateTornTail, 0, &[Truncate { file: 1, len: 6000 }], 9)),
        ("remove-last", open_log_input(TolerateTornTail, 1, &[Remove { file: 2 }], 10)),
        ("remove-first", open_log_input(Salvage, 0, &[Remove { file: 0 }], 11)),
        (
            "plant-garbage-and-temp",
            open_log_input(
                TolerateTornTail,
                0,
                &[
                    AddFile { dir: 0, name: NameSpec::Garbage(1), bytes: b"notes".to_vec(), zeros: 0 },
                    AddFile { dir: 0, name: NameSpec::Temp { number: 4 }, bytes: vec![], zeros: 8192 },
                ],
                12,
            ),
        ),
        (
            "plant-empty-next-segment",
            open_log_input(
                Salvage,
                0,
                &[AddFile { dir: 0, name: NameSpec::Sibling { number: 500 }, bytes: vec![], zeros: 8192 }],
                13,
            ),
        ),
        (
            "duplicate-as-sibling",
            open_log_input(TolerateTornTail, 0, &[Duplicate { file: 1, name: NameSpec::Sibling { number: 200 } }], 14),
        ),
        (
            "misdirected-copy",
            open_log_input(
                Salvage,
                0,
                &[Copy { from: 0, from_offset: 4096, to: 0, to_offset: 4096 + 800, len: 200 }],
                15,
            ),
        ),
        ("read-error", open_log_input(Salvage, 1, &[FailReads { file: 1, offset: 4096 + 300, len: 512 }], 16)),
        (
            "watermark-and-last-record",
            open_log_input(
                TolerateTornTail,
                0,
                &[
                    Zero { file: 2, offset: 512, len: 600 },
                    Overwrite { file: 2, offset: 6872 + 41, bytes: vec![0xEE; 8] },
                ],
                17,
            ),
        ),
        ("extend", open_log_input(Strict, 0, &[Extend { file: 0, len: 100, fill: 1 }], 18)),
        ("torn-tail-strict", open_log_input(Strict, 1, &[FlipBit { file: 2, offset: 7744 + 8, bit: 0 }], 19)),
    ]
}

#[test]
#[ignore = "writes the seed corpora; run after changing an input format"]
fn write_seed_corpora() {
    for (target, seeds) in [("wal_format", format_seeds()), ("wal_open", open_seeds())] {
        paxos_store_testkit::wal::write_seed_files(target, seeds);
    }
}

#[test]
fn the_checked_in_seeds_are_the_ones_described_here() {
    for (target, described) in [("wal_format", format_seeds()), ("wal_open", open_seeds())] {
        paxos_store_testkit::wal::assert_seed_files_current(target, described);
    }
}

#[test]
fn format_decoders_hold_their_properties_on_every_seed() {
    let mut all: Vec<FormatSummary> = Vec::new();
    for (name, bytes) in seeds("wal_format") {
        all.push(check_format_decoders(&bytes).unwrap_or_else(|v| panic!("wal_format/{name}: {v}")));
    }
    assert!(all.iter().any(|s| s.record.is_ok()), "a seed decodes as a record");
    assert!(all.iter().filter(|s| s.record.is_err()).count() >= 4, "seeds reach the record's error paths");
    assert!(all.iter().any(|s| s.segment_header), "a seed decodes as a segment header");
    assert!(all.iter().any(|s| s.watermark.is_some()), "a seed decodes as a watermark slot");
    assert!(all.iter().any(|s| s.segment_name.is_some()), "a seed parses as a segment name");
}

#[test]
fn opening_a_damaged_log_holds_its_properties_on_every_seed() {
    let mut refused = std::collections::BTreeSet::new();
    let (mut torn, mut lost, mut late_start, mut opened) = (0, 0, 0, 0);
    for (name, bytes) in seeds("wal_open") {
        let s = check_open_damaged_log(&bytes).unwrap_or_else(|v| panic!("wal_open/{name}: {v}"));
        eprintln!("wal_open/{name}: {:?}", s.outcome);
        match s.outcome {
            LogOutcome::Refused(kind) => {
                refused.insert(kind);
            }
            LogOutcome::Opened { torn_tail, lost: l, first_lsn, .. } => {
                opened += 1;
                torn += torn_tail as u32;
                lost += (l > 0) as u32;
                late_start += (first_lsn > 1) as u32;
            }
        }
    }
    for kind in ["BadSegment", "Corruption", "TornTail"] {
        assert!(refused.contains(kind), "no seed is refused with {kind}: {refused:?}");
    }
    assert!(opened >= 6 && torn >= 1 && lost >= 1 && late_start >= 1, "{opened} {torn} {lost} {late_start}");
}
