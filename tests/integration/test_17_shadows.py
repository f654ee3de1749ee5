"""Local shadow service on the real core: the Python SDK path (greengrasssdk iot-data inside a
function), the MQTT path (devices publishing $aws/things/<thing>/shadow/... routed to
GGShadowService), delta/documents publishes, version conflict, oversize, delete -> 404, and
durability across restart and kill -9."""

import json
import signal

import evg_harness as h
import lambda_helpers as lh
import shadow_helpers as sh


def _mqtt_shadow_group(thing="Dev"):
    base = f"$aws/things/{thing}/shadow/"
    return (lh.LambdaGroup().device(thing)
            .sub(thing, base + "#", "GGShadowService")
            .sub("GGShadowService", base + "#", thing))


def test_sdk_update_get_delete_and_delta_to_device(make_core):
    core = lh.lambda_core(make_core)
    fn = sh.probe_function(core, "ShadowProbe")
    g = (lh.LambdaGroup().device("Dev").function(fn)
         .sub("Dev", "probe/in", fn).sub(fn, "probe/out", "Dev")
         .sub("GGShadowService", "$aws/things/Lamp/shadow/update/delta", "Dev"))
    core.deploy_ok(g)
    dev = h.Paho("Dev", core.plain_port)
    try:
        assert dev.subscribe("probe/out") == 0
        assert dev.subscribe("$aws/things/Lamp/shadow/update/delta") == 0
        r = sh.probe_call(dev, "probe/in", {"op": "get", "thing": "Lamp"})
        assert "error" in r and "404" in r["error"], r

        r = sh.probe_call(dev, "probe/in", {"op": "update", "thing": "Lamp", "doc": {
            "state": {"desired": {"on": True, "level": 3}}, "clientToken": "sdk-1"}})
        assert "error" not in r, r
        p = r["payload"]
        assert p["version"] == 1 and p["clientToken"] == "sdk-1"
        assert p["state"]["desired"] == {"on": True, "level": 3}
        assert isinstance(p["metadata"]["desired"]["on"]["timestamp"], int)
        # The delta goes out through the subscription table with source GGShadowService.
        d = json.loads(lh.expect_on(dev, "$aws/things/Lamp/shadow/update/delta").payload)
        assert d["state"] == {"on": True, "level": 3} and d["version"] == 1

        r = sh.probe_call(dev, "probe/in", {"op": "update", "thing": "Lamp",
                                            "doc": {"state": {"reported": {"on": True}}}})
        assert r["payload"]["version"] == 2
        r = sh.probe_call(dev, "probe/in", {"op": "get", "thing": "Lamp"})
        got = r["payload"]
        assert got["state"]["desired"] == {"on": True, "level": 3}
        assert got["state"]["reported"] == {"on": True}
        assert got["state"]["delta"] == {"level": 3}
        assert got["version"] == 2

        r = sh.probe_call(dev, "probe/in", {"op": "update", "thing": "Lamp",
                                            "doc": {"state": {"reported": {"x": 1}},
                                                    "version": 1}})
        assert "error" in r and "409" in r["error"], r
        r = sh.probe_call(dev, "probe/in", {"op": "update", "thing": "Lamp", "doc": "not json"})
        assert "error" in r and "400" in r["error"], r

        r = sh.probe_call(dev, "probe/in", {"op": "delete", "thing": "Lamp"})
        assert r["payload"]["version"] == 2, r
        r = sh.probe_call(dev, "probe/in", {"op": "get", "thing": "Lamp"})
        assert "error" in r and "404" in r["error"], r
        st = core.status()
        assert st["shadows"]["accepted"] >= 4 and st["shadows"]["rejected"] >= 4
    finally:
        dev.close()


