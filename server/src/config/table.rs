//! The directive table: every Redis 7.0 configuration directive with its
//! aliases, type, bounds, default and flags. Parsing, CONFIG GET, CONFIG SET
//! and CONFIG REWRITE are all driven by it, so a directive is described once.
//!
//! Invariants: names and aliases are lower case and unique across the table;
//! rows are sorted by name (that is the order CONFIG GET and CONFIG REWRITE
//! use); a numeric default lies within its bounds; an enum default is one of
//! its values.

use std::collections::HashMap;
use std::sync::LazyLock;

/// Directive flags (Redis's *_CONFIG flags).
pub mod flags {
    pub const MODIFIABLE: u32 = 0;
    /// CONFIG SET refuses it: "can't set immutable config".
    pub const IMMUTABLE: u32 = 1 << 0;
    /// Its value is a secret (kept out of logs).
    pub const SENSITIVE: u32 = 1 << 1;
    /// CONFIG SET needs `enable-protected-configs`.
    pub const PROTECTED: u32 = 1 << 2;
    /// Not matched by CONFIG GET patterns, only by its exact name.
    pub const HIDDEN: u32 = 1 << 3;
    /// CONFIG SET refuses it while a dataset is loading.
    pub const DENY_LOADING: u32 = 1 << 4;
    /// Takes several arguments (a single one is split on spaces).
    pub const MULTI_ARG: u32 = 1 << 5;
}
use flags::*;

/// How a number is written: plain, with memory units, memory or a
/// percentage (stored negative), or octal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumFormat {
    Plain,
    Memory,
    MemoryPercent,
    Octal,
}

/// A validator for a string directive: the error text on refusal.
pub type Validator = fn(&[u8]) -> Result<(), &'static str>;

/// The directives with their own parser and formatter (config/special.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    Bind,
    ClientOutputBufferLimit,
    Dir,
    LatencyPercentiles,
    NotifyKeyspaceEvents,
    OomScoreAdjValues,
    Replicaof,
    Save,
}

#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Bool {
        default: bool,
    },
    /// The value is kept as a C `long long`; a bound above `i64::MAX` makes
    /// the range check unsigned, as for Redis's `unsigned long long` configs.
    Num {
        min: i64,
        max: u64,
        default: i64,
        format: NumFormat,
    },
    /// (name, value) pairs; several names may share a value, and the first
    /// name of a value is the one reported.
    Enum {
        names: &'static [(&'static str, u8)],
        default: u8,
    },
    Str {
        default: Option<&'static str>,
        /// An empty value means "not set" (reported as "", never rewritten).
        empty_is_null: bool,
        validate: Option<Validator>,
    },
    Special(Special),
}

#[derive(Debug)]
pub struct Directive {
    pub name: &'static str,
    pub alias: Option<&'static str>,
    pub flags: u32,
    pub kind: Kind,
}

impl Directive {
    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }
}

const EMPTY_IS_NULL: bool = true;
const ALLOW_EMPTY: bool = false;

const fn boolean(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u32,
    default: bool,
) -> Directive {
    Directive {
        name,
        alias,
        flags,
        kind: Kind::Bool { default },
    }
}

const fn num(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u32,
    min: i64,
    max: u64,
    default: i64,
    format: NumFormat,
) -> Directive {
    Directive {
        name,
        alias,
        flags,
        kind: Kind::Num {
            min,
            max,
            default,
            format,
        },
    }
}

const fn int(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u32,
    min: i64,
    max: u64,
    default: i64,
) -> Directive {
    num(name, alias, flags, min, max, default, NumFormat::Plain)
}

const fn memory(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u32,
    min: i64,
    max: u64,
    default: i64,
) -> Directive {
    num(name, alias, flags, min, max, default, NumFormat::Memory)
}

const fn mem_pct(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u32,
    min: i64,
    max: u64,
    default: i64,
) -> Directive {
    num(
        name,
        alias,
        flags,
        min,
        max,
        default,
        NumFormat::MemoryPercent,
    )
}

const fn octal(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u32,
    min: i64,
    max: u64,
    default: i64,
) -> Directive {
    num(name, alias, flags, min, max, default, NumFormat::Octal)
}

const fn enumeration(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u32,
    names: &'static [(&'static str, u8)],
    default: u8,
) -> Directive {
    Directive {
        name,
        alias,
        flags,
        kind: Kind::Enum { names, default },
    }
}

