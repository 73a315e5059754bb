//! The command table and the shape every handler has.
//!
//! Each family file declares its own rows (`COMMANDS`); `table()` gathers them.
//! Everything else about a command (arity checks, the state gates, COMMAND
//! INFO, key positions for COMMAND GETKEYS) is derived from its row.
//!
//! A handler is pure with respect to I/O: arguments in, a `Reply` out, the
//! keyspace changed only through the door (`ctx.db()`).

pub mod args;
pub mod error;
#[rustfmt::skip]
pub mod meta;
pub mod meta_types;

pub use args::Args;
pub use error::{CmdError, CmdResult};
pub use meta_types::lookup as meta_lookup;

use crate::ctx::Ctx;

pub type Handler = fn(&mut Ctx, &mut Args) -> CmdResult;

/// Command flags (Redis's CMD_*). COMMAND INFO prints their names.
pub mod flags {
    pub const WRITE: u64 = 1 << 0;
    pub const READONLY: u64 = 1 << 1;
    pub const DENYOOM: u64 = 1 << 2;
    pub const MODULE: u64 = 1 << 3;
    pub const ADMIN: u64 = 1 << 4;
    pub const PUBSUB: u64 = 1 << 5;
    pub const NOSCRIPT: u64 = 1 << 6;
    pub const BLOCKING: u64 = 1 << 8;
    pub const LOADING: u64 = 1 << 9;
    pub const STALE: u64 = 1 << 10;
    pub const SKIP_MONITOR: u64 = 1 << 11;
    pub const SKIP_SLOWLOG: u64 = 1 << 12;
    pub const ASKING: u64 = 1 << 13;
    pub const FAST: u64 = 1 << 14;
    pub const NO_AUTH: u64 = 1 << 15;
    pub const MAY_REPLICATE: u64 = 1 << 16;
    pub const SENTINEL: u64 = 1 << 17;
    pub const ONLY_SENTINEL: u64 = 1 << 18;
    pub const NO_MANDATORY_KEYS: u64 = 1 << 19;
    pub const PROTECTED: u64 = 1 << 20;
    pub const MODULE_GETKEYS: u64 = 1 << 21;
    pub const MODULE_NO_CLUSTER: u64 = 1 << 22;
    pub const NO_ASYNC_LOADING: u64 = 1 << 23;
    pub const NO_MULTI: u64 = 1 << 24;
    pub const MOVABLE_KEYS: u64 = 1 << 25;
    pub const ALLOW_BUSY: u64 = 1 << 26;

    /// (bit, name) in the order COMMAND INFO lists them.
    pub const NAMES: &[(u64, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (MODULE, "module"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (ASKING, "asking"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (MAY_REPLICATE, "may_replicate"),
        (NO_MANDATORY_KEYS, "no_mandatory_keys"),
        (NO_ASYNC_LOADING, "no_async_loading"),
        (NO_MULTI, "no_multi"),
        (MOVABLE_KEYS, "movablekeys"),
        (ALLOW_BUSY, "allow_busy"),
    ];
}

/// ACL categories (the explicit ones; @read/@write/@admin/@fast/@slow/
/// @blocking/@dangerous/@pubsub are derived from flags as Redis does).
pub mod acl {
    pub const KEYSPACE: u64 = 1 << 0;
    pub const READ: u64 = 1 << 1;
    pub const WRITE: u64 = 1 << 2;
    pub const SET: u64 = 1 << 3;
    pub const SORTEDSET: u64 = 1 << 4;
    pub const LIST: u64 = 1 << 5;
    pub const HASH: u64 = 1 << 6;
    pub const STRING: u64 = 1 << 7;
    pub const BITMAP: u64 = 1 << 8;
    pub const HYPERLOGLOG: u64 = 1 << 9;
    pub const GEO: u64 = 1 << 10;
    pub const STREAM: u64 = 1 << 11;
    pub const PUBSUB: u64 = 1 << 12;
    pub const ADMIN: u64 = 1 << 13;
    pub const FAST: u64 = 1 << 14;
    pub const SLOW: u64 = 1 << 15;
    pub const BLOCKING: u64 = 1 << 16;
    pub const DANGEROUS: u64 = 1 << 17;
    pub const CONNECTION: u64 = 1 << 18;
    pub const TRANSACTION: u64 = 1 << 19;
    pub const SCRIPTING: u64 = 1 << 20;

    pub const NAMES: &[(u64, &str)] = &[
        (KEYSPACE, "keyspace"),
        (READ, "read"),
        (WRITE, "write"),
        (SET, "set"),
        (SORTEDSET, "sortedset"),
        (LIST, "list"),
        (HASH, "hash"),
        (STRING, "string"),
        (BITMAP, "bitmap"),
        (HYPERLOGLOG, "hyperloglog"),
        (GEO, "geo"),
        (STREAM, "stream"),
        (PUBSUB, "pubsub"),
        (ADMIN, "admin"),
        (FAST, "fast"),
        (SLOW, "slow"),
        (BLOCKING, "blocking"),
        (DANGEROUS, "dangerous"),
        (CONNECTION, "connection"),
        (TRANSACTION, "transaction"),
        (SCRIPTING, "scripting"),
    ];
}

/// Legacy key positions (first, last, step) as COMMAND INFO reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keys {
    pub first: i32,
    pub last: i32,
    pub step: i32,
}

pub const NO_KEYS: Keys = Keys {
    first: 0,
    last: 0,
    step: 0,
};

pub const fn keys(first: i32, last: i32, step: i32) -> Keys {
    Keys { first, last, step }
}

pub struct CommandSpec {
    /// Lower-case name (for a subcommand, just the subcommand: "get" of "config").
    pub name: &'static str,
    /// Redis arity: N means exactly N arguments (name included), -N at least N.
    pub arity: i32,
    pub flags: u64,
    /// Explicit ACL categories; flag-derived ones are added by `acl_categories`.
    pub acl: u64,
    pub keys: Keys,
    /// None for a container whose subcommands carry the handlers.
    pub handler: Option<Handler>,
    pub subcommands: &'static [CommandSpec],
}

impl CommandSpec {
    pub fn has(&self, flag: u64) -> bool {
        self.flags & flag != 0
    }

    pub fn arity_ok(&self, argc: usize) -> bool {
        let a = self.arity;
        (a > 0 && argc == a as usize) || (a < 0 && argc >= (-a) as usize)
    }

    /// The ACL categories including those Redis derives from the flags.
    pub fn acl_categories(&self) -> u64 {
        let mut c = self.acl;
        if self.has(flags::WRITE) {
            c |= acl::WRITE;
        }
        if self.has(flags::READONLY) && c & acl::SCRIPTING == 0 {
            c |= acl::READ;
        }
        if self.has(flags::ADMIN) {
            c |= acl::ADMIN | acl::DANGEROUS;
        }
        if self.has(flags::PUBSUB) {
            c |= acl::PUBSUB;
        }
        if self.has(flags::FAST) {
            c |= acl::FAST;
        }
        if self.has(flags::BLOCKING) {
            c |= acl::BLOCKING;
        }
        if c & acl::FAST == 0 {
            c |= acl::SLOW;
        }
        c
    }

    pub fn subcommand(&self, name: &[u8]) -> Option<&'static CommandSpec> {
        self.subcommands
            .iter()
            .find(|s| s.name.as_bytes().eq_ignore_ascii_case(name))
    }
}

/// A row of a family's table.
pub const fn spec(
    name: &'static str,
    arity: i32,
    flags: u64,
    acl: u64,
    keys: Keys,
    handler: Handler,
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags,
        acl,
        keys,
        handler: Some(handler),
        subcommands: &[],
    }
}

