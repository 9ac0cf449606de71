//! A value read from the store, borrowed without a copy.

use crate::state::ValueLoc;
use paxos_wal::{Record, Wal};
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// An accepted value. Derefs to its bytes, which stay in the mapped log
/// segment (or the in-memory checkpoint image): reading one copies nothing.
/// Cloning is cheap (a reference count).
#[derive(Clone)]
pub struct Value(Inner);

#[derive(Clone)]
enum Inner {
    Log(Record, u32, u32),
    Image(Arc<Vec<u8>>, u64, u32),
}

impl Value {
    /// Resolve a location. `Ok(None)` if the log no longer has the record (a
    /// broken internal invariant: values are moved before their log goes);
    /// `Err` if reading the log failed (it may first have to write out
    /// buffered records) or the record failed the log's check
    /// ([`paxos_wal::Error::is_damage`]: changed or truncated under the log).
    pub(crate) fn try_resolve(loc: &ValueLoc, wal: &Wal) -> Result<Option<Value>, paxos_wal::Error> {
        match loc {
            ValueLoc::Log { lsn, off, len } => {
                let Some(rec) = wal.read(*lsn)? else { return Ok(None) };
                Ok(((*off as usize + *len as usize) <= rec.len()).then(|| Value(Inner::Log(rec, *off, *len))))
            }
            ValueLoc::Image { image, off, len } => Ok(Some(Value(Inner::Image(image.clone(), *off, *len)))),
        }
    }

    /// [`Value::try_resolve`], with a read failure taken as a missing value.
    /// Only the fuzzing harness wants that.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn resolve(loc: &ValueLoc, wal: &Wal) -> Option<Value> {
        Self::try_resolve(loc, wal).ok().flatten()
    }
}

impl Deref for Value {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.0 {
            Inner::Log(rec, off, len) => &rec[*off as usize..(*off + *len) as usize],
            Inner::Image(img, off, len) => &img[*off as usize..*off as usize + *len as usize],
        }
    }
}

impl AsRef<[u8]> for Value {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for Value {}

impl PartialEq<[u8]> for Value {
    fn eq(&self, other: &[u8]) -> bool {
        **self == *other
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::str::from_utf8(self) {
            Ok(s) if s.len() <= 64 => write!(f, "Value({s:?})"),
            _ => write!(f, "Value({} bytes)", self.len()),
        }
    }
}
