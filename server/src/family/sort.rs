//! SORT and SORT_RO (Redis 7.0): sorts a list, set or sorted set numerically
//! or (ALPHA) by bytes, optionally by external keys (`BY pattern`, with
//! `hash->field`), fetches `GET` patterns, applies `LIMIT`, and replies or
//! (SORT only) STOREs a list. The checks run in Redis's order: option syntax
//! first, then the source type, then score conversion.
//!
//! Invariants: the comparison is Redis's sortCompare: numeric scores with the
//! element's bytes breaking ties (so the order is total), or bytes for ALPHA;
//! with ALPHA BY a missing external value sorts first. Elements are copied
//! out of the source before any pattern lookup. Ties (only possible under
//! ALPHA BY) come out as Redis's: stable for a full sort, its partial
//! quicksort's order when BY and LIMIT narrow the range (see pqsort.rs).

use bytes::Bytes;

use super::pqsort;
use super::zsets::parse::{is_c_space, strtod_exact};
use crate::commands::args::parse_i64;
use crate::commands::{acl, flags::*, keys, spec, Args, CmdError, CmdResult, CommandSpec};
use crate::ctx::Ctx;
use crate::resp::Reply;
use strata_engine::notify;
use strata_engine::types::list::List;
use strata_engine::{DbView, Value};

pub const COMMANDS: &[CommandSpec] = &[
    spec(
        "sort",
        -2,
        WRITE | DENYOOM | MOVABLE_KEYS,
        acl::SET | acl::SORTEDSET | acl::LIST | acl::DANGEROUS,
        keys(1, 1, 1),
        sort,
    ),
    spec(
        "sort_ro",
        -2,
        READONLY,
        acl::SET | acl::SORTEDSET | acl::LIST | acl::DANGEROUS,
        keys(1, 1, 1),
        sort_ro,
    ),
];

/// The parsed options.
struct Options {
    desc: bool,
    alpha: bool,
    limit_start: i64,
    /// Negative: to the end.
    limit_count: i64,
    store: Option<Bytes>,
    by: Option<Bytes>,
    /// BY without '*': keep the source's own order.
    dontsort: bool,
    gets: Vec<Bytes>,
}

fn parse_options(args: &mut Args, readonly: bool) -> Result<Options, CmdError> {
    let mut o = Options {
        desc: false,
        alpha: false,
        limit_start: 0,
        limit_count: -1,
        store: None,
        by: None,
        dontsort: false,
        gets: Vec::new(),
    };
    while let Some(word) = args.next_opt() {
        let left = args.remaining();
        let w = word.to_ascii_lowercase();
        match w.as_slice() {
            b"asc" => o.desc = false,
            b"desc" => o.desc = true,
            b"alpha" => o.alpha = true,
            b"limit" if left >= 2 => {
                o.limit_start = parse_i64(&args.next()?)?;
                o.limit_count = parse_i64(&args.next()?)?;
            }
            b"store" if !readonly && left >= 1 => o.store = Some(args.next()?),
            b"by" if left >= 1 => {
                let p = args.next()?;
                // Redis never clears the flag once set (strchr stops at NUL).
                if !c_str(&p).contains(&b'*') {
                    o.dontsort = true;
                }
                o.by = Some(p);
            }
            b"get" if left >= 1 => o.gets.push(args.next()?),
            _ => return Err(CmdError::syntax()),
        }
    }
    Ok(o)
}

/// The bytes a C string function sees: up to the first NUL.
fn c_str(b: &[u8]) -> &[u8] {
    b.iter().position(|&c| c == 0).map_or(b, |i| &b[..i])
}

