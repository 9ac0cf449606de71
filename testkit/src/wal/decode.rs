//! Fuzz target: the on-disk format's decoders on arbitrary bytes.
//!
//! Input: one mode byte, then the bytes to decode. The mode says whether to
//! *seal* the bytes first (0: as they are; 1: recompute the checksums;
//! 2: also write the magic numbers and fixed fields) so the fuzzer gets past
//! the checksums to the length and range checks behind them, and which
//! segment sequence number to decode a record or watermark slot against
//! (the one in the bytes, or a fixed one).

use super::input::FuzzInput;
use super::Violation;
use paxos_wal::format::{
    decode_record, encode_record, frame_len, parse_segment_name, segment_name, Frame, FrameError, Lsn, RecordHeader,
    SegmentHeader, WatermarkSlot, FORMAT_VERSION, HEADER_PAGE, RECORD_HEADER_LEN, RECORD_MAGIC, SEGMENT_HEADER_LEN,
    SEGMENT_MAGIC, WATERMARK_LEN, WATERMARK_MAGIC,
};
use zerocopy::{FromBytes, IntoBytes};

/// What one input decoded to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormatSummary {
    /// The record frame decoder's answer.
    pub record: Result<Frame, FrameError>,
    /// A segment header decoded.
    pub segment_header: bool,
    /// A segment header decoded although its reserved bytes are not zero
    /// (the decoder does not check them; the checksum covers them).
    pub header_reserved_nonzero: bool,
    /// The durable LSN a watermark slot decoded to.
    pub watermark: Option<Lsn>,
    /// The LSN a segment file name parsed to.
    pub segment_name: Option<Lsn>,
}

fn le64(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8).map_or(0, |s| u64::from_le_bytes(s.try_into().expect("8 bytes")))
}

fn le32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4).map_or(0, |s| u32::from_le_bytes(s.try_into().expect("4 bytes")))
}

/// Decode the input as a record frame, a segment header, a watermark slot
/// and a segment file name, and check each answer against the format:
/// - a frame decodes iff magic, header checksum, segment sequence number,
///   length bound and payload checksum all hold; it re-encodes (with
///   [`encode_record`]) to exactly the bytes it was read from, needs no byte
///   past its payload, and fails as `ForeignSegment` for any other sequence
///   number; `Zero` is returned exactly for an all-zero header and `Short`
///   exactly for fewer than 40 bytes;
/// - a segment header decodes iff magic, checksum, version and header length
///   hold, and [`SegmentHeader::new`] rebuilds the same fields (the same
///   bytes when its reserved bytes are zero);
/// - a watermark slot decodes iff magic, checksum and sequence number hold,
///   to the LSN stored in it, and [`WatermarkSlot::new`] rebuilds it;
/// - a file name parses iff it is exactly what [`segment_name`] writes.
pub fn check_format_decoders(data: &[u8]) -> Result<FormatSummary, Violation> {
    let mut input = FuzzInput::new(data);
    let mode = input.u8();
    let body = input.rest();
    let seal = mode % 3;
    let own_seq = mode & 4 == 0;
    let fixed_seq = (mode >> 3) as u64;
    let record = check_record(body, seal, own_seq, fixed_seq)?;
    let (segment_header, header_reserved_nonzero) = check_segment_header(body, seal)?;
    let watermark = check_watermark(body, seal, own_seq, fixed_seq)?;
    let segment_name = check_name(body)?;
    Ok(FormatSummary { record, segment_header, header_reserved_nonzero, watermark, segment_name })
}

