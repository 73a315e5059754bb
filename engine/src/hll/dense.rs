//! The dense encoding: `REGISTERS` registers of 6 bits, register `i` at bit
//! offset `6 * i`, least significant bit first, possibly straddling two bytes.
//!
//! Functions take the register area only (the bytes after the header). A
//! register past the end of a short slice reads as 0 and is not written.

use super::estimate::Histogram;
use super::{REGISTERS, REGISTER_BITS, REGISTER_MAX};

/// The value of register `index`.
pub fn get(regs: &[u8], index: usize) -> u8 {
    let bit = index * REGISTER_BITS;
    let (byte, shift) = (bit / 8, bit % 8);
    let lo = regs.get(byte).copied().unwrap_or(0) as u16;
    let hi = regs.get(byte + 1).copied().unwrap_or(0) as u16;
    (((lo | (hi << 8)) >> shift) as u8) & REGISTER_MAX
}

/// Sets register `index` to `value` (masked to 6 bits).
pub fn set(regs: &mut [u8], index: usize, value: u8) {
    let bit = index * REGISTER_BITS;
    let (byte, shift) = (bit / 8, bit % 8);
    let value = (value & REGISTER_MAX) as u16;
    let mask = (REGISTER_MAX as u16) << shift;
    let bits = value << shift;
    if let Some(b) = regs.get_mut(byte) {
        *b = (*b & !(mask as u8)) | bits as u8;
    }
    let (mask_hi, bits_hi) = ((mask >> 8) as u8, (bits >> 8) as u8);
    if mask_hi != 0 {
        if let Some(b) = regs.get_mut(byte + 1) {
            *b = (*b & !mask_hi) | bits_hi;
        }
    }
}

/// Raises register `index` to `count` if it is lower; true if it changed.
pub fn raise(regs: &mut [u8], index: usize, count: u8) -> bool {
    if get(regs, index) < count {
        set(regs, index, count);
        true
    } else {
        false
    }
}

/// How many registers hold each value.
pub fn histogram(regs: &[u8]) -> Histogram {
    let mut h = Histogram::default();
    for i in 0..REGISTERS {
        h.add(get(regs, i), 1);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::super::DENSE_REGISTER_BYTES;
    use super::*;

    #[test]
    fn packing_is_lsb_first() {
        let mut regs = vec![0u8; DENSE_REGISTER_BYTES];
        set(&mut regs, 0, 0b10_1011);
        assert_eq!(regs[0], 0b0010_1011);
        set(&mut regs, 1, 0b11_0101);
        // Register 1 starts at bit 6: two bits in byte 0, four in byte 1.
        assert_eq!(regs[0], 0b0110_1011);
        assert_eq!(regs[1], 0b0000_1101);
        assert_eq!(get(&regs, 0), 0b10_1011);
        assert_eq!(get(&regs, 1), 0b11_0101);
        set(&mut regs, REGISTERS - 1, 63);
        assert_eq!(regs[DENSE_REGISTER_BYTES - 1], 0b1111_1100);
        assert_eq!(get(&regs, REGISTERS - 1), 63);
    }

    #[test]
    fn every_register_is_independent() {
        let mut regs = vec![0u8; DENSE_REGISTER_BYTES];
        for i in 0..REGISTERS {
            set(&mut regs, i, (i * 7 % 64) as u8);
        }
        for i in 0..REGISTERS {
            assert_eq!(get(&regs, i), (i * 7 % 64) as u8, "register {i}");
        }
        // Overwrite every third register with a lower value and recheck.
        for i in (0..REGISTERS).step_by(3) {
            set(&mut regs, i, 1);
        }
        for i in 0..REGISTERS {
            let want = if i % 3 == 0 { 1 } else { (i * 7 % 64) as u8 };
            assert_eq!(get(&regs, i), want, "register {i}");
        }
        assert!(!raise(&mut regs, 1, 7));
        assert!(raise(&mut regs, 1, 8));
        assert_eq!(get(&regs, 1), 8);
    }
}
