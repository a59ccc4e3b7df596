#!/usr/bin/env bash
# Builds cryptoflow in Release and runs the benchmarks (docs/benchmarks.md), printing tables;
# nothing is asserted:
#   1. the in-process hot path against RapidJSON's parse-only ceiling (10 and 1,000 symbols);
#   2. throughput through the embedded broker against kcat and against the bound for what the
#      processor writes (kcat reading the trades + kcat producing its outputs), with the seed
#      projects' Python consumers: 200 symbols over 24 partitions, then 2,000 over 6;
#   3. latency, trade received -> candle update visible, at 10,000 and 100,000 trades/s, against
#      the broker hop measured in the same run;
#   4. influxdb-sink into a local influxd against curl batches and a one-point-per-request writer;
#      elasticsearch-sink against an instant _bulk stand-in and curl posting the same bodies;
#   5. order books: 100 symbols' diff-depth updates through binance-producer -> Kafka -> gateway,
#      against a raw WebSocket read of the same frames; memory per book level and per book;
#   6. RSS of binance-producer, stream-processor and influxdb-sink over 10 million trades, 2,000 symbols,
#      at 5,000 trades/s (about 35 of the run's 45 minutes).
#   scripts/bench.sh [trades for the broker runs, default 300000] [trades for the memory run, default 10000000]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/install-deps.sh"
apt_missing=()
for p in python3-kafka python3-confluent-kafka; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || apt_missing+=("$p")
done
if [ ${#apt_missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get install -y -qq "${apt_missing[@]}" >/dev/null
fi
build="$root/build-bench"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target hot_path_bench latency_bench books_bench gateway dev-broker stream-processor binance-producer influxdb-sink \
  elasticsearch-sink
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "== hot path (one core)"
"$build/tests/hot_path_bench" 1000000
echo "== through the embedded broker"
/usr/bin/python3 "$root/tests/bench/broker_bench.py" "$build" "${1:-300000}" 200 24
# The mock keeps ~5 MB per partition: two thirds of the trades fit 6 partitions.
/usr/bin/python3 "$root/tests/bench/broker_bench.py" "$build" "$(( ${1:-300000} * 2 / 3 ))" 2000 6
echo "== latency (trade received -> candle update visible to a read_committed consumer)"
/usr/bin/python3 "$root/tests/bench/latency_run.py" "$build" 10
echo "== influxdb-sink into a local influxd; elasticsearch-sink into an instant stand-in"
/usr/bin/python3 "$root/tests/bench/sink_bench.py" "$build" 200000
echo "== order books (100 symbols at 100 ms, through producer, Kafka and gateway)"
"$build/tests/books_bench" 100 120 20
echo "== memory over a long run"
/usr/bin/python3 "$root/tests/bench/memory_bench.py" "$build" "${2:-10000000}" 2000 5000
