//! RESP: the request parser (RESP2 multibulk and inline) and reply encoding.

pub mod parser;
pub mod reply;

pub use parser::{ParseLimits, ProtocolError, RequestParser};
pub use reply::Reply;
