//! The sparse encoding: after the header, a run-length list of opcodes that
//! together cover every register in order.
//!
//! ```text
//! ZERO   00xxxxxx           xxxxxx + 1 registers (1..=64) set to 0
//! XZERO  01xxxxxx yyyyyyyy  14-bit length + 1 registers (1..=16384) set to 0
//! VAL    1vvvvvxx           xx + 1 registers (1..=4) set to vvvvv + 1 (1..=32)
//! ```
//!
//! Updates follow Redis's rules exactly, so the bytes match after any series
//! of PFADD/PFMERGE: the opcode holding the register is replaced by at most
//! three opcodes (zeros or old value before, the new VAL, zeros or old value
//! after), then adjacent equal VALs are joined, scanning at most
//! `MERGE_SCAN_OPCODES` opcodes from the one before the change. A value above
//! `VAL_MAX_VALUE` or growth past `hll-sparse-max-bytes` converts the sketch
//! to dense.
//!
//! Bodies come from clients (SET, RESTORE): every walk tolerates garbage and
//! reports `Corrupt` when the opcodes do not cover exactly `REGISTERS`.

use super::estimate::Histogram;
use super::{
    dense, invalidate_cache, Corrupt, DENSE_BYTES, ENCODING_DENSE, ENCODING_OFFSET, HEADER_BYTES,
    REGISTERS,
};
use crate::thin::ByteBuf;

pub const VAL_MAX_VALUE: u8 = 32;
pub const VAL_MAX_LEN: usize = 4;
pub const ZERO_MAX_LEN: usize = 64;
pub const XZERO_MAX_LEN: usize = 16384;
/// Opcodes looked at when joining equal neighbours after an update.
const MERGE_SCAN_OPCODES: usize = 5;
/// Longest replacement sequence: a zero run, the VAL, a zero run (2+1+2).
const SEQ_BYTES_MAX: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Zero(usize),
    XZero(usize),
    Val { value: u8, len: usize },
}

impl Op {
    /// Registers covered.
    pub fn span(self) -> usize {
        match self {
            Op::Zero(n) | Op::XZero(n) => n,
            Op::Val { len, .. } => len,
        }
    }

    /// Bytes the opcode takes.
    pub fn bytes(self) -> usize {
        match self {
            Op::XZero(_) => 2,
            _ => 1,
        }
    }
}

/// Decodes the opcode at `pos` (which must be in range). An XZERO cut off by
/// the end reads its second byte as 0, as Redis reads its string's NUL.
pub fn op_at(buf: &[u8], pos: usize) -> Op {
    let b = buf.get(pos).copied().unwrap_or(0);
    if b & 0x80 != 0 {
        Op::Val {
            value: ((b >> 2) & 0x1f) + 1,
            len: (b & 0x03) as usize + 1,
        }
    } else if b & 0x40 != 0 {
        let lo = buf.get(pos + 1).copied().unwrap_or(0) as usize;
        Op::XZero((((b & 0x3f) as usize) << 8 | lo) + 1)
    } else {
        Op::Zero((b & 0x3f) as usize + 1)
    }
}

fn zero_byte(len: usize) -> u8 {
    debug_assert!((1..=ZERO_MAX_LEN).contains(&len));
    (len - 1) as u8
}

fn xzero_bytes(len: usize) -> [u8; 2] {
    debug_assert!((1..=XZERO_MAX_LEN).contains(&len));
    let l = len - 1;
    [0x40 | (l >> 8) as u8, (l & 0xff) as u8]
}

fn val_byte(value: u8, len: usize) -> u8 {
    debug_assert!((1..=VAL_MAX_VALUE).contains(&value) && (1..=VAL_MAX_LEN).contains(&len));
    0x80 | ((value - 1) << 2) | (len - 1) as u8
}

/// Appends a zero run of `len` registers: ZERO when it fits, else XZERO.
fn push_zero_run(out: &mut Vec<u8>, len: usize) {
    if len > ZERO_MAX_LEN {
        out.extend_from_slice(&xzero_bytes(len));
    } else {
        out.push(zero_byte(len));
    }
}

