//! x87 80-bit `long double` arithmetic, as Redis 7.0 on x86-64 does it for
//! HINCRBYFLOAT (and INCRBYFLOAT): parse like `strtold` (with Redis's extra
//! rules), add with round-to-nearest-even on a 64-bit mantissa, and print like
//! `"%.17Lf"` with trailing zeros trimmed (`ld2string` in human mode).
//! With `f64` instead, 0.1 + 0.2 would print as 0.30000000000000004 where
//! Redis prints 0.3.
//!
//! Invariants: a `Finite` value is `mant × 2^exp` with the top mantissa bit
//! set, except subnormals, which have `exp == EXP_MIN`; `EXP_MIN ≤ exp ≤
//! EXP_MAX`. Parsing never allocates from an exponent the input declares
//! (absurd exponents short-circuit to overflow/underflow).

use num_bigint::BigUint;

/// Exponent of a normalized value's mantissa LSB at the smallest normal (2^-16382).
const EXP_MIN: i32 = -16382 - 63;
/// Exponent of the mantissa LSB of the largest finite value (just under 2^16384).
const EXP_MAX: i32 = 16383 - 63;
/// Strings this long or longer are not numbers (MAX_LONG_DOUBLE_CHARS).
pub const LONG_DOUBLE_CHARS_MAX: usize = 5 * 1024;
/// Significant decimal digits kept when parsing; later non-zero digits only
/// make the value inexact (a sticky digit), which is all rounding needs.
const DIGITS_KEPT_MAX: usize = 5000;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Ld {
    Zero { neg: bool },
    Finite { neg: bool, mant: u64, exp: i32 },
    Inf { neg: bool },
    Nan,
}

impl Ld {
    pub fn is_finite(self) -> bool {
        matches!(self, Ld::Zero { .. } | Ld::Finite { .. })
    }

    pub fn from_i64(n: i64) -> Ld {
        round_pack(n < 0, n.unsigned_abs() as u128, 0, false)
    }
}

/// Rounds `mant × 2^exp` (plus a tiny non-zero amount below the LSB when
/// `sticky`) to a 64-bit mantissa, nearest-even.
fn round_pack(neg: bool, mant: u128, exp: i32, sticky: bool) -> Ld {
    if mant == 0 {
        return Ld::Zero { neg };
    }
    let bits = 128 - mant.leading_zeros() as i32;
    // Shift right to 64 bits, or further so the exponent reaches EXP_MIN (subnormal).
    let mut shift = (bits - 64).max(0);
    if exp + shift < EXP_MIN {
        shift = EXP_MIN - exp;
    }
    let (mut m, mut e) = if shift > 0 {
        let (kept, lower, half) = if shift >= 128 {
            (
                0u128,
                mant,
                if shift == 128 {
                    Some(1u128 << 127)
                } else {
                    None
                },
            )
        } else {
            (
                mant >> shift,
                mant & ((1u128 << shift) - 1),
                Some(1u128 << (shift - 1)),
            )
        };
        let up = match half {
            None => false, // the whole value is below half the smallest subnormal
            Some(h) => lower > h || (lower == h && (sticky || kept & 1 == 1)),
        };
        (kept + up as u128, exp + shift)
    } else {
        (mant, exp)
    };
    if m >> 64 != 0 {
        m >>= 1;
        e += 1;
    }
    if m == 0 {
        return Ld::Zero { neg };
    }
    // Normalize left (exact) while above the subnormal floor.
    while m >> 63 == 0 && e > EXP_MIN {
        m <<= 1;
        e -= 1;
    }
    if e > EXP_MAX {
        return Ld::Inf { neg };
    }
    Ld::Finite {
        neg,
        mant: m as u64,
        exp: e,
    }
}

