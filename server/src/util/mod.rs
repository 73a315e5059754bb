//! Small helpers shared by several command families.

pub mod glob;
pub mod longdouble;
