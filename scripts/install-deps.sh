#!/usr/bin/env bash
# Installs the Debian packages cryptoflow needs. Idempotent: safe to run again.
#   scripts/install-deps.sh          everything: build, tests, demo, deploy-file validation
#   scripts/install-deps.sh build    only what compiles the binaries (the container build stage)
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  librdkafka-dev rapidjson-dev zlib1g-dev libcurl4-openssl-dev libssl-dev libboost-dev ca-certificates
)
if [ "${1:-all}" != build ]; then
  packages+=(git catch2 influxdb kcat curl openssl procps python3 python3-yaml clang-format clang-tidy docker-compose
             python3-notebook python3-nbconvert python3-ipykernel python3-pandas python3-matplotlib chromium)
fi
# Node for the gateway's page (lightweight-charts; the container's build stage too) and the client
# tests (ccxt, playwright-core): Debian's, unless a node is already installed.
command -v npm >/dev/null || packages+=(nodejs npm)

# The npm packages, exactly as the lockfiles pin them: the page's chart library, and (all) the
# client tests' packages. playwright-core drives Debian's chromium; it downloads no browser.
npm_ci() {
  command -v npm >/dev/null || return 0
  local dirs=(services/gateway/web)
  if [ "${1:-all}" != build ]; then dirs+=(tests/clients); fi
  local installed=()
  for d in "${dirs[@]}"; do
    # Not there yet: the container's build stage copies the sources after installing packages.
    [ -f "$(dirname "$0")/../$d/package-lock.json" ] || continue
    (cd "$(dirname "$0")/../$d" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || { echo "install-deps: npm ci in $d failed"; exit 1; }
    installed+=("$d")
  done
  if [ ${#installed[@]} -gt 0 ]; then
    echo "install-deps: npm packages of ${installed[*]} installed from their lockfiles"
  else
    echo "install-deps: no npm lockfile here yet (${dirs[*]})"
  fi
}

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  npm_ci "${1:-all}"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# policy-rc.d keeps the influxdb package from starting a system-wide influxd on port 8086:
# cryptoflow's tests and demo start their own on free loopback ports.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
npm_ci "${1:-all}"
