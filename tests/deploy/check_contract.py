#!/usr/bin/env python3
"""Holds docs/contract.md to the code, so the two cannot drift:

- each binary's variable table (plus the common table) against its --help: the same names, the
  same defaults;
- the topic defaults against the *_TOPIC variables;
- the message table against proto/*.v1.json: required and optional fields;
- the InfluxDB table against what influxdb-sink's encoder writes (tests/schema_dump);
- the Elasticsearch table against what elasticsearch-sink's encoder writes: fields and _id.

Usage: check_contract.py --source <repo> --build <build dir>
"""
import argparse
import json
import os
import re
import subprocess
import sys

problems = []


def fail(msg):
    problems.append(msg)


def sections(text, level):
    """{heading: body} for the headings of one level."""
    out = {}
    parts = re.split(rf"^{'#' * level} (.+)$", text, flags=re.M)
    for i in range(1, len(parts), 2):
        out[parts[i].strip()] = parts[i + 1]
    return out


def table(body):
    """Rows of the first markdown table in body, as lists of cells."""
    rows = []
    for line in body.splitlines():
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if all(re.fullmatch(r"-+", c) for c in cells):
            continue
        rows.append(cells)
    return rows[1:]  # without the header


def names(cell):
    return [n.strip().strip("`") for n in cell.split(",") if n.strip()]


def helped(build, binary):
    """{variable: default} from the binary's --help."""
    path = os.path.join(build, "services", binary, binary)
    out = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        fail(f"{binary} --help exited {out.returncode}")
        return {}
    result = {}
    for line in out.stdout.splitlines():
        m = re.match(r"^  ([A-Z][A-Z0-9_<>]+)\s+(.*)$", line)
        if m:
            d = re.search(r"\[([^\]]*)\]$", m.group(2))
            result[m.group(1)] = d.group(1) if d else ""
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True)
    ap.add_argument("--build", required=True)
    a = ap.parse_args()
    doc = open(os.path.join(a.source, "docs", "contract.md")).read()
    top = sections(doc, 2)

    # Environment
    env = sections(top["Environment"], 3)
    common = {r[0]: ("" if r[1] == "—" else r[1]) for r in table(env["Every service but dev-broker"])}
    binaries = [b for b in env if b != "Every service but dev-broker"]
    for b in ["dev-broker", "binance-producer", "coingecko-producer", "stream-processor", "influxdb-sink",
              "elasticsearch-sink", "s3-sink", "gateway"]:
        if b not in binaries:
            fail(f"docs/contract.md documents no variables of {b}")
    for b in binaries:
        own = {r[0]: ("" if r[1] == "—" else r[1]) for r in table(env[b])}
        documented = dict(own) if b == "dev-broker" else {**common, **own}
        actual = helped(a.build, b)
        for n in sorted(set(actual) - set(documented)):
            fail(f"{b} reads {n} (--help), which docs/contract.md does not document")
        for n in sorted(set(documented) - set(actual)):
            fail(f"docs/contract.md documents {n} for {b}, which its --help does not list")
        for n in sorted(set(actual) & set(documented)):
            if actual[n] != documented[n]:
                fail(f"{b}: {n} defaults to '{actual[n]}' (--help), docs/contract.md says '{documented[n]}'")

    # Topics: their default names are the *_TOPIC defaults
    topic_vars = {"crypto.trades": "TRADES_TOPIC", "crypto.tickers": "TICKERS_TOPIC",
                  "crypto.candles": "CANDLES_TOPIC", "crypto.indicators": "INDICATORS_TOPIC",
                  "crypto.books": "BOOKS_TOPIC",
                  "crypto.late-trades": "LATE_TRADES_TOPIC", "crypto.dead-letter": "DEAD_LETTER_TOPIC",
                  "crypto.processor-state": "STATE_TOPIC"}
    dev_broker = helped(a.build, "dev-broker")
    documented_topics = [r[0] for r in table(top["Topics"])]
    for t in documented_topics:
        var = topic_vars.get(t)
        if not var or dev_broker.get(var) != t:
            fail(f"topic {t}: not the default of a *_TOPIC variable dev-broker creates")
    for t, var in topic_vars.items():
        if t not in documented_topics:
            fail(f"topic {t} ({var}) is not in docs/contract.md")

    # Messages against proto/
    for row in table(top["Messages"]):
        message, schema, required, optional = row[0], row[1], names(row[2]), names(re.sub(r"\(.*?\)", "", row[3]))
        path = os.path.join(a.source, schema)
        if not os.path.exists(path):
            fail(f"message {message}: {schema} does not exist")
            continue
        s = json.load(open(path))
        if sorted(s.get("required", [])) != sorted(required):
            fail(f"message {message}: required fields {sorted(required)} != {schema}'s {sorted(s.get('required', []))}")
        if sorted(s["properties"]) != sorted(required + optional):
            fail(f"message {message}: fields {sorted(required + optional)} != {schema}'s {sorted(s['properties'])}")

    # What the sinks write
    dump = json.loads(subprocess.run([os.path.join(a.build, "tests", "schema_dump")], capture_output=True,
                                     text=True, check=True).stdout)
    influx = {r[0]: (set(names(r[1])), set(names(r[2]))) for r in table(top["InfluxDB schema (what Grafana queries)"])}
    if set(influx) != set(dump["influxdb"]):
        fail(f"InfluxDB measurements {sorted(influx)} != written {sorted(dump['influxdb'])}")
    for m, (tags, fields) in influx.items():
        w = dump["influxdb"].get(m)
        if w and (tags != set(w["tags"]) or fields != set(w["fields"])):
            fail(f"InfluxDB {m}: documented tags {sorted(tags)} fields {sorted(fields)}, written {w['tags']} {w['fields']}")
    sample = {"symbol": "BTCUSDT", "interval": "1m", "start ms": "0", "coin": "bitcoin", "vs_currency": "usd",
              "last_updated ms": "1000", "window": "30s", "end ms": "30000"}
    es = {r[0]: (r[1].strip("`"), set(names(r[2]))) for r in table(top["Elasticsearch documents"])}
    if set(es) != set(dump["elasticsearch"]):
        fail(f"Elasticsearch indices {sorted(es)} != written {sorted(dump['elasticsearch'])}")
    for index, (id_rule, fields) in es.items():
        if index in dump["elasticsearch"] and fields != set(dump["elasticsearch"][index]):
            fail(f"Elasticsearch {index}: documented {sorted(fields)}, written {dump['elasticsearch'][index]}")
        expected_id = re.sub(r"<([^>]+)>", lambda m: sample.get(m.group(1), "?"), id_rule)
        if dump["elasticsearch_ids"].get(index) != expected_id:
            fail(f"Elasticsearch {index}: _id rule {id_rule} gives {expected_id}, the sink writes "
                 f"{dump['elasticsearch_ids'].get(index)}")

    for p in problems:
        print("FAIL:", p)
    print(f"docs/contract.md: {len(binaries)} binaries, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
