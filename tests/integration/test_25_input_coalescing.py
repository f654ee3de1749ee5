"""Input coalescing under sustained load (issue 17; src/broker/README.md "Input coalescing"):
once wake-ups come in a streak, the broker spaces its batches of socket input by
evergreen.mqtt.coalesceInputMicros and takes what every socket received meanwhile in one batch.

End to end through the core, with a device sending a burst of QoS 0 PUBLISHes one packet per
send() (TCP_NODELAY: one segment each) and a paho subscriber:

* every message arrives, in order: waiting for input loses and reorders nothing;
* the core reports the batches that waited (`evergreen status` -> mqtt.coalescedBatches);
* with the option at 0 nothing waits, and a lone message after a quiet gap is never held back.

The test uses a 2 ms delay (the default is 30 us) so that a slow or loaded CI machine still
produces wake-ups closer together than the delay.
"""

import socket
import time

import evg_harness as h

N = 3000


def _connected(port, client_id):
    """A raw client (TCP_NODELAY: each send() one segment) past its CONNACK."""
    raw = h.RawClient(port)
    raw.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    raw.send(h.connect_packet(client_id))
    ptype, _, body = raw.read_packet()
    assert ptype == h.CONNACK and body[1] == 0, f"CONNACK {body!r}"
    return raw


def _burst(port, client_id, topic, n):
    raw = _connected(port, client_id)
    for i in range(n):
        raw.send(h.publish_packet(topic, b"%d" % i))
    raw.send(h.packet(h.DISCONNECT, 0, b""))
    raw.sock.close()


def _received_in_order(sub, n, timeout=20):
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        got.append(int(sub.expect(timeout=max(0.1, deadline - time.monotonic())).payload))
    assert got == list(range(n)), f"{len(got)} of {n} received, first out of order at " + str(
        next((i for i, v in enumerate(got) if v != i), None))


def _start(make_core, name, micros):
    core = make_core(name)
    core.set_mqtt(openBroker=True, coalesceInputMicros=micros)
    core.start()
    return core


def test_a_burst_is_taken_in_coalesced_batches_and_nothing_is_lost(make_core):
    core = _start(make_core, "coalesce", 2000)
    sub = h.Paho("sub", core.plain_port)
    sub.subscribe("burst/t")
    assert core.status()["mqtt"]["coalescedBatches"] == 0
    _burst(core.plain_port, "pub", "burst/t", N)
    _received_in_order(sub, N)
    coalesced = core.status()["mqtt"]["coalescedBatches"]
    assert 0 < coalesced < N, f"coalescedBatches {coalesced} for a burst of {N}"

    # After a quiet gap (> the delay) a single message is not held back.
    raw = _connected(core.plain_port, "lone")
    time.sleep(0.1)
    raw.send(h.publish_packet("burst/t", b"lone"))
    assert sub.expect(timeout=5).payload == b"lone"
    assert core.status()["mqtt"]["coalescedBatches"] == coalesced
    raw.sock.close()
    sub.close()


def test_coalescing_off_takes_input_as_it_arrives(make_core):
    core = _start(make_core, "nocoalesce", 0)
    sub = h.Paho("sub", core.plain_port)
    sub.subscribe("burst/t")
    _burst(core.plain_port, "pub", "burst/t", N)
    _received_in_order(sub, N)
    assert core.status()["mqtt"]["coalescedBatches"] == 0
    sub.close()
