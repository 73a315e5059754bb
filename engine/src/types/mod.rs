//! Collection value types and their compact encodings (one module per type).

pub mod intset;
pub mod set;
pub mod skiplist;
pub mod stream;
pub mod zset;
