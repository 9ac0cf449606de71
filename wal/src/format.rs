//! The on-disk format: segment names, the segment header page, the durable
//! watermark slots and the record frame. `FORMAT.md` beside `Cargo.toml`
//! describes the same layout in prose; the two must agree.
//!
//! All integers are little-endian. Every structure is read with zerocopy from
//! a byte slice whose length was checked first, so no input can cause an
//! out-of-bounds read or an allocation sized by untrusted data.

use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// A log sequence number: the position of a record in the log, starting at 1.
pub type Lsn = u64;

/// Magic bytes at the start of every segment.
pub const SEGMENT_MAGIC: [u8; 8] = *b"PXWALSEG";
/// Version of the segment format this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Records start after the header page.
pub const HEADER_PAGE: u64 = 4096;
/// Offsets of the two durable-watermark slots inside the header page; each
/// sits in its own 512-byte sector so a torn write damages at most one.
pub const WATERMARK_SLOTS: [u64; 2] = [512, 1024];
/// Magic of a watermark slot.
pub const WATERMARK_MAGIC: u32 = 0x4D57_5850; // "PXWM"
/// Magic of a record frame.
pub const RECORD_MAGIC: u32 = 0x3143_5250; // "PRC1"
/// Records are aligned to 8 bytes.
pub const RECORD_ALIGN: u64 = 8;
/// File-name suffix of a segment.
pub const SEGMENT_SUFFIX: &str = ".wal";
/// File-name suffix of a segment being prepared (deleted on open).
pub const TEMP_SUFFIX: &str = ".tmp";

/// The segment header, at offset 0 of every segment.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SegmentHeader {
    /// [`SEGMENT_MAGIC`].
    pub magic: [u8; 8],
    /// [`FORMAT_VERSION`].
    pub version: U32,
    /// Where records start ([`HEADER_PAGE`]).
    pub header_len: U32,
    /// Sequence number of this segment; strictly increasing along the live
    /// segments (a number freed by a torn-tail cut may be reused by a new,
    /// pre-zeroed segment).
    pub seq: U64,
    /// LSN of the first record in this segment (also the file name).
    pub first_lsn: U64,
    /// Size of the segment file in bytes.
    pub segment_size: U64,
    /// Identity of the log, drawn at random when the log was created and
    /// carried by every segment of it: a segment of another log (copied in,
    /// say from a peer, with continuing LSNs) is refused.
    pub log_id: U64,
    /// Reserved, zero.
    pub reserved: [u8; 12],
    /// CRC32 of the bytes before it.
    pub crc: U32,
}

/// Size of [`SegmentHeader`] in bytes.
pub const SEGMENT_HEADER_LEN: usize = std::mem::size_of::<SegmentHeader>();

impl SegmentHeader {
    /// A header for a new segment.
    pub fn new(seq: u64, first_lsn: Lsn, segment_size: u64, log_id: u64) -> Self {
        let mut h = SegmentHeader {
            magic: SEGMENT_MAGIC,
            version: FORMAT_VERSION.into(),
            header_len: (HEADER_PAGE as u32).into(),
            seq: seq.into(),
            first_lsn: first_lsn.into(),
            segment_size: segment_size.into(),
            log_id: log_id.into(),
            reserved: [0; 12],
            crc: 0.into(),
        };
        h.crc = crc32fast::hash(&h.as_bytes()[..SEGMENT_HEADER_LEN - 4]).into();
        h
    }

    /// Decode and check a header; `Err` says what is wrong.
    pub fn decode(bytes: &[u8]) -> Result<Self, &'static str> {
        let Ok((h, _)) = SegmentHeader::read_from_prefix(bytes) else {
            return Err("shorter than a segment header");
        };
        if h.magic != SEGMENT_MAGIC {
            return Err("wrong magic");
        }
        if crc32fast::hash(&h.as_bytes()[..SEGMENT_HEADER_LEN - 4]) != h.crc.get() {
            return Err("header checksum mismatch");
        }
        if h.version.get() != FORMAT_VERSION {
            return Err("unsupported format version");
        }
        if h.header_len.get() as u64 != HEADER_PAGE {
            return Err("unexpected header length");
        }
        Ok(h)
    }
}

/// A durable-watermark slot: "every record up to `durable_lsn` was covered by a
/// completed sync". It is written only *after* that sync returned and reaches
/// the disk with the next sync, so it never claims more than was durable.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct WatermarkSlot {
    /// [`WATERMARK_MAGIC`].
    pub magic: U32,
    /// CRC32 of the bytes after it.
    pub crc: U32,
    /// Sequence number of the segment the slot belongs to.
    pub seq: U64,
    /// Monotonic write counter (the slot used is `counter % 2`).
    pub counter: U64,
    /// Every record at or below this LSN was durable.
    pub durable_lsn: U64,
}

