"""Sessions: persistent sessions and offline queueing, in-flight redelivery, Last Will,
keepalive timeout, client-id takeover, retained messages, QoS 2 (plaintext listener)."""

import struct
import time

import pytest

import evg_harness as h


@pytest.fixture
def sess(core):
    core.deploy_ok(h.Group().device("A").device("B").device("C")
                   .sub("A", "s/#", "B").sub("C", "s/#", "B"))
    return core


def test_persistent_session_gets_qos1_messages_published_while_offline(sess):
    b = h.Paho("B", sess.plain_port, clean_session=False)
    assert b.subscribe("s/#", qos=1) == 1
    b.close()
    h.wait_connected(sess, 0)
    a = h.Paho("A", sess.plain_port)
    try:
        for i in range(3):
            a.publish(f"s/{i}", f"m{i}".encode(), qos=1)
        a.publish("s/q0", b"qos0 is not queued for offline sessions", qos=0)
        h.wait_until(lambda: sess.status()["mqtt"]["droppedOfflineQos0"] == 1, 3,
                     what="the QoS 0 message dropped for the offline session")
        b2 = h.Paho("B", sess.plain_port, clean_session=False)
        try:
            assert b2.session_present == 1
            got = [b2.expect() for _ in range(3)]
            assert [(m.topic, m.payload, m.qos) for m in got] == [
                ("s/0", b"m0", 1), ("s/1", b"m1", 1), ("s/2", b"m2", 1)]
            # The subscription survived too: a new message arrives without re-subscribing.
            a.publish("s/live", b"live", qos=1)
            b2.expect_only("s/live", b"live")
        finally:
            b2.close()
    finally:
        a.close()


def test_clean_session_discards_the_old_session(sess):
    b = h.Paho("B", sess.plain_port, clean_session=False)
    assert b.subscribe("s/#", qos=1) == 1
    b.close()
    a = h.Paho("A", sess.plain_port)
    try:
        a.publish("s/1", b"old", qos=1)
        b2 = h.Paho("B", sess.plain_port, clean_session=True)
        try:
            assert b2.session_present == 0
            a.publish("s/2", b"after", qos=1)
            b2.expect_none(0.5)  # no subscription any more, nothing queued
        finally:
            b2.close()
    finally:
        a.close()


def test_unacknowledged_qos1_is_redelivered_with_dup_after_reconnect(sess):
    b = h.RawClient(sess.plain_port)
    assert b.connect("B", clean=False) == 0
    assert b.subscribe([("s/#", 1)]) == [1]
    a = h.Paho("A", sess.plain_port)
    try:
        a.publish("s/inflight", b"payload-1", qos=1)
        ptype, flags, body = b.expect(h.PUBLISH)
        first = h.parse_publish(flags, body)
        assert first["qos"] == 1 and not first["dup"]
        b.abort()  # no PUBACK
        h.wait_connected(sess, 1)
        b = h.RawClient(sess.plain_port)
        b.send(h.connect_packet("B", clean=False))
        _, _, ack = b.expect(h.CONNACK)
        assert ack == bytes([1, 0]), "session present expected"
        ptype, flags, body = b.expect(h.PUBLISH)
        again = h.parse_publish(flags, body)
        assert again["dup"] and again["pid"] == first["pid"]
        assert (again["topic"], again["payload"]) == ("s/inflight", b"payload-1")
        b.send(h.ack_packet(h.PUBACK, again["pid"]))
        b.send(h.packet(h.DISCONNECT, 0, b""))
        b.close()
        # Acknowledged now: a third connection gets nothing more.
        h.wait_connected(sess, 1)
        b = h.RawClient(sess.plain_port)
        b.send(h.connect_packet("B", clean=False))
        b.expect(h.CONNACK)
        a.publish("s/next", b"next", qos=1)
        ptype, flags, body = b.expect(h.PUBLISH)
        assert h.parse_publish(flags, body)["topic"] == "s/next"
    finally:
        b.close()
        a.close()


