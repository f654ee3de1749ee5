"""C Lambda executables end to end: a function built with plain `cc` from the installed
greengrasssdk.h + libaws-greengrass-core-sdk-c.so (tests/integration/functions/c_lambda/c_lambda.c)
runs with runtime arn:aws:greengrass:::runtime/function/executable: event in -> result out,
publish via subscriptions, write_error -> Handled, crash -> Unhandled, timeout, pinned state,
binary payloads, C -> C invoke, gg_log into the user log, GG_RT_OPT_ASYNC, SIGTERM ->
GGE_TERMINATE."""

import json

import pytest

import c_helpers as ch
import evg_harness as h
import lambda_helpers as lh


@pytest.fixture(scope="module")
def c_build(tmp_path_factory):
    prefix = ch.install_prefix(tmp_path_factory)
    code = ch.build_function(prefix, str(tmp_path_factory.mktemp("c_lambda_code")))
    return {"prefix": prefix, "code": code}


@pytest.fixture
def c_core(make_core, c_build):
    """CEcho (on-demand), CPinned (pinned), CSleeper (Timeout 1), CAsync (GG_RT_OPT_ASYNC), all
    binary; the Python Invoker drives RequestResponse invokes. Dev: c/in -> CEcho,
    cp/in -> CPinned, both reply on c/out."""
    core = lh.lambda_core(make_core)
    echo = ch.create_c_function(core, "CEcho", c_build["code"])
    pinned = ch.create_c_function(core, "CPinned", c_build["code"])
    sleeper = ch.create_c_function(core, "CSleeper", c_build["code"])
    asyn = ch.create_c_function(core, "CAsync", c_build["code"])
    inv = lh.create_function(core, "Invoker", "invoker", "invoker.handler")
    g = (lh.LambdaGroup().device("Dev")
         .function(echo, encoding="binary")
         .function(pinned, pinned=True, encoding="binary")
         .function(sleeper, timeout=1, encoding="binary")
         .function(asyn, encoding="binary", env={"C_LAMBDA_ASYNC": "1"})
         .function(inv, timeout=10)
         .sub("Dev", "c/in", echo).sub("Dev", "cp/in", pinned)
         .sub(echo, "c/out", "Dev").sub(pinned, "c/out", "Dev")
         .sub("Dev", "invoker/in", inv).sub(inv, "invoker/result", "Dev"))
    core.deploy_ok(g)
    dev = h.Paho("Dev", core.plain_port)
    dev.subscribe("c/out")
    dev.subscribe("invoker/result")
    core.dev = dev
    core.arns = {"echo": echo, "pinned": pinned, "sleeper": sleeper, "async": asyn, "inv": inv}
    yield core
    dev.close()


def invoke(core, target, command, timeout=10):
    """The Python Invoker calls lambda.invoke(target, json.dumps(command)) RequestResponse."""
    core.dev.publish("invoker/in", json.dumps({"op": "invoke", "target": target,
                                               "payload": command}))
    m = lh.expect_on(core.dev, "invoker/result", timeout=timeout)
    return json.loads(m.payload)


def c_out(core, timeout=5):
    return lh.expect_on(core.dev, "c/out", timeout=timeout).payload


def test_c_event_in_result_out(c_core):
    r = invoke(c_core, c_core.arns["echo"], "echo hello from python")
    assert r["FunctionError"] == "", r
    assert r["Payload"] == "c-echo:hello from python"
    # The handler's context carries the invoked ARN.
    r = invoke(c_core, c_core.arns["echo"], "arn")
    assert r["Payload"] == c_core.arns["echo"], r
    lh.wait_fn_status(c_core, c_core.arns["echo"], lambda s: s["succeeded"] >= 2)


def test_c_subscription_context_and_publish(c_core):
    dev = c_core.dev
    dev.publish("c/in", "context")
    ctx = json.loads(c_out(c_core))
    assert ctx["custom"]["subject"] == "c/in", ctx
    dev.publish("c/in", "publish c/out hi-from-c")
    assert c_out(c_core) == b"hi-from-c"
    assert c_out(c_core) == b"published:0:0"  # gg_publish: GGE_SUCCESS, GG_REQUEST_SUCCESS
    dev.publish("c/in", "aoe c/out all-or-error")
    assert c_out(c_core) == b"all-or-error"
    assert c_out(c_core) == b"published:0:0"


