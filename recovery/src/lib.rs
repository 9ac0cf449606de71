//! # paxos-recovery: snapshot + log replay into any state machine
//!
//! After a crash or a clean stop, a node's state is the newest usable
//! snapshot plus every log record after the position it covers. This crate
//! does exactly that for any state machine that implements the small
//! [`StateMachine`] trait, and says what it did in a [`RecoveryReport`].
//!
//! ## What happens, in order
//! 1. **Open the log** ([`paxos_wal::Wal::open`]) under the chosen
//!    [`CorruptionPolicy`]: every record is validated; an unacknowledged torn
//!    tail is cut (not under `Strict`); damage to acknowledged records fails
//!    the recovery (or, under `Salvage`, is skipped and reported).
//! 2. **Pick a snapshot**: the newest snapshot whose position the log still
//!    continues (the log must hold every record after it). A snapshot that
//!    fails to verify (its checksum is only known at the end of the stream)
//!    is skipped and the next older one is tried; the state machine's
//!    [`StateMachine::restore`] is called again and must replace, not merge.
//!    If the log was truncated past every usable snapshot, recovery fails with
//!    an error that names both.
//! 3. **Replay** every record after the snapshot's position, in LSN order,
//!    through [`StateMachine::apply`]. Records are borrowed from the log's
//!    mapping: no copy.
//!
//! Recovery writes nothing but the log's own repairs (erasing a torn tail),
//! which are idempotent: a crash during recovery followed by another recovery
//! gives the same state.
//!
//! ## Example
//! ```
//! use paxos_recovery::{recover, RecoveryOptions, StateMachine, BoxError};
//! use paxos_wal::Record;
//! use std::io::Read;
//!
//! #[derive(Default)]
//! struct Sum(u64);
//! impl StateMachine for Sum {
//!     fn restore(&mut self, _pos: u64, _meta: &[u8], payload: &mut dyn Read) -> Result<(), BoxError> {
//!         let mut b = [0u8; 8];
//!         payload.read_exact(&mut b)?;
//!         self.0 = u64::from_le_bytes(b);
//!         Ok(())
//!     }
//!     fn apply(&mut self, record: &Record) -> Result<(), BoxError> {
//!         self.0 += record[0] as u64;
//!         Ok(())
//!     }
//! }
//!
//! let dir = tempfile::tempdir()?;
//! let opts = RecoveryOptions::default();
//! let mut sum = Sum::default();
//! let r = recover(dir.path().join("wal"), dir.path().join("snap"), opts.clone(), &mut sum)?;
//! r.wal.append(&[5])?;
//! let lsn = r.wal.append_durable(&[7])?;
//! r.snapshots.write(lsn, b"", &12u64.to_le_bytes())?; // state through `lsn`
//! r.wal.append_durable(&[1])?;
//! drop(r);
//!
//! let mut again = Sum::default();
//! let r = recover(dir.path().join("wal"), dir.path().join("snap"), opts, &mut again)?;
//! assert_eq!(again.0, 13);
//! assert_eq!(r.report.records_replayed, 1);
//! println!("{}", r.report);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

mod report;

pub use paxos_wal::CorruptionPolicy;
pub use paxos_wal::{Damage, DamageKind, TornTail};
pub use report::{RecoveryReport, SkippedSnapshot, SnapshotUsed, Timings};

use paxos_snapshot::format::parse_snapshot_name;
use paxos_snapshot::{SnapshotOptions, SnapshotStore};
use paxos_wal::{Lsn, Record, Wal, WalOptions};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The error type a state machine returns.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A state machine rebuilt from a snapshot and the log after it.
pub trait StateMachine {
    /// Replace the whole state with the snapshot's. `position` is the last
    /// LSN the snapshot covers. May be called more than once if a snapshot
    /// turns out to be damaged while it is read; each call starts afresh.
    fn restore(&mut self, position: Lsn, metadata: &[u8], payload: &mut dyn Read) -> Result<(), BoxError>;
    /// Apply one record, in LSN order. The payload is borrowed from the
    /// mapped log; a [`Record`] may be cloned to keep it (it pins its segment).
    fn apply(&mut self, record: &Record) -> Result<(), BoxError>;
}

