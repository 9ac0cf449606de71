//! Helpers shared by the crash and fault tests: deterministic payloads,
//! options for a tiny log on the in-memory file system, byte images of a log
//! directory (to replay one damaged disk many times), and reading a whole log
//! back.

#![allow(dead_code)] // each test file uses a different subset

use paxos_wal::format::{decode_record, frame_len, SegmentHeader, HEADER_PAGE, RECORD_HEADER_LEN};
use paxos_wal::storage::{MemStorage, Storage};
use paxos_wal::{CorruptionPolicy, Lsn, Wal, WalOptions};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The log directory used by every in-memory test.
pub const DIR: &str = "/w";
/// Tiny segments, so roll-overs happen every few records.
pub const SEG: u64 = 16 << 10;

pub fn dir() -> &'static Path {
    Path::new(DIR)
}

pub fn seg_path(first_lsn: Lsn) -> PathBuf {
    dir().join(paxos_wal::format::segment_name(first_lsn))
}

/// Options for a log of 16 KiB segments on `mem` (no background preparer,
/// so every run is deterministic).
pub fn opts(mem: &MemStorage, policy: CorruptionPolicy) -> WalOptions {
    WalOptions { segment_size: SEG, policy, ..WalOptions::small(mem.shared()) }
}

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// A payload that differs for every (lsn, salt): a record at the wrong LSN,
/// from an earlier life of the same LSN, or mixed up with another, never
/// compares equal to the expected one (unless it is empty).
pub fn payload(lsn: Lsn, salt: u64, len: usize) -> Vec<u8> {
    paxos_store_testkit::wal::test_bytes(
        lsn ^ salt.wrapping_mul(0xD6E8_FEB8_6659_FD93) ^ (len as u64).rotate_left(40),
        len,
    )
}

/// Every record of the log, with its LSN, from `first_lsn()` to the end.
pub fn records(wal: &Wal) -> Vec<(Lsn, Vec<u8>)> {
    wal.iter_from(wal.first_lsn())
        .expect("iterating")
        .map(|r| r.expect("reading"))
        .map(|r| (r.lsn(), r.to_vec()))
        .collect()
}

/// Records with their LSNs, in log order.
pub type Records = Vec<(Lsn, Vec<u8>)>;

/// The files of a directory and their (cached) bytes, sorted by name.
pub type Image = Vec<(String, Vec<u8>)>;

pub fn save_image(mem: &MemStorage) -> Image {
    let mut names = mem.list(dir()).expect("listing");
    names.sort();
    names.into_iter().map(|n| (n.clone(), mem.read_file(&dir().join(&n)).expect("reading"))).collect()
}

/// A fresh file system holding exactly `image`, everything durable.
pub fn load_image(image: &Image) -> MemStorage {
    let mem = MemStorage::new();
    mem.create_dir_all(dir()).expect("mkdir");
    for (name, bytes) in image {
        mem.put_file(&dir().join(name), bytes).expect("put_file");
    }
    mem
}

/// The segment files of an image (name, bytes), in log order.
pub fn segments(image: &Image) -> Vec<&(String, Vec<u8>)> {
    image.iter().filter(|(n, _)| n.ends_with(".wal")).collect()
}

/// One record frame found in a segment image.
#[derive(Clone, Copy, Debug)]
pub struct FrameAt {
    pub lsn: Lsn,
    pub offset: u64,
    pub len: u32,
}

impl FrameAt {
    /// Bytes the frame occupies (header, payload, padding).
    pub fn span(&self) -> std::ops::Range<u64> {
        self.offset..self.offset + frame_len(self.len as usize)
    }
    /// Bytes covered by a checksum (header and payload, not the padding).
    pub fn checked(&self) -> std::ops::Range<u64> {
        self.offset..self.offset + (RECORD_HEADER_LEN + self.len as usize) as u64
    }
}

