//! Bad files in the log directory (fault 7 of the fault model) and misuse
//! (fault 8): each gets a clear typed error or a documented, reported repair;
//! never a panic, never wrong records.

mod common;

use common::{dir, file_mut, load_image, lost_lsns, opts, records, seg_path, three_segments, without};
use paxos_wal::format::{segment_name, SegmentHeader};
use paxos_wal::storage::{MemStorage, Storage};
use paxos_wal::{CorruptionPolicy, DamageKind, Error, Wal, WalOptions};
use zerocopy::{FromBytes, IntoBytes};

const TOLERATE: CorruptionPolicy = CorruptionPolicy::TolerateTornTail;
const SALVAGE: CorruptionPolicy = CorruptionPolicy::Salvage;
const POLICIES: [CorruptionPolicy; 3] = [CorruptionPolicy::Strict, TOLERATE, SALVAGE];

fn open(mem: &MemStorage, policy: CorruptionPolicy) -> paxos_wal::Result<(Wal, paxos_wal::OpenReport)> {
    Wal::open(dir(), opts(mem, policy))
}

/// Under every policy, opening `image` fails with `BadSegment` naming
/// `name`, with a reason containing `why`.
fn assert_bad_segment(image: &common::Image, name: &str, why: &str) {
    for policy in POLICIES {
        match open(&load_image(image), policy) {
            Err(Error::BadSegment { path, reason }) => {
                assert!(path.ends_with(name), "{policy:?}: names {} instead of {name}", path.display());
                assert!(reason.contains(why), "{policy:?}: reason {reason:?} lacks {why:?}");
            }
            other => panic!("{policy:?}: expected BadSegment({name}, {why}), got {other:?}"),
        }
    }
}

/// The segment the manifest names as the last one (acknowledged records may
/// live in it) deleted, truncated to 0, zeroed (`LostSegment`), or replaced
/// by garbage or another log's segment (`BadSegment`), while the log was
/// down: an error under every policy, naming the segment,
/// and nothing is removed or rewritten (fault case 15; audit finding 4:
/// the log used to open as a shorter one). With a single segment the log
/// used to open as a new, empty one.
#[test]
fn a_lost_emptied_zeroed_or_replaced_last_segment_is_damage_under_every_policy() {
    let (image, _) = three_segments();
    let s3 = segment_name(103);
    let other_log = {
        let mem = MemStorage::new();
        common::build_log(&mem, 150, |_| 200, 10);
        common::save_image(&mem).into_iter().find(|(n, _)| *n == s3).unwrap().1
    };
    let cases: [(&str, Option<Vec<u8>>); 5] = [
        ("missing", None),
        ("empty", Some(Vec::new())),
        ("zeroed", Some(vec![0u8; 16 << 10])),
        ("wrong magic", Some(vec![0xA5u8; 16 << 10])),
        ("another log", Some(other_log)),
    ];
    for (why, bytes) in cases {
        let mut img = image.clone();
        match bytes {
            None => img.retain(|(n, _)| *n != s3),
            Some(b) => *file_mut(&mut img, &s3) = b,
        }
        for policy in POLICIES {
            let mem = load_image(&img);
            match open(&mem, policy) {
                Err(Error::LostSegment { path, reason }) if reason.contains(why) => {
                    assert!(path.ends_with(&s3), "{policy:?}: names {}", path.display())
                }
                // Garbage, or a segment of another log, in its place: a bad segment.
                Err(Error::BadSegment { path, reason }) if reason.contains(why) => assert!(path.ends_with(&s3)),
                other => panic!("{policy:?}, last segment {why:?}: expected LostSegment, got {other:?}"),
            }
            assert_eq!(common::save_image(&mem), img, "{policy:?}: the failed open changed files");
        }
    }

    // A log of one segment, the demo's shape: never reopened as a new log.
    let mem = MemStorage::new();
    common::build_log(&mem, 10, |_| 100, 1);
    let mut img = common::save_image(&mem);
    img.retain(|(n, _)| n.ends_with("MANIFEST"));
    for policy in POLICIES {
        let err = open(&load_image(&img), policy).expect_err("a log without its only segment opened");
        assert!(matches!(err, Error::LostSegment { .. }), "{policy:?}: {err}");
    }
}

