"""Cloud spooler drain rate through a delaying proxy (issue 5 benchmark).

    EVERGREEN_BUILD_DIR=build /usr/bin/python3 bench/cloud_drain_bench.py [--rtt-ms 50] \
        [--messages 20000] [--window 100] [--payload 256]

Setup: Debian's mosquitto as the cloud on a free loopback port, tests/integration/delay_proxy.py
in front of it (RTT/2 each way), an Evergreen core with evergreen.cloud pointing at the proxy
(plaintext). The cloud is down while a device publishes N messages toward it (they are spooled,
durably); then the broker starts and the clock runs from the core's CONNACK until the spool is
empty (every message PUBACKed). Reported: overall rate and the steady rate between 10% and 90%
acknowledged. --window 1 shows v1's stop-and-wait for comparison.
"""

import argparse
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))

import cloud_helpers as ch  # noqa: E402
import evg_harness as h  # noqa: E402
from delay_proxy import DelayProxy  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rtt-ms", type=float, default=50.0)
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--window", type=int, default=100)
    ap.add_argument("--payload", type=int, default=256)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="evg_cloud_bench_")
    broker = ch.CloudBroker(os.path.join(tmp, "cloud"), persistence=False)
    proxy = DelayProxy(broker.port, delay_ms=a.rtt_ms / 2).start()
    core = h.Core(os.path.join(tmp, "core"))
    core.config["evergreen"]["cloud"] = {
        "enabled": True, "plaintext": True, "host": "127.0.0.1", "port": proxy.port,
        "maxInflight": a.window, "maxSizeBytes": max(2621440, a.messages * (a.payload + 64))}
    core.config["mqttMaxConnectionRetryInterval"] = 1
    core.config["evergreen"]["log"]["stderr"] = False
    sensor = None
    try:
        core.start()
        core.deploy_ok(h.Group().device("Sensor").sub("Sensor", "up/#", "cloud"))
        sensor = h.Paho("Sensor", core.plain_port)
        body = "x" * a.payload
        for i in range(a.messages):
            sensor.publish(f"up/{i % 4}", body)
        ch.wait_cloud(core, lambda s: s["spool"]["appended"] == a.messages, timeout=120,
                      what="all spooled")
        broker.start()
        st = ch.wait_cloud(core, lambda s: s["state"] == "connected", timeout=30)
        t_conn = time.monotonic()
        marks = {}
        lo, hi = a.messages // 10, a.messages * 9 // 10
        while True:
            st = ch.cloud_status(core)
            now = time.monotonic()
            acked = st["acked"]
            if acked >= lo and "lo" not in marks:
                marks["lo"] = (now, acked)
            if acked >= hi and "hi" not in marks:
                marks["hi"] = (now, acked)
            if acked >= a.messages:
                break
            if now - t_conn > 600:
                raise SystemExit(f"timeout: {acked} of {a.messages} acknowledged")
            time.sleep(0.02)
        total = time.monotonic() - t_conn
        (t1, a1), (t2, a2) = marks["lo"], marks["hi"]
        steady = (a2 - a1) / (t2 - t1) if t2 > t1 else float("nan")
        print(f"rtt={a.rtt_ms:.0f}ms window={a.window} messages={a.messages} "
              f"payload={a.payload}B: {a.messages / total:.0f} msg/s overall "
              f"({total:.2f} s), steady {steady:.0f} msg/s; "
              f"resent={st['resent']} spool commits={st['spool']['commits']}")
    finally:
        if sensor:
            sensor.close()
        core.stop()
        core.close_files()
        broker.stop()
        proxy.stop()


if __name__ == "__main__":
    main()
