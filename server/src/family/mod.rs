//! One file per command family; each declares its rows of the command table.

pub mod connection;
pub mod strings;
pub mod command;
