//! The append-only file: Redis 7's multi-part layout (a manifest naming one
//! base file and incr files in `appenddirname`) and the command stream format
//! (RESP arrays, optional `#TS:` annotations).

pub mod dir;
pub mod manifest;
pub mod reader;
pub mod rewrite;
pub mod writer;
