//! One file per command family; each declares its rows of the command table.

pub mod client;
pub mod connection;
pub mod db;
pub mod dump;
pub mod expire;
pub mod keys;
pub mod monitor;
pub mod persistence;
pub mod scan;
pub mod strings;
