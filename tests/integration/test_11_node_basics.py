"""Node.js Lambda functions on the real core (runtime/nodejs): event in -> result out, publish via
subscription, pinned state, Handled vs Unhandled errors, timeout, binary encoding, console levels in
the user log, the runtime ids of v1 and SIGTERM. Function-to-function calls are driven through the
Python `invoker` function (lambda.invoke RequestResponse), devices through the plaintext listener."""

import json
import re

import pytest

import evg_harness as h
import lambda_helpers as lh
import node_helpers as nh

pytestmark = pytest.mark.skipif(nh.node_binary() is None, reason="node is not installed")


@pytest.fixture
def node_core(make_core):
    """Invoker (Python, on-demand, Timeout 10) in front of NodeEcho (on-demand), NodeFaulty
    (on-demand, Timeout 1) and NodeSlow (nodejs6.10 id, Timeout 1); device Dev drives Invoker on
    invoker/in and NodeEcho on node/in, and hears invoker/result and node/out."""
    core = lh.lambda_core(make_core)
    inv = lh.create_function(core, "Invoker", "invoker", "invoker.handler")
    echo = nh.create_node_function(core, "NodeEcho", "node_echo")
    fty = nh.create_node_function(core, "NodeFaulty", "node_faulty", runtime="nodejs8.10")
    slow = nh.create_node_function(core, "NodeSlow", "node_faulty", runtime="nodejs6.10")
    g = (lh.LambdaGroup().device("Dev")
         .function(inv, timeout=10).function(echo).function(fty, timeout=3)
         .function(slow, timeout=1)
         .sub("Dev", "invoker/in", inv).sub(inv, "invoker/result", "Dev")
         .sub("Dev", "node/in", echo).sub(echo, "node/out", "Dev"))
    core.deploy_ok(g)
    dev = h.Paho("Dev", core.plain_port)
    dev.subscribe("invoker/result")
    dev.subscribe("node/out")
    core.dev = dev
    core.arns = {"invoker": inv, "echo": echo, "faulty": fty, "slow": slow}
    yield core
    dev.close()


def invoke(core, target, payload, timeout=10, **kw):
    """Has the Python Invoker call lambda.invoke(target, payload) and returns what it saw."""
    core.dev.publish("invoker/in", json.dumps({"op": "invoke", "target": target,
                                               "payload": payload, **kw}))
    return lh.expect_on(core.dev, "invoker/result", timeout=timeout)


def result(msg):
    return json.loads(msg.payload)


def test_event_in_result_out_with_context(node_core):
    core = node_core
    cc = {"custom": {"k": "v"}, "client": {"app_title": "tests"}}
    r = result(invoke(core, core.arns["echo"], {"x": [1, 2]}, client_context=cc))
    assert r.get("FunctionError") == "", r
    body = json.loads(r["Payload"])
    assert body["event"] == {"x": [1, 2]}
    assert body["custom"] == {"k": "v"}, "clientContext.Custom (capital C) carries custom"
    assert body["functionName"] == "NodeEcho"
    assert body["functionVersion"] == "PROD"
    assert body["invokedFunctionArn"] == core.arns["echo"]
    assert re.fullmatch(r"[0-9a-f-]{36}", body["awsRequestId"]), body
    assert body["contextKeys"] == ["awsRequestId", "clientContext", "functionName",
                                   "functionVersion", "invokedFunctionArn"]
    # No SDK bundled: ours from the runtime answered require('aws-greengrass-core-sdk').
    assert body["sdk"].endswith("nodejs/node_modules/aws-greengrass-core-sdk/index.js"), body
    assert int(body["node"].lstrip("v").split(".")[0]) >= 12
    s = lh.wait_fn_status(core, core.arns["echo"], lambda s: s["succeeded"] == 1)
    assert s["handledErrors"] == 0


def test_publish_via_subscription(node_core):
    core = node_core
    core.dev.publish("node/in", json.dumps({"hello": "node"}))
    got = json.loads(lh.expect_on(core.dev, "node/out").payload)
    assert got["event"] == {"hello": "node"}
    assert got["custom"]["subject"] == "node/in", got
    # An empty payload to a JSON function is the event {}.
    core.dev.publish("node/in", b"")
    assert json.loads(lh.expect_on(core.dev, "node/out").payload)["event"] == {}


def test_handled_vs_unhandled_errors(node_core):
    core = node_core
    fty = core.arns["faulty"]
    r = result(invoke(core, fty, {"mode": "fail", "tag": "n1"}))
    assert r["FunctionError"] == "Handled", r
    body = json.loads(r["Payload"])
    assert body["errorMessage"] == "boom from node: n1"
    assert body["errorType"] == "Error" and isinstance(body["stackTrace"], list)
    r = result(invoke(core, fty, {"mode": "throw", "tag": "n2"}))
    assert r["FunctionError"] == "Handled", r
    assert json.loads(r["Payload"])["errorType"] == "TypeError"
    lh.wait_fn_status(core, fty, lambda s: s["handledErrors"] == 2)
    r = result(invoke(core, fty, {"mode": "exit"}))
    assert r["FunctionError"] == "Unhandled", r
    assert r["Payload"]
    lh.wait_fn_status(core, fty, lambda s: s["unhandledErrors"] == 1)
    # A Promise-returning handler is awaited; one that never calls back completes (null) when
    # its event loop drains.
    r = result(invoke(core, fty, {"mode": "async", "tag": "n3"}))
    assert r["FunctionError"] == "" and json.loads(r["Payload"]) == {"tag": "n3", "async": True}
    r = result(invoke(core, fty, {"mode": "drain", "tag": "n4"}))
    assert r["FunctionError"] == "" and r["Payload"] == "null", r


