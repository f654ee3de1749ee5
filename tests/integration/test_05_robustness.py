"""Robustness: bad input closes only the offending connection and is counted; the broker keeps
serving everyone else. Protocol-level refusals (CONNACK codes), open broker mode."""

import socket
import struct

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
        assert x.subscribe("admin/+/keys") == 128  # matches only denied topics
        assert x.subscribe("secret/+/b") == 128
        assert x.subscribe("admin/root/other") == 0
        y.publish("free/1", b"open", qos=1)
        x.expect_only("free/1", b"open")
        # Also usable with mosquitto_pub/sub.
        h.mosquitto_delivers(core, "free/mosq", "hi", connected_before=2)
    finally:
        x.close()
        y.close()


def test_open_broker_deny_list_grants_wildcards_and_never_delivers_denied(make_core):
    """Issue 10 item 4: like mosquitto ACLs, only filters that can match nothing but denied
    topics are refused; '#' and '+/+' are granted, and a denied topic is neither delivered nor
    retained-replayed to them."""
    core = make_core()
    core.set_mqtt(openBroker=True, denyList=["test/nosubscribe"])
    core.start()
    pub = h.Paho("pub", core.plain_port)
    x = h.Paho("x", core.plain_port)
    try:
        pub.publish("test/nosubscribe", b"denied retained", qos=1, retain=True)
        pub.publish("test/ok", b"allowed retained", qos=1, retain=True)
        assert x.subscribe("test/nosubscribe") == 128
        assert x.subscribe("#", qos=1) == 1
        x.expect_only("test/ok", b"allowed retained")  # retained replay skips the denied topic
        x.expect_none()
        assert x.subscribe("+/+", qos=1) == 1
        x.expect_only("test/ok", b"allowed retained")
        pub.publish("test/nosubscribe", b"must not arrive", qos=1)
        pub.publish("test/ok", b"sentinel", qos=1)
        x.expect_only("test/ok", b"sentinel")  # once, at max QoS, for both filters
        x.expect_none()
        # A leading '+' (mosquitto_sub) works too, and still gets nothing denied.
        sub = h.mosquitto_sub_start(core.plain_port, "mosq-sub", "+/ok", 1, qos=1)
        try:
            out, _ = sub.communicate(timeout=10)  # -C 1: exits after the retained message
            assert out.strip() == "test/ok allowed retained"
        finally:
            if sub.poll() is None:
                sub.kill()
                sub.wait()
        assert core.status()["router"]["deniedTopic"] >= 2
    finally:
        x.close()
        pub.close()


def non_loopback_ipv4():
    """This host's outward IPv4 address, or None (no route needed: UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            ip = s.getsockname()[0]
        except OSError:
            return None
    return None if ip.startswith("127.") else ip


def test_plaintext_listener_is_loopback_only(make_core):
    ip = non_loopback_ipv4()
    if ip is None:
        pytest.skip("no non-loopback IPv4 address on this host")
    core = make_core()
    core.set_mqtt(bindAddress="0.0.0.0")  # TLS on every address; plaintext must stay on lo
    core.start()
    with pytest.raises(OSError):
        socket.create_connection((ip, core.plain_port), timeout=2).close()
    socket.create_connection((ip, core.tls_port), timeout=2).close()
    assert "INSECURE" in core.stderr()


def test_cli_against_no_core_fails_cleanly(make_core):
    core = make_core()
    core.write_config()
    for op in ("status", "reload"):
        r = h.run_cli(op, "--root", core.root)
        assert r.returncode == 1
        assert r.stderr.strip() and "Traceback" not in r.stderr


def test_max_subscriptions_per_client_gets_0x80(make_core):
    core = make_core()
    core.set_mqtt(openBroker=True, maxSubscriptionsPerClient=3)
    core.start()
    c = h.Paho("subs", core.plain_port)
    try:
        assert [c.subscribe(f"f/{i}") for i in range(3)] == [0, 0, 0]
        assert c.subscribe("f/3") == 128
        assert c.subscribe("f/0", qos=1) == 1  # re-subscribing an existing filter is no new one
    finally:
        c.close()


def _connect_body(flags, cid=b"A", extra=b"", name=b"MQTT", level=4):
    return h._str(name) + bytes([level, flags]) + struct.pack("!H", 60) + h._str(cid) + extra


MALFORMED_CONNECT = {
    "will topic with wildcard": h.connect_packet("A", will=("t/#", b"x", 0, False)),
    "reserved connect flag": h.packet(h.CONNECT, 0, _connect_body(0x03)),
    "will QoS 3": h.packet(h.CONNECT, 0, _connect_body(0x1E, extra=h._str("t/w") + h._str("x"))),
    "will QoS without will flag": h.packet(h.CONNECT, 0, _connect_body(0x0A)),
    "password without username": h.packet(h.CONNECT, 0, _connect_body(0x42, extra=h._str("pw"))),
    "CONNECT fixed-header flags": h.packet(h.CONNECT, 1, _connect_body(0x02)),
    "protocol name MQIsdp at level 4": h.packet(h.CONNECT, 0, _connect_body(0x02,
                                                                            name=b"MQIsdp")),
    "client id not UTF-8": h.packet(h.CONNECT, 0, _connect_body(0x02, cid=b"\xff\xfe")),
}

MALFORMED_AFTER_CONNECT = {
    "PUBLISH QoS 3": h.packet(h.PUBLISH, 6, h._str("t/x") + b"\x00\x01x"),
    "SUBSCRIBE flags 0": h.packet(h.SUBSCRIBE, 0, b"\x00\x01" + h._str("t/#") + b"\x00"),
    "SUBSCRIBE without filters": h.packet(h.SUBSCRIBE, 2, b"\x00\x01"),
    "SUBSCRIBE QoS 3": h.packet(h.SUBSCRIBE, 2, b"\x00\x01" + h._str("t/#") + b"\x03"),
    "PUBLISH QoS 1 packet id 0": h.packet(h.PUBLISH, 2, h._str("t/x") + b"\x00\x00x"),
    "PINGREQ with a body": h.packet(h.PINGREQ, 0, b"x"),
    "topic not UTF-8": h.packet(h.PUBLISH, 0, h._str(b"t/\xff") + b"x"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED_CONNECT))
def test_malformed_connect_closes_without_connack(robust, name):
    raw = h.RawClient(robust.plain_port)
    try:
        raw.send(MALFORMED_CONNECT[name])
        assert raw.read_packet(3) is None, f"{name}: server answered instead of closing"
    finally:
        raw.close()


@pytest.mark.parametrize("name", sorted(MALFORMED_AFTER_CONNECT))
def test_malformed_packet_after_connect_closes_and_counts(robust, pair, name):
    a, b = pair
    before = robust.status()["mqtt"]["protocolErrors"]
    raw = h.RawClient(robust.plain_port)
    try:
        assert raw.connect("C") == 0
        raw.send(MALFORMED_AFTER_CONNECT[name])
        assert raw.read_packet(3) is None, f"{name}: server answered instead of closing"
    finally:
        raw.close()
    h.wait_until(lambda: robust.status()["mqtt"]["protocolErrors"] == before + 1, 3,
                 what="protocolErrors + 1")
    still_serving(a, b, name)
