//! Bad input: truncation at every length, every bit flipped in turn, wrong
//! magic or version, empty and garbage files, misnamed files, impossible
//! lengths, unreadable sectors. Each is rejected with a typed error (and the
//! newest valid snapshot before it is used instead), never a panic, never
//! accepted.

mod common;

use common::{dir, open_mem, payload};
use paxos_snapshot::format::{SnapshotHeader, FOOTER_LEN, HEADER_LEN};
use paxos_snapshot::{SnapshotError, SnapshotOptions, SnapshotStore};
use paxos_storage::{MemStorage, Storage};
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use zerocopy::IntoBytes;

const META: &[u8] = b"meta!";
const PAYLOAD_LEN: usize = 100;

/// A store holding a good snapshot at 5 and the bytes of a good one at 10.
fn setup() -> (MemStorage, SnapshotStore, PathBuf, Vec<u8>) {
    let mem = MemStorage::new();
    let store = open_mem(&mem, 3);
    store.write(5, b"older", b"the fallback").unwrap();
    let meta = store.write(10, META, &payload(10, PAYLOAD_LEN)).unwrap();
    let good = mem.read_file(&meta.path).unwrap();
    assert_eq!(good.len(), HEADER_LEN + META.len() + PAYLOAD_LEN + FOOTER_LEN);
    (mem, store, meta.path, good)
}

/// Replace the file at `path` with `bytes` (durably, a fresh file).
fn plant(mem: &MemStorage, path: &Path, bytes: &[u8]) {
    let _ = mem.remove(path);
    mem.put_file(path, bytes).unwrap();
}

/// The one skipped snapshot's error; also checks the fallback is used.
fn rejected(store: &SnapshotStore) -> SnapshotError {
    let (latest, mut skipped) = store.latest_valid().unwrap();
    assert_eq!(latest.map(|m| m.position), Some(5), "fell back to the older snapshot");
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    let (valid, all_skipped) = store.valid_snapshots().unwrap();
    assert_eq!(valid.iter().map(|m| m.position).collect::<Vec<_>>(), vec![5]);
    assert_eq!(all_skipped.len(), 1);
    assert_eq!(skipped[0].path, dir().join("snap-00000000000000000010.snap"));
    skipped.pop().unwrap().error
}

#[test]
fn truncation_at_every_length_is_reported_as_truncated() {
    let (mem, store, path, good) = setup();
    for len in 0..good.len() {
        plant(&mem, &path, &good[..len]);
        let want = if len < HEADER_LEN { HEADER_LEN } else { good.len() } as u64;
        match rejected(&store) {
            SnapshotError::Truncated { expected, actual, .. } => {
                assert_eq!((expected, actual), (want, len as u64), "cut at {len}")
            }
            e => panic!("cut at {len}: {e}"),
        }
        assert_eq!(store.list().unwrap().len(), 1, "list leaves out a truncated file (cut at {len})");
    }
    let mut longer = good.clone();
    longer.push(0);
    plant(&mem, &path, &longer);
    assert!(matches!(rejected(&store), SnapshotError::TrailingBytes { expected, actual, .. }
        if expected == good.len() as u64 && actual == expected + 1));
    plant(&mem, &path, &good);
    assert_eq!(store.latest_valid().unwrap().0.unwrap().position, 10, "the intact file is accepted again");
}

#[test]
fn a_large_snapshot_truncated_at_sampled_lengths_is_rejected() {
    let mem = MemStorage::new();
    let store = open_mem(&mem, 3);
    store.write(5, b"older", b"the fallback").unwrap();
    let meta = store.write(10, META, &payload(1, 700_000)).unwrap();
    let good = mem.read_file(&meta.path).unwrap();
    let n = good.len();
    let p0 = HEADER_LEN + META.len();
    for len in [HEADER_LEN, p0, p0 + 1, p0 + (256 << 10), p0 + (256 << 10) + 1, n / 2, n - FOOTER_LEN, n - 1] {
        plant(&mem, &meta.path, &good[..len]);
        assert!(matches!(rejected(&store), SnapshotError::Truncated { .. }), "cut at {len}");
        assert!(matches!(store.read_all(&meta), Err(SnapshotError::Truncated { .. })), "read_all, cut at {len}");
    }
}

