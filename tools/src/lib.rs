//! strata-tools: the persistence checkers (`strata-check-aof`, `strata-check-rdb`) arrive with their issues; `bench/` holds the benchmark scripts.
pub mod check_aof;
