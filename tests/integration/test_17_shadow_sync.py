"""Shadow cloud sync (issue 7), black box: the test mosquitto plays AWS IoT Core and
cloud_shadow_responder.CloudShadowResponder answers the AWS IoT shadow topics on it. Things whose
Device/Core entry has SyncShadow: true are synced over the core's cloud connection: local updates
(MQTT or SDK) are pushed up, cloud desired changes pulled down (a local delta reaches the device),
conflicts resolve as AWS documents for the v2 shadow manager (cloud wins desired, local wins
reported), and an outage or a restart of the core loses nothing. Every wait is bounded."""

import json
import time

import pytest

import cloud_helpers as ch
import evg_harness as h
import lambda_helpers as lh
import shadow_helpers as sh
from cloud_shadow_responder import CloudShadowResponder


class SyncGroup(lh.LambdaGroup):
    """LambdaGroup whose devices in `synced` carry SyncShadow: true; each device may use its own
    shadow topics over MQTT (device <-> GGShadowService)."""

    def __init__(self, synced=()):
        super().__init__()
        self.synced = set(synced)

    def shadow_device(self, name):
        base = f"$aws/things/{name}/shadow/"
        return (self.device(name).sub(name, base + "#", "GGShadowService")
                .sub("GGShadowService", base + "#", name))

    def to_json(self):
        g = super().to_json()
        for d in g["DeviceDefinitionVersion"]["Devices"]:
            if d["Id"] in self.synced:
                d["SyncShadow"] = True
        return g


@pytest.fixture
def cloud(tmp_path):
    # Persistence on: the responder's persistent session survives broker restarts (outages).
    broker = ch.CloudBroker(tmp_path / "cloud", persistence=True).start()
    responder = CloudShadowResponder(broker.test_port).start()
    yield broker, responder
    responder.stop()
    broker.stop()


def sync_core(make_core, broker, group):
    core = ch.cloud_core(make_core, broker, tls=False)
    core.start()
    core.deploy_ok(group)
    wait_synced(core)
    return core


def wait_synced(core, things=("Lamp",)):
    """Cloud connected and the initial full sync of every synced thing requested."""
    def ok(s):
        sync = core.status()["shadows"].get("sync", {})
        return (s["state"] == "connected" and sync.get("things") == list(things)
                and sync.get("fullSyncs", 0) >= len(things) and s["spool"]["queued"] == 0)
    ch.wait_cloud(core, ok, what="cloud connected and shadows fully synced")


def wait_agreed(core, responder, thing="Lamp", timeout=10):
    """The core has seen the cloud's current document (its sync base is at the cloud's version):
    before an outage or a restart, so the test knows what the core agreed on."""
    def ok():
        doc = responder.document(thing)
        got = core.status()["shadows"]["sync"]["cloudVersions"].get(thing)
        return doc is not None and got == doc["version"]
    h.wait_until(ok, timeout, interval=0.05, what=f"core agreed on the cloud version of {thing}")


def mqtt_update(dev, thing, state, token=None):
    """A local shadow update over MQTT; returns the accepted document."""
    token = token or f"tok-{id(state)}-{len(json.dumps(state))}"
    dev.publish(sh.shadow_topic(thing, "update"), json.dumps({"state": state,
                                                             "clientToken": token}))
    while True:
        m = lh.expect_on(dev, sh.shadow_topic(thing, "update", "accepted"))
        body = json.loads(m.payload)
        if body.get("clientToken") == token:
            return body


def mqtt_get(dev, thing):
    dev.publish(sh.shadow_topic(thing, "get"), json.dumps({"clientToken": "get"}))
    return json.loads(lh.expect_on(dev, sh.shadow_topic(thing, "get", "accepted")).payload)


def device(core, name):
    d = h.Paho(name, core.plain_port)
    assert d.subscribe(f"$aws/things/{name}/shadow/#") == 0
    return d


