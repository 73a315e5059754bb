//! Conversions between Lua values and replies, as Redis 7.0 does them.
//!
//! Reply -> Lua (what `redis.call` returns), by the script's protocol
//! (`redis.setresp`): integers become numbers, bulk strings strings,
//! statuses `{ok=...}`, errors `{err=...}`, arrays tables; a null is
//! `false` in RESP2 and `nil` in RESP3. RESP3 adds `{map=...}`,
//! `{set=...}`, `{double=...}`, `{big_number=...}`,
//! `{verbatim_string={format=...,string=...}}` and booleans; in RESP2
//! those come as Redis encodes them for a RESP2 client.
//!
//! Lua -> Reply (what a script returns): numbers are truncated to
//! integers, strings are bulk strings, tables are arrays up to the first
//! nil unless they have one of the fields above, booleans depend on the
//! script's protocol, anything else is a null.

use bytes::Bytes;
use mlua::{Lua, Table, Value};

use super::engine::NESTING_MAX;
use crate::resp::Reply;

/// A reply as the script sees it.
pub fn reply_to_lua(lua: &Lua, reply: &Reply, resp: u8) -> mlua::Result<Value> {
    Ok(match reply {
        Reply::Status(s) => {
            let t = lua.create_table()?;
            t.raw_set("ok", lua.create_string(s.as_bytes())?)?;
            Value::Table(t)
        }
        Reply::Error(s) => {
            let t = lua.create_table()?;
            t.raw_set("err", lua.create_string(s.as_bytes())?)?;
            Value::Table(t)
        }
        Reply::Int(n) => Value::Number(*n as f64),
        Reply::Bulk(b) => Value::String(lua.create_string(b)?),
        Reply::Nil | Reply::NilArray => {
            if resp >= 3 {
                Value::Nil
            } else {
                Value::Boolean(false)
            }
        }
        Reply::Array(items) | Reply::Push(items) => array(lua, items.iter(), resp)?,
        Reply::Map(pairs) => {
            if resp >= 3 {
                let m = lua.create_table()?;
                for (k, v) in pairs {
                    m.raw_set(reply_to_lua(lua, k, resp)?, reply_to_lua(lua, v, resp)?)?;
                }
                wrap(lua, "map", Value::Table(m))?
            } else {
                let flat: Vec<&Reply> = pairs.iter().flat_map(|(k, v)| [k, v]).collect();
                array(lua, flat.into_iter(), resp)?
            }
        }
        Reply::Set(items) => {
            if resp >= 3 {
                let s = lua.create_table_with_capacity(0, items.len())?;
                for i in items {
                    s.raw_set(reply_to_lua(lua, i, resp)?, true)?;
                }
                wrap(lua, "set", Value::Table(s))?
            } else {
                array(lua, items.iter(), resp)?
            }
        }
        Reply::Double(d) => {
            if resp >= 3 {
                wrap(lua, "double", Value::Number(*d))?
            } else {
                let s = crate::resp::reply::format_double(*d);
                Value::String(lua.create_string(s)?)
            }
        }
        Reply::DoubleText(t) => {
            if resp >= 3 {
                wrap(
                    lua,
                    "double",
                    Value::Number(t.parse::<f64>().unwrap_or(0.0)),
                )?
            } else {
                Value::String(lua.create_string(t)?)
            }
        }
        Reply::Bool(b) => {
            if resp >= 3 {
                Value::Boolean(*b)
            } else {
                Value::Number(*b as i64 as f64)
            }
        }
        Reply::Verbatim(fmt, b) => {
            if resp >= 3 {
                let v = lua.create_table()?;
                v.raw_set("format", *fmt)?;
                v.raw_set("string", lua.create_string(b)?)?;
                wrap(lua, "verbatim_string", Value::Table(v))?
            } else {
                Value::String(lua.create_string(b)?)
            }
        }
        Reply::BulkArray(a) => {
            let t = lua.create_table()?;
            for (i, item) in a.iter().enumerate() {
                t.raw_set(i + 1, lua.create_string(item)?)?;
            }
            Value::Table(t)
        }
        Reply::BigNumber(s) => {
            if resp >= 3 {
                wrap(lua, "big_number", Value::String(lua.create_string(s)?))?
            } else {
                Value::String(lua.create_string(s)?)
            }
        }
    })
}

fn array<'r>(lua: &Lua, items: impl Iterator<Item = &'r Reply>, resp: u8) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    for (i, item) in items.enumerate() {
        t.raw_set(i + 1, reply_to_lua(lua, item, resp)?)?;
    }
    Ok(Value::Table(t))
}

fn wrap(lua: &Lua, field: &str, v: Value) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    t.raw_set(field, v)?;
    Ok(Value::Table(t))
}

/// C's `(long long)` cast of a double on x86-64: out of range (and NaN)
/// gives the "integer indefinite" value, as redis-server replies.
pub fn truncate_number(n: f64) -> i64 {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if n.is_nan() || !(-LIMIT..LIMIT).contains(&n) {
        return i64::MIN;
    }
    n as i64
}

/// What a script's return value replies. `resp` is the script's protocol
/// (`redis.setresp`), which decides how booleans come out.
pub fn lua_to_reply(v: &Value, resp: u8) -> Reply {
    to_reply(v, resp, 0)
}

