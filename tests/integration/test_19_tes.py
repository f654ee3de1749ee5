"""Token exchange (issue 12) on the real core: AWS credentials for functions from a fake AWS IoT
credentials provider (mutual TLS, thing-name header, short-lived credentials so refresh happens
during the run), served on E9 to the GENUINE AWS SDKs with no credentials of their own:
boto3 (Debian python3-boto3) -> kinesalite + s3rver, npm aws-sdk v2 -> kinesalite; every request
the functions send is SigV4-verified by a proxy against the secret issued for its key id, and the
rotated keys must be the ones used. Also: the genuine TES example of the Python Core SDK,
provider down at start, token checks, and no provider configured."""

import json
import os
import shutil
import time

import pytest

import evg_harness as h
import genuine_helpers as gh
import lambda_helpers as lh
import node_helpers as nh
import tes_helpers as th

REPLY = "tes/out"


@pytest.fixture
def provider(pki):
    p = th.FakeIotCredentialsProvider(pki, lifetime_s=8)
    yield p
    p.stop()


def _call(dev, topic, event, timeout=20):
    tag = event.setdefault("tag", f"t{time.monotonic_ns()}")
    event["reply"] = REPLY
    dev.publish(topic, json.dumps(event))
    while True:
        m = lh.expect_on(dev, REPLY, timeout)
        out = json.loads(m.payload)
        if out.get("tag") == tag:
            return out


def _boto3_group(core, dev_name="Dev", isolation="NoContainer"):
    arn = lh.create_function(core, "Boto3Fn", "tes_boto3", "tes_boto3.handler")
    g = (lh.LambdaGroup().device(dev_name).function(arn, timeout=20, memory_kb=131072,
                                                    isolation=isolation)
         .sub(dev_name, "tes/in", arn).sub(arn, REPLY, dev_name))
    core.deploy_ok(g)
    return arn


def _check_proxy(proxy, provider):
    recs = proxy.snapshot()
    assert recs, "no request reached the emulator"
    bad = [r for r in recs if not r["valid"]]
    assert not bad, f"requests not signed with issued credentials: {bad[:3]}"
    return recs


