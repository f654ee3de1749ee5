"""Stream manager (issue 13, server): the GENUINE Python SDK's StreamManagerClient against the
core's native GGStreamManager.

The SDK is imported from <shared>/vendor/aws-greengrass-core-sdk-python (never copied into the
repository; genuine_helpers.vendor). Two paths:
* the real one: a deployed function bundling the genuine greengrasssdk, authenticated by its
  worker token (STREAM_MANAGER_AUTHENTICATE_CLIENT true, the v1 default);
* the test process itself, with STREAM_MANAGER_AUTHENTICATE_CLIENT=false (a v1 option) for the
  bulk of the operations and errors, and with true to check that a client without a worker
  token is refused with Unauthorized.
Needs Debian's python3-cbor2 (the SDK's cbor2 dependency; scripts/setup.sh)."""

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import warnings

import pytest

import evg_harness as h
import genuine_helpers as gh
import lambda_helpers as lh

sys.path.insert(0, os.path.dirname(gh.vendor(*gh.PY_SDK)))
import cbor2  # noqa: E402  (python3-cbor2)

with warnings.catch_warnings():  # the SDK's regex literals warn on Python >= 3.6
    warnings.simplefilter("ignore", DeprecationWarning)
    from greengrasssdk.stream_manager import (  # noqa: E402
        ConnectFailedException, InvalidRequestException, MessageStreamDefinition,
        NotEnoughMessagesException, Persistence, ReadMessagesOptions,
        RequestPayloadTooLargeException, ResourceNotFoundException, StrategyOnFull,
        StreamManagerClient, UpdateNotAllowedException, ValidationException)

SM_ARN = "arn:aws:lambda:::function:GGStreamManager:1"
MAX_MESSAGE_BYTES = 65536


def sm_group(port, auth, extra=None):
    env = {"STREAM_MANAGER_SERVER_PORT": str(port), "STREAM_MANAGER_AUTHENTICATE_CLIENT": auth,
           "JVM_ARGS": "-Xmx64m"}
    env.update(extra or {})
    return lh.LambdaGroup().function(SM_ARN, fn_id="stream-manager", env=env)


def sm_core(make_core, auth):
    core = lh.lambda_core(make_core, start=False)
    core.config["evergreen"]["streamManager"] = {"maxMessageBytes": MAX_MESSAGE_BYTES}
    core.start()
    core.sm_port = h.free_port()
    core.deploy_ok(sm_group(core.sm_port, auth))
    return core


@pytest.fixture
def open_core(make_core):
    return sm_core(make_core, "false")


@pytest.fixture
def client(open_core):
    c = StreamManagerClient(port=open_core.sm_port)
    yield c
    c.close()


def definition(name, **kw):
    kw.setdefault("strategy_on_full", StrategyOnFull.RejectNewData)
    return MessageStreamDefinition(name=name, **kw)


def test_enabled_like_v1_and_reported(open_core):
    st = open_core.status()["streamManager"]
    assert st["enabled"] is True and st["port"] == open_core.sm_port
    assert st["authenticateClient"] is False
    log = open_core.log("GGStreamManager")
    assert f"listening on 127.0.0.1:{open_core.sm_port}" in log
    assert "JVM_ARGS is accepted and not used" in log


