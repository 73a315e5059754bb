//! One file per command family; each declares its rows of the command table.

pub mod connection;
pub mod hashes;
pub mod lists;
pub mod strings;
