#!/usr/bin/env bash
# Runs every cryptoflow test on a fresh Debian 12 machine: installs the Debian packages it
# needs, builds with warnings as errors (Release, the container image's configuration),
# checks clang-format and clang-tidy, runs the whole suite (unit, integration against the
# embedded broker and a real influxd, end to end, deploy files, docs/contract.md, layout lint,
# fuzzing), then builds again with AddressSanitizer + UndefinedBehaviorSanitizer and runs the
# suite under them, and builds the threaded tests with ThreadSanitizer and runs them.
#   SKIP_SANITIZE=1  skip the sanitizer builds (quicker local runs)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=$(nproc)

# Phase times, printed at the end of the run (also when a phase fails): where CI's time goes.
phases=()
phase_start=$SECONDS
run_start=$SECONDS
phase_name=""
phase() {  # phase "<name>": ends the phase before and starts this one
  if [ -n "$phase_name" ]; then phases+=("$(printf '%6d s  %s' $((SECONDS - phase_start)) "$phase_name")"); fi
  phase_name=$1
  phase_start=$SECONDS
  [ -z "$1" ] || echo "== $1"
}
report() {
  local rc=$?
  phase ""
  echo "== phase times (exit $rc)"
  printf '%s\n' "${phases[@]}"
  printf '%6d s  total\n' $((SECONDS - run_start))
}
trap report EXIT

phase "install dependencies"
bash scripts/install-deps.sh

# Release, as the container image builds the services (deploy/Dockerfile): one build checks the
# image's configuration and runs the tests.
phase "build (Release, warnings are errors)"
cmake -S . -B build/ci -G Ninja -DCMAKE_BUILD_TYPE=Release -DCRYPTOFLOW_WERROR=ON >/dev/null
cmake --build build/ci -j "$jobs"

phase "clang-format check"
if command -v clang-format >/dev/null; then
  unformatted=$(find libs services tests -name '*.cpp' -o -name '*.hpp' | xargs clang-format --dry-run 2>&1 | grep -c warning || true)
  if [ "$unformatted" -ne 0 ]; then echo "clang-format: $unformatted lines differ; run clang-format -i"; exit 1; fi
else
  echo "clang-format not installed: skipped"
fi

phase "clang-tidy (curated checks: .clang-tidy)"
bash scripts/tidy.sh build/ci

phase "tests (Release)"
(cd build/ci && ctest --output-on-failure -j 2)

if [ "${SKIP_SANITIZE:-0}" != 1 ]; then
  phase "build with AddressSanitizer + UndefinedBehaviorSanitizer"
  cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCRYPTOFLOW_SANITIZE=ON -DCRYPTOFLOW_WERROR=ON >/dev/null
  cmake --build build/asan -j "$jobs"
  phase "tests under ASan/UBSan"
  # All but two long tests. The 5,000-symbol crash test: there each trade is a state record,
  # and the unoptimised sanitized processor (well under half the speed it needs) never catches
  # up with the 700 trades/s the test feeds; its code paths run here in the 40-symbol crash test
  # and in the 5,000-symbol unit tests on fakes. The 102 random SIGTERMs (3.5 min): what it
  # guards is an assertion inside librdkafka, the same in either build; the consumer's
  # close-before-assignment path runs here in the SIGTERM tests against a silent cluster. The
  # notebook test: its C++ side (s3-sink) runs here in the other s3-sink e2e test; the rest is
  # the notebook's Python, the same in either build. The browser and npm client tests: the gateway runs
  # under ASan in its e2e tests; the rest is JavaScript, the same in either build.
  (cd build/asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
     ctest --output-on-failure -j 2 -E "with 5000 symbols on one partition|Consumers exit 0 on SIGTERM at any moment|history.ipynb executes|^browser: |^clients: ")

  # The tests whose executables run threads of their own (label "threaded": the admin server and
  # service host, the sinks' writer thread, the processor, the live producer): built and run with
  # ThreadSanitizer. tests/tsan.supp says what is suppressed and why.
  phase "build the threaded tests with ThreadSanitizer"
  cmake -S . -B build/tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCRYPTOFLOW_TSAN=ON -DCRYPTOFLOW_WERROR=ON >/dev/null
  cmake --build build/tsan -j "$jobs" --target threaded_tests
  phase "threaded tests under ThreadSanitizer"
  (cd build/tsan && TSAN_OPTIONS="suppressions=$root/tests/tsan.supp:halt_on_error=1:second_deadlock_stack=1" \
     ctest --output-on-failure -j 2 -L threaded)
fi
