//! Key expiry commands: EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (with NX, XX,
//! GT, LT), TTL, PTTL, EXPIRETIME, PEXPIRETIME, PERSIST.
//!
//! Times are Unix milliseconds as `i64` while computing, as Redis does, so the
//! overflow checks and the GT/LT comparisons follow its arithmetic; the door
//! stores them as `u64` (a past time is clamped to 0, which is just as past).
//! Setting a time that has already passed deletes the key ("del" event),
//! except while loading or on a replica (the door's `expire_deletes`), where
//! the key keeps the past time and waits for the master's DEL.

use bytes::Bytes;

use crate::commands::args::parse_i64;
use crate::commands::{acl, flags::*, keys, spec, Args, CmdError, CmdResult, CommandSpec};
use crate::ctx::Ctx;
use crate::resp::Reply;
use strata_engine::notify;
use strata_engine::{LOOKUP_NOTOUCH, LOOKUP_WRITE};

pub const COMMANDS: &[CommandSpec] = &[
    spec(
        "expire",
        -3,
        WRITE | FAST,
        acl::KEYSPACE,
        keys(1, 1, 1),
        expire,
    ),
    spec(
        "pexpire",
        -3,
        WRITE | FAST,
        acl::KEYSPACE,
        keys(1, 1, 1),
        pexpire,
    ),
    spec(
        "expireat",
        -3,
        WRITE | FAST,
        acl::KEYSPACE,
        keys(1, 1, 1),
        expireat,
    ),
    spec(
        "pexpireat",
        -3,
        WRITE | FAST,
        acl::KEYSPACE,
        keys(1, 1, 1),
        pexpireat,
    ),
    spec("ttl", 2, READONLY | FAST, acl::KEYSPACE, keys(1, 1, 1), ttl),
    spec(
        "pttl",
        2,
        READONLY | FAST,
        acl::KEYSPACE,
        keys(1, 1, 1),
        pttl,
    ),
    spec(
        "expiretime",
        2,
        READONLY | FAST,
        acl::KEYSPACE,
        keys(1, 1, 1),
        expiretime,
    ),
    spec(
        "pexpiretime",
        2,
        READONLY | FAST,
        acl::KEYSPACE,
        keys(1, 1, 1),
        pexpiretime,
    ),
    spec(
        "persist",
        2,
        WRITE | FAST,
        acl::KEYSPACE,
        keys(1, 1, 1),
        persist,
    ),
];

/// The condition options of the EXPIRE family.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ExpireCondition {
    /// Only if the key has no TTL.
    pub nx: bool,
    /// Only if the key has a TTL.
    pub xx: bool,
    /// Only if the new time is later than the current one (no TTL counts as infinite).
    pub gt: bool,
    /// Only if the new time is earlier than the current one (no TTL counts as infinite).
    pub lt: bool,
}

impl ExpireCondition {
    /// Parses the options after the time. Unknown options are reported
    /// before conflicts, conflicts before the time is even parsed.
    pub fn parse(opts: &[Bytes]) -> Result<ExpireCondition, CmdError> {
        let mut c = ExpireCondition::default();
        for opt in opts {
            if opt.eq_ignore_ascii_case(b"nx") {
                c.nx = true;
            } else if opt.eq_ignore_ascii_case(b"xx") {
                c.xx = true;
            } else if opt.eq_ignore_ascii_case(b"gt") {
                c.gt = true;
            } else if opt.eq_ignore_ascii_case(b"lt") {
                c.lt = true;
            } else {
                // Redis formats the option with %s (it ends at a NUL byte) and
                // addReplyErrorFormat turns line breaks into spaces.
                let text = opt.split(|&b| b == 0).next().unwrap_or_default();
                let text = String::from_utf8_lossy(text).replace(['\r', '\n'], " ");
                return Err(CmdError::new(format!("ERR Unsupported option {text}")));
            }
        }
        if c.nx && (c.xx || c.gt || c.lt) {
            return Err(CmdError::new(
                "ERR NX and XX, GT or LT options at the same time are not compatible",
            ));
        }
        if c.gt && c.lt {
            return Err(CmdError::new(
                "ERR GT and LT options at the same time are not compatible",
            ));
        }
        Ok(c)
    }

