#!/usr/bin/env bash
# Runs every cryptoflow test on a fresh Debian 12 machine: installs the Debian packages it
# needs, builds with warnings as errors (also in the container image's Release configuration),
# runs the whole suite (unit, integration against the embedded broker and a real influxd, end
# to end, deploy-file validation), then builds again with AddressSanitizer +
# UndefinedBehaviorSanitizer and runs the suite under them.
#   SKIP_SANITIZE=1  skip the sanitizer build (quicker local runs)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=$(nproc)

bash scripts/install-deps.sh

echo "== build (warnings are errors)"
cmake -S . -B build/ci -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCRYPTOFLOW_WERROR=ON >/dev/null
cmake --build build/ci -j "$jobs"

echo "== build as the container image does (Release, warnings are errors)"
cmake -S . -B build/image-check -G Ninja -DCMAKE_BUILD_TYPE=Release -DCRYPTOFLOW_WERROR=ON -DCRYPTOFLOW_TESTS=OFF >/dev/null
cmake --build build/image-check -j "$jobs"

echo "== clang-format check"
if command -v clang-format >/dev/null; then
  unformatted=$(find libs services tests -name '*.cpp' -o -name '*.hpp' | xargs clang-format --dry-run 2>&1 | grep -c warning || true)
  if [ "$unformatted" -ne 0 ]; then echo "clang-format: $unformatted lines differ; run clang-format -i"; exit 1; fi
else
  echo "clang-format not installed: skipped"
fi

echo "== tests"
(cd build/ci && ctest --output-on-failure -j 2)

if [ "${SKIP_SANITIZE:-0}" != 1 ]; then
  echo "== build with AddressSanitizer + UndefinedBehaviorSanitizer"
  cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCRYPTOFLOW_SANITIZE=ON -DCRYPTOFLOW_WERROR=ON >/dev/null
  cmake --build build/asan -j "$jobs"
  echo "== unit, integration and end-to-end tests under ASan/UBSan"
  (cd build/asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
     ctest --output-on-failure -j 2)
fi
