//! Command errors: the reply line Redis sends, without the leading dash.
//! A command error replies and keeps the connection open.

use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdError(pub Cow<'static, str>);

pub type CmdResult = Result<crate::resp::Reply, CmdError>;

impl CmdError {
    pub fn new(msg: impl Into<Cow<'static, str>>) -> CmdError {
        CmdError(msg.into())
    }

    pub fn message(&self) -> &str {
        &self.0
    }

    pub fn syntax() -> CmdError {
        CmdError::new("ERR syntax error")
    }

    pub fn wrong_type() -> CmdError {
        CmdError::new("WRONGTYPE Operation against a key holding the wrong kind of value")
    }

    pub fn not_integer() -> CmdError {
        CmdError::new("ERR value is not an integer or out of range")
    }

    pub fn not_float() -> CmdError {
        CmdError::new("ERR value is not a valid float")
    }

    pub fn no_such_key() -> CmdError {
        CmdError::new("ERR no such key")
    }

    pub fn out_of_range(what: &str) -> CmdError {
        CmdError::new(format!("ERR {what} is out of range"))
    }

    pub fn wrong_arity(name: &str) -> CmdError {
        CmdError::new(format!(
            "ERR wrong number of arguments for '{name}' command"
        ))
    }

    pub fn overflow() -> CmdError {
        CmdError::new("ERR increment or decrement would overflow")
    }

    pub fn invalid_expire(cmd: &str) -> CmdError {
        CmdError::new(format!("ERR invalid expire time in '{cmd}' command"))
    }

    /// The first word, used by INFO errorstats ("ERR", "WRONGTYPE", ...).
    pub fn code(&self) -> &str {
        self.0.split(' ').next().unwrap_or("ERR")
    }
}
