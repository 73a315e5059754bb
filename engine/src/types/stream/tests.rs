//! Model-based tests of the stream: a BTreeMap of live entries is the
//! reference for appends, deletes, trims and range queries.

use std::collections::BTreeMap;

use bytes::Bytes;
use proptest::prelude::*;

use super::*;

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn fields(pairs: &[(&str, &str)]) -> Vec<Bytes> {
    pairs.iter().flat_map(|(f, v)| [b(f), b(v)]).collect()
}

/// Recomputes what the running counters claim.
fn check_invariants(s: &Stream) {
    let cap: usize = s.nodes.values().map(|lp| lp.capacity()).sum();
    assert_eq!(s.node_bytes, cap, "node_bytes tracks capacities");
    let live = s.range(StreamId::ZERO, StreamId::MAX, false, 0);
    assert_eq!(live.len() as u64, s.len());
    if let Some(first) = live.first() {
        assert_eq!(s.first_id(), first.id);
    } else {
        assert_eq!(s.first_id(), StreamId::ZERO);
    }
    for (master_id, lp) in &s.nodes {
        let m = parse_master(lp).expect("master parses");
        let entries = node_entries(lp, *master_id);
        let live = entries
            .iter()
            .filter(|p| p.flags & FLAG_DELETED == 0)
            .count();
        assert_eq!(m.count as usize, live);
        assert_eq!(m.deleted as usize, entries.len() - live);
        assert!(listpack::Listpack::from_bytes(lp.as_bytes().to_vec()).is_some());
    }
}

#[test]
fn append_and_read_back() {
    let mut s = Stream::new();
    let l = NodeLimits::default();
    s.append(StreamId::new(1, 1), &fields(&[("a", "1"), ("b", "x")]), l)
        .unwrap();
    s.append(StreamId::new(1, 2), &fields(&[("a", "2"), ("b", "y")]), l)
        .unwrap();
    s.append(StreamId::new(5, 0), &fields(&[("other", "-17")]), l)
        .unwrap();
    assert_eq!(
        s.append(StreamId::new(5, 0), &fields(&[("a", "1")]), l),
        Err(AppendError::IdTooSmall)
    );
    let all = s.range(StreamId::ZERO, StreamId::MAX, false, 0);
    assert_eq!(all.len(), 3);
    assert_eq!(all[1].fields, fields(&[("a", "2"), ("b", "y")]));
    assert_eq!(all[2].fields, fields(&[("other", "-17")]));
    let rev = s.range(StreamId::ZERO, StreamId::MAX, true, 2);
    assert_eq!(rev[0].id, StreamId::new(5, 0));
    assert_eq!(rev[1].id, StreamId::new(1, 2));
    assert_eq!(s.entries_added(), 3);
    check_invariants(&s);
}

#[test]
fn nodes_split_at_the_entry_limit() {
    let mut s = Stream::new();
    for i in 1..=250u64 {
        s.append(
            StreamId::new(i, 0),
            &fields(&[("f", "v")]),
            NodeLimits::default(),
        )
        .unwrap();
    }
    assert_eq!(s.node_count(), 3);
    check_invariants(&s);
    // Approximate trimming removes whole nodes only.
    let removed = s.trim(TrimArgs {
        strategy: TrimStrategy::MaxLen(120),
        approx: true,
        limit: 10_000,
    });
    assert_eq!(removed, 100);
    assert_eq!(s.len(), 150);
    let removed = s.trim(TrimArgs {
        strategy: TrimStrategy::MaxLen(120),
        approx: false,
        limit: 0,
    });
    assert_eq!(removed, 30);
    assert_eq!(s.first_id(), StreamId::new(131, 0));
    check_invariants(&s);
}

#[test]
fn nodes_split_at_the_byte_limit() {
    let mut s = Stream::new();
    let big = "x".repeat(1000);
    for i in 1..=10u64 {
        s.append(
            StreamId::new(i, 0),
            &fields(&[("f", &big)]),
            NodeLimits::default(),
        )
        .unwrap();
    }
    // As redis-server 7.0: a node takes entries while its size plus the
    // new fields stays under 4096 bytes (4 + 4 + 2 here).
    assert_eq!(s.node_count(), 3);
    check_invariants(&s);
}

#[test]
fn deleting_everything_keeps_metadata() {
    let mut s = Stream::new();
    let l = NodeLimits::default();
    for i in 1..=3u64 {
        s.append(StreamId::new(i, 0), &fields(&[("f", "v")]), l)
            .unwrap();
    }
    assert_eq!(s.delete(&[StreamId::new(1, 0)]), 1);
    assert_eq!(s.first_id(), StreamId::new(2, 0));
    assert_eq!(s.delete(&[StreamId::new(1, 0), StreamId::new(3, 0)]), 1);
    assert_eq!(s.max_deleted_id(), StreamId::new(3, 0));
    assert_eq!(s.delete(&[StreamId::new(2, 0)]), 1);
    assert_eq!(s.len(), 0);
    assert_eq!(s.node_count(), 0);
    assert_eq!(s.first_id(), StreamId::ZERO);
    assert_eq!(s.last_id(), StreamId::new(3, 0));
    assert_eq!(s.radix_tree_nodes(), 1);
    check_invariants(&s);
}

