//! `inspect`, `verify` and `recover`: looking at a store directory.
//!
//! `inspect` and `verify` never modify the directory: they copy its files
//! into an in-memory file system ([`MemStorage`]) and open that copy, so even
//! the repairs that opening performs (erasing a torn tail) touch only the copy.
//! Stop the node first: a store that is being written may be copied mid-write.

use paxos_acceptor_store::{decode_ops, AcceptorStore, Ballot, CorruptionPolicy, GroupId, Op, SlotRead, StoreOptions};
use paxos_snapshot::{SnapshotOptions, SnapshotStore};
use paxos_wal::storage::{MemStorage, Storage};
use paxos_wal::{OpenReport, Wal, WalOptions};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A problem with a directory, as one clear line.
pub type Problem = String;

/// Copy every file below `dir` into a fresh in-memory file system, at the
/// same paths. Returns the copy and the bytes copied.
pub fn copy_to_mem(dir: &Path) -> std::io::Result<(MemStorage, u64)> {
    let mem = MemStorage::new();
    let mut bytes = 0;
    let mut stack = vec![dir.to_path_buf()];
    mem.create_dir_all(dir)?;
    while let Some(d) = stack.pop() {
        mem.create_dir_all(&d)?;
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                stack.push(path);
            } else if entry.file_type()?.is_file() {
                let data = std::fs::read(&path)?;
                bytes += data.len() as u64;
                mem.put_file(&path, &data)?;
            }
        }
    }
    Ok((mem, bytes))
}

/// Where the parts of a store live.
struct Layout {
    wal: PathBuf,
    checkpoints: PathBuf,
}

fn layout(dir: &Path) -> Result<Layout, String> {
    crate::paths::check_store(dir)?;
    Ok(Layout { wal: dir.join("wal"), checkpoints: dir.join("checkpoints") })
}

/// One group, as `inspect` shows it.
#[derive(Debug, Serialize)]
pub struct GroupInfo {
    /// Group id.
    pub group: u64,
    /// Promised ballot `(round, node)`.
    pub promised: (u64, u64),
    /// First live slot.
    pub first_live_slot: u64,
    /// Accepted slots.
    pub accepted_slots: usize,
    /// Of which known chosen.
    pub chosen_slots: usize,
    /// Highest accepted slot.
    pub last_slot: Option<u64>,
}

/// One snapshot (checkpoint) file.
#[derive(Debug, Serialize)]
pub struct SnapshotInfo {
    /// File.
    pub path: PathBuf,
    /// Last LSN covered.
    pub position: u64,
    /// Payload bytes.
    pub payload_len: u64,
    /// `None` when it verifies, else why not.
    pub problem: Option<String>,
}

/// One segment.
#[derive(Debug, Serialize)]
pub struct SegmentLine {
    /// File.
    pub path: PathBuf,
    /// Sequence number.
    pub seq: u64,
    /// First LSN.
    pub first_lsn: u64,
    /// Records (holes included).
    pub records: u64,
    /// Bytes used.
    pub bytes_used: u64,
    /// File size.
    pub size: u64,
}

/// One operation of one record, for `--records`.
#[derive(Debug, Serialize)]
pub struct RecordLine {
    /// The record.
    pub lsn: u64,
    /// Human-readable operation.
    pub op: String,
}

/// What `inspect` shows.
#[derive(Debug, Serialize)]
pub struct Inspection {
    /// The directory.
    pub dir: PathBuf,
    /// Bytes on disk.
    pub bytes: u64,
    /// Log segments.
    pub segments: Vec<SegmentLine>,
    /// First and last LSN.
    pub lsns: (u64, u64),
    /// Records in the log.
    pub records: u64,
    /// Torn tail that opening would cut.
    pub torn_tail: Option<String>,
    /// Damaged ranges.
    pub damage: Vec<String>,
    /// Checkpoints.
    pub snapshots: Vec<SnapshotInfo>,
    /// Groups.
    pub groups: Vec<GroupInfo>,
    /// Operations, with `--records`.
    pub ops: Vec<RecordLine>,
}

