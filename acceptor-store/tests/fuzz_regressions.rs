//! Reproducers the fuzzer (`fuzz/`, target `store_open`) found, as plain
//! scenario tests. The raw fuzz inputs are in `fuzz/known-bugs/store_open/`
//! while a bug is open (and move to `fuzz/seeds/store_open/regress-*` with
//! its fix).

use paxos_acceptor_store::fuzzing::check_open_damaged_store;
use paxos_acceptor_store::{AcceptorStore, Ballot, GroupId, Slot, StoreOptions};
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

/// The raw fuzz inputs of bugs not fixed yet (`fuzz/known-bugs/store_open/`).
#[test]
fn known_bug_inputs_hold_their_properties() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/known-bugs/store_open");
    let Ok(entries) = std::fs::read_dir(&dir) else { return }; // none open
    for entry in entries {
        let path = entry.unwrap().path();
        let input = std::fs::read(&path).unwrap();
        if let Err(v) = check_open_damaged_store(&input) {
            panic!("{}: {v}", path.display());
        }
    }
}
