pub mod hash;
pub mod list;
pub mod packed;