    /// Whether `when` may replace `current` (None: the key has no TTL).
    pub fn allows(&self, current: Option<i64>, when: i64) -> bool {
        if self.nx && current.is_some() {
            return false;
        }
        if self.xx && current.is_none() {
            return false;
        }
        if self.gt && current.is_none_or(|cur| when <= cur) {
            return false;
        }
        if self.lt && current.is_some_and(|cur| when >= cur) {
            return false;
        }
        true
    }
}

/// Turns the command's time argument into absolute Unix ms; None on overflow.
/// `base_ms` is now for EXPIRE/PEXPIRE and 0 for the *AT forms.
pub fn absolute_ms(value: i64, seconds: bool, base_ms: i64) -> Option<i64> {
    let ms = if seconds {
        value.checked_mul(1000)?
    } else {
        value
    };
    ms.checked_add(base_ms)
}

fn expire(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    expire_generic(ctx, args, "expire", true, true)
}

fn pexpire(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    expire_generic(ctx, args, "pexpire", true, false)
}

fn expireat(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    expire_generic(ctx, args, "expireat", false, true)
}

fn pexpireat(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    expire_generic(ctx, args, "pexpireat", false, false)
}

fn expire_generic(
    ctx: &mut Ctx,
    args: &mut Args,
    name: &str,
    relative: bool,
    seconds: bool,
) -> CmdResult {
    let key = args.key()?;
    let time = args.next()?;
    let cond = ExpireCondition::parse(&args.rest())?;
    let value = parse_i64(&time)?;
    let now = ctx.now_ms() as i64;
    let base = if relative { now } else { 0 };
    let when = absolute_ms(value, seconds, base).ok_or_else(|| CmdError::invalid_expire(name))?;
    let mut db = ctx.db();
    if db.lookup(&key, LOOKUP_WRITE).is_none() {
        return Ok(Reply::Int(0));
    }
    let current = db.expire_at(&key).map(|at| at.min(i64::MAX as u64) as i64);
    if !cond.allows(current, when) {
        return Ok(Reply::Int(0));
    }
    if when <= now && db.shared().expire_deletes {
        // Already expired: delete now (counts one change, signals WATCHers).
        db.remove(&key);
        db.notify(notify::GENERIC, "del", &key);
        ctx.propagate_as(vec![Bytes::from_static(b"DEL"), key]);
        return Ok(Reply::Int(1));
    }
    db.set_expire_at(&key, when.max(0) as u64);
    db.notify(notify::GENERIC, "expire", &key);
    // Propagated as an absolute time, whatever form the client used.
    ctx.propagate_as(vec![
        Bytes::from_static(b"PEXPIREAT"),
        key,
        Bytes::from(when.max(0).to_string()),
    ]);
    Ok(Reply::Int(1))
}

fn ttl(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    ttl_generic(ctx, args, false, false)
}

fn pttl(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    ttl_generic(ctx, args, true, false)
}

fn expiretime(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    ttl_generic(ctx, args, false, true)
}

fn pexpiretime(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    ttl_generic(ctx, args, true, true)
}

/// -2 for a missing key, -1 without a TTL; otherwise the remaining time
/// (`absolute`: the expiry time) in ms, or in seconds rounded to nearest.
fn ttl_generic(ctx: &mut Ctx, args: &mut Args, millis: bool, absolute: bool) -> CmdResult {
    let key = args.key()?;
    let now = ctx.now_ms() as i64;
    let mut db = ctx.db();
    if db.lookup(&key, LOOKUP_NOTOUCH).is_none() {
        return Ok(Reply::Int(-2));
    }
    let Some(at) = db.expire_at(&key) else {
        return Ok(Reply::Int(-1));
    };
    let at = at.min(i64::MAX as u64) as i64;
    let ms = if absolute {
        at
    } else {
        at.saturating_sub(now).max(0)
    };
    Ok(Reply::Int(if millis { ms } else { round_ms_to_s(ms) }))
}

