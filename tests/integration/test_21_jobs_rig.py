"""Tests of the IoT Jobs test rig itself (issue 15): the fake IoT Jobs service (iot_jobs_fake.py)
on Debian's mosquitto, driven by a plain paho-mqtt client acting as a device, and the HTTPS
artifact server with expiring presigned URLs (artifact_server.py). The fleet test
(test_21_fleet_jobs.py) trusts both, so both are checked against the AWS semantics they copy
(shared/reference/v1-layout-and-iot-jobs.md part B)."""

import json
import ssl
import time
import urllib.error
import urllib.request
import uuid

import pytest

import evg_harness as h
from artifact_server import ArtifactServer
from cloud_helpers import CloudBroker
from iot_jobs_fake import FakeIotJobs

S3 = "https://s3.us-east-1.amazonaws.com/evg-bucket/fleet/echo-3.zip"


class JobsDevice:
    """A device speaking the IoT Jobs MQTT API with paho: subscribes to its own jobs topics."""

    def __init__(self, broker, thing):
        self.thing = thing
        self.p = broker.client(f"dev-{thing}")
        self.p.subscribe(f"$aws/things/{thing}/jobs/#", 1)
        self.other = []  # messages seen while waiting for something else, in order

    def topic(self, suffix):
        return f"$aws/things/{self.thing}/jobs/{suffix}"

    def request(self, suffix, body=None, timeout=5):
        """Publishes a request with a fresh clientToken; returns (accepted?, reply body)."""
        body = dict(body or {})
        body.setdefault("clientToken", uuid.uuid4().hex)
        self.p.publish(self.topic(suffix), json.dumps(body), qos=1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                m = self.p.expect(max(0.05, deadline - time.monotonic()))
            except AssertionError:
                break
            if m.topic in (self.topic(suffix + "/accepted"), self.topic(suffix + "/rejected")):
                r = json.loads(m.payload)
                if r.get("clientToken") == body["clientToken"]:
                    return m.topic.endswith("/accepted"), r
            if not m.topic.endswith(suffix):  # our own request comes back too
                self.other.append(m)
        raise AssertionError(f"no reply to {suffix}")

    def event(self, suffix, timeout=5):
        for m in self.other:
            if m.topic == self.topic(suffix):
                self.other.remove(m)
                return json.loads(m.payload)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = self.p.expect(max(0.05, deadline - time.monotonic()))
            if m.topic == self.topic(suffix):
                return json.loads(m.payload)
        raise AssertionError(f"no {suffix} event")

    def close(self):
        self.p.close()


@pytest.fixture
def rig(tmp_path):
    broker = CloudBroker(tmp_path / "cloud", persistence=False).start()
    art = ArtifactServer(str(tmp_path / "art")).start()
    fake = FakeIotJobs(broker.test_port, presign=lambda u: art.presign_s3(u, 60)).start()
    devices = []

    def device(thing):
        d = JobsDevice(broker, thing)
        devices.append(d)
        return d
    yield broker, art, fake, device
    for d in devices:
        d.close()
    fake.stop()
    art.stop()
    broker.stop()


def doc(n=1):
    return {"schema": "evergreen/job/1", "n": n,
            "functions": [{"name": "Echo", "artifact": {"url": "${aws:iot:s3-presigned-url:"
                                                        + S3 + "}"}}]}


def test_start_next_without_jobs_has_no_execution_key(rig):
    _, _, fake, device = rig
    d = device("thingA")
    ok, r = d.request("start-next", {"clientToken": "tok-1"})
    assert ok and "execution" not in r and r["clientToken"] == "tok-1"
    assert isinstance(r["timestamp"], int)
    ok, r = d.request("$next/get")
    assert ok and "execution" not in r
    ok, r = d.request("get")
    assert ok and r["inProgressJobs"] == [] and r["queuedJobs"] == []
    assert fake.count("start-next", "thingA") == 1


def test_job_lifecycle_versions_and_replies_on_the_requesters_topics(rig):
    broker, art, fake, device = rig
    a, b = device("thingA"), device("thingB")
    spy = broker.client("spy")
    spy.subscribe("$aws/things/thingB/jobs/#", 1)
    fake.create_job("job-1", doc(), ["thingA"])
    ev = a.event("notify-next")
    assert ev["execution"]["jobId"] == "job-1" and ev["execution"]["status"] == "QUEUED"
    assert ev["execution"]["versionNumber"] == 1

    ok, r = a.request("start-next", {"statusDetails": {"step": "download"}})
    ex = r["execution"]
    assert ok and ex["status"] == "IN_PROGRESS" and ex["versionNumber"] == 2
    assert ex["statusDetails"] == {"step": "download"} and ex["thingName"] == "thingA"
    url1 = ex["jobDocument"]["functions"][0]["artifact"]["url"]
    assert url1.startswith(f"https://localhost:{art.port}/evg-bucket/fleet/echo-3.zip?")
    assert "X-Amz-Expires=60" in url1 and "X-Amz-Signature=" in url1
    # start-next again: the IN_PROGRESS execution, statusDetails unchanged, same version.
    ok, r = a.request("start-next", {"statusDetails": {"step": "other"}})
    assert r["execution"]["statusDetails"] == {"step": "download"}
    assert r["execution"]["versionNumber"] == 2
    # re-signed each time the document is handed out
    time.sleep(1.1)
    ok, r = a.request("job-1/get", {"includeJobDocument": True})
    assert ok and r["execution"]["jobDocument"]["functions"][0]["artifact"]["url"] != url1
    ok, r = a.request("job-1/get", {"includeJobDocument": False})
    assert ok and "jobDocument" not in r["execution"]

    ok, r = a.request("job-1/update", {"status": "IN_PROGRESS", "expectedVersion": 1})
    assert not ok and r["code"] == "VersionMismatch"
    assert r["executionState"] == {"status": "IN_PROGRESS", "statusDetails": {"step": "download"},
                                   "versionNumber": 2}
    ok, r = a.request("job-1/update", {"status": "SUCCEEDED", "expectedVersion": 2,
                                       "statusDetails": {"step": "done"},
                                       "includeJobExecutionState": True})
    assert ok and r["executionState"]["versionNumber"] == 3
    assert r["executionState"]["status"] == "SUCCEEDED"
    assert "execution" not in a.event("notify-next")  # nothing pending any more
    ok, r = a.request("job-1/update", {"status": "FAILED"})
    assert not ok and r["code"] == "InvalidStateTransition"
    assert r["executionState"]["status"] == "SUCCEEDED"
    ok, r = a.request("job-1/update", {"status": "QUEUED"})
    assert not ok and r["code"] == "InvalidRequest"
    ok, r = a.request("nope/update", {"status": "SUCCEEDED"})
    assert not ok and r["code"] == "ResourceNotFound"
    ok, r = a.request("job-1/update", {"status": "FAILED", "statusDetails": {"reason": "a\nb"}})
    assert not ok and r["code"] == "InvalidRequest" and "control" in r["message"]

    snap = fake.wait_terminal("job-1", timeout=1)
    assert snap["thingA"]["status"] == "SUCCEEDED"
    assert [s for s, _ in snap["thingA"]["history"]] == ["QUEUED", "IN_PROGRESS", "SUCCEEDED"]
    # thingB never asked anything: nothing on its topics, nothing in b's queue.
    spy.expect_none(0.5)
    b.p.expect_none(0.1)
    spy.close()


def test_next_is_in_progress_first_then_oldest_queued(rig):
    _, _, fake, device = rig
    a = device("thingA")
    fake.create_job("old", doc(1), ["thingA"])
    assert a.event("notify-next")["execution"]["jobId"] == "old"
    fake.create_job("new", doc(2), ["thingA"])
    ok, r = a.request("$next/get")
    assert r["execution"]["jobId"] == "old" and r["execution"]["status"] == "QUEUED"
    ok, r = a.request("new/update", {"status": "IN_PROGRESS"})
    assert ok
    ev = a.event("notify-next")  # the next execution is now the IN_PROGRESS one
    assert ev["execution"]["jobId"] == "new"
    ok, r = a.request("start-next")
    assert r["execution"]["jobId"] == "new"
    ok, r = a.request("get")
    assert [j["jobId"] for j in r["inProgressJobs"]] == ["new"]
    assert [j["jobId"] for j in r["queuedJobs"]] == ["old"]
    ok, _ = a.request("new/update", {"status": "REJECTED", "statusDetails": {"reason": "x"}})
    assert ok and a.event("notify-next")["execution"]["jobId"] == "old"
    # a redelivery on request: same execution again
    fake.renotify("thingA")
    assert a.event("notify-next")["execution"]["jobId"] == "old"


def test_faults_throttle_internal_error_dropped_reply(rig):
    _, _, fake, device = rig
    a = device("thingA")
    fake.create_job("job-1", doc(), ["thingA"])
    a.event("notify-next")
    fake.throttle(2)
    for _ in range(2):
        ok, r = a.request("start-next")
        assert not ok and r["code"] == "RequestThrottled"
    fake.internal_error(1)
    ok, r = a.request("start-next")
    assert not ok and r["code"] == "InternalError"
    assert fake.execution("thingA", "job-1")["status"] == "QUEUED"
    fake.drop_replies(1)
    with pytest.raises(AssertionError, match="no reply"):
        a.request("start-next", timeout=1)
    assert fake.execution("thingA", "job-1")["status"] == "IN_PROGRESS"  # processed, reply lost
    ok, r = a.request("start-next")
    assert ok and r["execution"]["status"] == "IN_PROGRESS"
    assert fake.count("start-next", "thingA") == 5


def test_step_timeout_then_terminal_state_reached(rig):
    _, _, fake, device = rig
    fake.step_minute_s = 0.5
    a = device("thingA")
    fake.create_job("job-1", doc(), ["thingA"])
    ok, r = a.request("start-next", {"stepTimeoutInMinutes": 1})
    assert ok and r["execution"]["status"] == "IN_PROGRESS"
    fake.wait_status("thingA", "job-1", ["TIMED_OUT"], timeout=5)
    ok, r = a.request("job-1/update", {"status": "SUCCEEDED"})
    assert not ok and r["code"] == "TerminalStateReached"


def test_many_things_one_job(rig):
    _, _, fake, device = rig
    devs = [device(f"core-{i:02d}") for i in range(10)]
    fake.create_job("fleet-1", doc(), [d.thing for d in devs])
    for d in devs:
        ok, r = d.request("start-next")
        assert r["execution"]["jobId"] == "fleet-1"
        d.request("fleet-1/update", {"status": "SUCCEEDED", "expectedVersion": 2})
    res = fake.wait_terminal("fleet-1", timeout=5)
    assert {s["status"] for s in res.values()} == {"SUCCEEDED"}


def _get(url, ca):
    ctx = ssl.create_default_context(cafile=ca)
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_artifact_server_signed_urls_expire(rig):
    _, art, _, _ = rig
    art.put("evg-bucket/fleet/echo-3.zip", b"PK-zip-bytes")
    url = art.presign_s3(S3, 60)
    assert _get(url, art.ca) == (200, b"PK-zip-bytes")
    assert art.downloads["evg-bucket/fleet/echo-3.zip"] == 1
    code, body = _get(url.replace("X-Amz-Signature=", "X-Amz-Signature=0"), art.ca)
    assert code == 403 and b"SignatureDoesNotMatch" in body
    code, body = _get(art.url_unsigned("evg-bucket/fleet/echo-3.zip"), art.ca)
    assert code == 403
    art.advance_clock(61)
    code, body = _get(url, art.ca)
    assert code == 403 and b"<Code>AccessDenied</Code>" in body
    assert b"Request has expired" in body
    assert _get(art.presign_s3(S3, 60), art.ca) == (200, b"PK-zip-bytes")  # fresh URL works
    art.corrupt("evg-bucket/fleet/echo-3.zip")
    code, body = _get(art.presign_s3(S3, 60), art.ca)
    assert code == 200 and body != b"PK-zip-bytes" and len(body) == len(b"PK-zip-bytes")
    code, _ = _get(art.presign("evg-bucket/missing.zip"), art.ca)
    assert code == 404
    # Certificate verification: without the test CA the handshake fails.
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, context=ssl.create_default_context(), timeout=5)
    assert art.denied["evg-bucket/fleet/echo-3.zip"] == 3


def test_artifact_server_hold_then_expire(rig):
    import threading
    _, art, _, _ = rig
    art.put("b/k.zip", b"data")
    url = art.presign("b/k.zip", 60)
    art.hold()
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("r", _get(url, art.ca)))
    t.start()
    h.wait_until(lambda: art.held == 1, 5, what="the held request")
    art.advance_clock(3600)
    art.release()
    t.join(5)
    assert out["r"][0] == 403 and b"Request has expired" in out["r"][1]
