//! Lua scripting as Redis 7.0 has it: EVAL scripts (a SHA1-keyed cache in
//! one Lua VM) and FUNCTION libraries (a second VM), run atomically on the
//! executor thread.
//!
//! - `engine`: building a sandboxed VM (the libraries Redis loads, the
//!   read-only globals, the error handler, `pcall`).
//! - `redis_api`: the `redis` table (`redis.call` and friends).
//! - `lua`: conversions between Lua values and replies, RESP2 and RESP3.
//! - `run`: running one script or function: the run context, the fake
//!   client, the instruction hook (busy state, SCRIPT KILL), the result.
//! - `functions`: libraries, their metadata, DUMP/RESTORE payloads.
//! - `libs`: cjson, cmsgpack, struct and bit, written in Rust.
//!
//! Invariants:
//! - At most one script runs at a time (`Scripting::running`); while it
//!   runs, the keyspace clock stays where it was when the script started.
//! - Every table reachable from a VM's globals is read-only (a patched
//!   Lua 5.1, vendor/lua-src), so a script cannot change what the next
//!   script sees.
//! - Effects replication: a script's writes are the commands it ran;
//!   `RunningScript::writes` counts them so the AOF/replication feed can
//!   wrap them in MULTI/EXEC when it exists.

pub mod engine;
pub mod functions;
pub mod libs;
pub mod lua;
pub mod rand48;
pub mod redis_api;
pub mod run;

use std::collections::HashMap;
use std::time::Instant;

use bytes::Bytes;
use sha1::{Digest, Sha1};

use crate::commands::{flags, CmdError, CommandSpec};
use crate::server::Server;

/// Redis's script flags (shebang `flags=` and function flags).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScriptFlags {
    pub no_writes: bool,
    pub allow_oom: bool,
    pub allow_stale: bool,
    pub no_cluster: bool,
    pub allow_cross_slot_keys: bool,
    /// An EVAL script without a shebang (Redis's SCRIPT_FLAG_EVAL_COMPAT_MODE).
    pub legacy: bool,
}

impl ScriptFlags {
    /// Names in Redis's order (FUNCTION LIST prints them so).
    pub fn names(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.no_writes {
            v.push("no-writes");
        }
        if self.allow_oom {
            v.push("allow-oom");
        }
        if self.allow_stale {
            v.push("allow-stale");
        }
        if self.no_cluster {
            v.push("no-cluster");
        }
        if self.allow_cross_slot_keys {
            v.push("allow-cross-slot-keys");
        }
        v
    }

    /// Sets the flag called `name`; false if there is no such flag.
    pub fn set(&mut self, name: &[u8]) -> bool {
        match name {
            b"no-writes" => self.no_writes = true,
            b"allow-oom" => self.allow_oom = true,
            b"allow-stale" => self.allow_stale = true,
            b"no-cluster" => self.no_cluster = true,
            b"allow-cross-slot-keys" => self.allow_cross_slot_keys = true,
            _ => return false,
        }
        true
    }
}

/// One cached EVAL script.
pub struct Script {
    pub body: Bytes,
    pub func: mlua::Function,
    pub flags: ScriptFlags,
}

/// The EVAL side: its VM and the script cache.
pub struct EvalEngine {
    pub lua: mlua::Lua,
    /// By lower-case hex SHA1.
    pub scripts: HashMap<String, Script>,
    /// Bytes of the cached bodies (INFO used_memory_scripts_eval).
    pub scripts_bytes: usize,
}

/// What runs now, for BUSY replies, SCRIPT KILL and FUNCTION STATS.
pub struct RunningScript {
    /// The SHA1 of an EVAL script or the name of a function.
    pub name: String,
    pub is_eval: bool,
    /// The caller's command (FUNCTION STATS "command").
    pub argv: Vec<Bytes>,
    pub started: Instant,
    pub flags: ScriptFlags,
    /// EVAL_RO / FCALL_RO, or the no-writes flag.
    pub read_only: bool,
    /// A write command ran: SCRIPT KILL is refused from then on.
    pub wrote: bool,
    /// Write commands run so far (effects replication).
    pub writes: u64,
    /// Past busy-reply-threshold: other clients get -BUSY.
    pub timed_out: bool,
    /// SCRIPT KILL / FUNCTION KILL asked the script to stop.
    pub kill: bool,
    /// The client `redis.call` runs commands as (None while one runs).
    pub client: Option<Box<crate::client::Client>>,
}

pub struct Scripting {
    pub eval: EvalEngine,
    pub functions: functions::Functions,
    pub running: Option<RunningScript>,
}

impl Scripting {
    pub fn new() -> Scripting {
        Scripting {
            eval: EvalEngine {
                lua: engine::new_vm(engine::VmKind::Eval),
                scripts: HashMap::new(),
                scripts_bytes: 0,
            },
            functions: functions::Functions::new(),
            running: None,
        }
    }

    /// SCRIPT FLUSH: a new VM and an empty cache.
    pub fn flush_eval(&mut self) {
        self.eval = EvalEngine {
            lua: engine::new_vm(engine::VmKind::Eval),
            scripts: HashMap::new(),
            scripts_bytes: 0,
        };
    }

