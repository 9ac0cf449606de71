//! The log itself: appending, group commit, reading, truncating.

use crate::error::{Error, Result};
use crate::format::{encode_record, frame_len, max_payload, Lsn, HEADER_PAGE};
use crate::manifest::{self, Manifest};
use crate::open::recover;
use crate::report::OpenReport;
use crate::segment::{activate, prepare, Prepared, Segment};
use crate::storage::Storage;
use crate::LOCK_FILE;
use std::fmt::Debug;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};
use std::time::Instant;

mod commit;
mod options;
mod read;
mod rollover;
mod stats;
mod watermark;

use commit::Waiter;
pub use options::{WalOptions, WriteMode};
pub use read::{Iter, Record};
use rollover::Spare;
use stats::{AtomicHistogram, APPENDS};
pub use stats::{StallHook, SyncHistogram, WalStats, SYNC_BUCKETS};
use watermark::Watermarks;

struct Chunk {
    seg: Arc<Segment>,
    offset: u64,
    bytes: Vec<u8>,
    last_lsn: Lsn,
}

struct State {
    next_lsn: Lsn,
    active: Arc<Segment>,
    offset: u64,
    pending: Vec<Chunk>,
    syncing: bool,
    waiters: Vec<Arc<Waiter>>,
    next_seq: u64,
    spare: Spare,
    prepare_id: u64,
}

/// The first write or sync failure, after which the log refuses to write,
/// and when it happened.
#[derive(Default)]
struct Poison(OnceLock<Arc<io::Error>>, OnceLock<Instant>);

impl Poison {
    fn set(&self, e: &Error) {
        let cause = match e {
            Error::Io { source, .. } => io::Error::new(source.kind(), e.to_string()),
            other => io::Error::other(other.to_string()),
        };
        if self.0.set(Arc::new(cause)).is_ok() {
            let _ = self.1.set(Instant::now());
        }
    }

    /// `Err(Poisoned)` once a write or sync has failed.
    fn check(&self) -> Result<()> {
        match self.0.get() {
            Some(cause) => Err(Error::Poisoned { cause: cause.clone() }),
            None => Ok(()),
        }
    }
}

/// What the I/O lock guards.
struct IoState {
    /// Segments written since the last sync, with the byte range written.
    unsynced: Vec<(Arc<Segment>, u64, u64)>,
    /// Every LSN at or below this one was covered by a sync that has
    /// returned (recovery's, or a group-commit round's). A watermark slot
    /// never claims more: each slot write is checked against it, under this
    /// lock.
    synced: Lsn,
}

/// A segmented, memory-mapped write-ahead log with group commit.
///
/// Share it between threads with an `Arc`. See the crate documentation.
pub struct Wal {
    dir: PathBuf,
    storage: Arc<dyn Storage>,
    opts: WalOptions,
    max_payload: usize,
    state: Mutex<State>,
    /// Held while writing and syncing (a group-commit round, the
    /// watermark thread's slot write, `sync_watermark`).
    io: Arc<Mutex<IoState>>,
    segments: RwLock<Vec<Arc<Segment>>>,
    durable: AtomicU64,
    written: AtomicU64,
    /// The last LSN appended (mirrors `State::next_lsn - 1`, readable
    /// without the state lock).
    appended: AtomicU64,
    poison: Arc<Poison>,
    watermarks: Watermarks,
    /// The identity every segment of this log carries (`SegmentHeader::log_id`).
    log_id: u64,
    /// How many waiters the last group-commit round covered.
    last_round: AtomicUsize,
    stats: [AtomicU64; 7],
    fsync: AtomicHistogram,
    _lock: Box<dyn Debug + Send + Sync>,
}

