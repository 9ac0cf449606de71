//! Fuzz target: open a damaged store directory.
//!
//! A store is built once, deterministically, on a [`MemStorage`]: five
//! groups, promises, accepts, chosen marks, a truncation and a removal, two
//! checkpoints (the log before the first one deleted), more work after the
//! second, all synced, in 8 KiB log segments. The state after every record
//! is remembered. The input picks a policy, up to eight [`Mutation`]s of the
//! log and checkpoint files, and a seed for a later power loss.
//!
//! Input: `policy:u8 mutations(count:u8, ...) power_loss_seed:u64`.

use super::model::{apply, diff, read_state, Reply, StoreState};
use crate::wal::{crash_seeded, DamageLog, DiskImage, FuzzInput, FuzzOutput, Mutation, Violation};
use paxos_acceptor_store::{AcceptorStore, Ballot, CorruptionPolicy, GroupId, Op, Slot, StoreError, StoreOptions};
use paxos_recovery::RecoveryError;
use paxos_snapshot::format::parse_snapshot_name;
use paxos_wal::format::{Lsn, HEADER_PAGE, MANIFEST_FILE, SEGMENT_SUFFIX};
use paxos_wal::storage::{CrashKind, MemStorage};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::OnceLock;

/// The directory of the store the target builds and damages.
pub const STORE_DIR: &str = "/fuzz/store";

/// What opening one damaged store did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreOpenSummary {
    /// Mutations applied.
    pub mutations: usize,
    /// What the open returned.
    pub outcome: StoreOutcome,
}

/// What an open returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreOutcome {
    /// Opened with every acknowledged operation back.
    Complete,
    /// Opened with the state as of an earlier record (the log lost records
    /// the disk could not prove acknowledged).
    Earlier,
    /// Opened under `Salvage` with damage: every group abstains.
    Salvaged,
    /// A typed error; a short name of it.
    Refused(&'static str),
}

struct BaseStore {
    image: DiskImage,
    /// The state after each record (the LSN of the last record so far).
    states: Vec<(Lsn, StoreState)>,
    /// Every (group, slot, ballot, value) ever accepted.
    accepted: BTreeSet<(GroupId, Slot, Ballot, Vec<u8>)>,
    /// Every ballot a group ever had promised.
    promised: BTreeSet<(GroupId, Ballot)>,
    /// Every truncation point a group ever had.
    first_live: BTreeSet<(GroupId, Slot)>,
}

fn options(mem: &MemStorage, policy: CorruptionPolicy) -> StoreOptions {
    let mut o = StoreOptions::small(mem.shared());
    o.log.segment_size = 8 << 10;
    o.log.policy = policy;
    o
}

fn value(g: u64, s: u64, round: u64) -> Vec<u8> {
    let mut v = format!("g{g}/s{s}/r{round}:").into_bytes();
    v.extend(std::iter::repeat_n(b'a' + (g + s) as u8 % 26, ((g * 31 + s * 17 + round * 7) % 120) as usize));
    v
}