/// An all-zero or valid-but-empty segment past the one the manifest names
/// (a roll-over cut short by a crash before it took a record) is removed and
/// reported, and the log goes on.
#[test]
fn a_segment_beyond_the_manifest_is_removed() {
    let (mut image, all) = three_segments();
    image.push((segment_name(151), vec![0u8; 16 << 10]));
    image.sort();
    let mem = load_image(&image);
    let (wal, report) = open(&mem, TOLERATE).unwrap();
    assert_eq!(report.segments_beyond_manifest, vec![seg_path(151)], "{report}");
    assert_eq!(records(&wal), all, "{report}");
    assert_eq!(wal.append_durable(b"next").unwrap(), 151);
    drop(wal);
    let (wal, report) = open(&mem, CorruptionPolicy::Strict).unwrap();
    assert!(report.segments_beyond_manifest.is_empty(), "{report}");
    assert_eq!(&*wal.read(151).unwrap().unwrap(), b"next");
}

/// In the middle of the log, an empty, all-zero or truncated segment is a
/// continuity error (ZOOKEEPER-2332 silently skipped one), under every policy.
#[test]
fn an_empty_zeroed_or_truncated_segment_in_the_middle_is_an_error() {
    let (image, _) = three_segments();
    let s2 = segment_name(52);
    for (bytes, why) in [(Vec::new(), "shorter than a segment header"), (vec![0u8; 16 << 10], "wrong magic")] {
        let mut img = image.clone();
        *file_mut(&mut img, &s2) = bytes;
        assert_bad_segment(&img, &s2, why);
    }
    for name in [segment_name(52), segment_name(103)] {
        let mut img = image.clone();
        file_mut(&mut img, &name).truncate(10_000);
        assert_bad_segment(&img, &name, "truncated or extended");
        let mut img = image.clone();
        file_mut(&mut img, &name).extend_from_slice(&[0u8; 4096]);
        assert_bad_segment(&img, &name, "truncated or extended");
    }
}

/// A wrong magic, an unsupported version (with a valid header checksum), a
/// damaged header, or a header whose first LSN disagrees with the file name.
#[test]
fn bad_segment_headers_are_typed_errors() {
    let (image, _) = three_segments();
    let s2 = segment_name(52);
    let mut img = image.clone();
    file_mut(&mut img, &s2)[0] = b'X';
    assert_bad_segment(&img, &s2, "wrong magic");

    let mut img = image.clone();
    let file = file_mut(&mut img, &s2);
    let (mut h, _) = SegmentHeader::read_from_prefix(&file[..]).unwrap();
    h.version = 2.into();
    h.crc = crc32fast::hash(&h.as_bytes()[..60]).into();
    file[..64].copy_from_slice(h.as_bytes());
    assert_bad_segment(&img, &s2, "unsupported format version");

    let mut img = image.clone();
    file_mut(&mut img, &s2)[20] ^= 0x04;
    assert_bad_segment(&img, &s2, "header checksum mismatch");

    // The last segment renamed to another LSN: the one the manifest names
    // is missing, and the renamed file is left alone.
    let mut img = image.clone();
    let wrong = segment_name(104);
    img.iter_mut().find(|(n, _)| *n == segment_name(103)).unwrap().0 = wrong.clone();
    img.sort();
    for policy in POLICIES {
        let mem = load_image(&img);
        match open(&mem, policy) {
            Err(Error::LostSegment { path, .. }) => assert!(path.ends_with(segment_name(103))),
            other => panic!("{policy:?}: expected LostSegment, got {other:?}"),
        }
        assert_eq!(common::save_image(&mem), img);
    }
    // A middle segment renamed to another LSN.
    let mut img = image.clone();
    let wrong = segment_name(53);
    img.iter_mut().find(|(n, _)| *n == s2).unwrap().0 = wrong.clone();
    img.sort();
    assert_bad_segment(&img, &wrong, "its name says lsn 53");
}

