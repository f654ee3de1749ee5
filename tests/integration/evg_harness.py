"""Black-box harness for the Evergreen core: a core process in a temp root, free loopback ports,
group-file builder, CLI wrapper, and small MQTT clients (raw sockets, paho-mqtt 1.6, mosquitto
CLI tools).

Every wait here is bounded. Nothing uses fixed ports: ports come from binding port 0.
"""

import json
import os
import queue
import signal
import socket
import ssl
import struct
import subprocess
import time

import paho.mqtt.client as mqtt

BUILD_DIR = os.environ.get("EVERGREEN_BUILD_DIR", "/work/main/build")
REGION = "us-east-1"
ACCOUNT = "123456789012"
STOP_BOUND_S = 2.0


def evergreen_binary():
    return os.path.join(BUILD_DIR, "apps", "evergreen", "evergreen")


_handed_out_ports = set()


def free_port():
    """A port that was free on 127.0.0.1 a moment ago (bind port 0, read it, close) and that this
    test process has not handed out before: the kernel may return the same ephemeral port to two
    back-to-back binds once the first socket is closed."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out_ports:
            _handed_out_ports.add(port)
            return port
    raise AssertionError("no fresh free port found")


def child_processes(pid):
    """[(pid, state letter)] of pid's live children (state "Z": a zombie not yet reaped)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                out.append((int(d), fields[0]))
        except (OSError, ValueError, IndexError):
            continue
    return out


def child_with_env(pid, entry):
    """The first live child of pid whose environment holds `entry` ("KEY=VALUE"), else None
    (workers are non-dumpable: reading their environment needs root)."""
    want = entry.encode()
    for child, _ in child_processes(pid):
        try:
            with open(f"/proc/{child}/environ", "rb") as f:
                if want in f.read().split(b"\0"):
                    return child
        except OSError:
            continue
    return None


