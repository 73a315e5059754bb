//! Start-up configuration: `strata-server [config-file] [--name value ...] [-]`
//! as redis-server reads it.
//!
//! The file (and standard input with "-") is read, then the command-line
//! options are turned into config lines appended after it, and the whole
//! text is read line by line. The first bad line stops start-up with Redis's
//! "FATAL CONFIG FILE ERROR" report naming the line. `include` reads another
//! file (or every file a glob matches, concatenated) with its own numbering.
//!
//! Invariant: nothing is applied to the running process except `dir`, which
//! changes the working directory as soon as it is read (relative paths after
//! it resolve against it, as in Redis).

use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::parse::repr;
use super::table::{self, flags::MULTI_ARG};
use super::{Config, SetMode};
use crate::resp::parser::split_args;

/// Nested `include`s allowed (Redis has no limit and overflows its stack).
pub const INCLUDE_DEPTH_MAX: usize = 32;
/// Bytes read from one config file or standard input.
pub const CONFIG_FILE_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// What the command line asks for.
#[derive(Debug)]
pub enum Startup {
    Run(Box<Config>),
    /// `-v` / `--version`.
    Version,
    /// `-h` / `--help`.
    Help,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// A bad line: at (line number, trimmed line), reason.
    Fatal {
        at: Option<(usize, Vec<u8>)>,
        reason: String,
    },
    /// A file that cannot be read (Redis logs this and exits).
    Open { path: String, reason: String },
}

impl LoadError {
    /// The bytes redis-server prints for this error (to stderr for `Fatal`;
    /// `Open` is a log line's message).
    pub fn report(&self) -> Vec<u8> {
        match self {
            LoadError::Fatal { at, reason } => {
                let mut out = format!(
                    "\n*** FATAL CONFIG FILE ERROR (Redis {}) ***\n",
                    crate::REDIS_VERSION
                )
                .into_bytes();
                if let Some((n, line)) = at {
                    out.extend_from_slice(
                        format!("Reading the configuration file, at line {n}\n>>> '").as_bytes(),
                    );
                    out.extend_from_slice(line);
                    out.extend_from_slice(b"'\n");
                }
                out.extend_from_slice(reason.as_bytes());
                out.push(b'\n');
                out
            }
            LoadError::Open { path, reason } => {
                format!("Fatal error, can't open config file '{path}': {reason}").into_bytes()
            }
        }
    }
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.report()))
    }
}

/// Parses the arguments after the program name.
pub fn parse_command_line(args: &[Vec<u8>]) -> Result<Startup, LoadError> {
    let mut config = Config::default();
    let Some(first) = args.first() else {
        return Ok(Startup::Run(Box::new(config)));
    };
    match first.as_slice() {
        b"-v" | b"--version" => return Ok(Startup::Version),
        b"-h" | b"--help" => return Ok(Startup::Help),
        _ => {}
    }
    let mut j = 0;
    if first.first() != Some(&b'-') {
        config.config_file = Some(absolute_path(Path::new(std::ffi::OsStr::from_bytes(first))));
        j = 1;
    }
    let (options, from_stdin) = options_to_text(args, j);
    let mut text = Vec::new();
    if let Some(path) = config.config_file.clone() {
        text = read_capped(&path)?;
    }
    if from_stdin {
        // Logged as Redis does before the server exists (role C, always shown).
        println!(
            "{}:C {} # Reading config from stdin",
            std::process::id(),
            crate::log::timestamp()
        );
        let mut buf = Vec::new();
        let _ = std::io::stdin()
            .take(CONFIG_FILE_BYTES_MAX)
            .read_to_end(&mut buf);
        text.extend_from_slice(&buf);
    }
    text.push(b'\n');
    text.extend_from_slice(&options);
    let mut loader = Loader {
        config,
        depth: 0,
        commands: initial_command_names(),
    };
    loader.load_text(&text)?;
    Ok(Startup::Run(Box::new(loader.config)))
}

