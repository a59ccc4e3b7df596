#!/usr/bin/env python3
"""Prints an InfluxDB 1.x /query JSON answer (stdin) as a plain table. Standard library only."""
import datetime
import json
import sys

answer = json.load(sys.stdin)
for result in answer.get("results", []):
    if "error" in result:
        sys.exit("InfluxDB error: " + result["error"])
    for series in result.get("series", []):
        cols = series["columns"]
        values = series["values"]
        if cols[0] == "time" and all(v[0] == 0 for v in values):  # aggregates: no meaningful time
            cols = cols[1:]
            values = [v[1:] for v in values]
        rows = []
        for v in values:
            row = []
            for c, x in zip(cols, v):
                if c == "time" and isinstance(x, int) and x > 0:
                    x = datetime.datetime.fromtimestamp(x / 1000, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
                row.append("" if x is None else str(x))
            rows.append(row)
        tags = series.get("tags")
        if tags:
            print(" ".join(f"{k}={v}" for k, v in tags.items()))
        widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
        print("  ".join(c.ljust(w) for c, w in zip(cols, widths)))
        for r in rows:
            print("  ".join(x.ljust(w) for x, w in zip(r, widths)))