const fn string(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u32,
    default: Option<&'static str>,
    empty_is_null: bool,
    validate: Option<Validator>,
) -> Directive {
    Directive {
        name,
        alias,
        flags,
        kind: Kind::Str {
            default,
            empty_is_null,
            validate,
        },
    }
}

const fn special(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u32,
    which: Special,
) -> Directive {
    Directive {
        name,
        alias,
        flags,
        kind: Kind::Special(which),
    }
}

use super::validate::{
    valid_announced_hostname, valid_aof_dirname, valid_aof_filename, valid_dbfilename,
    valid_proc_title_template,
};

/// Every directive, sorted by name. Defaults are Redis 7.0.15's except
/// `appendonly`, which Strata turns on (shared/DESIGN.md: durable by default).
pub static TABLE: &[Directive] = &[
    enumeration(
        "acl-pubsub-default",
        None,
        MODIFIABLE,
        &[("allchannels", 0), ("resetchannels", 1)],
        1,
    ),
    string("aclfile", None, IMMUTABLE, Some(""), ALLOW_EMPTY, None),
    int(
        "acllog-max-len",
        None,
        MODIFIABLE,
        0,
        9223372036854775807,
        128,
    ),
    int("active-defrag-cycle-max", None, MODIFIABLE, 1, 99, 25),
    int("active-defrag-cycle-min", None, MODIFIABLE, 1, 99, 1),
    memory(
        "active-defrag-ignore-bytes",
        None,
        MODIFIABLE,
        1,
        9223372036854775807,
        104857600,
    ),
    int(
        "active-defrag-max-scan-fields",
        None,
        MODIFIABLE,
        1,
        9223372036854775807,
        1000,
    ),
    int(
        "active-defrag-threshold-lower",
        None,
        MODIFIABLE,
        0,
        1000,
        10,
    ),
    int(
        "active-defrag-threshold-upper",
        None,
        MODIFIABLE,
        0,
        1000,
        100,
    ),
    int("active-expire-effort", None, MODIFIABLE, 1, 10, 1),
    boolean("activedefrag", None, MODIFIABLE, false),
    boolean("activerehashing", None, MODIFIABLE, true),
    boolean("always-show-logo", None, IMMUTABLE, false),
    boolean("aof-disable-auto-gc", None, MODIFIABLE, false),
    boolean("aof-load-truncated", None, MODIFIABLE, true),
    boolean("aof-rewrite-incremental-fsync", None, MODIFIABLE, true),
    boolean("aof-timestamp-enabled", None, MODIFIABLE, false),
    boolean("aof-use-rdb-preamble", None, MODIFIABLE, true),
    string(
        "aof_rewrite_cpulist",
        None,
        IMMUTABLE,
        None,
        EMPTY_IS_NULL,
        None,
    ),
    string(
        "appenddirname",
        None,
        IMMUTABLE,
        Some("appendonlydir"),
        ALLOW_EMPTY,
        Some(valid_aof_dirname),
    ),
    string(
        "appendfilename",
        None,
        IMMUTABLE,
        Some("appendonly.aof"),
        ALLOW_EMPTY,
        Some(valid_aof_filename),
    ),
    enumeration(
        "appendfsync",
        None,
        MODIFIABLE,
        &[("everysec", 0), ("always", 1), ("no", 2)],
        0,
    ),
    boolean("appendonly", None, DENY_LOADING, true),
    memory(
        "auto-aof-rewrite-min-size",
        None,
        MODIFIABLE,
        0,
        9223372036854775807,
        67108864,
    ),
    int(
        "auto-aof-rewrite-percentage",
        None,
        MODIFIABLE,
        0,
        2147483647,
        100,
    ),
    string("bgsave_cpulist", None, IMMUTABLE, None, EMPTY_IS_NULL, None),
    special("bind", None, MULTI_ARG, Special::Bind),
    string(
        "bind-source-addr",
        None,
        MODIFIABLE,
        None,
        EMPTY_IS_NULL,
        None,
    ),
    string("bio_cpulist", None, IMMUTABLE, None, EMPTY_IS_NULL, None),
    int(
        "busy-reply-threshold",
        Some("lua-time-limit"),
        MODIFIABLE,
        0,
        9223372036854775807,
        5000,
    ),
    special(
        "client-output-buffer-limit",
        None,
        MULTI_ARG,
        Special::ClientOutputBufferLimit,
    ),
    memory(
        "client-query-buffer-limit",
        None,
        MODIFIABLE,
        1048576,
        9223372036854775807,
        1073741824,
    ),
    boolean(
        "cluster-allow-pubsubshard-when-down",
        None,
        MODIFIABLE,
        true,
    ),
    boolean("cluster-allow-reads-when-down", None, MODIFIABLE, false),
    boolean("cluster-allow-replica-migration", None, MODIFIABLE, true),
    int("cluster-announce-bus-port", None, MODIFIABLE, 0, 65535, 0),
    string(
        "cluster-announce-hostname",
        None,
        MODIFIABLE,
        None,
        EMPTY_IS_NULL,
        Some(valid_announced_hostname),
    ),
    string(
        "cluster-announce-ip",
        None,
        MODIFIABLE,
        None,
        EMPTY_IS_NULL,
        None,
    ),
    int("cluster-announce-port", None, MODIFIABLE, 0, 65535, 0),
    int("cluster-announce-tls-port", None, MODIFIABLE, 0, 65535, 0),
    string(
        "cluster-config-file",
        None,
        IMMUTABLE,
        Some("nodes.conf"),
        ALLOW_EMPTY,
        None,
    ),
    boolean("cluster-enabled", None, IMMUTABLE, false),
    memory(
        "cluster-link-sendbuf-limit",
        None,
        MODIFIABLE,
        0,
        18446744073709551615,
        0,
    ),
    int(
        "cluster-migration-barrier",
        None,
        MODIFIABLE,
        0,
        2147483647,
        1,
    ),
    int(
        "cluster-node-timeout",
        None,
        MODIFIABLE,
        0,
        9223372036854775807,
        15000,
    ),
    int("cluster-port", None, IMMUTABLE, 0, 65535, 0),
    enumeration(
        "cluster-preferred-endpoint-type",
        None,
        MODIFIABLE,
        &[("ip", 0), ("hostname", 1), ("unknown-endpoint", 2)],
        0,
    ),
    boolean(
        "cluster-replica-no-failover",
        Some("cluster-slave-no-failover"),
        MODIFIABLE,
        false,
    ),
    int(
        "cluster-replica-validity-factor",
        Some("cluster-slave-validity-factor"),
        MODIFIABLE,
        0,
        2147483647,
        10,
    ),
    boolean("cluster-require-full-coverage", None, MODIFIABLE, true),
    boolean("crash-log-enabled", None, MODIFIABLE, true),
    boolean("crash-memcheck-enabled", None, MODIFIABLE, true),
    boolean("daemonize", None, IMMUTABLE, false),
    int("databases", None, IMMUTABLE, 1, 2147483647, 16),
    string(
        "dbfilename",
        None,
        PROTECTED | DENY_LOADING,
        Some("dump.rdb"),
        ALLOW_EMPTY,
        Some(valid_dbfilename),
    ),
    special("dir", None, PROTECTED, Special::Dir),
    boolean("disable-thp", None, IMMUTABLE, true),
    boolean("dynamic-hz", None, MODIFIABLE, true),
    enumeration(
        "enable-debug-command",
        None,
        IMMUTABLE,
        &[("no", 0), ("yes", 1), ("local", 2)],
        0,
    ),
    enumeration(
        "enable-module-command",
        None,
        IMMUTABLE,
        &[("no", 0), ("yes", 1), ("local", 2)],
        0,
    ),
    enumeration(
        "enable-protected-configs",
        None,
        IMMUTABLE,
        &[("no", 0), ("yes", 1), ("local", 2)],
        0,
    ),
    int(
        "hash-max-listpack-entries",
        Some("hash-max-ziplist-entries"),
        MODIFIABLE,
        0,
        9223372036854775807,
        512,
    ),
    memory(
        "hash-max-listpack-value",
        Some("hash-max-ziplist-value"),
        MODIFIABLE,
        0,
        9223372036854775807,
        64,
    ),
    memory(
        "hll-sparse-max-bytes",
        None,
        MODIFIABLE,
        0,
        9223372036854775807,
        3000,
    ),
    int("hz", None, MODIFIABLE, 0, 2147483647, 10),
    string(
        "ignore-warnings",
        None,
        MODIFIABLE,
        Some(""),
        ALLOW_EMPTY,
        None,
    ),
    int("io-threads", None, IMMUTABLE, 1, 128, 1),
    boolean("io-threads-do-reads", None, IMMUTABLE, false),
    boolean("jemalloc-bg-thread", None, MODIFIABLE, true),
    int("key-load-delay", None, HIDDEN, -2147483648, 2147483647, 0),
    int(
        "latency-monitor-threshold",
        None,
        MODIFIABLE,
        0,
        9223372036854775807,
        0,
    ),
    boolean("latency-tracking", None, MODIFIABLE, true),
    special(
        "latency-tracking-info-percentiles",
        None,
        MULTI_ARG,
        Special::LatencyPercentiles,
    ),
    boolean("lazyfree-lazy-eviction", None, MODIFIABLE, false),
    boolean("lazyfree-lazy-expire", None, MODIFIABLE, false),
    boolean("lazyfree-lazy-server-del", None, MODIFIABLE, false),
    boolean("lazyfree-lazy-user-del", None, MODIFIABLE, false),
    boolean("lazyfree-lazy-user-flush", None, MODIFIABLE, false),
    int("lfu-decay-time", None, MODIFIABLE, 0, 2147483647, 1),
    int("lfu-log-factor", None, MODIFIABLE, 0, 2147483647, 10),
    int("list-compress-depth", None, MODIFIABLE, 0, 2147483647, 0),
    int(
        "list-max-listpack-size",
        Some("list-max-ziplist-size"),
        MODIFIABLE,
        -2147483648,
        2147483647,
        -2,
    ),
    int(
        "loading-process-events-interval-bytes",
        None,
        HIDDEN,
        1024,
        2147483647,
        2097152,
    ),
    string("logfile", None, IMMUTABLE, Some(""), ALLOW_EMPTY, None),
    enumeration(
        "loglevel",
        None,
        MODIFIABLE,
        &[("debug", 0), ("verbose", 1), ("notice", 2), ("warning", 3)],
        2,
    ),
    boolean("lua-enable-deprecated-api", None, IMMUTABLE | HIDDEN, false),
    string("masterauth", None, SENSITIVE, None, EMPTY_IS_NULL, None),
    string("masteruser", None, SENSITIVE, None, EMPTY_IS_NULL, None),
    int("maxclients", None, MODIFIABLE, 1, 4294967295, 10000),
    memory("maxmemory", None, MODIFIABLE, 0, 18446744073709551615, 0),
    mem_pct(
        "maxmemory-clients",
        None,
        MODIFIABLE,
        -100,
        9223372036854775807,
        0,
    ),
    int("maxmemory-eviction-tenacity", None, MODIFIABLE, 0, 100, 10),
    enumeration(
        "maxmemory-policy",
        None,
        MODIFIABLE,
        &[
            ("volatile-lru", 0),
            ("volatile-lfu", 1),
            ("volatile-random", 2),
            ("volatile-ttl", 3),
            ("allkeys-lru", 4),
            ("allkeys-lfu", 5),
            ("allkeys-random", 6),
            ("noeviction", 7),
        ],
        7,
    ),
    int("maxmemory-samples", None, MODIFIABLE, 1, 2147483647, 5),
    int(
        "min-replicas-max-lag",
        Some("min-slaves-max-lag"),
        MODIFIABLE,
        0,
        2147483647,
        10,
    ),
    int(
        "min-replicas-to-write",
        Some("min-slaves-to-write"),
        MODIFIABLE,
        0,
        2147483647,
        0,
    ),
    boolean("no-appendfsync-on-rewrite", None, MODIFIABLE, false),
    special(
        "notify-keyspace-events",
        None,
        MODIFIABLE,
        Special::NotifyKeyspaceEvents,
    ),
    enumeration(
        "oom-score-adj",
        None,
        MODIFIABLE,
        &[("no", 0), ("yes", 1), ("relative", 1), ("absolute", 2)],
        0,
    ),
    special(
        "oom-score-adj-values",
        None,
        MULTI_ARG,
        Special::OomScoreAdjValues,
    ),
    string("pidfile", None, IMMUTABLE, None, EMPTY_IS_NULL, None),
    int("port", None, MODIFIABLE, 0, 65535, 6379),
    string(
        "proc-title-template",
        None,
        MODIFIABLE,
        Some("{title} {listen-addr} {server-mode}"),
        ALLOW_EMPTY,
        Some(valid_proc_title_template),
    ),
    enumeration(
        "propagation-error-behavior",
        None,
        MODIFIABLE,
        &[("ignore", 0), ("panic", 1), ("panic-on-replicas", 2)],
        0,
    ),
    boolean("protected-mode", None, MODIFIABLE, true),
    memory(
        "proto-max-bulk-len",
        None,
        MODIFIABLE,
        1048576,
        9223372036854775807,
        536870912,
    ),
    boolean("rdb-del-sync-files", None, MODIFIABLE, false),
    int(
        "rdb-key-save-delay",
        None,
        HIDDEN,
        -2147483648,
        2147483647,
        0,
    ),
    boolean("rdb-save-incremental-fsync", None, MODIFIABLE, true),
    boolean("rdbchecksum", None, IMMUTABLE, true),
    boolean("rdbcompression", None, MODIFIABLE, true),
    memory(
        "repl-backlog-size",
        None,
        MODIFIABLE,
        1,
        9223372036854775807,
        1048576,
    ),
    int(
        "repl-backlog-ttl",
        None,
        MODIFIABLE,
        0,
        9223372036854775807,
        3600,
    ),
    boolean("repl-disable-tcp-nodelay", None, MODIFIABLE, false),
    enumeration(
        "repl-diskless-load",
        None,
        DENY_LOADING,
        &[("disabled", 0), ("on-empty-db", 1), ("swapdb", 2)],
        0,
    ),
    boolean("repl-diskless-sync", None, MODIFIABLE, true),
    int(
        "repl-diskless-sync-delay",
        None,
        MODIFIABLE,
        0,
        2147483647,
        5,
    ),
    int(
        "repl-diskless-sync-max-replicas",
        None,
        MODIFIABLE,
        0,
        2147483647,
        0,
    ),
    int(
        "repl-ping-replica-period",
        Some("repl-ping-slave-period"),
        MODIFIABLE,
        1,
        2147483647,
        10,
    ),
    int("repl-timeout", None, MODIFIABLE, 1, 2147483647, 60),
    string(
        "replica-announce-ip",
        Some("slave-announce-ip"),
        MODIFIABLE,
        None,
        EMPTY_IS_NULL,
        None,
    ),
    int(
        "replica-announce-port",
        Some("slave-announce-port"),
        MODIFIABLE,
        0,
        65535,
        0,
    ),
    boolean("replica-announced", None, MODIFIABLE, true),
    boolean("replica-ignore-disk-write-errors", None, MODIFIABLE, false),
    boolean(
        "replica-ignore-maxmemory",
        Some("slave-ignore-maxmemory"),
        MODIFIABLE,
        true,
    ),
    boolean(
        "replica-lazy-flush",
        Some("slave-lazy-flush"),
        MODIFIABLE,
        false,
    ),
    int(
        "replica-priority",
        Some("slave-priority"),
        MODIFIABLE,
        0,
        2147483647,
        100,
    ),
    boolean(
        "replica-read-only",
        Some("slave-read-only"),
        MODIFIABLE,
        true,
    ),
    boolean(
        "replica-serve-stale-data",
        Some("slave-serve-stale-data"),
        MODIFIABLE,
        true,
    ),
    special(
        "replicaof",
        Some("slaveof"),
        IMMUTABLE | MULTI_ARG,
        Special::Replicaof,
    ),
    string("requirepass", None, SENSITIVE, None, EMPTY_IS_NULL, None),
    enumeration(
        "sanitize-dump-payload",
        None,
        MODIFIABLE,
        &[("no", 0), ("yes", 1), ("clients", 2)],
        0,
    ),
    special("save", None, MULTI_ARG, Special::Save),
    string("server_cpulist", None, IMMUTABLE, None, EMPTY_IS_NULL, None),
    int(
        "set-max-intset-entries",
        None,
        MODIFIABLE,
        0,
        9223372036854775807,
        512,
    ),
    boolean("set-proc-title", None, IMMUTABLE, true),
    enumeration(
        "shutdown-on-sigint",
        None,
        MODIFIABLE,
        &[
            ("default", 0),
            ("save", 1),
            ("nosave", 2),
            ("now", 3),
            ("force", 4),
        ],
        0,
    ),
    enumeration(
        "shutdown-on-sigterm",
        None,
        MODIFIABLE,
        &[
            ("default", 0),
            ("save", 1),
            ("nosave", 2),
            ("now", 3),
            ("force", 4),
        ],
        0,
    ),
    int("shutdown-timeout", None, MODIFIABLE, 0, 2147483647, 10),
    int(
        "slowlog-log-slower-than",
        None,
        MODIFIABLE,
        -1,
        9223372036854775807,
        10000,
    ),
    int(
        "slowlog-max-len",
        None,
        MODIFIABLE,
        0,
        9223372036854775807,
        128,
    ),
    int("socket-mark-id", None, IMMUTABLE, 0, 4294967295, 0),
    boolean("stop-writes-on-bgsave-error", None, MODIFIABLE, true),
    memory(
        "stream-node-max-bytes",
        None,
        MODIFIABLE,
        0,
        9223372036854775807,
        4096,
    ),
    int(
        "stream-node-max-entries",
        None,
        MODIFIABLE,
        0,
        9223372036854775807,
        100,
    ),
    enumeration(
        "supervised",
        None,
        IMMUTABLE,
        &[("upstart", 0), ("systemd", 1), ("auto", 2), ("no", 3)],
        3,
    ),
    boolean("syslog-enabled", None, IMMUTABLE, false),
    enumeration(
        "syslog-facility",
        None,
        IMMUTABLE,
        &[
            ("user", 0),
            ("local0", 1),
            ("local1", 2),
            ("local2", 3),
            ("local3", 4),
            ("local4", 5),
            ("local5", 6),
            ("local6", 7),
            ("local7", 8),
        ],
        1,
    ),
    string(
        "syslog-ident",
        None,
        IMMUTABLE,
        Some("redis"),
        ALLOW_EMPTY,
        None,
    ),
    int("tcp-backlog", None, IMMUTABLE, 0, 2147483647, 511),
    int("tcp-keepalive", None, MODIFIABLE, 0, 2147483647, 300),
    int("timeout", None, MODIFIABLE, 0, 2147483647, 0),
    enumeration(
        "tls-auth-clients",
        None,
        MODIFIABLE,
        &[("no", 0), ("yes", 1), ("optional", 2)],
        1,
    ),
    string(
        "tls-ca-cert-dir",
        None,
        MODIFIABLE,
        None,
        EMPTY_IS_NULL,
        None,
    ),
    string(
        "tls-ca-cert-file",
        None,
        MODIFIABLE,
        None,
        EMPTY_IS_NULL,
        None,
    ),
    string("tls-cert-file", None, MODIFIABLE, None, EMPTY_IS_NULL, None),
    string("tls-ciphers", None, MODIFIABLE, None, EMPTY_IS_NULL, None),
    string(
        "tls-ciphersuites",
        None,
        MODIFIABLE,
        None,
        EMPTY_IS_NULL,
        None,
    ),
    string(
        "tls-client-cert-file",
        None,
        MODIFIABLE,
        None,
        EMPTY_IS_NULL,
        None,
    ),
    string(
        "tls-client-key-file",
        None,
        MODIFIABLE,
        None,
        EMPTY_IS_NULL,
        None,
    ),
    string(
        "tls-client-key-file-pass",
        None,
        SENSITIVE,
        None,
        EMPTY_IS_NULL,
        None,
    ),
    boolean("tls-cluster", None, MODIFIABLE, false),
    string(
        "tls-dh-params-file",
        None,
        MODIFIABLE,
        None,
        EMPTY_IS_NULL,
        None,
    ),
    string("tls-key-file", None, MODIFIABLE, None, EMPTY_IS_NULL, None),
    string(
        "tls-key-file-pass",
        None,
        SENSITIVE,
        None,
        EMPTY_IS_NULL,
        None,
    ),
    int("tls-port", None, MODIFIABLE, 0, 65535, 0),
    boolean("tls-prefer-server-ciphers", None, MODIFIABLE, false),
    string("tls-protocols", None, MODIFIABLE, None, EMPTY_IS_NULL, None),
    boolean("tls-replication", None, MODIFIABLE, false),
    int(
        "tls-session-cache-size",
        None,
        MODIFIABLE,
        0,
        2147483647,
        20480,
    ),
    int(
        "tls-session-cache-timeout",
        None,
        MODIFIABLE,
        0,
        2147483647,
        300,
    ),
    boolean("tls-session-caching", None, MODIFIABLE, true),
    int(
        "tracking-table-max-keys",
        None,
        MODIFIABLE,
        0,
        9223372036854775807,
        1000000,
    ),
    string("unixsocket", None, IMMUTABLE, None, EMPTY_IS_NULL, None),
    octal("unixsocketperm", None, IMMUTABLE, 0, 0o777, 0o0),
    boolean("use-exit-on-panic", None, HIDDEN, false),
    int("watchdog-period", None, HIDDEN, 0, 2147483647, 0),
    int(
        "zset-max-listpack-entries",
        Some("zset-max-ziplist-entries"),
        MODIFIABLE,
        0,
        9223372036854775807,
        128,
    ),
    memory(
        "zset-max-listpack-value",
        Some("zset-max-ziplist-value"),
        MODIFIABLE,
        0,
        9223372036854775807,
        64,
    ),
];

