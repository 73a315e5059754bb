//! GEO commands (Redis 7.0): points are members of a sorted set whose score is
//! the 52-bit geohash (see geohash.rs), so keys interoperate with Redis and
//! with the sorted-set commands. GEOADD is ZADD with computed scores (and is
//! propagated as that ZADD, as Redis does); the searches share one generic
//! body with Redis's option grammar and its checks in its order. Points are
//! gathered in Redis's order (the nine cells in its order, members of a
//! cell in sorted-set order) and sorted as Redis does (pqsort.rs), so equal
//! distances come out in the same order.

use bytes::Bytes;

use super::geohash::{self, Search, Shape};
use super::pqsort;
use super::zsets::{as_zset, encodings};
use crate::commands::{acl, flags::*, keys, spec, Args, CmdError, CmdResult, CommandSpec};
use crate::ctx::Ctx;
use crate::resp::Reply;
use strata_engine::notify;
use strata_engine::types::zset::{ScoreRange, ZRangeSpec, ZSet};
use strata_engine::Value;

pub const COMMANDS: &[CommandSpec] = &[
    spec(
        "geoadd",
        -5,
        WRITE | DENYOOM,
        acl::GEO,
        keys(1, 1, 1),
        geoadd,
    ),
    spec("geodist", -4, READONLY, acl::GEO, keys(1, 1, 1), geodist),
    spec(
        "geohash",
        -2,
        READONLY,
        acl::GEO,
        keys(1, 1, 1),
        geohash_cmd,
    ),
    spec("geopos", -2, READONLY, acl::GEO, keys(1, 1, 1), geopos),
    spec(
        "georadius",
        -6,
        WRITE | DENYOOM | MOVABLE_KEYS,
        acl::GEO,
        keys(1, 1, 1),
        georadius,
    ),
    spec(
        "georadius_ro",
        -6,
        READONLY,
        acl::GEO,
        keys(1, 1, 1),
        georadius_ro,
    ),
    spec(
        "georadiusbymember",
        -5,
        WRITE | DENYOOM | MOVABLE_KEYS,
        acl::GEO,
        keys(1, 1, 1),
        georadiusbymember,
    ),
    spec(
        "georadiusbymember_ro",
        -5,
        READONLY,
        acl::GEO,
        keys(1, 1, 1),
        georadiusbymember_ro,
    ),
    spec(
        "geosearch",
        -7,
        READONLY,
        acl::GEO,
        keys(1, 1, 1),
        geosearch,
    ),
    spec(
        "geosearchstore",
        -8,
        WRITE | DENYOOM,
        acl::GEO,
        keys(1, 2, 1),
        geosearchstore,
    ),
];

/// Redis's getDoubleFromObjectOrReply with an optional custom message
/// (strtod of the whole string; overflow to infinity and underflow to zero
/// are errors).
fn double(b: &[u8], msg: Option<&'static str>) -> Result<f64, CmdError> {
    crate::family::zsets::parse::string2d(b).ok_or_else(|| match msg {
        Some(m) => CmdError::new(m),
        None => CmdError::not_float(),
    })
}

/// `longitude latitude`, range checked.
fn long_lat(long: &[u8], lat: &[u8]) -> Result<(f64, f64), CmdError> {
    let x = double(long, None)?;
    let y = double(lat, None)?;
    if !(geohash::LONG_MIN..=geohash::LONG_MAX).contains(&x)
        || !(geohash::LAT_MIN..=geohash::LAT_MAX).contains(&y)
    {
        return Err(CmdError::new(format!(
            "ERR invalid longitude,latitude pair {x:.6},{y:.6}"
        )));
    }
    Ok((x, y))
}

/// Meters per unit.
fn unit(b: &[u8]) -> Result<f64, CmdError> {
    match b.to_ascii_lowercase().as_slice() {
        b"m" => Ok(1.0),
        b"km" => Ok(1000.0),
        b"ft" => Ok(0.3048),
        b"mi" => Ok(1609.34),
        _ => Err(CmdError::new(
            "ERR unsupported unit provided. please use M, KM, FT, MI",
        )),
    }
}

/// `radius unit` → (radius, meters per unit).
fn radius(r: &[u8], u: &[u8]) -> Result<(f64, f64), CmdError> {
    let d = double(r, Some("ERR need numeric radius"))?;
    if d < 0.0 {
        return Err(CmdError::new("ERR radius cannot be negative"));
    }
    Ok((d, unit(u)?))
}

/// Redis's "%.4f" distance replies (bulk strings in both protocols).
fn dist_reply(d: f64) -> Reply {
    Reply::bulk_str(&format!("{d:.4}"))
}

