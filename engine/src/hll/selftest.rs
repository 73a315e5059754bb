//! PFSELFTEST: an internal consistency check of the sketch code, run on
//! demand. It uses its own data and never touches the keyspace.

use super::{
    add, count, dense, new_sketch, registers, to_dense, DENSE_REGISTER_BYTES, REGISTERS,
    REGISTER_MAX,
};

/// Elements added in the accuracy check.
const ELEMENTS_MAX: u64 = 100_000;
/// Relative standard error of the estimate, 1.04 / sqrt(REGISTERS).
const STD_ERROR: f64 = 1.04 / 128.0;

/// Runs the checks; the error is the reply text after the dash.
pub fn run(sparse_bytes_max: usize) -> Result<(), String> {
    dense_packing()?;
    sparse_and_dense_agree(sparse_bytes_max)
}

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Every register keeps its own 6 bits whatever its neighbours hold.
fn dense_packing() -> Result<(), String> {
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut regs = vec![0u8; DENSE_REGISTER_BYTES];
    for round in 0..4 {
        let mut want = vec![0u8; REGISTERS];
        for (i, w) in want.iter_mut().enumerate() {
            *w = (xorshift(&mut rng) as u8) & REGISTER_MAX;
            dense::set(&mut regs, i, *w);
        }
        for (i, &w) in want.iter().enumerate() {
            if dense::get(&regs, i) != w {
                return Err(format!("TESTFAILED Register error at {i} (round {round})"));
            }
        }
    }
    Ok(())
}

/// The same elements in a sparse and a dense sketch give the same registers
/// and estimate, and the estimate is within five standard errors.
fn sparse_and_dense_agree(sparse_bytes_max: usize) -> Result<(), String> {
    let mut sparse = new_sketch();
    let mut dense = new_sketch();
    to_dense(&mut dense).map_err(|_| "TESTFAILED dense conversion".to_string())?;
    let mut checkpoint = 1u64;
    for n in 1..=ELEMENTS_MAX {
        let element = n.to_le_bytes();
        let a = add(&mut sparse, &element, sparse_bytes_max);
        let b = add(&mut dense, &element, sparse_bytes_max);
        if a != b {
            return Err(format!("TESTFAILED sparse/dense add differ at {n}"));
        }
        if n != checkpoint {
            continue;
        }
        checkpoint *= 10;
        let regs_sparse = registers(&sparse).map_err(|_| "TESTFAILED corrupt sparse")?;
        let regs_dense = registers(&dense).map_err(|_| "TESTFAILED corrupt dense")?;
        if regs_sparse != regs_dense {
            return Err(format!("TESTFAILED sparse/dense registers differ at {n}"));
        }
        let (ca, cb) = match (count(&sparse), count(&dense)) {
            (Ok(a), Ok(b)) => (a, b),
            _ => return Err("TESTFAILED count failed".into()),
        };
        if ca != cb {
            return Err(format!("TESTFAILED sparse/dense count differ at {n}"));
        }
        let error = (ca as f64 - n as f64).abs() / n as f64;
        // Small counts are exact in practice; allow one for rounding.
        if n >= 100 && error > 5.0 * STD_ERROR || n < 100 && ca.abs_diff(n) > 1 {
            return Err(format!(
                "TESTFAILED too big error. card:{n} estimated:{ca} error:{error}"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn selftest_passes() {
        assert_eq!(super::run(3000), Ok(()));
    }
}
