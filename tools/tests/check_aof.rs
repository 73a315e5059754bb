//! strata-check-aof against an appendonlydir written by redis-server 7.0.15
//! (fixtures/aof-redis) and damaged copies; expected lines are the ones
//! redis-check-aof 7.0.15 prints for the same files.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use strata_tools::check_aof::run;

fn fixture_copy(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("strata-check-aof-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/aof-redis");
    for e in std::fs::read_dir(src).expect("fixtures") {
        let e = e.expect("entry");
        std::fs::copy(e.path(), dir.join(e.file_name())).expect("copy");
    }
    dir
}

fn check(args: &[&str], stdin: &str) -> (i32, String) {
    let mut argv = vec!["redis-check-aof".to_string()];
    argv.extend(args.iter().map(|s| s.to_string()));
    let mut out = Vec::new();
    let code = run(&argv, &mut Cursor::new(stdin.as_bytes().to_vec()), &mut out);
    (code, String::from_utf8_lossy(&out).into_owned())
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

#[test]
fn redis_written_dir_is_valid() {
    let dir = fixture_copy("valid");
    let (code, out) = check(&[p(&dir.join("appendonly.aof.manifest"))], "");
    assert_eq!(code, 0, "{out}");
    for line in [
        "Start checking Multi Part AOF",
        "Start to check BASE AOF (RDB format).",
        "RDB preamble is OK, proceeding with AOF tail...",
        "AOF analyzed: filename=appendonly.aof.2.base.rdb, size=121, ok_up_to=121, ok_up_to_line=1, diff=0",
        "BASE AOF appendonly.aof.2.base.rdb is valid",
        "Start to check INCR files.",
        "AOF analyzed: filename=appendonly.aof.2.incr.aof, size=178, ok_up_to=178, ok_up_to_line=43, diff=0",
        "INCR AOF appendonly.aof.2.incr.aof is valid",
        "All AOF files and manifest are valid",
    ] {
        assert!(out.lines().any(|l| l == line), "missing {line:?} in\n{out}");
    }
    let incr = dir.join("appendonly.aof.2.incr.aof");
    let (code, out) = check(&[p(&incr)], "");
    assert_eq!(code, 0);
    assert!(out.starts_with("Start checking Old-Style AOF\n"), "{out}");
    assert!(
        out.ends_with(&format!("AOF {} is valid\n", p(&incr))),
        "{out}"
    );
}

#[test]
fn truncated_incr_reported_and_fixed() {
    let dir = fixture_copy("trunc");
    let incr = dir.join("appendonly.aof.2.incr.aof");
    let data = std::fs::read(&incr).expect("read");
    std::fs::write(&incr, &data[..100]).expect("write");
    let manifest = dir.join("appendonly.aof.manifest");
    let (code, out) = check(&[p(&manifest)], "");
    assert_eq!(code, 1);
    assert!(
        out.contains("0x              62: Expected to read 5 bytes, got 2 bytes\n"),
        "{out}"
    );
    assert!(out.contains("AOF analyzed: filename=appendonly.aof.2.incr.aof, size=100, ok_up_to=75, ok_up_to_line=23, diff=25\n"));
    assert!(out.ends_with(
        "AOF appendonly.aof.2.incr.aof is not valid. Use the --fix option to try fixing it.\n"
    ));
    // Refusing leaves the file alone.
    let (code, out) = check(&["--fix", p(&manifest)], "n\n");
    assert_eq!(code, 1);
    assert!(out.ends_with("Continue? [y/N]: Aborting...\n"), "{out}");
    assert_eq!(std::fs::metadata(&incr).expect("meta").len(), 100);
    let (code, out) = check(&["--fix", p(&manifest)], "y\n");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("This will shrink the AOF appendonly.aof.2.incr.aof from 100 bytes, with 25 bytes, to 75 bytes\n"));
    assert!(out.contains("Successfully truncated AOF appendonly.aof.2.incr.aof\n"));
    assert_eq!(std::fs::metadata(&incr).expect("meta").len(), 75);
    let (code, out) = check(&[p(&manifest)], "");
    assert_eq!(code, 0, "{out}");
    // redis-check-aof, when installed, accepts the repaired set too.
    if let Ok(o) = std::process::Command::new("redis-check-aof")
        .arg(&manifest)
        .output()
    {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    }
}

#[test]
fn only_last_incr_may_be_truncated() {
    let dir = fixture_copy("notlast");
    std::fs::copy(
        dir.join("appendonly.aof.2.incr.aof"),
        dir.join("appendonly.aof.3.incr.aof"),
    )
    .expect("copy");
    std::fs::write(
        dir.join("appendonly.aof.manifest"),
        "file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\nfile appendonly.aof.3.incr.aof seq 3 type i\n",
    )
    .expect("manifest");
    let incr = dir.join("appendonly.aof.2.incr.aof");
    let data = std::fs::read(&incr).expect("read");
    std::fs::write(&incr, &data[..100]).expect("write");
    let (code, out) = check(&["--fix", p(&dir.join("appendonly.aof.manifest"))], "y\n");
    assert_eq!(code, 1);
    assert!(
        out.ends_with(
            "Failed to truncate AOF appendonly.aof.2.incr.aof because it is not the last file\n"
        ),
        "{out}"
    );
    assert_eq!(std::fs::metadata(&incr).expect("meta").len(), 100);
}