/// Appends XZERO opcodes covering `n` zero registers (a new sketch).
pub fn push_zeros(out: &mut Vec<u8>, mut n: usize) {
    while n > 0 {
        let run = n.min(XZERO_MAX_LEN);
        out.extend_from_slice(&xzero_bytes(run));
        n -= run;
    }
}

/// The opcodes of a sketch's body with their byte offsets.
pub fn ops(hll: &[u8]) -> impl Iterator<Item = (usize, Op)> + '_ {
    let mut pos = HEADER_BYTES;
    std::iter::from_fn(move || {
        if pos >= hll.len() {
            return None;
        }
        let op = op_at(hll, pos);
        let at = pos;
        pos += op.bytes();
        Some((at, op))
    })
}

/// Raises register `index` to `count` if lower. May turn the sketch dense.
pub fn raise<B: ByteBuf>(
    hll: &mut B,
    index: usize,
    count: u8,
    sparse_bytes_max: usize,
) -> Result<bool, Corrupt> {
    if count == 0 {
        // Registers never go down, and every register is at least 0.
        return Ok(false);
    }
    if count > VAL_MAX_VALUE {
        return promote_and_raise(hll, index, count);
    }
    // Find the opcode covering `index`, and the one before it.
    let mut first = 0usize;
    let mut prev = None;
    let mut found = None;
    for (pos, op) in ops(hll) {
        if index < first + op.span() {
            found = Some((pos, op));
            break;
        }
        prev = Some(pos);
        first += op.span();
    }
    let (pos, op) = found.ok_or(Corrupt)?;

    match op {
        Op::Val { value, .. } if value >= count => return Ok(false),
        // A single register: rewrite the opcode in place.
        Op::Val { len: 1, .. } | Op::Zero(1) => {
            set_byte(hll, pos, val_byte(count, 1));
        }
        _ => {
            let last = first + op.span() - 1;
            let mut seq = Vec::with_capacity(SEQ_BYTES_MAX);
            match op {
                Op::Val { value, .. } => {
                    if index != first {
                        seq.push(val_byte(value, index - first));
                    }
                    seq.push(val_byte(count, 1));
                    if index != last {
                        seq.push(val_byte(value, last - index));
                    }
                }
                Op::Zero(_) | Op::XZero(_) => {
                    if index != first {
                        push_zero_run(&mut seq, index - first);
                    }
                    seq.push(val_byte(count, 1));
                    if index != last {
                        push_zero_run(&mut seq, last - index);
                    }
                }
            }
            let old_len = op.bytes();
            if seq.len() > old_len && hll.len() + seq.len() - old_len > sparse_bytes_max {
                return promote_and_raise(hll, index, count);
            }
            // The string ends `old_len` bytes after `pos` even when a cut-off
            // XZERO makes it shorter (Redis's length arithmetic).
            let new_len = hll.len() + seq.len() - old_len;
            let end = (pos + old_len).min(hll.len());
            hll.splice_bytes(pos..end, &seq);
            hll.truncate_to(new_len);
        }
    }
    join_equal_vals(hll, prev.unwrap_or(HEADER_BYTES));
    // Each sparse update marks the cache stale at once (Redis does it here,
    // not only at the end of the command): a PFADD that fails on a later
    // element leaves the flag set.
    invalidate_cache(hll);
    Ok(true)
}

fn set_byte(buf: &mut [u8], pos: usize, b: u8) {
    if let Some(slot) = buf.get_mut(pos) {
        *slot = b;
    }
}

/// Joins adjacent VALs of equal value whose lengths fit one opcode, looking
/// at up to `MERGE_SCAN_OPCODES` opcodes from `pos`.
fn join_equal_vals<B: ByteBuf>(hll: &mut B, mut pos: usize) {
    let mut budget = MERGE_SCAN_OPCODES;
    while pos < hll.len() && budget > 0 {
        budget -= 1;
        let op = op_at(hll, pos);
        let Op::Val { value, len } = op else {
            pos += op.bytes();
            continue;
        };
        if pos + 1 < hll.len() {
            if let Op::Val {
                value: next_value,
                len: next_len,
            } = op_at(hll, pos + 1)
            {
                if next_value == value && len + next_len <= VAL_MAX_LEN {
                    set_byte(hll, pos + 1, val_byte(value, len + next_len));
                    hll.remove_byte(pos);
                    // Stay: the joined opcode may join the next one too.
                    continue;
                }
            }
        }
        pos += 1;
    }
}

