//! `strata-check-rdb <file.rdb>` (also answers to `redis-check-rdb`): see
//! `strata_tools::check_rdb`. Exit code 0 when the file is valid, 1 otherwise.

fn main() {
    std::process::exit(strata_tools::check_rdb::main_with_args(
        std::env::args_os().collect(),
    ));
}
