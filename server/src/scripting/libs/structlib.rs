//! `struct`: Roberto Ierusalimschy's struct library as Redis ships it:
//! `struct.pack(fmt, ...)`, `struct.unpack(fmt, data [, pos])`,
//! `struct.size(fmt)`.
//!
//! Format: `>` big endian, `<` little, `=` native (little), `!n` maximum
//! alignment, `x` a pad byte, `b/B` char, `h/H` short, `l/L` long (8
//! bytes), `T` size_t, `i/I[n]` an n-byte int (default 4, at most 32),
//! `f` float, `d` double, `s` zero-terminated string, `c[n]` fixed-size
//! string (`c0`: the size is the previous value), spaces ignored.
//! Integers wider than 8 bytes are sign/zero extended on pack and read
//! from their low 8 bytes on unpack.

use mlua::{Lua, MultiValue, Table, Value};

use crate::scripting::engine::{self, native, Raise};

const MAXINTSIZE: usize = 32;
const MAXALIGN: usize = 8;

struct Header {
    little: bool,
    align: usize,
}

fn located(msg: impl Into<String>) -> Raise {
    Raise::Located(msg.into())
}

/// Reads an optional size after an option letter.
fn size_arg(fmt: &[u8], i: &mut usize, default: usize) -> usize {
    if *i >= fmt.len() || !fmt[*i].is_ascii_digit() {
        return default;
    }
    let mut n = 0usize;
    while *i < fmt.len() && fmt[*i].is_ascii_digit() {
        n = n
            .saturating_mul(10)
            .saturating_add((fmt[*i] - b'0') as usize);
        *i += 1;
    }
    n
}

/// The size of option `opt`; `i` is past the option letter.
fn opt_size(opt: u8, fmt: &[u8], i: &mut usize) -> Result<usize, Raise> {
    Ok(match opt {
        b'B' | b'b' => 1,
        b'H' | b'h' => 2,
        b'L' | b'l' | b'T' => 8,
        b'f' => 4,
        b'd' => 8,
        b'x' => 1,
        b'c' => size_arg(fmt, i, 1),
        b'i' | b'I' => {
            let n = size_arg(fmt, i, 4);
            if n > MAXINTSIZE {
                return Err(located(format!(
                    "integral size {n} is larger than limit of {MAXINTSIZE}"
                )));
            }
            n
        }
        _ => 0,
    })
}

/// Padding before an item of `size` bytes at `len`.
fn gap(h: &Header, len: usize, size: usize, opt: u8) -> Result<usize, Raise> {
    if opt == b'c' || opt == b's' {
        return Ok(0);
    }
    let mut align = size;
    if align <= 1 {
        return Ok(0);
    }
    if align > h.align {
        align = h.align;
    }
    if align & (align - 1) != 0 {
        return Err(located("alignment must be power of 2"));
    }
    Ok((align - (len & (align - 1))) & (align - 1))
}

/// Handles a control option; true if `opt` was one.
fn control(opt: u8, fmt: &[u8], i: &mut usize, h: &mut Header) -> Result<bool, Raise> {
    match opt {
        b' ' => {}
        b'>' => h.little = false,
        b'<' | b'=' => h.little = true,
        b'!' => {
            let a = size_arg(fmt, i, MAXALIGN);
            if a & a.wrapping_sub(1) != 0 || a == 0 {
                return Err(located(format!("alignment {a} is not a power of 2")));
            }
            h.align = a;
        }
        _ => return Ok(false),
    }
    Ok(true)
}

fn invalid(opt: u8, func: &str) -> Raise {
    engine::arg_error(1, func, &format!("invalid format option '{}'", opt as char))
}

fn put_int(out: &mut Vec<u8>, v: u64, size: usize, little: bool, negative: bool) {
    let mut bytes = vec![if negative { 0xff } else { 0 }; size];
    for (k, b) in bytes.iter_mut().enumerate().take(size.min(8)) {
        *b = (v >> (8 * k)) as u8;
    }
    if !little {
        bytes.reverse();
    }
    out.extend_from_slice(&bytes);
}

fn get_int(b: &[u8], little: bool, signed: bool) -> f64 {
    let size = b.len();
    let mut v: u64 = 0;
    for k in 0..size.min(8) {
        let byte = if little { b[k] } else { b[size - 1 - k] };
        v |= (byte as u64) << (8 * k);
    }
    if signed && size < 8 && size > 0 {
        let shift = 64 - 8 * size;
        return ((v << shift) as i64 >> shift) as f64;
    }
    if signed {
        v as i64 as f64
    } else {
        v as f64
    }
}

pub fn open(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("pack", native(lua, pack)?)?;
    t.raw_set("unpack", native(lua, unpack)?)?;
    t.raw_set("size", native(lua, size)?)?;
    Ok(t)
}

