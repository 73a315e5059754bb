//! `cjson`: lua-cjson 2.1's encode/decode as Redis ships it, with its
//! error messages, `cjson.null`, and the configuration functions
//! (`encode_sparse_array`, `encode_max_depth`, `decode_max_depth`,
//! `encode_number_precision`, `encode_keep_buffer`,
//! `encode_invalid_numbers`, `decode_invalid_numbers`).
//!
//! Gaps: numbers print with Rust's "%.Ng" equivalent, which agrees with
//! C's printf for finite values; "decode_invalid_numbers" accepts
//! inf/nan/hex spellings through a simple strtod-like reader.

use std::cell::RefCell;
use std::rc::Rc;

use mlua::{LightUserData, Lua, MultiValue, Table, Value};

use crate::scripting::engine::{self, native, Raise};

#[derive(Clone, Copy)]
struct Config {
    sparse_convert: bool,
    sparse_ratio: i64,
    sparse_safe: i64,
    encode_max_depth: usize,
    decode_max_depth: usize,
    precision: usize,
    keep_buffer: bool,
    encode_invalid: u8,
    decode_invalid: bool,
}

const DEFAULT: Config = Config {
    sparse_convert: false,
    sparse_ratio: 2,
    sparse_safe: 10,
    encode_max_depth: 1000,
    decode_max_depth: 1000,
    precision: 14,
    keep_buffer: true,
    encode_invalid: 0,
    decode_invalid: true,
};

fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

fn one(v: Value) -> MultiValue {
    MultiValue::from_vec(vec![v])
}

fn located(msg: impl Into<String>) -> Raise {
    Raise::Located(msg.into())
}

pub fn open(lua: &Lua) -> mlua::Result<Table> {
    let cfg = Rc::new(RefCell::new(DEFAULT));
    let t = lua.create_table()?;
    let c = cfg.clone();
    t.raw_set(
        "encode",
        native(lua, move |lua, args| {
            if args.len() != 1 {
                return Err(located("bad argument #1 to 'encode' (expected 1 argument)"));
            }
            let cfg = *c.borrow();
            let mut out = Vec::new();
            encode(&cfg, &args[0], 0, &mut out)?;
            Ok(one(super::string(lua, &out)?))
        })?,
    )?;
    let c = cfg.clone();
    t.raw_set(
        "decode",
        native(lua, move |lua, args| {
            if args.len() != 1 {
                return Err(located("bad argument #1 to 'decode' (expected 1 argument)"));
            }
            let text = engine::check_bytes(&args, 0, "decode")?;
            let cfg = *c.borrow();
            let mut p = Parser {
                lua,
                s: &text,
                pos: 0,
                depth: 0,
                cfg,
            };
            let v = p.document()?;
            Ok(one(v))
        })?,
    )?;
    let c = cfg.clone();
    t.raw_set(
        "encode_sparse_array",
        native(lua, move |_, args| {
            let mut cfg = c.borrow_mut();
            if let Some(v) = args.front() {
                cfg.sparse_convert = truthy_option(v, "encode_sparse_array")?;
            }
            if args.len() > 1 {
                cfg.sparse_ratio = int_option(&args, 1, "encode_sparse_array", 0, i32::MAX as i64)?;
            }
            if args.len() > 2 {
                cfg.sparse_safe = int_option(&args, 2, "encode_sparse_array", 0, i32::MAX as i64)?;
            }
            Ok(MultiValue::from_vec(vec![
                Value::Boolean(cfg.sparse_convert),
                Value::Number(cfg.sparse_ratio as f64),
                Value::Number(cfg.sparse_safe as f64),
            ]))
        })?,
    )?;
    for (name, which) in [
        ("encode_max_depth", 0u8),
        ("decode_max_depth", 1),
        ("encode_number_precision", 2),
    ] {
        let c = cfg.clone();
        t.raw_set(
            name,
            native(lua, move |_, args| {
                let mut cfg = c.borrow_mut();
                let (lo, hi) = if which == 2 {
                    (1, 14)
                } else {
                    (1, i32::MAX as i64)
                };
                if !args.is_empty() {
                    let v = int_option(&args, 0, name, lo, hi)? as usize;
                    match which {
                        0 => cfg.encode_max_depth = v,
                        1 => cfg.decode_max_depth = v,
                        _ => cfg.precision = v,
                    }
                }
                let v = match which {
                    0 => cfg.encode_max_depth,
                    1 => cfg.decode_max_depth,
                    _ => cfg.precision,
                };
                Ok(super::num(v as f64))
            })?,
        )?;
    }
    let c = cfg.clone();
    t.raw_set(
        "encode_keep_buffer",
        native(lua, move |_, args| {
            let mut cfg = c.borrow_mut();
            if let Some(v) = args.front() {
                cfg.keep_buffer = truthy_option(v, "encode_keep_buffer")?;
            }
            Ok(one(Value::Boolean(cfg.keep_buffer)))
        })?,
    )?;
    let c = cfg.clone();
    t.raw_set(
        "encode_invalid_numbers",
        native(lua, move |lua, args| {
            let mut cfg = c.borrow_mut();
            if let Some(v) = args.front() {
                cfg.encode_invalid = match v {
                    Value::String(s) if &s.as_bytes()[..] == b"null" => 2,
                    other => truthy_option(other, "encode_invalid_numbers")? as u8,
                };
            }
            Ok(one(match cfg.encode_invalid {
                2 => super::string(lua, b"null")?,
                n => Value::Boolean(n == 1),
            }))
        })?,
    )?;
    let c = cfg;
    t.raw_set(
        "decode_invalid_numbers",
        native(lua, move |_, args| {
            let mut cfg = c.borrow_mut();
            if let Some(v) = args.front() {
                cfg.decode_invalid = truthy_option(v, "decode_invalid_numbers")?;
            }
            Ok(one(Value::Boolean(cfg.decode_invalid)))
        })?,
    )?;
    t.raw_set("null", null())?;
    t.raw_set("_NAME", "cjson")?;
    t.raw_set("_VERSION", "2.1.0")?;
    Ok(t)
}

