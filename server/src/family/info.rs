//! INFO [section ...]: Redis 7.0.15's sections, field names and order.
//!
//! Sections always come out in Redis's fixed order whatever order they were
//! asked in; "default", "all" and "everything" expand as in 7.0; an unknown
//! section contributes nothing. Values Strata does not have yet (forks,
//! replication, modules, Lua) are reported as a server with none of them
//! would report them; the features that add them fill them in.

use std::fmt::Write as _;

use crate::client::Client;
use crate::server::Server;

/// Redis's section names in output order, with their headers.
const SECTIONS: &[(&str, &str)] = &[
    ("server", "Server"),
    ("clients", "Clients"),
    ("memory", "Memory"),
    ("persistence", "Persistence"),
    ("stats", "Stats"),
    ("replication", "Replication"),
    ("cpu", "CPU"),
    ("module_list", "Modules"),
    ("commandstats", "Commandstats"),
    ("errorstats", "Errorstats"),
    ("latencystats", "Latencystats"),
    ("cluster", "Cluster"),
    ("keyspace", "Keyspace"),
];

/// What plain INFO (and "default") shows.
const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "module_list",
    "errorstats",
    "cluster",
    "keyspace",
];

/// The percentiles INFO latencystats reports (latency-tracking-info-percentiles).
const LATENCY_PERCENTILES: &[f64] = &[50.0, 99.0, 99.9];

/// Which sections the arguments ask for.
pub fn wanted_sections(args: &[bytes::Bytes]) -> Vec<&'static str> {
    let mut want: Vec<&'static str> = Vec::new();
    if args.is_empty() {
        want.extend_from_slice(DEFAULT_SECTIONS);
    }
    for a in args {
        let a = String::from_utf8_lossy(a).to_ascii_lowercase();
        match a.as_str() {
            "all" | "everything" => want.extend(SECTIONS.iter().map(|(n, _)| *n)),
            "default" => want.extend_from_slice(DEFAULT_SECTIONS),
            // "modules" names the module list (and modules' own sections).
            "modules" => want.push("module_list"),
            other => {
                if let Some((n, _)) = SECTIONS.iter().find(|(n, _)| *n == other) {
                    want.push(n);
                }
            }
        }
    }
    want
}

/// The INFO text for `sections` (as returned by `wanted_sections`).
pub fn render(srv: &mut Server, client: &Client, sections: &[&str]) -> String {
    let mut out = String::new();
    for (name, header) in SECTIONS {
        if !sections.contains(name) {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        let _ = write!(out, "# {header}\r\n");
        let mut w = Lines(&mut out);
        match *name {
            "server" => server(srv, &mut w),
            "clients" => clients(srv, client, &mut w),
            "memory" => memory(srv, client, &mut w),
            "persistence" => persistence(srv, &mut w),
            "stats" => stats(srv, &mut w),
            "replication" => replication(srv, &mut w),
            "cpu" => cpu(&mut w),
            "commandstats" => commandstats(srv, &mut w),
            "errorstats" => errorstats(srv, &mut w),
            "latencystats" => latencystats(srv, &mut w),
            "cluster" => w.field("cluster_enabled", 0),
            "keyspace" => keyspace(srv, &mut w),
            _ => {}
        }
    }
    out
}

/// Appends `name:value\r\n` lines.
struct Lines<'a>(&'a mut String);

impl Lines<'_> {
    fn field(&mut self, name: &str, value: impl std::fmt::Display) {
        let _ = write!(self.0, "{name}:{value}\r\n");
    }

    fn fixed2(&mut self, name: &str, value: f64) {
        let _ = write!(self.0, "{name}:{value:.2}\r\n");
    }

    /// Bytes, then the same as `name_human`.
    fn bytes(&mut self, name: &str, value: u64) {
        self.field(name, value);
        self.field(&format!("{name}_human"), bytes_to_human(value));
    }
}