fn to_reply(v: &Value, resp: u8, depth: usize) -> Reply {
    match v {
        Value::String(s) => Reply::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Integer(n) => Reply::Int(*n),
        Value::Number(n) => Reply::Int(truncate_number(*n)),
        Value::Boolean(b) => {
            if resp >= 3 {
                Reply::Bool(*b)
            } else if *b {
                Reply::Int(1)
            } else {
                Reply::Nil
            }
        }
        Value::Table(t) => {
            if depth >= NESTING_MAX {
                return Reply::error("ERR reached lua stack limit");
            }
            table_to_reply(t, resp, depth)
        }
        _ => Reply::Nil,
    }
}

fn string_field(t: &Table, name: &str) -> Option<Bytes> {
    match t.raw_get::<Value>(name).ok()? {
        Value::String(s) => Some(Bytes::copy_from_slice(&s.as_bytes())),
        _ => None,
    }
}

fn table_to_reply(t: &Table, resp: u8, depth: usize) -> Reply {
    if let Some(err) = string_field(t, "err") {
        return Reply::Error(sanitize(&err).into());
    }
    if let Some(ok) = string_field(t, "ok") {
        return Reply::Status(sanitize(&ok).into());
    }
    match t.raw_get::<Value>("double") {
        Ok(Value::Number(d)) => return Reply::Double(d),
        Ok(Value::Integer(n)) => return Reply::Double(n as f64),
        _ => {}
    }
    if let Some(big) = string_field(t, "big_number") {
        return Reply::BigNumber(sanitize(&big));
    }
    if let Ok(Value::Table(m)) = t.raw_get::<Value>("map") {
        let mut pairs = Vec::new();
        for (k, v) in m.pairs::<Value, Value>().flatten() {
            pairs.push((to_reply(&k, resp, depth + 1), to_reply(&v, resp, depth + 1)));
        }
        return Reply::Map(pairs);
    }
    if let Ok(Value::Table(s)) = t.raw_get::<Value>("set") {
        let mut items = Vec::new();
        for (k, _) in s.pairs::<Value, Value>().flatten() {
            items.push(to_reply(&k, resp, depth + 1));
        }
        return Reply::Set(items);
    }
    if let Ok(Value::Table(v)) = t.raw_get::<Value>("verbatim_string") {
        if let (Some(fmt), Some(s)) = (string_field(&v, "format"), string_field(&v, "string")) {
            return Reply::Verbatim(verbatim_format(&fmt), s);
        }
    }
    let mut items = Vec::new();
    let mut i = 1usize;
    loop {
        match t.raw_get::<Value>(i) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(v) => items.push(to_reply(&v, resp, depth + 1)),
        }
        i += 1;
    }
    Reply::Array(items)
}

/// Redis's error and status replies never carry a line break: it turns
/// CR and LF into spaces.
fn sanitize(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect()
}

/// The 3-letter format of a verbatim string (Redis copies three bytes).
/// `Reply::Verbatim` holds a static format, so other formats than the
/// usual ones are interned, at most `VERBATIM_FORMATS_MAX` of them.
fn verbatim_format(fmt: &[u8]) -> &'static str {
    const VERBATIM_FORMATS_MAX: usize = 64;
    thread_local! {
        static INTERNED: std::cell::RefCell<Vec<&'static str>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let f = String::from_utf8_lossy(&fmt[..fmt.len().min(3)]).into_owned();
    match f.as_str() {
        "txt" => return "txt",
        "mkd" => return "mkd",
        _ => {}
    }
    INTERNED.with(|set| {
        let mut set = set.borrow_mut();
        if let Some(s) = set.iter().find(|s| **s == f) {
            return *s;
        }
        if set.len() >= VERBATIM_FORMATS_MAX {
            return "txt";
        }
        let s: &'static str = Box::leak(f.into_boxed_str());
        set.push(s);
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_truncate_like_c() {
        assert_eq!(truncate_number(3.99), 3);
        assert_eq!(truncate_number(-3.99), -3);
        assert_eq!(truncate_number(1e300), i64::MIN);
        assert_eq!(truncate_number(f64::NAN), i64::MIN);
        assert_eq!(truncate_number(f64::INFINITY), i64::MIN);
    }

    #[test]
    fn replies_round_trip_through_lua() {
        let lua = Lua::new();
        let r = Reply::Array(vec![
            Reply::Int(1),
            Reply::bulk_str("a"),
            Reply::Nil,
            Reply::Status("OK".into()),
        ]);
        let v = reply_to_lua(&lua, &r, 2).unwrap();
        let back = lua_to_reply(&v, 2);
        // A RESP2 null is false in Lua, which replies a null again; the
        // status comes back as a status.
        assert_eq!(
            back,
            Reply::Array(vec![
                Reply::Int(1),
                Reply::bulk_str("a"),
                Reply::Nil,
                Reply::Status("OK".into()),
            ])
        );
        let m = Reply::Map(vec![(Reply::bulk_str("k"), Reply::Int(2))]);
        let v = reply_to_lua(&lua, &m, 3).unwrap();
        assert_eq!(lua_to_reply(&v, 3), m);
        let v = reply_to_lua(&lua, &m, 2).unwrap();
        assert_eq!(
            lua_to_reply(&v, 2),
            Reply::Array(vec![Reply::bulk_str("k"), Reply::Int(2)])
        );
    }
}
