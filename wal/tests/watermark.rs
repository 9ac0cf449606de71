//! The durable-watermark slot written at most once per
//! `WalOptions::watermark_interval`: a round within the interval leaves its
//! watermark pending, a thread writes it later, and dropping the log writes
//! nothing.

mod common;

use common::*;
use paxos_wal::format::{SegmentHeader, WatermarkSlot, RECORD_HEADER_LEN, WATERMARK_LEN, WATERMARK_SLOTS};
use paxos_wal::storage::{CrashKind, MemStorage};
use paxos_wal::{CorruptionPolicy, Error, Wal, WalOptions, WriteMode};
use std::time::{Duration, Instant};

/// The highest intact watermark slot of the first segment, as the file
/// (page cache included) holds it now.
fn slot_watermark(mem: &MemStorage) -> u64 {
    let seg = mem.read_file(&seg_path(1)).unwrap();
    let seq = SegmentHeader::decode(&seg).unwrap().seq.get();
    WATERMARK_SLOTS
        .iter()
        .filter_map(|&s| WatermarkSlot::decode(&seg[s as usize..s as usize + WATERMARK_LEN], seq))
        .max()
        .unwrap_or(0)
}

/// Flip the first payload byte of record `lsn` (in the first segment) and
/// check that opening reports it as corruption of that LSN, not a torn tail.
fn assert_flip_in_record_is_corruption(mem: &MemStorage, lsn: u64, what: &str) {
    let mut seg = mem.read_file(&seg_path(1)).unwrap();
    let at = frames(&seg).iter().find(|f| f.lsn == lsn).expect("the record is in the first segment").offset as usize;
    seg[at + RECORD_HEADER_LEN] ^= 0x01;
    mem.put_file(&seg_path(1), &seg).unwrap();
    match Wal::open(dir(), with_interval(mem, Duration::ZERO)) {
        Err(Error::Corruption { damage }) => {
            assert!(damage.iter().any(|d| d.lsns == Some((lsn, lsn))), "{what}: {damage:?}")
        }
        other => panic!("{what}: expected corruption of lsn {lsn}, got {:?}", other.map(|(_, r)| r.to_string())),
    }
}

fn with_interval(mem: &MemStorage, interval: Duration) -> WalOptions {
    WalOptions { watermark_interval: interval, ..opts(mem, CorruptionPolicy::TolerateTornTail) }
}

#[test]
fn a_round_within_the_interval_leaves_the_slot_for_later_and_drop_writes_nothing() {
    let mem = MemStorage::new();
    let (wal, _) = Wal::open(dir(), with_interval(&mem, Duration::from_secs(3600))).unwrap();
    wal.append_durable(b"one").unwrap();
    assert_eq!(slot_watermark(&mem), 1, "the first round writes its slot at once");
    wal.append_durable(b"two").unwrap();
    wal.append_durable(b"three").unwrap();
    assert_eq!(slot_watermark(&mem), 1, "rounds within the interval leave the slot alone");
    drop(wal);
    assert_eq!(slot_watermark(&mem), 1, "dropping the log must look like a crash: no write");
    // Records still vouch for each other: 3 was appended when 2 was durable.
    let (_, report) = Wal::open(dir(), with_interval(&mem, Duration::ZERO)).unwrap();
    assert_eq!(report.durable_watermark, 2, "{report}");
}

#[test]
fn a_zero_interval_writes_the_slot_after_every_round() {
    let mem = MemStorage::new();
    let (wal, _) = Wal::open(dir(), with_interval(&mem, Duration::ZERO)).unwrap();
    for n in 1..=5 {
        wal.append_durable(&payload(n, 0, 64)).unwrap();
        assert_eq!(slot_watermark(&mem), n);
    }
}

/// Fault-model case 7 with a deferred slot: once the interval has passed,
/// a bit flip in the last acknowledged record (no later record vouches for
/// it) is corruption, not a torn tail.
#[test]
fn the_pending_watermark_is_written_after_the_interval_and_proves_the_last_record() {
    let mem = MemStorage::new();
    let (wal, _) = Wal::open(dir(), with_interval(&mem, Duration::from_millis(20))).unwrap();
    for n in 1..=3 {
        wal.append_durable(&payload(n, 0, 64)).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while slot_watermark(&mem) < 3 {
        assert!(Instant::now() < deadline, "the pending watermark was never written");
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(wal);
    mem.crash(CrashKind::Process, &mut rng(1));
    assert_flip_in_record_is_corruption(&mem, 3, "deferred slot");
}

/// `close` makes the pending watermark durable: after a power loss, a bit
/// flip in the last acknowledged record is still corruption, not a torn
/// tail, though the interval never passed.
#[test]
fn close_makes_the_pending_watermark_durable() {
    for mode in [WriteMode::Pwrite, WriteMode::Dsync, WriteMode::Mmap] {
        let mem = MemStorage::new();
        let opts = WalOptions { write_mode: mode, ..with_interval(&mem, Duration::from_secs(3600)) };
        let (wal, _) = Wal::open(dir(), opts).unwrap();
        for n in 1..=3 {
            wal.append_durable(&payload(n, 0, 64)).unwrap();
        }
        wal.append(&payload(4, 0, 64)).unwrap();
        assert_eq!(slot_watermark(&mem), 1, "{mode:?}: rounds within the interval left the slot alone");
        wal.close().unwrap();
        mem.crash(CrashKind::PowerLoss, &mut rng(3));
        assert_eq!(slot_watermark(&mem), 4, "{mode:?}: close synced everything and its watermark");
        assert_flip_in_record_is_corruption(&mem, 4, &format!("{mode:?}"));
    }
}

/// A failed sync of the watermark poisons the log, and a second try does
/// not report success: the slot it wrote may never have reached the disk.
#[test]
fn sync_watermark_after_its_own_failed_sync_fails() {
    let mem = MemStorage::new();
    let (wal, _) = Wal::open(dir(), with_interval(&mem, Duration::from_secs(3600))).unwrap();
    for n in 1..=3 {
        wal.append_durable(&payload(n, 0, 64)).unwrap();
    }
    mem.fail_sync(0);
    assert!(wal.sync_watermark().is_err());
    assert!(matches!(wal.sync_watermark(), Err(Error::Poisoned { .. })));
    assert!(matches!(wal.close(), Err(Error::Poisoned { .. })));
}

/// An interval too large to add to an instant means "never due": the
/// pending slot waits for `close`, and nothing panics.
#[test]
fn a_huge_interval_leaves_the_slot_to_close() {
    let mem = MemStorage::new();
    let (wal, _) = Wal::open(dir(), with_interval(&mem, Duration::MAX)).unwrap();
    for n in 1..=3 {
        wal.append_durable(&payload(n, 0, 64)).unwrap();
    }
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(slot_watermark(&mem), 1);
    wal.close().unwrap();
    assert_eq!(slot_watermark(&mem), 3);
}

#[test]
fn close_on_a_poisoned_log_fails() {
    let mem = MemStorage::new();
    let (wal, _) = Wal::open(dir(), with_interval(&mem, Duration::from_secs(3600))).unwrap();
    wal.append_durable(b"one").unwrap();
    mem.fail_sync(0);
    wal.append(b"two").unwrap();
    assert!(wal.sync().is_err());
    assert!(matches!(wal.close(), Err(Error::Poisoned { .. })));
}
