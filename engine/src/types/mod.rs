//! Collection value types and their compact encodings.

pub mod intset;
pub mod set;
pub mod skiplist;
pub mod zset;
