#!/usr/bin/env bash
# Runs every test: installs what the tests need, checks formatting and lints,
# then runs the workspace's unit, integration and doc tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# Production containers run with backtraces on: every promise must hold so.
export RUST_BACKTRACE=1
# One build from a clean checkout: incremental data would only fill the disk.
if [[ "${CI:-}" == "true" ]]; then
    export CARGO_INCREMENTAL=0
fi

scripts/install-test-deps.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo doc (broken links and doc warnings fail)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet

echo "== cargo test"
# Builds the examples too: the black-box tests in tests/ run them as processes.
cargo test --workspace --locked

echo "== every test again, as inside a Kubernetes pod"
# Defaults must not change with the environment: the same tests, the same
# results (nothing is rebuilt: the variable only reaches the tests).
KUBERNETES_SERVICE_HOST=10.0.0.1 cargo test --workspace --locked

echo "== loom models (state machine, in-flight counter)"
# A separate target dir: the cfg changes every fingerprint anyway.
RUSTFLAGS="--cfg winddown_loom" CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/loom" \
  cargo test -p winddown-core --lib --release --locked loom

echo "== cargo generate: the service template, with every option"
scripts/test-template.sh
