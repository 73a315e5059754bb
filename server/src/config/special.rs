//! Directives with their own syntax: save, bind, client-output-buffer-limit,
//! notify-keyspace-events, dir, oom-score-adj-values, replicaof and
//! latency-tracking-info-percentiles. Each keeps its value in a typed field
//! of `Config`; errors carry Redis's messages.
//!
//! C integer truncations are kept on purpose (a `save` change count or an
//! output-buffer soft seconds value is a C `int`): such a value is stored as
//! the sign-extended bits and reported signed, as Redis reports it.

use super::parse::{self, strtoll_whole};
use super::table::Special;
use super::{Config, ObufLimit, SetError, SetMode, SAVE_DEFAULTS};
use strata_engine::notify;

/// CONFIG_BINDADDR_MAX.
pub const BIND_ADDRS_MAX: usize = 16;

pub fn set(
    c: &mut Config,
    which: Special,
    args: &[&[u8]],
    mode: SetMode,
) -> Result<bool, SetError> {
    match which {
        Special::Save => set_save(c, args, mode),
        Special::Bind => set_bind(c, args),
        Special::ClientOutputBufferLimit => set_obuf(c, args),
        Special::NotifyKeyspaceEvents => {
            let [arg] = args else {
                return Err("wrong number of arguments".into());
            };
            let flags = notify::parse_flags(arg)
                .ok_or("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")?;
            let changed = flags != c.notify_keyspace_events;
            c.notify_keyspace_events = flags;
            Ok(changed)
        }
        Special::Dir => {
            let [arg] = args else {
                return Err("wrong number of arguments".into());
            };
            set_dir(c, arg)
        }
        Special::OomScoreAdjValues => set_oom(c, args),
        Special::Replicaof => set_replicaof(c, args),
        Special::LatencyPercentiles => set_percentiles(c, args),
    }
}

pub fn get(c: &Config, which: Special) -> Vec<u8> {
    match which {
        Special::Save => c
            .save_points
            .iter()
            .map(|(s, n)| format!("{} {}", *s as i64, *n as i64))
            .collect::<Vec<_>>()
            .join(" ")
            .into_bytes(),
        Special::Bind => c.bind.join(" ").into_bytes(),
        Special::ClientOutputBufferLimit => {
            let names = ["normal", "slave", "pubsub"];
            let parts: Vec<String> = names
                .iter()
                .zip(c.client_output_buffer_limits.iter())
                .map(|(n, l)| {
                    format!(
                        "{n} {} {} {}",
                        l.hard_bytes, l.soft_bytes, l.soft_seconds as i64
                    )
                })
                .collect();
            parts.join(" ").into_bytes()
        }
        Special::NotifyKeyspaceEvents => {
            notify::flags_to_string(c.notify_keyspace_events).into_bytes()
        }
        Special::Dir => match std::env::current_dir() {
            Ok(p) => p.as_os_str().as_encoded_bytes().to_vec(),
            Err(_) => c.dir.as_os_str().as_encoded_bytes().to_vec(),
        },
        Special::OomScoreAdjValues => {
            let [a, b, d] = c.oom_score_adj_values;
            format!("{a} {b} {d}").into_bytes()
        }
        Special::Replicaof => match &c.replicaof {
            Some((host, port)) => format!("{host} {port}").into_bytes(),
            None => Vec::new(),
        },
        Special::LatencyPercentiles => c
            .latency_tracking_info_percentiles
            .iter()
            .map(|p| parse::fmt_f_trim(*p))
            .collect::<Vec<_>>()
            .join(" ")
            .into_bytes(),
    }
}

/// `save <seconds> <changes> ...`; `save ""` clears. In a file the first
/// `save` line drops the defaults and later ones add points; CONFIG SET
/// replaces them.
fn set_save(c: &mut Config, args: &[&[u8]], mode: SetMode) -> Result<bool, SetError> {
    const ERR: &str = "Invalid save parameters";
    let old = c.save_points.clone();
    let mut args = args;
    if args.len() == 1 && args[0].is_empty() {
        c.save_points.clear();
        args = &[];
    }
    if args.len() % 2 == 1 {
        return Err(ERR.into());
    }
    let mut points = Vec::with_capacity(args.len() / 2);
    for pair in args.chunks(2) {
        let (Some((secs, _)), Some((changes, _))) =
            (strtoll_whole(pair[0], 10), strtoll_whole(pair[1], 10))
        else {
            return Err(ERR.into());
        };
        if secs < 1 || changes < 0 {
            return Err(ERR.into());
        }
        // `changes` is a C int in Redis.
        points.push((secs as u64, changes as i32 as i64 as u64));
    }
    match mode {
        SetMode::Runtime => c.save_points.clear(),
        SetMode::File => {
            if !c.save_seen_in_file {
                c.save_seen_in_file = true;
                c.save_points.clear();
            }
        }
    }
    c.save_points.extend(points);
    Ok(c.save_points != old)
}

