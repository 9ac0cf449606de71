//! Non-blocking submission for nodes built on an event loop: the rules are
//! checked and the record appended now (in log order, like every call); the
//! outcome is handed out once everything it depends on is durable, through a
//! [`Ticket`] (waited on by a thread, or awaited as a [`Future`] on any
//! executor) or a callback (compare openraft's `LogFlushed`).

use crate::error::Result;
use crate::store::{AcceptorStore, Shared};
use crate::types::{Op, Outcome};
use crate::write::Pending;
use paxos_wal::Lsn;
use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};

/// A decided operation whose outcome may not be durable yet.
///
/// Hand it out with [`Ticket::wait`] (blocks the thread), or `.await` it: a
/// ticket is a [`Future`] with `Output = Result<Outcome>` that any executor
/// can drive (the library depends on no runtime). A ticket that is not
/// durable when first polled is handed to the store's flusher thread, which
/// leads one sync for everything queued and wakes the task only after that
/// sync returned; if the sync failed, the future resolves to the error.
/// Dropping a ticket, awaited or not, never blocks and leaves the record in
/// the log (it is made durable by the next sync, as for any call).
///
/// ```
/// # use paxos_acceptor_store::*;
/// # let dir = tempfile::tempdir().unwrap();
/// let (store, _) = AcceptorStore::open(dir.path(), StoreOptions::default()).unwrap();
/// let op = Op::Accept { group: GroupId(1), slot: Slot(0), ballot: Ballot::new(1, 1), value: b"v".to_vec() };
/// let ticket = store.submit(op).unwrap();
/// // Any executor works; here the smallest one, from the `futures` crate.
/// let outcome = futures::executor::block_on(ticket).unwrap();
/// assert!(matches!(outcome, Outcome::Accept(AcceptOutcome::Accepted)));
/// assert!(store.log().durable_lsn >= 1);
/// ```
#[must_use = "an outcome must not be acted on before the ticket is waited on"]
pub struct Ticket {
    store: AcceptorStore,
    /// Every record the outcome depends on is at or below this LSN.
    wait_for: Lsn,
    /// Still ours: not handed out, not handed to the flusher.
    pending: Option<Pending>,
    /// Set once the pending outcome went to the flusher (first poll that
    /// found it not durable); the flusher's callback fills it.
    slot: Option<Arc<TicketSlot>>,
}

/// Where the flusher leaves a polled ticket's result. The waker is
/// registered under the same lock the callback takes, so a result stored
/// between a poll's check and its registration cannot be missed.
struct TicketSlot {
    state: Mutex<SlotState>,
    /// For [`Ticket::wait`] on a ticket that was already polled.
    done: Condvar,
}

struct SlotState {
    result: Option<Result<Outcome>>,
    waker: Option<Waker>,
}

