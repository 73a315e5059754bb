//! One file per command family; each declares its rows of the command table.

pub mod bitmaps;
pub mod client;
pub mod command;
pub mod config;
pub mod connection;
pub mod db;
pub mod dump;
pub mod expire;
pub mod hashes;
pub mod hyperloglog;
pub mod info;
pub mod keys;
pub mod latency;
pub mod lists;
pub mod monitor;
pub mod persistence;
pub mod pubsub;
pub mod scan;
pub mod server;
pub mod sets;
pub mod slowlog;
pub mod stream_groups;
pub mod streams;
pub mod strings;
pub mod transactions;
pub mod zsets;
