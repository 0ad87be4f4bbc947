#!/usr/bin/env bash
# End-to-end benchmarks, on loopback only, bounded in time (about 4 minutes
# with the defaults); every figure is compared with a baseline measured in
# the same run.
#
#   1. Throughput and p99 latency of an axum hello-world under `wrk`: without
#      any layer (the baseline), with the DrainLayer through `Router::layer`,
#      with it around the whole router, with tower-http's in-flight counting
#      layer through `Router::layer` (a peer in the same position), and on
#      winddown-server without and with the DrainLayer (through
#      `Router::layer` and around the router), and on hyper-util's
#      auto server with hyper's HTTP/1 header read timer (equal protection
#      against slow clients). One server per variant runs for the
#      whole section; the variants take turns, BENCH_ROUNDS rounds of
#      BENCH_DURATION seconds each (at most 10 s), in an order that rotates
#      every round, and each ratio is the median of the per-round ratios
#      (the layer's also against the in-flight peer's throughput).
#   2. SIGTERM -> exit latency of an idle service, BENCH_EXIT_REPS times per
#      variant: a process without a handler, a bare tokio/axum process that
#      returns on SIGTERM, axum's with_graceful_shutdown, tokio-graceful-shutdown,
#      and winddown (zero delays).
#   3. BENCH_REQUESTS (10,000) requests in flight at SIGTERM, over HTTP/2 and
#      over HTTP/1.1 (one connection each): how many complete, and the time
#      from the last response to the process exit.
#
# Usage: scripts/bench-e2e.sh   (env: BENCH_DURATION, BENCH_ROUNDS,
#        BENCH_EXIT_REPS, BENCH_REQUESTS, BENCH_CONNECTIONS, BENCH_WRK_CONNECTIONS,
#        BENCH_WORKERS: 1 (default) = each server on CPU 0 with one runtime
#        worker and wrk on CPU 1; 2 = each server with two runtime workers on
#        both CPUs, sharing them with wrk;
#        BENCH_SECTIONS: "throughput exit drain" (default: all three))
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

DURATION="${BENCH_DURATION:-2}"
((DURATION > 10)) && DURATION=10
ROUNDS="${BENCH_ROUNDS:-12}"
EXIT_REPS="${BENCH_EXIT_REPS:-40}"
REQUESTS="${BENCH_REQUESTS:-10000}"
H2_CONNECTIONS="${BENCH_CONNECTIONS:-100}"
WRK_CONNECTIONS="${BENCH_WRK_CONNECTIONS:-64}"
WORKERS="${BENCH_WORKERS:-1}"
SECTIONS="${BENCH_SECTIONS:-throughput exit drain}"
case "$WORKERS" in
1 | 2) ;;
*)
    echo "BENCH_WORKERS must be 1 or 2, not '$WORKERS'" >&2
    exit 2
    ;;
esac
for section in $SECTIONS; do
    case "$section" in
    throughput | exit | drain) ;;
    *)
        echo "BENCH_SECTIONS: unknown section '$section' (expected throughput, exit, drain)" >&2
        exit 2
        ;;
    esac
done
# section NAME: whether NAME is to run.
section() { [[ " $SECTIONS " == *" $1 "* ]]; }
# Wherever cargo puts its target directory (CARGO_TARGET_DIR, config).
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps | grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4)"
EX="$TARGET_DIR/release/examples"

if ! command -v wrk >/dev/null 2>&1; then
    echo "== installing wrk"
    # shellcheck source=scripts/apt-install.sh
    . scripts/apt-install.sh
    apt_install wrk
fi
# One descriptor per connection on each side for the HTTP/1.1 drain run.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

echo "== building the benchmark programs (release)"
cargo build --release --quiet \
    --example bench_hello --example bench_exit_bare --example bench_exit_axum \
    --example bench_exit_tgs --example bench_drain_client

TMP="$(mktemp -d)"
SERVER_PID=""
declare -A KEPT_PID KEPT_PORT
cleanup() {
    local pid
    for pid in "$SERVER_PID" "${KEPT_PID[@]}"; do
        if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$TMP"
}
trap cleanup EXIT

