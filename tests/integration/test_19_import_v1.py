"""`evergreen import-v1`: a synthetic Greengrass v1 core tree (built here from the documented
layout, shared/reference/v1-layout-and-iot-jobs.md part A: no real one is public) is imported,
the core runs on it, and the v1 functions and client devices work unchanged:

- the seed example function bundling the GENUINE Python greengrasssdk 1.6.1 (read from
  ../shared/vendor), a Node.js function in a dotted lambda directory, a GGCloudSpooler entry,
  a connector, an ML resource, a custom writeDirectory, crypto-block and legacy key paths;
- client devices keep the certificates "AWS IoT" issued them (a CA the core has never seen) and
  are pinned by the certificate id in their CertificateArn; a device not in the group is refused;
- a dry run writes nothing, a second import changes nothing, a damaged tree lists its problems.
"""

import hashlib
import json
import os
import shutil
import subprocess

import pytest

import c_helpers as ch
import evg_harness as h
import genuine_helpers as gh
import lambda_helpers as lh

REPO = lh.REPO
GENUINE_PY_SDK = os.path.join(gh.shared_dir(), "vendor", "aws-greengrass-core-sdk-python",
                              "greengrasssdk")
SEED = os.path.join(REPO, "examples", "example-group", "functions", "seed_example")
NODE_ECHO = os.path.join(lh.FUNCTIONS_DIR, "node_echo")
R, A = "eu-west-1", "210987654321"


def openssl(*args, cwd):
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, f"openssl {args}: {r.stderr}"


def fake_aws_iot_ca(d):
    """A CA standing in for AWS IoT's: it signs the core's and the devices' certificates."""
    os.makedirs(d, exist_ok=True)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-days", "30", "-subj", "/CN=Fake AWS IoT CA",
            cwd=d)
    return d