def wait_until(pred, timeout, interval=0.05, what="condition"):
    """Polls pred() until truthy; returns its value or raises AssertionError after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def thing_arn(name):
    return f"arn:aws:iot:{REGION}:{ACCOUNT}:thing/{name}"


def endpoint(x):
    """'cloud' / 'GGShadowService' / full ARNs pass through; a bare name is a thing."""
    if x in ("cloud", "GGShadowService") or x.startswith("arn:"):
        return x
    return thing_arn(x)


# ---------------------------------------------------------------------------------------------
# Group files
# ---------------------------------------------------------------------------------------------


class Group:
    """Builds a v1 group file (dict): devices with fingerprints and subscriptions."""

    def __init__(self, core_thing="EvergreenCore"):
        self.core_thing = core_thing
        self.devices = []  # (name, fingerprint or None)
        self.subs = []  # (id, source, subject, target)

    def device(self, name, fingerprint=None):
        self.devices.append((name, fingerprint))
        return self

    def sub(self, source, subject, target, sub_id=None):
        self.subs.append((sub_id or f"sub-{len(self.subs) + 1}", source, subject, target))
        return self

    def to_json(self):
        devices = []
        for name, fp in self.devices:
            d = {
                "Id": name,
                "ThingArn": thing_arn(name),
                "CertificateArn": f"arn:aws:iot:{REGION}:{ACCOUNT}:cert/{name.lower()}",
                "SyncShadow": False,
            }
            if fp:
                d["CertificateFingerprintSha256"] = fp
            devices.append(d)
        return {
            "CoreDefinitionVersion": {
                "Cores": [
                    {
                        "Id": "core",
                        "ThingArn": thing_arn(self.core_thing),
                        "CertificateArn": f"arn:aws:iot:{REGION}:{ACCOUNT}:cert/core",
                        "SyncShadow": False,
                    }
                ]
            },
            "DeviceDefinitionVersion": {"Devices": devices},
            "SubscriptionDefinitionVersion": {
                "Subscriptions": [
                    {"Id": i, "Source": endpoint(s), "Subject": subj, "Target": endpoint(t)}
                    for (i, s, subj, t) in self.subs
                ]
            },
        }


# ---------------------------------------------------------------------------------------------
# The core process
# ---------------------------------------------------------------------------------------------


def run_cli(*args, timeout=30, cwd=None):
    return subprocess.run(
        [evergreen_binary(), *[str(a) for a in args]],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


def base_config(tls_port, plaintext_port, daemon_port, thing="EvergreenCore"):
    """A complete config.json (v1 fields + evergreen block) for a test core."""
    return {
        "coreThing": {
            "caPath": "root.ca.pem",
            "certPath": "core.cert.pem",
            "keyPath": "core.private.key",
            "thingArn": f"arn:aws:iot:{REGION}:{ACCOUNT}:thing/{thing}",
            "iotHost": "",
            "ggHost": "",
            "keepAlive": 600,
            "ggMqttPort": tls_port,
            "ggDaemonPort": daemon_port,
        },
        "runtime": {"maxWorkItemCount": 1024, "maxConcurrentLimit": 25},
        "managedRespawn": False,
        "evergreen": {
            "mqtt": {"plaintextPort": plaintext_port, "bindAddress": "127.0.0.1"},
            "log": {"level": "INFO", "stderr": True},
        },
    }


class Core:
    """One Evergreen core in its own root directory."""

    def __init__(self, root):
        self.root = str(root)
        os.makedirs(self.root, exist_ok=True)
        self.tls_port = free_port()
        self.plain_port = free_port()
        self.daemon_port = free_port()
        self.proc = None
        self.out_path = os.path.join(self.root, "core.stdout")
        self.err_path = os.path.join(self.root, "core.stderr")
        self._deploys = 0
        self.config = base_config(self.tls_port, self.plain_port, self.daemon_port)

    # -- files -------------------------------------------------------------------------------
    @property
    def config_file(self):
        return os.path.join(self.root, "config", "config.json")

    @property
    def certs_dir(self):
        return os.path.join(self.root, "certs")

    @property
    def ca_path(self):
        return os.path.join(self.certs_dir, "group-ca.pem")

    @property
    def system_log_dir(self):
        return os.path.join(self.root, "var", "log", "system")

    def write_config(self, config=None):
        if config is not None:
            self.config = config
        os.makedirs(os.path.dirname(self.config_file), exist_ok=True)
        with open(self.config_file, "w") as f:
            json.dump(self.config, f, indent=2)

    def set_mqtt(self, **kw):
        self.config["evergreen"]["mqtt"].update(kw)

    def set_log(self, **kw):
        self.config["evergreen"]["log"].update(kw)

    # -- process -----------------------------------------------------------------------------
    def start(self, write_config=True, wait=True, extra_args=(), prefix=()):
        """prefix: command words before the binary, e.g. ("unshare", "-n") to run a core whose
        config uses fixed default ports in a private network namespace."""
        if write_config:
            self.write_config()
        self.out_f = open(self.out_path, "ab")
        self.err_f = open(self.err_path, "ab")
        self.proc = subprocess.Popen(
            [*prefix, evergreen_binary(), "run", "--root", self.root, *extra_args],
            stdout=self.out_f,
            stderr=self.err_f,
            stdin=subprocess.DEVNULL,
        )
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"core exited with {self.proc.returncode} before it answered status:\n"
                    + self.stderr()
                )
            r = run_cli("status", "--root", self.root, timeout=5)
            if r.returncode == 0:
                return json.loads(r.stdout)
            time.sleep(0.05)
        raise AssertionError(f"core did not answer `evergreen status` within {timeout}s")

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, bound=STOP_BOUND_S):
        """SIGTERM; returns (exit code, seconds taken). Kills (and raises) past the bound."""
        if self.proc is None:
            return None, 0.0
        if self.proc.poll() is not None:
            return self.proc.returncode, 0.0
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=bound)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
            raise AssertionError(f"core did not exit within {bound}s of SIGTERM")
        return rc, time.monotonic() - t0

    def close_files(self):
        for f in (getattr(self, "out_f", None), getattr(self, "err_f", None)):
            if f:
                f.close()

    def stdout(self):
        return _read(self.out_path)

    def stderr(self):
        return _read(self.err_path)

    def log(self, component="runtime"):
        return _read(os.path.join(self.system_log_dir, component + ".log"))

    def all_logs(self):
        return self.stderr()

    # -- CLI ---------------------------------------------------------------------------------
    def cli(self, *args, timeout=30):
        return run_cli(*args, timeout=timeout)

    def status(self):
        r = run_cli("status", "--root", self.root, timeout=10)
        assert r.returncode == 0, f"status failed: {r.stderr}"
        return json.loads(r.stdout)

    def deploy(self, group):
        """Writes the group (Group or dict) to a file and runs `evergreen deploy`."""
        self._deploys += 1
        path = os.path.join(self.root, f"deploy-{self._deploys}.json")
        g = group.to_json() if isinstance(group, Group) else group
        with open(path, "w") as f:
            json.dump(g, f, indent=2)
        return run_cli("deploy", "--root", self.root, path, timeout=30)

    def deploy_ok(self, group):
        r = self.deploy(group)
        assert r.returncode == 0, f"deploy failed ({r.returncode}): {r.stdout}{r.stderr}"
        return r

    def issue_device(self, thing, out=None):
        extra = ["--out", str(out)] if out else []
        r = run_cli("certs", "issue-device", "--root", self.root, thing, *extra, timeout=30)
        assert r.returncode == 0, f"issue-device failed: {r.stderr}"
        d = json.loads(r.stdout)
        return Device(thing, d["certificatePath"], d["privateKeyPath"], d["caPath"],
                      d["CertificateFingerprintSha256"])


class Device:
    def __init__(self, thing, cert, key, ca, fingerprint):
        self.thing = thing
        self.cert = cert
        self.key = key
        self.ca = ca
        self.fingerprint = fingerprint


def _read(path):
    try:
        with open(path, "r", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


# ---------------------------------------------------------------------------------------------
# Raw MQTT 3.1.1 (for things no well-behaved client library will send)
# ---------------------------------------------------------------------------------------------

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 10, 11, 12, 13, 14


def _remaining_length(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        if n:
            b |= 0x80
        out.append(b)
        if not n:
            return bytes(out)


def _str(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("!H", len(b)) + b


def packet(ptype, flags, body):
    return bytes([(ptype << 4) | flags]) + _remaining_length(len(body)) + body


def connect_packet(client_id, keepalive=60, clean=True, will=None, level=4, username=None):
    """will = (topic, payload, qos, retain)."""
    flags = 0x02 if clean else 0
    payload = _str(client_id)
    if will:
        topic, msg, qos, retain = will
        flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
        payload += _str(topic) + _str(msg)
    if username is not None:
        flags |= 0x80
        payload += _str(username)
    body = _str("MQTT") + bytes([level, flags]) + struct.pack("!H", keepalive) + payload
    return packet(CONNECT, 0, body)


def publish_packet(topic, payload, qos=0, pid=1, retain=False, dup=False):
    flags = (qos << 1) | (1 if retain else 0) | (8 if dup else 0)
    body = _str(topic) + (struct.pack("!H", pid) if qos else b"")
    body += payload.encode() if isinstance(payload, str) else payload
    return packet(PUBLISH, flags, body)


def subscribe_packet(pid, filters):
    body = struct.pack("!H", pid)
    for f, q in filters:
        body += _str(f) + bytes([q])
    return packet(SUBSCRIBE, 2, body)


def ack_packet(ptype, pid):
    return packet(ptype, 2 if ptype == PUBREL else 0, struct.pack("!H", pid))


def parse_publish(flags, body):
    tl = struct.unpack("!H", body[:2])[0]
    topic = body[2:2 + tl].decode()
    qos = (flags >> 1) & 3
    off = 2 + tl
    pid = None
    if qos:
        pid = struct.unpack("!H", body[off:off + 2])[0]
        off += 2
    return {"topic": topic, "payload": body[off:], "qos": qos, "pid": pid,
            "retain": bool(flags & 1), "dup": bool(flags & 8)}


class RawClient:
    """A bare socket speaking hand-made MQTT packets. read_packet returns (type, flags, body),
    or None when the server closed the connection."""

    def __init__(self, port, tls_ctx=None, timeout=5):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if tls_ctx is not None:
            self.sock = tls_ctx.wrap_socket(self.sock, server_hostname="localhost")
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no data from the broker in time")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
            chunk = b""
        except socket.timeout:
            raise TimeoutError("no data from the broker in time")
        if not chunk:
            return False
        self.buf += chunk
        return True

    def read_packet(self, timeout=5):
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 2:
                mult, length, i = 1, 0, 1
                complete = False
                while i < len(self.buf) and i <= 4:
                    b = self.buf[i]
                    length += (b & 0x7F) * mult
                    mult *= 128
                    i += 1
                    if not b & 0x80:
                        complete = True
                        break
                if complete and len(self.buf) >= i + length:
                    hdr = self.buf[0]
                    body = self.buf[i:i + length]
                    self.buf = self.buf[i + length:]
                    return (hdr >> 4, hdr & 0x0F, body)
            if not self._fill(deadline):
                return None

    def expect(self, ptype, timeout=5):
        p = self.read_packet(timeout)
        assert p is not None, f"connection closed while waiting for packet type {ptype}"
        assert p[0] == ptype, f"expected packet type {ptype}, got {p[0]} ({p[2]!r})"
        return p

    def connect(self, client_id, **kw):
        """CONNECT; returns the CONNACK return code (None if the server closed instead)."""
        self.send(connect_packet(client_id, **kw))
        p = self.read_packet()
        if p is None:
            return None
        assert p[0] == CONNACK, f"expected CONNACK, got {p}"
        return p[2][1]

    def subscribe(self, filters, pid=1):
        self.send(subscribe_packet(pid, filters))
        _, _, body = self.expect(SUBACK)
        assert struct.unpack("!H", body[:2])[0] == pid
        return list(body[2:])

    def wait_closed(self, timeout=5):
        """True when the server closes the socket within timeout (data read meanwhile is
        discarded)."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                if not self._fill(deadline):
                    return True
                self.buf = b""
        except TimeoutError:
            return False
        except OSError:
            return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def abort(self):
        """Drops the connection without DISCONNECT (RST)."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close()


def client_tls_context(ca, cert=None, key=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    ctx.check_hostname = True
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


def tls_handshake_ok(port, ca, cert=None, key=None, timeout=5):
    """Returns (ok, detail). A refused client certificate shows up either as a handshake alert or
    as the first read failing (TLS 1.3 sends the client cert after the client's Finished)."""
    ctx = client_tls_context(ca, cert, key)
    try:
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        s = ctx.wrap_socket(raw, server_hostname="localhost")
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError, OSError) as e:
        return False, f"handshake: {e!r}"
    try:
        s.settimeout(timeout)
        s.sendall(connect_packet("probe-" + str(os.getpid())))
        data = s.recv(4)
        if not data:
            return False, "closed after handshake"
        return True, data
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError, OSError) as e:
        return False, f"after handshake: {e!r}"
    finally:
        s.close()