def test_mqtt_path_accepted_rejected_delta_documents(make_core):
    core = make_core().start()
    core.deploy_ok(_mqtt_shadow_group("Dev"))
    dev = h.Paho("Dev", core.plain_port)
    try:
        assert dev.subscribe("$aws/things/Dev/shadow/#") == 0
        dev.publish(sh.shadow_topic("Dev", "get"), json.dumps({"clientToken": "g0"}))
        rej = json.loads(lh.expect_on(dev, sh.shadow_topic("Dev", "get", "rejected")).payload)
        assert rej["code"] == 404 and rej["clientToken"] == "g0"
        assert set(rej) == {"code", "message", "timestamp", "clientToken"}

        dev.publish(sh.shadow_topic("Dev", "update"), json.dumps(
            {"state": {"desired": {"color": "red", "cfg": {"a": 1, "b": 2}}},
             "clientToken": "u1"}))
        acc = json.loads(lh.expect_on(dev, sh.shadow_topic("Dev", "update", "accepted")).payload)
        assert acc["version"] == 1 and acc["clientToken"] == "u1"
        delta = json.loads(lh.expect_on(dev, sh.shadow_topic("Dev", "update", "delta")).payload)
        assert delta["state"] == {"color": "red", "cfg": {"a": 1, "b": 2}}
        docs = json.loads(
            lh.expect_on(dev, sh.shadow_topic("Dev", "update", "documents")).payload)
        assert docs["current"]["version"] == 1 and "previous" not in docs

        # Reported catches up partly: delta holds only what differs, nested.
        dev.publish(sh.shadow_topic("Dev", "update"), json.dumps(
            {"state": {"reported": {"color": "red", "cfg": {"a": 1, "b": 0}}}}))
        lh.expect_on(dev, sh.shadow_topic("Dev", "update", "accepted"))
        docs = json.loads(
            lh.expect_on(dev, sh.shadow_topic("Dev", "update", "documents")).payload)
        assert docs["previous"]["version"] == 1 and docs["current"]["version"] == 2
        dev.publish(sh.shadow_topic("Dev", "get"), "")
        got = json.loads(lh.expect_on(dev, sh.shadow_topic("Dev", "get", "accepted")).payload)
        assert got["state"]["delta"] == {"cfg": {"b": 2}}

        # null removes a key
        dev.publish(sh.shadow_topic("Dev", "update"),
                    json.dumps({"state": {"desired": {"cfg": None}}}))
        lh.expect_on(dev, sh.shadow_topic("Dev", "update", "accepted"))
        dev.publish(sh.shadow_topic("Dev", "get"), "")
        got = json.loads(lh.expect_on(dev, sh.shadow_topic("Dev", "get", "accepted")).payload)
        assert got["state"]["desired"] == {"color": "red"} and "delta" not in got["state"]
        assert got["version"] == 3

        # version conflict
        dev.publish(sh.shadow_topic("Dev", "update"), json.dumps(
            {"state": {"reported": {"z": 1}}, "version": 1, "clientToken": "old"}))
        rej = json.loads(lh.expect_on(dev, sh.shadow_topic("Dev", "update", "rejected")).payload)
        assert rej["code"] == 409 and rej["clientToken"] == "old"
        # oversize (8 KB default)
        dev.publish(sh.shadow_topic("Dev", "update"),
                    json.dumps({"state": {"reported": {"blob": "x" * 9000}}}))
        rej = json.loads(lh.expect_on(dev, sh.shadow_topic("Dev", "update", "rejected")).payload)
        assert rej["code"] == 413
        # malformed
        dev.publish(sh.shadow_topic("Dev", "update"), "{nope")
        rej = json.loads(lh.expect_on(dev, sh.shadow_topic("Dev", "update", "rejected")).payload)
        assert rej["code"] == 400

        dev.publish(sh.shadow_topic("Dev", "delete"), "")
        d = json.loads(lh.expect_on(dev, sh.shadow_topic("Dev", "delete", "accepted")).payload)
        assert d["version"] == 3
        dev.publish(sh.shadow_topic("Dev", "get"), "")
        rej = json.loads(lh.expect_on(dev, sh.shadow_topic("Dev", "get", "rejected")).payload)
        assert rej["code"] == 404
        assert core.status()["router"]["toShadow"] >= 9
    finally:
        dev.close()


def test_shadow_topics_of_other_things_need_a_subscription(make_core):
    """Routing still goes by the table: Dev may not reach Other's shadow without a subscription."""
    core = make_core().start()
    core.deploy_ok(_mqtt_shadow_group("Dev").device("Other"))
    dev = h.Paho("Dev", core.plain_port)
    try:
        assert dev.subscribe("$aws/things/Dev/shadow/#") == 0
        dev.publish(sh.shadow_topic("Other", "update"), json.dumps({"state": {"reported": {}}}))
        dev.publish(sh.shadow_topic("Dev", "get"), "")
        lh.expect_on(dev, sh.shadow_topic("Dev", "get", "rejected"))
        assert core.status()["shadows"]["things"] <= 1
    finally:
        dev.close()


def _update_and_ack(core, thing, n):
    dev = h.Paho(thing, core.plain_port)
    try:
        assert dev.subscribe(f"$aws/things/{thing}/shadow/update/accepted") == 0
        for i in range(n):
            dev.publish(sh.shadow_topic(thing, "update"),
                        json.dumps({"state": {"reported": {"i": i}}}))
            acc = json.loads(
                lh.expect_on(dev, sh.shadow_topic(thing, "update", "accepted")).payload)
            assert acc["state"]["reported"]["i"] == i
        return acc["version"]
    finally:
        dev.close()


def _get(core, thing):
    dev = h.Paho(thing, core.plain_port)
    try:
        assert dev.subscribe(f"$aws/things/{thing}/shadow/get/+") == 0
        dev.publish(sh.shadow_topic(thing, "get"), "")
        m = dev.expect(5)
        return m.topic, json.loads(m.payload)
    finally:
        dev.close()


def test_acknowledged_updates_survive_restart_and_kill9(make_core):
    core = make_core().start()
    core.deploy_ok(_mqtt_shadow_group("Dev"))
    v = _update_and_ack(core, "Dev", 20)
    assert v == 20
    rc, _ = core.stop()
    assert rc == 0
    core.start()
    topic, doc = _get(core, "Dev")
    assert topic.endswith("/get/accepted") and doc["version"] == 20
    assert doc["state"]["reported"] == {"i": 19}

    # kill -9 right after the last acknowledgement: nothing acknowledged may be lost
    v = _update_and_ack(core, "Dev", 30)
    assert v == 50
    core.signal(signal.SIGKILL)
    core.proc.wait(timeout=5)
    core.start()
    topic, doc = _get(core, "Dev")
    assert topic.endswith("/get/accepted"), doc
    assert doc["version"] == 50 and doc["state"]["reported"] == {"i": 29}