/// Options for [`recover`].
#[derive(Clone, Debug, Default)]
pub struct RecoveryOptions {
    /// How the log is opened. Its `policy` is what recovery does about damage.
    pub wal: WalOptions,
    /// How the snapshot directory is opened.
    pub snapshots: SnapshotOptions,
}

impl RecoveryOptions {
    /// Options with the given corruption policy.
    pub fn with_policy(mut self, policy: CorruptionPolicy) -> Self {
        self.wal.policy = policy;
        self
    }
}

/// The opened log and snapshot store, ready for new work, and the report.
#[derive(Debug)]
pub struct Recovered {
    /// The log, positioned after the last valid record.
    pub wal: Wal,
    /// The snapshot directory.
    pub snapshots: SnapshotStore,
    /// What recovery found and did.
    pub report: RecoveryReport,
}

/// Why recovery failed.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    /// The log could not be opened (corruption under the policy, I/O, lock...).
    #[error("log: {0}")]
    Wal(#[from] paxos_wal::Error),
    /// The snapshot directory could not be read.
    #[error("snapshots: {0}")]
    Snapshot(#[from] paxos_snapshot::SnapshotError),
    /// No snapshot the log continues from: the log starts after every usable
    /// snapshot's position (or there is none and the log does not start at 1).
    #[error(
        "the log in {} starts at lsn {log_first_lsn}, but no usable snapshot covers lsn {} (skipped: {})",
        wal_dir.display(),
        log_first_lsn - 1,
        describe(skipped)
    )]
    LogNotCovered {
        /// The log directory.
        wal_dir: PathBuf,
        /// The first LSN the log holds.
        log_first_lsn: Lsn,
        /// The snapshots considered and why each was unusable.
        skipped: Vec<SkippedSnapshot>,
    },
    /// A snapshot (the one used, or any snapshot file still under its name,
    /// even one too damaged to read) covers records the log no longer holds:
    /// acknowledged state would be lost, so recovery refuses.
    #[error("snapshot {} covers up to lsn {position} but the log ends at {log_last_lsn}", path.display())]
    LogBehindSnapshot {
        /// The snapshot.
        path: PathBuf,
        /// Its position.
        position: Lsn,
        /// The log's last LSN.
        log_last_lsn: Lsn,
    },
    /// The state machine refused a snapshot or a record.
    #[error("state machine failed at lsn {lsn}: {source}")]
    StateMachine {
        /// The record (or snapshot position) being applied.
        lsn: Lsn,
        /// What it said.
        #[source]
        source: BoxError,
    },
}

impl RecoveryError {
    /// Whether the disk is full (`ENOSPC`), in the log or the snapshots.
    pub fn is_no_space(&self) -> bool {
        match self {
            RecoveryError::Wal(e) => e.is_no_space(),
            RecoveryError::Snapshot(e) => e.is_no_space(),
            _ => false,
        }
    }

    /// Whether another process holds the log's or the snapshots' lock.
    pub fn is_locked(&self) -> bool {
        match self {
            RecoveryError::Wal(e) => e.is_locked(),
            RecoveryError::Snapshot(e) => e.is_locked(),
            _ => false,
        }
    }
}

fn describe(skipped: &[SkippedSnapshot]) -> String {
    if skipped.is_empty() {
        return "none found".into();
    }
    skipped.iter().map(|s| format!("{}: {}", s.path.display(), s.reason)).collect::<Vec<_>>().join("; ")
}

