//! The peers the issue compares against: TiKV's `raft-engine` and
//! `okaywal`, each doing the same durable append as the log (one record,
//! durable on return), behind the `peers` feature.
//!
//! - [`RaftEngineLog`]: one raft group (region) per caller, as TiKV uses
//!   it: every append is a [`raft_engine::LogBatch`] holding one entry
//!   (`add_entries`) written with `Engine::write(batch, sync = true)`. The
//!   engine's own write group batches concurrent callers into one write and
//!   one `fdatasync`. Default `Config`, directory under the bench dir.
//! - [`OkayWal`]: `begin_entry`, `write_chunk`, `commit` (durable on return:
//!   `commit` syncs the file, concurrent commits sharing one sync). Default
//!   configuration; the [`LogManager`] checkpoints by doing nothing, so a
//!   full 768 KiB segment is simply recycled, as an application with nothing
//!   to apply would have it.
//!
//! raft-engine stores entries as protobuf 2 messages (`MessageExt::Entry:
//! protobuf::Message`). TiKV's `eraftpb::Entry` comes from `raft-proto`,
//! whose build script needs `protoc` (or builds it from C++ sources); so
//! [`BenchEntry`] is a minimal message with the same wire format as
//! `eraftpb::Entry`'s `term`, `index` and `data` fields, encoded the way
//! generated code does it.

use okaywal::{Entry as WalEntry, EntryId, LogManager, SegmentReader, WriteAheadLog};
use protobuf::{CachedSize, Clear, CodedInputStream, CodedOutputStream, Message, ProtobufResult, UnknownFields};
use raft_engine::{Config, Engine, LogBatch, MessageExt};
use std::io;
use std::path::Path;
use std::sync::Mutex;

/// A raft log entry: `eraftpb::Entry`'s fields 2 (`term`), 3 (`index`) and
/// 4 (`data`), wire-compatible with it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BenchEntry {
    /// The entry's term.
    pub term: u64,
    /// The entry's index in its raft group.
    pub index: u64,
    /// The payload.
    pub data: Vec<u8>,
    unknown_fields: UnknownFields,
    cached_size: CachedSize,
}

impl BenchEntry {
    /// An entry with these fields.
    pub fn new_entry(term: u64, index: u64, data: Vec<u8>) -> BenchEntry {
        BenchEntry { term, index, data, ..Default::default() }
    }
}

impl Clear for BenchEntry {
    fn clear(&mut self) {
        self.term = 0;
        self.index = 0;
        self.data.clear();
        self.unknown_fields.clear();
    }
}

impl Message for BenchEntry {
    fn descriptor(&self) -> &'static protobuf::reflect::MessageDescriptor {
        // No reflection for a hand-written message (the "lite runtime"):
        // raft-engine only encodes and decodes entries. Panics, as the
        // trait's own default for `descriptor_static` does.
        Self::descriptor_static()
    }

    fn is_initialized(&self) -> bool {
        true
    }

    fn merge_from(&mut self, is: &mut CodedInputStream<'_>) -> ProtobufResult<()> {
        use protobuf::wire_format::WireType;
        while !is.eof()? {
            let (field, wire) = is.read_tag_unpack()?;
            match (field, wire) {
                (2, WireType::WireTypeVarint) => self.term = is.read_uint64()?,
                (3, WireType::WireTypeVarint) => self.index = is.read_uint64()?,
                (4, WireType::WireTypeLengthDelimited) => self.data = is.read_bytes()?,
                _ => protobuf::rt::read_unknown_or_skip_group(field, wire, is, &mut self.unknown_fields)?,
            }
        }
        Ok(())
    }

    fn write_to_with_cached_sizes(&self, os: &mut CodedOutputStream<'_>) -> ProtobufResult<()> {
        if self.term != 0 {
            os.write_uint64(2, self.term)?;
        }
        if self.index != 0 {
            os.write_uint64(3, self.index)?;
        }
        if !self.data.is_empty() {
            os.write_bytes(4, &self.data)?;
        }
        os.write_unknown_fields(&self.unknown_fields)
    }

    fn compute_size(&self) -> u32 {
        use protobuf::wire_format::WireType::WireTypeVarint;
        let mut n = 0;
        if self.term != 0 {
            n += protobuf::rt::value_size(2, self.term, WireTypeVarint);
        }
        if self.index != 0 {
            n += protobuf::rt::value_size(3, self.index, WireTypeVarint);
        }
        if !self.data.is_empty() {
            n += protobuf::rt::bytes_size(4, &self.data);
        }
        n += protobuf::rt::unknown_fields_size(&self.unknown_fields);
        self.cached_size.set(n);
        n
    }

    fn get_cached_size(&self) -> u32 {
        self.cached_size.get()
    }

    fn get_unknown_fields(&self) -> &UnknownFields {
        &self.unknown_fields
    }

    fn mut_unknown_fields(&mut self) -> &mut UnknownFields {
        &mut self.unknown_fields
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> {
        self
    }

    fn new() -> BenchEntry {
        BenchEntry::default()
    }

    fn default_instance() -> &'static BenchEntry {
        static INSTANCE: protobuf::rt::LazyV2<BenchEntry> = protobuf::rt::LazyV2::INIT;
        INSTANCE.get(BenchEntry::default)
    }
}

