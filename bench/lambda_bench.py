#!/usr/bin/python3
"""Lambda function benchmarks on the real core (run by hand; not part of the test suite).

Scenarios (each bounded in count and time; see docs/performance.md "Lambda functions"):

  echo    device -> pinned Python function (publishes the event back) -> device, one message in
          flight, N round trips; compared in the same run with a paho-mqtt echo client on
          Debian's mosquitto (started here with set_tcp_nodelay true) doing the same round trip.
          Both systems are up at once and measured in alternating chunks of --chunk round trips
          (default 500), so that a noisy stretch of the machine hits both alike; the ratio row
          gives evergreen's p50 over the echo's.
  echo_genuine  the same, with the function bundling the genuine greengrasssdk 1.6.1 (read from
          ../shared/vendor, as tests/integration/genuine_helpers.py does): what a v1 function's
          own deployment package runs.
  invoke  function -> function RequestResponse through the SDK: an invoker function loops N
          lambda.invoke calls to a pinned function and publishes its own timings.
  cold    on-demand cold start: device publish -> the function's publish when no worker exists
          (first invocation after deployment), vs `/usr/bin/python3 -c 'import json,http.client'`
          wall time measured in the same run.

The measuring device is a raw-socket MQTT client (TCP_NODELAY, blocking reads) so that its own
cost is small and identical for both brokers. Prints a markdown table (and writes it to --out).

    /usr/bin/python3 bench/lambda_bench.py --build build [--round-trips 2000] [--invokes 2000]
                                           [--cold-runs 10]
                                           [--scenarios echo,echo_genuine,invoke,cold]
                                           [--chunk 500]
"""

import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_common as bc  # noqa: E402  (also puts tests/integration on sys.path)


def genuine_echo_code(tmp):
    """functions/bench_echo + the vendor greengrasssdk in a new code directory, or None when the
    vendor tree is missing."""
    import genuine_helpers as gh
    if not os.path.isdir(gh.vendor(*gh.PY_SDK)):
        return None
    return gh.python_code_dir(os.path.join(tmp, "genuine_echo_code"),
                              src=os.path.join(bc.REPO, "tests", "integration", "functions",
                                               "bench_echo"))


def bench_echo(tmp, n, chunk, code="bench_echo"):
    """(evergreen latencies, its note, echo latencies or None, their note): both systems up at
    once, measured in alternating chunks."""
    core, h, lh = bc.start_core(tmp, "echo" if code == "bench_echo" else "echo-genuine")
    mosq = echo = None
    try:
        arn = lh.create_function(core, "BenchEcho", code, "bench_echo.handler")
        evg_dev = bc.echo_device(core, lh, arn)
        peer_dev = None
        if os.access(bc.MOSQUITTO, os.X_OK):
            mosq, port = bc.start_mosquitto(tmp)
            echo = subprocess.Popen([bc.PY, "-c", bc.ECHO_CLIENT, str(port)],
                                    stdout=subprocess.PIPE, text=True)
            line = bc.readline_bounded(echo, 10)
            if line.strip() != "ready":
                raise RuntimeError(f"paho echo client did not start: {line!r}")
            peer_dev = bc.Device(port, "Dev")
            peer_dev.subscribe("bench/out")
        evg_lat, peer_lat = [], []
        warm = True
        while len(evg_lat) < n:
            k = min(chunk, n - len(evg_lat))
            evg_lat += evg_dev.round_trips(k, warmup=warm)
            if peer_dev is not None:
                peer_lat += peer_dev.round_trips(k, warmup=warm)
            warm = False
        evg_dev.close()
        if peer_dev is not None:
            peer_dev.close()
        s = lh.fn_status(core, arn)
        return (evg_lat, f"succeeded {s['succeeded']}, dropped {s['dropped']}",
                peer_lat if peer_dev is not None else None,
                "paho-mqtt 1.6 echo client (TCP_NODELAY)")
    finally:
        bc.stop_processes([p for p in (echo, mosq) if p is not None])
        bc.stop_core(core)


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
    ap = bc.arg_parser(__doc__, default_scenarios="echo,echo_genuine,invoke,cold")
    ap.add_argument("--chunk", type=int, default=500)
    a = ap.parse_args()
    scenarios = bc.check_args(ap, a, known=("echo", "echo_genuine", "invoke", "cold"))
    if not 1 <= a.chunk <= 100000:
        ap.error(f"--chunk must be 1-100000, got {a.chunk}")
    h = bc.use_build(a.build)
    if not os.access(h.evergreen_binary(), os.X_OK):
        sys.exit(f"lambda_bench: {h.evergreen_binary()} not built "
                 f"(ninja -C {a.build} evergreen)")

    tmp = tempfile.mkdtemp(prefix="evg-lambda-bench.")
    lines = list(bc.TABLE_HEADER)
    try:
        for scenario in ("echo", "echo_genuine"):
            if scenario not in scenarios:
                continue
            code, what = "bench_echo", "evergreen (pinned Python fn)"
            if scenario == "echo_genuine":
                code, what = genuine_echo_code(tmp), "evergreen (fn bundling genuine SDK)"
                if code is None:
                    lines.append("| device->fn->device | evergreen (fn bundling genuine SDK) | - | "
                                 "- | - | - | ../shared/vendor missing |")
                    continue
            lat, note, peer, peer_note = bench_echo(tmp, a.round_trips, a.chunk, code)
            lines.append(bc.row("device->fn->device", what, lat, note))
            if peer is not None:
                lines.append(bc.row("device->echo->device", "mosquitto + paho echo", peer,
                                    peer_note))
                ratio = bc.percentile(lat, 50) / bc.percentile(peer, 50)
                who = "evergreen" if scenario == "echo" else "evergreen (genuine SDK)"
                lines.append(f"| p50 ratio | {who} / paho echo | "
                             f"{len(lat)} | x{ratio:.2f} | "
                             f"x{bc.percentile(lat, 99) / bc.percentile(peer, 99):.2f} (p99) | - | "
                             f"alternating chunks of {a.chunk} |")
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
