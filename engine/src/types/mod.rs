//! Collection value types and their compact encodings (one module per type).

pub mod hash;
pub mod intset;
pub mod list;
pub mod packed;
pub mod set;
pub mod skiplist;
pub mod stream;
pub mod tagged;
pub mod zset;