# ---------------------------------------------------------------------------------------------
# paho-mqtt 1.6 client wrapper
# ---------------------------------------------------------------------------------------------


class Paho:
    """A connected paho client collecting messages into a queue. Use .close() (DISCONNECT)."""

    def __init__(self, client_id, port, device=None, clean_session=True, will=None, keepalive=30,
                 connect=True, protocol=mqtt.MQTTv311):
        self.client_id = client_id
        self.messages = queue.Queue()
        self.granted = queue.Queue()
        self.connack = queue.Queue()
        self.disconnects = queue.Queue()
        self.c = mqtt.Client(client_id=client_id, clean_session=clean_session, protocol=protocol)
        if device is not None:
            self.c.tls_set_context(client_tls_context(device.ca, device.cert, device.key))
        if will is not None:
            topic, payload, qos, retain = will
            self.c.will_set(topic, payload, qos, retain)
        self.c.on_message = lambda c, u, m: self.messages.put(m)
        self.unsubacks = queue.Queue()
        self.c.on_subscribe = lambda c, u, mid, q: self.granted.put((mid, list(q)))
        self.c.on_unsubscribe = lambda c, u, mid: self.unsubacks.put(mid)
        self.c.on_connect = lambda c, u, f, rc: self.connack.put((rc, f.get("session present")))
        self.c.on_disconnect = lambda c, u, rc: self.disconnects.put(rc)
        self.port = port
        self.keepalive = keepalive
        if connect:
            self.connect()

    def connect(self, timeout=5):
        self.c.connect("localhost" if self._tls() else "127.0.0.1", self.port, self.keepalive)
        self.c.loop_start()
        rc, sp = self.connack.get(timeout=timeout)
        assert rc == 0, f"{self.client_id}: CONNACK {rc}"
        self.session_present = sp
        return self

    def _tls(self):
        return self.c._ssl_context is not None

    def subscribe(self, topic, qos=0, timeout=5):
        rc, mid = self.c.subscribe(topic, qos)
        assert rc == 0
        got_mid, granted = self.granted.get(timeout=timeout)
        assert got_mid == mid
        return granted[0]

    def unsubscribe(self, topic, timeout=5):
        rc, mid = self.c.unsubscribe(topic)
        assert rc == 0
        assert self.unsubacks.get(timeout=timeout) == mid

    def publish(self, topic, payload, qos=0, retain=False, timeout=5):
        info = self.c.publish(topic, payload, qos, retain)
        if qos:
            info.wait_for_publish(timeout)
            assert info.is_published(), f"{self.client_id}: publish to {topic} not acknowledged"
        return info

    def expect(self, timeout=5):
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"{self.client_id}: no message within {timeout}s")

    def expect_only(self, topic, payload, timeout=5):
        """The next message must be (topic, payload): publish a sentinel after messages that must
        NOT arrive, then call this (per-connection order makes it deterministic)."""
        m = self.expect(timeout)
        assert (m.topic, m.payload) == (topic, payload), (
            f"{self.client_id}: expected {topic} {payload!r}, got {m.topic} {m.payload!r}")
        return m

    def expect_none(self, timeout=0.7):
        try:
            m = self.messages.get(timeout=timeout)
        except queue.Empty:
            return
        raise AssertionError(f"{self.client_id}: unexpected message on {m.topic}: {m.payload!r}")

    def close(self):
        try:
            self.c.disconnect()
        finally:
            self.c.loop_stop()

    def drop(self):
        """Stops the network loop and closes the socket without DISCONNECT."""
        self.c.loop_stop()
        sock = self.c.socket()
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            sock.close()