/// Turns `--name value ...` options into config lines, as redis-server does:
/// names are copied as they are, values quoted; a name without a value takes
/// the next argument even if it starts with "--"; a "-" first or last means
/// "also read standard input". `--save` with no value means `save ""`.
pub fn options_to_text(args: &[Vec<u8>], start: usize) -> (Vec<u8>, bool) {
    let mut out: Vec<u8> = Vec::new();
    let mut from_stdin = false;
    let mut last_had_value = true;
    let n = args.len();
    for j in start..n {
        let a = &args[j];
        if a.as_slice() == b"-" && (j == 0 || j == n - 1) {
            from_stdin = true;
        } else if last_had_value && a.starts_with(b"--") {
            if !out.is_empty() {
                out.push(b'\n');
            }
            out.extend_from_slice(&a[2..]);
            out.push(b' ');
            // "--port" alone names an option; "--port 6380" in one argument is complete.
            let words = split_args(a).map_or(0, |w| w.len());
            if words == 1 {
                last_had_value = false;
                let is_save = a.eq_ignore_ascii_case(b"--save");
                let next_is_option = j + 1 < n && args[j + 1].starts_with(b"--");
                if is_save && next_is_option {
                    out.extend_from_slice(b"\"\"");
                    last_had_value = true;
                } else if is_save && j == n - 1 {
                    out.extend_from_slice(b"\"\"");
                }
            } else {
                last_had_value = true;
            }
        } else {
            out.extend_from_slice(repr(a).as_bytes());
            out.push(b' ');
            last_had_value = true;
        }
    }
    (out, from_stdin)
}

/// Redis's `getAbsolutePath`: the working directory joined with the path,
/// dropping leading "../" parts against it.
fn absolute_path(p: &Path) -> PathBuf {
    if p.is_absolute() {
        return p.to_path_buf();
    }
    let mut cwd = std::env::current_dir().unwrap_or_default();
    let mut rel = p.as_os_str().as_bytes();
    while rel.starts_with(b"../") {
        rel = &rel[3..];
        cwd.pop();
    }
    let mut s = cwd.into_os_string().into_vec();
    if !s.ends_with(b"/") {
        s.push(b'/');
    }
    s.extend_from_slice(rel);
    PathBuf::from(std::ffi::OsString::from_vec(s))
}

use std::os::unix::ffi::OsStringExt;

fn read_capped(path: &Path) -> Result<Vec<u8>, LoadError> {
    let open_err = |e: std::io::Error| LoadError::Open {
        path: path.to_string_lossy().into_owned(),
        reason: super::parse::strerror(&e),
    };
    let f = std::fs::File::open(path).map_err(open_err)?;
    let mut buf = Vec::new();
    f.take(CONFIG_FILE_BYTES_MAX)
        .read_to_end(&mut buf)
        .map_err(open_err)?;
    Ok(buf)
}

/// Command names as they stand before any `rename-command`.
fn initial_command_names() -> Vec<Vec<u8>> {
    crate::commands::families()
        .into_iter()
        .flat_map(|f| f.iter().map(|s| s.name.as_bytes().to_vec()))
        .collect()
}

struct Loader {
    config: Config,
    depth: usize,
    /// Command names after the renames read so far.
    commands: Vec<Vec<u8>>,
}

fn trim(line: &[u8]) -> &[u8] {
    let is_trim = |c: &u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    let start = line.iter().position(|c| !is_trim(c)).unwrap_or(line.len());
    let end = line
        .iter()
        .rposition(|c| !is_trim(c))
        .map_or(start, |e| e + 1);
    &line[start..end.max(start)]
}

