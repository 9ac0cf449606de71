//! Fuzz target: open a damaged log.
//!
//! Two small logs are built once, deterministically, on a [`MemStorage`]
//! (8 KiB segments, so a handful of segments): one fully synced, one with
//! records written after the last sync (a legitimate torn-tail region). The
//! input picks a policy, a base log and up to eight [`Mutation`]s, and a seed
//! for a later power loss.
//!
//! Input: `policy:u8 base:u8 mutations(count:u8, ...) power_loss_seed:u64`.

use super::disk::{DamageLog, DiskImage, Mutation};
use super::input::{FuzzInput, FuzzOutput};
use super::{crash_seeded, Violation};
use paxos_wal::format::{Lsn, HEADER_PAGE, MANIFEST_FILE, SEGMENT_SUFFIX};
use paxos_wal::storage::{CrashKind, MemStorage};
use paxos_wal::{CorruptionPolicy, Error, OpenReport, Wal, WalOptions};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::OnceLock;

/// The directory of the log the target builds and damages.
pub const LOG_DIR: &str = "/fuzz/wal";

const SEGMENT_SIZE: u64 = 8 << 10;
const RECORDS: u64 = 90;
const UNSYNCED: u64 = 7;

/// What opening one damaged log did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogOpenSummary {
    /// Mutations applied.
    pub mutations: usize,
    /// The policy the log was opened with.
    pub policy: CorruptionPolicy,
    /// What the open returned.
    pub outcome: LogOutcome,
}

impl LogOpenSummary {
    /// Whether the open returned an error.
    pub fn refused(&self) -> bool {
        matches!(self.outcome, LogOutcome::Refused(_))
    }
}

/// What an open returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogOutcome {
    /// The log opened.
    Opened {
        /// Records readable.
        records: u64,
        /// First LSN in the log.
        first_lsn: Lsn,
        /// A torn tail was cut.
        torn_tail: bool,
        /// LSNs reported lost (only under `Salvage`).
        lost: u64,
    },
    /// A typed error; the name of its variant.
    Refused(&'static str),
}

struct BaseLog {
    image: DiskImage,
    records: Vec<Vec<u8>>,
    durable: Lsn,
}

/// The payload of record `lsn` of the base logs: distinct for every LSN.
fn payload(lsn: Lsn) -> Vec<u8> {
    super::test_bytes(lsn, (lsn * 37 % 160) as usize)
}

fn options(mem: &MemStorage, policy: CorruptionPolicy) -> WalOptions {
    WalOptions { segment_size: SEGMENT_SIZE, policy, ..WalOptions::small(mem.shared()) }
}

fn build(unsynced: u64) -> BaseLog {
    let mem = MemStorage::new();
    let dir = Path::new(LOG_DIR);
    let (wal, _) = Wal::open(dir, options(&mem, CorruptionPolicy::TolerateTornTail)).expect("building the base log");
    let mut records = Vec::new();
    for lsn in 1..=RECORDS + unsynced {
        let p = payload(lsn);
        assert_eq!(wal.append(&p).expect("append"), lsn);
        records.push(p);
        if lsn % 7 == 0 || lsn == RECORDS {
            wal.sync().expect("sync");
        }
    }
    // Written out (pwrite) but never synced.
    assert!(wal.read(RECORDS + unsynced).expect("read").is_some());
    let durable = wal.durable_lsn();
    assert!(wal.segment_count() >= 3, "the base log should span a few segments");
    drop(wal);
    let image = DiskImage::capture(&mem, &[dir]).expect("capturing the base log");
    BaseLog { image, records, durable }
}

fn bases() -> &'static [BaseLog; 2] {
    static BASES: OnceLock<[BaseLog; 2]> = OnceLock::new();
    BASES.get_or_init(|| [build(0), build(UNSYNCED)])
}

/// The records of base log `base % 2`, indexed by LSN - 1, and how many of
/// them were covered by a completed sync.
pub fn base_log_records(base: u8) -> (&'static [Vec<u8>], Lsn) {
    let b = &bases()[base as usize % 2];
    (&b.records, b.durable)
}

