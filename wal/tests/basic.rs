//! Everyday behaviour of the log on the real file system and on the
//! in-memory seam: append, read, reopen, roll over, truncate, group commit,
//! and the typed errors of misuse.

use paxos_wal::storage::MemStorage;
use paxos_wal::{Error, Wal, WalOptions};
use std::path::Path;
use std::sync::Arc;

fn small_fs() -> WalOptions {
    WalOptions { segment_size: 64 << 10, ..Default::default() }
}

fn payload(i: u64) -> Vec<u8> {
    let len = (i * 37 % 700) as usize;
    (0..len).map(|j| (i as usize * 31 + j) as u8).collect()
}

#[test]
fn records_survive_reopen_across_many_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(dir.path(), small_fs()).unwrap();
    for i in 1..=500u64 {
        assert_eq!(wal.append(&payload(i)).unwrap(), i);
    }
    wal.sync().unwrap();
    assert!(wal.segment_count() > 3, "expected roll-overs, got {} segments", wal.segment_count());
    for i in 1..=500u64 {
        assert_eq!(&*wal.read(i).unwrap().unwrap(), &payload(i)[..], "lsn {i}");
    }
    drop(wal);
    let (wal, report) = Wal::open(dir.path(), small_fs()).unwrap();
    assert_eq!(report.records, 500);
    assert_eq!((report.first_lsn, report.last_lsn), (1, 500));
    assert!(report.torn_tail.is_none() && report.damage.is_empty(), "{report}");
    assert_eq!(report.durable_watermark, 500);
    let got: Vec<(u64, Vec<u8>)> =
        wal.iter_from(1).unwrap().map(|r| r.unwrap()).map(|r| (r.lsn(), r.to_vec())).collect();
    assert_eq!(got.len(), 500);
    for (lsn, bytes) in got {
        assert_eq!(bytes, payload(lsn));
    }
    assert_eq!(wal.append(b"next").unwrap(), 501);
}

#[test]
fn delete_segments_before_removes_whole_segments_only() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(dir.path(), small_fs()).unwrap();
    for i in 1..=400u64 {
        wal.append(&payload(i)).unwrap();
    }
    wal.sync().unwrap();
    let before = wal.segment_count();
    let starts = wal.segment_starts();
    assert!(starts.len() == before && starts[0] == 1 && starts.windows(2).all(|w| w[0] < w[1]), "{starts:?}");
    let removed = wal.delete_segments_before(300).unwrap();
    assert!(removed > 0);
    assert_eq!(wal.segment_count(), before - removed);
    let first = wal.first_lsn();
    assert!(first <= 300 && first > 1, "first lsn {first}");
    assert!(wal.read(first - 1).unwrap().is_none());
    assert_eq!(&*wal.read(300).unwrap().unwrap(), &payload(300)[..]);
    drop(wal);
    let (wal, report) = Wal::open(dir.path(), small_fs()).unwrap();
    assert_eq!(report.first_lsn, first);
    assert_eq!(wal.iter_from(0).unwrap().next().unwrap().unwrap().lsn(), first);
    // Cutting at a segment's start deletes exactly the segments before it.
    let starts = wal.segment_starts();
    assert!(starts.len() >= 2 && starts[0] == first, "{starts:?}");
    assert_eq!(wal.delete_segments_before(starts[1]).unwrap(), 1);
    assert_eq!((wal.first_lsn(), wal.segment_starts()), (starts[1], starts[1..].to_vec()));
    // Truncating everything keeps the active segment.
    wal.delete_segments_before(u64::MAX).unwrap();
    assert_eq!(wal.segment_count(), 1);
    assert_eq!(&*wal.read(400).unwrap().unwrap(), &payload(400)[..]);
}

#[test]
fn concurrent_writers_share_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(dir.path(), WalOptions { segment_size: 1 << 20, ..Default::default() }).unwrap();
    let wal = Arc::new(wal);
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let wal = wal.clone();
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                for i in 0..50u64 {
                    let body = format!("t{t}-{i}");
                    let lsn = wal.append_durable(body.as_bytes()).unwrap();
                    assert!(wal.durable_lsn() >= lsn);
                    mine.push((lsn, body));
                }
                mine
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in threads {
        all.extend(t.join().unwrap());
    }
    all.sort();
    assert_eq!(all.len(), 800);
    for (i, (lsn, body)) in all.iter().enumerate() {
        assert_eq!(*lsn, i as u64 + 1);
        assert_eq!(&*wal.read(*lsn).unwrap().unwrap(), body.as_bytes());
    }
    let stats = wal.stats();
    assert_eq!(stats.appends, 800);
    assert!(stats.syncs <= 800, "{stats:?}");
}