fn truthy_option(v: &Value, f: &str) -> Result<bool, Raise> {
    match v {
        Value::Boolean(b) => Ok(*b),
        Value::String(s) if &s.as_bytes()[..] == b"on" => Ok(true),
        Value::String(s) if &s.as_bytes()[..] == b"off" => Ok(false),
        _ => Err(located(format!(
            "bad argument #1 to '{f}' (invalid option '{}')",
            match v {
                Value::String(s) => s.to_string_lossy(),
                _ => String::new(),
            }
        ))),
    }
}

fn int_option(args: &MultiValue, i: usize, f: &str, lo: i64, hi: i64) -> Result<i64, Raise> {
    let n = engine::check_int(args, i, f)?;
    if n < lo || n > hi {
        return Err(located(format!(
            "bad argument #{} to '{f}' (expected integer between {lo} and {hi})",
            i + 1
        )));
    }
    Ok(n)
}

fn encode_number(cfg: &Config, n: f64, out: &mut Vec<u8>) -> Result<(), Raise> {
    if n.is_nan() || n.is_infinite() {
        match cfg.encode_invalid {
            0 => return Err(located("Cannot serialise number: must not be NaN or Inf")),
            2 => {
                out.extend_from_slice(b"null");
                return Ok(());
            }
            _ => {
                out.extend_from_slice(engine::lua_number_str(n).as_bytes());
                return Ok(());
            }
        }
    }
    out.extend_from_slice(crate::resp::reply::format_g(n, cfg.precision).as_bytes());
    Ok(())
}

fn encode_string(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\x08' => out.extend_from_slice(b"\\b"),
            b'\x0c' => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            c if c < 0x20 || c == 0x7f => out.extend_from_slice(format!("\\u{:04x}", c).as_bytes()),
            c => out.push(c),
        }
    }
    out.push(b'"');
}

/// lua-cjson's `lua_array_length`: Some(max index) for an array, None for
/// an object.
fn array_length(cfg: &Config, t: &Table) -> Result<Option<usize>, Raise> {
    let mut max = 0f64;
    let mut items = 0i64;
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
        if n > max {
            max = n;
        }
        items += 1;
    }
    if cfg.sparse_ratio > 0
        && max > (items * cfg.sparse_ratio) as f64
        && max > cfg.sparse_safe as f64
    {
        if !cfg.sparse_convert {
            return Err(located("Cannot serialise table: excessively sparse array"));
        }
        return Ok(None);
    }
    Ok(Some(max as usize))
}

