"""Function -> function invocation through the SDK (A -> B RequestResponse with Qualifier and
ClientContext, Event), and the IPC port's token checks seen from outside and from a function."""

import json

import pytest

import evg_harness as h
import lambda_helpers as lh


@pytest.fixture
def invoke_core(make_core):
    core = lh.lambda_core(make_core)
    inv = lh.create_function(core, "Invoker", "invoker", "invoker.handler")
    rsp = lh.create_function(core, "Responder", "responder", "responder.handler")
    slp = lh.create_function(core, "Sleeper", "sleeper", "sleeper.handler")
    g = (lh.LambdaGroup().device("Dev")
         .function(inv, timeout=10).function(rsp, pinned=True).function(slp, timeout=5)
         .sub("Dev", "invoker/in", inv).sub(inv, "invoker/result", "Dev")
         .sub(slp, "sleeper/out", "Dev"))
    core.deploy_ok(g)
    dev = h.Paho("Dev", core.plain_port)
    dev.subscribe("invoker/result")
    dev.subscribe("sleeper/out")
    core.dev = dev
    core.arns = {"invoker": inv, "responder": rsp, "sleeper": slp}
    yield core
    dev.close()


def run_op(core, timeout=10, **event):
    core.dev.publish("invoker/in", json.dumps(event))
    return lh.expect_json(core.dev, "invoker/result", timeout=timeout)


def test_request_response_chain_with_qualifier_and_client_context(invoke_core):
    core = invoke_core
    cc = {"custom": {"k": "v", "n": 7}, "client": {"app_title": "tests"}}
    r = run_op(core, op="invoke", target=lh.fn_arn("Responder", None), qualifier="PROD",
               client_context=cc, payload={"x": [1, 2]})
    assert r.get("FunctionError") == "", r
    body = json.loads(r["Payload"])
    assert body["event"] == {"x": [1, 2]}
    assert body["custom"] == {"k": "v", "n": 7}
    assert body["function_version"] == "PROD"
    assert body["invoked_function_arn"] == core.arns["responder"]
    # The same worker answers the next call (pinned), now with the qualifier in the ARN.
    r2 = run_op(core, op="invoke", target=core.arns["responder"], payload="plain string")
    assert r2["FunctionError"] == ""
    body2 = json.loads(r2["Payload"])
    assert body2["event"] == "plain string" and body2["custom"] is None
    assert body2["pid"] == body["pid"]
    s = lh.fn_status(core, core.arns["responder"])
    assert s["accepted"] == 2 and s["succeeded"] == 2


def test_invoke_of_function_not_in_group_fails(invoke_core):
    r = run_op(invoke_core, op="invoke", target=lh.fn_arn("Responder", "1"), payload={})
    assert "error" in r, f"version 1 is not deployed (only the alias is), yet: {r}"
    assert "404" in r["error"], r


def test_event_invoke_returns_at_once(invoke_core):
    core = invoke_core
    r = run_op(core, op="invoke", target=core.arns["sleeper"], type="Event",
               payload={"sleep": 1, "tag": "ev"})
    assert r.get("FunctionError") == "" and r["Payload"] == "", r
    assert r["elapsed_ms"] < 300, f"Event invoke took {r['elapsed_ms']:.0f} ms"
    done = lh.expect_json(core.dev, "sleeper/out", timeout=5)
    assert done["tag"] == "ev"
    assert done["end"] - done["start"] >= 0.99


def test_ipc_port_requires_a_valid_token(invoke_core):
    core = invoke_core
    port = core.status()["ipcPort"]
    assert port == core.daemon_port
    path = "/2016-11-01/functions/" + core.arns["responder"]
    st, _, body = lh.ipc_request(port, "POST", path, body=b"{}")
    assert st == 401, body
    assert b"errorMessage" in body
    st, _, body = lh.ipc_request(port, "POST", path, headers={"Authorization": "made-up-token"},
                                 body=b"{}")
    assert st == 403, body
    st, _, body = lh.ipc_request(port, "GET", path + "/work",
                                 headers={"Authorization": "0" * 64})
    assert st == 403, body
    # Nothing was queued by these requests.
    assert lh.fn_status(core, core.arns["responder"])["accepted"] == 0


def test_health_workers_lists_workers(invoke_core):
    core = invoke_core
    port = core.status()["ipcPort"]
    seen = {}

    def responder_waiting():
        st, _, body = lh.ipc_request(port, "GET", "/2016-11-01/health/workers")
        assert st == 200, body
        seen["workers"] = json.loads(body)
        mine = [w for w in seen["workers"] if w["FuncArn"] == core.arns["responder"]]
        assert len(mine) <= 1, seen
        return mine and mine[0]["WorkerState"] == "Waiting" and mine[0]

    # The pinned worker goes Starting -> Waiting (long poll parked) without any invocation.
    w = h.wait_until(responder_waiting, 5, what=f"Responder Waiting in {seen}")
    assert isinstance(w["ProcessId"], int) and w["ProcessId"] > 1
    assert w["WorkerId"]


def test_function_cannot_pull_another_functions_work(invoke_core):
    core = invoke_core
    # Invoker uses its own (valid) token to ask for Responder's work: refused, nothing taken.
    r = run_op(core, op="raw", method="GET",
               path="/2016-11-01/functions/" + core.arns["responder"] + "/work")
    assert r["status"] == 403, r
    ok = run_op(core, op="invoke", target=core.arns["responder"], payload={"still": "served"})
    assert ok["FunctionError"] == "" and json.loads(ok["Payload"])["event"] == {"still": "served"}
