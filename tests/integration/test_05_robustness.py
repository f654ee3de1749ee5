"""Robustness: bad input closes only the offending connection and is counted; the broker keeps
serving everyone else. Protocol-level refusals (CONNACK codes), open broker mode."""

import socket
import time

import pytest

import evg_harness as h


@pytest.fixture
def robust(make_core):
    core = make_core()
    core.set_mqtt(maxPayloadBytes=1024, maxConnections=8)
    core.start()
    core.deploy_ok(h.Group().device("A").device("B").device("C").device("Bad")
                   .sub("A", "t/#", "B").sub("Bad", "t/#", "B"))
    return core


@pytest.fixture
def pair(robust):
    """B subscribed on t/#, A ready to publish: to prove the broker keeps serving."""
    b = h.Paho("B", robust.plain_port)
    assert b.subscribe("t/#") == 0
    a = h.Paho("A", robust.plain_port)
    yield a, b
    a.close()
    b.close()


def still_serving(a, b, tag):
    a.publish("t/alive", tag.encode())
    b.expect_only("t/alive", tag.encode())


def test_oversize_payload_closes_only_that_connection_and_is_counted(robust, pair):
    a, b = pair
    bad = h.RawClient(robust.plain_port)
    try:
        assert bad.connect("Bad") == 0
        bad.send(h.publish_packet("t/big", b"x" * 1025))
        assert bad.wait_closed(3), "oversize PUBLISH did not close the connection"
    finally:
        bad.close()
    assert robust.status()["mqtt"]["droppedOversize"] == 1
    # Exactly at the limit is fine.
    a.publish("t/max", b"y" * 1024)
    m = b.expect()
    assert (m.topic, len(m.payload)) == ("t/max", 1024)
    still_serving(a, b, "after oversize")


def test_oversize_from_paho_client(robust, pair):
    a, b = pair
    big = h.Paho("C", robust.plain_port)
    try:
        big.c.publish("t/x", b"z" * 5000, qos=1)
        rc = big.disconnects.get(timeout=5)
        assert rc != 0
    finally:
        big.close()
    still_serving(a, b, "after paho oversize")


@pytest.mark.parametrize("junk", [
    b"\xff\xff\xff\xff\xff",                       # reserved packet type 15 / bad length
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",           # wrong protocol altogether
    b"\x10\xff\xff\xff\xff\x7f",                   # CONNECT with a 5-byte remaining length
    h.packet(h.CONNECT, 0, b"\x00\x04MQTT\x04\x02"),  # truncated CONNECT body
])
def test_garbage_before_connect_closes_connection(robust, pair, junk):
    a, b = pair
    raw = h.RawClient(robust.plain_port)
    try:
        raw.send(junk)
        assert raw.wait_closed(3)
    finally:
        raw.close()
    still_serving(a, b, "after garbage")


def test_garbage_after_connect_closes_connection_and_counts(robust, pair):
    a, b = pair
    before = robust.status()["mqtt"]["protocolErrors"]
    raw = h.RawClient(robust.plain_port)
    try:
        assert raw.connect("C") == 0
        raw.send(b"\x00\x01\x02\x03garbage")
        assert raw.wait_closed(3)
    finally:
        raw.close()
    assert robust.status()["mqtt"]["protocolErrors"] == before + 1
    still_serving(a, b, "after garbage")


def test_second_connect_is_a_protocol_error(robust, pair):
    a, b = pair
    raw = h.RawClient(robust.plain_port)
    try:
        assert raw.connect("C") == 0
        raw.send(h.connect_packet("C"))
        assert raw.wait_closed(3)
    finally:
        raw.close()
    still_serving(a, b, "after double CONNECT")


