#!/usr/bin/python3
"""Node.js function benchmarks on the real core (run by hand; not part of the test suite).
Beside bench/lambda_bench.py (Python functions), reusing bench/bench_common.py (measuring device, table format).

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

import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_common as bc  # noqa: E402  (also puts tests/integration on sys.path)

NODE_RUNTIME = "nodejs12.x"


def node_fn(core, lh, name):
    return lh.create_function(core, name, "node_bench_echo", "index.handler", runtime=NODE_RUNTIME)


def bench_echo(tmp, n):
    core, h, lh = bc.start_core(tmp, "node-echo")
    try:
        arn = node_fn(core, lh, "NodeBenchEcho")
        lat = bc.echo_round_trips(core, lh, arn, n)
        s = lh.fn_status(core, arn)
        return lat, f"succeeded {s['succeeded']}, dropped {s['dropped']}"
    finally:
        bc.stop_core(core)


def bench_invoke(tmp, n):
    core, h, lh = bc.start_core(tmp, "node-invoke")
    try:
        inv = lh.create_function(core, "Invoker", "invoker", "invoker.handler")
        tgt = node_fn(core, lh, "NodeTarget")
        dev = bc.invoker_device(core, lh, inv, [(tgt, {})])
        r = bc.invoke_loop(dev, tgt, n)
        dev.close()
        return r["lat_us"], f"Python SDK lambda.invoke RequestResponse, errors {r['errors']}"
    finally:
        bc.stop_core(core)


def bench_cold(tmp, runs, node):
    # The worker's environment has no NODE_OPTIONS / NODE_EXTRA_CA_CERTS etc. from this shell
    # (the supervisor passes only PATH, LANG and HOME on); the baseline gets the same, else e.g.
    # NODE_EXTRA_CA_CERTS alone adds ~150 ms to every `node -e 0`.
    bare_env = {k: os.environ[k] for k in ("PATH", "LANG", "HOME") if k in os.environ}
    base = []

    def baseline(_):
        # The bare interpreter start is measured right before each cold start (interleaved, so
        # both see the same machine load).
        time.sleep(0.2)
        base.append(bc.time_command([node, "-e", "0"], env=bare_env))
        time.sleep(0.2)  # let the previous worker settle (idle) before the next cold start

    core, h, lh = bc.start_core(tmp, "node-cold")
    try:
        cold = bc.cold_starts(core, lh, lambda i: node_fn(core, lh, f"NodeCold{i}"), runs,
                              settle_s=0, before_each=baseline)
    finally:
        bc.stop_core(core)
    return cold, base


def main():
    ap = bc.arg_parser(__doc__)
    a = ap.parse_args()
    scenarios = bc.check_args(ap, a)
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        sys.exit("lambda_node_bench: node is not installed")
    h = bc.use_build(a.build)
    if not os.access(h.evergreen_binary(), os.X_OK):
        sys.exit(f"lambda_node_bench: {h.evergreen_binary()} not built "
                 f"(ninja -C {a.build} evergreen)")
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()

    tmp = tempfile.mkdtemp(prefix="evg-node-bench.")
    lines = list(bc.TABLE_HEADER)
    try:
        if "echo" in scenarios:
            lat, note = bench_echo(tmp, a.round_trips)
            lines.append(bc.row("device->fn->device", f"evergreen (pinned Node {version} fn)",
                                lat, note))
        if "invoke" in scenarios:
            lat, note = bench_invoke(tmp, a.invokes)
            lines.append(bc.row("Python fn->Node fn invoke", "evergreen", lat, note))
        if "cold" in scenarios:
            cold, base = bench_cold(tmp, a.cold_runs, node)
            lines.append(bc.row("cold start (publish->fn publish)", "evergreen on-demand Node",
                                cold, bc.ms(cold), rate=False))
            lines.append(bc.row("node -e 0", "baseline", base,
                                bc.ms(base) + "; cold - baseline (medians) = "
                                f"{bc.median_diff_ms(cold, base)} ms", rate=False))
    finally:
        if os.environ.get("EVG_BENCH_KEEP") == "1":
            print(f"lambda_node_bench: kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    bc.write_table(lines, a.out)


if __name__ == "__main__":
    main()
