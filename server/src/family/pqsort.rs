//! The two sorts Redis 7.0 uses where ties are visible in replies (SORT with
//! ALPHA BY, GEO searches), so equal elements come out in Redis's order:
//! - `stable_sort`: Redis calls libc `qsort`; Debian's glibc (2.36, what
//!   redis-server 7.0.15 links) implements it as a merge sort that keeps
//!   equal elements in their input order, i.e. a stable sort. Any stable sort
//!   gives the same result for a consistent comparator, so this is the
//!   standard library's.
//! - `partial_sort`: Redis's `pqsort`, a partial quicksort (Bentley and
//!   McIlroy's "Engineering a sort function" with median-of-three or ninther
//!   pivots, three-way partitioning that parks equal keys at both ends, and
//!   insertion sort below 7 elements) that only recurses into the parts
//!   overlapping the requested index range. Written here from that published
//!   algorithm; the order of equal elements depends on every swap, so the
//!   steps (pivot choice, comparison argument order, swaps) follow it exactly.
//!
//! Invariant: after `partial_sort(v, lo, hi, cmp)` the elements at indexes
//! `lo..=hi` (clamped to the slice) are the ones a full sort would put there.

use std::cmp::Ordering;

/// Sorts `v` stably (glibc's qsort behaviour).
pub fn stable_sort<T>(v: &mut [T], cmp: impl FnMut(&T, &T) -> Ordering) {
    v.sort_by(cmp);
}

/// Redis's pqsort over `v`, sorting at least the index range `lo..=hi`
/// (`hi < lo` is allowed, as Redis passes it for an empty LIMIT).
pub fn partial_sort<T>(v: &mut [T], lo: i64, hi: i64, mut cmp: impl FnMut(&T, &T) -> Ordering) {
    let n = v.len();
    part(v, 0, n, lo, hi, &mut cmp);
}

/// Does the part `[base, base + len)` overlap the requested range? (Redis
/// compares byte addresses; with whole elements that reduces to this.)
fn wanted(base: usize, len: usize, lo: i64, hi: i64) -> bool {
    let l = base as i64;
    let r = (base + len) as i64 - 1;
    !((lo < l && hi < l) || (lo > r && hi > r))
}

/// The median of three by Bentley and McIlroy's decision tree.
fn med3<T, F: FnMut(&T, &T) -> Ordering>(
    v: &[T],
    a: usize,
    b: usize,
    c: usize,
    cmp: &mut F,
) -> usize {
    if cmp(&v[a], &v[b]) == Ordering::Less {
        if cmp(&v[b], &v[c]) == Ordering::Less {
            b
        } else if cmp(&v[a], &v[c]) == Ordering::Less {
            c
        } else {
            a
        }
    } else if cmp(&v[b], &v[c]) == Ordering::Greater {
        b
    } else if cmp(&v[a], &v[c]) == Ordering::Less {
        a
    } else {
        c
    }
}

/// Swaps the `count` elements starting at `a` with those starting at `b`,
/// pairwise in increasing order (the ranges never overlap here).
fn vecswap<T>(v: &mut [T], a: usize, b: usize, count: usize) {
    for i in 0..count {
        v.swap(a + i, b + i);
    }
}

