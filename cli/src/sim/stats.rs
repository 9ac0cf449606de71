//! What a simulation run counted, added up over seeds and printed as the
//! summary of `paxos-store simulate`.

use super::DamageClass;
use paxos_wal::storage::FaultCounts;

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Messages delivered.
    pub messages: u64,
    /// Slots chosen.
    pub chosen: u64,
    /// Simulated power losses.
    pub power_losses: u64,
    /// Simulated process crashes.
    pub process_crashes: u64,
    /// Syncs made to fail with EIO.
    pub sync_failures: u64,
    /// Periods of a full disk.
    pub disk_full: u64,
    /// Crashes at a random upcoming I/O operation.
    pub crash_points: u64,
    /// Crashes during recovery.
    pub recovery_crashes: u64,
    /// Checkpoints attempted.
    pub checkpoints: u64,
    /// Truncations acknowledged (the call returned) or queued (`submit`).
    pub truncations: u64,
    /// Recoveries (restarts) completed.
    pub recoveries: u64,
    /// Opens that failed with an I/O error of the simulated disk (a failed
    /// sync during recovery); the process is restarted.
    pub recovery_io_failures: u64,
    /// Background write-back errors injected on a segment.
    pub writeback_faults: u64,
    /// Segments whose mapped reads were made to fail (the simulated disk's
    /// SIGBUS: a segment truncated or unreadable under the running store).
    pub mapped_read_faults: u64,
    /// Store calls answered with a typed error because a value could not be
    /// read from its mapping (`StoreError::DamagedValue`).
    pub damaged_value_errors: u64,
    /// Segment files damaged between runs, by [`DamageClass`].
    pub files_damaged: [u64; 4],
    /// ... of which the damaged file was the last segment.
    pub last_segment_damaged: [u64; 4],
    /// Acceptors lost after damage, by class: the store refused to open.
    pub lost_refused: [u64; 4],
    /// Acceptors lost after damage, by class: the store opened and reported
    /// the damage.
    pub lost_reported: [u64; 4],
    /// Damage after which the store opened cleanly but had lost acknowledged
    /// state (a violation; the acceptor is then taken out).
    pub damage_violated: [u64; 4],
    /// Damage after which the store opened cleanly and every acknowledged
    /// fact was still there (e.g. an old, already checkpointed segment).
    pub damage_harmless: [u64; 4],
    /// What the simulated disks counted (partial write-backs, evictions,
    /// lost directory entries, ...).
    pub disk: FaultCounts,
    /// Invariant violations (empty in a correct store).
    pub violations: Vec<String>,
}

impl SimStats {
    /// Add another run's counts.
    pub fn add(&mut self, o: &SimStats) {
        self.messages += o.messages;
        self.chosen += o.chosen;
        self.power_losses += o.power_losses;
        self.process_crashes += o.process_crashes;
        self.sync_failures += o.sync_failures;
        self.disk_full += o.disk_full;
        self.crash_points += o.crash_points;
        self.recovery_crashes += o.recovery_crashes;
        self.checkpoints += o.checkpoints;
        self.truncations += o.truncations;
        self.recoveries += o.recoveries;
        self.recovery_io_failures += o.recovery_io_failures;
        self.writeback_faults += o.writeback_faults;
        self.mapped_read_faults += o.mapped_read_faults;
        self.damaged_value_errors += o.damaged_value_errors;
        for i in 0..4 {
            self.files_damaged[i] += o.files_damaged[i];
            self.last_segment_damaged[i] += o.last_segment_damaged[i];
            self.lost_refused[i] += o.lost_refused[i];
            self.lost_reported[i] += o.lost_reported[i];
            self.damage_harmless[i] += o.damage_harmless[i];
            self.damage_violated[i] += o.damage_violated[i];
        }
        self.disk.add(&o.disk);
        self.violations.extend(o.violations.iter().cloned());
    }

    /// All simulated crashes of any kind.
    pub fn crashes(&self) -> u64 {
        self.power_losses + self.process_crashes + self.crash_points + self.recovery_crashes
    }

    /// Counts per fault class, one class a line.
    pub fn summary(&self) -> String {
        let d = &self.disk;
        let per = |v: &[u64; 4]| {
            DamageClass::ALL.iter().map(|c| format!("{} {}", v[*c as usize], c.name())).collect::<Vec<_>>().join(", ")
        };
        [
            format!("{} messages, {} slots chosen, {} recoveries, {} checkpoints, {} truncations", self.messages, self.chosen, self.recoveries, self.checkpoints, self.truncations),
            format!(
                "crashes: {} ({} power losses, {} process crashes, {} crash points, {} during recovery)",
                self.crashes(),
                self.power_losses,
                self.process_crashes,
                self.crash_points,
                self.recovery_crashes
            ),
            format!(
                "sync faults: {} injected, {} failed syncs seen by the store ({} with partial write-back), {} lying pages, {} evicted, {} write-back errors, {} recoveries failed by I/O",
                self.sync_failures, d.failed_syncs, d.partial_writebacks, d.lying_pages, d.evicted_pages, d.writeback_errors, self.recovery_io_failures
            ),
            format!("directories: {} unsynced entries lost at power loss, {} directories lost", d.lost_dir_entries, d.lost_dirs),
            format!(
                "mapped reads: {} segments made to fail, {} calls answered with a typed error",
                self.mapped_read_faults, self.damaged_value_errors
            ),
            format!("disk full: {} periods; garbage sectors: {}", self.disk_full, d.garbage_sectors),
            format!("files damaged between runs: {} (last segment: {})", per(&self.files_damaged), per(&self.last_segment_damaged)),
            format!("  acceptor lost, open refused: {}", per(&self.lost_refused)),
            format!("  acceptor lost, damage reported: {}", per(&self.lost_reported)),
            format!("  opened, nothing acknowledged lost: {}", per(&self.damage_harmless)),
            format!("  opened as an older state (VIOLATION): {}", per(&self.damage_violated)),
        ]
        .join("\n")
    }
}
