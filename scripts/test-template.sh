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

# The Kubernetes versions the template README names: every rendered manifest
# validates strictly against their API schemas (offline: kubernetes-validate
# ships them).
K8S_VERSIONS=(1.30.0 1.31.0 1.32.0 1.33.0 1.34.0 1.35.0 1.36.0 1.37.0)

# validate_k8s NAME: the manifests of $OUT/NAME against every version above.
validate_k8s() {
    local version
    for version in "${K8S_VERSIONS[@]}"; do
        kubernetes-validate --strict --quiet -k "$version" "$OUT/$1"/k8s/*.yaml || {
            echo "$1: k8s manifests do not validate against Kubernetes $version" >&2
            exit 1
        }
    done
    echo "$1: k8s manifests valid for Kubernetes ${K8S_VERSIONS[0]} to ${K8S_VERSIONS[-1]}"
}

# validate_prestop_forms NAME: what the README says of preStop.sleep holds
# (1.28's schema rejects it), and the exec form it offers for older
# clusters validates from 1.25 on.
validate_prestop_forms() {
    local dir="$OUT/$1" version
    if kubernetes-validate --strict --quiet -k 1.28.0 "$dir/k8s/deployment.yaml" >/dev/null 2>&1; then
        echo "$1: preStop.sleep unexpectedly valid for Kubernetes 1.28: fix the README" >&2
        exit 1
    fi
    local seconds
    seconds="$(grep -A1 '^ *sleep:$' "$dir/k8s/deployment.yaml" | sed -n 's/^ *seconds: \([0-9]*\)$/\1/p')"
    [[ -n "$seconds" ]] || { echo "$1: no preStop.sleep seconds found" >&2; exit 1; }
    # The commented exec form, uncommented in place of the sleep action.
    mkdir -p "$OUT/$1-exec"
    python3 - "$dir/k8s/deployment.yaml" "$seconds" >"$OUT/$1-exec/deployment.yaml" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
form = re.search(r"^( *)#   exec:\n *#     command: (.*)$", text, re.M)
assert form, "the exec form is not offered in the manifest"
indent, command = form.group(1), form.group(2)
assert command == '["sleep", "%s"]' % sys.argv[2], command
sleep = re.compile(r"^%ssleep:\n%s  seconds: [0-9]+$" % (indent, indent), re.M)
assert sleep.search(text), "no sleep action to replace"
print(sleep.sub("%sexec:\n%s  command: %s" % (indent, indent, command), text), end="")
PY
    for version in 1.25.0 1.28.0 "${K8S_VERSIONS[@]}"; do
        kubernetes-validate --strict --quiet -k "$version" "$OUT/$1-exec/deployment.yaml" || {
            echo "$1: the exec preStop form does not validate against Kubernetes $version" >&2
            exit 1
        }
    done
    echo "$1: preStop.sleep rejected by 1.28 as documented; the exec form valid for 1.25 to ${K8S_VERSIONS[-1]}"
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
validate_k8s plain-svc
expect_text plain-svc/Cargo.toml 'winddown = { path = "../winddown", features = \["systemd"\] }'

echo "== generating with the defaults"
generate default-svc -d "winddown_path=$REPO"
expect_text default-svc/config/default.toml 'addr = "0.0.0.0:8080"'
expect_text default-svc/config/default.toml 'linger = "15s"'
expect_text default-svc/k8s/deployment.yaml 'terminationGracePeriodSeconds: 50$'
expect_text default-svc/k8s/deployment.yaml 'value: "5s"'
expect_text default-svc/systemd/default-svc.service '^TimeoutStopSec=50s$'
expect_text default-svc/systemd/default-svc.service '^Type=notify$'
expect_text default-svc/systemd/default-svc.socket '^ListenStream=8080$'
validate_k8s default-svc
check default-svc

echo "== generating with every option flipped"
generate flipped-svc -d "winddown_path=$REPO" -d port=9090 -d announce_delay_secs=3 \
    -d drain_timeout_secs=7 -d timeout_secs=20 -d announce_in=prestop -d kubernetes=false \
    -d metrics_flush=textfile
expect_no_file flipped-svc/k8s
# No Kubernetes files, so no preStop sleep: the process announces.
expect_text flipped-svc/config/default.toml 'announce_delay = "3s"'
expect_text flipped-svc/config/default.toml 'timeout = "20s"'
expect_text flipped-svc/config/default.toml 'textfile = "/var/lib/node_exporter'
expect_text flipped-svc/systemd/flipped-svc.service '^TimeoutStopSec=25s$'
expect_text flipped-svc/systemd/flipped-svc.socket '^ListenStream=9090$'
check flipped-svc

echo "== generating with the Pushgateway flush, preStop announce, Kubernetes files"
generate pushed-svc -d "winddown_path=$REPO" -d announce_in=prestop -d announce_delay_secs=4 \
    -d metrics_flush=pushgateway
expect_text pushed-svc/k8s/deployment.yaml 'seconds: 4$'
expect_text pushed-svc/k8s/deployment.yaml 'terminationGracePeriodSeconds: 39$'
# The budget the service checks: the part left at SIGTERM, after the preStop sleep.
expect_text pushed-svc/k8s/deployment.yaml 'value: "35s"$'
validate_k8s pushed-svc
validate_prestop_forms pushed-svc
check pushed-svc

echo "== generating with no metrics flush, announce in the process, no Kubernetes files"
generate quiet-svc -d "winddown_path=$REPO" -d metrics_flush=none -d kubernetes=false \
    -d announce_delay_secs=2
expect_text quiet-svc/config/default.toml 'announce_delay = "2s"'
expect_text quiet-svc/config/default.toml 'linger = "0s"'
check quiet-svc

echo "== a port that is not one is refused"
for port in eighty 0 70000 65536; do
    if cargo generate --path templates/service --name bad-svc --silent --vcs none \
        --destination "$OUT" -d port="$port" >"$OUT/bad.log" 2>&1; then
        echo "port=$port was accepted" >&2
        exit 1
    fi
    # cargo-generate leaves at most an empty directory behind.
    if [[ -n "$(ls -A "$OUT/bad-svc" 2>/dev/null)" ]]; then
        echo "files left behind by a refused generation (port=$port)" >&2
        exit 1
    fi
    rm -rf "$OUT/bad-svc"
    if ! grep -q "is not a valid value for port" "$OUT/bad.log"; then
        echo "port=$port refused for another reason:" >&2
        cat "$OUT/bad.log" >&2
        exit 1
    fi
    echo "refused port=$port: $(grep -o 'Sorry.*' "$OUT/bad.log" | head -1)"
done
echo "== template: all generated projects pass"
