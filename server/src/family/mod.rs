//! One file per command family; each declares its rows of the command table.

pub mod bitmaps;
pub mod connection;
pub mod persistence;
pub mod strings;
