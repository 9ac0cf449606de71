//! Fuzz target: open a damaged store directory.
//!
//! A store is built once per [`StoreShape`], deterministically, on a
//! [`MemStorage`]: by default five groups, promises, accepts, chosen marks,
//! a truncation and a removal, two checkpoints (the log before the first one
//! deleted), more work after the second, all synced, in 8 KiB log segments;
//! other shapes have 300 groups, no or one checkpoint, or a log of over
//! 16 MiB (1 MiB segments, scanned by several threads). Every record is
//! remembered, so the state after any of them can be replayed on the model.
//! The input picks a policy, up to eight [`Mutation`]s of the log and
//! checkpoint files, a seed for a later power loss, and the shape.
//!
//! Input: `policy:u8 mutations(count:u8, ...) power_loss_seed:u64 shape:u8`
//! (the shape byte `% 8`, the large log for one value, see
//! [`StoreShape::of`]; an input that ends before it gets the default shape).

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

/// The store a [`check_open_damaged_store`] input damages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreShape {
    /// Groups written to before the first checkpoint (5 or 300).
    pub groups: u64,
    /// Checkpoints taken (0 to 2; one is taken where the default shape
    /// takes its second). A checkpoint deletes the log the one before it
    /// covers: only with two is the log cut.
    pub checkpoints: u8,
    /// After the last checkpoint, over 16 MiB of raw values in 1 MiB
    /// segments: the log is scanned on several threads.
    pub large_log: bool,
}

impl StoreShape {
    /// The shape of the original target: 5 groups, 2 checkpoints.
    pub const DEFAULT: StoreShape = StoreShape { groups: 5, checkpoints: 2, large_log: false };

    /// Over 16 MiB of log: about 40 times slower to open than the others
    /// (the scan is instrumented code), so one byte value only picks it.
    pub const LARGE_LOG: StoreShape = StoreShape { groups: 5, checkpoints: 1, large_log: true };
    const LARGE_LOG_BYTE: u8 = 0xA6;

    /// The shapes, by input byte `% 8` (place 6 is [`Self::LARGE_LOG`]'s
    /// base).
    const ALL: [StoreShape; 8] = [
        StoreShape::DEFAULT,
        StoreShape { groups: 5, checkpoints: 0, large_log: false },
        StoreShape { groups: 5, checkpoints: 1, large_log: false },
        StoreShape { groups: 300, checkpoints: 2, large_log: false },
        StoreShape { groups: 300, checkpoints: 0, large_log: false },
        StoreShape { groups: 300, checkpoints: 1, large_log: false },
        StoreShape::DEFAULT,
        StoreShape::DEFAULT,
    ];

    /// The shape input byte `b` picks: [`Self::LARGE_LOG`] for 0xA6, else
    /// by `b % 8`.
    pub fn of(b: u8) -> StoreShape {
        if b == StoreShape::LARGE_LOG_BYTE {
            StoreShape::LARGE_LOG
        } else {
            StoreShape::ALL[b as usize % 8]
        }
    }

    /// The input byte that picks this shape.
    pub fn byte(self) -> u8 {
        if self == StoreShape::LARGE_LOG {
            StoreShape::LARGE_LOG_BYTE
        } else {
            StoreShape::ALL.iter().position(|s| *s == self).expect("one of the shapes") as u8
        }
    }

    fn segment_size(self) -> u64 {
        if self.large_log {
            1 << 20
        } else {
            8 << 10
        }
    }
}

struct BaseStore {
    image: DiskImage,
    /// Every operation applied, with the LSN of the last record after it.
    ops: Vec<(Lsn, Op)>,
    /// The state after the last one.
    final_state: StoreState,
    /// Every (group, slot, ballot, value) ever accepted.
    accepted: BTreeSet<(GroupId, Slot, Ballot, Vec<u8>)>,
    /// Every ballot a group ever had promised.
    promised: BTreeSet<(GroupId, Ballot)>,
    /// Every truncation point a group ever had.
    first_live: BTreeSet<(GroupId, Slot)>,
}

fn options(mem: &MemStorage, policy: CorruptionPolicy, shape: StoreShape) -> StoreOptions {
    let mut o = StoreOptions::small(mem.shared());
    o.log.segment_size = shape.segment_size();
    if shape.large_log {
        o.max_value_size = 256 << 10;
    }
    o.log.policy = policy;
    o
}

