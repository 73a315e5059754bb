//! Reading an RDB file (versions 1 to 12) as a stream of items.
//!
//! Invariants: bounded memory whatever the file declares (see `Reader`);
//! every error carries the byte offset; the checksum (version >= 5) is
//! verified unless it is zero or verification is off.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::indexing_slicing))]

use std::io::Read;

use strata_engine::value::Value;
use strata_engine::Encodings;

use super::reader::Reader;
use super::{opcode, value, Corrupt, RDB_VERSION_MAX};

#[derive(Debug)]
pub enum Item {
    Aux(Vec<u8>, Vec<u8>),
    ResizeDb {
        db: usize,
        keys: u64,
        expires: u64,
    },
    Entry {
        db: usize,
        key: Vec<u8>,
        value: Value,
        expire_at_ms: Option<u64>,
        idle_s: Option<u64>,
        freq: Option<u8>,
    },
    Function(Vec<u8>),
}

#[derive(Debug, Default)]
pub struct LoadInfo {
    pub version: u32,
    pub keys: u64,
    pub checksum_verified: bool,
    pub bytes: u64,
}

#[derive(Debug)]
pub enum LoadError {
    Corrupt(Corrupt),
    /// The consumer refused an item (e.g. a database index out of range).
    Rejected {
        offset: u64,
        reason: String,
    },
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Corrupt(c) => write!(f, "{c}"),
            LoadError::Rejected { offset, reason } => write!(f, "{reason} at offset {offset}"),
        }
    }
}

impl From<Corrupt> for LoadError {
    fn from(c: Corrupt) -> Self {
        LoadError::Corrupt(c)
    }
}

/// Reads the whole file, calling `on_item` for each item in order.
pub fn load<R: Read>(
    input: R,
    verify_checksum: bool,
    on_item: impl FnMut(Item) -> Result<(), String>,
) -> Result<LoadInfo, LoadError> {
    load_with(input, verify_checksum, &Encodings::default(), on_item)
}

/// `load`, choosing collection encodings under the server's limits.
pub fn load_with<R: Read>(
    input: R,
    verify_checksum: bool,
    encodings: &Encodings,
    mut on_item: impl FnMut(Item) -> Result<(), String>,
) -> Result<LoadInfo, LoadError> {
    let mut r = Reader::with_checksum(input);
    let mut magic = [0u8; 9];
    r.exact(&mut magic, "RDB header")?;
    if &magic[..5] != b"REDIS" {
        return Err(Corrupt {
            offset: 0,
            what: "Wrong signature trying to load DB from file".into(),
        }
        .into());
    }
    let version: u32 = std::str::from_utf8(&magic[5..])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(Corrupt {
            offset: 5,
            what: "invalid RDB version number".into(),
        })?;
    if !(1..=RDB_VERSION_MAX).contains(&version) {
        return Err(Corrupt {
            offset: 5,
            what: format!("Can't handle RDB format version {version}"),
        }
        .into());
    }
    let mut info = LoadInfo {
        version,
        ..Default::default()
    };
    let mut db = 0usize;
    let mut expire: Option<u64> = None;
    let mut idle: Option<u64> = None;
    let mut freq: Option<u8> = None;
    let reject = |r: &Reader<R>, reason: String| LoadError::Rejected {
        offset: r.pos(),
        reason,
    };
    loop {
        let op = r.u8("opcode")?;
        match op {
            opcode::EXPIRETIME => {
                let s = r.u32_le("expire time")?;
                expire = Some(s as u64 * 1000);
                continue;
            }
            opcode::EXPIRETIME_MS => {
                expire = Some(r.u64_le("expire time")?);
                continue;
            }
            opcode::FREQ => {
                freq = Some(r.u8("LFU frequency")?);
                continue;
            }
            opcode::IDLE => {
                idle = Some(r.plain_len("LRU idle time")?);
                continue;
            }
            opcode::EOF => break,
            opcode::SELECTDB => {
                let n = r.plain_len("database number")?;
                db = usize::try_from(n).map_err(|_| r.corrupt("database number too large"))?;
                continue;
            }
            opcode::RESIZEDB => {
                let keys = r.plain_len("db size")?;
                let expires = r.plain_len("expires size")?;
                on_item(Item::ResizeDb { db, keys, expires }).map_err(|e| reject(&r, e))?;
                continue;
            }
            opcode::AUX => {
                let k = r.string("aux field key")?;
                let v = r.string("aux field value")?;
                on_item(Item::Aux(k, v)).map_err(|e| reject(&r, e))?;
                continue;
            }
            opcode::MODULE_AUX => {
                return Err(r
                    .corrupt("module auxiliary data cannot be loaded: no modules are supported")
                    .into())
            }
            opcode::FUNCTION2 => {
                let code = r.string("function library")?;
                on_item(Item::Function(code)).map_err(|e| reject(&r, e))?;
                continue;
            }
            opcode::FUNCTION_PRE_GA => {
                return Err(r
                    .corrupt("Pre-release function format not supported")
                    .into())
            }
            ty => {
                let key = r.string("key")?;
                let value = value::read_value_with(&mut r, ty, encodings)?;
                if value.is_empty_collection() {
                    // Redis skips empty collections (written by old versions).
                    expire = None;
                    idle = None;
                    freq = None;
                    continue;
                }
                info.keys += 1;
                on_item(Item::Entry {
                    db,
                    key,
                    value,
                    expire_at_ms: expire.take(),
                    idle_s: idle.take(),
                    freq: freq.take(),
                })
                .map_err(|e| reject(&r, e))?;
            }
        }
    }
    if version >= 5 {
        let computed = r.checksum().unwrap_or(0);
        let stored = r.u64_le("checksum")?;
        if verify_checksum && stored != 0 {
            if stored != computed {
                return Err(Corrupt {
                    offset: r.pos() - 8,
                    what: "Wrong RDB checksum".into(),
                }
                .into());
            }
            info.checksum_verified = true;
        }
    }
    info.bytes = r.pos();
    Ok(info)
}
