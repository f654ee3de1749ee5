"""Issue 11 items 2 and 7 seen from outside: the IPC port survives a half-open connection flood
(header timeout, eviction at the cap), answers malformed HTTP with 400, and the CLI refuses
pathological JSON (100,000 levels deep, duplicate keys) with exit 2 and a message instead of
crashing. Every wait is bounded."""

import json
import resource
import socket
import time

import pytest

import evg_harness as h
import lambda_helpers as lh

FLOOD = 1100  # above the default evergreen.ipc.maxConnections (1024)
HEADER_TIMEOUT_MS = 10000  # evergreen.ipc.headerTimeoutMs default (the flood runs on defaults)


def _raise_fd_limit(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(hard, need)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        pytest.skip(f"RLIMIT_NOFILE {soft} < {need}")


def _closed_by_peer(s):
    """True when the server closed `s` (EOF or reset); never blocks."""
    s.setblocking(False)
    try:
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except (ConnectionResetError, OSError):
        return True


@pytest.fixture
def flood_core(make_core):
    core = lh.lambda_core(make_core)
    inv = lh.create_function(core, "Invoker", "invoker", "invoker.handler")
    rsp = lh.create_function(core, "Responder", "responder", "responder.handler")
    g = (lh.LambdaGroup().device("Dev")
         .function(inv, timeout=10).function(rsp)
         .sub("Dev", "invoker/in", inv).sub(inv, "invoker/result", "Dev"))
    core.deploy_ok(g)
    dev = h.Paho("Dev", core.plain_port)
    dev.subscribe("invoker/result")
    core.dev = dev
    core.arns = {"invoker": inv, "responder": rsp}
    yield core
    dev.close()


def test_half_open_flood_does_not_lock_out_invokes(flood_core):
    core = flood_core
    _raise_fd_limit(FLOOD + 256)
    port = core.status()["ipcPort"]
    conns = []
    try:
        started = time.monotonic()
        for i in range(FLOOD):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if i % 2:
                s.sendall(b"POST /2016-11-01/functions/x HTTP/1.1\r\nHost: localhost\r\n")
            conns.append(s)
        opened = time.monotonic() - started
        assert opened < HEADER_TIMEOUT_MS / 1000, (
            f"opening the flood took {opened:.1f}s; the header timeout would already interfere")
        # No worker runs yet (on-demand functions): both have to connect through the flood.
        t0 = time.monotonic()
        core.dev.publish("invoker/in", json.dumps(
            {"op": "invoke", "target": core.arns["responder"], "payload": {"x": 1}}))
        r = lh.expect_json(core.dev, "invoker/result", timeout=15)
        took = time.monotonic() - t0
        assert r.get("FunctionError") == "", r
        assert json.loads(r["Payload"])["event"] == {"x": 1}
        assert took < 15
        # Every half-open connection is closed by the core: evicted, or at the header timeout.
        deadline = time.monotonic() + HEADER_TIMEOUT_MS / 1000 + 5
        open_ = list(conns)
        while open_ and time.monotonic() < deadline:
            open_ = [s for s in open_ if not _closed_by_peer(s)]
            if open_:
                time.sleep(0.2)
        assert not open_, f"{len(open_)} of {FLOOD} half-open connections still open"
        assert time.monotonic() - started < HEADER_TIMEOUT_MS / 1000 + 15
    finally:
        for s in conns:
            s.close()
    # The core is still healthy afterwards.
    st, _, _ = lh.ipc_request(port, "GET", "/2016-11-01/health/workers")
    assert st == 200
    # ... and says what it did: `evergreen status` -> ipc (also on /metrics).
    ipc = core.status()["ipc"]
    assert ipc["accepted"] >= FLOOD, ipc
    assert ipc["evicted"] + ipc["headerTimeouts"] >= FLOOD // 2, ipc
    assert ipc["refused"] == 0, ipc


def test_malformed_http_is_answered_400(make_core):
    core = lh.lambda_core(make_core)
    port = core.status()["ipcPort"]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /2016-11-01/health/workers HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n")
        data = b""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    text = data.decode(errors="replace")
    assert text.startswith("HTTP/1.1 400"), text
    body = json.loads(text.split("\r\n\r\n", 1)[1])
    assert body["errorType"] == "Invalid"
    assert "malformed HTTP request" in body["errorMessage"], body


def _deep(n=100000):
    # Well-formed: the old parser accepted it and a later recursive walk overflowed the stack.
    return '{"SubscriptionDefinitionVersion":{"Subscriptions":' + "[" * n + "]" * n + "}}"


def test_deep_json_group_is_refused_with_exit_2(tmp_path, make_core):
    deep = tmp_path / "deep.json"
    deep.write_text(_deep())
    r = h.run_cli("validate-group", deep)
    assert r.returncode == 2, (r.returncode, r.stderr[-500:])
    assert "nesting deeper than 64 levels" in r.stderr, r.stderr
    core = make_core("deployroot")
    r = h.run_cli("deploy", "--root", core.root, deep)
    assert r.returncode == 2, (r.returncode, r.stderr[-500:])
    assert "nesting deeper than 64 levels" in r.stderr, r.stderr


def test_deep_or_duplicate_config_is_refused_by_run(make_core):
    core = make_core("runroot")
    core.write_config()
    good = open(core.config_file).read()
    with open(core.config_file, "w") as f:
        f.write('{"coreThing":' + "[" * 100000 + "]" * 100000 + "}")
    r = h.run_cli("run", "--root", core.root, timeout=30)
    assert r.returncode == 2, (r.returncode, r.stderr[-500:])
    assert "nesting deeper than 64 levels at coreThing" in r.stderr, r.stderr
    dup = good.replace('"coreThing": {', '"coreThing": {"keepAlive": 600, "keepAlive": 60, ', 1)
    assert dup != good
    with open(core.config_file, "w") as f:
        f.write(dup)
    r = h.run_cli("run", "--root", core.root, timeout=30)
    assert r.returncode == 2, (r.returncode, r.stderr[-500:])
    assert 'duplicate key "keepAlive" in object at coreThing' in r.stderr, r.stderr


def test_duplicate_key_in_group_file_is_refused(tmp_path):
    g = h.Group().device("Dev").to_json()
    text = json.dumps(g)
    dup = text.replace('{"Id": ', '{"Id": "first", "Id": ', 1)
    assert dup != text
    p = tmp_path / "dup.json"
    p.write_text(dup)
    r = h.run_cli("validate-group", p)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert 'duplicate key "Id"' in r.stderr, r.stderr