def test_timeout_is_unhandled_and_worker_replaced(node_core):
    core = node_core
    slow = core.arns["slow"]
    r = result(invoke(core, slow, {"mode": "sleep", "ms": 3000, "tag": "slow"}))
    assert r["FunctionError"] == "Unhandled", r
    assert json.loads(r["Payload"]).get("errorType") == "TimeoutError", r
    assert 900 <= r["elapsed_ms"] < 2900, r
    lh.wait_fn_status(core, slow, lambda s: s["timeouts"] == 1)
    r2 = result(invoke(core, slow, {"mode": "sleep", "ms": 0, "tag": "fast"}))
    assert r2["FunctionError"] == "", r2
    assert json.loads(r2["Payload"])["tag"] == "fast"


def test_pinned_function_keeps_state_and_inits_once(make_core):
    core = lh.lambda_core(make_core)
    arn = nh.create_node_function(core, "NodePinned", "node_echo", runtime="nodejs20.x")
    core.deploy_ok(lh.LambdaGroup().device("Dev").function(arn, pinned=True)
                   .sub("Dev", "node/in", arn).sub(arn, "node/out", "Dev"))
    log_path = lh.user_log_path(core, "NodePinned")
    lh.wait_file_contains(log_path, ["node_echo initialised in pid"])
    lh.wait_fn_status(core, arn, lambda s: s["workers"] == 1 and s["pinned"])
    dev = h.Paho("Dev", core.plain_port)
    try:
        dev.subscribe("node/out")
        for i in range(3):
            dev.publish("node/in", json.dumps({"i": i}))
        got = [json.loads(lh.expect_on(dev, "node/out").payload) for _ in range(3)]
        assert [g["count"] for g in got] == [1, 2, 3]
        assert [g["event"]["i"] for g in got] == [0, 1, 2]
        assert len({g["pid"] for g in got}) == 1
        text = open(log_path, errors="replace").read()
        assert text.count("node_echo initialised") == 1, text
        s = lh.wait_fn_status(core, arn, lambda s: s["succeeded"] == 3)
        assert s["restarts"] == 0
        # Removing the function stops its worker with SIGTERM: the runtime says so and exits 0.
        core.deploy_ok(lh.LambdaGroup().device("Dev"))
        lh.wait_file_contains(log_path, ["Caught SIGTERM. Stopping runtime."])
    finally:
        dev.close()


def test_binary_function_gets_raw_bytes(make_core):
    core = lh.lambda_core(make_core)
    arn = nh.create_node_function(core, "NodeBinary", "node_binary")
    core.deploy_ok(lh.LambdaGroup().device("Dev").function(arn, pinned=True, encoding="binary")
                   .sub("Dev", "binary/in", arn).sub(arn, "binary/out", "Dev"))
    dev = h.Paho("Dev", core.plain_port)
    try:
        dev.subscribe("binary/out")
        payloads = [b"\xff\xfe\x00\x80 not utf-8 \xc3\x28", bytes(range(256)), b"{not json"]
        for p in payloads:
            dev.publish("binary/in", p)
        for p in payloads:
            m = dev.expect(timeout=5)
            assert (m.topic, m.payload) == ("binary/out", p)
    finally:
        dev.close()


def test_console_levels_in_user_log(node_core):
    core = node_core
    r = result(invoke(core, core.arns["faulty"], {"mode": "log", "tag": "L7"}))
    assert r["FunctionError"] == "", r
    path = lh.user_log_path(core, "NodeFaulty")
    text = lh.wait_file_contains(path, ["log line from node L7", "warn line from node L7",
                                        "error line from node L7"])
    ts = r"\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[^\]]*\]"
    assert re.search(rf"^{ts}\[INFO\]-log line from node L7$", text, re.M), text
    assert re.search(rf"^{ts}\[WARN\]-warn line from node L7$", text, re.M), text
    assert re.search(rf"^{ts}\[ERROR\]-error line from node L7$", text, re.M), text


def test_client_context_is_base64_json_from_the_sdk(node_core):
    """The raw client context the Python SDK sends reaches Node's clientContext.Custom intact."""
    core = node_core
    cc = {"custom": {"nested": {"a": [1, {"b": None}]}, "unicode": "h\u00e9"}}
    r = result(invoke(core, core.arns["echo"], "just a string", client_context=cc))
    body = json.loads(r["Payload"])
    assert body["event"] == "just a string"
    assert body["custom"] == cc["custom"]
