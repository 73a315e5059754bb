//! SORT and SORT_RO.

use crate::commands::CommandSpec;

pub const COMMANDS: &[CommandSpec] = &[];
