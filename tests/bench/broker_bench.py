#!/usr/bin/python3
"""Throughput through the embedded broker, all measured in one run on the same data:

  kcat -C                       the broker's ceiling (reads and discards), fetch.wait.max.ms=5
  bound                         kcat -C reading the trades plus kcat -P producing the very records the
                                processor wrote (outputs and state), one after the other: what the
                                broker can deliver for the bytes the design must write
  stream-processor              exactly_once and at_least_once (1m,5m,15m,1h candles + 30 s MA)
  kafka-python consumer         the seed projects 001/003 approach: json + dicts, 1m OHLCV
  confluent-kafka consumer      the seed project 000 approach: json + dicts, 1m OHLCV, batches

Usage: broker_bench.py <build dir> [trades] [symbols] [partitions, default 24] [--no-peers]
       BENCH_PROFILE=<dir> broker_bench.py ...   (the processor under `perf record`, data in <dir>)
       BENCH_BASELINE=<build dir> broker_bench.py ...   (also that build's stream-processor,
                                                        exactly_once: a change against the build before it)
(Debian's python3: python3-kafka, python3-confluent-kafka). The trades are written lz4-compressed,
as the producers write them (KAFKA_COMPRESSION_TYPE's default). --no-peers: kcat and the
stream-processor with exactly_once only. Prints a table; rates are trades/s from the first record
to the last.
"""
import json
import os
import random
import subprocess
import sys
import tempfile
import time

from benchlib import binary as service_binary, free_port, metric, start_broker

BUILD = sys.argv[1]
TRADES = int(sys.argv[2]) if len(sys.argv) > 2 else 300_000
SYMBOLS = int(sys.argv[3]) if len(sys.argv) > 3 else 200
# The mock keeps only ~5 MB per partition: spread the trades thin, or use fewer.
PARTITIONS = int(sys.argv[4]) if len(sys.argv) > 4 else 24
PEERS = "--no-peers" not in sys.argv


def binary(name):
    return service_binary(BUILD, name)


def produce(bootstrap):
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True,
                  "compression.type": "lz4", "queue.buffering.max.messages": 1_000_000})
    rng = random.Random(1)
    t = 1_700_000_000_000
    ids = [0] * SYMBOLS  # each symbol's trade ids count up, as Binance's do
    for i in range(TRADES):
        t += rng.randrange(20)
        s = rng.randrange(SYMBOLS)
        sym = f"SYM{s}USDT"
        ids[s] += 1
        msg = {"source": "binance", "symbol": sym, "trade_id": ids[s], "price": f"{100 + rng.randrange(1000)}.{rng.randrange(10**8):08d}",
               "quantity": f"0.{rng.randrange(10**8):08d}", "buyer_is_maker": bool(i & 1), "event_time": t,
               "trade_time": t, "received_time": t + 5}
        while True:
            try:
                p.produce("crypto.trades", key=sym, value=json.dumps(msg, separators=(",", ":")), timestamp=t)
                break
            except BufferError:
                p.poll(0.05)
        if i % 10_000 == 0:
            p.poll(0)
    p.flush(60)


def kept_trades(bootstrap):
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-check"})
    total = 0
    for p in range(PARTITIONS):
        lo, hi = c.get_watermark_offsets(TopicPartition("crypto.trades", p), timeout=10)
        total += hi - lo
    c.close()
    return total


def run_processor(bootstrap, guarantee, logdir, build=None, label=""):
    port = free_port()
    env = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=bootstrap, KAFKA_FETCH_WAIT_MAX_MS="5", ADMIN_PORT=str(port),
               GROUP_ID=f"bench-{guarantee}{label}", TRANSACTIONAL_ID=f"bench-{guarantee}{label}", PROCESSING_GUARANTEE=guarantee,
               LOG_LEVEL="warn")
    with open(os.path.join(logdir, f"processor-{guarantee}{label}.log"), "w") as log:
        # BENCH_PROFILE=<dir>: the processor runs under `perf record` (perf-<guarantee>.data there).
        profile = os.environ.get("BENCH_PROFILE")
        # BENCH_PROFILE_ARGS: more perf record options (e.g. "--call-graph dwarf").
        extra = os.environ.get("BENCH_PROFILE_ARGS", "").split()
        wrap = (["perf", "record", "-q", *extra, "-o", os.path.join(profile, f"perf-{guarantee}{label}.data"), "--"]
                if profile else [])
        exe = service_binary(build, "stream-processor") if build else binary("stream-processor")
        proc = subprocess.Popen(wrap + [exe], env=env, stdout=log, stderr=log)
        first = last = None
        deadline = time.time() + 300
        while time.time() < deadline:
            n = metric(port, "cryptoflow_processor_trades_in_total")
            now = time.time()
            if n > 0 and first is None:
                first = (now, n)
            if n >= TRADES:
                last = now
                break
            time.sleep(0.01)
        stats = {k: metric(port, f"cryptoflow_processor_{k}") for k in
                 ("commit_latency_ms_count", "commit_latency_ms_sum", "state_records_written_total",
                  "state_bytes_written_total")}
        proc.terminate()
        proc.wait(30)
    if first is None or last is None:
        return None
    commits = max(stats["commit_latency_ms_count"], 1)
    print(f"  {guarantee}{label}: {commits:,.0f} commits, {stats['commit_latency_ms_sum'] / commits:.1f} ms each on average; "
          f"{stats['state_records_written_total']:,.0f} state records, "
          f"{stats['state_bytes_written_total'] / 1e6:,.1f} MB ({stats['state_bytes_written_total'] / TRADES:,.0f} "
          f"bytes per trade)", flush=True)
    # The first sample already saw first[1] trades: count the rate over the rest.
    return (TRADES - first[1]) / max(last - first[0], 1e-6)


