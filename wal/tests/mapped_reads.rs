//! Reads through the segment mappings when the files change under a running
//! log (contract rule 7: a typed error, never a SIGBUS, never wrong bytes):
//! a segment truncated by another process, bytes changed in place, a sparse
//! segment (holes) on open, a full disk while filling those holes.

use paxos_wal::format::{segment_name, HEADER_PAGE, RECORD_HEADER_LEN};
use paxos_wal::storage::MemStorage;
use paxos_wal::{Error, Wal, WalOptions, WriteMode};
use std::fs::OpenOptions;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::os::unix::io::AsRawFd;
use std::path::Path;

const SEG: u64 = 1 << 20;

fn fs_opts() -> WalOptions {
    WalOptions { segment_size: SEG, background_prepare: false, ..Default::default() }
}

fn payload(i: u64) -> Vec<u8> {
    (0..200).map(|j| (i as usize * 7 + j) as u8).collect()
}

/// Append `n` records of 200 bytes and sync them.
fn fill(wal: &Wal, n: u64) {
    for i in 1..=n {
        wal.append(&payload(i)).unwrap();
    }
    wal.sync().unwrap();
}

/// Byte offset of the payload of record `i` (1-based) in the first segment,
/// all records being 200 bytes long (a 240-byte frame).
fn payload_offset(i: u64) -> u64 {
    HEADER_PAGE + (i - 1) * 240 + RECORD_HEADER_LEN as u64
}

#[test]
fn read_of_a_segment_truncated_under_the_log_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(dir.path(), fs_opts()).unwrap();
    fill(&wal, 1000); // about 240 KB
    assert_eq!(&*wal.read(900).unwrap().unwrap(), &payload(900)[..]); // verified once, while intact
                                                                      // Another process (an operator, a backup tool) cuts the live segment to 64 KiB.
    let seg = dir.path().join(segment_name(1));
    OpenOptions::new().write(true).open(&seg).unwrap().set_len(64 << 10).unwrap();
    // A record never read before, past the new end: a typed error, not SIGBUS.
    match wal.read(950) {
        Err(Error::MappedReadFailed { path, lsn: 950 }) => assert_eq!(path, seg),
        other => panic!("expected MappedReadFailed, got {other:?}"),
    }
    // One that was read (and verified) before the cut: the same.
    assert!(matches!(wal.read(900), Err(Error::MappedReadFailed { .. })));
    // The segment refuses every read from now on, even below the cut.
    assert!(matches!(wal.read(1), Err(Error::MappedReadFailed { .. })));
    assert!(wal.iter_from(1).unwrap().any(|r| r.is_err()));
    drop(wal);
    // Reopening reads with pread and names the damage.
    assert!(matches!(Wal::open(dir.path(), fs_opts()), Err(Error::BadSegment { .. })));
}

#[test]
fn a_record_read_before_a_truncation_reports_it_through_check() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(dir.path(), fs_opts()).unwrap();
    fill(&wal, 1000);
    let rec = wal.read(950).unwrap().unwrap();
    rec.check().unwrap();
    OpenOptions::new().write(true).open(dir.path().join(segment_name(1))).unwrap().set_len(64 << 10).unwrap();
    // The bytes borrowed before the cut now read as zeros (not a crash), and `check` says so.
    assert!(rec.iter().all(|b| *b == 0));
    assert!(matches!(rec.check(), Err(Error::MappedReadFailed { lsn: 950, .. })));
}

#[test]
fn a_write_through_the_mapping_of_a_truncated_segment_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let opts = WalOptions { write_mode: WriteMode::Mmap, ..fs_opts() };
    let (wal, _) = Wal::open(dir.path(), opts).unwrap();
    fill(&wal, 10);
    OpenOptions::new().write(true).open(dir.path().join(segment_name(1))).unwrap().set_len(HEADER_PAGE).unwrap();
    // The write faults (no page behind it any more): an error, the log
    // poisoned (the waiter gets the poison, naming the cause), no crash.
    let err = wal.append_durable(&payload(11)).unwrap_err();
    assert!(err.to_string().contains("through its mapping failed"), "{err:?}");
    assert!(wal.is_poisoned());
}

#[test]
fn a_record_changed_under_the_open_log_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(dir.path(), fs_opts()).unwrap();
    fill(&wal, 20);
    // Another process zeroes eight payload bytes of record 5, in place.
    let seg = dir.path().join(segment_name(1));
    OpenOptions::new().write(true).open(&seg).unwrap().write_all_at(&[0; 8], payload_offset(5) + 16).unwrap();
    match wal.read(5) {
        Err(Error::DamagedRecord { path, lsn: 5, offset, reason }) => {
            assert_eq!(path, seg);
            assert_eq!(offset, payload_offset(5) - RECORD_HEADER_LEN as u64);
            assert_eq!(reason, "payload checksum mismatch");
        }
        other => panic!("expected DamagedRecord, got {other:?}"),
    }
    // Its neighbours are fine, and iteration yields the error in its place.
    assert_eq!(&*wal.read(4).unwrap().unwrap(), &payload(4)[..]);
    assert_eq!(&*wal.read(6).unwrap().unwrap(), &payload(6)[..]);
    let items: Vec<_> = wal.iter_from(1).unwrap().collect();
    assert_eq!(items.len(), 20);
    assert!(items.iter().enumerate().all(|(i, r)| r.is_err() == (i == 4)));
}

