//! The durable watermark slots: written after a sync, at most once per
//! interval.
//!
//! After every completed sync the log may write "everything up to LSN `d`
//! was durable" into one of the two slots of the active segment's header
//! page (see `FORMAT.md`). The slot is not synced itself: the next sync, or
//! the kernel's write-back, carries it. Writing it after *every* round costs
//! a second page in every `fdatasync` (the header page, beside the data
//! page), which was 10-12% of a single writer's latency. It is only needed
//! for the records no later record vouches for (each record carries the
//! watermark current when it was appended), so the slot is written at most
//! once per [`WalOptions::watermark_interval`](super::WalOptions): a round
//! that comes sooner leaves its watermark *pending*, and a small thread
//! writes the newest pending one when the interval has passed. A busy log
//! thus pays one header page per interval, and an idle one has its last
//! round's watermark in the page cache one interval after that round.
//!
//! A zero interval writes the slot after every round on the caller's thread
//! (no thread at all), which keeps a simulation deterministic.

use super::commit::write_at;
use super::{lock, IoState, Poison, WriteMode};
use crate::error::Result;
use crate::format::{Lsn, WatermarkSlot, WATERMARK_SLOTS};
use crate::segment::Segment;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use zerocopy::IntoBytes;

struct Slots {
    /// The highest watermark written to a slot (slots only ever go up).
    written: Lsn,
    /// How many slots were written (picks the slot; alternating means a
    /// torn slot write leaves the other slot intact).
    count: u64,
    last_write: Option<Instant>,
    /// The newest watermark not written yet, and the segment it goes to.
    pending: Option<(Arc<Segment>, Lsn)>,
    shutdown: bool,
}

struct Shared {
    slots: Mutex<Slots>,
    wake: Condvar,
    interval: Duration,
    mode: WriteMode,
    /// The log's I/O lock: the thread holds it while writing a slot, so a
    /// slot write never runs beside a round's writes and syncs (with
    /// `O_DSYNC` a slot write is a sync, and could otherwise take the
    /// write-back error of the round's write). Lock order: `io`, then `slots`.
    io: Arc<Mutex<IoState>>,
    /// The log's poison: a failed slot write poisons it like a failed sync.
    poison: Arc<Poison>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Write the slot now, under the lock (so slot writes never interleave).
    /// The slot's state moves on only if the write succeeded; a failure
    /// poisons the log. `io` is the log's I/O state, locked by the caller
    /// (the lock order: `io`, then `slots`).
    fn write(&self, io: &IoState, s: &mut Slots, seg: &Segment, durable: Lsn) -> Result<()> {
        // The invariant the slot exists for: it never claims an LSN that no
        // returned sync covered (`FORMAT.md`, "Durable-watermark slots").
        debug_assert!(
            durable <= io.synced,
            "watermark slot for lsn {durable} written before its sync returned (synced: {})",
            io.synced
        );
        debug_assert!(durable >= s.written, "watermark slots go down: {durable} after {}", s.written);
        // A poisoned log claims nothing more: the round that set `durable`
        // may have been the one that failed.
        self.poison.check()?;
        let count = s.count + 1;
        let slot = WatermarkSlot::new(seg.seq, count, durable);
        if let Err(e) = write_at(self.mode, seg, WATERMARK_SLOTS[(count % 2) as usize], slot.as_bytes()) {
            self.poison.set(&e);
            return Err(e);
        }
        s.count = count;
        s.written = durable;
        s.last_write = Some(Instant::now());
        Ok(())
    }
}

/// Writes the watermark slots for one log.
pub(super) struct Watermarks {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Watermarks {
    pub(super) fn new(interval: Duration, mode: WriteMode, io: Arc<Mutex<IoState>>, poison: Arc<Poison>) -> Self {
        let slots = Slots { written: 0, count: 0, last_write: None, pending: None, shutdown: false };
        let shared = Shared { slots: Mutex::new(slots), wake: Condvar::new(), interval, mode, io, poison };
        Watermarks { shared: Arc::new(shared), thread: Mutex::new(None) }
    }

