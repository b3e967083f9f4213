# Shared helpers of the benchmark scripts (sourced, not run). Each server is pinned to
# SERVER_CPU and every load generator to LOAD_CPU, so the two never share a core.
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
PIDS=()
bench_cleanup() { { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; wait; } 2>/dev/null || true; }

wait_up() { # port: until the server answers PING with PONG (not -LOADING)
  for _ in $(seq 1 6000); do
    [ "$(redis-cli -p "$1" ping 2>/dev/null)" = "PONG" ] && return 0
    sleep 0.005
  done
  echo "server on $1 did not come up" >&2; return 1
}
# A server left on a port from an earlier run would answer wait_up in place of the one
# being started (which then fails to bind): refuse to start on a port already taken.
port_free() { # port
  if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    echo "port $1 is already taken (a server left from an earlier run?); stop it first" >&2
    return 1
  fi
}
start_flash() { # port dir extra-args... ; sets FPID
  local port=$1 dir=$2; shift 2
  port_free "$port" || exit 1
  taskset -c "$SERVER_CPU" "$BIN" --port "$port" --http-port 0 --dir "$dir" --log-level warn "$@" >/dev/null 2>&1 &
  FPID=$!; PIDS+=("$FPID")
}
start_redis() { # port dir extra-args... ; sets RPID
  local port=$1 dir=$2; shift 2
  port_free "$port" || exit 1
  mkdir -p "$dir"
  taskset -c "$SERVER_CPU" redis-server --port "$port" --dir "$dir" --save "" "$@" >/dev/null 2>&1 &
  RPID=$!; PIDS+=("$RPID")
}
stop() { { kill -9 "$1" && wait "$1"; } 2>/dev/null || true; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
rss() { awk '/VmRSS/ {print $2 * 1024}' "/proc/$1/status"; }
used_memory() { redis-cli -p "$1" info memory | awk -F: '/^used_memory:/ {print $2}' | tr -d '\r'; }
# One flashdb-benchmark run (one load thread, CLIENTS connections, REQUESTS requests,
# keys from 100000); prints requests per second. Needs FB set to the binary. The keys are
# kept (--keep), so that a read run finds what the write run before it stored, as
# redis-benchmark's runs do.
fbench() { # port ratio pipeline datasize
  taskset -c "$LOAD_CPU" "$FB" -p "$1" -c "$CLIENTS" --ratio "$2" -P "$3" -d "$4" -n "$REQUESTS" \
      -r 100000 --json --quiet --keep \
    | grep -o '"requests_per_sec":[0-9.e+]*' | cut -d: -f2 | awk '{printf "%d\n", $1}'
}
# Runs `cmd port args...` RUNS times against FLASH_PORT and REDIS_PORT, alternating, and
# sets FM and RM to the medians of FlashDB's and Redis's results.
alternate() { # cmd args...
  local cmd=$1 f=() r=(); shift
  for _ in $(seq 1 "$RUNS"); do
    f+=("$("$cmd" "$FLASH_PORT" "$@")")
    r+=("$("$cmd" "$REDIS_PORT" "$@")")
  done
  FM=$(printf '%s\n' "${f[@]}" | median)
  RM=$(printf '%s\n' "${r[@]}" | median)
}

# The prologue of the side-by-side scripts: builds the release server (and any other
# targets given, as cargo build arguments), sets BIN to it and WORK to a new directory,
# and on exit stops every server started and removes WORK.
bench_setup() {
  cargo build --release --bin flashdb "$@" >&2
  BIN=$PWD/target/release/flashdb
  WORK=$(mktemp -d)
  trap 'bench_cleanup; rm -rf "$WORK"' EXIT
}
# FlashDB on port $1 and Redis on port $2, both in memory only, each answering.
start_memory_pair() {
  start_flash "$1" "$WORK/flash" --persistence off; wait_up "$1"
  start_redis "$2" "$WORK/redis" --appendonly no; wait_up "$2"
}
