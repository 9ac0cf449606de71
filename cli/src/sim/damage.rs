//! Damage done to a down acceptor's segment files between runs, as an
//! operator or a backup tool might ([`SimConfig::file_damage`](super::SimConfig::file_damage)).

use super::{Sim, ROOT};
use paxos_wal::storage::Storage;
use rand::Rng;
use std::path::Path;

/// How a segment file was damaged between runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DamageClass {
    /// Removed.
    Removed = 0,
    /// Cut short.
    Truncated = 1,
    /// Overwritten with zeros.
    Zeroed = 2,
    /// Replaced by a directory.
    ReplacedWithDir = 3,
}

impl DamageClass {
    /// Every class, in index order.
    pub const ALL: [DamageClass; 4] =
        [DamageClass::Removed, DamageClass::Truncated, DamageClass::Zeroed, DamageClass::ReplacedWithDir];

    /// Its name in the summary.
    pub fn name(self) -> &'static str {
        match self {
            DamageClass::Removed => "removed",
            DamageClass::Truncated => "truncated",
            DamageClass::Zeroed => "zeroed",
            DamageClass::ReplacedWithDir => "replaced by a dir",
        }
    }
}

/// Damage done to an acceptor's files while it was down.
#[derive(Clone, Debug)]
pub(super) struct Damage {
    pub(super) class: DamageClass,
    pub(super) file: String,
    pub(super) last: bool,
}

impl Sim {
    /// Damage one of the (down) acceptor's segment files as an operator or a
    /// backup tool might: the last one more often.
    pub(super) fn damage(&mut self, a: usize) -> Option<Damage> {
        let mem = self.acceptors[a].mem.clone();
        let dir = Path::new(ROOT).join("wal");
        let mut segments: Vec<String> = mem.list(&dir).ok()?.into_iter().filter(|n| n.ends_with(".wal")).collect();
        if segments.is_empty() {
            return None;
        }
        segments.sort();
        let last = segments.len() - 1;
        let i = if self.rng.random_bool(0.6) { last } else { self.rng.random_range(0..segments.len()) };
        let path = dir.join(&segments[i]);
        let class = DamageClass::ALL[self.rng.random_range(0..4)];
        let done = match class {
            DamageClass::Removed => mem.remove_file(&path),
            DamageClass::Truncated => {
                let len = mem.read_file(&path).map(|b| b.len() as u64).unwrap_or(0);
                mem.truncate_file(&path, self.rng.random_range(0..=len))
            }
            DamageClass::Zeroed => mem.zero_file(&path),
            DamageClass::ReplacedWithDir => mem.replace_with_dir(&path),
        };
        done.ok()?;
        self.stats.files_damaged[class as usize] += 1;
        if i == last {
            self.stats.last_segment_damaged[class as usize] += 1;
        }
        Some(Damage { class, file: segments[i].clone(), last: i == last })
    }
}
