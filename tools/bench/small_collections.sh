#!/usr/bin/env bash
# Memory of many small collections, Strata vs Redis side by side: for each
# type, loads KEYS keys of 10 elements each (through redis-cli --pipe) into a
# fresh server and prints (used_memory after - used_memory before) / KEYS,
# plus MEMORY USAGE of one sample key and its OBJECT ENCODING.
#
# Workloads (10 elements per key, key names "<type>:%08d"):
#   hash  HSET  field:0 value:0 ... field:9 value:9      (listpack)
#   set   SADD  i*10+0 ... i*10+9 (integers)             (intset)
#   zset  ZADD  1 member:0 ... 10 member:9               (listpack)
#   list  RPUSH element:0 ... element:9                  (quicklist)
#
# Knobs (environment): KEYS (100000), TYPES (hash,set,zset,list),
# STRATA_BIN (default $CARGO_TARGET_DIR/release/strata-server),
# SKIP_BUILD=1 to use the existing release binary.
set -euo pipefail
cd "$(dirname "$0")/../.."

KEYS=${KEYS:-100000}
TYPES=${TYPES:-hash,set,zset,list}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
STRATA_BIN=${STRATA_BIN:-$TARGET_DIR/release/strata-server}

for tool in redis-server redis-cli; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install redis-server redis-tools)" >&2; exit 1; }
done
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  cargo build --release -p strata-server
fi

BENCH_TAG=smallcoll
# shellcheck source=tools/bench/lib.sh
source tools/bench/lib.sh

used_memory() {
  redis-cli -p "$1" info memory | tr -d '\r' | awk -F: '$1 == "used_memory" { print $2 }'
}

# gen TYPE: the RESP commands that load KEYS keys of TYPE.
gen() {
  awk -v n="$KEYS" -v type="$1" '
    function bulk(s) { return sprintf("$%d\r\n%s\r\n", length(s), s) }
    BEGIN {
      for (i = 0; i < n; i++) {
        key = sprintf("%s:%08d", type, i)
        if (type == "hash") {
          out = "*22\r\n" bulk("HSET") bulk(key)
          for (j = 0; j < 10; j++) out = out bulk("field:" j) bulk("value:" j)
        } else if (type == "set") {
          out = "*12\r\n" bulk("SADD") bulk(key)
          for (j = 0; j < 10; j++) out = out bulk(i * 10 + j)
        } else if (type == "zset") {
          out = "*22\r\n" bulk("ZADD") bulk(key)
          for (j = 0; j < 10; j++) out = out bulk(j + 1) bulk("member:" j)
        } else {
          out = "*12\r\n" bulk("RPUSH") bulk(key)
          for (j = 0; j < 10; j++) out = out bulk("element:" j)
        }
        printf "%s", out
      }
    }'
}

declare -A RES
for server in redis strata; do
  bin=redis-server
  [ "$server" = strata ] && bin=$STRATA_BIN
  for type in $(echo "$TYPES" | tr ',' ' '); do
    start "$server" "$bin"
    port=$PORT
    before=$(used_memory "$port")
    gen "$type" | redis-cli -p "$port" --pipe >/dev/null
    after=$(used_memory "$port")
    sample=$(printf '%s:%08d' "$type" 0)
    RES[$server,$type]=$(awk -v a="$after" -v b="$before" -v n="$KEYS" 'BEGIN { printf "%.1f", (a - b) / n }')
    RES[$server,$type,usage]=$(redis-cli -p "$port" memory usage "$sample" | tr -d '\r')
    RES[$server,$type,enc]=$(redis-cli -p "$port" object encoding "$sample" | tr -d '\r')
    RES[$server,$type,keys]=$(redis-cli -p "$port" dbsize | tr -d '\r')
    stop "$PID"
  done
done

echo "Memory of $KEYS small collections (10 elements each): bytes per key"
printf '%-6s %-10s %10s %10s %8s %14s %14s\n' type encoding redis strata ratio "usage(redis)" "usage(strata)"
for type in $(echo "$TYPES" | tr ',' ' '); do
  r=${RES[redis,$type]} s=${RES[strata,$type]}
  ratio=$(awk -v a="$s" -v b="$r" 'BEGIN { printf "%.2f", a / b }')
  enc=${RES[redis,$type,enc]}
  [ "$enc" = "${RES[strata,$type,enc]}" ] || enc="$enc/${RES[strata,$type,enc]}"
  printf '%-6s %-10s %10s %10s %8s %14s %14s\n' "$type" "$enc" "$r" "$s" "$ratio" \
    "${RES[redis,$type,usage]}" "${RES[strata,$type,usage]}"
  if [ "${RES[redis,$type,keys]}" != "$KEYS" ] || [ "${RES[strata,$type,keys]}" != "$KEYS" ]; then
    echo "warning: $type loaded ${RES[redis,$type,keys]} (redis) / ${RES[strata,$type,keys]} (strata) keys" >&2
  fi
done
