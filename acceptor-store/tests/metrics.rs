//! Feature `metrics`: `publish_metrics` sets the documented metrics through
//! the installed recorder (here a small one that keeps the last values).
#![cfg(feature = "metrics")]

use ::metrics::{Counter, CounterFn, Gauge, GaugeFn, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use paxos_acceptor_store::*;
use paxos_wal::storage::MemStorage;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Values(Mutex<BTreeMap<String, f64>>);

struct Cell(Arc<Values>, String);

impl CounterFn for Cell {
    fn increment(&self, v: u64) {
        *self.0 .0.lock().unwrap().entry(self.1.clone()).or_default() += v as f64;
    }
    fn absolute(&self, v: u64) {
        self.0 .0.lock().unwrap().insert(self.1.clone(), v as f64);
    }
}

impl GaugeFn for Cell {
    fn increment(&self, v: f64) {
        *self.0 .0.lock().unwrap().entry(self.1.clone()).or_default() += v;
    }
    fn decrement(&self, v: f64) {
        *self.0 .0.lock().unwrap().entry(self.1.clone()).or_default() -= v;
    }
    fn set(&self, v: f64) {
        self.0 .0.lock().unwrap().insert(self.1.clone(), v);
    }
}

struct Keep(Arc<Values>);

fn name(key: &Key) -> String {
    let labels: Vec<String> = key.labels().map(|l| format!("{}=\"{}\"", l.key(), l.value())).collect();
    if labels.is_empty() {
        key.name().to_string()
    } else {
        format!("{}{{{}}}", key.name(), labels.join(","))
    }
}

impl Recorder for Keep {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(Arc::new(Cell(self.0.clone(), name(key))))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(Arc::new(Cell(self.0.clone(), name(key))))
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

#[test]
fn publish_sets_the_documented_metrics() {
    let mem = MemStorage::new();
    let (s, _) = AcceptorStore::open(Path::new("/m"), StoreOptions::small(mem.shared())).unwrap();
    for i in 0..10 {
        s.accept(GroupId(1), Slot(i), Ballot::new(1, 1), b"value").unwrap();
    }
    s.checkpoint().unwrap();
    let values = Arc::new(Values::default());
    let rec = Keep(values.clone());
    ::metrics::with_local_recorder(&rec, || {
        paxos_acceptor_store::metrics::describe();
        s.publish_metrics();
        s.publish_metrics(); // absolute: publishing again counts nothing twice
    });
    let v = values.0.lock().unwrap().clone();
    let st = s.stats();
    let get = |k: &str| *v.get(k).unwrap_or_else(|| panic!("{k} not published: {v:?}"));
    assert_eq!(get("paxos_wal_syncs_total"), st.wal.syncs as f64);
    assert_eq!(get("paxos_wal_bytes_written_total"), st.wal.bytes_written as f64);
    assert_eq!(get("paxos_wal_records_synced_total"), st.wal.records_synced as f64);
    assert_eq!(get("paxos_wal_fsync_duration_seconds_count"), st.wal.fsync.count() as f64);
    assert_eq!(get("paxos_wal_fsync_duration_seconds_bucket{le=\"+Inf\"}"), st.wal.fsync.count() as f64);
    assert!(get("paxos_wal_fsync_duration_seconds_bucket{le=\"0.000016\"}") <= st.wal.fsync.count() as f64);
    assert_eq!(get("paxos_wal_poisoned_seconds"), 0.0);
    assert_eq!(get("paxos_store_checkpoints_total"), 1.0);
    assert_eq!(get("paxos_store_checkpoint_last_bytes"), st.checkpoint_last_bytes as f64);
    assert!(get("paxos_store_checkpoint_last_duration_seconds") > 0.0);
    assert_eq!(v.keys().filter(|k| k.starts_with("paxos_wal_fsync_duration_seconds_bucket")).count(), 18);
}
