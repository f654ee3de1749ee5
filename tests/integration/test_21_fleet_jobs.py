"""Fleet deployments over AWS IoT Jobs (issue 15), end to end: 20 Evergreen cores (separate
processes, roots and ports on one host), each with its own thing name, all connected to one
mosquitto "cloud" on which the fake IoT Jobs service (iot_jobs_fake.py) runs; function zips on
the HTTPS artifact server (artifact_server.py) behind presigned URLs the fake re-signs each time a
core fetches a document. Job documents are built by `evergreen job-document`, as an operator does.

One module-scoped fleet serves the scenarios in order (each leaves the fleet in a known state):
  1. job 1 (Echo:1 + a group routing Dev <-> Echo) -> all SUCCEEDED, every core serves Echo 1
  2. job 2 (a pinned function that crashes at start) -> every core rolled back, FAILED with a
     reason; Echo 1 still served
  3. a SHA-256 mismatch (the artifact server corrupts the zip) -> FAILED, nothing changed
  4. presigned URLs that expire mid-rollout (downloads held, clock advanced) -> each core
     re-fetches the document and succeeds with Echo 2
  5. a redelivered job (notify-next sent again while pending) -> applied once per core

Bounded for a 2-CPU host: cores start in parallel, plaintext cloud connections, the smallest
Python function, short health windows, every wait has a timeout.
"""

import concurrent.futures
import json
import os
import shlex
import shutil
import zipfile

import pytest

import evg_harness as h
import lambda_helpers as lh
from artifact_server import ArtifactServer
from cloud_helpers import CloudBroker, cloud_core
from iot_jobs_fake import FakeIotJobs

N_CORES = int(os.environ.get("EVG_FLEET_CORES", "20"))
BUCKET = "evg-fleet"
TERMINAL_TIMEOUT = 90


def thing(i):
    return f"fleet-core-{i:02d}"


class Fleet:
    def __init__(self, tmp, make_core):
        self.tmp = tmp
        self.broker = CloudBroker(tmp / "cloud", persistence=False).start()
        self.art = ArtifactServer(str(tmp / "art")).start()
        self.fake = FakeIotJobs(self.broker.test_port,
                                presign=lambda u: self.art.presign_s3(u, 600)).start()
        self.cores = []
        for i in range(N_CORES):
            c = cloud_core(make_core, self.broker, name=thing(i), tls=False)
            c.config["coreThing"]["thingArn"] = h.thing_arn(thing(i))
            c.config["evergreen"]["jobs"] = {
                "enabled": True, "caFile": self.art.ca, "requestTimeoutMs": 5000,
                "retryBaseMs": 200, "retryMaxMs": 2000, "downloadAttempts": 2,
                "urlRefreshes": 3}
            c.thing = thing(i)
            self.cores.append(c)
        # Parallel start: spawn all, then wait for each to answer `evergreen status`.
        for c in self.cores:
            c.start(wait=False)
        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            list(ex.map(lambda c: c.wait_ready(timeout=60), self.cores))
        # Each core asks start-next once its cloud connection is up.
        h.wait_until(lambda: all(self.fake.count("start-next", c.thing) >= 1
                                 for c in self.cores), 60, interval=0.2,
                     what="start-next from every core")
        self.things = [c.thing for c in self.cores]
        self.jobs = 0

    def stop(self):
        if os.environ.get("EVG_KEEP_FLEET"):
            with open(self.tmp / "fake-log.json", "w") as f:
                json.dump(self.fake.log, f, indent=1, default=str)
        self.fake.stop()
        self.art.stop()
        self.broker.stop()

    # -- operator side ---------------------------------------------------------------------
    def function_zip(self, name, files):
        p = self.tmp / f"{name}.zip"
        with zipfile.ZipFile(p, "w") as z:
            for fn, body in files.items():
                z.writestr(fn, body)
        return str(p)

    def job(self, group, functions, things=None, health=1, corrupt=(), job_id=None, hold=False):
        """Builds the document with `evergreen job-document`, "uploads" the zips, creates the
        job. functions: [(name, version, handler, zip)]. Returns (job_id, document)."""
        self.jobs += 1
        job_id = job_id or f"job-{self.jobs}"
        gpath = self.tmp / f"{job_id}-group.json"
        gpath.write_text(json.dumps(group.to_json()))
        out = self.tmp / f"{job_id}.json"
        args = ["job-document", "--group", gpath, "--s3", f"s3://{BUCKET}/rel/{job_id}",
                "--health-window", str(health), "--deployment-id", f"dep-{job_id}",
                "--out", out]
        for name, version, handler, z in functions:
            args += ["--function", f"{name}:{version}:python3.11:{handler}:{z}"]
        r = h.run_cli(*args)
        assert r.returncode == 0, r.stderr
        for line in r.stdout.splitlines():
            if line.startswith("aws s3 cp "):
                _, _, _, local, s3 = shlex.split(line)
                key = s3[len("s3://"):]
                self.art.put(key, open(local, "rb").read())
                if any(key.split("/")[-1].startswith(f"{n}-") for n in corrupt):
                    self.art.corrupt(key)
        if hold:
            self.art.hold()
        doc = json.loads(out.read_text())
        self.fake.create_job(job_id, doc, things or self.things)
        return job_id, doc

    # -- checks ----------------------------------------------------------------------------
    def echo_version(self, core, timeout=15):
        dev = h.Paho("Dev", core.plain_port)
        try:
            dev.subscribe("echo/out")
            dev.publish("echo/in", json.dumps({"from": "fleet-test"}))
            m = lh.expect_json(dev, "echo/out", timeout=timeout)
            return m["function_version"]
        finally:
            dev.close()

    def versions(self, core, name):
        r = h.run_cli("function", "list-versions-by-function", "--function-name", name,
                      "--root", core.root, timeout=30)
        assert r.returncode == 0, r.stderr
        return [v["Version"] for v in json.loads(r.stdout)["Versions"]]

    def history(self, core):
        r = h.run_cli("deployments", "list", "--root", core.root, "--json", timeout=30)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)


