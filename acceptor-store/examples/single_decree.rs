//! A single-decree Paxos acceptor for lightweight transactions: one group
//! per key, one slot per group, as Cassandra/Scylla keep Paxos state per
//! partition. It handles prepare and propose messages with the store and
//! shows the reply it would send; the reply is only built after the store
//! call returned, i.e. after the state it reports is durable.
//!
//! Run: `cargo run -p paxos-acceptor-store --example single_decree`

use paxos_acceptor_store::*;

/// Messages from a proposer.
enum Request {
    Prepare { key: u64, ballot: Ballot },
    Propose { key: u64, ballot: Ballot, value: Vec<u8> },
    Commit { key: u64 },
}

/// Replies to the proposer.
enum Reply {
    Promise { ballot: Ballot, accepted: Option<(Ballot, String)> },
    Accepted { ballot: Ballot },
    Nack { promised: Ballot },
    Committed,
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::Promise { ballot, accepted: None } => write!(f, "promise {ballot}, nothing accepted"),
            Reply::Promise { ballot, accepted: Some((b, v)) } => {
                write!(f, "promise {ballot}, already accepted {v:?} at {b}")
            }
            Reply::Accepted { ballot } => write!(f, "accepted at {ballot}"),
            Reply::Nack { promised } => write!(f, "nack: promised {promised}"),
            Reply::Committed => write!(f, "committed"),
        }
    }
}

struct LwtAcceptor {
    store: AcceptorStore,
}

impl LwtAcceptor {
    fn handle(&self, req: Request) -> Result<Reply> {
        const SLOT: Slot = Slot(0);
        Ok(match req {
            Request::Prepare { key, ballot } => match self.store.promise(GroupId(key), ballot, SLOT)? {
                PromiseOutcome::Granted { accepted, .. } => Reply::Promise {
                    ballot,
                    accepted: accepted.first().map(|e| (e.ballot, String::from_utf8_lossy(&e.value).into_owned())),
                },
                PromiseOutcome::Rejected { promised } => Reply::Nack { promised },
            },
            Request::Propose { key, ballot, value } => match self.store.accept(GroupId(key), SLOT, ballot, &value)? {
                AcceptOutcome::Accepted => Reply::Accepted { ballot },
                AcceptOutcome::Rejected { promised } => Reply::Nack { promised },
                AcceptOutcome::Truncated { .. } => Reply::Committed,
            },
            Request::Commit { key } => {
                // The transaction is applied elsewhere; its Paxos state is
                // no longer needed (Scylla expires it with a TTL).
                self.store.remove_group(GroupId(key))?;
                Reply::Committed
            }
        })
    }
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let mut opts = StoreOptions::default();
    opts.log.segment_size = 4 << 20;
    let (store, _) = AcceptorStore::open(dir.path(), opts.clone())?;
    let acceptor = LwtAcceptor { store };
    let (b1, b2) = (Ballot::new(1, 1), Ballot::new(2, 2));
    for (what, req) in [
        ("prepare k=7 b1", Request::Prepare { key: 7, ballot: b1 }),
        ("propose k=7 b1", Request::Propose { key: 7, ballot: b1, value: b"UPDATE x=1 IF x=0".to_vec() }),
        ("prepare k=7 b2 (a competing proposer)", Request::Prepare { key: 7, ballot: b2 }),
        ("propose k=7 b1 (too late)", Request::Propose { key: 7, ballot: b1, value: b"UPDATE x=5".to_vec() }),
    ] {
        println!("{what:<40} -> {}", acceptor.handle(req)?);
    }
    // Crash and restart: the promise of b2 and the accepted value survive.
    drop(acceptor);
    let (store, report) = AcceptorStore::open(dir.path(), opts)?;
    println!("restarted: {} records replayed", report.records_replayed);
    let acceptor = LwtAcceptor { store };
    println!("{:<40} -> {}", "prepare k=7 b1 again", acceptor.handle(Request::Prepare { key: 7, ballot: b1 })?);
    println!("{:<40} -> {}", "commit k=7", acceptor.handle(Request::Commit { key: 7 })?);
    Ok(())
}
