//! Checks shared by the `persistence_files` fuzz target and the corpus replay
//! test: an input is tried as an RDB file (loader, RESTORE payload,
//! strata-check-rdb) and as an AOF file (command reader, strata-check-aof).
//! Any outcome is fine except a panic or a hang; the checkers must also
//! answer 0 or 1.
#![allow(dead_code)]

use std::io::Write;

/// Runs every decoder on `data`.
pub fn check_all(data: &[u8]) {
    let _ = strata_persistence::rdb::load::load(data, true, |_| Ok(()));
    let _ = strata_persistence::rdb::dump::restore(data, true);
    let _ = strata_tools::check_rdb::check_stream(data, 0, &mut std::io::sink());
    let mut r = strata_persistence::aof::reader::AofReader::new(data);
    while let Ok(Some(_)) = r.next_item() {}
    check_aof_file(data);
}

/// strata-check-aof on `data` written to a temp file (it checks paths).
pub fn check_aof_file(data: &[u8]) {
    let path = std::env::temp_dir().join(format!(
        "strata-fuzz-aof-{}-{:?}.aof",
        std::process::id(),
        std::thread::current().id()
    ));
    if let Ok(mut f) = std::fs::File::create(&path) {
        let _ = f.write_all(data);
        drop(f);
        let args = vec!["strata-check-aof".to_string(), path.display().to_string()];
        let code = strata_tools::check_aof::run(&args, &mut std::io::empty(), &mut std::io::sink());
        assert!(code == 0 || code == 1, "exit code {code}");
        let _ = std::fs::remove_file(&path);
    }
}

/// Deterministic damage for the replay: truncations (every offset of a small
/// input), flipped bytes, and garbage inserted at several offsets.
pub fn damaged_variants(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let step = (data.len() / 200).max(1);
    for cut in (0..data.len()).step_by(step) {
        out.push(data[..cut].to_vec());
    }
    for (i, at) in (0..data.len())
        .step_by((data.len() / 50).max(1))
        .enumerate()
    {
        let mut d = data.to_vec();
        d[at] ^= [0x01, 0x80, 0xff][i % 3];
        out.push(d);
    }
    let garbage: &[&[u8]] = &[
        b"\r\n",
        b"*9999999999\r\n",
        b"\xff\x00\xfe",
        b"$-1\r\nREDIS0010",
    ];
    for (i, at) in (0..data.len())
        .step_by((data.len() / 20).max(1))
        .enumerate()
    {
        let mut d = data[..at].to_vec();
        d.extend_from_slice(garbage[i % garbage.len()]);
        d.extend_from_slice(&data[at..]);
        out.push(d);
    }
    out
}