# start_server CMD...: starts it in the background, sets SERVER_PID and PORT
# once it prints `listening on 127.0.0.1:PORT` (within 10 s).
start_server() {
    "$@" >"$TMP/server.out" 2>&1 &
    SERVER_PID=$!
    local i
    for ((i = 0; i < 2000; i++)); do
        if grep -q "listening on" "$TMP/server.out" 2>/dev/null; then
            PORT="$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TMP/server.out" | head -1)"
            return 0
        fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
        sleep 0.005
    done
    echo "server did not start: $*" >&2
    cat "$TMP/server.out" >&2
    exit 1
}

# stop_server: SIGTERM, then waits (SIGKILL after 10 s).
stop_server() {
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    local i
    for ((i = 0; i < 1000; i++)); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.01
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

# Microseconds since the epoch, without forking.
now_us() {
    local t="${EPOCHREALTIME/[.,]/}"
    echo "$t"
}

# quotient A B: A / B, for the per-round ratios.
quotient() { awk -v a="$1" -v b="$2" 'BEGIN { print a / b }'; }

# to_ms VALUE: wrk's "1.23ms" / "850.00us" / "1.01s" in milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
        else { printf "nan" }
    }'
}

# ---------------------------------------------------------------- throughput
# With two CPUs or more, the server gets CPU 0 (one runtime worker) and wrk
# CPU 1, so that the server's CPU is what limits throughput. With
# BENCH_WORKERS=2 the server runs two runtime workers on whatever CPUs the
# scheduler gives it, and wrk competes with it.
SERVER_CPU=()
WRK_CPU=()
SERVER_ENV=(env TOKIO_WORKER_THREADS="$WORKERS")
if ((WORKERS == 1)) && command -v taskset >/dev/null 2>&1 && (($(nproc) >= 2)); then
    SERVER_CPU=(taskset -c 0)
    WRK_CPU=(taskset -c 1)
fi
declare -A RPS P99 RATIO P99_RATIO
NAMES=()
if section throughput; then
# The layer on winddown-server, against the same server without it.
SERVER_RATIO=""
OUTER_SERVER_RATIO=""
# winddown-server against hyper-util's server with hyper's header read timer,
# and against axum::serve with TCP_NODELAY (the server's socket setting).
HYPER_RATIO=""
NODELAY_RATIO=""
# The layer through `Router::layer` against tower-http's in-flight layer in
# the same position, round by round.
PEER_RATIO=""
VARIANTS=("bare|--no-layer" "bare-nodelay|--no-layer-nodelay" "layer|" "layer-outer|--outer" "in-flight-peer|--in-flight-peer" "hyper-timer|--hyper-timer" "server|--server-no-layer" "layer+server|--server" "outer+server|--server-outer")
for variant in "${VARIANTS[@]}"; do
    name="${variant%%|*}"
    flag="${variant#*|}"
    NAMES+=("$name")
    # shellcheck disable=SC2086 # an empty flag must vanish
    start_server "${SERVER_CPU[@]}" "${SERVER_ENV[@]}" "$EX/bench_hello" $flag
    KEPT_PID[$name]="$SERVER_PID"
    KEPT_PORT[$name]="$PORT"
    SERVER_PID=""
    timeout 10 "${WRK_CPU[@]}" wrk -t1 -c"$WRK_CONNECTIONS" -d1s "http://127.0.0.1:$PORT/" >/dev/null # warm-up