/// How raft-engine finds a [`BenchEntry`]'s index.
#[derive(Clone, Copy, Debug)]
pub struct BenchEntryExt;

impl MessageExt for BenchEntryExt {
    type Entry = BenchEntry;

    fn index(e: &BenchEntry) -> u64 {
        e.index
    }
}

/// One caller's raft group: its id, its next index, and the batch it
/// reuses for every write (as a TiKV raft worker reuses its `LogBatch`).
struct Region {
    id: u64,
    next: u64,
    batch: LogBatch,
}

/// raft-engine with one raft group per caller; see the module docs.
pub struct RaftEngineLog {
    engine: Engine,
    regions: Vec<Mutex<Region>>,
}

impl RaftEngineLog {
    /// Open (or create) an engine in `dir` with the default `Config`, for
    /// callers `0..callers` (caller `i` writes raft group `i + 1`, from the
    /// index after the last one already in the engine).
    pub fn open(dir: &Path, callers: usize) -> raft_engine::Result<RaftEngineLog> {
        let cfg = Config { dir: dir.to_string_lossy().into_owned(), ..Default::default() };
        let engine = Engine::open(cfg)?;
        let regions = (0..callers as u64)
            .map(|i| {
                let id = i + 1;
                let next = engine.last_index(id).map_or(1, |l| l + 1);
                Mutex::new(Region { id, next, batch: LogBatch::with_capacity(1) })
            })
            .collect();
        Ok(RaftEngineLog { engine, regions })
    }

    /// Append `data` as the next entry of `caller`'s raft group and return
    /// its index once it is durable (`write` with `sync = true`). Callers
    /// must differ between threads to run in parallel (each one's group is
    /// behind its own, otherwise uncontended, lock).
    pub fn append_durable(&self, caller: usize, data: &[u8]) -> raft_engine::Result<u64> {
        let mut r = self.regions[caller].lock().unwrap_or_else(|e| e.into_inner());
        let r = &mut *r;
        let index = r.next;
        r.batch.add_entries::<BenchEntryExt>(r.id, &[BenchEntry::new_entry(1, index, data.to_vec())])?;
        self.engine.write(&mut r.batch, true)?;
        r.next += 1;
        Ok(index)
    }

    /// The entry at `index` of `caller`'s group, if the engine has it.
    pub fn get(&self, caller: usize, index: u64) -> raft_engine::Result<Option<BenchEntry>> {
        self.engine.get_entry::<BenchEntryExt>(caller as u64 + 1, index)
    }
}

/// An okaywal [`LogManager`] with nothing to checkpoint: recovery and
/// checkpoints do nothing, so full segments are recycled at once.
#[derive(Debug, Default)]
pub struct NoCheckpoint;

impl LogManager for NoCheckpoint {
    fn recover(&mut self, _entry: &mut WalEntry<'_>) -> io::Result<()> {
        Ok(())
    }

    fn checkpoint_to(&mut self, _last: EntryId, _entries: &mut SegmentReader, _wal: &WriteAheadLog) -> io::Result<()> {
        Ok(())
    }
}