/// Redis's `bytesToHuman`: B, then K/M/G/T/P with two decimals.
pub fn bytes_to_human(n: u64) -> String {
    const UNITS: &[(u64, &str)] = &[
        (1 << 50, "P"),
        (1 << 40, "T"),
        (1 << 30, "G"),
        (1 << 20, "M"),
        (1 << 10, "K"),
    ];
    if n < 1024 {
        return format!("{n}B");
    }
    for &(scale, unit) in UNITS {
        if n >= scale {
            if scale == 1 << 50 && n >= 1 << 60 {
                return format!("{n}B");
            }
            return format!("{:.2}{unit}", n as f64 / scale as f64);
        }
    }
    format!("{n}B")
}

fn uname() -> String {
    // SAFETY: utsname is plain old data; uname fills it or fails.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return String::new();
    }
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    format!(
        "{} {} {}",
        field(&u.sysname),
        field(&u.release),
        field(&u.machine)
    )
}

fn server(srv: &Server, w: &mut Lines) {
    let now_ms = crate::clock::now_ms();
    let uptime_s = now_ms.saturating_sub(srv.start_ms) / 1000;
    w.field("redis_version", crate::REDIS_VERSION);
    w.field("redis_git_sha1", "00000000");
    w.field("redis_git_dirty", 0);
    w.field("redis_build_id", "0");
    w.field("redis_mode", "standalone");
    w.field("os", uname());
    w.field("arch_bits", usize::BITS);
    w.field("monotonic_clock", "POSIX clock_gettime");
    w.field("multiplexing_api", "epoll");
    w.field("atomicvar_api", "c11-builtin");
    w.field("gcc_version", "0.0.0");
    w.field("process_id", std::process::id());
    w.field("process_supervised", "no");
    w.field("run_id", &srv.run_id);
    w.field("tcp_port", srv.config.port);
    w.field("server_time_usec", crate::clock::now_us());
    w.field("uptime_in_seconds", uptime_s);
    w.field("uptime_in_days", uptime_s / 86_400);
    w.field("hz", srv.config.hz);
    w.field("configured_hz", srv.config.hz);
    w.field("lru_clock", (now_ms / 1000) & 0xFF_FFFF);
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    w.field("executable", exe);
    let config_file = srv
        .config
        .config_file
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    w.field("config_file", config_file);
    w.field("io_threads_active", 0);
    w.field("strata_version", crate::STRATA_VERSION);
}

fn clients(srv: &Server, client: &Client, w: &mut Lines) {
    // The client being served is out of the map while its command runs.
    let me = usize::from(!client.fake);
    let others = srv.clients.values().map(|c| &c.client);
    let max_in = others
        .clone()
        .map(|c| c.qbuf_bytes)
        .chain([client.qbuf_bytes])
        .max()
        .unwrap_or(0);
    let max_out = others
        .map(|c| c.out.len())
        .chain([client.out.len()])
        .max()
        .unwrap_or(0);
    w.field("connected_clients", srv.clients.len() + me);
    w.field("cluster_connections", 0);
    w.field("maxclients", srv.config.maxclients);
    w.field("client_recent_max_input_buffer", max_in);
    w.field("client_recent_max_output_buffer", max_out);
    // Lists and sorted sets block in `blocking`, streams in `blocking_streams`.
    w.field(
        "blocked_clients",
        srv.blocking.blocked_count() + srv.stream_blocking.blocked_count(),
    );
    w.field("tracking_clients", 0);
    w.field(
        "clients_in_timeout_table",
        srv.blocking.timeout_count() + srv.stream_blocking.timeout_count(),
    );
}

/// The memory figures INFO memory and MEMORY STATS share.
pub struct MemoryFigures {
    pub used: u64,
    pub peak: u64,
    pub startup: u64,
    pub rss: u64,
    pub allocated: u64,
    pub active: u64,
    pub resident: u64,
    pub clients_normal: u64,
    pub hashtable_main: u64,
    pub hashtable_expires: u64,
    pub overhead: u64,
    pub dataset: u64,
}

