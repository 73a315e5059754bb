//! `cmsgpack`: lua-cmsgpack 0.4 (as in Redis): `pack(...)`,
//! `unpack(msg)`, `unpack_one(msg [, offset])`,
//! `unpack_limit(msg, limit [, offset])`.
//!
//! Packing: integral numbers use the smallest integer encoding, others a
//! float32 when exact, else float64; strings use fixstr/str8/str16/str32;
//! a table whose keys are exactly 1..n is an array, any other a map;
//! nesting deeper than 16 packs nil, as lua-cmsgpack does. Unpacking reads
//! every MessagePack type; bin is a string, ext types are refused.

use mlua::{Lua, MultiValue, Table, Value};

use crate::scripting::engine::{self, native, Raise};

const NESTING_MAX: usize = 16;

pub fn open(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "pack",
        native(lua, |lua, args| {
            if args.is_empty() {
                return Err(engine::arg_error(
                    0,
                    "pack",
                    "MessagePack pack needs input.",
                ));
            }
            let mut out = Vec::new();
            for v in args.iter() {
                pack(v, 0, &mut out)?;
            }
            Ok(MultiValue::from_vec(vec![super::string(lua, &out)?]))
        })?,
    )?;
    t.raw_set(
        "unpack",
        native(lua, |lua, args| {
            let data = engine::check_bytes(&args, 0, "unpack")?;
            let mut r = Reader {
                lua,
                s: &data,
                pos: 0,
            };
            let mut out = MultiValue::new();
            while r.pos < data.len() {
                out.push_back(r.value()?);
            }
            Ok(out)
        })?,
    )?;
    t.raw_set(
        "unpack_one",
        native(lua, |lua, args| {
            let data = engine::check_bytes(&args, 0, "unpack_one")?;
            let offset = if args.len() > 1 {
                engine::check_int(&args, 1, "unpack_one")?
            } else {
                0
            };
            unpack_limited(lua, &data, 1, offset)
        })?,
    )?;
    t.raw_set(
        "unpack_limit",
        native(lua, |lua, args| {
            let data = engine::check_bytes(&args, 0, "unpack_limit")?;
            let limit = engine::check_int(&args, 1, "unpack_limit")?;
            let offset = if args.len() > 2 {
                engine::check_int(&args, 2, "unpack_limit")?
            } else {
                0
            };
            unpack_limited(lua, &data, limit, offset)
        })?,
    )?;
    t.raw_set("_NAME", "cmsgpack")?;
    t.raw_set("_VERSION", "lua-cmsgpack 0.4.0")?;
    Ok(t)
}

/// Decodes up to `limit` values (all if 0) from `offset`; returns the
/// offset after them (-1 at the end of the input) and the values.
fn unpack_limited(lua: &Lua, data: &[u8], limit: i64, offset: i64) -> Result<MultiValue, Raise> {
    if offset < 0 || limit < 0 {
        return Err(Raise::Located(format!(
            "Invalid request to unpack with offset of {offset} and limit of {limit}."
        )));
    }
    if offset as usize > data.len() {
        return Err(Raise::Located(
            "Start offset {} greater than input length {}.".replace("{}", &offset.to_string()),
        ));
    }
    let mut r = Reader {
        lua,
        s: data,
        pos: offset as usize,
    };
    let mut values = Vec::new();
    while r.pos < data.len() && (limit == 0 || (values.len() as i64) < limit) {
        values.push(r.value()?);
    }
    let next = if r.pos >= data.len() {
        -1.0
    } else {
        r.pos as f64
    };
    let mut out = MultiValue::from_vec(values);
    out.push_front(Value::Number(next));
    Ok(out)
}