/// A deleted segment's blocks are given back a MiB at a time (a shrink and
/// a sync before each `between` call), after it left the directory; one
/// whose record a reader still holds stays whole (no call), and the record
/// still reads (a shrunk mapping would be a SIGBUS here).
#[test]
fn deleted_segments_are_given_back_a_mib_at_a_time_unless_a_reader_holds_one() {
    let dir = tempfile::tempdir().unwrap();
    let opts = WalOptions { segment_size: 3 << 20, ..Default::default() };
    let (wal, _) = Wal::open(dir.path(), opts).unwrap();
    let body = vec![0x5au8; 64 << 10];
    while wal.segment_count() < 4 {
        wal.append(&body).unwrap();
    }
    wal.sync().unwrap();
    let starts = wal.segment_starts();
    let size_of =
        |first: u64| std::fs::metadata(dir.path().join(paxos_wal::format::segment_name(first))).unwrap().len();
    let (first, second) = (size_of(starts[0]), size_of(starts[1]));
    assert!(first > 2 << 20, "a segment of {first} bytes");
    // The first segment goes with no reader: one call per MiB.
    let mut calls = 0;
    assert_eq!(wal.delete_segments_before_with(starts[1], || calls += 1).unwrap(), 1);
    assert_eq!(calls, first.div_ceil(1 << 20));
    assert!(!dir.path().join(paxos_wal::format::segment_name(starts[0])).exists());
    // The second one's first record is held: no call, and it still reads.
    let held = wal.read(starts[1]).unwrap().unwrap();
    let mut calls = 0;
    assert_eq!(wal.delete_segments_before_with(starts[2], || calls += 1).unwrap(), 1);
    assert_eq!(calls, 0, "a segment of {second} bytes with a record held was shrunk");
    assert_eq!(&*held, &body[..]);
    drop(held);
    assert_eq!(&*wal.read(starts[2]).unwrap().unwrap(), &body[..]);
}

/// On the simulated disk too: a deleted segment nothing holds is shrunk to
/// nothing (its bytes counted free, a call per piece), one a reader holds is
/// left whole, and a power loss afterwards brings neither back.
#[test]
fn deleted_segments_are_given_back_on_the_simulated_disk_too() {
    let mem = MemStorage::new();
    let opts = WalOptions::small(mem.shared());
    let (wal, _) = Wal::open(Path::new("/w"), opts.clone()).unwrap();
    while wal.segment_count() < 4 {
        wal.append(&[0x5a; 1000]).unwrap();
    }
    wal.sync().unwrap();
    let starts = wal.segment_starts();
    let used = mem.used_bytes();
    let mut calls = 0;
    assert_eq!(wal.delete_segments_before_with(starts[1], || calls += 1).unwrap(), 1);
    assert_eq!(calls, 1, "a segment below a MiB is one piece");
    let freed = used - mem.used_bytes();
    assert_eq!(freed, opts.segment_size, "the deleted segment's bytes were not counted free");
    let held = wal.read(starts[1]).unwrap().unwrap();
    let mut calls = 0;
    assert_eq!(wal.delete_segments_before_with(starts[2], || calls += 1).unwrap(), 1);
    assert_eq!(calls, 0, "a segment with a record held was shrunk");
    assert_eq!(&*held, &[0x5a; 1000][..]);
    drop(held);
    let last = wal.last_lsn();
    drop(wal);
    mem.crash(
        paxos_wal::storage::CrashKind::PowerLoss,
        &mut <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(7),
    );
    let (wal, _) = Wal::open(Path::new("/w"), opts).unwrap();
    assert_eq!(wal.segment_starts()[0], starts[2]);
    assert_eq!(wal.last_lsn(), last);
    for lsn in starts[2]..=last {
        assert_eq!(&*wal.read(lsn).unwrap().unwrap(), &[0x5a; 1000][..]);
    }
}

