"""Mutual TLS on coreThing.ggMqttPort: a device certificate issued by `evergreen certs
issue-device` whose fingerprint is in the group connects and routes; anything else is refused
at the handshake."""

import os
import subprocess
import time

import pytest

import evg_harness as h


@pytest.fixture
def tls_core(make_core):
    """Core with Sensor and Dashboard (certs issued, fingerprints in the group);
    Sensor -> Dashboard on sensors/#."""
    core = make_core().start()
    sensor = core.issue_device("Sensor")
    dash = core.issue_device("Dashboard")
    g = (h.Group().device("Sensor", sensor.fingerprint).device("Dashboard", dash.fingerprint)
         .sub("Sensor", "sensors/#", "Dashboard"))
    core.deploy_ok(g)
    core.sensor, core.dash, core.group = sensor, dash, g
    return core


def test_issue_device_prints_paths_and_fingerprint(make_core):
    core = make_core().start()
    d = core.issue_device("Thermo_1")
    for p in (d.cert, d.key, d.ca):
        assert os.path.isfile(p), p
    assert os.stat(d.key).st_mode & 0o077 == 0
    assert len(d.fingerprint) == 64 and d.fingerprint == d.fingerprint.lower()
    # Same value as the openssl CLI (lowercase, colons removed).
    out = subprocess.run(["openssl", "x509", "-in", d.cert, "-noout", "-fingerprint", "-sha256"],
                         capture_output=True, text=True, check=True).stdout
    assert out.split("=", 1)[1].strip().replace(":", "").lower() == d.fingerprint
    r = h.run_cli("certs", "fingerprint", d.cert)
    assert r.returncode == 0 and r.stdout.strip() == d.fingerprint
    # A thing name that is not safe as a file name is refused with exit 2.
    r = h.run_cli("certs", "issue-device", "--root", core.root, "../evil")
    assert r.returncode == 2
    assert r.stderr.strip()


def test_mosquitto_clients_route_over_mutual_tls(tls_core):
    core = tls_core
    sub = h.mosquitto_sub_start(core.tls_port, "Dashboard", "sensors/#", 1, device=core.dash)
    try:
        h.wait_connected(core, 1)
        deadline = time.monotonic() + 10
        while sub.poll() is None and time.monotonic() < deadline:
            r = h.mosquitto_pub(core.tls_port, "Sensor", "sensors/t1/temperature", "21.5",
                                device=core.sensor)
            assert r.returncode == 0, r.stderr
            try:
                sub.wait(timeout=0.3)
            except subprocess.TimeoutExpired:
                pass
        out, err = sub.communicate(timeout=5)
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait()
    assert sub.returncode == 0, err
    assert out.splitlines()[0] == "sensors/t1/temperature 21.5"
    assert core.status()["router"]["toDevices"] >= 1


def test_paho_routes_over_mutual_tls(tls_core):
    core = tls_core
    dash = h.Paho("Dashboard", core.tls_port, device=core.dash)
    sensor = h.Paho("Sensor", core.tls_port, device=core.sensor)
    try:
        assert dash.subscribe("sensors/#", qos=1) == 1
        sensor.publish("sensors/s1/humidity", b"55", qos=1)
        m = dash.expect()
        assert (m.topic, m.payload) == ("sensors/s1/humidity", b"55")
        # The other direction has no subscription: nothing arrives at the sensor.
        assert sensor.subscribe("sensors/#") == 128
    finally:
        dash.close()
        sensor.close()


def test_device_must_use_its_thing_name_as_client_id(tls_core):
    """v1 rule (issue 11 item 5): in group mode a device's client id is its thing name. Sensor's
    certificate with client id "Dashboard" gets CONNACK 2 (identifier rejected), logged."""
    core = tls_core
    ctx = h.client_tls_context(core.sensor.ca, core.sensor.cert, core.sensor.key)
    c = h.RawClient(core.tls_port, tls_ctx=ctx)
    try:
        assert c.connect("Dashboard") == 2
    finally:
        c.close()
    h.wait_until(lambda: "must use its thing name as client id" in core.log("GGConnManager"), 5,
                 what="refusal logged")


