//! The canonical binary encoding: a small strict reader and an append-only writer.
//!
//! Integers are fixed-width little-endian; byte strings carry a `u8` or `u16`
//! length prefix. There is exactly one encoding of every value, so hashes and
//! signatures over encoded bytes are well defined. The [`Reader`] turns every
//! defect into a [`CoreError::Decode`] naming the structure and the offset:
//! truncation, trailing bytes, over-limit lengths, non-ASCII text.

use crate::error::{CoreError, CoreResult, DecodeReason};

/// Appends canonical fields to a byte buffer.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty writer with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            buf: Vec::with_capacity(capacity),
        }
    }

    /// One byte.
    #[inline]
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }

    /// A little-endian `u16`.
    #[inline]
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// A little-endian `u32`.
    #[inline]
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// A little-endian `u64`.
    #[inline]
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// Raw bytes, no prefix (fixed-size fields such as keys and hashes).
    #[inline]
    pub fn raw(&mut self, v: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(v);
        self
    }

    /// A byte string with a `u8` length prefix. The caller guarantees
    /// `v.len() <= 255` (the value types check their limits at construction);
    /// a longer string is cut at 255 bytes rather than encoded ambiguously.
    #[inline]
    pub fn bytes_u8(&mut self, v: &[u8]) -> &mut Self {
        let n = v.len().min(usize::from(u8::MAX));
        self.u8(n as u8).raw(&v[..n])
    }

    /// A byte string with a `u16` length prefix (cut at 65 535 bytes, see
    /// [`Writer::bytes_u8`]).
    #[inline]
    pub fn bytes_u16(&mut self, v: &[u8]) -> &mut Self {
        let n = v.len().min(usize::from(u16::MAX));
        self.u16(n as u16).raw(&v[..n])
    }

    /// The bytes written so far.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    /// The finished buffer.
    #[inline]
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads canonical fields from a byte slice, strictly.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader over `data`, decoding a `what` (named in errors).
    pub fn new(what: &'static str, data: &'a [u8]) -> Self {
        Self { data, pos: 0, what }
    }

    /// The offset of the next unread byte.
    #[inline]
    pub fn position(&self) -> usize {
        self.pos
    }

    /// How many bytes are left.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    /// A decode error of this reader's structure.
    pub fn error(&self, reason: DecodeReason, detail: impl Into<String>) -> CoreError {
        CoreError::decode(self.what, reason, detail)
    }

    /// The next `n` bytes; `truncated` if fewer remain.
    #[inline]
    pub fn take(&mut self, n: usize, field: &str) -> CoreResult<&'a [u8]> {
        self.need(n, field)?;
        let out = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// A fixed-size array.
    #[inline]
    pub fn array<const N: usize>(&mut self, field: &str) -> CoreResult<[u8; N]> {
        let b = self.take(N, field)?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }

    /// One byte.
    #[inline]
    pub fn u8(&mut self, field: &str) -> CoreResult<u8> {
        Ok(self.array::<1>(field)?[0])
    }

    /// A little-endian `u16`.
    #[inline]
    pub fn u16(&mut self, field: &str) -> CoreResult<u16> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }

    /// A little-endian `u32`.
    #[inline]
    pub fn u32(&mut self, field: &str) -> CoreResult<u32> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    /// A little-endian `u64`.
    #[inline]
    pub fn u64(&mut self, field: &str) -> CoreResult<u64> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }

    /// A `u8`-prefixed byte string whose length is in `min..=max`
    /// (`length_limit` otherwise, checked before the bytes are read).
    pub fn bytes_u8(&mut self, field: &str, min: usize, max: usize) -> CoreResult<&'a [u8]> {
        let n = usize::from(self.u8(field)?);
        self.check_len(field, n, min, max)?;
        self.take(n, field)
    }

    /// A `u16` count in `0..=max` (`length_limit` otherwise).
    pub fn count_u16(&mut self, field: &str, max: usize) -> CoreResult<usize> {
        let n = usize::from(self.u16(field)?);
        self.check_len(field, n, 0, max)?;
        Ok(n)
    }

    /// A `u16`-prefixed byte string of at most `max` bytes.
    pub fn bytes_u16(&mut self, field: &str, max: usize) -> CoreResult<&'a [u8]> {
        let n = self.count_u16(field, max)?;
        self.take(n, field)
    }

    fn check_len(&self, field: &str, n: usize, min: usize, max: usize) -> CoreResult<()> {
        if n < min || n > max {
            return Err(self.error(
                DecodeReason::LengthLimit,
                format!(
                    "{field}: length {n} at offset {} outside {min}..={max}",
                    self.pos
                ),
            ));
        }
        Ok(())
    }

    /// Fails with `truncated` unless at least `n` bytes remain (checked before
    /// allocating for them, so a forged length cannot make a decoder allocate
    /// more than its input's size).
    #[inline]
    pub fn need(&self, n: usize, field: &str) -> CoreResult<()> {
        if self.remaining() < n {
            return Err(self.error(
                DecodeReason::Truncated,
                format!(
                    "{field}: need {n} bytes at offset {}, {} left",
                    self.pos,
                    self.remaining()
                ),
            ));
        }
        Ok(())
    }

    /// Four bytes that must be `magic` (`bad_magic` otherwise).
    pub fn magic(&mut self, magic: [u8; 4]) -> CoreResult<()> {
        let got = self.array::<4>("magic")?;
        if got != magic {
            return Err(self.error(
                DecodeReason::BadMagic,
                format!("expected {magic:?}, got {got:?}"),
            ));
        }
        Ok(())
    }

    /// `n` reserved bytes that must be zero (`non_canonical` otherwise).
    pub fn zeros(&mut self, n: usize, field: &str) -> CoreResult<()> {
        if self.take(n, field)?.iter().any(|&b| b != 0) {
            return Err(self.error(
                DecodeReason::NonCanonical,
                format!(
                    "{field}: reserved bytes before offset {} are not zero",
                    self.pos
                ),
            ));
        }
        Ok(())
    }

    /// The name of the structure being decoded.
    pub fn what(&self) -> &'static str {
        self.what
    }

    /// A version byte that must be `version` (`unknown_version` otherwise).
    pub fn version(&mut self, version: u8) -> CoreResult<()> {
        let got = self.u8("version")?;
        if got != version {
            return Err(self.error(
                DecodeReason::UnknownVersion,
                format!("version {got}, this build reads {version}"),
            ));
        }
        Ok(())
    }

    /// Every byte not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        let out = &self.data[self.pos..];
        self.pos = self.data.len();
        out
    }

    /// Fails with `trailing_bytes` unless every byte was read.
    pub fn finish(&self) -> CoreResult<()> {
        if self.remaining() != 0 {
            return Err(self.error(
                DecodeReason::TrailingBytes,
                format!(
                    "{} bytes after the end at offset {}",
                    self.remaining(),
                    self.pos
                ),
            ));
        }
        Ok(())
    }
}

