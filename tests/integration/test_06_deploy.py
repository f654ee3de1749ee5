"""`evergreen deploy`: rejected groups leave the active one in place; a new group keeps
unchanged devices connected and disconnects removed ones; with no core running the group is
staged (exit 3) and activated at start."""

import json
import socket

import pytest

import evg_harness as h


def base_group():
    return (h.Group().device("A").device("B").device("C")
            .sub("A", "d/#", "B", "a-to-b"))


def control_call(core, request, timeout=10):
    """Talks to the control socket directly (newline-delimited JSON)."""
    path = f"{core.root}/var/run/evergreen.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(json.dumps(request).encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    return json.loads(buf)


@pytest.fixture
def deployed(core):
    core.deploy_ok(base_group())
    return core


def test_deploy_prints_result_and_counts(deployed):
    r = deployed.deploy(base_group().sub("B", "back/#", "A", "b-to-a"))
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["status"] == "Success" and res["subscriptions"] == 2 and res["devices"] == 3
    st = deployed.status()["router"]
    assert st["deployments"] == 2 and st["subscriptions"] == 2


def test_rejected_group_exits_2_names_element_and_previous_group_stays(deployed):
    a = h.Paho("A", deployed.plain_port)
    b = h.Paho("B", deployed.plain_port)
    try:
        assert b.subscribe("d/#") == 0
        bad = base_group().sub("A", "#/a", "B", "bad-sub").to_json()
        r = deployed.deploy(bad)
        assert r.returncode == 2
        assert "Subscriptions[Id=bad-sub].Subject" in r.stderr, r.stderr
        assert "#/a" in r.stderr
        # The same group straight to the core's control channel: refused there too, counted.
        resp = control_call(deployed, {"op": "deploy", "group": bad})
        assert resp["ok"] is False
        assert "Subscriptions[Id=bad-sub].Subject" in resp["error"]
        st = deployed.status()["router"]
        assert st["deploymentsRejected"] == 1 and st["subscriptions"] == 1
        # Previous group still routes, on the same connections.
        a.publish("d/1", b"still routed")
        b.expect_only("d/1", b"still routed")
        assert b.disconnects.empty() and a.disconnects.empty()
        # The persisted group was not replaced either.
        with open(f"{deployed.root}/deployment/group/group.json") as f:
            assert "bad-sub" not in f.read()
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("mutate,needle", [
    (lambda g: g["SubscriptionDefinitionVersion"]["Subscriptions"][0].update(
        Target=h.thing_arn("Ghost")), "Subscriptions[Id=a-to-b].Target"),
    (lambda g: g["DeviceDefinitionVersion"]["Devices"][0].update(Tiemout=3),
     "Tiemout"),
    (lambda g: g["SubscriptionDefinitionVersion"]["Subscriptions"][0].update(Id="bad id!"),
     "Subscriptions[0].Id"),
    (lambda g: g["DeviceDefinitionVersion"]["Devices"][1].update(
        CertificateFingerprintSha256="AB" * 32), "Devices[Id=B].CertificateFingerprintSha256"),
])
def test_other_rejections_name_the_element(deployed, mutate, needle):
    g = base_group().to_json()
    mutate(g)
    r = deployed.deploy(g)
    assert r.returncode == 2
    assert needle in r.stderr, r.stderr
    assert len([line for line in r.stderr.splitlines() if line.strip()]) == 1


def test_deploy_invalid_json_file_exits_2(deployed, tmp_path):
    p = tmp_path / "broken.json"
    p.write_text('{"DeviceDefinitionVersion": ')
    r = h.run_cli("deploy", "--root", deployed.root, str(p))
    assert r.returncode == 2
    assert "broken.json" in r.stderr


def test_validate_group_cli(tmp_path):
    ok = tmp_path / "ok.json"
    ok.write_text(json.dumps(base_group().to_json()))
    r = h.run_cli("validate-group", str(ok))
    assert r.returncode == 0 and "1 subscriptions" in r.stdout
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(base_group().sub("A", "#/a", "B", "s9").to_json()))
    r = h.run_cli("validate-group", str(bad))
    assert r.returncode == 2 and "Subscriptions[Id=s9].Subject" in r.stderr


def test_redeploy_keeps_unchanged_device_connected(deployed):
    a = h.Paho("A", deployed.plain_port)
    b = h.Paho("B", deployed.plain_port)
    try:
        assert b.subscribe("d/#") == 0
        # New group: B and A unchanged, a device and a subscription added.
        deployed.deploy_ok(base_group().device("D").sub("D", "d/#", "B", "d-to-b")
                           .sub("A", "extra/#", "B", "extra"))
        a.publish("d/after", b"after deploy")
        b.expect_only("d/after", b"after deploy")
        assert b.disconnects.empty(), "B was disconnected by an unrelated deploy"
        assert a.disconnects.empty()
        # The new subscription is usable without reconnecting.
        assert b.subscribe("extra/#") == 0
        a.publish("extra/1", b"new sub")
        b.expect_only("extra/1", b"new sub")
    finally:
        a.close()
        b.close()