def test_garbage_on_tls_port_closes_and_tls_keeps_serving(robust):
    sock = socket.create_connection(("127.0.0.1", robust.tls_port), timeout=5)
    try:
        sock.sendall(b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00" * 4)
        sock.settimeout(3)
        try:
            while sock.recv(4096):
                pass
        except (ConnectionResetError, socket.timeout) as e:
            assert not isinstance(e, socket.timeout), "plain MQTT on the TLS port not closed"
    finally:
        sock.close()
    dev = robust.issue_device("Tls")
    robust.deploy_ok(h.Group().device("A").device("B").device("Tls", dev.fingerprint)
                     .sub("Tls", "t/#", "B"))
    ok, detail = h.tls_handshake_ok(robust.tls_port, dev.ca, dev.cert, dev.key)
    assert ok, detail


@pytest.mark.parametrize("topic", ["t/+/x", "t/#", "+", "t/\u0000x", ""])
def test_invalid_publish_topic_closes_connection(robust, pair, topic):
    a, b = pair
    raw = h.RawClient(robust.plain_port)
    try:
        assert raw.connect("Bad") == 0
        raw.send(h.publish_packet(topic, b"bad topic"))
        assert raw.wait_closed(3), f"PUBLISH to {topic!r} did not close the connection"
    finally:
        raw.close()
    still_serving(a, b, "after invalid topic")


def test_invalid_subscribe_filter_closes_connection(robust):
    raw = h.RawClient(robust.plain_port)
    try:
        assert raw.connect("B") == 0
        raw.send(h.subscribe_packet(1, [("t/#/x", 0)]))
        p = raw.read_packet(3)
        # MQTT 3.1.1 allows either closing or answering 0x80 for a malformed filter.
        assert p is None or (p[0] == h.SUBACK and p[2][2:] == b"\x80"), p
    finally:
        raw.close()


def test_connect_protocol_level_3_gets_connack_1(robust):
    raw = h.RawClient(robust.plain_port)
    try:
        assert raw.connect("A", level=3) == 1
        assert raw.wait_closed(3)
    finally:
        raw.close()


def test_unknown_client_id_on_plaintext_gets_connack_5(robust):
    raw = h.RawClient(robust.plain_port)
    try:
        assert raw.connect("NotAThing") == 5
        assert raw.wait_closed(3)
    finally:
        raw.close()
    assert robust.status()["mqtt"]["connectionsRefused"] >= 1


def test_empty_client_id_with_persistent_session_gets_connack_2(robust):
    raw = h.RawClient(robust.plain_port)
    try:
        assert raw.connect("", clean=False) == 2
    finally:
        raw.close()


def test_max_connections_gets_connack_3(make_core):
    core = make_core()
    core.set_mqtt(openBroker=True, maxConnections=3)
    core.start()
    clients = [h.RawClient(core.plain_port) for _ in range(4)]
    try:
        assert [c.connect(f"c{i}") for i, c in enumerate(clients[:3])] == [0, 0, 0]
        assert clients[3].connect("c3") == 3
        clients[0].send(h.packet(h.DISCONNECT, 0, b""))
        assert clients[0].wait_closed(3)
        h.wait_connected(core, 2)
        again = h.RawClient(core.plain_port)
        clients.append(again)
        assert again.connect("c4") == 0
    finally:
        for c in clients:
            c.close()


def test_open_broker_any_client_may_pub_sub_except_deny_list(make_core):
    core = make_core()
    core.set_mqtt(openBroker=True, denyList=["secret/#", "admin/+/keys"])
    core.start()
    assert core.status()["openBroker"] is True
    x = h.Paho("anyone-1", core.plain_port)
    y = h.Paho("anyone-2", core.plain_port)
    try:
        assert x.subscribe("free/#", qos=1) == 1
        assert x.subscribe("secret/a") == 128
        assert x.subscribe("admin/root/keys") == 128
        assert x.subscribe("admin/+/+") == 128  # overlaps a denied filter
        assert x.subscribe("#") == 128  # overlaps too
        assert x.subscribe("admin/root/other") == 0
        y.publish("free/1", b"open", qos=1)
        x.expect_only("free/1", b"open")
        # Also usable with mosquitto_pub/sub.
        sub = h.mosquitto_sub_start(core.plain_port, "mosq-sub", "free/mosq", 1)
        try:
            h.wait_connected(core, 3)
            deadline = time.monotonic() + 5
            while sub.poll() is None and time.monotonic() < deadline:
                assert h.mosquitto_pub(core.plain_port, "mosq-pub", "free/mosq",
                                       "hi").returncode == 0
                time.sleep(0.2)
            out, _ = sub.communicate(timeout=5)
            assert out.strip() == "free/mosq hi"
        finally:
            if sub.poll() is None:
                sub.kill()
                sub.wait()
    finally:
        x.close()
        y.close()
