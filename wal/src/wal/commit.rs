//! Group commit: waiting for durability, and the sync round one waiter leads.

use super::stats::{BYTES, RECORDS_SYNCED, SLOW_SYNCS, SYNCS};
use super::{lock, Chunk, IoState, Wal, WriteMode};
use crate::error::{Error, Result};
use crate::format::{Lsn, HEADER_PAGE};
use crate::segment::{Segment, Via};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, Thread};
use std::time::Instant;

/// A leader leads at most this many rounds back to back while callers are
/// still waiting, before it hands the next round to the oldest of them.
/// Handing off costs a wake-up and a trip through the scheduler between two
/// syncs, in which the disk idles; leading on costs the leader's own caller
/// that many rounds of latency at most. See [`Wal::wait_durable`].
const ROUNDS_PER_LEADER: usize = 8;

/// How many waiters each woken waiter wakes in turn (see [`wake_all`]).
const WAKE_FAN: usize = 2;

pub(super) struct Waiter {
    lsn: Lsn,
    thread: Thread,
    woken: AtomicBool,
    /// Set (with `woken`) when the round is handed to this waiter to lead.
    lead: AtomicBool,
    /// Waiters of the same round that this one wakes once it is woken
    /// itself (filled before `woken` is set; see [`wake_all`]).
    then_wake: Mutex<Vec<Arc<Waiter>>>,
}

impl Waiter {
    fn new(lsn: Lsn) -> Self {
        Waiter {
            lsn,
            thread: thread::current(),
            woken: AtomicBool::new(false),
            lead: AtomicBool::new(false),
            then_wake: Mutex::new(Vec::new()),
        }
    }

    fn wake(&self) {
        self.woken.store(true, Ordering::Release);
        self.thread.unpark();
    }

    /// Wake the waiters handed to this one: the first thing a woken waiter
    /// does, before it looks at the round's outcome.
    fn wake_handed(&self) {
        for w in std::mem::take(&mut *lock(&self.then_wake)) {
            w.wake();
        }
    }
}

/// Wake every waiter of `covered` (whose sync has returned, or failed), as
/// a tree: the caller wakes the first [`WAKE_FAN`], and each waiter, once
/// woken, wakes the next ones handed to it. Waking one thread costs its
/// waker a couple of microseconds on this kind of machine (an inter-processor
/// interrupt in a VM); a leader waking 50 waiters in turn kept one core busy
/// for about 90 us per round while the other sat idle, and the round's last
/// waiter could append again only after that. A tree spreads that work over
/// every core and waiter. A parent holds its children, never the reverse, so
/// nothing keeps itself alive.
fn wake_all(covered: Vec<Arc<Waiter>>) {
    // Waiter i (from WAKE_FAN on) is handed to waiter (i - WAKE_FAN) / WAKE_FAN.
    for (i, w) in covered.iter().enumerate().skip(WAKE_FAN) {
        lock(&covered[(i - WAKE_FAN) / WAKE_FAN].then_wake).push(w.clone());
    }
    for w in covered.iter().take(WAKE_FAN) {
        w.wake();
    }
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
    ///
    /// While callers keep waiting, a leader leads up to eight rounds in a
    /// row before handing over, so its own call can take that many syncs.
    /// Woken callers wake the rest of their round in turn (a tree), rather
    /// than the leader waking each.
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
            let w = Arc::new(Waiter::new(lsn));
            st.waiters.push(w.clone());
            drop(st);
            while !w.woken.load(Ordering::Acquire) {
                thread::park();
            }
            w.wake_handed();
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
        let mut led = 1;
        while self.lead_round(led < ROUNDS_PER_LEADER) {
            led += 1;
        }
    }

    /// One round: write and sync everything appended so far, then wake the
    /// callers it covered. Returns true when this leader should lead the
    /// next round too (`lead_on`, and callers are waiting); otherwise the
    /// round was handed to the oldest waiter, or nobody waits.
    fn lead_round(&self, lead_on: bool) -> bool {
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
            if lead_on && !st.waiters.is_empty() && !poisoned {
                // Lead the next round too (`syncing` stays set). Appends
                // that arrived during this sync are its batch, and the
                // callers woken below append theirs during its sync: two
                // halves of the callers take turns, the disk never waiting
                // on a hand-off.
                drop(st);
                wake_all(covered);
                return true;
            }
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
            w.wake();
        }
        wake_all(covered);
        false
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    /// Every waiter of a round is woken, exactly once, whatever the round's
    /// size, although the caller of `wake_all` wakes only the first few.
    #[test]
    fn a_round_of_any_size_wakes_every_waiter() {
        for n in [0, 1, 2, 3, 7, 64, 200] {
            let (tx, rx) = mpsc::channel();
            let (done_tx, done_rx) = mpsc::channel();
            let threads: Vec<_> = (0..n)
                .map(|i| {
                    let (tx, done_tx) = (tx.clone(), done_tx.clone());
                    thread::spawn(move || {
                        let w = Arc::new(Waiter::new(i));
                        tx.send(w.clone()).unwrap();
                        while !w.woken.load(Ordering::Acquire) {
                            thread::park();
                        }
                        w.wake_handed();
                        done_tx.send(i).unwrap();
                    })
                })
                .collect();
            let mut covered: Vec<Arc<Waiter>> = (0..n).map(|_| rx.recv().unwrap()).collect();
            covered.sort_by_key(|w| w.lsn);
            wake_all(covered);
            let mut woke: Vec<Lsn> = (0..n)
                .map(|_| done_rx.recv_timeout(Duration::from_secs(20)).expect("a waiter was never woken"))
                .collect();
            woke.sort_unstable();
            assert_eq!(woke, (0..n).collect::<Vec<_>>(), "round of {n}");
            for t in threads {
                t.join().unwrap();
            }
        }
    }

    /// The caller wakes at most `WAKE_FAN` waiters itself; the others are
    /// handed to waiters of the round, each to one, none to itself.
    #[test]
    fn the_waker_wakes_only_the_first_waiters() {
        let covered: Vec<Arc<Waiter>> = (0..50).map(|i| Arc::new(Waiter::new(i))).collect();
        wake_all(covered.clone());
        let woken: Vec<Lsn> = covered.iter().filter(|w| w.woken.load(Ordering::Acquire)).map(|w| w.lsn).collect();
        assert_eq!(woken, (0..WAKE_FAN as Lsn).collect::<Vec<_>>());
        let mut handed: Vec<Lsn> = Vec::new();
        for w in &covered {
            let kids = lock(&w.then_wake);
            assert!(kids.len() <= WAKE_FAN);
            assert!(kids.iter().all(|k| k.lsn > w.lsn), "handed forward only");
            handed.extend(kids.iter().map(|k| k.lsn));
        }
        handed.sort_unstable();
        assert_eq!(handed, (WAKE_FAN as Lsn..50).collect::<Vec<_>>());
    }
}
