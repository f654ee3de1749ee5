"""Java functions on the real core (issue 4, Java): the test functions under functions_java are
compiled with javac into a v1 deployment zip (classes at the root, lib/greeter.jar) and run by
runtime/java's LambdaRuntime. Devices drive them over MQTT; the Python Invoker function calls
them RequestResponse through the genuine-shaped SDK to see results and errors."""

import json
import re

import pytest

import evg_harness as h
import java_helpers as jh
import lambda_helpers as lh


@pytest.fixture
def jcore(make_core):
    """Core with Invoker (Python, Timeout 10), JavaEcho, JavaFaulty (Timeout 2), JavaCounter
    (pinned), JavaBinary (binary), JavaOverloads and JavaTie; device Dev."""
    core = lh.lambda_core(make_core)
    arns = {
        "invoker": lh.create_function(core, "Invoker", "invoker", "invoker.handler"),
        "echo": jh.create_java_function(core, "JavaEcho", "com.example.Echo::handle"),
        "faulty": jh.create_java_function(core, "JavaFaulty", "com.example.Faulty::handle"),
        "counter": jh.create_java_function(core, "JavaCounter", "com.example.Counter::handle"),
        "binary": jh.create_java_function(core, "JavaBinary", "com.example.Binary::handle"),
        "over": jh.create_java_function(core, "JavaOverloads", "com.example.Overloads::handle"),
        "tie": jh.create_java_function(core, "JavaTie", "com.example.Overloads::tie"),
    }
    g = (lh.LambdaGroup().device("Dev")
         .function(arns["invoker"], timeout=10)
         .function(arns["echo"], timeout=5)
         .function(arns["faulty"], timeout=2)
         .function(arns["counter"], pinned=True, timeout=5)
         .function(arns["binary"], encoding="binary", timeout=5)
         .function(arns["over"], timeout=5).function(arns["tie"], timeout=5)
         .sub("Dev", "invoker/in", arns["invoker"]).sub(arns["invoker"], "invoker/result", "Dev")
         .sub("Dev", "java/in", arns["echo"]).sub(arns["echo"], "java/out", "Dev")
         .sub("Dev", "jcounter/in", arns["counter"]).sub(arns["counter"], "jcounter/out", "Dev")
         .sub("Dev", "jbin/in", arns["binary"]).sub(arns["binary"], "jbin/out", "Dev"))
    core.deploy_ok(g)
    dev = h.Paho("Dev", core.plain_port)
    for t in ("invoker/result", "java/out", "jcounter/out", "jbin/out"):
        dev.subscribe(t)
    core.dev = dev
    core.arns = arns
    yield core
    dev.close()


def invoke(core, target, payload, timeout=15, **kw):
    """Invoker calls lambda.invoke(target, RequestResponse) and reports what it saw."""
    ev = {"op": "invoke", "target": target, "payload": payload, **kw}
    core.dev.publish("invoker/in", json.dumps(ev))
    return json.loads(lh.expect_on(core.dev, "invoker/result", timeout=timeout).payload)


def test_event_in_result_out_publish_and_logs(jcore):
    core = jcore
    # Device -> subscription -> Java -> our javasdk publish -> device (cold start included).
    core.dev.publish("java/in", json.dumps({"name": "mqtt"}))
    m = lh.expect_on(core.dev, "java/out", timeout=20)
    out = json.loads(m.payload)
    assert out["event"] == {"name": "mqtt"}
    assert out["greeting"] == "hello mqtt"  # com.example.lib.Greeter from lib/greeter.jar
    assert out["subject"] == "java/in"
    assert out["functionName"] == "JavaEcho" and out["functionVersion"] == "PROD"
    assert out["arn"] == core.arns["echo"]
    assert 0 < out["remaining"] <= 5000
    # RequestResponse from another function: the handler's return value is the payload.
    r = invoke(core, core.arns["echo"], {"name": "rr", "publish": False})
    assert r["FunctionError"] == "", r
    body = json.loads(r["Payload"])
    assert body["event"] == {"name": "rr", "publish": False} and body["subject"] is None
    assert re.fullmatch(r"[0-9a-f-]{8,}", body["requestId"]), body
    # System.out -> INFO, System.err -> ERROR, context.getLogger() -> INFO, in v1's format.
    text = lh.wait_file_contains(lh.user_log_path(core, "JavaEcho"), [
        "stdout line from Echo mqtt", "stderr line from Echo rr", "logger line from Echo rr"],
        timeout=10)
    assert re.search(r"\]\[INFO\]-stdout line from Echo mqtt", text), text
    assert re.search(r"\]\[ERROR\]-stderr line from Echo mqtt", text), text
    assert re.search(r"\]\[INFO\]-logger line from Echo rr", text), text
    lh.wait_fn_status(core, core.arns["echo"], lambda s: s["succeeded"] == 2)


