//! The cardinality estimator Redis 7 uses: Otmar Ertl's improved raw
//! estimator ("New cardinality estimation algorithms for HyperLogLog
//! sketches", 2017), computed from the histogram of register values.
//!
//! Invariant: the arithmetic is done in the same order, in f64, as Redis
//! does it, so both servers return the same integer for the same registers.

use super::{Q_BITS, REGISTERS};

/// Slots in the histogram: a register holds at most 6 bits.
pub const HISTOGRAM_SLOTS: usize = 64;
/// alpha_inf = 1 / (2 ln 2).
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// How many registers hold each value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Histogram(pub [u32; HISTOGRAM_SLOTS]);

impl Default for Histogram {
    fn default() -> Self {
        Histogram([0; HISTOGRAM_SLOTS])
    }
}

impl Histogram {
    pub fn add(&mut self, value: u8, registers: u32) {
        if let Some(slot) = self.0.get_mut(value as usize) {
            *slot += registers;
        }
    }

    fn get(&self, value: usize) -> f64 {
        self.0.get(value).copied().unwrap_or(0) as f64
    }
}

/// sigma(x) = x + sum_{k>=1} x^(2^k) 2^(k-1), iterated until it stops changing.
fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if z == before {
            return z;
        }
    }
}

/// tau(x) = (1 - x - sum_{k>=1} (1 - x^(2^-k))^2 2^-k) / 3.
fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        let d = 1.0 - x;
        z -= d * d * y;
        if z == before {
            return z / 3.0;
        }
    }
}

/// The estimate for `h`, rounded as C's llroundl and converted as Redis
/// does (an infinite estimate comes out as 2^63).
pub fn cardinality(h: &Histogram) -> u64 {
    let m = REGISTERS as f64;
    let q = Q_BITS as usize;
    let mut z = m * tau((m - h.get(q + 1)) / m);
    for j in (1..=q).rev() {
        z += h.get(j);
        z *= 0.5;
    }
    z += m * sigma(h.get(0) / m);
    llround_to_u64(ALPHA_INF * m * m / z)
}

/// llroundl then a double round trip, then the unsigned conversion: values
/// that do not fit a long long become LLONG_MIN (x86's "integer indefinite").
fn llround_to_u64(e: f64) -> u64 {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0; // 2^63
    let rounded: i64 = if e.is_finite() && e.round().abs() < LIMIT {
        e.round() as i64
    } else {
        i64::MIN
    };
    let as_double = rounded as f64;
    if as_double < 0.0 {
        as_double as i64 as u64
    } else {
        as_double as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_full() {
        let mut h = Histogram::default();
        h.add(0, REGISTERS as u32);
        assert_eq!(cardinality(&h), 0);
        // Every register at the cap: z = 0, the estimate is infinite.
        let mut h = Histogram::default();
        h.add(Q_BITS as u8 + 1, REGISTERS as u32);
        assert_eq!(cardinality(&h), 1 << 63);
    }

    #[test]
    fn one_register_set_counts_one() {
        let mut h = Histogram::default();
        h.add(0, REGISTERS as u32 - 1);
        h.add(1, 1);
        assert_eq!(cardinality(&h), 1);
    }

    #[test]
    fn series_limits() {
        assert_eq!(sigma(0.0), 0.0);
        assert_eq!(tau(0.0), 0.0);
        assert!(sigma(0.5) > 0.5);
        assert!(tau(0.5) > 0.0);
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(llround_to_u64(2.5), 3);
        assert_eq!(llround_to_u64(2.4999), 2);
        assert_eq!(llround_to_u64(f64::NAN), 1 << 63);
    }
}