/// A container command (CONFIG, CLIENT, ...) whose subcommands carry handlers.
pub const fn container(
    name: &'static str,
    arity: i32,
    flags: u64,
    acl: u64,
    subcommands: &'static [CommandSpec],
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags,
        acl,
        keys: NO_KEYS,
        handler: None,
        subcommands,
    }
}

/// Every family's rows.
pub fn families() -> Vec<&'static [CommandSpec]> {
    vec![
        crate::family::bitmaps::COMMANDS,
        crate::family::connection::COMMANDS,
        crate::family::dump::COMMANDS,
        crate::family::persistence::COMMANDS,
        crate::family::strings::COMMANDS,
        crate::family::hyperloglog::COMMANDS,
        crate::family::streams::COMMANDS,
        crate::family::stream_groups::COMMANDS,
        crate::family::keys::COMMANDS,
        crate::family::scan::COMMANDS,
        crate::family::expire::COMMANDS,
        crate::family::db::COMMANDS,
        crate::family::command::COMMANDS,
        crate::family::server::COMMANDS,
        crate::family::slowlog::COMMANDS,
        crate::family::latency::COMMANDS,
        crate::family::client::COMMANDS,
        crate::family::monitor::COMMANDS,
        crate::family::transactions::COMMANDS,
        crate::family::pubsub::COMMANDS,
        crate::shutdown::COMMANDS,
        crate::family::config::COMMANDS,
        crate::family::sets::COMMANDS,
        crate::family::zsets::COMMANDS,
        crate::family::lists::COMMANDS,
        crate::family::hashes::COMMANDS,
        crate::family::geo::COMMANDS,
        crate::family::sort::COMMANDS,
        crate::family::scripting::COMMANDS,
    ]
}

/// Name → spec, built once at start-up.
pub struct CommandTable {
    by_name: std::collections::HashMap<Vec<u8>, &'static CommandSpec, NameHash>,
}

/// FNV-1a for command names: every request looks one up, and SipHash cost
/// a few percent of a pipelined batch. Clients only look names up (the
/// table is fixed but for rename-command), so they cannot flood a chain.
#[derive(Clone, Copy, Default)]
pub struct NameHash;

pub struct NameHasher(u64);

impl std::hash::BuildHasher for NameHash {
    type Hasher = NameHasher;
    fn build_hasher(&self) -> NameHasher {
        NameHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for NameHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl Default for CommandTable {
    fn default() -> Self {
        Self::new()
    }
}

impl CommandTable {
    pub fn new() -> CommandTable {
        let mut by_name = std::collections::HashMap::with_hasher(NameHash);
        for family in families() {
            for spec in family {
                by_name.insert(spec.name.as_bytes().to_vec(), spec);
            }
        }
        CommandTable { by_name }
    }

    /// Case-insensitive lookup without allocating for short names.
    pub fn get(&self, name: &[u8]) -> Option<&'static CommandSpec> {
        let mut buf = [0u8; 32];
        if name.len() > buf.len() {
            // Long names exist only through rename-command.
            return self.by_name.get(&name.to_ascii_lowercase()).copied();
        }
        let lower = &mut buf[..name.len()];
        lower.copy_from_slice(name);
        lower.make_ascii_lowercase();
        self.by_name.get(&lower[..]).copied()
    }

    /// `rename-command old new`: an empty new name removes the command.
    pub fn rename(&mut self, old: &[u8], new: &[u8]) -> bool {
        let Some(spec) = self.by_name.remove(&old.to_ascii_lowercase()) else {
            return false;
        };
        if !new.is_empty() {
            self.by_name.insert(new.to_ascii_lowercase(), spec);
        }
        true
    }

    pub fn iter(&self) -> impl Iterator<Item = &'static CommandSpec> + '_ {
        self.by_name.values().copied()
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}
