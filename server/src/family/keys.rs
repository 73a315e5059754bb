//! Generic keyspace commands: DEL, UNLINK, EXISTS, TYPE, KEYS, RANDOMKEY,
//! TOUCH, RENAME, RENAMENX, MOVE, COPY, OBJECT. SCAN lives in `scan.rs`, TTL
//! commands in `expire.rs`, whole-database commands in `db.rs`.
//!
//! Every read and write goes through the keyspace door, which does lazy
//! expiry, WATCH signals, "new"/"expired" events and the dirty counter of
//! single-key writes. Commands that move entries (RENAME, MOVE, COPY) count
//! one change, as Redis does, and emit their own events after the door's "new".
//! The lookups use the flags Redis uses for each command, so hit/miss
//! statistics, keymiss events and LRU/LFU touches match.

use bytes::Bytes;

use super::db::parse_db_index;
use crate::commands::{
    acl, container, flags::*, keys, spec, Args, CmdError, CmdResult, CommandSpec, NO_KEYS,
};
use crate::ctx::Ctx;
use crate::resp::Reply;
use crate::util::glob::glob_match;
use strata_engine::notify;
use strata_engine::{Lookup, StrValue, Value, LOOKUP_DEFAULT, LOOKUP_NOTOUCH, LOOKUP_WRITE};

pub const COMMANDS: &[CommandSpec] = &[
    spec("del", -2, WRITE, acl::KEYSPACE, keys(1, -1, 1), del),
    spec(
        "unlink",
        -2,
        WRITE | FAST,
        acl::KEYSPACE,
        keys(1, -1, 1),
        unlink,
    ),
    spec(
        "exists",
        -2,
        READONLY | FAST,
        acl::KEYSPACE,
        keys(1, -1, 1),
        exists,
    ),
    spec(
        "type",
        2,
        READONLY | FAST,
        acl::KEYSPACE,
        keys(1, 1, 1),
        type_cmd,
    ),
    spec(
        "keys",
        2,
        READONLY,
        acl::KEYSPACE | acl::DANGEROUS,
        NO_KEYS,
        keys_cmd,
    ),
    spec("randomkey", 1, READONLY, acl::KEYSPACE, NO_KEYS, randomkey),
    spec(
        "touch",
        -2,
        READONLY | FAST,
        acl::KEYSPACE,
        keys(1, -1, 1),
        touch,
    ),
    spec("rename", 3, WRITE, acl::KEYSPACE, keys(1, 2, 1), rename),
    spec(
        "renamenx",
        3,
        WRITE | FAST,
        acl::KEYSPACE,
        keys(1, 2, 1),
        renamenx,
    ),
    spec(
        "move",
        3,
        WRITE | FAST,
        acl::KEYSPACE,
        keys(1, 1, 1),
        move_cmd,
    ),
    spec(
        "copy",
        -3,
        WRITE | DENYOOM,
        acl::KEYSPACE,
        keys(1, 2, 1),
        copy,
    ),
    container("object", -2, 0, 0, OBJECT_SUBCOMMANDS),
];

const OBJECT_SUBCOMMANDS: &[CommandSpec] = &[
    spec(
        "encoding",
        3,
        READONLY,
        acl::KEYSPACE,
        keys(2, 2, 1),
        object_encoding,
    ),
    spec(
        "freq",
        3,
        READONLY,
        acl::KEYSPACE,
        keys(2, 2, 1),
        object_freq,
    ),
    spec(
        "help",
        2,
        LOADING | STALE,
        acl::KEYSPACE,
        NO_KEYS,
        object_help,
    ),
    spec(
        "idletime",
        3,
        READONLY,
        acl::KEYSPACE,
        keys(2, 2, 1),
        object_idletime,
    ),
    spec(
        "refcount",
        3,
        READONLY,
        acl::KEYSPACE,
        keys(2, 2, 1),
        object_refcount,
    ),
];

