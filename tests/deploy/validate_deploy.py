#!/usr/bin/python3
"""Validates deploy/ without a Docker engine or a cluster (Debian's python3 with python3-yaml).

Default run:
  - `docker-compose config` accepts deploy/docker-compose.yml with .env.example, for both
    broker profiles;
  - every environment variable that compose or the Kubernetes base gives a cryptoflow binary
    is one that binary lists in its --help;
  - the Dockerfile installs every binary into the image;
  - every Grafana dashboard is valid JSON, and its Flux queries name only measurements, tags
    and fields that influxdb-sink writes, its Prometheus queries only metrics the code registers;
  - every Kibana saved object is valid, and names only indices and fields elasticsearch-sink
    writes; Prometheus scrapes only compose services.
--kustomize: `kubectl kustomize` renders every overlay (exit 77 = skipped when kubectl is absent).
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys

import yaml

BINARIES = ["binance-producer", "coingecko-producer", "stream-processor", "influxdb-sink", "elasticsearch-sink",
            "s3-sink", "gateway"]
FLUX_COLUMNS = {"_time", "_value", "_field", "_measurement", "_start", "_stop"}
errors = []


def fail(msg):
    errors.append(msg)


def run(cmd, env=None, cwd=None):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)
    return p.returncode, p.stdout, p.stderr


def help_vars(build):
    out = {}
    for b in BINARIES:
        rc, text, err = run([os.path.join(build, "services", b, b), "--help"])
        if rc != 0:
            fail(f"{b} --help exited {rc}: {err}")
        out[b] = set(re.findall(r"^  ([A-Z][A-Z0-9_<>]+)\s", text, re.M))
    return out


def check_env(where, binary, names, helps):
    allowed = helps.get(binary, set())
    for n in sorted(names):
        if n in allowed or (n.startswith("KAFKA_") and "KAFKA_<NAME>" in allowed):
            continue
        fail(f"{where}: {binary} is given {n}, which its --help does not list")


def check_compose(src, helps):
    deploy = os.path.join(src, "deploy")
    all_services = {}
    for profile in ["kafka", "redpanda", "kafka,scale-out"]:
        env = dict(os.environ, COMPOSE_PROFILES=profile)
        rc, out, err = run(["docker-compose", "--env-file", ".env.example", "config"], env=env, cwd=deploy)
        if rc != 0:
            fail(f"docker-compose config ({profile} profile) failed: {err.strip()}")
            return
        all_services.update(yaml.safe_load(out)["services"])
    config = yaml.safe_load(out)
    seen = set()
    for name, svc in config["services"].items():
        cmd = svc.get("command") or []
        if cmd and cmd[0] in BINARIES:
            seen.add(cmd[0])
            check_env(f"docker-compose service {name}", cmd[0], (svc.get("environment") or {}).keys(), helps)
            if "healthcheck" not in svc:
                fail(f"docker-compose service {name} has no healthcheck")
    for b in BINARIES:
        if b not in seen:
            fail(f"docker-compose runs no {b}")
    # A recreated container gets a new host name: a transactional id derived from it would not
    # fence the old instance's transaction.
    ids = []
    for name, svc in all_services.items():
        if (svc.get("command") or [None])[0] == "stream-processor":
            tid = (svc.get("environment") or {}).get("TRANSACTIONAL_ID")
            if not tid:
                fail(f"docker-compose service {name} has no pinned TRANSACTIONAL_ID")
            ids.append(tid)
    if len(ids) != len(set(ids)):
        fail(f"docker-compose stream-processors share a TRANSACTIONAL_ID: {ids}")
    prom = yaml.safe_load(open(os.path.join(deploy, "prometheus", "prometheus.yml")))
    for job in prom["scrape_configs"]:
        for sc in job["static_configs"]:
            for target in sc["targets"]:
                if target.split(":")[0] not in config["services"]:
                    fail(f"prometheus scrapes {target}, which is not a compose service")
    for f in ["datasources/datasources.yml", "dashboards/dashboards.yml"]:
        yaml.safe_load(open(os.path.join(deploy, "grafana", "provisioning", f)))


def check_k8s(src, helps):
    base = os.path.join(src, "deploy", "k8s", "base")
    docs = []
    for f in sorted(os.listdir(base)):
        if f.endswith(".yaml") and f != "kustomization.yaml":
            docs += [d for d in yaml.safe_load_all(open(os.path.join(base, f))) if d]
    maps = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}
    for d in docs:
        if d["kind"] not in ("Deployment", "StatefulSet"):
            continue
        if d["spec"]["template"]["spec"].get("enableServiceLinks") is not False:
            # Else a Service named kafka injects KAFKA_SERVICE_HOST, KAFKA_PORT, ...
            fail(f"{d['kind']} {d['metadata']['name']} does not set enableServiceLinks: false")
        if d["metadata"]["name"] == "binance-producer" and d["spec"].get("strategy", {}).get("type") != "Recreate":
            # A rolling update runs two producers side by side: every trade published twice.
            fail("Deployment binance-producer does not use the Recreate strategy")
        for c in d["spec"]["template"]["spec"]["containers"]:
            binary = c["command"][0]
            names = {e["name"] for e in c.get("env", [])}
            for ef in c.get("envFrom", []):
                ref = ef["configMapRef"]["name"]
                if ref not in maps:
                    fail(f"{d['kind']} {d['metadata']['name']} reads missing ConfigMap {ref}")
                names |= set(maps.get(ref, {}).keys())
            check_env(f"Kubernetes {d['kind']} {d['metadata']['name']}", binary, names, helps)
            sc = c.get("securityContext", {})
            if not (sc.get("runAsNonRoot") and sc.get("readOnlyRootFilesystem") and sc.get("allowPrivilegeEscalation") is False
                    and sc.get("capabilities", {}).get("drop") == ["ALL"]):
                fail(f"{d['kind']} {d['metadata']['name']}: securityContext is not locked down")
            for probe in ["livenessProbe", "readinessProbe"]:
                if probe not in c:
                    fail(f"{d['kind']} {d['metadata']['name']} has no {probe}")


def check_image(src):
    """Every binary of the project is installed into the container image (compose and the
    Kubernetes manifests run them by name from it)."""
    text = open(os.path.join(src, "deploy", "Dockerfile")).read()
    m = re.search(r"for s in ([a-z0-9 -]+); do", text)
    installed = set(m.group(1).split()) if m else set()
    for b in BINARIES + ["dev-broker"]:
        if b not in installed:
            fail(f"deploy/Dockerfile does not install {b} into the image")
    # The gateway's page: copied into the image where compose and Kubernetes point GATEWAY_STATIC_DIR.
    m = re.search(r"COPY --from=build \S+ (/\S+)\n", text.split("gateway's web page")[-1])
    page_dir = m.group(1) if m else None
    if not page_dir:
        fail("deploy/Dockerfile does not copy the gateway's web page into the image")
    compose = yaml.safe_load(open(os.path.join(src, "deploy", "docker-compose.yml")))
    k8s = list(yaml.safe_load_all(open(os.path.join(src, "deploy", "k8s", "base", "gateway.yaml"))))
    config = next(d for d in k8s if d and d.get("kind") == "ConfigMap")
    for where, value in (("compose", compose["services"]["gateway"]["environment"].get("GATEWAY_STATIC_DIR")),
                         ("k8s", config["data"].get("GATEWAY_STATIC_DIR"))):
        if value != page_dir:
            fail(f"{where}: the gateway's GATEWAY_STATIC_DIR is {value!r}, the image has the page at {page_dir!r}")


def metric_names(src):
    names = set()
    for top in ["libs", "services"]:
        for root, _, files in os.walk(os.path.join(src, top)):
            for f in files:
                if f.endswith((".cpp", ".hpp")):
                    names |= set(re.findall(r'"(cryptoflow_[a-z0-9_]+)"', open(os.path.join(root, f)).read()))
    return names


def check_flux(where, query, influx):
    measurements = set(re.findall(r'r\._measurement\s*==\s*"([^"]+)"', query))
    if not measurements:
        fail(f"{where}: Flux query names no measurement")
        return
    for m in measurements - influx.keys():
        fail(f"{where}: measurement {m} is not written by influxdb-sink")
    known = set()
    for m in measurements & influx.keys():
        known |= set(influx[m]["tags"]) | set(influx[m]["fields"])
    fields = set(re.findall(r'r\._field\s*==\s*"([^"]+)"', query))
    tags = set(re.findall(r'\br\.([A-Za-z_][A-Za-z0-9_]*)', query)) - FLUX_COLUMNS
    tags |= set(re.findall(r'\btag:\s*"([^"]+)"', query))
    columns = set()
    for group in re.findall(r'(?:columns|rowKey|columnKey):\s*\[([^\]]*)\]', query):
        columns |= set(re.findall(r'"([^"]+)"', group))
    for f in sorted(fields):
        if not any(f in influx[m]["fields"] for m in measurements & influx.keys()):
            fail(f"{where}: field {f} is not a field of {sorted(measurements)}")
    for t in sorted(tags):
        if not any(t in influx[m]["tags"] for m in measurements & influx.keys()):
            fail(f"{where}: tag {t} is not a tag of {sorted(measurements)}")
    for c in sorted(columns - FLUX_COLUMNS - known):
        fail(f"{where}: column {c} is neither a tag nor a field of {sorted(measurements)}")


def check_grafana(src, schema, metrics):
    folder = os.path.join(src, "deploy", "grafana", "dashboards")
    files = sorted(f for f in os.listdir(folder) if f.endswith(".json"))
    if not files:
        fail("no Grafana dashboards")
    for f in files:
        try:
            dash = json.load(open(os.path.join(folder, f)))
        except ValueError as e:
            fail(f"{f}: not valid JSON: {e}")
            continue
        for key in ["uid", "title", "panels"]:
            if key not in dash:
                fail(f"{f}: no {key}")
        queries = []
        for var in dash.get("templating", {}).get("list", []):
            if var.get("type") == "query":
                queries.append((f"{f} variable {var['name']}", var["datasource"]["type"], var["query"]))
        ids = set()
        for p in dash.get("panels", []):
            if p["id"] in ids:
                fail(f"{f}: panel id {p['id']} used twice")
            ids.add(p["id"])
            for t in p.get("targets", []):
                ds = (t.get("datasource") or p.get("datasource"))["type"]
                queries.append((f"{f} panel '{p['title']}'", ds, t.get("query") or t.get("expr")))
        for where, ds, q in queries:
            if ds == "influxdb":
                check_flux(where, q, schema["influxdb"])
            elif ds == "prometheus":
                used = set(re.findall(r"\b(cryptoflow_[a-z0-9_]+)", q))
                if not used:
                    fail(f"{where}: PromQL names no cryptoflow metric")
                for m in used:
                    base = re.sub(r"_(bucket|sum|count)$", "", m)
                    if m not in metrics and base not in metrics:
                        fail(f"{where}: metric {m} is not registered by any service")
            else:
                fail(f"{where}: unknown datasource {ds}")


def check_kibana(src, schema):
    es = schema["elasticsearch"]
    patterns = {}
    path = os.path.join(src, "deploy", "kibana", "saved_objects.ndjson")
    objects = [json.loads(line) for line in open(path) if line.strip()]
    for o in objects:
        if o["type"] == "index-pattern":
            index = o["attributes"]["title"].rstrip("*")
            if index not in es:
                fail(f"Kibana data view {o['id']}: index {index} is not written by elasticsearch-sink")
                continue
            if o["attributes"]["timeFieldName"] not in es[index]:
                fail(f"Kibana data view {o['id']}: time field is not a document field")
            patterns[o["id"]] = index
    for o in objects:
        if o["type"] == "index-pattern":
            continue
        refs = [r["id"] for r in o.get("references", []) if r["type"] == "index-pattern"]
        if len(refs) != 1 or refs[0] not in patterns:
            fail(f"Kibana object {o['id']} does not reference a known data view")
            continue
        fields = set(es[patterns[refs[0]]])
        used = set()
        if o["type"] == "visualization":
            vis = json.loads(o["attributes"]["visState"])
            used = {a["params"]["field"] for a in vis["aggs"] if "field" in a.get("params", {})}
        elif o["type"] == "search":
            used = set(o["attributes"]["columns"]) | {s[0] for s in o["attributes"].get("sort", [])}
        for u in sorted(used - fields):
            fail(f"Kibana object {o['id']}: field {u} is not in {patterns[refs[0]]}")
    if not any(o["type"] != "index-pattern" for o in objects):
        fail("no Kibana visualisations")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("--kustomize", action="store_true")
    a = ap.parse_args()
    if a.kustomize:
        if not shutil.which("kubectl"):
            print("kubectl is not installed: skipped")
            return 77
        overlays = os.path.join(a.source, "deploy", "k8s", "overlays")
        for o in sorted(os.listdir(overlays)):
            rc, out, err = run(["kubectl", "kustomize", os.path.join(overlays, o)])
            if rc != 0:
                fail(f"kubectl kustomize {o}: {err.strip()}")
            else:
                kinds = re.findall(r"^kind: (\w+)", out, re.M)
                print(f"overlay {o}: {len(kinds)} objects")
                for k in ["Deployment", "StatefulSet", "ConfigMap", "Secret", "PodDisruptionBudget"]:
                    if k not in kinds:
                        fail(f"overlay {o} renders no {k}")
    else:
        helps = help_vars(a.build)
        rc, out, err = run([os.path.join(a.build, "tests", "schema_dump")])
        schema = json.loads(out)
        check_compose(a.source, helps)
        check_k8s(a.source, helps)
        check_image(a.source)
        check_grafana(a.source, schema, metric_names(a.source))
        check_kibana(a.source, schema)
    for e in errors:
        print("FAIL:", e)
    print(f"{len(errors)} problem(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
