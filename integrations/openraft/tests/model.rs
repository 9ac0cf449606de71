//! Model test: seeded random sequences of every `RaftLogStorage` call, on
//! three raft groups sharing one store, against a simple model (per group:
//! a map of entries, the vote, the purge point, the committed id). At random
//! steps the store is dropped and reopened, the machine loses power
//! (`MemStorage`, Linux's page-cache semantics), or a write fails part-way
//! (the process dies after a few file operations, or a sync fails).
//!
//! Appends are either awaited until openraft's flush notice fires, or left
//! in flight (submitted, the notice never awaited); `save_committed` is
//! never awaited. After a power loss the store must hold exactly the state
//! after some prefix of the calls made, no shorter than the last call that
//! was acknowledged durable (a flush notice, or a `save_vote`, `truncate`,
//! `purge` that returned).

mod common;

use common::sm::{Config, Request};
use openraft::storage::{RaftLogStorage, RaftLogStorageExt};
use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, Membership, RaftLogReader, Vote};
use paxos_store_openraft::{LogStore, RaftStore, StoreOptions};
use paxos_wal::storage::{CrashKind, MemStorage};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

const GROUPS: [u64; 3] = [1, 2, 40];

fn id(term: u64, index: u64) -> LogId<u64> {
    LogId::new(CommittedLeaderId::new(term, 0), index)
}

/// One group's state. Entries are kept encoded, so states compare exactly.
#[derive(Clone, Debug, Default, PartialEq)]
struct GroupModel {
    log: BTreeMap<u64, (LogId<u64>, Vec<u8>)>,
    vote: Option<Vote<u64>>,
    purged: Option<LogId<u64>>,
    committed: Option<LogId<u64>>,
}

impl GroupModel {
    fn last(&self) -> Option<LogId<u64>> {
        self.log.values().next_back().map(|(id, _)| *id).or(self.purged)
    }
    fn next_index(&self) -> u64 {
        self.last().map_or(0, |l| l.index + 1)
    }
    fn term(&self) -> u64 {
        self.vote.map_or(1, |v| v.leader_id().term).max(self.last().map_or(1, |l| l.leader_id.term))
    }
}

type Model = BTreeMap<u64, GroupModel>;

fn encode(e: &Entry<Config>) -> Vec<u8> {
    postcard::to_allocvec(e).unwrap()
}

#[derive(Clone, Debug)]
enum Call {
    /// Append entries; `wait`: await the flush notice.
    Append {
        group: u64,
        entries: Vec<Entry<Config>>,
        wait: bool,
    },
    Truncate {
        group: u64,
        at: LogId<u64>,
    },
    Purge {
        group: u64,
        upto: LogId<u64>,
    },
    Vote {
        group: u64,
        vote: Vote<u64>,
    },
    Committed {
        group: u64,
        committed: Option<LogId<u64>>,
    },
}

impl Call {
    /// Apply to the model; returns whether the call is acknowledged durable
    /// when it returns (with its notice, for a waited append).
    fn apply(&self, m: &mut Model) -> bool {
        let durable = self.apply_to(m);
        // A group with nothing in it is not there (as the store reads it).
        m.retain(|_, g| *g != GroupModel::default());
        durable
    }

    fn apply_to(&self, m: &mut Model) -> bool {
        match self {
            Call::Append { group, entries, wait } => {
                let g = m.entry(*group).or_default();
                for e in entries {
                    g.log.insert(e.log_id.index, (e.log_id, encode(e)));
                }
                *wait
            }
            Call::Truncate { group, at } => {
                let g = m.entry(*group).or_default();
                g.log.split_off(&at.index);
                true
            }
            Call::Purge { group, upto } => {
                let g = m.entry(*group).or_default();
                g.log = g.log.split_off(&(upto.index + 1));
                g.purged = Some(*upto);
                true
            }
            Call::Vote { group, vote } => {
                m.entry(*group).or_default().vote = Some(*vote);
                true
            }
            Call::Committed { group, committed } => {
                m.entry(*group).or_default().committed = *committed;
                false
            }
        }
    }
}