def test_create_append_1000_read_describe_update_list_delete(open_core, client):
    name = "sensor stream-1.a"
    client.create_message_stream(definition(name, persistence=Persistence.File))
    payloads = [os.urandom(8) + b"%d" % i for i in range(1000)]
    seqs = [client.append_message(name, p) for p in payloads]
    assert seqs == list(range(1000))
    msgs = client.read_messages(name, ReadMessagesOptions(
        desired_start_sequence_number=0, min_message_count=1000, max_message_count=1000,
        read_timeout_millis=5000))
    assert [m.payload for m in msgs] == payloads
    assert [m.sequence_number for m in msgs] == seqs
    assert all(m.stream_name == name and m.ingest_time > 0 for m in msgs)
    # Long-poll: the answer comes when the message is appended, not at the timeout.
    got = {}

    def reader():
        with StreamManagerClient(port=open_core.sm_port) as c2:
            t0 = time.monotonic()
            got["m"] = c2.read_messages(name, ReadMessagesOptions(
                desired_start_sequence_number=1000, min_message_count=1,
                read_timeout_millis=10000))
            got["s"] = time.monotonic() - t0

    t = threading.Thread(target=reader)
    t.start()
    time.sleep(0.5)
    assert client.append_message(name, b"late") == 1000
    t.join(15)
    assert [m.payload for m in got["m"]] == [b"late"]
    assert got["s"] < 5, got
    info = client.describe_message_stream(name)
    assert info.definition.name == name
    assert info.storage_status.oldest_sequence_number == 0
    assert info.storage_status.newest_sequence_number == 1000
    assert info.storage_status.total_bytes == sum(map(len, payloads)) + 4
    # Update: maxSize and flushOnWrite may change; persistence may not.
    client.update_message_stream(definition(name, max_size=1 << 20, flush_on_write=True))
    info = client.describe_message_stream(name)
    assert info.definition.max_size == 1 << 20 and info.definition.flush_on_write is True
    with pytest.raises(UpdateNotAllowedException):
        client.update_message_stream(definition(name, persistence=Persistence.Memory))
    client.create_message_stream(definition("other", persistence=Persistence.Memory))
    assert sorted(client.list_streams()) == sorted([name, "other"])
    st = {s["name"]: s for s in open_core.status()["streamManager"]["streams"]}
    assert st[name]["messages"] == 1001 and st[name]["newestSequenceNumber"] == 1000
    assert st["other"]["persistence"] == "Memory"
    client.delete_message_stream(name)
    assert client.list_streams() == ["other"]
    with pytest.raises(ResourceNotFoundException):
        client.describe_message_stream(name)


def test_documented_errors(open_core, client):
    with pytest.raises(ResourceNotFoundException):
        client.append_message("nope", b"x")
    with pytest.raises(ResourceNotFoundException):
        client.read_messages("nope")
    with pytest.raises(ResourceNotFoundException):
        client.delete_message_stream("nope")
    # Bad names are refused by the genuine client before sending, and by the server (raw below).
    with pytest.raises(ValidationException):
        client.create_message_stream(definition("bad/name"))
    client.create_message_stream(definition("s", persistence=Persistence.Memory))
    with pytest.raises(InvalidRequestException):
        client.create_message_stream(definition("s"))  # exists
    # Oversized payloads: over evergreen.streamManager.maxMessageBytes, and over the stream.
    with pytest.raises(RequestPayloadTooLargeException):
        client.append_message("s", b"x" * (MAX_MESSAGE_BYTES + 1))
    client.create_message_stream(definition("tiny", max_size=1024, stream_segment_size=1024))
    with pytest.raises(RequestPayloadTooLargeException):
        client.append_message("tiny", b"x" * 2000)
    # Not enough messages: at once (timeout 0) and after the timeout.
    with pytest.raises(NotEnoughMessagesException):
        client.read_messages("s", ReadMessagesOptions(min_message_count=1))
    t0 = time.monotonic()
    with pytest.raises(NotEnoughMessagesException):
        client.read_messages("s", ReadMessagesOptions(min_message_count=1,
                                                      read_timeout_millis=400))
    assert 0.35 < time.monotonic() - t0 < 5


def test_full_stream_strategies(open_core, client):
    client.create_message_stream(definition(
        "reject", max_size=1024, stream_segment_size=1024,
        strategy_on_full=StrategyOnFull.RejectNewData))
    for i in range(10):
        client.append_message("reject", b"r" * 100)
    with pytest.raises(InvalidRequestException, match="full"):
        client.append_message("reject", b"r" * 100)
    client.create_message_stream(definition(
        "overwrite", max_size=1024, stream_segment_size=1024,
        strategy_on_full=StrategyOnFull.OverwriteOldestData))
    for i in range(50):
        assert client.append_message("overwrite", b"%03d" % i + b"o" * 97) == i
    st = client.describe_message_stream("overwrite").storage_status
    assert st.total_bytes <= 1024 and st.newest_sequence_number == 49
    assert st.oldest_sequence_number > 0
    msgs = client.read_messages("overwrite", ReadMessagesOptions(
        desired_start_sequence_number=0, min_message_count=1, max_message_count=100))
    assert msgs[0].sequence_number == st.oldest_sequence_number
    assert msgs[-1].payload.startswith(b"049")


