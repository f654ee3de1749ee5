#!/usr/bin/python3
"""Lambda function benchmarks on the real core (run by hand; not part of the test suite).

Scenarios (each bounded in count and time; see docs/performance.md "Lambda functions"):

  echo    device -> pinned Python function (publishes the event back) -> device, one message in
          flight, N round trips; compared in the same run with a paho-mqtt echo client on
          Debian's mosquitto (started here with set_tcp_nodelay true) doing the same round trip.
  invoke  function -> function RequestResponse through the SDK: an invoker function loops N
          lambda.invoke calls to a pinned function and publishes its own timings.
  cold    on-demand cold start: device publish -> the function's publish when no worker exists
          (first invocation after deployment), vs `/usr/bin/python3 -c 'import json,http.client'`
          wall time measured in the same run.

The measuring device is a raw-socket MQTT client (TCP_NODELAY, blocking reads) so that its own
cost is small and identical for both brokers. Prints a markdown table (and writes it to --out).

    /usr/bin/python3 bench/lambda_bench.py --build build [--round-trips 2000] [--invokes 2000]
                                           [--cold-runs 10] [--scenarios echo,invoke,cold]
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

PY = "/usr/bin/python3"
MOSQUITTO = "/usr/sbin/mosquitto"
SCENARIO_TIME_BOUND_S = 90  # hard bound on one scenario's measuring loop
WARMUP = 200

ECHO_CLIENT = r"""
import socket, sys
import paho.mqtt.client as mqtt
port = int(sys.argv[1])
c = mqtt.Client(client_id="echo", clean_session=True)
def on_connect(cl, u, f, rc):
    cl.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    cl.subscribe("bench/in", 0)
def on_subscribe(cl, u, mid, q):
    print("ready", flush=True)
