"""Issue 11 items 6 and 9: byte bounds (retained store, per-client queues, per-function work
queues) with counters and clear rejections, and broker state (persistent sessions with their
queued QoS 1 messages, retained messages) surviving a SIGTERM restart and a kill -9."""

import json
import os
import signal
import time

import evg_harness as h
import lambda_helpers as lh

KB = 1024


def rss_kb(core):
    with open(f"/proc/{core.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def persisted_ops(core):
    return core.status()["mqtt"]["persistence"]["ops"]


def durability_core(make_core, open_broker):
    core = make_core()
    if open_broker:
        core.set_mqtt(openBroker=True)
        core.start()
    else:
        core.start()
        core.deploy_ok(h.Group().device("Pub").device("Dev").device("Late")
                       .sub("Pub", "cmd/#", "Dev").sub("Pub", "state/#", "Late"))
    return core


def publish_while_offline(core):
    dev = h.Paho("Dev", core.plain_port, clean_session=False)
    assert dev.subscribe("cmd/#", qos=1) == 1
    dev.close()
    h.wait_connected(core, 0)
    pub = h.Paho("Pub", core.plain_port)
    try:
        for i in range(3):
            pub.publish(f"cmd/{i}", f"m{i}".encode(), qos=1)
        pub.publish("state/mode", b"retained", qos=1, retain=True)
    finally:
        pub.close()


def check_after_restart(core):
    dev = h.Paho("Dev", core.plain_port, clean_session=False)
    try:
        assert dev.session_present == 1
        got = [dev.expect() for _ in range(3)]
        assert [(m.topic, m.payload, m.qos) for m in got] == [
            (f"cmd/{i}", f"m{i}".encode(), 1) for i in range(3)]
        dev.expect_none()
    finally:
        dev.close()
    late = h.Paho("Late", core.plain_port)
    try:
        assert late.subscribe("state/#", qos=1) == 1
        m = late.expect()
        assert (m.topic, m.payload, m.retain) == ("state/mode", b"retained", 1)
    finally:
        late.close()
    st = core.status()["mqtt"]["persistence"]
    assert st["restoredSessions"] >= 1 and st["restoredMessages"] == 3, st
    assert st["restoredRetained"] == 1, st


def test_sigterm_restart_keeps_sessions_queued_messages_and_retained(make_core):
    core = durability_core(make_core, open_broker=False)
    publish_while_offline(core)
    rc, _ = core.stop()
    assert rc == 0
    core.close_files()
    core.start(write_config=False)
    check_after_restart(core)
    assert os.path.isfile(os.path.join(core.root, "var", "spool", "broker.db"))


def test_kill9_keeps_what_was_committed(make_core):
    core = durability_core(make_core, open_broker=True)
    publish_while_offline(core)
    # SessionSave, Subscribe, 3 messages, 1 retained: committed within a loop turn or two.
    h.wait_until(lambda: persisted_ops(core) >= 6, 5, what="broker state committed")
    core.signal(signal.SIGKILL)
    core.proc.wait(timeout=5)
    core.close_files()
    core.start(write_config=False)
    check_after_restart(core)


def test_persistence_off_forgets_on_restart(make_core):
    core = make_core()
    core.set_mqtt(openBroker=True, persistence=False)
    core.start()
    publish_while_offline(core)
    assert core.stop()[0] == 0
    core.close_files()
    core.start(write_config=False)
    dev = h.Paho("Dev", core.plain_port, clean_session=False)
    try:
        assert dev.session_present == 0
    finally:
        dev.close()


def test_retained_store_is_bounded_in_bytes(make_core):
    """The issue's flood at a bounded size: 200 retained x 128 KB with an 8 MB budget. Before,
    every one was stored (the core grew by the full 25 MB, and 10,000 of them took 1.3 GB)."""
    core = make_core()
    core.set_mqtt(openBroker=True, maxRetainedBytes=8 * KB * KB)
    core.start()
    base = rss_kb(core)
    pub = h.Paho("flood", core.plain_port)
    payload = b"r" * (128 * KB - 64)
    try:
        for i in range(200):
            pub.publish(f"flood/{i}", payload, qos=1, retain=True)
    finally:
        pub.close()
    m = core.status()["mqtt"]
    assert m["retainedBytes"] <= 8 * KB * KB, m
    assert m["retained"] == 8 * KB * KB // (len(payload) + len("flood/100")), m
    assert m["droppedRetainedBytes"] == 200 - m["retained"], m
    grew_mb = (rss_kb(core) - base) / KB
    assert grew_mb < 20, f"RSS grew by {grew_mb:.1f} MB for an 8 MB retained budget"
    assert "mqtt.maxRetainedBytes" in core.log("GGConnManager")
    # What is stored is served.
    sub = h.Paho("reader", core.plain_port)
    try:
        assert sub.subscribe("flood/0", qos=1) == 1
        assert sub.expect().payload == payload
    finally:
        sub.close()


def test_offline_queue_is_bounded_in_bytes(make_core):
    core = make_core()
    core.set_mqtt(openBroker=True, maxQueuedBytesPerClient=2 * KB * KB)
    core.start()
    dev = h.Paho("Dev", core.plain_port, clean_session=False)
    assert dev.subscribe("big/#", qos=1) == 1
    dev.close()
    h.wait_connected(core, 0)
    pub = h.Paho("pub", core.plain_port)
    payload = b"q" * (100 * KB)
    try:
        for i in range(50):
            pub.publish(f"big/{i}", payload, qos=1)
    finally:
        pub.close()
    m = core.status()["mqtt"]
    fits = 2 * KB * KB // (len(payload) + len("big/10"))
    assert m["droppedQueueBytes"] == 50 - fits, m
    assert m["queuedBytes"] <= 2 * KB * KB, m
    dev = h.Paho("Dev", core.plain_port, clean_session=False)
    try:
        got = [dev.expect().topic for _ in range(fits)]
        assert got == [f"big/{i}" for i in range(fits)]  # the oldest kept, in order
        dev.expect_none()
    finally:
        dev.close()
    h.wait_until(lambda: core.status()["mqtt"]["queuedBytes"] == 0, 5, what="queue drained")


def test_function_work_queue_is_bounded_in_bytes(make_core):
    """A queued Event invoke over evergreen.runtime.maxWorkQueueBytes: the invoker gets 429
    naming the bound, counted in functions[].droppedBytes."""
    core = lh.lambda_core(make_core, start=False)
    core.config["evergreen"].setdefault("runtime", {})["maxWorkQueueBytes"] = 1000 * KB
    core.start()
    slow = lh.create_function(core, "Slow", "sleeper", "sleeper.handler")
    inv = lh.create_function(core, "Invoker", "invoker", "invoker.handler")
    g = (lh.LambdaGroup().device("Dev")
         .function(slow, pinned=True, timeout=20).function(inv, timeout=10)
         .sub("Dev", "slow/in", slow)
         .sub("Dev", "invoker/in", inv).sub(inv, "invoker/result", "Dev"))
    core.deploy_ok(g)
    dev = h.Paho("Dev", core.plain_port)
    try:
        dev.subscribe("invoker/result")
        lh.wait_fn_status(core, slow, lambda s: s["workers"] == 1, timeout=15)
        dev.publish("slow/in", json.dumps({"sleep": 6, "tag": "busy"}))
        lh.wait_fn_status(core, slow, lambda s: s["accepted"] == 1 and s["queued"] == 0,
                          what="Slow busy")
        statuses = []
        for i in range(3):
            dev.publish("invoker/in", json.dumps({
                "op": "raw", "method": "POST", "path": f"/2016-11-01/functions/{slow}",
                "headers": {"X-Amz-Invocation-Type": "Event"}, "pad_bytes": 400 * KB,
                "tag": i}))
            r = lh.expect_json(dev, "invoker/result", timeout=10)
            statuses.append(r["status"])
        assert statuses == [202, 202, 429], statuses
        assert "maxWorkQueueBytes" in r["body"], r
        s = lh.fn_status(core, slow)
        assert s["droppedBytes"] == 1 and s["queued"] == 2, s
        assert s["queuedBytes"] <= 1000 * KB, s
    finally:
        dev.close()
