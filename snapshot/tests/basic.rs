//! Everyday behaviour: round trips (in memory and streamed, on the real file
//! system and on the seam), keep-N pruning, rewriting a position, refusing a
//! superseded write, abandoned writers, locking, and the typed errors of
//! failing syncs and a full disk.

mod common;

use common::{dir, mem_opts, names, open_mem, payload, valid};
use paxos_snapshot::{SnapshotError, SnapshotOptions, SnapshotStore};
use paxos_storage::{MemStorage, Storage};
use std::io::{ErrorKind, Read, Write};

#[test]
fn small_round_trip_on_the_real_file_system_survives_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(tmp.path(), SnapshotOptions::default()).unwrap();
    assert_eq!(store.dir(), tmp.path());
    assert_eq!(store.latest_valid().unwrap().0, None);
    let meta = store.write(7, b"ballot=(3,1)", b"hello snapshot").unwrap();
    assert_eq!(meta.path, tmp.path().join("snap-00000000000000000007.snap"));
    assert_eq!((meta.position, meta.payload_len), (7, 14));
    let empty = store.write(8, b"", b"").unwrap();
    drop(store);
    let store = SnapshotStore::open(tmp.path(), SnapshotOptions::default()).unwrap();
    assert_eq!(store.list().unwrap(), vec![empty.clone(), meta.clone()]);
    let (latest, skipped) = store.latest_valid().unwrap();
    assert!(skipped.is_empty());
    assert_eq!(latest.as_ref(), Some(&empty));
    assert_eq!(store.read_all(&empty).unwrap(), b"");
    assert_eq!(store.read_all(&meta).unwrap(), b"hello snapshot");
    assert_eq!(store.list().unwrap()[1].metadata, b"ballot=(3,1)");
    let files: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(files.is_empty(), "temp files left: {files:?}");
}

/// Writes `data` in chunks of awkward sizes (1 byte up to past a buffer).
fn write_odd(w: &mut impl Write, data: &[u8]) {
    let sizes = [1usize, 7, 4093, 65_537, 3, 262_145, 999, 1 << 20];
    let (mut off, mut i) = (0, 0);
    while off < data.len() {
        let n = sizes[i % sizes.len()].min(data.len() - off);
        w.write_all(&data[off..off + n]).unwrap();
        off += n;
        i += 1;
    }
}

