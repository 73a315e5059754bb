//! Fuzz target: arbitrary bytes through `RequestParser`, whole, split in two
//! at a point derived from the input, and in pseudo-random reads. Never a
//! panic, never a request returned without consuming input, and the same
//! result whatever the split; the batch look-ahead agrees with the parse.
//! The checks are shared with `server/tests/fuzz_corpus.rs`, which replays
//! the corpus in `cargo test`.
#![no_main]

#[path = "../../server/tests/common/resp_replay.rs"]
mod resp_replay;

use libfuzzer_sys::fuzz_target;
use resp_replay::{
    check_peek, limit_variants, parse_random_chunks, parse_split, parse_whole, seed_of,
};

/// Largest read in the pseudo-random chunking.
const RANDOM_CHUNK_BYTES_MAX: usize = 64;

fuzz_target!(|data: &[u8]| {
    let seed = seed_of(data);
    // One of the two limit sets, chosen by the input so both get fuzzed.
    let limits = limit_variants()[(seed >> 32) as usize % 2];
    let whole = parse_whole(data, limits);
    let at = (seed % (data.len() as u64 + 1)) as usize;
    assert_eq!(parse_split(data, at, limits), whole, "split at {at}");
    let default_whole = parse_whole(data, Default::default());
    assert_eq!(
        parse_random_chunks(data, seed, RANDOM_CHUNK_BYTES_MAX),
        default_whole,
        "random reads"
    );
    if let Err(why) = check_peek(data) {
        panic!("{why}");
    }
});
