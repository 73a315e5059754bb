//! Small helpers shared by several command families.

pub mod float;
pub mod glob;
