"""The device side of fleet deployments over AWS IoT Jobs (issue 15, src/jobs + core_jobs.cc), one
core in detail: mosquitto is the cloud, the fake IoT Jobs service (iot_jobs_fake.py) answers the
jobs topics, function zips sit on the HTTPS artifact server (artifact_server.py) behind presigned
URLs the fake re-signs each time the document is handed out. Documents are built here, so invalid
ones can be tried too (the operator's `evergreen job-document` is tested by test_21_fleet_jobs.py).

Scenarios, in order, on one core (each leaves it in a known state):
  1. job -> SUCCEEDED, the new function version answers, history source "job"
  2. a pinned function that crashes -> rolled back (the previous version answers) + FAILED with
     the reason and rolledBack "true"
  3. SHA-256 mismatch -> FAILED at step download, nothing changed (store, history, group)
  4. redelivered (re-signed) execution -> applied once
  5. invalid document -> REJECTED naming the field
  6. local deploy while a job is in flight -> refused naming the job; kill -9 during the job's
     health window -> after restart the previous group is active again, FAILED reported
"""

import contextlib
import hashlib
import json
import os
import shutil
import signal
import time
import zipfile

import pytest

import evg_harness as h
import lambda_helpers as lh
from artifact_server import ArtifactServer
from cloud_helpers import CloudBroker, cloud_core
from iot_jobs_fake import FakeIotJobs

THING = "device-core"
BUCKET = "evg-dev"

ECHO = """import greengrasssdk
iot = greengrasssdk.client('iot-data')
def handler(event, context):
    iot.publish(topic='echo/out', payload='{"version": "%s"}' % context.function_version)
"""
CRASH = "import os\nos._exit(3)  # dies at import: a crash loop when pinned\n"


class Rig:
    def __init__(self, tmp):
        self.tmp = tmp
        self.broker = CloudBroker(tmp / "cloud", persistence=False).start()
        self.art = ArtifactServer(str(tmp / "art")).start()
        self.fake = FakeIotJobs(self.broker.test_port,
                                presign=lambda u: self.art.presign_s3(u, 600)).start()
        self.core = None
        self.n = 0

    def stop(self):
        self.fake.stop()
        self.art.stop()
        self.broker.stop()

    def zip_bytes(self, files):
        p = self.tmp / f"z{self.n}.zip"
        self.n += 1
        with zipfile.ZipFile(p, "w") as z:
            for fn, body in files.items():
                z.writestr(fn, body)
        return p.read_bytes()

    def fn(self, name, version, handler, data, corrupt=False):
        key = f"{BUCKET}/{name}-{version}-{hashlib.sha256(data).hexdigest()[:8]}.zip"
        self.art.put(key, data)
        if corrupt:
            self.art.corrupt(key)
        url = f"${{aws:iot:s3-presigned-url:https://s3.us-east-1.amazonaws.com/{key}}}"
        return {"name": name, "version": version, "runtime": "python3.11", "handler": handler,
                "artifact": {"url": url, "sha256": hashlib.sha256(data).hexdigest(),
                             "size": len(data)}}

    def doc(self, group, functions, health=1, **extra):
        d = {"schema": "evergreen/job/1", "deploymentId": f"dep-{self.n}",
             "group": group.to_json(), "functions": functions,
             "failurePolicy": "rollback", "healthWindowSeconds": health}
        d.update(extra)
        return d

    def echo_version(self, timeout=15):
        dev = h.Paho("Dev", self.core.plain_port)
        try:
            dev.subscribe("echo/out")
            dev.publish("echo/in", json.dumps({"from": "device-test"}))
            return lh.expect_json(dev, "echo/out", timeout=timeout)["version"]
        finally:
            dev.close()

    def history(self):
        r = h.run_cli("deployments", "list", "--root", self.core.root, "--json", timeout=30)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)


def echo_group(version, crash=False):
    arn = lh.fn_arn("Echo", str(version))
    g = lh.LambdaGroup().device("Dev").function(arn, pinned=False)
    g.sub("Dev", "echo/in", arn).sub(arn, "echo/out", "Dev")
    if crash:
        g.function(lh.fn_arn("Crash", "1"), pinned=True)
    return g


