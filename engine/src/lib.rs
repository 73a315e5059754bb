//! strata-engine: the keyspace and its door, value types and their encodings,
//! expiry and keyspace notifications. Nothing here knows about sockets or RESP.

pub mod dict;
pub mod keyspace;
pub mod notify;
pub mod types;
pub mod value;

pub use keyspace::{DbView, Entry, Keyspace, Lookup, WriteGuard, LOOKUP_DEFAULT, LOOKUP_NOTOUCH, LOOKUP_SILENT};
pub use value::{Encodings, Hash, List, StrValue, Value, ValueType};