impl Loader {
    fn load_text(&mut self, text: &[u8]) -> Result<(), LoadError> {
        // Redis reads the text as a C string: a NUL ends it.
        let text = &text[..text.iter().position(|&b| b == 0).unwrap_or(text.len())];
        for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
            let line = trim(raw);
            if line.is_empty() || line[0] == b'#' {
                continue;
            }
            let fail = |reason: String| LoadError::Fatal {
                at: Some((i + 1, line.to_vec())),
                reason,
            };
            let Some(mut argv) = split_args(line) else {
                return Err(fail("Unbalanced quotes in configuration line".into()));
            };
            if argv.is_empty() {
                continue;
            }
            argv[0].make_ascii_lowercase();
            match self.directive(&argv) {
                Ok(()) => {}
                Err(Step::Bad(reason)) => return Err(fail(reason)),
                Err(Step::Abort(e)) => return Err(e),
            }
        }
        Ok(())
    }

    fn directive(&mut self, argv: &[Vec<u8>]) -> Result<(), Step> {
        let name = &argv[0];
        let argc = argv.len();
        if let Some(found) = table::lookup(name) {
            let d = found.directive();
            if !d.has(MULTI_ARG) && argc != 2 {
                return Err(Step::Bad("wrong number of arguments".into()));
            }
            let split;
            let args: Vec<&[u8]> = if d.has(MULTI_ARG) && argc == 2 && !argv[1].is_empty() {
                // "--save '900 1'" or `bind "a b"`: one argument holding several.
                split = split_args(&argv[1]).unwrap_or_default();
                split.iter().map(|a| a.as_slice()).collect()
            } else {
                argv[1..].iter().map(|a| a.as_slice()).collect()
            };
            self.config
                .set(found.idx, &args, SetMode::File)
                .map_err(|e| Step::Bad(e.into_owned()))?;
            return Ok(());
        }
        if table::DEPRECATED
            .iter()
            .any(|(n, min, max)| n.as_bytes() == name.as_slice() && (*min..=*max).contains(&argc))
        {
            return Ok(());
        }
        let bad = || Step::Bad("Bad directive or wrong number of arguments".into());
        match name.as_slice() {
            b"include" if argc == 2 => self.include(&argv[1]),
            b"rename-command" if argc == 3 => self.rename(&argv[1], &argv[2]),
            b"user" if argc >= 2 => {
                self.config.users.push(argv[1..].to_vec());
                Ok(())
            }
            b"loadmodule" if argc >= 2 => {
                self.config.load_modules.push(argv[1..].to_vec());
                Ok(())
            }
            b"sentinel" => {
                if argc == 1 {
                    Ok(())
                } else {
                    Err(Step::Bad(
                        "sentinel directive while not in sentinel mode".into(),
                    ))
                }
            }
            n if n.contains(&b'.') => {
                if argc < 2 {
                    return Err(Step::Bad("Module config specified without value".into()));
                }
                let value = argv[1..].join(&b' ');
                self.config.module_configs.retain(|(k, _)| k != n);
                self.config.module_configs.push((n.to_vec(), value));
                Ok(())
            }
            _ => Err(bad()),
        }
    }

    fn rename(&mut self, old: &[u8], new: &[u8]) -> Result<(), Step> {
        let old = old.to_ascii_lowercase();
        let Some(pos) = self.commands.iter().position(|c| *c == old) else {
            return Err(Step::Bad("No such command in rename-command".into()));
        };
        self.commands.remove(pos);
        if !new.is_empty() {
            let new_lower = new.to_ascii_lowercase();
            if self.commands.contains(&new_lower) {
                return Err(Step::Bad("Target command name already exists".into()));
            }
            self.commands.push(new_lower);
        }
        self.config.rename_commands.push((old, new.to_vec()));
        Ok(())
    }

    /// `include <path>`: a glob pattern reads every match (sorted) as one
    /// text; no match is fine. A plain path must open.
    fn include(&mut self, path: &[u8]) -> Result<(), Step> {
        if self.depth >= INCLUDE_DEPTH_MAX {
            return Err(Step::Bad(format!(
                "include nesting deeper than {INCLUDE_DEPTH_MAX}"
            )));
        }
        let text = if path.iter().any(|c| matches!(c, b'*' | b'?' | b'[')) {
            let mut text = Vec::new();
            for p in glob_paths(path) {
                text.extend_from_slice(&read_capped(&p).map_err(Step::Abort)?);
            }
            text
        } else {
            read_capped(Path::new(std::ffi::OsStr::from_bytes(path))).map_err(Step::Abort)?
        };
        self.depth += 1;
        let r = self.load_text(&text).map_err(Step::Abort);
        self.depth -= 1;
        r
    }
}

