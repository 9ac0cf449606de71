//! Bit rot: flip every byte of every segment file of a small, fully synced
//! log, one at a time, and open a copy under `TolerateTornTail` and under
//! `Salvage`.
//!
//! Each open must either fail with an error that names the damaged segment,
//! or return records that are all byte-identical to what was appended:
//! exactly all of them, or (only under `Salvage`) all but the LSNs the report
//! names as damaged. Never wrong data, never a panic.
//!
//! The default run flips every byte of each segment header and watermark
//! slot, of every 4th record header, and every 97th byte elsewhere (`xor
//! 0xFF` at even offsets, a single bit at odd ones). The `#[ignore]`d test
//! flips every byte of the three files, each both ways (run it with
//! `cargo test -p paxos-wal --test bit_flips -- --ignored --nocapture`).

mod common;

use common::{dir, frames, load_image, opts, payload, records, save_image, segments, FrameAt, Image};
use paxos_wal::storage::MemStorage;
use paxos_wal::{CorruptionPolicy, Error, Lsn, Wal};
use std::collections::BTreeSet;

/// A log of exactly three 16 KiB segments, all synced, the last one partly full.
fn build() -> (Image, Vec<(Lsn, Vec<u8>)>) {
    let mem = MemStorage::new();
    let (wal, _) = Wal::open(dir(), opts(&mem, CorruptionPolicy::TolerateTornTail)).unwrap();
    let mut lsn = 0;
    while wal.segment_count() < 3 || lsn % 40 != 0 {
        lsn += 1;
        wal.append(&payload(lsn, 7, (lsn * 13 % 97) as usize)).unwrap();
        if lsn % 9 == 0 {
            wal.sync().unwrap();
        }
    }
    wal.sync().unwrap();
    assert_eq!(wal.segment_count(), 3);
    let all = records(&wal);
    drop(wal);
    (save_image(&mem), all)
}

#[derive(Default, Debug)]
struct Tally {
    cases: u64,
    exact: u64,
    errors: u64,
    salvaged: u64,
    torn_tails: u64,
}

/// Where a flipped byte sits, to check the answer names it.
struct Target<'a> {
    seg: &'a str,
    offset: u64,
    /// The record whose header or payload holds the byte, if any.
    lsn: Option<Lsn>,
}

fn check_open(image: &Image, t: &Target, xor: u8, policy: CorruptionPolicy, all: &[(Lsn, Vec<u8>)], tally: &mut Tally) {
    let mut img = image.clone();
    let file = &mut img.iter_mut().find(|(n, _)| n == t.seg).expect("segment").1;
    file[t.offset as usize] ^= xor;
    let mem = load_image(&img);
    let ctx = format!("{} byte {} ^ {xor:#04x} under {policy:?}", t.seg, t.offset);
    tally.cases += 1;
    match Wal::open(dir(), opts(&mem, policy)) {
        Err(Error::BadSegment { path, .. }) => {
            assert!(path.ends_with(t.seg), "{ctx}: error names {} instead", path.display());
            tally.errors += 1;
        }
        Err(Error::Corruption { damage }) => {
            assert!(policy != CorruptionPolicy::Salvage, "{ctx}: Salvage must not fail on a bad record");
            assert!(damage.iter().any(|d| d.segment.ends_with(t.seg)), "{ctx}: damage elsewhere: {damage:?}");
            if let Some(lsn) = t.lsn {
                assert!(
                    damage.iter().any(|d| d.lsns.is_some_and(|(a, b)| a <= lsn && lsn <= b)),
                    "{ctx}: lsn {lsn} not named: {damage:?}"
                );
            }
            tally.errors += 1;
        }
        Err(e) => panic!("{ctx}: unexpected error {e}"),
        Ok((wal, report)) => {
            let got = records(&wal);
            if report.torn_tail.is_some() {
                tally.torn_tails += 1;
            }
            let lost: BTreeSet<Lsn> = report.damage.iter().filter_map(|d| d.lsns).flat_map(|(a, b)| a..=b).collect();
            if lost.is_empty() {
                assert!(got == all, "{ctx}: open succeeded with other records than were appended: {report}");
                tally.exact += 1;
            } else {
                assert_eq!(policy, CorruptionPolicy::Salvage, "{ctx}: {report}");
                assert!(report.damage.iter().all(|d| d.segment.ends_with(t.seg)), "{ctx}: {report}");
                if let Some(lsn) = t.lsn {
                    assert!(lost.contains(&lsn), "{ctx}: damaged lsn {lsn} not reported: {report}");
                }
                let expect: Vec<_> = all.iter().filter(|(l, _)| !lost.contains(l)).cloned().collect();
                assert!(got == expect, "{ctx}: salvaged records differ from the undamaged ones: {report}");
                assert_eq!(wal.read(*lost.first().unwrap()).unwrap().map(|r| r.to_vec()), None, "{ctx}");
                tally.salvaged += 1;
            }
            if lost.is_empty() && t.lsn.is_some() {
                panic!("{ctx}: a flipped byte in lsn {:?} went unnoticed: {report}", t.lsn);
            }
        }
    }
}

/// The record (by its checksummed bytes) that holds `offset`.
fn record_at(frames: &[FrameAt], offset: u64) -> Option<Lsn> {
    frames.iter().find(|f| f.checked().contains(&offset)).map(|f| f.lsn)
}

fn sweep(every_byte: bool) -> Tally {
    let (image, all) = build();
    assert!(all.len() > 250, "{} records", all.len());
    let mut tally = Tally::default();
    for (name, bytes) in segments(&image) {
        let frames = frames(bytes);
        // Every 4th record header, whole.
        let headers: BTreeSet<u64> = frames
            .iter()
            .step_by(4)
            .flat_map(|f| f.offset..f.offset + paxos_wal::format::RECORD_HEADER_LEN as u64)
            .collect();
        for offset in 0..bytes.len() as u64 {
            let header_or_slot = offset < 64 || (512..544).contains(&offset) || (1024..1056).contains(&offset);
            let chosen = every_byte || header_or_slot || headers.contains(&offset) || offset % 97 == 0;
            if !chosen {
                continue;
            }
            let t = Target { seg: name, offset, lsn: record_at(&frames, offset) };
            // The full sweep tries both a whole-byte flip and a single bit;
            // the default run alternates between them.
            let masks: &[u8] = match (every_byte, offset % 2) {
                (true, _) => &[0xFF, 1 << (offset / 2 % 8)],
                (false, 0) => &[0xFF],
                (false, _) => &[1 << (offset / 2 % 8)],
            };
            for &xor in masks {
                check_open(&image, &t, xor, CorruptionPolicy::TolerateTornTail, &all, &mut tally);
                check_open(&image, &t, xor, CorruptionPolicy::Salvage, &all, &mut tally);
            }
        }
    }
    tally
}

#[test]
fn every_flipped_header_byte_and_a_stride_of_the_rest_is_caught_or_harmless() {
    let tally = sweep(false);
    eprintln!("bit-flip sweep (headers + every 97th byte): {tally:?}");
    assert!(tally.errors > 0 && tally.salvaged > 0 && tally.exact > 0);
}

#[test]
#[ignore = "flips every byte of three segments both ways (about 200k opens): minutes in debug"]
fn every_flipped_byte_is_caught_or_harmless() {
    let tally = sweep(true);
    eprintln!("bit-flip sweep (every byte): {tally:?}");
}