fn promote_and_raise<B: ByteBuf>(hll: &mut B, index: usize, count: u8) -> Result<bool, Corrupt> {
    let mut dense = to_dense(hll)?;
    let changed = dense
        .get_mut(HEADER_BYTES..)
        .is_some_and(|regs| dense::raise(regs, index, count));
    hll.set_bytes(dense);
    Ok(changed)
}

/// The dense form of a sparse sketch, header copied (cache and unused bytes
/// included). The opcodes must cover exactly `REGISTERS` registers; a VAL
/// run reaching past the last register is `Corrupt` at once.
pub fn to_dense(hll: &[u8]) -> Result<Vec<u8>, Corrupt> {
    let header = hll.get(..HEADER_BYTES).ok_or(Corrupt)?;
    let mut out = Vec::with_capacity(DENSE_BYTES);
    out.extend_from_slice(header);
    out.resize(DENSE_BYTES, 0);
    set_byte(&mut out, ENCODING_OFFSET, ENCODING_DENSE);
    let regs = out.get_mut(HEADER_BYTES..).ok_or(Corrupt)?;
    let mut idx = 0usize;
    for (_, op) in ops(hll) {
        match op {
            Op::Zero(n) | Op::XZero(n) => idx += n,
            Op::Val { value, len } => {
                if idx + len > REGISTERS {
                    return Err(Corrupt);
                }
                for i in idx..idx + len {
                    dense::set(regs, i, value);
                }
                idx += len;
            }
        }
    }
    if idx != REGISTERS {
        return Err(Corrupt);
    }
    Ok(out)
}

/// Register-value histogram; `Corrupt` unless the body covers `REGISTERS`.
pub fn histogram(hll: &[u8]) -> Result<Histogram, Corrupt> {
    let mut h = Histogram::default();
    let mut idx = 0usize;
    for (_, op) in ops(hll) {
        let (value, n) = match op {
            Op::Zero(n) | Op::XZero(n) => (0, n),
            Op::Val { value, len } => (value, len),
        };
        idx += n;
        h.add(value, n.min(u32::MAX as usize) as u32);
    }
    if idx != REGISTERS {
        return Err(Corrupt);
    }
    Ok(h)
}

/// max[i] = max(max[i], register i); `Corrupt` unless the body covers
/// exactly `REGISTERS` registers.
pub fn merge_into(max: &mut [u8; REGISTERS], hll: &[u8]) -> Result<(), Corrupt> {
    let mut idx = 0usize;
    for (_, op) in ops(hll) {
        match op {
            Op::Zero(n) | Op::XZero(n) => idx += n,
            Op::Val { value, len } => {
                let Some(slots) = max.get_mut(idx..idx + len) else {
                    return Err(Corrupt);
                };
                for m in slots {
                    if value > *m {
                        *m = value;
                    }
                }
                idx += len;
            }
        }
    }
    if idx != REGISTERS {
        return Err(Corrupt);
    }
    Ok(())
}

