//! strata-server: configuration, the event loop, RESP, the command table with
//! one file per command family, and the state the executor thread owns.

pub mod aof;
pub mod blocking;
pub mod blocking_streams;
pub mod client;
pub mod clock;
pub mod commands;
pub mod config;
pub mod ctx;
pub mod dispatch;
pub mod family;
pub mod hooks;
pub mod introspect;
pub mod latency;
pub mod lazyfree;
pub mod log;
pub mod lookahead;
pub mod memory;
pub mod multi;
pub mod net;
pub mod persist;
pub mod propagate;
pub mod pubsub;
pub mod resp;
pub mod scripting;
pub mod server;
pub mod shutdown;
pub mod slowlog;
pub mod util;

/// The Redis version Strata reports and matches.
pub const REDIS_VERSION: &str = "7.0.15";
pub const STRATA_VERSION: &str = env!("CARGO_PKG_VERSION");
