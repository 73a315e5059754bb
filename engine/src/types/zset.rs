//! The sorted-set type with Redis 7.0's two encodings:
//! - "listpack": a compact vector of (member, score) kept in (score, member)
//!   order, while the set has at most `zset-max-listpack-entries` members of at
//!   most `zset-max-listpack-value` bytes;
//! - "skiplist": a member -> score `Dict` (O(1) ZSCORE, SCAN cursors) plus an
//!   indexable skiplist (O(log N) rank, access by rank and range searches).
//!
//! Invariants:
//! - both encodings hold the same (member, score) pairs in the same order;
//!   no score is NaN;
//! - a listpack stores scores as Redis's listpack does (printed then parsed),
//!   which turns -0 into 0; the skiplist keeps -0;
//! - conversion to skiplist happens when an insert breaks a listpack limit;
//!   conversion back only where Redis does it (results of the STORE commands);
//! - `bytes` is a running total, so `mem_bytes` is O(1).
//!
//! Range queries mirror Redis's walks: a listpack is scanned linearly from the
//! head (first element >= min) or tail (last element <= max); a skiplist is
//! descended. For ranges whose predicates hold on a prefix of the order (every
//! score range, lex ranges over equal scores) both give the exact answer.

use std::cmp::Ordering;

use crate::types::set::Rng;
use crate::types::skiplist::{cmp_entry, Ahead, SkipList, NIL};
use crate::types::tagged::{Form, SmallOrBig, ThinBuf};
use crate::value::Encodings;

/// A range of a sorted set, as Redis's `zrangespec` / `zlexrangespec`.
pub trait ZRangeSpec {
    fn gte_min(&self, score: f64, member: &[u8]) -> bool;
    fn lte_max(&self, score: f64, member: &[u8]) -> bool;
    /// Empty by its bounds alone (min above max, or equal with an exclusion).
    fn is_void(&self) -> bool;
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreRange {
    pub min: f64,
    pub max: f64,
    pub min_excl: bool,
    pub max_excl: bool,
}

impl ZRangeSpec for ScoreRange {
    fn gte_min(&self, score: f64, _: &[u8]) -> bool {
        if self.min_excl {
            score > self.min
        } else {
            score >= self.min
        }
    }

    fn lte_max(&self, score: f64, _: &[u8]) -> bool {
        if self.max_excl {
            score < self.max
        } else {
            score <= self.max
        }
    }

    fn is_void(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.min_excl || self.max_excl))
    }
}

/// One end of a lex range: `-`, `+`, `[member` or `(member`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LexBound {
    NegInf,
    PosInf,
    Incl(Vec<u8>),
    Excl(Vec<u8>),
}

impl LexBound {
    fn is_excl(&self) -> bool {
        !matches!(self, LexBound::Incl(_))
    }

