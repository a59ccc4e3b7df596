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
  packages+=(git catch2 influxdb kcat curl openssl python3 python3-yaml clang-format clang-tidy docker-compose
             python3-notebook python3-nbconvert python3-ipykernel python3-pandas python3-matplotlib)
fi

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