fn encode(cfg: &Config, v: &Value, depth: usize, out: &mut Vec<u8>) -> Result<(), Raise> {
    match v {
        Value::String(s) => encode_string(&s.as_bytes(), out),
        Value::Integer(n) => encode_number(cfg, *n as f64, out)?,
        Value::Number(n) => encode_number(cfg, *n, out)?,
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Table(t) => {
            let depth = depth + 1;
            if depth > cfg.encode_max_depth {
                return Err(located(format!(
                    "Cannot serialise, excessive nesting ({depth})"
                )));
            }
            match array_length(cfg, t)? {
                Some(len) if len > 0 => {
                    out.push(b'[');
                    for i in 1..=len {
                        if i > 1 {
                            out.push(b',');
                        }
                        let item: Value = t.raw_get(i).map_err(|e| Raise::Msg(e.to_string()))?;
                        encode(cfg, &item, depth, out)?;
                    }
                    out.push(b']');
                }
                _ => {
                    out.push(b'{');
                    let mut first = true;
                    for pair in t.pairs::<Value, Value>() {
                        let (k, item) = pair.map_err(|e| Raise::Msg(e.to_string()))?;
                        if !first {
                            out.push(b',');
                        }
                        first = false;
                        match &k {
                            Value::String(s) => encode_string(&s.as_bytes(), out),
                            Value::Integer(n) => {
                                out.push(b'"');
                                encode_number(cfg, *n as f64, out)?;
                                out.push(b'"');
                            }
                            Value::Number(n) => {
                                out.push(b'"');
                                encode_number(cfg, *n, out)?;
                                out.push(b'"');
                            }
                            _ => {
                                return Err(located(
                                    "Cannot serialise table: table key must be a number or string",
                                ))
                            }
                        }
                        out.push(b':');
                        encode(cfg, &item, depth, out)?;
                    }
                    out.push(b'}');
                }
            }
        }
        other => {
            return Err(located(format!(
                "Cannot serialise {}: type not supported",
                engine::type_name(Some(other))
            )))
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Tok {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str,
    Num,
    Bool,
    Null,
    Colon,
    Comma,
    End,
    Error(&'static str),
}

impl Tok {
    fn name(self) -> &'static str {
        match self {
            Tok::ObjBegin => "T_OBJ_BEGIN",
            Tok::ObjEnd => "T_OBJ_END",
            Tok::ArrBegin => "T_ARR_BEGIN",
            Tok::ArrEnd => "T_ARR_END",
            Tok::Str => "T_STRING",
            Tok::Num => "T_NUMBER",
            Tok::Bool => "T_BOOLEAN",
            Tok::Null => "T_NULL",
            Tok::Colon => "T_COLON",
            Tok::Comma => "T_COMMA",
            Tok::End => "T_END",
            Tok::Error(m) => m,
        }
    }
}

struct Parser<'a> {
    lua: &'a Lua,
    s: &'a [u8],
    pos: usize,
    depth: usize,
    cfg: Config,
}

impl Parser<'_> {
    fn document(&mut self) -> Result<Value, Raise> {
        let (tok, at, v) = self.next()?;
        let value = self.value(tok, at, v)?;
        let (tok, at, _) = self.next()?;
        if tok != Tok::End {
            return Err(self.expected("the end", tok, at));
        }
        Ok(value)
    }

    fn expected(&self, what: &str, tok: Tok, at: usize) -> Raise {
        located(format!(
            "Expected {what} but found {} at character {}",
            tok.name(),
            at + 1
        ))
    }

    fn value(&mut self, tok: Tok, at: usize, v: Value) -> Result<Value, Raise> {
        match tok {
            Tok::Str | Tok::Num | Tok::Bool | Tok::Null => Ok(v),
            Tok::ObjBegin => self.object(at),
            Tok::ArrBegin => self.array(at),
            other => Err(self.expected("value", other, at)),
        }
    }

    fn enter(&mut self, at: usize) -> Result<(), Raise> {
        self.depth += 1;
        if self.depth > self.cfg.decode_max_depth {
            return Err(located(format!(
                "Found too many nested data structures ({}) at character {}",
                self.depth,
                at + 1
            )));
        }
        Ok(())
    }

    fn table(&self) -> Result<Table, Raise> {
        self.lua
            .create_table()
            .map_err(|e| Raise::Msg(e.to_string()))
    }

    fn object(&mut self, at: usize) -> Result<Value, Raise> {
        self.enter(at)?;
        let t = self.table()?;
        let (mut tok, mut at, mut v) = self.next()?;
        if tok == Tok::ObjEnd {
            self.depth -= 1;
            return Ok(Value::Table(t));
        }
        loop {
            if tok != Tok::Str {
                return Err(self.expected("object key string", tok, at));
            }
            let key = v;
            let (t2, at2, _) = self.next()?;
            if t2 != Tok::Colon {
                return Err(self.expected("colon", t2, at2));
            }
            let (t3, at3, v3) = self.next()?;
            let val = self.value(t3, at3, v3)?;
            t.raw_set(key, val).map_err(|e| Raise::Msg(e.to_string()))?;
            let (t4, at4, _) = self.next()?;
            match t4 {
                Tok::ObjEnd => break,
                Tok::Comma => {}
                other => return Err(self.expected("comma or object end", other, at4)),
            }
            (tok, at, v) = self.next()?;
        }
        self.depth -= 1;
        Ok(Value::Table(t))
    }

    fn array(&mut self, at: usize) -> Result<Value, Raise> {
        self.enter(at)?;
        let t = self.table()?;
        let (mut tok, mut at, mut v) = self.next()?;
        if tok == Tok::ArrEnd {
            self.depth -= 1;
            return Ok(Value::Table(t));
        }
        let mut i = 1usize;
        loop {
            let val = self.value(tok, at, v)?;
            t.raw_set(i, val).map_err(|e| Raise::Msg(e.to_string()))?;
            i += 1;
            let (t2, at2, _) = self.next()?;
            match t2 {
                Tok::ArrEnd => break,
                Tok::Comma => {}
                other => return Err(self.expected("comma or array end", other, at2)),
            }
            (tok, at, v) = self.next()?;
        }
        self.depth -= 1;
        Ok(Value::Table(t))
    }

    /// The next token, where it starts, and its value.
    fn next(&mut self) -> Result<(Tok, usize, Value), Raise> {
        while self.pos < self.s.len() && matches!(self.s[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
        let at = self.pos;
        let Some(&c) = self.s.get(self.pos) else {
            return Ok((Tok::End, at, Value::Nil));
        };
        let single = |t| Ok((t, at, Value::Nil));
        match c {
            b'{' => {
                self.pos += 1;
                single(Tok::ObjBegin)
            }
            b'}' => {
                self.pos += 1;
                single(Tok::ObjEnd)
            }
            b'[' => {
                self.pos += 1;
                single(Tok::ArrBegin)
            }
            b']' => {
                self.pos += 1;
                single(Tok::ArrEnd)
            }
            b':' => {
                self.pos += 1;
                single(Tok::Colon)
            }
            b',' => {
                self.pos += 1;
                single(Tok::Comma)
            }
            b'"' => self.string(at),
            b'-' | b'0'..=b'9' => self.number(at),
            _ => {
                let rest = &self.s[self.pos..];
                if rest.starts_with(b"true") {
                    self.pos += 4;
                    Ok((Tok::Bool, at, Value::Boolean(true)))
                } else if rest.starts_with(b"false") {
                    self.pos += 5;
                    Ok((Tok::Bool, at, Value::Boolean(false)))
                } else if rest.starts_with(b"null") {
                    self.pos += 4;
                    Ok((Tok::Null, at, null()))
                } else if self.cfg.decode_invalid
                    && (rest[0].eq_ignore_ascii_case(&b'i') || rest[0].eq_ignore_ascii_case(&b'n'))
                {
                    match strtod_prefix(rest, true) {
                        Some((n, len)) if len > 0 => {
                            self.pos += len;
                            Ok((Tok::Num, at, Value::Number(n)))
                        }
                        _ => Ok((Tok::Error("invalid token"), at, Value::Nil)),
                    }
                } else {
                    Ok((Tok::Error("invalid token"), at, Value::Nil))
                }
            }
        }
    }

    fn number(&mut self, at: usize) -> Result<(Tok, usize, Value), Raise> {
        let rest = &self.s[self.pos..];
        match strtod_prefix(rest, self.cfg.decode_invalid) {
            Some((n, len)) if len > 0 => {
                self.pos += len;
                Ok((Tok::Num, at, Value::Number(n)))
            }
            _ => Ok((Tok::Error("invalid number"), at, Value::Nil)),
        }
    }

    fn string(&mut self, at: usize) -> Result<(Tok, usize, Value), Raise> {
        let mut out = Vec::new();
        self.pos += 1;
        loop {
            let Some(&c) = self.s.get(self.pos) else {
                return Ok((Tok::Error("unexpected end of string"), self.pos, Value::Nil));
            };
            self.pos += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    // lua-cjson's escape table: anything else is an error
                    // reported at the backslash.
                    let escape_at = self.pos - 1;
                    let Some(&e) = self.s.get(self.pos) else {
                        return Ok((Tok::Error("unexpected end of string"), self.pos, Value::Nil));
                    };
                    self.pos += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => match self.unicode_escape() {
                            Some(cp) => {
                                let mut buf = [0u8; 4];
                                out.extend_from_slice(cp.encode_utf8(&mut buf).as_bytes());
                            }
                            None => {
                                return Ok((
                                    Tok::Error("invalid unicode escape code"),
                                    escape_at,
                                    Value::Nil,
                                ));
                            }
                        },
                        _ => return Ok((Tok::Error("invalid escape code"), escape_at, Value::Nil)),
                    }
                }
                c => out.push(c),
            }
        }
        Ok((Tok::Str, at, super::string(self.lua, &out)?))
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.s.get(self.pos..self.pos + 4)?;
        let v = u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()?;
        self.pos += 4;
        Some(v)
    }

    fn unicode_escape(&mut self) -> Option<char> {
        let hi = self.hex4()?;
        if (0xD800..0xDC00).contains(&hi) {
            if self.s.get(self.pos..self.pos + 2)? != b"\\u" {
                return None;
            }
            self.pos += 2;
            let lo = self.hex4()?;
            if !(0xDC00..0xE000).contains(&lo) {
                return None;
            }
            return char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00));
        }
        if (0xDC00..0xE000).contains(&hi) {
            return None;
        }
        char::from_u32(hi)
    }
}

