//! Non-blocking submission for nodes built on an event loop: the rules are
//! checked and the record appended now (in log order, like every call); the
//! outcome is handed out once everything it depends on is durable, through a
//! [`Ticket`] or a callback (compare openraft's `LogFlushed`).

use crate::error::Result;
use crate::store::{AcceptorStore, Pending, Shared};
use crate::types::{Op, Outcome};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex, Weak};

/// A decided operation whose outcome may not be durable yet.
#[must_use = "an outcome must not be acted on before the ticket is waited on"]
pub struct Ticket {
    store: AcceptorStore,
    pending: Pending,
}

impl Ticket {
    /// Whether the outcome is already durable ([`Ticket::wait`] will not block).
    pub fn is_durable(&self) -> bool {
        self.store.shared.wal.durable_lsn() >= self.pending.wait_for
    }

    /// Block until the outcome is durable and return it; if the covering
    /// sync failed, the error (never the outcome).
    pub fn wait(self) -> Result<Outcome> {
        let mut out = self.store.wait(self.pending)?;
        Ok(out.pop().expect("one outcome per operation"))
    }
}

type Callback = Box<dyn FnOnce(Result<Outcome>) + Send>;

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
        for (pending, cb) in batch {
            let result = store.wait(pending).map(|mut v| v.pop().expect("one outcome"));
            cb(result);
        }
    }
}

impl AcceptorStore {
    /// Check and append `op` now; the returned ticket hands out its outcome
    /// once it is durable. Rules are checked in submission order.
    pub fn submit(&self, op: Op) -> Result<Ticket> {
        let pending = self.decide_ops(std::slice::from_ref(&op))?;
        Ok(Ticket { store: self.clone(), pending })
    }

    /// Check and append `op` now; `callback` runs on the store's flusher
    /// thread once the outcome is durable (or with the error if the covering
    /// sync failed: it is never told "durable" for an undurable outcome).
    /// Callbacks run in submission order; keep them short.
    pub fn submit_with(&self, op: Op, callback: impl FnOnce(Result<Outcome>) + Send + 'static) -> Result<()> {
        let pending = self.decide_ops(std::slice::from_ref(&op))?;
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
        let _ = sender.send((pending, Box::new(callback)));
        Ok(())
    }
}
