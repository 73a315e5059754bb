//! One file per command family; each declares its rows of the command table.

pub mod connection;
pub mod dump;
pub mod persistence;
pub mod strings;
