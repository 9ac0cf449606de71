//! Rolling over to the next segment: the spare segment file prepared ahead
//! (on a background thread, or on the spot when none is ready) and its
//! activation, named in the manifest before any record goes into it.

use super::stats::{ROLLOVERS, STALLS};
use super::{State, Wal, WriteMode};
use crate::error::{Error, Result};
use crate::format::HEADER_PAGE;
use crate::manifest::{self, Manifest};
use crate::segment::{activate, prepare, Prepared};
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

pub(super) enum Spare {
    None,
    Building(JoinHandle<Result<Prepared>>),
    /// Prepared already (by an earlier run, found on open).
    Ready(Prepared),
}

impl Wal {
    /// A pre-zeroed segment file for the next roll-over: the spare prepared
    /// in the background, or one prepared now (called with the state lock held).
    pub(super) fn take_spare(&self, st: &mut State) -> Result<Prepared> {
        Ok(match std::mem::replace(&mut st.spare, Spare::None) {
            Spare::Building(h) => match h.join() {
                Ok(r) => r?,
                Err(_) => {
                    return Err(Error::Io {
                        op: "preparing segment",
                        path: self.dir.clone(),
                        source: io::Error::other("preparer thread panicked"),
                    })
                }
            },
            Spare::Ready(prepared) => prepared,
            Spare::None => {
                self.stats[STALLS].fetch_add(1, Ordering::Relaxed);
                st.prepare_id += 1;
                prepare(&self.storage, &self.dir, st.prepare_id, self.opts.segment_size)?
            }
        })
    }

    /// Activate `prepared` as the next segment (called with the state lock held).
    pub(super) fn roll(&self, st: &mut State, prepared: Prepared) -> Result<()> {
        let dsync = self.opts.write_mode == WriteMode::Dsync;
        let durable = self.durable.load(Ordering::Acquire);
        let seg = activate(
            &self.storage,
            &self.dir,
            prepared,
            st.next_seq,
            st.next_lsn,
            self.opts.segment_size,
            durable,
            dsync,
            self.log_id,
        )?;
        // The new segment is in place: name it in the manifest before any
        // record goes into it, so that losing it is damage, never a shorter
        // log. (A crash before this leaves it beyond the manifest, empty,
        // and the next open removes it.)
        let m = Manifest { log_id: self.log_id, last_seq: seg.seq, last_first_lsn: seg.first_lsn, erase: None };
        manifest::write(&*self.storage, &self.dir, &m)?;
        let seg = Arc::new(seg);
        st.next_seq += 1;
        self.segments.write().unwrap_or_else(|e| e.into_inner()).push(seg.clone());
        st.active = seg;
        st.offset = HEADER_PAGE;
        self.stats[ROLLOVERS].fetch_add(1, Ordering::Relaxed);
        if self.opts.background_prepare && matches!(st.spare, Spare::None) {
            self.start_prepare(st);
        }
        Ok(())
    }

    pub(super) fn start_prepare(&self, st: &mut State) {
        st.prepare_id += 1;
        let (storage, dir, id, size) = (self.storage.clone(), self.dir.clone(), st.prepare_id, self.opts.segment_size);
        st.spare = Spare::Building(thread::spawn(move || prepare(&storage, &dir, id, size)));
    }
}