/// A segment missing from the middle of the log whose records had been
/// acknowledged: a continuity error naming exactly the lost LSNs; `Salvage`
/// leaves them as holes and keeps the rest.
#[test]
fn a_missing_segment_in_the_middle_is_reported_with_its_lsns() {
    let (mut image, all) = three_segments();
    image.retain(|(n, _)| *n != segment_name(52));
    for policy in [CorruptionPolicy::Strict, TOLERATE] {
        match open(&load_image(&image), policy) {
            Err(Error::Corruption { damage }) => {
                assert_eq!(damage.len(), 1, "{damage:?}");
                assert_eq!((damage[0].lsns, damage[0].kind), (Some((52, 102)), DamageKind::Missing));
                assert_eq!(damage[0].segment, seg_path(1));
            }
            other => panic!("{policy:?}: expected corruption of lsns 52..=102, got {other:?}"),
        }
    }
    let (wal, report) = open(&load_image(&image), SALVAGE).unwrap();
    assert_eq!(lost_lsns(&report), (52..=102).collect());
    assert_eq!(records(&wal), without(&all, &(52..=102).collect()));
    assert!(wal.read(60).unwrap().is_none());
}

/// Files that are not the log's are left alone and listed; leftover
/// temporary files of a crashed preparation are removed and listed.
#[test]
fn foreign_files_are_ignored_and_temp_files_removed() {
    let (mut image, all) = three_segments();
    // "notes.tmp" and "prepare-x.tmp" are not names the log gives its temp
    // files: they used to be deleted as leftovers, like every "*.tmp".
    let junk = ["00000000000000000abc.wal", "123.wal", "README", "notes.tmp", "notes.txt", "prepare-x.tmp"];
    for name in junk {
        image.push((name.to_string(), b"not a segment".to_vec()));
    }
    image.push(("prepare-00000000000000000009.tmp".to_string(), vec![0u8; 5000]));
    image.sort();
    let mem = load_image(&image);
    let (wal, report) = open(&mem, CorruptionPolicy::Strict).unwrap();
    assert_eq!(records(&wal), all);
    let mut expect: Vec<String> = junk.iter().map(|s| s.to_string()).collect();
    expect.sort();
    assert_eq!(report.ignored_files, expect);
    assert_eq!(report.removed_temp_files, ["prepare-00000000000000000009.tmp"]);
    let mut left = mem.list(dir()).unwrap();
    left.sort();
    assert!(junk.iter().all(|j| left.iter().any(|l| l == j)), "foreign files were touched: {left:?}");
    assert!(!left.iter().any(|l| l.starts_with("prepare-0")), "{left:?}");
    let shown = report.to_string();
    assert!(shown.contains("ignored files") && shown.contains("removed temp files"), "{shown}");
}

/// A second open of the same directory gets `Error::Locked`; once the first
/// is dropped, the directory opens again.
#[test]
fn a_locked_directory_is_refused() {
    let mem = MemStorage::new();
    let (wal, _) = open(&mem, TOLERATE).unwrap();
    wal.append_durable(b"one").unwrap();
    match open(&mem, TOLERATE) {
        Err(Error::Locked { dir: d }) => assert_eq!(d, dir()),
        other => panic!("expected Locked, got {other:?}"),
    }
    assert_eq!(wal.append_durable(b"two").unwrap(), 2, "the refused open disturbed the log");
    drop(wal);
    let (wal, _) = open(&mem, TOLERATE).unwrap();
    assert_eq!(records(&wal).len(), 2);
}

/// Misuse gets typed answers: reads below the first LSN or past the last,
/// waiting on an LSN never appended, records over the limit, bad options.
#[test]
fn misuse_gets_typed_answers() {
    let (image, all) = three_segments();
    let mem = load_image(&image);
    let (wal, _) = open(&mem, TOLERATE).unwrap();
    assert_eq!(wal.delete_segments_before(103).unwrap(), 2);
    assert_eq!(wal.first_lsn(), 103);
    for lsn in [0, 1, 51, 102, 151, u64::MAX] {
        assert!(wal.read(lsn).unwrap().is_none(), "lsn {lsn}");
    }
    assert_eq!(records(&wal), all[102..]);
    assert_eq!(wal.iter_from(0).unwrap().next().unwrap().unwrap().lsn(), 103);
    assert!(matches!(wal.wait_durable(151), Err(Error::NoSuchLsn { lsn: 151, last: 150 })));
    assert!(wal.wait_durable(50).is_ok(), "an LSN truncated away was durable");
    let max = wal.max_record_size();
    assert!(matches!(wal.append(&vec![0; max + 1]), Err(Error::RecordTooLarge { .. })));
    let batch = [&b"fine"[..], &vec![0; max + 1]];
    assert!(matches!(wal.append_batch(batch), Err(Error::RecordTooLarge { .. })));
    assert_eq!(wal.last_lsn(), 150, "a refused batch wrote nothing");
    drop(wal);
    for size in [0, 4096, 10_000, 1 << 32] {
        let o = WalOptions { segment_size: size, ..opts(&mem, TOLERATE) };
        assert!(matches!(Wal::open(dir(), o), Err(Error::InvalidOptions(_))), "segment_size {size}");
    }
}