/// Reads everything with reads of awkward sizes.
fn read_odd(r: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let sizes = [5usize, 1, 70_001, 4096, 300_000];
    let mut out = Vec::new();
    let mut buf = vec![0u8; 300_000];
    for i in 0.. {
        let n = r.read(&mut buf[..sizes[i % sizes.len()]])?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
    unreachable!()
}

fn streamed_round_trip(store: &SnapshotStore) {
    let data = payload(1, (5 << 20) + 13);
    let metadata = payload(2, 1000);
    let mut w = store.begin(1 << 40, &metadata).unwrap();
    write_odd(&mut w, &data);
    assert_eq!(w.payload_len(), data.len() as u64);
    let meta = w.finish().unwrap();
    assert_eq!(meta.payload_len, data.len() as u64);
    let (latest, _) = store.latest_valid().unwrap();
    let latest = latest.unwrap();
    assert_eq!(latest, meta);
    assert_eq!(latest.metadata, metadata);
    let got = read_odd(&mut store.read(&latest).unwrap()).unwrap();
    assert!(got == data, "streamed payload differs (len {} vs {})", got.len(), data.len());
    assert!(store.read_all(&latest).unwrap() == data);
}

#[test]
fn multi_mib_streamed_round_trip_on_the_real_file_system() {
    let tmp = tempfile::tempdir().unwrap();
    streamed_round_trip(&SnapshotStore::open(tmp.path(), SnapshotOptions::default()).unwrap());
}

#[test]
fn multi_mib_streamed_round_trip_on_mem_storage() {
    let mem = MemStorage::new();
    let store = open_mem(&mem, 2);
    streamed_round_trip(&store);
    // Streaming writes whole chunks, not one write per `write` call.
    let before = mem.op_count();
    let mut w = store.begin(u64::MAX, b"").unwrap();
    write_odd(&mut w, &payload(3, 1 << 20));
    w.finish().unwrap();
    let ops = mem.op_count() - before;
    assert!(ops <= 12, "{ops} storage operations for a 1 MiB snapshot");
}

#[test]
fn keeps_the_newest_n_and_deletes_older_ones() {
    for keep in 1..=3usize {
        let mem = MemStorage::new();
        let store = open_mem(&mem, keep);
        for pos in 1..=6u64 {
            store.write(pos * 10, &pos.to_le_bytes(), &payload(pos, pos as usize * 100)).unwrap();
            let want: Vec<u64> = (1..=pos).rev().take(keep).map(|p| p * 10).collect();
            let got: Vec<u64> = store.list().unwrap().iter().map(|m| m.position).collect();
            assert_eq!(got, want, "keep {keep} after writing {pos}");
        }
        let kept = valid(&store);
        for (i, (pos, metadata, data)) in kept.iter().enumerate() {
            let p = 6 - i as u64;
            assert_eq!(
                (*pos, metadata.as_slice(), data),
                (p * 10, &p.to_le_bytes()[..], &payload(p, p as usize * 100))
            );
        }
        let snaps = names(&mem, &dir()).into_iter().filter(|n| n.ends_with(".snap")).count();
        assert_eq!(snaps, keep);
    }
}

#[test]
fn rewriting_a_position_replaces_it() {
    let mem = MemStorage::new();
    let store = open_mem(&mem, 2);
    store.write(5, b"old", b"first").unwrap();
    store.write(10, b"a", b"one").unwrap();
    store.write(10, b"b", b"two, longer").unwrap();
    assert_eq!(
        valid(&store),
        vec![(10, b"b".to_vec(), b"two, longer".to_vec()), (5, b"old".to_vec(), b"first".to_vec())]
    );
    assert_eq!(names(&mem, &dir()), vec!["snap-00000000000000000005.snap", "snap-00000000000000000010.snap"]);
}

#[test]
fn a_write_that_would_be_pruned_at_once_is_refused() {
    let mem = MemStorage::new();
    let store = open_mem(&mem, 2);
    store.write(30, b"", b"30").unwrap();
    store.write(20, b"", b"20").unwrap();
    let err = store.write(10, b"", b"10").unwrap_err();
    assert!(matches!(err, SnapshotError::Superseded { position: 10, keep: 2, newest: 30 }), "{err}");
    // Fits between the two: the oldest goes.
    store.write(25, b"", b"25").unwrap();
    let got: Vec<u64> = store.list().unwrap().iter().map(|m| m.position).collect();
    assert_eq!(got, vec![30, 25]);
    assert!(!names(&mem, &dir()).iter().any(|n| n.ends_with(".tmp")));
    // A damaged snapshot does not count as one of the kept.
    mem.corrupt(&dir().join("snap-00000000000000000030.snap"), 65, 1).unwrap();
    drop(store);
    let store = open_mem(&mem, 1);
    let err = store.write(10, b"", b"10").unwrap_err();
    assert!(matches!(err, SnapshotError::Superseded { position: 10, keep: 1, newest: 25 }), "{err}");
    store.write(27, b"", b"27").unwrap();
    let got: Vec<u64> = store.list().unwrap().iter().map(|m| m.position).collect();
    assert_eq!(got, vec![30, 27], "the damaged newer one stays (to be reported), 25 goes");
    let (latest, skipped) = store.latest_valid().unwrap();
    assert_eq!(latest.unwrap().position, 27);
    assert_eq!(skipped.len(), 1);
    assert!(matches!(skipped[0].error, SnapshotError::ChecksumMismatch { .. }), "{:?}", skipped[0]);
    // Past the damaged one: everything older than the newest valid goes.
    store.write(40, b"", b"40").unwrap();
    assert_eq!(names(&mem, &dir()), vec!["snap-00000000000000000040.snap"]);
}

#[test]
fn an_abandoned_writer_leaves_nothing_and_leftover_temp_files_are_removed_on_open() {
    let mem = MemStorage::new();
    let store = open_mem(&mem, 2);
    store.write(1, b"", b"one").unwrap();
    let mut w = store.begin(2, b"m").unwrap();
    w.write_all(&payload(2, 600_000)).unwrap();
    w.flush().unwrap();
    assert!(names(&mem, &dir()).iter().any(|n| n.ends_with(".tmp")), "the writer works in a temp file");
    assert_eq!(store.list().unwrap().len(), 1, "an unfinished snapshot is invisible");
    drop(w);
    assert_eq!(names(&mem, &dir()), vec!["snap-00000000000000000001.snap"]);
    drop(store);
    // A crashed writer's temp file, and files that are not ours.
    mem.put_file(&dir().join("snap-00000000000000000002.0.tmp"), &payload(9, 5000)).unwrap();
    mem.put_file(&dir().join("notes.tmp"), b"not ours").unwrap();
    mem.put_file(&dir().join("README"), b"not ours either").unwrap();
    let store = open_mem(&mem, 2);
    assert_eq!(names(&mem, &dir()), vec!["README", "notes.tmp", "snap-00000000000000000001.snap"]);
    let (latest, skipped) = store.latest_valid().unwrap();
    assert_eq!(latest.unwrap().position, 1);
    assert!(skipped.is_empty(), "unrelated files are not snapshots: {skipped:?}");
}

#[test]
fn a_second_open_of_the_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(tmp.path(), SnapshotOptions::default()).unwrap();
    let err = SnapshotStore::open(tmp.path(), SnapshotOptions::default()).unwrap_err();
    assert!(matches!(&err, SnapshotError::Locked { dir } if dir == tmp.path()), "{err}");
    drop(store);
    SnapshotStore::open(tmp.path(), SnapshotOptions::default()).unwrap();

    let mem = MemStorage::new();
    let store = open_mem(&mem, 2);
    assert!(matches!(SnapshotStore::open(dir(), mem_opts(&mem, 2)), Err(SnapshotError::Locked { .. })));
    drop(store);
    open_mem(&mem, 2);
}

