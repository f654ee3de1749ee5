#!/usr/bin/python3
"""Instructions the core executes per device -> pinned Python function -> device round trip
(issue 17, docs/performance.md "Function path, third round"). Deterministic, unlike wall time.

Starts a core under `valgrind --tool=callgrind --instr-atstart=no`, deploys the echo group of
bench/lambda_bench.py (pinned Python function, binary encoding, Dev's bench/in -> function ->
Dev's bench/out), runs 50 untimed round trips, switches instrumentation on with
`callgrind_control -i on`, runs N round trips, switches it off, stops the core and prints the
total and the per-round-trip count. The profile stays in --out for callgrind_annotate.

    /usr/bin/python3 bench/function_path_callgrind.py --build build [--round-trips 1000]
                                                      [--out /tmp/function_path.callgrind]
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_common as bc  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.environ.get("EVERGREEN_BUILD_DIR", "build"))
    ap.add_argument("--round-trips", type=int, default=1000)
    ap.add_argument("--out", default="/tmp/function_path.callgrind")
    a = ap.parse_args()
    if not 1 <= a.round_trips <= 20000:
        ap.error("--round-trips must be 1-20000")
    h = bc.use_build(a.build)
    import lambda_helpers as lh
    tmp = tempfile.mkdtemp(prefix="evg-cg-")
    core = h.Core(os.path.join(tmp, "echo"))
    if os.geteuid() == 0:
        core.config["runtime"]["allowFunctionsToRunAsRoot"] = "yes"
    core.set_log(level="WARN", stderr=False)
    core.start(wait=False, prefix=("valgrind", "--tool=callgrind", "--instr-atstart=no",
                                   f"--callgrind-out-file={a.out}"))
    try:
        h.wait_until(lambda: h.run_cli("status", "--root", core.root, timeout=10).returncode == 0,
                     120, what="core under valgrind answering status")
        arn = lh.create_function(core, "BenchEcho", "bench_echo", "bench_echo.handler")
        core.deploy_ok(lh.LambdaGroup().device("Dev")
                       .function(arn, pinned=True, encoding="binary", timeout=30)
                       .sub("Dev", "bench/in", arn).sub(arn, "bench/out", "Dev"))
        lh.wait_fn_status(core, arn, lambda s: s["workers"] == 1, timeout=120)
        dev = bc.Device(core.plain_port, "Dev")
        dev.subscribe("bench/out")
        dev.round_trips(50)
        subprocess.run(["callgrind_control", "-i", "on", str(core.proc.pid)], check=True,
                       capture_output=True, timeout=60)
        n = len(dev.round_trips(a.round_trips))
        subprocess.run(["callgrind_control", "-i", "off", str(core.proc.pid)], check=True,
                       capture_output=True, timeout=60)
        dev.close()
    finally:
        bc.stop_core(core)
    out = subprocess.run(["callgrind_annotate", a.out], capture_output=True, text=True).stdout
    m = re.search(r"^\s*([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS", out, re.M)
    total = int(m.group(1).replace(",", "")) if m else 0
    print(f"round trips {n}, core instructions {total:,}, per round trip {total / max(n, 1):,.0f}")
    print(f"profile: {a.out} (callgrind_annotate --inclusive=yes {a.out})")


if __name__ == "__main__":
    main()
