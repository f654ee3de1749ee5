"""Fleet deployment latency over IoT Jobs (issue 15 benchmark).

    EVERGREEN_BUILD_DIR=build /usr/bin/python3 bench/jobs_bench.py [--cores 1,20] [--rounds 3] \
        [--health-window 0]

Setup (as tests/integration/test_21_fleet_jobs.py): Debian's mosquitto as the cloud, the fake IoT
Jobs service (tests/integration/iot_jobs_fake.py) on it, the HTTPS artifact server with presigned
URLs (artifact_server.py), N cores (plaintext cloud connection, evergreen.jobs enabled) started in
parallel. Each round builds a document with `evergreen job-document` for a new version of a small
Python function (a zip of ~1 KB, so the download is negligible) plus a group routing a device to
it, creates the job for all N cores and waits until every execution is SUCCEEDED.

Reported per fleet size: creation -> SUCCEEDED per core (median, max) and creation -> all
SUCCEEDED; creation -> IN_PROGRESS (how fast the cores pick the job up). The health window is
--health-window seconds (default 0, so the figure is download + store + activation + reporting;
add the window for a real deployment). CPU seconds of the round (utime+stime of the core processes, not
of their workers; /proc tick = 10 ms) summed over all cores and for core 0, and core 0's PSS
(/proc/PID/smaps_rollup, sampled every 20 ms) before, peak during, and after the round. PSS
splits shared pages between the N identical cores, so it is lower with 20 cores than with 1.
"""

import argparse
import concurrent.futures
import json
import os
import shlex
import shutil
import statistics
import sys
import tempfile
import threading
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))

import evg_harness as h  # noqa: E402
import lambda_helpers as lh  # noqa: E402
from artifact_server import ArtifactServer  # noqa: E402
from cloud_helpers import CloudBroker  # noqa: E402
from iot_jobs_fake import FakeIotJobs  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")


def pss_kb(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


class Sampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self.stop_ev = threading.Event()

    def run(self):
        while not self.stop_ev.wait(0.02):
            try:
                self.peak = max(self.peak, pss_kb(self.pid))
            except OSError:
                return


def run_fleet(n, rounds, health, tmp):
    broker = CloudBroker(os.path.join(tmp, f"cloud-{n}"), persistence=False).start()
    art = ArtifactServer(os.path.join(tmp, f"art-{n}")).start()
    fake = FakeIotJobs(broker.test_port, presign=lambda u: art.presign_s3(u, 3600)).start()
    cores = []
    try:
        for i in range(n):
            c = h.Core(os.path.join(tmp, f"n{n}-core-{i:02d}"))
            t = f"bench-core-{i:02d}"
            c.thing = t
            c.config["coreThing"]["thingArn"] = h.thing_arn(t)
            if os.geteuid() == 0:
                c.config["runtime"]["allowFunctionsToRunAsRoot"] = "yes"
            c.config["evergreen"]["cloud"] = {"enabled": True, "plaintext": True,
                                              "host": "127.0.0.1", "port": broker.port}
            c.config["evergreen"]["log"]["stderr"] = False
            c.config["mqttMaxConnectionRetryInterval"] = 1
            c.config["evergreen"]["jobs"] = {"enabled": True, "caFile": art.ca}
            cores.append(c)
        for c in cores:
            c.start(wait=False)
        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            list(ex.map(lambda c: c.wait_ready(timeout=60), cores))
        h.wait_until(lambda: all(fake.count("start-next", c.thing) for c in cores), 60,
                     interval=0.2, what="start-next from every core")
        time.sleep(1.0)  # let start-up settle
        results = []
        for r in range(1, rounds + 1):
            src = f"def handler(event, context):\n    return {{'round': {r}}}\n"
            zpath = os.path.join(tmp, f"echo-{n}-{r}.zip")
            with zipfile.ZipFile(zpath, "w") as z:
                z.writestr("echo.py", src)
            arn = lh.fn_arn("Echo", str(r))
            g = lh.LambdaGroup().device("Dev").function(arn).sub("Dev", "echo/in", arn) \
                .sub(arn, "echo/out", "Dev")
            gpath = os.path.join(tmp, f"group-{n}-{r}.json")
            with open(gpath, "w") as f:
                json.dump(g.to_json(), f)
            dpath = os.path.join(tmp, f"job-{n}-{r}.json")
            out = h.run_cli("job-document", "--group", gpath, "--s3", "s3://bench/rel",
                            "--function", f"Echo:{r}:python3.11:echo.handler:{zpath}",
                            "--health-window", str(health), "--out", dpath)
            assert out.returncode == 0, out.stderr
            for line in out.stdout.splitlines():
                if line.startswith("aws s3 cp "):
                    w = shlex.split(line)
                    art.put(w[4][len("s3://"):], open(w[3], "rb").read())
            doc = json.load(open(dpath))
            pid = cores[0].proc.pid
            cpu0, pss0 = cpu_s(pid), pss_kb(pid)
            fleet0 = sum(cpu_s(c.proc.pid) for c in cores)
            sampler = Sampler(pid)
            sampler.start()
            job = f"bench-{n}-{r}"
            t0 = time.monotonic()
            fake.create_job(job, doc, [c.thing for c in cores])
            res = fake.wait_terminal(job, timeout=120)
            t_all = time.monotonic() - t0
            sampler.stop_ev.set()
            sampler.join()
            time.sleep(0.5)
            cpu1, pss1 = cpu_s(pid), pss_kb(pid)
            fleet1 = sum(cpu_s(c.proc.pid) for c in cores)
            bad = {t: s["status"] for t, s in res.items() if s["status"] != "SUCCEEDED"}
            assert not bad, bad
            done = [s["times"]["SUCCEEDED"] - t0 for s in res.values()]
            started = [s["times"]["IN_PROGRESS"] - t0 for s in res.values()]
            results.append({"all": t_all, "done": done, "started": started,
                            "cpu": cpu1 - cpu0, "fleet_cpu": fleet1 - fleet0, "pss": (pss0, max(sampler.peak, pss0), pss1)})
            time.sleep(0.5)
        return results
    finally:
        for c in cores:
            if c.running():
                c.stop(bound=10)
            c.close_files()
        fake.stop()
        art.stop()
        broker.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cores", default="1,20")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--health-window", type=int, default=0)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="evg_jobs_bench_")
    try:
        print(f"health window {a.health_window} s; {a.rounds} rounds per fleet size; "
              f"nproc {os.cpu_count()}, load {os.getloadavg()[0]:.2f}")
        print("| cores | round | create->IN_PROGRESS median s | create->SUCCEEDED median s | "
              "max s | all SUCCEEDED s | CPU s, all cores | core 0 CPU s | "
              "core 0 PSS before/peak/after KB |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for n in [int(x) for x in a.cores.split(",")]:
            for i, r in enumerate(run_fleet(n, a.rounds, a.health_window, tmp), 1):
                print(f"| {n} | {i} | {statistics.median(r['started']):.3f} | "
                      f"{statistics.median(r['done']):.3f} | {max(r['done']):.3f} | "
                      f"{r['all']:.3f} | {r['fleet_cpu']:.2f} | {r['cpu']:.2f} | "
                      f"{r['pss'][0]} / {r['pss'][1]} / {r['pss'][2]} |", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