struct Gen {
    rng: SmallRng,
    serial: u64,
}

impl Gen {
    fn entry(&mut self, log_id: LogId<u64>) -> Entry<Config> {
        let payload = match self.rng.random_range(0..20) {
            0 => EntryPayload::Blank,
            1 => EntryPayload::Membership(Membership::new(vec![[1u64, 2, 3].into_iter().collect()], ())),
            _ => {
                self.serial += 1;
                // Now and then large: a batch then spans several records.
                let len = if self.rng.random_ratio(1, 15) {
                    self.rng.random_range(3000..9000)
                } else {
                    self.rng.random_range(0..200)
                };
                EntryPayload::Normal(Request { key: format!("k{}", self.serial % 50), value: "v".repeat(len) })
            }
        };
        Entry { log_id, payload }
    }

    fn call(&mut self, m: &Model) -> Call {
        let group = GROUPS[self.rng.random_range(0..GROUPS.len())];
        let g = m.get(&group).cloned().unwrap_or_default();
        let first = g.purged.map_or(0, |p| p.index + 1);
        let next = g.next_index();
        match self.rng.random_range(0..20) {
            0..=9 => {
                // A new term now and then (a new leader's entries).
                let term = g.term() + u64::from(self.rng.random_ratio(1, 6));
                let n = self.rng.random_range(1..12);
                let entries = (next..next + n).map(|i| self.entry(id(term, i))).collect();
                Call::Append { group, entries, wait: self.rng.random_bool(0.7) }
            }
            10 | 11 if next > first => {
                let at = self.rng.random_range(first..next);
                Call::Truncate { group, at: g.log.get(&at).map_or(id(g.term(), at), |(id, _)| *id) }
            }
            12 if next > 0 => {
                // Up to an entry in the log, or (a snapshot installed) past its end.
                let upto = self.rng.random_range(first.saturating_sub(1)..next + 3);
                let upto = g.log.get(&upto).map_or(id(g.term(), upto), |(id, _)| *id);
                if g.purged.is_some_and(|p| p.index >= upto.index) {
                    return Call::Committed { group, committed: g.last() };
                }
                Call::Purge { group, upto }
            }
            13..=15 => {
                let term = g.term() + self.rng.random_range(0..2);
                let mut vote = Vote::new(term, self.rng.random_range(0..3));
                if self.rng.random_bool(0.5) {
                    vote.commit();
                }
                Call::Vote { group, vote }
            }
            _ => Call::Committed { group, committed: g.last() },
        }
    }
}