/// The valid frames of an undamaged segment image, in order (parsed with the
/// crate's public format code, independently of recovery).
pub fn frames(seg: &[u8]) -> Vec<FrameAt> {
    let seq = SegmentHeader::decode(seg).expect("a valid header").seq.get();
    let mut out = Vec::new();
    let mut o = HEADER_PAGE as usize;
    while let Ok(f) = decode_record(&seg[o..], seq) {
        out.push(FrameAt { lsn: f.lsn, offset: o as u64, len: f.len });
        o += frame_len(f.len as usize) as usize;
    }
    out
}

/// Check that `got` is exactly `expect[..n]` for some `n` with
/// `durable <= n`: nothing acknowledged lost, nothing invented, no reordering.
/// Returns the number of records kept.
pub fn assert_prefix(got: &[(Lsn, Vec<u8>)], expect: &[(Lsn, Vec<u8>)], durable: usize, ctx: &str) -> usize {
    assert!(
        got.len() >= durable,
        "{ctx}: acknowledged records lost: recovered {} records, {durable} were durable",
        got.len()
    );
    assert!(got.len() <= expect.len(), "{ctx}: invented records: recovered {} of {}", got.len(), expect.len());
    for (i, (g, e)) in got.iter().zip(expect).enumerate() {
        assert_eq!(g.0, e.0, "{ctx}: record #{i} has lsn {} instead of {}", g.0, e.0);
        assert!(g.1 == e.1, "{ctx}: lsn {} holds other bytes than were appended", g.0);
    }
    got.len()
}

/// Open a new log on `mem`, append `count` records with `len(lsn)` bytes,
/// syncing after every `sync_every`-th and at the end, and drop it (no I/O).
/// Returns the records.
pub fn build_log(mem: &MemStorage, count: u64, len: impl Fn(Lsn) -> usize, sync_every: u64) -> Vec<(Lsn, Vec<u8>)> {
    let (wal, _) = Wal::open(dir(), opts(mem, CorruptionPolicy::TolerateTornTail)).expect("open");
    for lsn in 1..=count {
        assert_eq!(wal.append(&payload(lsn, 0, len(lsn))).expect("append"), lsn);
        if lsn % sync_every == 0 {
            wal.sync().expect("sync");
        }
    }
    wal.sync().expect("sync");
    let all = records(&wal);
    assert_eq!(all.len() as u64, count);
    all
}

/// Every valid frame of segment `seq` anywhere in `seg` (tried at each
/// 8-byte offset), including ones beyond the end of the log.
pub fn valid_frames_anywhere(seg: &[u8], seq: u64) -> Vec<FrameAt> {
    (HEADER_PAGE as usize..seg.len())
        .step_by(8)
        .filter_map(|o| {
            decode_record(&seg[o..], seq).ok().map(|f| FrameAt { lsn: f.lsn, offset: o as u64, len: f.len })
        })
        .collect()
}

/// The sequence number in a segment's header.
pub fn seq_of(seg: &[u8]) -> u64 {
    SegmentHeader::decode(seg).expect("a valid header").seq.get()
}

/// The bytes of the file `name` in an image.
pub fn file_mut<'a>(image: &'a mut Image, name: &str) -> &'a mut Vec<u8> {
    &mut image.iter_mut().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no file {name}")).1
}

/// A synced log of 150 records of 200 bytes: three segments of 51, 51 and
/// 48 records (LSNs 1..=51, 52..=102, 103..=150).
pub fn three_segments() -> (Image, Records) {
    let mem = MemStorage::new();
    let all = build_log(&mem, 150, |_| 200, 10);
    let image = save_image(&mem);
    let names: Vec<&str> = image.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["00000000000000000001.wal", "00000000000000000052.wal", "00000000000000000103.wal", "MANIFEST"]);
    (image, all)
}

/// Records of `all` except the LSNs in `lost`.
/// Records of `all` except the LSNs in `lost`.
pub fn without(all: &[(Lsn, Vec<u8>)], lost: &BTreeSet<Lsn>) -> Records {
    all.iter().filter(|(l, _)| !lost.contains(l)).cloned().collect()
}

/// Every LSN an open report names as damaged.
pub fn lost_lsns(report: &paxos_wal::OpenReport) -> BTreeSet<Lsn> {
    report.damage.iter().filter_map(|d| d.lsns).flat_map(|(a, b)| a..=b).collect()
}