fn coord_reply(long: f64, lat: f64) -> Reply {
    Reply::Array(vec![
        Reply::DoubleText(geohash::human_coord(long)),
        Reply::DoubleText(geohash::human_coord(lat)),
    ])
}

/// The sorted set at `key` for reading: None when missing, WRONGTYPE else.
fn read_zset<'a>(
    db: &'a mut strata_engine::DbView,
    key: &[u8],
) -> Result<Option<&'a ZSet>, CmdError> {
    match db.get(key) {
        None => Ok(None),
        Some(v) => as_zset(v).map(Some),
    }
}

fn geoadd(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let argv = args.argv().to_vec();
    let mut idx = 2;
    let (mut nx, mut xx) = (false, false);
    while let Some(a) = argv.get(idx) {
        if a.eq_ignore_ascii_case(b"nx") {
            nx = true;
        } else if a.eq_ignore_ascii_case(b"xx") {
            xx = true;
        } else if !a.eq_ignore_ascii_case(b"ch") {
            break;
        }
        idx += 1;
    }
    if !(argv.len() - idx).is_multiple_of(3) || (nx && xx) {
        return Err(CmdError::syntax());
    }
    let mut zargv: Vec<Bytes> = Vec::with_capacity(idx + (argv.len() - idx) / 3 * 2);
    zargv.push(Bytes::from_static(b"zadd"));
    zargv.extend_from_slice(&argv[1..idx]);
    for t in argv[idx..].chunks(3) {
        let (x, y) = long_lat(&t[0], &t[1])?;
        let bits = geohash::score_of(x, y).unwrap_or(0);
        zargv.push(Bytes::from(bits.to_string()));
        zargv.push(t[2].clone());
    }
    let mut zargs = Args::with_start(zargv.clone(), 1);
    let reply = super::zsets::zadd(ctx, &mut zargs)?;
    ctx.propagate_as(zargv);
    Ok(reply)
}

fn geodist(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let m1 = args.next()?;
    let m2 = args.next()?;
    let to_m = match args.remaining() {
        0 => 1.0,
        1 => unit(&args.next()?)?,
        _ => return Err(CmdError::syntax()),
    };
    let mut db = ctx.db();
    let Some(z) = read_zset(&mut db, &key)? else {
        return Ok(Reply::Nil);
    };
    let (Some(s1), Some(s2)) = (z.score(&m1), z.score(&m2)) else {
        return Ok(Reply::Nil);
    };
    let (x1, y1) = geohash::point_of(s1);
    let (x2, y2) = geohash::point_of(s2);
    Ok(dist_reply(geohash::distance(x1, y1, x2, y2) / to_m))
}

fn geohash_cmd(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let members = args.rest();
    let mut db = ctx.db();
    let z = read_zset(&mut db, &key)?;
    Ok(Reply::Array(
        members
            .iter()
            .map(|m| match z.and_then(|z| z.score(m)) {
                None => Reply::Nil,
                Some(s) => Reply::bulk(geohash::hash_string(s).to_vec()),
            })
            .collect(),
    ))
}

fn geopos(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    let key = args.key()?;
    let members = args.rest();
    let mut db = ctx.db();
    let z = read_zset(&mut db, &key)?;
    Ok(Reply::Array(
        members
            .iter()
            .map(|m| match z.and_then(|z| z.score(m)) {
                None => Reply::NilArray,
                Some(s) => {
                    let (x, y) = geohash::point_of(s);
                    coord_reply(x, y)
                }
            })
            .collect(),
    ))
}

/// Which command form is being served.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    /// GEORADIUS[_RO] key long lat radius unit ...
    RadiusCoords { store_ok: bool },
    /// GEORADIUSBYMEMBER[_RO] key member radius unit ...
    RadiusMember { store_ok: bool },
    /// GEOSEARCH key ... / GEOSEARCHSTORE dst src ...
    Search { store: bool },
}

