//! Group commit: waiting for durability, and the sync round one waiter leads.

use super::stats::{BYTES, RECORDS_SYNCED, SLOW_SYNCS, SYNCS};
use super::{lock, Chunk, IoState, Wal, WriteMode};
use crate::error::{Error, Result};
use crate::format::{Lsn, HEADER_PAGE};
use crate::segment::{Segment, Via};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, Thread};
use std::time::Instant;

/// A round that covered at least this many waiters marks the log as busy:
/// the next leader yields once before gathering its round.
const GATHER_YIELD_MIN: usize = 16;

pub(super) struct Waiter {
    lsn: Lsn,
    thread: Thread,
    woken: AtomicBool,
    /// Set (with `woken`) when the round is handed to this waiter to lead.
    lead: AtomicBool,
}

impl Wal {
    /// Append one record and wait until it is durable.
    pub fn append_durable(&self, payload: &[u8]) -> Result<Lsn> {
        let lsn = self.append(payload)?;
        self.wait_durable(lsn)?;
        Ok(lsn)
    }

    /// Make everything appended so far durable.
    pub fn sync(&self) -> Result<()> {
        let last = self.last_lsn();
        self.wait_durable(last)
    }

    /// Close the log cleanly: [`Wal::sync_watermark`], then drop it.
    /// Dropping the log instead is always safe but, like a crash, may leave
    /// the watermark of the last rounds to the next open.
    ///
    /// ```
    /// use paxos_wal::{Wal, WalOptions};
    /// let dir = tempfile::tempdir()?;
    /// let opts = WalOptions { segment_size: 1 << 20, ..Default::default() };
    /// let (wal, _) = Wal::open(dir.path(), opts.clone())?;
    /// wal.append(b"accept 9")?;
    /// wal.close()?; // durable, watermark included
    /// let (_, report) = Wal::open(dir.path(), opts)?;
    /// assert_eq!(report.durable_watermark, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(self) -> Result<()> {
        self.sync_watermark()
    }

    /// Make everything appended durable, then write the durable watermark
    /// and sync it too, so that recovery can prove every record
    /// acknowledged (fault-model case 7) even for the last rounds, whose
    /// watermark slot may still be pending (see
    /// [`WalOptions::watermark_interval`](super::WalOptions)). For a clean
    /// shutdown, or before a long idle period. On an error the log is
    /// poisoned (as after any failed sync).
    pub fn sync_watermark(&self) -> Result<()> {
        self.sync()?;
        let io = lock(&self.io);
        // `sync` returns at once when everything is durable, poisoned or not.
        self.check_poison()?;
        let durable = self.durable.load(Ordering::Acquire);
        let seg = self.segments.read().unwrap_or_else(|e| e.into_inner()).last().cloned().expect("non-empty");
        let result = self.watermarks.write_now(&io, &seg, durable).and_then(|()| self.sync_segment(&seg, HEADER_PAGE));
        drop(io);
        if let Err(e) = &result {
            self.poison_with(e);
        }
        result
    }

    /// Wait until `lsn` is covered by a completed sync. Concurrent callers
    /// share syncs: one caller leads a round that writes and syncs everything
    /// appended so far while the next round gathers; the others are woken
    /// only when a sync that covers their record has returned. If that sync
    /// fails, every caller it covered gets the error and the log is poisoned.
    pub fn wait_durable(&self, lsn: Lsn) -> Result<()> {
        if self.durable.load(Ordering::Acquire) >= lsn {
            return Ok(());
        }
        let mut st = lock(&self.state);
        if lsn >= st.next_lsn {
            return Err(Error::NoSuchLsn { lsn, last: st.next_lsn - 1 });
        }
        loop {
            if self.durable.load(Ordering::Acquire) >= lsn {
                return Ok(());
            }
            self.check_poison()?;
            if !st.syncing {
                st.syncing = true;
                drop(st);
                self.lead();
                st = lock(&self.state);
                continue;
            }
            let w = Arc::new(Waiter {
                lsn,
                thread: thread::current(),
                woken: AtomicBool::new(false),
                lead: AtomicBool::new(false),
            });
            st.waiters.push(w.clone());
            drop(st);
            while !w.woken.load(Ordering::Acquire) {
                thread::park();
            }
            if w.lead.load(Ordering::Acquire) {
                // The previous leader handed this round over (`syncing` stayed set).
                self.lead();
            }
            st = lock(&self.state);
        }
    }

    /// One group-commit round, run by a caller that found no round running
    /// or was handed the round by the previous leader.
    fn lead(&self) {
        if self.last_round.load(Ordering::Relaxed) >= GATHER_YIELD_MIN {
            // Many callers: let the ones the last round just woke append
            // before this round takes what is pending, so rounds are larger
            // and syncs fewer. Measured with 64 writers on 2 cores: +16-18%
            // throughput (`benches/README.md`); no effect with few writers.
            thread::yield_now();
        }
        let mut io = lock(&self.io);
        let (chunks, target) = {
            let mut st = lock(&self.state);
            (std::mem::take(&mut st.pending), st.next_lsn - 1)
        };
        // Only this round (under the I/O lock) moves `durable`.
        let before = self.durable.load(Ordering::Acquire);
        // `durable` is some earlier round's target (or where recovery left
        // the log), and `next_lsn` never goes back: publishing `target`
        // below never moves `durable` down.
        debug_assert!(target >= before, "group-commit target {target} below the durable LSN {before}");
        // Under the I/O lock, look at the poison again: a reader's write-out
        // (`Wal::read`) may have failed after this leader's last check,
        // taking pending chunks with it. Those records never reached the
        // file, so an empty round must not publish `durable` up to `target`.
        let result = self
            .check_poison()
            .and_then(|()| self.write_chunks(&mut io, chunks))
            .and_then(|()| self.sync_written(&mut io));
        if result.is_ok() {
            // Everything up to `target` was written (the pending chunks
            // taken above, or by an earlier write-out) and is now synced.
            io.synced = target;
            self.stats[SYNCS].fetch_add(1, Ordering::Relaxed);
            self.stats[RECORDS_SYNCED].fetch_add(target.saturating_sub(before), Ordering::Relaxed);
            // Only now may the disk say these records were durable.
            let _ = self.write_watermark(&io, target);
        }
        drop(io);
        let (covered, next) = {
            let mut st = lock(&self.state);
            match &result {
                Ok(()) => self.durable.store(target, Ordering::Release),
                Err(e) => self.poison_with(e),
            }
            let durable = self.durable.load(Ordering::Acquire);
            let poisoned = self.is_poisoned();
            let mut covered = Vec::new();
            st.waiters.retain(|w| {
                let done = poisoned || w.lsn <= durable;
                if done {
                    covered.push(w.clone());
                }
                !done
            });
            self.last_round.store(covered.len(), Ordering::Relaxed);
            // Hand the next round straight to the oldest waiter still
            // uncovered: `syncing` stays set, so nobody else starts one.
            let next = if st.waiters.is_empty() { None } else { Some(st.waiters.remove(0)) };
            st.syncing = next.is_some();
            (covered, next)
        };
        // Wake outside the lock (each unpark is a system call), the next
        // leader first so the next sync starts as soon as possible.
        if let Some(w) = next {
            w.lead.store(true, Ordering::Release);
            w.woken.store(true, Ordering::Release);
            w.thread.unpark();
        }
        for w in covered {
            w.woken.store(true, Ordering::Release);
            w.thread.unpark();
        }
    }

    fn write_chunks(&self, io: &mut IoState, chunks: Vec<Chunk>) -> Result<()> {
        for c in chunks {
            self.check_poison()?;
            if let Err(e) = write_at(self.opts.write_mode, &c.seg, c.offset, &c.bytes) {
                self.poison_with(&e);
                return Err(e);
            }
            self.stats[BYTES].fetch_add(c.bytes.len() as u64, Ordering::Relaxed);
            let end = c.offset + c.bytes.len() as u64;
            match io.unsynced.iter_mut().find(|(s, _, _)| Arc::ptr_eq(s, &c.seg)) {
                Some((_, lo, hi)) => {
                    *lo = (*lo).min(c.offset);
                    *hi = (*hi).max(end);
                }
                None => io.unsynced.push((c.seg.clone(), c.offset, end)),
            }
            self.written.store(c.last_lsn, Ordering::Release);
        }
        Ok(())
    }

    fn sync_written(&self, io: &mut IoState) -> Result<()> {
        for (seg, _, hi) in std::mem::take(&mut io.unsynced) {
            self.sync_segment(&seg, hi)?;
        }
        Ok(())
    }

    /// Make what was written to `seg` below `hi` durable, as the write mode
    /// requires (`Dsync` writes are durable already). In `Mmap` mode the
    /// range starts at 0, so that the header page (where a watermark slot
    /// was copied) is carried too; msync writes only the dirty pages.
    ///
    /// Times the system call (the fsync histogram of [`Wal::stats`]) and,
    /// after it returned, reports a stall to [`WalOptions::stall`](super::WalOptions).
    fn sync_segment(&self, seg: &Segment, hi: u64) -> Result<()> {
        if self.opts.write_mode == WriteMode::Dsync {
            return Ok(());
        }
        let start = Instant::now();
        let r = seg.sync(via(self.opts.write_mode), hi);
        let took = start.elapsed();
        self.fsync.record(took);
        if let Some(hook) = &self.opts.stall {
            if took > hook.threshold {
                self.stats[SLOW_SYNCS].fetch_add(1, Ordering::Relaxed);
                (hook.callback)(took);
            }
        }
        r.map_err(|e| Error::io("syncing", &seg.path, e))
    }

    /// Record, in the active segment's header page, that everything up to
    /// `durable` was covered by a completed sync (now, or after
    /// `watermark_interval`). Not synced itself: the next sync carries it.
    /// Never call it before that sync has returned (`io.synced`, checked in
    /// debug builds); call it with the I/O lock held (`io`).
    pub(super) fn write_watermark(&self, io: &IoState, durable: Lsn) -> Result<()> {
        let seg = self.segments.read().unwrap_or_else(|e| e.into_inner()).last().cloned().expect("non-empty");
        self.watermarks.record(io, &seg, durable)
    }

    /// Write out appended records that are not yet in the file (without
    /// syncing), so they can be read.
    ///
    /// A poisoned log refuses first: a failed write-out (this one's or a
    /// leader's) dropped the records it carried, so what a caller wants to
    /// read may not be in the file, and reading the zeros where it would be
    /// must not pass for damage.
    pub(super) fn write_out(&self) -> Result<()> {
        let mut io = lock(&self.io);
        self.check_poison()?;
        let chunks = std::mem::take(&mut lock(&self.state).pending);
        self.write_chunks(&mut io, chunks)
    }
}

/// Write `bytes` at `offset` of a segment the way the log writes records
/// (see `Segment::write`).
pub(super) fn write_at(mode: WriteMode, seg: &Segment, offset: u64, bytes: &[u8]) -> Result<()> {
    seg.write(via(mode), offset, bytes)
}

/// How the write mode reaches a segment.
fn via(mode: WriteMode) -> Via {
    match mode {
        WriteMode::Mmap => Via::Mapping,
        WriteMode::Pwrite | WriteMode::Dsync => Via::File,
    }
}
