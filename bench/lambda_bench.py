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

import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_common as bc  # noqa: E402  (also puts tests/integration on sys.path)


def bench_echo_evergreen(tmp, n):
    core, h, lh = bc.start_core(tmp, "echo")
    try:
        arn = lh.create_function(core, "BenchEcho", "bench_echo", "bench_echo.handler")
        lat = bc.echo_round_trips(core, lh, arn, n)
        s = lh.fn_status(core, arn)
        return lat, f"succeeded {s['succeeded']}, dropped {s['dropped']}"
    finally:
        bc.stop_core(core)


def bench_echo_mosquitto(tmp, n):
    mosq, port = bc.start_mosquitto(tmp)
    echo = None
    try:
        echo = subprocess.Popen([bc.PY, "-c", bc.ECHO_CLIENT, str(port)], stdout=subprocess.PIPE,
                                text=True)
        line = bc.readline_bounded(echo, 10)
        if line.strip() != "ready":
            raise RuntimeError(f"paho echo client did not start: {line!r}")
        dev = bc.Device(port, "Dev")
        dev.subscribe("bench/out")
        lat = dev.round_trips(n)
        dev.close()
        return lat, "paho-mqtt 1.6 echo client (TCP_NODELAY)"
    finally:
        bc.stop_processes([echo, mosq])


def bench_invoke(tmp, n):
    core, h, lh = bc.start_core(tmp, "invoke")
    try:
        inv = lh.create_function(core, "Invoker", "invoker", "invoker.handler")
        tgt = lh.create_function(core, "Target", "responder", "responder.handler")
        dev = bc.invoker_device(core, lh, inv, [(tgt, {})])
        r = bc.invoke_loop(dev, tgt, n)
        dev.close()
        return r["lat_us"], f"SDK lambda.invoke RequestResponse, errors {r['errors']}"
    finally:
        bc.stop_core(core)


def bench_cold(tmp, runs):
    core, h, lh = bc.start_core(tmp, "cold")
    try:
        cold = bc.cold_starts(core, lh, lambda i: lh.create_function(
            core, f"Cold{i}", "bench_echo", "bench_echo.handler"), runs)
    finally:
        bc.stop_core(core)
    base = [bc.time_command([bc.PY, "-c", "import json,http.client"]) for _ in range(runs)]
    return cold, base


def main():
    ap = bc.arg_parser(__doc__)
    a = ap.parse_args()
    scenarios = bc.check_args(ap, a)
    h = bc.use_build(a.build)
    if not os.access(h.evergreen_binary(), os.X_OK):
        sys.exit(f"lambda_bench: {h.evergreen_binary()} not built "
                 f"(ninja -C {a.build} evergreen)")

    tmp = tempfile.mkdtemp(prefix="evg-lambda-bench.")
    lines = list(bc.TABLE_HEADER)
    try:
        if "echo" in scenarios:
            lat, note = bench_echo_evergreen(tmp, a.round_trips)
            lines.append(bc.row("device->fn->device", "evergreen (pinned Python fn)", lat, note))
            if os.access(bc.MOSQUITTO, os.X_OK):
                lat, note = bench_echo_mosquitto(tmp, a.round_trips)
                lines.append(bc.row("device->echo->device", "mosquitto + paho echo", lat, note))
            else:
                lines.append(f"| device->echo->device | mosquitto | - | - | - | - | "
                             f"{bc.MOSQUITTO} missing |")
        if "invoke" in scenarios:
            lat, note = bench_invoke(tmp, a.invokes)
            lines.append(bc.row("fn->fn invoke", "evergreen", lat, note))
        if "cold" in scenarios:
            cold, base = bench_cold(tmp, a.cold_runs)
            lines.append(bc.row("cold start (publish->fn publish)", "evergreen on-demand", cold,
                                bc.ms(cold), rate=False))
            lines.append(bc.row("python3 -c 'import json,http.client'", "baseline", base,
                                bc.ms(base) + "; cold - baseline (medians) = "
                                f"{bc.median_diff_ms(cold, base)} ms", rate=False))
    finally:
        if os.environ.get("EVG_BENCH_KEEP") == "1":
            print(f"lambda_bench: kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    bc.write_table(lines, a.out)


if __name__ == "__main__":
    main()