/// Checks that `data` is ASCII with every byte accepted by `allowed`;
/// `non_canonical` otherwise. Returns it as a `String`.
pub fn ascii_string(
    what: &'static str,
    field: &str,
    data: &[u8],
    allowed: impl Fn(u8) -> bool,
) -> CoreResult<String> {
    if let Some(i) = data.iter().position(|&b| !allowed(b)) {
        return Err(CoreError::decode(
            what,
            DecodeReason::NonCanonical,
            format!(
                "{field}: byte 0x{:02x} at index {i} is not allowed",
                data[i]
            ),
        ));
    }
    // Every allowed byte set is a subset of ASCII, so this cannot fail; the
    // error path keeps the function total anyway.
    String::from_utf8(data.to_vec()).map_err(|_| {
        CoreError::decode(
            what,
            DecodeReason::NonCanonical,
            format!("{field}: not UTF-8"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn writer_reader_round_trip() {
        let mut w = Writer::with_capacity(32);
        w.u8(7)
            .u16(0x1234)
            .u32(0xdead_beef)
            .u64(u64::MAX)
            .bytes_u8(b"abc")
            .bytes_u16(b"xy")
            .raw(&[9; 4]);
        let bytes = w.into_bytes();
        let mut r = Reader::new("T", &bytes);
        assert_eq!(r.u8("a").unwrap(), 7);
        assert_eq!(r.u16("b").unwrap(), 0x1234);
        assert_eq!(r.u32("c").unwrap(), 0xdead_beef);
        assert_eq!(r.u64("d").unwrap(), u64::MAX);
        assert_eq!(r.bytes_u8("e", 1, 3).unwrap(), b"abc");
        assert_eq!(r.bytes_u16("f", 2).unwrap(), b"xy");
        assert_eq!(r.array::<4>("g").unwrap(), [9; 4]);
        r.finish().unwrap();
    }

    #[test]
    fn reader_errors_carry_reasons() {
        let mut r = Reader::new("T", &[1, 2]);
        let e = r.u32("x").unwrap_err();
        assert_eq!(e.code(), "decode.truncated");
        assert!(e.to_string().contains('T'));
        let r = Reader::new("T", &[1]);
        assert_eq!(r.finish().unwrap_err().code(), "decode.trailing_bytes");
        let mut r = Reader::new("T", &[5, 0, 0, 0, 0, 0]);
        assert_eq!(
            r.bytes_u8("s", 1, 4).unwrap_err().code(),
            "decode.length_limit"
        );
        let mut r = Reader::new("T", &[0]);
        assert_eq!(
            r.bytes_u8("s", 1, 4).unwrap_err().code(),
            "decode.length_limit"
        );
        let mut r = Reader::new("T", &[3, 0]);
        assert_eq!(
            r.count_u16("n", 2).unwrap_err().code(),
            "decode.length_limit"
        );
        let e = ascii_string("T", "s", b"a\xffb", |b| b.is_ascii_lowercase()).unwrap_err();
        assert_eq!(e.code(), "decode.non_canonical");
        assert_eq!(
            ascii_string("T", "s", b"ab", |b| b.is_ascii_lowercase()).unwrap(),
            "ab"
        );
    }

    proptest! {
        #[test]
        fn reader_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut r = Reader::new("T", &data);
            let _ = r.u8("a");
            let _ = r.bytes_u8("b", 0, 255);
            let _ = r.bytes_u16("c", 1000);
            let _ = r.u64("d");
            let _ = r.finish();
        }
    }
}