#[test]
fn second_open_of_a_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_wal, _) = Wal::open(dir.path(), small_fs()).unwrap();
    match Wal::open(dir.path(), small_fs()) {
        Err(Error::Locked { dir: d }) => assert_eq!(d, dir.path()),
        other => panic!("expected Locked, got {other:?}"),
    }
}

#[test]
fn oversized_records_get_a_typed_error_and_write_nothing() {
    let mem = MemStorage::new();
    let (wal, _) = Wal::open(Path::new("/w"), WalOptions::small(mem.shared())).unwrap();
    let max = wal.max_record_size();
    assert!(max < 64 << 10);
    match wal.append(&vec![1u8; max + 1]) {
        Err(Error::RecordTooLarge { len, max: m }) => assert_eq!((len, m), (max + 1, max)),
        other => panic!("expected RecordTooLarge, got {other:?}"),
    }
    assert_eq!(wal.last_lsn(), 0);
    assert_eq!(wal.append(&vec![2u8; max]).unwrap(), 1);
    wal.sync().unwrap();
    assert_eq!(wal.read(1).unwrap().unwrap().len(), max);
}

#[test]
fn a_failed_sync_poisons_the_log_and_reopen_recovers() {
    let mem = MemStorage::new();
    let opts = WalOptions::small(mem.shared());
    let (wal, _) = Wal::open(Path::new("/w"), opts.clone()).unwrap();
    wal.append_durable(b"one").unwrap();
    mem.fail_sync(0);
    wal.append(b"two").unwrap();
    match wal.sync() {
        Err(Error::Poisoned { cause }) => assert!(cause.to_string().contains("syncing"), "{cause}"),
        other => panic!("expected the sync error, got {other:?}"),
    }
    assert!(wal.is_poisoned());
    assert_eq!(wal.durable_lsn(), 1);
    assert!(matches!(wal.append(b"three"), Err(Error::Poisoned { .. })));
    assert!(matches!(wal.sync(), Err(Error::Poisoned { .. })));
    assert!(matches!(wal.delete_segments_before(1), Err(Error::Poisoned { .. })));
    // The failed sync dropped the page: a power loss now loses "two", never "one".
    drop(wal);
    mem.crash(paxos_wal::storage::CrashKind::PowerLoss, &mut rand::rng());
    let (wal, _) = Wal::open(Path::new("/w"), opts).unwrap();
    assert_eq!(&*wal.read(1).unwrap().unwrap(), b"one");
    assert!(wal.last_lsn() <= 2);
    let n = wal.append_durable(b"after").unwrap();
    assert_eq!(&*wal.read(n).unwrap().unwrap(), b"after");
}

#[test]
fn a_full_disk_at_preallocation_is_a_typed_error_and_the_log_stays_readable() {
    let mem = MemStorage::new();
    let opts = WalOptions::small(mem.shared());
    let (wal, _) = Wal::open(Path::new("/w"), opts.clone()).unwrap();
    mem.set_capacity(Some(100 << 10)); // room for one more segment at most
    let mut last_ok = 0;
    let err = loop {
        match wal.append(&[7u8; 1000]) {
            Ok(lsn) => last_ok = lsn,
            Err(e) => break e,
        }
    };
    assert!(matches!(err, Error::NoSpace { .. }), "{err:?}");
    assert!(!wal.is_poisoned());
    wal.sync().unwrap();
    assert_eq!(wal.read(last_ok).unwrap().unwrap().len(), 1000);
    mem.set_capacity(None);
    let lsn = wal.append_durable(b"space again").unwrap();
    assert_eq!(lsn, last_ok + 1);
    drop(wal);
    let (wal, report) = Wal::open(Path::new("/w"), opts).unwrap();
    assert_eq!(report.last_lsn, lsn);
    assert!(report.removed_temp_files.is_empty(), "{report}");
    assert_eq!(&*wal.read(lsn).unwrap().unwrap(), b"space again");
}

#[test]
fn write_modes_all_round_trip() {
    for mode in [paxos_wal::WriteMode::Pwrite, paxos_wal::WriteMode::Dsync, paxos_wal::WriteMode::Mmap] {
        let dir = tempfile::tempdir().unwrap();
        let opts = WalOptions { write_mode: mode, ..small_fs() };
        let (wal, _) = Wal::open(dir.path(), opts.clone()).unwrap();
        for i in 1..=200u64 {
            wal.append(&payload(i)).unwrap();
            if i % 7 == 0 {
                wal.sync().unwrap();
            }
        }
        wal.sync().unwrap();
        drop(wal);
        let (wal, report) = Wal::open(dir.path(), opts).unwrap();
        assert_eq!(report.records, 200, "{mode:?}: {report}");
        for i in 1..=200u64 {
            assert_eq!(&*wal.read(i).unwrap().unwrap(), &payload(i)[..], "{mode:?} lsn {i}");
        }
    }
}