/// PFDEBUG DECODE's text: "z:<len>", "Z:<len>", "v:<value>,<len>" joined by spaces.
pub fn decode(hll: &[u8]) -> String {
    let mut out = String::new();
    for (_, op) in ops(hll) {
        if !out.is_empty() {
            out.push(' ');
        }
        match op {
            Op::Zero(n) => out.push_str(&format!("z:{n}")),
            Op::XZero(n) => out.push_str(&format!("Z:{n}")),
            Op::Val { value, len } => out.push_str(&format!("v:{value},{len}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{new_sketch, registers};
    use super::*;

    fn body(hll: &[u8]) -> &[u8] {
        &hll[HEADER_BYTES..]
    }

    #[test]
    fn opcode_round_trip() {
        assert_eq!(op_at(&[zero_byte(64)], 0), Op::Zero(64));
        assert_eq!(op_at(&xzero_bytes(16384), 0), Op::XZero(16384));
        assert_eq!(op_at(&xzero_bytes(65), 0), Op::XZero(65));
        assert_eq!(op_at(&[val_byte(32, 4)], 0), Op::Val { value: 32, len: 4 });
        assert_eq!(op_at(&[val_byte(1, 1)], 0), Op::Val { value: 1, len: 1 });
        // A cut-off XZERO reads its low byte as 0.
        assert_eq!(op_at(&[0x7f], 0), Op::XZero(16129));
    }

    #[test]
    fn splits_zero_runs() {
        let mut h = new_sketch();
        assert_eq!(raise(&mut h, 100, 3, 3000), Ok(true));
        assert_eq!(decode(&h), "Z:100 v:3,1 Z:16283");
        assert_eq!(raise(&mut h, 0, 2, 3000), Ok(true));
        // 99 zeros no longer fit a ZERO (at most 64).
        assert_eq!(decode(&h), "v:2,1 Z:99 v:3,1 Z:16283");
        assert_eq!(raise(&mut h, 99, 3, 3000), Ok(true));
        assert_eq!(decode(&h), "v:2,1 Z:98 v:3,2 Z:16283");
        assert_eq!(raise(&mut h, 99, 2, 3000), Ok(false));
        assert_eq!(raise(&mut h, 16383, 1, 3000), Ok(true));
        assert_eq!(decode(&h), "v:2,1 Z:98 v:3,2 Z:16282 v:1,1");
        assert_eq!(body(&h), &[0x84, 0x40, 0x61, 0x89, 0x7f, 0x99, 0x80]);
        assert_eq!(raise(&mut h, 50, 1, 3000), Ok(true));
        assert_eq!(decode(&h), "v:2,1 z:49 v:1,1 z:48 v:3,2 Z:16282 v:1,1");
    }

    #[test]
    fn sparse_updates_mark_the_cache_stale() {
        use super::super::{cached_cardinality, set_register, to_dense};
        let mut h = new_sketch();
        assert_eq!(cached_cardinality(&h), Some(0));
        assert_eq!(raise(&mut h, 7, 1, 3000), Ok(true));
        assert_eq!(cached_cardinality(&h), None);
        let mut h = new_sketch();
        assert_eq!(raise(&mut h, 7, 0, 3000), Ok(false), "no change");
        assert_eq!(cached_cardinality(&h), Some(0));
        // Dense updates leave the flag to the command.
        to_dense(&mut h).unwrap();
        assert_eq!(set_register(&mut h, 7, 1, 3000), Ok(true));
        assert_eq!(cached_cardinality(&h), Some(0));
    }

    #[test]
    fn splits_val_runs_and_joins_neighbours() {
        let mut h = new_sketch();
        for i in 10..14 {
            raise(&mut h, i, 5, 3000).unwrap();
        }
        assert_eq!(decode(&h), "z:10 v:5,4 Z:16370");
        raise(&mut h, 11, 7, 3000).unwrap();
        assert_eq!(decode(&h), "z:10 v:5,1 v:7,1 v:5,2 Z:16370");
        raise(&mut h, 11, 5, 3000).unwrap();
        assert_eq!(decode(&h), "z:10 v:5,1 v:7,1 v:5,2 Z:16370", "no change");
    }

    #[test]
    fn big_values_and_size_promote() {
        let mut h = new_sketch();
        raise(&mut h, 5, 33, 3000).unwrap();
        assert_eq!(h.len(), DENSE_BYTES);
        assert_eq!(registers(&h).unwrap()[5], 33);

        let mut h = new_sketch();
        let mut i = 0;
        while h.len() < DENSE_BYTES {
            raise(&mut h, i, 1 + (i % 3) as u8, 40).unwrap();
            assert!(h.len() <= 40 || h.len() == DENSE_BYTES);
            i += 2;
        }
        let regs = registers(&h).unwrap();
        for j in 0..i {
            let want = if j % 2 == 0 { 1 + (j % 3) as u8 } else { 0 };
            assert_eq!(regs[j], want, "register {j}");
        }
    }

    #[test]
    fn corrupt_bodies_are_reported() {
        let mut empty = new_sketch();
        empty.truncate(HEADER_BYTES);
        assert_eq!(raise(&mut empty, 0, 1, 3000), Err(Corrupt));
        assert_eq!(histogram(&empty), Err(Corrupt));
        assert_eq!(to_dense(&empty), Err(Corrupt));
        let mut short = new_sketch();
        short.truncate(HEADER_BYTES + 1); // XZERO of 16129
        assert_eq!(raise(&mut short, 16200, 1, 3000), Err(Corrupt));
        assert_eq!(histogram(&short), Err(Corrupt));
        let mut max = [0u8; REGISTERS];
        assert_eq!(merge_into(&mut max, &short), Err(Corrupt));
        // A VAL run past the last register is corrupt everywhere.
        let mut over = new_sketch();
        over.push(val_byte(3, 1));
        assert_eq!(to_dense(&over), Err(Corrupt));
        assert_eq!(merge_into(&mut max, &over), Err(Corrupt));
        assert_eq!(histogram(&over), Err(Corrupt));
    }

    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    /// An independent model: the canonical sparse body of a register array
    /// in which no two non-zero registers are adjacent. Redis's updates
    /// produce exactly this then (a zero gap is always one opcode, ZERO up to
    /// 64 registers, XZERO beyond; each value is a VAL of length 1).
    fn canonical_body(regs: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut zeros = 0;
        for &r in regs {
            if r == 0 {
                zeros += 1;
                continue;
            }
            if zeros > 0 {
                push_zero_run(&mut out, zeros);
                zeros = 0;
            }
            out.push(val_byte(r, 1));
        }
        if zeros > 0 {
            push_zero_run(&mut out, zeros);
        }
        out
    }

    #[test]
    fn isolated_registers_match_the_canonical_model() {
        for seed in 1..=20u64 {
            let mut rng = seed * 0x9e37_79b9;
            let mut model = vec![0u8; REGISTERS];
            let mut h = new_sketch();
            for _ in 0..400 {
                // Even indexes only: set registers are never adjacent.
                let index = (xorshift(&mut rng) as usize % (REGISTERS / 2)) * 2;
                let count = (xorshift(&mut rng) % VAL_MAX_VALUE as u64) as u8 + 1;
                let changed = raise(&mut h, index, count, 3000).unwrap();
                assert_eq!(changed, model[index] < count);
                model[index] = model[index].max(count);
                assert_eq!(body(&h), canonical_body(&model).as_slice(), "seed {seed}");
            }
        }
    }

    #[test]
    fn random_updates_keep_registers_and_opcode_rules() {
        for seed in 1..=10u64 {
            let mut rng = seed * 0x2545_f491;
            let mut model = vec![0u8; REGISTERS];
            let mut h = new_sketch();
            // Clustered indexes so VAL runs split and join often.
            let base = xorshift(&mut rng) as usize % (REGISTERS - 600);
            for step in 0..3000 {
                let index = base + xorshift(&mut rng) as usize % 600;
                let count = (xorshift(&mut rng) % 6) as u8 + 1;
                raise(&mut h, index, count, 3000).unwrap();
                model[index] = model[index].max(count);
                let promoted = h.len() == DENSE_BYTES;
                if step % 16 == 0 || promoted {
                    assert_eq!(registers(&h).unwrap().as_slice(), model.as_slice());
                }
                if promoted {
                    break;
                }
                assert!(h.len() <= 3000, "seed {seed} step {step}");
                let mut prev_zero = false;
                for (_, op) in ops(&h) {
                    let zero = !matches!(op, Op::Val { .. });
                    assert!(!(zero && prev_zero), "adjacent zero runs");
                    prev_zero = zero;
                }
            }
        }
    }
}
