//! Replays every file of the `resp_parser` fuzz corpus
//! (`fuzz/corpus/resp_parser/`) through `RequestParser`: whole, split at
//! every offset (small files) or at a spread of offsets (big ones), one byte
//! per read, and in pseudo-random reads. It must never panic, and the result
//! (requests, final protocol error, request in progress) must not depend on
//! the split; the look-ahead that finds a batch's keys must agree with it.
//! This runs in every `cargo test`, so the corpus guards the parser
//! even where cargo-fuzz is not available.
//!
//! File names state what the bytes are: `ok-*` parse without error, `err-*`
//! end with a protocol error, `partial-*` stop inside a request; `junk-*`,
//! `fuzz-*` (found by the fuzzer) and `quirk-*` may do anything (quirk files
//! are where Redis's own parser behaves oddly; see
//! tests/tests/protocol_errors.rs). Inputs a fuzzer adds under their SHA-1
//! names count as junk.

#[path = "common/resp_replay.rs"]
mod resp_replay;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use resp_replay::{
    check_peek, limit_variants, parse_chunks, parse_random_chunks, parse_split, parse_whole,
    seed_of, Parsed,
};
use strata_server::resp::ParseLimits;

/// Files up to this size are split at every offset and fed byte by byte.
const SMALL_FILE_BYTES_MAX: usize = 4 * 1024;
/// Split points tried in a bigger file (plus the read-size boundaries).
const BIG_FILE_SPLITS: usize = 64;
/// Largest read in the pseudo-random chunking.
const RANDOM_CHUNK_BYTES_MAX: usize = 64;

fn corpus_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/resp_parser");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn split_points(len: usize) -> Vec<usize> {
    if len <= SMALL_FILE_BYTES_MAX {
        return (0..=len).collect();
    }
    let mut points: Vec<usize> = (0..=BIG_FILE_SPLITS)
        .map(|i| len * i / BIG_FILE_SPLITS)
        .collect();
    for boundary in [16 * 1024, 64 * 1024] {
        points.extend(
            [boundary - 1, boundary, boundary + 1]
                .into_iter()
                .filter(|&p| p <= len),
        );
    }
    points
}

/// Every way of reading `data` gives the same result as reading it whole.
fn check_file(name: &str, data: &[u8], limits: ParseLimits) -> Result<Parsed, String> {
    let whole = parse_whole(data, limits);
    for at in split_points(data.len()) {
        let split = parse_split(data, at, limits);
        if split != whole {
            return Err(format!(
                "{name} ({limits:?}): split at {at} gives {split:?}, whole gives {whole:?}"
            ));
        }
    }
    if data.len() <= SMALL_FILE_BYTES_MAX {
        let bytewise = parse_chunks(data.chunks(1), limits);
        if bytewise != whole {
            return Err(format!(
                "{name} ({limits:?}): one byte per read gives {bytewise:?}, whole gives {whole:?}"
            ));
        }
    }
    Ok(whole)
}

#[test]
fn corpus_parses_the_same_whatever_the_split() {
    let files = corpus_files();
    assert!(
        files.len() >= 30,
        "the corpus has only {} files",
        files.len()
    );
    let mut failures = Vec::new();
    for path in &files {
        let name = file_name(path);
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("reading {name}: {e}"));
        for limits in limit_variants() {
            match catch_unwind(AssertUnwindSafe(|| check_file(&name, &data, limits))) {
                Ok(Ok(_)) => {}
                Ok(Err(why)) => failures.push(why),
                Err(_) => failures.push(format!("{name} ({limits:?}): the parser panicked")),
            }
        }
        let whole = parse_whole(&data, ParseLimits::default());
        let chunked = catch_unwind(AssertUnwindSafe(|| {
            parse_random_chunks(&data, seed_of(&data), RANDOM_CHUNK_BYTES_MAX)
        }));
        match chunked {
            Ok(c) if c == whole => {}
            Ok(c) => failures.push(format!(
                "{name}: random reads give {c:?}, whole gives {whole:?}"
            )),
            Err(_) => failures.push(format!("{name}: the parser panicked on random reads")),
        }
        match catch_unwind(AssertUnwindSafe(|| check_peek(&data))) {
            Ok(Ok(())) => {}
            Ok(Err(why)) => failures.push(format!("{name}: {why}")),
            Err(_) => failures.push(format!("{name}: the look-ahead panicked")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} corpus failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn corpus_file_names_say_what_the_bytes_are() {
    let mut failures = Vec::new();
    for path in corpus_files() {
        let name = file_name(&path);
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {name}: {e}"));
        let parsed = parse_whole(&data, ParseLimits::default());
        let ok = match name.split('-').next().unwrap_or_default() {
            "ok" => parsed.error.is_none() && !parsed.in_progress && !parsed.requests.is_empty(),
            "err" => parsed.error.is_some(),
            "partial" => parsed.error.is_none(),
            "junk" | "quirk" | "fuzz" => true,
            // libFuzzer names the inputs it adds by their SHA-1.
            sha1 if sha1.len() == 40 && sha1.bytes().all(|b| b.is_ascii_hexdigit()) => true,
            other => {
                failures.push(format!(
                    "{name}: unknown prefix {other:?} (ok, err, partial, junk, fuzz, quirk)"
                ));
                continue;
            }
        };
        if !ok {
            failures.push(format!("{name}: parsed as {parsed:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