def test_squatter_cannot_lock_the_owner_out_group_mode(tls_core):
    """Issue 11 item 5: Sensor squats Dashboard's client id with cleanSession=0 while Dashboard is
    offline. Before: accepted, and Dashboard then got CONNACK 2 until the squatter left."""
    core = tls_core
    ctx = h.client_tls_context(core.sensor.ca, core.sensor.cert, core.sensor.key)
    squatter = h.RawClient(core.tls_port, tls_ctx=ctx)
    try:
        assert squatter.connect("Dashboard", clean=False) == 2
    finally:
        squatter.close()
    dash = h.Paho("Dashboard", core.tls_port, device=core.dash)  # asserts CONNACK 0
    dash.close()


def test_squatter_cannot_lock_the_owner_out_open_mode(make_core):
    """Open mode: the newest connection of a client id wins; the squatter's session is discarded,
    not handed to the owner."""
    core = make_core()
    core.set_mqtt(openBroker=True)
    core.start()
    sensor = core.issue_device("Sensor")
    dash = core.issue_device("Dashboard")
    core.deploy_ok(h.Group().device("Sensor", sensor.fingerprint)
                   .device("Dashboard", dash.fingerprint))
    squatter = h.Paho("Dashboard", core.tls_port, device=sensor, clean_session=False)
    try:
        assert squatter.subscribe("private/#", qos=1) == 1
        # The owner connects while the squatter is online: it takes over.
        owner = h.Paho("Dashboard", core.tls_port, device=dash, clean_session=False)
        assert owner.session_present == 0  # the squatter's session is not handed over
        squatter.disconnects.get(timeout=5)
        squatter.c.loop_stop()  # no automatic reconnect
        owner.close()
    finally:
        squatter.c.loop_stop()
    # Squatter comes back and leaves (offline persistent session); the owner still gets in.
    squatter = h.Paho("Dashboard", core.tls_port, device=sensor, clean_session=False)
    squatter.close()
    owner = h.Paho("Dashboard", core.tls_port, device=dash, clean_session=False)
    try:
        assert owner.session_present == 0
    finally:
        owner.close()


def test_certificate_not_in_group_is_refused(tls_core):
    core = tls_core
    stranger = core.issue_device("Stranger")  # signed by the group CA, but not in the group
    ok, detail = h.tls_handshake_ok(core.tls_port, stranger.ca, stranger.cert, stranger.key)
    assert not ok, detail
    ok, detail = h.tls_handshake_ok(core.tls_port, core.sensor.ca, core.sensor.cert,
                                    core.sensor.key)
    assert ok, detail
    r = h.mosquitto_pub(core.tls_port, "Stranger", "sensors/x", "1", device=stranger)
    assert r.returncode != 0


def test_no_client_certificate_is_refused(tls_core):
    core = tls_core
    ok, detail = h.tls_handshake_ok(core.tls_port, core.ca_path)
    assert not ok, detail
    r = subprocess.run(
        ["mosquitto_pub", "-h", "localhost", "-p", str(core.tls_port), "--cafile", core.ca_path,
         "-i", "Sensor", "-t", "sensors/x", "-m", "1"],
        capture_output=True, text=True, timeout=10)
    assert r.returncode != 0


