//! Opening a log after a clean shutdown or a crash, in three steps:
//!
//! 1. **Scan** ([`survey`], [`scan`]): list the directory, check every
//!    segment's header against its name and the manifest, read the
//!    watermark slots, and scan every record with `pread` (not through the
//!    mapping, so that a disk read error becomes a reported damaged range
//!    rather than a SIGBUS). The durable watermark D is the highest LSN an
//!    intact slot or record proves was covered by a completed sync.
//! 2. **Classify** ([`walk`], [`classify`]): walk the LSNs and name every
//!    gap and damaged range as a [`Finding`](classify::Finding); the
//!    decision table ([`classify::decide`]) says what each finding costs
//!    under the policy. For the first LSN `p` that is not where it belongs:
//!    `p > D` is a torn tail (nothing from `p` on was acknowledged), `p <= D`
//!    is damage to acknowledged records (reported, never cut silently).
//! 3. **Repair** ([`repair`]): refuse what the policy refuses, else cut the
//!    torn tail under the erase protocol, leave holes, zero what must not
//!    resurface, make everything kept durable, and hand the log over.
//!
//! Files met while listing (leftover temp files, segments past the
//! manifest, an interrupted erase) are acted on by the table too, as they
//! are met.

mod classify;
mod repair;
mod scan;
mod survey;
mod walk;

use crate::error::{Error, Result};
use crate::format::{frame_len, parse_segment_name, Lsn, HEADER_PAGE};
use crate::manifest;
use crate::report::{Damage, OpenReport};
use crate::segment::{Prepared, Segment};
use crate::storage::Storage;
use crate::CorruptionPolicy;
use classify::{decide, unexpected, Action, Finding, Refusal};
use std::path::Path;
use std::sync::Arc;

/// The state of the log on disk after recovery.
pub(crate) struct Recovered {
    pub segments: Vec<Segment>,
    /// The log's identity, from its segments (`None`: no segment left).
    pub log_id: Option<u64>,
    pub next_lsn: Lsn,
    pub write_offset: u64,
    pub watermark: Lsn,
    pub report: OpenReport,
    /// A pre-zeroed spare an earlier run left, full size and all zeros: the
    /// next segment, instead of zeroing a new one. With its number.
    pub spare: Option<(u64, Prepared)>,
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |e| Error::io(op, path, e)
}

fn bad(path: &Path, reason: impl Into<String>) -> Error {
    Error::BadSegment { path: path.to_path_buf(), reason: reason.into() }
}

/// The most LSNs a segment of `size` bytes can hold.
fn capacity(size: u64) -> u64 {
    (size - HEADER_PAGE) / frame_len(0)
}

pub(crate) fn recover(
    storage: &Arc<dyn Storage>,
    dir: &Path,
    policy: CorruptionPolicy,
    segment_size: u64,
) -> Result<Recovered> {
    let mut report = OpenReport::default();

    // Scan: the directory, every segment's header, every record.
    let manifest = manifest::read(&**storage, dir)?;
    let mut listing = survey::list(storage, dir, manifest.as_ref(), policy, segment_size, &mut report)?;
    let (found, watermark) = survey::segments(storage, dir, manifest.as_ref(), &mut listing, policy, &mut report)?;
    let spare = listing.spare.take();
    report.durable_watermark = watermark;

    // Classify: is there a log at all; then every gap and damaged range.
    if manifest.is_none() {
        // A log always has a manifest from its first segment on, except
        // after a crash while it was being created (then no record exists).
        let records: u64 = found.iter().map(|f| f.scan.frames.len() as u64).sum();
        let finding = if records > 0 { Finding::ManifestMissing } else { Finding::ManifestNotYetWritten };
        match decide(finding, policy) {
            Action::Refuse(Refusal::MissingManifest) => {
                return Err(Error::MissingManifest { dir: dir.to_path_buf(), records })
            }
            Action::Keep => {}
            a => unexpected(finding, a),
        }
    }
    if found.is_empty() {
        match decide(Finding::NoSegment, policy) {
            Action::Create => {}
            a => unexpected(Finding::NoSegment, a),
        }
        // A dropped all-zero segment still tells where the log had got to:
        // never hand out its LSNs again (a snapshot may cover them).
        let next_lsn = report
            .dropped_empty_segment
            .as_deref()
            .and_then(|p| p.file_name()?.to_str().and_then(parse_segment_name))
            .unwrap_or(1)
            .max(watermark + 1);
        report.created = next_lsn == 1;
        return Ok(Recovered {
            segments: Vec::new(),
            log_id: None,
            next_lsn,
            write_offset: 0,
            watermark,
            report,
            spare,
        });
    }
    let walk = walk::walk(&found, watermark, policy)?;
    let refused: Vec<Damage> = walk
        .damage
        .iter()
        .filter(|(f, _)| decide(*f, policy) == Action::Refuse(Refusal::Corruption))
        .map(|(_, d)| d.clone())
        .collect();
    if !refused.is_empty() {
        return Err(Error::Corruption { damage: refused });
    }
    report.records = walk.records;
    report.payload_bytes = walk.payload_bytes;
    report.damage = walk.damage.iter().map(|(_, d)| d.clone()).collect();

    // Repair: what the table decided, then everything kept made durable.
    repair::repair(storage, dir, manifest, found, walk, watermark, policy, report, spare)
}