def test_removed_subscription_stops_routing_without_reconnect(deployed):
    a = h.Paho("A", deployed.plain_port)
    b = h.Paho("B", deployed.plain_port)
    try:
        assert b.subscribe("d/#") == 0
        assert b.subscribe("x/#") == 128
        deployed.deploy_ok(h.Group().device("A").device("B").device("C")
                           .sub("A", "x/#", "B", "only-x"))
        a.publish("d/1", b"no longer routed")
        assert b.subscribe("x/#") == 0
        a.publish("x/1", b"sentinel")
        b.expect_only("x/1", b"sentinel")
        assert b.disconnects.empty()
    finally:
        a.close()
        b.close()


def test_removing_a_device_disconnects_it(deployed):
    a = h.Paho("A", deployed.plain_port)
    b = h.Paho("B", deployed.plain_port)
    try:
        h.wait_connected(deployed, 2)
        deployed.deploy_ok(h.Group().device("B").device("C"))
        assert a.disconnects.get(timeout=5) != 0
        h.wait_connected(deployed, 1)
        assert b.disconnects.empty()
    finally:
        a.close()
        b.close()
    raw = h.RawClient(deployed.plain_port)
    try:
        assert raw.connect("A") == 5
    finally:
        raw.close()


def test_tls_device_with_new_certificate_is_disconnected(core, tmp_path):
    old = core.issue_device("Cam")
    core.deploy_ok(h.Group().device("Cam", old.fingerprint))
    cam = h.Paho("Cam", core.tls_port, device=old)
    try:
        h.wait_connected(core, 1)
        # An unrelated change keeps the TLS session.
        core.deploy_ok(h.Group().device("Cam", old.fingerprint).device("Other")
                       .sub("Other", "cam/#", "Cam"))
        assert cam.subscribe("cam/#") == 0
        other = h.Paho("Other", core.plain_port)
        other.publish("cam/1", b"on the same TLS connection")
        other.close()
        cam.expect_only("cam/1", b"on the same TLS connection")
        assert cam.disconnects.empty()
        # Re-issued (elsewhere, to keep the old files): new key, new fingerprint.
        new = core.issue_device("Cam", out=tmp_path / "reissued")
        assert new.fingerprint != old.fingerprint
        core.deploy_ok(h.Group().device("Cam", new.fingerprint))
        assert cam.disconnects.get(timeout=5) != 0
    finally:
        cam.close()
    ok, _ = h.tls_handshake_ok(core.tls_port, core.ca_path, old.cert, old.key)
    assert not ok
    ok, detail = h.tls_handshake_ok(core.tls_port, core.ca_path, new.cert, new.key)
    assert ok, detail


def test_deploy_without_core_is_staged_exit_3_and_active_after_start(make_core):
    core = make_core()
    core.write_config()
    r = core.deploy(base_group())
    assert r.returncode == 3, r.stderr
    assert "no core is running" in r.stdout
    core.start(write_config=False)
    assert core.status()["router"]["subscriptions"] == 1
    a = h.Paho("A", core.plain_port)
    b = h.Paho("B", core.plain_port)
    try:
        assert b.subscribe("d/#") == 0
        a.publish("d/staged", b"active")
        b.expect_only("d/staged", b"active")
    finally:
        a.close()
        b.close()


def test_staged_invalid_group_is_rejected_before_staging(make_core):
    core = make_core()
    core.write_config()
    r = core.deploy(base_group().sub("A", "#/a", "B", "bad").to_json())
    assert r.returncode == 2
    assert "Subscriptions[Id=bad].Subject" in r.stderr


def test_active_group_survives_restart(deployed):
    rc, _ = deployed.stop()
    assert rc == 0
    deployed.start(write_config=False)
    assert deployed.status()["router"]["subscriptions"] == 1
    raw = h.RawClient(deployed.plain_port)
    try:
        assert raw.connect("A") == 0
    finally:
        raw.close()


def test_deploy_after_core_crash_is_staged_exit_3(make_core):
    core = make_core()
    core.start()
    core.proc.kill()  # stale control socket left behind
    core.proc.wait(timeout=5)
    r = core.deploy(base_group())
    assert r.returncode == 3, r.stdout + r.stderr
    core.start(write_config=False)
    assert core.status()["router"]["subscriptions"] == 1