#[test]
fn radix_tree_node_counts() {
    let mut s = Stream::new();
    let l = NodeLimits {
        max_bytes: 4096,
        max_entries: 1,
    };
    s.append(StreamId::new(1, 1), &fields(&[("a", "1")]), l)
        .unwrap();
    assert_eq!(s.radix_tree_nodes(), 2);
    s.append(StreamId::new(1, 2), &fields(&[("a", "1")]), l)
        .unwrap();
    // Shared 15-byte prefix, a branch on the last byte, two key ends.
    assert_eq!(s.radix_tree_nodes(), 4);
    s.append(StreamId::new(2, 0), &fields(&[("a", "1")]), l)
        .unwrap();
    // Branch at byte 7 (1 vs 2): root run, branch, run under 1, branch on
    // the last byte with two leaves, run under 2 with its leaf (8 in
    // redis-server 7.0 too).
    assert_eq!(s.radix_tree_nodes(), 8);
}

#[test]
fn next_id_uses_the_injected_clock() {
    let mut s = Stream::new();
    let l = NodeLimits::default();
    let id = s.next_id(None, None, 1000).unwrap();
    assert_eq!(id, StreamId::new(1000, 0));
    s.append(id, &fields(&[("a", "1")]), l).unwrap();
    // The clock goes backwards: the sequence grows instead.
    let id = s.next_id(None, None, 500).unwrap();
    assert_eq!(id, StreamId::new(1000, 1));
    s.append(id, &fields(&[("a", "1")]), l).unwrap();
    assert_eq!(s.next_id(None, None, 1000), Some(StreamId::new(1000, 2)));
    assert_eq!(s.next_id(None, None, 1001), Some(StreamId::new(1001, 0)));
    assert_eq!(s.next_id(Some(1000), None, 0), Some(StreamId::new(1000, 2)));
    assert_eq!(s.next_id(Some(2000), None, 0), Some(StreamId::new(2000, 0)));
    assert_eq!(s.next_id(Some(7), Some(9), 0), Some(StreamId::new(7, 9)));
}