    /// Redis's sdscmplex between two bounds.
    fn cmp_bound(&self, other: &LexBound) -> Ordering {
        use LexBound::*;
        match (self, other) {
            (NegInf, NegInf) | (PosInf, PosInf) => Ordering::Equal,
            (NegInf, _) | (_, PosInf) => Ordering::Less,
            (PosInf, _) | (_, NegInf) => Ordering::Greater,
            (Incl(a) | Excl(a), Incl(b) | Excl(b)) => a.cmp(b),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

impl ZRangeSpec for LexRange {
    fn gte_min(&self, _: f64, member: &[u8]) -> bool {
        match &self.min {
            LexBound::NegInf => true,
            LexBound::PosInf => false,
            LexBound::Incl(b) => member >= &b[..],
            LexBound::Excl(b) => member > &b[..],
        }
    }

    fn lte_max(&self, _: f64, member: &[u8]) -> bool {
        match &self.max {
            LexBound::PosInf => true,
            LexBound::NegInf => false,
            LexBound::Incl(b) => member <= &b[..],
            LexBound::Excl(b) => member < &b[..],
        }
    }

    fn is_void(&self) -> bool {
        match self.min.cmp_bound(&self.max) {
            Ordering::Greater => true,
            Ordering::Equal => self.min.is_excl() || self.max.is_excl(),
            Ordering::Less => false,
        }
    }
}

/// The score a listpack hands back after storing `score` (it is printed with
/// %.17g and re-read, which is exact except that "-0" is stored as integer 0).
#[inline]
fn listpack_score(score: f64) -> f64 {
    if score == 0.0 {
        0.0
    } else {
        score
    }
}

/// Largest magnitude a listpack stores as an integer (Redis's double2ll
/// accepts integral values within +-(LLONG_MAX/2), which rounds to 2^62).
pub const LISTPACK_INT_SCORE_MAX: f64 = 4_611_686_018_427_387_904.0;

/// How a listpack entry holds `score`: `Some(n)` when Redis stores it as the
/// integer n, `None` when it stores the %.17g text. ZSCAN and the RDB writer
/// show the stored form.
pub fn listpack_score_int(score: f64) -> Option<i64> {
    if score == 0.0 {
        return Some(0);
    }
    if !(-LISTPACK_INT_SCORE_MAX..=LISTPACK_INT_SCORE_MAX).contains(&score)
        || score.trunc() != score
    {
        return None;
    }
    Some(score as i64)
}

/// A score as a listpack stores it, in Redis's `d2string` form: the integer
/// for integral scores within `LISTPACK_INT_SCORE_MAX`, else C's `%.17g`
/// ("inf", "-inf", "nan" spelled out). ZSCAN shows it; the RDB writer stores it.
pub fn listpack_score_text(score: f64) -> String {
    if let Some(n) = listpack_score_int(score) {
        return n.to_string();
    }
    if score.is_nan() {
        return "nan".into();
    }
    if score.is_infinite() {
        return if score > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    format_g17(score)
}

/// C's `%.17g` for a finite double.
pub fn format_g17(d: f64) -> String {
    const PRECISION: i32 = 17;
    if d == 0.0 {
        return if d.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let e_repr = format!("{:.*e}", (PRECISION - 1) as usize, d);
    let Some((mantissa, exp)) = e_repr.split_once('e') else {
        return e_repr;
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if !(-4..PRECISION).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa), exp.abs())
    } else {
        trim(&format!("{:.*}", (PRECISION - 1 - exp).max(0) as usize, d))
    }
}

/// The "listpack" encoding: one `ThinBuf` whose `aux` is the member count
/// and whose bytes are (member, score) pairs in (score, member) order:
/// `varint(member length) member score`, where the score is a varint `v`:
/// even `v` holds an integer (zigzag of `v >> 1`), `v == 1` is followed by
/// the 8 little-endian bytes of an f64. Varints are LEB128.
mod lp {
    use super::{cmp_entry, listpack_score, Ordering, ThinBuf};

    /// Integral scores up to this magnitude are stored as integers (every
    /// such f64 converts to i64 and back exactly).
    const INT_SCORE_MAX: f64 = 9_007_199_254_740_992.0;
    /// Varint tag of a score stored as 8 raw bytes.
    const FLOAT_TAG: u64 = 1;

    #[inline]
    fn varint_len(mut n: u64) -> usize {
        let mut len = 1;
        while n >= 0x80 {
            n >>= 7;
            len += 1;
        }
        len
    }

    #[inline]
    fn put_varint(out: &mut [u8], mut pos: usize, mut n: u64) -> usize {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if let Some(slot) = out.get_mut(pos) {
                *slot = if n == 0 { byte } else { byte | 0x80 };
            }
            pos += 1;
            if n == 0 {
                return pos;
            }
        }
    }

    #[inline]
    fn get_varint(buf: &[u8], mut pos: usize) -> (u64, usize) {
        let mut n = 0u64;
        let mut shift = 0;
        while let Some(&b) = buf.get(pos) {
            pos += 1;
            n |= ((b & 0x7f) as u64) << shift;
            shift += 7;
            if b & 0x80 == 0 || shift > 63 {
                break;
            }
        }
        (n, pos)
    }

    /// The varint a score is stored as, when it is an integer.
    #[inline]
    fn int_code(score: f64) -> Option<u64> {
        if score.trunc() != score || score.abs() > INT_SCORE_MAX {
            return None;
        }
        let n = score as i64;
        let zigzag = ((n << 1) ^ (n >> 63)) as u64;
        Some(zigzag << 1)
    }

    fn score_len(score: f64) -> usize {
        match int_code(score) {
            Some(code) => varint_len(code),
            None => 1 + 8,
        }
    }

    /// Encoded size of a pair.
    pub fn pair_len(member: &[u8], score: f64) -> usize {
        varint_len(member.len() as u64) + member.len() + score_len(score)
    }

    fn write_pair(out: &mut [u8], member: &[u8], score: f64) {
        let mut pos = put_varint(out, 0, member.len() as u64);
        if let Some(slot) = out.get_mut(pos..pos + member.len()) {
            slot.copy_from_slice(member);
        }
        pos += member.len();
        match int_code(score) {
            Some(code) => {
                put_varint(out, pos, code);
            }
            None => {
                pos = put_varint(out, pos, FLOAT_TAG);
                if let Some(slot) = out.get_mut(pos..pos + 8) {
                    slot.copy_from_slice(&score.to_le_bytes());
                }
            }
        }
    }

    /// The pair at `off`: (member, score, offset of the next pair).
    #[inline]
    pub fn read(buf: &[u8], off: usize) -> (&[u8], f64, usize) {
        let (mlen, pos) = get_varint(buf, off);
        let end = pos.saturating_add(mlen as usize).min(buf.len());
        let member = buf.get(pos..end).unwrap_or(&[]);
        let (code, pos) = get_varint(buf, end);
        if code == FLOAT_TAG {
            let raw = buf
                .get(pos..pos + 8)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .unwrap_or([0; 8]);
            (member, f64::from_le_bytes(raw), pos + 8)
        } else {
            let zigzag = code >> 1;
            let n = ((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64);
            (member, n as f64, pos)
        }
    }

    /// Offset of the pair at `rank` (the buffer end past the last).
    pub fn offset_of(buf: &[u8], rank: usize) -> usize {
        let mut off = 0;
        for _ in 0..rank {
            if off >= buf.len() {
                break;
            }
            off = read(buf, off).2;
        }
        off
    }

    /// (rank, offset, end, score) of `member`.
    pub fn find(buf: &[u8], member: &[u8]) -> Option<(usize, usize, usize, f64)> {
        let mut off = 0;
        let mut rank = 0;
        while off < buf.len() {
            let (m, s, next) = read(buf, off);
            if m == member {
                return Some((rank, off, next, s));
            }
            off = next;
            rank += 1;
        }
        None
    }

    /// Inserts an absent member in order.
    pub fn insert(b: &mut ThinBuf, member: &[u8], score: f64) {
        let score = listpack_score(score);
        let buf = b.bytes();
        let mut off = 0;
        while off < buf.len() {
            let (m, s, next) = read(buf, off);
            if cmp_entry(s, m, score, member) != Ordering::Less {
                break;
            }
            off = next;
        }
        let count = b.aux();
        b.splice_with(off, off, pair_len(member, score), |out| {
            write_pair(out, member, score)
        });
        b.set_aux(count + 1);
    }

    /// Removes the pairs in bytes `off..end`, `n` of them.
    pub fn remove(b: &mut ThinBuf, off: usize, end: usize, n: usize) {
        let count = b.aux();
        b.splice_with(off, end, 0, |_| {});
        b.set_aux(count.saturating_sub(n as u32));
    }

    /// Appends a pair known to sort after every present one.
    pub fn push(b: &mut ThinBuf, member: &[u8], score: f64) {
        let score = listpack_score(score);
        let end = b.len();
        let count = b.aux();
        b.splice_with(end, end, pair_len(member, score), |out| {
            write_pair(out, member, score)
        });
        b.set_aux(count + 1);
    }
}

/// The "skiplist" encoding: the skiplist with its member hash table
/// (see `types::skiplist`).
type Skiplist = SkipList;

/// A sorted set: a listpack (`ThinBuf`) or a boxed skiplist, in 8 bytes.
pub struct ZSet(SmallOrBig<ThinBuf, Skiplist>);

/// Iterates (member, score) pairs from a rank, forwards or backwards.
pub enum ZIter<'a> {
    Listpack {
        buf: &'a [u8],
        off: usize,
    },
    /// Backwards over a listpack: the offsets of the pairs still to visit.
    ListpackRev {
        buf: &'a [u8],
        offs: Vec<usize>,
    },
    Skiplist {
        list: &'a SkipList,
        node: u32,
        rev: bool,
    },
}

impl<'a> Iterator for ZIter<'a> {
    type Item = (&'a [u8], f64);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            ZIter::Listpack { buf, off } => {
                if *off >= buf.len() {
                    return None;
                }
                let (m, s, next) = lp::read(buf, *off);
                *off = next;
                Some((m, s))
            }
            ZIter::ListpackRev { buf, offs } => {
                let off = offs.pop()?;
                let (m, s, _) = lp::read(buf, off);
                Some((m, s))
            }
            ZIter::Skiplist { list, node, rev } => {
                if *node == NIL {
                    return None;
                }
                let out = list.entry(*node);
                *node = list.step(*node, *rev);
                Some(out)
            }
        }
    }
}

