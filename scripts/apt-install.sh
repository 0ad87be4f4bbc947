#!/usr/bin/env bash
# Sourced by the scripts that install Debian packages they need:
# `apt_install <package>...` installs them, through sudo unless run as root.

apt_install() {
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
