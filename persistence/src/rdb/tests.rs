//! Round trips through the snapshot writer and the loader.

use std::collections::HashMap;

use strata_engine::value::Value;
use strata_engine::Keyspace;

use super::load::{load, Item};
use super::save::{start, AccessInfo, SaveOptions};

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("strata-rdb-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn save_keyspace(ks: &mut Keyspace, path: &std::path::Path, compress: bool) {
    let sizes = ks.db_sizes().iter().map(|(k, e, _)| (*k, *e)).collect();
    let (sink, handle) = start(SaveOptions {
        format: super::save::SaveFormat::Rdb,
        timestamp_s: None,
        target: path.to_path_buf(),
        temp: path.with_extension("tmp"),
        compress,
        checksum: true,
        aux: vec![
            ("redis-ver".into(), "7.0.15".into()),
            ("redis-bits".into(), "64".into()),
        ],
        access: AccessInfo::None,
        db_sizes: sizes,
        functions: vec![],
    })
    .unwrap();
    assert!(ks.snapshot_now(Box::new(sink)));
    handle.result.recv().unwrap().unwrap();
}

#[test]
fn strings_round_trip_through_a_file() {
    let dir = temp_dir("strings");
    let path = dir.join("dump.rdb");
    let mut ks = Keyspace::new(16);
    ks.set_now_ms(1_000_000);
    let mut expected = HashMap::new();
    for i in 0..3000 {
        let key = format!("key:{i}");
        let val = match i % 4 {
            0 => Value::from_int(i * 1000 - 5000),
            1 => Value::string_from(format!("short{i}").as_bytes()),
            2 => Value::string_from("x".repeat(100 + i as usize % 50).as_bytes()),
            _ => Value::string_from(&(0..200).map(|b| (b * 7 + i) as u8).collect::<Vec<u8>>()),
        };
        let db = (i % 3) as usize;
        ks.db(db).set(key.as_bytes(), val.clone(), false);
        let exp = if i % 5 == 0 {
            ks.db(db)
                .set_expire_at(key.as_bytes(), 5_000_000 + i as u64);
            Some(5_000_000 + i as u64)
        } else {
            None
        };
        expected.insert((db, key.into_bytes()), (val, exp));
    }
    save_keyspace(&mut ks, &path, true);
    let mut seen = 0;
    let mut aux = Vec::new();
    let info = load(std::fs::File::open(&path).unwrap(), true, |item| {
        match item {
            Item::Entry {
                db,
                key,
                value,
                expire_at_ms,
                ..
            } => {
                let (v, e) = expected.get(&(db, key.clone())).expect("unexpected key");
                assert_eq!((&value, expire_at_ms), (v, *e));
                seen += 1;
            }
            Item::Aux(k, v) => aux.push((k, v)),
            _ => {}
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(seen, 3000);
    assert!(info.checksum_verified);
    assert_eq!(info.version, 10);
    assert_eq!(aux[0], (b"redis-ver".to_vec(), b"7.0.15".to_vec()));
    redis_check_rdb_accepts(&path);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn corrupt_and_truncated_files_are_errors_with_offsets() {
    let dir = temp_dir("corrupt");
    let path = dir.join("dump.rdb");
    let mut ks = Keyspace::new(16);
    for i in 0..50 {
        ks.db(0).set(
            format!("k{i}").as_bytes(),
            Value::string_from(b"some value here"),
            false,
        );
    }
    save_keyspace(&mut ks, &path, false);
    let good = std::fs::read(&path).unwrap();
    // Every truncation fails cleanly.
    for cut in 0..good.len() {
        let r = load(&good[..cut], true, |_| Ok(()));
        assert!(r.is_err(), "truncated at {cut} loaded");
    }
    // A flipped byte in the body fails (checksum or structure), never panics.
    for at in 9..good.len() {
        let mut bad = good.clone();
        bad[at] ^= 0x5a;
        let _ = load(&bad[..], true, |_| Ok(()));
    }
    let mut bad = good.clone();
    let n = bad.len();
    bad[n - 20] ^= 1;
    let err = load(&bad[..], true, |_| Ok(())).unwrap_err().to_string();
    assert!(err.contains("offset"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Interop: Redis's own checker accepts our file (skipped with a notice when
/// redis-check-rdb is not installed; CI installs it).
fn redis_check_rdb_accepts(path: &std::path::Path) {
    match std::process::Command::new("redis-check-rdb")
        .arg(path)
        .output()
    {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && text.contains("RDB looks OK!"),
                "redis-check-rdb rejected the file:\n{text}"
            );
        }
        Err(_) if std::env::var_os("CI").is_some() => panic!("redis-check-rdb is required in CI"),
        Err(_) => eprintln!("notice: redis-check-rdb not installed; interop check skipped"),
    }
}