fn check_record(body: &[u8], seal: u8, own_seq: bool, fixed_seq: u64) -> Result<Result<Frame, FrameError>, Violation> {
    let mut buf = body.to_vec();
    if buf.len() >= RECORD_HEADER_LEN && seal > 0 {
        if seal == 2 {
            buf[..4].copy_from_slice(&RECORD_MAGIC.to_le_bytes());
        }
        let header_crc = crc32fast::hash(&buf[..32]);
        buf[32..36].copy_from_slice(&header_crc.to_le_bytes());
        let len = (le32(&buf, 4) as usize).min(buf.len() - RECORD_HEADER_LEN);
        let mut h = crc32fast::Hasher::new_with_initial(header_crc);
        h.update(&buf[RECORD_HEADER_LEN..RECORD_HEADER_LEN + len]);
        buf[36..40].copy_from_slice(&h.finalize().to_le_bytes());
    }
    let seq = if own_seq { le64(&buf, 16) } else { fixed_seq };
    let r = decode_record(&buf, seq);
    let ctx = || format!("record {:02x?} against seq {seq}: {r:?}", &buf[..buf.len().min(64)]);
    Violation::ensure((r == Err(FrameError::Short)) == (buf.len() < RECORD_HEADER_LEN), || {
        format!("Short: {}", ctx())
    })?;
    if buf.len() < RECORD_HEADER_LEN {
        return Ok(r);
    }
    let zero = buf[..RECORD_HEADER_LEN].iter().all(|b| *b == 0);
    Violation::ensure((r == Err(FrameError::Zero)) == zero, || format!("Zero: {}", ctx()))?;
    let (h, _) = RecordHeader::read_from_prefix(&buf).map_err(|_| Violation("header did not read".into()))?;
    let header_ok = h.magic.get() == RECORD_MAGIC && crc32fast::hash(&buf[..32]) == h.header_crc.get();
    let len = h.len.get() as usize;
    let expect = if !header_ok {
        if zero {
            Err(FrameError::Zero)
        } else {
            Err(FrameError::BadHeader)
        }
    } else if h.seq.get() != seq {
        Err(FrameError::ForeignSegment)
    } else if len > buf.len() - RECORD_HEADER_LEN {
        Err(FrameError::BadLength)
    } else {
        let mut hasher = crc32fast::Hasher::new_with_initial(h.header_crc.get());
        hasher.update(&buf[RECORD_HEADER_LEN..RECORD_HEADER_LEN + len]);
        if hasher.finalize() == h.payload_crc.get() {
            Ok(Frame { lsn: h.lsn.get(), len: h.len.get(), acked: h.acked.get() })
        } else {
            Err(FrameError::BadPayload)
        }
    };
    Violation::ensure(r == expect, || format!("expected {expect:?}: {}", ctx()))?;
    if let Ok(f) = r {
        let end = RECORD_HEADER_LEN + f.len as usize;
        let mut again = Vec::new();
        encode_record(&mut again, f.lsn, seq, f.acked, &buf[RECORD_HEADER_LEN..end]);
        Violation::ensure(again.len() as u64 == frame_len(f.len as usize) && again.len() % 8 == 0, || {
            format!("re-encoded frame is {} bytes: {}", again.len(), ctx())
        })?;
        Violation::ensure(again[..end] == buf[..end] && again[end..].iter().all(|b| *b == 0), || {
            format!("re-encoding differs: {}", ctx())
        })?;
        Violation::ensure(decode_record(&buf[..end], seq) == r, || format!("needs bytes past its payload: {}", ctx()))?;
        Violation::ensure(decode_record(&again, seq) == r, || {
            format!("re-encoded frame decodes differently: {}", ctx())
        })?;
        let other = decode_record(&buf, seq ^ 1);
        Violation::ensure(other == Err(FrameError::ForeignSegment), || format!("seq {} gives {other:?}", seq ^ 1))?;
    }
    Ok(r)
}

