#!/usr/bin/env bash
# Generates templates/service with cargo-generate outside the repository
# (cargo refuses a package nested in another workspace), with the defaults
# and with every option flipped, then builds each result and runs its tests.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd)"
# The workspace's own target directory: the dependencies the generated
# projects share with it (tokio, axum, hyper, winddown's crates) are not
# built again.
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
[[ "$CARGO_TARGET_DIR" = /* ]] || CARGO_TARGET_DIR="$REPO/$CARGO_TARGET_DIR"
export CARGO_TARGET_DIR

OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

# generate NAME [-d key=value]...: a project in $OUT/NAME.
generate() {
    local name="$1"
    shift
    cargo generate --path templates/service --name "$name" --silent --vcs none \
        --destination "$OUT" "$@" >"$OUT/$name.log" 2>&1 || {
        cat "$OUT/$name.log" >&2
        echo "cargo generate failed for $name" >&2
        exit 1
    }
    local dir="$OUT/$name"
    # Every placeholder and tag rendered.
    if grep -rn '{{\|{%' "$dir"; then
        echo "unrendered template syntax in $name" >&2
        exit 1
    fi
}

# check NAME: builds the generated project without warnings and runs its tests.
check() {
    local dir="$OUT/$1"
    echo "== $1: cargo test"
    # The workspace's lock file: the same dependency versions, already built.
    cp Cargo.lock "$dir/"
    (
        cd "$dir"
        cargo build --tests 2>&1 | tee "$OUT/$1.build.log" | grep -E '^(warning|error)' -A8 && {
            echo "warnings or errors building $1" >&2
            exit 1
        }
        cargo test
    )
}

expect_file() { [[ -e "$OUT/$1" ]] || { echo "missing: $1" >&2; exit 1; }; }
expect_no_file() { [[ ! -e "$OUT/$1" ]] || { echo "unexpected: $1" >&2; exit 1; }; }
expect_text() {
    grep -q -- "$2" "$OUT/$1" || { echo "$1 does not contain: $2" >&2; cat "$OUT/$1" >&2; exit 1; }
}

echo "== generating with no input but the name"
generate plain-svc
expect_file plain-svc/src/main.rs
expect_file plain-svc/k8s/deployment.yaml
expect_text plain-svc/Cargo.toml 'winddown = { path = "../winddown", features = \["systemd"\] }'

echo "== generating with the defaults"
generate default-svc -d "winddown_path=$REPO"
expect_text default-svc/config/default.toml 'addr = "0.0.0.0:8080"'
expect_text default-svc/config/default.toml 'linger = "15s"'
expect_text default-svc/k8s/deployment.yaml 'terminationGracePeriodSeconds: 50$'
expect_text default-svc/k8s/deployment.yaml 'value: "5s"'
check default-svc

echo "== generating with every option flipped"
generate flipped-svc -d "winddown_path=$REPO" -d port=9090 -d announce_delay_secs=3 \
    -d drain_timeout_secs=7 -d timeout_secs=20 -d announce_in=prestop -d kubernetes=false \
    -d metrics_flush=textfile
expect_no_file flipped-svc/k8s
expect_text flipped-svc/config/default.toml 'announce_delay = "0s"'
expect_text flipped-svc/config/default.toml 'timeout = "20s"'
expect_text flipped-svc/config/default.toml 'textfile = "/var/lib/node_exporter'
check flipped-svc

echo "== generating with the Pushgateway flush, preStop announce, Kubernetes files"
generate pushed-svc -d "winddown_path=$REPO" -d announce_in=prestop -d announce_delay_secs=4 \
    -d metrics_flush=pushgateway
expect_text pushed-svc/k8s/deployment.yaml 'seconds: 4$'
expect_text pushed-svc/k8s/deployment.yaml 'terminationGracePeriodSeconds: 39$'
check pushed-svc

echo "== generating with no metrics flush, announce in the process, no Kubernetes files"
generate quiet-svc -d "winddown_path=$REPO" -d metrics_flush=none -d kubernetes=false \
    -d announce_delay_secs=2
expect_text quiet-svc/config/default.toml 'announce_delay = "2s"'
expect_text quiet-svc/config/default.toml 'linger = "0s"'
check quiet-svc

echo "== a number that is not one is refused"
if cargo generate --path templates/service --name bad-svc --silent --vcs none \
    --destination "$OUT" -d port=eighty >"$OUT/bad.log" 2>&1; then
    echo "port=eighty was accepted" >&2
    exit 1
fi
# cargo-generate leaves at most an empty directory behind.
if [[ -n "$(ls -A "$OUT/bad-svc" 2>/dev/null)" ]]; then
    echo "files left behind by a refused generation" >&2
    exit 1
fi
echo "refused: $(grep -o 'Sorry.*' "$OUT/bad.log" | head -1)"
echo "== template: all generated projects pass"