def test_last_will_delivered_when_client_drops_without_disconnect(sess):
    b = h.Paho("B", sess.plain_port)
    assert b.subscribe("s/#", qos=1) == 1
    try:
        a = h.RawClient(sess.plain_port)
        assert a.connect("A", will=("s/will", b"A is gone", 1, False)) == 0
        h.wait_connected(sess, 2)
        a.abort()
        m = b.expect()
        assert (m.topic, m.payload) == ("s/will", b"A is gone")
        # A clean DISCONNECT discards the will.
        c = h.RawClient(sess.plain_port)
        assert c.connect("C", will=("s/will", b"C is gone", 0, False)) == 0
        c.send(h.packet(h.DISCONNECT, 0, b""))
        assert c.wait_closed(3)
        c.close()
        c2 = h.Paho("C", sess.plain_port)
        c2.publish("s/sentinel", b"s")
        b.expect_only("s/sentinel", b"s")
        c2.close()
    finally:
        b.close()


def test_keepalive_timeout_closes_silent_client_and_fires_will(sess):
    b = h.Paho("B", sess.plain_port)
    assert b.subscribe("s/#") == 0
    a = h.RawClient(sess.plain_port, timeout=10)
    try:
        assert a.connect("A", keepalive=2, will=("s/will", b"timeout", 0, False)) == 0
        t0 = time.monotonic()
        assert a.wait_closed(6), "server did not close a silent client"
        took = time.monotonic() - t0
        # 1.5 x keepalive = 3 s, checked every 0.5 s.
        assert 2.0 <= took <= 4.5, f"closed after {took:.2f}s"
        m = b.expect(3)
        assert (m.topic, m.payload) == ("s/will", b"timeout")
        assert sess.status()["mqtt"]["keepaliveTimeouts"] == 1
    finally:
        a.close()
        b.close()


def test_pingreq_keeps_the_connection_alive(sess):
    a = h.RawClient(sess.plain_port, timeout=10)
    try:
        assert a.connect("A", keepalive=1) == 0
        for _ in range(5):  # 2.5 s > 1.5 x keepalive
            time.sleep(0.5)
            a.send(h.packet(h.PINGREQ, 0, b""))
            a.expect(h.PINGRESP)
    finally:
        a.close()


def test_client_id_takeover_closes_the_old_connection(sess):
    b = h.Paho("B", sess.plain_port)
    assert b.subscribe("s/#") == 0
    old = h.RawClient(sess.plain_port)
    new = h.RawClient(sess.plain_port)
    try:
        assert old.connect("A", will=("s/will", b"old A", 0, False)) == 0
        assert new.connect("A") == 0
        assert old.wait_closed(3), "old connection still open after takeover"
        # The old connection's will is published (it did not DISCONNECT).
        b.expect_only("s/will", b"old A")
        new.send(h.publish_packet("s/new", b"from new A"))
        b.expect_only("s/new", b"from new A")
        assert sess.status()["mqtt"]["connectedClients"] == 2
    finally:
        old.close()
        new.close()
        b.close()


def check_retained(core, pub_id, sub_id, topic, filt):
    a = h.Paho(pub_id, core.plain_port)
    try:
        a.publish(topic, b"kept", qos=1, retain=True)  # PUBACK: the core has processed it
        b = h.Paho(sub_id, core.plain_port)
        try:
            assert b.subscribe(filt, qos=1) == 1
            m = b.expect(3)
            assert (m.topic, m.payload, m.retain) == (topic, b"kept", 1)
            assert core.status()["mqtt"]["retained"] == 1
            # A live message is not flagged retained for an existing subscriber
            # (MQTT-3.3.1-9).
            a.publish(topic, b"kept2", qos=1, retain=True)
            m = b.expect()
            assert (m.payload, m.retain) == (b"kept2", 0)
        finally:
            b.close()
        # An empty retained payload deletes it.
        a.publish(topic, b"", qos=1, retain=True)
        h.wait_until(lambda: core.status()["mqtt"]["retained"] == 0, 3, what="retained == 0")
    finally:
        a.close()


def test_retained_message_delivered_to_later_subscriber(sess):
    check_retained(sess, "A", "B", "s/ret", "s/+")


def test_retained_message_delivered_to_later_subscriber_open_broker(make_core):
    core = make_core()
    core.set_mqtt(openBroker=True)
    core.start()
    check_retained(core, "any-publisher", "any-subscriber", "r/1", "r/+")