def ohlcv_update(candles, msg):
    trade = json.loads(msg)
    key = (trade["symbol"], trade["trade_time"] // 60_000 * 60_000)
    price, qty = float(trade["price"]), float(trade["quantity"])
    c = candles.get(key)
    if c is None:
        candles[key] = {"open": price, "high": price, "low": price, "close": price, "volume": qty}
    else:
        c["high"] = max(c["high"], price)
        c["low"] = min(c["low"], price)
        c["close"] = price
        c["volume"] += qty


def run_kafka_python(bootstrap):
    from kafka import KafkaConsumer
    c = KafkaConsumer("crypto.trades", bootstrap_servers=bootstrap, group_id="bench-kafka-python",
                      auto_offset_reset="earliest", enable_auto_commit=False, fetch_max_wait_ms=5,
                      max_partition_fetch_bytes=4 << 20, fetch_max_bytes=64 << 20, api_version=(2, 5, 0))
    candles, n, first = {}, 0, None
    deadline = time.time() + 600
    while n < TRADES and time.time() < deadline:
        for records in c.poll(timeout_ms=100, max_records=10_000).values():
            if first is None:
                first = time.time()
            for r in records:
                ohlcv_update(candles, r.value)
            n += len(records)
    last = time.time()
    c.close()
    return n / (last - first) if first and n >= TRADES else None


def run_confluent(bootstrap):
    from confluent_kafka import Consumer
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-confluent", "auto.offset.reset": "earliest",
                  "enable.auto.commit": False, "fetch.wait.max.ms": 5, "isolation.level": "read_committed"})
    c.subscribe(["crypto.trades"])
    candles, n, first = {}, 0, None
    deadline = time.time() + 600
    while n < TRADES and time.time() < deadline:
        batch = c.consume(num_messages=10_000, timeout=0.1)
        for m in batch:
            if m.error():
                continue
            if first is None:
                first = time.time()
            ohlcv_update(candles, m.value())
            n += 1
    last = time.time()
    c.close()
    return n / (last - first) if first and n >= TRADES else None


OUTPUT_TOPICS = ("crypto.candles", "crypto.indicators", "crypto.processor-state", "crypto.late-trades",
                 "crypto.dead-letter")


def end_offsets(bootstrap):
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-offsets"})
    ends = {}
    for topic in OUTPUT_TOPICS:
        meta = c.list_topics(topic, timeout=10).topics.get(topic)
        for p in (meta.partitions if meta and not meta.error else {}):
            ends[(topic, p)] = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
    c.close()
    return ends


# kcat's delimiters for the dump of the processor's outputs (the state records are binary).
KEY_DELIM, MSG_DELIM = b"\x1e\x1f\x1e\x1f\x1e", b"\x1f\x1e\x1f\x1e\x1f"


