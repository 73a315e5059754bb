//! One file per command family; each declares its rows of the command table.

pub mod bitmaps;
pub mod client;
pub mod command;
pub mod connection;
pub mod db;
pub mod dump;
pub mod expire;
pub mod info;
pub mod keys;
pub mod latency;
pub mod monitor;
pub mod persistence;
pub mod scan;
pub mod scripting;
pub mod server;
pub mod slowlog;
pub mod strings;
