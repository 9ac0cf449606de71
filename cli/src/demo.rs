//! `paxos-store demo`: a 3-acceptor Multi-Paxos group in one process on real
//! stores. A stable leader prepares once, then many concurrent clients have
//! their commands accepted slot by slot (chosen once 2 of 3 acceptors have
//! durably accepted). Part way through, one acceptor is killed without a
//! clean shutdown; later it is recovered from its directory and rejoins.

use paxos_acceptor_store::{
    AcceptOutcome, AcceptorStore, Ballot, GroupId, Op, Outcome, PromiseOutcome, RecoveryReport, Slot, SlotRead,
    StoreOptions, SyncHistogram,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::channel;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// What to run.
#[derive(Clone, Debug)]
pub struct DemoConfig {
    /// Where the three acceptors keep their stores.
    pub dir: PathBuf,
    /// Commands to choose.
    pub commands: u64,
    /// Concurrent clients.
    pub clients: usize,
    /// Bytes per command.
    pub value_size: usize,
    /// Show progress (a bar on a terminal, a line every few seconds elsewhere).
    pub progress: bool,
}

/// What happened.
#[derive(Debug)]
pub struct DemoReport {
    /// Commands chosen.
    pub chosen: u64,
    /// Wall time of the load.
    pub elapsed: Duration,
    /// Accepts acknowledged durable, over all acceptors.
    pub durable_accepts: u64,
    /// Syncs issued, over all acceptors.
    pub syncs: u64,
    /// Commit latency percentiles (p50, p99).
    pub latency: (Duration, Duration),
    /// The fsync latency histogram of the acceptors' logs, summed (since
    /// each was last opened: the killed one's starts at its restart).
    pub fsync: SyncHistogram,
    /// The killed acceptor's recovery report.
    pub recovery: RecoveryReport,
    /// Slots the recovered acceptor holds, checked against what was chosen.
    pub verified_slots: u64,
}

const GROUP: GroupId = GroupId(1);
/// Acceptors in the demo's group.
pub const ACCEPTORS: usize = 3;
const N: usize = ACCEPTORS;

fn options() -> StoreOptions {
    let mut o = StoreOptions { checkpoint_after_segments: Some(4), ..Default::default() };
    o.log.segment_size = 16 << 20;
    o
}

fn open(dir: &Path) -> Result<(AcceptorStore, RecoveryReport), paxos_acceptor_store::StoreError> {
    // A killed acceptor's last in-flight calls may still hold its files for a
    // moment: retry the lock briefly, as a restarting process would.
    let mut tries = 0;
    loop {
        match AcceptorStore::open(dir, options()) {
            Err(e) if e.is_locked() && tries < 200 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

/// [`open`], its error naming the store (and saying `locked` as every
/// command does).
fn open_named(dir: &Path) -> Result<(AcceptorStore, RecoveryReport), String> {
    open(dir).map_err(|e| crate::paths::open_error(dir, &e))
}

/// Where acceptor `i` of a demo in `dir` keeps its store.
pub fn acceptor_dir(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("acceptor-{i}"))
}

/// Run the demo.
pub fn run(cfg: &DemoConfig) -> Result<DemoReport, Box<dyn std::error::Error>> {
    if cfg.commands == 0 || cfg.clients == 0 {
        return Err("the demo needs at least one command and one client".into());
    }
    let dirs: Vec<PathBuf> = (0..N).map(|i| acceptor_dir(&cfg.dir, i)).collect();
    let acceptors: Arc<Vec<RwLock<Option<AcceptorStore>>>> =
        Arc::new(dirs.iter().map(|d| open_named(d).map(|(s, _)| RwLock::new(Some(s)))).collect::<Result<_, _>>()?);
    // Phase 1, once, by the stable leader: one promise covers every slot.
    let ballot = Ballot::new(1, 0);
    let mut granted = 0;
    for a in acceptors.iter() {
        let s = a.read().expect("lock").clone().expect("up");
        if let PromiseOutcome::Granted { .. } = s.promise(GROUP, ballot, Slot(0))? {
            granted += 1;
        }
    }
    if granted < 2 {
        return Err("the leader could not win phase 1 (a store from an earlier run with a higher ballot?)".into());
    }
    let next_slot = Arc::new(AtomicU64::new(0));
    let chosen = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(cfg.commands as usize)));
    let syncs_before: u64 =
        acceptors.iter().map(|a| a.read().expect("lock").as_ref().map_or(0, |s| s.stats().syncs)).sum();
    let mut bar = if cfg.progress {
        crate::progress::Progress::new("demo", cfg.commands, "commands chosen")
    } else {
        crate::progress::Progress::hidden()
    };
    let durable_accepts = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let victim = 2;
    let mut recovery = None;
    std::thread::scope(|scope| -> Result<(), Box<dyn std::error::Error>> {
        for c in 0..cfg.clients {
            let (acceptors, next_slot, chosen, latencies, bar, durable_accepts) =
                (&acceptors, &next_slot, &chosen, &latencies, &bar, &durable_accepts);
            let value_size = cfg.value_size;
            let total = cfg.commands;
            scope.spawn(move || {
                let mut mine = Vec::new();
                loop {
                    let slot = next_slot.fetch_add(1, Ordering::Relaxed);
                    if slot >= total {
                        break;
                    }
                    let mut value = format!("client {c} command {slot} ").into_bytes();
                    value.resize(value_size.max(value.len()), b'.');
                    let t = Instant::now();
                    let (tx, rx) = channel();
                    let mut sent = 0;
                    for a in acceptors.iter() {
                        let Some(store) = a.read().expect("lock").clone() else { continue };
                        let tx = tx.clone();
                        let op = Op::Accept { group: GROUP, slot: Slot(slot), ballot, value: value.clone() };
                        let cb = move |r: paxos_acceptor_store::Result<Outcome>| {
                            let _ = tx.send(matches!(r, Ok(Outcome::Accept(AcceptOutcome::Accepted))));
                        };
                        if store.submit_with(op, cb).is_ok() {
                            sent += 1;
                        }
                    }
                    drop(tx);
                    // Chosen once a majority has it durably.
                    let mut acks = 0;
                    for ok in rx.iter().take(sent) {
                        if ok {
                            acks += 1;
                            durable_accepts.fetch_add(1, Ordering::Relaxed);
                            if acks == 2 {
                                break;
                            }
                        }
                    }
                    assert!(acks >= 2, "slot {slot}: only {acks} of {sent} acceptors accepted");
                    mine.push(t.elapsed());
                    chosen.fetch_add(1, Ordering::Relaxed);
                    bar.inc(1);
                    for a in acceptors.iter() {
                        if let Some(s) = a.read().expect("lock").clone() {
                            let _ = s.mark_chosen(GROUP, Slot(slot));
                        }
                    }
                }
                latencies.lock().expect("lock").append(&mut mine);
            });
        }
        // Kill one acceptor a third of the way in, recover it at two thirds.
        while chosen.load(Ordering::Relaxed) < cfg.commands / 3 {
            std::thread::sleep(Duration::from_millis(2));
        }
        let killed = acceptors[victim].write().expect("lock").take();
        drop(killed); // no sync, no clean shutdown: whatever was in flight is as a crash left it
        bar.set_message(format!("(acceptor {victim} killed)"));
        while chosen.load(Ordering::Relaxed) < 2 * cfg.commands / 3 {
            std::thread::sleep(Duration::from_millis(2));
        }
        let (store, report) = open_named(&dirs[victim])?;
        *acceptors[victim].write().expect("lock") = Some(store);
        bar.set_message(format!("(acceptor {victim} recovered)"));
        recovery = Some(report);
        Ok(())
    })?;
    let elapsed = start.elapsed();
    bar.finish();
    let mut lat = std::mem::take(&mut *latencies.lock().expect("lock"));
    lat.sort();
    let pct = |p: f64| lat.get(((lat.len() as f64 - 1.0) * p) as usize).copied().unwrap_or_default();
    let syncs_after: u64 =
        acceptors.iter().map(|a| a.read().expect("lock").as_ref().map_or(0, |s| s.stats().syncs)).sum();
    let mut fsync = SyncHistogram::default();
    for a in acceptors.iter() {
        if let Some(s) = a.read().expect("lock").as_ref() {
            fsync.merge(&s.stats().wal.fsync);
        }
    }
    // Every slot the recovered acceptor holds must carry the value the
    // majority chose (it saw the same accept), and a majority holds each.
    let mut verified = 0;
    let stores: Vec<AcceptorStore> = acceptors.iter().map(|a| a.read().expect("lock").clone().expect("up")).collect();
    for slot in 0..cfg.commands {
        let mut values = Vec::new();
        for s in &stores {
            if let SlotRead::Accepted { value, .. } = s.accepted(GROUP, Slot(slot))? {
                values.push(value.to_vec());
            }
        }
        if values.len() < 2 || values.windows(2).any(|w| w[0] != w[1]) {
            return Err(format!(
                "slot {slot}: {} copies, values agree: {}",
                values.len(),
                values.windows(2).all(|w| w[0] == w[1])
            )
            .into());
        }
        verified += 1;
    }
    Ok(DemoReport {
        chosen: chosen.load(Ordering::Relaxed),
        elapsed,
        durable_accepts: durable_accepts.load(Ordering::Relaxed),
        syncs: syncs_after.saturating_sub(syncs_before),
        latency: (pct(0.5), pct(0.99)),
        fsync,
        recovery: recovery.expect("recovered"),
        verified_slots: verified,
    })
}
