//! One file per command family; each declares its rows of the command table.

pub mod connection;
pub mod db;
pub mod expire;
pub mod keys;
pub mod scan;
pub mod strings;