fn pack(lua: &Lua, args: MultiValue) -> Result<MultiValue, Raise> {
    let fmt = engine::check_bytes(&args, 0, "pack")?;
    let mut h = Header {
        little: true,
        align: 1,
    };
    let mut out = Vec::new();
    let mut arg = 1usize;
    let mut i = 0usize;
    while i < fmt.len() {
        let opt = fmt[i];
        i += 1;
        if control(opt, &fmt, &mut i, &mut h)? {
            continue;
        }
        let size = opt_size(opt, &fmt, &mut i)?;
        let pad = gap(&h, out.len(), size, opt)?;
        out.extend(std::iter::repeat_n(0u8, pad));
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = engine::check_number(&args, arg, "pack")?;
                arg += 1;
                let signed = opt.is_ascii_lowercase();
                let v = if n < 0.0 { n as i64 as u64 } else { n as u64 };
                put_int(&mut out, v, size, h.little, signed && n < 0.0);
            }
            b'x' => out.push(0),
            b'f' => {
                let n = engine::check_number(&args, arg, "pack")? as f32;
                arg += 1;
                out.extend_from_slice(&if h.little {
                    n.to_le_bytes()
                } else {
                    n.to_be_bytes()
                });
            }
            b'd' => {
                let n = engine::check_number(&args, arg, "pack")?;
                arg += 1;
                out.extend_from_slice(&if h.little {
                    n.to_le_bytes()
                } else {
                    n.to_be_bytes()
                });
            }
            b'c' | b's' => {
                let s = engine::check_bytes(&args, arg, "pack")?;
                arg += 1;
                let l = if opt == b'c' && size != 0 {
                    if s.len() < size {
                        return Err(engine::arg_error(arg, "pack", "string too short"));
                    }
                    size
                } else {
                    s.len()
                };
                out.extend_from_slice(&s[..l]);
                if opt == b's' {
                    out.push(0);
                }
            }
            _ => return Err(invalid(opt, "pack")),
        }
    }
    Ok(MultiValue::from_vec(vec![super::string(lua, &out)?]))
}

fn unpack(lua: &Lua, args: MultiValue) -> Result<MultiValue, Raise> {
    let fmt = engine::check_bytes(&args, 0, "unpack")?;
    let data = engine::check_bytes(&args, 1, "unpack")?;
    let start = if args.len() > 2 {
        engine::check_int(&args, 2, "unpack")?
    } else {
        1
    };
    if start < 1 {
        return Err(engine::arg_error(
            3,
            "unpack",
            "offset must be 1 or greater",
        ));
    }
    let mut pos = (start - 1) as usize;
    let mut h = Header {
        little: true,
        align: 1,
    };
    let mut out = MultiValue::new();
    let mut i = 0usize;
    let too_short = || engine::arg_error(2, "unpack", "data string too short");
    while i < fmt.len() {
        let opt = fmt[i];
        i += 1;
        if control(opt, &fmt, &mut i, &mut h)? {
            continue;
        }
        let mut size = opt_size(opt, &fmt, &mut i)?;
        pos += gap(&h, pos, size, opt)?;
        if size > data.len() || pos > data.len() - size {
            return Err(too_short());
        }
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let v = get_int(&data[pos..pos + size], h.little, opt.is_ascii_lowercase());
                out.push_back(Value::Number(v));
            }
            b'x' => {}
            b'f' => {
                let mut b = [0u8; 4];
                b.copy_from_slice(&data[pos..pos + 4]);
                let v = if h.little {
                    f32::from_le_bytes(b)
                } else {
                    f32::from_be_bytes(b)
                };
                out.push_back(Value::Number(v as f64));
            }
            b'd' => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&data[pos..pos + 8]);
                let v = if h.little {
                    f64::from_le_bytes(b)
                } else {
                    f64::from_be_bytes(b)
                };
                out.push_back(Value::Number(v));
            }
            b'c' => {
                if size == 0 {
                    let Some(prev) = out.pop_back() else {
                        return Err(located("format 'c0' needs a previous size"));
                    };
                    let n = engine::to_number(&prev).unwrap_or(0.0);
                    size = if n < 0.0 { 0 } else { n as usize };
                    if size > data.len() - pos {
                        return Err(too_short());
                    }
                }
                out.push_back(super::string(lua, &data[pos..pos + size])?);
            }
            b's' => {
                let Some(len) = data[pos..].iter().position(|&b| b == 0) else {
                    return Err(located("unfinished string in data"));
                };
                out.push_back(super::string(lua, &data[pos..pos + len])?);
                size = len + 1;
            }
            _ => return Err(invalid(opt, "unpack")),
        }
        pos += size;
    }
    out.push_back(Value::Number((pos + 1) as f64));
    Ok(out)
}

fn size(_lua: &Lua, args: MultiValue) -> Result<MultiValue, Raise> {
    let fmt = engine::check_bytes(&args, 0, "size")?;
    let mut h = Header {
        little: true,
        align: 1,
    };
    let mut pos = 0usize;
    let mut i = 0usize;
    while i < fmt.len() {
        let opt = fmt[i];
        i += 1;
        if control(opt, &fmt, &mut i, &mut h)? {
            continue;
        }
        let size = opt_size(opt, &fmt, &mut i)?;
        pos += gap(&h, pos, size, opt)?;
        if opt == b's' || (opt == b'c' && size == 0) {
            return Err(engine::arg_error(
                1,
                "size",
                &format!("option '{}' has no fixed size", opt as char),
            ));
        }
        if !b"bBhHlLTiIfdxc".contains(&opt) {
            return Err(invalid(opt, "size"));
        }
        pos += size;
    }
    Ok(super::num(pos as f64))
}