def test_handled_error_timeout_and_crash(jcore):
    core = jcore
    fty = core.arns["faulty"]
    r = invoke(core, fty, {"mode": "ok", "tag": "t0"})
    assert r["FunctionError"] == "" and json.loads(r["Payload"]) == "ok t0", r
    r = invoke(core, fty, {"mode": "throw", "tag": "t1"})
    assert r["FunctionError"] == "Handled", r
    err = json.loads(r["Payload"])
    assert err["errorMessage"] == "bad thing t1"
    assert err["errorType"] == "java.lang.IllegalStateException"
    assert any("com.example.Faulty.handle" in f for f in err["stackTrace"]), err
    # Timeout 2 s: Unhandled, the worker is killed and replaced.
    r = invoke(core, fty, {"mode": "sleep", "ms": 6000})
    assert r["FunctionError"] == "Unhandled", r
    assert "timed out" in r["Payload"].lower()
    assert 1900 <= r["elapsed_ms"] < 5000, r
    r = invoke(core, fty, {"mode": "ok", "tag": "after-timeout"})
    assert r["FunctionError"] == "" and json.loads(r["Payload"]) == "ok after-timeout", r
    # System.exit(7) inside the handler: Unhandled with the exit status.
    r = invoke(core, fty, {"mode": "exit"})
    assert r["FunctionError"] == "Unhandled", r
    assert "7" in r["Payload"], r
    s = lh.wait_fn_status(core, fty, lambda s: s["timeouts"] == 1 and s["handledErrors"] >= 1)
    assert s["unhandledErrors"] >= 2, s
    text = open(lh.user_log_path(core, "JavaFaulty"), errors="replace").read()
    assert "[ERROR]-Function JavaFaulty threw java.lang.IllegalStateException: bad thing t1" in text


def test_pinned_function_keeps_state(jcore):
    core = jcore
    arn = core.arns["counter"]
    log_path = lh.user_log_path(core, "JavaCounter")
    # Pinned: started at deployment; static initialiser runs once, before any invocation.
    lh.wait_file_contains(log_path, ["java counter initialised in pid"], timeout=15)
    lh.wait_fn_status(core, arn, lambda s: s["workers"] == 1 and s["pinned"], timeout=10)
    for i in range(3):
        core.dev.publish("jcounter/in", json.dumps({"i": i}))
    got = [json.loads(lh.expect_on(core.dev, "jcounter/out", timeout=10).payload) for _ in range(3)]
    assert [g["count"] for g in got] == [1, 2, 3]
    assert [g["i"] for g in got] == [0, 1, 2]
    assert len({g["pid"] for g in got}) == 1
    assert open(log_path, errors="replace").read().count("java counter initialised") == 1
    s = lh.wait_fn_status(core, arn, lambda s: s["succeeded"] == 3)
    assert s["restarts"] == 0


def test_binary_stream_handler(jcore):
    core = jcore
    data = bytes(range(256)) + b"\x00\xff not utf-8 \xc3"
    core.dev.publish("jbin/in", data)
    m = lh.expect_on(core.dev, "jbin/out", timeout=20)
    assert m.payload == data
    # RequestResponse: the OutputStream's bytes are the answer (3-parameter overload chosen).
    r = invoke(core, core.arns["binary"], {"k": "v"})
    assert r["FunctionError"] == "", r
    assert r["Payload"] == json.dumps({"k": "v"})[::-1]
    lh.expect_on(core.dev, "jbin/out")


def test_overload_resolution(jcore):
    core = jcore
    r = invoke(core, core.arns["over"], {"k": "v"})
    assert r["FunctionError"] == "" and json.loads(r["Payload"]) == "2 params v", r
    r = invoke(core, core.arns["tie"], {"k": "v"})
    assert r["FunctionError"] == "" and json.loads(r["Payload"]) == "tie: Context JavaTie", r


def test_unloadable_handler_is_reported(make_core):
    core = lh.lambda_core(make_core)
    arn = jh.create_java_function(core, "JavaMissing", "com.example.NoSuchClass::handle")
    core.deploy_ok(lh.LambdaGroup().function(arn, pinned=True))
    text = lh.wait_file_contains(lh.user_log_path(core, "JavaMissing"), [
        "class com.example.NoSuchClass not found"], timeout=15)
    assert "[ERROR]-" in text
    lh.wait_fn_status(core, arn, lambda s: s["restarts"] >= 1, timeout=10)
