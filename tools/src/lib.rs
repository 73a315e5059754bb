//! strata-tools: the persistence checkers (`strata-check-rdb` here, `strata-check-aof` with its issue); `bench/` holds the benchmark scripts.

pub mod check_rdb;