def make_foreign_ca_cert(tmp, cn):
    """A CA and a clientAuth leaf made with the openssl CLI, unrelated to the group CA."""
    def ossl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=tmp, timeout=30)

    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=Other CA", "-days", "2",
         "-addext", "basicConstraints=critical,CA:TRUE")
    ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
         "dev.key", "-out", "dev.csr", "-subj", f"/CN={cn}")
    with open(os.path.join(tmp, "ext.cnf"), "w") as f:
        f.write("extendedKeyUsage=clientAuth\n")
    ossl("x509", "-req", "-in", "dev.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "dev.pem", "-days", "2", "-extfile", "ext.cnf")
    return os.path.join(tmp, "dev.pem"), os.path.join(tmp, "dev.key")


def test_certificate_from_another_ca_is_pinned_only_when_listed(tls_core, tmp_path):
    """A device keeps the certificate AWS IoT issued it (another CA): it is accepted only when
    its SHA-256 is a device of the group (pinning; issue 14), and refused otherwise."""
    core = tls_core
    cert, key = make_foreign_ca_cert(str(tmp_path), "Rogue")
    fp = h.run_cli("certs", "fingerprint", cert).stdout.strip()
    assert len(fp) == 64
    # Not in the group: refused at the handshake.
    ok, detail = h.tls_handshake_ok(core.tls_port, core.ca_path, cert, key)
    assert not ok, detail
    # Pinned by its fingerprint (or by the certificate id in its CertificateArn): accepted.
    core.deploy_ok(h.Group().device("Sensor", core.sensor.fingerprint)
                   .device("Dashboard", core.dash.fingerprint).device("Rogue", fp)
                   .sub("Rogue", "sensors/#", "Dashboard"))
    ok, detail = h.tls_handshake_ok(core.tls_port, core.ca_path, cert, key)
    assert ok, detail
    rogue = h.Device("Rogue", cert, key, core.ca_path, fp)
    r = h.mosquitto_pub(core.tls_port, "Rogue", "sensors/x", "1", device=rogue)
    assert r.returncode == 0, r.stderr
    # Removed from the group again: refused.
    core.deploy_ok(h.Group().device("Sensor", core.sensor.fingerprint)
                   .device("Dashboard", core.dash.fingerprint))
    ok, detail = h.tls_handshake_ok(core.tls_port, core.ca_path, cert, key)
    assert not ok, detail


def revoke(core, fingerprint):
    with open(os.path.join(core.certs_dir, "revoked.txt"), "a") as f:
        f.write("# revoked by the test\n")
        # Upper case with colons: the list ignores both.
        f.write(":".join(fingerprint[i:i + 2] for i in range(0, 64, 2)).upper() + "\n")


def test_revoked_certificate_refused_after_redeploy_and_live_session_closed(tls_core):
    core = tls_core
    sensor = h.Paho("Sensor", core.tls_port, device=core.sensor)
    try:
        h.wait_connected(core, 1)
        revoke(core, core.sensor.fingerprint)
        core.deploy_ok(core.group)
        rc = sensor.disconnects.get(timeout=5)
        assert rc != 0  # closed by the server, not by us
    finally:
        sensor.close()
    ok, detail = h.tls_handshake_ok(core.tls_port, core.ca_path, core.sensor.cert,
                                    core.sensor.key)
    assert not ok, detail
    # Dashboard is unaffected.
    ok, detail = h.tls_handshake_ok(core.tls_port, core.ca_path, core.dash.cert, core.dash.key)
    assert ok, detail


def test_revoked_certificate_refused_after_restart(tls_core):
    core = tls_core
    revoke(core, core.dash.fingerprint)
    rc, _ = core.stop()
    assert rc == 0
    core.start(write_config=False)
    ok, detail = h.tls_handshake_ok(core.tls_port, core.ca_path, core.dash.cert, core.dash.key)
    assert not ok, detail
    ok, detail = h.tls_handshake_ok(core.tls_port, core.ca_path, core.sensor.cert,
                                    core.sensor.key)
    assert ok, detail


def test_large_payload_and_burst_over_tls_arrive_intact_and_in_order(tls_core):
    core = tls_core
    dash = h.Paho("Dashboard", core.tls_port, device=core.dash)
    sensor = h.Paho("Sensor", core.tls_port, device=core.sensor)
    try:
        assert dash.subscribe("sensors/#", qos=1) == 1
        big = bytes(range(256)) * 512  # 128 KiB = the default maxPayloadBytes
        sensor.publish("sensors/big", big, qos=1)
        m = dash.expect(10)
        assert m.payload == big
        n = 500
        for i in range(n):
            sensor.c.publish(f"sensors/{i % 7}", str(i).encode(), qos=1)
        got = [int(dash.expect(10).payload) for _ in range(n)]
        assert got == list(range(n))
        st = core.status()["mqtt"]
        assert st["droppedQueueFull"] == 0 and st["protocolErrors"] == 0
    finally:
        dash.close()
        sensor.close()


def test_device_cannot_take_over_another_devices_client_id(tls_core):
    """Client-id takeover is allowed only to the same identity: Sensor's certificate connecting
    with client id "Dashboard" is refused (CONNACK 2) and the real Dashboard stays connected."""
    core = tls_core
    dash = h.Paho("Dashboard", core.tls_port, device=core.dash)
    try:
        assert dash.subscribe("sensors/#") == 0
        h.wait_connected(core, 1)
        ctx = h.client_tls_context(core.sensor.ca, core.sensor.cert, core.sensor.key)
        intruder = h.RawClient(core.tls_port, tls_ctx=ctx)
        try:
            assert intruder.connect("Dashboard") == 2
        finally:
            intruder.close()
        assert core.status()["mqtt"]["connectedClients"] == 1
        # The real Dashboard still receives.
        sensor = h.Paho("Sensor", core.tls_port, device=core.sensor)
        try:
            sensor.publish("sensors/t/temperature", b"20", qos=1)
            dash.expect_only("sensors/t/temperature", b"20")
        finally:
            sensor.close()
    finally:
        dash.close()
