#!/usr/bin/python3
"""Node.js function benchmarks on the real core (run by hand; not part of the test suite).
Beside bench/lambda_bench.py (Python functions), reusing its measuring device and table format.

Scenarios (each bounded in count and time; see docs/performance.md "Node.js functions"):

  echo    device -> pinned Node function (binary; publishes the event back through our SDK)
          -> device, one message in flight, N round trips.
  invoke  function -> Node function RequestResponse: the Python invoker function loops N
          lambda.invoke calls to a pinned Node function and publishes its own timings (same
          caller as lambda_bench's Python->Python invoke, so the two are comparable).
  cold    on-demand cold start: device publish -> the Node function's publish when no worker
          exists (first invocation after deployment), vs `node -e 0` wall time measured in the
          same run, interleaved with the cold starts (the bare interpreter start).

    /usr/bin/python3 bench/lambda_node_bench.py --build build [--round-trips 2000]
        [--invokes 2000] [--cold-runs 10] [--scenarios echo,invoke,cold] [--out FILE]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
sys.path.insert(0, os.path.join(REPO, "bench"))

import lambda_bench as lb  # noqa: E402  (Device, row, start_core, stop_core, bounds)

NODE_RUNTIME = "nodejs12.x"


def bench_echo(tmp, n):
    core, h, lh = lb.start_core(tmp, "node-echo")
    try:
        arn = lh.create_function(core, "NodeBenchEcho", "node_bench_echo", "index.handler",
                                 runtime=NODE_RUNTIME)
        core.deploy_ok(lh.LambdaGroup().device("Dev")
                       .function(arn, pinned=True, encoding="binary", timeout=3)
                       .sub("Dev", "bench/in", arn).sub(arn, "bench/out", "Dev"))
        lh.wait_fn_status(core, arn, lambda s: s["workers"] == 1)
        dev = lb.Device(core.plain_port, "Dev")
        dev.subscribe("bench/out")
        lat = dev.round_trips(n)
        dev.close()
        s = lh.fn_status(core, arn)
        return lat, f"succeeded {s['succeeded']}, dropped {s['dropped']}"
    finally:
        lb.stop_core(core)


def bench_invoke(tmp, n):
    core, h, lh = lb.start_core(tmp, "node-invoke")
    try:
        inv = lh.create_function(core, "Invoker", "invoker", "invoker.handler")
        tgt = lh.create_function(core, "NodeTarget", "node_bench_echo", "index.handler",
                                 runtime=NODE_RUNTIME)
        core.deploy_ok(lh.LambdaGroup().device("Dev")
                       .function(inv, pinned=True, timeout=lb.SCENARIO_TIME_BOUND_S)
                       .function(tgt, pinned=True, timeout=3)
                       .sub("Dev", "invoker/in", inv).sub(inv, "invoker/result", "Dev"))
        lh.wait_fn_status(core, tgt, lambda s: s["workers"] == 1)
        dev = lb.Device(core.plain_port, "Dev")
        dev.subscribe("invoker/result")
        dev.publish("invoker/in", json.dumps({"op": "bench", "target": tgt, "n": lb.WARMUP}))
        dev.receive(timeout=lb.SCENARIO_TIME_BOUND_S)
        dev.publish("invoker/in", json.dumps({"op": "bench", "target": tgt, "n": n}))
        r = json.loads(dev.receive(timeout=lb.SCENARIO_TIME_BOUND_S)["payload"])
        dev.close()
        return r["lat_us"], f"Python SDK lambda.invoke RequestResponse, errors {r['errors']}"
    finally:
        lb.stop_core(core)


def bench_cold(tmp, runs, node):
    # The worker's environment has no NODE_OPTIONS / NODE_EXTRA_CA_CERTS etc. from this shell
    # (the supervisor passes only PATH, LANG and HOME on); the baseline gets the same, else e.g.
    # NODE_EXTRA_CA_CERTS alone adds ~150 ms to every `node -e 0`.
    bare_env = {k: os.environ[k] for k in ("PATH", "LANG", "HOME") if k in os.environ}
    core, h, lh = lb.start_core(tmp, "node-cold")
    try:
        g = lh.LambdaGroup().device("Dev")
        arns = []
        for i in range(runs):
            arn = lh.create_function(core, f"NodeCold{i}", "node_bench_echo", "index.handler",
                                     runtime=NODE_RUNTIME)
            arns.append(arn)
            g.function(arn, pinned=False, encoding="binary").sub("Dev", f"cold/{i}", arn)
            g.sub(arn, "bench/out", "Dev")
        core.deploy_ok(g)
        dev = lb.Device(core.plain_port, "Dev")
        dev.subscribe("bench/out")
        cold, base = [], []
        for i in range(runs):
            # The bare interpreter start is measured right before each cold start (interleaved, so
            # both see the same machine load).
            time.sleep(0.2)
            t0 = time.perf_counter_ns()
            subprocess.run([node, "-e", "0"], check=True, env=bare_env)
            base.append((time.perf_counter_ns() - t0) / 1000.0)
            time.sleep(0.2)  # let the previous worker settle (idle) before the next cold start
            if lh.fn_status(core, arns[i])["workers"] != 0:
                raise RuntimeError(f"{arns[i]} already has a worker")
            t0 = time.perf_counter_ns()
            dev.publish(f"cold/{i}", b"cold")
            dev.receive(timeout=10)
            cold.append((time.perf_counter_ns() - t0) / 1000.0)
        dev.close()
    finally:
        lb.stop_core(core)
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
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        sys.exit("lambda_node_bench: node is not installed")
    os.environ["EVERGREEN_BUILD_DIR"] = os.path.abspath(a.build)
    import evg_harness as h
    if not os.access(h.evergreen_binary(), os.X_OK):
        sys.exit(f"lambda_node_bench: {h.evergreen_binary()} not built "
                 f"(ninja -C {a.build} evergreen)")
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()

    tmp = tempfile.mkdtemp(prefix="evg-node-bench.")
    lines = ["| scenario | system | n | p50 us | p99 us | req/s (one in flight) | notes |",
             "|---|---|---:|---:|---:|---:|---|"]
    try:
        if "echo" in scenarios:
            lat, note = bench_echo(tmp, a.round_trips)
            lines.append(lb.row("device->fn->device", f"evergreen (pinned Node {version} fn)",
                                lat, note))
        if "invoke" in scenarios:
            lat, note = bench_invoke(tmp, a.invokes)
            lines.append(lb.row("Python fn->Node fn invoke", "evergreen", lat, note))
        if "cold" in scenarios:
            cold, base = bench_cold(tmp, a.cold_runs, node)
            lines.append(lb.row("cold start (publish->fn publish)", "evergreen on-demand Node",
                                cold, f"median {statistics.median(cold) / 1000:.1f} ms, "
                                f"min {min(cold) / 1000:.1f} ms", rate=False))
            lines.append(lb.row("node -e 0", "baseline", base,
                                f"median {statistics.median(base) / 1000:.1f} ms, "
                                f"min {min(base) / 1000:.1f} ms; cold - baseline (medians) = "
                                f"{(statistics.median(cold) - statistics.median(base)) / 1000:.1f}"
                                f" ms", rate=False))
    finally:
        if os.environ.get("EVG_BENCH_KEEP") == "1":
            print(f"lambda_node_bench: kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    table = "\n".join(lines)
    print(table)
    if a.out:
        with open(a.out, "w") as f:
            f.write(table + "\n")


if __name__ == "__main__":
    main()