@pytest.fixture(scope="module")
def rig(tmp_path_factory, evergreen_bin):
    tmp = tmp_path_factory.mktemp("jobsdev")
    core = None
    r = None
    try:
        r = Rig(tmp)
        core = cloud_core(lambda name: h.Core(tmp / name), r.broker, name=THING, tls=False)
        core.config["coreThing"]["thingArn"] = h.thing_arn(THING)
        core.config["evergreen"]["jobs"] = {
            "enabled": True, "caFile": r.art.ca, "requestTimeoutMs": 3000,
            "retryBaseMs": 200, "retryMaxMs": 1000, "downloadAttempts": 2, "urlRefreshes": 2}
        r.core = core
        core.start()
        h.wait_until(lambda: r.fake.count("start-next", THING) >= 1, 30, interval=0.1,
                     what="start-next from the core")
        yield r
    finally:
        if core is not None and core.running():
            rc, _ = core.stop(bound=10)
            assert rc == 0
        if core is not None:
            core.close_files()
        if r is not None:
            r.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def test_1_job_succeeds_and_new_version_serves(rig):
    echo = rig.zip_bytes({"echo.py": ECHO})
    rig.echo = echo
    rig.fake.create_job("dev-1", rig.doc(echo_group(1), [rig.fn("Echo", 1, "echo.handler", echo)]),
                        [THING])
    s = rig.fake.wait_terminal("dev-1", timeout=60)[THING]
    assert s["status"] == "SUCCEEDED", s
    d = s["statusDetails"]
    assert d["step"] == "done" and d["rolledBack"] == "false" and d["historyId"], d
    assert [st for st, _ in s["history"]][:3] == ["QUEUED", "IN_PROGRESS", "IN_PROGRESS"] or \
        "IN_PROGRESS" in [st for st, _ in s["history"]], s["history"]
    assert rig.echo_version() == "1"
    last = rig.history()[-1]
    assert last["source"] == "job" and last["result"] == "succeeded", last
    assert str(last["id"]) == d["historyId"]
    st = rig.core.status()["jobs"]
    assert st["succeeded"] == 1 and st["inFlight"] == "", st
    assert st["last"]["applyMs"] < 3000, st["last"]  # issue 15's target (docs/performance.md)
    # Peer in the same run: the same group deployed locally (`evergreen deploy`, CLI wall time).
    t0 = time.monotonic()
    rig.core.deploy_ok(echo_group(1))
    peer_ms = int((time.monotonic() - t0) * 1000)
    print(f"JOB_APPLY {json.dumps(st['last'])} LOCAL_DEPLOY_MS {peer_ms}")


def test_2_crashing_pinned_function_rolls_back(rig):
    crash = rig.zip_bytes({"crash.py": CRASH})
    before = len(rig.history())
    rig.fake.create_job("dev-2", rig.doc(echo_group(1, crash=True),
                                         [rig.fn("Crash", 1, "crash.handler", crash)], health=5),
                        [THING])
    s = rig.fake.wait_terminal("dev-2", timeout=60)[THING]
    assert s["status"] == "FAILED", s
    d = s["statusDetails"]
    assert d["rolledBack"] == "true" and d["step"] == "health", d
    assert "Crash" in d["reason"] and "rolled back" in d["reason"], d
    assert rig.echo_version() == "1"
    hist = rig.history()[before:]
    assert [e["source"] for e in hist] == ["job", "rollback"], hist


def test_3_sha256_mismatch_fails_and_changes_nothing(rig):
    echo2 = rig.zip_bytes({"echo.py": ECHO + "# 2\n"})
    before = rig.history()
    rig.fake.create_job("dev-3", rig.doc(echo_group(2),
                                         [rig.fn("Echo", 2, "echo.handler", echo2, corrupt=True)]),
                        [THING])
    s = rig.fake.wait_terminal("dev-3", timeout=60)[THING]
    assert s["status"] == "FAILED", s
    d = s["statusDetails"]
    assert d["step"] == "download" and "SHA-256 mismatch" in d["reason"], d
    assert d["rolledBack"] == "false"
    assert rig.history() == before
    r = h.run_cli("function", "get-function", "--root", rig.core.root, "--function-name", "Echo",
                  "--qualifier", "2", timeout=30)
    assert r.returncode != 0, r.stdout  # Echo:2 was not stored
    assert rig.echo_version() == "1"