/// The input [`check_open_damaged_log`] reads for these choices.
pub fn open_log_input(policy: CorruptionPolicy, base: u8, mutations: &[Mutation], power_loss_seed: u64) -> Vec<u8> {
    let p = match policy {
        CorruptionPolicy::TolerateTornTail => 0,
        CorruptionPolicy::Salvage => 2,
        CorruptionPolicy::Strict => 3,
    };
    let mut out = FuzzOutput::new();
    out.u8(p).u8(base);
    Mutation::encode_list(mutations, &mut out);
    out.u64(power_loss_seed);
    out.finish()
}

fn kind(e: &Error) -> &'static str {
    match e {
        Error::Io { .. } => "Io",
        Error::NoSpace { .. } => "NoSpace",
        Error::Locked { .. } => "Locked",
        Error::Poisoned { .. } => "Poisoned",
        Error::RecordTooLarge { .. } => "RecordTooLarge",
        Error::BadSegment { .. } => "BadSegment",
        Error::LostSegment { .. } => "LostSegment",
        Error::BadManifest { .. } => "BadManifest",
        Error::MissingManifest { .. } => "MissingManifest",
        Error::Corruption { .. } => "Corruption",
        Error::TornTail(_) => "TornTail",
        Error::NoSuchLsn { .. } => "NoSuchLsn",
        Error::InvalidOptions(_) => "InvalidOptions",
        Error::DamagedRecord { .. } => "DamagedRecord",
        Error::MappedReadFailed { .. } => "MappedReadFailed",
    }
}

fn is_segment(p: &Path) -> bool {
    p.to_string_lossy().ends_with(SEGMENT_SUFFIX)
}

fn all_records(wal: &Wal) -> Result<Vec<(Lsn, Vec<u8>)>, Violation> {
    let it = wal.iter_from(wal.first_lsn()).map_err(|e| Violation(format!("iterating an opened log: {e}")))?;
    it.map(|r| r.map(|r| (r.lsn(), r.to_vec())).map_err(|e| Violation(format!("reading an opened log: {e}")))).collect()
}

fn lost_lsns(report: &OpenReport) -> BTreeSet<Lsn> {
    report.damage.iter().filter_map(|d| d.lsns).flat_map(|(a, b)| a..=b).collect()
}