def raw_call(port, frames, timeout=5):
    """Raw protocol client (cbor2 + §6.2 framing): handshake, then each (op, map); returns
    [(op, decoded map)] of the answers."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(op, m):
        p = cbor2.dumps(m)
        s.sendall(struct.pack(">iB", len(p) + 1, op) + p)

    def recv_exact(n):
        b = b""
        while len(b) < n:
            chunk = s.recv(n - len(b))
            assert chunk, "connection closed"
            b += chunk
        return b

    def recv():
        ln, op = struct.unpack(">iB", recv_exact(5))
        return op, cbor2.loads(recv_exact(ln - 1))

    s.sendall(b"\x01")
    send(1, {"requestId": "c", "protocolVersion": "1.1.0"})
    assert recv_exact(1) == b"\x01"
    op, resp = recv()
    assert (op, resp["status"]) == (6, 0), resp
    for op, m in frames:
        send(op, m)
    out = [recv() for _ in frames]
    s.close()
    return out


def test_server_side_validation_and_unknown_operation(open_core):
    out = raw_call(open_core.sm_port, [
        (2, {"requestId": "a", "definition": {"name": "bad/name", "strategyOnFull": 0}}),
        (2, {"requestId": "b", "definition": {"name": "ok", "strategyOnFull": 0,
                                              "timeToLiveMillis": 1000}}),
        (2, {"requestId": "c", "definition": {"name": "ok"}}),
        (42, {"requestId": "d"}),
        (5, {"requestId": "e", "streamName": "x",
             "readMessagesOptions": {"minMessageCount": 0}}),
    ])
    by_id = {m["requestId"]: (op, m) for op, m in out}
    assert by_id["a"][1]["status"] == 3 and "definition.name" in by_id["a"][1]["errorMessage"]
    assert by_id["b"][1]["status"] == 3 and "timeToLiveMillis" in by_id["b"][1]["errorMessage"]
    assert by_id["c"][1]["status"] == 3 and "strategyOnFull" in by_id["c"][1]["errorMessage"]
    assert by_id["d"][0] == 17 and by_id["d"][1]["status"] == 18
    assert by_id["e"][1]["status"] == 3 and "minMessageCount" in by_id["e"][1]["errorMessage"]


def raw_connect_status(port, token):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    m = {"requestId": "c", "protocolVersion": "1.1.0"}
    if token is not None:
        m["authToken"] = token
    p = cbor2.dumps(m)
    s.sendall(b"\x01" + struct.pack(">iB", len(p) + 1, 1) + p)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    assert data[:1] == b"\x01" and data[5] == 6, data
    return cbor2.loads(data[6:])


def test_unauthenticated_client_refused(make_core):
    """AUTHENTICATE_CLIENT true: without a running worker's token the ConnectResponse carries
    Unauthorized (2) and the connection is closed; the genuine client raises
    ConnectFailedException (it does so for any non-Success ConnectResponse)."""
    core = sm_core(make_core, "true")
    os.environ.pop("AWS_CONTAINER_AUTHORIZATION_TOKEN", None)
    with pytest.raises(ConnectFailedException):
        StreamManagerClient(port=core.sm_port)
    os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "not-a-worker-token"
    try:
        with pytest.raises(ConnectFailedException):
            StreamManagerClient(port=core.sm_port)
    finally:
        del os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
    for token in (None, "not-a-worker-token"):
        r = raw_connect_status(core.sm_port, token)
        assert r["status"] == 2 and "authToken" in r["errorMessage"], r
    assert core.status()["streamManager"]["authenticateClient"] is True


def test_function_uses_genuine_client_with_its_token(make_core, tmp_path):
    """The real path: a deployed function with the genuine SDK, authenticated by its token."""
    core = lh.lambda_core(make_core)
    code = str(tmp_path / "stream_fn_code")
    shutil.copytree(os.path.join(lh.FUNCTIONS_DIR, "stream_py"), code)
    shutil.copytree(gh.vendor(*gh.PY_SDK), os.path.join(code, "greengrasssdk"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    arn = lh.create_function(core, "StreamFn", code, "stream_fn.handler")
    port = h.free_port()
    g = sm_group(port, "true").device("Dev").function(arn, timeout=30)
    g = g.sub("Dev", "stream/in", arn).sub(arn, "stream/out", "Dev")
    core.deploy_ok(g)
    dev = h.Paho("Dev", core.plain_port)
    try:
        assert dev.subscribe("stream/out") == 0
        dev.publish("stream/in", json.dumps({"stream": "fromfn", "count": 200,
                                             "reply": "stream/out", "tag": "t1"}))
        out = json.loads(lh.expect_on(dev, "stream/out", timeout=30).payload)
    finally:
        dev.close()
    assert "error" not in out, out
    assert out["port"] == port
    assert out["seqs_ok"] and out["payloads_ok"] and out["read"] == 200 and out["newest"] == 199
    st = {s["name"]: s for s in core.status()["streamManager"]["streams"]}
    assert st["fromfn"]["messages"] == 200


def test_kill_9_then_restart_keeps_messages_and_numbering(open_core):
    core = open_core
    n = 500
    with StreamManagerClient(port=core.sm_port) as c:
        c.create_message_stream(definition("durable", persistence=Persistence.File,
                                           stream_segment_size=4096))
        for i in range(n):
            c.append_message("durable", b"d%d" % i)
    core.proc.kill()  # SIGKILL: no flush, no shutdown
    core.proc.wait(5)
    core.start()
    h.wait_until(lambda: core.status()["streamManager"].get("enabled"), 10,
                 what="stream manager back")
    with StreamManagerClient(port=core.sm_port) as c:
        msgs = c.read_messages("durable", ReadMessagesOptions(
            desired_start_sequence_number=0, min_message_count=n, max_message_count=n))
        assert [m.payload for m in msgs] == [b"d%d" % i for i in range(n)]
        assert c.append_message("durable", b"after") == n


def test_genuine_node_sdk_client(open_core, tmp_path):
    """The genuine npm aws-greengrass-core-sdk@1.7.0 StreamManagerClient (fetched from the npm
    registry by the test) does the same operations and gets the same errors."""
    import node_helpers as nh
    node = nh.node_binary()
    assert node, "node is not installed (scripts/setup.sh installs it)"
    d = nh.install_genuine_sdk("stream_node", str(tmp_path / "stream_node"))
    r = subprocess.run([node, os.path.join(d, "sm_client.js"), str(open_core.sm_port), "node s"],
                       capture_output=True, text=True, timeout=90)
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert r.returncode == 0, (out, r.stderr[-2000:])
    assert out["seqsOk"] and out["readOk"], out
    assert out["longPoll"]["payload"] == "late" and out["longPoll"]["ms"] < 5000, out
    assert out["newest"] == 1000 and out["maxSizeAfterUpdate"] == 1 << 20
    assert out["updatePersistence"] == "UpdateNotAllowedException"
    assert out["list"] == ["node s"]
    assert out["unknownStream"] == "ResourceNotFoundException"
    assert out["badName"] == "ValidationException"  # refused by the genuine client itself
    assert out["oversized"] == "RequestPayloadTooLargeException"
    assert out["full"] == "InvalidRequestException"
    assert out["overwrite"]["newest"] == 49 and out["overwrite"]["oldest"] > 0
    assert out["overwrite"]["bytes"] <= 1024
    assert out["notEnough"] == "NotEnoughMessagesException"
    assert out["afterDelete"] == "ResourceNotFoundException"
