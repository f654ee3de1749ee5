"""Function errors as the invoking function's SDK sees them (lambda.invoke RequestResponse from
another function): timeout -> Unhandled and the worker is replaced, exception -> Handled,
crash -> Unhandled; a pinned function that crashes is restarted and keeps serving."""

import json

import pytest

import evg_harness as h
import lambda_helpers as lh


@pytest.fixture
def errors_core(make_core):
    """Core with Invoker (on-demand, Timeout 10), Sleeper (Timeout 1), Faulty (on-demand) and
    FaultyPinned; device Dev drives Invoker on invoker/in and FaultyPinned on faulty/in."""
    core = lh.lambda_core(make_core)
    inv = lh.create_function(core, "Invoker", "invoker", "invoker.handler")
    slp = lh.create_function(core, "Sleeper", "sleeper", "sleeper.handler")
    fty = lh.create_function(core, "Faulty", "faulty", "faulty.handler")
    fpn = lh.create_function(core, "FaultyPinned", "faulty", "faulty.handler")
    g = (lh.LambdaGroup().device("Dev")
         .function(inv, timeout=10).function(slp, timeout=1).function(fty)
         .function(fpn, pinned=True)
         .sub("Dev", "invoker/in", inv).sub(inv, "invoker/result", "Dev")
         .sub("Dev", "faulty/in", fpn).sub(fpn, "faulty/out", "Dev"))
    core.deploy_ok(g)
    dev = h.Paho("Dev", core.plain_port)
    dev.subscribe("invoker/result")
    dev.subscribe("faulty/out")
    core.dev = dev
    core.arns = {"invoker": inv, "sleeper": slp, "faulty": fty, "pinned": fpn}
    yield core
    dev.close()


def invoke(core, target, payload, timeout=10, **kw):
    """Has the Invoker function call lambda.invoke(target, payload) and returns what it saw."""
    core.dev.publish("invoker/in", json.dumps({"op": "invoke", "target": target,
                                               "payload": payload, **kw}))
    return lh.expect_json(core.dev, "invoker/result", timeout=timeout)


def test_timeout_is_unhandled_and_worker_replaced(errors_core):
    core = errors_core
    slp = core.arns["sleeper"]
    r = invoke(core, slp, {"sleep": 3, "tag": "slow"})
    assert r.get("FunctionError") == "Unhandled", r
    assert "timed out" in r["Payload"].lower(), r
    assert 900 <= r["elapsed_ms"] < 2900, f"answered after {r['elapsed_ms']:.0f} ms (Timeout 1)"
    assert json.loads(r["Payload"]).get("errorType") == "TimeoutError", r
    s = lh.wait_fn_status(core, slp, lambda s: s["timeouts"] == 1)
    assert s["unhandledErrors"] >= 1
    # The killed worker is replaced: the next invocation works and finishes well inside 1 s.
    r2 = invoke(core, slp, {"sleep": 0, "tag": "fast"})
    assert r2.get("FunctionError") == "", r2
    assert json.loads(r2["Payload"])["tag"] == "fast"
    lh.wait_fn_status(core, slp, lambda s: s["succeeded"] == 1 and s["timeouts"] == 1)


def test_exception_is_handled_with_error_message(errors_core):
    core = errors_core
    r = invoke(core, core.arns["faulty"], {"mode": "raise", "tag": "x1"})
    assert r.get("FunctionError") == "Handled", r
    body = json.loads(r["Payload"])
    assert body["errorMessage"] == "boom from faulty: x1"
    assert body.get("errorType") == "ValueError"
    lh.wait_fn_status(core, core.arns["faulty"], lambda s: s["handledErrors"] == 1)
    # The same worker serves again (an exception does not kill it).
    ok = invoke(core, core.arns["faulty"], {"mode": "ok", "tag": "x2"})
    assert ok["FunctionError"] == "" and json.loads(ok["Payload"])["tag"] == "x2"


def test_crash_is_unhandled(errors_core):
    core = errors_core
    r = invoke(core, core.arns["faulty"], {"mode": "exit"})
    assert r.get("FunctionError") == "Unhandled", r
    assert r["Payload"], "an Unhandled error should say what happened"
    lh.wait_fn_status(core, core.arns["faulty"], lambda s: s["unhandledErrors"] == 1)
    ok = invoke(core, core.arns["faulty"], {"mode": "ok", "tag": "after-crash"})
    assert ok["FunctionError"] == "", ok


def test_pinned_crash_restarts_and_keeps_serving(errors_core):
    core, dev, arn = errors_core, errors_core.dev, errors_core.arns["pinned"]
    dev.publish("faulty/in", json.dumps({"mode": "ok", "tag": "before"}))
    before = lh.expect_json(dev, "faulty/out")
    assert before["tag"] == "before"
    # The crash and the next message are sent back to back: queued work survives the crash and
    # is served by the restarted worker (after the restart backoff).
    dev.publish("faulty/in", json.dumps({"mode": "exit"}))
    dev.publish("faulty/in", json.dumps({"mode": "ok", "tag": "after"}))
    after = lh.expect_json(dev, "faulty/out", timeout=8)
    assert after["tag"] == "after"
    assert after["pid"] != before["pid"], "the pinned worker was not restarted"
    # The worker publishes before it posts its result: wait for the result to be counted too.
    s = lh.wait_fn_status(core, arn, lambda s: s["restarts"] >= 1 and s["workers"] == 1
                          and s["succeeded"] == 2)
    assert s["crashLoop"] is False