/// Build (once) a valid log, damage it as the input says, open it, and check:
/// - an error is typed, and one the damage can explain (`TornTail` only
///   under `Strict`, `Corruption` never under `Salvage`, `Io` only with
///   read errors; never `Locked`, `NoSpace`, `Poisoned`...), and its
///   message formats;
/// - an opened log returns only records byte-identical to what was appended
///   at that LSN (nothing invented, no wrong data), every LSN from the first
///   to the last except those the report names as lost (only under
///   `Salvage`), up to at least the durable watermark the report states;
/// - when no segment's header page was touched and no file reshaped, that
///   watermark is at least what the base log had synced, and with no damage
///   at all every record is back;
/// - the log reopens to the same records (a cut tail does not come back),
///   takes new records, and after a power loss has exactly those records.
///   (Under `Salvage` with read errors, which the power loss clears, the
///   last open may read more and judge the damage differently: then every
///   record must still be byte-identical, and every one missing reported.)
pub fn check_open_damaged_log(data: &[u8]) -> Result<LogOpenSummary, Violation> {
    let mut input = FuzzInput::new(data);
    let policy = match input.u8() % 4 {
        0 | 1 => CorruptionPolicy::TolerateTornTail,
        2 => CorruptionPolicy::Salvage,
        _ => CorruptionPolicy::Strict,
    };
    let base = &bases()[input.u8() as usize % 2];
    let mutations = Mutation::decode_list(&mut input, 8);
    let seed = input.u64();
    let mut image = base.image.clone();
    let mut log = DamageLog::default();
    for m in &mutations {
        image.apply(m, &mut log);
    }
    let mem = image.load().map_err(|e| Violation(format!("loading the image: {e}")))?;
    let dir = Path::new(LOG_DIR);
    let summary = |outcome| LogOpenSummary { mutations: mutations.len(), policy, outcome };
    let (wal, report) = match Wal::open(dir, options(&mem, policy)) {
        Ok(opened) => opened,
        Err(e) => {
            let k = kind(&e);
            let msg = e.to_string();
            let allowed = match &e {
                Error::BadSegment { .. } => true,
                Error::Corruption { damage } => {
                    policy != CorruptionPolicy::Salvage
                        && !damage.is_empty()
                        && (policy == CorruptionPolicy::Strict || damage.iter().all(|d| d.lsns.is_some()))
                }
                Error::TornTail(_) => policy == CorruptionPolicy::Strict,
                // The end of the log can no longer be proven: only damage to
                // the manifest or to the last segment can do that.
                Error::LostSegment { .. } | Error::BadManifest { .. } | Error::MissingManifest { .. } => {
                    let last_segment = base.image.files.iter().map(|(p, _)| p).filter(|p| is_segment(p)).max();
                    log.reshaped_in(dir)
                        || log.touches(&dir.join(MANIFEST_FILE), 0..u64::MAX)
                        || last_segment.is_some_and(|p| log.touches(p, 0..u64::MAX))
                }
                Error::Io { .. } => log.read_errors,
                _ => false,
            };
            Violation::ensure(allowed, || format!("open under {policy:?} failed with {k}: {msg}; damage {log:?}"))?;
            return Ok(summary(LogOutcome::Refused(k)));
        }
    };
    let records = all_records(&wal)?;
    let n = base.records.len() as Lsn;
    let ctx = |what: String| format!("{what} (policy {policy:?}, report: {report}, mutations {mutations:?})");
    for (lsn, bytes) in &records {
        Violation::ensure(*lsn >= 1 && *lsn <= n, || ctx(format!("invented record at lsn {lsn}")))?;
        Violation::ensure(*bytes == base.records[*lsn as usize - 1], || ctx(format!("lsn {lsn} holds other bytes")))?;
    }
    let lost = lost_lsns(&report);
    Violation::ensure(lost.is_empty() || policy == CorruptionPolicy::Salvage, || ctx("lost LSNs reported".into()))?;
    let (first, last) = (report.first_lsn, report.last_lsn);
    Violation::ensure(wal.first_lsn() == first && wal.last_lsn() == last, || ctx("report and log disagree".into()))?;
    let present: Vec<Lsn> = records.iter().map(|(l, _)| *l).collect();
    let expected: Vec<Lsn> = (first..=last).filter(|l| !lost.contains(l)).collect();
    Violation::ensure(present == expected, || ctx(format!("records {present:?} are not the LSNs {first}..={last}")))?;
    Violation::ensure(last >= report.durable_watermark, || ctx("log ends below its durable watermark".into()))?;
    Violation::ensure(first == 1 || log.reshaped_in(dir), || ctx(format!("log starts at {first}")))?;
    let headers_intact =
        log.reshaped.is_empty() && !image.files.iter().any(|(p, _)| is_segment(p) && log.touches(p, 0..HEADER_PAGE));
    if headers_intact {
        Violation::ensure(report.durable_watermark >= base.durable, || ctx("durable watermark lost".into()))?;
    }
    if log.is_empty() {
        Violation::ensure(last == n && report.torn_tail.is_none(), || ctx("undamaged log lost records".into()))?;
    }
    let outcome = LogOutcome::Opened {
        records: records.len() as u64,
        first_lsn: first,
        torn_tail: report.torn_tail.is_some(),
        lost: lost.len() as u64,
    };

    // Reopen: the same records; a cut tail stays cut.
    drop(wal);
    let (wal, again) =
        Wal::open(dir, options(&mem, policy)).map_err(|e| Violation(ctx(format!("second open failed: {e}"))))?;
    Violation::ensure(all_records(&wal)? == records, || ctx(format!("second open returned other records: {again}")))?;
    Violation::ensure(again.torn_tail.is_none() || log.read_errors, || ctx(format!("tail cut twice: {again}")))?;

    // Append, sync, lose power: the new records and the old ones survive.
    let fresh: Vec<Vec<u8>> = (0..3u8).map(|i| vec![0xF0 | i; 20 + i as usize * 50]).collect();
    let mut expect = records;
    for p in &fresh {
        let lsn = wal.append(p).map_err(|e| Violation(ctx(format!("append after open: {e}"))))?;
        expect.push((lsn, p.clone()));
    }
    wal.sync().map_err(|e| Violation(ctx(format!("sync after open: {e}"))))?;
    drop(wal);
    crash_seeded(&mem, CrashKind::PowerLoss, seed);
    let policy2 = if policy == CorruptionPolicy::Salvage { policy } else { CorruptionPolicy::TolerateTornTail };
    let (wal, third) = Wal::open(dir, options(&mem, policy2))
        .map_err(|e| Violation(ctx(format!("open after appending and a power loss failed: {e}"))))?;
    let got = all_records(&wal)?;
    let lsns = || got.iter().map(|r| r.0).collect::<Vec<Lsn>>();
    if policy == CorruptionPolicy::Salvage && log.read_errors {
        // The power loss cleared the read errors, so this open reads bytes
        // the first one could not, and may judge the damage differently:
        // records may come back, and others be reported lost now. Still:
        // every record byte-identical, nothing lost without a report.
        let lost_now = lost_lsns(&third);
        for (lsn, bytes) in &got {
            let want = expect.iter().find(|(l, _)| l == lsn).map(|(_, b)| b);
            let want = want.or_else(|| base.records.get((*lsn as usize).wrapping_sub(1)));
            Violation::ensure(want == Some(bytes), || ctx(format!("after a power loss, lsn {lsn} holds other bytes")))?;
        }
        for (lsn, _) in &expect {
            Violation::ensure(got.iter().any(|(l, _)| l == lsn) || lost_now.contains(lsn), || {
                ctx(format!("after a power loss lsn {lsn} is gone unreported: {:?}, report {third}", lsns()))
            })?;
        }
    } else {
        Violation::ensure(got == expect, || {
            ctx(format!("after appending and a power loss: records {:?}, report {third}", lsns()))
        })?;
    }
    Ok(summary(outcome))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_undamaged_log_opens_whole_under_every_policy() {
        for (policy, base) in
            [(CorruptionPolicy::TolerateTornTail, 0), (CorruptionPolicy::Salvage, 1), (CorruptionPolicy::Strict, 0)]
        {
            let s = check_open_damaged_log(&open_log_input(policy, base, &[], 1)).unwrap();
            let n = base_log_records(base).0.len() as u64;
            assert_eq!(s.outcome, LogOutcome::Opened { records: n, first_lsn: 1, torn_tail: false, lost: 0 });
        }
    }

    #[test]
    fn a_record_damaged_in_the_unsynced_tail_is_cut_not_reported() {
        let (records, durable) = base_log_records(1);
        assert!(durable < records.len() as u64);
        // Zero the last 600 bytes of the used part of the last segment: only unsynced records live there.
        let image = &bases()[1].image;
        let last = image.files.iter().rposition(|(p, _)| is_segment(p)).unwrap();
        let used = image.files[last].1.iter().rposition(|b| *b != 0).unwrap() as u16;
        let m = Mutation::Zero { file: last as u8, offset: used - 100, len: 101 };
        let s = check_open_damaged_log(&open_log_input(CorruptionPolicy::TolerateTornTail, 1, &[m], 3)).unwrap();
        match s.outcome {
            LogOutcome::Opened { records, torn_tail, .. } => {
                assert!(torn_tail && records >= durable && records < 97, "{s:?}")
            }
            other => panic!("{other:?}"),
        }
    }
}