fn value(g: u64, s: u64, round: u64) -> Vec<u8> {
    let mut v = format!("g{g}/s{s}/r{round}:").into_bytes();
    v.extend(std::iter::repeat_n(b'a' + (g + s) as u8 % 26, ((g * 31 + s * 17 + round * 7) % 120) as usize));
    v
}

impl BaseStore {
    /// The state after the last record at or below `lsn`, replayed on the model.
    fn state_at(&self, lsn: Lsn) -> StoreState {
        if self.ops.last().is_none_or(|(l, _)| *l <= lsn) {
            return self.final_state.clone();
        }
        let mut state = StoreState::new();
        for (_, op) in self.ops.iter().take_while(|(l, _)| *l <= lsn) {
            apply(&mut state, op);
        }
        state
    }
}

fn build(shape: StoreShape) -> BaseStore {
    let mem = MemStorage::new();
    let dir = Path::new(STORE_DIR);
    let (store, _) = AcceptorStore::open(dir, options(&mem, CorruptionPolicy::TolerateTornTail, shape)).expect("open");
    let mut ops = Vec::new();
    let mut model = StoreState::new();
    let (mut accepted, mut promised, mut first_live) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    let mut run = |op: Op| {
        let got = store.apply_batch(std::slice::from_ref(&op)).expect("building the base store");
        let (want, _) = apply(&mut model, &op);
        assert_eq!(got.into_iter().map(Reply::of).collect::<Vec<_>>(), [want], "{op:?}: the model differs");
        let g = op.group();
        if let Some(gs) = model.get(&g) {
            promised.insert((g, gs.promised));
            first_live.insert((g, gs.first_live));
            let written = match &op {
                Op::Accept { slot, .. } => slot.0..slot.0 + 1,
                Op::Put { from, values, .. } => from.0..from.0 + values.len() as u64,
                _ => 0..0,
            };
            for (s, (b, v, _)) in gs.slots.range(Slot(written.start)..Slot(written.end)) {
                accepted.insert((g, *s, *b, v.clone()));
            }
        }
        ops.push((store.log().last_lsn, op));
        // The model is the oracle of every state but the last: check it
        // against the store now and then (every record for small shapes).
        if shape == StoreShape::DEFAULT || ops.len() % 97 == 0 {
            assert_eq!(read_state(&store).expect("reading the base store"), model, "the model differs");
        }
    };
    let b = Ballot::new;
    for g in 0..shape.groups {
        run(Op::Promise { group: GroupId(g), ballot: b(1, g), from_slot: Slot(0) });
        for s in 0..if g < 5 { 5 } else { 2 } {
            run(Op::Accept { group: GroupId(g), slot: Slot(s), ballot: b(1, g), value: value(g, s, 1) });
        }
        run(Op::MarkChosen { group: GroupId(g), slot: Slot(0) });
    }
    if shape.checkpoints >= 2 {
        store.checkpoint().expect("first checkpoint");
    }
    for g in 0..4 {
        run(Op::Promise { group: GroupId(g), ballot: b(2, 0), from_slot: Slot(2) });
        for s in 2..5 {
            run(Op::Accept { group: GroupId(g), slot: Slot(s), ballot: b(2, 0), value: value(g, s, 2) });
        }
    }
    run(Op::TruncateBelow { group: GroupId(1), slot: Slot(2) });
    run(Op::RemoveGroup { group: GroupId(4) });
    if shape.checkpoints >= 1 {
        store.checkpoint().expect("second (or only) checkpoint");
    }
    for g in 0..4 {
        for s in 6..14 {
            run(Op::Accept { group: GroupId(g), slot: Slot(s), ballot: b(2, 0), value: value(g, s, 2) });
        }
    }
    if shape.large_log {
        // 70 records of sixteen 15 KB values: about 17 MB of log.
        for k in 0..70u64 {
            let values = (0..16u64)
                .map(|i| {
                    let mut v = format!("big{k}/{i}:").into_bytes();
                    v.extend(std::iter::repeat_n(b'a' + ((k + i) % 26) as u8, 15_000));
                    v
                })
                .collect();
            run(Op::Put { group: GroupId(7 + k % 3), from: Slot(k * 16), ballot: Ballot::ZERO, values });
        }
    }
    run(Op::Promise { group: GroupId(2), ballot: b(3, 1), from_slot: Slot(6) });
    run(Op::Accept { group: GroupId(2), slot: Slot(9), ballot: b(3, 1), value: value(2, 9, 3) });
    run(Op::MarkChosen { group: GroupId(0), slot: Slot(6) });
    run(Op::TruncateBelow { group: GroupId(3), slot: Slot(3) });
    store.sync().expect("sync");
    let cut = store.log().first_lsn > 1;
    let segments = store.log().segments;
    assert!(cut == (shape.checkpoints > 1) && segments >= 2, "{shape:?}: cut {cut}, {segments} segments");
    if shape.large_log {
        assert!(store.log().segments >= 17, "a log of over 16 MiB");
    }
    let final_state = read_state(&store).expect("reading the base store");
    assert_eq!(final_state, model, "the model differs at the end");
    drop(store);
    let image = DiskImage::capture(&mem, &[&dir.join("wal"), &dir.join("checkpoints")]).expect("capture");
    BaseStore { image, ops, final_state, accepted, promised, first_live }
}