fn build() -> BaseStore {
    let mem = MemStorage::new();
    let dir = Path::new(STORE_DIR);
    let (store, _) = AcceptorStore::open(dir, options(&mem, CorruptionPolicy::TolerateTornTail)).expect("open");
    let mut states = vec![(0, StoreState::new())];
    let mut run = |op: Op| {
        store.apply_batch(std::slice::from_ref(&op)).expect("building the base store");
        states.push((store.log().last_lsn, read_state(&store).expect("reading the base store")));
    };
    let b = Ballot::new;
    for g in 0..5 {
        run(Op::Promise { group: GroupId(g), ballot: b(1, g), from_slot: Slot(0) });
        for s in 0..5 {
            run(Op::Accept { group: GroupId(g), slot: Slot(s), ballot: b(1, g), value: value(g, s, 1) });
        }
        run(Op::MarkChosen { group: GroupId(g), slot: Slot(0) });
    }
    store.checkpoint().expect("first checkpoint");
    for g in 0..4 {
        run(Op::Promise { group: GroupId(g), ballot: b(2, 0), from_slot: Slot(2) });
        for s in 2..5 {
            run(Op::Accept { group: GroupId(g), slot: Slot(s), ballot: b(2, 0), value: value(g, s, 2) });
        }
    }
    run(Op::TruncateBelow { group: GroupId(1), slot: Slot(2) });
    run(Op::RemoveGroup { group: GroupId(4) });
    store.checkpoint().expect("second checkpoint");
    for g in 0..4 {
        for s in 6..14 {
            run(Op::Accept { group: GroupId(g), slot: Slot(s), ballot: b(2, 0), value: value(g, s, 2) });
        }
    }
    run(Op::Promise { group: GroupId(2), ballot: b(3, 1), from_slot: Slot(6) });
    run(Op::Accept { group: GroupId(2), slot: Slot(9), ballot: b(3, 1), value: value(2, 9, 3) });
    run(Op::MarkChosen { group: GroupId(0), slot: Slot(6) });
    run(Op::TruncateBelow { group: GroupId(3), slot: Slot(3) });
    store.sync().expect("sync");
    assert!(store.log().first_lsn > 1 && store.log().segments >= 2, "the log should have been cut");
    drop(store);
    let image = DiskImage::capture(&mem, &[&dir.join("wal"), &dir.join("checkpoints")]).expect("capture");
    let (mut accepted, mut promised, mut first_live) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    for (_, st) in &states {
        for (g, gs) in st {
            promised.insert((*g, gs.promised));
            first_live.insert((*g, gs.first_live));
            for (s, (b, v, _)) in &gs.slots {
                accepted.insert((*g, *s, *b, v.clone()));
            }
        }
    }
    BaseStore { image, states, accepted, promised, first_live }
}

fn base() -> &'static BaseStore {
    static BASE: OnceLock<BaseStore> = OnceLock::new();
    BASE.get_or_init(build)
}

/// The files of the base store, in the order [`Mutation`]s number them
/// (checkpoints, then log segments): to aim seeds at them.
pub fn base_store_image() -> &'static DiskImage {
    &base().image
}

/// The input [`check_open_damaged_store`] reads for these choices.
pub fn store_open_input(policy: CorruptionPolicy, mutations: &[Mutation], power_loss_seed: u64) -> Vec<u8> {
    let p = match policy {
        CorruptionPolicy::TolerateTornTail => 0,
        CorruptionPolicy::Salvage => 2,
        CorruptionPolicy::Strict => 3,
    };
    let mut out = FuzzOutput::new();
    out.u8(p);
    Mutation::encode_list(mutations, &mut out);
    out.u64(power_loss_seed);
    out.finish()
}

/// `log_end_damaged`: the damage reached the log's manifest or its last
/// segment, or reshaped a file of the log: only then may the end of the log
/// be unprovable.
fn refusal(e: &StoreError, policy: CorruptionPolicy, log: &DamageLog, log_end_damaged: bool) -> Option<&'static str> {
    use paxos_wal::Error as W;
    match e {
        StoreError::Recovery(RecoveryError::Wal(w)) => match w {
            W::BadSegment { .. } => Some("BadSegment"),
            W::LostSegment { .. } if log_end_damaged => Some("LostSegment"),
            W::BadManifest { .. } if log_end_damaged => Some("BadManifest"),
            W::MissingManifest { .. } if log_end_damaged => Some("MissingManifest"),
            W::Corruption { .. } if policy != CorruptionPolicy::Salvage => Some("Corruption"),
            W::TornTail(_) if policy == CorruptionPolicy::Strict => Some("TornTail"),
            W::Io { .. } if log.read_errors => Some("WalIo"),
            _ => None,
        },
        StoreError::Recovery(RecoveryError::Snapshot(_)) if log.read_errors => Some("SnapshotIo"),
        StoreError::Recovery(RecoveryError::LogNotCovered { .. }) => Some("LogNotCovered"),
        StoreError::Recovery(RecoveryError::LogBehindSnapshot { .. }) => Some("LogBehindSnapshot"),
        _ => None,
    }
}