done
echo "== throughput: wrk -t1 -c$WRK_CONNECTIONS -d${DURATION}s, $ROUNDS rounds, variants take turns, $WORKERS runtime worker(s) per server${SERVER_CPU:+, servers on CPU 0, wrk on CPU 1}"
N="${#NAMES[@]}"
for ((round = 1; round <= ROUNDS; round++)); do
    declare -A ROUND_RPS=() ROUND_P99=()
    line=""
    for ((k = 0; k < N; k++)); do
        # Rotate the order so that no variant always runs first or last.
        name="${NAMES[$(((round + k) % N))]}"
        timeout $((DURATION + 10)) "${WRK_CPU[@]}" wrk -t1 -c"$WRK_CONNECTIONS" -d"${DURATION}s" --latency \
            "http://127.0.0.1:${KEPT_PORT[$name]}/" >"$TMP/wrk.out"
        rps="$(awk '/^Requests\/sec:/ { print $2 }' "$TMP/wrk.out")"
        p99="$(to_ms "$(awk '$1 == "99%" { print $2 }' "$TMP/wrk.out")")"
        errors="$(awk '/Non-2xx|Socket errors/' "$TMP/wrk.out")"
        [[ -n "$errors" ]] && echo "   $name: $errors"
        ROUND_RPS[$name]="$rps"
        ROUND_P99[$name]="$p99"
    done
    for name in "${NAMES[@]}"; do
        rps="${ROUND_RPS[$name]}"
        p99="${ROUND_P99[$name]}"
        RPS[$name]="${RPS[$name]:-} $rps"
        P99[$name]="${P99[$name]:-} $p99"
        # Against the bare run of the same round: drift between rounds cancels.
        RATIO[$name]="${RATIO[$name]:-} $(quotient "$rps" "${ROUND_RPS[bare]}")"
        P99_RATIO[$name]="${P99_RATIO[$name]:-} $(quotient "$p99" "${ROUND_P99[bare]}")"
        line+="$(printf ' %s %.0f/%.2fms' "$name" "$rps" "$p99")"
    done
    SERVER_RATIO+=" $(quotient "${ROUND_RPS[layer+server]}" "${ROUND_RPS[server]}")"
    OUTER_SERVER_RATIO+=" $(quotient "${ROUND_RPS[outer+server]}" "${ROUND_RPS[server]}")"
    HYPER_RATIO+=" $(quotient "${ROUND_RPS[server]}" "${ROUND_RPS[hyper-timer]}")"
    NODELAY_RATIO+=" $(quotient "${ROUND_RPS[server]}" "${ROUND_RPS[bare-nodelay]}")"
    PEER_RATIO+=" $(quotient "${ROUND_RPS[layer]}" "${ROUND_RPS[in-flight-peer]}")"
    echo "   round $round:$line"
done
for name in "${NAMES[@]}"; do
    SERVER_PID="${KEPT_PID[$name]}"
    stop_server
    unset "KEPT_PID[$name]"
done
fi