impl Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal").field("dir", &self.dir).field("durable", &self.durable_lsn()).finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Wal {
    /// Open (or create) the log in `dir`, recovering from whatever a crash
    /// left. Returns the log and a report of what was found and repaired.
    pub fn open(dir: impl AsRef<Path>, opts: WalOptions) -> Result<(Wal, OpenReport)> {
        let dir = dir.as_ref().to_path_buf();
        let size = opts.segment_size;
        if size < 2 * HEADER_PAGE || size % HEADER_PAGE != 0 || size > u32::MAX as u64 {
            return Err(Error::InvalidOptions(format!(
                "segment_size {size} must be at least 8 KiB, a multiple of 4 KiB and below 4 GiB"
            )));
        }
        let max_payload = opts.max_record_size.unwrap_or(usize::MAX).min(max_payload(size));
        let storage = opts.storage.clone();
        storage.create_dir_all(&dir).map_err(|e| Error::io("creating directory", &dir, e))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock_guard = storage.lock(&lock_path).map_err(|e| {
            if e.kind() == io::ErrorKind::WouldBlock {
                Error::Locked { dir: dir.clone() }
            } else {
                Error::io("locking", &lock_path, e)
            }
        })?;
        let mut rec = recover(&storage, &dir, opts.policy, size)?;
        // Recovered segments come sealed whole; new records go to the last one.
        if let Some(last) = rec.segments.last_mut() {
            last.reopen_at(rec.write_offset);
        }
        // A new log (no segment left) draws its identity at random.
        let log_id = match rec.log_id {
            Some(id) => id,
            None => getrandom::u64().map_err(|e| Error::io("drawing a log id", &dir, io::Error::other(e)))?,
        };
        let mut segments: Vec<Arc<Segment>> = rec.segments.into_iter().map(Arc::new).collect();
        let mut offset = rec.write_offset;
        let mut report = rec.report;
        let next_lsn = rec.next_lsn;
        let dsync = opts.write_mode == WriteMode::Dsync;
        let found_spare = rec.spare.take();
        let mut spare = Spare::None;
        let mut spare_id = 0;
        if let Some((id, prepared)) = found_spare {
            spare_id = id;
            spare = Spare::Ready(prepared);
        }
        if segments.is_empty() {
            let prepared = match std::mem::replace(&mut spare, Spare::None) {
                Spare::Ready(p) => p,
                _ => prepare(&storage, &dir, spare_id.max(1), size)?,
            };
            segments.push(Arc::new(activate(&storage, &dir, prepared, 1, next_lsn, size, 0, dsync, log_id)?));
            // From now on the log exists: the manifest says how far it reaches.
            let m = Manifest { log_id, last_seq: 1, last_first_lsn: next_lsn, erase: None };
            manifest::write(&*storage, &dir, &m)?;
            offset = HEADER_PAGE;
            report.first_lsn = next_lsn;
            report.last_lsn = next_lsn - 1;
        } else if dsync {
            // Reopen the active segment's file with O_DSYNC.
            let last = segments.pop().expect("non-empty");
            let file = storage
                .open(&last.path, crate::storage::OpenOptions { create: false, dsync: true })
                .map_err(|e| Error::io("opening segment", &last.path, e))?;
            let offs = last.offsets.read().unwrap_or_else(|e| e.into_inner()).clone();
            let mut seg = Segment::new(last.path.clone(), file, last.seq, last.first_lsn, last.size, offs)?;
            seg.reopen_at(offset);
            segments.push(Arc::new(seg));
        }
        let active = segments.last().expect("non-empty").clone();
        let next_seq = active.seq + 1;
        let durable = next_lsn - 1;
        // Recovery synced everything it kept.
        let io = Arc::new(Mutex::new(IoState { unsynced: Vec::new(), synced: durable }));
        let poison = Arc::new(Poison::default());
        let wal = Wal {
            dir,
            storage,
            max_payload,
            state: Mutex::new(State {
                next_lsn,
                active,
                offset,
                pending: Vec::new(),
                syncing: false,
                waiters: Vec::new(),
                next_seq,
                spare,
                // Past the spare's number: a new preparation never opens it.
                prepare_id: next_seq.max(spare_id),
            }),
            io: io.clone(),
            segments: RwLock::new(segments),
            durable: AtomicU64::new(durable),
            written: AtomicU64::new(durable),
            appended: AtomicU64::new(next_lsn - 1),
            poison: poison.clone(),
            watermarks: Watermarks::new(opts.watermark_interval, opts.write_mode, io, poison),
            last_round: Default::default(),
            log_id,
            stats: Default::default(),
            fsync: AtomicHistogram::default(),
            _lock: lock_guard,
            opts,
        };
        if durable > rec.watermark {
            // Recovery synced everything it kept: record that, lazily.
            let io = lock(&wal.io);
            let _ = wal.write_watermark(&io, durable);
        }
        if wal.opts.background_prepare {
            let mut st = lock(&wal.state);
            if matches!(st.spare, Spare::None) {
                wal.start_prepare(&mut st);
            }
        }
        Ok((wal, report))
    }

    /// The directory of the log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The largest payload [`Wal::append`] accepts.
    pub fn max_record_size(&self) -> usize {
        self.max_payload
    }

    fn check_poison(&self) -> Result<()> {
        self.poison.check()
    }

    fn poison_with(&self, e: &Error) {
        self.poison.set(e);
    }

    /// Whether a failed sync or write has poisoned the log.
    pub fn is_poisoned(&self) -> bool {
        self.poison.0.get().is_some()
    }

    /// Append one record. It is *not* durable yet: call [`Wal::wait_durable`]
    /// (or use [`Wal::append_durable`]).
    pub fn append(&self, payload: &[u8]) -> Result<Lsn> {
        self.append_batch([payload]).map(|r| r.end - 1)
    }

    /// Append several records with consecutive LSNs under one lock. Not atomic
    /// across a crash: after recovery, a prefix of them may be present. On an
    /// error none of them was appended (a full disk, [`Error::NoSpace`], is
    /// found before any is buffered and leaves the log usable).
    pub fn append_batch<'a, I>(&self, payloads: I) -> Result<Range<Lsn>>
    where
        I: IntoIterator<Item = &'a [u8]>,
        I::IntoIter: Clone,
    {
        let payloads = payloads.into_iter();
        for p in payloads.clone() {
            if p.len() > self.max_payload {
                return Err(Error::RecordTooLarge { len: p.len(), max: self.max_payload });
            }
        }
        self.check_poison()?;
        let acked = self.durable.load(Ordering::Acquire);
        let mut st = lock(&self.state);
        // Again under the lock: a roll-over that failed while this caller
        // waited for it poisoned the log, and a second roll-over must not
        // activate another segment with the same sequence number.
        self.check_poison()?;
        let first = st.next_lsn;
        // Prepare every segment this batch rolls over to before appending any
        // of it: a full disk (the one failure that does not poison the log)
        // must leave no part of a refused batch to be synced later.
        let mut ready = Vec::new();
        let mut off = st.offset;
        for p in payloads.clone() {
            if off + frame_len(p.len()) > st.active.size {
                match self.take_spare(&mut st) {
                    Ok(prepared) => ready.push(prepared),
                    Err(e) => return Err(self.refuse(e, false, ready)),
                }
                off = HEADER_PAGE;
            }
            off += frame_len(p.len());
        }
        let mut ready = ready.into_iter();
        for p in payloads {
            let need = frame_len(p.len());
            if st.offset + need > st.active.size {
                let prepared = ready.next().expect("prepared above");
                if let Err(e) = self.roll(&mut st, prepared) {
                    // Part of this batch is already buffered: poison, so it never reaches the disk.
                    return Err(self.refuse(e, st.next_lsn > first, ready.collect()));
                }
            }
            let lsn = st.next_lsn;
            let (seq, offset) = (st.active.seq, st.offset);
            let contiguous = matches!(st.pending.last(),
                Some(c) if Arc::ptr_eq(&c.seg, &st.active) && c.offset + c.bytes.len() as u64 == offset);
            if !contiguous {
                let seg = st.active.clone();
                st.pending.push(Chunk { seg, offset, bytes: Vec::new(), last_lsn: lsn });
            }
            let chunk = st.pending.last_mut().expect("pushed above");
            encode_record(&mut chunk.bytes, lsn, seq, acked, p);
            chunk.last_lsn = lsn;
            st.active.offsets.write().unwrap_or_else(|e| e.into_inner()).push(offset as u32);
            st.offset += need;
            st.next_lsn += 1;
        }
        let end = st.next_lsn;
        self.appended.store(end - 1, Ordering::Release);
        drop(st);
        self.stats[APPENDS].fetch_add(end - first, Ordering::Relaxed);
        Ok(first..end)
    }

    /// Give up on an append: drop the segments prepared for it, poison the
    /// log unless the error is a full disk and nothing of the batch was
    /// buffered, and return the error.
    fn refuse(&self, e: Error, buffered: bool, unused: Vec<Prepared>) -> Error {
        for p in unused {
            let _ = self.storage.remove(&p.path);
        }
        if buffered || !matches!(e, Error::NoSpace { .. }) {
            self.poison_with(&e);
        }
        e
    }

    /// The first LSN still in the log.
    pub fn first_lsn(&self) -> Lsn {
        self.segments.read().unwrap_or_else(|e| e.into_inner())[0].first_lsn
    }

    /// The last LSN appended (`first_lsn() - 1` when the log is empty).
    pub fn last_lsn(&self) -> Lsn {
        self.appended.load(Ordering::Acquire)
    }

    /// Every LSN at or below this one is durable.
    pub fn durable_lsn(&self) -> Lsn {
        self.durable.load(Ordering::Acquire)
    }

    /// Number of live segment files.
    pub fn segment_count(&self) -> usize {
        self.segments.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// The first LSN of each live segment, oldest first: where
    /// [`Wal::delete_segments_before`] can cut (a caller deleting a long
    /// history can go a segment at a time).
    pub fn segment_starts(&self) -> Vec<Lsn> {
        self.segments.read().unwrap_or_else(|e| e.into_inner()).iter().map(|s| s.first_lsn).collect()
    }

    /// Delete every whole segment whose records are all below `lsn`. The
    /// active segment is never deleted. Returns how many were deleted. The
    /// caller must already have made durable whatever replaces those records
    /// (a snapshot or checkpoint).
    pub fn delete_segments_before(&self, lsn: Lsn) -> Result<usize> {
        self.delete_segments_before_with(lsn, || {})
    }

    /// [`Wal::delete_segments_before`], giving each deleted segment's blocks
    /// back a MiB at a time once it is out of the directory, and calling
    /// `between` after each MiB (a caller that paces its work sleeps there).
    /// A segment a reader still holds goes with the reader instead.
    pub fn delete_segments_before_with(&self, lsn: Lsn, mut between: impl FnMut()) -> Result<usize> {
        self.check_poison()?;
        let removed: Vec<Arc<Segment>> = {
            let mut segs = self.segments.write().unwrap_or_else(|e| e.into_inner());
            let n = (0..segs.len().saturating_sub(1)).take_while(|&i| segs[i + 1].first_lsn <= lsn).count();
            segs.drain(..n).collect()
        };
        for s in &removed {
            self.storage.remove(&s.path).map_err(|e| Error::io("removing segment", &s.path, e))?;
        }
        if !removed.is_empty() {
            if let Err(e) = self.storage.sync_dir(&self.dir) {
                // A failed directory sync is a failed sync (rule 2): what it
                // should have made durable may never be, so write nothing more.
                let e = Error::io("syncing directory", &self.dir, e);
                self.poison_with(&e);
                return Err(e);
            }
        }
        let n = removed.len();
        for seg in removed {
            let path = seg.path.clone();
            if let Err(e) = seg.let_go(&mut between) {
                // A failed sync is a failed sync (rule 2), whatever it covered.
                let e = Error::io("giving back a deleted segment", &path, e);
                self.poison_with(&e);
                return Err(e);
            }
        }
        Ok(n)
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        // No I/O on drop (a drop must look like a crash to the disk), but do
        // not leave a preparer thread writing after the log is gone.
        let st = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Spare::Building(h) = std::mem::replace(&mut st.spare, Spare::None) {
            let _ = h.join();
        }
    }
}