def dump_outputs(bootstrap, before, after, path):
    """Every record the processor wrote between the two offset maps, as kcat -P reads them."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-dump", "enable.auto.commit": False})
    wanted = {tp: (before.get(tp, 0), end) for tp, end in after.items() if end > before.get(tp, 0)}
    c.assign([TopicPartition(t, p, lo) for (t, p), (lo, _) in wanted.items()])
    records = nbytes = 0
    left = sum(hi - lo for lo, hi in wanted.values())
    key_delim, msg_delim = KEY_DELIM.decode("unicode_escape").encode("latin1"), MSG_DELIM.decode("unicode_escape").encode("latin1")
    with open(path, "wb") as out:
        deadline = time.time() + 120
        while left > 0 and time.time() < deadline:
            for m in c.consume(num_messages=10_000, timeout=0.5):
                if m.error() or m.offset() >= wanted[(m.topic(), m.partition())][1]:
                    continue
                key, value = m.key() or b"", m.value() or b""
                if key_delim in key + value or msg_delim in key + value:
                    sys.exit("a delimiter occurs in the processor's output: choose others")
                out.write(key + key_delim + value + msg_delim)
                records += 1
                nbytes += len(key) + len(value)
                left -= 1
    c.close()
    return records, nbytes


def run_kcat_produce(bootstrap, path, records):
    """kcat producing the processor's output records (one topic), as the processor's producer is set up."""
    start = time.time()
    subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", "bench.outputs", "-K", KEY_DELIM.decode(), "-D",
                    MSG_DELIM.decode(), "-l", "-X", "compression.type=lz4", "-X", "linger.ms=5",
                    "-X", "enable.idempotence=true", path], check=True, capture_output=True, timeout=300)
    return records / (time.time() - start)


def run_kcat(bootstrap):
    start = time.time()
    out = subprocess.run(["kcat", "-C", "-b", bootstrap, "-t", "crypto.trades", "-X", "fetch.wait.max.ms=5",
                          "-o", "beginning", "-e", "-q", "-f", "%o\n"], capture_output=True, timeout=300)
    elapsed = time.time() - start
    n = out.stdout.count(b"\n")
    return n / elapsed if n >= TRADES else None


def main():
    logdir = tempfile.mkdtemp(prefix="cryptoflow-bench-")
    broker, bootstrap = start_broker(BUILD, PARTITIONS, os.path.join(logdir, "broker.log"))
    try:
        t0 = time.time()
        produce(bootstrap)
        kept = kept_trades(bootstrap)
        if kept != TRADES:
            sys.exit(f"the broker kept {kept} of {TRADES} trades (its ~5 MB per partition limit): use fewer trades")
        print(f"produced {TRADES:,} trades over {SYMBOLS} symbols into {PARTITIONS} partitions in {time.time() - t0:.1f} s")
        read_rate = run_kcat(bootstrap)
        results = [("kcat -C (broker ceiling)", read_rate)]
        before = end_offsets(bootstrap)
        results.append(("stream-processor exactly_once", run_processor(bootstrap, "exactly_once", logdir)))
        # The bound for what the design must write: kcat reading the trades, then kcat producing the
        # very records the processor wrote (outputs and state), one after the other on the same broker.
        records, nbytes = dump_outputs(bootstrap, before, end_offsets(bootstrap), os.path.join(logdir, "outputs.kcat"))
        produce_rate = run_kcat_produce(bootstrap, os.path.join(logdir, "outputs.kcat"), records)
        bound = TRADES / (TRADES / read_rate + records / produce_rate) if read_rate else None
        print(f"  the processor wrote {records:,} records ({records / TRADES:.2f} per trade), {nbytes / 1e6:,.1f} MB; "
              f"kcat -P produces them at {produce_rate:,.0f} records/s", flush=True)
        baseline = os.environ.get("BENCH_BASELINE")
        if baseline:
            results.append(("baseline stream-processor exactly_once",
                            run_processor(bootstrap, "exactly_once", logdir, baseline, "-baseline")))
        if PEERS:
            results += [("stream-processor at_least_once", run_processor(bootstrap, "at_least_once", logdir)),
                        ("Python kafka-python + json/dicts (seeds 001, 003)", run_kafka_python(bootstrap)),
                        ("Python confluent-kafka + json/dicts (seed 000)", run_confluent(bootstrap))]
    finally:
        broker.terminate()
        broker.wait(30)
    base = results[0][1]
    print(f"{'what':52} {'trades/s':>12} {'vs kcat':>8} {'vs bound':>9}")
    results.insert(1, ("bound: kcat -C the trades + kcat -P the outputs", bound))
    for name, rate in results:
        if rate is None:
            print(f"{name:52} {'failed':>12}")
        else:
            print(f"{name:52} {rate:12,.0f} {rate / base if base else 0:8.2f} {rate / bound if bound else 0:9.2f}")
    eo = results[2][1]
    for name, rate in [r for r in results if r[0].startswith("Python")] if eo else []:
        if eo and rate:
            print(f"exactly_once / {name.split(' +')[0]}: {eo / rate:.1f}x")
    print(f"logs: {logdir}")


if __name__ == "__main__":
    main()