#[test]
fn a_dropped_all_zero_only_segment_does_not_restart_lsns() {
    let mem = MemStorage::new();
    let dir = Path::new("/z");
    let opts = WalOptions::small(mem.shared());
    drop(Wal::open(dir, opts.clone()).unwrap());
    for name in paxos_wal::storage::Storage::list(&mem, dir).unwrap() {
        if name.ends_with(".wal") {
            paxos_wal::storage::Storage::remove(&mem, &dir.join(name)).unwrap();
        }
    }
    // Only an all-zero segment named for lsn 1000 is left (external damage).
    mem.put_file(&dir.join(paxos_wal::format::segment_name(1000)), &vec![0u8; 64 << 10]).unwrap();
    // The manifest still names segment 1: that is damage.
    let err = Wal::open(dir, opts.clone()).unwrap_err();
    assert!(matches!(err, paxos_wal::Error::LostSegment { .. }), "{err}");
    // Without the manifest either (a log from before manifests, or a crash
    // while a log was being created), the zero segment is dropped but still
    // tells where the log had got to.
    paxos_wal::storage::Storage::remove(&mem, &dir.join(paxos_wal::format::MANIFEST_FILE)).unwrap();
    let (wal, report) = Wal::open(dir, opts).unwrap();
    assert!(report.dropped_empty_segment.is_some());
    assert!(!report.created);
    assert_eq!(wal.append(b"next").unwrap(), 1000, "lsns below the dropped segment are never reused");
}

#[test]
fn a_dropped_mem_storage_frees_its_files() {
    let mem = MemStorage::new();
    let (wal, _) = Wal::open(Path::new("/leak"), WalOptions::small(mem.shared())).unwrap();
    wal.append_durable(b"x").unwrap();
    assert!(mem.handles() > 1, "the open log holds the file system");
    drop(wal);
    assert_eq!(mem.handles(), 1, "files must not keep their file system alive");
}

/// A spare segment the last run prepared (full size, all zeros) is the next
/// segment after a reopen: not deleted, not zeroed again, not reported as a
/// leftover. One cut short by a crash is removed and reported.
#[test]
fn a_prepared_spare_is_reused_after_a_reopen() {
    let mem = MemStorage::new();
    let dir = Path::new("/spare");
    let opts = WalOptions { background_prepare: true, ..WalOptions::small(mem.shared()) };
    let (wal, _) = Wal::open(dir, opts.clone()).unwrap();
    wal.append_durable(b"one").unwrap();
    wal.close().unwrap(); // joins the preparer: the spare is complete
    let spares = |mem: &MemStorage| -> Vec<String> {
        let mut l = paxos_wal::storage::Storage::list(mem, dir).unwrap();
        l.retain(|n| n.starts_with("prepare-"));
        l.sort();
        l
    };
    let before = spares(&mem);
    assert_eq!(before.len(), 1, "{before:?}");
    let syncs = mem.sync_count();
    let (wal, report) = Wal::open(dir, opts.clone()).unwrap();
    assert!(report.removed_temp_files.is_empty(), "{report}");
    assert_eq!(spares(&mem), before, "the spare was replaced");
    while wal.stats().rollovers == 0 {
        wal.append(&[5u8; 1000]).unwrap();
    }
    wal.sync().unwrap();
    assert_eq!(wal.stats().stalled_rollovers, 0);
    assert!(!spares(&mem).contains(&before[0]), "the spare became the new segment");
    assert!(mem.sync_count() > syncs);
    drop(wal);

    // A spare cut short (a crash while it was being zeroed) is removed.
    let (wal, _) = Wal::open(dir, opts.clone()).unwrap();
    wal.close().unwrap();
    let name = spares(&mem).pop().unwrap();
    mem.truncate_file(&dir.join(&name), 4096).unwrap();
    let (_, report) = Wal::open(dir, opts).unwrap();
    assert_eq!(report.removed_temp_files, [name], "{report}");
}