#[test]
fn a_header_changed_after_a_record_was_verified_is_still_caught() {
    let mem = MemStorage::new();
    let dir = Path::new("/w");
    let (wal, _) = Wal::open(dir, WalOptions::small(mem.shared())).unwrap();
    fill(&wal, 20);
    assert_eq!(&*wal.read(5).unwrap().unwrap(), &payload(5)[..]);
    // The length field of record 5's header (a verified record: the payload
    // is not hashed again, the header is).
    mem.corrupt(&dir.join(segment_name(1)), payload_offset(5) - RECORD_HEADER_LEN as u64 + 5, 0x40).unwrap();
    assert!(matches!(wal.read(5), Err(Error::DamagedRecord { lsn: 5, .. })));
}

#[test]
fn a_payload_changed_in_the_page_cache_is_a_typed_error_on_the_simulated_disk() {
    let mem = MemStorage::new();
    let dir = Path::new("/w");
    let (wal, _) = Wal::open(dir, WalOptions::small(mem.shared())).unwrap();
    fill(&wal, 20);
    mem.corrupt(&dir.join(segment_name(1)), payload_offset(7) + 3, 0x01).unwrap();
    assert!(matches!(wal.read(7), Err(Error::DamagedRecord { lsn: 7, reason: "payload checksum mismatch", .. })));
    assert_eq!(&*wal.read(8).unwrap().unwrap(), &payload(8)[..]);
}

#[test]
fn a_failed_mapped_read_on_the_simulated_disk_is_a_typed_error() {
    let mem = MemStorage::new();
    let dir = Path::new("/w");
    let (wal, _) = Wal::open(dir, WalOptions::small(mem.shared())).unwrap();
    fill(&wal, 20);
    assert!(wal.read(3).unwrap().is_some());
    mem.fail_mapped_reads(&dir.join(segment_name(1))).unwrap();
    assert!(matches!(wal.read(3), Err(Error::MappedReadFailed { lsn: 3, .. })));
    assert!(matches!(wal.read(9), Err(Error::MappedReadFailed { lsn: 9, .. })));
}

/// `fallocate(PUNCH_HOLE | KEEP_SIZE)`, as `cp --sparse=always` or a
/// hole-punching tool would leave the file.
fn punch_hole(path: &Path, offset: u64, len: u64) {
    let f = OpenOptions::new().write(true).open(path).unwrap();
    // SAFETY: fallocate on a descriptor we own; no memory is involved.
    let r = unsafe {
        libc::fallocate(
            f.as_raw_fd(),
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            offset as libc::off_t,
            len as libc::off_t,
        )
    };
    assert_eq!(r, 0, "fallocate: {}", std::io::Error::last_os_error());
}

fn allocated(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().blocks() * 512
}

#[test]
fn a_sparse_segment_is_filled_before_it_is_mapped() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(dir.path(), fs_opts()).unwrap();
    fill(&wal, 100);
    drop(wal);
    let seg = dir.path().join(segment_name(1));
    // The unused (zero) tail of the segment becomes a hole.
    punch_hole(&seg, 64 << 10, SEG - (64 << 10));
    assert!(allocated(&seg) < SEG / 2, "the file system did not punch the hole");
    let (wal, report) = Wal::open(dir.path(), fs_opts()).unwrap();
    assert_eq!(report.records, 100);
    assert!(allocated(&seg) >= SEG, "the hole was not filled: {} of {SEG} bytes allocated", allocated(&seg));
    // The log works as before, through the filled range.
    fill(&wal, 2000);
    assert_eq!(&*wal.read(1500).unwrap().unwrap(), &payload(1400)[..]);
}

#[test]
fn a_sparse_segment_on_a_full_disk_is_refused_with_no_space() {
    // ENOSPC cannot be produced on demand on the real file system from a
    // test (no private small mount), so the simulated disk models holes.
    let mem = MemStorage::new();
    let dir = Path::new("/w");
    let opts = WalOptions::small(mem.shared());
    let (wal, _) = Wal::open(dir, opts.clone()).unwrap();
    fill(&wal, 20);
    drop(wal);
    let seg = dir.join(segment_name(1));
    mem.punch_hole(&seg, (16 << 10)..(64 << 10)).unwrap();
    mem.set_capacity(Some(mem.used_bytes() + 4096));
    // Mapping it would leave pages that a write may fail to allocate: refused.
    assert!(matches!(Wal::open(dir, opts.clone()), Err(Error::NoSpace { .. })));
    // With room again, the holes are filled and the log opens intact.
    mem.set_capacity(None);
    let (wal, report) = Wal::open(dir, opts).unwrap();
    assert_eq!(report.records, 20);
    assert_eq!(&*wal.read(20).unwrap().unwrap(), &payload(20)[..]);
}

/// A record whose write-out failed never reached the file: reading it again
/// is the poison's error, never `DamagedRecord` for the zeros where it
/// would have been (which a store would take for damage to acknowledged
/// data and answer by refusing to vote). Found by the openraft adapter's
/// model test: a reader's write-out takes the pending records with it when
/// it fails, and the next read found nothing left to write and read zeros.
#[test]
fn a_record_whose_write_out_failed_reads_as_the_poison_not_as_damage() {
    let mem = MemStorage::new();
    let dir = Path::new("/w");
    let (wal, _) = Wal::open(dir, WalOptions::small(mem.shared())).unwrap();
    fill(&wal, 3);
    let lsn = wal.append(&payload(4)).unwrap(); // appended, not written out
    mem.crash_after_ops(0); // every write fails from now on
    assert!(matches!(wal.read(lsn), Err(Error::Io { .. })), "the write-out fails");
    assert!(wal.is_poisoned());
    for _ in 0..2 {
        let e = wal.read(lsn).map(|r| r.is_some()).unwrap_err();
        assert!(matches!(e, Error::Poisoned { .. }), "{e:?}");
    }
    assert_eq!(&*wal.read(lsn - 1).unwrap().unwrap(), &payload(lsn - 1)[..], "what was written reads as before");
}
