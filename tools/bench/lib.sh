# Shared by the bench scripts (sourced): a work directory removed on exit,
# servers started on free ports and killed on exit.
# Set BENCH_TAG before sourcing to name the work directory.

WORK=$(mktemp -d "/tmp/strata-${BENCH_TAG:-bench}.XXXXXX")
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# A port nothing listens on (bash's /dev/tcp connect fails).
free_port() {
  local port
  for _ in $(seq 1 100); do
    # Below Linux's ephemeral range (32768-60999): a port there may be the
    # local end of an outgoing connection, which a connect test cannot see
    # but which makes the server's bind fail.
    port=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  echo "no free port found" >&2
  return 1
}

# start NAME BINARY [DIRECTIVES...]: starts a server in a fresh directory
# (persistence off unless the directives say otherwise), sets PORT and PID.
start() {
  local name=$1 bin=$2
  shift 2
  PORT=$(free_port)
  rm -rf "${WORK:?}/$name"
  mkdir -p "$WORK/$name"
  "$bin" --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK/$name" "$@" \
    >"$WORK/$name.log" 2>&1 </dev/null &
  PID=$!
  PIDS+=("$PID")
  for _ in $(seq 1 200); do
    if [ "$(redis-cli -p "$PORT" ping 2>/dev/null)" = PONG ]; then return 0; fi
    sleep 0.05
  done
  echo "$name did not start; log:" >&2
  cat "$WORK/$name.log" >&2
  exit 1
}

stop() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
