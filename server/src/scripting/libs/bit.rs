//! Lua BitOp (`bit.*`) on 32-bit integers: arguments are converted as
//! BitOp does (rounded to the nearest integer, ties to even, then taken
//! modulo 2^32) and results are signed 32-bit numbers.

use mlua::{Lua, MultiValue, Table};

use super::num;
use crate::scripting::engine::{check_number, native, NativeResult, Raise};

/// BitOp's conversion: adding 2^52 + 2^51 leaves the integer in the low
/// 32 bits of the double's representation.
pub fn tobit(n: f64) -> i32 {
    (n + 6_755_399_441_055_744.0).to_bits() as u32 as i32
}

fn arg(args: &MultiValue, i: usize, f: &str) -> Result<i32, Raise> {
    Ok(tobit(check_number(args, i, f)?))
}

fn shift_count(args: &MultiValue, f: &str) -> Result<u32, Raise> {
    Ok((arg(args, 1, f)? as u32) & 31)
}

pub fn open(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    fn reg(
        lua: &Lua,
        t: &Table,
        name: &'static str,
        f: fn(&MultiValue, &'static str) -> Result<f64, Raise>,
    ) -> mlua::Result<()> {
        t.raw_set(
            name,
            native(lua, move |_, args| -> NativeResult {
                Ok(num(f(&args, name)?))
            })?,
        )
    }
    reg(lua, &t, "tobit", |a, f| Ok(arg(a, 0, f)? as f64))?;
    reg(lua, &t, "bnot", |a, f| Ok(!arg(a, 0, f)? as f64))?;
    reg(lua, &t, "band", |a, f| fold(a, f, |x, y| x & y))?;
    reg(lua, &t, "bor", |a, f| fold(a, f, |x, y| x | y))?;
    reg(lua, &t, "bxor", |a, f| fold(a, f, |x, y| x ^ y))?;
    reg(lua, &t, "lshift", |a, f| {
        Ok(((arg(a, 0, f)? as u32) << shift_count(a, f)?) as i32 as f64)
    })?;
    reg(lua, &t, "rshift", |a, f| {
        Ok(((arg(a, 0, f)? as u32) >> shift_count(a, f)?) as i32 as f64)
    })?;
    reg(lua, &t, "arshift", |a, f| {
        Ok((arg(a, 0, f)? >> shift_count(a, f)?) as f64)
    })?;
    reg(lua, &t, "rol", |a, f| {
        Ok((arg(a, 0, f)? as u32).rotate_left(shift_count(a, f)?) as i32 as f64)
    })?;
    reg(lua, &t, "ror", |a, f| {
        Ok((arg(a, 0, f)? as u32).rotate_right(shift_count(a, f)?) as i32 as f64)
    })?;
    reg(lua, &t, "bswap", |a, f| {
        Ok((arg(a, 0, f)? as u32).swap_bytes() as i32 as f64)
    })?;
    t.raw_set(
        "tohex",
        native(lua, |lua, args| {
            let x = arg(&args, 0, "tohex")? as u32;
            let mut n = if args.len() > 1 {
                arg(&args, 1, "tohex")?
            } else {
                8
            };
            let upper = n < 0;
            if upper {
                n = n.wrapping_neg();
            }
            let n = (n as u32).min(8) as usize;
            let s = if upper {
                format!("{x:08X}")
            } else {
                format!("{x:08x}")
            };
            let v = super::string(lua, &s.as_bytes()[8 - n..])?;
            Ok(MultiValue::from_vec(vec![v]))
        })?,
    )?;
    Ok(t)
}

fn fold(args: &MultiValue, f: &str, op: fn(i32, i32) -> i32) -> Result<f64, Raise> {
    let mut acc = arg(args, 0, f)?;
    for i in 1..args.len() {
        acc = op(acc, arg(args, i, f)?);
    }
    Ok(acc as f64)
}

#[cfg(test)]
mod tests {
    use super::tobit;

    #[test]
    fn conversion_wraps_and_rounds() {
        assert_eq!(tobit(0xffff_ffffu32 as f64), -1);
        assert_eq!(tobit(2.5), 2);
        assert_eq!(tobit(3.5), 4);
        assert_eq!(tobit(-1.0), -1);
        assert_eq!(tobit(4294967296.0 + 5.0), 5);
    }
}
