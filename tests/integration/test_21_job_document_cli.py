"""`evergreen job-document` (issue 15, operator side), black-box: the document it builds follows
the agreed schema (evergreen/job/1: sha256, sizes, presigned-URL placeholders for the S3 keys),
the `aws s3 cp` commands name exactly the keys the placeholders point at, the 32 KB limit, bad
input exits 2 naming the problem. The round trip check uploads the zip where the printed command
says, creates the job on the fake IoT Jobs service, and a paho device fetches the document and
downloads an artifact whose SHA-256 matches: what a core does with it."""

import hashlib
import json
import os
import re
import shlex
import ssl
import urllib.request
import uuid
import zipfile

import pytest

import evg_harness as h
from artifact_server import ArtifactServer
from cloud_helpers import CloudBroker
from iot_jobs_fake import FakeIotJobs
from lambda_helpers import LambdaGroup, fn_arn

HERE = os.path.dirname(os.path.abspath(__file__))


def make_zip(path, files):
    with zipfile.ZipFile(path, "w") as z:
        for name, body in files.items():
            z.writestr(name, body)
    return str(path)


def group_file(tmp_path, version=3):
    g = LambdaGroup().function(fn_arn("Echo", str(version)), pinned=False)
    g.sub("cloud", "echo/in", fn_arn("Echo", str(version)))
    g.sub(fn_arn("Echo", str(version)), "echo/out", "cloud")
    p = tmp_path / "group.json"
    p.write_text(json.dumps(g.to_json()))
    return str(p)


def run(*args):
    return h.run_cli("job-document", *args, timeout=30)


def uploads(text):
    """[(local, s3 uri)] from the printed `aws s3 cp` lines."""
    out = []
    for line in text.splitlines():
        if line.startswith("aws s3 cp "):
            w = shlex.split(line)
            out.append((w[3], w[4]))
    return out


def test_builds_document_and_upload_commands(tmp_path, evergreen_bin):
    z = make_zip(tmp_path / "echo.zip", {"echo.py": "def handler(e, c):\n    return e\n"})
    g = group_file(tmp_path)
    out = tmp_path / "job.json"
    r = run("--group", g, "--function", f"Echo:3:python3.11:echo.handler:{z}",
            "--s3", "s3://evg-fleet/releases/2026-12", "--failure-policy", "leave",
            "--health-window", "7", "--deployment-id", "fleet-a", "--out", out)
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    assert len(out.read_text().strip()) <= 32768
    assert list(doc) == ["schema", "deploymentId", "group", "functions", "failurePolicy",
                         "healthWindowSeconds"]
    assert doc["schema"] == "evergreen/job/1" and doc["deploymentId"] == "fleet-a"
    assert doc["group"] == json.load(open(g))
    assert doc["failurePolicy"] == "leave" and doc["healthWindowSeconds"] == 7
    data = open(z, "rb").read()
    sha = hashlib.sha256(data).hexdigest()
    f = doc["functions"][0]
    assert (f["name"], f["version"], f["runtime"], f["handler"]) == \
        ("Echo", 3, "python3.11", "echo.handler")
    assert f["artifact"]["sha256"] == sha and f["artifact"]["size"] == len(data)
    key = f"releases/2026-12/Echo-3-{sha[:16]}.zip"
    assert f["artifact"]["url"] == \
        f"${{aws:iot:s3-presigned-url:https://s3.{h.REGION}.amazonaws.com/evg-fleet/{key}}}"
    assert uploads(r.stdout) == [(z, f"s3://evg-fleet/{key}")]
    assert "aws iot create-job" in r.stdout


def test_document_to_stdout_commands_to_stderr(tmp_path, evergreen_bin):
    z = make_zip(tmp_path / "echo.zip", {"echo.py": "x = 1\n"})
    r = run("--group", group_file(tmp_path), "--function", f"Echo:3:python3.11:echo.handler:{z}",
            "--s3", "s3://evg-fleet")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["failurePolicy"] == "rollback" and doc["healthWindowSeconds"] == 10
    assert len(uploads(r.stderr)) == 1