fn describe(op: &Op) -> String {
    let b = |b: &Ballot| format!("({},{})", b.round, b.node);
    match op {
        Op::Promise { group, ballot, from_slot } => format!("promise {group} ballot {} from {from_slot}", b(ballot)),
        Op::Accept { group, slot, ballot, value } => {
            format!("accept {group} {slot} ballot {} value {} bytes", b(ballot), value.len())
        }
        Op::MarkChosen { group, slot } => format!("chosen {group} {slot}"),
        Op::TruncateBelow { group, slot } => format!("truncate {group} below {slot}"),
        Op::RemoveGroup { group } => format!("remove {group}"),
        Op::Put { group, from, ballot, values } => format!(
            "put (raw) {group} {} values from {from} ballot {}, {} bytes",
            values.len(),
            b(ballot),
            values.iter().map(Vec::len).sum::<usize>()
        ),
        Op::DropFrom { group, slot } => format!("drop (raw) {group} from {slot}"),
        Op::SetMeta { group, key, value } => format!("meta (raw) {group} key {key} value {} bytes", value.len()),
    }
}

fn open_wal(mem: &MemStorage, l: &Layout) -> Result<(Wal, OpenReport), String> {
    let opts = WalOptions {
        policy: CorruptionPolicy::Salvage,
        background_prepare: false,
        storage: mem.shared(),
        ..Default::default()
    };
    // The segment size is taken from the files; the option only sizes new ones.
    Wal::open(&l.wal, opts).map_err(|e| format!("{}: {e}", l.wal.display()))
}

fn snapshots(mem: &MemStorage, l: &Layout) -> Result<Vec<SnapshotInfo>, String> {
    let store = SnapshotStore::open(&l.checkpoints, SnapshotOptions { keep: usize::MAX, storage: mem.shared() })
        .map_err(|e| format!("{}: {e}", l.checkpoints.display()))?;
    let (valid, skipped) = store.valid_snapshots().map_err(|e| format!("{}: {e}", l.checkpoints.display()))?;
    let mut out: Vec<SnapshotInfo> = valid
        .into_iter()
        .map(|m| SnapshotInfo { path: m.path, position: m.position, payload_len: m.payload_len, problem: None })
        .collect();
    for s in skipped {
        out.push(SnapshotInfo { path: s.path, position: 0, payload_len: 0, problem: Some(s.error.to_string()) });
    }
    Ok(out)
}

