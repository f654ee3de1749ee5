"""Python Lambda functions on the real core, driven by MQTT devices on the plaintext listener:
the v1 seed example, pinned state, on-demand parallelism, binary encoding, user logs."""

import json
import os
import re
import subprocess
import time

import evg_harness as h
import lambda_helpers as lh


def test_seed_example_end_to_end(make_core):
    """examples/example-group as shipped: prepare.sh puts the unmodified seed function into the
    store (zip -> version 1 -> alias PROD) and deploys group.json; a device stands in for the
    cloud console and sees the function's answer."""
    core = lh.lambda_core(make_core)
    r = subprocess.run(["bash", os.path.join(lh.EXAMPLE_DIR, "prepare.sh"), h.evergreen_binary(),
                        core.root], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"prepare.sh failed ({r.returncode}): {r.stdout}{r.stderr}"
    dashboard = h.Paho("Dashboard", core.plain_port)
    sensor = h.Paho("Sensor", core.plain_port)
    try:
        assert dashboard.subscribe("test/topic_results") == 0
        sensor.publish("test/input_message", json.dumps({"test-key": "Some string value"}))
        m = dashboard.expect(timeout=10)
        assert m.topic == "test/topic_results"
        assert m.payload == (b'Invoked on topic "test/input_message" with message '
                             b'"Some string value"')
        seed = lh.fn_status(core, lh.fn_arn("SeedExample"))
        assert seed["accepted"] == 1 and seed["pinned"] is False
        lh.wait_fn_status(core, lh.fn_arn("SeedExample"), lambda s: s["succeeded"] == 1)
        # logging.info(response) of the handler, in v1's user log format.
        lh.wait_file_contains(lh.user_log_path(core, "SeedExample"), [
            '[INFO]-lambda_function.py:',
            ',Invoked on topic "test/input_message" with message "Some string value"'])
    finally:
        sensor.close()
        dashboard.close()


def test_pinned_function_keeps_state_and_inits_once(make_core):
    core = lh.lambda_core(make_core)
    arn = lh.create_function(core, "Counter", "counter", "counter.handler")
    core.deploy_ok(lh.LambdaGroup().device("Dev").function(arn, pinned=True)
                   .sub("Dev", "counter/in", arn).sub(arn, "counter/out", "Dev"))
    # Pinned: the worker starts at deployment, before any invocation; its module code runs then.
    log_path = lh.user_log_path(core, "Counter")
    lh.wait_file_contains(log_path, ["counter module initialised in pid"])
    lh.wait_fn_status(core, arn, lambda s: s["workers"] == 1 and s["pinned"])
    dev = h.Paho("Dev", core.plain_port)
    try:
        dev.subscribe("counter/out")
        for i in range(3):
            dev.publish("counter/in", json.dumps({"i": i}))
        got = [lh.expect_json(dev, "counter/out") for _ in range(3)]
        assert [g["count"] for g in got] == [1, 2, 3]
        assert [g["event"]["i"] for g in got] == [0, 1, 2]
        assert len({g["pid"] for g in got}) == 1
        text = open(log_path, errors="replace").read()
        assert text.count("counter module initialised") == 1, text
        assert f"counter module initialised in pid {got[0]['pid']}" in text
        s = lh.wait_fn_status(core, arn, lambda s: s["succeeded"] == 3)
        assert s["restarts"] == 0 and s["workers"] == 1
    finally:
        dev.close()


def test_on_demand_invocations_run_in_parallel(make_core):
    core = lh.lambda_core(make_core)
    arn = lh.create_function(core, "Sleeper", "sleeper", "sleeper.handler")
    core.deploy_ok(lh.LambdaGroup().device("Dev").function(arn, pinned=False, timeout=5)
                   .sub("Dev", "sleeper/in", arn).sub(arn, "sleeper/out", "Dev"))
    dev = h.Paho("Dev", core.plain_port)
    try:
        dev.subscribe("sleeper/out")
        n = 4
        t0 = time.monotonic()
        for i in range(n):
            dev.publish("sleeper/in", json.dumps({"sleep": 1, "tag": i}))
        got = [lh.expect_json(dev, "sleeper/out", timeout=5) for _ in range(n)]
        took = time.monotonic() - t0
        assert sorted(g["tag"] for g in got) == list(range(n))
        assert took < 2.5, f"{n} one-second invocations took {took:.2f}s (serialised?)"
        assert len({g["pid"] for g in got}) == n, f"expected {n} workers: {got}"
        s = lh.wait_fn_status(core, arn, lambda s: s["succeeded"] == n)
        assert s["accepted"] == n and s["dropped"] == 0
    finally:
        dev.close()


def test_binary_function_gets_raw_bytes(make_core):
    core = lh.lambda_core(make_core)
    arn = lh.create_function(core, "BinaryEcho", "binary_echo", "binary_echo.handler")
    core.deploy_ok(lh.LambdaGroup().device("Dev").function(arn, pinned=True, encoding="binary")
                   .sub("Dev", "binary/in", arn).sub(arn, "binary/out", "Dev"))
    dev = h.Paho("Dev", core.plain_port)
    try:
        dev.subscribe("binary/out")
        payloads = [b"\xff\xfe\x00\x80 not utf-8 \xc3\x28", bytes(range(256)), b"", b"{not json"]
        for p in payloads:
            dev.publish("binary/in", p)
        for p in payloads:
            m = dev.expect(timeout=5)
            assert (m.topic, m.payload) == ("binary/out", p)
    finally:
        dev.close()


def test_user_log_has_logging_and_print_lines(make_core):
    core = lh.lambda_core(make_core)
    arn = lh.create_function(core, "Logger", "logger", "logger.handler")
    core.deploy_ok(lh.LambdaGroup().device("Dev").function(arn)
                   .sub("Dev", "logger/in", arn).sub(arn, "logger/out", "Dev"))
    dev = h.Paho("Dev", core.plain_port)
    try:
        dev.subscribe("logger/out")
        dev.publish("logger/in", json.dumps({"tag": "t-42"}))
        assert lh.expect_json(dev, "logger/out")["tag"] == "t-42"
    finally:
        dev.close()
    path = lh.user_log_path(core, "Logger")
    text = lh.wait_file_contains(path, ["info line from the handler t-42",
                                        "warning line from the handler t-42",
                                        "printed line from the handler t-42"])
    ts = r"\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[^\]]*\]"
    assert re.search(rf"^{ts}\[INFO\]-logger\.py:\d+,info line from the handler t-42$", text,
                     re.M), text
    assert re.search(rf"^{ts}\[WARN\]-logger\.py:\d+,warning line from the handler t-42$", text,
                     re.M), text
    assert re.search(rf"^{ts}\[INFO\]-printed line from the handler t-42$", text, re.M), text


def test_json_function_given_non_json_payload_reports_handled_error(make_core):
    core = lh.lambda_core(make_core)
    arn = lh.create_function(core, "Counter", "counter", "counter.handler")
    core.deploy_ok(lh.LambdaGroup().device("Dev").function(arn, pinned=True)
                   .sub("Dev", "counter/in", arn).sub(arn, "counter/out", "Dev"))
    dev = h.Paho("Dev", core.plain_port)
    try:
        dev.subscribe("counter/out")
        dev.publish("counter/in", b"\xff{not json")
        dev.publish("counter/in", json.dumps({"i": "valid"}))
        got = lh.expect_json(dev, "counter/out")
        # The bad payload never reached the handler; the worker survived it.
        assert got["count"] == 1 and got["event"] == {"i": "valid"}, got
        s = lh.wait_fn_status(core, arn, lambda s: s["handledErrors"] == 1 and s["succeeded"] == 1)
        assert s["restarts"] == 0
    finally:
        dev.close()
