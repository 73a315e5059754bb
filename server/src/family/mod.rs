//! One file per command family; each declares its rows of the command table.

pub mod config;
pub mod connection;
pub mod strings;
