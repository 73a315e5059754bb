//! strata-engine: the keyspace and its door, value types and their encodings,
//! expiry and keyspace notifications. Nothing here knows about sockets or RESP.

pub mod dict;
pub mod hll;
pub mod keyspace;
pub mod notify;
pub mod prefetch;
pub mod snapshot;
pub mod thin;
pub mod types;
pub mod value;

pub use keyspace::{
    DbView, Detached, Entry, Keyspace, Lookup, WriteGuard, LOOKUP_DEFAULT, LOOKUP_NOTOUCH,
    LOOKUP_SILENT, LOOKUP_WRITE,
};
pub use types::set::Set;
pub use types::zset::ZSet;
pub use value::{Encodings, Hash, List, StrValue, Value, ValueType};
