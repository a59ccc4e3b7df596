"""What the benchmark scripts share: service binaries, free ports, /metrics, the embedded broker
and a local influxd. Imported by broker_bench.py, latency_run.py, sink_bench.py, memory_bench.py."""
import os
import re
import socket
import subprocess
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def binary(build, name):
    return os.path.join(build, "services", name, name)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def metric(port, name):
    """A service's unlabelled metric from its /metrics, -1 when it does not answer (yet)."""
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1).read().decode()
    except OSError:
        return -1
    m = re.search(rf"^{name} (\S+)$", body, re.M)
    return float(m.group(1)) if m else -1


def start_broker(build, partitions, log_path):
    """dev-broker with `partitions` per topic: (process, bootstrap servers)."""
    broker = subprocess.Popen([binary(build, "dev-broker"), "--partitions", str(partitions)], stdout=subprocess.PIPE,
                              stderr=open(log_path, "w"), text=True)
    return broker, broker.stdout.readline().strip()


def start_influxd(work):
    """A local influxd (deploy/local/influxdb.conf.in, data under work/): (process, HTTP port),
    once it answers /ping."""
    port = free_port()
    conf = open(os.path.join(ROOT, "deploy/local/influxdb.conf.in")).read()
    conf = conf.replace("@DIR@", os.path.join(work, "influxdb")).replace("@HTTP_PORT@", str(port))
    conf = conf.replace("@RPC_PORT@", str(free_port()))
    path = os.path.join(work, "influxdb.conf")
    open(path, "w").write(conf)
    influxd = subprocess.Popen(["influxd", "-config", path], stdout=subprocess.DEVNULL,
                               stderr=open(os.path.join(work, "influxd.log"), "w"))
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=1)
            break
        except OSError:
            time.sleep(0.2)
    return influxd, port