impl ZSet {
    pub fn new_listpack() -> ZSet {
        ZSet(SmallOrBig::small(ThinBuf::new()))
    }

    pub fn new_skiplist() -> ZSet {
        ZSet(SmallOrBig::big(Box::default()))
    }

    /// The encoding ZADD/ZINCRBY pick for a new key from its first member's
    /// length (Redis 7.0's zaddGenericCommand).
    pub fn for_first_member(member_len: usize, enc: &Encodings) -> ZSet {
        if enc.zset_max_listpack_entries == 0 || member_len > enc.zset_max_listpack_value {
            ZSet::new_skiplist()
        } else {
            ZSet::new_listpack()
        }
    }

    pub fn len(&self) -> usize {
        match self.0.get() {
            Form::Small(b) => b.aux() as usize,
            Form::Big(sk) => sk.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_listpack(&self) -> bool {
        !self.0.is_big()
    }

    pub fn encoding_name(&self) -> &'static str {
        if self.is_listpack() {
            "listpack"
        } else {
            "skiplist"
        }
    }

    /// Heap bytes, O(1).
    pub fn mem_bytes(&self) -> usize {
        match self.0.get() {
            Form::Small(b) => b.alloc_bytes(),
            Form::Big(sk) => std::mem::size_of::<Skiplist>() + sk.mem_bytes(),
        }
    }

    /// Starts loading what the batch of commands about to run on this set
    /// will read (see `SkipList::prefetch_updates`); a small set is one
    /// buffer, already in cache after the first of them.
    pub fn prefetch_updates(&self, entries: &[(&[u8], Ahead)]) {
        if let Form::Big(sk) = self.0.get() {
            sk.prefetch_updates(entries);
        }
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self.0.get() {
            Form::Small(b) => lp::find(b.bytes(), member).map(|f| f.3),
            Form::Big(sk) => sk.score(member),
        }
    }

    /// Adds a member known to be absent (the caller checked `score`). Converts
    /// a listpack that would break its limits first. `score` must not be NaN.
    pub fn insert(&mut self, member: &[u8], score: f64, enc: &Encodings) {
        if self.is_listpack()
            && (self.len() + 1 > enc.zset_max_listpack_entries
                || member.len() > enc.zset_max_listpack_value)
        {
            self.convert_to_skiplist();
        }
        match self.0.get_mut() {
            Form::Small(b) => lp::insert(b, member, score),
            Form::Big(sk) => {
                sk.insert(member, score);
            }
        }
    }

    /// Changes the score of a present member; false if it is absent.
    pub fn set_score(&mut self, member: &[u8], score: f64) -> bool {
        match self.0.get_mut() {
            Form::Small(b) => match lp::find(b.bytes(), member) {
                Some((_, off, end, _)) => {
                    lp::remove(b, off, end, 1);
                    lp::insert(b, member, score);
                    true
                }
                None => false,
            },
            Form::Big(sk) => sk.set_score(member, score),
        }
    }

    /// Removes a member; returns its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match self.0.get_mut() {
            Form::Small(b) => {
                let (_, off, end, score) = lp::find(b.bytes(), member)?;
                lp::remove(b, off, end, 1);
                Some(score)
            }
            Form::Big(sk) => sk.remove(member),
        }
    }

    /// 0-based rank in increasing order, with the score.
    pub fn rank(&self, member: &[u8]) -> Option<(usize, f64)> {
        match self.0.get() {
            Form::Small(b) => lp::find(b.bytes(), member).map(|f| (f.0, f.3)),
            Form::Big(sk) => sk.rank(member),
        }
    }

    /// The entry at 0-based `rank`.
    pub fn at(&self, rank: usize) -> Option<(&[u8], f64)> {
        self.iter_from(rank, false).next()
    }

    /// Iterates from `rank` towards higher ranks, or lower ones with `rev`.
    pub fn iter_from(&self, rank: usize, rev: bool) -> ZIter<'_> {
        match self.0.get() {
            Form::Small(b) => {
                let buf = b.bytes();
                if rank >= b.aux() as usize {
                    return ZIter::Listpack {
                        buf,
                        off: buf.len(),
                    };
                }
                if !rev {
                    return ZIter::Listpack {
                        buf,
                        off: lp::offset_of(buf, rank),
                    };
                }
                let mut offs = Vec::with_capacity(rank + 1);
                let mut off = 0;
                while offs.len() <= rank && off < buf.len() {
                    offs.push(off);
                    off = lp::read(buf, off).2;
                }
                ZIter::ListpackRev { buf, offs }
            }
            Form::Big(sk) => ZIter::Skiplist {
                list: sk,
                node: sk.node_at(rank),
                rev,
            },
        }
    }

    pub fn iter(&self) -> ZIter<'_> {
        self.iter_from(0, false)
    }

    /// Redis's zslIsInRange/zzlIsInRange: not void, the last element is >= min
    /// and the first is <= max.
    fn may_intersect(&self, r: &dyn ZRangeSpec) -> bool {
        if r.is_void() || self.is_empty() {
            return false;
        }
        let last = self.iter_from(self.len() - 1, false).next();
        let first = self.iter_from(0, false).next();
        matches!(last, Some((m, s)) if r.gte_min(s, m))
            && matches!(first, Some((m, s)) if r.lte_max(s, m))
    }

    /// Rank of the first element in the range (zslFirstInRange).
    pub fn first_in(&self, r: &dyn ZRangeSpec) -> Option<usize> {
        if !self.may_intersect(r) {
            return None;
        }
        let rank = match self.0.get() {
            Form::Small(_) => self.iter().position(|(m, s)| r.gte_min(s, m))?,
            Form::Big(sk) => sk.prefix_len(|s, m| !r.gte_min(s, m)),
        };
        let (m, s) = self.at(rank)?;
        r.lte_max(s, m).then_some(rank)
    }

    /// Rank of the last element in the range (zslLastInRange).
    pub fn last_in(&self, r: &dyn ZRangeSpec) -> Option<usize> {
        if !self.may_intersect(r) {
            return None;
        }
        let rank = match self.0.get() {
            Form::Small(_) => {
                // The last position whose element is <= max, scanning from the head.
                let mut found = None;
                for (i, (m, s)) in self.iter().enumerate() {
                    if r.lte_max(s, m) {
                        found = Some(i);
                    }
                }
                found?
            }
            Form::Big(sk) => sk.prefix_len(|s, m| r.lte_max(s, m)).checked_sub(1)?,
        };
        let (m, s) = self.at(rank)?;
        r.gte_min(s, m).then_some(rank)
    }

    /// ZCOUNT / ZLEXCOUNT.
    pub fn count_in(&self, r: &dyn ZRangeSpec) -> usize {
        let Some(first) = self.first_in(r) else {
            return 0;
        };
        if self.is_listpack() {
            return self
                .iter_from(first, false)
                .take_while(|(m, s)| r.lte_max(*s, m))
                .count();
        }
        match self.last_in(r) {
            Some(last) if last >= first => last - first + 1,
            _ => 0,
        }
    }

    /// Removes the members with ranks `start..=end`; returns how many.
    pub fn remove_rank_range(&mut self, start: usize, end: usize) -> usize {
        if start > end || start >= self.len() {
            return 0;
        }
        let end = end.min(self.len() - 1);
        let n = end - start + 1;
        match self.0.get_mut() {
            Form::Small(b) => {
                let from = lp::offset_of(b.bytes(), start);
                let to = from + lp::offset_of(b.bytes().get(from..).unwrap_or(&[]), n);
                lp::remove(b, from, to, n);
                n
            }
            Form::Big(_) => {
                let doomed: Vec<Box<[u8]>> = self
                    .iter_from(start, false)
                    .take(n)
                    .map(|(m, _)| m.into())
                    .collect();
                for m in &doomed {
                    self.remove(m);
                }
                doomed.len()
            }
        }
    }

    /// Removes the members in the range (ZREMRANGEBYSCORE/LEX); returns how many.
    pub fn remove_range(&mut self, r: &dyn ZRangeSpec) -> usize {
        let Some(first) = self.first_in(r) else {
            return 0;
        };
        let n = self
            .iter_from(first, false)
            .take_while(|(m, s)| r.lte_max(*s, m))
            .count();
        self.remove_rank_range(first, first + n - 1)
    }

    /// Removes and returns the lowest (or, with `rev`, highest) entry.
    pub fn pop(&mut self, rev: bool) -> Option<(Box<[u8]>, f64)> {
        let rank = if rev { self.len().checked_sub(1)? } else { 0 };
        match self.0.get_mut() {
            Form::Small(b) => {
                let off = lp::offset_of(b.bytes(), rank);
                let (m, s, end) = lp::read(b.bytes(), off);
                let m: Box<[u8]> = m.into();
                lp::remove(b, off, end, 1);
                Some((m, s))
            }
            Form::Big(sk) => sk.pop(rev),
        }
    }

    /// A uniformly random entry.
    pub fn random(&self, rng: &mut Rng) -> Option<(&[u8], f64)> {
        if self.is_empty() {
            return None;
        }
        self.at(rng.below(self.len()))
    }

    /// One ZSCAN step. A listpack is returned whole with cursor 0; a skiplist
    /// scans its dict with Redis's cursor guarantee.
    pub fn scan(&self, cursor: u64, mut visit: impl FnMut(&[u8], f64)) -> u64 {
        match self.0.get() {
            Form::Small(_) => {
                self.iter().for_each(|(m, s)| visit(m, s));
                0
            }
            Form::Big(sk) => sk.scan(cursor, visit),
        }
    }

    pub fn convert_to_skiplist(&mut self) {
        if self.is_listpack() {
            let mut sk = Skiplist::default();
            for (m, s) in self.iter() {
                sk.insert(m, s);
            }
            self.0 = SmallOrBig::big(Box::new(sk));
        }
    }

    /// Converts a skiplist back to a listpack if it fits the limits
    /// (zsetConvertToListpackIfNeeded, used for the STORE commands' results).
    pub fn shrink_if_fits(&mut self, enc: &Encodings) {
        if self.is_listpack() || self.len() > enc.zset_max_listpack_entries {
            return;
        }
        if self
            .iter()
            .any(|(m, _)| m.len() > enc.zset_max_listpack_value)
        {
            return;
        }
        let mut b = ThinBuf::new();
        for (m, s) in self.iter() {
            lp::push(&mut b, m, s);
        }
        self.0 = SmallOrBig::small(b);
    }

    /// Checks the encoding's invariants (tests).
    pub fn check(&self) -> Result<(), String> {
        let pairs: Vec<(&[u8], f64)> = self.iter().collect();
        if pairs.len() != self.len() {
            return Err("iteration length".into());
        }
        for w in pairs.windows(2) {
            if cmp_entry(w[0].1, w[0].0, w[1].1, w[1].0) != Ordering::Less {
                return Err("order".into());
            }
        }
        match self.0.get() {
            Form::Small(b) => {
                let size: usize = pairs.iter().map(|(m, s)| lp::pair_len(m, *s)).sum();
                if size != b.len() {
                    return Err("listpack size".into());
                }
            }
            Form::Big(sk) => {
                sk.check()?;
                for (m, s) in &pairs {
                    if sk.score(m) != Some(*s) {
                        return Err("dict score".into());
                    }
                }
            }
        }
        Ok(())
    }
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet::new_listpack()
    }
}

