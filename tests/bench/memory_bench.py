#!/usr/bin/python3
"""Memory over a long run (docs/benchmarks.md): the whole trade path on the embedded broker and a
local influxd, RSS of each service at start and as the trades go through.

  binance-producer (REPLAY_FILE of generated Binance trade events, 2,000 symbols, 1 ms apart in
  event time, replayed at a steady rate: 5,000 trades/s by default. The embedded broker keeps
  only ~5 MB per partition, so the processor must never fall behind by more. With 2,000 symbols
  at 20,000 trades/s every symbol trades in every commit interval, so each commit writes 2,000
  state records: at the default 100 ms commits the embedded broker's CPU grows with its logs
  until the processor falls behind; COMMIT_INTERVAL_MS=1000 in the environment keeps up -
  docs/benchmarks.md)
    -> crypto.trades -> stream-processor (exactly_once) -> crypto.candles/indicators -> influxdb-sink -> influxd

Usage: memory_bench.py <build dir> [trades, default 10000000] [symbols, default 2000]
[trades/s, a multiple of 1,000, default 5000]. Prints
VmRSS of each service at start (running, before any trade) and when the processor has read 10 %,
50 % and 100 % of the trades, the growth from the 50 % mark to the end (steady state), the
processor's RSS above its idle start per symbol, and how far the processor was behind the
producer every 10 s while it published (the largest, and the largest in the first and last third).
The services take the environment (e.g. COMMIT_INTERVAL_MS).
"""
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

from benchlib import binary, free_port, metric, start_broker, start_influxd

BUILD = sys.argv[1]
TRADES = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000_000
SYMBOLS = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
RATE = int(sys.argv[4]) if len(sys.argv) > 4 else 5000  # trades/s: REPLAY_SPEED x 1,000 (events 1 ms apart)


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def write_replay(path):
    """TRADES Binance trade events over SYMBOLS symbols, ids increasing per symbol, 1 ms apart."""
    rng = random.Random(3)
    ids = [0] * SYMBOLS
    t = 1_700_000_000_000
    with open(path, "w", buffering=1 << 20) as f:
        for i in range(TRADES):
            s = i % SYMBOLS if i % 7 else rng.randrange(SYMBOLS)
            ids[s] += 1
            t += 1
            f.write(f'{{"e":"trade","E":{t},"s":"S{s}USDT","t":{ids[s]},"p":"{100 + s}.{rng.randrange(10**8):08d}",'
                    f'"q":"0.{rng.randrange(10**8):08d}","T":{t},"m":{"true" if i & 1 else "false"},"M":true}}\n')