/// A directive's failure: a reason for this line, or an error already
/// complete (from an included file).
enum Step {
    Bad(String),
    Abort(LoadError),
}

/// Files matching a glob pattern, sorted, as POSIX `glob()` lists them:
/// each path component may hold `*`, `?` or `[...]`; names starting with a
/// dot match only a pattern starting with one.
pub fn glob_paths(pattern: &[u8]) -> Vec<PathBuf> {
    let absolute = pattern.starts_with(b"/");
    let parts: Vec<&[u8]> = pattern
        .split(|&c| c == b'/')
        .filter(|p| !p.is_empty())
        .collect();
    let mut current: Vec<PathBuf> = vec![if absolute {
        PathBuf::from("/")
    } else {
        PathBuf::new()
    }];
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let mut next = Vec::new();
        let wild = part.iter().any(|c| matches!(c, b'*' | b'?' | b'['));
        for base in &current {
            if !wild {
                let p = base.join(std::ffi::OsStr::from_bytes(part));
                if (last && p.exists()) || (!last && p.is_dir()) {
                    next.push(p);
                }
                continue;
            }
            let dir = if base.as_os_str().is_empty() {
                Path::new(".")
            } else {
                base.as_path()
            };
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut names: Vec<Vec<u8>> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().as_bytes().to_vec())
                .collect();
            names.sort();
            for name in names {
                if name.starts_with(b".") && !part.starts_with(b".") {
                    continue;
                }
                if crate::util::glob::glob_match(part, &name, false) {
                    let p = base.join(std::ffi::OsStr::from_bytes(&name));
                    if last || p.is_dir() {
                        next.push(p);
                    }
                }
            }
        }
        current = next;
    }
    current.sort();
    current
}