#[test]
fn bad_options_and_oversized_metadata_are_typed_errors() {
    let mem = MemStorage::new();
    assert!(matches!(SnapshotStore::open(dir(), mem_opts(&mem, 0)), Err(SnapshotError::InvalidOptions(_))));
    let store = open_mem(&mem, 2);
    let big = vec![0u8; paxos_snapshot::format::MAX_METADATA_LEN + 1];
    assert!(matches!(store.begin(1, &big), Err(SnapshotError::MetadataTooLarge { .. })));
    assert!(names(&mem, &dir()).is_empty());
}

#[test]
fn a_failed_sync_poisons_the_store_until_reopened() {
    let mem = MemStorage::new();
    let store = open_mem(&mem, 2);
    let old = store.write(1, b"", b"old").unwrap();
    mem.fail_sync(0);
    let err = store.write(2, b"", b"new").unwrap_err();
    assert!(matches!(err, SnapshotError::Io { op: "syncing", .. }), "{err}");
    let err = store.write(3, b"", b"newer").unwrap_err();
    assert!(matches!(err, SnapshotError::Poisoned { .. }), "{err}");
    assert!(matches!(store.begin(3, b""), Err(SnapshotError::Poisoned { .. })));
    // Reading still works, and nothing of the failed write is visible.
    assert_eq!(store.latest_valid().unwrap().0, Some(old.clone()));
    assert_eq!(store.read_all(&old).unwrap(), b"old");
    drop(store);
    let store = open_mem(&mem, 2);
    assert_eq!(names(&mem, &dir()), vec!["snap-00000000000000000001.snap"]);
    store.write(2, b"", b"new").unwrap();
    assert_eq!(valid(&store).len(), 2);
}

#[test]
fn a_full_disk_is_a_typed_error_and_leaves_no_half_state() {
    let mem = MemStorage::new();
    let store = open_mem(&mem, 2);
    store.write(1, b"", &payload(1, 10_000)).unwrap();
    mem.set_capacity(Some(300_000));
    let mut w = store.begin(2, b"").unwrap();
    let res = w.write_all(&payload(2, 1 << 20));
    assert_eq!(res.unwrap_err().kind(), ErrorKind::StorageFull);
    let err = w.finish().unwrap_err();
    assert!(matches!(err, SnapshotError::NoSpace { .. }), "{err}");
    // The convenience form says the same.
    assert!(matches!(store.write(2, b"", &payload(2, 1 << 20)), Err(SnapshotError::NoSpace { .. })));
    assert_eq!(names(&mem, &dir()), vec!["snap-00000000000000000001.snap"]);
    mem.set_capacity(None);
    store.write(2, b"", b"fits now").unwrap();
    assert_eq!(store.latest_valid().unwrap().0.unwrap().position, 2);
}