@pytest.mark.parametrize("args,needle", [
    (["--function", "Echo:3:python3.11:echo.handler"], "NAME:VERSION:RUNTIME:HANDLER:ZIP"),
    (["--function", "Echo:3:cobol:echo.handler:ZIP"], "unknown runtime"),
    (["--function", "Echo:3:python3.11:echo.handler:/no/such.zip"], "/no/such.zip"),
    (["--failure-policy", "ignore"], "--failure-policy"),
    (["--health-window", "9999"], "--health-window"),
    (["--health-window", "ten"], "--health-window"),
    (["--s3", "https://bucket/x"], "s3://BUCKET"),
    (["--bogus", "1"], "--bogus"),
])
def test_bad_input_exits_2_naming_the_problem(tmp_path, evergreen_bin, args, needle):
    base = {"--group": group_file(tmp_path), "--s3": "s3://evg-fleet/p"}
    for i in range(0, len(args), 2):
        base[args[i]] = args[i + 1]
    r = run(*[x for kv in base.items() for x in kv])
    assert r.returncode == 2 and needle in r.stderr, r.stderr
    assert r.stdout == ""


def test_invalid_group_rejected(tmp_path, evergreen_bin):
    bad = tmp_path / "bad.json"
    bad.write_text('{"SubscriptionDefinitionVersion": {"Subscriptions": [{"Id": "x"}]}}')
    r = run("--group", bad, "--s3", "s3://evg-fleet")
    assert r.returncode == 2 and "bad.json" in r.stderr


def test_over_32k_refused_then_group_artifact(tmp_path, evergreen_bin):
    g = LambdaGroup().function(fn_arn("Echo", "3"))
    for i in range(100):  # 50 per source is the group limit; 240-byte topics
        if i % 2:
            g.sub("cloud", f"t{i}/" + "x" * 236, fn_arn("Echo", "3"))
        else:
            g.sub(fn_arn("Echo", "3"), f"t{i}/" + "x" * 236, "cloud")
    p = tmp_path / "big.json"
    p.write_text(json.dumps(g.to_json()))
    r = run("--group", p, "--s3", "s3://evg-fleet/p")
    assert r.returncode == 2 and "32768" in r.stderr and "--group-artifact" in r.stderr
    r = run("--group", p, "--s3", "s3://evg-fleet/p", "--group-artifact")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert "group" not in doc
    assert doc["groupArtifact"]["sha256"] == hashlib.sha256(p.read_bytes()).hexdigest()
    assert uploads(r.stderr)[0][0] == str(p)


def test_round_trip_through_fake_jobs_and_artifact_server(tmp_path, evergreen_bin):
    """The placeholders this CLI writes are what the (fake) IoT Jobs service re-signs."""
    z = make_zip(tmp_path / "echo.zip", {"echo.py": "def handler(e, c):\n    return e\n"})
    out = tmp_path / "job.json"
    r = run("--group", group_file(tmp_path), "--function", f"Echo:3:python3.11:echo.handler:{z}",
            "--s3", "s3://evg-fleet/rel", "--out", out)
    assert r.returncode == 0, r.stderr
    broker = CloudBroker(tmp_path / "cloud", persistence=False).start()
    art = ArtifactServer(str(tmp_path / "art")).start()
    fake = FakeIotJobs(broker.test_port, presign=lambda u: art.presign_s3(u, 60)).start()
    dev = broker.client("dev")
    try:
        for local, s3 in uploads(r.stdout):  # "aws s3 cp" into the artifact server
            art.put(s3[len("s3://"):], open(local, "rb").read())
        fake.create_job("rel-1", out.read_text(), ["core-1"])
        dev.subscribe("$aws/things/core-1/jobs/#", 1)
        token = uuid.uuid4().hex
        dev.publish("$aws/things/core-1/jobs/$next/get", json.dumps({"clientToken": token}), 1)
        while True:
            m = dev.expect(5)
            if m.topic.endswith("$next/get/accepted"):
                break
        ex = json.loads(m.payload)["execution"]
        f = ex["jobDocument"]["functions"][0]
        assert re.match(rf"https://localhost:{art.port}/evg-fleet/rel/Echo-3-", f["artifact"]["url"])
        ctx = ssl.create_default_context(cafile=art.ca)
        with urllib.request.urlopen(f["artifact"]["url"], context=ctx, timeout=5) as resp:
            body = resp.read()
        assert hashlib.sha256(body).hexdigest() == f["artifact"]["sha256"]
        assert len(body) == f["artifact"]["size"]
    finally:
        dev.close()
        fake.stop()
        art.stop()
        broker.stop()