/// Redis's lookupKeyByPattern: `#` is the element itself; otherwise the
/// first '*' is replaced by the element and the key read as a string, or as
/// a hash field after "->". Missing keys, wrong types and patterns without
/// '*' give None.
fn lookup_pattern(db: &mut DbView, pattern: &[u8], elem: &[u8]) -> Option<Bytes> {
    let pat = c_str(pattern);
    if pat == b"#" {
        return Some(Bytes::copy_from_slice(elem));
    }
    let star = pat.iter().position(|&c| c == b'*')?;
    let after = &pattern[star + 1..];
    // "->" after the star with at least one character after it.
    let arrow = c_str(after)
        .windows(2)
        .position(|w| w == b"->")
        .filter(|&i| !c_str(&after[i + 2..]).is_empty());
    let (post, field) = match arrow {
        Some(i) => (&after[..i], Some(&after[i + 2..])),
        None => (after, None),
    };
    let mut key = Vec::with_capacity(star + elem.len() + post.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(post);
    match (db.get(&key)?, field) {
        (Value::Hash(h), Some(f)) => h.get(f).map(Bytes::copy_from_slice),
        (Value::Str(s), None) => Some(Bytes::from(s.to_bytes())),
        _ => None,
    }
}

/// strtod as SORT uses it: leading spaces allowed, the rest (up to a NUL)
/// must be consumed, no NaN and no ERANGE. An empty string is 0.
fn sort_score(b: &[u8]) -> Option<f64> {
    let s = c_str(b);
    if s.is_empty() {
        return Some(0.0);
    }
    let start = s.iter().position(|&c| !is_c_space(c))?;
    match strtod_exact(&s[start..])? {
        (v, false) if !v.is_nan() => Some(v),
        _ => None,
    }
}

/// One element to sort with its key.
struct Item {
    elem: Bytes,
    score: f64,
    /// ALPHA BY: the external value (None sorts first).
    cmp: Option<Bytes>,
}

/// Redis's sortCompare (ascending; the caller reverses for DESC). Without
/// STORE, ALPHA compares with strcoll, which (C locale) is strcmp: it stops
/// at the first NUL; with STORE the comparison is binary.
fn compare(a: &Item, b: &Item, alpha: bool, by: bool, store: bool) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let text = |x: &Bytes, y: &Bytes| {
        if store {
            x.cmp(y)
        } else {
            c_str(x).cmp(c_str(y))
        }
    };
    if !alpha {
        return match a.score.partial_cmp(&b.score) {
            Some(Ordering::Equal) | None => a.elem.cmp(&b.elem),
            Some(o) => o,
        };
    }
    if by {
        return match (&a.cmp, &b.cmp) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) => text(x, y),
        };
    }
    text(&a.elem, &b.elem)
}

fn sort(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    sort_generic(ctx, args, false)
}

fn sort_ro(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    sort_generic(ctx, args, true)
}

