//! One file per command family; each declares its rows of the command table.

pub mod command;
pub mod connection;
pub mod info;
pub mod latency;
pub mod server;
pub mod slowlog;
pub mod strings;
