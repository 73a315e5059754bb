//! Differential tests: every `tests/diff/*.redis` script runs against a
//! reference redis-server and against strata-server, and the raw RESP replies
//! are compared (format: tests/diff/README.md).
//!
//! Each file gets a freshly started pair of servers (same arguments,
//! persistence off), so no state, keys or config, leaks from one file to the
//! next, and a crash in one file does not hide the others. Every mismatch of
//! every file is reported, then the test fails once at the end.
//!
//! Without redis-server the test prints a notice and passes, unless `CI` is
//! set: then it fails. `STRATA_DIFF_FILTER=strings,keys` runs only the files
//! whose names contain one of the words; `STRATA_DIFF_TIMEOUT_MS` changes the
//! per-command reply deadline; `STRATA_DIFF_DIR` reads the scripts from another
//! folder; `STRATA_SERVER_BIN` tests another binary.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use strata_tests::diff::{parse_script, Compare, Step};
use strata_tests::resp::sorted_reply;
use strata_tests::{encode_request, escape, RawConn, ServerKind, TestServer};

/// Deadline for the reference's first reply to one command.
const REPLY_TIMEOUT_MS_DEFAULT: u64 = 5_000;
/// When the reference gave no reply at all, how long Strata is given to stay silent too.
const SILENCE_CHECK_MS: u64 = 500;
/// Deadline for each reply after the first one to the same command (the
/// reference sent them all together, so Strata should have too).
const FOLLOWING_REPLY_TIMEOUT_MS: u64 = 1_000;
/// Mismatches printed per file (all are counted).
const MISMATCHES_SHOWN_PER_FILE_MAX: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq)]
enum End {
    /// The replies read are all there was.
    Normal,
    /// The server closed the connection (after the replies read, if any).
    Closed,
    /// No (further) reply came before the deadline.
    Timeout,
    Error(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    replies: Vec<Vec<u8>>,
    end: End,
}

impl Outcome {
    fn normalized(&self, compare: Compare) -> Outcome {
        let replies = self
            .replies
            .iter()
            .map(|r| match compare {
                Compare::Exact => r.clone(),
                Compare::Sorted => sorted_reply(r),
                Compare::TypeOnly => r.first().map(|b| vec![*b]).unwrap_or_default(),
            })
            .collect();
        Outcome {
            replies,
            end: self.end.clone(),
        }
    }

    fn render(&self) -> String {
        let mut s = self
            .replies
            .iter()
            .map(|r| escape(r))
            .collect::<Vec<_>>()
            .join("  ");
        let tail = match &self.end {
            End::Normal => "",
            End::Closed => "<connection closed>",
            End::Timeout => "<no reply before the deadline>",
            End::Error(e) => e.as_str(),
        };
        if !tail.is_empty() {
            if !s.is_empty() {
                s.push_str("  ");
            }
            s.push_str(tail);
        }
        if s.is_empty() {
            s.push_str("<nothing>");
        }
        s
    }
}

fn io_end(e: &io::Error) -> End {
    match e.kind() {
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted => End::Closed,
        io::ErrorKind::TimedOut => End::Timeout,
        _ => End::Error(format!("<{e}>")),
    }
}

/// Sends `request` to the reference and collects its replies: the first one
/// (waiting up to `timeout`), then any others that arrived with it
/// (SUBSCRIBE to several channels answers several times).
fn exchange_reference(conn: &mut RawConn, request: &[u8], timeout: Duration) -> Outcome {
    if let Err(e) = conn.send(request) {
        return Outcome {
            replies: Vec::new(),
            end: io_end(&e),
        };
    }
    let mut replies = Vec::new();
    match conn.read_reply_within(timeout) {
        Ok(r) => replies.push(r),
        Err(e) => {
            return Outcome {
                replies,
                end: io_end(&e),
            }
        }
    }
    match conn.read_ready_replies() {
        Ok(more) => replies.extend(more),
        Err(e) => {
            return Outcome {
                replies,
                end: io_end(&e),
            }
        }
    }
    Outcome {
        replies,
        end: End::Normal,
    }
}

/// Sends `request` to Strata and reads as many replies as the reference gave
/// (each up to `timeout`), plus any extra ones already there.
fn exchange_subject(
    conn: &mut RawConn,
    request: &[u8],
    reference: &Outcome,
    timeout: Duration,
) -> Outcome {
    if let Err(e) = conn.send(request) {
        return Outcome {
            replies: Vec::new(),
            end: io_end(&e),
        };
    }
    let mut replies = Vec::new();
    let mut wanted = reference.replies.len();
    let mut deadline = timeout;
    if wanted == 0 {
        // The reference closed or stayed silent: see whether Strata does the same.
        wanted = 1;
        if reference.end == End::Timeout {
            deadline = Duration::from_millis(SILENCE_CHECK_MS);
        }
    }
    for i in 0..wanted {
        if i == 1 {
            deadline = deadline.min(Duration::from_millis(FOLLOWING_REPLY_TIMEOUT_MS));
        }
        match conn.read_reply_within(deadline) {
            Ok(r) => replies.push(r),
            Err(e) => {
                return Outcome {
                    replies,
                    end: io_end(&e),
                }
            }
        }
    }
    match conn.read_ready_replies() {
        Ok(more) => replies.extend(more),
        Err(e) => {
            return Outcome {
                replies,
                end: io_end(&e),
            }
        }
    }
    Outcome {
        replies,
        end: End::Normal,
    }
}

#[derive(Default)]
struct FileReport {
    commands: usize,
    mismatches: usize,
    /// Problems to print (mismatches up to the cap, parse errors, crashes).
    details: Vec<String>,
}

impl FileReport {
    fn problem(&mut self, text: String) {
        self.details.push(text);
    }
}

fn connect_pair(
    reference: &TestServer,
    subject: &TestServer,
) -> Result<(RawConn, RawConn), String> {
    let r = RawConn::connect(reference.port())
        .map_err(|e| format!("connecting to redis-server: {e}"))?;
    let s = RawConn::connect(subject.port())
        .map_err(|e| format!("connecting to strata-server: {e}"))?;
    Ok((r, s))
}

fn run_file(path: &Path, name: &str, timeout: Duration) -> FileReport {
    let mut report = FileReport::default();
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) => {
            report.problem(format!("{name}: cannot read: {e}"));
            return report;
        }
    };
    let (steps, errors) = parse_script(&text);
    for e in errors {
        report.problem(format!("{name}: {e}"));
    }
    let servers = TestServer::try_start(ServerKind::Redis, &[])
        .and_then(|r| TestServer::try_start(ServerKind::Strata, &[]).map(|s| (r, s)));
    let (reference, mut subject) = match servers {
        Ok(pair) => pair,
        Err(e) => {
            report.problem(format!("{name}: could not start the servers: {e}"));
            return report;
        }
    };
    let mut conns = match connect_pair(&reference, &subject) {
        Ok(c) => c,
        Err(e) => {
            report.problem(format!("{name}: {e}"));
            return report;
        }
    };
    for step in &steps {
        if step.sleep_ms > 0 {
            std::thread::sleep(Duration::from_millis(step.sleep_ms));
        }
        if step.args.is_empty() {
            continue;
        }
        report.commands += 1;
        let request = encode_request(&step.args);
        let expected = exchange_reference(&mut conns.0, &request, timeout);
        let got = exchange_subject(&mut conns.1, &request, &expected, timeout);
        if let Some(status) = subject.exit_status() {
            report.mismatches += 1;
            report.problem(format!(
                "{name}:{}: {}\n    strata-server exited ({status}); rest of the file skipped. Log tail:\n{}",
                step.line,
                step.text,
                subject.log_tail(20)
            ));
            return report;
        }
        check_step(&mut report, name, step, &expected, &got);
        if expected.end != End::Normal || got.end != End::Normal {
            // Start both sides again from a fresh connection, as a client would.
            conns = match connect_pair(&reference, &subject) {
                Ok(c) => c,
                Err(e) => {
                    report.problem(format!(
                        "{name}:{}: reconnecting: {e}; rest of the file skipped",
                        step.line
                    ));
                    return report;
                }
            };
        }
    }
    report
}

