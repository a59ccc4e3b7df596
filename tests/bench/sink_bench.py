#!/usr/bin/python3
"""Sink throughput, all in one run on the same candles (docs/benchmarks.md):

  influxdb-sink             crypto.candles from the embedded broker -> a local influxd (a real
                            InfluxDB 1.x server), 5,000-point batches
  curl, 5,000-line batches  the same points as line protocol, one curl POST per batch
  one point per request     the seed projects' writer: one HTTP POST per point (a sample)
  elasticsearch-sink        crypto.candles -> a stand-in that answers `_bulk` at once (every item
                            201; no Elasticsearch runs here): the sink's own cost per document,
                            rate and CPU seconds of the sink process
  curl, the same _bulk      the request bodies the stand-in received from the sink, posted again
                            by curl to the same stand-in: what the stand-in and HTTP cost alone

Usage: sink_bench.py <build dir> [points, default 200000]. Each influx writer gets its own database.
"""
import gzip
import http.server
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

from benchlib import binary, free_port, metric, start_broker, start_influxd

BUILD = sys.argv[1]
POINTS = int(sys.argv[2]) if len(sys.argv) > 2 else 200_000
ONE_BY_ONE = 3_000  # the per-request writer gets a sample: at its rate the full set takes minutes


def candles():
    """POINTS distinct 1m candles over 200 symbols, as the stream-processor writes them."""
    rng = random.Random(7)
    out = []
    for i in range(POINTS):
        sym = f"SYM{i % 200}USDT"
        start = 1_700_000_000_000 + (i // 200) * 60_000
        o = 100 + rng.randrange(1000)
        c = {"source": "binance", "symbol": sym, "interval": "1m", "start": start, "end": start + 60_000,
             "open": f"{o}.5", "high": f"{o + 3}.25", "low": f"{o - 2}.125", "close": f"{o + 1}.75",
             "volume": f"{rng.randrange(10**6)}.{rng.randrange(10**8):08d}",
             "quote_volume": f"{rng.randrange(10**9)}.{rng.randrange(10**8):08d}",
             "taker_buy_volume": f"{rng.randrange(10**5)}.{rng.randrange(10**8):08d}",
             "vwap": f"{o}.{rng.randrange(10**8):08d}", "trades": rng.randrange(1, 5000), "final": True}
        out.append(c)
    return out


def line(c):  # services/influxdb-sink/src/line_protocol.cpp, for a Candle
    return (f"candle,interval={c['interval']},source={c['source']},symbol={c['symbol']} "
            f"open={c['open']},high={c['high']},low={c['low']},close={c['close']},volume={c['volume']},"
            f"quote_volume={c['quote_volume']},taker_buy_volume={c['taker_buy_volume']},vwap={c['vwap']},"
            f"trades={c['trades']}i,final={'true' if c['final'] else 'false'} {c['start']}\n")


def query_count(port, db):
    q = urllib.parse.urlencode({"db": db, "q": "SELECT count(close) FROM candle"})
    body = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/query?{q}", timeout=30).read())
    try:
        return body["results"][0]["series"][0]["values"][0][1]
    except (KeyError, IndexError):
        return 0


def create_db(port, db):
    data = urllib.parse.urlencode({"q": f"CREATE DATABASE {db}"}).encode()
    urllib.request.urlopen(f"http://127.0.0.1:{port}/query", data=data, timeout=10).read()


class InstantElasticsearch(http.server.ThreadingHTTPServer):
    """Index templates acknowledged, every _bulk item created (201) as soon as the body is read."""
    daemon_threads = True

    def __init__(self):
        self.bodies = []  # the NDJSON of each _bulk, uncompressed
        self.docs = 0
        self.lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def answer(self, body):
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_PUT(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.answer('{"acknowledged":true}')

            def do_GET(self):
                self.answer('{"version":{"number":"8.13.0"}}')

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                n = body.count(b"\n") // 2  # an action line and a document per item
                with server.lock:
                    server.bodies.append(body)
                    server.docs += n
                self.answer('{"took":0,"errors":false,"items":[' + ",".join(['{"index":{"status":201}}'] * n) + "]}")

        super().__init__(("127.0.0.1", 0), Handler)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def run_elasticsearch(work, bootstrap):
    """(sink docs/s, sink CPU µs per doc, docs the stand-in got, curl docs/s on the same bodies)."""
    es = InstantElasticsearch()
    threading.Thread(target=es.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{es.server_address[1]}"
    admin = free_port()
    env = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=bootstrap, ADMIN_PORT=str(admin), LOG_LEVEL="warn", ES_URL=url,
               SINK_TOPICS="crypto.candles", GROUP_ID="bench-es")
    profile = os.environ.get("BENCH_PROFILE")  # a directory: the sink runs under `perf record`
    wrap = ["perf", "record", "-q", "-o", os.path.join(profile, "perf-elasticsearch-sink.data"), "--"] if profile else []
    proc = subprocess.Popen(wrap + [binary(BUILD, "elasticsearch-sink")], env=env, stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(work, "elasticsearch-sink.log"), "w"))
    first = last = None
    cpu0 = cpu1 = 0.0
    deadline = time.time() + 600
    while time.time() < deadline:
        n = metric(admin, "cryptoflow_sink_written_total")
        if n > 0 and first is None:
            first, cpu0 = (time.time(), n), cpu_seconds(proc.pid)
        if n >= POINTS:
            last, cpu1 = time.time(), cpu_seconds(proc.pid)
            break
        time.sleep(0.01)
    proc.terminate()
    proc.wait(30)
    sink_rate = (POINTS - first[1]) / (last - first[0]) if first and last else None
    cpu_us = (cpu1 - cpu0) * 1e6 / (POINTS - first[1]) if first and last else None
    got = es.docs
    files = []
    for i, body in enumerate(es.bodies):
        path = os.path.join(work, f"bulk{i:05d}.ndjson")
        open(path, "wb").write(body)
        files.append(path)
    t0 = time.time()
    for path in files:
        subprocess.run(["curl", "-sf", "-o", "/dev/null", "-XPOST", f"{url}/_bulk", "-H",
                        "Content-Type: application/x-ndjson", "--data-binary", f"@{path}"], check=True)
    curl_rate = (es.docs - got) / (time.time() - t0)
    es.shutdown()
    return sink_rate, cpu_us, got, curl_rate


def main():
    from confluent_kafka import Producer
    work = tempfile.mkdtemp(prefix="cryptoflow-sink-bench-")
    influxd, influx_port = start_influxd(work)
    broker, bootstrap = start_broker(BUILD, 64, os.path.join(work, "broker.log"))
    try:
        points = candles()
        p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "queue.buffering.max.messages": 1_000_000})
        for c in points:
            p.produce("crypto.candles", key=f"{c['symbol']}|{c['interval']}|{c['start']}",
                      value=json.dumps(c, separators=(",", ":")), timestamp=c["start"])
        p.flush(60)

        # influxdb-sink, with gzip (the default) and without
        def run_sink(db, gzip):
            admin = free_port()
            env = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=bootstrap, ADMIN_PORT=str(admin), LOG_LEVEL="warn",
                       INFLUX_URL=f"http://127.0.0.1:{influx_port}", INFLUX_API="v1", INFLUX_DB=db,
                       INFLUX_GZIP=gzip, SINK_TOPICS="crypto.candles", GROUP_ID=db)
            proc = subprocess.Popen([binary(BUILD, "influxdb-sink")], env=env,
                                    stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, f"{db}.log"), "w"))
            first = last = None
            deadline = time.time() + 600
            while time.time() < deadline:
                n = metric(admin, "cryptoflow_sink_written_total")
                if n > 0 and first is None:
                    first = (time.time(), n)
                if n >= POINTS:
                    last = time.time()
                    break
                time.sleep(0.01)
            proc.terminate()
            proc.wait(30)
            return ((POINTS - first[1]) / (last - first[0]) if first and last else None), query_count(influx_port, db)

        sink_rate, sink_stored = run_sink("bench_sink", "true")
        plain_rate, plain_stored = run_sink("bench_sink_plain", "false")

        # curl, 5,000-line batches of the same points
        create_db(influx_port, "bench_curl")
        files = []
        for i in range(0, POINTS, 5000):
            path = os.path.join(work, f"batch{i // 5000:05d}.lp")
            with open(path, "w") as f:
                f.writelines(line(c) for c in points[i:i + 5000])
            files.append(path)
        url = f"http://127.0.0.1:{influx_port}/write?db=bench_curl&precision=ms"
        t0 = time.time()
        for path in files:
            subprocess.run(["curl", "-sf", "-XPOST", url, "--data-binary", f"@{path}"], check=True)
        curl_rate = POINTS / (time.time() - t0)
        curl_stored = query_count(influx_port, "bench_curl")

        # one point per request (seed style)
        create_db(influx_port, "bench_one")
        url = f"http://127.0.0.1:{influx_port}/write?db=bench_one&precision=ms"
        t0 = time.time()
        for c in points[:ONE_BY_ONE]:
            urllib.request.urlopen(urllib.request.Request(url, data=line(c).encode(), method="POST"), timeout=10).read()
        one_rate = ONE_BY_ONE / (time.time() - t0)

        es_rate, es_cpu_us, es_docs, es_curl_rate = run_elasticsearch(work, bootstrap)
    finally:
        broker.terminate()
        influxd.terminate()
        broker.wait(30)
        influxd.wait(30)
    print(f"{POINTS:,} distinct 1m candles; influxd {subprocess.run(['influxd', 'version'], capture_output=True, text=True).stdout.strip()}")
    print(f"{'writer':44} {'points/s':>10} {'stored':>9} {'vs curl':>8}")
    rows = [("influxdb-sink (5,000-point batches, gzip)", sink_rate, sink_stored),
            ("influxdb-sink, INFLUX_GZIP=false", plain_rate, plain_stored),
            ("curl, 5,000-line batches", curl_rate, curl_stored),
            (f"one point per request (first {ONE_BY_ONE:,})", one_rate, None)]
    for name, rate, stored in rows:
        if rate is None:
            print(f"{name:44} {'failed':>10}")
            continue
        print(f"{name:44} {rate:10,.0f} {stored if stored is not None else '-':>9} {rate / curl_rate:8.2f}")
    for name, rate in (("influxdb-sink", sink_rate), ("influxdb-sink INFLUX_GZIP=false", plain_rate)):
        if rate:
            print(f"{name} / curl: {rate / curl_rate:.2f}; / one-per-request: {rate / one_rate:.0f}x")
    print(f"{'elasticsearch writer (instant _bulk stand-in)':44} {'docs/s':>10} {'received':>9} {'vs curl':>8}")
    if es_rate:
        print(f"{'elasticsearch-sink (ES_BULK_ACTIONS=2000, gzip)':44} {es_rate:10,.0f} {es_docs:9,} "
              f"{es_rate / es_curl_rate:8.2f}")
        print(f"{'curl, the same _bulk bodies':44} {es_curl_rate:10,.0f} {'':9} {1:8.2f}")
        print(f"elasticsearch-sink CPU per document: {es_cpu_us:.1f} us (user + system, its whole process)")
    else:
        print(f"elasticsearch-sink failed: {work}/elasticsearch-sink.log")
    if es_rate:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
