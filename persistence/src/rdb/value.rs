//! Encoding and decoding of values (the type byte and the payload).
//!
//! Writes the encodings Redis 7.0 chooses; reads every encoding of RDB
//! versions 1 to 12 for the value types Strata has. An unknown or unsupported
//! type is an error naming the type and offset, never a panic.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::indexing_slicing))]

use std::io::{self, Read, Write};

use strata_engine::value::{StrValue, Value};
use strata_engine::Encodings;

use super::listhash;
use super::reader::Reader;
use super::setzset;
use super::types;
use super::writer::Writer;
use super::Corrupt;

/// The RDB type byte Redis 7.0 uses for this value as encoded.
pub fn type_byte(value: &Value) -> u8 {
    match value {
        Value::Str(_) => types::STRING,
        Value::Set(s) => setzset::set_type_byte(s),
        Value::ZSet(z) => setzset::zset_type_byte(z),
        Value::Stream(_) => types::STREAM_LISTPACKS_2,
        Value::List(l) => listhash::list_type_byte(l),
        Value::Hash(h) => listhash::hash_type_byte(h),
    }
}

/// Writes the type byte and the value.
pub fn write_value<W: Write>(w: &mut Writer<W>, value: &Value) -> io::Result<()> {
    w.u8(type_byte(value))?;
    write_payload(w, value)
}

/// Writes the value without its type byte.
pub fn write_payload<W: Write>(w: &mut Writer<W>, value: &Value) -> io::Result<()> {
    match value {
        Value::Str(StrValue::Int(n)) => w.int_string(*n),
        Value::Str(StrValue::Embstr(b)) => w.string(b),
        Value::Str(StrValue::Raw(b)) => w.string(b),
        Value::Set(s) => setzset::write_set(w, s),
        Value::ZSet(z) => setzset::write_zset(w, z),
        Value::Stream(s) => super::stream::write_stream(w, s),
        Value::List(l) => listhash::write_list(w, l),
        Value::Hash(h) => listhash::write_hash(w, h),
    }
}

/// Reads a value of RDB type `ty` (the type byte was already read), with
/// the default encoding limits.
pub fn read_value<R: Read>(r: &mut Reader<R>, ty: u8) -> Result<Value, Corrupt> {
    read_value_with(r, ty, &Encodings::default())
}

/// Reads a value of RDB type `ty`, choosing collection encodings under `enc`.
/// An empty collection may come back (old files): callers skip it.
pub fn read_value_with<R: Read>(
    r: &mut Reader<R>,
    ty: u8,
    enc: &Encodings,
) -> Result<Value, Corrupt> {
    match ty {
        types::SET | types::SET_INTSET | types::SET_LISTPACK => setzset::read_set(r, ty, enc),
        types::ZSET | types::ZSET_2 | types::ZSET_ZIPLIST | types::ZSET_LISTPACK => {
            setzset::read_zset(r, ty, enc)
        }
        types::STRING => {
            let b = r.string("string value")?;
            Ok(Value::Str(StrValue::from_bytes(&b)))
        }
        types::STREAM_LISTPACKS | types::STREAM_LISTPACKS_2 | types::STREAM_LISTPACKS_3 => {
            Ok(Value::Stream(Box::new(super::stream::read_stream(r, ty)?)))
        }
        types::MODULE_PRE_GA | types::MODULE_2 => Err(r.corrupt(format!(
            "module value (type {ty}) cannot be loaded: no modules are supported"
        ))),
        types::LIST | types::LIST_ZIPLIST | types::LIST_QUICKLIST | types::LIST_QUICKLIST_2 => {
            listhash::read_list(r, ty, enc)
        }
        types::HASH | types::HASH_ZIPMAP | types::HASH_ZIPLIST | types::HASH_LISTPACK => {
            listhash::read_hash(r, ty, enc)
        }
        other => Err(r.corrupt(format!("unknown RDB value type {other}"))),
    }
}
