#!/usr/bin/env bash
# A/B of two builds' stream-processor through the embedded broker (docs/benchmarks.md, third
# round): the broker runs are short and noisy, so each case runs in pairs, this build first and
# then the baseline first (in the second kind the rows swap: "stream-processor" is the baseline's,
# "baseline" this build's).
#   tests/bench/ab_broker.sh <build dir> <baseline build dir> [pairs, default 3]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="$1" baseline="$2" pairs="${3:-3}"
for i in $(seq "$pairs"); do
  for c in "200000 2000 6" "300000 200 24"; do
    set -- $c
    echo "== $2 symbols, pair $i: $build first"
    BENCH_BASELINE="$baseline" /usr/bin/python3 "$root/tests/bench/broker_bench.py" "$build" "$1" "$2" "$3" --no-peers |
      grep -E "^(kcat|bound|stream|baseline)"
    echo "== $2 symbols, pair $i: $baseline first (its rows are 'stream-processor', $build's 'baseline')"
    BENCH_BASELINE="$build" /usr/bin/python3 "$root/tests/bench/broker_bench.py" "$baseline" "$1" "$2" "$3" --no-peers |
      grep -E "^(kcat|bound|stream|baseline)"
  done
done