/// Build (once) a valid store, damage its files as the input says, open
/// it, and check:
/// - an error is typed and one the damage explains (never a state-machine
///   failure, a missing value, `Locked`...), and its message formats;
/// - opened without damage to acknowledged records, the state is exactly the
///   state after the last record the log kept, which is at or after the
///   durable watermark and at or after the position of every checkpoint
///   file still under its name, damaged or not (nothing invented, I3;
///   truncated slots stay gone, I5); if no log file was reshaped and no log
///   header page touched, that is the whole acknowledged state (I1, I2);
/// - opened under `Salvage` with damage, every group abstains from voting
///   and every promise, accepted value and truncation point shown is one
///   the store really had (never wrong data);
/// - the store reopens to the same state; without damage it takes a new
///   promise and accept, and after a power loss has exactly the state plus
///   those.
pub fn check_open_damaged_store(data: &[u8]) -> Result<StoreOpenSummary, Violation> {
    let mut input = FuzzInput::new(data);
    let policy = match input.u8() % 4 {
        0 | 1 => CorruptionPolicy::TolerateTornTail,
        2 => CorruptionPolicy::Salvage,
        _ => CorruptionPolicy::Strict,
    };
    let mutations = Mutation::decode_list(&mut input, 8);
    let seed = input.u64();
    let base = base();
    let mut image = base.image.clone();
    let mut log = DamageLog::default();
    for m in &mutations {
        image.apply(m, &mut log);
    }
    let mem = image.load().map_err(|e| Violation(format!("loading the image: {e}")))?;
    let dir = Path::new(STORE_DIR);
    let wal_dir = dir.join("wal");
    let ckpt_dir = dir.join("checkpoints");
    let summary = |outcome| Ok(StoreOpenSummary { mutations: mutations.len(), outcome });
    let (store, report) = match AcceptorStore::open(dir, options(&mem, policy)) {
        Ok(opened) => opened,
        Err(e) => {
            let msg = e.to_string();
            let last_segment = base
                .image
                .files
                .iter()
                .map(|(p, _)| p)
                .filter(|p| p.parent() == Some(&wal_dir) && p.to_string_lossy().ends_with(SEGMENT_SUFFIX))
                .max();
            let log_end_damaged = log.reshaped_in(&wal_dir)
                || log.touches(&wal_dir.join(MANIFEST_FILE), 0..u64::MAX)
                || last_segment.is_some_and(|p| log.touches(p, 0..u64::MAX));
            let kind = refusal(&e, policy, &log, log_end_damaged);
            let kind = kind.ok_or_else(|| Violation(format!("open under {policy:?} failed: {msg}; {mutations:?}")))?;
            return summary(StoreOutcome::Refused(kind));
        }
    };
    let ctx = |what: String| format!("{what} (policy {policy:?}, mutations {mutations:?}, report: {report})");
    let state = read_state(&store).map_err(|e| Violation(ctx(format!("reading the opened store: {e}"))))?;
    let damaged = report.damage.iter().any(|d| d.lsns.is_some());
    let final_state = &base.states.last().expect("states").1;
    let outcome = if damaged {
        Violation::ensure(policy == CorruptionPolicy::Salvage, || ctx("opened with damage".into()))?;
        for g in state.keys().copied().chain([GroupId(999)]) {
            Violation::ensure(store.needs_repair(g), || ctx(format!("{g} may vote after damage")))?;
        }
        for (g, gs) in &state {
            let ok = (gs.promised == Ballot::ZERO || base.promised.contains(&(*g, gs.promised)))
                && (gs.first_live == Slot(0) || base.first_live.contains(&(*g, gs.first_live)))
                && gs.slots.iter().all(|(s, (b, v, _))| base.accepted.contains(&(*g, *s, *b, v.clone())));
            Violation::ensure(ok, || ctx(format!("{g} shows state it never had: {gs:?}")))?;
        }
        StoreOutcome::Salvaged
    } else {
        let n = report.log_last_lsn;
        let want = &base.states.iter().rev().find(|(l, _)| *l <= n).expect("lsn 0").1;
        Violation::ensure(state == *want, || ctx(format!("state after lsn {n} differs: {}", diff(&state, want))))?;
        Violation::ensure(n >= report.durable_watermark, || ctx("log ends below its watermark".into()))?;
        // A checkpoint file still under its own name proves that the state
        // through its position was acknowledged, even if it is damaged.
        let proven = image
            .files
            .iter()
            .filter(|(p, _)| p.parent() == Some(&ckpt_dir) && !log.reshaped.contains(p))
            .filter_map(|(p, _)| parse_snapshot_name(&p.file_name()?.to_string_lossy()))
            .max()
            .unwrap_or(0);
        Violation::ensure(n >= proven, || ctx(format!("state as of lsn {n}, older than checkpoint {proven}")))?;
        let headers_intact = !log.reshaped_in(&wal_dir)
            && !image.files.iter().any(|(p, _)| {
                p.parent() == Some(&wal_dir)
                    && p.to_string_lossy().ends_with(SEGMENT_SUFFIX)
                    && log.touches(p, 0..HEADER_PAGE)
            });
        if headers_intact || log.is_empty() {
            Violation::ensure(state == *final_state, || {
                ctx(format!("acknowledged state lost: {}", diff(&state, final_state)))
            })?;
        }
        for g in state.keys() {
            Violation::ensure(!store.needs_repair(*g), || ctx(format!("{g} needs repair without damage")))?;
        }
        if state == *final_state {
            StoreOutcome::Complete
        } else {
            StoreOutcome::Earlier
        }
    };

    // Reopen: the same state.
    drop(store);
    let (store, again) = AcceptorStore::open(dir, options(&mem, policy))
        .map_err(|e| Violation(ctx(format!("second open failed: {e}"))))?;
    let state2 = read_state(&store).map_err(|e| Violation(ctx(format!("reading after reopening: {e}"))))?;
    Violation::ensure(state2 == state, || ctx(format!("second open differs: {}; {again}", diff(&state2, &state))))?;
    if damaged {
        return summary(outcome);
    }

    // Use it, lose power: exactly the state plus the new operations.
    let mut want = state;
    let ops = [
        Op::Promise { group: GroupId(0), ballot: Ballot::new(100, 7), from_slot: Slot(0) },
        Op::Accept { group: GroupId(0), slot: Slot(50), ballot: Ballot::new(100, 7), value: b"after".to_vec() },
    ];
    for op in &ops {
        let got = match store.apply_batch(std::slice::from_ref(op)) {
            Ok(got) => got,
            // A directory planted where the log's next segment goes: the
            // write that meets it gets a typed error naming it (the log
            // cannot see it before: it lists files only).
            Err(StoreError::Wal(paxos_wal::Error::BadSegment { path, .. })) if image.squatters.contains(&path) => {
                return summary(outcome);
            }
            Err(e) => return Err(Violation(ctx(format!("{op:?}: {e}")))),
        };
        let got: Vec<Reply> = got.into_iter().map(Reply::of).collect();
        let (reply, _) = apply(&mut want, op);
        Violation::ensure(got == [reply.clone()], || ctx(format!("{op:?} replied {got:?}, not {reply:?}")))?;
    }
    drop(store);
    crash_seeded(&mem, CrashKind::PowerLoss, seed);
    let policy2 = if policy == CorruptionPolicy::Salvage { policy } else { CorruptionPolicy::TolerateTornTail };
    let (store, third) = AcceptorStore::open(dir, options(&mem, policy2))
        .map_err(|e| Violation(ctx(format!("open after new work and a power loss failed: {e}"))))?;
    let state3 = read_state(&store).map_err(|e| Violation(ctx(format!("reading after the power loss: {e}"))))?;
    Violation::ensure(state3 == want, || ctx(format!("after the power loss: {}; {third}", diff(&state3, &want))))?;
    summary(outcome)
}