c.on_connect = on_connect
c.on_subscribe = on_subscribe
c.on_message = lambda cl, u, m: cl.publish("bench/out", m.payload, 0)
c.connect("127.0.0.1", port, 60)
c.loop_forever()
"""


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


class Device:
    """Minimal MQTT 3.1.1 client on a raw socket: CONNECT, SUBSCRIBE, QoS 0 round trips."""

    def __init__(self, port, client_id):
        import evg_harness as h
        self.h = h
        self.c = h.RawClient(port, timeout=10)
        self.c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        rc = self.c.connect(client_id)
        if rc != 0:
            raise RuntimeError(f"CONNACK {rc} for {client_id}")

    def subscribe(self, topic):
        granted = self.c.subscribe([(topic, 0)])
        if granted != [0]:
            raise RuntimeError(f"SUBSCRIBE {topic} refused: {granted}")

    def publish(self, topic, payload):
        self.c.send(self.h.publish_packet(topic, payload))

    def receive(self, timeout=5):
        while True:
            p = self.c.read_packet(timeout)
            if p is None:
                raise RuntimeError("connection closed by the broker")
            if p[0] == self.h.PUBLISH:
                return self.h.parse_publish(p[1], p[2])

    def round_trips(self, n, topic_in="bench/in", bound_s=SCENARIO_TIME_BOUND_S):
        """n timed round trips (after WARMUP untimed ones); returns latencies in us."""
        payload = b"x" * 64
        lat = []
        deadline = time.monotonic() + bound_s
        for i in range(WARMUP + n):
            t0 = time.perf_counter_ns()
            self.publish(topic_in, payload)
            m = self.receive()
            t1 = time.perf_counter_ns()
            if m["payload"] != payload:
                raise RuntimeError(f"echo changed the payload: {m['payload']!r}")
            if i >= WARMUP:
                lat.append((t1 - t0) / 1000.0)
            if time.monotonic() > deadline:
                break
        return lat

    def close(self):
        try:
            self.c.send(self.h.packet(self.h.DISCONNECT, 0, b""))
        except OSError:
            pass
        self.c.close()


def row(scenario, system, lat_us, extra="", rate=True):
    """One table row: p50/p99 (nearest rank) and, with one request in flight, req/s =
    n / sum(latencies)."""
    n = len(lat_us)
    if not n:
        return f"| {scenario} | {system} | 0 | - | - | - | {extra} |"
    rps = f"{n / (sum(lat_us) / 1e6):.0f}" if rate else "-"
    return (f"| {scenario} | {system} | {n} | {percentile(lat_us, 50):.0f} | "
            f"{percentile(lat_us, 99):.0f} | {rps} | {extra} |")


# ---------------------------------------------------------------------------------------------


def start_core(tmp, name, max_work_items=None):
    import evg_harness as h
    import lambda_helpers as lh
    core = h.Core(os.path.join(tmp, name))
    if os.geteuid() == 0:
        core.config["runtime"]["allowFunctionsToRunAsRoot"] = "yes"
    core.set_log(level="WARN", stderr=False)
    if max_work_items:
        core.config["runtime"]["maxWorkItemCount"] = max_work_items
    core.start()
    return core, h, lh


def stop_core(core):
    try:
        if core.running():
            core.stop(bound=5)
    finally:
        core.close_files()


def bench_echo_evergreen(tmp, n):
    core, h, lh = start_core(tmp, "echo")
    try:
        arn = lh.create_function(core, "BenchEcho", "bench_echo", "bench_echo.handler")
        core.deploy_ok(lh.LambdaGroup().device("Dev")
                       .function(arn, pinned=True, encoding="binary", timeout=3)
                       .sub("Dev", "bench/in", arn).sub(arn, "bench/out", "Dev"))
        lh.wait_fn_status(core, arn, lambda s: s["workers"] == 1)
        dev = Device(core.plain_port, "Dev")
        dev.subscribe("bench/out")
        lat = dev.round_trips(n)
        dev.close()
        s = lh.fn_status(core, arn)
        return lat, f"succeeded {s['succeeded']}, dropped {s['dropped']}"
    finally:
        stop_core(core)


def bench_echo_mosquitto(tmp, n):
    import evg_harness as h
    port = h.free_port()
    conf = os.path.join(tmp, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n"
                "persistence false\n")
    mosq = subprocess.Popen([MOSQUITTO, "-c", conf], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    echo = None
    try:
        h.wait_until(lambda: _port_open(port), 5, what="mosquitto listening")
        echo = subprocess.Popen([PY, "-c", ECHO_CLIENT, str(port)], stdout=subprocess.PIPE,
                                text=True)
        line = _readline_bounded(echo, 10)
        if line.strip() != "ready":
            raise RuntimeError(f"paho echo client did not start: {line!r}")
        dev = Device(port, "Dev")
        dev.subscribe("bench/out")
        lat = dev.round_trips(n)
        dev.close()
        return lat, "paho-mqtt 1.6 echo client (TCP_NODELAY)"
    finally:
        for p in (echo, mosq):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


def _port_open(port):
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _readline_bounded(proc, timeout):
    import selectors
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    if not sel.select(timeout):
        return ""
    return proc.stdout.readline()


def bench_invoke(tmp, n):
    core, h, lh = start_core(tmp, "invoke")
    try:
        inv = lh.create_function(core, "Invoker", "invoker", "invoker.handler")
        tgt = lh.create_function(core, "Target", "responder", "responder.handler")
        core.deploy_ok(lh.LambdaGroup().device("Dev")
                       .function(inv, pinned=True, timeout=SCENARIO_TIME_BOUND_S)
                       .function(tgt, pinned=True, timeout=3)
                       .sub("Dev", "invoker/in", inv).sub(inv, "invoker/result", "Dev"))
        lh.wait_fn_status(core, tgt, lambda s: s["workers"] == 1)
        dev = Device(core.plain_port, "Dev")
        dev.subscribe("invoker/result")
        dev.publish("invoker/in", json.dumps({"op": "bench", "target": tgt, "n": WARMUP}))
        dev.receive(timeout=SCENARIO_TIME_BOUND_S)
        dev.publish("invoker/in", json.dumps({"op": "bench", "target": tgt, "n": n}))
        r = json.loads(dev.receive(timeout=SCENARIO_TIME_BOUND_S)["payload"])
        dev.close()
        return r["lat_us"], f"SDK lambda.invoke RequestResponse, errors {r['errors']}"
    finally:
        stop_core(core)


def bench_cold(tmp, runs):
    core, h, lh = start_core(tmp, "cold")
    try:
        g = lh.LambdaGroup().device("Dev")
        arns = []
        for i in range(runs):
            arn = lh.create_function(core, f"Cold{i}", "bench_echo", "bench_echo.handler")
            arns.append(arn)
            g.function(arn, pinned=False, encoding="binary").sub("Dev", f"cold/{i}", arn)
            g.sub(arn, "bench/out", "Dev")
        core.deploy_ok(g)
        dev = Device(core.plain_port, "Dev")
        dev.subscribe("bench/out")
        cold = []
        for i in range(runs):
            # Each function's first invocation: no worker exists for it yet.
            if lh.fn_status(core, arns[i])["workers"] != 0:
                raise RuntimeError(f"{arns[i]} already has a worker")
            t0 = time.perf_counter_ns()
            dev.publish(f"cold/{i}", b"cold")
            dev.receive(timeout=10)
            cold.append((time.perf_counter_ns() - t0) / 1000.0)
            time.sleep(0.2)  # let the previous worker settle (idle) before the next cold start
        dev.close()
    finally:
        stop_core(core)
    base = []
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        subprocess.run([PY, "-c", "import json,http.client"], check=True)
        base.append((time.perf_counter_ns() - t0) / 1000.0)
    return cold, base


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.environ.get("EVERGREEN_BUILD_DIR",
                                                      os.path.join(REPO, "build")))
    ap.add_argument("--round-trips", type=int, default=2000)
    ap.add_argument("--invokes", type=int, default=2000)
    ap.add_argument("--cold-runs", type=int, default=10)
    ap.add_argument("--scenarios", default="echo,invoke,cold")
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    for name, v, hi in (("round-trips", a.round_trips, 100000), ("invokes", a.invokes, 100000),
                        ("cold-runs", a.cold_runs, 50)):
        if not 1 <= v <= hi:
            ap.error(f"--{name} must be 1-{hi}, got {v}")
    scenarios = [s for s in a.scenarios.split(",") if s]
    for s in scenarios:
        if s not in ("echo", "invoke", "cold"):
            ap.error(f"--scenarios: unknown scenario '{s}' (echo, invoke, cold)")
    os.environ["EVERGREEN_BUILD_DIR"] = os.path.abspath(a.build)
    import evg_harness as h
    if not os.access(h.evergreen_binary(), os.X_OK):
        sys.exit(f"lambda_bench: {h.evergreen_binary()} not built "
                 f"(ninja -C {a.build} evergreen)")

    tmp = tempfile.mkdtemp(prefix="evg-lambda-bench.")
    lines = ["| scenario | system | n | p50 us | p99 us | req/s (one in flight) | notes |",
             "|---|---|---:|---:|---:|---:|---|"]
    try:
        if "echo" in scenarios:
            lat, note = bench_echo_evergreen(tmp, a.round_trips)
            lines.append(row("device->fn->device", "evergreen (pinned Python fn)", lat, note))
            if os.access(MOSQUITTO, os.X_OK):
                lat, note = bench_echo_mosquitto(tmp, a.round_trips)
                lines.append(row("device->echo->device", "mosquitto + paho echo", lat, note))
            else:
                lines.append(f"| device->echo->device | mosquitto | - | - | - | - | "
                             f"{MOSQUITTO} missing |")
        if "invoke" in scenarios:
            lat, note = bench_invoke(tmp, a.invokes)
            lines.append(row("fn->fn invoke", "evergreen", lat, note))
        if "cold" in scenarios:
            cold, base = bench_cold(tmp, a.cold_runs)
            lines.append(row("cold start (publish->fn publish)", "evergreen on-demand", cold,
                             f"median {statistics.median(cold) / 1000:.1f} ms, "
                             f"min {min(cold) / 1000:.1f} ms", rate=False))
            lines.append(row("python3 -c 'import json,http.client'", "baseline", base,
                             f"median {statistics.median(base) / 1000:.1f} ms, "
                             f"min {min(base) / 1000:.1f} ms; cold - baseline (medians) = "
                             f"{(statistics.median(cold) - statistics.median(base)) / 1000:.1f}"
                             f" ms", rate=False))
    finally:
        if os.environ.get("EVG_BENCH_KEEP") == "1":
            print(f"lambda_bench: kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    table = "\n".join(lines)
    print(table)
    if a.out:
        with open(a.out, "w") as f:
            f.write(table + "\n")


if __name__ == "__main__":
    main()
