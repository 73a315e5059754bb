//! strata-check-rdb: reports on good, hand-built and damaged RDB files,
//! compared with Redis 7.0.15's redis-check-rdb where it is installed.

use std::path::{Path, PathBuf};
use std::process::Command;

use strata_persistence::rdb::writer::Writer;
use strata_persistence::rdb::{opcode, types};
use strata_tools::check_rdb::{check_file, check_stream, Summary};

const FIXTURE: &str = "redis-7.0.15-types.rdb";
/// Far in the future: no expire in the fixtures counts as already expired.
const NOW_MS: u64 = 1_000_000_000_000;

fn fixture(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(p).expect("fixture")
}

fn check(bytes: &[u8], now_ms: u64) -> (Summary, String) {
    let mut out = Vec::new();
    let s = check_stream(bytes, now_ms, &mut out);
    (s, String::from_utf8_lossy(&out).into_owned())
}

fn tmp_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("strata-check-rdb-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("tmp dir");
    d
}

/// A version-10 file: AUX, SELECTDB 0, string keys (with optional expires),
/// EOF and the checksum.
fn build(keys: &[(&[u8], &[u8], Option<u64>)]) -> Vec<u8> {
    let mut w = Writer::new(Vec::new(), false);
    w.raw(b"REDIS0010").unwrap();
    w.u8(opcode::AUX).unwrap();
    w.string(b"redis-ver").unwrap();
    w.string(b"7.0.15").unwrap();
    w.u8(opcode::SELECTDB).unwrap();
    w.len(0).unwrap();
    for (k, v, exp) in keys {
        if let Some(ms) = exp {
            w.u8(opcode::EXPIRETIME_MS).unwrap();
            w.raw(&ms.to_le_bytes()).unwrap();
        }
        w.u8(types::STRING).unwrap();
        w.string(k).unwrap();
        w.string(v).unwrap();
    }
    w.u8(opcode::EOF).unwrap();
    let sum = w.checksum();
    let mut bytes = w.into_inner();
    bytes.extend_from_slice(&sum.to_le_bytes());
    bytes
}

#[test]
fn redis_fixture_is_valid() {
    let (s, out) = check(&fixture(FIXTURE), NOW_MS);
    assert!(s.ok, "{out}");
    let expected = "\
[offset 27] AUX FIELD redis-ver = '7.0.15'
[offset 41] AUX FIELD redis-bits = '64'
[offset 53] AUX FIELD ctime = '1795251611'
[offset 68] AUX FIELD used-mem = '1068448'
[offset 80] AUX FIELD aof-base = '0'
[offset 82] Selecting DB ID 0
[offset 321] Checksum OK
[offset 321] \\o/ RDB looks OK! \\o/
[info] 10 keys read
[info] 1 expires
[info] 0 already expired
";
    assert_eq!(out, expected);
}

#[test]
fn expires_and_already_expired() {
    let bytes = build(&[
        (b"a", b"1", Some(5_000)),
        (b"b", b"2", Some(NOW_MS + 1)),
        (b"c", b"3", None),
    ]);
    let (s, out) = check(&bytes, NOW_MS);
    assert!(s.ok, "{out}");
    assert_eq!((s.keys, s.expires, s.already_expired), (3, 2, 1));
    assert!(out.contains("[info] 3 keys read\n[info] 2 expires\n[info] 1 already expired\n"));
}

#[test]
fn checksum_disabled_and_old_versions() {
    let mut bytes = build(&[(b"k", b"v", None)]);
    let n = bytes.len();
    bytes[n - 8..].fill(0);
    let (s, out) = check(&bytes, NOW_MS);
    assert!(s.ok);
    assert!(out.contains(&format!(
        "[offset {n}] RDB file was saved with checksum disabled: no check performed.\n"
    )));
    // Version 4 has no checksum at all.
    let (s, out) = check(b"REDIS0004\x00\x01k\x01v\xff", NOW_MS);
    assert!(s.ok, "{out}");
    assert!(out.starts_with("[offset 15] \\o/ RDB looks OK! \\o/\n"));
}

#[test]
fn header_errors() {
    for (bytes, reason) in [
        (
            &b"XEDIS0010\xff"[..],
            "[offset 9] Wrong signature trying to load DB from file",
        ),
        (
            b"REDIS0013\xff",
            "[offset 9] Can't handle RDB format version 13",
        ),
        (
            b"REDIS00a0\xff",
            "[offset 9] Can't handle RDB format version 0",
        ),
        (b"REDIS", "[offset 0] Unexpected EOF reading RDB file"),
    ] {
        let (s, out) = check(bytes, NOW_MS);
        assert!(!s.ok);
        let expected = format!(
            "--- RDB ERROR DETECTED ---\n{reason}\n[additional info] While doing: start\n\
             [additional info] Reading type 0 (string)\n[info] 0 keys read\n"
        );
        assert!(out.starts_with(&expected), "{out}");
    }
}

#[test]
fn error_block_names_key_and_type() {
    let (s, out) = check(b"REDIS0010\xfe\x00\x11\x01z\x05", NOW_MS);
    assert!(!s.ok);
    assert!(
        out.contains(
            "[additional info] While doing: read-object-value\n\
         [additional info] Reading key 'z'\n\
         [additional info] Reading type 17 (zset-listpack)\n[info] 1 keys read\n"
        ),
        "{out}"
    );
    let (_, out) = check(b"REDIS0010\x08\x01k", NOW_MS);
    assert!(out.contains(
        "[offset 10] Invalid object type: 8\n[additional info] While doing: read-type\n"
    ));
    // After a loaded key the type is forgotten.
    let (_, out) = check(b"REDIS0010\x00\x01k\x01v\xff", NOW_MS);
    assert!(
        out.contains("While doing: check-sum\n[info] 1 keys read"),
        "{out}"
    );
}

