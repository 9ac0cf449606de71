//! Reproducers the fuzzer (`fuzz/`, targets `store_open`, `store_ops`)
//! found, as plain scenario tests. The raw fuzz inputs are in
//! `fuzz/known-bugs/<target>/` while a bug is open (and move to
//! `fuzz/seeds/<target>/regress-*` with its fix).

use paxos_acceptor_store::{AcceptorStore, Ballot, GroupId, Op, Slot, StoreError, StoreOptions};
use paxos_store_testkit::store::{check_open_damaged_store, check_ops_with_crashes};
use paxos_wal::storage::{MemStorage, Storage};
use std::path::Path;

/// Found by `store_open` (fixed in paxos-recovery: every snapshot file still
/// under its name, readable or not, bounds the state recovery may return;
/// the inputs are now seeds `fuzz/seeds/store_open/regress-*`). Every log segment is
/// gone and the only checkpoint is damaged (bit rot, or a read error). The
/// log, finding no segment, starts afresh at LSN 1; the snapshot store
/// leaves the damaged checkpoint out of its list; recovery, seeing no
/// snapshot and a log that starts at 1, replays that empty log and opens
/// an *empty* store: every acknowledged promise and accept silently gone
/// (I1, I2), and the acceptor votes as if it had never promised. (With
/// the read error, the checkpoint is back after the next reboot and the
/// store then refuses to open: `LogBehindSnapshot`.)
///
/// The checkpoint's *name* proves that records up to its position were
/// acknowledged. Proposed fix (paxos-recovery, `recover`): take the
/// positions of every snapshot file by name (listing the directory, as the
/// snapshot store's `scan` does), and when no usable snapshot covers them,
/// replay from the start of the log only if the log reaches the highest of
/// them; otherwise fail with `LogNotCovered`/`LogBehindSnapshot` naming the
/// damaged snapshot. The same reasoning as the fix that keeps a dropped
/// all-zero segment's LSNs from being handed out again.
#[test]
fn a_damaged_checkpoint_and_a_lost_log_are_refused_not_opened_empty() {
    let mem = MemStorage::new();
    let opts = StoreOptions::small(mem.shared());
    let dir = Path::new("/r");
    let (s, _) = AcceptorStore::open(dir, opts.clone()).unwrap();
    s.promise(GroupId(1), Ballot::new(3, 1), Slot(0)).unwrap();
    s.accept(GroupId(1), Slot(0), Ballot::new(3, 1), b"chosen value").unwrap();
    let info = s.checkpoint().unwrap();
    drop(s);
    let wal = dir.join("wal");
    for name in mem.list(&wal).unwrap() {
        if name.ends_with(".wal") {
            mem.remove(&wal.join(name)).unwrap();
        }
    }
    mem.sync_dir(&wal).unwrap();
    let ckpt = dir.join("checkpoints").join(paxos_snapshot::format::snapshot_name(info.position));
    mem.corrupt(&ckpt, 20, 0x01).unwrap();
    match AcceptorStore::open(dir, opts) {
        Err(e) => eprintln!("refused: {e}"),
        Ok((s, report)) => panic!(
            "opened with group 1 promised {:?} (acknowledged: (3, 1)) and {:?}: {report}",
            s.promised(GroupId(1)),
            s.groups()
        ),
    }
}

/// Found by `store_ops` (fixed: a log read failure while resolving a reply
/// is the log's error; the input is now a seed, `regress-*`). A batch holds an
/// accept and then a promise whose phase-1b reply must carry that accept's
/// value. The store appends the record (buffered), then resolves the reply's
/// values by reading them back from the log, which first has to write the
/// record out. If that write fails (here: the process is dying, as after a
/// crash point; an EIO does the same), `Value::resolve` turns the log's I/O
/// error into `None`, and the call fails with `StoreError::MissingValue`
/// ("a value the store points at is no longer in the log: an internal
/// invariant broke") instead of the I/O error. The log is poisoned, so no
/// wrong reply goes out, but the error blames the store's own invariants for
/// a disk failure, and any read that has to write out records first has the
/// same problem.
///
/// Proposed fix: `Value::resolve` returns `Result<Option<Value>, paxos_wal::Error>`
/// and `AcceptorStore::resolve` maps a log error to `StoreError::Wal`
/// (keeping `MissingValue` for a record that is really gone); or the batch's
/// reply takes the values from the record it just built instead of reading
/// them back.
#[test]
fn a_log_failure_while_building_a_reply_is_reported_as_a_log_error() {
    let mem = MemStorage::new();
    let (s, _) = AcceptorStore::open("/m", StoreOptions::small(mem.shared())).unwrap();
    let (g, b) = (GroupId(2), Ballot::new(1, 1));
    s.promise(g, b, Slot(0)).unwrap();
    // The process dies at its next storage operation.
    mem.crash_after_ops(0);
    let r = s.apply_batch(&[
        Op::Accept { group: g, slot: Slot(6), ballot: b, value: b"v".to_vec() },
        Op::Promise { group: g, ballot: Ballot::new(3, 2), from_slot: Slot(1) },
    ]);
    assert!(matches!(r, Err(StoreError::Wal(_))), "{r:?}");
}