fn set_bind(c: &mut Config, args: &[&[u8]]) -> Result<bool, SetError> {
    if args.len() > BIND_ADDRS_MAX {
        return Err("Too many bind addresses specified.".into());
    }
    let addrs: Vec<String> = if args.len() == 1 && args[0].is_empty() {
        Vec::new()
    } else {
        args.iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    };
    let changed = addrs != c.bind;
    c.bind = addrs;
    Ok(changed)
}

/// The output-buffer class of a name (`master` is a class but not settable).
fn obuf_class(name: &[u8]) -> Option<usize> {
    let lower = name.to_ascii_lowercase();
    match lower.as_slice() {
        b"normal" => Some(super::OBUF_NORMAL),
        b"slave" | b"replica" => Some(super::OBUF_REPLICA),
        b"pubsub" => Some(super::OBUF_PUBSUB),
        _ => None,
    }
}

/// `client-output-buffer-limit <class> <hard> <soft> <soft-seconds> ...`:
/// every group is checked before any is applied.
fn set_obuf(c: &mut Config, args: &[&[u8]]) -> Result<bool, SetError> {
    // No group at all is accepted (CONFIG SET with an empty value) and changes nothing.
    if !args.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut groups = Vec::with_capacity(args.len() / 4);
    for g in args.chunks(4) {
        let class = obuf_class(g[0])
            .ok_or("Invalid client class specified in buffer limit configuration.")?;
        const ERR: &str =
            "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
        let hard = parse::memtoull(g[1]).ok_or(ERR)?;
        let soft = parse::memtoull(g[2]).ok_or(ERR)?;
        let secs = match strtoll_whole(g[3], 10) {
            Some((v, _)) if v >= 0 => v,
            _ => return Err(ERR.into()),
        };
        // soft_seconds is a C int in Redis.
        groups.push((
            class,
            ObufLimit {
                hard_bytes: hard,
                soft_bytes: soft,
                soft_seconds: secs as i32 as i64 as u64,
            },
        ));
    }
    let old = c.client_output_buffer_limits;
    for (class, limit) in groups {
        c.client_output_buffer_limits[class] = limit;
    }
    Ok(old != c.client_output_buffer_limits)
}

/// `dir` changes the working directory at once, as Redis's `chdir` does, so
/// later relative paths (includes, files) resolve against it.
fn set_dir(c: &mut Config, path: &[u8]) -> Result<bool, SetError> {
    use std::os::unix::ffi::OsStrExt;
    let os = std::ffi::OsStr::from_bytes(path);
    if path.is_empty() {
        return Err("No such file or directory".into());
    }
    std::env::set_current_dir(os).map_err(|e| SetError::from(parse::strerror(&e)))?;
    c.dir = std::env::current_dir().unwrap_or_else(|_| std::path::PathBuf::from(os));
    Ok(true)
}

fn set_oom(c: &mut Config, args: &[&[u8]]) -> Result<bool, SetError> {
    let [a, b, d] = args else {
        return Err("wrong number of arguments".into());
    };
    let mut values = [0i32; 3];
    for (slot, arg) in values.iter_mut().zip([a, b, d]) {
        match strtoll_whole(arg, 10) {
            Some((v, _)) if (-2000..=2000).contains(&v) => *slot = v as i32,
            _ => {
                return Err(
                    "Invalid oom-score-adj-values, elements must be between -2000 and 2000.".into(),
                )
            }
        }
    }
    if values[1] < values[0] || values[2] < values[1] {
        crate::log_warning!("The oom-score-adj-values configuration may not work for non-privileged processes! Please consult the documentation.");
    }
    let changed = values != c.oom_score_adj_values;
    c.oom_score_adj_values = values;
    Ok(changed)
}

fn set_replicaof(c: &mut Config, args: &[&[u8]]) -> Result<bool, SetError> {
    let [host, port] = args else {
        return Err("wrong number of arguments".into());
    };
    let old = c.replicaof.take();
    if host.eq_ignore_ascii_case(b"no") && port.eq_ignore_ascii_case(b"one") {
        return Ok(old.is_some());
    }
    let port = match strtoll_whole(port, 10) {
        Some((p, false)) if (0..=65535).contains(&p) => p as u16,
        _ => return Err("Invalid master port".into()),
    };
    c.replicaof = Some((String::from_utf8_lossy(host).into_owned(), port));
    Ok(old != c.replicaof)
}