/// Poll `f` once (it may complete or stay in flight); `true` if it completed.
fn poll_once<F: Future>(f: F) -> Option<F::Output> {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

struct Node {
    store: RaftStore<Config>,
    logs: BTreeMap<u64, LogStore<Config>>,
}

fn open(mem: &MemStorage) -> Node {
    let mut opts = StoreOptions::small(mem.shared());
    opts.log.segment_size = 32 << 10;
    let store = RaftStore::<Config>::open_with(Path::new("/node"), opts).expect("open");
    let logs = GROUPS.iter().map(|&g| (g, store.group(g).expect("group"))).collect();
    Node { store, logs }
}

/// Run `call`; `Ok(true)` if it is acknowledged durable.
async fn run(n: &mut Node, call: &Call) -> Result<bool, String> {
    let e = |e: openraft::StorageError<u64>| e.to_string();
    match call.clone() {
        Call::Append { group, entries, wait: true } => {
            n.logs.get_mut(&group).unwrap().blocking_append(entries).await.map_err(e)?;
            Ok(true)
        }
        Call::Append { group, entries, wait: false } => {
            // Submitted by the first poll; the notice is never awaited.
            match poll_once(n.logs.get_mut(&group).unwrap().blocking_append(entries)) {
                Some(r) => r.map(|()| true).map_err(e),
                None => Ok(false),
            }
        }
        Call::Truncate { group, at } => n.logs.get_mut(&group).unwrap().truncate(at).await.map(|()| true).map_err(e),
        Call::Purge { group, upto } => n.logs.get_mut(&group).unwrap().purge(upto).await.map(|()| true).map_err(e),
        Call::Vote { group, vote } => n.logs.get_mut(&group).unwrap().save_vote(&vote).await.map(|()| true).map_err(e),
        Call::Committed { group, committed } => {
            n.logs.get_mut(&group).unwrap().save_committed(committed).await.map(|()| false).map_err(e)
        }
    }
}

/// The store's whole state, read through openraft's API.
async fn read(n: &mut Node) -> Model {
    let mut out = Model::new();
    for (&group, log) in n.logs.iter_mut() {
        let st = log.get_log_state().await.unwrap();
        let entries = log.try_get_log_entries(0..u64::MAX).await.unwrap();
        let g = GroupModel {
            log: entries.iter().map(|e| (e.log_id.index, (e.log_id, encode(e)))).collect(),
            vote: log.read_vote().await.unwrap(),
            purged: st.last_purged_log_id,
            committed: log.read_committed().await.unwrap(),
        };
        assert_eq!(st.last_log_id, g.last(), "group {group}: the log state's last log id");
        if g != GroupModel::default() {
            out.insert(group, g);
        }
    }
    out
}

/// Ranges and the reader against the model.
async fn check_reads(n: &mut Node, m: &Model, rng: &mut SmallRng) -> Result<(), String> {
    for (&group, log) in n.logs.iter_mut() {
        let g = m.get(&group).cloned().unwrap_or_default();
        let mut reader = log.get_log_reader().await;
        for _ in 0..3 {
            let a = rng.random_range(0..g.next_index() + 3);
            let b = rng.random_range(a..g.next_index() + 4);
            let got: Vec<Vec<u8>> = reader.try_get_log_entries(a..b).await.unwrap().iter().map(encode).collect();
            let want: Vec<Vec<u8>> = g.log.range(a..b).map(|(_, (_, v))| v.clone()).collect();
            if got != want {
                return Err(format!("group {group}: entries {a}..{b}: {} != model {}", got.len(), want.len()));
            }
        }
    }
    Ok(())
}

/// A state in a line per group: entries as `index:term:length`.
fn summary(m: &Model) -> String {
    m.iter()
        .map(|(g, s)| {
            let log: Vec<String> =
                s.log.iter().map(|(i, (id, v))| format!("{i}:{}:{}", id.leader_id.term, v.len())).collect();
            format!(
                "  group {g}: vote {:?} purged {:?} committed {:?} log [{}]",
                s.vote,
                s.purged.map(|p| p.index),
                s.committed.map(|c| c.index),
                log.join(" ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Wait until the store's flusher thread, finishing a sync for an
/// in-flight append, has let go of the store: the simulated machine stops
/// as a whole, never with a thread still writing to it.
fn settle(mem: &MemStorage) {
    for _ in 0..10_000 {
        if mem.handles() == 1 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    panic!("the store was not released");
}

#[derive(Debug, Default)]
struct Counts {
    calls: u64,
    in_flight_appends: u64,
    power_losses: u64,
    reopens: u64,
    failed_writes: u64,
    /// After a power loss, calls that were not acknowledged and were lost.
    unacknowledged_lost: u64,
    checkpoints: u64,
}

fn simulate(seed: u64, steps: usize, c: &mut Counts) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut g = Gen { rng: SmallRng::seed_from_u64(seed), serial: 0 };
    let mut check_rng = SmallRng::seed_from_u64(seed ^ 0x5eed);
    let mem = MemStorage::new();
    let mut node = open(&mem);
    // The states after each call since the last one acknowledged durable
    // (`history[0]`): a power loss must leave one of them.
    let mut history: Vec<Model> = vec![Model::new()];
    for step in 0..steps {
        let ctx = |what: String| format!("seed {seed} step {step}: {what}");
        let call = g.call(history.last().unwrap());
        let mut after = history.last().unwrap().clone();
        let durable_if_ok = call.apply(&mut after);
        let fault = g.rng.random_range(0..100);
        if fault < 6 {
            if fault < 3 {
                mem.crash_after_ops(g.rng.random_range(0..4));
            } else {
                mem.fail_sync(0);
            }
        }
        let res = rt.block_on(run(&mut node, &call));
        if std::env::var("MODEL_TRACE").is_ok() {
            let what = format!("{call:?}");
            eprintln!(
                "seed {seed} step {step}: fault {fault} {} -> {:?}",
                &what[..what.len().min(60)],
                res.as_ref().map_err(|e| &e[..e.len().min(100)])
            );
        }
        c.calls += 1;
        history.push(after);
        match res {
            Ok(true) if durable_if_ok => history = vec![history.pop().unwrap()],
            Ok(_) => c.in_flight_appends += u64::from(matches!(call, Call::Append { .. })),
            Err(_) => c.failed_writes += 1,
        }
        // After an injected fault the process is dead or the log poisoned:
        // a read of a record that never reached the file is an error then.
        if res.is_ok() && fault >= 6 {
            let m = history.last().unwrap().clone();
            rt.block_on(check_reads(&mut node, &m, &mut check_rng)).unwrap_or_else(|e| panic!("{}", ctx(e)));
        }
        let event = g.rng.random_range(0..100);
        if std::env::var("MODEL_TRACE").is_ok() {
            eprintln!("  event {event}");
        }
        if fault < 6 || event < 4 {
            // Power loss (always after a failed write: the store is poisoned).
            // The machine stops now: no file operation after this point
            // (a sync the flusher has not finished yet) reaches the disk.
            mem.crash_after_ops(0);
            drop(node);
            settle(&mem);
            mem.crash(CrashKind::PowerLoss, &mut g.rng);
            c.power_losses += 1;
            node = open(&mem);
            if std::env::var("MODEL_TRACE").is_ok() {
                eprintln!("seed {seed} step {step}: power loss, reopened: {:?}", node.store.recovery_report());
            }
            let got = rt.block_on(read(&mut node));
            let Some(i) = history.iter().rposition(|m| *m == got) else {
                panic!(
                    "{}",
                    ctx(format!(
                        "after a power loss the store matches no state since the last acknowledged one\n got {}\n history:\n{}",
                        summary(&got),
                        history.iter().map(summary).collect::<Vec<_>>().join("\n")
                    ))
                );
            };
            c.unacknowledged_lost += (history.len() - 1 - i) as u64;
            history = vec![got];
        } else if event < 8 {
            // A clean reopen keeps everything, acknowledged or not (the
            // page cache survives; the flusher's syncs finished or not).
            rt.block_on(async { node.store.acceptor_store().sync() }).unwrap();
            drop(node);
            settle(&mem);
            c.reopens += 1;
            node = open(&mem);
            let got = rt.block_on(read(&mut node));
            assert_eq!(&got, history.last().unwrap(), "{}", ctx("after a clean reopen".into()));
            history = vec![got];
        } else if event < 10 {
            node.store.acceptor_store().checkpoint().unwrap();
            c.checkpoints += 1;
        }
    }
}

#[test]
fn matches_the_model_across_power_loss_reopens_and_failed_writes() {
    let mut c = Counts::default();
    for seed in 0..30 {
        simulate(seed, 300, &mut c);
    }
    println!("{c:?}");
    assert!(
        c.power_losses > 300 && c.failed_writes > 100 && c.in_flight_appends > 300 && c.unacknowledged_lost > 100,
        "{c:?}"
    );
}
