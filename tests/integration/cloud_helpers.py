"""Helpers for the cloud tests (test_13_cloud.py) and bench/cloud_drain_bench.py: Debian's
mosquitto as "the cloud" on free loopback ports, generated certificates (a cloud CA, the cloud
server certificate, the core's client certificate, made with the openssl CLI), and cores
configured to connect upstream. Every wait is bounded.

CloudBroker listens on two ports: `port` is the one the core uses (TLS with required client
certificates, or plaintext), `test_port` is a plaintext listener for the test's own clients.
With persistence on, mosquitto keeps persistent sessions across stop()/start(), so a test
subscriber registered before an outage receives what the core delivers after it.
"""

import os
import subprocess
import time

import evg_harness as h


def make_cloud_certs(d, thing="EvergreenCore"):
    """cloud CA, server cert for 127.0.0.1/localhost, core client cert (CN = thing)."""
    os.makedirs(d, exist_ok=True)

    def ossl(*args):
        r = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, f"openssl {args}: {r.stderr}"

    p = lambda n: os.path.join(d, n)  # noqa: E731
    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", p("ca.key"), "-out", p("ca.pem"), "-days", "2", "-subj", "/CN=Test Cloud CA")
    with open(p("server.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, cn in (("server", "localhost"), ("core", thing)):
        ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", p(f"{name}.key"), "-out", p(f"{name}.csr"), "-subj", f"/CN={cn}")
        extra = ["-extfile", p("server.ext")] if name == "server" else []
        ossl("x509", "-req", "-in", p(f"{name}.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"),
             "-CAcreateserial", "-out", p(f"{name}.pem"), "-days", "2", *extra)
    return {"ca": p("ca.pem"), "server_cert": p("server.pem"), "server_key": p("server.key"),
            "core_cert": p("core.pem"), "core_key": p("core.key")}


class CloudBroker:
    def __init__(self, d, tls_certs=None, persistence=True):
        self.dir = str(d)
        os.makedirs(self.dir, exist_ok=True)
        self.port = h.free_port()
        self.test_port = h.free_port()
        self.certs = tls_certs
        self.proc = None
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        lines = [
            "per_listener_settings false",
            "allow_anonymous true",
            f"persistence {'true' if persistence else 'false'}",
            f"persistence_location {self.dir}/",
            "autosave_interval 0",
            "max_queued_messages 100000",
            "max_inflight_messages 0",
            # Without it, Nagle + delayed ACKs hold mosquitto's PUBACKs back (up to 40 ms).
            "set_tcp_nodelay true",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            # As root, mosquitto would drop to user "mosquitto", which cannot read pytest's tmp.
            *(["user root"] if os.geteuid() == 0 else []),
            f"listener {self.test_port} 127.0.0.1",
            f"listener {self.port} 127.0.0.1",
        ]
        if tls_certs:
            lines += [f"cafile {tls_certs['ca']}", f"certfile {tls_certs['server_cert']}",
                      f"keyfile {tls_certs['server_key']}", "require_certificate true",
                      "use_identity_as_username true"]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self):
        self.log = open(os.path.join(self.dir, "mosquitto.log"), "ab")
        self.proc = subprocess.Popen(["mosquitto", "-c", self.conf], stdout=self.log,
                                     stderr=self.log, stdin=subprocess.DEVNULL)
        h.wait_until(lambda: self._accepting(), 10, what="mosquitto to listen")
        return self

    def _accepting(self):
        import socket
        assert self.proc.poll() is None, "mosquitto exited: " + h._read(
            os.path.join(self.dir, "mosquitto.log"))
        try:
            socket.create_connection(("127.0.0.1", self.test_port), timeout=0.2).close()
            return True
        except OSError:
            return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if getattr(self, "log", None):
            self.log.close()
            self.log = None

    def client(self, client_id, clean_session=True):
        return h.Paho(client_id, self.test_port, clean_session=clean_session)


def cloud_core(make_core, broker, name="core", port=None, tls=True, **cloud):
    """A core (not started) whose evergreen.cloud points at `broker` (or `port`, e.g. a proxy).
    For TLS, the core's caPath/certPath/keyPath are the generated cloud certificates."""
    c = make_core(name)
    if os.geteuid() == 0:
        c.config["runtime"]["allowFunctionsToRunAsRoot"] = "yes"
    cfg = {"enabled": True, "plaintext": not tls, "host": "127.0.0.1",
           "port": port or broker.port}
    cfg.update(cloud)
    c.config["evergreen"]["cloud"] = cfg
    c.config["mqttMaxConnectionRetryInterval"] = 1
    if tls:
        c.config["coreThing"]["caPath"] = broker.certs["ca"]
        c.config["coreThing"]["certPath"] = broker.certs["core_cert"]
        c.config["coreThing"]["keyPath"] = broker.certs["core_key"]
    return c


def cloud_status(core):
    return core.status()["cloud"]


def wait_cloud(core, pred, timeout=10, what="cloud status"):
    last = {}

    def check():
        last["s"] = cloud_status(core)
        return pred(last["s"])
    try:
        h.wait_until(check, timeout, interval=0.1, what=what)
        return last["s"]
    except AssertionError as e:
        raise AssertionError(f"{e}; last cloud status: {last.get('s')}")


def collect(client, n, timeout=20):
    """n messages from a Paho client's queue: [(topic, payload bytes)]."""
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"{client.client_id}: got {len(out)} of {n} messages")
        try:
            m = client.messages.get(timeout=min(left, 1.0))
        except Exception:
            continue
        out.append((m.topic, m.payload))
    return out