fn check_step(report: &mut FileReport, name: &str, step: &Step, expected: &Outcome, got: &Outcome) {
    let (want, have) = (
        expected.normalized(step.compare),
        got.normalized(step.compare),
    );
    if want == have {
        return;
    }
    report.mismatches += 1;
    if report.mismatches > MISMATCHES_SHOWN_PER_FILE_MAX {
        return;
    }
    let how = match step.compare {
        Compare::Exact => "",
        Compare::Sorted => " (compared sorted)",
        Compare::TypeOnly => " (compared by type only)",
    };
    report.problem(format!(
        "{name}:{}: {}{how}\n    redis-server:  {}\n    strata-server: {}",
        step.line,
        step.text,
        expected.render(),
        got.render()
    ));
}

fn diff_files() -> Vec<PathBuf> {
    let dir = std::env::var_os("STRATA_DIFF_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("diff"));
    let filter: Vec<String> = std::env::var("STRATA_DIFF_FILTER")
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "redis"))
        .filter(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()))
        })
        .collect();
    files.sort();
    files
}

fn reference_version_notice() -> Option<String> {
    let bin = strata_tests::redis_bin()?;
    let out = std::process::Command::new(&bin)
        .arg("--version")
        .output()
        .ok()?;
    let version = String::from_utf8_lossy(&out.stdout).into_owned();
    (!version.contains("v=7.0."))
        .then(|| format!("NOTICE: the reference is not Redis 7.0: {}", version.trim()))
}

#[test]
fn differential_against_redis() {
    if strata_tests::redis_bin().is_none() {
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
        assert!(!ci, "redis-server is not installed but CI is set: the differential tests cannot be skipped (apt-get install redis-server)");
        eprintln!("NOTICE: redis-server is not installed: differential tests SKIPPED (apt-get install redis-server to run them)");
        return;
    }
    if let Some(notice) = reference_version_notice() {
        eprintln!("{notice}");
    }
    let timeout = Duration::from_millis(
        std::env::var("STRATA_DIFF_TIMEOUT_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(REPLY_TIMEOUT_MS_DEFAULT),
    );
    let files = diff_files();
    assert!(!files.is_empty(), "no tests/diff/*.redis file matched");
    let mut summary = String::new();
    let mut problems = Vec::new();
    let (mut total_commands, mut total_mismatches) = (0, 0);
    for path in &files {
        let name = format!(
            "tests/diff/{}",
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        let report = run_file(path, &name, timeout);
        let _ = writeln!(
            summary,
            "  {name}: {} commands, {} mismatches",
            report.commands, report.mismatches
        );
        total_commands += report.commands;
        total_mismatches += report.mismatches;
        let mut details = report.details;
        if report.mismatches > MISMATCHES_SHOWN_PER_FILE_MAX {
            details.push(format!(
                "{name}: ... {} more mismatches not shown",
                report.mismatches - MISMATCHES_SHOWN_PER_FILE_MAX
            ));
        }
        problems.extend(details);
    }
    println!("differential: {} files, {total_commands} commands, {total_mismatches} mismatches\n{summary}", files.len());
    assert!(
        problems.is_empty(),
        "differential tests failed ({total_mismatches} mismatches in {total_commands} commands):\n{}\n\nper file:\n{summary}",
        problems.join("\n")
    );
}