#[test]
fn flipped_checksum_is_a_crc_error() {
    let mut bytes = fixture(FIXTURE);
    let n = bytes.len();
    bytes[n - 1] ^= 0x55;
    let (s, out) = check(&bytes, NOW_MS);
    assert!(!s.ok);
    assert!(out.contains(&format!(
        "[offset {n}] RDB CRC error\n[additional info] While doing: check-sum\n"
    )));
}

#[test]
fn every_truncation_fails_without_panic() {
    for f in [fixture(FIXTURE), build(&[(b"key", b"value", Some(7))])] {
        for n in 0..f.len() {
            let (s, out) = check(&f[..n], NOW_MS);
            assert!(!s.ok, "truncated at {n} passed");
            assert!(out.contains("--- RDB ERROR DETECTED ---"), "{n}: {out}");
        }
    }
}

#[test]
fn every_byte_flip_is_detected_without_panic() {
    let f = fixture(FIXTURE);
    for i in 0..f.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut b = f.clone();
            b[i] ^= mask;
            let (s, out) = check(&b, NOW_MS);
            // The CRC covers every byte, so any flip is an error, except in
            // the version digits: "001\xb0" reads as version 1 (as Redis's
            // atoi does), which has no checksum.
            if !(5..9).contains(&i) {
                assert!(!s.ok, "flip {mask:#x} at {i} passed: {out}");
            }
        }
    }
}

/// Our report lines against redis-check-rdb's on truncated copies of the
/// fixture. Redis words some stream read errors as internal errors with its
/// source line; those lines are skipped, everything else must be identical.
#[test]
fn truncations_match_redis_check_rdb() {
    if Command::new("redis-check-rdb")
        .arg("/dev/null")
        .output()
        .is_err()
    {
        eprintln!("redis-check-rdb not installed: skipped");
        return;
    }
    let f = fixture(FIXTURE);
    let dir = tmp_dir();
    let path = dir.join("trunc.rdb");
    let path_s = path.to_string_lossy().into_owned();
    for n in (0..=f.len()).step_by(3) {
        std::fs::write(&path, &f[..n]).unwrap();
        let theirs = Command::new("redis-check-rdb").arg(&path).output().unwrap();
        let mut ours = Vec::new();
        let s = check_file(&path_s, &mut ours, &mut std::io::sink());
        assert_eq!(s.ok, theirs.status.success(), "truncated at {n}");
        let keep = |l: &&str| !l.contains("Internal error") && !l.contains("Terminating server");
        let t = String::from_utf8_lossy(&theirs.stdout).into_owned();
        let o = String::from_utf8_lossy(&ours).into_owned();
        let tl: Vec<&str> = t.lines().filter(keep).collect();
        let ol: Vec<&str> = o
            .lines()
            .filter(keep)
            .filter(|l| !(l.contains("Unexpected EOF") && t.contains("Internal error")))
            .collect();
        assert_eq!(ol, tl, "truncated at {n}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn binary_exit_codes_usage_and_redis_name() {
    let bin = env!("CARGO_BIN_EXE_strata-check-rdb");
    let dir = tmp_dir().join("bin");
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.rdb");
    std::fs::write(&good, fixture(FIXTURE)).unwrap();
    let bad = dir.join("bad.rdb");
    std::fs::write(&bad, &fixture(FIXTURE)[..100]).unwrap();

    let out = Command::new(bin).arg(&good).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.starts_with(&format!(
        "[offset 0] Checking RDB file {}\n",
        good.display()
    )));
    assert!(text.contains("\\o/ RDB looks OK! \\o/"));

    let out = Command::new(bin).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let out = Command::new(bin)
        .arg(dir.join("missing.rdb"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let out = Command::new(bin).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("<rdb-file-name>"));

    // Under the name redis-check-rdb it behaves the same, naming itself so.
    #[cfg(unix)]
    {
        let link = dir.join("redis-check-rdb");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(bin, &link).unwrap();
        let out = Command::new(&link).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("redis-check-rdb <rdb-file-name>"));
        let out = Command::new(&link).arg(&good).output().unwrap();
        assert_eq!(out.status.code(), Some(0));
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Large encodings (quicklist, hashtable set/hash, skiplist zset, stream
/// with a consumer group, LZF string), a function library and three
/// databases; one key expired long ago.
#[test]
fn big_fixture_report() {
    let (s, out) = check(&fixture("redis-7.0.15-big.rdb"), u64::MAX);
    assert!(s.ok, "{out}");
    assert!(
        out.contains(
            "[offset 155] Selecting DB ID 0\n[offset 7536] Selecting DB ID 1\n\
         [offset 7563] Selecting DB ID 2\n[offset 7596] Checksum OK\n\
         [offset 7596] \\o/ RDB looks OK! \\o/\n[info] 9 keys read\n\
         [info] 1 expires\n[info] 1 already expired\n"
        ),
        "{out}"
    );
    for n in (0..7596).step_by(7) {
        let (s, _) = check(&fixture("redis-7.0.15-big.rdb")[..n], NOW_MS);
        assert!(!s.ok, "truncated at {n}");
    }
}