ECHO = """import json
import greengrasssdk

client = greengrasssdk.client('iot-data')


def handler(event, context):
    client.publish(topic='echo/out', payload=json.dumps(
        {'function_version': context.function_version, 'event': event}))
"""


def echo_group(version, extra_fn=None):
    arn = lh.fn_arn("Echo", str(version))
    g = lh.LambdaGroup().device("Dev").function(arn, pinned=False)
    g.sub("Dev", "echo/in", arn).sub(arn, "echo/out", "Dev")
    if extra_fn:
        g.function(lh.fn_arn(extra_fn, "1"), pinned=True)
    return g


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, evergreen_bin):
    tmp = tmp_path_factory.mktemp("fleet")
    cores = []

    def make_core(name):
        c = h.Core(tmp / name)
        if os.geteuid() == 0:
            c.config["runtime"]["allowFunctionsToRunAsRoot"] = "yes"
        cores.append(c)
        return c
    f = None
    try:
        f = Fleet(tmp, make_core)
        f.echo_zip = f.function_zip("echo", {"echo.py": ECHO})
        f.echo2_zip = f.function_zip("echo2", {"echo.py": ECHO + "# version 2\n"})
        f.crash_zip = f.function_zip("crash", {
            "crash.py": "import os\nos._exit(3)  # dies at import: a crash loop when pinned\n"})
        yield f
    finally:
        problems = []
        for c in cores:
            if c.running():
                try:
                    rc, _ = c.stop(bound=10)
                    if rc != 0:
                        problems.append(f"{c.root}: exit {rc}")
                except AssertionError as e:
                    problems.append(str(e))
            c.close_files()
        if f:
            f.stop()
        assert not problems, problems
        if not os.environ.get("EVG_KEEP_FLEET"):
            shutil.rmtree(tmp, ignore_errors=True)


def _failed_details(res):
    return {t: s for t, s in res.items() if s["status"] != "SUCCEEDED"}


def test_1_job_applied_by_all_cores(fleet):
    job, doc = fleet.job(echo_group(1), [("Echo", 1, "echo.handler", fleet.echo_zip)])
    res = fleet.fake.wait_terminal(job, timeout=TERMINAL_TIMEOUT)
    assert not _failed_details(res), _failed_details(res)
    for t, s in res.items():
        assert s["statusDetails"].get("deploymentId") == f"dep-{job}", (t, s)
    key = f"{BUCKET}/rel/{job}/" + doc["functions"][0]["artifact"]["url"].split("/")[-1][:-1]
    assert fleet.art.downloads[key] == N_CORES
    for c in fleet.cores:
        assert fleet.echo_version(c) == "1", c.thing
        last = fleet.history(c)[-1]
        assert last["source"] == "job" and last["result"] == "succeeded", last


def test_2_crashing_pinned_function_rolls_back_every_core(fleet):
    before = {c.thing: len(fleet.history(c)) for c in fleet.cores}
    job, _ = fleet.job(echo_group(1, extra_fn="Crash"),
                       [("Echo", 1, "echo.handler", fleet.echo_zip),
                        ("Crash", 1, "crash.handler", fleet.crash_zip)], health=3)
    res = fleet.fake.wait_terminal(job, timeout=TERMINAL_TIMEOUT)
    for t, s in res.items():
        assert s["status"] == "FAILED", (t, s)
        d = s["statusDetails"]
        assert d.get("rolledBack") == "true" and d.get("reason"), (t, d)
        assert "Crash" in d["reason"] or "crash" in d["reason"].lower(), (t, d)
    for c in fleet.cores:
        assert fleet.echo_version(c) == "1", c.thing  # the previous group is back
        hist = fleet.history(c)
        assert len(hist) > before[c.thing], hist
        # The group active before the job is re-activated by a rollback record.
        assert hist[-1]["source"] == "rollback" and hist[-1]["result"] == "succeeded", hist[-1]
        assert hist[-1]["groupHash"] == hist[before[c.thing] - 1]["groupHash"], hist