def test_boto3_kinesis_and_s3_with_rotating_credentials(make_core, pki, provider, emulators):
    provider.start()
    core = th.tes_core(make_core, pki, provider)
    kin = th.SigV4Proxy(emulators.kinesis_port, provider)
    s3p = th.SigV4Proxy(emulators.s3_port, provider)
    dev = None
    try:
        k = th.boto3_client("kinesis", emulators.kinesis_port)
        k.create_stream(StreamName="tes-stream", ShardCount=1)
        th.boto3_client("s3", emulators.s3_port).create_bucket(Bucket="tes-bucket")
        _boto3_group(core)
        dev = h.Paho("Dev", core.plain_port)
        assert dev.subscribe(REPLY) == 0
        h.wait_until(lambda: th.tes_status(core)["state"] == "ok", 10, what="tes ok")
        t0 = time.time()
        sent = []
        i = 0
        while time.time() - t0 < 14:  # > 3 refreshes of the 8 s credentials (every ~4 s)
            data = f"record-{i}"
            r = _call(dev, "tes/in", {"op": "kinesis", "kinesis": kin.url(),
                                      "stream": "tes-stream", "data": data})
            assert r.get("ok"), r
            r = _call(dev, "tes/in", {"op": "s3", "s3": s3p.url(), "bucket": "tes-bucket",
                                      "key": f"obj-{i}", "data": data})
            assert r.get("ok"), r
            assert r["region"] == h.REGION
            sent.append(data)
            i += 1
            time.sleep(0.7)
        # Read back through the emulators.
        shard = k.describe_stream(StreamName="tes-stream")["StreamDescription"]["Shards"][0]
        it = k.get_shard_iterator(StreamName="tes-stream", ShardId=shard["ShardId"],
                                  ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        got = [rec["Data"].decode() for rec in k.get_records(ShardIterator=it, Limit=1000)["Records"]]
        assert got == sent
        s3 = th.boto3_client("s3", emulators.s3_port)
        assert s3.get_object(Bucket="tes-bucket", Key=f"obj-{i - 1}")["Body"].read().decode() == sent[-1]
        # Every request was signed with credentials the provider issued, and they rotated.
        recs = _check_proxy(kin, provider) + _check_proxy(s3p, provider)
        used = {r["akid"] for r in recs}
        assert len(used) >= 3, f"credentials did not rotate in the functions: {used}"
        last = max(recs, key=lambda r: r["time"])
        assert last["akid"] in provider.order[-2:], (last, provider.order)
        # One fetch per refresh (half-life of 8 s), whatever the number of calls.
        st = th.tes_status(core)
        elapsed = time.time() - t0
        assert provider.fetches <= elapsed / 4 + 3, (provider.fetches, elapsed)
        assert st["served"] >= 2 * i and st["fetchFailures"] == 0, st
        assert provider.refused == []
        # Secrets never logged.
        logs = core.all_logs() + core.log("GGTES")
        for c in provider.issued.values():
            assert c["secret"] not in logs and c["token"] not in logs
        assert "fetched credentials for role alias " + th.ROLE_ALIAS in core.log("GGTES")
    finally:
        if dev:
            dev.close()
        kin.stop()
        s3p.stop()


def test_node_aws_sdk_v2_kinesis_with_rotating_credentials(make_core, pki, provider, emulators,
                                                           workdir, tmp_path):
    code = os.path.join(str(tmp_path), "tes_node")
    shutil.copytree(os.path.join(lh.FUNCTIONS_DIR, "tes_node"), code)
    th.npm_install(code, ["aws-sdk@2"], os.path.join(workdir, "npm-cache"))
    provider.start()
    core = th.tes_core(make_core, pki, provider)
    kin = th.SigV4Proxy(emulators.kinesis_port, provider)
    dev = None
    try:
        th.boto3_client("kinesis", emulators.kinesis_port).create_stream(StreamName="node-stream",
                                                                          ShardCount=1)
        arn = nh.create_node_function(core, "NodeTes", code)
        g = (lh.LambdaGroup().device("Dev").function(arn, timeout=20, memory_kb=262144)
             .sub("Dev", "tes/in", arn).sub(arn, REPLY, "Dev"))
        core.deploy_ok(g)
        dev = h.Paho("Dev", core.plain_port)
        assert dev.subscribe(REPLY) == 0
        t0 = time.time()
        n = 0
        while time.time() - t0 < 12:
            r = _call(dev, "tes/in", {"kinesis": kin.url(), "stream": "node-stream",
                                      "data": f"n{n}"}, timeout=30)
            assert r.get("ok"), r
            n += 1
            time.sleep(0.5)
        recs = _check_proxy(kin, provider)
        assert len(recs) >= n
        assert len({r["akid"] for r in recs}) >= 2, "aws-sdk did not pick up rotated credentials"
        last = max(recs, key=lambda r: r["time"])
        assert last["akid"] in provider.order[-2:], (last, provider.order)
    finally:
        if dev:
            dev.close()
        kin.stop()


def test_genuine_python_sdk_tes_example_runs_unmodified(make_core, pki, provider, tmp_path):
    src = gh.vendor("aws-greengrass-core-sdk-python", "examples", "TES", "lambda_function.py")
    code = os.path.join(str(tmp_path), "tes_example")
    os.makedirs(code)
    shutil.copy(src, code)  # unmodified
    provider.start()
    core = th.tes_core(make_core, pki, provider)
    arn = lh.create_function(core, "TesExample", code, "lambda_function.lambda_handler")
    core.deploy_ok(lh.LambdaGroup().function(arn, pinned=True, timeout=10))
    # At import it resolves credentials through botocore's chain (container provider -> E9).
    log = lh.wait_file_contains(lh.user_log_path(core, "TesExample"),
                                ["Hello from pinned lambda. Outside of handler."], timeout=20)
    # The log line is printed before the credential lookup: wait for the lookup itself.
    h.wait_until(lambda: th.tes_status(core)["served"] >= 1, 20, what="the example's credential request")
    log = open(lh.user_log_path(core, "TesExample")).read()
    assert "Traceback" not in log, log
    assert provider.fetches >= 1
    assert lh.fn_status(core, arn)["restarts"] == 0


def test_provider_down_at_start_then_recovers(make_core, pki, provider):
    core = th.tes_core(make_core, pki, provider, serve_wait_ms=0, retry_max_ms=500)
    dev = None
    try:
        _boto3_group(core)
        dev = h.Paho("Dev", core.plain_port)
        assert dev.subscribe(REPLY) == 0
        h.wait_until(lambda: th.tes_status(core)["fetchFailures"] >= 1, 10, what="a failed fetch")
        st = th.tes_status(core)
        assert st["state"] == "failing" and f"localhost:{provider.port}" in st["lastError"], st
        r = _call(dev, "tes/in", {"op": "creds"}, timeout=30)
        assert "error" in r and "credentials" in r["error"].lower(), r
        assert core.running()
        provider.start()
        h.wait_until(lambda: th.tes_status(core)["state"] == "ok", 10, what="recovery")
        r = _call(dev, "tes/in", {"op": "creds"}, timeout=30)
        assert r.get("ok") and r["akid"] in provider.issued, r
    finally:
        if dev:
            dev.close()


def test_token_checks_env_and_region(make_core, pki, provider):
    provider.start()
    core = th.tes_core(make_core, pki, provider)
    dev = None
    try:
        arn = _boto3_group(core)
        dev = h.Paho("Dev", core.plain_port)
        assert dev.subscribe(REPLY) == 0
        env = _call(dev, "tes/in", {"op": "env"})
        uri = env["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
        assert uri == f"http://127.0.0.1:{core.daemon_port}/2016-11-01/credentialprovider/"
        assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == h.REGION
        token = env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
        path = "/2016-11-01/credentialprovider/"
        status, _, body = lh.ipc_request(core.daemon_port, "GET", path,
                                         headers={"Authorization": token})
        assert status == 200, body
        creds = json.loads(body)
        assert set(creds) == {"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}
        assert creds["AccessKeyId"] in provider.issued
        assert lh.ipc_request(core.daemon_port, "GET", path)[0] == 401
        assert lh.ipc_request(core.daemon_port, "GET", path,
                              headers={"Authorization": "forged-token"})[0] == 403
        # The worker's token dies with the worker: another (later) worker's token works, the old
        # one is refused.
        core.deploy_ok(lh.LambdaGroup().device("Dev"))
        h.wait_until(lambda: not core.status().get("functions"), 10, what="function removed")
        status, _, body = lh.ipc_request(core.daemon_port, "GET", path,
                                         headers={"Authorization": token})
        assert status == 403, body
    finally:
        if dev:
            dev.close()


def test_no_provider_configured_is_a_clear_error(make_core):
    core = lh.lambda_core(make_core)
    dev = None
    try:
        _boto3_group(core)
        dev = h.Paho("Dev", core.plain_port)
        assert dev.subscribe(REPLY) == 0
        env = _call(dev, "tes/in", {"op": "env"})
        status, _, body = lh.ipc_request(
            core.daemon_port, "GET", "/2016-11-01/credentialprovider/",
            headers={"Authorization": env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]})
        assert status == 503 and b"evergreen.tes.credentialsEndpoint" in body, body
        r = _call(dev, "tes/in", {"op": "creds"}, timeout=30)
        assert "error" in r, r
        st = th.tes_status(core)
        assert st["enabled"] is False and st["state"] == "unconfigured" and st["refused"] >= 2
        log = core.log("GGTES")
        assert log.count("token exchange is not configured") == 1, log
        assert core.running()
    finally:
        if dev:
            dev.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="GreengrassContainer needs root")
def test_container_function_reaches_the_credential_provider(make_core, pki, provider):
    provider.start()
    core = th.tes_core(make_core, pki, provider)
    dev = None
    try:
        _boto3_group(core, isolation="GreengrassContainer")
        dev = h.Paho("Dev", core.plain_port)
        assert dev.subscribe(REPLY) == 0
        r = _call(dev, "tes/in", {"op": "creds"}, timeout=30)
        assert r.get("ok") and r["akid"] in provider.issued, r
    finally:
        if dev:
            dev.close()
