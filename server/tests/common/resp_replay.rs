//! Replaying bytes through `RequestParser`, whole or cut into pieces, to check
//! that the parse never depends on how the bytes were split across reads.
//! Shared by `server/tests/fuzz_corpus.rs` and the `resp_parser` fuzz target
//! (`fuzz/fuzz_targets/resp_parser.rs` includes this file by path).

use bytes::BytesMut;
use strata_server::resp::{ParseLimits, ProtocolError, RequestParser};

/// Parse calls allowed per input byte before the parser is deemed stuck
/// (every request consumes at least one byte, plus one `Ok(None)` per chunk).
const PARSE_CALLS_PER_BYTE_MAX: usize = 4;

/// What a parser made of a byte stream.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    /// Every request returned, in order (empty ones included).
    pub requests: Vec<Vec<Vec<u8>>>,
    /// The protocol error that ended the stream, if any.
    pub error: Option<ProtocolError>,
    /// A request was partly consumed when the input ran out.
    pub in_progress: bool,
}

/// Feeds `chunks` one after the other, parsing as much as possible after each,
/// as the event loop does after each read. Panics if the parser returns a
/// request without consuming input or loops without progress.
pub fn parse_chunks<'a>(chunks: impl IntoIterator<Item = &'a [u8]>, limits: ParseLimits) -> Parsed {
    let mut parser = RequestParser::new();
    let mut buf = BytesMut::new();
    let mut out = Parsed::default();
    let mut fed = 0usize;
    let mut calls = 0usize;
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        fed += chunk.len();
        loop {
            calls += 1;
            assert!(
                calls <= (fed + 1) * PARSE_CALLS_PER_BYTE_MAX,
                "parser makes no progress"
            );
            let before = buf.len();
            match parser.parse(&mut buf, limits) {
                Ok(Some(argv)) => {
                    assert!(
                        buf.len() < before,
                        "a request was returned without consuming input"
                    );
                    out.requests
                        .push(argv.into_iter().map(|a| a.to_vec()).collect());
                }
                Ok(None) => break,
                Err(e) => {
                    out.error = Some(e);
                    return out;
                }
            }
        }
    }
    out.in_progress = parser.in_progress();
    out
}

/// The whole input in one read.
pub fn parse_whole(data: &[u8], limits: ParseLimits) -> Parsed {
    parse_chunks([data], limits)
}

/// The input in two reads, cut at `at`.
pub fn parse_split(data: &[u8], at: usize, limits: ParseLimits) -> Parsed {
    let (a, b) = data.split_at(at.min(data.len()));
    parse_chunks([a, b], limits)
}

/// The input in reads whose sizes come from `seed` (1 to `chunk_max` bytes).
pub fn parse_random_chunks(data: &[u8], seed: u64, chunk_max: usize) -> Parsed {
    let mut state = seed | 1;
    let mut chunks = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        // xorshift64: cheap, deterministic, good enough to vary chunk sizes.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let n = (state as usize % chunk_max.max(1)) + 1;
        let (a, b) = rest.split_at(n.min(rest.len()));
        chunks.push(a);
        rest = b;
    }
    parse_chunks(chunks, ParseLimits::default())
}

/// FNV-1a: a seed derived from the input, so a fuzzer's mutations also move
/// the split points.
pub fn seed_of(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The limits the parser runs under: an authenticated client, and one before AUTH.
pub fn limit_variants() -> [ParseLimits; 2] {
    [
        ParseLimits::default(),
        ParseLimits {
            authenticated: false,
            ..ParseLimits::default()
        },
    ]
}

/// Checks the parser's look-ahead (`peek_keys`, used to prefetch a
/// pipelined batch's keys) against the real parse: every span it reports is
/// inside the input, the spans are the key arguments (by `key_step`) of the
/// requests the parser returns, in order, and it counts no more whole
/// requests than the parser returns.
pub fn check_peek(data: &[u8]) -> Result<(), String> {
    use strata_server::resp::parser::{key_step, peek_keys};
    let mut spans = [(0usize, 0usize); 16];
    let found = peek_keys(data, &mut spans);
    let parsed = parse_whole(data, ParseLimits::default());
    if found.requests > parsed.requests.len() {
        return Err(format!(
            "peek counted {} requests, the parser returned {}",
            found.requests,
            parsed.requests.len()
        ));
    }
    let expected: Vec<&[u8]> = parsed
        .requests
        .iter()
        .flat_map(|argv| {
            let step = argv.first().and_then(|name| key_step(name));
            argv.iter()
                .enumerate()
                .skip(1)
                .filter(move |(i, _)| *i == 1 || step.is_some_and(|st| (i - 1) % st == 0))
                .map(|(_, a)| &a[..])
        })
        .take(found.keys)
        .collect();
    let mut got = Vec::new();
    for &(start, stop) in &spans[..found.keys] {
        match data.get(start..stop) {
            Some(span) => got.push(span),
            None => return Err(format!("peek span {start}..{stop} outside the input")),
        }
    }
    if got != expected {
        return Err(format!("peek keys {got:?}, parser's {expected:?}"));
    }
    check_peek_requests(data, &parsed.requests)
}

/// `peek_requests` reports whole requests the parser returns, in order,
/// with every argument.
fn check_peek_requests(data: &[u8], parsed: &[Vec<Vec<u8>>]) -> Result<(), String> {
    use strata_server::resp::parser::peek_requests;
    let mut spans = [(0usize, 0usize); 64];
    let mut counts = [0usize; 16];
    let n = peek_requests(data, &mut spans, &mut counts);
    if n > parsed.len() {
        return Err(format!(
            "peek_requests counted {n} requests, the parser returned {}",
            parsed.len()
        ));
    }
    let mut first = 0;
    for (r, &count) in counts[..n].iter().enumerate() {
        let mut got = Vec::new();
        for &(start, stop) in spans.get(first..first + count).unwrap_or(&[]) {
            match data.get(start..stop) {
                Some(span) => got.push(span),
                None => return Err(format!("peek span {start}..{stop} outside the input")),
            }
        }
        first += count;
        let expected: Vec<&[u8]> = parsed[r].iter().map(|a| &a[..]).collect();
        if got != expected {
            return Err(format!(
                "peek_requests request {r}: {got:?}, parser's {expected:?}"
            ));
        }
    }
    Ok(())
}
