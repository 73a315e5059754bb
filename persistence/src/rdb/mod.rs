//! The RDB format: constants, primitive readers and writers.
//!
//! Layout: `REDIS` + 4-digit version, then opcodes (AUX, SELECTDB, RESIZEDB,
//! expiry, LRU/LFU info, FUNCTION2) and typed key/value records, then EOF and
//! (version >= 5) an 8-byte little-endian CRC-64/Jones of everything before it.

pub mod compact;
pub mod dump;
pub mod listhash;
pub mod load;
pub mod reader;
pub mod save;
pub mod setzset;
pub mod stream;
pub mod value;
pub mod writer;

/// The version Strata writes (Redis 7.0).
pub const RDB_VERSION_WRITTEN: u32 = 10;
/// The newest version Strata reads (Valkey 8 / Redis 7.4 write 11 and 12).
pub const RDB_VERSION_MAX: u32 = 12;

pub mod opcode {
    pub const FUNCTION_PRE_GA: u8 = 246;
    pub const FUNCTION2: u8 = 245;
    pub const MODULE_AUX: u8 = 247;
    pub const IDLE: u8 = 248;
    pub const FREQ: u8 = 249;
    pub const AUX: u8 = 250;
    pub const RESIZEDB: u8 = 251;
    pub const EXPIRETIME_MS: u8 = 252;
    pub const EXPIRETIME: u8 = 253;
    pub const SELECTDB: u8 = 254;
    pub const EOF: u8 = 255;
}

pub mod types {
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const MODULE_PRE_GA: u8 = 6;
    pub const MODULE_2: u8 = 7;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const STREAM_LISTPACKS: u8 = 15;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const STREAM_LISTPACKS_2: u8 = 19;
    pub const SET_LISTPACK: u8 = 20;
    pub const STREAM_LISTPACKS_3: u8 = 21;
}

/// Length-prefix encodings (the two top bits of the first byte).
pub mod len {
    pub const BITS_6: u8 = 0;
    pub const BITS_14: u8 = 1;
    pub const BITS_32: u8 = 0x80;
    pub const BITS_64: u8 = 0x81;
    pub const ENCVAL: u8 = 3;
    pub const ENC_INT8: u8 = 0;
    pub const ENC_INT16: u8 = 1;
    pub const ENC_INT32: u8 = 2;
    pub const ENC_LZF: u8 = 3;
}

/// A decoding failure: where and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corrupt {
    pub offset: u64,
    pub what: String,
}

impl std::fmt::Display for Corrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at offset {}", self.what, self.offset)
    }
}

impl std::error::Error for Corrupt {}

#[cfg(test)]
mod tests;
