//! CRC-64/Jones ("CRC_64_REDIS"): the checksum of RDB files and DUMP payloads.
//! Not `crc64fast`, which computes CRC-64/XZ and would make Redis reject our files.

use crc::{Crc, Digest, CRC_64_REDIS};

pub const JONES: Crc<u64> = Crc::<u64>::new(&CRC_64_REDIS);

pub fn checksum(data: &[u8]) -> u64 {
    JONES.checksum(data)
}

/// An incremental digest for streaming writers and readers.
pub fn digest() -> Digest<'static, u64> {
    JONES.digest()
}

#[cfg(test)]
mod tests {
    #[test]
    fn matches_redis_test_vector() {
        // crc64.c's self-test: crc64(0, "123456789") == 0xe9c6d914c4b8d9ca.
        assert_eq!(super::checksum(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
    }
}
