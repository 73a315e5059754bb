//! DUMP and RESTORE: values as RDB payloads (interchangeable with Redis).

use bytes::Bytes;

use crate::commands::{
    acl, args::parse_i64, flags::*, keys, spec, Args, CmdError, CmdResult, CommandSpec,
};
use crate::ctx::Ctx;
use crate::resp::Reply;
use strata_engine::notify;
use strata_persistence::rdb::dump::{self, RestoreError};

pub const COMMANDS: &[CommandSpec] = &[
    spec("dump", 2, READONLY, acl::KEYSPACE, keys(1, 1, 1), dump_cmd),
    spec(
        "restore",
        -4,
        WRITE | DENYOOM,
        acl::KEYSPACE | acl::DANGEROUS,
        keys(1, 1, 1),
        restore,
    ),
];

fn dump_cmd(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let compress = ctx.srv.config.rdbcompression;
    Ok(match ctx.db().get(&key) {
        None => Reply::Nil,
        Some(v) => Reply::Bulk(Bytes::from(dump::dump(v, compress))),
    })
}

struct RestoreOptions {
    replace: bool,
    absttl: bool,
    idle_s: Option<u64>,
    freq: Option<u8>,
}

impl RestoreOptions {
    fn parse(args: &mut Args) -> Result<RestoreOptions, CmdError> {
        let mut o = RestoreOptions {
            replace: false,
            absttl: false,
            idle_s: None,
            freq: None,
        };
        while !args.is_empty() {
            if args.eat("replace") {
                o.replace = true;
            } else if args.eat("absttl") {
                o.absttl = true;
            } else if o.freq.is_none() && args.remaining() >= 2 && args.eat("idletime") {
                let n = parse_i64(&args.next()?)?;
                if n < 0 {
                    return Err(CmdError::new("ERR Invalid IDLETIME value, must be >= 0"));
                }
                o.idle_s = Some(n as u64);
            } else if o.idle_s.is_none() && args.remaining() >= 2 && args.eat("freq") {
                let n = parse_i64(&args.next()?)?;
                if !(0..=255).contains(&n) {
                    return Err(CmdError::new(
                        "ERR Invalid FREQ value, must be >= 0 and <= 255",
                    ));
                }
                o.freq = Some(n as u8);
            } else {
                return Err(CmdError::syntax());
            }
        }
        Ok(o)
    }
}

fn restore(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    // Redis's order: options, BUSYKEY, TTL, payload checks.
    let key = args.key()?;
    let ttl_arg = args.next()?;
    let payload = args.next()?;
    let opts = RestoreOptions::parse(args)?;
    if !opts.replace && ctx.db().exists(&key) {
        return Err(CmdError::new("BUSYKEY Target key name already exists."));
    }
    let ttl = parse_i64(&ttl_arg)?;
    if ttl < 0 {
        return Err(CmdError::new("ERR Invalid TTL value, must be >= 0"));
    }
    let value = dump::restore(&payload, true).map_err(|e| match e {
        RestoreError::VersionOrChecksum => {
            CmdError::new("ERR DUMP payload version or checksum are wrong")
        }
        RestoreError::BadFormat => CmdError::new("ERR Bad data format"),
    })?;
    let now = ctx.now_ms();
    let expire_at = match (ttl, opts.absttl) {
        (0, _) => None,
        (t, true) => Some(t as u64),
        (t, false) => Some(now.saturating_add(t as u64)),
    };
    let mut db = ctx.db();
    let deleted = opts.replace && db.remove(&key).is_some();
    if let Some(at) = expire_at {
        if at <= now {
            // Already expired: the key is not created; a replaced one is gone.
            if deleted {
                db.notify(notify::GENERIC, "del", &key);
            }
            return Ok(Reply::OK);
        }
    }
    db.set(&key, value, false);
    if let Some(at) = expire_at {
        db.set_expire_at(&key, at);
    }
    db.set_access(&key, opts.idle_s, opts.freq);
    db.notify(notify::GENERIC, "restore", &key);
    Ok(Reply::OK)
}