/// The manifest damaged, removed or replaced by a directory: a typed error
/// under every policy (the end of the log can no longer be proven).
#[test]
fn a_damaged_missing_or_replaced_manifest_is_a_typed_error() {
    let (image, _) = three_segments();
    let mut flipped = image.clone();
    file_mut(&mut flipped, "MANIFEST")[30] ^= 1;
    let mut removed = image.clone();
    removed.retain(|(n, _)| n != "MANIFEST");
    for policy in POLICIES {
        let err = open(&load_image(&flipped), policy).map(|_| ()).unwrap_err();
        assert!(matches!(err, Error::BadManifest { .. }), "{policy:?}: {err}");
        let err = open(&load_image(&removed), policy).map(|_| ()).unwrap_err();
        assert!(matches!(err, Error::MissingManifest { records: 150, .. }), "{policy:?}: {err}");
        let mem = load_image(&image);
        mem.replace_with_dir(&dir().join("MANIFEST")).unwrap();
        let err = open(&mem, policy).map(|_| ()).unwrap_err();
        assert!(matches!(err, Error::BadManifest { .. }), "{policy:?}: {err}");
    }
}

/// Garbage after the last record of a segment that is not the last one
/// (where the next segment continues the LSNs) costs no record, but it is
/// damage the log never wrote: like the same bytes between two records
/// (case 6), `Strict` refuses it and the other policies report it, with no
/// LSN lost and every record kept. (Recovery used to keep it silently under
/// every policy.)
#[test]
fn garbage_after_the_last_record_of_a_middle_segment_is_reported() {
    let (mut image, all) = three_segments();
    let s1 = segment_name(1);
    let file = file_mut(&mut image, &s1);
    let end = common::frames(file).last().map(|f| f.span().end).expect("records");
    let len = file.len();
    assert!(end as usize + 16 < len, "room after the last record: {end} of {len}");
    file[end as usize + 8..len].fill(0xA5);
    match open(&load_image(&image), CorruptionPolicy::Strict) {
        Err(Error::Corruption { damage }) => {
            assert_eq!(damage.len(), 1, "{damage:?}");
            assert_eq!((damage[0].segment.clone(), damage[0].lsns), (seg_path(1), None));
            assert!(damage[0].offset >= end, "{damage:?}");
        }
        other => panic!("Strict: expected the garbage refused, got {other:?}"),
    }
    for policy in [TOLERATE, SALVAGE] {
        let (wal, report) = open(&load_image(&image), policy).unwrap();
        assert_eq!(report.damage.len(), 1, "{policy:?}: {:?}", report.damage);
        assert_eq!(report.damage[0].lsns, None);
        assert_eq!(records(&wal), all, "{policy:?}: every record kept");
    }
}

/// Strict refuses a torn tail and says so without claiming a cut it did
/// not make (the message used to read "cut ... (0 bytes erased ...)").
#[test]
fn strict_names_a_torn_tail_without_claiming_to_cut_it() {
    let (mut image, _) = three_segments();
    let s3 = segment_name(103);
    let file = file_mut(&mut image, &s3);
    let end = common::frames(file).last().map(|f| f.span().end).expect("records") as usize;
    file[end..end + 10].fill(0x5A); // a torn frame after the last record
    let e = open(&load_image(&image), CorruptionPolicy::Strict).unwrap_err();
    assert!(matches!(e, Error::TornTail(_)), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("left as it is") && !msg.contains("cut "), "{msg}");
}