/// Size of [`WatermarkSlot`].
pub const WATERMARK_LEN: usize = std::mem::size_of::<WatermarkSlot>();

impl WatermarkSlot {
    /// A slot for segment `seq`.
    pub fn new(seq: u64, counter: u64, durable_lsn: Lsn) -> Self {
        let mut s = WatermarkSlot {
            magic: WATERMARK_MAGIC.into(),
            crc: 0.into(),
            seq: seq.into(),
            counter: counter.into(),
            durable_lsn: durable_lsn.into(),
        };
        s.crc = crc32fast::hash(&s.as_bytes()[8..]).into();
        s
    }

    /// The durable LSN a slot proves, if the slot is intact and belongs to segment `seq`.
    pub fn decode(bytes: &[u8], seq: u64) -> Option<Lsn> {
        let (s, _) = WatermarkSlot::read_from_prefix(bytes).ok()?;
        (s.magic.get() == WATERMARK_MAGIC && s.crc.get() == crc32fast::hash(&s.as_bytes()[8..]) && s.seq.get() == seq)
            .then(|| s.durable_lsn.get())
    }
}

/// Magic of the log manifest.
pub const MANIFEST_MAGIC: [u8; 8] = *b"PXWALMAN";
/// File name of the log manifest.
pub const MANIFEST_FILE: &str = "MANIFEST";
/// File name a new manifest is written under before it is renamed over
/// [`MANIFEST_FILE`].
pub const MANIFEST_TEMP: &str = "MANIFEST.tmp";

/// The log manifest (`MANIFEST`, 64 bytes): durable evidence of how far the
/// log reaches, so that a lost, emptied or replaced last segment is damage,
/// never a shorter or a new log (fault case 15), and of a torn-tail erase
/// in progress, so that a cut that did not reach the disk is redone before
/// anything is read (fault cases 12-13).
///
/// It is replaced atomically (written under [`MANIFEST_TEMP`], synced,
/// renamed, the directory synced) when the log is created, when it rolls
/// over to a new segment (after the segment is in place, before any record
/// is appended to it), and by recovery around a torn-tail cut.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct ManifestRecord {
    /// [`MANIFEST_MAGIC`].
    pub magic: [u8; 8],
    /// [`FORMAT_VERSION`].
    pub version: U32,
    /// Reserved, zero.
    pub reserved: U32,
    /// The log's id (as in every segment header).
    pub log_id: U64,
    /// Sequence number of the last segment: records may have been
    /// acknowledged in it, so it must exist.
    pub last_seq: U64,
    /// First LSN (and name) of the last segment.
    pub last_first_lsn: U64,
    /// Sequence number of a segment whose tail recovery is erasing, or 0.
    pub erase_seq: U64,
    /// Where that erase starts: every byte from here to the end of the
    /// segment is zeroed before the log is read.
    pub erase_from: U64,
    /// Reserved, zero.
    pub reserved2: U32,
    /// CRC32 of the bytes before it.
    pub crc: U32,
}

/// Size of [`ManifestRecord`].
pub const MANIFEST_LEN: usize = std::mem::size_of::<ManifestRecord>();

impl ManifestRecord {
    /// A manifest naming the last segment and, optionally, an erase in
    /// progress `(segment seq, offset)`.
    pub fn new(log_id: u64, last_seq: u64, last_first_lsn: Lsn, erase: Option<(u64, u64)>) -> Self {
        let (erase_seq, erase_from) = erase.unwrap_or((0, 0));
        let mut m = ManifestRecord {
            magic: MANIFEST_MAGIC,
            version: FORMAT_VERSION.into(),
            reserved: 0.into(),
            log_id: log_id.into(),
            last_seq: last_seq.into(),
            last_first_lsn: last_first_lsn.into(),
            erase_seq: erase_seq.into(),
            erase_from: erase_from.into(),
            reserved2: 0.into(),
            crc: 0.into(),
        };
        m.crc = crc32fast::hash(&m.as_bytes()[..MANIFEST_LEN - 4]).into();
        m
    }

