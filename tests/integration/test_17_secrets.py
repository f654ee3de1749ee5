"""Secrets on the real core: `evergreen secrets put` + greengrasssdk secretsmanager
get_secret_value inside functions — allowed vs not-referenced function, string and binary,
stage selection, unknown secret, no plaintext at rest, restart keeps secrets."""

import base64
import os

import evg_harness as h
import lambda_helpers as lh
import shadow_helpers as sh


def _setup(make_core):
    core = lh.lambda_core(make_core)
    sh.secrets_put(core, sh.SECRET_ARN, "--string", "old-PLAIN-value")
    sh.secrets_put(core, sh.SECRET_ARN, "--string", "current-PLAIN-value")
    sh.secrets_put(core, sh.SECRET_ARN, "--string", "beta-PLAIN-value", "--stage", "beta")
    blob = os.path.join(core.root, "blob.bin")
    with open(blob, "wb") as f:
        f.write(b"\x00\x01PLAIN\xff")
    sh.secrets_put(core, sh.SECRET_BIN_ARN, "--file", blob, "--binary")
    os.unlink(blob)
    a = sh.probe_function(core, "SecretReader")
    b = sh.probe_function(core, "Stranger")
    g = (sh.ServiceGroup().device("Dev").function(a).function(b)
         .secret("res-db", sh.SECRET_ARN, stages=["beta", "AWSPREVIOUS"])
         .secret("res-blob", sh.SECRET_BIN_ARN)
         .grant(a, "res-db").grant(a, "res-blob")
         .sub("Dev", "a/in", a).sub("Dev", "b/in", b)
         .sub(a, "probe/out", "Dev").sub(b, "probe/out", "Dev"))
    core.deploy_ok(g)
    return core


def test_secrets_access_shapes_and_stages(make_core):
    core = _setup(make_core)
    dev = h.Paho("Dev", core.plain_port)
    try:
        assert dev.subscribe("probe/out") == 0
        r = sh.probe_call(dev, "a/in", {"op": "secret", "id": sh.SECRET_ARN})
        assert "error" not in r, r
        res = r["result"]
        assert set(res) == {"ARN", "Name", "VersionId", "SecretString", "VersionStages",
                            "CreatedDate"}
        assert res["SecretString"] == "current-PLAIN-value"
        assert res["Name"] == "db-pass" and res["ARN"] == sh.SECRET_ARN
        assert res["VersionStages"] == ["AWSCURRENT"]
        # by name, and stage selection
        r = sh.probe_call(dev, "a/in", {"op": "secret", "id": "db-pass", "stage": "AWSPREVIOUS"})
        assert r["result"]["SecretString"] == "old-PLAIN-value", r
        r = sh.probe_call(dev, "a/in", {"op": "secret", "id": "db-pass", "stage": "beta"})
        assert r["result"]["SecretString"] == "beta-PLAIN-value", r
        r = sh.probe_call(dev, "a/in", {"op": "secret", "id": "db-pass", "stage": "gamma"})
        assert "error" in r and "404" in r["error"], r
        # binary
        r = sh.probe_call(dev, "a/in", {"op": "secret", "id": sh.SECRET_BIN_ARN})
        assert base64.b64decode(r["result"]["SecretBinary"]) == b"\x00\x01PLAIN\xff", r
        assert "SecretString" not in r["result"]
        # not referenced by the caller's ResourceAccessPolicies
        r = sh.probe_call(dev, "b/in", {"op": "secret", "id": sh.SECRET_ARN})
        assert "error" in r and "401" in r["error"], r
        # unknown
        r = sh.probe_call(dev, "a/in", {"op": "secret", "id": "no-such-secret"})
        assert "error" in r and "404" in r["error"], r
        st = core.status()["secrets"]
        assert st["refused"] == 1 and st["served"] >= 4
    finally:
        dev.close()


def test_store_has_no_plaintext_and_restart_keeps_secrets(make_core):
    core = _setup(make_core)
    store = os.path.join(core.root, "var", "secrets", "secrets.json")
    data = open(store, "rb").read()
    assert b"PLAIN" not in data and b"current" not in data
    assert os.stat(store).st_mode & 0o077 == 0
    key = os.path.join(core.root, "certs", "secrets.key")
    assert os.stat(key).st_mode & 0o077 == 0
    # never logged either
    assert "PLAIN" not in core.all_logs()
    rc, _ = core.stop()
    assert rc == 0
    core.start()
    # a value put while the core runs is served without a redeploy
    sh.secrets_put(core, sh.SECRET_ARN, "--string", "rotated-value")
    dev = h.Paho("Dev", core.plain_port)
    try:
        assert dev.subscribe("probe/out") == 0
        r = sh.probe_call(dev, "a/in", {"op": "secret", "id": "db-pass", "stage": "AWSPREVIOUS"})
        assert r["result"]["SecretString"] == "current-PLAIN-value", r
        r = sh.probe_call(dev, "a/in", {"op": "secret", "id": "db-pass"})
        assert r["result"]["SecretString"] == "rotated-value", r
    finally:
        dev.close()


def test_secrets_cli_errors(make_core):
    core = make_core()
    core.write_config()
    r = sh.secrets_put(core, "not-an-arn", "--string", "x", check=False)
    assert r.returncode == 2 and "Secrets Manager ARN" in r.stderr
    r = h.run_cli("secrets", "put", "--root", core.root, "--arn", sh.SECRET_ARN)
    assert r.returncode == 2 and "--string" in r.stderr
    r = sh.secrets_put(core, sh.SECRET_ARN, "--string", "S3cretValue")
    assert "S3cretValue" not in r.stdout + r.stderr
    r = h.run_cli("secrets", "list", "--root", core.root)
    assert r.returncode == 0 and sh.SECRET_ARN in r.stdout