/// OBJECT's lookup: no touch, no keymiss event, but hits and misses count.
const LOOKUP_OBJECT: Lookup = Lookup {
    no_touch: true,
    no_stats: false,
    no_notify: true,
};

/// Integers in 0..SHARED_INTEGERS are Redis's shared objects (OBJ_SHARED_INTEGERS).
const SHARED_INTEGERS: i64 = 10_000;
/// OBJECT REFCOUNT of a shared object (OBJ_SHARED_REFCOUNT, INT_MAX).
const SHARED_REFCOUNT: i64 = i32::MAX as i64;

fn same_object() -> CmdError {
    CmdError::new("ERR source and destination objects are the same")
}

fn db_out_of_range() -> CmdError {
    CmdError::new("ERR DB index is out of range")
}

// ---- DEL, UNLINK, EXISTS, TOUCH, TYPE ----

fn del(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let lazy = ctx.srv.config.lazyfree_lazy_user_del;
    delete_keys(ctx, args, lazy)
}

fn unlink(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    delete_keys(ctx, args, true)
}

/// DEL and UNLINK: `lazy` sends big values to the lazyfree thread.
fn delete_keys(ctx: &mut Ctx, args: &mut Args, lazy: bool) -> CmdResult {
    let keys = args.rest();
    let srv = &mut *ctx.srv;
    let mut db = srv.keyspace.db(ctx.client.db);
    let mut removed = 0;
    for key in &keys {
        if let Some(value) = db.remove(key) {
            if lazy {
                srv.lazyfree.free_value(value);
            }
            db.notify(notify::GENERIC, "del", key);
            removed += 1;
        }
    }
    Ok(Reply::Int(removed))
}

/// Counts existing keys; a key named twice counts twice.
fn exists(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    count_found(ctx, args, LOOKUP_NOTOUCH)
}

/// Like EXISTS, but updates the keys' access time.
fn touch(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    count_found(ctx, args, LOOKUP_DEFAULT)
}

fn count_found(ctx: &mut Ctx, args: &mut Args, how: Lookup) -> CmdResult {
    let keys = args.rest();
    let mut db = ctx.db();
    let found = keys.iter().filter(|k| db.lookup(k, how).is_some()).count();
    Ok(Reply::Int(found as i64))
}

fn type_cmd(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let name = ctx
        .db()
        .lookup(&key, LOOKUP_NOTOUCH)
        .map_or("none", |e| e.value.value_type().name());
    Ok(Reply::status(name))
}

// ---- KEYS, RANDOMKEY (SCAN is in scan.rs) ----

fn keys_cmd(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let pattern = args.next()?;
    let all = &pattern[..] == b"*";
    let db = ctx.db();
    let mut out = Vec::new();
    // Keys whose TTL passed are skipped but not deleted (KEYS does not write).
    db.for_each(|key, _| {
        if (all || glob_match(&pattern, key, false)) && !db.is_key_expired(key) {
            out.push(Reply::bulk_copy(key));
        }
    });
    Ok(Reply::Array(out))
}

fn randomkey(ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    Ok(ctx
        .db()
        .random_key()
        .map_or(Reply::Nil, |k| Reply::bulk_copy(&k)))
}

// ---- RENAME, RENAMENX, MOVE, COPY ----

fn rename(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    rename_generic(ctx, args, false)
}

fn renamenx(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    rename_generic(ctx, args, true)
}

