//! Reading a fuzz input as a stream of small numbers, and writing one.
//!
//! [`FuzzInput`] never fails: once the bytes run out every read returns zero,
//! so any byte string, including the empty one, decodes to *some* sequence
//! of choices. [`FuzzOutput`] writes the same encoding, so seed files can be
//! built from typed values (see [`super::Mutation::encode`]).

/// A cursor over a fuzz input. Reads past the end return zeros.
#[derive(Clone, Debug)]
pub struct FuzzInput<'a> {
    data: &'a [u8],
}

impl<'a> FuzzInput<'a> {
    /// Read from `data`.
    pub fn new(data: &'a [u8]) -> Self {
        FuzzInput { data }
    }

    /// Whether every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.data.len()
    }

    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let n = N.min(self.data.len());
        out[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        out
    }

    /// One byte.
    pub fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }

    /// Two bytes, little-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.take())
    }

    /// Four bytes, little-endian.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }

    /// Eight bytes, little-endian.
    pub fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }

    /// Up to `n` bytes (fewer if the input ends first).
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (head, tail) = self.data.split_at(n);
        self.data = tail;
        head
    }

    /// A length-prefixed byte string (one length byte, then up to `max` bytes).
    pub fn short_bytes(&mut self, max: usize) -> Vec<u8> {
        let n = self.u8() as usize % (max + 1);
        self.bytes(n).to_vec()
    }

    /// Everything not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        self.bytes(self.data.len())
    }
}

/// Writes values in the encoding [`FuzzInput`] reads.
#[derive(Clone, Debug, Default)]
pub struct FuzzOutput {
    bytes: Vec<u8>,
}

impl FuzzOutput {
    /// An empty output.
    pub fn new() -> Self {
        Self::default()
    }

    /// One byte.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.bytes.push(v);
        self
    }

    /// Two bytes, little-endian.
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// Four bytes, little-endian.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// Eight bytes, little-endian.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// Raw bytes.
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.bytes.extend_from_slice(v);
        self
    }

    /// A length-prefixed byte string, as [`FuzzInput::short_bytes`] reads it
    /// (at most 255 bytes).
    pub fn short_bytes(&mut self, v: &[u8]) -> &mut Self {
        assert!(v.len() <= 255, "short_bytes takes at most 255 bytes");
        self.bytes.push(v.len() as u8);
        self.bytes.extend_from_slice(v);
        self
    }

    /// The bytes written.
    pub fn finish(&self) -> Vec<u8> {
        self.bytes.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_was_written_and_zeros_past_the_end() {
        let bytes = FuzzOutput::new().u8(7).u16(300).u32(70_000).u64(1 << 40).short_bytes(b"abc").finish();
        let mut r = FuzzInput::new(&bytes);
        assert_eq!((r.u8(), r.u16(), r.u32(), r.u64()), (7, 300, 70_000, 1 << 40));
        assert_eq!(r.short_bytes(255), b"abc");
        assert!(r.is_empty());
        assert_eq!((r.u8(), r.u64(), r.bytes(4).len()), (0, 0, 0));
        let mut partial = FuzzInput::new(&[1, 2, 3]);
        assert_eq!(partial.u32(), 0x0003_0201);
    }
}
