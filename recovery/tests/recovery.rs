//! Recovery of a small key-value state machine from snapshots plus the log,
//! through the in-memory fault seam: fallback to an older snapshot, the
//! error when the log no longer covers any, and a property test with random
//! snapshots, truncations and power losses against a model.

use paxos_recovery::*;
use paxos_snapshot::SnapshotOptions;
use paxos_wal::storage::{CrashKind, MemStorage};
use paxos_wal::{Record, WalOptions};
use proptest::prelude::*;
use rand::SeedableRng;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// State: a map; a record is `key:u64 value:u64`; a snapshot is the map.
#[derive(Default, Debug, PartialEq, Eq, Clone)]
struct Kv(BTreeMap<u64, u64>);

impl Kv {
    fn encode(&self) -> Vec<u8> {
        self.0.iter().flat_map(|(k, v)| k.to_le_bytes().into_iter().chain(v.to_le_bytes())).collect()
    }
    fn put(&mut self, rec: &[u8]) {
        let k = u64::from_le_bytes(rec[..8].try_into().unwrap());
        let v = u64::from_le_bytes(rec[8..16].try_into().unwrap());
        self.0.insert(k, v);
    }
}

impl StateMachine for Kv {
    fn restore(&mut self, _position: u64, metadata: &[u8], payload: &mut dyn Read) -> Result<(), BoxError> {
        assert_eq!(metadata, b"kv");
        let mut bytes = Vec::new();
        payload.read_to_end(&mut bytes)?;
        self.0.clear();
        for pair in bytes.chunks(16) {
            self.put(pair);
        }
        Ok(())
    }
    fn apply(&mut self, record: &Record) -> Result<(), BoxError> {
        if record.len() != 16 {
            return Err("bad record".into());
        }
        self.put(record);
        Ok(())
    }
}

fn rec(k: u64, v: u64) -> Vec<u8> {
    let mut r = k.to_le_bytes().to_vec();
    r.extend_from_slice(&v.to_le_bytes());
    r
}

fn opts(mem: &MemStorage) -> RecoveryOptions {
    RecoveryOptions {
        wal: WalOptions { segment_size: 16 << 10, ..WalOptions::small(mem.shared()) },
        snapshots: SnapshotOptions { keep: 2, storage: mem.shared() },
    }
}

const WAL: &str = "/r/wal";
const SNAP: &str = "/r/snap";

/// Write `n` records, with snapshots after records `snap_at`; returns the
/// model state after each record (index = lsn).
fn build(mem: &MemStorage, n: u64, snap_at: &[u64]) -> Vec<Kv> {
    let mut kv = Kv::default();
    let r = recover(WAL, SNAP, opts(mem), &mut kv).unwrap();
    let mut states = vec![Kv::default()];
    let mut model = Kv::default();
    for i in 1..=n {
        let record = rec(i % 17, i);
        let lsn = r.wal.append(&record).unwrap();
        assert_eq!(lsn, i);
        model.put(&record);
        states.push(model.clone());
        if snap_at.contains(&i) {
            r.wal.sync().unwrap();
            r.snapshots.write(i, b"kv", &model.encode()).unwrap();
        }
    }
    r.wal.sync().unwrap();
    states
}

#[test]
fn replays_the_log_after_the_newest_snapshot() {
    let mem = MemStorage::new();
    let states = build(&mem, 300, &[100, 200]);
    let mut kv = Kv::default();
    let r = recover(WAL, SNAP, opts(&mem), &mut kv).unwrap();
    assert_eq!(kv, states[300]);
    assert_eq!(r.report.snapshot.as_ref().unwrap().position, 200);
    assert_eq!(r.report.records_replayed, 100);
    assert_eq!(r.report.replayed_lsns, Some((201, 300)));
    assert!(r.report.skipped_snapshots.is_empty());
    let json = serde_json::to_string(&r.report).unwrap();
    assert!(json.contains("\"records_replayed\":100"), "{json}");
    let text = r.report.to_string();
    assert!(text.contains("replayed:   100 records"), "{text}");
}