/// The longest prefix of `s` that C's strtod reads, and its value.
fn strtod_prefix(s: &[u8], allow_special: bool) -> Option<(f64, usize)> {
    let mut i = 0;
    if matches!(s.first(), Some(b'-') | Some(b'+')) {
        i += 1;
    }
    let lower: Vec<u8> = s[i..s.len().min(i + 8)].to_ascii_lowercase();
    if allow_special {
        for (word, v) in [
            (&b"infinity"[..], f64::INFINITY),
            (b"inf", f64::INFINITY),
            (b"nan", f64::NAN),
        ] {
            if lower.starts_with(word) {
                let neg = s[0] == b'-';
                return Some((if neg { -v } else { v }, i + word.len()));
            }
        }
        if lower.starts_with(b"0x") {
            let start = i + 2;
            let mut end = start;
            while end < s.len() && s[end].is_ascii_hexdigit() {
                end += 1;
            }
            if end > start {
                let v = u64::from_str_radix(std::str::from_utf8(&s[start..end]).ok()?, 16)
                    .map(|n| n as f64)
                    .unwrap_or(f64::INFINITY);
                return Some((if s[0] == b'-' { -v } else { v }, end));
            }
        }
    }
    let digits_start = i;
    while i < s.len() && s[i].is_ascii_digit() {
        i += 1;
    }
    if i < s.len() && s[i] == b'.' {
        i += 1;
        while i < s.len() && s[i].is_ascii_digit() {
            i += 1;
        }
    }
    if i == digits_start || (i == digits_start + 1 && s[digits_start] == b'.') {
        return None;
    }
    if i < s.len() && (s[i] == b'e' || s[i] == b'E') {
        let mut j = i + 1;
        if j < s.len() && (s[j] == b'+' || s[j] == b'-') {
            j += 1;
        }
        let exp_start = j;
        while j < s.len() && s[j].is_ascii_digit() {
            j += 1;
        }
        if j > exp_start {
            i = j;
        }
    }
    let text = std::str::from_utf8(&s[..i]).ok()?;
    Some((text.parse::<f64>().ok()?, i))
}