/// Rebuild `sm` from the snapshots in `snap_dir` and the log in `wal_dir`.
pub fn recover<S: StateMachine + ?Sized>(
    wal_dir: impl AsRef<Path>,
    snap_dir: impl AsRef<Path>,
    opts: RecoveryOptions,
    sm: &mut S,
) -> Result<Recovered, RecoveryError> {
    let total = Instant::now();
    let policy = opts.wal.policy;
    let (wal, open) = Wal::open(wal_dir.as_ref(), opts.wal)?;
    let open_log = total.elapsed();

    let t = Instant::now();
    let opts_storage = opts.snapshots.storage.clone();
    let snapshots = SnapshotStore::open(snap_dir.as_ref(), opts.snapshots)?;
    let first = wal.first_lsn();
    let mut skipped = Vec::new();
    let mut used = None;
    for meta in snapshots.list()? {
        if meta.position + 1 < first {
            skipped.push(SkippedSnapshot {
                path: meta.path.clone(),
                reason: format!("covers up to lsn {} but the log starts at {first}", meta.position),
            });
            continue;
        }
        let restored = snapshots.read(&meta).map_err(BoxError::from).and_then(|mut reader| {
            sm.restore(meta.position, &meta.metadata, &mut reader)?;
            // Make sure the checksum at the end was reached and checked.
            let mut rest = Vec::new();
            reader.read_to_end(&mut rest)?;
            Ok(())
        });
        match restored {
            Ok(()) => {
                used = Some(meta);
                break;
            }
            Err(e) => skipped.push(SkippedSnapshot { path: meta.path.clone(), reason: e.to_string() }),
        }
    }
    // Snapshots whose headers could not even be listed are not in `list()`;
    // the log must still start at 1 if none was usable.
    let from = match &used {
        Some(meta) => meta.position + 1,
        None if first <= 1 => 1,
        None => {
            return Err(RecoveryError::LogNotCovered {
                wal_dir: wal.dir().to_path_buf(),
                log_first_lsn: first,
                skipped,
            })
        }
    };
    if let Some(meta) = &used {
        if meta.position > wal.last_lsn() {
            return Err(RecoveryError::LogBehindSnapshot {
                path: meta.path.clone(),
                position: meta.position,
                log_last_lsn: wal.last_lsn(),
            });
        }
    }
    // Every snapshot file still under its name proves its state was
    // acknowledged, even one too damaged to read or list: the log must reach
    // the highest such position, or recovery would hand back older state.
    let newest_named = opts_storage
        .list(snap_dir.as_ref())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|n| parse_snapshot_name(&n).map(|p| (p, n)))
        .max();
    if let Some((position, name)) = newest_named {
        if wal.last_lsn() < position {
            return Err(RecoveryError::LogBehindSnapshot {
                path: snap_dir.as_ref().join(name),
                position,
                log_last_lsn: wal.last_lsn(),
            });
        }
    }
    let snapshot = t.elapsed();

    let t = Instant::now();
    let mut records = 0u64;
    let mut bytes = 0u64;
    let mut range: Option<(Lsn, Lsn)> = None;
    for rec in wal.iter_from(from)? {
        let rec = rec?;
        sm.apply(&rec).map_err(|source| RecoveryError::StateMachine { lsn: rec.lsn(), source })?;
        records += 1;
        bytes += rec.len() as u64;
        range = Some((range.map_or(rec.lsn(), |r| r.0), rec.lsn()));
    }
    let replay = t.elapsed();

    let report = RecoveryReport {
        policy,
        snapshot: used.map(|m| SnapshotUsed { path: m.path, position: m.position, payload_len: m.payload_len }),
        skipped_snapshots: skipped,
        records_replayed: records,
        bytes_replayed: bytes,
        replayed_lsns: range,
        log_first_lsn: wal.first_lsn(),
        log_last_lsn: wal.last_lsn(),
        durable_watermark: open.durable_watermark,
        segments: open.segments.len(),
        torn_tail: open.torn_tail.clone(),
        damage: open.damage.clone(),
        removed_temp_files: open.removed_temp_files.clone(),
        ignored_files: open.ignored_files.clone(),
        dropped_empty_segment: open.dropped_empty_segment.clone(),
        timings: Timings { open_log, snapshot, replay, total: total.elapsed() },
    };
    Ok(Recovered { wal, snapshots, report })
}