/// Rounds a big integer times 2^exp.
fn round_big(neg: bool, n: &BigUint, exp: i64, sticky: bool) -> Ld {
    let bits = n.bits();
    let (top, drop) = if bits > 128 {
        (n >> (bits - 128), bits - 128)
    } else {
        (n.clone(), 0)
    };
    let dropped_nonzero = drop > 0 && n.trailing_zeros().is_some_and(|tz| tz < drop);
    let digits = top.to_u64_digits();
    let mant = digits.first().copied().unwrap_or(0) as u128
        | (digits.get(1).copied().unwrap_or(0) as u128) << 64;
    let e = exp + drop as i64;
    if e > i32::MAX as i64 / 2 {
        return Ld::Inf { neg };
    }
    if e < i32::MIN as i64 / 2 {
        return Ld::Zero { neg };
    }
    round_pack(neg, mant, e as i32, sticky || dropped_nonzero)
}

/// Redis's `string2ld`: the whole string must be a number; no leading space,
/// no NaN, no overflow, no underflow to zero.
pub fn parse(s: &[u8]) -> Option<Ld> {
    if s.is_empty() || s.len() >= LONG_DOUBLE_CHARS_MAX || s[0].is_ascii_whitespace() {
        return None;
    }
    let (v, used) = strtold(s)?;
    if used != s.len() {
        return None;
    }
    match v {
        Ld::Nan => None,
        v => Some(v),
    }
}