impl Clone for ZSet {
    fn clone(&self) -> ZSet {
        match self.0.get() {
            Form::Small(b) => ZSet(SmallOrBig::small(b.clone())),
            Form::Big(_) => {
                let mut sk = Skiplist::default();
                for (m, s) in self.iter() {
                    sk.insert(m, s);
                }
                ZSet(SmallOrBig::big(Box::new(sk)))
            }
        }
    }
}

impl PartialEq for ZSet {
    /// Same encoding and the same (member, score) pairs.
    fn eq(&self, other: &ZSet) -> bool {
        self.encoding_name() == other.encoding_name()
            && self.len() == other.len()
            && self
                .iter()
                .zip(other.iter())
                .all(|(a, b)| a.0 == b.0 && a.1.to_bits() == b.1.to_bits())
    }
}

impl std::fmt::Debug for ZSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ZSet({}, {} members)", self.encoding_name(), self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc(entries: usize, value: usize) -> Encodings {
        Encodings {
            zset_max_listpack_entries: entries,
            zset_max_listpack_value: value,
            ..Encodings::default()
        }
    }

    fn build(pairs: &[(&str, f64)], e: &Encodings) -> ZSet {
        let mut z = ZSet::for_first_member(pairs.first().map_or(0, |p| p.0.len()), e);
        for (m, s) in pairs {
            z.insert(m.as_bytes(), *s, e);
        }
        z
    }

    fn sr(min: f64, max: f64) -> ScoreRange {
        ScoreRange {
            min,
            max,
            min_excl: false,
            max_excl: false,
        }
    }

    #[test]
    fn listpack_converts_on_count_and_length() {
        let e = enc(3, 5);
        let mut z = build(&[("a", 1.0), ("b", 2.0), ("c", 3.0)], &e);
        assert_eq!(z.encoding_name(), "listpack");
        z.insert(b"d", 4.0, &e);
        assert_eq!(z.encoding_name(), "skiplist");
        let mut y = build(&[("a", 1.0)], &e);
        y.insert(b"longer", 0.5, &e);
        assert_eq!(y.encoding_name(), "skiplist");
        assert_eq!(ZSet::for_first_member(6, &e).encoding_name(), "skiplist");
        assert_eq!(
            ZSet::for_first_member(1, &enc(0, 64)).encoding_name(),
            "skiplist"
        );
        y.check().unwrap();
    }

    #[test]
    fn listpack_integer_scores() {
        assert_eq!(listpack_score_int(-0.0), Some(0));
        assert_eq!(
            listpack_score_int(123456789012345678.0),
            Some(123456789012345680)
        );
        assert_eq!(listpack_score_int(4611686018427387904.0), Some(1 << 62));
        assert_eq!(listpack_score_int(1e20), None);
        assert_eq!(listpack_score_int(1.5), None);
        assert_eq!(listpack_score_int(f64::INFINITY), None);
    }

    #[test]
    fn listpack_score_texts() {
        assert_eq!(listpack_score_text(1.1), "1.1000000000000001");
        assert_eq!(listpack_score_text(-2.5e-7), "-2.4999999999999999e-07");
        assert_eq!(listpack_score_text(1e20), "1e+20");
        assert_eq!(
            listpack_score_text(123456789012345678.0),
            "123456789012345680"
        );
        assert_eq!(listpack_score_text(f64::NEG_INFINITY), "-inf");
        assert_eq!(listpack_score_text(-0.0), "0");
        assert_eq!(format_g17(0.0001), "0.0001");
        assert_eq!(format_g17(f64::from_bits(8096)), "3.999955468730732e-320");
    }

    #[test]
    fn negative_zero_becomes_zero_only_in_listpack() {
        let e = enc(128, 64);
        let lp = build(&[("a", -0.0)], &e);
        assert!(lp.score(b"a").unwrap().is_sign_positive());
        let mut sk = ZSet::new_skiplist();
        sk.insert(b"a", -0.0, &e);
        assert!(sk.score(b"a").unwrap().is_sign_negative());
        sk.shrink_if_fits(&e);
        assert_eq!(sk.encoding_name(), "listpack");
        assert!(sk.score(b"a").unwrap().is_sign_positive());
    }

    #[test]
    fn ranges_by_score_and_lex() {
        for e in [enc(128, 64), enc(0, 64)] {
            let z = build(&[("a", 1.0), ("b", 2.0), ("c", 2.0), ("d", 3.0)], &e);
            assert_eq!(z.first_in(&sr(2.0, 3.0)), Some(1));
            assert_eq!(z.last_in(&sr(2.0, 3.0)), Some(3));
            assert_eq!(
                z.count_in(&ScoreRange {
                    min: 1.0,
                    max: 3.0,
                    min_excl: true,
                    max_excl: true
                }),
                2
            );
            assert_eq!(z.first_in(&sr(4.0, 5.0)), None);
            assert_eq!(z.first_in(&sr(2.5, 2.6)), None);
            assert_eq!(z.count_in(&sr(3.0, 1.0)), 0);
            let flat = build(&[("a", 0.0), ("b", 0.0), ("c", 0.0), ("d", 0.0)], &e);
            let lr = LexRange {
                min: LexBound::Excl(b"a".to_vec()),
                max: LexBound::Incl(b"c".to_vec()),
            };
            assert_eq!(flat.count_in(&lr), 2);
            assert_eq!(flat.first_in(&lr), Some(1));
            let all = LexRange {
                min: LexBound::NegInf,
                max: LexBound::PosInf,
            };
            assert_eq!(flat.count_in(&all), 4);
            let none = LexRange {
                min: LexBound::PosInf,
                max: LexBound::NegInf,
            };
            assert!(none.is_void());
            assert!(LexRange {
                min: LexBound::NegInf,
                max: LexBound::NegInf
            }
            .is_void());
            assert!(LexRange {
                min: LexBound::Incl(b"x".to_vec()),
                max: LexBound::Excl(b"x".to_vec())
            }
            .is_void());
        }
    }

    #[test]
    fn pops_and_rank_ranges() {
        for e in [enc(128, 64), enc(0, 64)] {
            let mut z = build(&[("a", 1.0), ("b", 2.0), ("c", 3.0), ("d", 4.0)], &e);
            assert_eq!(z.pop(false).map(|p| p.0.to_vec()), Some(b"a".to_vec()));
            assert_eq!(z.pop(true).map(|p| p.0.to_vec()), Some(b"d".to_vec()));
            assert_eq!(z.remove_rank_range(0, 0), 1);
            assert_eq!(
                z.iter().map(|p| p.0.to_vec()).collect::<Vec<_>>(),
                vec![b"c".to_vec()]
            );
            assert_eq!(z.remove_range(&sr(0.0, 10.0)), 1);
            assert!(z.is_empty());
            z.check().unwrap();
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Add(u8, i8),
        Rem(u8),
        RemRanks(u8, u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u8..60, -20i8..20).prop_map(|(m, s)| Op::Add(m, s)),
            2 => (0u8..60).prop_map(Op::Rem),
            1 => (0u8..10, 0u8..10).prop_map(|(a, b)| Op::RemRanks(a, b)),
        ]
    }

    fn name(m: u8) -> Vec<u8> {
        // Some long names push a small listpack over its value limit.
        if m.is_multiple_of(17) {
            format!("long-member-{m:03}").into_bytes()
        } else {
            format!("m{m:02}").into_bytes()
        }
    }

    proptest! {
        #[test]
        fn matches_sorted_vec_model(ops in proptest::collection::vec(op(), 1..300), limit in 0usize..20) {
            let e = enc(limit, 8);
            let mut z = ZSet::for_first_member(3, &e);
            let mut model: Vec<(f64, Vec<u8>)> = Vec::new();
            for op in ops {
                match op {
                    Op::Add(m, s) => {
                        let member = name(m);
                        let score = s as f64 / 2.0;
                        match model.iter_mut().find(|(_, x)| *x == member) {
                            Some(entry) => {
                                entry.0 = score;
                                prop_assert!(z.set_score(&member, score));
                            }
                            None => {
                                model.push((score, member.clone()));
                                prop_assert!(z.score(&member).is_none());
                                z.insert(&member, score, &e);
                            }
                        }
                    }
                    Op::Rem(m) => {
                        let member = name(m);
                        let before = model.len();
                        model.retain(|(_, x)| *x != member);
                        prop_assert_eq!(z.remove(&member).is_some(), before != model.len());
                    }
                    Op::RemRanks(a, b) => {
                        model.sort_by(|x, y| cmp_entry(x.0, &x.1, y.0, &y.1));
                        let (a, b) = (a as usize, b as usize);
                        let expect = if a <= b && a < model.len() { b.min(model.len() - 1) - a + 1 } else { 0 };
                        if expect > 0 {
                            model.drain(a..=b.min(model.len() - 1));
                        }
                        prop_assert_eq!(z.remove_rank_range(a, b), expect);
                    }
                }
                model.sort_by(|x, y| cmp_entry(x.0, &x.1, y.0, &y.1));
                prop_assert_eq!(z.len(), model.len());
            }
            z.check().map_err(TestCaseError::fail)?;
            let got: Vec<(f64, Vec<u8>)> = z.iter().map(|(m, s)| (s, m.to_vec())).collect();
            prop_assert_eq!(&got, &model);
            for (r, (s, m)) in model.iter().enumerate() {
                prop_assert_eq!(z.rank(m), Some((r, *s)));
                prop_assert_eq!(z.at(r), Some((&m[..], *s)));
                let back: Vec<(f64, Vec<u8>)> = z.iter_from(r, true).map(|(m, s)| (s, m.to_vec())).collect();
                let expect: Vec<(f64, Vec<u8>)> = model[..=r].iter().rev().cloned().collect();
                prop_assert_eq!(back, expect);
            }
            for lo in -11..11 {
                for hi in [lo - 1, lo, lo + 3] {
                    for (min_excl, max_excl) in [(false, false), (true, false), (false, true)] {
                        let range = ScoreRange { min: lo as f64, max: hi as f64, min_excl, max_excl };
                        let inside: Vec<usize> = (0..model.len()).filter(|&i| range.gte_min(model[i].0, &[]) && range.lte_max(model[i].0, &[])).collect();
                        prop_assert_eq!(z.count_in(&range), inside.len());
                        prop_assert_eq!(z.first_in(&range), inside.first().copied());
                        prop_assert_eq!(z.last_in(&range), inside.last().copied());
                    }
                }
            }
        }
    }
}
