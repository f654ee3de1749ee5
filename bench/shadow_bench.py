#!/usr/bin/python3
"""Shadow service benchmarks on the real core (run by hand; not part of the test suite).

Scenarios (bounded; see docs/performance.md "Shadows"):

  sdk      a Python function loops N greengrasssdk iot-data update_thing_shadow calls (E1 + E2
           over the IPC port, durable commit, publishes of accepted/documents) and reports each
           call's latency.
  mqtt     a paho device publishes $aws/things/Dev/shadow/update and waits for .../update/accepted
           (one request in flight), N round trips.
  durable  a paho device pipelines N updates (QoS 0, no waiting) and waits for the Nth
           .../update/accepted: acknowledged durable updates per second (each one its own SQLite
           WAL commit, synchronous=NORMAL).

    /usr/bin/python3 bench/shadow_bench.py --build build [--n 2000] [--scenarios sdk,mqtt,durable]
"""

import argparse
import json
import os
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--scenarios", default="sdk,mqtt,durable")
    args = ap.parse_args()
    os.environ["EVERGREEN_BUILD_DIR"] = os.path.abspath(args.build)
    import evg_harness as h
    import lambda_helpers as lh
    import shadow_helpers as sh

    rows = []
    with tempfile.TemporaryDirectory(prefix="evg-shadow-bench-") as tmp:
        core = h.Core(os.path.join(tmp, "core"))
        if os.geteuid() == 0:
            core.config["runtime"]["allowFunctionsToRunAsRoot"] = "yes"
        core.start()
        try:
            fn = sh.probe_function(core, "ShadowBench")
            base = "$aws/things/Dev/shadow/"
            core.deploy_ok(lh.LambdaGroup().device("Dev").function(fn, pinned=True, timeout=120)
                           .sub("Dev", "probe/in", fn).sub(fn, "probe/out", "Dev")
                           .sub("Dev", base + "#", "GGShadowService")
                           .sub("GGShadowService", base + "update/accepted", "Dev"))
            dev = h.Paho("Dev", core.plain_port)
            dev.subscribe("probe/out")
            dev.subscribe(base + "update/accepted")
            scen = args.scenarios.split(",")
            if "sdk" in scen:
                sh.probe_call(dev, "probe/in", {"op": "bench", "thing": "Warm", "n": 200},
                              timeout=60)
                r = sh.probe_call(dev, "probe/in", {"op": "bench", "thing": "SdkThing",
                                                    "n": args.n}, timeout=120)
                lat = [x / 1000.0 for x in r["lat_us"]]
                rows.append(("SDK update_thing_shadow round trip (function, python3)", len(lat),
                             pct(lat, 50), pct(lat, 99), r["errors"]))
            if "mqtt" in scen:
                lat = []
                for i in range(200 + args.n):
                    t0 = time.perf_counter()
                    dev.publish(base + "update", json.dumps({"state": {"reported": {"i": i}}}))
                    m = dev.expect(10)
                    assert m.topic == base + "update/accepted", m.topic
                    if i >= 200:
                        lat.append((time.perf_counter() - t0) * 1000.0)
                rows.append(("MQTT update -> update/accepted round trip (paho)", len(lat),
                             pct(lat, 50), pct(lat, 99), 0))
            if "durable" in scen:
                n = args.n * 5
                t0 = time.perf_counter()
                for i in range(n):
                    dev.c.publish(base + "update", json.dumps({"state": {"reported": {"j": i}}}))
                last = None
                while True:
                    m = dev.expect(30)
                    last = json.loads(m.payload)
                    if last["state"]["reported"].get("j") == n - 1:
                        break
                dt = time.perf_counter() - t0
                rows.append((f"durable updates/s (pipelined, {n} acknowledged)", n,
                             n / dt, 0, 0))
            dev.close()
        finally:
            core.stop()
    print("| scenario | n | p50 ms (or rate) | p99 ms | errors |")
    print("|---|---|---|---|---|")
    for name, n, a, b, e in rows:
        print(f"| {name} | {n} | {a:.3f} | {b:.3f} | {e} |")


if __name__ == "__main__":
    main()
