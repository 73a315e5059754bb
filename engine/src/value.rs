//! Values stored in the keyspace and the encodings Redis reports for them.
//!
//! Invariant: `mem_bytes` is O(1) for every variant (collections keep a running
//! total), because the door calls it around every write.

use crate::thin::ThinBytes;
use crate::types::set::Set;
use crate::types::stream::Stream;
use crate::types::zset::ZSet;

/// Strings up to this many bytes are "embstr" when created by SET and friends
/// (OBJECT_ENCODING_EMBSTR_SIZE_LIMIT in Redis).
pub const EMBSTR_BYTES_MAX: usize = 44;
/// Longest string that may be encoded as an integer (LONG_STR_SIZE).
pub const INT_STR_BYTES_MAX: usize = 20;

pub use crate::types::hash::Hash;
pub use crate::types::list::List;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(StrValue),
    /// Sets and sorted sets are 8-byte handles: a small one is a single
    /// allocation (see types/tagged.rs).
    Set(Set),
    ZSet(ZSet),
    Stream(Box<Stream>),
    List(Box<List>),
    /// An 8-byte handle, like Set and ZSet.
    Hash(Hash),
}

/// Boxed collections and 8-byte handles keep `Value` at 16 bytes, so a
/// keyspace entry fits jemalloc's 48-byte class (see keyspace.rs).
const _: () = assert!(std::mem::size_of::<Value>() <= 16);

/// The encoding thresholds of the collection types (from the server config:
/// `list-max-listpack-size`, `hash-max-listpack-*`, `set-max-intset-entries`,
/// `zset-max-listpack-*`). Lives in `Shared` so commands and loaders build
/// values the way Redis would; CONFIG SET updates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encodings {
    /// Positive: entries per list node; -1..-5: node size 4..64 KiB.
    pub list_max_listpack_size: i64,
    pub hash_max_listpack_entries: usize,
    /// Longest field or value (bytes) a listpack-encoded hash may hold.
    pub hash_max_listpack_value: usize,
    /// set-max-intset-entries.
    pub set_max_intset_entries: usize,
    /// zset-max-listpack-entries (alias zset-max-ziplist-entries).
    pub zset_max_listpack_entries: usize,
    /// zset-max-listpack-value, in bytes (alias zset-max-ziplist-value).
    pub zset_max_listpack_value: usize,
}

impl Default for Encodings {
    fn default() -> Self {
        // Redis 7.0's built-in defaults (without a redis.conf).
        Encodings {
            list_max_listpack_size: -2,
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum StrValue {
    /// An integer, "int" encoding.
    Int(i64),
    /// A short string created whole, "embstr" encoding.
    Embstr(ThinBytes),
    /// A string that was modified in place (APPEND, SETRANGE, SETBIT) or is long, "raw".
    Raw(ThinBytes),
}

/// Redis's `TYPE` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    String,
    List,
    Set,
    ZSet,
    Hash,
    Stream,
}

impl ValueType {
    pub fn name(self) -> &'static str {
        match self {
            ValueType::String => "string",
            ValueType::List => "list",
            ValueType::Set => "set",
            ValueType::ZSet => "zset",
            ValueType::Hash => "hash",
            ValueType::Stream => "stream",
        }
    }

    /// Parses the `TYPE` argument of SCAN (case-insensitive).
    pub fn parse(name: &[u8]) -> Option<ValueType> {
        let lower = name.to_ascii_lowercase();
        Some(match lower.as_slice() {
            b"string" => ValueType::String,
            b"list" => ValueType::List,
            b"set" => ValueType::Set,
            b"zset" => ValueType::ZSet,
            b"hash" => ValueType::Hash,
            b"stream" => ValueType::Stream,
            _ => return None,
        })
    }
}

impl Value {
    /// Starts loading a string's bytes (a walk about to copy them).
    #[inline]
    pub fn prefetch(&self) {
        if let Value::Str(StrValue::Embstr(b) | StrValue::Raw(b)) = self {
            b.prefetch();
        }
    }

    pub fn value_type(&self) -> ValueType {
        match self {
            Value::Str(_) => ValueType::String,
            Value::Set(_) => ValueType::Set,
            Value::ZSet(_) => ValueType::ZSet,
            Value::Stream(_) => ValueType::Stream,
            Value::List(_) => ValueType::List,
            Value::Hash(_) => ValueType::Hash,
        }
    }

    /// OBJECT ENCODING's answer.
    pub fn encoding_name(&self) -> &'static str {
        match self {
            Value::Str(StrValue::Int(_)) => "int",
            Value::Str(StrValue::Embstr(_)) => "embstr",
            Value::Str(StrValue::Raw(_)) => "raw",
            Value::Set(s) => s.encoding_name(),
            Value::ZSet(z) => z.encoding_name(),
            Value::Stream(_) => "stream",
            Value::List(l) => l.encoding_name(),
            Value::Hash(h) => h.encoding_name(),
        }
    }

    /// An empty collection (the keyspace never holds one; a loader skips it).
    /// Streams may be empty.
    pub fn is_empty_collection(&self) -> bool {
        match self {
            Value::Str(_) => false,
            Value::Set(s) => s.is_empty(),
            Value::ZSet(z) => z.is_empty(),
            Value::Stream(_) => false,
            Value::List(l) => l.is_empty(),
            Value::Hash(h) => h.is_empty(),
        }
    }