/// `strtold` on the prefix of `s` (no leading whitespace): the value and how
/// many bytes it used. None when no number starts here or on ERANGE
/// overflow/underflow to zero (which Redis rejects).
fn strtold(s: &[u8]) -> Option<(Ld, usize)> {
    let mut i = 0;
    let neg = match s.first() {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let rest = &s[i..];
    let starts = |w: &[u8]| rest.len() >= w.len() && rest[..w.len()].eq_ignore_ascii_case(w);
    if starts(b"infinity") {
        return Some((Ld::Inf { neg }, i + 8));
    }
    if starts(b"inf") {
        return Some((Ld::Inf { neg }, i + 3));
    }
    if starts(b"nan") {
        return Some((Ld::Nan, i + 3));
    }
    if starts(b"0x") {
        if let Some((v, used)) = parse_hex(&rest[2..], neg) {
            return Some((v, i + 2 + used));
        }
        // "0x" with no hex digits: strtold reads just the "0".
        return Some((Ld::Zero { neg }, i + 1));
    }
    let (v, used) = parse_decimal(rest, neg)?;
    Some((v, i + used))
}

/// Reads an exponent suffix after `e`/`p` at `s[at]`; returns (value, bytes used),
/// or (0, 0) if no digits follow (then the marker is not part of the number).
fn parse_exponent(s: &[u8], at: usize) -> (i64, usize) {
    let mut j = at + 1;
    let mut eneg = false;
    if let Some(&c) = s.get(j) {
        if c == b'+' || c == b'-' {
            eneg = c == b'-';
            j += 1;
        }
    }
    let start = j;
    let mut e: i64 = 0;
    while let Some(&c) = s.get(j) {
        if !c.is_ascii_digit() {
            break;
        }
        // Saturate: anything this large is over- or underflow anyway.
        e = (e * 10 + (c - b'0') as i64).min(1_000_000_000);
        j += 1;
    }
    if j == start {
        return (0, 0);
    }
    (if eneg { -e } else { e }, j - at)
}

fn parse_decimal(s: &[u8], neg: bool) -> Option<(Ld, usize)> {
    let mut j = 0;
    let mut digits: Vec<u8> = Vec::new();
    let mut exp10: i64 = 0;
    let mut seen_digit = false;
    let mut sticky = false;
    let mut in_frac = false;
    while let Some(&c) = s.get(j) {
        if c.is_ascii_digit() {
            seen_digit = true;
            if digits.is_empty() && c == b'0' {
                // Leading zeros carry no significance.
            } else if digits.len() < DIGITS_KEPT_MAX {
                digits.push(c - b'0');
            } else {
                sticky |= c != b'0';
                if !in_frac {
                    exp10 += 1;
                }
                j += 1;
                continue;
            }
            if in_frac {
                exp10 -= 1;
            }
        } else if c == b'.' && !in_frac {
            in_frac = true;
        } else {
            break;
        }
        j += 1;
    }
    if !seen_digit {
        return None;
    }
    if let Some(&c) = s.get(j) {
        if c == b'e' || c == b'E' {
            let (e, used) = parse_exponent(s, j);
            exp10 += e;
            j += used;
        }
    }
    if digits.is_empty() {
        return Some((Ld::Zero { neg }, j));
    }
    // Order of magnitude: 10^(len + exp10 - 1) ≤ value < 10^(len + exp10).
    let magnitude = digits.len() as i64 + exp10;
    if magnitude > 4934 {
        return None; // ERANGE overflow
    }
    if magnitude < -4952 {
        return None; // ERANGE underflow to zero
    }
    let mut n = BigUint::from(0u32);
    for chunk in digits.chunks(19) {
        let mut v: u64 = 0;
        for &d in chunk {
            v = v * 10 + d as u64;
        }
        n = n * BigUint::from(10u64.pow(chunk.len() as u32)) + BigUint::from(v);
    }
    if sticky {
        // Represent the dropped tail as one more, non-zero, digit.
        n = n * 10u32 + 1u32;
        exp10 -= 1;
    }
    let v = if exp10 >= 0 {
        let n = n * BigUint::from(10u32).pow(exp10 as u32);
        round_big(neg, &n, 0, false)
    } else {
        let den = BigUint::from(10u32).pow((-exp10) as u32);
        let s_bits = (den.bits() as i64 + 66 - n.bits() as i64).max(0);
        let num = n << s_bits as usize;
        let q = &num / &den;
        let rem_nonzero = &q * &den != num;
        round_big(neg, &q, -s_bits, rem_nonzero)
    };
    match v {
        Ld::Inf { .. } => None,
        Ld::Zero { .. } => None, // non-zero digits rounded to zero: ERANGE
        v => Some((v, j)),
    }
}

fn parse_hex(s: &[u8], neg: bool) -> Option<(Ld, usize)> {
    let mut j = 0;
    let mut n = BigUint::from(0u32);
    let mut exp2: i64 = 0;
    let mut seen = false;
    let mut in_frac = false;
    let mut kept = 0usize;
    let mut sticky = false;
    while let Some(&c) = s.get(j) {
        if let Some(d) = (c as char).to_digit(16) {
            seen = true;
            if kept < DIGITS_KEPT_MAX {
                if kept > 0 || d != 0 {
                    kept += 1;
                }
                n = (n << 4usize) + BigUint::from(d);
                if in_frac {
                    exp2 -= 4;
                }
            } else {
                sticky |= d != 0;
                if !in_frac {
                    exp2 += 4;
                }
            }
        } else if c == b'.' && !in_frac {
            in_frac = true;
        } else {
            break;
        }
        j += 1;
    }
    if !seen {
        return None;
    }
    if let Some(&c) = s.get(j) {
        if c == b'p' || c == b'P' {
            let (e, used) = parse_exponent(s, j);
            exp2 += e;
            j += used;
        }
    }
    if n.bits() == 0 {
        return Some((Ld::Zero { neg }, j));
    }
    let magnitude = n.bits() as i64 + exp2;
    if magnitude > 16400 {
        return None;
    }
    if magnitude < -16500 {
        return None;
    }
    match round_big(neg, &n, exp2, sticky) {
        Ld::Inf { .. } | Ld::Zero { .. } => None,
        v => Some((v, j)),
    }
}

/// IEEE addition in the 80-bit format, round-to-nearest-even.
pub fn add(a: Ld, b: Ld) -> Ld {
    match (a, b) {
        (Ld::Nan, _) | (_, Ld::Nan) => Ld::Nan,
        (Ld::Inf { neg: x }, Ld::Inf { neg: y }) => {
            if x == y {
                a
            } else {
                Ld::Nan
            }
        }
        (Ld::Inf { .. }, _) => a,
        (_, Ld::Inf { .. }) => b,
        (Ld::Zero { neg: x }, Ld::Zero { neg: y }) => Ld::Zero { neg: x && y },
        (Ld::Zero { .. }, _) => b,
        (_, Ld::Zero { .. }) => a,
        (
            Ld::Finite {
                neg: na,
                mant: ma,
                exp: ea,
            },
            Ld::Finite {
                neg: nb,
                mant: mb,
                exp: eb,
            },
        ) => {
            // Order by magnitude: big first.
            let ((nbig, mbig, ebig), (nsmall, msmall, esmall)) = if (ea, ma) >= (eb, mb) {
                ((na, ma, ea), (nb, mb, eb))
            } else {
                ((nb, mb, eb), (na, ma, ea))
            };
            let d = (ebig - esmall) as u32;
            if d > 130 {
                return Ld::Finite {
                    neg: nbig,
                    mant: mbig,
                    exp: ebig,
                };
            }
            const GUARD: u32 = 62;
            let big = (mbig as u128) << GUARD;
            let small_full = (msmall as u128) << GUARD;
            let (small, sticky) = if d >= 128 {
                (0, msmall != 0)
            } else {
                (small_full >> d, small_full & ((1u128 << d) - 1) != 0)
            };
            let lsb_exp = ebig - GUARD as i32;
            if nbig == nsmall {
                round_pack(nbig, big + small, lsb_exp, sticky)
            } else {
                let mut diff = big - small;
                if sticky {
                    diff -= 1;
                }
                if diff == 0 && !sticky {
                    return Ld::Zero { neg: false };
                }
                round_pack(nbig, diff, lsb_exp, sticky)
            }
        }
    }
}

/// `"%.17Lf"` with trailing zeros (and a trailing dot) removed, "-0" as "0".
/// Only for finite values.
pub fn format_human(v: Ld) -> String {
    let (neg, body) = match v {
        Ld::Zero { .. } => return "0".into(),
        Ld::Finite { neg, mant, exp } => (neg, format_fixed17(mant, exp)),
        Ld::Inf { neg } => return if neg { "-inf".into() } else { "inf".into() },
        Ld::Nan => return "nan".into(),
    };
    let mut s = body;
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if neg && s != "0" {
        s.insert(0, '-');
    }
    s
}

const TEN_POW_17: u128 = 100_000_000_000_000_000;

fn format_fixed17(mant: u64, exp: i32) -> String {
    if exp >= 0 {
        let n = BigUint::from(mant) << exp as usize;
        return n.to_string();
    }
    let k = exp.unsigned_abs();
    let (int_part, frac) = if k < 64 {
        (mant >> k, (mant & ((1u64 << k) - 1)) as u128)
    } else {
        (0u64, mant as u128)
    };
    let scaled = frac * TEN_POW_17;
    let mut q = if k >= 128 {
        0 // below 2^121 / 2^128: rounds to zero
    } else {
        let q = scaled >> k;
        let rem = scaled & ((1u128 << k) - 1);
        let half = 1u128 << (k - 1);
        q + (rem > half || (rem == half && q & 1 == 1)) as u128
    };
    let mut int_part = int_part as u128;
    if q == TEN_POW_17 {
        int_part += 1;
        q = 0;
    }
    format!("{int_part}.{q:017}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incr(a: &str, b: &str) -> Option<String> {
        let x = add(parse(a.as_bytes())?, parse(b.as_bytes())?);
        x.is_finite().then(|| format_human(x))
    }

    #[test]
    fn matches_redis_hincrbyfloat() {
        assert_eq!(incr("0", "0.1").as_deref(), Some("0.1"));
        assert_eq!(incr("0.1", "0.1").as_deref(), Some("0.2"));
        assert_eq!(incr("0.2", "0.1").as_deref(), Some("0.3"));
        assert_eq!(incr("0", "1.5").as_deref(), Some("1.5"));
        assert_eq!(incr("0", "3.0").as_deref(), Some("3"));
        assert_eq!(incr("0", "1.0000000000000000001").as_deref(), Some("1"));
        assert_eq!(
            incr("0", "3.14159265358979323846264338327950288").as_deref(),
            Some("3.14159265358979324")
        );
        assert_eq!(incr("0", "1e-20").as_deref(), Some("0"));
        assert_eq!(incr("0", "-1e-18").as_deref(), Some("0"));
        assert_eq!(incr("0", "123.456e-5").as_deref(), Some("0.00123456"));
        assert_eq!(
            incr("0", "9007199254740993").as_deref(),
            Some("9007199254740993")
        );
        assert_eq!(incr("0", "5e-324").as_deref(), Some("0"));
        assert_eq!(
            incr("0", "123456789012345678901234567890").as_deref(),
            Some("123456789012345678899921813504")
        );
        assert_eq!(incr("0", "-0").as_deref(), Some("0"));
        assert_eq!(incr("0", "0x10").as_deref(), Some("16"));
        assert_eq!(incr("0x1p3", "1").as_deref(), Some("9"));
        assert_eq!(incr("+5", "1").as_deref(), Some("6"));
        assert_eq!(incr(".5", "1").as_deref(), Some("1.5"));
        assert_eq!(incr("5.", "1").as_deref(), Some("6"));
        assert_eq!(incr("-.5e1", "1").as_deref(), Some("-4"));
        assert_eq!(incr("1.5", "-1.5").as_deref(), Some("0"));
        assert_eq!(incr("01", "1").as_deref(), Some("2"));
        let big = incr("0", "1e308").unwrap();
        assert!(big.starts_with("99999999999999999996685879655845645660560099847415567207797047994921734868838061872100126921888539320446747225054013223152134749593960583597420814430196418767959100019603190778663109604507106667939153395788938914560543563061268364901618630217086589253444881623791300855757318142424510452728255046343928578048"));
        assert_eq!(big.len(), 308);
        let twice = incr(&big, "1e308").unwrap();
        assert!(twice.starts_with("19999999999999999999337175931169129132112019969483113441559409598984346973767612374420025384377707864089349445010802644630426949918792116719484162886039283753591820003920638155732621920901421333587830679157787782912108712612253672980323726043417317850688976324758260171151463628484902090545651009268785715609"));
        let huge = incr("1e4932", "1").unwrap();
        assert_eq!(huge.len(), 4933);
        assert!(huge.starts_with("10000000000000000000060189493879638913238377742545331147737850413525330194866087224075333277794331427736665255636662776820618609064404603366234161649310975421086536237399472378242736077556462820773377467706282810834612447094576436334092728448514209146667654083398564977383067564541370376184404761829828659540540463209082995559423"));
        assert_eq!(incr("1e4932", "1e4932"), None, "overflow to inf");
        assert_eq!(incr("inf", "1"), None);
    }

    #[test]
    fn parse_rejects_like_string2ld() {
        for bad in [
            "", " 1", "1 ", "abc", "1.5e", "nan", "1e5000", "1e-5000", ".", "-", "1e+", "0x",
            "inf1",
        ] {
            assert!(
                parse(bad.as_bytes()).is_none(),
                "{bad:?} should be rejected"
            );
        }
        for good in ["inf", "-inf", "Infinity", "0x1.8p1", "1e-4940", "0.0", "-0"] {
            assert!(parse(good.as_bytes()).is_some(), "{good:?} should parse");
        }
        assert_eq!(format_human(parse(b"0x1.8p1").unwrap()), "3");
    }

    #[test]
    fn addition_rounds_to_nearest_even() {
        // 2^64 + 1 is not representable: rounds to 2^64 (tie goes to even).
        let a = parse(b"18446744073709551616").unwrap();
        let one = Ld::from_i64(1);
        assert_eq!(format_human(add(a, one)), "18446744073709551616");
        // 2^64 + 3 rounds up to 2^64 + 4.
        let three = Ld::from_i64(3);
        assert_eq!(format_human(add(a, three)), "18446744073709551620");
        assert_eq!(format_human(add(Ld::from_i64(-5), Ld::from_i64(3))), "-2");
        assert_eq!(
            format_human(add(Ld::from_i64(i64::MIN), Ld::from_i64(-1))),
            "-9223372036854775809"
        );
    }
}
