//! Replays the `persistence_files` fuzz corpus (fuzz/corpus/persistence_files)
//! and damaged variants of each file through every RDB and AOF decoder and
//! both checkers: no panic, no hang, exit codes 0 or 1.

#[path = "common/persist_replay.rs"]
mod persist_replay;

use std::path::PathBuf;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/persistence_files")
}

#[test]
fn corpus_and_its_damaged_variants_never_panic() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("corpus directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(
        files.len() >= 5,
        "the seed corpus is present ({} files)",
        files.len()
    );
    for path in files {
        let data = std::fs::read(&path).expect("read corpus file");
        persist_replay::check_all(&data);
        for variant in persist_replay::damaged_variants(&data) {
            // The AOF checker writes a temp file per call: run it on a sample.
            let _ = strata_persistence::rdb::load::load(&variant[..], true, |_| Ok(()));
            let _ = strata_persistence::rdb::dump::restore(&variant, true);
            let _ = strata_tools::check_rdb::check_stream(&variant[..], 0, &mut std::io::sink());
            let mut r = strata_persistence::aof::reader::AofReader::new(&variant[..]);
            while let Ok(Some(_)) = r.next_item() {}
        }
        for variant in persist_replay::damaged_variants(&data).iter().step_by(10) {
            persist_replay::check_aof_file(variant);
        }
    }
}
