#!/usr/bin/env bash
# Strata vs Redis, side by side: redis-benchmark throughput (SET, GET, INCR,
# MSET; 50 clients; no pipelining and -P 16) and the memory used by 1M keys
# of 100-byte strings. Both servers run on this machine with persistence off,
# on free ports, one at a time under load. Needs redis-server, redis-cli and
# redis-benchmark (apt-get install redis-server redis-tools).
#
# Then the same SET/INCR tests with `appendonly yes` under each fsync policy
# (AOF_POLICIES, default "always everysec no"; AOF_TESTS, default set,incr;
# SKIP_AOF=1 skips them), with the fsync rate of the disk for reference:
# under `always` a throughput above that rate means writes share fsyncs.
#
# Knobs (environment): REQUESTS (per test at -P 1, default 200000; -P 16 runs
# 5x as many), ROUNDS (1: runs of each test, each server's best kept), CLIENTS (50), TESTS (set,get,incr,mset + the collection tests), KEYS_MEM (1000000),
# VALUE_BYTES (100), SKIP_BUILD=1 to use the existing release binary.
set -euo pipefail
cd "$(dirname "$0")/../.."

REQUESTS=${REQUESTS:-200000}
CLIENTS=${CLIENTS:-50}
TESTS=${TESTS:-set,get,incr,mset,lpush,rpush,lpop,rpop,sadd,spop,hset,zadd,zpopmin,lrange_100,lrange_300,lrange_600}
KEYS_MEM=${KEYS_MEM:-1000000}
VALUE_BYTES=${VALUE_BYTES:-100}
ROUNDS=${ROUNDS:-1}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
STRATA_BIN="$TARGET_DIR/release/strata-server"

for tool in redis-server redis-cli redis-benchmark; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install redis-server redis-tools)" >&2; exit 1; }
done

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  cargo build --release -p strata-server
fi

BENCH_TAG=bench
# shellcheck source=tools/bench/lib.sh
source tools/bench/lib.sh

# bench PORT PIPELINE: prints "TEST rps" lines.
bench() {
  local port=$1 pipeline=$2 n=$REQUESTS
  [ "$pipeline" -gt 1 ] && n=$((REQUESTS * 5))
  redis-benchmark -h 127.0.0.1 -p "$port" -c "$CLIENTS" -n "$n" -P "$pipeline" -r 1000000 \
    -t "$TESTS" --csv 2>/dev/null |
    awk -F'","' 'NR > 1 && $1 !~ /needed/ { gsub(/"/, "", $1); gsub(/"/, "", $2); split($1, w, " "); print w[1], $2 }'
}

# load PORT: KEYS_MEM distinct keys with VALUE_BYTES-byte values, through redis-cli --pipe.
load() {
  local port=$1
  awk -v n="$KEYS_MEM" -v size="$VALUE_BYTES" 'BEGIN {
    v = sprintf("%*s", size, ""); gsub(/ /, "x", v)
    for (i = 0; i < n; i++) {
      k = sprintf("key:%012d", i)
      printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, size, v
    }
  }' | redis-cli -p "$port" --pipe >/dev/null
}

# field PORT SECTION NAME: an INFO field, or n/a.
field() {
  local v
  v=$(redis-cli -p "$1" info "$2" 2>/dev/null | tr -d '\r' | awk -F: -v f="$3" '$1 == f { print $2 }')
  echo "${v:-n/a}"
}

rss_kib() {
  awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo n/a
}

# Both servers run at once and take turns test by test, so a load that
# comes and goes on the machine hits both alike. Each sees the same sequence
# of tests (redis-benchmark's LRANGE and ZPOPMIN use what earlier tests made).
declare -A RPS
start redis redis-server
REDIS_PORT=$PORT REDIS_PID=$PID
start strata "$STRATA_BIN"
STRATA_PORT=$PORT STRATA_PID=$PID
# ROUNDS > 1 repeats every test (still alternating the servers) and keeps
# each server's best rate: on a small shared VM a single run of a test moves
# by 5-20% with scheduling noise, for either server alike.
for p in 1 16; do
  for test in $(echo "$TESTS" | tr ',' ' '); do
    for _ in $(seq "$ROUNDS"); do
      for server in redis strata; do
        port=$REDIS_PORT
        [ "$server" = strata ] && port=$STRATA_PORT
        while read -r name rps; do
          best=${RPS[$server,$name,$p]:-0}
          if awk -v a="$rps" -v b="$best" 'BEGIN { exit !(a > b) }'; then
            RPS[$server,$name,$p]=$rps
          fi
        done < <(TESTS=$test bench "$port" "$p")
      done
    done
  done