impl TicketSlot {
    fn lock(&self) -> MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Called once, on the flusher thread, after the covering sync returned
    /// (or failed).
    fn complete(&self, result: Result<Outcome>) {
        let mut st = self.lock();
        st.result = Some(result);
        let waker = st.waker.take();
        drop(st);
        self.done.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl Ticket {
    /// Whether the outcome is already durable ([`Ticket::wait`] will not block).
    pub fn is_durable(&self) -> bool {
        self.store.shared.wal.durable_lsn() >= self.wait_for
    }

    /// Block until the outcome is durable and return it; if the covering
    /// sync failed, the error (never the outcome).
    pub fn wait(mut self) -> Result<Outcome> {
        if let Some(pending) = self.pending.take() {
            return self.hand_out(pending);
        }
        let Some(slot) = self.slot.take() else { return Err(crate::error::StoreError::InvalidOp(ALREADY)) };
        let mut st = slot.lock();
        loop {
            if let Some(r) = st.result.take() {
                return r;
            }
            st = slot.done.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// The outcome of a pending operation, waiting (if need be) for the
    /// sync that covers it.
    fn hand_out(&self, pending: Pending) -> Result<Outcome> {
        let mut out = self.store.wait(pending)?;
        Ok(out.pop().expect("one outcome per operation"))
    }
}

/// The outcome of a one-operation batch.
fn one(mut v: Vec<Outcome>) -> Outcome {
    v.pop().expect("one outcome per operation")
}

const ALREADY: &str = "the ticket's outcome was already handed out";

impl Future for Ticket {
    type Output = Result<Outcome>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Outcome>> {
        let this = self.get_mut();
        if let Some(pending) = this.pending.take() {
            if this.is_durable() {
                // Already covered by a sync that returned: `wait` returns at once.
                return Poll::Ready(this.hand_out(pending));
            }
            let slot = Arc::new(TicketSlot {
                state: Mutex::new(SlotState { result: None, waker: Some(cx.waker().clone()) }),
                done: Condvar::new(),
            });
            this.slot = Some(slot.clone());
            this.store.enqueue(pending, Box::new(move |r| slot.complete(r.map(one))));
            return Poll::Pending;
        }
        let Some(slot) = &this.slot else {
            // Polled again after it returned `Ready`.
            return Poll::Ready(Err(crate::error::StoreError::InvalidOp(ALREADY)));
        };
        let mut st = slot.lock();
        if let Some(r) = st.result.take() {
            drop(st);
            this.slot = None;
            return Poll::Ready(r);
        }
        match &mut st.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            w => *w = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

type Callback = Box<dyn FnOnce(Result<Vec<Outcome>>) + Send>;
/// The thread that fires callbacks once their outcomes are durable.
pub(crate) struct Flusher {
    tx: Mutex<Option<Sender<(Pending, Callback)>>>,
}

impl Flusher {
    pub fn new() -> Self {
        Flusher { tx: Mutex::new(None) }
    }
}

fn run(shared: Weak<Shared>, rx: std::sync::mpsc::Receiver<(Pending, Callback)>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        batch.extend(rx.try_iter());
        let Some(shared) = shared.upgrade() else { return };
        let store = AcceptorStore { shared };
        // The first wait leads one sync that covers the whole batch; the
        // rest return at once (or all get the error of a failed sync).
        let done: Vec<_> = batch.into_iter().map(|(pending, cb)| (store.wait(pending), cb)).collect();
        // Let go of the store before any callback runs: a caller that drops
        // its last handle once told "durable" and opens the directory again
        // must not find it still locked by this thread.
        drop(store);
        for (result, cb) in done {
            cb(result);
        }
    }
}

impl AcceptorStore {
    /// Check and append `op` now; the returned ticket hands out its outcome
    /// once it is durable. Rules are checked in submission order.
    pub fn submit(&self, op: Op) -> Result<Ticket> {
        let pending = self.decide_ops(std::slice::from_ref(&op))?;
        Ok(Ticket { store: self.clone(), wait_for: pending.wait_for, pending: Some(pending), slot: None })
    }

    /// Check and append `op` now; `callback` runs on the store's flusher
    /// thread once the outcome is durable (or with the error if the covering
    /// sync failed: it is never told "durable" for an undurable outcome).
    /// Callbacks run in submission order; keep them short.
    pub fn submit_with(&self, op: Op, callback: impl FnOnce(Result<Outcome>) + Send + 'static) -> Result<()> {
        let pending = self.decide_ops(std::slice::from_ref(&op))?;
        self.enqueue(pending, Box::new(move |r| callback(r.map(one))));
        Ok(())
    }

    /// [`AcceptorStore::submit_with`] for a batch: the operations are
    /// checked in order and appended now as one atomic step (as
    /// [`AcceptorStore::apply_batch`]: after a crash all of them are there
    /// or none); `callback` gets every outcome, in order, on the flusher
    /// thread once the covering sync returned, or the error if it failed.
    /// This is how an adapter hands a consensus library's "flushed"
    /// notification to the group commit without blocking the caller.
    ///
    /// ```
    /// # use paxos_acceptor_store::*;
    /// # let dir = tempfile::tempdir().unwrap();
    /// let (store, _) = AcceptorStore::open(dir.path(), StoreOptions::default()).unwrap();
    /// let g = GroupId(1);
    /// let ops = [
    ///     Op::Put { group: g, from: Slot(0), ballot: Ballot::ZERO, values: vec![b"a".to_vec(), b"b".to_vec()] },
    ///     Op::SetMeta { group: g, key: 1, value: b"vote".to_vec() },
    /// ];
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// store.submit_batch_with(&ops, move |r| tx.send(r.map(|o| o.len())).unwrap()).unwrap();
    /// assert_eq!(rx.recv().unwrap().unwrap(), 2); // fired after the sync returned
    /// assert!(store.log().durable_lsn >= 1);
    /// ```
    pub fn submit_batch_with(
        &self,
        ops: &[Op],
        callback: impl FnOnce(Result<Vec<Outcome>>) + Send + 'static,
    ) -> Result<()> {
        let pending = self.decide_ops(ops)?;
        self.enqueue(pending, Box::new(callback));
        Ok(())
    }

    /// Hand `pending` to the flusher thread (started on first use), which
    /// calls `callback` once the covering sync returned or failed.
    fn enqueue(&self, pending: Pending, callback: Callback) {
        let mut tx = self.shared.flusher.tx.lock().unwrap_or_else(|e| e.into_inner());
        let sender = tx.get_or_insert_with(|| {
            let (tx, rx) = channel();
            let weak = Arc::downgrade(&self.shared);
            std::thread::Builder::new()
                .name("paxos-store-flusher".into())
                .spawn(move || run(weak, rx))
                .expect("spawn the flusher thread");
            tx
        });
        // The flusher only stops when the store is dropped, so this send cannot fail.
        let _ = sender.send((pending, callback));
    }
}