def test_qos2_publish_and_receive(sess):
    b = h.Paho("B", sess.plain_port)
    a = h.Paho("A", sess.plain_port)
    try:
        assert b.subscribe("s/#", qos=2) == 2
        a.publish("s/q2", b"exactly once", qos=2)
        m = b.expect()
        assert (m.topic, m.payload, m.qos) == ("s/q2", b"exactly once", 2)
        a.publish("s/q2b", b"capped", qos=1)
        m = b.expect()
        assert m.qos == 1  # delivered at min(publish QoS, granted QoS)
    finally:
        a.close()
        b.close()


def test_qos2_resent_publish_before_pubrel_is_delivered_once(sess):
    b = h.Paho("B", sess.plain_port)
    assert b.subscribe("s/#", qos=2) == 2
    a = h.RawClient(sess.plain_port)
    try:
        assert a.connect("A") == 0
        a.send(h.publish_packet("s/once", b"q2", qos=2, pid=7))
        _, _, body = a.expect(h.PUBREC)
        assert struct.unpack("!H", body)[0] == 7
        a.send(h.publish_packet("s/once", b"q2", qos=2, pid=7, dup=True))
        _, _, body = a.expect(h.PUBREC)
        a.send(h.ack_packet(h.PUBREL, 7))
        _, _, body = a.expect(h.PUBCOMP)
        assert struct.unpack("!H", body)[0] == 7
        # Sentinel at QoS 2 too: paho hands a QoS 2 message over only at PUBREL.
        a.send(h.publish_packet("s/sentinel", b"s", qos=2, pid=8))
        b.expect_only("s/once", b"q2")
        b.expect_only("s/sentinel", b"s")
    finally:
        a.close()
        b.close()


def test_offline_queue_is_bounded_by_max_queued_per_client(make_core):
    core = make_core()
    core.set_mqtt(maxQueuedPerClient=3)
    core.start()
    core.deploy_ok(h.Group().device("A").device("B").sub("A", "s/#", "B"))
    b = h.Paho("B", core.plain_port, clean_session=False)
    assert b.subscribe("s/#", qos=1) == 1
    b.close()
    h.wait_connected(core, 0)
    a = h.Paho("A", core.plain_port)
    try:
        for i in range(5):
            a.publish(f"s/{i}", f"m{i}".encode(), qos=1)
        assert core.status()["mqtt"]["droppedQueueFull"] == 2
        b2 = h.Paho("B", core.plain_port, clean_session=False)
        try:
            got = [b2.expect().payload for _ in range(3)]
            assert got == [b"m0", b"m1", b"m2"]
            a.publish("s/live", b"live", qos=1)
            b2.expect_only("s/live", b"live")
        finally:
            b2.close()
    finally:
        a.close()


def test_unsubscribe_stops_delivery(sess):
    a = h.Paho("A", sess.plain_port)
    b = h.Paho("B", sess.plain_port)
    try:
        assert b.subscribe("s/one") == 0
        assert b.subscribe("s/two") == 0
        b.unsubscribe("s/one")
        a.publish("s/one", b"not any more", qos=1)
        a.publish("s/two", b"still", qos=1)
        b.expect_only("s/two", b"still")
    finally:
        a.close()
        b.close()


def test_inflight_window_bounds_unacknowledged_qos1(make_core):
    core = make_core()
    core.set_mqtt(maxInflightPerClient=2)
    core.start()
    core.deploy_ok(h.Group().device("A").device("B").sub("A", "t/#", "B"))
    a = h.Paho("A", core.plain_port)
    b = h.RawClient(core.plain_port)
    try:
        assert b.connect("B") == 0
        assert b.subscribe([("t/#", 1)]) == [1]
        for i in range(5):
            a.publish(f"t/{i}", str(i).encode(), qos=1)

        def drain(timeout):
            out = []
            try:
                while True:
                    p = b.read_packet(timeout)
                    assert p is not None and p[0] == h.PUBLISH
                    out.append(h.parse_publish(p[1], p[2]))
            except TimeoutError:
                return out

        first = drain(0.4)
        assert [m["topic"] for m in first] == ["t/0", "t/1"]
        b.send(h.ack_packet(h.PUBACK, first[0]["pid"]))
        nxt = drain(0.4)
        assert [m["topic"] for m in nxt] == ["t/2"]
        for m in first[1:] + nxt:
            b.send(h.ack_packet(h.PUBACK, m["pid"]))
        rest = drain(0.4)
        assert [m["topic"] for m in rest] == ["t/3", "t/4"]
    finally:
        a.close()
        b.close()