    /// Whether the keyspace clock must stay still (a script runs).
    pub fn clock_frozen(&self) -> bool {
        self.running.is_some()
    }
}

impl Default for Scripting {
    fn default() -> Self {
        Self::new()
    }
}

/// Lower-case hex SHA1 (script names, `redis.sha1hex`).
pub fn sha1_hex(data: &[u8]) -> String {
    let digest = Sha1::digest(data);
    let mut s = String::with_capacity(40);
    for b in digest.iter() {
        s.push(char::from_digit((b >> 4) as u32, 16).unwrap_or('0'));
        s.push(char::from_digit((b & 15) as u32, 16).unwrap_or('0'));
    }
    s
}

/// "-BUSY ..." for a client whose command may not run while a script is
/// past busy-reply-threshold (the dispatch gate).
pub fn busy_gate(
    srv: &Server,
    spec: &CommandSpec,
    parent: Option<&CommandSpec>,
) -> Result<(), CmdError> {
    let Some(run) = &srv.scripting.running else {
        return Ok(());
    };
    let allowed = spec.flags & flags::ALLOW_BUSY != 0
        || parent.is_some_and(|p| p.flags & flags::ALLOW_BUSY != 0 && p.subcommands.is_empty());
    if !run.timed_out || allowed {
        return Ok(());
    }
    Err(busy_error(run.is_eval))
}

/// Redis's slowevalerr / slowscripterr.
pub fn busy_error(is_eval: bool) -> CmdError {
    CmdError::new(if is_eval {
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
    } else {
        "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
    })
}

/// Parses an EVAL script's `#!lua [flags=a,b]` line. Returns the flags and
/// where the code starts (the newline ending the shebang, so line numbers
/// stay as the user wrote them). A body without a shebang is legacy.
pub fn parse_eval_shebang(body: &[u8]) -> Result<(ScriptFlags, usize), CmdError> {
    if !body.starts_with(b"#!") {
        return Ok((
            ScriptFlags {
                legacy: true,
                ..Default::default()
            },
            0,
        ));
    }
    let Some(end) = body.iter().position(|&b| b == b'\n') else {
        return Err(CmdError::new("ERR Invalid script shebang"));
    };
    let line = &body[..end];
    let mut parts = line
        .split(|&b| b == b' ')
        .filter(|p| !p.is_empty())
        .peekable();
    let engine = parts.next().unwrap_or(b"");
    if engine != b"#!lua" {
        return Err(CmdError::new(format!(
            "ERR Unexpected engine in script shebang: {}",
            String::from_utf8_lossy(engine)
        )));
    }
    let mut flags = ScriptFlags::default();
    for part in parts {
        let Some(list) = part.strip_prefix(b"flags=") else {
            return Err(CmdError::new(format!(
                "ERR Unknown lua shebang option: {}",
                String::from_utf8_lossy(part)
            )));
        };
        if list.is_empty() {
            continue;
        }
        for f in list.split(|&b| b == b',') {
            if !flags.set(f) {
                return Err(CmdError::new(format!(
                    "ERR Unexpected flag in script shebang: {}",
                    String::from_utf8_lossy(f)
                )));
            }
        }
    }
    Ok((flags, end))
}

/// Compiles (or finds) an EVAL script; returns its SHA1.
pub fn load_eval_script(srv: &mut Server, body: &Bytes) -> Result<String, CmdError> {
    let sha = sha1_hex(body);
    if srv.scripting.eval.scripts.contains_key(&sha) {
        return Ok(sha);
    }
    let (flags, start) = parse_eval_shebang(body)?;
    let func = engine::compile(
        &srv.scripting.eval.lua,
        &body[start..],
        "@user_script",
        None,
    )
    .map_err(|msg| CmdError::new(format!("ERR Error compiling script (new function): {msg}")))?;
    srv.scripting.eval.scripts_bytes += body.len();
    srv.scripting.eval.scripts.insert(
        sha.clone(),
        Script {
            body: body.clone(),
            func,
            flags,
        },
    );
    Ok(sha)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_of_empty_string() {
        assert_eq!(sha1_hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    }

    #[test]
    fn shebang_flags_and_errors() {
        let (f, start) = parse_eval_shebang(b"#!lua flags=no-writes,allow-oom\nreturn 1").unwrap();
        assert!(f.no_writes && f.allow_oom && !f.legacy);
        assert_eq!(start, 31);
        let (f, start) = parse_eval_shebang(b"return 1").unwrap();
        assert!(f.legacy);
        assert_eq!(start, 0);
        assert_eq!(
            parse_eval_shebang(b"#!lua flags=no-writes,,x\n")
                .unwrap_err()
                .0,
            "ERR Unexpected flag in script shebang: "
        );
        assert_eq!(
            parse_eval_shebang(b"#!js\n").unwrap_err().0,
            "ERR Unexpected engine in script shebang: #!js"
        );
        assert_eq!(
            parse_eval_shebang(b"#!lua name=x\n").unwrap_err().0,
            "ERR Unknown lua shebang option: name=x"
        );
        assert_eq!(
            parse_eval_shebang(b"#!lua").unwrap_err().0,
            "ERR Invalid script shebang"
        );
    }
}