#[test]
fn the_reader_withholds_the_last_chunk_of_a_damaged_payload() {
    let mem = MemStorage::new();
    let store = open_mem(&mem, 2);
    let data = payload(4, 700_000);
    let meta = store.write(4, b"", &data).unwrap();
    // Flip the last payload byte: header 64 bytes, no metadata.
    mem.corrupt(&meta.path, 64 + data.len() as u64 - 1, 0x40).unwrap();
    let mut r = store.read(&meta).unwrap();
    let mut got = Vec::new();
    let err = r.read_to_end(&mut got).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    let inner = err.get_ref().and_then(|e| e.downcast_ref::<SnapshotError>());
    assert!(matches!(inner, Some(SnapshotError::ChecksumMismatch { .. })), "{err}");
    assert!(got.len() < data.len(), "all {} bytes handed out before the mismatch was found", got.len());
    assert_eq!(got, data[..got.len()], "bytes before the damaged chunk are the written ones");
    // It stays failed.
    assert_eq!(r.read(&mut [0u8; 10]).unwrap_err().kind(), ErrorKind::InvalidData);
    assert!(matches!(store.read_all(&meta), Err(SnapshotError::ChecksumMismatch { .. })));
    // read_exact of exactly the payload length must fail too, not succeed without the end check.
    let mut buf = vec![0u8; data.len()];
    assert!(store.read(&meta).unwrap().read_exact(&mut buf).is_err());
}

#[test]
fn reading_a_snapshot_that_was_rewritten_since_it_was_listed_is_detected() {
    let mem = MemStorage::new();
    let store = open_mem(&mem, 2);
    let first = store.write(9, b"a", b"first").unwrap();
    store.write(9, b"b", b"second!").unwrap();
    assert!(matches!(store.read(&first), Err(SnapshotError::Changed { .. })));
}

#[test]
fn concurrent_writers_end_with_the_newest_n() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SnapshotStore>();
    fn assert_send<T: Send>() {}
    assert_send::<paxos_snapshot::SnapshotWriter>();
    assert_send::<paxos_snapshot::SnapshotReader>();

    let mem = MemStorage::new();
    let store = std::sync::Arc::new(open_mem(&mem, 3));
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..5u64 {
                    let pos = i * 4 + t + 1;
                    match store.write(pos, b"", &payload(pos, 3000)) {
                        Ok(_) | Err(SnapshotError::Superseded { .. }) => {}
                        Err(e) => panic!("write {pos}: {e}"),
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let got: Vec<u64> = valid(&store).iter().map(|v| v.0).collect();
    assert_eq!(got, vec![20, 19, 18]);
    for (pos, _, data) in valid(&store) {
        assert_eq!(data, payload(pos, 3000));
    }
    assert_eq!(mem.list(&dir()).unwrap().len(), 3);
}

#[test]
fn syncing_part_way_publishes_nothing_and_a_failed_one_poisons() {
    let mem = MemStorage::new();
    let store = open_mem(&mem, 2);
    let mut w = store.begin(1, b"m").unwrap();
    w.write_all(&payload(1, 300_000)).unwrap();
    let syncs = mem.sync_count();
    w.sync_data().unwrap();
    assert!(mem.sync_count() > syncs, "the part written was synced");
    assert_eq!(store.latest_valid().unwrap().0, None, "nothing visible before finish");
    w.write_all(&payload(2, 1000)).unwrap();
    let meta = w.finish().unwrap();
    let mut want = payload(1, 300_000);
    want.extend(payload(2, 1000));
    assert_eq!(store.read_all(&meta).unwrap(), want);

    let mut w = store.begin(2, b"").unwrap();
    w.write_all(b"doomed").unwrap();
    mem.fail_sync(0);
    assert!(matches!(w.sync_data(), Err(SnapshotError::Io { op: "syncing", .. })));
    assert!(w.finish().is_err());
    assert!(matches!(store.write(3, b"", b"x"), Err(SnapshotError::Poisoned { .. })));
    assert_eq!(store.latest_valid().unwrap().0, Some(meta));
}

/// `read_to_end` (which reserves the payload's length up front) after a
/// partial `read` hands out exactly the rest, in one allocation.
#[test]
fn read_to_end_after_a_partial_read_gets_the_rest_in_one_allocation() {
    let mem = MemStorage::new();
    let store = open_mem(&mem, 2);
    let data = payload(5, 700_000);
    let meta = store.write(5, b"", &data).unwrap();
    let mut r = store.read(&meta).unwrap();
    let mut head = [0u8; 1000];
    r.read_exact(&mut head).unwrap();
    let mut rest = b"before".to_vec();
    assert_eq!(r.read_to_end(&mut rest).unwrap(), data.len() - 1000);
    assert_eq!(&rest[..6], b"before");
    assert_eq!(rest[6..], data[1000..]);
    assert_eq!(rest.capacity(), 6 + data.len() - 1000, "reserved exactly once");
    assert_eq!(r.read_to_end(&mut rest).unwrap(), 0);
}
