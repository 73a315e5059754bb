//! strata-tools: the persistence checkers `strata-check-aof` and
//! `strata-check-rdb` (drop-ins for Redis's `redis-check-aof` and
//! `redis-check-rdb`); `bench/` holds the benchmark scripts.

pub mod check_aof;
pub mod check_rdb;
pub mod progress;
