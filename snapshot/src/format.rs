//! The on-disk format of a snapshot file: names, the fixed header, the
//! footer. `FORMAT.md` beside `Cargo.toml` describes the same layout in
//! prose; the two must agree.
//!
//! All integers are little-endian. The header is decoded with zerocopy from a
//! buffer of exactly its size; no length field is used before the header's
//! own checksum has been verified, and no buffer is sized by a length that the
//! file's real size has not confirmed.

use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Magic bytes at the start of every snapshot file.
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"PXSNAPSH";
/// Version of the snapshot format this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Magic bytes at the start of the footer.
pub const FOOTER_MAGIC: [u8; 4] = *b"PXSE";
/// The largest caller metadata a snapshot may carry.
pub const MAX_METADATA_LEN: usize = 64 << 20;
/// File-name prefix of a snapshot (and of its temporary file).
pub const SNAPSHOT_PREFIX: &str = "snap-";
/// File-name suffix of a complete snapshot.
pub const SNAPSHOT_SUFFIX: &str = ".snap";
/// File-name suffix of a snapshot being written (deleted on open).
pub const TEMP_SUFFIX: &str = ".tmp";

/// The fixed header at offset 0 of every snapshot file.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SnapshotHeader {
    /// [`SNAPSHOT_MAGIC`].
    pub magic: [u8; 8],
    /// [`FORMAT_VERSION`].
    pub version: U32,
    /// Size of this header ([`HEADER_LEN`]); metadata starts here.
    pub header_len: U32,
    /// The snapshot covers the log up to and including this position.
    pub position: U64,
    /// Length of the payload in bytes.
    pub payload_len: U64,
    /// Length of the caller metadata in bytes.
    pub metadata_len: U32,
    /// CRC32 of the metadata bytes.
    pub metadata_crc: U32,
    /// Reserved, zero.
    pub reserved: [u8; 20],
    /// CRC32 of the 60 bytes before it. Checked before any length is used.
    pub header_crc: U32,
}

/// Size of [`SnapshotHeader`] in bytes.
pub const HEADER_LEN: usize = std::mem::size_of::<SnapshotHeader>();

/// The footer after the payload, at the end of the file.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SnapshotFooter {
    /// [`FOOTER_MAGIC`].
    pub magic: [u8; 4],
    /// CRC32 of the payload bytes.
    pub payload_crc: U32,
    /// The header's position again: a footer of another snapshot never matches.
    pub position: U64,
}

/// Size of [`SnapshotFooter`] in bytes.
pub const FOOTER_LEN: usize = std::mem::size_of::<SnapshotFooter>();

/// Why header bytes are not a usable header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// Not a snapshot header of any version (magic, checksum, layout).
    Bad(&'static str),
    /// A self-consistent header of another format version.
    Version(u32),
}

impl SnapshotHeader {
    /// A header for a snapshot at `position` with the given metadata and payload length.
    pub fn new(position: u64, metadata: &[u8], payload_len: u64) -> Self {
        debug_assert!(metadata.len() <= MAX_METADATA_LEN);
        let mut h = SnapshotHeader {
            magic: SNAPSHOT_MAGIC,
            version: FORMAT_VERSION.into(),
            header_len: (HEADER_LEN as u32).into(),
            position: position.into(),
            payload_len: payload_len.into(),
            metadata_len: (metadata.len() as u32).into(),
            metadata_crc: crc32fast::hash(metadata).into(),
            reserved: [0; 20],
            header_crc: 0.into(),
        };
        h.seal();
        h
    }

    /// Recompute the header checksum after changing a field.
    pub fn seal(&mut self) {
        self.header_crc = crc32fast::hash(&self.as_bytes()[..HEADER_LEN - 4]).into();
    }

    /// Decode and check a header. Checks, in order: magic, header checksum,
    /// version, header length, metadata length limit. Lengths are only read
    /// after the checksum matched.
    pub fn decode(bytes: &[u8; HEADER_LEN]) -> Result<Self, HeaderError> {
        let h = SnapshotHeader::read_from_bytes(bytes).map_err(|_| HeaderError::Bad("wrong size"))?;
        if h.magic != SNAPSHOT_MAGIC {
            return Err(HeaderError::Bad("wrong magic"));
        }
        if crc32fast::hash(&bytes[..HEADER_LEN - 4]) != h.header_crc.get() {
            return Err(HeaderError::Bad("header checksum mismatch"));
        }
        if h.version.get() != FORMAT_VERSION {
            return Err(HeaderError::Version(h.version.get()));
        }
        if h.header_len.get() as usize != HEADER_LEN {
            return Err(HeaderError::Bad("unexpected header length"));
        }
        if h.metadata_len.get() as usize > MAX_METADATA_LEN {
            return Err(HeaderError::Bad("metadata longer than the format allows"));
        }
        Ok(h)
    }

    /// Total file length this header implies, or `None` if it overflows.
    pub fn file_len(&self) -> Option<u64> {
        (HEADER_LEN as u64 + FOOTER_LEN as u64)
            .checked_add(self.metadata_len.get() as u64)?
            .checked_add(self.payload_len.get())
    }

