//! A value read from the store, borrowed without a copy.

use crate::state::{ImageId, Loc, ValueLoc};
use paxos_wal::{Record, Wal};
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, Mutex};

/// The checkpoint images held in memory, by id: a value location names its
/// image by a 4-byte id rather than holding it (a million locations would
/// otherwise each carry a pointer). Usually one or two at once: the image
/// restored at open or written by the last checkpoint, and the next while
/// its checkpoint points values at it.
#[derive(Debug, Default)]
pub(crate) struct Images {
    held: Mutex<Held>,
}

#[derive(Debug, Default)]
struct Held {
    /// The id the next image gets.
    next: ImageId,
    images: Vec<(ImageId, Arc<Vec<u8>>)>,
}

impl Images {
    /// Hold `image`; its id.
    pub fn add(&self, image: Arc<Vec<u8>>) -> ImageId {
        let mut held = crate::store::lock(&self.held);
        let id = held.next;
        held.next = id.wrapping_add(1);
        held.images.push((id, image));
        id
    }

    pub fn get(&self, id: ImageId) -> Option<Arc<Vec<u8>>> {
        crate::store::lock(&self.held).images.iter().find(|(i, _)| *i == id).map(|(_, image)| image.clone())
    }

    /// Let image `id` go (its bytes are freed once no [`Value`] holds them).
    pub fn remove(&self, id: ImageId) {
        crate::store::lock(&self.held).images.retain(|(i, _)| *i != id);
    }

    /// Let every image but `id` go; returns them, so that the caller
    /// chooses where the last references drop.
    pub fn keep_only(&self, id: ImageId) -> Vec<Arc<Vec<u8>>> {
        let mut held = crate::store::lock(&self.held);
        let (keep, gone) = std::mem::take(&mut held.images).into_iter().partition(|(i, _)| *i == id);
        held.images = keep;
        gone.into_iter().map(|(_, image): (ImageId, _)| image).collect()
    }
}

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
    pub(crate) fn try_resolve(loc: &ValueLoc, wal: &Wal, images: &Images) -> Result<Option<Value>, paxos_wal::Error> {
        match loc.get() {
            Loc::Log { lsn, off, len } => {
                let Some(rec) = wal.read(lsn)? else { return Ok(None) };
                Ok(((off as usize + len as usize) <= rec.len()).then(|| Value(Inner::Log(rec, off, len))))
            }
            Loc::Image { image, off, len } => Ok(images
                .get(image)
                .filter(|bytes| off.checked_add(u64::from(len)).is_some_and(|end| end <= bytes.len() as u64))
                .map(|bytes| Value(Inner::Image(bytes, off, len)))),
        }
    }

    /// [`Value::try_resolve`], with a read failure taken as a missing value.
    /// Only the fuzzing harness wants that.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn resolve(loc: &ValueLoc, wal: &Wal, images: &Images) -> Option<Value> {
        Self::try_resolve(loc, wal, images).ok().flatten()
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