fn rename_generic(ctx: &mut Ctx, args: &mut Args, nx: bool) -> CmdResult {
    let src = args.key()?;
    let dst = args.key()?;
    let mut db = ctx.db();
    if src == dst {
        // Nothing moves, but a missing source is still an error.
        if db.lookup(&src, LOOKUP_WRITE).is_none() {
            return Err(CmdError::no_such_key());
        }
        return Ok(if nx { Reply::Int(0) } else { Reply::OK });
    }
    if !db.exists(&src) {
        return Err(CmdError::no_such_key());
    }
    if nx && db.lookup(&dst, LOOKUP_WRITE).is_some() {
        db.lookup(&src, LOOKUP_WRITE);
        return Ok(Reply::Int(0));
    }
    let Some(entry) = db.detach(&src) else {
        return Err(CmdError::no_such_key());
    };
    // The overwritten destination value (if any) is freed here, synchronously,
    // as Redis's dbDelete does by default.
    drop(db.attach(&dst, entry));
    db.notify(notify::GENERIC, "rename_from", &src);
    db.notify(notify::GENERIC, "rename_to", &dst);
    db.add_dirty(1);
    Ok(if nx { Reply::Int(1) } else { Reply::OK })
}

fn move_cmd(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let target = parse_db_index(&args.next()?, None)?;
    if target < 0 || target as usize >= ctx.srv.keyspace.db_count() {
        return Err(db_out_of_range());
    }
    let (src, dst) = (ctx.client.db, target as usize);
    if src == dst {
        return Err(same_object());
    }
    if !ctx.db().exists(&key) {
        return Ok(Reply::Int(0));
    }
    if ctx.db_at(dst).lookup(&key, LOOKUP_WRITE).is_some() {
        ctx.db().lookup(&key, LOOKUP_WRITE);
        return Ok(Reply::Int(0));
    }
    let Some(entry) = ctx.db().detach(&key) else {
        return Ok(Reply::Int(0));
    };
    drop(ctx.db_at(dst).attach(&key, entry));
    ctx.db().notify(notify::GENERIC, "move_from", &key);
    ctx.db_at(dst).notify(notify::GENERIC, "move_to", &key);
    ctx.db().add_dirty(1);
    Ok(Reply::Int(1))
}

/// COPY's options: `[DB destination-db] [REPLACE]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyOptions {
    /// Destination database; None means the client's database.
    pub db: Option<i64>,
    pub replace: bool,
}

impl CopyOptions {
    /// Parses the options; `db_count` bounds the DB index. Errors come in
    /// argument order, as in Redis.
    pub fn parse(opts: &[Bytes], db_count: usize) -> Result<CopyOptions, CmdError> {
        let mut out = CopyOptions {
            db: None,
            replace: false,
        };
        let mut i = 0;
        while i < opts.len() {
            let opt = &opts[i];
            if opt.eq_ignore_ascii_case(b"replace") {
                out.replace = true;
            } else if opt.eq_ignore_ascii_case(b"db") && i + 1 < opts.len() {
                let id = parse_db_index(&opts[i + 1], None)?;
                if id < 0 || id as usize >= db_count {
                    return Err(db_out_of_range());
                }
                out.db = Some(id);
                i += 1;
            } else {
                return Err(CmdError::syntax());
            }
            i += 1;
        }
        Ok(out)
    }
}

fn copy(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let src_key = args.key()?;
    let dst_key = args.key()?;
    let opts = CopyOptions::parse(&args.rest(), ctx.srv.keyspace.db_count())?;
    let dst = opts.db.map_or(ctx.client.db, |d| d as usize);
    if dst == ctx.client.db && src_key == dst_key {
        return Err(same_object());
    }
    let expire_at = {
        let mut db = ctx.db();
        if db.get(&src_key).is_none() {
            return Ok(Reply::Int(0));
        }
        db.expire_at(&src_key)
    };
    if ctx.db_at(dst).lookup(&dst_key, LOOKUP_WRITE).is_some() && !opts.replace {
        return Ok(Reply::Int(0));
    }
    let Some(value) = ctx.db().peek(&src_key).map(|e| e.value.clone()) else {
        return Ok(Reply::Int(0));
    };
    let mut db = ctx.db_at(dst);
    drop(db.attach_copy(&dst_key, value, expire_at));
    db.notify(notify::GENERIC, "copy_to", &dst_key);
    db.add_dirty(1);
    Ok(Reply::Int(1))
}