/// Bytes a database's hash tables take per key and per expiry (bucket
/// pointer plus entry), the estimate Strata's overhead figures use.
pub const HASHTABLE_BYTES_PER_KEY: u64 = 8 + 24;
pub const HASHTABLE_BYTES_PER_EXPIRE: u64 = 8 + 24;

pub fn memory_figures(srv: &mut Server, client: &Client) -> MemoryFigures {
    use crate::family::server::{jemalloc_stat, JemallocStat};
    let used = crate::introspect::update_peak(srv);
    let clients_normal: u64 = srv
        .clients
        .values()
        .map(|c| (c.client.out.capacity() + c.inbuf.capacity()) as u64)
        .chain([client.out.capacity() as u64])
        .sum();
    let sizes = srv.keyspace.db_sizes();
    let keys: u64 = sizes.iter().map(|s| s.0 as u64).sum();
    let expires: u64 = sizes.iter().map(|s| s.1 as u64).sum();
    let hashtable_main = keys * HASHTABLE_BYTES_PER_KEY;
    let hashtable_expires = expires * HASHTABLE_BYTES_PER_EXPIRE;
    let startup = srv.introspect.startup_memory_bytes;
    let overhead = startup + clients_normal + hashtable_main + hashtable_expires;
    MemoryFigures {
        used,
        peak: srv.introspect.peak_memory_bytes,
        startup,
        rss: crate::family::server::rss_bytes(),
        allocated: jemalloc_stat(JemallocStat::Allocated),
        active: jemalloc_stat(JemallocStat::Active),
        resident: jemalloc_stat(JemallocStat::Resident),
        clients_normal,
        hashtable_main,
        hashtable_expires,
        overhead,
        dataset: used.saturating_sub(overhead),
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

fn memory(srv: &mut Server, client: &Client, w: &mut Lines) {
    let m = memory_figures(srv, client);
    w.bytes("used_memory", m.used);
    w.bytes("used_memory_rss", m.rss);
    w.bytes("used_memory_peak", m.peak);
    let _ = write!(
        w.0,
        "used_memory_peak_perc:{:.2}%\r\n",
        ratio(m.used, m.peak) * 100.0
    );
    w.field("used_memory_overhead", m.overhead);
    w.field("used_memory_startup", m.startup);
    w.field("used_memory_dataset", m.dataset);
    let _ = write!(
        w.0,
        "used_memory_dataset_perc:{:.2}%\r\n",
        ratio(m.dataset, m.used.saturating_sub(m.startup)) * 100.0
    );
    w.field("allocator_allocated", m.allocated);
    w.field("allocator_active", m.active);
    w.field("allocator_resident", m.resident);
    w.bytes(
        "total_system_memory",
        crate::family::server::total_system_memory(),
    );
    // Lua VM sizes are not measured; the script and library counts are real.
    let scripting = &srv.scripting;
    w.field("used_memory_lua", 0);
    w.field("used_memory_vm_eval", 0);
    w.field("used_memory_lua_human", bytes_to_human(0));
    w.field("used_memory_scripts_eval", scripting.eval.scripts_bytes);
    w.field("number_of_cached_scripts", scripting.eval.scripts.len());
    w.field("number_of_functions", scripting.functions.function_count());
    w.field("number_of_libraries", scripting.functions.libraries.len());
    w.field("used_memory_vm_functions", 0);
    w.bytes("used_memory_vm_total", 0);
    w.field("used_memory_functions", 0);
    w.bytes("used_memory_scripts", 0);
    w.bytes("maxmemory", srv.config.maxmemory_bytes);
    w.field("maxmemory_policy", &srv.config.maxmemory_policy);
    w.fixed2("allocator_frag_ratio", ratio(m.active, m.allocated));
    w.field("allocator_frag_bytes", m.active as i64 - m.allocated as i64);
    w.fixed2("allocator_rss_ratio", ratio(m.resident, m.active));
    w.field("allocator_rss_bytes", m.resident as i64 - m.active as i64);
    w.fixed2("rss_overhead_ratio", ratio(m.rss, m.resident));
    w.field("rss_overhead_bytes", m.rss as i64 - m.resident as i64);
    w.fixed2("mem_fragmentation_ratio", ratio(m.rss, m.used));
    w.field("mem_fragmentation_bytes", m.rss as i64 - m.used as i64);
    w.field("mem_not_counted_for_evict", 0);
    w.field("mem_replication_backlog", 0);
    w.field("mem_total_replication_buffers", 0);
    w.field("mem_clients_slaves", 0);
    w.field("mem_clients_normal", m.clients_normal);
    w.field("mem_cluster_links", 0);
    w.field("mem_aof_buffer", 0);
    w.field("mem_allocator", crate::family::server::MEM_ALLOCATOR);
    w.field("active_defrag_running", 0);
    w.field("lazyfree_pending_objects", 0);
    w.field("lazyfreed_objects", 0);
}

fn persistence(srv: &Server, w: &mut Lines) {
    let now_ms = crate::clock::now_ms();
    let rdb = &srv.rdb;
    w.field("loading", u8::from(srv.loading));
    w.field("async_loading", 0);
    let (cow_now, keys_done, keys_total) = crate::persist::bgsave_progress(srv);
    w.field("current_cow_peak", cow_now.1);
    w.field("current_cow_size", cow_now.0);
    w.field("current_cow_size_age", 0);
    w.field("current_fork_perc", "0.00");
    w.field("current_save_keys_processed", keys_done);
    w.field("current_save_keys_total", keys_total);
    if srv.loading {
        w.field("loading_start_time", rdb.loading_start_ms / 1000);
        w.field("loading_total_bytes", rdb.loading_total_bytes);
        w.field("loading_rdb_used_mem", 0);
        w.field("loading_loaded_bytes", 0);
        w.field("loading_loaded_perc", "0.00");
        w.field("loading_eta_seconds", 1);
    }
    w.field("rdb_changes_since_last_save", srv.keyspace.shared.dirty);
    w.field("rdb_bgsave_in_progress", u8::from(rdb.bgsave.is_some()));
    w.field("rdb_last_save_time", srv.last_save_s);
    w.field(
        "rdb_last_bgsave_status",
        if rdb.last_bgsave_ok { "ok" } else { "err" },
    );
    w.field("rdb_last_bgsave_time_sec", rdb.last_bgsave_time_sec);
    w.field(
        "rdb_current_bgsave_time_sec",
        crate::persist::current_bgsave_secs(srv, now_ms),
    );
    w.field("rdb_saves", rdb.saves);
    w.field("rdb_last_cow_size", rdb.last_cow_size);
    w.field("rdb_last_load_keys_expired", rdb.last_load_keys_expired);
    w.field("rdb_last_load_keys_loaded", rdb.last_load_keys_loaded);
    for (name, value) in crate::aof::info_fields(srv) {
        w.field(name, value);
    }
    w.field("module_fork_in_progress", 0);
    w.field("module_fork_last_cow_size", 0);
    for (name, value) in crate::aof::info_enabled_fields(srv) {
        w.field(name, value);
    }
}

fn stats(srv: &Server, w: &mut Lines) {
    let st = &srv.stats;
    let ks = &srv.keyspace.shared.stats;
    let intro = &srv.introspect;
    w.field("total_connections_received", st.total_connections_received);
    w.field("total_commands_processed", st.total_commands_processed);
    w.field(
        "instantaneous_ops_per_sec",
        intro.ops_rate.per_second() as u64,
    );
    w.field("total_net_input_bytes", st.net_input_bytes);
    w.field("total_net_output_bytes", st.net_output_bytes);
    w.field("total_net_repl_input_bytes", 0);
    w.field("total_net_repl_output_bytes", 0);
    w.fixed2(
        "instantaneous_input_kbps",
        intro.net_input_rate.per_second() / 1024.0,
    );
    w.fixed2(
        "instantaneous_output_kbps",
        intro.net_output_rate.per_second() / 1024.0,
    );
    w.fixed2("instantaneous_input_repl_kbps", 0.0);
    w.fixed2("instantaneous_output_repl_kbps", 0.0);
    w.field("rejected_connections", st.rejected_connections);
    w.field("sync_full", 0);
    w.field("sync_partial_ok", 0);
    w.field("sync_partial_err", 0);
    w.field("expired_keys", ks.expired_keys);
    w.fixed2("expired_stale_perc", ks.expired_stale_perc * 100.0);
    w.field(
        "expired_time_cap_reached_count",
        ks.expired_time_cap_reached_count,
    );
    w.field(
        "expire_cycle_cpu_milliseconds",
        ks.expire_cycle_cpu_milliseconds,
    );
    w.field("evicted_keys", ks.evicted_keys);
    w.field("evicted_clients", 0);
    w.field("total_eviction_exceeded_time", 0);
    w.field("current_eviction_exceeded_time", 0);
    w.field("keyspace_hits", ks.hits);
    w.field("keyspace_misses", ks.misses);
    let (channels, patterns, shard_channels) = srv.pubsub.totals();
    w.field("pubsub_channels", channels);
    w.field("pubsub_patterns", patterns);
    w.field("pubsubshard_channels", shard_channels);
    w.field("latest_fork_usec", 0);
    w.field("total_forks", 0);
    w.field("migrate_cached_sockets", 0);
    w.field("slave_expires_tracked_keys", 0);
    w.field("active_defrag_hits", 0);
    w.field("active_defrag_misses", 0);
    w.field("active_defrag_key_hits", 0);
    w.field("active_defrag_key_misses", 0);
    w.field("total_active_defrag_time", 0);
    w.field("current_active_defrag_time", 0);
    w.field("tracking_total_keys", 0);
    w.field("tracking_total_items", 0);
    w.field("tracking_total_prefixes", 0);
    w.field("unexpected_error_replies", st.unexpected_error_replies);
    w.field("total_error_replies", st.total_error_replies);
    w.field("dump_payload_sanitizations", 0);
    w.field("total_reads_processed", 0);
    w.field("total_writes_processed", 0);
    w.field("io_threaded_reads_processed", 0);
    w.field("io_threaded_writes_processed", 0);
    w.field("reply_buffer_shrinks", 0);
    w.field("reply_buffer_expands", 0);
}

fn replication(srv: &Server, w: &mut Lines) {
    w.field("role", "master");
    w.field("connected_slaves", 0);
    w.field("master_failover_state", "no-failover");
    w.field("master_replid", &srv.introspect.replid);
    w.field("master_replid2", &srv.introspect.replid2);
    w.field("master_repl_offset", 0);
    w.field("second_repl_offset", -1);
    w.field("repl_backlog_active", 0);
    w.field("repl_backlog_size", 1_048_576);
    w.field("repl_backlog_first_byte_offset", 0);
    w.field("repl_backlog_histlen", 0);
}

fn rusage(who: libc::c_int) -> (String, String) {
    // SAFETY: rusage is plain old data; getrusage fills it or fails.
    let mut r: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(who, &mut r) } != 0 {
        return ("0.000000".into(), "0.000000".into());
    }
    let tv = |t: libc::timeval| format!("{}.{:06}", t.tv_sec, t.tv_usec);
    (tv(r.ru_stime), tv(r.ru_utime))
}

fn cpu(w: &mut Lines) {
    let (sys, user) = rusage(libc::RUSAGE_SELF);
    let (csys, cuser) = rusage(libc::RUSAGE_CHILDREN);
    let (tsys, tuser) = rusage(libc::RUSAGE_THREAD);
    w.field("used_cpu_sys", sys);
    w.field("used_cpu_user", user);
    w.field("used_cpu_sys_children", csys);
    w.field("used_cpu_user_children", cuser);
    w.field("used_cpu_sys_main_thread", tsys);
    w.field("used_cpu_user_main_thread", tuser);
}

fn commandstats(srv: &Server, w: &mut Lines) {
    let mut names: Vec<&String> = srv.stats.commands.keys().collect();
    names.sort();
    for name in names {
        let Some(s) = srv.stats.commands.get(name) else {
            continue;
        };
        if s.calls == 0 && s.failed_calls == 0 && s.rejected_calls == 0 {
            continue;
        }
        let per_call = if s.calls == 0 {
            0.0
        } else {
            s.usec as f64 / s.calls as f64
        };
        let _ = write!(
            w.0,
            "cmdstat_{name}:calls={},usec={},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}\r\n",
            s.calls, s.usec, s.rejected_calls, s.failed_calls
        );
    }
}

fn errorstats(srv: &Server, w: &mut Lines) {
    let mut codes: Vec<(&String, &u64)> = srv.stats.errors.iter().collect();
    codes.sort();
    for (code, n) in codes {
        let _ = write!(w.0, "errorstat_{code}:count={n}\r\n");
    }
}

fn latencystats(srv: &Server, w: &mut Lines) {
    let mut names: Vec<&String> = srv.introspect.histograms.keys().collect();
    names.sort();
    for name in names {
        let Some(h) = srv.introspect.histograms.get(name) else {
            continue;
        };
        if h.is_empty() {
            continue;
        }
        let _ = write!(w.0, "latency_percentiles_usec_{name}:");
        for (i, p) in LATENCY_PERCENTILES.iter().enumerate() {
            if i > 0 {
                w.0.push(',');
            }
            let _ = write!(
                w.0,
                "p{}={:.3}",
                format_percentile(*p),
                h.value_at(*p) as f64 / 1000.0
            );
        }
        w.0.push_str("\r\n");
    }
}

/// "50", "99", "99.9": `%f` with the trailing zeros removed.
fn format_percentile(p: f64) -> String {
    let s = format!("{p:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn keyspace(srv: &Server, w: &mut Lines) {
    for (i, (keys, expires, avg_ttl)) in srv.keyspace.db_sizes().into_iter().enumerate() {
        if keys > 0 {
            let _ = write!(
                w.0,
                "db{i}:keys={keys},expires={expires},avg_ttl={avg_ttl}\r\n"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn names(args: &[&str]) -> Vec<&'static str> {
        let args: Vec<Bytes> = args
            .iter()
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect();
        wanted_sections(&args)
    }

    #[test]
    fn section_selection() {
        assert_eq!(names(&[]), DEFAULT_SECTIONS);
        assert_eq!(names(&["CPU", "server"]), vec!["cpu", "server"]);
        assert_eq!(names(&["nope"]), Vec::<&str>::new());
        assert_eq!(names(&["modules"]), vec!["module_list"]);
        assert!(names(&["everything"]).contains(&"commandstats"));
        assert!(!names(&["default"]).contains(&"latencystats"));
    }

    #[test]
    fn sections_render_in_redis_order_with_blank_lines_between() {
        let mut srv = Server::new(crate::config::Config::default());
        let client = Client::new(1, 0);
        let text = render(&mut srv, &client, &["keyspace", "cluster", "module_list"]);
        assert_eq!(
            text,
            "# Modules\r\n\r\n# Cluster\r\ncluster_enabled:0\r\n\r\n# Keyspace\r\n"
        );
        let text = render(&mut srv, &client, &wanted_sections(&[]));
        assert!(text.starts_with("# Server\r\nredis_version:7.0.15\r\n"));
        assert!(text.contains("\r\n\r\n# Clients\r\nconnected_clients:1\r\n"));
    }

    #[test]
    fn human_bytes() {
        assert_eq!(bytes_to_human(1023), "1023B");
        assert_eq!(bytes_to_human(916_200), "894.73K");
        assert_eq!(bytes_to_human(6_803_456), "6.49M");
        assert_eq!(bytes_to_human(25_276_514_304), "23.54G");
    }

    #[test]
    fn percentile_names() {
        assert_eq!(format_percentile(50.0), "50");
        assert_eq!(format_percentile(99.9), "99.9");
    }
}
