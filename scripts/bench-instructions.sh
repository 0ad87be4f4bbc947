#!/usr/bin/env bash
# Instructions per request of each variant of benches/layer.rs (the bare
# service, DrainLayer without and with a Prometheus recorder, drain::Retain
# and tower-http's InFlightRequests), counted by valgrind's callgrind: a
# figure that does not move with the load of the machine, unlike the
# timings. Each variant runs twice, LOW and HIGH requests, in one process
# each, counting only inside the benchmark's `run_only` (not the set-up,
# whose clock calibration varies from run to run); the difference of the two
# counts divided by HIGH - LOW is the cost of one request. Takes about half
# a minute; installs valgrind if it is missing.
#
# Usage: scripts/bench-instructions.sh   (env: LOW, default 20000; HIGH,
#        default 120000)
set -euo pipefail
cd "$(dirname "$0")/.."

LOW="${LOW:-20000}"
HIGH="${HIGH:-120000}"
if ! [[ "$LOW" =~ ^[0-9]+$ && "$HIGH" =~ ^[0-9]+$ ]] || ((HIGH <= LOW)); then
    echo "LOW and HIGH must be numbers of requests with HIGH > LOW (got LOW=$LOW HIGH=$HIGH)" >&2
    exit 2
fi

if ! command -v valgrind >/dev/null 2>&1; then
    echo "== installing valgrind"
    # shellcheck source=scripts/apt-install.sh
    . scripts/apt-install.sh
    apt_install valgrind
fi

echo "== building benches/layer.rs (release)"
BIN="$(cargo bench --bench layer --no-run --message-format=json 2>/dev/null |
    grep -o '"executable":"[^"]*"' | cut -d'"' -f4 | grep '/layer-' | tail -n 1)"
if [[ ! -x "$BIN" ]]; then
    echo "could not find the benchmark executable of benches/layer.rs" >&2
    exit 1
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# The instructions of one run of `n` requests of a variant.
count() {
    local shape="$1" variant="$2" n="$3" out="$TMP/callgrind.out"
    rm -f "$out"
    LAYER_BENCH_RUN="$shape/$variant/$n" valgrind --tool=callgrind \
        --collect-atstart=no --toggle-collect='layer::run_only' \
        --callgrind-out-file="$out" "$BIN" >/dev/null 2>"$TMP/valgrind.err" || {
        cat "$TMP/valgrind.err" >&2
        exit 1
    }
    # The file ends with `totals: <instructions>` (older versions: `summary:`).
    awk '/^(totals|summary):/ { print $2 }' "$out" | tail -n 1
}

VARIANTS=(bare winddown_drain_layer winddown_drain_layer_prometheus drain_retain
    tower_http_in_flight_requests)
echo "== counting ($LOW and $HIGH requests per variant)"
echo
echo "| request | variant | instructions per request | vs bare | vs tower-http InFlightRequests |"
echo "|---|---|---|---|---|"
for shape in minimal typical; do
    declare -A per=()
    for variant in "${VARIANTS[@]}"; do
        low="$(count "$shape" "$variant" "$LOW")"
        high="$(count "$shape" "$variant" "$HIGH")"
        per[$variant]="$(awk -v l="$low" -v h="$high" -v n=$((HIGH - LOW)) \
            'BEGIN { printf "%.1f", (h - l) / n }')"
    done
    for variant in "${VARIANTS[@]}"; do
        awk -v s="$shape" -v v="$variant" -v x="${per[$variant]}" \
            -v b="${per[bare]}" -v p="${per[tower_http_in_flight_requests]}" \
            'BEGIN { printf "| %s | %s | %.1f | %.3f× | %.3f× |\n", s, v, x, x / b, x / p }'
    done
    unset per
done
