//! Redis's `long double` arithmetic (INCRBYFLOAT, HINCRBYFLOAT, blocking timeouts), in software.
//!
//! Redis on x86-64 parses numbers with `strtold`, adds them in the x87 80-bit
//! extended format (a 64-bit significand) and prints the sum with `%.17Lf`,
//! trimming trailing zeros (`ld2string`, "human" mode). Doing the same in `f64`
//! gives visibly different answers ("10.5" + "0.1" is "10.6" in Redis but
//! 10.59999999999999964 in f64), so this module emulates the format exactly and
//! the same on every platform: a value is m·2^e with a 64-bit m, and every
//! operation rounds once, to nearest, ties to even, as the FPU does.
//!
//! Invariants of a finite `LongDouble`: `mant != 0`, `EXP_MIN <= exp <= EXP_MAX`,
//! and `mant >= 2^63` unless `exp == EXP_MIN` (a subnormal).

use num_bigint::BigUint;

/// Exponent of the lowest significand bit of subnormals and of the smallest
/// normal number (2^-16382 = 2^63 · 2^EXP_MIN).
const EXP_MIN: i64 = -16445;
/// Exponent of the lowest significand bit of the largest finite numbers
/// (the largest is (2^64 - 1) · 2^EXP_MAX, about 1.19e4932).
const EXP_MAX: i64 = 16320;
/// Longest string `string2ld` accepts, in bytes (MAX_LONG_DOUBLE_CHARS - 1).
pub const LONG_DOUBLE_CHARS_MAX: usize = 5 * 1024 - 1;
/// Decimal digits `%.17Lf` prints after the point.
const FRACTION_DIGITS: u32 = 17;
const FRACTION_SCALE: u128 = 10u128.pow(FRACTION_DIGITS);
/// Exponents beyond this are clamped while parsing: far past any finite value,
/// small enough that no arithmetic on them overflows.
const PARSE_EXP_CLAMP: i64 = 1_000_000;
/// Decimal orders of magnitude past which a parsed value surely overflows
/// (>= 10^4933) or surely rounds to zero (< 10^-4952, below half the smallest
/// subnormal, about 1.8e-4951).
const DEC_EXP_OVERFLOW: i64 = 4932;
const DEC_EXP_UNDERFLOW: i64 = -4952;
/// When one addend's top bit is this many bits above the other's, the smaller
/// one is far below half an ulp of the result and cannot change it.
const ADD_NEGLIGIBLE_BITS: i64 = 130;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Zero,
    /// mant · 2^exp.
    Finite {
        mant: u64,
        exp: i64,
    },
    Inf,
    Nan,
}

/// An x87 extended-precision value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LongDouble {
    neg: bool,
    kind: Kind,
}

impl LongDouble {
    pub const ZERO: LongDouble = LongDouble {
        neg: false,
        kind: Kind::Zero,
    };

    /// Exact: every i64 fits in a 64-bit significand.
    pub fn from_i64(n: i64) -> LongDouble {
        if n == 0 {
            return LongDouble::ZERO;
        }
        let mag = n.unsigned_abs();
        let lz = mag.leading_zeros();
        LongDouble {
            neg: n < 0,
            kind: Kind::Finite {
                mant: mag << lz,
                exp: -(lz as i64),
            },
        }
    }

