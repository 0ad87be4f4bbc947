#!/usr/bin/env bash
# Installs what the tests need and the toolchain does not ship:
# Prometheus and the Pushgateway (Debian packages), prlimit (util-linux: the
# descriptor-pressure test), systemd-socket-activate (systemd: the socket
# activation tests), HAProxy (Debian package: the template's rolling restart
# behind a load balancer), kubernetes-validate (PyPI: the template's manifests
# checked against the Kubernetes schemas) and cargo-generate (template
# tests). Skips whatever is already there.
set -euo pipefail
# shellcheck source=scripts/apt-install.sh
. "$(dirname "$0")/apt-install.sh"

need_apt=()
command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
command -v prometheus-pushgateway >/dev/null 2>&1 || need_apt+=(prometheus-pushgateway)
command -v prlimit >/dev/null 2>&1 || need_apt+=(util-linux)
command -v systemd-socket-activate >/dev/null 2>&1 || need_apt+=(systemd)
command -v haproxy >/dev/null 2>&1 || need_apt+=(haproxy)
if [ ${#need_apt[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing Debian packages: ${need_apt[*]}"
  apt_install "${need_apt[@]}"
  # The packages start system services; the tests start their own on free ports.
  for svc in prometheus prometheus-pushgateway prometheus-node-exporter haproxy; do
    $sudo systemctl stop "$svc" >/dev/null 2>&1 || $sudo service "$svc" stop >/dev/null 2>&1 || true
  done
fi

if ! command -v kubernetes-validate >/dev/null 2>&1; then
  echo "installing kubernetes-validate 1.37.0 (PyPI: the Kubernetes API schemas, offline)"
  python3 -m pip install --quiet kubernetes-validate==1.37.0
fi

if ! command -v cargo-generate >/dev/null 2>&1; then
  echo "installing cargo-generate 0.23.7"
  cargo install cargo-generate@0.23.7 --locked --quiet
fi