    /// Decode and check a manifest (the whole file); `Err` says what is wrong.
    pub fn decode(bytes: &[u8]) -> Result<Self, &'static str> {
        if bytes.len() != MANIFEST_LEN {
            return Err("not 64 bytes long");
        }
        let Ok(m) = ManifestRecord::read_from_bytes(bytes) else { return Err("not 64 bytes long") };
        if m.magic != MANIFEST_MAGIC {
            return Err("wrong magic");
        }
        if crc32fast::hash(&m.as_bytes()[..MANIFEST_LEN - 4]) != m.crc.get() {
            return Err("checksum mismatch");
        }
        if m.version.get() != FORMAT_VERSION {
            return Err("unsupported format version");
        }
        if m.last_seq.get() == 0 || m.last_first_lsn.get() == 0 {
            return Err("names no segment");
        }
        Ok(m)
    }

    /// The erase in progress, `(segment seq, offset)`, if any.
    pub fn erase(&self) -> Option<(u64, u64)> {
        (self.erase_seq.get() != 0).then(|| (self.erase_seq.get(), self.erase_from.get()))
    }
}

/// The frame in front of every record's payload.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct RecordHeader {
    /// [`RECORD_MAGIC`].
    pub magic: U32,
    /// Payload length in bytes (the frame is padded to 8 bytes after it).
    pub len: U32,
    /// The record's LSN; must match its position in the log.
    pub lsn: U64,
    /// Sequence number of the segment it was written into: a record left in
    /// a recycled segment, or written into the wrong one, never validates.
    pub seq: U64,
    /// The durable watermark when the record was written: every LSN at or
    /// below it had been covered by a completed sync.
    pub acked: U64,
    /// CRC32 of the 32 bytes before it. Checked before `len` is trusted.
    pub header_crc: U32,
    /// CRC32 of the payload, seeded with `header_crc`.
    pub payload_crc: U32,
}

/// Size of [`RecordHeader`].
pub const RECORD_HEADER_LEN: usize = std::mem::size_of::<RecordHeader>();

/// Bytes a record with a payload of `len` bytes occupies on disk.
pub fn frame_len(len: usize) -> u64 {
    let raw = (RECORD_HEADER_LEN + len) as u64;
    raw.div_ceil(RECORD_ALIGN) * RECORD_ALIGN
}

/// The largest payload a segment of `segment_size` bytes can hold.
pub fn max_payload(segment_size: u64) -> usize {
    (segment_size.saturating_sub(HEADER_PAGE + RECORD_HEADER_LEN as u64) / RECORD_ALIGN * RECORD_ALIGN)
        .min(u32::MAX as u64) as usize
}

/// Append the frame of one record (header, payload, zero padding) to `out`.
pub fn encode_record(out: &mut Vec<u8>, lsn: Lsn, seq: u64, acked: Lsn, payload: &[u8]) {
    let mut h = RecordHeader {
        magic: RECORD_MAGIC.into(),
        len: (payload.len() as u32).into(),
        lsn: lsn.into(),
        seq: seq.into(),
        acked: acked.into(),
        header_crc: 0.into(),
        payload_crc: 0.into(),
    };
    let header_crc = crc32fast::hash(&h.as_bytes()[..32]);
    h.header_crc = header_crc.into();
    let mut hasher = crc32fast::Hasher::new_with_initial(header_crc);
    hasher.update(payload);
    h.payload_crc = hasher.finalize().into();
    let start = out.len();
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(payload);
    out.resize(start + frame_len(payload.len()) as usize, 0);
}

/// Why the bytes at an offset are not a valid record of this segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// Fewer bytes remain than a header needs.
    Short,
    /// All zero: nothing was written here.
    Zero,
    /// Not a record header (magic or header checksum wrong): garbage or torn.
    BadHeader,
    /// A self-consistent header of another segment (recycled or misdirected).
    ForeignSegment,
    /// The length runs past the end of the segment.
    BadLength,
    /// The payload does not match its checksum.
    BadPayload,
}

/// A valid record frame found in a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    /// LSN written in the header.
    pub lsn: Lsn,
    /// Payload length.
    pub len: u32,
    /// The watermark carried by the record.
    pub acked: Lsn,
}

/// Decode the frame at the start of `bytes` (the rest of the segment) for a
/// segment with sequence number `seq`. Never reads outside `bytes`.
pub fn decode_record(bytes: &[u8], seq: u64) -> Result<Frame, FrameError> {
    let Ok((h, rest)) = RecordHeader::ref_from_prefix(bytes) else {
        return Err(FrameError::Short);
    };
    if h.magic.get() != RECORD_MAGIC || crc32fast::hash(&h.as_bytes()[..32]) != h.header_crc.get() {
        if h.as_bytes().iter().all(|b| *b == 0) {
            return Err(FrameError::Zero);
        }
        return Err(FrameError::BadHeader);
    }
    if h.seq.get() != seq {
        return Err(FrameError::ForeignSegment);
    }
    let len = h.len.get() as usize;
    if len > rest.len() {
        return Err(FrameError::BadLength);
    }
    let mut hasher = crc32fast::Hasher::new_with_initial(h.header_crc.get());
    hasher.update(&rest[..len]);
    if hasher.finalize() != h.payload_crc.get() {
        return Err(FrameError::BadPayload);
    }
    Ok(Frame { lsn: h.lsn.get(), len: h.len.get(), acked: h.acked.get() })
}