/// One matching point.
struct Hit {
    member: Bytes,
    dist_m: f64,
    score: f64,
    long: f64,
    lat: f64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Order {
    None,
    Asc,
    Desc,
}

/// Points of `z` with scores in [min, max) inside the shape, appended to
/// `hits` until `limit` (0: none) is reached.
fn points_in_range(z: &ZSet, min: u64, max: u64, s: &Search, hits: &mut Vec<Hit>, limit: usize) {
    let range = ScoreRange {
        min: min as f64,
        max: max as f64,
        min_excl: false,
        max_excl: true,
    };
    let Some(first) = z.first_in(&range) else {
        return;
    };
    for (m, score) in z.iter_from(first, false) {
        if !range.lte_max(score, m) {
            break;
        }
        let (long, lat) = geohash::point_of(score);
        if let Some(d) = s.within(long, lat) {
            hits.push(Hit {
                member: Bytes::copy_from_slice(m),
                dist_m: d,
                score,
                long,
                lat,
            });
            if limit != 0 && hits.len() >= limit {
                return;
            }
        }
    }
}

/// Redis's georadiusGeneric. `src_idx` is the argv index of the source key.
fn search_generic(ctx: &mut Ctx, args: &mut Args, form: Form) -> CmdResult {
    let argv = args.argv().to_vec();
    let cmd_name = String::from_utf8_lossy(&argv[0]).into_owned();
    let src_idx = if form == (Form::Search { store: true }) {
        2
    } else {
        1
    };
    let src = argv[src_idx].clone();
    let mut storekey: Option<Bytes> = None;
    let mut storedist = false;
    let mut db = ctx.db();
    let z_opt = read_zset(&mut db, &src)?;
    let mut center: Option<(f64, f64)> = None;
    let mut shape: Option<(Shape, f64)> = None;
    let member_err = || CmdError::new("ERR could not decode requested zset member");
    let base = match form {
        Form::RadiusCoords { .. } => {
            center = Some(long_lat(&argv[2], &argv[3])?);
            let (r, to_m) = radius(&argv[4], &argv[5])?;
            shape = Some((Shape::Radius(r), to_m));
            6
        }
        Form::RadiusMember { .. } => {
            if let Some(z) = z_opt {
                let s = z.score(&argv[2]).ok_or_else(member_err)?;
                center = Some(geohash::point_of(s));
                let (r, to_m) = radius(&argv[3], &argv[4])?;
                shape = Some((Shape::Radius(r), to_m));
            }
            5
        }
        Form::Search { store } => {
            if store {
                storekey = Some(argv[1].clone());
                3
            } else {
                2
            }
        }
    };
    let is_search = matches!(form, Form::Search { .. });
    let store_ok = match form {
        Form::RadiusCoords { store_ok } | Form::RadiusMember { store_ok } => store_ok,
        Form::Search { .. } => false,
    };
    let (mut withdist, mut withhash, mut withcoord) = (false, false, false);
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let mut order = Order::None;
    let mut any = false;
    let mut count: i64 = 0;
    let rest = &argv[base.min(argv.len())..];
    let remaining = rest.len();
    let mut i = 0;
    while i < remaining {
        let arg = rest[i].to_ascii_lowercase();
        match arg.as_slice() {
            b"withdist" => withdist = true,
            b"withhash" => withhash = true,
            b"withcoord" => withcoord = true,
            b"any" => any = true,
            b"asc" => order = Order::Asc,
            b"desc" => order = Order::Desc,
            b"count" if i + 1 < remaining => {
                count = crate::commands::args::parse_i64(&rest[i + 1])?;
                if count <= 0 {
                    return Err(CmdError::new("ERR COUNT must be > 0"));
                }
                i += 1;
            }
            b"store" | b"storedist" if i + 1 < remaining && store_ok => {
                storekey = Some(rest[i + 1].clone());
                storedist = arg.as_slice() == b"storedist";
                i += 1;
            }
            b"storedist" if form == (Form::Search { store: true }) => storedist = true,
            b"frommember" if i + 1 < remaining && is_search && !fromloc => {
                if let Some(z) = z_opt {
                    let s = z.score(&rest[i + 1]).ok_or_else(member_err)?;
                    center = Some(geohash::point_of(s));
                }
                frommember = true;
                i += 1;
            }
            b"fromlonlat" if i + 2 < remaining && is_search && !frommember => {
                center = Some(long_lat(&rest[i + 1], &rest[i + 2])?);
                fromloc = true;
                i += 2;
            }
            b"byradius" if i + 2 < remaining && is_search && !bybox => {
                let (r, to_m) = radius(&rest[i + 1], &rest[i + 2])?;
                shape = Some((Shape::Radius(r), to_m));
                byradius = true;
                i += 2;
            }
            b"bybox" if i + 3 < remaining && is_search && !byradius => {
                let w = double(&rest[i + 1], Some("ERR need numeric width"))?;
                let h = double(&rest[i + 2], Some("ERR need numeric height"))?;
                if w < 0.0 || h < 0.0 {
                    return Err(CmdError::new("ERR height or width cannot be negative"));
                }
                let to_m = unit(&rest[i + 3])?;
                shape = Some((Shape::Box(w, h), to_m));
                bybox = true;
                i += 3;
            }
            _ => return Err(CmdError::syntax()),
        }
        i += 1;
    }
    if storekey.is_some() && (withdist || withhash || withcoord) {
        let what = if form == (Form::Search { store: true }) {
            "GEOSEARCHSTORE"
        } else {
            "STORE option in GEORADIUS"
        };
        return Err(CmdError::new(format!(
            "ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        )));
    }
    if is_search && !(frommember || fromloc) {
        return Err(CmdError::new(format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {cmd_name}"
        )));
    }
    if is_search && !(byradius || bybox) {
        return Err(CmdError::new(format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {cmd_name}"
        )));
    }
    if any && count == 0 {
        return Err(CmdError::new(
            "ERR the ANY argument requires COUNT argument",
        ));
    }
    let (Some(z), Some((long, lat)), Some((shape, to_m))) = (z_opt, center, shape) else {
        return Ok(match storekey {
            Some(dst) => {
                let mut db = ctx.db();
                if db.remove(&dst).is_some() {
                    db.notify(notify::GENERIC, "del", &dst);
                }
                Reply::Int(0)
            }
            None => Reply::Array(Vec::new()),
        });
    };
    if count != 0 && order == Order::None && !any {
        order = Order::Asc;
    }
    let search = Search {
        long,
        lat,
        shape,
        to_m,
    };
    let limit = if any { count as usize } else { 0 };
    let mut hits = Vec::new();
    for (min, max) in geohash::search_ranges(&search) {
        if limit != 0 && hits.len() >= limit {
            break;
        }
        points_in_range(z, min, max, &search, &mut hits, limit);
    }
    if hits.is_empty() && storekey.is_none() {
        return Ok(Reply::Array(Vec::new()));
    }
    // As Redis: qsort (stable) when every hit is returned, its partial
    // quicksort when COUNT cuts the list; ties keep or take the order those
    // give from the gathering order.
    let returned = if count == 0 || hits.len() < count as usize {
        hits.len()
    } else {
        count as usize
    };
    if order != Order::None {
        let desc = order == Order::Desc;
        let cmp = |a: &Hit, b: &Hit| {
            let c = a
                .dist_m
                .partial_cmp(&b.dist_m)
                .unwrap_or(std::cmp::Ordering::Less);
            if desc {
                c.reverse()
            } else {
                c
            }
        };
        if returned == hits.len() {
            pqsort::stable_sort(&mut hits, cmp);
        } else {
            pqsort::partial_sort(&mut hits, 0, returned as i64 - 1, cmp);
        }
    }
    hits.truncate(returned);
    let Some(dst) = storekey else {
        let opts = withdist as usize + withhash as usize + withcoord as usize;
        let out = hits
            .into_iter()
            .map(|h| {
                if opts == 0 {
                    return Reply::Bulk(h.member);
                }
                let mut row = Vec::with_capacity(opts + 1);
                row.push(Reply::Bulk(h.member));
                if withdist {
                    row.push(dist_reply(h.dist_m / to_m));
                }
                if withhash {
                    row.push(Reply::Int(h.score as i64));
                }
                if withcoord {
                    row.push(coord_reply(h.long, h.lat));
                }
                Reply::Array(row)
            })
            .collect();
        return Ok(Reply::Array(out));
    };
    let n = hits.len();
    let enc = encodings(ctx);
    let mut db = ctx.db();
    if n == 0 {
        if db.remove(&dst).is_some() {
            db.notify(notify::GENERIC, "del", &dst);
        }
        return Ok(Reply::Int(0));
    }
    let mut zs = ZSet::new_skiplist();
    for h in &hits {
        let score = if storedist { h.dist_m / to_m } else { h.score };
        zs.insert(&h.member, score, &enc);
    }
    zs.shrink_if_fits(&enc);
    db.set(&dst, Value::ZSet(zs), false);
    db.notify(
        notify::ZSET,
        if is_search {
            "geosearchstore"
        } else {
            "georadiusstore"
        },
        &dst,
    );
    db.add_dirty(n as u64);
    Ok(Reply::Int(n as i64))
}

fn georadius(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    search_generic(ctx, args, Form::RadiusCoords { store_ok: true })
}

fn georadius_ro(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    search_generic(ctx, args, Form::RadiusCoords { store_ok: false })
}

fn georadiusbymember(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    search_generic(ctx, args, Form::RadiusMember { store_ok: true })
}

fn georadiusbymember_ro(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    search_generic(ctx, args, Form::RadiusMember { store_ok: false })
}

fn geosearch(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    search_generic(ctx, args, Form::Search { store: false })
}

fn geosearchstore(ctx: &mut Ctx, args: &mut Args) -> CmdResult {
    search_generic(ctx, args, Form::Search { store: true })
}