# ---------------------------------------------------------- exit latency
# exit_latency NAME CMD...: kill -TERM -> reaped, in microseconds, EXIT_REPS times.
declare -A EXIT_STATS
exit_latency() {
    local name="$1"
    shift
    : >"$TMP/exit.$name"
    local rep t0 t1
    for ((rep = 0; rep < EXIT_REPS; rep++)); do
        if [[ "$1" == "sleep" ]]; then
            sleep 60 &
            SERVER_PID=$!
        else
            start_server "$@"
        fi
        sleep 0.05 # let it go idle
        t0="$(now_us)"
        kill -TERM "$SERVER_PID"
        wait "$SERVER_PID" 2>/dev/null || true
        t1="$(now_us)"
        SERVER_PID=""
        echo $((t1 - t0)) >>"$TMP/exit.$name"
    done
    # median p90 max, in ms
    EXIT_STATS[$name]="$(sort -n "$TMP/exit.$name" | awk '{ v[NR] = $1 } END {
        printf "%.3f %.3f %.3f", v[int((NR + 1) / 2)] / 1000, v[int(NR * 0.9 + 0.5)] / 1000, v[NR] / 1000 }')"
    echo "   $name: median/p90/max ${EXIT_STATS[$name]} ms"
}
EXITS=(
    "no-handler|sleep"
    "bare|$EX/bench_exit_bare"
    "axum-graceful|$EX/bench_exit_axum"
    "tokio-graceful-shutdown|$EX/bench_exit_tgs"
    "winddown|$EX/bench_hello"
    "winddown+server|$EX/bench_hello --server"
)
if section exit; then
    echo "== SIGTERM -> exit of an idle service, $EXIT_REPS runs each"
    for entry in "${EXITS[@]}"; do
        # shellcheck disable=SC2086 # the command splits into words
        exit_latency "${entry%%|*}" ${entry#*|}
    done
fi

# ---------------------------------------------------------- in-flight drain
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
if section drain; then
echo "== $REQUESTS requests in flight at SIGTERM"
DRAIN_H2="$(BENCH_REQUESTS="$REQUESTS" BENCH_CONNECTIONS="$H2_CONNECTIONS" \
    timeout 120 "$EX/bench_drain_client" "$EX/bench_hello" --server)"
echo "   $DRAIN_H2"
DRAIN_H1="$(BENCH_REQUESTS="$REQUESTS" BENCH_HTTP1=1 \
    timeout 120 "$EX/bench_drain_client" "$EX/bench_hello" --server)"
echo "   $DRAIN_H1"
# What the kernel alone takes to end a process as large as the HTTP/1.1
# server was at SIGTERM (10,000 connections): the floor under its exit.
BALLAST_KB="$(field "$DRAIN_H1" server_rss_at_term_kb)"
echo "== SIGTERM -> exit of the bare process holding ${BALLAST_KB} KiB, $EXIT_REPS runs"
export BENCH_BALLAST_KB="$BALLAST_KB"
exit_latency "bare-same-rss" "$EX/bench_exit_bare"
unset BENCH_BALLAST_KB
fi

# ---------------------------------------------------------------- the table
median() { awk '{ print $1 }' <<<"$1"; }
# median_of "v1 v2 ..." FORMAT
median_of() {
    tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -g | awk -v f="$2" '{ v[NR] = $1 } END { printf f, v[int((NR + 1) / 2)] }'
}
BARE_EXIT="$(median "${EXIT_STATS[bare]:-nan}")"

echo
echo "== machine"
echo "   cpus: $(nproc), $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
echo "   kernel: $(uname -sr)"
echo "   rustc: $(rustc --version)"
echo "   wrk: $(wrk -v 2>&1 | head -1)"
echo "   runtime workers per server: $WORKERS"
echo
echo "| end to end | figure | vs baseline |"
echo "|---|---|---|"
for name in "${NAMES[@]}"; do
    vs_server=""
    [[ "$name" == "layer+server" ]] && vs_server="; $(median_of "$SERVER_RATIO" "%.3f")× server"
    [[ "$name" == "outer+server" ]] && vs_server="; $(median_of "$OUTER_SERVER_RATIO" "%.3f")× server"
    [[ "$name" == "server" ]] && vs_server="; $(median_of "$HYPER_RATIO" "%.3f")× hyper-timer; $(median_of "$NODELAY_RATIO" "%.3f")× bare-nodelay"
    [[ "$name" == "layer" ]] && vs_server="; $(median_of "$PEER_RATIO" "%.3f")× in-flight-peer"
    echo "| hello-world, $name: throughput (median of $ROUNDS × ${DURATION}s) | $(median_of "${RPS[$name]}" "%.0f") req/s | $(median_of "${RATIO[$name]}" "%.3f")× bare (median of per-round ratios)$vs_server |"
    echo "| hello-world, $name: p99 latency (median of $ROUNDS) | $(median_of "${P99[$name]}" "%.3f") ms | $(median_of "${P99_RATIO[$name]}" "%.3f")× bare |"
done
section exit && for entry in "${EXITS[@]}"; do
    name="${entry%%|*}"
    read -r med p90 max <<<"${EXIT_STATS[$name]}"
    over="$(awk -v a="$med" -v b="$BARE_EXIT" 'BEGIN { printf "%+.3f", a - b }')"
    echo "| SIGTERM → exit, idle, $name (median; p90; max of $EXIT_REPS) | $med ms; $p90 ms; $max ms | $over ms vs bare |"
done
section drain && for run in "$DRAIN_H2" "$DRAIN_H1"; do
    proto="$(field "$run" protocol)"
    echo "| $REQUESTS in flight at SIGTERM ($proto, $(field "$run" connections) connections): completed | $(field "$run" completed) / $REQUESTS | |"
    echo "| $REQUESTS in flight at SIGTERM ($proto): last response → exit, seen by the client | $(field "$run" exit_after_last_response_ms) ms | last response $(field "$run" last_response_after_term_ms) ms after SIGTERM |"
    echo "| $REQUESTS in flight at SIGTERM ($proto): drain end → exit call, seen by the server | $(field "$run" server_exit_after_drain_end_ms) ms | server RSS $(($(field "$run" server_rss_at_term_kb) / 1024)) MiB at SIGTERM |"
done
section drain || exit 0
read -r med p90 max <<<"${EXIT_STATS[bare-same-rss]}"
echo "| SIGTERM → exit, bare process holding $((BALLAST_KB / 1024)) MiB (median; p90; max) | $med ms; $p90 ms; $max ms | the kernel's teardown floor for that size |"