def issue(ca_dir, name, out_dir, days=30):
    os.makedirs(out_dir, exist_ok=True)
    key, csr, crt = (os.path.join(out_dir, f"{name}.{e}") for e in ("key", "csr", "pem"))
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
            key, "-out", csr, "-subj", f"/CN={name}", cwd=ca_dir)
    openssl("x509", "-req", "-in", csr, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", crt, "-days", str(days), cwd=ca_dir)
    der = subprocess.run(["openssl", "x509", "-in", crt, "-outform", "DER"], capture_output=True,
                         check=True, timeout=30).stdout
    return crt, key, hashlib.sha256(der).hexdigest()


def thing(name):
    return f"arn:aws:iot:{R}:{A}:thing/{name}"


def fn(name, q):
    return f"arn:aws:lambda:{R}:{A}:function:{name}:{q}"


class V1Tree:
    """/greengrass as a v1.11 core leaves it: config, certs, ggc/deployment, ggc/var."""

    def __init__(self, base, write_dir=None, legacy_paths=False):
        self.base = str(base)
        self.gg = os.path.join(self.base, "greengrass")
        self.write = write_dir or os.path.join(self.gg, "ggc")
        self.ca = fake_aws_iot_ca(os.path.join(self.base, "aws-iot-ca"))
        self.devices = {}
        certs = os.path.join(self.gg, "certs")
        crt, key, self.core_fp = issue(self.ca, "core", certs)
        shutil.copy(os.path.join(self.ca, "ca.pem"), os.path.join(certs, "root.ca.pem"))
        self.tls_port, self.daemon_port = h.free_port(), h.free_port()
        self.config = {
            "coreThing": {
                "caPath": "root.ca.pem", "certPath": "core.pem", "keyPath": "core.key",
                "thingArn": thing("V1Core"), "iotHost": "abc-ats.iot.eu-west-1.amazonaws.com",
                "ggHost": "greengrass-ats.iot.eu-west-1.amazonaws.com", "keepAlive": 600,
                "ggMqttPort": self.tls_port, "ggDaemonPort": self.daemon_port,
            },
            "runtime": {"cgroup": {"useSystemd": "yes"}, "maxWorkItemCount": 1024},
            "managedRespawn": False,
        }
        if os.geteuid() == 0:
            self.config["runtime"]["allowFunctionsToRunAsRoot"] = "yes"
        if not legacy_paths:
            self.config["crypto"] = {
                "caPath": "file://" + os.path.join(certs, "root.ca.pem"),
                "principals": {
                    "IoTCertificate": {"privateKeyPath": "file://" + key,
                                       "certificatePath": "file://" + crt},
                    "SecretsManager": {"privateKeyPath": "file://" + key},
                },
            }
        if write_dir:
            self.config["writeDirectory"] = write_dir
        self.functions, self.subs, self.resources, self.connectors = [], [], [], []

    def device(self, name):
        crt, key, fp = issue(self.ca, name, os.path.join(self.base, "devices"))
        self.devices[name] = (crt, key, fp)
        return self

    def function(self, name, version, code_src, handler, runtime, qualifier=None, dotted=False,
                 pinned=False, sdk=False, **cfg):
        arn_dir = fn(name, version)
        d = os.path.join(self.write, "deployment", "lambda",
                         arn_dir.replace(":", ".") if dotted else arn_dir)
        shutil.copytree(code_src, d)
        if sdk:  # the function bundles the genuine SDK, as v1 functions did
            shutil.copytree(GENUINE_PY_SDK, os.path.join(d, "greengrasssdk"))
        conf = {"Pinned": pinned, "Timeout": 10, "MemorySize": 65536, "EncodingType": "json",
                "Environment": {"Execution": {"IsolationMode": "NoContainer"}}}
        conf.update(cfg)
        self.functions.append({"Id": name.lower(), "FunctionArn": fn(name, qualifier or version),
                               "Handler": handler, "Runtime": runtime,
                               "FunctionConfiguration": conf})
        return fn(name, qualifier or version)

    def sub(self, source, subject, target):
        self.subs.append({"Id": f"s{len(self.subs)}", "Source": source, "Subject": subject,
                          "Target": target})
        return self

    def write_tree(self, group=None):
        os.makedirs(os.path.join(self.gg, "config"), exist_ok=True)
        with open(os.path.join(self.gg, "config", "config.json"), "w") as f:
            json.dump(self.config, f, indent=2)
        if group is None:
            group = {
                "Cores": [{"Id": "core", "ThingArn": thing("V1Core"),
                           "CertificateArn": f"arn:aws:iot:{R}:{A}:cert/{self.core_fp}"}],
                "Devices": [{"Id": n.lower(), "ThingArn": thing(n),
                             "CertificateArn": f"arn:aws:iot:{R}:{A}:cert/{fp}",
                             "SyncShadow": False}
                            for n, (_, _, fp) in self.devices.items()],
                "Functions": self.functions + [
                    {"Id": "spooler", "FunctionArn": "arn:aws:lambda:::function:GGCloudSpooler:1",
                     "FunctionConfiguration": {"Environment": {"Variables": {
                         "GG_CONFIG_STORAGE_TYPE": "FileSystem",
                         "GG_CONFIG_MAX_SIZE_BYTES": "2621440"}}}}],
                "Subscriptions": self.subs,
                "Resources": self.resources,
                "Connectors": self.connectors,
            }
        p = os.path.join(self.write, "deployment", "group", "group.json")
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            json.dump(group, f, indent=2)
        return self

    def tls_device(self, name, root):
        crt, key, fp = self.devices[name]
        return h.Device(name, crt, key, os.path.join(root, "certs", "group-ca.pem"), fp)


def import_v1(tree, root, *extra):
    return h.run_cli("import-v1", "--from", tree.gg, "--root", str(root), *extra, timeout=60)


def snapshot(d):
    out = {}
    for base, dirs, files in os.walk(d):
        for n in files:
            p = os.path.join(base, n)
            with open(p, "rb") as f:
                out[p] = (os.stat(p).st_mode, f.read())
        for n in dirs:
            out[os.path.join(base, n)] = os.stat(os.path.join(base, n)).st_mode
    return out


def seed_tree(tmp_path, c_code=None, **kw):
    t = V1Tree(tmp_path / "site", **kw).device("Sensor").device("Dashboard")
    seed = t.function("SeedExample", 3, SEED, "lambda_function.function_handler", "python3.7",
                      sdk=True)
    node = t.function("NodeEcho", 7, NODE_ECHO, "index.handler", "nodejs12.x", qualifier="PROD",
                      dotted=True)
    t.sub(thing("Sensor"), "test/input_message", seed)
    t.sub(seed, "test/topic_results", thing("Dashboard"))
    t.sub(thing("Sensor"), "node/in", node)
    t.sub(node, "node/out", thing("Dashboard"))
    if c_code:  # a pinned Lambda executable: group.json names its Executable, no Runtime
        cfn = t.function("CEcho", 2, c_code, "", "", pinned=True, Executable="c_lambda",
                         EncodingType="binary")
        t.sub(thing("Sensor"), "c/in", cfn)
        t.sub(cfn, "c/out", thing("Dashboard"))
    t.sub(thing("Sensor"), "sensors/#", "cloud")
    t.sub(thing("Sensor"), "to/connector",
          f"arn:aws:greengrass:{R}::/connectors/TwilioNotifications/versions/4")
    t.connectors.append({"Id": "twilio", "ConnectorArn":
                         f"arn:aws:greengrass:{R}::/connectors/TwilioNotifications/versions/4",
                         "Parameters": {"TwilioAccountSid": "x"}})
    t.resources.append({"Id": "model", "Name": "model", "ResourceDataContainer": {
        "S3MachineLearningModelResourceData": {"DestinationPath": "/ml",
                                               "S3Uri": "s3://bucket/model.tar.gz"}}})
    os.makedirs(os.path.join(t.write, "deployment", "mlmodel", "3c9d-uuid"))
    with open(os.path.join(t.write, "deployment", "mlmodel", "3c9d-uuid", "model.bin"), "w") as f:
        f.write("weights")
    return t.write_tree()


def start_imported(make_core, root, tree):
    c = make_core("imported")
    assert c.root == str(root)
    c.tls_port, c.daemon_port = tree.tls_port, tree.daemon_port
    return c.start(write_config=False)


@pytest.mark.parametrize("layout", ["default", "writeDirectory+legacy-paths"])
def test_imported_core_runs_functions_and_devices_keep_their_certificates(make_core, tmp_path,
                                                                          tmp_path_factory, layout):
    if not os.path.isdir(GENUINE_PY_SDK):
        pytest.fail(f"genuine Python SDK not found at {GENUINE_PY_SDK} (set {gh.SHARED_ENV})")
    kw = {} if layout == "default" else {"write_dir": str(tmp_path / "site" / "write"),
                                         "legacy_paths": True}
    prefix = ch.install_prefix(tmp_path_factory)
    c_code = ch.build_function(prefix, str(tmp_path / "c_build"))
    tree = seed_tree(tmp_path, c_code=c_code, **kw)
    before = snapshot(tree.gg)
    root = tmp_path / "imported"
    r = import_v1(tree, root, "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    rep = json.loads(r.stdout)
    assert rep["ok"] is True
    by = {(i["kind"], i["name"]): i for i in rep["items"]}
    assert by[("function", "SeedExample:3")]["result"] == "imported"
    assert by[("function", "NodeEcho:PROD")]["result"] == "imported"
    assert "alias PROD -> version 7" in by[("function", "NodeEcho:PROD")]["detail"]
    assert by[("function", "CEcho:2")]["result"] == "imported"
    assert "runtime/function/executable, handler c_lambda" in by[("function", "CEcho:2")]["detail"]
    assert by[("system-function", "GGCloudSpooler")]["result"] == "mapped"
    assert by[("connector", "TwilioNotifications")]["result"] == "unsupported"
    assert by[("resource", "model")]["result"] == "imported"
    assert by[("device", "Sensor")]["result"] == "imported"
    assert snapshot(tree.gg) == before, "the v1 tree must never be modified"
    with open(root / "resources" / "model" / "model.bin") as f:
        assert f.read() == "weights"

    core = start_imported(make_core, root, tree)
    st = core.status()
    assert st is not None
    sensor = h.Paho("Sensor", tree.tls_port, device=tree.tls_device("Sensor", root))
    dashboard = h.Paho("Dashboard", tree.tls_port, device=tree.tls_device("Dashboard", root))
    try:
        assert dashboard.subscribe("test/topic_results") == 0
        assert dashboard.subscribe("node/out") == 0
        sensor.publish("test/input_message", json.dumps({"test-key": "from a v1 device"}))
        m = dashboard.expect(timeout=15)
        assert m.topic == "test/topic_results"
        assert m.payload == b'Invoked on topic "test/input_message" with message "from a v1 device"'
        sensor.publish("node/in", json.dumps({"x": 1}))
        m = dashboard.expect(timeout=15)
        assert m.topic == "node/out"
        got = json.loads(m.payload)
        assert got["event"] == {"x": 1}
        assert got["functionVersion"] in ("7", "PROD")
        # The pinned executable runs from the start and answers on c/out.
        assert dashboard.subscribe("c/out") == 0
        sensor.publish("c/in", b"publish c/out hi-from-an-imported-executable")
        m = dashboard.expect(timeout=15)
        assert (m.topic, m.payload) == ("c/out", b"hi-from-an-imported-executable")
    finally:
        sensor.close()
        dashboard.close()
    # A device whose certificate (same issuer) is not in the group is refused.
    crt, key, _ = issue(tree.ca, "Intruder", str(tmp_path / "intruder"))
    ok, detail = h.tls_handshake_ok(tree.tls_port, str(root / "certs" / "group-ca.pem"), crt, key)
    assert not ok, detail


def test_dry_run_writes_nothing_and_second_import_changes_nothing(tmp_path):
    tree = seed_tree(tmp_path)
    root = tmp_path / "imported"
    r = import_v1(tree, root, "--dry-run")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Dry run (nothing written)" in r.stdout
    assert "[imported] function SeedExample:3" in r.stdout
    assert not root.exists()
    r = import_v1(tree, root)
    assert r.returncode == 0, r.stdout + r.stderr
    first = snapshot(str(root))
    r = import_v1(tree, root, "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    results = {i["result"] for i in json.loads(r.stdout)["items"]}
    assert "imported" not in results, r.stdout
    second = snapshot(str(root))
    assert second.keys() == first.keys()
    changed = [p for p in first if first[p] != second[p]]
    assert changed == [], changed


def test_damaged_tree_lists_every_problem_and_exits_2(tmp_path):
    tree = V1Tree(tmp_path / "site").device("Sensor")
    arn = tree.function("Mystery", 2, SEED, "", "")  # no Handler/Runtime in group.json
    tree.function("Gone", 1, SEED, "lambda_function.function_handler", "python3.7")
    tree.sub(thing("Sensor"), "a", arn)
    tree.write_tree()
    shutil.rmtree(os.path.join(tree.write, "deployment", "lambda", fn("Gone", 1)))
    os.remove(os.path.join(tree.gg, "certs", "core.key"))
    root = tmp_path / "imported"
    r = import_v1(tree, root)
    assert r.returncode == 2, r.stdout + r.stderr
    out = r.stdout
    assert "[error] certificate IoT private key: cannot read" in out
    assert "[error] function Mystery:2: runtime unknown" in out and "--runtime Mystery=" in out
    assert "[error] function Gone:1: no code under" in out
    # The runtime given on the command line fixes the first one.
    r = import_v1(tree, root, "--runtime", "Mystery=python3.7", "--handler",
                  "Mystery=lambda_function.function_handler")
    assert "function Mystery:2" in r.stdout and "[error] function Mystery:2" not in r.stdout


def test_empty_group_file_imports_a_core_with_no_group(make_core, tmp_path):
    tree = V1Tree(tmp_path / "site").write_tree(group={})
    root = tmp_path / "imported"
    r = import_v1(tree, root)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "empty group ({})" in r.stdout
    core = start_imported(make_core, root, tree)
    assert core.status() is not None


def discover(port, thing, cert, key, ca):
    """The Greengrass Discovery request as documented (GET /greengrass/discover/thing/<name>,
    mutual TLS with the device's certificate). Written here rather than taken from npm
    aws-iot-device-sdk-v2: its DiscoveryClient builds the host name greengrass-ats.iot.<region>.
    amazonaws.com itself and cannot be pointed at a core on loopback."""
    import http.client
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    ctx.load_cert_chain(cert, key)
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    try:
        conn.request("GET", f"/greengrass/discover/thing/{thing}")
        r = conn.getresponse()
        return r.status, json.loads(r.read() or b"{}")
    finally:
        conn.close()


def test_local_discovery_and_server_certificate_names(make_core, tmp_path):
    tree = seed_tree(tmp_path)
    root = tmp_path / "imported"
    r = import_v1(tree, root)
    assert r.returncode == 0, r.stdout + r.stderr
    cfg_path = root / "config" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    disc_port = h.free_port()
    cfg["evergreen"] = {"discovery": {"port": disc_port, "bindAddress": "127.0.0.1",
                                      "groupId": "site-group",
                                      "connectivity": [
                                          {"Id": "lo", "HostAddress": "127.0.0.1",
                                           "PortNumber": tree.tls_port, "Metadata": "loopback"},
                                          {"HostAddress": "evergreen-core.example.internal"}]}}
    cfg_path.write_text(json.dumps(cfg))
    start_imported(make_core, root, tree)
    bundle = tmp_path / "ca-bundle.pem"
    r = h.run_cli("certs", "ca-bundle", "--root", str(root))
    assert r.returncode == 0, r.stderr
    bundle.write_text(r.stdout)
    # The server certificate names every connectivity address.
    text = subprocess.run(["openssl", "x509", "-noout", "-text", "-in",
                           str(root / "certs" / "server.pem")], capture_output=True, text=True,
                          check=True).stdout
    assert "DNS:evergreen-core.example.internal" in text and "IP Address:127.0.0.1" in text
    crt, key, _ = tree.devices["Sensor"]
    status, body = discover(disc_port, "Sensor", crt, key, str(bundle))
    assert status == 200, body
    g = body["GGGroups"][0]
    assert g["GGGroupId"] == "site-group"
    assert g["Cores"][0]["thingArn"] == thing("V1Core")
    conn = g["Cores"][0]["Connectivity"]
    assert conn[0] == {"Id": "lo", "HostAddress": "127.0.0.1", "PortNumber": tree.tls_port,
                       "Metadata": "loopback"}
    assert conn[1]["HostAddress"] == "evergreen-core.example.internal"
    assert conn[1]["PortNumber"] == tree.tls_port
    ca_file = tmp_path / "discovered-ca.pem"
    ca_file.write_text("".join(g["CAs"]))
    # The device connects where discovery told it, verifying the core with the discovered CA.
    import paho.mqtt.client as mqtt
    import ssl
    got = []
    c = mqtt.Client(client_id="Sensor")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(str(ca_file))
    ctx.load_cert_chain(crt, key)
    c.tls_set_context(ctx)
    c.on_connect = lambda cl, u, f, rc: got.append(rc)
    c.connect(conn[0]["HostAddress"], conn[0]["PortNumber"], 30)
    c.loop_start()
    try:
        h.wait_until(lambda: got, 10, what="CONNACK")
        assert got == [0]
    finally:
        c.disconnect()
        c.loop_stop()
    # Another thing's name: refused; a certificate not in the group: refused at the handshake.
    status, body = discover(disc_port, "Dashboard", crt, key, str(bundle))
    assert status == 403, body
    icrt, ikey, _ = issue(tree.ca, "Intruder", str(tmp_path / "intruder"))
    with pytest.raises(OSError):
        discover(disc_port, "Intruder", icrt, ikey, str(bundle))