#[test]
fn a_damaged_newest_snapshot_falls_back_to_the_older_one() {
    let mem = MemStorage::new();
    let states = build(&mem, 300, &[100, 200]);
    let newest = Path::new(SNAP).join(format!("snap-{:020}.snap", 200));
    let len = mem.read_file(&newest).unwrap().len() as u64;
    mem.corrupt(&newest, len - 20, 0x40).unwrap();
    let mut kv = Kv::default();
    let r = recover(WAL, SNAP, opts(&mem), &mut kv).unwrap();
    assert_eq!(kv, states[300], "older snapshot + longer replay gives the same state");
    assert_eq!(r.report.snapshot.as_ref().unwrap().position, 100);
    assert_eq!(r.report.records_replayed, 200);
    assert_eq!(r.report.skipped_snapshots.len(), 1);
    assert_eq!(r.report.skipped_snapshots[0].path, newest);
}

#[test]
fn a_damaged_snapshot_with_the_log_truncated_past_it_is_a_clear_error() {
    let mem = MemStorage::new();
    build(&mem, 600, &[100, 500]);
    {
        let mut kv = Kv::default();
        let r = recover(WAL, SNAP, opts(&mem), &mut kv).unwrap();
        assert!(r.wal.delete_segments_before(501).unwrap() > 0);
        assert!(r.wal.first_lsn() > 101);
    }
    let newest = Path::new(SNAP).join(format!("snap-{:020}.snap", 500));
    mem.corrupt(&newest, 100, 0x01).unwrap();
    let mut kv = Kv::default();
    match recover(WAL, SNAP, opts(&mem), &mut kv) {
        Err(e @ RecoveryError::LogNotCovered { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("snap-00000000000000000500.snap"), "names the damaged snapshot: {msg}");
            assert!(msg.contains("snap-00000000000000000100.snap"), "names the uncovered one: {msg}");
            assert!(msg.contains("/r/wal"), "names the log: {msg}");
        }
        other => panic!("expected LogNotCovered, got {other:?}"),
    }
}

#[derive(Clone, Debug)]
enum Step {
    Put(u64, u64),
    Sync,
    Snapshot,
    Truncate,
    PowerLoss(u64),
    Crash,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        12 => (0u64..20, any::<u64>()).prop_map(|(k, v)| Step::Put(k, v)),
        3 => Just(Step::Sync),
        1 => Just(Step::Snapshot),
        1 => Just(Step::Truncate),
        1 => any::<u64>().prop_map(Step::PowerLoss),
        1 => Just(Step::Crash),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    /// After any sequence of writes, snapshots, truncations and crashes, the
    /// recovered state is the model's state after some prefix of the records
    /// that includes everything acknowledged (and nothing never written).
    #[test]
    fn recovered_state_matches_a_durable_prefix(steps in prop::collection::vec(step(), 1..120)) {
        let mem = MemStorage::new();
        let mut kv = Kv::default();
        let mut r = recover(WAL, SNAP, opts(&mem), &mut kv).unwrap();
        // history[i] = state after lsn i; `written` = records appended.
        let mut history = vec![Kv::default()];
        let mut durable = 0u64;
        for step in steps {
            match step {
                Step::Put(k, v) => {
                    let lsn = r.wal.append(&rec(k, v)).unwrap();
                    prop_assert_eq!(lsn as usize, history.len());
                    let mut next = history.last().unwrap().clone();
                    next.put(&rec(k, v));
                    history.push(next);
                }
                Step::Sync => {
                    r.wal.sync().unwrap();
                    durable = r.wal.last_lsn();
                }
                Step::Snapshot => {
                    r.wal.sync().unwrap();
                    durable = r.wal.last_lsn();
                    r.snapshots.write(durable, b"kv", &history[durable as usize].encode()).unwrap();
                }
                Step::Truncate => {
                    if let Some(newest) = r.snapshots.list().unwrap().first() {
                        r.wal.delete_segments_before(newest.position + 1).unwrap();
                    }
                }
                Step::PowerLoss(_) | Step::Crash => {
                    drop(r);
                    let kind = if matches!(step, Step::Crash) { CrashKind::Process } else { CrashKind::PowerLoss };
                    let seed = if let Step::PowerLoss(s) = step { s } else { 0 };
                    mem.crash(kind, &mut rand::rngs::StdRng::seed_from_u64(seed));
                    let mut kv = Kv::default();
                    r = recover(WAL, SNAP, opts(&mem), &mut kv).unwrap();
                    let last = r.wal.last_lsn();
                    prop_assert!(last >= durable, "lost acknowledged records: last {} < durable {}", last, durable);
                    prop_assert!((last as usize) < history.len(), "invented records");
                    prop_assert_eq!(&kv, &history[last as usize]);
                    history.truncate(last as usize + 1);
                    durable = last;
                }
            }
        }
    }
}

