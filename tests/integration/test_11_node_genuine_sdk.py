"""The GENUINE npm package aws-greengrass-core-sdk@1.7.0, bundled in a function's node_modules
(installed from the npm registry at test time), on the real core: publish, invoke (Event returns
the invocation id; RequestResponse {FunctionError, StatusCode, Payload}) and the secrets error
path. The SDK finds aws-greengrass-common-js / aws-greengrass-ipc-sdk-js through NODE_PATH."""

import json
import os
import re

import pytest

import evg_harness as h
import lambda_helpers as lh
import node_helpers as nh

pytestmark = pytest.mark.skipif(nh.node_binary() is None, reason="node is not installed")


@pytest.fixture(scope="module")
def genuine_dir(tmp_path_factory):
    """tests/integration/functions/node_genuine plus the genuine SDK from npm (once per module)."""
    base = tmp_path_factory.mktemp("node-genuine")
    return nh.install_genuine_sdk("node_genuine", str(base / "fn"))


@pytest.fixture
def genuine_core(make_core, genuine_dir):
    """Genuine (bundles the npm SDK, on-demand, Timeout 10) driving NodeEcho, NodeFaulty and the
    Python Responder; device Dev drives Genuine on genuine/in, hears genuine/result and pub/out."""
    core = lh.lambda_core(make_core)
    gen = nh.create_node_function(core, "Genuine", genuine_dir)
    echo = nh.create_node_function(core, "NodeEcho", "node_echo")
    fty = nh.create_node_function(core, "NodeFaulty", "node_faulty")
    rsp = lh.create_function(core, "Responder", "responder", "responder.handler")
    g = (lh.LambdaGroup().device("Dev")
         .function(gen, timeout=10).function(echo, pinned=True).function(fty).function(rsp)
         .sub("Dev", "genuine/in", gen).sub(gen, "genuine/result", "Dev")
         .sub(gen, "pub/out", "Dev").sub(echo, "echo/out", "Dev"))
    core.deploy_ok(g)
    dev = h.Paho("Dev", core.plain_port)
    for t in ("genuine/result", "pub/out", "echo/out"):
        dev.subscribe(t)
    core.dev = dev
    core.arns = {"genuine": gen, "echo": echo, "faulty": fty, "responder": rsp}
    yield core
    dev.close()


def op(core, timeout=10, **event):
    core.dev.publish("genuine/in", json.dumps(event))
    return json.loads(lh.expect_on(core.dev, "genuine/result", timeout=timeout).payload)


UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def test_the_bundled_genuine_sdk_is_the_one_loaded(genuine_core):
    r = op(genuine_core, op="whoami")
    # The function store copied the code (with its node_modules) into the core's root.
    r["sdk"] = lh.store_path(genuine_core, r["sdk"])
    assert r["sdk"].startswith(genuine_core.root), r
    assert r["sdk"].endswith("/node_modules/aws-greengrass-core-sdk/index.js"), r
    assert r["version"] == "1.5"
    with open(os.path.join(os.path.dirname(r["sdk"]), "package.json")) as f:
        assert json.load(f)["version"] == "1.7.0", "not the genuine npm package"


def test_genuine_publish(genuine_core):
    core = genuine_core
    r = op(core, op="publish", topic="pub/out", payload=json.dumps({"from": "genuine"}))
    assert r["err"] is None, r
    assert re.fullmatch(UUID, r["data"]), f"publish calls back with the invocation id: {r}"
    m = lh.expect_on(core.dev, "pub/out")
    assert json.loads(m.payload) == {"from": "genuine"}
    r = op(core, op="publish", topic="pub/out", payload="best effort", policy="BestEffort")
    assert r["err"] is None, r
    assert lh.expect_on(core.dev, "pub/out").payload == b"best effort"
    # The genuine SDK logs each publish with console.log: INFO in the user log.
    lh.wait_file_contains(lh.user_log_path(core, "Genuine"),
                          ['[INFO]-Publishing message on topic "pub/out"'])


def test_genuine_invoke_request_response(genuine_core):
    core = genuine_core
    r = op(core, op="invoke", target=lh.fn_arn("NodeEcho", None), qualifier="PROD",
           payload={"n": 1}, clientContext={"custom": {"via": "genuine"}})
    assert r["err"] is None, r
    d = r["data"]
    assert set(d) == {"FunctionError", "StatusCode", "Payload"}, d
    assert d["FunctionError"] == "" and d["StatusCode"] == 200, d
    body = json.loads(d["Payload"])
    assert body["event"] == {"n": 1}
    assert body["custom"] == {"via": "genuine"}
    assert body["functionVersion"] == "PROD"
    # Node -> Python works the same way.
    r = op(core, op="invoke", target=core.arns["responder"], payload={"to": "python"})
    assert r["data"]["FunctionError"] == "" and r["data"]["StatusCode"] == 200
    assert json.loads(r["data"]["Payload"])["event"] == {"to": "python"}


def test_genuine_invoke_errors(genuine_core):
    core = genuine_core
    r = op(core, op="invoke", target=core.arns["faulty"], payload={"mode": "fail", "tag": "g1"})
    assert r["err"] is None, r
    assert r["data"]["FunctionError"] == "Handled", r
    assert json.loads(r["data"]["Payload"])["errorMessage"] == "boom from node: g1"
    r = op(core, op="invoke", target=core.arns["faulty"], payload={"mode": "exit"})
    assert r["data"]["FunctionError"] == "Unhandled", r
    # Validation in the genuine SDK: a plain name is not an ARN.
    r = op(core, op="invoke", target="NodeEcho", payload={})
    assert r["err"] and "FunctionName is malformed" in r["err"], r
    # Not in the group: the core refuses the E1 and the SDK hands the error to the callback.
    r = op(core, op="invoke", target=lh.fn_arn("NodeEcho", "1"), payload={})
    assert r["err"] and "404" in r["err"], r


def test_genuine_invoke_event_returns_the_invocation_id(genuine_core):
    core = genuine_core
    r = op(core, op="invoke", target=core.arns["echo"], type="Event",
           payload={"publish": True, "reply": "echo/out", "tag": "ev"})
    assert r["err"] is None, r
    assert isinstance(r["data"], str) and re.fullmatch(UUID, r["data"]), r
    got = json.loads(lh.expect_on(core.dev, "echo/out").payload)
    assert got["event"]["tag"] == "ev"
    assert got["awsRequestId"] == r["data"], "the id the SDK returned is the invocation's id"


def test_genuine_secrets_error_path(genuine_core):
    r = op(genuine_core, op="secret", secretId="no-such-secret")
    assert r["data"] is None, r
    # The genuine SDK reports a non-secret answer as Error(JSON.stringify(payload)).
    err = json.loads(r["err"])
    doc = json.loads(err)
    assert doc["Status"] == 404, doc
    assert doc["Message"].startswith("Secret not found: no-such-secret"), doc