/// Milliseconds to seconds, rounding half up, without overflowing near i64::MAX.
fn round_ms_to_s(ms: i64) -> i64 {
    ((i128::from(ms) + 500) / 1000) as i64
}

fn persist(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let mut db = ctx.db();
    if db.lookup(&key, LOOKUP_WRITE).is_none() || !db.persist(&key) {
        return Ok(Reply::Int(0));
    }
    db.notify(notify::GENERIC, "persist", &key);
    Ok(Reply::Int(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(opts: &[&str]) -> Result<ExpireCondition, CmdError> {
        let v: Vec<Bytes> = opts
            .iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect();
        ExpireCondition::parse(&v)
    }

    #[test]
    fn option_parsing_and_conflicts() {
        assert_eq!(parse(&[]), Ok(ExpireCondition::default()));
        assert_eq!(
            parse(&["Nx", "nx"]),
            Ok(ExpireCondition {
                nx: true,
                ..Default::default()
            })
        );
        assert_eq!(
            parse(&["xx", "GT"]),
            Ok(ExpireCondition {
                xx: true,
                gt: true,
                ..Default::default()
            })
        );
        let nx_err = Err(CmdError::new(
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ));
        assert_eq!(parse(&["nx", "xx"]), nx_err);
        assert_eq!(parse(&["lt", "nx"]), nx_err);
        assert_eq!(
            parse(&["nx", "gt", "lt"]),
            nx_err,
            "NX conflicts are reported first"
        );
        assert_eq!(
            parse(&["gt", "lt"]),
            Err(CmdError::new(
                "ERR GT and LT options at the same time are not compatible"
            ))
        );
        assert_eq!(
            parse(&["nx", "foo", "xx"]),
            Err(CmdError::new("ERR Unsupported option foo"))
        );
        assert_eq!(
            parse(&["a\r\nb"]),
            Err(CmdError::new("ERR Unsupported option a  b"))
        );
    }

    #[test]
    fn conditions_treat_no_ttl_as_infinite() {
        let c = |opts: &[&str]| parse(opts).unwrap();
        assert!(c(&["nx"]).allows(None, 5));
        assert!(!c(&["nx"]).allows(Some(1), 5));
        assert!(!c(&["xx"]).allows(None, 5));
        assert!(c(&["xx"]).allows(Some(1), 5));
        assert!(!c(&["gt"]).allows(None, 5));
        assert!(c(&["gt"]).allows(Some(4), 5));
        assert!(!c(&["gt"]).allows(Some(5), 5));
        assert!(c(&["lt"]).allows(None, 5));
        assert!(c(&["lt"]).allows(None, -5));
        assert!(!c(&["lt"]).allows(Some(5), 5));
        assert!(c(&["lt"]).allows(Some(6), 5));
        assert!(!c(&["xx", "lt"]).allows(None, 5));
    }

    #[test]
    fn absolute_time_overflow() {
        assert_eq!(absolute_ms(10, true, 1_000), Some(11_000));
        assert_eq!(absolute_ms(-10, true, 1_000), Some(-9_000));
        assert_eq!(absolute_ms(i64::MAX / 1000 + 1, true, 0), None);
        assert_eq!(absolute_ms(i64::MIN / 1000 - 1, true, 0), None);
        assert_eq!(absolute_ms(i64::MAX, false, 0), Some(i64::MAX));
        assert_eq!(absolute_ms(i64::MAX, false, 1), None);
        assert_eq!(absolute_ms(i64::MIN, false, 5), Some(i64::MIN + 5));
    }

    #[test]
    fn seconds_round_half_up() {
        assert_eq!(round_ms_to_s(1499), 1);
        assert_eq!(round_ms_to_s(1500), 2);
        assert_eq!(round_ms_to_s(0), 0);
        assert_eq!(round_ms_to_s(i64::MAX), 9_223_372_036_854_776);
    }
}