/// okaywal with its default configuration; see the module docs.
pub struct OkayWal {
    wal: WriteAheadLog,
}

impl OkayWal {
    /// Open (recover) a log in `dir` with the default configuration.
    pub fn open(dir: &Path) -> io::Result<OkayWal> {
        Ok(OkayWal { wal: WriteAheadLog::recover(dir, NoCheckpoint)? })
    }

    /// Append `data` as one entry of one chunk; returns once `commit` has
    /// made it durable.
    pub fn append_durable(&self, data: &[u8]) -> io::Result<EntryId> {
        let mut entry = self.wal.begin_entry()?;
        entry.write_chunk(data)?;
        entry.commit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dir::bench_dir;
    use crate::payload;

    #[test]
    fn bench_entry_round_trips_through_the_protobuf_wire_format() {
        let e = BenchEntry::new_entry(7, 300, payload(128, 1));
        let bytes = e.write_to_bytes().unwrap();
        // Field 2 varint 7, field 3 varint 300 (two bytes), field 4: 128 bytes.
        assert_eq!(&bytes[..5], &[0x10, 7, 0x18, 0xac, 0x02]);
        assert_eq!(&bytes[5..8], &[0x22, 0x80, 0x01]);
        assert_eq!(bytes.len(), 8 + 128);
        assert_eq!(e.compute_size() as usize, bytes.len());
        let back = BenchEntry::parse_from_bytes(&bytes).unwrap();
        assert_eq!((back.term, back.index, &back.data), (7, 300, &e.data));
        // A field it does not know (eraftpb's entry_type, field 1) is kept, not an error.
        let mut with_type = vec![0x08, 1];
        with_type.extend_from_slice(&bytes);
        let back = BenchEntry::parse_from_bytes(&with_type).unwrap();
        assert_eq!((back.index, back.write_to_bytes().unwrap().len()), (300, bytes.len() + 2));
    }

    #[test]
    fn raft_engine_entries_come_back_after_reopen_each_in_its_group() {
        let dir = bench_dir("test-raft-engine").unwrap();
        let path = dir.path().join("raft");
        {
            let log = RaftEngineLog::open(&path, 3).unwrap();
            for round in 0..5u64 {
                for caller in 0..3 {
                    let idx = log.append_durable(caller, &payload(128, round * 3 + caller as u64)).unwrap();
                    assert_eq!(idx, round + 1, "caller {caller}: indexes are per group, from 1");
                }
            }
        }
        let log = RaftEngineLog::open(&path, 3).unwrap();
        for caller in 0..3 {
            for round in 0..5u64 {
                let e = log.get(caller, round + 1).unwrap().expect("entry recovered");
                assert_eq!(e.data, payload(128, round * 3 + caller as u64));
            }
            assert!(log.get(caller, 6).unwrap().is_none());
        }
        // Reopened, a caller continues after its last index.
        assert_eq!(log.append_durable(1, b"next").unwrap(), 6);
    }

    #[test]
    fn okaywal_entries_are_recovered_after_reopen() {
        #[derive(Debug)]
        struct Collect(std::sync::Arc<Mutex<Vec<Vec<u8>>>>);
        impl LogManager for Collect {
            fn recover(&mut self, entry: &mut WalEntry<'_>) -> io::Result<()> {
                if let Some(chunks) = entry.read_all_chunks()? {
                    self.0.lock().unwrap().extend(chunks);
                }
                Ok(())
            }
            fn checkpoint_to(&mut self, _: EntryId, _: &mut SegmentReader, _: &WriteAheadLog) -> io::Result<()> {
                Ok(())
            }
        }
        let dir = bench_dir("test-okaywal").unwrap();
        let path = dir.path().join("okaywal");
        let expect: Vec<Vec<u8>> = (0..20).map(|i| payload(128, i)).collect();
        {
            let log = OkayWal::open(&path).unwrap();
            let ids: Vec<EntryId> = expect.iter().map(|r| log.append_durable(r).unwrap()).collect();
            assert!(ids.windows(2).all(|w| w[0] < w[1]), "entry ids increase");
        }
        let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
        let _wal = WriteAheadLog::recover(&path, Collect(seen.clone())).unwrap();
        assert_eq!(*seen.lock().unwrap(), expect);
    }
}
