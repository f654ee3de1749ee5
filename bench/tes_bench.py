#!/usr/bin/python3
"""Token exchange benchmark on the real core (run by hand; not part of the test suite).

  e9       E9 answered from the cache: one keep-alive HTTP/1.1 connection (Python http.client,
           the same client kind as the SDKs' container provider) sends N GET
           /2016-11-01/credentialprovider/ with a worker's token; per-request latency p50/p99.
           The token comes from a deployed function (tests/integration/functions/tes_boto3, op
           "env").
  fetches  W threads hammer E9 for `--windows` credential lifetimes (fake provider, lifetime
           --lifetime s, refreshed at half-life); reports the provider's fetch count next to the
           number of refresh periods: fetches stay 1 per period whatever the number of callers.

    /usr/bin/python3 bench/tes_bench.py --build build [--n 5000] [--threads 8] [--lifetime 6]
"""

import argparse
import http.client
import json
import os
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--lifetime", type=int, default=6)
    ap.add_argument("--windows", type=int, default=3)
    args = ap.parse_args()
    os.environ["EVERGREEN_BUILD_DIR"] = os.path.abspath(args.build)
    import evg_harness as h
    import lambda_helpers as lh
    import tes_helpers as th

    with tempfile.TemporaryDirectory(prefix="evg-tes-bench-") as tmp:
        os.chmod(tmp, 0o755)  # functions may run as ggc_user
        pki = th.make_pki(os.path.join(tmp, "pki"))
        provider = th.FakeIotCredentialsProvider(pki, lifetime_s=args.lifetime).start()
        calls = []
        core = th.tes_core(lambda name: calls.append(h.Core(os.path.join(tmp, name))) or calls[-1],
                           pki, provider)
        dev = None
        try:
            arn = lh.create_function(core, "TesBench", "tes_boto3", "tes_boto3.handler")
            core.deploy_ok(lh.LambdaGroup().device("Dev").function(arn, pinned=True, timeout=30)
                           .sub("Dev", "tes/in", arn).sub(arn, "tes/out", "Dev"))
            dev = h.Paho("Dev", core.plain_port)
            dev.subscribe("tes/out")
            dev.publish("tes/in", json.dumps({"op": "env", "reply": "tes/out"}))
            env = json.loads(lh.expect_on(dev, "tes/out", 20).payload)
            token = env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
            h.wait_until(lambda: core.status()["tes"]["state"] == "ok", 10, what="tes ok")
            path = "/2016-11-01/credentialprovider/"
            hdrs = {"Authorization": token}

            def measure(p, h):
                conn = http.client.HTTPConnection("127.0.0.1", core.daemon_port, timeout=5)
                lat = []
                for i in range(500 + args.n):
                    t0 = time.perf_counter()
                    conn.request("GET", p, headers=h)
                    r = conn.getresponse()
                    r.read()
                    assert r.status == 200, r.status
                    if i >= 500:
                        lat.append((time.perf_counter() - t0) * 1e6)
                conn.close()
                return lat

            # Peer, same run and client: the IPC server's cheapest endpoint (no token, no body).
            for name, p, h in (("e9 from cache", path, hdrs),
                               ("peer: GET health/workers", "/2016-11-01/health/workers", {})):
                lat = measure(p, h)
                print(f"{name}: n={len(lat)} p50={pct(lat, 50):.0f} us p99={pct(lat, 99):.0f} us")

            before = provider.fetches
            stop = time.monotonic() + args.windows * args.lifetime
            served = [0] * args.threads

            def hammer(k):
                c = http.client.HTTPConnection("127.0.0.1", core.daemon_port, timeout=5)
                while time.monotonic() < stop:
                    c.request("GET", path, headers=hdrs)
                    r = c.getresponse()
                    r.read()
                    if r.status == 200:
                        served[k] += 1
                c.close()

            ts = [threading.Thread(target=hammer, args=(k,)) for k in range(args.threads)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            fetches = provider.fetches - before
            periods = args.windows * args.lifetime / (args.lifetime / 2.0)
            print(f"fetches: {args.threads} callers, {sum(served)} E9 answers in "
                  f"{args.windows * args.lifetime} s = {args.windows} credential lifetimes "
                  f"({periods:.0f} half-life refresh periods): {fetches} provider fetches")
        finally:
            if dev:
                dev.close()
            core.stop()
            core.close_files()
            provider.stop()


if __name__ == "__main__":
    main()
