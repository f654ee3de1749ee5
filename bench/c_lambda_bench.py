#!/usr/bin/python3
"""C Lambda executable benchmarks on the real core (run by hand; see docs/performance.md
"C executables"). Same methodology and helpers as bench/lambda_bench.py:

  echo    device -> pinned C function (gg_publish of the event) -> device, one message in flight
  invoke  Python invoker function -> pinned C function, SDK lambda.invoke RequestResponse loop
          (the C side: E3 long poll -> handler -> E4; the caller's E1 + E2)
  cold    on-demand C function's first invocation (device publish -> its publish) vs the wall
          time of starting a static C binary (`int main(void){return 0;}`, cc -static), same run

The C function (bench/c_bench_echo.c) is built with `cc` against sdk/c/include and the build
tree's libaws-greengrass-core-sdk-c.so.

    /usr/bin/python3 bench/c_lambda_bench.py --build build [--round-trips 2000] [--invokes 2000]
                                             [--cold-runs 10]
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

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import lambda_bench as lb  # noqa: E402  (also puts tests/integration on sys.path)

EXE_RUNTIME = "arn:aws:greengrass:::runtime/function/executable"


def cc():
    for c in ("cc", "gcc", "clang"):
        if shutil.which(c):
            return shutil.which(c)
    raise RuntimeError("no C compiler")


def build(build_dir, tmp):
    code = os.path.join(tmp, "c_code")
    os.makedirs(code)
    subprocess.run([cc(), "-O2", "-I", os.path.join(REPO, "sdk", "c", "include"),
                    os.path.join(HERE, "c_bench_echo.c"), "-o", os.path.join(code, "c_bench_echo"),
                    "-L", os.path.join(build_dir, "sdk", "c"), "-laws-greengrass-core-sdk-c"],
                   check=True)
    hello = os.path.join(tmp, "hello.c")
    with open(hello, "w") as f:
        f.write("int main(void) { return 0; }\n")
    static = os.path.join(tmp, "hello_static")
    subprocess.run([cc(), "-O2", "-static", hello, "-o", static], check=True)
    return code, static


def c_fn(core, lh, name, code):
    return lh.create_function(core, name, code, "c_bench_echo", runtime=EXE_RUNTIME)


def bench_echo(tmp, code, n):
    core, h, lh = lb.start_core(tmp, "c_echo")
    try:
        arn = c_fn(core, lh, "CBenchEcho", code)
        core.deploy_ok(lh.LambdaGroup().device("Dev")
                       .function(arn, pinned=True, encoding="binary")
                       .sub("Dev", "bench/in", arn).sub(arn, "bench/out", "Dev"))
        lh.wait_fn_status(core, arn, lambda s: s["workers"] == 1)
        dev = lb.Device(core.plain_port, "Dev")
        dev.subscribe("bench/out")
        lat = dev.round_trips(n)
        dev.close()
        return lat
    finally:
        lb.stop_core(core)


def bench_invoke(tmp, code, n):
    core, h, lh = lb.start_core(tmp, "c_invoke")
    try:
        inv = lh.create_function(core, "Invoker", "invoker", "invoker.handler")
        tgt = c_fn(core, lh, "CTarget", code)
        core.deploy_ok(lh.LambdaGroup().device("Dev")
                       .function(inv, pinned=True, timeout=lb.SCENARIO_TIME_BOUND_S)
                       .function(tgt, pinned=True, timeout=3, encoding="binary")
                       .sub("Dev", "invoker/in", inv).sub(inv, "invoker/result", "Dev"))
        lh.wait_fn_status(core, tgt, lambda s: s["workers"] == 1)
        dev = lb.Device(core.plain_port, "Dev")
        dev.subscribe("invoker/result")
        dev.publish("invoker/in", json.dumps({"op": "bench", "target": tgt, "n": lb.WARMUP}))
        dev.receive(timeout=lb.SCENARIO_TIME_BOUND_S)
        dev.publish("invoker/in", json.dumps({"op": "bench", "target": tgt, "n": n}))
        r = json.loads(dev.receive(timeout=lb.SCENARIO_TIME_BOUND_S)["payload"])
        dev.close()
        return r["lat_us"], r["errors"]
    finally:
        lb.stop_core(core)


def bench_cold(tmp, code, static, runs):
    core, h, lh = lb.start_core(tmp, "c_cold")
    try:
        g = lh.LambdaGroup().device("Dev")
        arns = []
        for i in range(runs):
            arn = c_fn(core, lh, f"CCold{i}", code)
            arns.append(arn)
            g.function(arn, pinned=False, encoding="binary").sub("Dev", f"cold/{i}", arn)
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
            dev.receive(timeout=10)
            cold.append((time.perf_counter_ns() - t0) / 1000.0)
            time.sleep(0.2)
        dev.close()
    finally:
        lb.stop_core(core)
    base = []
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        subprocess.run([static], check=True)
        base.append((time.perf_counter_ns() - t0) / 1000.0)
    return cold, base


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.environ.get("EVERGREEN_BUILD_DIR",
                                                      os.path.join(REPO, "build")))
    ap.add_argument("--round-trips", type=int, default=2000)
    ap.add_argument("--invokes", type=int, default=2000)
    ap.add_argument("--cold-runs", type=int, default=10)
    ap.add_argument("--out")
    a = ap.parse_args()
    os.environ["EVERGREEN_BUILD_DIR"] = os.path.abspath(a.build)
    import evg_harness as h
    h.BUILD_DIR = os.path.abspath(a.build)
    tmp = tempfile.mkdtemp(prefix="evg-c-bench-")
    lines = ["| scenario | system | n | p50 us | p99 us | req/s | notes |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    try:
        code, static = build(a.build, tmp)
        lat = bench_echo(tmp, code, a.round_trips)
        lines.append(lb.row("device -> fn -> device", "evergreen pinned C executable", lat))
        lat, errors = bench_invoke(tmp, code, a.invokes)
        lines.append(lb.row("fn -> fn invoke", "Python invoker -> pinned C", lat,
                            f"SDK lambda.invoke RequestResponse, errors {errors}"))
        cold, base = bench_cold(tmp, code, static, a.cold_runs)
        lines.append(lb.row("cold start (publish->fn publish)", "evergreen on-demand C", cold,
                            f"median {statistics.median(cold) / 1000:.2f} ms, "
                            f"min {min(cold) / 1000:.2f} ms", rate=False))
        lines.append(lb.row("baseline", "static C binary start (fork+exec+exit)", base,
                            f"median {statistics.median(base) / 1000:.2f} ms; cold - baseline "
                            f"(medians) = {(statistics.median(cold) - statistics.median(base)) / 1000:.2f}"
                            " ms", rate=False))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    text = "\n".join(lines)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