# ---------------------------------------------------------------------------------------------
# mosquitto CLI tools
# ---------------------------------------------------------------------------------------------


def mosq_args(port, client_id, device=None):
    args = ["-h", "localhost" if device else "127.0.0.1", "-p", str(port), "-i", client_id, "-V",
            "mqttv311"]
    if device is not None:
        args += ["--cafile", device.ca, "--cert", device.cert, "--key", device.key]
    return args


def mosquitto_sub_start(port, client_id, topic, count, device=None, wait_s=10, qos=0):
    """Starts mosquitto_sub (-C count, -W wait_s bound). Returns the Popen."""
    return subprocess.Popen(
        ["mosquitto_sub", *mosq_args(port, client_id, device), "-t", topic, "-C", str(count),
         "-W", str(wait_s), "-q", str(qos), "-v"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def mosquitto_pub(port, client_id, topic, message, device=None, qos=0, timeout=10):
    return subprocess.run(
        ["mosquitto_pub", *mosq_args(port, client_id, device), "-t", topic, "-m", message, "-q",
         str(qos)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def mosquitto_delivers(core, topic, message, connected_before=0, port=None):
    """mosquitto_sub (-C 1) on `topic`, then mosquitto_pub of `message` every 0.2 s (at most 5 s)
    until the subscriber got it; asserts it arrived as "topic message". `connected_before`:
    clients already connected, to know when the subscriber is."""
    port = port or core.plain_port
    sub = mosquitto_sub_start(port, "mosq-sub", topic, 1)
    try:
        wait_connected(core, connected_before + 1)
        deadline = time.monotonic() + 5
        while sub.poll() is None and time.monotonic() < deadline:
            assert mosquitto_pub(port, "mosq-pub", topic, message).returncode == 0
            time.sleep(0.2)
        out, _ = sub.communicate(timeout=5)
        assert out.strip() == f"{topic} {message}"
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait()


def wait_connected(core, n, timeout=5):
    """Waits until the core reports n CONNECTed clients."""
    return wait_until(lambda: core.status()["mqtt"]["connectedClients"] == n, timeout,
                      what=f"{n} connected clients")
