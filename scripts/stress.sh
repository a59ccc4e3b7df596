#!/usr/bin/env bash
# Every test, three times in a row, with two busy loops beside it (the load of a build or another
# job on the CI machine's two cores): a test that fails any of the runs fails the script. Timing
# and counts of internal events make tests flaky; this is how a flaky one shows.
#   scripts/stress.sh [build dir] [more ctest arguments, e.g. -L e2e or -R gateway]
# The build dir (default build/ci) must be built: scripts/test.sh or cmake --build build/ci.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build/ci}
shift || true
[ -f "$build/CTestTestfile.cmake" ] || { echo "stress: $build is not a built build directory"; exit 2; }
busy=()
for _ in 1 2; do
  (while :; do :; done) &
  busy+=($!)
done
trap 'kill "${busy[@]}" 2>/dev/null || true' EXIT
echo "stress: two busy loops (pids ${busy[*]}); each test runs until it fails, three times at most"
cd "$build"
ctest --output-on-failure -j 2 --repeat until-fail:3 "$@"
