#!/usr/bin/env python3
"""Stream manager bench (issue 13): starts a core (evg_harness), measures its RSS, enables the
stream manager through the group (GGStreamManager:1, STREAM_MANAGER_AUTHENTICATE_CLIENT=false),
creates 10 streams with 1,000 messages of 256 B each and measures the RSS again; then drives
build/bench/streammgr_load (C++ client, one TCP connection): append throughput of 256 B messages
with File persistence (group commit, flushOnWrite) at 1 and 64 requests in flight, and the
append -> long-poll read latency. Prints a markdown table.

    /usr/bin/python3 bench/streammgr_bench.py [--count 200000]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

import evg_harness as h  # noqa: E402
import genuine_helpers as gh  # noqa: E402
import lambda_helpers as lh  # noqa: E402

BUILD = os.environ.get("EVERGREEN_BUILD_DIR", os.path.join(REPO, "build"))
LOAD = os.path.join(BUILD, "bench", "streammgr_load")


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def load(port, *args):
    r = subprocess.run([LOAD, str(port), *map(str, args)], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=200000)
    ap.add_argument("--flush-count", type=int, default=20000)
    ap.add_argument("--latency-count", type=int, default=2000)
    ap.add_argument("--sdk-count", type=int, default=5000)
    a = ap.parse_args()
    root = tempfile.mkdtemp(prefix="evg-smbench-")
    core = h.Core(os.path.join(root, "core"))
    core.start()
    try:
        time.sleep(1)
        rss0 = rss_kb(core.proc.pid)
        port = h.free_port()
        g = lh.LambdaGroup().function(
            "arn:aws:lambda:::function:GGStreamManager:1", fn_id="sm",
            env={"STREAM_MANAGER_SERVER_PORT": str(port),
                 "STREAM_MANAGER_AUTHENTICATE_CLIENT": "false"})
        core.deploy_ok(g)
        for i in range(10):
            load(port, "append", f"idle{i}", 1000, 256, 64)
        time.sleep(1)
        rss1 = rss_kb(core.proc.pid)
        rows = []
        for window in (1, 64):
            r = load(port, "append", f"tput{window}", a.count, 256, window)
            rows.append((f"append 256 B, File, group commit, {window} in flight",
                         f"{r['per_second']:.0f}/s", f"n={a.count}"))
        for window in (1, 64):
            r = load(port, "append", f"flush{window}", a.flush_count, 256, window, "flush")
            rows.append((f"append 256 B, File, flushOnWrite, {window} in flight",
                         f"{r['per_second']:.0f}/s", f"n={a.flush_count}"))
        # The genuine Python SDK (one synchronous caller), from the vendor tree.
        sdk = os.path.dirname(gh.vendor(*gh.PY_SDK))
        code = (
            "import sys, time, warnings; warnings.simplefilter('ignore')\n"
            f"sys.path.insert(0, {sdk!r})\n"
            "from greengrasssdk.stream_manager import *\n"
            f"c = StreamManagerClient(port={port})\n"
            "c.create_message_stream(MessageStreamDefinition(name='py', "
            "strategy_on_full=StrategyOnFull.OverwriteOldestData))\n"
            "p = b'p' * 256; t = time.monotonic()\n"
            f"for i in range({a.sdk_count}): c.append_message('py', p)\n"
            f"print({a.sdk_count} / (time.monotonic() - t))\n"
            "c.close()\n")
        r = subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, r.stderr
        rows.append(("append 256 B, File, group commit, genuine Python SDK (sync caller)",
                     f"{float(r.stdout.strip()):.0f}/s", f"n={a.sdk_count}"))
        r = load(port, "latency", "lat", a.latency_count, 256)
        rows.append(("append -> long-poll read latency", f"p50 {r['p50_us']:.0f} us",
                     f"p99 {r['p99_us']:.0f} us, n={a.latency_count}"))
        rows.append(("core RSS: no stream manager -> enabled, 10 streams x 1,000 msgs",
                     f"{rss0} KiB -> {rss1} KiB (+{rss1 - rss0} KiB)", "VmRSS"))
        print("| scenario | result | notes |\n|---|---|---|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
    finally:
        core.stop()
        core.close_files()
        subprocess.run(["rm", "-rf", root])


if __name__ == "__main__":
    main()
