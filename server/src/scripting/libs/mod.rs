//! The C libraries Redis compiles into its Lua, written in Rust: `bit`
//! (Lua BitOp), `cjson` (lua-cjson), `cmsgpack` (lua-cmsgpack) and
//! `struct` (Roberto Ierusalimschy's struct). Each `open` returns the
//! library's table; gaps against the C originals are listed in each module.

pub mod bit;
pub mod cjson;
pub mod cmsgpack;
pub mod structlib;

use mlua::{Lua, MultiValue, Value};

use super::engine::Raise;

/// One returned number.
pub(crate) fn num(v: f64) -> MultiValue {
    MultiValue::from_vec(vec![Value::Number(v)])
}

/// A Lua string value (allocation failures become a raised message).
pub(crate) fn string(lua: &Lua, b: &[u8]) -> Result<Value, Raise> {
    lua.create_string(b)
        .map(Value::String)
        .map_err(|e| Raise::Msg(e.to_string()))
}