def test_4_redelivered_execution_applied_once(rig):
    echo3 = rig.zip_bytes({"echo.py": ECHO + "# 3\n"})
    before = len(rig.history())
    held0 = rig.art.held
    rig.art.hold()  # keep the job in flight while it is redelivered, re-signed
    try:
        rig.fake.create_job("dev-4", rig.doc(echo_group(3),
                                             [rig.fn("Echo", 3, "echo.handler", echo3)]),
                            [THING])
        h.wait_until(lambda: rig.art.held > held0, 30, interval=0.1, what="a held download")
        for _ in range(3):
            rig.fake.renotify(THING)
    finally:
        rig.art.release()
    s = rig.fake.wait_terminal("dev-4", timeout=60)[THING]
    assert s["status"] == "SUCCEEDED", s
    assert [st for st, _ in s["history"]].count("SUCCEEDED") == 1
    # After it finished: the same execution delivered again is not applied again either.
    rig.fake.renotify(THING)
    r2 = rig.fake.count("update", THING)
    h.wait_until(lambda: rig.core.status()["jobs"]["pendingRequests"] == 0, 10, interval=0.1)
    assert len(rig.history()) == before + 1
    assert rig.echo_version() == "3"
    assert rig.fake.count("update", THING) == r2


def test_5_invalid_document_rejected_naming_the_field(rig):
    d = rig.doc(echo_group(3), [])
    d["rolloutSpeed"] = "fast"
    rig.fake.create_job("dev-5", d, [THING])
    s = rig.fake.wait_terminal("dev-5", timeout=30)[THING]
    assert s["status"] == "REJECTED", s
    assert "rolloutSpeed" in s["statusDetails"]["reason"], s
    d = rig.doc(echo_group(3), [rig.fn("Echo", 3, "echo.handler", rig.echo)])
    rig.fake.create_job("dev-5b", d, [THING])  # Echo:3 exists with other code
    s = rig.fake.wait_terminal("dev-5b", timeout=30)[THING]
    assert s["status"] == "FAILED" and "other code" in s["statusDetails"]["reason"], s
    assert rig.echo_version() == "3"


def test_6_local_deploy_refused_then_kill9_during_activation(rig):
    echo4 = rig.zip_bytes({"echo.py": ECHO + "# 4\n"})
    rig.fake.create_job("dev-6", rig.doc(echo_group(4), [rig.fn("Echo", 4, "echo.handler", echo4)],
                                         health=60), [THING])
    h.wait_until(lambda: os.path.exists(os.path.join(rig.core.root, "var", "deployments",
                                                     "job-inflight.json")) and
                 rig.core.status()["jobs"]["inFlight"].endswith("step health"), 30, interval=0.1,
                 what="job dev-6 in its health window")
    assert rig.echo_version() == "4"  # the new group is active (not yet confirmed)
    r = rig.core.deploy(echo_group(3))
    assert r.returncode != 0 and "dev-6" in (r.stdout + r.stderr), r
    rig.core.signal(signal.SIGKILL)
    rig.core.proc.wait(10)
    rig.core.start()
    s = rig.fake.wait_terminal("dev-6", timeout=60)[THING]
    assert s["status"] == "FAILED", s
    d = s["statusDetails"]
    assert "restarted" in d["reason"] and d["rolledBack"] == "true", d
    assert rig.echo_version() == "3"  # the previous deployment, whole
    assert not os.path.exists(os.path.join(rig.core.root, "var", "deployments",
                                           "job-inflight.json"))
    assert rig.history()[-1]["source"] == "rollback"


