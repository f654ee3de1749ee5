#!/usr/bin/python3
"""C Lambda executable benchmarks on the real core (run by hand; see docs/performance.md
"C executables"). Same methodology as bench/lambda_bench.py (helpers in bench_common.py):

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

import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import bench_common as bc  # noqa: E402  (also puts tests/integration on sys.path)

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
    core, h, lh = bc.start_core(tmp, "c_echo")
    try:
        return bc.echo_round_trips(core, lh, c_fn(core, lh, "CBenchEcho", code), n)
    finally:
        bc.stop_core(core)


def bench_invoke(tmp, code, n):
    core, h, lh = bc.start_core(tmp, "c_invoke")
    try:
        inv = lh.create_function(core, "Invoker", "invoker", "invoker.handler")
        tgt = c_fn(core, lh, "CTarget", code)
        dev = bc.invoker_device(core, lh, inv, [(tgt, {"encoding": "binary"})])
        r = bc.invoke_loop(dev, tgt, n)
        dev.close()
        return r["lat_us"], r["errors"]
    finally:
        bc.stop_core(core)


def bench_cold(tmp, code, static, runs):
    core, h, lh = bc.start_core(tmp, "c_cold")
    try:
        cold = bc.cold_starts(core, lh, lambda i: c_fn(core, lh, f"CCold{i}", code), runs)
    finally:
        bc.stop_core(core)
    base = [bc.time_command([static]) for _ in range(runs)]
    return cold, base


def main():
    ap = bc.arg_parser(__doc__, scenarios=False, out_default=None)
    a = ap.parse_args()
    h = bc.use_build(a.build)
    h.BUILD_DIR = os.path.abspath(a.build)
    tmp = tempfile.mkdtemp(prefix="evg-c-bench-")
    lines = ["| scenario | system | n | p50 us | p99 us | req/s | notes |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    try:
        code, static = build(a.build, tmp)
        lat = bench_echo(tmp, code, a.round_trips)
        lines.append(bc.row("device -> fn -> device", "evergreen pinned C executable", lat))
        lat, errors = bench_invoke(tmp, code, a.invokes)
        lines.append(bc.row("fn -> fn invoke", "Python invoker -> pinned C", lat,
                            f"SDK lambda.invoke RequestResponse, errors {errors}"))
        cold, base = bench_cold(tmp, code, static, a.cold_runs)
        lines.append(bc.row("cold start (publish->fn publish)", "evergreen on-demand C", cold,
                            bc.ms(cold, digits=2), rate=False))
        lines.append(bc.row("baseline", "static C binary start (fork+exec+exit)", base,
                            f"median {statistics.median(base) / 1000:.2f} ms; cold - baseline "
                            f"(medians) = {bc.median_diff_ms(cold, base, digits=2)} ms",
                            rate=False))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    bc.write_table(lines, a.out)


if __name__ == "__main__":
    main()