def test_sync_both_ways_sdk_and_mqtt_unsynced_thing_stays_local(make_core, cloud):
    broker, responder = cloud
    core = ch.cloud_core(make_core, broker, tls=False)
    core.start()
    fn = sh.probe_function(core, "ShadowProbe")
    g = (SyncGroup(synced=["Lamp"]).shadow_device("Lamp").shadow_device("Plain").function(fn)
         .sub("Lamp", "probe/in", fn).sub(fn, "probe/out", "Lamp"))
    core.deploy_ok(g)
    wait_synced(core)
    # The full sync found no cloud shadow (get/rejected 404) and pushed nothing.
    assert responder.requests_for("Lamp", "get")
    lamp = device(core, "Lamp")
    plain = device(core, "Plain")
    app = broker.client("cloud-app")
    try:
        assert lamp.subscribe("probe/out") == 0
        # MQTT path, local -> cloud.
        mqtt_update(lamp, "Lamp", {"reported": {"temp": 20, "on": False}})
        responder.wait_state("Lamp", "reported", lambda s: s == {"temp": 20, "on": False},
                             what="MQTT update pushed")
        # SDK path (greengrasssdk iot-data inside a function), local -> cloud.
        r = sh.probe_call(lamp, "probe/in", {"op": "update", "thing": "Lamp",
                                             "doc": {"state": {"reported": {"fw": "1.2"}}}})
        assert "error" not in r, r
        responder.wait_state("Lamp", "reported", lambda s: s.get("fw") == "1.2",
                             what="SDK update pushed")
        # Cloud -> local: an application changes desired in the cloud; the device gets the delta.
        app.publish("$aws/things/Lamp/shadow/update",
                    json.dumps({"state": {"desired": {"on": True}}}), qos=1)
        d = json.loads(lh.expect_on(lamp, sh.shadow_topic("Lamp", "update", "delta"),
                                    timeout=10).payload)
        assert d["state"] == {"on": True}, d
        doc = mqtt_get(lamp, "Lamp")
        assert doc["state"]["desired"] == {"on": True}
        assert doc["state"]["reported"] == {"temp": 20, "on": False, "fw": "1.2"}
        # The device acts on the delta and reports; the cloud sees delta resolved.
        mqtt_update(lamp, "Lamp", {"reported": {"on": True}})
        responder.wait_state("Lamp", "reported", lambda s: s.get("on") is True)
        assert responder.state("Lamp", "desired") == {"on": True}

        # Plain has no SyncShadow: its shadow stays local. A later Lamp update is the sentinel.
        mqtt_update(plain, "Plain", {"reported": {"x": 1}})
        mqtt_update(lamp, "Lamp", {"reported": {"marker": 1}})
        responder.wait_state("Lamp", "reported", lambda s: s.get("marker") == 1)
        assert responder.document("Plain") is None
        assert responder.requests_for("Plain") == []
        sync = core.status()["shadows"]["sync"]
        assert sync["things"] == ["Lamp"] and sync["pulled"] >= 1 and sync["pushed"] >= 4, sync
        # Cloud shadow traffic is the sync's, not routed as Source=cloud messages.
        assert core.status()["router"]["fromCloud"] == 0
    finally:
        app.close()
        lamp.close()
        plain.close()


def test_conflict_cloud_wins_desired_local_wins_reported(make_core, cloud):
    broker, responder = cloud
    core = sync_core(make_core, broker, SyncGroup(synced=["Lamp"]).shadow_device("Lamp"))
    lamp = device(core, "Lamp")
    try:
        mqtt_update(lamp, "Lamp", {"desired": {"mode": "auto", "level": 1},
                                   "reported": {"temp": 20, "mode": "auto"}})
        responder.wait_state("Lamp", "reported", lambda s: s == {"temp": 20, "mode": "auto"})
        wait_agreed(core, responder)
        broker.stop()
        ch.wait_cloud(core, lambda s: s["state"] != "connected", what="outage noticed")
        # Both sides change the same keys while apart (plus one key each side alone).
        mqtt_update(lamp, "Lamp", {"desired": {"mode": "local"}, "reported": {"temp": 21}})
        responder.apply_offline("Lamp", {"desired": {"mode": "cloud", "level": 2},
                                         "reported": {"temp": 99, "mode": "manual"}})
        broker.start()
        responder.wait_connected()
        want_desired = {"mode": "cloud", "level": 2}       # cloud wins desired
        want_reported = {"temp": 21, "mode": "manual"}     # local wins reported; cloud-only kept
        responder.wait_state("Lamp", "reported", lambda s: s == want_reported, timeout=15,
                             what="local reported wins in the cloud")
        assert responder.state("Lamp", "desired") == want_desired
        h.wait_until(lambda: mqtt_get(lamp, "Lamp")["state"].get("desired") == want_desired, 10,
                     interval=0.2, what="cloud desired applied locally")
        assert mqtt_get(lamp, "Lamp")["state"]["reported"] == want_reported
    finally:
        lamp.close()