/// Parses a config text as if it were a whole file (tests and tools).
pub fn parse_text(text: &[u8]) -> Result<Config, LoadError> {
    let mut loader = Loader {
        config: Config::default(),
        depth: 0,
        commands: initial_command_names(),
    };
    loader.load_text(text)?;
    Ok(loader.config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fatal(text: &str) -> (usize, String, String) {
        match parse_text(text.as_bytes()) {
            Err(LoadError::Fatal {
                at: Some((n, line)),
                reason,
            }) => (n, String::from_utf8(line).unwrap(), reason),
            other => panic!("expected a fatal error, got {other:?}"),
        }
    }

    fn args(list: &[&str]) -> Vec<Vec<u8>> {
        list.iter().map(|a| a.as_bytes().to_vec()).collect()
    }

    #[test]
    fn comments_blank_lines_quotes_and_case() {
        let c = parse_text(b"# comment\n\n  \tPORT\t 7000 \r\nlogfile \"/tmp/a b.log\"\nrequirepass 'p\\'w'\nmasterauth \"\\x41\\n\"\n").unwrap();
        assert_eq!(c.port, 7000);
        assert_eq!(c.logfile, "/tmp/a b.log");
        assert_eq!(c.requirepass.as_deref(), Some(&b"p'w"[..]));
        assert_eq!(c.masterauth.as_deref(), Some(&b"A\n"[..]));
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(
            fatal("# c\n\nport 1 2\n"),
            (3, "port 1 2".into(), "wrong number of arguments".into())
        );
        assert_eq!(
            fatal("  port   \"abc\n"),
            (
                1,
                "port   \"abc".into(),
                "Unbalanced quotes in configuration line".into()
            )
        );
        assert_eq!(
            fatal("port 'abc'x\n"),
            (
                1,
                "port 'abc'x".into(),
                "Unbalanced quotes in configuration line".into()
            )
        );
        assert_eq!(
            fatal("port 99999"),
            (
                1,
                "port 99999".into(),
                "argument must be between 0 and 65535 inclusive".into()
            )
        );
        assert_eq!(
            fatal("bogus 1\n"),
            (
                1,
                "bogus 1".into(),
                "Bad directive or wrong number of arguments".into()
            )
        );
        assert_eq!(
            fatal("hz 5\nappendonly maybe\n"),
            (
                2,
                "appendonly maybe".into(),
                "argument must be 'yes' or 'no'".into()
            )
        );
        assert_eq!(fatal("save 100\n").2, "Invalid save parameters");
        assert_eq!(
            fatal("list-max-ziplist-value 3 4\n").2,
            "Bad directive or wrong number of arguments"
        );
        assert_eq!(
            fatal("sentinel monitor x\n").2,
            "sentinel directive while not in sentinel mode"
        );
        assert_eq!(
            fatal("foo.bar\n").2,
            "Module config specified without value"
        );
        assert_eq!(
            fatal("rename-command nosuch foo\n").2,
            "No such command in rename-command"
        );
        assert_eq!(
            fatal("rename-command get foo\nrename-command get bar\n").0,
            2
        );
        assert_eq!(
            fatal("rename-command get echo\n").2,
            "Target command name already exists"
        );
        assert_eq!(
            fatal("include\n").2,
            "Bad directive or wrong number of arguments"
        );
    }

    #[test]
    fn report_format() {
        let e = LoadError::Fatal {
            at: Some((3, b"port \"abc\"".to_vec())),
            reason: "argument couldn't be parsed into an integer".into(),
        };
        assert_eq!(
            e.to_string(),
            "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\nReading the configuration file, at line 3\n>>> 'port \"abc\"'\nargument couldn't be parsed into an integer\n"
        );
    }

    #[test]
    fn save_lines_accumulate_and_empty_clears() {
        let c = parse_text(b"save 900 1\nsave 300 10\n").unwrap();
        assert_eq!(c.save_points, vec![(900, 1), (300, 10)]);
        let c = parse_text(b"save 900 1\nsave \"\"\n").unwrap();
        assert!(c.save_points.is_empty());
        let c = parse_text(b"save \"\"\nsave 60 1\n").unwrap();
        assert_eq!(c.save_points, vec![(60, 1)]);
        let c = parse_text(b"save \"900 1 300 10\"\n").unwrap();
        assert_eq!(c.save_points, vec![(900, 1), (300, 10)]);
        let c = parse_text(b"hz 11\n").unwrap();
        assert_eq!(c.save_points, super::super::SAVE_DEFAULTS);
    }

    #[test]
    fn aliases_deprecated_and_special_lines() {
        let c = parse_text(
            b"slaveof 10.0.0.1 6380\nhash-max-ziplist-entries 7\nlist-max-ziplist-entries 5\nlua-replicate-commands yes\nrename-command get \"\"\nuser alice on\nfoo.bar 1 2\nbind \"127.0.0.1 ::1\"\n",
        );
        let c = c.unwrap();
        assert_eq!(c.replicaof, Some(("10.0.0.1".into(), 6380)));
        assert_eq!(c.hash_max_listpack_entries, 7);
        assert_eq!(c.users, vec![args(&["alice", "on"])]);
        assert_eq!(
            c.module_configs,
            vec![(b"foo.bar".to_vec(), b"1 2".to_vec())]
        );
        assert_eq!(c.bind, vec!["127.0.0.1".to_string(), "::1".to_string()]);
    }

    #[test]
    fn includes_plain_and_glob() {
        let dir = std::env::temp_dir().join(format!("strata-conf-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("conf.d")).unwrap();
        std::fs::write(dir.join("conf.d/a.conf"), "hz 5\nsave 100 1\n").unwrap();
        std::fs::write(dir.join("conf.d/b.conf"), "maxclients 77\nsave 200 2\n").unwrap();
        std::fs::write(dir.join("conf.d/.hidden.conf"), "hz x\n").unwrap();
        std::fs::write(dir.join("bad.conf"), "# c\nport nope\n").unwrap();
        let d = dir.to_str().unwrap();

        let c = parse_text(format!("include {d}/conf.d/*.conf\nsave 300 3\n").as_bytes()).unwrap();
        assert_eq!(c.hz, 5);
        assert_eq!(c.maxclients, 77);
        assert_eq!(c.save_points, vec![(100, 1), (200, 2), (300, 3)]);
        // No match is fine for a pattern.
        assert!(parse_text(format!("include {d}/none/*.conf\n").as_bytes()).is_ok());
        // The included file's own line number is reported.
        match parse_text(format!("hz 1\nhz 2\ninclude {d}/bad.conf\n").as_bytes()) {
            Err(LoadError::Fatal {
                at: Some((2, line)),
                ..
            }) => assert_eq!(line, b"port nope"),
            other => panic!("{other:?}"),
        }
        match parse_text(format!("include {d}/missing.conf\n").as_bytes()) {
            Err(LoadError::Open { path, reason }) => {
                assert_eq!(path, format!("{d}/missing.conf"));
                assert_eq!(reason, "No such file or directory");
            }
            other => panic!("{other:?}"),
        }
        // A file including itself stops at the nesting limit.
        std::fs::write(dir.join("self.conf"), format!("include {d}/self.conf\n")).unwrap();
        assert!(parse_text(format!("include {d}/self.conf\n").as_bytes()).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn command_line_options_become_lines() {
        let (t, stdin) = options_to_text(&args(&["--port", "7000", "--save", "--hz", "5"]), 0);
        assert_eq!(
            String::from_utf8(t).unwrap(),
            "port \"7000\" \nsave \"\"\nhz \"5\" "
        );
        assert!(!stdin);
        let (t, _) = options_to_text(&args(&["--bind", "a b", "c", "--save"]), 0);
        assert_eq!(
            String::from_utf8(t).unwrap(),
            "bind \"a b\" \"c\" \nsave \"\""
        );
        // A name alone takes the next argument even if it starts with "--".
        let (t, _) = options_to_text(&args(&["--requirepass", "--x"]), 0);
        assert_eq!(String::from_utf8(t).unwrap(), "requirepass \"--x\" ");
        let (t, _) = options_to_text(&args(&["--port 7000", "--hz", "3"]), 0);
        assert_eq!(String::from_utf8(t).unwrap(), "port 7000 \nhz \"3\" ");
        let (_, stdin) = options_to_text(&args(&["--port", "1", "-"]), 0);
        assert!(stdin);
    }

    #[test]
    fn command_line_errors_count_lines_after_the_file() {
        match parse_command_line(&args(&["--port", "abc"])) {
            Err(LoadError::Fatal {
                at: Some((n, line)),
                reason,
            }) => {
                assert_eq!(n, 2);
                assert_eq!(line, b"port \"abc\"");
                assert_eq!(reason, "argument couldn't be parsed into an integer");
            }
            other => panic!("{other:?}"),
        }
        match parse_command_line(&args(&["--port", "5", "-v"])) {
            Err(LoadError::Fatal {
                at: Some((2, line)),
                reason,
            }) => {
                assert_eq!(line, b"port \"5\" \"-v\"");
                assert_eq!(reason, "wrong number of arguments");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_command_line(&args(&["-v"])),
            Ok(Startup::Version)
        ));
        assert!(matches!(
            parse_command_line(&args(&["--help"])),
            Ok(Startup::Help)
        ));
        match parse_command_line(&args(&["--port", "7001", "--maxmemory", "1mb"])) {
            Ok(Startup::Run(c)) => {
                assert_eq!(c.port, 7001);
                assert_eq!(c.maxmemory_bytes, 1 << 20);
                assert_eq!(c.config_file, None);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn missing_config_file_is_reported_with_its_absolute_path() {
        match parse_command_line(&args(&["/nonexistent/strata.conf"])) {
            Err(e @ LoadError::Open { .. }) => {
                assert_eq!(e.to_string(), "Fatal error, can't open config file '/nonexistent/strata.conf': No such file or directory")
            }
            other => panic!("{other:?}"),
        }
    }
}