done
stop "$REDIS_PID"
stop "$STRATA_PID"

echo
echo "Throughput (requests/s), $CLIENTS clients, $(nproc) cores, $REQUESTS requests per test at -P 1 (x5 at -P 16), best of $ROUNDS"
printf '%-8s %4s %14s %14s %14s\n' test P redis strata strata/redis
for p in 1 16; do
  for test in $(echo "$TESTS" | tr 'a-z,' 'A-Z '); do
    r=${RPS[redis,$test,$p]:-n/a}
    s=${RPS[strata,$test,$p]:-n/a}
    ratio=n/a
    if [[ $r =~ ^[0-9.]+$ && $s =~ ^[0-9.]+$ ]]; then ratio=$(awk -v a="$s" -v b="$r" 'BEGIN { printf "%.2f", a / b }'); fi
    printf '%-8s %4s %14s %14s %14s\n' "$test" "$p" "$r" "$s" "$ratio"
  done
done

echo
echo "Memory: $KEYS_MEM keys of $VALUE_BYTES-byte strings"
printf '%-22s %16s %16s\n' "" redis strata
declare -A MEM
for server in redis strata; do
  bin=redis-server
  [ "$server" = strata ] && bin=$STRATA_BIN
  start "$server" "$bin"
  MEM[$server,rss0]=$(rss_kib "$PID")
  load "$PORT"
  MEM[$server,keys]=$(redis-cli -p "$PORT" dbsize 2>/dev/null | grep -E '^[0-9]+$' || echo n/a)
  MEM[$server,used]=$(field "$PORT" memory used_memory)
  MEM[$server,rss]=$(rss_kib "$PID")
  stop "$PID"
done
printf '%-22s %16s %16s\n' "keys (DBSIZE)" "${MEM[redis,keys]}" "${MEM[strata,keys]}"
printf '%-22s %16s %16s\n' "used_memory (bytes)" "${MEM[redis,used]}" "${MEM[strata,used]}"
printf '%-22s %16s %16s\n' "RSS empty (KiB)" "${MEM[redis,rss0]}" "${MEM[strata,rss0]}"
printf '%-22s %16s %16s\n' "RSS loaded (KiB)" "${MEM[redis,rss]}" "${MEM[strata,rss]}"