fn single(tag: &str, bytes: &[u8]) -> (i32, String, PathBuf) {
    let dir = std::env::temp_dir().join(format!("strata-check-aof-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let f = dir.join("x.aof");
    std::fs::write(&f, bytes).expect("write");
    let (code, out) = check(&[p(&f)], "");
    (code, out, f)
}

#[test]
fn damaged_single_files_match_redis() {
    let cases: &[(&[u8], &str, &str)] = &[
        (
            b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\nGARBAGE\r\n*1\r\n$4\r\nPING\r\n",
            "format error",
            "size=46, ok_up_to=23, ok_up_to_line=6, diff=23",
        ),
        (
            b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*1\r\nx4\r\nPING\r\n",
            "0x              1b: Expected prefix '$', got: 'x'",
            "size=37, ok_up_to=23, ok_up_to_line=7, diff=14",
        ),
        (
            b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*x\r\n$4\r\nPING\r\n",
            "0x              17: Expected \\r\\n, got: 780d",
            "size=37, ok_up_to=23, ok_up_to_line=6, diff=14",
        ),
        (
            b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*1\r\n$-1\r\nPING\r\n",
            "0x              1b: Expected to read string of -1 bytes, which is not in the suitable range",
            "size=38, ok_up_to=23, ok_up_to_line=8, diff=15",
        ),
        (
            b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*1\r\n$5\r\nMULTI\r\n*1\r\n$4\r\nEXEC\r\n*1\r\n$5\r\nMULTI\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\n",
            "0x              54: Reached EOF before reading EXEC for MULTI",
            "size=87, ok_up_to=52, ok_up_to_line=20, diff=35",
        ),
        (
            b"*1\r\n$4\r\nEXEC\r\n",
            "Unexpected EXEC in AOF",
            "size=14, ok_up_to=0, ok_up_to_line=4, diff=14",
        ),
        (
            b"*1\r\n$99999999999\r\nab",
            "Expected to read 100000000001 bytes, got 2 bytes",
            "ok_up_to=0",
        ),
    ];
    for (i, (bytes, err, analyzed)) in cases.iter().enumerate() {
        let (code, out, _) = single(&format!("case{i}"), bytes);
        assert_eq!(code, 1, "{out}");
        assert!(out.contains(err), "case {i}: {out}");
        assert!(out.contains(analyzed), "case {i}: {out}");
        assert!(out.ends_with("is not valid. Use the --fix option to try fixing it.\n"));
    }
}

#[test]
fn fix_drops_dangling_multi() {
    let (_, _, f) = single(
        "multi",
        b"*1\r\n$4\r\nPING\r\n*1\r\n$5\r\nMULTI\r\n*1\r\n$4\r\nPING\r\n",
    );
    let (code, out) = check(&["--fix", p(&f)], "y\n");
    assert_eq!(code, 0, "{out}");
    assert_eq!(std::fs::read(&f).expect("read"), b"*1\r\n$4\r\nPING\r\n");
}

#[test]
fn truncate_to_timestamp() {
    let (_, _, f) = single(
        "ts",
        b"#TS:100\r\n*1\r\n$4\r\nPING\r\n#TS:200\r\n*1\r\n$4\r\nPING\r\n#TS:300\r\n*1\r\n$4\r\nPING\r\n",
    );
    let (code, out) = check(&["--truncate-to-timestamp", "500", p(&f)], "");
    assert_eq!(code, 0);
    assert!(out.contains("Truncate nothing in AOF"), "{out}");
    let (code, out) = check(&["--truncate-to-timestamp", "150", p(&f)], "");
    assert_eq!(code, 0);
    assert!(
        out.ends_with(&format!(
            "Successfully truncated AOF {} to timestamp 150\n",
            p(&f)
        )),
        "{out}"
    );
    assert_eq!(std::fs::metadata(&f).expect("meta").len(), 23);
    let (code, out) = check(&["--truncate-to-timestamp", "abc", p(&f)], "");
    assert_eq!(
        (code, out.as_str()),
        (1, "Invalid timestamp, aborting...\n")
    );
}

#[test]
fn usage_and_missing_file() {
    let usage = "Usage: redis-check-aof [--fix|--truncate-to-timestamp $timestamp] <file.manifest|file.aof>\n";
    assert_eq!(check(&[], ""), (1, usage.to_string()));
    assert_eq!(check(&["--foo", "x"], ""), (1, usage.to_string()));
    let (code, out) = check(&["/nonexistent/strata.aof"], "");
    assert_eq!(code, 1);
    assert_eq!(
        out,
        "Cannot open file /nonexistent/strata.aof: No such file or directory\n"
    );
}

#[test]
fn every_truncation_is_handled() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/aof-redis");
    for name in ["appendonly.aof.2.incr.aof", "appendonly.aof.2.base.rdb"] {
        let data = std::fs::read(src.join(name)).expect("read");
        for n in 0..data.len() {
            let (code, out, _) = single("cut", &data[..n]);
            // Only a cut at a command boundary (or nothing) is valid.
            assert!(code == 0 || code == 1, "{out}");
            if n > 0 && code == 0 {
                assert!(out.contains(", diff=0\n"), "{out}");
            }
        }
    }
}
