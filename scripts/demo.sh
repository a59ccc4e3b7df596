#!/usr/bin/env bash
# The cryptoflow demo on one machine, no Docker: installs what is missing, builds, starts the
# embedded Kafka-protocol broker (dev-broker) and a local InfluxDB, replays recorded Binance
# XRP/ETH trades through binance-producer -> stream-processor -> influxdb-sink, shows progress,
# then prints the latest candles from InfluxDB. Ctrl-C stops everything; nothing is left behind.
#
#   DEMO_REPLAY_FILE  recorded frames to replay [tests/fixtures/freqtrade/XRPETH.aggTrade.jsonl]
#   DEMO_SPEED        REPLAY_SPEED for the producer: 0 = as fast as possible [0]
#   DEMO_KEEP         1: keep serving after the replay until Ctrl-C (the gateway, InfluxDB) [0]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash scripts/install-deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DCRYPTOFLOW_TESTS=OFF >/dev/null
cmake --build build/release
bin=build/release/services

replay=${DEMO_REPLAY_FILE:-tests/fixtures/freqtrade/XRPETH.aggTrade.jsonl}
work=$(mktemp -d /tmp/cryptoflow-demo.XXXXXX)
pids=()
cleanup() {
  trap - EXIT INT TERM
  for ((i=${#pids[@]}-1; i>=0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'echo; echo "stopping..."; exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
metric() {  # metric <port> <name>: sum of a metric's samples on an admin port
  curl -fs "http://127.0.0.1:$1/metrics" 2>/dev/null | awk -v n="$2" '$1==n || index($1, n"{")==1 {s+=$2} END {printf "%d", s}'
}

echo "== starting the embedded Kafka-protocol broker (dev-broker)"
"$bin/dev-broker/dev-broker" >"$work/broker.out" 2>"$work/broker.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/broker.out" ] && break; sleep 0.1; done
bootstrap=$(head -1 "$work/broker.out")
echo "   bootstrap servers: $bootstrap"

echo "== starting InfluxDB 1.x on loopback"
influx_port=$(free_port)
sed -e "s|@DIR@|$work/influxdb|g" -e "s|@HTTP_PORT@|$influx_port|" -e "s|@RPC_PORT@|$(free_port)|" \
  deploy/local/influxdb.conf.in >"$work/influxdb.conf"
influxd -config "$work/influxdb.conf" >"$work/influxd.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$influx_port/ping" >/dev/null && break; sleep 0.2; done
echo "   http://127.0.0.1:$influx_port (database crypto)"

export KAFKA_BOOTSTRAP_SERVERS=$bootstrap LOG_FORMAT=text
proc_port=$(free_port); sink_port=$(free_port)
echo "== starting stream-processor and influxdb-sink (logs in $work)"
ADMIN_PORT=$proc_port CANDLE_INTERVALS=1m,5m,15m,1h "$bin/stream-processor/stream-processor" 2>"$work/processor.log" &
pids+=($!)
ADMIN_PORT=$sink_port INFLUX_URL="http://127.0.0.1:$influx_port" INFLUX_API=v1 INFLUX_DB=crypto \
  INFLUX_FLUSH_INTERVAL_MS=500 "$bin/influxdb-sink/influxdb-sink" 2>"$work/sink.log" &
pids+=($!)
gateway_port=$(python3 -c 'import socket; s=socket.socket(); print(0 if s.connect_ex(("127.0.0.1",8000)) else 8000)')
[ "$gateway_port" = 8000 ] || gateway_port=$(free_port)
echo "== starting the gateway: http://127.0.0.1:$gateway_port/ (the page; Binance- and CoinGecko-compatible API)"
# INFLUX_URL: candles older than the gateway holds come from InfluxDB (nothing is lost to its bound).
ADMIN_PORT=0 GATEWAY_PORT=$gateway_port GATEWAY_BIND=127.0.0.1 GATEWAY_CANDLES=4000 GATEWAY_STATIC_DIR="$bin/gateway/web" \
  INFLUX_URL="http://127.0.0.1:$influx_port" INFLUX_API=v1 INFLUX_DB=crypto \
  "$bin/gateway/gateway" 2>"$work/gateway.log" &
pids+=($!)

expected=$(grep -c '"e":"aggTrade"\|"e":"trade"' "$replay" || true)
echo "== replaying $expected recorded trades from $replay (REPLAY_SPEED=${DEMO_SPEED:-0})"
ADMIN_PORT=0 REPLAY_FILE="$replay" REPLAY_SPEED="${DEMO_SPEED:-0}" "$bin/binance-producer/binance-producer" 2>"$work/producer.log" &
producer=$!
pids+=($producer)

last_written=-1; stable=0
while :; do
  sleep 1
  trades=$(metric "$proc_port" cryptoflow_processor_trades_in_total)
  candles=$(metric "$proc_port" cryptoflow_processor_candles_out_total)
  written=$(metric "$sink_port" cryptoflow_sink_written_total)
  printf '   trades processed %6d / %d   candles emitted %6d   points in InfluxDB %6d\n' \
    "$trades" "$expected" "$candles" "$written"
  if ! kill -0 "$producer" 2>/dev/null; then
    wait "$producer" || { echo "binance-producer failed:"; tail -5 "$work/producer.log"; exit 1; }
  fi
  if [ "$trades" -ge "$expected" ] && [ "$written" -eq "$last_written" ]; then
    stable=$((stable + 1)); [ $stable -ge 2 ] && break
  else
    stable=0
  fi
  last_written=$written
done

query() { curl -fsG "http://127.0.0.1:$influx_port/query" --data-urlencode db=crypto --data-urlencode epoch=ms --data-urlencode "q=$1"; }
echo
echo "== latest 1m candles in InfluxDB (measurement 'candle')"
query "SELECT open,high,low,close,volume,trades,final FROM candle WHERE interval='1m' ORDER BY time DESC LIMIT 10" |
  python3 "$root/scripts/influx_table.py"
echo
echo "== candles per interval"
query "SELECT count(close) AS candles FROM candle GROUP BY interval" | python3 "$root/scripts/influx_table.py"
echo
echo "== the same candles from the gateway, as Binance's API shapes them"
echo "   curl 'http://127.0.0.1:$gateway_port/binance/api/v3/klines?symbol=XRPETH&interval=1h&limit=3'"
curl -fsS "http://127.0.0.1:$gateway_port/binance/api/v3/klines?symbol=XRPETH&interval=1h&limit=3" | sed 's/\],\[/],\n [/g'
echo
echo
echo "== daily candles (rolled up exactly from the 1h ones) and the aggregate trades, for your own client:"
echo "   curl 'http://127.0.0.1:$gateway_port/binance/api/v3/klines?symbol=XRPETH&interval=1d'"
echo "   curl 'http://127.0.0.1:$gateway_port/binance/api/v3/aggTrades?symbol=XRPETH&limit=5'"
echo "   ccxt (npm i ccxt): node --input-type=module -e \"import ccxt from 'ccxt'; const b = new ccxt.binance({urls: {api: {public: 'http://127.0.0.1:$gateway_port/binance/api/v3'}}, options: {fetchMarkets: {types: ['spot']}, fetchCurrencies: false}}); console.log(await b.fetchOHLCV('XRP/ETH', '1d'), await b.fetchTrades('XRP/ETH', undefined, 3))\""
echo
echo "== order books: Binance's recorded spot depth stream and the REST snapshots taken with it (cryptofeed),"
echo "   replayed through binance-producer's book-keeping (Binance's procedure) into crypto.books"
ADMIN_PORT=0 REPLAY_FILE=tests/fixtures/cryptofeed/BINANCE.ws.1.0 REPLAY_DEPTH_SNAPSHOTS=tests/fixtures/cryptofeed/BINANCE.http.0.0 \
  "$bin/binance-producer/binance-producer" 2>"$work/books.log" || { echo "the books replay failed:"; tail -5 "$work/books.log"; exit 1; }
book="http://127.0.0.1:$gateway_port/binance/api/v3/depth?symbol=NKNUSDT&limit=5"
for _ in $(seq 100); do curl -fs "$book" | grep -q '"lastUpdateId":499870179,' && break; sleep 0.2; done
echo "   curl '$book'"
curl -fsS "$book"
echo
echo "   its top of book in InfluxDB (measurement 'book', a point a second):"
for _ in $(seq 50); do query "SELECT count(bid) FROM book" | grep -q '"values"' && break; sleep 0.2; done
query "SELECT bid,bid_qty,ask,ask_qty,spread FROM book WHERE symbol='NKNUSDT' ORDER BY time DESC LIMIT 3" |
  python3 "$root/scripts/influx_table.py"
echo
echo "The page, live charts of these candles: http://127.0.0.1:$gateway_port/#XRPETH/1h"
echo "(and NKNUSDT's order book: http://127.0.0.1:$gateway_port/#NKNUSDT/1m)"
echo "(DEMO_KEEP=1 keeps it serving after the demo)"
echo
echo "Data: Binance spot XRP/ETH aggregate trades of 2019-10-11..13, recorded in freqtrade's test data"
echo "(tests/fixtures/SOURCES.md); candles computed by stream-processor with exact decimals."
if [ "${DEMO_KEEP:-0}" = 1 ]; then
  echo "Serving: the gateway at http://127.0.0.1:$gateway_port, InfluxDB at http://127.0.0.1:$influx_port,"
  echo "Kafka at $bootstrap. Ctrl-C to stop."
  while :; do sleep 1; done
fi
