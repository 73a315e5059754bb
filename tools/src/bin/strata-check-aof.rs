//! `strata-check-aof`: checks (and optionally repairs) an AOF as Redis 7.0's
//! `redis-check-aof` does; see `strata_tools::check_aof`.

fn main() {
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let code = strata_tools::check_aof::run(&args, &mut input, &mut out);
    std::process::exit(code);
}