    /// Redis's `string2ld`: the whole input must be a number `strtold`
    /// accepts, with no leading space, not NaN, not overflowing and not
    /// underflowing to zero. Infinity is accepted.
    pub fn parse(s: &[u8]) -> Option<LongDouble> {
        if s.is_empty() || s.len() > LONG_DOUBLE_CHARS_MAX || is_c_space(s[0]) {
            return None;
        }
        let (neg, body) = match s[0] {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let lower = body.to_ascii_lowercase();
        if lower == b"inf" || lower == b"infinity" {
            return Some(LongDouble {
                neg,
                kind: Kind::Inf,
            });
        }
        let v = if lower.starts_with(b"0x") {
            parse_hex(neg, &lower[2..])?
        } else {
            parse_decimal(neg, &lower)?
        };
        match v.kind {
            Kind::Inf | Kind::Nan => None, // ERANGE overflow
            _ => Some(v),
        }
    }

    pub fn is_finite(&self) -> bool {
        matches!(self.kind, Kind::Zero | Kind::Finite { .. })
    }

    /// `(long long) ceill(v * 1000.0)` as Redis computes a timeout in
    /// milliseconds from seconds: the product rounded to 64 bits, then its
    /// ceiling; None where x86-64's cast gives LLONG_MIN (NaN, infinities,
    /// anything outside i64).
    pub fn seconds_to_ms_ceil(&self) -> Option<i64> {
        let (mant, exp) = match self.kind {
            Kind::Zero => return Some(0),
            Kind::Inf | Kind::Nan => return None,
            Kind::Finite { mant, exp } => (mant, exp),
        };
        let product = round(self.neg, &(BigUint::from(mant) * 1000u32), exp, false);
        let (mant, exp) = match product.kind {
            Kind::Zero => return Some(0),
            Kind::Inf | Kind::Nan => return None,
            Kind::Finite { mant, exp } => (mant, exp),
        };
        // |v| = int + frac, frac < 1.
        let (int, has_frac) = if exp >= 0 {
            if exp >= 64 || (mant as u128) << exp > u64::MAX as u128 {
                return None;
            }
            (mant << exp, false)
        } else if exp <= -64 {
            (0, true)
        } else {
            (mant >> -exp, mant & ((1u64 << -exp) - 1) != 0)
        };
        if self.neg {
            // The ceiling of a negative value drops its fraction.
            (int <= 1u64 << 63).then(|| (int as i128).wrapping_neg() as i64)
        } else {
            let up = int.checked_add(has_frac as u64)?;
            i64::try_from(up).ok()
        }
    }

    pub fn is_nan(&self) -> bool {
        self.kind == Kind::Nan
    }

    /// `ld2string` in human mode: `%.17Lf` with trailing zeros (and a bare
    /// point) removed, "-0" printed as "0"; "inf"/"-inf" for infinities.
    pub fn to_human_string(&self) -> String {
        let sign = if self.neg { "-" } else { "" };
        let (mant, exp) = match self.kind {
            Kind::Nan => return "nan".into(),
            Kind::Inf => return format!("{sign}inf"),
            Kind::Zero => return "0".into(),
            Kind::Finite { mant, exp } => (mant, exp),
        };
        if exp >= 0 {
            let int = BigUint::from(mant) << (exp as usize);
            return format!("{sign}{int}");
        }
        // value · 10^17 = mant · 10^17 / 2^k, rounded to an integer, ties to even.
        let k = (-exp) as u32;
        // mant · 10^17 < 2^121: below half of 2^k once k > 122, so it rounds to 0.
        let scaled = if k > 122 {
            0
        } else {
            let m = mant as u128 * FRACTION_SCALE;
            let mut q = m >> k;
            let rem = m & ((1u128 << k) - 1);
            let half = 1u128 << (k - 1);
            if rem > half || (rem == half && q & 1 == 1) {
                q += 1;
            }
            q
        };
        if scaled == 0 {
            return "0".into();
        }
        let int = scaled / FRACTION_SCALE;
        let frac = scaled % FRACTION_SCALE;
        let mut out = format!("{sign}{int}.{frac:017}");
        while out.ends_with('0') {
            out.pop();
        }
        if out.ends_with('.') {
            out.pop();
        }
        out
    }
}

impl std::ops::Add for LongDouble {
    type Output = LongDouble;