#[test]
fn every_bit_flipped_in_turn_is_rejected_with_the_error_of_its_region() {
    let (mem, store, path, good) = setup();
    let meta_end = HEADER_LEN + META.len();
    let payload_end = meta_end + PAYLOAD_LEN;
    let mut count = 0;
    for i in 0..good.len() {
        for bit in 0..8 {
            let mut bad = good.clone();
            bad[i] ^= 1 << bit;
            plant(&mem, &path, &bad);
            let err = rejected(&store);
            let ctx = format!("flip at byte {i} bit {bit}: {err}");
            let ok = match i {
                _ if i < meta_end => matches!(err, SnapshotError::BadHeader { .. }),
                _ if i < payload_end => matches!(err, SnapshotError::ChecksumMismatch { .. }),
                // Footer: magic, payload checksum, position.
                _ if i < payload_end + 4 => matches!(err, SnapshotError::BadFooter { .. }),
                _ if i < payload_end + 8 => matches!(err, SnapshotError::ChecksumMismatch { .. }),
                _ => matches!(err, SnapshotError::BadFooter { .. }),
            };
            assert!(ok, "{ctx}");
            assert!(err.is_damage(), "{ctx}");
            // Without payload verification, only payload damage still lists.
            let listed = store.list().unwrap().iter().any(|m| m.position == 10);
            assert_eq!(listed, matches!(err, SnapshotError::ChecksumMismatch { .. }), "{ctx}");
            count += 1;
        }
    }
    assert_eq!(count, good.len() * 8);
}

#[test]
fn a_flipped_payload_byte_fails_the_streaming_reader() {
    let (mem, store, path, good) = setup();
    let meta = store.list().unwrap().into_iter().find(|m| m.position == 10).unwrap();
    for i in HEADER_LEN + META.len()..HEADER_LEN + META.len() + PAYLOAD_LEN {
        let mut bad = good.clone();
        bad[i] ^= 0xFF;
        plant(&mem, &path, &bad);
        let mut out = Vec::new();
        let err = store.read(&meta).unwrap().read_to_end(&mut out).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData, "byte {i}");
        assert!(out.is_empty(), "a one-chunk payload is withheld entirely (byte {i})");
    }
}

#[test]
fn wrong_magic_wrong_version_empty_and_garbage_files_are_typed_errors() {
    let (mem, store, path, good) = setup();
    let mut bad = good.clone();
    bad[..8].copy_from_slice(b"NOTASNAP");
    plant(&mem, &path, &bad);
    assert!(matches!(rejected(&store), SnapshotError::BadHeader { reason, .. } if reason.contains("magic")));

    // A self-consistent header of a future version.
    let mut h = SnapshotHeader::new(10, META, PAYLOAD_LEN as u64);
    h.version = 2.into();
    h.seal();
    let mut bad = good.clone();
    bad[..HEADER_LEN].copy_from_slice(h.as_bytes());
    plant(&mem, &path, &bad);
    assert!(matches!(rejected(&store), SnapshotError::UnsupportedVersion { version: 2, .. }));

    plant(&mem, &path, &[]);
    assert!(matches!(rejected(&store), SnapshotError::Truncated { expected: 64, actual: 0, .. }));

    plant(&mem, &path, &payload(77, 5000));
    assert!(matches!(rejected(&store), SnapshotError::BadHeader { .. }));
    plant(&mem, &path, &vec![0u8; 5000]);
    assert!(matches!(rejected(&store), SnapshotError::BadHeader { .. }));

    // Files that are not named like snapshots are not snapshots.
    mem.remove(&path).unwrap();
    for name in ["snap-10.snap", "snap-00000000000000000010.snap.bak", "LOCK2", "snap-0000000000000000001x.snap"] {
        mem.put_file(&dir().join(name), &good).unwrap();
    }
    let (latest, skipped) = store.latest_valid().unwrap();
    assert_eq!(latest.unwrap().position, 5);
    assert!(skipped.is_empty(), "{skipped:?}");
    assert_eq!(store.list().unwrap().len(), 1);
}

