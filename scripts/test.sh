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
bg_pids=()
kill_tree() {  # a background job and everything it started (ninja, the compilers, clang-tidy)
  local child
  for child in $(pgrep -P "$1" || true); do kill_tree "$child"; done
  kill "$1" 2>/dev/null || true
}
report() {
  local rc=$?
  # A failure ends the run: a background job still running (a build beside the tests) goes with it.
  for pid in "${bg_pids[@]}"; do kill_tree "$pid"; done
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

# CPU-bound work that does not depend on the tests runs beside them at the lowest CPU priority
# (nice 19): the tests wait on brokers, timers and processes much of the time, and the work uses
# what they leave idle without taking CPU from them when they need it. A background job's output
# goes to its log, printed if it fails.
sanitize=$([ "${SKIP_SANITIZE:-0}" != 1 ] && echo 1 || echo 0)
background() {  # background <log> <function>: starts it; its pid in $bg_pid
  (renice -n 19 -p "$BASHPID" >/dev/null && "$2") > "$1" 2>&1 &
  bg_pid=$!
  bg_pids+=("$bg_pid")
}
await() {  # await <pid> <log> <what>
  if ! wait "$1"; then
    cat "$2"
    echo "$3 failed"
    exit 1
  fi
  cat "$2"
}
beside_release_tests() {
  local t0=$SECONDS
  bash scripts/tidy.sh build/ci
  echo "(clang-tidy took $((SECONDS - t0)) s beside the tests)"
  if [ "$sanitize" = 1 ]; then
    t0=$SECONDS
    cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCRYPTOFLOW_SANITIZE=ON -DCRYPTOFLOW_WERROR=ON >/dev/null
    cmake --build build/asan -j "$jobs" > build/asan-build.log 2>&1 || { tail -50 build/asan-build.log; return 1; }
    echo "(the AddressSanitizer build took $((SECONDS - t0)) s beside the tests)"
  fi
}
beside_asan_tests() {
  local t0=$SECONDS
  cmake -S . -B build/tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCRYPTOFLOW_TSAN=ON -DCRYPTOFLOW_WERROR=ON >/dev/null
  cmake --build build/tsan -j "$jobs" --target threaded_tests > build/tsan-build.log 2>&1 ||
    { tail -50 build/tsan-build.log; return 1; }
  echo "(the ThreadSanitizer build took $((SECONDS - t0)) s beside the tests)"
}

phase "tests (Release); beside them: clang-tidy (.clang-tidy's checks), then the ASan/UBSan build"
background build/beside-release-tests.log beside_release_tests
beside=$bg_pid
(cd build/ci && ctest --output-on-failure -j 2)
phase "clang-tidy and the ASan/UBSan build: what is left after the tests"
await "$beside" build/beside-release-tests.log "clang-tidy or the ASan/UBSan build"

if [ "$sanitize" = 1 ]; then
  phase "tests under ASan/UBSan; beside them: the ThreadSanitizer build"
  background build/beside-asan-tests.log beside_asan_tests
  beside=$bg_pid
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
  phase "the ThreadSanitizer build: what is left after the ASan/UBSan tests"
  await "$beside" build/beside-asan-tests.log "the ThreadSanitizer build"

  # The tests whose executables run threads of their own (label "threaded": the admin server and
  # service host, the sinks' writer thread, the processor, the live producer): built and run with
  # ThreadSanitizer. tests/tsan.supp says what is suppressed and why.
  # (built beside the ASan/UBSan tests above)
  phase "threaded tests under ThreadSanitizer"
  (cd build/tsan && TSAN_OPTIONS="suppressions=$root/tests/tsan.supp:halt_on_error=1:second_deadlock_stack=1" \
     ctest --output-on-failure -j 2 -L threaded)
fi
