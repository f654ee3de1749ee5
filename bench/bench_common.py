"""Shared pieces of the Lambda benchmarks (bench/lambda_bench.py, lambda_node_bench.py,
java_bench.py, c_lambda_bench.py): the raw-socket measuring device, core start/stop, the
scenario building blocks (echo round trips, fn->fn invoke loop, cold starts, baselines),
percentile/table rows and the common command line.

Importing this module puts tests/integration on sys.path (evg_harness, lambda_helpers, ...).
"""

import os
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

PY = "/usr/bin/python3"
MOSQUITTO = "/usr/sbin/mosquitto"
SCENARIO_TIME_BOUND_S = 90  # hard bound on one scenario's measuring loop
WARMUP = 200

TABLE_HEADER = ["| scenario | system | n | p50 us | p99 us | req/s (one in flight) | notes |",
                "|---|---|---:|---:|---:|---:|---|"]

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

    def round_trips(self, n, topic_in="bench/in", bound_s=SCENARIO_TIME_BOUND_S, warmup=True):
        """n timed round trips (after WARMUP untimed ones unless warmup is False); returns
        latencies in us."""
        payload = b"x" * 64
        lat = []
        deadline = time.monotonic() + bound_s
        skip = WARMUP if warmup else 0
        for i in range(skip + n):
            t0 = time.perf_counter_ns()
            self.publish(topic_in, payload)
            m = self.receive()
            t1 = time.perf_counter_ns()
            if m["payload"] != payload:
                raise RuntimeError(f"echo changed the payload: {m['payload']!r}")
            if i >= skip:
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


def ms(v, digits=1):
    """'median X ms, min Y ms' of latencies in us."""
    return (f"median {statistics.median(v) / 1000:.{digits}f} ms, "
            f"min {min(v) / 1000:.{digits}f} ms")


def median_diff_ms(a, b, digits=1):
    """median(a) - median(b), us -> ms, formatted."""
    return f"{(statistics.median(a) - statistics.median(b)) / 1000:.{digits}f}"


def write_table(lines, out):
    table = "\n".join(lines)
    print(table)
    if out:
        with open(out, "w") as f:
            f.write(table + "\n")


# --- command line ----------------------------------------------------------------------------


def arg_parser(doc, scenarios=True, out_default="", default_scenarios="echo,invoke,cold"):
    """--build --round-trips --invokes --cold-runs [--scenarios] --out, as all Lambda benches."""
    import argparse
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--build", default=os.environ.get("EVERGREEN_BUILD_DIR",
                                                      os.path.join(REPO, "build")))
    ap.add_argument("--round-trips", type=int, default=2000)
    ap.add_argument("--invokes", type=int, default=2000)
    ap.add_argument("--cold-runs", type=int, default=10)
    if scenarios:
        ap.add_argument("--scenarios", default=default_scenarios)
    ap.add_argument("--out", default=out_default)
    return ap


def check_args(ap, a, known=("echo", "invoke", "cold")):
    """Bounds on the counts and known scenario names; returns the scenario list."""
    for name, v, hi in (("round-trips", a.round_trips, 100000), ("invokes", a.invokes, 100000),
                        ("cold-runs", a.cold_runs, 50)):
        if not 1 <= v <= hi:
            ap.error(f"--{name} must be 1-{hi}, got {v}")
    scenarios = [s for s in a.scenarios.split(",") if s]
    for s in scenarios:
        if s not in known:
            ap.error(f"--scenarios: unknown scenario '{s}' ({', '.join(known)})")
    return scenarios


def use_build(build):
    """Point the harness at the build dir; returns evg_harness."""
    os.environ["EVERGREEN_BUILD_DIR"] = os.path.abspath(build)
    import evg_harness as h
    return h


# --- cores and scenarios ---------------------------------------------------------------------


def start_core(tmp, name, max_work_items=None, standby_workers=None):
    import evg_harness as h
    import lambda_helpers as lh
    core = h.Core(os.path.join(tmp, name))
    if os.geteuid() == 0:
        core.config["runtime"]["allowFunctionsToRunAsRoot"] = "yes"
    core.set_log(level="WARN", stderr=False)
    if max_work_items:
        core.config["runtime"]["maxWorkItemCount"] = max_work_items
    if standby_workers is not None:  # evergreen.runtime.standbyWorkers (default 8; 0 = off)
        core.config["evergreen"].setdefault("runtime", {})["standbyWorkers"] = standby_workers
    core.start()
    return core, h, lh


def stop_core(core):
    try:
        if core.running():
            core.stop(bound=5)
    finally:
        core.close_files()


