//! DUMP / RESTORE payloads: the RDB encoding of one value, then the RDB
//! version (2 bytes LE) and a CRC-64/Jones of everything before it (8 bytes
//! LE). Payloads move between Redis and Strata in both directions.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::indexing_slicing))]

use strata_engine::value::Value;

use super::reader::Reader;
use super::writer::Writer;
use super::{value, RDB_VERSION_MAX, RDB_VERSION_WRITTEN};

/// Builds the DUMP payload of a value (values are never LZF-compressed-off:
/// Redis compresses DUMP payloads when `rdbcompression` is on).
pub fn dump(v: &Value, compress: bool) -> Vec<u8> {
    let mut w = Writer::without_checksum(Vec::new(), compress);
    // Writing into a Vec cannot fail.
    let _ = value::write_value(&mut w, v);
    let mut out = w.into_inner();
    out.extend_from_slice(&(RDB_VERSION_WRITTEN as u16).to_le_bytes());
    let crc = crate::crc64::checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

#[derive(Debug, PartialEq, Eq)]
pub enum RestoreError {
    /// "ERR DUMP payload version or checksum are wrong"
    VersionOrChecksum,
    /// "ERR Bad data format"
    BadFormat,
}

/// Checks the footer and decodes the value.
pub fn restore(payload: &[u8], verify_checksum: bool) -> Result<Value, RestoreError> {
    if payload.len() < 10 {
        return Err(RestoreError::VersionOrChecksum);
    }
    let (body, footer) = payload.split_at(payload.len() - 10);
    let (ver, crc) = footer.split_at(2);
    let version = u16::from_le_bytes([
        ver.first().copied().unwrap_or(0),
        ver.get(1).copied().unwrap_or(0),
    ]);
    if version as u32 > RDB_VERSION_MAX {
        return Err(RestoreError::VersionOrChecksum);
    }
    if verify_checksum {
        let mut stored = [0u8; 8];
        stored.copy_from_slice(crc);
        let with_version = payload
            .get(..payload.len() - 8)
            .ok_or(RestoreError::VersionOrChecksum)?;
        if crate::crc64::checksum(with_version) != u64::from_le_bytes(stored) {
            return Err(RestoreError::VersionOrChecksum);
        }
    }
    let mut r = Reader::new(body);
    let ty = r.u8("type").map_err(|_| RestoreError::BadFormat)?;
    let v = value::read_value(&mut r, ty).map_err(|_| RestoreError::BadFormat)?;
    if r.pos() != body.len() as u64 || v.is_empty_collection() {
        return Err(RestoreError::BadFormat);
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_from_redis_restore() {
        // redis-server 7.0.15: SET k <20 x 'a'>; DUMP k
        let p = b"\x00\x14aaaaaaaaaaaaaaaaaaaa\n\x00\x83\xb4k^\x1b\x11\xac\xf1";
        assert_eq!(restore(p, true).unwrap(), Value::string_from(&[b'a'; 20]));
        // SET k <100 x 'a'> (LZF-compressed)
        let p = b"\x00\xc3\t@d\x01aa\xe0W\x00\x01aa\n\x00\xe8\xa3\xb5\x07\xb0m\xf2q";
        assert_eq!(restore(p, true).unwrap(), Value::string_from(&[b'a'; 100]));
    }

    #[test]
    fn our_payload_matches_redis_bytes_for_a_short_string() {
        let v = Value::string_from(&[b'a'; 20]);
        assert_eq!(
            dump(&v, true),
            b"\x00\x14aaaaaaaaaaaaaaaaaaaa\n\x00\x83\xb4k^\x1b\x11\xac\xf1".to_vec()
        );
    }

    #[test]
    fn damaged_payloads_are_refused() {
        let good = dump(&Value::string_from(b"hello world"), true);
        let mut bad = good.clone();
        bad[3] ^= 1;
        assert_eq!(restore(&bad, true), Err(RestoreError::VersionOrChecksum));
        let mut newer = good.clone();
        let n = newer.len();
        newer[n - 10] = 99;
        assert_eq!(restore(&newer, false), Err(RestoreError::VersionOrChecksum));
        assert_eq!(
            restore(b"short", true),
            Err(RestoreError::VersionOrChecksum)
        );
        // Trailing garbage inside the body.
        let mut body = vec![0u8, 1, b'x', b'y'];
        body.extend_from_slice(&10u16.to_le_bytes());
        let crc = crate::crc64::checksum(&body);
        body.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(restore(&body, true), Err(RestoreError::BadFormat));
        for cut in 0..good.len() {
            let _ = restore(&good[..cut], true);
        }
    }
}