    /// Record that everything up to `durable` was covered by a completed
    /// sync, in `seg` (the active segment). Never call it before that sync
    /// has returned (checked against `io.synced` in debug builds). Call with
    /// the log's I/O lock held (`io`). Writes the slot now if the interval
    /// has passed since the last one, else leaves it to the writer thread.
    pub(super) fn record(&self, io: &IoState, seg: &Arc<Segment>, durable: Lsn) -> Result<()> {
        debug_assert!(durable <= io.synced, "watermark {durable} recorded before its sync returned");
        let sh = &self.shared;
        let mut s = sh.lock();
        if durable <= s.written {
            return Ok(());
        }
        let due = s.last_write.is_none_or(|t| t.elapsed() >= sh.interval);
        if due {
            s.pending = None;
            return sh.write(io, &mut s, seg, durable);
        }
        // With a watermark already pending the thread is awake or timed to
        // wake, and takes the newest pending one then: no need to wake it.
        let wake = s.pending.replace((seg.clone(), durable)).is_none();
        drop(s);
        self.start_thread();
        if wake {
            sh.wake.notify_one();
        }
        Ok(())
    }

    /// Write the slot for `durable` now, whatever the interval and whether
    /// or not it was written before (for `sync_watermark`, which syncs it:
    /// a slot written earlier may have been lost with a failed sync).
    /// Call with the log's I/O lock held (`io`).
    pub(super) fn write_now(&self, io: &IoState, seg: &Segment, durable: Lsn) -> Result<()> {
        let mut s = self.shared.lock();
        if s.pending.as_ref().is_some_and(|(_, d)| *d <= durable) {
            s.pending = None;
        }
        if durable == 0 {
            return Ok(());
        }
        let durable = durable.max(s.written);
        self.shared.write(io, &mut s, seg, durable)
    }

    fn start_thread(&self) {
        let mut t = self.thread.lock().unwrap_or_else(|e| e.into_inner());
        if t.is_none() {
            let shared = self.shared.clone();
            *t = std::thread::Builder::new().name("wal-watermark".into()).spawn(move || run(&shared)).ok();
        }
    }
}

/// The writer thread: write the pending watermark once the interval since
/// the last slot write has passed (a failed write poisons the log; the
/// error reaches the callers through it).
fn run(sh: &Shared) {
    let mut s = sh.lock();
    loop {
        if s.shutdown {
            return;
        }
        if s.pending.is_none() {
            s = sh.wake.wait(s).unwrap_or_else(|e| e.into_inner());
            continue;
        }
        // `None`: an interval too large to add, so never due.
        let due = s.last_write.map_or(Some(Instant::now()), |t| t.checked_add(sh.interval));
        let now = Instant::now();
        match due {
            None => {
                s = sh.wake.wait(s).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            Some(due) if now < due => {
                s = sh.wake.wait_timeout(s, due - now).unwrap_or_else(|e| e.into_inner()).0;
                continue;
            }
            Some(_) => {}
        }
        // Due. Take the I/O lock first (the log's lock order), then look again.
        drop(s);
        let io = lock(&sh.io);
        s = sh.lock();
        if let Some((seg, durable)) = s.pending.take() {
            if durable > s.written && !s.shutdown {
                let _ = sh.write(&io, &mut s, &seg, durable);
            }
        }
        drop(io);
    }
}

impl Drop for Watermarks {
    /// Stop the thread without writing what is pending: dropping the log
    /// must look like a crash to the disk.
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.wake.notify_all();
        if let Some(h) = self.thread.get_mut().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::HEADER_PAGE;
    use crate::storage::{MemStorage, OpenOptions};
    use std::path::Path;

    /// A log's watermark writer over one segment on a simulated disk, with
    /// `synced` as the LSN the last returned sync covered.
    fn writer(synced: Lsn) -> (Watermarks, Arc<Mutex<IoState>>, Arc<Segment>) {
        let storage = MemStorage::new().shared();
        let dir = Path::new("/log");
        storage.create_dir_all(dir).expect("mkdir");
        let path = dir.join("segment");
        let file = storage.open(&path, OpenOptions::create()).expect("create");
        file.write_all_at(&[0; 2 * HEADER_PAGE as usize], 0).expect("write");
        let seg = Arc::new(Segment::new(path, file, 1, 1, 2 * HEADER_PAGE, Vec::new()).expect("segment"));
        let io = Arc::new(Mutex::new(IoState { unsynced: Vec::new(), synced }));
        let w = Watermarks::new(Duration::ZERO, WriteMode::Pwrite, io.clone(), Arc::new(Poison::default()));
        (w, io, seg)
    }

    #[test]
    fn a_slot_up_to_the_synced_lsn_is_written() {
        let (w, io, seg) = writer(5);
        let io = lock(&io);
        w.record(&io, &seg, 5).expect("record");
        w.write_now(&io, &seg, 5).expect("write now");
        assert_eq!(w.shared.lock().written, 5);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "before its sync returned")]
    fn a_slot_above_the_synced_lsn_fails_the_debug_assertion() {
        let (w, io, seg) = writer(5);
        let _ = w.write_now(&lock(&io), &seg, 6);
    }
}
