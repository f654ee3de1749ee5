#!/usr/bin/python3
"""On-demand cold start per runtime vs its bare interpreter, idle or with the broker loaded
(issue 17). Run by hand; figures and commands in docs/performance.md "Cold start per runtime".

For each runtime (python, node, java) one core is started with `--runs` on-demand functions that
publish their payload back (binary); for each function, with no worker yet:
  * wall: device publish -> the function's publish received by the device (us);
  * cpu:  the worker's on-CPU time up to that moment (/proc/<pid>/schedstat, ns resolution) --
    the interpreter/VM start, Evergreen's runtime, the handler's module and the publish;
and, interleaved right before each cold start (same machine load), the bare interpreter:
  python `python3 -c 'import json,http.client'` (what the runtime must import at least),
  node `node -e 0` (bare environment like the worker's), java `java <core flags> -cp . Hello`,
wall and CPU (wait4 rusage). CPU is the figure that survives a loaded 2-core machine: wall
times there swing by 2-5x with the neighbours, CPU by a few ms.

--standby on|off|both (default both): with standby workers (evergreen.runtime.standbyWorkers, the
default since issue 17) each function's first worker is its standby, started at deploy: the bench
waits until every standby has finished loading (its CPU time stops growing), then measures as
above; "cpu" is then the CPU the worker spent *after* the assignment (on the invocation's path),
and "warm" the second invocation's wall time, so that cold - warm is what the first invocation
pays over a warm one. off: standbyWorkers 0, every first worker a plain start (the former figures).

--load keeps a QoS 1 stream of 5,000 msg/s (mosquitto_pub -l -> the core's broker -> mosquitto_sub,
two group devices) running during the cold starts ("with the broker loaded").

    /usr/bin/python3 bench/cold_start_bench.py --build build [--runtimes python,node,java]
                                               [--runs 10] [--load] [--standby both]
                                               [--out result.md]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_common as bc  # noqa: E402  (also puts tests/integration on sys.path)

JAVA = "/usr/bin/java"
CORE_JVM_FLAGS = ["-XX:+UseSerialGC", "-Xshare:auto", "-XX:TieredStopAtLevel=1",
                  "-XX:-UsePerfData"]
RUNTIMES = ("python", "node", "java")
LOAD_RATE = 5000  # msg/s of the --load stream (64-byte lines; a bound, not a saturation)
# Writes argv[1] lines/s (in 10 ms batches) to stdout until killed.
FEEDER = """import sys, time
rate = int(sys.argv[1]); batch = max(1, rate // 100); line = ("x" * 63 + "\\n") * batch
t = time.monotonic()
while True:
    sys.stdout.write(line); sys.stdout.flush(); t += 0.01
    time.sleep(max(0.0, t - time.monotonic()))
"""


def bare_env():
    # The supervisor passes only PATH, LANG and HOME on; the baselines get the same.
    return {k: os.environ[k] for k in ("PATH", "LANG", "HOME") if k in os.environ}


def run_measured(argv, env):
    """(wall us, cpu us) of one run of argv."""
    t0 = time.perf_counter_ns()
    p = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = (time.perf_counter_ns() - t0) / 1000.0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError(f"{argv} exited with {p.returncode}")
    return wall, (ru.ru_utime + ru.ru_stime) * 1e6


def worker_pid(core_pid, arn):
    """The live worker (a child of the core) whose MY_FUNCTION_ARN is arn."""
    import evg_harness as h
    return h.child_with_env(core_pid, f"MY_FUNCTION_ARN={arn}")


def oncpu_us(pid):
    """On-CPU time of every live thread of pid (a JVM does its work off the main thread)."""
    total = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            continue
    return total / 1000.0


def make_fn(runtime, core, lh, i):
    if runtime == "python":
        return lh.create_function(core, f"PyCold{i}", "bench_echo", "bench_echo.handler")
    if runtime == "node":
        return lh.create_function(core, f"NodeCold{i}", "node_bench_echo", "index.handler",
                                  runtime="nodejs12.x")
    import java_helpers as jh
    return jh.create_java_function(core, f"JCold{i}", "com.example.BenchEcho::handle")


def baseline_argv(runtime, tmp):
    if runtime == "python":
        return [bc.PY, "-c", "import json,http.client"]
    if runtime == "node":
        return [shutil.which("node") or shutil.which("nodejs"), "-e", "0"]
    hello = os.path.join(tmp, "hello")
    if not os.path.exists(os.path.join(hello, "Hello.class")):
        os.makedirs(hello, exist_ok=True)
        with open(os.path.join(hello, "Hello.java"), "w") as f:
            f.write('public class Hello { public static void main(String[] a) '
                    '{ System.out.println("hello"); } }\n')
        subprocess.run(["javac", "-d", hello, os.path.join(hello, "Hello.java")], check=True)
    return [JAVA] + CORE_JVM_FLAGS + ["-cp", hello, "Hello"]


def start_load(port):
    """A QoS 1 stream of LOAD_RATE msg/s through the core's broker while the cold starts run: group
    device Loader (mosquitto_pub -l, fed without end) -> load/x -> group device Sink
    (mosquitto_sub). Both are killed at the end."""
    sink = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-i", "Sink",
                             "-q", "1", "-t", "load/x"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    feed = subprocess.Popen([bc.PY, "-c", FEEDER, str(LOAD_RATE)], stdout=subprocess.PIPE)
    pub = subprocess.Popen(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-i", "Loader",
                            "-q", "1", "-t", "load/x", "-l"], stdin=feed.stdout,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    feed.stdout.close()
    return [sink, pub, feed]


def wait_standbys_loaded(core, lh, arns, timeout=60):
    """Every function has a standby whose CPU time has stopped growing (done loading, blocked on
    its stdin). Returns {arn: standby pid}."""
    deadline = time.monotonic() + timeout
    pids = {}
    while len(pids) < len(arns):
        if time.monotonic() > deadline:
            raise RuntimeError(f"standbys not up: {pids}")
        for arn in arns:
            pid = lh.fn_status(core, arn).get("standbyPid", 0)
            if pid:
                pids[arn] = pid
        time.sleep(0.05)
    for arn, pid in pids.items():
        last = -1.0
        while True:
            now = oncpu_us(pid)
            if now == last:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"standby {pid} of {arn} still busy")
            last = now
            time.sleep(0.2)
    return pids


def bench_runtime(runtime, tmp, runs, build, load, standby):
    core, h, lh = bc.start_core(tmp, f"cold-{runtime}-{'sb' if standby else 'plain'}",
                                standby_workers=runs if standby else 0)
    base_argv = baseline_argv(runtime, tmp)
    env = bare_env()
    cold_wall, cold_cpu, base_wall, base_cpu, warm_wall = [], [], [], [], []
    loader = None
    try:
        arns = [make_fn(runtime, core, lh, i) for i in range(runs)]
        g = lh.LambdaGroup().device("Dev")
        if load:
            g.device("Loader").device("Sink").sub("Loader", "load/x", "Sink")
        for i, arn in enumerate(arns):
            g.function(arn, pinned=False, encoding="binary", timeout=20)
            g.sub("Dev", f"cold/{i}", arn)
            g.sub(arn, "bench/out", "Dev")
        core.deploy_ok(g)
        standbys = wait_standbys_loaded(core, lh, arns) if standby else {}
        if load:
            loader = start_load(core.plain_port)
            time.sleep(1.0)
        dev = bc.Device(core.plain_port, "Dev")
        dev.subscribe("bench/out")
        run_measured(base_argv, env)  # page cache warm for the baseline as for the worker
        for i, arn in enumerate(arns):
            time.sleep(0.2)
            w, c = run_measured(base_argv, env)
            base_wall.append(w)
            base_cpu.append(c)
            time.sleep(0.2)
            if lh.fn_status(core, arn)["workers"] != 0:
                raise RuntimeError(f"{arn} already has a worker")
            before = oncpu_us(standbys[arn]) if standby else 0.0
            t0 = time.perf_counter_ns()
            dev.publish(f"cold/{i}", b"cold")
            dev.receive(timeout=30)
            cold_wall.append((time.perf_counter_ns() - t0) / 1000.0)
            pid = standbys[arn] if standby else worker_pid(core.proc.pid, arn)
            if pid is None:
                raise RuntimeError(f"no worker process found for {arn}")
            cold_cpu.append(oncpu_us(pid) - before)
            time.sleep(0.05)
            t0 = time.perf_counter_ns()
            dev.publish(f"cold/{i}", b"warm")
            dev.receive(timeout=30)
            warm_wall.append((time.perf_counter_ns() - t0) / 1000.0)
            if i == 0:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    args = f.read().split(b"\0")
                print(f"{runtime} worker: " + " ".join(a.decode() for a in args[:8]),
                      file=sys.stderr, flush=True)
        dev.close()
        if loader is not None and any(p.poll() is not None for p in loader[:2]):
            raise RuntimeError("the broker load (mosquitto_pub/sub) ended early")
    finally:
        for p in loader or []:
            p.kill()
            p.wait()
        bc.stop_core(core)
    return cold_wall, cold_cpu, base_wall, base_cpu, warm_wall, " ".join(os.path.basename(x) if i == 0 else x
                                                          for i, x in enumerate(base_argv))


def med_ms(v):
    return statistics.median(v) / 1000.0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", required=True)
    ap.add_argument("--runtimes", default=",".join(RUNTIMES))
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--load", action="store_true")
    ap.add_argument("--standby", choices=("on", "off", "both"), default="both")
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    runtimes = [r for r in a.runtimes.split(",") if r]
    bad = [r for r in runtimes if r not in RUNTIMES]
    if bad or not 1 <= a.runs <= 1000:
        ap.error(f"--runtimes must be a subset of {','.join(RUNTIMES)} and --runs 1..1000")
    build = os.path.abspath(a.build)
    h = bc.use_build(build)
    if not os.access(h.evergreen_binary(), os.X_OK):
        sys.exit(f"cold_start_bench: {h.evergreen_binary()} not built")
    tmp = tempfile.mkdtemp(prefix="evg-cold-bench.")
    lines = ["| runtime | first worker | load | n | cold wall ms | warm wall ms | cold - warm ms | "
             "bare wall ms | cold - bare ms | worker cpu ms | bare cpu ms | cpu diff ms | baseline |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    modes = {"on": [True], "off": [False], "both": [False, True]}[a.standby]
    try:
        for r in runtimes:
            for sb in modes:
                cw, cc, bw, bcpu, ww, what = bench_runtime(r, tmp, a.runs, build, a.load, sb)
                lines.append(
                    f"| {r} | {'standby' if sb else 'plain start'} | "
                    f"{f'QoS 1 {LOAD_RATE}/s' if a.load else 'idle'} | {a.runs} | "
                    f"{med_ms(cw):.1f} | {med_ms(ww):.1f} | {med_ms(cw) - med_ms(ww):+.1f} | "
                    f"{med_ms(bw):.1f} | {med_ms(cw) - med_ms(bw):+.1f} | {med_ms(cc):.1f} | "
                    f"{med_ms(bcpu):.1f} | {med_ms(cc) - med_ms(bcpu):+.1f} | `{what}` |")
                print(lines[-1], file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    bc.write_table(lines, a.out)


if __name__ == "__main__":
    main()
