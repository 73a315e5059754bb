//! strata-persistence: RDB codec, AOF, snapshot orchestration and file-safety
//! helpers. Today: LZF and CRC-64/Jones, the building blocks of the RDB codec.

pub mod aof;
pub mod crc64;
pub mod fsutil;
pub mod lzf;
pub mod rdb;