def test_outage_and_resume_loses_no_update(make_core, cloud):
    broker, responder = cloud
    core = sync_core(make_core, broker, SyncGroup(synced=["Lamp"]).shadow_device("Lamp"))
    lamp = device(core, "Lamp")
    try:
        mqtt_update(lamp, "Lamp", {"reported": {"gone": True, "n": 0}})
        responder.wait_state("Lamp", "reported", lambda s: s.get("n") == 0)
        wait_agreed(core, responder)
        broker.stop()
        ch.wait_cloud(core, lambda s: s["state"] != "connected", what="outage noticed")
        for i in range(1, 21):
            mqtt_update(lamp, "Lamp", {"reported": {"n": i, f"k{i % 5}": i}})
        mqtt_update(lamp, "Lamp", {"reported": {"gone": None}, "desired": {"target": 7}})
        want = {"n": 20, "k0": 20, "k1": 16, "k2": 17, "k3": 18, "k4": 19}
        assert mqtt_get(lamp, "Lamp")["state"]["reported"] == want
        broker.start()
        responder.wait_connected()
        responder.wait_state("Lamp", "reported", lambda s: s == want, timeout=15,
                             what="the cloud caught up after the outage")
        assert responder.state("Lamp", "desired") == {"target": 7}
        # Caught up in one merged update, not replayed one by one.
        assert len(responder.update_requests("Lamp")) <= 3
    finally:
        lamp.close()


def test_core_restart_keeps_sync_state(make_core, cloud):
    broker, responder = cloud
    g = SyncGroup(synced=["Lamp"]).shadow_device("Lamp")
    core = sync_core(make_core, broker, g)
    lamp = device(core, "Lamp")
    try:
        mqtt_update(lamp, "Lamp", {"reported": {"temp": 20}})
        responder.wait_state("Lamp", "reported", lambda s: s == {"temp": 20})
        wait_agreed(core, responder)
    finally:
        lamp.close()
    core.stop()
    # While the core is down the cloud changes reported (only the cloud did) and desired.
    app = broker.client("cloud-app")
    app.publish("$aws/things/Lamp/shadow/update",
                json.dumps({"state": {"reported": {"temp": 30}, "desired": {"temp": 25}}}), qos=1)
    app.close()
    core.start()
    wait_synced(core)
    lamp = device(core, "Lamp")
    try:
        # The agreed base survived the restart: a key changed only in the cloud is taken from the
        # cloud (with a lost base, local would win reported and push 20 back).
        h.wait_until(lambda: mqtt_get(lamp, "Lamp")["state"].get("desired") == {"temp": 25}, 10,
                     interval=0.2, what="cloud changes pulled after restart")
        assert mqtt_get(lamp, "Lamp")["state"]["reported"] == {"temp": 30}
        assert responder.state("Lamp", "reported") == {"temp": 30}
    finally:
        lamp.close()


def test_cloud_delete_and_unsync_on_redeploy(make_core, cloud):
    broker, responder = cloud
    core = sync_core(make_core, broker, SyncGroup(synced=["Lamp"]).shadow_device("Lamp"))
    lamp = device(core, "Lamp")
    app = broker.client("cloud-app")
    try:
        mqtt_update(lamp, "Lamp", {"reported": {"temp": 20}})
        responder.wait_state("Lamp", "reported", lambda s: s == {"temp": 20})
        sync = core.status()["shadows"]["sync"]
        assert sync["filters"] == 5, sync
        # A delete in the cloud deletes the local shadow.
        assert app.subscribe("$aws/things/Lamp/shadow/delete/accepted", qos=1) == 1
        app.publish("$aws/things/Lamp/shadow/delete", "{}", qos=1)
        app.expect(timeout=5)

        def local_gone():
            lamp.publish(sh.shadow_topic("Lamp", "get"), "{}")
            m = lh.expect_on(lamp, sh.shadow_topic("Lamp", "get", "rejected"), timeout=2)
            return json.loads(m.payload)["code"] == 404
        h.wait_until(local_gone, 10, interval=0.2, what="local shadow deleted from the cloud")
        # Redeploy without SyncShadow: the thing's cloud filters go and local updates stay local.
        core.deploy_ok(SyncGroup(synced=[]).shadow_device("Lamp"))
        h.wait_until(lambda: core.status()["shadows"]["sync"]["filters"] == 0, 5,
                     what="shadow filters dropped")
        assert core.status()["shadows"]["sync"]["things"] == []
        n = len(responder.update_requests("Lamp"))
        mqtt_update(lamp, "Lamp", {"reported": {"temp": 21}})
        app.publish("$aws/things/Lamp/shadow/update",
                    json.dumps({"state": {"desired": {"temp": 5}}}), qos=1)
        responder.wait_state("Lamp", "desired", lambda s: s == {"temp": 5})
        time.sleep(1.0)  # time for a (wrong) push or pull to show
        # Neither the local update goes up nor the cloud's change comes down.
        assert len(responder.update_requests("Lamp")) == n + 1  # the app's own only
        assert responder.state("Lamp", "reported") == {}
        assert "desired" not in mqtt_get(lamp, "Lamp")["state"]
    finally:
        app.close()
        lamp.close()