#[test]
fn a_lost_log_and_a_damaged_snapshot_are_refused_not_opened_empty() {
    use paxos_wal::storage::Storage;
    let mem = MemStorage::new();
    build(&mem, 300, &[200]);
    for name in mem.list(Path::new(WAL)).unwrap() {
        if name.ends_with(".wal") {
            mem.remove(&Path::new(WAL).join(name)).unwrap();
        }
    }
    let snap = Path::new(SNAP).join(format!("snap-{:020}.snap", 200));
    mem.corrupt(&snap, 3, 0xff).unwrap(); // the header: it no longer even lists
    let mut kv = Kv::default();
    // The log's manifest names the segment that is gone.
    match recover(WAL, SNAP, opts(&mem), &mut kv) {
        Err(RecoveryError::Wal(paxos_wal::Error::LostSegment { .. })) => {}
        other => panic!("a log without its last segment opened: {other:?}"),
    }
    // Without the manifest too, the damaged snapshot's name still proves it.
    mem.remove(&Path::new(WAL).join(paxos_wal::format::MANIFEST_FILE)).unwrap();
    match recover(WAL, SNAP, opts(&mem), &mut kv) {
        Err(e @ RecoveryError::LogBehindSnapshot { .. }) => {
            assert!(e.to_string().contains("snap-00000000000000000200.snap"), "{e}");
        }
        other => panic!("state acknowledged through lsn 200 must not open as empty: {other:?}"),
    }
}

/// Tools read the report as JSON with typed fields: the policy and the
/// torn tail are the log's own types (no stringified mirror), durations are
/// milliseconds.
#[test]
fn the_report_serialises_its_policy_torn_tail_and_timings_as_typed_fields() {
    let mem = MemStorage::new();
    build(&mem, 20, &[]);
    {
        // Two records that never get synced, then the power fails.
        let mut kv = Kv::default();
        let r = recover(WAL, SNAP, opts(&mem), &mut kv).unwrap();
        r.wal.append(&rec(1, 21)).unwrap();
        r.wal.append(&rec(2, 22)).unwrap();
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    mem.crash(CrashKind::PowerLoss, &mut rng);
    let mut kv = Kv::default();
    let r = recover(WAL, SNAP, opts(&mem), &mut kv).unwrap();
    let json: serde_json::Value = serde_json::to_value(&r.report).unwrap();
    assert_eq!(json["policy"], "TolerateTornTail", "{json}");
    assert!(json["timings"]["total_ms"].is_f64(), "{json}");
    if let Some(t) = &r.report.torn_tail {
        assert_eq!(json["torn_tail"]["lsn"], t.lsn, "{json}");
        assert!(json["torn_tail"]["segments_removed"].is_array(), "{json}");
    }
    assert!(r.report.to_string().contains("(TolerateTornTail policy)"));
}