/// Directives Redis 7.0 still accepts in a config file and ignores:
/// (name, minimum and maximum argument count including the name).
pub const DEPRECATED: &[(&str, usize, usize)] = &[
    ("list-max-ziplist-entries", 2, 2),
    ("list-max-ziplist-value", 2, 2),
    ("lua-replicate-commands", 2, 2),
];

/// What a name resolved to: the row and whether the name was its alias.
#[derive(Debug, Clone, Copy)]
pub struct Found {
    pub idx: usize,
    /// The name as the table spells it (the alias when looked up by alias).
    pub name: &'static str,
    pub is_alias: bool,
}

impl Found {
    pub fn directive(&self) -> &'static Directive {
        &TABLE[self.idx]
    }
}

static BY_NAME: LazyLock<HashMap<&'static str, Found>> = LazyLock::new(|| {
    let mut m = HashMap::with_capacity(TABLE.len() * 2);
    for (idx, d) in TABLE.iter().enumerate() {
        m.insert(
            d.name,
            Found {
                idx,
                name: d.name,
                is_alias: false,
            },
        );
        if let Some(a) = d.alias {
            m.insert(
                a,
                Found {
                    idx,
                    name: a,
                    is_alias: true,
                },
            );
        }
    }
    m
});

/// Longest directive name; longer inputs cannot match.
const NAME_BYTES_MAX: usize = 64;