/// Look at a store directory without modifying it.
pub fn inspect(dir: &Path, with_records: bool) -> Result<Inspection, String> {
    let l = layout(dir)?;
    let (mem, bytes) = copy_to_mem(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let (wal, report) = open_wal(&mem, &l)?;
    let mut ops = Vec::new();
    if with_records {
        for rec in wal.iter_from(0).map_err(|e| e.to_string())? {
            let rec = rec.map_err(|e| e.to_string())?;
            match decode_ops(&rec) {
                Ok(list) => ops.extend(list.iter().map(|op| RecordLine { lsn: rec.lsn(), op: describe(op) })),
                Err(e) => ops.push(RecordLine { lsn: rec.lsn(), op: format!("UNDECODABLE: {e}") }),
            }
        }
    }
    drop(wal);
    let snaps = snapshots(&mem, &l)?;
    let mut opts = StoreOptions::small(mem.shared());
    opts.log.policy = CorruptionPolicy::Salvage;
    let (store, _) = AcceptorStore::open(dir, opts).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut groups = Vec::new();
    for g in store.groups() {
        let entries = store.accepted_from(g, paxos_acceptor_store::Slot(0)).map_err(|e| e.to_string())?;
        let p = store.promised(g).unwrap_or(Ballot::ZERO);
        groups.push(GroupInfo {
            group: g.0,
            promised: (p.round, p.node),
            first_live_slot: store.first_live_slot(g).map_or(0, |s| s.0),
            accepted_slots: entries.len(),
            chosen_slots: entries.iter().filter(|e| e.chosen).count(),
            last_slot: entries.last().map(|e| e.slot.0),
        });
    }
    Ok(Inspection {
        dir: dir.to_path_buf(),
        bytes,
        segments: report
            .segments
            .iter()
            .map(|s| SegmentLine {
                path: s.path.clone(),
                seq: s.seq,
                first_lsn: s.first_lsn,
                records: s.records,
                bytes_used: s.bytes_used,
                size: s.size,
            })
            .collect(),
        lsns: (report.first_lsn, report.last_lsn),
        records: report.records,
        torn_tail: report.torn_tail.as_ref().map(|t| t.to_string()),
        damage: report.damage.iter().map(|d| d.to_string()).collect(),
        snapshots: snaps,
        groups,
        ops,
    })
}

/// What `verify` found.
#[derive(Debug, Serialize)]
pub struct Verification {
    /// The directory.
    pub dir: PathBuf,
    /// Records whose checksums were verified.
    pub records: u64,
    /// Snapshots verified.
    pub snapshots: usize,
    /// Groups recovered.
    pub groups: usize,
    /// Things that are fine but worth knowing (a torn tail from a crash).
    pub notes: Vec<String>,
    /// Problems: the directory is clean only when this is empty.
    pub problems: Vec<Problem>,
}

/// Check every checksum and the acceptor invariants, without modifying anything.
pub fn verify(dir: &Path) -> Result<Verification, String> {
    let l = layout(dir)?;
    let (mem, _) = copy_to_mem(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let (wal, report) = match open_wal(&mem, &l) {
        Ok(x) => x,
        Err(e) => {
            problems.push(e);
            return Ok(Verification { dir: dir.into(), records: 0, snapshots: 0, groups: 0, notes, problems });
        }
    };
    if let Some(t) = &report.torn_tail {
        notes.push(format!("torn tail (unacknowledged writes of a crash; recovery cuts it): {t}"));
    }
    for d in &report.damage {
        problems.push(format!("log damage: {d}"));
    }
    for f in &report.ignored_files {
        notes.push(format!("unrelated file in the log directory: {f}"));
    }
    // Acceptor rules along the log: within each group, promises never go
    // down and no accept is below the promise recorded before it.
    let mut promised: BTreeMap<GroupId, (Ballot, u64)> = BTreeMap::new();
    for rec in wal.iter_from(0).map_err(|e| e.to_string())? {
        let rec = rec.map_err(|e| e.to_string())?;
        let ops = match decode_ops(&rec) {
            Ok(ops) => ops,
            Err(e) => {
                problems.push(format!("lsn {}: {e}", rec.lsn()));
                continue;
            }
        };
        for op in ops {
            match op {
                Op::Promise { group, ballot, .. } => {
                    let (p, at) = promised.get(&group).copied().unwrap_or((Ballot::ZERO, 0));
                    if ballot < p {
                        problems.push(format!(
                            "lsn {}: {group} promise {ballot} below the promise {p} recorded at lsn {at}",
                            rec.lsn()
                        ));
                    }
                    promised.insert(group, (ballot.max(p), rec.lsn()));
                }
                Op::Accept { group, ballot, slot, .. } => {
                    let (p, at) = promised.get(&group).copied().unwrap_or((Ballot::ZERO, 0));
                    if ballot < p {
                        problems.push(format!(
                            "lsn {}: {group} {slot} accepted at {ballot} below the promise {p} recorded at lsn {at}",
                            rec.lsn()
                        ));
                    }
                    promised.insert(group, (ballot.max(p), rec.lsn()));
                }
                Op::RemoveGroup { group } => {
                    promised.remove(&group);
                }
                _ => {}
            }
        }
    }
    drop(wal);
    let snaps = snapshots(&mem, &l)?;
    for s in &snaps {
        if let Some(p) = &s.problem {
            problems.push(format!("checkpoint {}: {p}", s.path.display()));
        }
    }
    let mut opts = StoreOptions::small(mem.shared());
    opts.log.policy = CorruptionPolicy::Salvage;
    let groups = match AcceptorStore::open(dir, opts) {
        Ok((store, _)) => {
            let groups = store.groups();
            for g in &groups {
                if let Err(e) = store.accepted_from(*g, paxos_acceptor_store::Slot(0)) {
                    problems.push(format!("{g}: {e}"));
                }
                if let Some(first) = store.first_live_slot(*g) {
                    if first.0 > 0 {
                        if let Ok(SlotRead::Accepted { .. }) =
                            store.accepted(*g, paxos_acceptor_store::Slot(first.0 - 1))
                        {
                            problems.push(format!("{g}: a truncated slot is still readable"));
                        }
                    }
                }
            }
            groups.len()
        }
        Err(e) => {
            problems.push(format!("recovery fails: {e}"));
            0
        }
    };
    Ok(Verification {
        dir: dir.into(),
        records: report.records,
        snapshots: snaps.iter().filter(|s| s.problem.is_none()).count(),
        groups,
        notes,
        problems,
    })
}
