//! Encoding and decoding of values (the type byte and the payload).
//!
//! Writes the encodings Redis 7.0 chooses; reads every encoding of RDB
//! versions 1 to 12 for the value types Strata has. An unknown or unsupported
//! type is an error naming the type and offset, never a panic.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::indexing_slicing))]

use std::io::{self, Read, Write};

use strata_engine::value::{StrValue, Value};

use super::reader::Reader;
use super::types;
use super::writer::Writer;
use super::Corrupt;

/// The RDB type byte Redis 7.0 uses for this value as encoded.
pub fn type_byte(value: &Value) -> u8 {
    match value {
        Value::Str(_) => types::STRING,
        Value::Stream(_) => types::STREAM_LISTPACKS_2,
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
        Value::Stream(s) => super::stream::write_stream(w, s),
    }
}

/// Reads a value of RDB type `ty` (the type byte was already read).
pub fn read_value<R: Read>(r: &mut Reader<R>, ty: u8) -> Result<Value, Corrupt> {
    match ty {
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
        types::LIST
        | types::SET
        | types::ZSET
        | types::HASH
        | types::ZSET_2
        | types::HASH_ZIPMAP
        | types::LIST_ZIPLIST
        | types::SET_INTSET
        | types::ZSET_ZIPLIST
        | types::HASH_ZIPLIST
        | types::LIST_QUICKLIST
        | types::HASH_LISTPACK
        | types::ZSET_LISTPACK
        | types::LIST_QUICKLIST_2
        | types::SET_LISTPACK => Err(r.corrupt(format!(
            "value type {ty} is not supported by this build yet"
        ))),
        other => Err(r.corrupt(format!("unknown RDB value type {other}"))),
    }
}