def echo_device(core, lh, arn, timeout=3, wait_timeout=5):
    """Deploy `arn` pinned (binary) between Dev's bench/in and bench/out, wait for its worker;
    returns a raw-socket device subscribed to bench/out."""
    core.deploy_ok(lh.LambdaGroup().device("Dev")
                   .function(arn, pinned=True, encoding="binary", timeout=timeout)
                   .sub("Dev", "bench/in", arn).sub(arn, "bench/out", "Dev"))
    lh.wait_fn_status(core, arn, lambda s: s["workers"] == 1, timeout=wait_timeout)
    dev = Device(core.plain_port, "Dev")
    dev.subscribe("bench/out")
    return dev


def echo_round_trips(core, lh, arn, n, timeout=3, wait_timeout=5):
    """echo_device(), then n timed round trips. Returns the latencies in us."""
    dev = echo_device(core, lh, arn, timeout, wait_timeout)
    lat = dev.round_trips(n)
    dev.close()
    return lat


def invoker_device(core, lh, inv, targets, wait_timeout=5):
    """Deploy the pinned invoker `inv` (invoker/in -> invoker/result) and the pinned targets
    [(arn, extra LambdaGroup.function kwargs)], wait for the targets' workers; returns a
    device subscribed to invoker/result."""
    g = lh.LambdaGroup().device("Dev").function(inv, pinned=True, timeout=SCENARIO_TIME_BOUND_S)
    for arn, kw in targets:
        g.function(arn, pinned=True, **dict({"timeout": 3}, **kw))
    core.deploy_ok(g.sub("Dev", "invoker/in", inv).sub(inv, "invoker/result", "Dev"))
    for arn, _ in targets:
        lh.wait_fn_status(core, arn, lambda s: s["workers"] == 1, timeout=wait_timeout)
    dev = Device(core.plain_port, "Dev")
    dev.subscribe("invoker/result")
    return dev


def invoke_loop(dev, tgt, n, warm=WARMUP):
    """Have the invoker run `warm` untimed then n timed lambda.invoke calls to tgt; returns its
    report ({"lat_us": [...], "errors": k})."""
    import json
    dev.publish("invoker/in", json.dumps({"op": "bench", "target": tgt, "n": warm}))
    dev.receive(timeout=SCENARIO_TIME_BOUND_S)
    dev.publish("invoker/in", json.dumps({"op": "bench", "target": tgt, "n": n}))
    return json.loads(dev.receive(timeout=SCENARIO_TIME_BOUND_S)["payload"])


def cold_starts(core, lh, make_fn, runs, fn_kwargs=None, receive_timeout=10, settle_s=0.2,
                before_each=None):
    """Deploy runs on-demand functions (make_fn(i) -> arn, binary, Dev cold/<i> -> fn ->
    bench/out) and time each one's first invocation (device publish -> its publish), in us.
    before_each(i), if given, runs before each cold start; settle_s is slept after each."""
    g = lh.LambdaGroup().device("Dev")
    arns = []
    for i in range(runs):
        arn = make_fn(i)
        arns.append(arn)
        g.function(arn, pinned=False, encoding="binary", **(fn_kwargs or {}))
        g.sub("Dev", f"cold/{i}", arn)
        g.sub(arn, "bench/out", "Dev")
    core.deploy_ok(g)
    dev = Device(core.plain_port, "Dev")
    dev.subscribe("bench/out")
    cold = []
    for i in range(runs):
        if before_each:
            before_each(i)
        # Each function's first invocation: no worker exists for it yet.
        if lh.fn_status(core, arns[i])["workers"] != 0:
            raise RuntimeError(f"{arns[i]} already has a worker")
        t0 = time.perf_counter_ns()
        dev.publish(f"cold/{i}", b"cold")
        dev.receive(timeout=receive_timeout)
        cold.append((time.perf_counter_ns() - t0) / 1000.0)
        if settle_s:
            time.sleep(settle_s)  # let the previous worker settle (idle) before the next one
    dev.close()
    return cold


def time_command(argv, **kw):
    """Wall time of one run of argv (check=True), in us."""
    t0 = time.perf_counter_ns()
    subprocess.run(argv, check=True, **kw)
    return (time.perf_counter_ns() - t0) / 1000.0


# --- mosquitto -------------------------------------------------------------------------------


def port_open(port):
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def readline_bounded(proc, timeout):
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    if not sel.select(timeout):
        return ""
    return proc.stdout.readline()


def start_mosquitto(tmp):
    """Debian's mosquitto on a free 127.0.0.1 port (set_tcp_nodelay, no persistence), once it
    listens. Returns (process, port)."""
    import evg_harness as h
    port = h.free_port()
    conf = os.path.join(tmp, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n"
                "persistence false\n")
    mosq = subprocess.Popen([MOSQUITTO, "-c", conf], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        h.wait_until(lambda: port_open(port), 5, what="mosquitto listening")
    except BaseException:
        stop_processes([mosq])
        raise
    return mosq, port


def stop_processes(procs):
    """SIGTERM each still-running process (None skipped), SIGKILL after 3 s."""
    for p in procs:
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=3)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