    /// Approximate heap bytes held by the value (not counting the entry itself).
    pub fn mem_bytes(&self) -> usize {
        match self {
            Value::Str(StrValue::Int(_)) => 0,
            Value::Str(StrValue::Embstr(b)) => b.capacity() + 8,
            Value::Str(StrValue::Raw(v)) => v.capacity() + 8,
            Value::Set(s) => s.mem_bytes(),
            Value::ZSet(z) => z.mem_bytes(),
            Value::Stream(s) => std::mem::size_of::<Stream>() + s.mem_bytes(),
            Value::List(l) => std::mem::size_of::<List>() + l.mem_bytes(),
            Value::Hash(h) => h.mem_bytes(),
        }
    }

    /// Builds a string value with the encoding Redis's `tryObjectEncoding` picks.
    pub fn string_from(bytes: &[u8]) -> Value {
        Value::Str(StrValue::from_bytes(bytes))
    }

    pub fn from_int(n: i64) -> Value {
        Value::Str(StrValue::Int(n))
    }
}

impl StrValue {
    pub fn from_bytes(bytes: &[u8]) -> StrValue {
        if bytes.len() <= INT_STR_BYTES_MAX {
            if let Some(n) = parse_i64_strict(bytes) {
                return StrValue::Int(n);
            }
        }
        if bytes.len() <= EMBSTR_BYTES_MAX {
            StrValue::Embstr(bytes.into())
        } else {
            StrValue::Raw(ThinBytes::from_slice(bytes))
        }
    }

    /// A string that is never integer-encoded (`createStringObject`).
    pub fn from_bytes_no_int(bytes: &[u8]) -> StrValue {
        if bytes.len() <= EMBSTR_BYTES_MAX {
            StrValue::Embstr(bytes.into())
        } else {
            StrValue::Raw(ThinBytes::from_slice(bytes))
        }
    }

    pub fn len(&self) -> usize {
        match self {
            StrValue::Int(n) => int_len(*n),
            StrValue::Embstr(b) => b.len(),
            StrValue::Raw(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The string's bytes (formats an integer).
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            StrValue::Int(n) => n.to_string().into_bytes(),
            StrValue::Embstr(b) => b.to_vec(),
            StrValue::Raw(v) => v.to_vec(),
        }
    }

    /// Borrowed bytes when not integer-encoded.
    pub fn as_slice(&self) -> Option<&[u8]> {
        match self {
            StrValue::Int(_) => None,
            StrValue::Embstr(b) => Some(b),
            StrValue::Raw(v) => Some(v),
        }
    }

    /// Calls `f` with the bytes without allocating for the common cases.
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            StrValue::Int(n) => {
                let mut buf = itoa_buf();
                let s = fmt_i64(*n, &mut buf);
                f(s)
            }
            StrValue::Embstr(b) => f(b),
            StrValue::Raw(v) => f(v),
        }
    }

    /// Turns the value into a mutable raw buffer (APPEND, SETRANGE, SETBIT).
    pub fn make_raw(&mut self) -> &mut ThinBytes {
        if !matches!(self, StrValue::Raw(_)) {
            *self = StrValue::Raw(ThinBytes::from(self.to_bytes()));
        }
        match self {
            StrValue::Raw(v) => v,
            // Unreachable by construction: the branch above converted it.
            _ => unreachable_raw(),
        }
    }

    /// The value as an integer if it is one (Redis's `getLongLongFromObject`).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            StrValue::Int(n) => Some(*n),
            StrValue::Embstr(b) => parse_i64_strict(b),
            StrValue::Raw(v) => parse_i64_strict(v),
        }
    }
}

#[cold]
fn unreachable_raw() -> ! {
    unreachable!("make_raw converted the value to Raw")
}

fn itoa_buf() -> [u8; 24] {
    [0u8; 24]
}

/// Formats `n` into `buf`, returning the used tail.
pub fn fmt_i64(n: i64, buf: &mut [u8; 24]) -> &[u8] {
    let mut pos = buf.len();
    let neg = n < 0;
    let mut u = n.unsigned_abs();
    loop {
        pos -= 1;
        buf[pos] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    if neg {
        pos -= 1;
        buf[pos] = b'-';
    }
    &buf[pos..]
}

fn int_len(n: i64) -> usize {
    let mut buf = [0u8; 24];
    fmt_i64(n, &mut buf).len()
}

/// Redis's `string2ll`: an optional minus, no leading zeros (except "0"), no
/// spaces or plus sign, within i64.
pub fn parse_i64_strict(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > INT_STR_BYTES_MAX {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || digits[0] == b'0' {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else if v > i64::MAX as u64 {
        None
    } else {
        Some(v as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_integer_parsing_matches_string2ll() {
        assert_eq!(parse_i64_strict(b"0"), Some(0));
        assert_eq!(parse_i64_strict(b"-1"), Some(-1));
        assert_eq!(parse_i64_strict(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64_strict(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64_strict(b"9223372036854775808"), None);
        assert_eq!(parse_i64_strict(b"01"), None);
        assert_eq!(parse_i64_strict(b"-0"), None);
        assert_eq!(parse_i64_strict(b"+1"), None);
        assert_eq!(parse_i64_strict(b" 1"), None);
        assert_eq!(parse_i64_strict(b""), None);
    }

    #[test]
    fn encodings_follow_try_object_encoding() {
        assert_eq!(Value::string_from(b"123").encoding_name(), "int");
        assert_eq!(Value::string_from(b"0123").encoding_name(), "embstr");
        assert_eq!(Value::string_from(&[b'a'; 44]).encoding_name(), "embstr");
        assert_eq!(Value::string_from(&[b'a'; 45]).encoding_name(), "raw");
    }

    #[test]
    fn int_formatting() {
        let mut b = [0u8; 24];
        assert_eq!(fmt_i64(i64::MIN, &mut b), b"-9223372036854775808");
        assert_eq!(StrValue::Int(-42).len(), 3);
    }
}