fn set_percentiles(c: &mut Config, args: &[&[u8]]) -> Result<bool, SetError> {
    let args: &[&[u8]] = if args.len() == 1 && args[0].is_empty() {
        &[]
    } else {
        args
    };
    let mut out = Vec::with_capacity(args.len());
    for a in args {
        let p = parse::string2d(a).ok_or("Invalid latency-tracking-info-percentiles parameters")?;
        if !(0.0..=100.0).contains(&p) {
            return Err(
                "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
                    .into(),
            );
        }
        out.push(p);
    }
    let changed = out != c.latency_tracking_info_percentiles;
    c.latency_tracking_info_percentiles = out;
    Ok(changed)
}

/// Whether a special directive holds its default value (CONFIG REWRITE).
pub fn is_default(c: &Config, which: Special) -> bool {
    match which {
        Special::Save => c.save_points == SAVE_DEFAULTS,
        Special::Bind => c.bind == super::BIND_DEFAULTS,
        Special::ClientOutputBufferLimit => c.client_output_buffer_limits == super::OBUF_DEFAULTS,
        Special::NotifyKeyspaceEvents => c.notify_keyspace_events == 0,
        Special::Dir => false,
        Special::OomScoreAdjValues => c.oom_score_adj_values == super::OOM_SCORE_ADJ_DEFAULTS,
        Special::Replicaof => c.replicaof.is_none(),
        Special::LatencyPercentiles => {
            c.latency_tracking_info_percentiles == super::LATENCY_PERCENTILES_DEFAULTS
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::table::index_of;
    use super::*;

    fn set_rt(c: &mut Config, name: &str, args: &[&str]) -> Result<bool, SetError> {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        c.set(index_of(name).unwrap(), &args, SetMode::Runtime)
    }

    fn get_s(c: &Config, which: Special) -> String {
        String::from_utf8(get(c, which)).unwrap()
    }

    #[test]
    fn save_points() {
        let mut c = Config::default();
        set_rt(&mut c, "save", &["10", "0"]).unwrap();
        assert_eq!(get_s(&c, Special::Save), "10 0");
        set_rt(&mut c, "save", &[]).unwrap();
        assert_eq!(get_s(&c, Special::Save), "");
        set_rt(&mut c, "save", &["+10", "1", "20", "2"]).unwrap();
        assert_eq!(c.save_points, vec![(10, 1), (20, 2)]);
        set_rt(&mut c, "save", &["10", "4294967295"]).unwrap();
        assert_eq!(get_s(&c, Special::Save), "10 -1");
        for bad in [
            &["10"][..],
            &["0", "1"],
            &["10", "-1"],
            &["10", "a"],
            &["10", "20", "", "40"],
        ] {
            assert_eq!(
                set_rt(&mut c, "save", bad).unwrap_err(),
                "Invalid save parameters",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn save_lines_in_a_file_accumulate() {
        let mut c = Config::default();
        let i = index_of("save").unwrap();
        c.set(i, &[b"900", b"1"], SetMode::File).unwrap();
        c.set(i, &[b"300", b"10"], SetMode::File).unwrap();
        assert_eq!(c.save_points, vec![(900, 1), (300, 10)]);
        c.set(i, &[b""], SetMode::File).unwrap();
        assert!(c.save_points.is_empty());
        c.set(i, &[b"60", b"5"], SetMode::File).unwrap();
        assert_eq!(c.save_points, vec![(60, 5)]);
    }

    #[test]
    fn output_buffer_limits() {
        let mut c = Config::default();
        set_rt(
            &mut c,
            "client-output-buffer-limit",
            &["normal", "1mb", "2kb", "3", "pubsub", "0", "0", "0"],
        )
        .unwrap();
        assert_eq!(
            get_s(&c, Special::ClientOutputBufferLimit),
            "normal 1048576 2048 3 slave 268435456 67108864 60 pubsub 0 0 0"
        );
        set_rt(
            &mut c,
            "client-output-buffer-limit",
            &["REPLICA", "1", "2", "+3"],
        )
        .unwrap();
        assert_eq!(
            c.client_output_buffer_limits[1],
            ObufLimit {
                hard_bytes: 1,
                soft_bytes: 2,
                soft_seconds: 3
            }
        );
        let e = |a: &[&str]| {
            set_rt(&mut Config::default(), "client-output-buffer-limit", a).unwrap_err()
        };
        assert_eq!(
            e(&["normal", "1", "2"]),
            "Wrong number of arguments in buffer limit configuration."
        );
        assert_eq!(
            e(&[""]),
            "Wrong number of arguments in buffer limit configuration."
        );
        assert_eq!(
            set_rt(&mut Config::default(), "client-output-buffer-limit", &[]),
            Ok(false)
        );
        assert_eq!(
            e(&["master", "1", "2", "3"]),
            "Invalid client class specified in buffer limit configuration."
        );
        assert_eq!(
            e(&["normal", "1x", "2", "3"]),
            "Error in hard, soft or soft_seconds setting in buffer limit configuration."
        );
        assert_eq!(
            e(&["normal", "1", "2", "3kb"]),
            "Error in hard, soft or soft_seconds setting in buffer limit configuration."
        );
        // Nothing applied when a later group is bad.
        let mut c = Config::default();
        assert!(set_rt(
            &mut c,
            "client-output-buffer-limit",
            &["normal", "1", "1", "1", "pubsub", "x", "0", "0"]
        )
        .is_err());
        assert_eq!(c.client_output_buffer_limits, super::super::OBUF_DEFAULTS);
    }

    #[test]
    fn keyspace_events() {
        let mut c = Config::default();
        set_rt(&mut c, "notify-keyspace-events", &["KEA"]).unwrap();
        assert_eq!(get_s(&c, Special::NotifyKeyspaceEvents), "AKE");
        set_rt(&mut c, "notify-keyspace-events", &["Ex"]).unwrap();
        assert_eq!(get_s(&c, Special::NotifyKeyspaceEvents), "xE");
        assert_eq!(
            set_rt(&mut c, "notify-keyspace-events", &["Q"]).unwrap_err(),
            "Invalid event class character. Use 'Ag$lshzxeKEtmdn'."
        );
    }

    #[test]
    fn bind_oom_replicaof_percentiles() {
        let mut c = Config::default();
        set_rt(&mut c, "bind", &["127.0.0.1", "-::1"]).unwrap();
        assert_eq!(get_s(&c, Special::Bind), "127.0.0.1 -::1");
        let many: Vec<String> = (0..17).map(|i| i.to_string()).collect();
        let many: Vec<&str> = many.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            set_rt(&mut c, "bind", &many).unwrap_err(),
            "Too many bind addresses specified."
        );
        set_rt(&mut c, "bind", &[""]).unwrap();
        assert!(c.bind.is_empty());

        assert_eq!(
            set_rt(&mut c, "oom-score-adj-values", &["1", "2"]).unwrap_err(),
            "wrong number of arguments"
        );
        assert_eq!(
            set_rt(&mut c, "oom-score-adj-values", &["1", "2", "3000"]).unwrap_err(),
            "Invalid oom-score-adj-values, elements must be between -2000 and 2000."
        );
        set_rt(&mut c, "oom-score-adj-values", &["+1", "2", "3"]).unwrap();
        assert_eq!(get_s(&c, Special::OomScoreAdjValues), "1 2 3");

        let i = index_of("replicaof").unwrap();
        assert_eq!(
            c.set(i, &[b"h", b"abc"], SetMode::File).unwrap_err(),
            "Invalid master port"
        );
        assert_eq!(
            c.set(i, &[b"h"], SetMode::File).unwrap_err(),
            "wrong number of arguments"
        );
        c.set(i, &[b"127.0.0.1", b"6380"], SetMode::File).unwrap();
        assert_eq!(get_s(&c, Special::Replicaof), "127.0.0.1 6380");
        c.set(i, &[b"NO", b"one"], SetMode::File).unwrap();
        assert_eq!(c.replicaof, None);

        set_rt(
            &mut c,
            "latency-tracking-info-percentiles",
            &["50", "99.99", "100", "0", "12.5"],
        )
        .unwrap();
        assert_eq!(
            get_s(&c, Special::LatencyPercentiles),
            "50 99.99 100 0 12.5"
        );
        assert_eq!(
            set_rt(&mut c, "latency-tracking-info-percentiles", &["x"]).unwrap_err(),
            "Invalid latency-tracking-info-percentiles parameters"
        );
        assert_eq!(
            set_rt(&mut c, "latency-tracking-info-percentiles", &["101"]).unwrap_err(),
            "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
        );
        set_rt(&mut c, "latency-tracking-info-percentiles", &[]).unwrap();
        assert_eq!(get_s(&c, Special::LatencyPercentiles), "");
    }

    #[test]
    fn dir_errors_use_strerror() {
        let mut c = Config::default();
        assert_eq!(
            set_rt(&mut c, "dir", &["/nonexistent/strata"]).unwrap_err(),
            "No such file or directory"
        );
        assert_eq!(
            set_rt(&mut c, "dir", &[""]).unwrap_err(),
            "No such file or directory"
        );
    }
}