    /// Offset of the first payload byte.
    pub fn payload_offset(&self) -> u64 {
        HEADER_LEN as u64 + self.metadata_len.get() as u64
    }
}

impl SnapshotFooter {
    /// The footer of a snapshot at `position` whose payload has checksum `payload_crc`.
    pub fn new(position: u64, payload_crc: u32) -> Self {
        SnapshotFooter { magic: FOOTER_MAGIC, payload_crc: payload_crc.into(), position: position.into() }
    }

    /// Decode a footer and check it belongs to a snapshot at `position`;
    /// returns the payload checksum it records.
    pub fn decode(bytes: &[u8; FOOTER_LEN], position: u64) -> Result<u32, &'static str> {
        let f = SnapshotFooter::read_from_bytes(bytes).map_err(|_| "wrong size")?;
        if f.magic != FOOTER_MAGIC {
            return Err("wrong footer magic");
        }
        if f.position.get() != position {
            return Err("footer position does not match the header");
        }
        Ok(f.payload_crc.get())
    }
}

/// The file name of the snapshot at `position`.
pub fn snapshot_name(position: u64) -> String {
    format!("{SNAPSHOT_PREFIX}{position:020}{SNAPSHOT_SUFFIX}")
}

/// The file name of a temporary file for a snapshot at `position`; `unique`
/// tells concurrent writers apart.
pub fn temp_name(position: u64, unique: u64) -> String {
    format!("{SNAPSHOT_PREFIX}{position:020}.{unique}{TEMP_SUFFIX}")
}

/// The position encoded in a snapshot's file name, if it is one.
pub fn parse_snapshot_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(SNAPSHOT_PREFIX)?.strip_suffix(SNAPSHOT_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Whether a file name is one of this crate's temporary files.
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with(SNAPSHOT_PREFIX) && name.ends_with(TEMP_SUFFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_fixed() {
        assert_eq!(HEADER_LEN, 64);
        assert_eq!(FOOTER_LEN, 16);
    }

    #[test]
    fn header_round_trip_and_every_bit_flip_is_caught() {
        let h = SnapshotHeader::new(77, b"meta", 1000);
        let bytes: [u8; HEADER_LEN] = h.as_bytes().try_into().unwrap();
        let d = SnapshotHeader::decode(&bytes).unwrap();
        assert_eq!((d.position.get(), d.payload_len.get(), d.metadata_len.get()), (77, 1000, 4));
        assert_eq!(d.metadata_crc.get(), crc32fast::hash(b"meta"));
        assert_eq!(d.file_len(), Some(64 + 16 + 4 + 1000));
        for i in 0..HEADER_LEN {
            for bit in 0..8 {
                let mut b = bytes;
                b[i] ^= 1 << bit;
                assert!(SnapshotHeader::decode(&b).is_err(), "flip at byte {i} bit {bit} went unnoticed");
            }
        }
    }

    #[test]
    fn version_is_checked_after_the_checksum() {
        let mut h = SnapshotHeader::new(1, b"", 0);
        h.version = 9.into();
        let mut bytes: [u8; HEADER_LEN] = h.as_bytes().try_into().unwrap();
        assert_eq!(SnapshotHeader::decode(&bytes).unwrap_err(), HeaderError::Bad("header checksum mismatch"));
        h.seal();
        bytes.copy_from_slice(h.as_bytes());
        assert_eq!(SnapshotHeader::decode(&bytes).unwrap_err(), HeaderError::Version(9));
    }

    #[test]
    fn huge_lengths_do_not_overflow() {
        let mut h = SnapshotHeader::new(1, b"", u64::MAX);
        assert_eq!(h.file_len(), None);
        h.payload_len = (u64::MAX - 79).into();
        assert_eq!(h.file_len(), None);
        h.payload_len = (u64::MAX - 80).into();
        assert_eq!(h.file_len(), Some(u64::MAX));
    }

    #[test]
    fn footer_checks_magic_and_position() {
        let f = SnapshotFooter::new(5, 0xdead_beef);
        let bytes: [u8; FOOTER_LEN] = f.as_bytes().try_into().unwrap();
        assert_eq!(SnapshotFooter::decode(&bytes, 5), Ok(0xdead_beef));
        assert!(SnapshotFooter::decode(&bytes, 6).is_err());
        let mut b = bytes;
        b[0] ^= 1;
        assert!(SnapshotFooter::decode(&b, 5).is_err());
    }

    #[test]
    fn names_sort_and_parse() {
        assert_eq!(snapshot_name(42), "snap-00000000000000000042.snap");
        assert_eq!(parse_snapshot_name(&snapshot_name(42)), Some(42));
        assert_eq!(parse_snapshot_name(&snapshot_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_snapshot_name("snap-42.snap"), None);
        assert_eq!(parse_snapshot_name("snap-0000000000000000004x.snap"), None);
        assert_eq!(parse_snapshot_name("snap-99999999999999999999.snap"), None, "overflows u64");
        assert_eq!(parse_snapshot_name(&temp_name(42, 1)), None);
        assert!(is_temp_name(&temp_name(42, 1)));
        assert!(!is_temp_name("notes.tmp"));
        assert!(snapshot_name(9) < snapshot_name(10));
    }
}