/// The file name of the segment whose first record is `first_lsn`.
pub fn segment_name(first_lsn: Lsn) -> String {
    format!("{first_lsn:020}{SEGMENT_SUFFIX}")
}

/// The first LSN encoded in a segment's file name, if it is one.
pub fn parse_segment_name(name: &str) -> Option<Lsn> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trip_and_every_single_bit_flip_is_caught() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 7, 3, 5, b"hello paxos");
        assert_eq!(buf.len() as u64, frame_len(11));
        assert_eq!(buf.len() % 8, 0);
        let f = decode_record(&buf, 3).unwrap();
        assert_eq!((f.lsn, f.len, f.acked), (7, 11, 5));
        assert_eq!(decode_record(&buf, 4), Err(FrameError::ForeignSegment));
        for i in 0..RECORD_HEADER_LEN + 11 {
            for bit in 0..8 {
                let mut b = buf.clone();
                b[i] ^= 1 << bit;
                assert!(decode_record(&b, 3).is_err(), "flip at byte {i} bit {bit} went unnoticed");
            }
        }
    }

    #[test]
    fn a_length_claiming_more_than_remains_is_rejected_not_read() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 1, 1, 0, &[9; 64]);
        let short = &buf[..RECORD_HEADER_LEN + 10];
        assert_eq!(decode_record(short, 1), Err(FrameError::BadLength));
        assert_eq!(decode_record(&buf[..10], 1), Err(FrameError::Short));
        assert_eq!(decode_record(&[0u8; 64], 1), Err(FrameError::Zero));
    }

    #[test]
    fn segment_header_checks() {
        let h = SegmentHeader::new(2, 100, 1 << 20, 0xABCD);
        let bytes = h.as_bytes().to_vec();
        assert_eq!(SegmentHeader::decode(&bytes).unwrap().first_lsn.get(), 100);
        let mut bad = bytes.clone();
        bad[20] ^= 1;
        assert!(SegmentHeader::decode(&bad).is_err());
        assert!(SegmentHeader::decode(&bytes[..10]).is_err());
        assert_eq!(SEGMENT_HEADER_LEN, 64);
        assert_eq!(RECORD_HEADER_LEN, 40);
    }

    #[test]
    fn names_sort_and_parse() {
        assert_eq!(segment_name(42), "00000000000000000042.wal");
        assert_eq!(parse_segment_name(&segment_name(42)), Some(42));
        assert_eq!(parse_segment_name("42.wal"), None);
        assert_eq!(parse_segment_name("0000000000000000004x.wal"), None);
        assert!(segment_name(9) < segment_name(10));
    }

    #[test]
    fn manifest_round_trip_and_checks() {
        let m = ManifestRecord::new(0xAB, 3, 77, Some((3, 8192)));
        assert_eq!(MANIFEST_LEN, 64);
        let d = ManifestRecord::decode(m.as_bytes()).unwrap();
        assert_eq!((d.last_seq.get(), d.last_first_lsn.get(), d.erase()), (3, 77, Some((3, 8192))));
        assert_eq!(ManifestRecord::decode(ManifestRecord::new(1, 1, 1, None).as_bytes()).unwrap().erase(), None);
        for i in 0..MANIFEST_LEN {
            let mut b = m.as_bytes().to_vec();
            b[i] ^= 0x10;
            assert!(ManifestRecord::decode(&b).is_err(), "flip at byte {i} went unnoticed");
        }
        assert!(ManifestRecord::decode(&m.as_bytes()[..63]).is_err());
        assert!(ManifestRecord::decode(&[0u8; 64]).is_err());
    }

    #[test]
    fn watermark_slot_round_trip() {
        let s = WatermarkSlot::new(5, 1, 99);
        assert_eq!(WatermarkSlot::decode(s.as_bytes(), 5), Some(99));
        assert_eq!(WatermarkSlot::decode(s.as_bytes(), 6), None);
        let mut b = s.as_bytes().to_vec();
        b[30] ^= 4;
        assert_eq!(WatermarkSlot::decode(&b, 5), None);
    }
}
