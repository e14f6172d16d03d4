#!/usr/bin/env bash
# Installs what trit needs to build and test on a fresh Debian 12 machine (apt; root or sudo).
set -euo pipefail
pkgs=(build-essential cmake pkg-config libjansson-dev libpcre2-dev libcmocka-dev libmicrohttpd-dev
      clang libclang-rt-dev nodejs npm qemu-user-static gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
# npm may come with node from another source; only ask apt for it when the command is absent
if command -v npm >/dev/null 2>&1; then
  missing=("${missing[@]/npm}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
echo "setup: ok"
