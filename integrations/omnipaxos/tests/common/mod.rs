//! Shared test types: an entry with a snapshot, as an OmniPaxos user writes them.
#![allow(dead_code)]

use omnipaxos::macros::Entry;
use omnipaxos::storage::Snapshot;
use serde::{Deserialize, Serialize};

/// A log entry: an id and some payload bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entry)]
#[snapshot(Snap)]
pub struct E {
    pub id: u64,
    pub pad: Vec<u8>,
}

impl E {
    pub fn new(id: u64, pad_len: usize) -> Self {
        E { id, pad: vec![(id % 251) as u8; pad_len] }
    }
}

/// A snapshot: how many entries it covers, the sum of their ids, and a blob
/// (to make snapshots of any size).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snap {
    pub count: u64,
    pub sum: u64,
    pub blob: Vec<u8>,
}

impl Snapshot<E> for Snap {
    fn create(entries: &[E]) -> Self {
        Snap { count: entries.len() as u64, sum: entries.iter().map(|e| e.id).sum(), blob: Vec::new() }
    }

    fn merge(&mut self, delta: Self) {
        self.count += delta.count;
        self.sum += delta.sum;
    }

    fn use_snapshots() -> bool {
        true
    }
}