def test_c_write_error_is_handled(c_core):
    r = invoke(c_core, c_core.arns["echo"], "error something bad happened")
    assert r["FunctionError"] == "Handled", r
    assert json.loads(r["Payload"])["errorMessage"] == "something bad happened"
    lh.wait_fn_status(c_core, c_core.arns["echo"], lambda s: s["handledErrors"] == 1)
    ok = invoke(c_core, c_core.arns["echo"], "echo still-alive")
    assert ok["FunctionError"] == "" and ok["Payload"] == "c-echo:still-alive"


def test_c_crash_is_unhandled(c_core):
    r = invoke(c_core, c_core.arns["echo"], "crash")
    assert r["FunctionError"] == "Unhandled", r
    assert r["Payload"], "an Unhandled error should say what happened"
    lh.wait_fn_status(c_core, c_core.arns["echo"], lambda s: s["unhandledErrors"] == 1)
    ok = invoke(c_core, c_core.arns["echo"], "echo after-crash")
    assert ok["Payload"] == "c-echo:after-crash", ok


def test_c_timeout_is_unhandled_and_replaced(c_core):
    r = invoke(c_core, c_core.arns["sleeper"], "sleep 3")
    assert r["FunctionError"] == "Unhandled", r
    assert "timed out" in r["Payload"].lower(), r
    assert 900 <= r["elapsed_ms"] < 2900, r
    lh.wait_fn_status(c_core, c_core.arns["sleeper"], lambda s: s["timeouts"] == 1)
    ok = invoke(c_core, c_core.arns["sleeper"], "echo fast")
    assert ok["FunctionError"] == "" and ok["Payload"] == "c-echo:fast", ok


def test_c_pinned_keeps_state(c_core):
    c_core.dev.publish("cp/in", "count")
    first = c_out(c_core).decode()
    c_core.dev.publish("cp/in", "count")
    second = c_out(c_core).decode()
    assert first.startswith("count=1 pid="), first
    assert second == first.replace("count=1", "count=2"), (first, second)


def test_c_binary_payload(c_core):
    c_core.dev.publish("c/in", b"binary")
    assert c_out(c_core) == bytes(range(256))


def test_c_invokes_c_request_response(c_core):
    pinned = c_core.arns["pinned"]
    r = invoke(c_core, c_core.arns["echo"], f"invoke {pinned} echo nested")
    # gg_invoke: GGE_SUCCESS (0), GG_REQUEST_SUCCESS (0), the body read until 0.
    assert r["Payload"] == "invoke:0:0:c-echo:nested", r
    r = invoke(c_core, c_core.arns["echo"], f"invoke {pinned} error inner-failure")
    assert r["Payload"].startswith("invoke:0:1:"), r  # GG_REQUEST_HANDLED
    assert json.loads(r["Payload"][len("invoke:0:1:"):])["errorMessage"] == "inner-failure"
    r = invoke(c_core, c_core.arns["echo"], f"invoke {c_core.arns['sleeper']} crash")
    assert r["Payload"].startswith("invoke:0:2:"), r  # GG_REQUEST_UNHANDLED


def test_c_async_runtime(c_core):
    r = invoke(c_core, c_core.arns["async"], "echo async-ok")
    assert r["Payload"] == "c-echo:async-ok", r


def test_c_logs_and_sigterm(c_core):
    r = invoke(c_core, c_core.arns["echo"], "log hello-from-gg_log")
    assert r["Payload"] == "logged", r
    lh.wait_file_contains(lh.user_log_path(c_core, "CEcho"),
                          ["[INFO]-c_lambda starting", "[INFO]-hello-from-gg_log"])
    # The pinned worker runs gg_runtime_start blocking; SIGTERM makes it return GGE_TERMINATE (5).
    c_core.dev.publish("cp/in", "count")
    c_out(c_core)
    c_core.stop()
    lh.wait_file_contains(lh.user_log_path(c_core, "CPinned"), ["[INFO]-runtime returned 5"])