def main():
    work = tempfile.mkdtemp(prefix="cryptoflow-memory-")
    replay = os.path.join(work, "trades.jsonl")
    t0 = time.time()
    write_replay(replay)
    print(f"generated {TRADES:,} trade events ({os.path.getsize(replay) / 1e9:.1f} GB) in {time.time() - t0:.0f} s")
    procs = {}
    log = lambda name: open(os.path.join(work, f"{name}.log"), "w")  # noqa: E731
    influxd, influx_port = start_influxd(work)
    broker, bootstrap = start_broker(BUILD, 64, os.path.join(work, "broker.log"))
    try:
        base = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=bootstrap, LOG_LEVEL="warn")
        ports = {"stream-processor": free_port(), "influxdb-sink": free_port(), "binance-producer": free_port()}
        procs["stream-processor"] = subprocess.Popen(
            [binary(BUILD, "stream-processor")],
            env=dict(base, ADMIN_PORT=str(ports["stream-processor"]), TRANSACTIONAL_ID="memory"),
            stdout=subprocess.DEVNULL, stderr=log("processor"))
        procs["influxdb-sink"] = subprocess.Popen(
            [binary(BUILD, "influxdb-sink")],
            env=dict(base, ADMIN_PORT=str(ports["influxdb-sink"]), INFLUX_URL=f"http://127.0.0.1:{influx_port}",
                     INFLUX_API="v1", INFLUX_DB="memory"), stdout=subprocess.DEVNULL, stderr=log("sink"))
        time.sleep(5)  # joined their groups, idle
        start = {name: rss_kib(p.pid) for name, p in procs.items()}
        procs["binance-producer"] = subprocess.Popen(
            [binary(BUILD, "binance-producer")],
            env=dict(base, ADMIN_PORT=str(ports["binance-producer"]), REPLAY_FILE=replay, REPLAY_SPEED=str(RATE // 1000)),
            stdout=subprocess.DEVNULL, stderr=log("producer"))
        time.sleep(0.3)
        start["binance-producer"] = rss_kib(procs["binance-producer"].pid)
        marks = {}
        peak = {}
        producer_done = None
        published = 0
        lags = []  # (seconds, published - processed) at each report
        last_report = time.time()
        t0 = time.time()
        deadline = t0 + TRADES / RATE * 2 + 600
        while time.time() < deadline:
            n = metric(ports["stream-processor"], "cryptoflow_processor_trades_in_total")
            published = max(published, metric(ports["binance-producer"], "cryptoflow_binance_trades_total"))
            for name, p in procs.items():
                r = rss_kib(p.pid)
                if r:
                    peak[name] = max(peak.get(name, 0), r)
            for frac in (0.1, 0.5, 1.0):
                if n >= TRADES * frac and frac not in marks:
                    marks[frac] = {name: rss_kib(p.pid) for name, p in procs.items()}
                    marks[frac]["binance-producer"] = marks[frac]["binance-producer"] or peak.get("binance-producer")
            if time.time() - last_report >= 10:
                last_report = time.time()
                rss = ", ".join(f"{name} {(rss_kib(p.pid) or 0) / 1024:.1f} MB" for name, p in procs.items())
                if published < TRADES:
                    lags.append((last_report - t0, published - n))
                print(f"  {last_report - t0:5.0f} s: published {published:,.0f}, processed {n:,.0f} (behind by "
                      f"{published - n:,.0f}); {rss}", flush=True)
            if 1.0 in marks:
                break
            if procs["binance-producer"].poll() is not None and not producer_done:
                producer_done = time.time()
            if producer_done and time.time() - producer_done > 60:
                dead = metric(ports["stream-processor"], "cryptoflow_processor_dead_lettered_total")
                print(f"the processor read {n:,.0f} of {TRADES:,} trades ({dead:,.0f} dead-lettered); binance-producer "
                      f"published at least {published:,.0f}")
                break
            time.sleep(0.2)
        elapsed = time.time() - t0
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.terminate()
        for p in procs.values():
            p.wait(60)
        broker.terminate()
        influxd.terminate()
        broker.wait(30)
        influxd.wait(30)
    print(f"{TRADES:,} trades through binance-producer -> stream-processor -> influxdb-sink in {elapsed:.0f} s")
    if lags:
        third = max(1, len(lags) // 3)
        first, last = lags[:third], lags[-third:]
        print(f"processor behind the producer while it published: max {max(l for _, l in lags):,.0f} trades "
              f"({max(l for _, l in lags) / RATE:.2f} s of input); first third max {max(l for _, l in first):,.0f}, "
              f"last third max {max(l for _, l in last):,.0f}")
    mb = lambda k: f"{k / 1024:.1f}" if k else "-"  # noqa: E731
    print(f"{'service':18} {'start MB':>9} {'10% MB':>8} {'50% MB':>8} {'100% MB':>8} {'peak MB':>8} {'50->100%':>9}")
    for name in ("binance-producer", "stream-processor", "influxdb-sink"):
        row = [marks.get(f, {}).get(name) for f in (0.1, 0.5, 1.0)]
        growth = f"{(row[2] / row[1] - 1) * 100:+.1f}%" if row[1] and row[2] else "-"
        print(f"{name:18} {mb(start.get(name)):>9} {mb(row[0]):>8} {mb(row[1]):>8} {mb(row[2]):>8} "
              f"{mb(peak.get(name)):>8} {growth:>9}")
    held = marks.get(1.0, {}).get("stream-processor")
    if held and start.get("stream-processor"):
        print(f"stream-processor at the end, above its idle start: {(held - start['stream-processor']) / SYMBOLS:.1f} KiB "
              f"per symbol ({SYMBOLS:,} symbols; state, buffers and all)")
    if 1.0 in marks:
        shutil.rmtree(work, ignore_errors=True)
    else:
        os.remove(replay)
        print(f"logs: {work}")


if __name__ == "__main__":
    main()