fn base(shape: StoreShape) -> &'static BaseStore {
    static BASES: [OnceLock<BaseStore>; 8] = [const { OnceLock::new() }; 8];
    BASES[shape.byte() as usize % 8].get_or_init(|| build(shape))
}

/// The files of the base store of the default shape, in the order
/// [`Mutation`]s number them (checkpoints, then log segments): to aim seeds
/// at them.
pub fn base_store_image() -> &'static DiskImage {
    base_store_image_of(StoreShape::DEFAULT)
}

/// The files of the base store of `shape` (see [`base_store_image`]).
pub fn base_store_image_of(shape: StoreShape) -> &'static DiskImage {
    &base(shape).image
}

/// The input [`check_open_damaged_store`] reads for these choices, on the
/// default shape (no shape byte).
pub fn store_open_input(policy: CorruptionPolicy, mutations: &[Mutation], power_loss_seed: u64) -> Vec<u8> {
    store_open_input_shaped(policy, mutations, power_loss_seed, StoreShape::DEFAULT)
}

/// The input [`check_open_damaged_store`] reads for these choices.
pub fn store_open_input_shaped(
    policy: CorruptionPolicy,
    mutations: &[Mutation],
    power_loss_seed: u64,
    shape: StoreShape,
) -> Vec<u8> {
    let p = match policy {
        CorruptionPolicy::TolerateTornTail => 0,
        CorruptionPolicy::Salvage => 2,
        CorruptionPolicy::Strict => 3,
    };
    let mut out = FuzzOutput::new();
    out.u8(p);
    Mutation::encode_list(mutations, &mut out);
    out.u64(power_loss_seed);
    if shape != StoreShape::DEFAULT {
        out.u8(shape.byte());
    }
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
    let shape = StoreShape::of(input.u8());
    let base = base(shape);
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
    let (store, report) = match AcceptorStore::open(dir, options(&mem, policy, shape)) {
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
            let kind = kind
                .ok_or_else(|| Violation(format!("open of {shape:?} under {policy:?} failed: {msg}; {mutations:?}")))?;
            return summary(StoreOutcome::Refused(kind));
        }
    };
    let ctx =
        |what: String| format!("{what} ({shape:?}, policy {policy:?}, mutations {mutations:?}, report: {report})");
    let state = read_state(&store).map_err(|e| Violation(ctx(format!("reading the opened store: {e}"))))?;
    let damaged = report.damage.iter().any(|d| d.lsns.is_some());
    let final_state = &base.final_state;
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
        let want = base.state_at(n);
        Violation::ensure(state == want, || ctx(format!("state after lsn {n} differs: {}", diff(&state, &want))))?;
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
    let (store, again) = AcceptorStore::open(dir, options(&mem, policy, shape))
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
    let (store, third) = AcceptorStore::open(dir, options(&mem, policy2, shape))
        .map_err(|e| Violation(ctx(format!("open after new work and a power loss failed: {e}"))))?;
    let state3 = read_state(&store).map_err(|e| Violation(ctx(format!("reading after the power loss: {e}"))))?;
    Violation::ensure(state3 == want, || ctx(format!("after the power loss: {}; {third}", diff(&state3, &want))))?;
    summary(outcome)
}
