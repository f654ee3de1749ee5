"""Routing by the group's subscription table (plaintext listener: client id = thing name).

Messages that must not arrive are checked with a sentinel: the same publisher sends a message
that must arrive right after, and the subscriber's next message must be the sentinel."""

import pytest

import evg_harness as h


@pytest.fixture
def routed(core):
    g = (h.Group().device("A").device("B").device("C")
         .sub("A", "a/#", "B", "a-to-b")
         .sub("B", "cmd/#", "A", "b-to-a")
         .sub("A", "sensors/+/temp", "C", "a-to-c-temp")
         .sub("A", "multi/x", "B").sub("A", "multi/x", "C")
         .sub("A", "dup/#", "B").sub("A", "dup/+", "B")
         .sub("A", "$special/#", "B")
         .sub("A", "up/#", "cloud"))
    core.deploy_ok(g)
    return core


def clients(core, *names):
    return [h.Paho(n, core.plain_port) for n in names]


def test_device_to_device_allowed_by_subscription(routed):
    a, b = clients(routed, "A", "B")
    try:
        assert b.subscribe("a/#", qos=0) == 0
        a.publish("a/1", b"hello")
        b.expect_only("a/1", b"hello")
        assert routed.status()["router"]["toDevices"] == 1
    finally:
        a.close()
        b.close()


def test_publish_without_matching_subscription_is_dropped_and_counted(routed):
    a, b = clients(routed, "A", "B")
    try:
        assert b.subscribe("#") == 0  # some subscription targets B, so '#' may deliver
        before = routed.status()["router"]["unrouted"]
        a.publish("nowhere/1", b"lost")  # no subscription for A on nowhere/1
        b.publish("a/1", b"wrong direction")  # a/# is A -> B only
        a.publish("a/2", b"sentinel")
        b.expect_only("a/2", b"sentinel")
        h.wait_until(lambda: routed.status()["router"]["unrouted"] == before + 2, 3,
                     what="router.unrouted to count both drops")
    finally:
        a.close()
        b.close()


def test_subscribe_where_nothing_can_deliver_gets_suback_0x80(routed):
    a, b, c = clients(routed, "A", "B", "C")
    try:
        assert c.subscribe("a/#") == 128  # only B is a target of a/#
        assert a.subscribe("sensors/#") == 128  # nobody sends to A there
        assert b.subscribe("a/deep/topic", qos=1) == 1
        assert c.subscribe("sensors/+/temp") == 0
        assert c.subscribe("sensors/kitchen/temp") == 0
        # One SUBSCRIBE with a mix of filters: per-filter return codes.
        rc, mid = c.c.subscribe([("sensors/#", 1), ("cmd/#", 0), ("multi/x", 0)])
        assert rc == 0
        got_mid, granted = c.granted.get(timeout=5)
        assert got_mid == mid
        assert granted == [1, 128, 0]
    finally:
        for x in (a, b, c):
            x.close()


def test_subscribe_refusal_with_raw_suback_bytes(routed):
    raw = h.RawClient(routed.plain_port)
    try:
        assert raw.connect("C") == 0
        assert raw.subscribe([("a/#", 1), ("sensors/+/temp", 1)]) == [0x80, 1]
    finally:
        raw.close()


def test_wildcard_subjects(routed):
    a, c = clients(routed, "A", "C")
    try:
        assert c.subscribe("sensors/#") == 0
        a.publish("sensors/kitchen/hum", b"no: + matches one level, last level differs")
        a.publish("sensors/a/b/temp", b"no: + is exactly one level")
        a.publish("sensors/temp", b"no: missing level")
        a.publish("sensors/kitchen/temp", b"21")
        c.expect_only("sensors/kitchen/temp", b"21")
        a.publish("sensors//temp", b"empty level matches +")
        c.expect_only("sensors//temp", b"empty level matches +")
    finally:
        a.close()
        c.close()


def test_one_publish_reaches_every_target_once(routed):
    a, b, c = clients(routed, "A", "B", "C")
    try:
        assert b.subscribe("multi/x") == 0
        assert b.subscribe("dup/#") == 0
        assert b.subscribe("a/#") == 0
        assert c.subscribe("multi/+") == 0
        a.publish("multi/x", b"fan-out")
        b.expect_only("multi/x", b"fan-out")
        c.expect_only("multi/x", b"fan-out")
        # dup/# and dup/+ both route A -> B: B gets the message once.
        a.publish("dup/1", b"once")
        a.publish("a/sentinel", b"s")
        b.expect_only("dup/1", b"once")
        b.expect_only("a/sentinel", b"s")
    finally:
        for x in (a, b, c):
            x.close()


def test_dollar_topics(routed):
    a, b = clients(routed, "A", "B")
    try:
        assert b.subscribe("#") == 0
        assert b.subscribe("$special/#") == 0
        a.publish("$special/x", b"dollar")
        m = b.expect()
        assert (m.topic, m.payload) == ("$special/x", b"dollar")
        b.expect_none(0.3)  # delivered once, even though B also holds '#'
        # '#' in the table does not match a $-topic: A -> B on a/# does not carry $a/1.
        before = routed.status()["router"]["unrouted"]
        a.publish("$a/1", b"not routed")
        a.publish("a/1", b"sentinel")
        b.expect_only("a/1", b"sentinel")
        assert routed.status()["router"]["unrouted"] == before + 1
    finally:
        a.close()
        b.close()


def test_dollar_topic_not_delivered_through_plain_wildcard_subscription(core):
    # Table: A -> B on '#'. A publishes $sys/x: '#' does not match $-topics, so it is unrouted.
    core.deploy_ok(h.Group().device("A").device("B").sub("A", "#", "B"))
    a, b = clients(core, "A", "B")
    try:
        assert b.subscribe("#") == 0
        a.publish("$sys/x", b"no")
        a.publish("plain", b"yes")
        b.expect_only("plain", b"yes")
        assert core.status()["router"]["unrouted"] == 1
    finally:
        a.close()
        b.close()


def test_cloud_target_is_counted(routed):
    (a,) = clients(routed, "A")
    try:
        a.publish("up/1", b"x", qos=1)
        h.wait_until(lambda: routed.status()["router"]["pendingCloud"] == 1, 3,
                     what="router.pendingCloud == 1")
    finally:
        a.close()
