#!/usr/bin/env bash
# Installs every Debian package cryptoflow needs to build, test and run its demo.
# Idempotent: packages already present are skipped by apt-get; safe to run again.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  librdkafka-dev rapidjson-dev catch2 zlib1g-dev
  libcurl4-openssl-dev libssl-dev libboost-dev
  influxdb kcat curl python3 ca-certificates clang-format
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
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