# Streams (issue 4): XADD throughput (redis-benchmark 7.0 has no XADD test:
# a custom command line, one stream per run) and the memory of
# STREAM_ENTRIES (default 1000000) entries `XADD s * f v`. Knob STREAMS=0
# skips this part.
if [ "${STREAMS:-1}" != 0 ]; then
  STREAM_ENTRIES=${STREAM_ENTRIES:-1000000}
  declare -A XRPS XMEM
  for server in redis strata; do
    bin=redis-server
    [ "$server" = strata ] && bin=$STRATA_BIN
    start "$server" "$bin"
    for p in 1 16; do
      n=$REQUESTS
      [ "$p" -gt 1 ] && n=$((REQUESTS * 5))
      XRPS[$server,$p]=$(redis-benchmark -h 127.0.0.1 -p "$PORT" -c "$CLIENTS" -n "$n" -P "$p" --csv \
        XADD "mystream:$p" '*' field value 2>/dev/null | awk -F'","' 'NR > 1 && $1 !~ /needed/ { gsub(/"/, "", $2); print $2 }')
    done
    redis-cli -p "$PORT" flushall >/dev/null
    before=$(field "$PORT" memory used_memory)
    awk -v n="$STREAM_ENTRIES" 'BEGIN {
      for (i = 0; i < n; i++) printf "*5\r\n$4\r\nXADD\r\n$1\r\ns\r\n$1\r\n*\r\n$1\r\nf\r\n$1\r\nv\r\n"
    }' | redis-cli -p "$PORT" --pipe >/dev/null
    XMEM[$server,len]=$(redis-cli -p "$PORT" xlen s)
    after=$(field "$PORT" memory used_memory)
    XMEM[$server,per]=$(awk -v a="$after" -v b="$before" -v n="${XMEM[$server,len]}" 'BEGIN { printf "%.1f", (a - b) / n }')
    XMEM[$server,rss]=$(rss_kib "$PID")
    stop "$PID"
  done
  echo
  echo "XADD mystream * field value (requests/s), $CLIENTS clients"
  printf '%-8s %4s %14s %14s %14s\n' test P redis strata strata/redis
  for p in 1 16; do
    r=${XRPS[redis,$p]:-n/a}
    s=${XRPS[strata,$p]:-n/a}
    ratio=n/a
    if [[ $r =~ ^[0-9.]+$ && $s =~ ^[0-9.]+$ ]]; then ratio=$(awk -v a="$s" -v b="$r" 'BEGIN { printf "%.2f", a / b }'); fi
    printf '%-8s %4s %14s %14s %14s\n' XADD "$p" "$r" "$s" "$ratio"
  done
  echo
  echo "Memory: one stream of $STREAM_ENTRIES entries (XADD s * f v)"
  printf '%-22s %16s %16s\n' "" redis strata
  printf '%-22s %16s %16s\n' "XLEN" "${XMEM[redis,len]}" "${XMEM[strata,len]}"
  printf '%-22s %16s %16s\n' "used_memory / entry" "${XMEM[redis,per]}" "${XMEM[strata,per]}"
  printf '%-22s %16s %16s\n' "RSS loaded (KiB)" "${XMEM[redis,rss]}" "${XMEM[strata,rss]}"
fi

if [ "${SKIP_AOF:-0}" != 1 ]; then

AOF_POLICIES=${AOF_POLICIES:-always everysec no}
AOF_TESTS=${AOF_TESTS:-set,incr}
declare -A AOF
for policy in $AOF_POLICIES; do
  # Both servers at once, alternating test by test, as above.
  start redis redis-server --appendonly yes --appendfsync "$policy"
  REDIS_PORT=$PORT REDIS_PID=$PID
  start strata "$STRATA_BIN" --appendonly yes --appendfsync "$policy"
  STRATA_PORT=$PORT STRATA_PID=$PID
  for p in 1 16; do
    for one in $(echo "$AOF_TESTS" | tr ',' ' '); do
      for server in redis strata; do
        port=$REDIS_PORT
        [ "$server" = strata ] && port=$STRATA_PORT
        while read -r test rps; do
          AOF[$server,$test,$p,$policy]=$rps
        done < <(TESTS=$one bench "$port" "$p")
      done
    done
  done
  stop "$REDIS_PID"
  stop "$STRATA_PID"
done

# Serial fsyncs per second on the disk the servers write to (64-byte
# synchronous appends): the ceiling of one-fsync-per-write throughput.
fsync_rate() {
  local out secs
  out=$(dd if=/dev/zero of="$WORK/fsync-probe" bs=64 count=500 oflag=dsync 2>&1 | tail -1)
  secs=$(echo "$out" | awk -F', ' '{ split($3, a, " "); print a[1] }')
  awk -v s="$secs" 'BEGIN { if (s > 0) printf "%.0f", 500 / s; else print "n/a" }'
}

echo
echo "AOF: appendonly yes, $CLIENTS clients (disk: $(fsync_rate) serial fsyncs/s)"
printf '%-8s %-9s %4s %14s %14s %14s\n' test fsync P redis strata strata/redis
for policy in $AOF_POLICIES; do
  for p in 1 16; do
    for test in $(echo "$AOF_TESTS" | tr 'a-z,' 'A-Z '); do
      r=${AOF[redis,$test,$p,$policy]:-n/a}
      s=${AOF[strata,$test,$p,$policy]:-n/a}
      ratio=n/a
      if [[ $r =~ ^[0-9.]+$ && $s =~ ^[0-9.]+$ ]]; then ratio=$(awk -v a="$s" -v b="$r" 'BEGIN { printf "%.2f", a / b }'); fi
      printf '%-8s %-9s %4s %14s %14s %14s\n' "$test" "$policy" "$p" "$r" "$s" "$ratio"
    done
  done
done
fi