// ---- OBJECT ----

fn object_encoding(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    Ok(ctx
        .db()
        .lookup(&key, LOOKUP_OBJECT)
        .map_or(Reply::Nil, |e| Reply::bulk_str(e.value.encoding_name())))
}

fn object_refcount(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let shared_allowed = shared_integers_allowed(ctx);
    let mut db = ctx.db();
    let Some(entry) = db.lookup(&key, LOOKUP_OBJECT) else {
        return Ok(Reply::Nil);
    };
    // Redis stores small integers as one shared object (refcount INT_MAX),
    // except in a duplicate made by COPY or when the eviction policy needs
    // per-key access data; every other value has a single owner.
    let shared = shared_allowed
        && !entry.is_private_copy()
        && matches!(entry.value, Value::Str(StrValue::Int(n)) if (0..SHARED_INTEGERS).contains(&n));
    Ok(Reply::Int(if shared { SHARED_REFCOUNT } else { 1 }))
}

/// Shared integers are not used when maxmemory is set with an LRU or LFU
/// policy (MAXMEMORY_FLAG_NO_SHARED_INTEGERS).
fn shared_integers_allowed(ctx: &Ctx) -> bool {
    let policy = &ctx.srv.config.maxmemory_policy;
    ctx.srv.config.maxmemory_bytes == 0 || !(policy.ends_with("-lru") || policy.ends_with("-lfu"))
}

fn object_idletime(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let mut db = ctx.db();
    let Some(lru) = db.lookup(&key, LOOKUP_OBJECT).map(|e| e.lru()) else {
        return Ok(Reply::Nil);
    };
    if db.shared().lfu {
        return Err(CmdError::new(
            "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
        ));
    }
    Ok(Reply::Int(db.shared().idle_seconds(lru) as i64))
}

fn object_freq(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let mut db = ctx.db();
    let Some(lru) = db.lookup(&key, LOOKUP_OBJECT).map(|e| e.lru()) else {
        return Ok(Reply::Nil);
    };
    if !db.shared().lfu {
        return Err(CmdError::new(
            "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
        ));
    }
    Ok(Reply::Int(i64::from(db.shared().lfu_decayed(lru))))
}

const OBJECT_HELP: &[&str] = &[
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
];

fn object_help(_ctx: &mut Ctx, _args: &mut Args) -> CmdResult {
    Ok(Reply::Array(
        OBJECT_HELP.iter().map(|l| Reply::status(l)).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(items: &[&str]) -> Vec<Bytes> {
        items
            .iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    #[test]
    fn copy_options() {
        assert_eq!(
            CopyOptions::parse(&[], 16),
            Ok(CopyOptions {
                db: None,
                replace: false
            })
        );
        assert_eq!(
            CopyOptions::parse(&b(&["REPLACE", "db", "3"]), 16),
            Ok(CopyOptions {
                db: Some(3),
                replace: true
            })
        );
        assert_eq!(CopyOptions::parse(&b(&["db"]), 16), Err(CmdError::syntax()));
        assert_eq!(
            CopyOptions::parse(&b(&["db", "16"]), 16),
            Err(db_out_of_range())
        );
        assert_eq!(
            CopyOptions::parse(&b(&["db", "-1"]), 16),
            Err(db_out_of_range())
        );
        assert_eq!(
            CopyOptions::parse(&b(&["db", "x"]), 16),
            Err(CmdError::not_integer())
        );
        assert!(CopyOptions::parse(&b(&["db", "99999999999"]), 16)
            .unwrap_err()
            .message()
            .starts_with("ERR value is out of range"));
        // Errors come in argument order.
        assert_eq!(
            CopyOptions::parse(&b(&["db", "x", "bogus"]), 16),
            Err(CmdError::not_integer())
        );
        assert_eq!(
            CopyOptions::parse(&b(&["bogus", "db", "x"]), 16),
            Err(CmdError::syntax())
        );
    }
}
