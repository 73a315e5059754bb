//! Fuzz target: arbitrary bytes as an RDB file (loader, RESTORE payload,
//! strata-check-rdb) and as an AOF file (command reader, strata-check-aof).
//! Never a panic, never a hang. The same checks replay the corpus in
//! `cargo test` (tools/tests/persistence_corpus.rs).
#![no_main]

#[path = "../../tools/tests/common/persist_replay.rs"]
mod persist_replay;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    persist_replay::check_all(data);
});