    /// The correctly rounded sum, as the FPU computes `a + b`.
    fn add(self, other: LongDouble) -> LongDouble {
        let nan = LongDouble {
            neg: false,
            kind: Kind::Nan,
        };
        match (self.kind, other.kind) {
            (Kind::Nan, _) | (_, Kind::Nan) => nan,
            (Kind::Inf, Kind::Inf) if self.neg != other.neg => nan,
            (Kind::Inf, _) => self,
            (_, Kind::Inf) => other,
            (Kind::Zero, Kind::Zero) => LongDouble {
                neg: self.neg && other.neg,
                kind: Kind::Zero,
            },
            (Kind::Zero, _) => other,
            (_, Kind::Zero) => self,
            (Kind::Finite { mant: ma, exp: ea }, Kind::Finite { mant: mb, exp: eb }) => {
                let top_a = ea + (64 - ma.leading_zeros()) as i64;
                let top_b = eb + (64 - mb.leading_zeros()) as i64;
                if top_a - top_b > ADD_NEGLIGIBLE_BITS {
                    return self;
                }
                if top_b - top_a > ADD_NEGLIGIBLE_BITS {
                    return other;
                }
                let e = ea.min(eb);
                let a = BigUint::from(ma) << ((ea - e) as usize);
                let b = BigUint::from(mb) << ((eb - e) as usize);
                if self.neg == other.neg {
                    round(self.neg, &(a + b), e, false)
                } else if a > b {
                    round(self.neg, &(a - b), e, false)
                } else if b > a {
                    round(other.neg, &(b - a), e, false)
                } else {
                    LongDouble::ZERO
                }
            }
        }
    }
}

/// C's `isspace` in the "C" locale.
fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Splits `digits[.digits]` (at least one digit overall) off the front of `s`.
/// Returns (integer digits, fraction digits, rest).
fn split_mantissa(s: &[u8], is_digit: fn(u8) -> bool) -> Option<(&[u8], &[u8], &[u8])> {
    let int_len = s.iter().take_while(|&&c| is_digit(c)).count();
    let (int, rest) = s.split_at(int_len);
    let (frac, rest) = match rest.first() {
        Some(b'.') => {
            let r = &rest[1..];
            let n = r.iter().take_while(|&&c| is_digit(c)).count();
            r.split_at(n)
        }
        _ => (&rest[..0], rest),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    Some((int, frac, rest))
}

/// Parses the exponent after `e`/`p` (the whole rest of the input must be a
/// signed decimal integer), clamped to ±PARSE_EXP_CLAMP.
fn parse_exponent(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: i64 = 0;
    for &c in digits {
        v = (v * 10 + (c - b'0') as i64).min(PARSE_EXP_CLAMP);
    }
    Some(if neg { -v } else { v })
}

fn digits_value(int: &[u8], frac: &[u8], radix: u32) -> BigUint {
    let all: Vec<u8> = int.iter().chain(frac.iter()).copied().collect();
    BigUint::parse_bytes(&all, radix).unwrap_or_default()
}

fn parse_decimal(neg: bool, s: &[u8]) -> Option<LongDouble> {
    let (int, frac, rest) = split_mantissa(s, |c| c.is_ascii_digit())?;
    let exp_written = match rest.first() {
        None => 0,
        Some(b'e') => parse_exponent(&rest[1..])?,
        Some(_) => return None,
    };
    let digits: Vec<u8> = int
        .iter()
        .chain(frac.iter())
        .copied()
        .skip_while(|&c| c == b'0')
        .collect();
    if digits.is_empty() {
        return Some(LongDouble {
            neg,
            kind: Kind::Zero,
        });
    }
    // The value is digits · 10^exp10, in [10^(n-1+exp10), 10^(n+exp10)).
    let exp10 = exp_written - frac.len() as i64;
    let n = digits.len() as i64;
    if n - 1 + exp10 > DEC_EXP_OVERFLOW || n + exp10 < DEC_EXP_UNDERFLOW {
        return None;
    }
    let d = BigUint::parse_bytes(&digits, 10).unwrap_or_default();
    let v = if exp10 >= 0 {
        round(neg, &(d * BigUint::from(10u32).pow(exp10 as u32)), 0, false)
    } else {
        let den = BigUint::from(10u32).pow((-exp10) as u32);
        // Scale so the quotient has at least 66 bits: 64 kept, a rounding
        // bit, and room for the remainder to act as a sticky bit below it.
        let shift = (66 + den.bits() as i64 - d.bits() as i64 + 1).max(0);
        let num = d << (shift as usize);
        let q = &num / &den;
        let inexact = &q * &den != num;
        round(neg, &q, -shift, inexact)
    };
    if v.kind == Kind::Zero {
        return None; // ERANGE: a non-zero input underflowed
    }
    Some(v)
}

fn parse_hex(neg: bool, s: &[u8]) -> Option<LongDouble> {
    let (int, frac, rest) = split_mantissa(s, |c| c.is_ascii_hexdigit())?;
    let exp_written = match rest.first() {
        None => 0,
        Some(b'p') => parse_exponent(&rest[1..])?,
        Some(_) => return None,
    };
    let h = digits_value(int, frac, 16);
    if h.bits() == 0 {
        return Some(LongDouble {
            neg,
            kind: Kind::Zero,
        });
    }
    let v = round(neg, &h, exp_written - 4 * frac.len() as i64, false);
    if v.kind == Kind::Zero {
        return None;
    }
    Some(v)
}

/// Rounds mag · 2^exp2 (plus a positive amount below the lowest bit of `mag`
/// when `sticky`) to the extended format. Callers passing `sticky` give `mag`
/// at least 66 bits, so the sticky part lies below the rounding bit.
fn round(neg: bool, mag: &BigUint, exp2: i64, sticky: bool) -> LongDouble {
    let n = mag.bits() as i64;
    if n == 0 {
        return LongDouble {
            neg,
            kind: Kind::Zero,
        };
    }
    // Drop enough low bits to keep 64, but never go below the subnormal exponent.
    let shift = (n - 64).max(EXP_MIN - exp2);
    let mut exp = exp2 + shift;
    let mant = if shift <= 0 {
        // At most 63 bits of left shift: the value fits exactly.
        low_u64(&(mag << ((-shift) as usize)))
    } else {
        let s = shift as u64;
        let kept = mag >> (s as usize);
        let mut mant = low_u64(&kept);
        let round_bit = mag.bit(s - 1);
        let below = sticky || mag.trailing_zeros().is_some_and(|tz| tz < s - 1);
        if round_bit && (below || mant & 1 == 1) {
            if mant == u64::MAX {
                mant = 1 << 63;
                exp += 1;
            } else {
                mant += 1;
            }
        }
        mant
    };
    if mant == 0 {
        return LongDouble {
            neg,
            kind: Kind::Zero,
        };
    }
    if exp > EXP_MAX {
        return LongDouble {
            neg,
            kind: Kind::Inf,
        };
    }
    LongDouble {
        neg,
        kind: Kind::Finite { mant, exp },
    }
}

/// The low 64 bits (callers pass values known to fit).
fn low_u64(v: &BigUint) -> u64 {
    v.iter_u64_digits().next().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn human(s: &str) -> String {
        LongDouble::parse(s.as_bytes())
            .map(|v| v.to_human_string())
            .unwrap_or_else(|| "invalid".into())
    }

    fn sum(a: &str, b: &str) -> String {
        let a = LongDouble::parse(a.as_bytes()).unwrap();
        let b = LongDouble::parse(b.as_bytes()).unwrap();
        (a + b).to_human_string()
    }

    // Expected strings below were produced by redis-server 7.0.15 (INCRBYFLOAT).
    #[test]
    fn sums_match_x87_redis() {
        assert_eq!(sum("10.5", "0.1"), "10.6");
        assert_eq!(sum("1.1", "1.1"), "2.2");
        assert_eq!(sum("0.1", "0.2"), "0.3");
        assert_eq!(sum("0.1", "-0.1"), "0");
        assert_eq!(sum("1", "-0.9999999999999999999999"), "0");
        assert_eq!(sum("9223372036854775807", "1"), "9223372036854775808");
        assert_eq!(sum("12345678901234567890", "0.5"), "12345678901234567890");
        assert_eq!(sum("0", "3.0000000000000000001"), "3");
        assert_eq!(sum("-0", "-0"), "0");
    }

    #[test]
    fn human_format_matches_ld2string() {
        assert_eq!(human("5.0e3"), "5000");
        assert_eq!(human("1e20"), "100000000000000000000");
        assert_eq!(human("1e-20"), "0");
        assert_eq!(human("-1e-20"), "0");
        assert_eq!(human("1.5e-17"), "0.00000000000000002");
        // Exact ties at the 18th digit round to even.
        assert_eq!(human("0.000003814697265625"), "0.00000381469726562");
        assert_eq!(human("0.000011444091796875"), "0.00001144409179688");
        assert_eq!(human("-0.000003814697265625"), "-0.00000381469726562");
        assert!(human("1e300").starts_with("1000000000000000000008997324079559193870523944273290747938260082321265646596180935755849152083750497"));
        assert!(human("1e4932").starts_with("10000000000000000000060189493879638913238377742545331147737850413525330194866087224075333"));
        assert_eq!(human("1e4932").len(), 4933);
    }

    #[test]
    fn parsing_follows_string2ld() {
        assert_eq!(human("0x10"), "16");
        assert_eq!(human("0X1.8P1"), "3");
        assert_eq!(human("0x1p-3"), "0.125");
        assert_eq!(human("0x.8"), "0.5");
        assert_eq!(human("+.5"), "0.5");
        assert_eq!(human("5."), "5");
        assert_eq!(human("1e-4940"), "0"); // a subnormal: accepted
        assert_eq!(human("0e99999999999999999999"), "0");
        for bad in [
            "",
            " 1",
            "1 ",
            ".",
            "1e",
            "1e+",
            "0x",
            "0x1p",
            "nan",
            "-nan",
            "abc",
            "1.2e4932",
            "1e-4951",
            "1e-20000",
            "1e99999999999999999999",
            "1_0",
            "--1",
            "infin",
        ] {
            assert_eq!(human(bad), "invalid", "{bad:?}");
        }
        assert_eq!(
            LongDouble::parse(b"INFINITY").map(|v| v.is_finite()),
            Some(false)
        );
        assert_eq!(
            LongDouble::parse(b"-inf").map(|v| v.is_finite()),
            Some(false)
        );
        assert!(LongDouble::parse(&vec![b'1'; LONG_DOUBLE_CHARS_MAX + 1]).is_none());
        assert!(LongDouble::parse(
            &[b"0.".as_slice(), &vec![b'1'; LONG_DOUBLE_CHARS_MAX - 2]].concat()
        )
        .is_some());
    }

    #[test]
    fn infinities_and_nan() {
        let inf = LongDouble::parse(b"inf").unwrap();
        let ninf = LongDouble::parse(b"-inf").unwrap();
        assert!((inf + ninf).is_nan());
        assert!(!(inf + LongDouble::from_i64(1)).is_finite());
        let big = LongDouble::parse(b"1.1e4932").unwrap();
        assert!(!(big + big).is_finite(), "overflow to infinity");
        assert_eq!(inf.to_human_string(), "inf");
        assert_eq!(ninf.to_human_string(), "-inf");
    }

    #[test]
    fn timeouts_round_up_in_long_double() {
        let ms = |s: &str| {
            LongDouble::parse(s.as_bytes())
                .unwrap()
                .seconds_to_ms_ceil()
        };
        assert_eq!(ms("0"), Some(0));
        assert_eq!(ms("0.0001"), Some(1));
        assert_eq!(ms("1.5"), Some(1500));
        assert_eq!(ms("-0.0001"), Some(0));
        assert_eq!(ms("-1.0001"), Some(-1000));
        // f64 would round 9223372036854775 * 1000 past i64::MAX.
        assert_eq!(ms("9223372036854775"), Some(9_223_372_036_854_775_000));
        assert_eq!(ms("9223372036854775.807"), Some(i64::MAX));
        assert_eq!(ms("9223372036854775.808"), None);
        assert!(ms("-9223372036854775.808").is_some_and(|v| v < 0));
        assert_eq!(ms("1e400"), None);
        assert_eq!(ms("inf"), None);
        assert_eq!(ms("1e-4000"), Some(1));
    }

    #[test]
    fn integers_are_exact() {
        for n in [0, 1, -1, i64::MAX, i64::MIN, 1 << 53, (1 << 53) + 1] {
            assert_eq!(LongDouble::from_i64(n).to_human_string(), n.to_string());
        }
        let a = LongDouble::from_i64(i64::MIN);
        assert_eq!((a + a).to_human_string(), "-18446744073709551616");
    }

    // Cases carried over from the HINCRBYFLOAT module this one replaced.
    fn incr(a: &str, b: &str) -> Option<String> {
        let x = LongDouble::parse(a.as_bytes())? + LongDouble::parse(b.as_bytes())?;
        x.is_finite().then(|| x.to_human_string())
    }

    #[test]
    fn hincrbyfloat_sums_match_redis() {
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
    fn rejects_like_string2ld() {
        for bad in [
            "", " 1", "1 ", "abc", "1.5e", "nan", "1e5000", "1e-5000", ".", "-", "1e+", "0x",
            "inf1",
        ] {
            assert!(
                LongDouble::parse(bad.as_bytes()).is_none(),
                "{bad:?} should be rejected"
            );
        }
        for good in ["inf", "-inf", "Infinity", "0x1.8p1", "1e-4940", "0.0", "-0"] {
            assert!(
                LongDouble::parse(good.as_bytes()).is_some(),
                "{good:?} should parse"
            );
        }
        assert_eq!(
            LongDouble::parse(b"0x1.8p1").unwrap().to_human_string(),
            "3"
        );
    }

    #[test]
    fn sums_round_to_nearest_even() {
        // 2^64 + 1 is not representable: rounds to 2^64 (tie goes to even).
        let a = LongDouble::parse(b"18446744073709551616").unwrap();
        let one = LongDouble::from_i64(1);
        assert_eq!((a + one).to_human_string(), "18446744073709551616");
        // 2^64 + 3 rounds up to 2^64 + 4.
        let three = LongDouble::from_i64(3);
        assert_eq!((a + three).to_human_string(), "18446744073709551620");
        assert_eq!(
            (LongDouble::from_i64(-5) + LongDouble::from_i64(3)).to_human_string(),
            "-2"
        );
        assert_eq!(
            (LongDouble::from_i64(i64::MIN) + LongDouble::from_i64(-1)).to_human_string(),
            "-9223372036854775809"
        );
    }
}
