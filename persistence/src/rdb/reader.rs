//! Streaming primitive reader for RDB data with byte offsets in every error.
//!
//! Invariants: never allocates more than `CHUNK_BYTES` ahead of bytes actually
//! read, whatever length the file declares; every error carries the offset.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::indexing_slicing))]

use std::io::Read;

use super::{len, Corrupt};
use crate::lzf;

/// Largest piece read (and allocated) at once for a declared length.
pub const CHUNK_BYTES: usize = 1 << 20;

pub struct Reader<R: Read> {
    inner: R,
    pos: u64,
    /// Every byte read is fed here when checksumming.
    digest: Option<crc::Digest<'static, u64>>,
}

/// A length or a special string encoding.
#[derive(Debug, PartialEq, Eq)]
pub enum Len {
    Plain(u64),
    Encoded(u8),
}

impl<R: Read> Reader<R> {
    pub fn new(inner: R) -> Reader<R> {
        Reader {
            inner,
            pos: 0,
            digest: None,
        }
    }

    pub fn with_checksum(inner: R) -> Reader<R> {
        Reader {
            inner,
            pos: 0,
            digest: Some(crate::crc64::digest()),
        }
    }

    pub fn pos(&self) -> u64 {
        self.pos
    }

    pub fn corrupt(&self, what: impl Into<String>) -> Corrupt {
        Corrupt {
            offset: self.pos,
            what: what.into(),
        }
    }

    /// The checksum of everything read so far.
    pub fn checksum(&self) -> Option<u64> {
        self.digest.as_ref().map(|d| d.clone().finalize())
    }

    pub fn exact(&mut self, buf: &mut [u8], what: &str) -> Result<(), Corrupt> {
        self.inner
            .read_exact(buf)
            .map_err(|_| self.corrupt(format!("unexpected end of file reading {what}")))?;
        if let Some(d) = self.digest.as_mut() {
            d.update(buf);
        }
        self.pos += buf.len() as u64;
        Ok(())
    }

    pub fn u8(&mut self, what: &str) -> Result<u8, Corrupt> {
        let mut b = [0u8; 1];
        self.exact(&mut b, what)?;
        Ok(b[0])
    }

    pub fn u32_le(&mut self, what: &str) -> Result<u32, Corrupt> {
        let mut b = [0u8; 4];
        self.exact(&mut b, what)?;
        Ok(u32::from_le_bytes(b))
    }