fn sort_generic(ctx: &mut Ctx, args: &mut Args, readonly: bool) -> CmdResult {
    let key = args.key()?;
    let mut o = parse_options(args, readonly)?;
    // Scripts (and AOF loading, whose SORTs all STORE anyway) run on a
    // client without a connection: Redis's CLIENT_SCRIPT for this purpose.
    let in_script = ctx.client.fake;
    let fill = ctx.srv.keyspace.shared.encodings.list_max_listpack_size;
    let mut db = ctx.db();

    // Copy the elements out (in the source's order) and note the type.
    enum Kind {
        List,
        Set,
        ZSet,
    }
    let (kind, elems): (Kind, Vec<Bytes>) = match db.get(&key) {
        None => (Kind::List, Vec::new()),
        Some(Value::List(l)) => (Kind::List, l.iter().map(Bytes::copy_from_slice).collect()),
        Some(Value::Set(s)) => (
            Kind::Set,
            s.iter().map(|m| Bytes::from(m.to_vec())).collect(),
        ),
        Some(Value::ZSet(z)) => (
            Kind::ZSet,
            z.iter().map(|(m, _)| Bytes::copy_from_slice(m)).collect(),
        ),
        Some(_) => return Err(CmdError::wrong_type()),
    };

    // Redis converts a listpack sorted set to a skiplist for SORT, in place
    // (visible in OBJECT ENCODING); not a modification of the value.
    if matches!(kind, Kind::ZSet) {
        if let Some(mut g) = db.write(&key) {
            if let Value::ZSet(z) = g.value_mut() {
                z.convert_to_skiplist();
            }
            g.unchanged();
        }
    }

    // A set has no order of its own: sort it when the result must be
    // reproducible (STORE, scripts).
    if o.dontsort && matches!(kind, Kind::Set) && (o.store.is_some() || in_script) {
        o.dontsort = false;
        o.alpha = true;
        o.by = None;
    }

    let len = elems.len() as i64;
    let mut start = o.limit_start.max(0);
    let mut end = if o.limit_count < 0 {
        len - 1
    } else {
        start.saturating_add(o.limit_count - 1)
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    if end >= len {
        end = len - 1;
    }

    let mut items: Vec<Item> = elems
        .into_iter()
        .map(|elem| Item {
            elem,
            score: 0.0,
            cmp: None,
        })
        .collect();
    if o.dontsort {
        // Lists and sorted sets keep their order, reversed for DESC.
        if o.desc && !matches!(kind, Kind::Set) {
            items.reverse();
        }
    } else {
        let mut conversion_error = false;
        for it in items.iter_mut() {
            let byval = match &o.by {
                Some(p) => match lookup_pattern(&mut db, p, &it.elem) {
                    Some(v) => v,
                    None => continue,
                },
                None => it.elem.clone(),
            };
            if o.alpha {
                if o.by.is_some() {
                    it.cmp = Some(byval);
                }
            } else {
                match sort_score(&byval) {
                    Some(s) => it.score = s,
                    None => conversion_error = true,
                }
            }
        }
        let (alpha, by, desc, store) = (o.alpha, o.by.is_some(), o.desc, o.store.is_some());
        let cmp = |a: &Item, b: &Item| {
            let c = compare(a, b, alpha, by, store);
            if desc {
                c.reverse()
            } else {
                c
            }
        };
        // As Redis: a partial quicksort when BY and LIMIT narrow the range,
        // else qsort (stable). Ties only exist under ALPHA BY, where the
        // two give different orders.
        if by && (start != 0 || end != len - 1) {
            pqsort::partial_sort(&mut items, start, end, cmp);
        } else {
            pqsort::stable_sort(&mut items, cmp);
        }
        if conversion_error {
            return Err(CmdError::new(
                "ERR One or more scores can't be converted into double",
            ));
        }
    }

    let range: &[Item] = if end >= start && start >= 0 {
        &items[start as usize..=end as usize]
    } else {
        &[]
    };
    let Some(dst) = o.store else {
        let mut out = Vec::with_capacity(range.len() * o.gets.len().max(1));
        for it in range {
            if o.gets.is_empty() {
                out.push(Reply::Bulk(it.elem.clone()));
            }
            for g in &o.gets {
                out.push(lookup_pattern(&mut db, g, &it.elem).map_or(Reply::Nil, Reply::Bulk));
            }
        }
        return Ok(Reply::Array(out));
    };
    let mut list = List::new();
    let mut n = 0usize;
    for it in range {
        if o.gets.is_empty() {
            list.push_back(&it.elem, fill);
            n += 1;
        }
        for g in &o.gets {
            let v = lookup_pattern(&mut db, g, &it.elem).unwrap_or_default();
            list.push_back(&v, fill);
            n += 1;
        }
    }
    if n > 0 {
        db.set(&dst, Value::List(Box::new(list)), false);
        db.notify(notify::LIST, "sortstore", &dst);
        db.add_dirty(n as u64);
    } else if db.remove(&dst).is_some() {
        db.notify(notify::GENERIC, "del", &dst);
    }
    Ok(Reply::Int(n as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_follow_strtod_as_sort_uses_it() {
        assert_eq!(sort_score(b""), Some(0.0));
        assert_eq!(sort_score(b"  1.5"), Some(1.5));
        assert_eq!(sort_score(b"0x10"), Some(16.0));
        assert_eq!(sort_score(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(sort_score(b"2\0junk"), Some(2.0));
        assert_eq!(sort_score(b"1 "), None);
        assert_eq!(sort_score(b"   "), None);
        assert_eq!(sort_score(b"nan"), None);
        assert_eq!(sort_score(b"1e400"), None);
        assert_eq!(sort_score(b"abc"), None);
    }

    #[test]
    fn equal_scores_fall_back_to_bytes() {
        let item = |e: &'static [u8], s: f64| Item {
            elem: Bytes::from_static(e),
            score: s,
            cmp: None,
        };
        use std::cmp::Ordering::*;
        assert_eq!(
            compare(&item(b"1.0", 1.0), &item(b"01", 1.0), false, false, false),
            Greater
        );
        assert_eq!(
            compare(&item(b"b", 1.0), &item(b"a", 2.0), false, false, false),
            Less
        );
        // ALPHA BY: a missing external value sorts first.
        let mut a = item(b"x", 0.0);
        a.cmp = Some(Bytes::from_static(b"a"));
        assert_eq!(compare(&item(b"y", 0.0), &a, true, true, false), Less);
    }
}
