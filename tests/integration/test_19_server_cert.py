"""Evergreen's MQTT server certificate lifecycle: renewed (here forced with `evergreen certs
renew-server`; in service by the periodic check of evergreen.certs) and swapped in without
dropping any of 100 connected TLS devices; new handshakes get the new certificate, which still
verifies with the same group CA (`evergreen certs ca-bundle`)."""

import hashlib
import json
import socket
import ssl

import evg_harness as h

N_DEVICES = 100


def served_fingerprint(port, ca, dev):
    ctx = h.client_tls_context(ca, dev.cert, dev.key)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()


def test_renewal_keeps_100_devices_connected(make_core, tmp_path):
    core = make_core().start()
    devs = [core.issue_device(f"Dev{i}", out=tmp_path / "devs") for i in range(N_DEVICES)]
    g = h.Group()
    for d in devs:
        g.device(d.thing, d.fingerprint)
    core.deploy_ok(g)
    r = h.run_cli("certs", "ca-bundle", "--root", core.root)
    assert r.returncode == 0, r.stderr
    bundle = tmp_path / "ca.pem"
    bundle.write_text(r.stdout)
    before = served_fingerprint(core.tls_port, str(bundle), devs[0])
    clients = []
    try:
        for d in devs:
            c = h.RawClient(core.tls_port, h.client_tls_context(str(bundle), d.cert, d.key),
                            timeout=10)
            assert c.connect(d.thing) == 0
            clients.append(c)
        h.wait_until(lambda: core.status()["mqtt"]["connectedClients"] >= N_DEVICES, 10,
                     what="100 connected devices")
        r = h.run_cli("certs", "renew-server", "--root", core.root, timeout=60)
        assert r.returncode == 0, r.stderr
        res = json.loads(r.stdout)
        assert res["renewed"] is True
        after = served_fingerprint(core.tls_port, str(bundle), devs[1])
        assert after != before and after == res["fingerprint"]
        # Every device is still connected and served: PINGREQ -> PINGRESP on each.
        for c in clients:
            c.send(b"\xc0\x00")
        for c in clients:
            c.expect(13, timeout=10)
    finally:
        for c in clients:
            c.close()
    assert "server certificate renewed" in core.log()