fn part<T, F: FnMut(&T, &T) -> Ordering>(
    v: &mut [T],
    mut base: usize,
    mut n: usize,
    lo: i64,
    hi: i64,
    cmp: &mut F,
) {
    loop {
        let a = base;
        if n < 7 {
            for m in a + 1..a + n {
                let mut l = m;
                while l > a && cmp(&v[l - 1], &v[l]) == Ordering::Greater {
                    v.swap(l, l - 1);
                    l -= 1;
                }
            }
            return;
        }
        let mut pm = a + n / 2;
        if n > 7 {
            let mut pl = a;
            let mut pn = a + n - 1;
            if n > 40 {
                let d = n / 8;
                pl = med3(v, pl, pl + d, pl + 2 * d, cmp);
                pm = med3(v, pm - d, pm, pm + d, cmp);
                pn = med3(v, pn - 2 * d, pn - d, pn, cmp);
            }
            pm = med3(v, pl, pm, pn, cmp);
        }
        v.swap(a, pm);
        // Invariant of the loop: [a+1, pa) == pivot, [pa, pb) < pivot,
        // (pc, pd] > pivot, (pd, a+n) == pivot.
        let (mut pa, mut pb) = (a + 1, a + 1);
        let (mut pc, mut pd) = (a + n - 1, a + n - 1);
        loop {
            while pb <= pc {
                let r = cmp(&v[pb], &v[a]);
                if r == Ordering::Greater {
                    break;
                }
                if r == Ordering::Equal {
                    v.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb <= pc {
                let r = cmp(&v[pc], &v[a]);
                if r == Ordering::Less {
                    break;
                }
                if r == Ordering::Equal {
                    v.swap(pc, pd);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb > pc {
                break;
            }
            v.swap(pb, pc);
            pb += 1;
            pc -= 1;
        }
        let pn = a + n;
        let r = (pa - a).min(pb - pa);
        vecswap(v, a, pb - r, r);
        let r = (pd - pc).min(pn - pd - 1);
        vecswap(v, pb, pn - r, r);
        let r = pb - pa;
        if r > 1 && wanted(a, r, lo, hi) {
            part(v, a, r, lo, hi, cmp);
        }
        let r = pd - pc;
        if r > 1 {
            base = pn - r;
            n = r;
            if wanted(base, n, lo, hi) {
                continue;
            }
        }
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift).
    fn numbers(seed: u64, n: usize, modulo: u64) -> Vec<u64> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x % modulo
            })
            .collect()
    }

    #[test]
    fn requested_range_is_sorted() {
        for seed in 1..200u64 {
            for n in [0usize, 1, 5, 6, 7, 8, 40, 41, 100, 333] {
                let v = numbers(seed, n, 1 + seed % 50);
                let mut full = v.clone();
                full.sort();
                let lo = (seed as usize * 7) % (n + 1);
                let hi = (lo + seed as usize % 13).min(n.saturating_sub(1));
                let mut part = v.clone();
                partial_sort(&mut part, lo as i64, hi as i64, |a, b| a.cmp(b));
                if n > 0 && lo <= hi {
                    assert_eq!(part[lo..=hi], full[lo..=hi], "seed {seed} n {n}");
                }
                let mut whole = v.clone();
                partial_sort(&mut whole, 0, n as i64 - 1, |a, b| a.cmp(b));
                assert_eq!(whole, full);
            }
        }
    }

    #[test]
    fn empty_ranges_are_accepted() {
        let mut v = numbers(9, 50, 10);
        partial_sort(&mut v, 49, 48, |a, b| a.cmp(b));
        partial_sort(&mut v, -1, -2, |a, b| a.cmp(b));
        let mut e: Vec<u64> = Vec::new();
        partial_sort(&mut e, -1, -2, |a, b| a.cmp(b));
    }

    #[test]
    fn all_ties_come_out_as_redis_gives_them() {
        // redis-server 7.0.15: RPUSH l a b c d e f g h i j k l;
        // SORT l BY nosuchkey_* ALPHA LIMIT 0 5 -> l b c d e
        let mut v: Vec<u8> = (b'a'..=b'l').collect();
        partial_sort(&mut v, 0, 4, |_, _| Ordering::Equal);
        assert_eq!(&v[..5], b"lbcde");
    }

    #[test]
    fn equal_keys_move_as_the_algorithm_says() {
        // Six elements: insertion sort, which keeps ties in order.
        let mut v = vec![(1, 'a'), (0, 'b'), (1, 'c'), (0, 'd'), (1, 'e'), (0, 'f')];
        partial_sort(&mut v, 0, 0, |x, y| x.0.cmp(&y.0));
        let names: String = v.iter().map(|p| p.1).collect();
        assert_eq!(names, "bdface");
    }
}
