//! Collection value types and their compact encodings (one module per type).

pub mod stream;