fn pack_number(n: f64, out: &mut Vec<u8>) {
    if n.is_finite() && (n as i64) as f64 == n {
        pack_int(n as i64, out);
    } else if (n as f32) as f64 == n || n.is_nan() {
        out.push(0xca);
        out.extend_from_slice(&(n as f32).to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn pack_int(n: i64, out: &mut Vec<u8>) {
    if n >= 0 {
        if n < 128 {
            out.push(n as u8);
        } else if n < 256 {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n < 65536 {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= u32::MAX as i64 {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= i32::MIN as i64 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn pack_len(len: usize, small_tag: u8, small_max: usize, tags: [u8; 3], out: &mut Vec<u8>) {
    if len < small_max {
        out.push(small_tag | len as u8);
    } else if tags[0] != 0 && len <= 0xff {
        out.extend_from_slice(&[tags[0], len as u8]);
    } else if len <= 0xffff {
        out.push(tags[1]);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(tags[2]);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

/// lua-cmsgpack's `table_is_an_array`: keys are exactly 1..n.
fn array_len(t: &Table) -> Result<Option<usize>, Raise> {
    let mut count = 0usize;
    let mut max = 0f64;
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair.map_err(|e| Raise::Msg(e.to_string()))?;
        let n = match k {
            Value::Integer(i) => i as f64,
            Value::Number(n) => n,
            _ => return Ok(None),
        };
        if n < 1.0 || n.floor() != n {
            return Ok(None);
        }
        max = max.max(n);
        count += 1;
    }
    Ok((max as usize == count).then_some(count))
}

fn pack(v: &Value, depth: usize, out: &mut Vec<u8>) -> Result<(), Raise> {
    match v {
        Value::Nil => out.push(0xc0),
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(n) => pack_int(*n, out),
        Value::Number(n) => pack_number(*n, out),
        Value::String(s) => {
            let b = s.as_bytes();
            pack_len(b.len(), 0xa0, 32, [0xd9, 0xda, 0xdb], out);
            out.extend_from_slice(&b);
        }
        Value::Table(t) if depth < NESTING_MAX => match array_len(t)? {
            Some(n) => {
                pack_len(n, 0x90, 16, [0, 0xdc, 0xdd], out);
                for i in 1..=n {
                    let item: Value = t.raw_get(i).map_err(|e| Raise::Msg(e.to_string()))?;
                    pack(&item, depth + 1, out)?;
                }
            }
            None => {
                let pairs: Vec<(Value, Value)> = t
                    .pairs::<Value, Value>()
                    .collect::<mlua::Result<_>>()
                    .map_err(|e| Raise::Msg(e.to_string()))?;
                pack_len(pairs.len(), 0x80, 16, [0, 0xde, 0xdf], out);
                for (k, item) in &pairs {
                    pack(k, depth + 1, out)?;
                    pack(item, depth + 1, out)?;
                }
            }
        },
        _ => out.push(0xc0),
    }
    Ok(())
}

struct Reader<'a> {
    lua: &'a Lua,
    s: &'a [u8],
    pos: usize,
}

fn missing() -> Raise {
    Raise::Located("Missing bytes in input.".into())
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], Raise> {
        let end = self.pos.checked_add(n).ok_or_else(missing)?;
        let b = self.s.get(self.pos..end).ok_or_else(missing)?;
        self.pos = end;
        Ok(b)
    }

    fn uint(&mut self, n: usize) -> Result<u64, Raise> {
        let b = self.take(n)?;
        Ok(b.iter().fold(0u64, |acc, &x| (acc << 8) | x as u64))
    }

    fn bytes(&mut self, n: usize) -> Result<Value, Raise> {
        let lua = self.lua;
        let b = self.take(n)?;
        super::string(lua, b)
    }

    fn table(&self) -> Result<Table, Raise> {
        self.lua
            .create_table()
            .map_err(|e| Raise::Msg(e.to_string()))
    }

    fn array(&mut self, n: usize) -> Result<Value, Raise> {
        let t = self.table()?;
        for i in 1..=n {
            let v = self.value()?;
            t.raw_set(i, v).map_err(|e| Raise::Msg(e.to_string()))?;
        }
        Ok(Value::Table(t))
    }

    fn map(&mut self, n: usize) -> Result<Value, Raise> {
        let t = self.table()?;
        for _ in 0..n {
            let k = self.value()?;
            let v = self.value()?;
            if !matches!(k, Value::Nil) {
                t.raw_set(k, v).map_err(|e| Raise::Msg(e.to_string()))?;
            }
        }
        Ok(Value::Table(t))
    }

    fn value(&mut self) -> Result<Value, Raise> {
        let tag = self.take(1)?[0];
        Ok(match tag {
            0x00..=0x7f => Value::Number(tag as f64),
            0x80..=0x8f => return self.map((tag & 0x0f) as usize),
            0x90..=0x9f => return self.array((tag & 0x0f) as usize),
            0xa0..=0xbf => return self.bytes((tag & 0x1f) as usize),
            0xc0 => Value::Nil,
            0xc2 => Value::Boolean(false),
            0xc3 => Value::Boolean(true),
            0xc4 | 0xd9 => {
                let n = self.uint(1)? as usize;
                return self.bytes(n);
            }
            0xc5 | 0xda => {
                let n = self.uint(2)? as usize;
                return self.bytes(n);
            }
            0xc6 | 0xdb => {
                let n = self.uint(4)? as usize;
                return self.bytes(n);
            }
            0xca => Value::Number(f32::from_bits(self.uint(4)? as u32) as f64),
            0xcb => Value::Number(f64::from_bits(self.uint(8)?)),
            0xcc => Value::Number(self.uint(1)? as f64),
            0xcd => Value::Number(self.uint(2)? as f64),
            0xce => Value::Number(self.uint(4)? as f64),
            0xcf => Value::Number(self.uint(8)? as f64),
            0xd0 => Value::Number(self.uint(1)? as u8 as i8 as f64),
            0xd1 => Value::Number(self.uint(2)? as u16 as i16 as f64),
            0xd2 => Value::Number(self.uint(4)? as u32 as i32 as f64),
            0xd3 => Value::Number(self.uint(8)? as i64 as f64),
            0xdc => {
                let n = self.uint(2)? as usize;
                return self.array(n);
            }
            0xdd => {
                let n = self.uint(4)? as usize;
                return self.array(n);
            }
            0xde => {
                let n = self.uint(2)? as usize;
                return self.map(n);
            }
            0xdf => {
                let n = self.uint(4)? as usize;
                return self.map(n);
            }
            0xe0..=0xff => Value::Number(tag as i8 as f64),
            _ => return Err(Raise::Located("Bad data format in input.".into())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_use_the_smallest_encoding() {
        let mut out = Vec::new();
        for n in [1i64, 200, -5, -100, 70000] {
            pack_int(n, &mut out);
        }
        assert_eq!(
            out,
            vec![1, 0xcc, 200, 0xfb, 0xd0, 0x9c, 0xce, 0, 1, 0x11, 0x70]
        );
    }
}
