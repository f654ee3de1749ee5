#!/usr/bin/python3
"""Java function benchmarks on the real core (run by hand; see docs/performance.md "Java functions").

Scenarios (bounded like bench/lambda_bench.py; shared helpers in bench/bench_common.py):

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

import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_common as bc  # noqa: E402  (also puts tests/integration on sys.path)

JAVA = "/usr/bin/java"
CORE_JVM_FLAGS = ["-XX:+UseSerialGC", "-Xshare:auto", "-XX:TieredStopAtLevel=1",
                  "-XX:-UsePerfData"]


def bench_echo(tmp, n):
    core, h, lh = bc.start_core(tmp, "jecho")
    import java_helpers as jh
    try:
        arn = jh.create_java_function(core, "JavaBenchEcho", "com.example.BenchEcho::handle")
        lat = bc.echo_round_trips(core, lh, arn, n, timeout=10, wait_timeout=20)
        return lat, "64-byte payload, JVM warmed by 200 untimed round trips"
    finally:
        bc.stop_core(core)


def bench_invoke(tmp, n):
    core, h, lh = bc.start_core(tmp, "jinvoke")
    import java_helpers as jh
    try:
        inv = lh.create_function(core, "Invoker", "invoker", "invoker.handler")
        jt = jh.create_java_function(core, "JavaTarget", "com.example.BenchEcho::json")
        pt = lh.create_function(core, "PyTarget", "responder", "responder.handler")
        dev = bc.invoker_device(core, lh, inv, [(jt, {}), (pt, {})], wait_timeout=20)
        out = {}
        for name, tgt, warm in (("java", jt, 2000), ("python", pt, bc.WARMUP)):
            r = bc.invoke_loop(dev, tgt, n, warm=warm)
            out[name] = (r["lat_us"], r["errors"])
        dev.close()
        return out
    finally:
        bc.stop_core(core)


def bench_cold(tmp, runs):
    core, h, lh = bc.start_core(tmp, "jcold")
    import java_helpers as jh
    try:
        cold = bc.cold_starts(core, lh, lambda i: jh.create_java_function(
            core, f"JCold{i}", "com.example.BenchEcho::handle"), runs,
            fn_kwargs={"timeout": 10}, receive_timeout=20, settle_s=0.3)
    finally:
        bc.stop_core(core)
    hello = os.path.join(tmp, "hello")
    os.makedirs(hello, exist_ok=True)
    with open(os.path.join(hello, "Hello.java"), "w") as f:
        f.write('public class Hello { public static void main(String[] a) '
                '{ System.out.println("hello"); } }\n')
    subprocess.run(["javac", "-d", hello, os.path.join(hello, "Hello.java")], check=True)
    bare, flagged = [], []
    for _ in range(runs):
        for flags, acc in (([], bare), (CORE_JVM_FLAGS, flagged)):
            acc.append(bc.time_command([JAVA] + flags + ["-cp", hello, "Hello"],
                                       stdout=subprocess.DEVNULL))
    return cold, bare, flagged


def main():
    ap = bc.arg_parser(__doc__)
    a = ap.parse_args()
    scenarios = bc.check_args(ap, a)
    h = bc.use_build(a.build)
    if not os.access(h.evergreen_binary(), os.X_OK):
        sys.exit(f"java_bench: {h.evergreen_binary()} not built (ninja -C {a.build} evergreen)")
    tmp = tempfile.mkdtemp(prefix="evg-java-bench.")
    lines = list(bc.TABLE_HEADER)
    try:
        if "echo" in scenarios:
            lat, note = bench_echo(tmp, a.round_trips)
            lines.append(bc.row("device->fn->device", "evergreen (pinned Java fn)", lat, note))
        if "invoke" in scenarios:
            r = bench_invoke(tmp, a.invokes)
            for name in ("java", "python"):
                lat, errors = r[name]
                lines.append(bc.row("fn->fn invoke (Python SDK caller)", f"pinned {name} target",
                                    lat, f"errors {errors}"))
        if "cold" in scenarios:
            cold, bare, flagged = bench_cold(tmp, a.cold_runs)
            lines.append(bc.row("cold start (publish->fn publish)", "evergreen on-demand Java",
                                cold, bc.ms(cold), rate=False))
            lines.append(bc.row("java -cp . Hello", "baseline", bare, bc.ms(bare) +
                                f"; cold - baseline (medians) = {bc.median_diff_ms(cold, bare)} ms",
                                rate=False))
            lines.append(bc.row("java <core flags> -cp . Hello", "baseline", flagged,
                                bc.ms(flagged) + "; cold - this (medians) = "
                                f"{bc.median_diff_ms(cold, flagged)} ms", rate=False))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    bc.write_table(lines, a.out)


if __name__ == "__main__":
    main()