/// The raw fuzz inputs of bugs not fixed yet: `fuzz/known-bugs/store_open/`
/// (none open) and `fuzz/known-bugs/store_ops/`.
#[test]
fn known_bug_inputs_hold_their_properties() {
    type Check = fn(&[u8]) -> Result<(), paxos_store_testkit::wal::Violation>;
    let targets: [(&str, Check); 2] = [
        ("store_open", |d| check_open_damaged_store(d).map(|_| ())),
        ("store_ops", |d| check_ops_with_crashes(d).map(|_| ())),
    ];
    for (target, check) in targets {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/known-bugs").join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else { continue }; // none open
        for entry in entries {
            let path = entry.unwrap().path();
            if let Err(v) = check(&std::fs::read(&path).unwrap()) {
                panic!("{}: {v}", path.display());
            }
        }
    }
}

/// Found by `store_open` (input `fuzz/seeds/store_open/regress-op-header-swap`):
/// 48 bytes of one record's first operation header copied over another
/// record's passed the log's checks, and opening failed with "state
/// machine failed ... undecodable acceptor record" instead of reporting the
/// damaged record. The operation header carried a CRC-32 of the same
/// polynomial as the log's record checksum, and the XOR of two such
/// headers is a codeword the outer checksum cannot see. Fixed by checking
/// the operation header with CRC-32C. Now the damaged record is reported
/// as corruption of an acknowledged record (and salvaged as a hole).
#[test]
fn an_operation_header_copied_over_another_is_caught_by_the_log() {
    use paxos_wal::format::{decode_record, frame_len, SegmentHeader, HEADER_PAGE, RECORD_HEADER_LEN};
    use paxos_wal::CorruptionPolicy;
    let mem = MemStorage::new();
    let dir = Path::new("/swap");
    let opts = StoreOptions::small(mem.shared());
    let (s, _) = AcceptorStore::open(dir, opts.clone()).unwrap();
    s.accept(GroupId(1), Slot(1), Ballot::new(1, 1), &[b'a'; 56]).unwrap();
    s.accept(GroupId(2), Slot(7), Ballot::new(1, 1), &[b'b'; 12]).unwrap();
    s.accept(GroupId(3), Slot(9), Ballot::new(1, 1), b"after").unwrap();
    drop(s);
    let wal_dir = dir.join("wal");
    let name = mem.list(&wal_dir).unwrap().into_iter().find(|n| n.ends_with(".wal")).unwrap();
    let path = wal_dir.join(name);
    let mut seg = mem.read_file(&path).unwrap();
    let seq = SegmentHeader::decode(&seg).unwrap().seq.get();
    let first = HEADER_PAGE as usize;
    let second = first + frame_len(decode_record(&seg[first..], seq).unwrap().len as usize) as usize;
    // Payload = count:u32 reserved:u32 then the 48-byte operation header.
    let op = |frame: usize| frame + RECORD_HEADER_LEN + 8..frame + RECORD_HEADER_LEN + 8 + 48;
    let donor = seg[op(second)].to_vec();
    seg[op(first)].copy_from_slice(&donor);
    mem.put_file(&path, &seg).unwrap();

    match AcceptorStore::open(dir, opts.clone()) {
        Err(StoreError::Recovery(paxos_recovery::RecoveryError::Wal(paxos_wal::Error::Corruption { damage }))) => {
            assert!(damage.iter().any(|d| d.lsns.is_some()), "{damage:?}")
        }
        other => panic!("expected the damaged record reported as corruption, got {:?}", other.map(|(_, r)| r)),
    }
    let mut salvage = opts;
    salvage.log.policy = CorruptionPolicy::Salvage;
    let (s, report) = AcceptorStore::open(dir, salvage).unwrap();
    assert!(!report.to_string().is_empty());
    // The undamaged records are back; the damaged one is a reported hole.
    match s.accepted(GroupId(3), Slot(9)).unwrap() {
        paxos_acceptor_store::SlotRead::Accepted { value, .. } => assert_eq!(&*value, b"after"),
        other => panic!("the record after the damaged one is lost: {other:?}"),
    }
}
