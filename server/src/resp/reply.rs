//! Replies as handlers return them, and their RESP2/RESP3 encodings.
//!
//! A handler builds a `Reply`; the connection encodes it for the client's
//! protocol version. RESP3-only types degrade to their RESP2 forms as Redis
//! does: maps and sets become flat arrays, doubles become bulk strings,
//! booleans become integers, nulls become `$-1` or `*-1`.

use bytes::Bytes;
use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `+text`
    Status(Cow<'static, str>),
    /// `-text` (the whole line without the dash, e.g. "ERR syntax error").
    Error(Cow<'static, str>),
    Int(i64),
    Bulk(Bytes),
    /// A null bulk string (`$-1` / `_`).
    Nil,
    /// A null array (`*-1` / `_`).
    NilArray,
    Array(Vec<Reply>),
    Map(Vec<(Reply, Reply)>),
    Set(Vec<Reply>),
    Double(f64),
    Bool(bool),
    /// RESP3 verbatim string with its 3-letter format ("txt"); a bulk string in RESP2.
    Verbatim(&'static str, Bytes),
    BigNumber(String),
    /// A double already rendered (e.g. GEOPOS's `%.17Lf` human form): a RESP3
    /// double with this text, a bulk string in RESP2.
    DoubleText(String),
    /// RESP3 push frame; an array in RESP2.
    Push(Vec<Reply>),
    /// An array of bulk strings built in wire form (LRANGE): one buffer
    /// instead of one allocation per element.
    BulkArray(BulkArray),
}

/// An array of bulk strings kept as its RESP encoding (`$len\r\n..\r\n`
/// per element, without the array header), which is the same in RESP2 and
/// RESP3. Invariant: `wire` holds exactly `count` well-formed bulk strings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BulkArray {
    count: usize,
    wire: Vec<u8>,
}

impl BulkArray {
    /// Room for `items` elements of `bytes` bytes in total.
    pub fn with_capacity(items: usize, bytes: usize) -> BulkArray {
        BulkArray {
            count: 0,
            wire: Vec::with_capacity(bytes + items * 8),
        }
    }

    pub fn push(&mut self, b: &[u8]) {
        self.wire.reserve(b.len() + 24);
        self.wire.push(b'$');
        if b.len() < 10 {
            self.wire.push(b'0' + b.len() as u8);
        } else {
            push_int(&mut self.wire, b.len() as i64);
        }
        self.wire.extend_from_slice(b"\r\n");
        self.wire.extend_from_slice(b);
        self.wire.extend_from_slice(b"\r\n");
        self.count += 1;
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The elements, in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let mut at = 0;
        std::iter::from_fn(move || {
            let rest = self.wire.get(at..)?;
            let cr = rest.iter().position(|&c| c == b'\r')?;
            let n: usize = std::str::from_utf8(rest.get(1..cr)?).ok()?.parse().ok()?;
            let item = rest.get(cr + 2..cr + 2 + n)?;
            at += cr + 2 + n + 2;
            Some(item)
        })
    }

    /// As a plain array of bulk strings.
    pub fn to_array(&self) -> Reply {
        Reply::Array(self.iter().map(Reply::bulk_copy).collect())
    }
}

impl Reply {
    pub const OK: Reply = Reply::Status(Cow::Borrowed("OK"));

    pub fn status(s: &'static str) -> Reply {
        Reply::Status(Cow::Borrowed(s))
    }

    pub fn error(s: impl Into<Cow<'static, str>>) -> Reply {
        Reply::Error(s.into())
    }

    pub fn bulk(b: impl Into<Bytes>) -> Reply {
        Reply::Bulk(b.into())
    }

    pub fn bulk_str(s: &str) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()))
    }

    pub fn bulk_copy(b: &[u8]) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(b))
    }

    pub fn ok() -> Reply {
        Reply::OK
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// Encodes for a client speaking protocol `resp` (2 or 3).
    pub fn encode(&self, resp: u8, out: &mut Vec<u8>) {
        match self {
            Reply::Status(s) => {
                out.push(b'+');
                out.extend_from_slice(s.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Reply::Error(s) => {
                out.push(b'-');
                // As Redis's addReplyErrorLength: a newline inside an error
                // would break the protocol, so it becomes a space.
                out.extend(
                    s.bytes()
                        .map(|c| if c == b'\r' || c == b'\n' { b' ' } else { c }),
                );
                out.extend_from_slice(b"\r\n");
            }
            Reply::Int(n) => {
                out.push(b':');
                push_int(out, *n);
                out.extend_from_slice(b"\r\n");
            }
            Reply::Bulk(b) => encode_bulk(out, b),
            Reply::Nil => out.extend_from_slice(if resp >= 3 { b"_\r\n" } else { b"$-1\r\n" }),
            Reply::NilArray => out.extend_from_slice(if resp >= 3 { b"_\r\n" } else { b"*-1\r\n" }),
            Reply::Array(items) => {
                header(out, b'*', items.len());
                for i in items {
                    i.encode(resp, out);
                }
            }
            Reply::BulkArray(a) => {
                header(out, b'*', a.count);
                out.extend_from_slice(&a.wire);
            }
            Reply::Map(pairs) => {
                if resp >= 3 {
                    header(out, b'%', pairs.len());
                } else {
                    header(out, b'*', pairs.len() * 2);
                }
                for (k, v) in pairs {
                    k.encode(resp, out);
                    v.encode(resp, out);
                }
            }
            Reply::Set(items) => {
                header(out, if resp >= 3 { b'~' } else { b'*' }, items.len());
                for i in items {
                    i.encode(resp, out);
                }
            }
            Reply::Push(items) => {
                header(out, if resp >= 3 { b'>' } else { b'*' }, items.len());
                for i in items {
                    i.encode(resp, out);
                }
            }
            Reply::Double(d) => {
                let s = format_double(*d);
                if resp >= 3 {
                    out.push(b',');
                    out.extend_from_slice(s.as_bytes());
                    out.extend_from_slice(b"\r\n");
                } else {
                    encode_bulk(out, s.as_bytes());
                }
            }
            Reply::Bool(b) => {
                if resp >= 3 {
                    out.extend_from_slice(if *b { b"#t\r\n" } else { b"#f\r\n" });
                } else {
                    out.extend_from_slice(if *b { b":1\r\n" } else { b":0\r\n" });
                }
            }
            Reply::Verbatim(fmt, b) => {
                if resp >= 3 {
                    header(out, b'=', b.len() + 4);
                    out.extend_from_slice(fmt.as_bytes());
                    out.push(b':');
                    out.extend_from_slice(b);
                    out.extend_from_slice(b"\r\n");
                } else {
                    encode_bulk(out, b);
                }
            }
            Reply::DoubleText(s) => {
                if resp >= 3 {
                    out.push(b',');
                    out.extend_from_slice(s.as_bytes());
                    out.extend_from_slice(b"\r\n");
                } else {
                    encode_bulk(out, s.as_bytes());
                }
            }
            Reply::BigNumber(s) => {
                if resp >= 3 {
                    out.push(b'(');
                    out.extend_from_slice(s.as_bytes());
                    out.extend_from_slice(b"\r\n");
                } else {
                    encode_bulk(out, s.as_bytes());
                }
            }
        }
    }

    pub fn to_bytes(&self, resp: u8) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(resp, &mut v);
        v
    }
}

impl From<i64> for Reply {
    fn from(n: i64) -> Reply {
        Reply::Int(n)
    }
}

impl From<Vec<u8>> for Reply {
    fn from(v: Vec<u8>) -> Reply {
        Reply::Bulk(Bytes::from(v))
    }
}

impl From<Option<Vec<u8>>> for Reply {
    fn from(v: Option<Vec<u8>>) -> Reply {
        v.map_or(Reply::Nil, |b| Reply::Bulk(Bytes::from(b)))
    }
}

pub fn push_int(out: &mut Vec<u8>, n: i64) {
    let mut buf = [0u8; 24];
    out.extend_from_slice(strata_engine::value::fmt_i64(n, &mut buf));
}

fn header(out: &mut Vec<u8>, kind: u8, len: usize) {
    out.push(kind);
    push_int(out, len as i64);
    out.extend_from_slice(b"\r\n");
}

pub fn encode_bulk(out: &mut Vec<u8>, b: &[u8]) {
    header(out, b'$', b.len());
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
}

/// Redis 7.0's `%.17g` rendering of a double as used by addReplyDouble
/// ("inf", "-inf", "nan" spelled as Redis does).
pub fn format_double(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d.is_nan() {
        // C's printf shows the sign of a NaN (0/0 is negative on x86).
        return if d.is_sign_negative() { "-nan" } else { "nan" }.into();
    }
    format_g17(d)
}

/// C's `%.17g`.
pub fn format_g17(d: f64) -> String {
    format_g(d, 17)
}

/// C's `%.<precision>g` for finite values.
pub fn format_g(d: f64, precision: usize) -> String {
    if d == 0.0 {
        return if d.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let p = precision.max(1);
    // An integer of at most p digits prints as itself (the common case of
    // sorted-set scores; the general path below costs two exact formats).
    if d.fract() == 0.0 && d.abs() < 1e15 && d.abs() < 10f64.powi(p as i32) {
        return (d as i64).to_string();
    }
    // Exponent as %e would print it after rounding to p significant digits.
    let e_repr = format!("{:.*e}", p - 1, d);
    let (mantissa, exp) = match e_repr.split_once('e') {
        Some(parts) => parts,
        None => return e_repr,
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= p as i32 {
        let m = trim_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        trim_zeros(&format!("{:.*}", decimals, d)).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp2_and_resp3_forms() {
        let m = Reply::Map(vec![(Reply::bulk_str("a"), Reply::Int(1))]);
        assert_eq!(m.to_bytes(2), b"*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(m.to_bytes(3), b"%1\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(Reply::Nil.to_bytes(2), b"$-1\r\n");
        assert_eq!(Reply::NilArray.to_bytes(2), b"*-1\r\n");
        assert_eq!(Reply::Nil.to_bytes(3), b"_\r\n");
        assert_eq!(Reply::Double(1.5).to_bytes(3), b",1.5\r\n");
        assert_eq!(Reply::Double(1.5).to_bytes(2), b"$3\r\n1.5\r\n");
        assert_eq!(Reply::Bool(true).to_bytes(2), b":1\r\n");
    }

    #[test]
    fn bulk_array_encodes_as_an_array_of_bulks() {
        let items: [&[u8]; 4] = [b"", b"abc", b"0123456789", b"\r\n$"];
        let mut a = BulkArray::with_capacity(4, 20);
        for i in items {
            a.push(i);
        }
        let plain = Reply::Array(items.iter().map(|i| Reply::bulk_copy(i)).collect());
        for resp in [2, 3] {
            assert_eq!(
                Reply::BulkArray(a.clone()).to_bytes(resp),
                plain.to_bytes(resp)
            );
        }
        assert_eq!(a.len(), 4);
        assert!(a.iter().eq(items.iter().copied()));
        assert_eq!(a.to_array(), plain);
        assert_eq!(
            Reply::BulkArray(BulkArray::default()).to_bytes(2),
            b"*0\r\n"
        );
    }

    #[test]
    fn g17_matches_printf() {
        assert_eq!(format_g17(1.1), "1.1000000000000001");
        assert_eq!(format_g17(3.0), "3");
        assert_eq!(format_g17(1e20), "1e+20");
        assert_eq!(format_g17(1.5e-5), "1.5e-05");
        assert_eq!(format_g17(0.0001), "0.0001");
        assert_eq!(format_g17(123456789.0), "123456789");
        assert_eq!(format_g(10.5, 17), "10.5");
    }

    fn printf_g(d: f64, precision: usize) -> String {
        let mut buf = [0u8; 64];
        // SAFETY: the format takes an int and a double, both passed; the
        // buffer's size is given.
        let n = unsafe {
            libc::snprintf(
                buf.as_mut_ptr() as *mut libc::c_char,
                buf.len(),
                c"%.*g".as_ptr(),
                precision as libc::c_int,
                d,
            )
        };
        String::from_utf8_lossy(&buf[..n as usize]).into_owned()
    }

    #[test]
    fn integers_format_as_printf_does() {
        let mut x: u64 = 7;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let digits = (x % 19) as u32;
            let d =
                (x >> 8) as f64 % 10f64.powi(digits as i32) * if x & 1 == 0 { 1.0 } else { -1.0 };
            let d = d.trunc();
            for p in [1, 3, 6, 15, 17] {
                assert_eq!(format_g(d, p), printf_g(d, p), "{d} at precision {p}");
            }
        }
        for d in [1e15, 1e15 - 1.0, 99999999999999999.0, 2f64.powi(53), -1e16] {
            assert_eq!(format_g17(d), printf_g(d, 17), "{d}");
        }
    }
}