def test_3_sha256_mismatch_fails_and_changes_nothing(fleet):
    targets = fleet.cores[:5]
    before = {c.thing: fleet.history(c) for c in targets}
    job, _ = fleet.job(echo_group(2), [("Echo", 2, "echo.handler", fleet.echo2_zip)],
                       things=[c.thing for c in targets], corrupt=("Echo",))
    res = fleet.fake.wait_terminal(job, timeout=TERMINAL_TIMEOUT)
    for t, s in res.items():
        assert s["status"] == "FAILED", (t, s)
        reason = s["statusDetails"].get("reason", "")
        assert "sha" in reason.lower(), (t, reason)
        assert s["statusDetails"].get("step") == "download", (t, s["statusDetails"])
    for c in targets:
        assert fleet.echo_version(c) == "1", c.thing
        assert fleet.history(c) == before[c.thing], c.thing  # not even an activation attempt
        assert "2" not in fleet.versions(c, "Echo"), c.thing  # nothing stored


def test_4_urls_expiring_mid_rollout_are_refreshed(fleet):
    job, doc = fleet.job(echo_group(2), [("Echo", 2, "echo.handler", fleet.echo2_zip)],
                         hold=True)
    key = f"{BUCKET}/rel/{job}/" + doc["functions"][0]["artifact"]["url"].split("/")[-1][:-1]
    try:
        # Every core has its URL and is downloading: then the URLs expire.
        h.wait_until(lambda: fleet.art.held >= N_CORES, 60, interval=0.2,
                     what="a held download from every core")
        fleet.art.advance_clock(3600)
    finally:
        fleet.art.release()
    res = fleet.fake.wait_terminal(job, timeout=TERMINAL_TIMEOUT)
    assert not _failed_details(res), _failed_details(res)
    assert fleet.art.denied[key] >= N_CORES
    assert fleet.art.downloads[key] == N_CORES
    for c in fleet.cores:
        assert fleet.fake.documents_served[(c.thing, job)] >= 2, c.thing  # re-fetched
    for c in fleet.cores:
        assert fleet.echo_version(c) == "2", c.thing
    assert "2" in fleet.versions(fleet.cores[0], "Echo")


def test_5_redelivered_job_applied_once(fleet):
    before = {c.thing: len(fleet.history(c)) for c in fleet.cores}
    job, doc = fleet.job(echo_group(1), [("Echo", 1, "echo.handler", fleet.echo_zip)])
    for _ in range(2):  # the same pending execution delivered again, re-signed
        for t in fleet.things:
            fleet.fake.renotify(t)
    res = fleet.fake.wait_terminal(job, timeout=TERMINAL_TIMEOUT)
    assert not _failed_details(res), _failed_details(res)
    for t, s in res.items():
        assert [st for st, _ in s["history"]].count("SUCCEEDED") == 1, (t, s["history"])
    for c in fleet.cores:
        hist = fleet.history(c)
        assert len(hist) == before[c.thing] + 1, (c.thing, hist[before[c.thing]:])
        assert fleet.echo_version(c) == "1", c.thing


def test_6_throttled_requests_and_lost_replies_are_retried(fleet):
    """RequestThrottled / InternalError answers and replies lost on the way back: the cores retry
    (fresh clientToken, backoff, expectedVersion) and every execution still ends SUCCEEDED once."""
    before = {c.thing: len(fleet.history(c)) for c in fleet.cores}
    fleet.fake.throttle(N_CORES // 2)
    fleet.fake.internal_error(2)
    job, _ = fleet.job(echo_group(2), [("Echo", 2, "echo.handler", fleet.echo2_zip)])
    fleet.fake.drop_replies(3)
    res = fleet.fake.wait_terminal(job, timeout=TERMINAL_TIMEOUT)
    assert not _failed_details(res), _failed_details(res)
    codes = [body.get("code") for (_, _, _, suffix, body) in fleet.fake.log
             if suffix.endswith("/rejected")]
    assert codes.count("RequestThrottled") == N_CORES // 2 and codes.count("InternalError") == 2
    for t, s in res.items():
        assert [st for st, _ in s["history"]].count("SUCCEEDED") == 1, (t, s["history"])
    for c in fleet.cores:
        assert len(fleet.history(c)) == before[c.thing] + 1, c.thing
        assert fleet.echo_version(c) == "2", c.thing