fn check_segment_header(body: &[u8], seal: u8) -> Result<(bool, bool), Violation> {
    let mut buf = body.to_vec();
    if buf.len() >= SEGMENT_HEADER_LEN && seal > 0 {
        if seal == 2 {
            buf[..8].copy_from_slice(&SEGMENT_MAGIC);
            buf[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
            buf[12..16].copy_from_slice(&(HEADER_PAGE as u32).to_le_bytes());
        }
        let crc = crc32fast::hash(&buf[..SEGMENT_HEADER_LEN - 4]);
        buf[SEGMENT_HEADER_LEN - 4..SEGMENT_HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
    }
    let r = SegmentHeader::decode(&buf);
    let valid = buf.len() >= SEGMENT_HEADER_LEN
        && buf[..8] == SEGMENT_MAGIC
        && crc32fast::hash(&buf[..SEGMENT_HEADER_LEN - 4]) == le32(&buf, SEGMENT_HEADER_LEN - 4)
        && le32(&buf, 8) == FORMAT_VERSION
        && le32(&buf, 12) as u64 == HEADER_PAGE;
    let ctx = || format!("segment header {:02x?}: {r:?}", &buf[..buf.len().min(SEGMENT_HEADER_LEN)]);
    Violation::ensure(r.is_ok() == valid, || format!("expected valid={valid}: {}", ctx()))?;
    let Ok(h) = r else { return Ok((false, false)) };
    Violation::ensure(h.as_bytes() == &buf[..SEGMENT_HEADER_LEN], || format!("fields moved: {}", ctx()))?;
    let rebuilt = SegmentHeader::new(h.seq.get(), h.first_lsn.get(), h.segment_size.get(), h.log_id.get());
    let again = SegmentHeader::decode(rebuilt.as_bytes()).map_err(|e| Violation(format!("rebuilt header: {e}")))?;
    Violation::ensure(
        (again.seq.get(), again.first_lsn.get(), again.segment_size.get(), again.log_id.get())
            == (h.seq.get(), h.first_lsn.get(), h.segment_size.get(), h.log_id.get()),
        || format!("rebuilt header has other fields: {}", ctx()),
    )?;
    let reserved_nonzero = h.reserved.iter().any(|b| *b != 0);
    Violation::ensure((rebuilt.as_bytes() == h.as_bytes()) != reserved_nonzero, || {
        format!("rebuilt header bytes differ beyond the reserved bytes: {}", ctx())
    })?;
    Ok((true, reserved_nonzero))
}

fn check_watermark(body: &[u8], seal: u8, own_seq: bool, fixed_seq: u64) -> Result<Option<Lsn>, Violation> {
    let mut buf = body.to_vec();
    if buf.len() >= WATERMARK_LEN && seal > 0 {
        if seal == 2 {
            buf[..4].copy_from_slice(&WATERMARK_MAGIC.to_le_bytes());
        }
        let crc = crc32fast::hash(&buf[8..WATERMARK_LEN]);
        buf[4..8].copy_from_slice(&crc.to_le_bytes());
    }
    let seq = if own_seq { le64(&buf, 8) } else { fixed_seq };
    let r = WatermarkSlot::decode(&buf, seq);
    let valid = buf.len() >= WATERMARK_LEN
        && le32(&buf, 0) == WATERMARK_MAGIC
        && le32(&buf, 4) == crc32fast::hash(&buf[8..WATERMARK_LEN])
        && le64(&buf, 8) == seq;
    let ctx = || format!("watermark slot {:02x?} against seq {seq}: {r:?}", &buf[..buf.len().min(WATERMARK_LEN)]);
    Violation::ensure(r.is_some() == valid, || format!("expected valid={valid}: {}", ctx()))?;
    if let Some(d) = r {
        Violation::ensure(d == le64(&buf, 24), || format!("wrong LSN: {}", ctx()))?;
        let rebuilt = WatermarkSlot::new(seq, le64(&buf, 16), d);
        Violation::ensure(rebuilt.as_bytes() == &buf[..WATERMARK_LEN], || format!("rebuilt slot differs: {}", ctx()))?;
    }
    Ok(r)
}

fn check_name(body: &[u8]) -> Result<Option<Lsn>, Violation> {
    let lsn = le64(body, 0);
    let name = segment_name(lsn);
    Violation::ensure(parse_segment_name(&name) == Some(lsn), || format!("{name} does not parse back to {lsn}"))?;
    let Ok(text) = std::str::from_utf8(body) else { return Ok(None) };
    let parsed = parse_segment_name(text);
    if let Some(l) = parsed {
        Violation::ensure(segment_name(l) == text, || format!("{text:?} parsed to {l}, which is named differently"))?;
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_mode(mode: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![mode];
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn a_real_record_header_and_name_decode_and_round_trip() {
        let mut rec = Vec::new();
        encode_record(&mut rec, 9, 4, 8, b"payload");
        let s = check_format_decoders(&with_mode(0, &rec)).unwrap();
        assert_eq!(s.record, Ok(Frame { lsn: 9, len: 7, acked: 8 }));
        let h = SegmentHeader::new(3, 100, 8192, 0x5EED);
        assert!(check_format_decoders(&with_mode(0, h.as_bytes())).unwrap().segment_header);
        let s = check_format_decoders(&with_mode(0, segment_name(77).as_bytes())).unwrap();
        assert_eq!(s.segment_name, Some(77));
    }

    #[test]
    fn sealing_gets_garbage_past_the_checksums() {
        let garbage: Vec<u8> = (0..80u8).map(|i| i.wrapping_mul(37)).collect();
        assert_eq!(check_format_decoders(&with_mode(0, &garbage)).unwrap().record, Err(FrameError::BadHeader));
        // Sealed with magic: the header is trusted, and its length is then
        // checked against what remains.
        let r = check_format_decoders(&with_mode(2, &garbage)).unwrap().record;
        assert_eq!(r, Err(FrameError::BadLength));
        let mut small_len = garbage.clone();
        small_len[4..8].copy_from_slice(&3u32.to_le_bytes());
        let s = check_format_decoders(&with_mode(2, &small_len)).unwrap();
        assert_eq!(s.record.map(|f| f.len), Ok(3));
        assert!(s.segment_header, "sealed with magic, the same bytes are a valid segment header too");
    }
}