#[test]
fn a_snapshot_under_another_positions_name_is_rejected() {
    let (mem, store, _path, good) = setup();
    mem.put_file(&dir().join("snap-00000000000000000011.snap"), &good).unwrap();
    let (latest, skipped) = store.latest_valid().unwrap();
    assert_eq!(latest.unwrap().position, 10);
    assert!(
        matches!(&skipped[..], [s] if matches!(&s.error, SnapshotError::BadHeader { reason, .. } if reason.contains("file name")))
    );
}

#[test]
fn impossible_lengths_are_rejected_before_anything_is_allocated() {
    let (mem, store, path, good) = setup();
    for (payload_len, overflows) in [(u64::MAX, true), (u64::MAX - 79, true), (1 << 50, false)] {
        let mut h = SnapshotHeader::new(10, META, payload_len);
        h.seal();
        let mut bad = good.clone();
        bad[..HEADER_LEN].copy_from_slice(h.as_bytes());
        plant(&mem, &path, &bad);
        let err = rejected(&store);
        let ok = match overflows {
            false => matches!(err, SnapshotError::Truncated { .. }),
            true => matches!(&err, SnapshotError::BadHeader { reason, .. } if reason.contains("overflow")),
        };
        assert!(ok, "payload_len {payload_len}: {err}");
    }
    // A metadata length past the format's limit, with a valid checksum.
    let mut h = SnapshotHeader::new(10, META, PAYLOAD_LEN as u64);
    h.metadata_len = u32::MAX.into();
    h.seal();
    let mut bad = good.clone();
    bad[..HEADER_LEN].copy_from_slice(h.as_bytes());
    plant(&mem, &path, &bad);
    assert!(matches!(rejected(&store), SnapshotError::BadHeader { .. }));
}

#[test]
fn an_unreadable_sector_skips_the_snapshot_and_falls_back() {
    let (mem, store, path, _good) = setup();
    mem.fail_reads(&path, 80..81).unwrap();
    match rejected(&store) {
        SnapshotError::Io { source, .. } => assert_eq!(source.raw_os_error(), Some(5)),
        e => panic!("{e}"),
    }
}

#[test]
fn damage_on_the_real_file_system_is_detected_too() {
    let tmp = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(tmp.path(), SnapshotOptions::default()).unwrap();
    store.write(1, b"", b"one").unwrap();
    let two = store.write(2, b"", &payload(2, 10_000)).unwrap();
    let file = std::fs::OpenOptions::new().write(true).open(&two.path).unwrap();
    file.set_len(5000).unwrap();
    let (latest, skipped) = store.latest_valid().unwrap();
    assert_eq!(latest.unwrap().position, 1);
    assert!(matches!(&skipped[..], [s] if matches!(s.error, SnapshotError::Truncated { actual: 5000, .. })));
    std::fs::write(tmp.path().join("snap-00000000000000000003.snap"), b"").unwrap();
    std::fs::write(tmp.path().join("garbage.txt"), b"hello").unwrap();
    drop(store);
    let store = SnapshotStore::open(tmp.path(), SnapshotOptions::default()).unwrap();
    let (valid, skipped) = store.valid_snapshots().unwrap();
    assert_eq!(valid.iter().map(|m| m.position).collect::<Vec<_>>(), vec![1]);
    assert_eq!(skipped.len(), 2);
}
