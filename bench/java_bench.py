#!/usr/bin/python3
"""Java function benchmarks on the real core (run by hand; see docs/performance.md "Java functions").

Scenarios (bounded like bench/lambda_bench.py, whose Device/row/start_core it reuses):

  echo    device -> pinned Java function (binary; publishes the payload back through our javasdk)
          -> device, one message in flight, N round trips.
  invoke  function -> function RequestResponse: the pinned Python Invoker loops N lambda.invoke
          calls to a pinned Java function (JSON handler returning its event), and, in the same
          run, to the pinned Python responder for comparison.
  cold    on-demand cold start: device publish -> the Java function's publish when no worker
          exists, vs `java -cp . Hello` (and the same JVM flags the core uses) in the same run.

    /usr/bin/python3 bench/java_bench.py --build build [--round-trips 2000] [--invokes 2000]
                                         [--cold-runs 10] [--scenarios echo,invoke,cold]
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

import lambda_bench as lb  # noqa: E402

JAVA = "/usr/bin/java"
CORE_JVM_FLAGS = ["-XX:+UseSerialGC", "-Xshare:auto", "-XX:TieredStopAtLevel=1",
                  "-XX:-UsePerfData"]


def bench_echo(tmp, n):
    core, h, lh = lb.start_core(tmp, "jecho")
    import java_helpers as jh
    try:
        arn = jh.create_java_function(core, "JavaBenchEcho", "com.example.BenchEcho::handle")
        core.deploy_ok(lh.LambdaGroup().device("Dev")
                       .function(arn, pinned=True, encoding="binary", timeout=10)
                       .sub("Dev", "bench/in", arn).sub(arn, "bench/out", "Dev"))
        lh.wait_fn_status(core, arn, lambda s: s["workers"] == 1, timeout=20)
        dev = lb.Device(core.plain_port, "Dev")
        dev.subscribe("bench/out")
        lat = dev.round_trips(n)
        dev.close()
        return lat, "64-byte payload, JVM warmed by 200 untimed round trips"
    finally:
        lb.stop_core(core)


def bench_invoke(tmp, n):
    core, h, lh = lb.start_core(tmp, "jinvoke")
    import java_helpers as jh
    try:
        inv = lh.create_function(core, "Invoker", "invoker", "invoker.handler")
        jt = jh.create_java_function(core, "JavaTarget", "com.example.BenchEcho::json")
        pt = lh.create_function(core, "PyTarget", "responder", "responder.handler")
        core.deploy_ok(lh.LambdaGroup().device("Dev")
                       .function(inv, pinned=True, timeout=lb.SCENARIO_TIME_BOUND_S)
                       .function(jt, pinned=True, timeout=3).function(pt, pinned=True, timeout=3)
                       .sub("Dev", "invoker/in", inv).sub(inv, "invoker/result", "Dev"))
        for t in (jt, pt):
            lh.wait_fn_status(core, t, lambda s: s["workers"] == 1, timeout=20)
        dev = lb.Device(core.plain_port, "Dev")
        dev.subscribe("invoker/result")
        out = {}
        for name, tgt, warm in (("java", jt, 2000), ("python", pt, lb.WARMUP)):
            dev.publish("invoker/in", json.dumps({"op": "bench", "target": tgt, "n": warm}))
            dev.receive(timeout=lb.SCENARIO_TIME_BOUND_S)
            dev.publish("invoker/in", json.dumps({"op": "bench", "target": tgt, "n": n}))
            r = json.loads(dev.receive(timeout=lb.SCENARIO_TIME_BOUND_S)["payload"])
            out[name] = (r["lat_us"], r["errors"])
        dev.close()
        return out
    finally:
        lb.stop_core(core)


def bench_cold(tmp, runs):
    core, h, lh = lb.start_core(tmp, "jcold")
    import java_helpers as jh
    try:
        g = lh.LambdaGroup().device("Dev")
        arns = []
        for i in range(runs):
            arn = jh.create_java_function(core, f"JCold{i}", "com.example.BenchEcho::handle")
            arns.append(arn)
            g.function(arn, pinned=False, encoding="binary", timeout=10).sub("Dev", f"cold/{i}", arn)
            g.sub(arn, "bench/out", "Dev")
        core.deploy_ok(g)
        dev = lb.Device(core.plain_port, "Dev")
        dev.subscribe("bench/out")
        cold = []
        for i in range(runs):
            if lh.fn_status(core, arns[i])["workers"] != 0:
                raise RuntimeError(f"{arns[i]} already has a worker")
            t0 = time.perf_counter_ns()
            dev.publish(f"cold/{i}", b"cold")
            dev.receive(timeout=20)
            cold.append((time.perf_counter_ns() - t0) / 1000.0)
            time.sleep(0.3)
        dev.close()
    finally:
        lb.stop_core(core)
    hello = os.path.join(tmp, "hello")
    os.makedirs(hello, exist_ok=True)
    with open(os.path.join(hello, "Hello.java"), "w") as f:
        f.write('public class Hello { public static void main(String[] a) '
                '{ System.out.println("hello"); } }\n')
    subprocess.run(["javac", "-d", hello, os.path.join(hello, "Hello.java")], check=True)
    bare, flagged = [], []
    for _ in range(runs):
        for flags, acc in (([], bare), (CORE_JVM_FLAGS, flagged)):
            t0 = time.perf_counter_ns()
            subprocess.run([JAVA] + flags + ["-cp", hello, "Hello"], check=True,
                           stdout=subprocess.DEVNULL)
            acc.append((time.perf_counter_ns() - t0) / 1000.0)
    return cold, bare, flagged


def ms(v):
    return f"median {statistics.median(v) / 1000:.1f} ms, min {min(v) / 1000:.1f} ms"


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
        sys.exit(f"java_bench: {h.evergreen_binary()} not built (ninja -C {a.build} evergreen)")
    tmp = tempfile.mkdtemp(prefix="evg-java-bench.")
    lines = ["| scenario | system | n | p50 us | p99 us | req/s (one in flight) | notes |",
             "|---|---|---:|---:|---:|---:|---|"]
    try:
        if "echo" in scenarios:
            lat, note = bench_echo(tmp, a.round_trips)
            lines.append(lb.row("device->fn->device", "evergreen (pinned Java fn)", lat, note))
        if "invoke" in scenarios:
            r = bench_invoke(tmp, a.invokes)
            for name in ("java", "python"):
                lat, errors = r[name]
                lines.append(lb.row("fn->fn invoke (Python SDK caller)", f"pinned {name} target",
                                    lat, f"errors {errors}"))
        if "cold" in scenarios:
            cold, bare, flagged = bench_cold(tmp, a.cold_runs)
            lines.append(lb.row("cold start (publish->fn publish)", "evergreen on-demand Java",
                                cold, ms(cold), rate=False))
            lines.append(lb.row("java -cp . Hello", "baseline", bare, ms(bare) +
                                f"; cold - baseline (medians) = "
                                f"{(statistics.median(cold) - statistics.median(bare)) / 1000:.1f} ms",
                                rate=False))
            lines.append(lb.row("java <core flags> -cp . Hello", "baseline", flagged,
                                ms(flagged) + f"; cold - this (medians) = "
                                f"{(statistics.median(cold) - statistics.median(flagged)) / 1000:.1f}"
                                f" ms", rate=False))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    table = "\n".join(lines)
    print(table)
    if a.out:
        with open(a.out, "w") as f:
            f.write(table + "\n")


if __name__ == "__main__":
    main()