    pub fn u64_le(&mut self, what: &str) -> Result<u64, Corrupt> {
        let mut b = [0u8; 8];
        self.exact(&mut b, what)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Reads `n` bytes, allocating as they arrive (a huge declared `n` on a
    /// short file fails at the end of the data, not at allocation).
    pub fn bytes(&mut self, n: u64, what: &str) -> Result<Vec<u8>, Corrupt> {
        let n = usize::try_from(n).map_err(|_| self.corrupt(format!("{what} length too large")))?;
        let mut out = Vec::with_capacity(n.min(CHUNK_BYTES));
        let mut left = n;
        let mut chunk = vec![0u8; n.min(CHUNK_BYTES)];
        while left > 0 {
            let take = left.min(CHUNK_BYTES);
            let piece = chunk
                .get_mut(..take)
                .ok_or_else(|| self.corrupt("internal chunk size"))?;
            self.exact(piece, what)?;
            out.extend_from_slice(piece);
            left -= take;
        }
        Ok(out)
    }

    /// A length (or special encoding marker).
    pub fn len(&mut self, what: &str) -> Result<Len, Corrupt> {
        let first = self.u8(what)?;
        match (first & 0xC0) >> 6 {
            len::BITS_6 => Ok(Len::Plain((first & 0x3F) as u64)),
            len::BITS_14 => {
                let next = self.u8(what)?;
                Ok(Len::Plain((((first & 0x3F) as u64) << 8) | next as u64))
            }
            len::ENCVAL => Ok(Len::Encoded(first & 0x3F)),
            _ => match first {
                len::BITS_32 => {
                    let mut b = [0u8; 4];
                    self.exact(&mut b, what)?;
                    Ok(Len::Plain(u32::from_be_bytes(b) as u64))
                }
                len::BITS_64 => {
                    let mut b = [0u8; 8];
                    self.exact(&mut b, what)?;
                    Ok(Len::Plain(u64::from_be_bytes(b)))
                }
                other => Err(Corrupt {
                    offset: self.pos - 1,
                    what: format!("unknown length encoding {other} in {what}"),
                }),
            },
        }
    }

    /// A plain length; an encoded marker here is corruption.
    pub fn plain_len(&mut self, what: &str) -> Result<u64, Corrupt> {
        match self.len(what)? {
            Len::Plain(n) => Ok(n),
            Len::Encoded(_) => Err(self.corrupt(format!("unexpected string encoding for {what}"))),
        }
    }

    /// A string object: raw, integer-encoded or LZF-compressed.
    pub fn string(&mut self, what: &str) -> Result<Vec<u8>, Corrupt> {
        match self.len(what)? {
            Len::Plain(n) => self.bytes(n, what),
            Len::Encoded(len::ENC_INT8) => Ok((self.u8(what)? as i8).to_string().into_bytes()),
            Len::Encoded(len::ENC_INT16) => {
                let mut b = [0u8; 2];
                self.exact(&mut b, what)?;
                Ok(i16::from_le_bytes(b).to_string().into_bytes())
            }
            Len::Encoded(len::ENC_INT32) => {
                let mut b = [0u8; 4];
                self.exact(&mut b, what)?;
                Ok(i32::from_le_bytes(b).to_string().into_bytes())
            }
            Len::Encoded(len::ENC_LZF) => {
                let clen = self.plain_len(what)?;
                let ulen = self.plain_len(what)?;
                let at = self.pos;
                let compressed = self.bytes(clen, what)?;
                let ulen =
                    usize::try_from(ulen).map_err(|_| self.corrupt("LZF length too large"))?;
                lzf::decompress(&compressed, ulen).map_err(|e| Corrupt {
                    offset: at,
                    what: format!("invalid LZF data in {what}: {e:?}"),
                })
            }
            Len::Encoded(other) => {
                Err(self.corrupt(format!("unknown string encoding {other} in {what}")))
            }
        }
    }

    /// A double in the old string form (1-byte length; 253 nan, 254 +inf, 255 -inf).
    pub fn string_double(&mut self, what: &str) -> Result<f64, Corrupt> {
        let n = self.u8(what)?;
        match n {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            n => {
                let b = self.bytes(n as u64, what)?;
                std::str::from_utf8(&b)
                    .ok()
                    .and_then(|s| s.parse::<f64>().ok())
                    .ok_or_else(|| self.corrupt(format!("invalid double in {what}")))
            }
        }
    }

    /// A binary little-endian double (ZSET_2 scores).
    pub fn binary_double(&mut self, what: &str) -> Result<f64, Corrupt> {
        Ok(f64::from_bits(self.u64_le(what)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        let data = [
            0x05u8, 0x41, 0x00, 0x80, 0, 1, 0, 0, 0x81, 0, 0, 0, 0, 0, 0, 0, 7,
        ];
        let mut r = Reader::new(&data[..]);
        assert_eq!(r.len("x").unwrap(), Len::Plain(5));
        assert_eq!(r.len("x").unwrap(), Len::Plain(0x100));
        assert_eq!(r.len("x").unwrap(), Len::Plain(0x10000));
        assert_eq!(r.len("x").unwrap(), Len::Plain(7));
        assert_eq!(r.pos(), data.len() as u64);
    }

    #[test]
    fn strings_from_redis_dump_payloads() {
        let mut r = Reader::new(&b"\xc3\t@d\x01aa\xe0W\x00\x01aa"[..]);
        assert_eq!(r.string("v").unwrap(), vec![b'a'; 100]);
        let mut r = Reader::new(&[0xc0u8, 0xfb][..]);
        assert_eq!(r.string("v").unwrap(), b"-5");
        let mut r = Reader::new(&[0xc2u8, 0x40, 0x42, 0x0f, 0x00][..]);
        assert_eq!(r.string("v").unwrap(), b"1000000");
    }

    #[test]
    fn huge_declared_length_fails_without_allocating_it() {
        let data = [0x81u8, 0, 0, 0, 0x10, 0, 0, 0, 0, b'a'];
        let mut r = Reader::new(&data[..]);
        let e = r.string("value").unwrap_err();
        assert!(e.what.contains("unexpected end of file"), "{e}");
    }
}
