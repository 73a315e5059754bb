#!/usr/bin/env bash
# Snapshot scenario, Strata and redis-server side by side in one run:
# KEYS keys of VALUE_BYTES-byte values, a random-overwrite SET load during
# BGSAVE. Prints, for each server: peak extra memory during the save (RSS of
# the server and its children above the pre-save RSS, and INFO's
# rdb_last_cow_size), the longest PING stall and its p99, and SET throughput
# during the save relative to before it.
#
# Usage: tools/bench/snapshot.sh [KEYS] [VALUE_BYTES]   (defaults 1000000 200)
# STRATA_BIN=path uses that binary instead of building target/release's;
# SKIP_REDIS=1 runs Strata only; LOAD_CLIENTS (default 50) sizes the load;
# REALTIME=1 isolates PING stalls from the scheduler (see below).
set -euo pipefail
KEYS=${1:-1000000}
VALUE_BYTES=${2:-200}
# Connections of the SET load (redis-benchmark -c). 50 saturates a 2-core
# machine, where the run queue alone then stalls PINGs for milliseconds;
# a few connections leave CPU free, so PING stalls come from the server.
LOAD_CLIENTS=${LOAD_CLIENTS:-50}
# REALTIME=1 (root) runs the server's serving thread and the PING probe at
# real-time priority, so a PING stall is the server's own (a walk slice, a
# fork) rather than the run queue of a small machine.
REALTIME=${REALTIME:-0}
root=$(cd "$(dirname "$0")/../.." && pwd)
probe="python3 $root/tools/bench/snapshot_probe.py"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

# STRATA_BIN names a prebuilt binary (to compare builds); else build one.
if [ -z "${STRATA_BIN:-}" ]; then
  cargo build --release -p strata-server --manifest-path "$root/Cargo.toml" >/dev/null 2>&1
fi
strata_bin=${STRATA_BIN:-"$root/target/release/strata-server"}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# in_progress PORT: INFO's rdb_bgsave_in_progress (0 or 1), through redis-cli
# (a Python start-up every poll would load the machine it measures).
in_progress() { redis-cli -p "$1" info persistence | tr -d '\r' | awk -F: '$1 == "rdb_bgsave_in_progress" { print $2 }'; }

run_one() { # name start-command...
  local name=$1; shift
  local port; port=$(free_port)
  local dir="$work/$name"; mkdir -p "$dir"
  "$@" --port "$port" --dir "$dir" --save '' --appendonly no >"$dir/log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  local rt=""
  if [ "$REALTIME" = 1 ]; then
    # The serving thread (the process's first) and the PING probe at
    # real-time priority; threads and processes they start later (the
    # encoder, Redis's fork child) go back to normal scheduling.
    chrt --reset-on-fork -f -p 50 "$pid"
    rt="chrt -f 50"
  fi
  $probe load "$port" "$KEYS" "$VALUE_BYTES"
  # A continuous random-overwrite SET load; throughput is read from INFO's
  # command counter before the save and over exactly the save's duration.
  redis-benchmark -p "$port" -t set -r "$KEYS" -d "$VALUE_BYTES" -c "$LOAD_CLIENTS" -l -q >/dev/null 2>&1 &
  local bench_pid=$!
  sleep 2
  # The window before the save runs the same probes and the same polling as
  # the save window (they cost CPU on a small machine), so the throughput
  # ratio measures the save, not the measuring.
  local c0 t0 c1 t1 c2 t2
  rm -f "$dir/stop"
  $rt $probe ping "$port" "$dir/stop" "$dir/ping0" &
  local ping_pid=$!
  $probe rss "$pid" "$dir/stop" "$dir/rss0" &
  local rss_pid=$!
  c0=$($probe info "$port" total_commands_processed); t0=$(date +%s.%N)
  local polls=0
  while [ $polls -lt 60 ]; do
    sleep 0.05; polls=$((polls+1))
    in_progress "$port" >/dev/null
  done
  c1=$($probe info "$port" total_commands_processed); t1=$(date +%s.%N)
  touch "$dir/stop"; wait $ping_pid $rss_pid
  local rss_before; rss_before=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
  rm -f "$dir/stop"
  $rt $probe ping "$port" "$dir/stop" "$dir/ping" &
  ping_pid=$!
  $probe rss "$pid" "$dir/stop" "$dir/rss" &
  rss_pid=$!
  redis-cli -p "$port" bgsave >/dev/null
  local saving=1 waited=0
  while [ "$saving" = 1 ] && [ $waited -lt 6000 ]; do
    sleep 0.05; waited=$((waited+1))
    saving=$(in_progress "$port")
  done
  c2=$($probe info "$port" total_commands_processed); t2=$(date +%s.%N)
  touch "$dir/stop"; wait $ping_pid $rss_pid
  kill $bench_pid 2>/dev/null || true; wait $bench_pid 2>/dev/null || true
  local before_rps save_done_rps
  before_rps=$(python3 -c "print(($c1-$c0)/($t1-$t0))")
  save_done_rps=$(python3 -c "print(($c2-$c1)/($t2-$t1))")
  local cow; cow=$($probe info "$port" rdb_last_cow_size)
  local save_secs; save_secs=$($probe info "$port" rdb_last_bgsave_time_sec)
  local used; used=$($probe info "$port" used_memory)
  local ping_max ping_p99 ping_n ping_slow ping0_max ping0_p99 ping0_n ping0_slow
  read -r ping_max ping_p99 ping_n ping_slow < "$dir/ping"
  read -r ping0_max ping0_p99 ping0_n ping0_slow < "$dir/ping0"
  local rss_peak; rss_peak=$(cat "$dir/rss")
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
  wait $pid 2>/dev/null || true
  python3 - "$name" "$used" "$rss_before" "$rss_peak" "$cow" "$ping_max" "$ping_p99" "$ping_n" "$ping_slow" "$ping0_max" "$ping0_p99" "$ping0_n" "$ping0_slow" "$before_rps" "$save_done_rps" "$save_secs" <<'PY'
import sys
name, used, rss0, rssp, cow, pmax, p99, n, slow, p0max, p0p99, n0, slow0, before, during, secs = sys.argv[1:]
used = int(used); extra = (int(rssp) - int(rss0)) * 1024
print(f"{name:8} dataset(used_memory)={used/2**20:8.1f} MiB  extra RSS peak={extra/2**20:8.1f} MiB ({100*extra/used:5.1f}%)  "
      f"rdb_last_cow_size={int(cow)/2**20:7.1f} MiB  longest PING={float(pmax):6.2f} ms (p99 {float(p99):.2f}, {slow} of {n} pings over 2 ms; before the save {float(p0max):.2f}, p99 {float(p0p99):.2f}, {slow0} of {n0} over 2 ms)  "
      f"SET rps before={float(before):9.0f} during={float(during):9.0f} ({100*float(during)/float(before):5.1f}%)  save={secs}s")
PY
}

echo "snapshot scenario: $KEYS keys x $VALUE_BYTES bytes, random-overwrite SET load ($LOAD_CLIENTS connections) during BGSAVE, realtime=$REALTIME ($(date -u +%F), $(nproc) cores)"
run_one strata "$strata_bin"
[ "${SKIP_REDIS:-0}" = 1 ] || run_one redis redis-server