def test_7_throttled_lost_and_failed_requests_are_retried(rig):
    echo5 = rig.zip_bytes({"echo.py": ECHO + "# 5\n"})
    before = rig.core.status()["jobs"]
    rig.fake.throttle(2)
    rig.fake.internal_error(1)
    rig.fake.drop_replies(1)
    rig.fake.create_job("dev-7", rig.doc(echo_group(5), [rig.fn("Echo", 5, "echo.handler", echo5)]),
                        [THING])
    s = rig.fake.wait_terminal("dev-7", timeout=60)[THING]
    assert s["status"] == "SUCCEEDED", s
    h.wait_until(lambda: rig.core.status()["jobs"]["pendingRequests"] == 0, 30, interval=0.1,
                 what="no IoT Jobs request pending")
    after = rig.core.status()["jobs"]
    # The fake drops the next reply whatever it is, so the first throttled answer is lost: one
    # timeout, two rejections that arrive, three more attempts (fresh clientToken each time).
    assert after["retries"] - before["retries"] >= 3, (before, after)
    assert after["timeouts"] - before["timeouts"] >= 1, (before, after)
    assert after["rejectedReplies"] - before["rejectedReplies"] >= 2, (before, after)
    assert rig.echo_version() == "5"


@contextlib.contextmanager
def _job_held_in_download(rig, job, version):
    """Creates `job` (Echo `version`) and yields once the artifact server holds the core's
    download of it; the download is released on leaving."""
    code = rig.zip_bytes({"echo.py": ECHO + f"# {version}\n"})
    held0 = rig.art.held
    rig.art.hold()
    try:
        rig.fake.create_job(job, rig.doc(echo_group(version),
                                         [rig.fn("Echo", version, "echo.handler", code)]),
                            [THING])
        h.wait_until(lambda: rig.art.held > held0, 30, interval=0.1, what="a held download")
        yield
    finally:
        rig.art.release()


def test_8_expired_url_refreshed_through_the_document(rig):
    before = rig.core.status()["jobs"]["urlRefreshes"]
    with _job_held_in_download(rig, "dev-8", 6):
        rig.art.advance_clock(3600)  # the URL the core holds has expired
    s = rig.fake.wait_terminal("dev-8", timeout=60)[THING]
    assert s["status"] == "SUCCEEDED", s
    assert rig.core.status()["jobs"]["urlRefreshes"] == before + 1
    assert rig.fake.documents_served[(THING, "dev-8")] >= 2
    assert rig.echo_version() == "6"


def test_9_job_canceled_during_download_is_dropped(rig):
    before = rig.history()
    with _job_held_in_download(rig, "dev-9", 7):
        rig.fake.cancel_job("dev-9")  # the operator (or an abort config) stops the rollout
        # notify-next (nothing pending) -> the core asks <job>/get -> CANCELED -> marked
        h.wait_until(lambda: rig.core.status()["jobs"]["inFlight"].endswith(
            "(canceled in the cloud)"), 10, interval=0.1, what="the core seeing the cancel")
    h.wait_until(lambda: rig.core.status()["jobs"]["inFlight"] == "", 30, interval=0.1,
                 what="the canceled job dropped")
    assert rig.fake.execution(THING, "dev-9")["status"] == "CANCELED"
    assert rig.history() == before  # nothing activated
    assert rig.echo_version() == "6"


def test_10_group_by_artifact(rig):
    """A group too large for the 32 KB document travels as groupArtifact (downloaded, SHA-256
    checked, parsed) next to the function zips."""
    echo8 = rig.zip_bytes({"echo.py": ECHO + "# 8\n"})
    group = json.dumps(echo_group(8).to_json()).encode()
    key = f"{BUCKET}/group-8.json"
    rig.art.put(key, group)
    d = rig.doc(echo_group(8), [rig.fn("Echo", 8, "echo.handler", echo8)])
    del d["group"]
    d["groupArtifact"] = {
        "url": f"${{aws:iot:s3-presigned-url:https://s3.us-east-1.amazonaws.com/{key}}}",
        "sha256": hashlib.sha256(group).hexdigest(), "size": len(group)}
    rig.fake.create_job("dev-10", d, [THING])
    s = rig.fake.wait_terminal("dev-10", timeout=60)[THING]
    assert s["status"] == "SUCCEEDED", s
    assert rig.echo_version() == "8"
    assert rig.history()[-1]["source"] == "job"