#[derive(Debug, Clone)]
enum Op {
    Add {
        gap_ms: u64,
        shape: u8,
        val: u16,
    },
    Del(usize),
    TrimMaxLen(u64, bool),
    TrimMinId(usize, bool),
    Range {
        a: usize,
        b: usize,
        rev: bool,
        count: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u64..3, 0u8..3, any::<u16>()).prop_map(|(gap_ms, shape, val)| Op::Add { gap_ms, shape, val }),
        2 => any::<usize>().prop_map(Op::Del),
        1 => (0u64..40, any::<bool>()).prop_map(|(n, a)| Op::TrimMaxLen(n, a)),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(i, a)| Op::TrimMinId(i, a)),
        2 => (any::<usize>(), any::<usize>(), any::<bool>(), 0usize..5)
            .prop_map(|(a, b, rev, count)| Op::Range { a, b, rev, count }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn behaves_like_an_ordered_map(ops in proptest::collection::vec(op(), 1..300)) {
        let limits = NodeLimits { max_bytes: 256, max_entries: 7 };
        let mut s = Stream::new();
        let mut model: BTreeMap<StreamId, Vec<Bytes>> = BTreeMap::new();
        let mut now = 1_000u64;
        let mut all_ids: Vec<StreamId> = Vec::new();
        for op in ops {
            match op {
                Op::Add { gap_ms, shape, val } => {
                    now += gap_ms;
                    let id = s.next_id(None, None, now).unwrap();
                    let f = match shape {
                        0 => fields(&[("f", &val.to_string())]),
                        1 => fields(&[("f", "x"), ("g", &"y".repeat(val as usize % 50))]),
                        _ => fields(&[("other", "-5")]),
                    };
                    s.append(id, &f, limits).unwrap();
                    model.insert(id, f);
                    all_ids.push(id);
                }
                Op::Del(i) => {
                    if all_ids.is_empty() { continue; }
                    let id = all_ids[i % all_ids.len()];
                    let n = s.delete(&[id]);
                    prop_assert_eq!(n, u64::from(model.remove(&id).is_some()));
                }
                Op::TrimMaxLen(max, approx) => {
                    let before = s.len();
                    let n = s.trim(TrimArgs { strategy: TrimStrategy::MaxLen(max), approx, limit: 0 });
                    prop_assert_eq!(before - n, s.len());
                    if !approx { prop_assert!(s.len() <= max); }
                    while model.len() as u64 > s.len() {
                        let k = *model.keys().next().unwrap();
                        model.remove(&k);
                    }
                }
                Op::TrimMinId(i, approx) => {
                    if all_ids.is_empty() { continue; }
                    let min = all_ids[i % all_ids.len()];
                    s.trim(TrimArgs { strategy: TrimStrategy::MinId(min), approx, limit: 0 });
                    if !approx {
                        model.retain(|k, _| *k >= min);
                    } else {
                        let first = s.first_entry().map(|e| e.id);
                        model.retain(|k, _| first.is_some_and(|f| *k >= f));
                    }
                }
                Op::Range { a, b, rev, count } => {
                    if all_ids.is_empty() { continue; }
                    let x = all_ids[a % all_ids.len()];
                    let y = all_ids[b % all_ids.len()];
                    let got: Vec<_> = s.range(x, y, rev, count).into_iter().map(|e| (e.id, e.fields)).collect();
                    let mut want: Vec<_> = model.range(x..=y.max(x)).filter(|(k, _)| **k <= y).map(|(k, v)| (*k, v.clone())).collect();
                    if rev { want.reverse(); }
                    if count > 0 { want.truncate(count); }
                    prop_assert_eq!(got, want);
                }
            }
            prop_assert_eq!(s.len(), model.len() as u64);
        }
        check_invariants(&s);
        let got: Vec<_> = s.range(StreamId::ZERO, StreamId::MAX, false, 0).into_iter().map(|e| e.id).collect();
        let want: Vec<_> = model.keys().copied().collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn id_text_round_trips(ms in any::<u64>(), seq in any::<u64>()) {
        let id = StreamId::new(ms, seq);
        let text = id.to_string();
        prop_assert_eq!(id::parse_full_id(text.as_bytes(), id::STRICT), Some(id));
        prop_assert_eq!(id::parse_full_id(ms.to_string().as_bytes(), id::STRICT), Some(StreamId::new(ms, 0)));
        prop_assert_eq!(id::parse_interval_id(ms.to_string().as_bytes(), u64::MAX), Some((StreamId::new(ms, u64::MAX), false)));
    }

    #[test]
    fn auto_ids_strictly_increase(clock in proptest::collection::vec(0u64..5_000, 1..200)) {
        let mut s = Stream::new();
        let mut last = StreamId::ZERO;
        for now in clock {
            let id = s.next_id(None, None, now).unwrap();
            prop_assert!(id > last);
            prop_assert_eq!(id.ms, now.max(last.ms));
            s.append(id, &fields(&[("f", "v")]), NodeLimits::default()).unwrap();
            last = id;
        }
    }
}

#[test]
fn sealed_nodes_are_packed_and_copied_out_on_write() {
    let mut s = Stream::new();
    let n = 20_000u64;
    for i in 1..=n {
        s.append(
            StreamId::new(i, 0),
            &fields(&[("f", "v")]),
            NodeLimits::default(),
        )
        .expect("append");
    }
    let packed = s.nodes.values().filter(|lp| lp.is_packed()).count();
    assert!(packed > 100, "most sealed nodes packed: {packed}");
    assert!(!s.nodes.values().next_back().expect("tail").is_packed());
    check_invariants(&s);
    // Deleting inside a packed node copies it out; reads stay right.
    assert_eq!(
        s.delete(&[StreamId::new(150, 0), StreamId::new(9_999, 0)]),
        2
    );
    assert!(s.get(StreamId::new(150, 0)).is_none());
    assert_eq!(
        s.get(StreamId::new(151, 0)).map(|e| e.fields),
        Some(fields(&[("f", "v")]))
    );
    check_invariants(&s);
    // Trims drop packed nodes (and their chunks) from the front.
    let removed = s.trim(TrimArgs {
        strategy: TrimStrategy::MaxLen(5_050),
        approx: false,
        limit: 0,
    });
    assert_eq!(removed, n - 2 - 5_050);
    assert_eq!(s.len(), 5_050);
    check_invariants(&s);
    // A rebuilt stream (RDB loading) packs its sealed nodes too.
    let parts: Vec<(StreamId, listpack::Listpack)> = s
        .nodes()
        .map(|(id, b)| (id, listpack::Listpack::from_bytes(b.to_vec()).expect("lp")))
        .collect();
    let back = Stream::from_parts(
        parts,
        s.len(),
        s.last_id(),
        s.first_id(),
        s.max_deleted_id(),
        s.entries_added(),
    )
    .expect("rebuilt");
    assert_eq!(back, s);
    assert!(back.nodes.values().filter(|lp| lp.is_packed()).count() > 40);
    check_invariants(&back);
    let mut grown = back.clone();
    grown
        .append(
            StreamId::new(n + 1, 0),
            &fields(&[("f", "v")]),
            NodeLimits::default(),
        )
        .expect("append after load");
    assert_eq!(grown.len(), 5_051);
    check_invariants(&grown);
}