/// Case-insensitive lookup by name or alias.
pub fn lookup(name: &[u8]) -> Option<Found> {
    if name.len() > NAME_BYTES_MAX {
        return None;
    }
    let lower = std::str::from_utf8(name).ok()?.to_ascii_lowercase();
    BY_NAME.get(lower.as_str()).copied()
}

/// Index of a directive by its exact primary name (for code that reads values).
pub fn index_of(name: &str) -> Option<usize> {
    BY_NAME.get(name).filter(|f| !f.is_alias).map(|f| f.idx)
}

/// Every (name, row) pair, aliases included, in table order.
pub fn all_names() -> impl Iterator<Item = Found> {
    TABLE.iter().enumerate().flat_map(|(idx, d)| {
        std::iter::once(Found {
            idx,
            name: d.name,
            is_alias: false,
        })
        .chain(d.alias.map(|a| Found {
            idx,
            name: a,
            is_alias: true,
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_unique_and_consistent() {
        let mut seen = std::collections::HashSet::new();
        for w in TABLE.windows(2) {
            assert!(w[0].name < w[1].name, "{} before {}", w[0].name, w[1].name);
        }
        for d in TABLE {
            assert!(seen.insert(d.name), "duplicate {}", d.name);
            if let Some(a) = d.alias {
                assert!(seen.insert(a), "duplicate alias {a}");
            }
            assert_eq!(d.name, d.name.to_ascii_lowercase());
            match d.kind {
                Kind::Num {
                    min, max, default, ..
                } => {
                    assert!(default >= min, "{}", d.name);
                    assert!(max > i64::MAX as u64 || default <= max as i64, "{}", d.name);
                }
                Kind::Enum { names, default } => {
                    assert!(names.iter().any(|(_, v)| *v == default), "{}", d.name)
                }
                _ => {}
            }
        }
        // Redis 7.0.15 reports 192 names through CONFIG GET * plus 6 hidden ones.
        assert_eq!(all_names().count(), 198);
        assert_eq!(
            all_names().filter(|f| !f.directive().has(HIDDEN)).count(),
            192
        );
    }

    #[test]
    fn lookup_by_alias_any_case() {
        let f = lookup(b"SLAVEOF").unwrap();
        assert_eq!(f.name, "slaveof");
        assert!(f.is_alias);
        assert_eq!(f.directive().name, "replicaof");
        assert!(lookup(b"nosuch").is_none());
        assert_eq!(index_of("hz").map(|i| TABLE[i].name), Some("hz"));
    }
}
