#!/usr/bin/python3
"""The core's memory on a small gateway (issue 17): PSS idle, and with 10 connected devices + 5
deployed functions, with and without standby workers (evergreen.runtime.standbyWorkers).

For each mode one core is started (plain listener, group mode); figures from
/proc/PID/smaps_rollup (PSS, the core's share of shared pages) and /proc/PID/status:
  * idle: 1 s after start, no group;
  * loaded: a group with 5 Python functions (bench_echo; 2 pinned, 3 on-demand) and 10 devices,
    each device connected (raw MQTT 3.1.1, TCP_NODELAY), subscribed to its own topic and having
    invoked one function (every function ran at least once); 1 s settle.
  * each state again after --settle seconds (default 35) with nothing happening: the core trims
    the code pages its work brought back once it is idle (evergreen.runtime.trimIdlePagesSeconds,
    default 30; src/daemon/working_set.h). --settle 0 skips these columns.
Also the PSS sum of the core's child processes (workers, standbys) in the loaded state: what
the functions cost next to the core itself.

    /usr/bin/python3 bench/core_mem_bench.py --build build [--devices 10] [--functions 5]
                                             [--settle 35] [--out result.md]
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_common as bc  # noqa: E402  (also puts tests/integration on sys.path)


def mem_kb(pid):
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            k, _, rest = line.partition(":")
            if k in ("Pss", "Rss", "Anonymous"):
                out[k] = int(rest.split()[0])
    return out


def children(pid):
    import evg_harness as h
    return [k for k, _ in h.child_processes(pid)]


def tree_pss_kb(pid):
    """PSS of pid's descendants (a container's init and its worker both count)."""
    total = 0
    for k in children(pid):
        try:
            total += mem_kb(k)["Pss"] + tree_pss_kb(k)
        except OSError:
            continue
    return total


def run_mode(tmp, standby, n_devices, n_functions, settle):
    core, h, lh = bc.start_core(tmp, f"mem-{'sb' if standby else 'plain'}",
                                standby_workers=8 if standby else 0)
    devices = []
    try:
        time.sleep(1.0)
        idle = mem_kb(core.proc.pid)
        idle_settled = None
        if settle:
            time.sleep(settle)
            idle_settled = mem_kb(core.proc.pid)
        arns = [lh.create_function(core, f"Mem{i}", "bench_echo", "bench_echo.handler")
                for i in range(n_functions)]
        g = lh.LambdaGroup()
        for d in range(n_devices):
            g.device(f"Dev{d}")
        for i, arn in enumerate(arns):
            g.function(arn, pinned=i < 2, encoding="binary", timeout=10)
            g.sub(arn, "bench/out", "Dev0")
        for d in range(n_devices):
            g.sub(f"Dev{d}", f"mem/{d}/in", arns[d % n_functions])
            g.sub(f"Dev{d}", f"dev/{d}", f"Dev{(d + 1) % n_devices}")
        core.deploy_ok(g)
        for d in range(n_devices):
            dev = bc.Device(core.plain_port, f"Dev{d}")
            dev.subscribe(f"dev/{(d - 1) % n_devices}")
            devices.append(dev)
        devices[0].subscribe("bench/out")
        for d in range(n_devices):
            devices[d].publish(f"mem/{d}/in", b"x")
            devices[0].receive(timeout=30)
        time.sleep(1.0)
        loaded = mem_kb(core.proc.pid)
        kids = tree_pss_kb(core.proc.pid)
        n_kids = len(children(core.proc.pid))
        loaded_settled = None
        if settle:
            time.sleep(settle)
            loaded_settled = mem_kb(core.proc.pid)
    finally:
        for dev in devices:
            dev.close()
        bc.stop_core(core)
    return idle, loaded, kids, n_kids, idle_settled, loaded_settled


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", required=True)
    ap.add_argument("--devices", type=int, default=10)
    ap.add_argument("--functions", type=int, default=5)
    ap.add_argument("--settle", type=float, default=35.0)
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    if not 1 <= a.devices <= 1000 or not 1 <= a.functions <= 50 or not 0 <= a.settle <= 300:
        ap.error("--devices 1..1000, --functions 1..50, --settle 0..300")
    h = bc.use_build(os.path.abspath(a.build))
    if not os.access(h.evergreen_binary(), os.X_OK):
        sys.exit(f"core_mem_bench: {h.evergreen_binary()} not built")
    tmp = tempfile.mkdtemp(prefix="evg-mem-bench.")
    settled = f" {a.settle:g} s later" if a.settle else ""
    lines = ["| standby workers | core idle PSS MB | core loaded PSS MB | core loaded RSS MB | "
             "core loaded anon MB | child processes | their PSS MB |"
             + (f" idle PSS{settled} | loaded PSS{settled} |" if a.settle else ""),
             "|---|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if a.settle else "")]
    try:
        for standby in (False, True):
            idle, loaded, kids, n, idle2, loaded2 = run_mode(tmp, standby, a.devices, a.functions,
                                                             a.settle)
            lines.append(f"| {'on (8)' if standby else 'off'} | {idle['Pss'] / 1024:.1f} | "
                         f"{loaded['Pss'] / 1024:.1f} | {loaded['Rss'] / 1024:.1f} | "
                         f"{loaded['Anonymous'] / 1024:.1f} | {n} | {kids / 1024:.1f} |"
                         + (f" {idle2['Pss'] / 1024:.1f} | {loaded2['Pss'] / 1024:.1f} |"
                            if a.settle else ""))
            print(lines[-1], file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    lines.append(f"\n{a.devices} devices, {a.functions} Python functions (2 pinned, "
                 f"{max(0, a.functions - 2)} on-demand), each invoked")
    bc.write_table(lines, a.out)


if __name__ == "__main__":
    main()
