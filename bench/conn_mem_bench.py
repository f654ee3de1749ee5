#!/usr/bin/python3
"""Memory per connected client and idle memory: the Evergreen core (open broker mode, plaintext
listener) next to Debian's mosquitto, same run, one broker at a time.

For each broker: start it, wait 0.5 s, record idle VmRSS / PSS / anonymous memory
(/proc/PID/status, /proc/PID/smaps_rollup); then connect idle MQTT 3.1.1 clients (raw sockets,
TCP_NODELAY, clean session, keep alive 600 s), each subscribed to its own topic (QoS 1), waiting
for every CONNACK and SUBACK; record the same figures at every step of --clients (cumulative), and
print KB per client = (memory at N - idle) / N. Markdown table on stdout.

TLS (--tls-clients, default 1000,10000; "none" skips): a fresh broker process each, mutual TLS
with one device certificate issued by the core (`evergreen certs issue-device`, deployed in a
group); mosquitto serves the core's server certificate with `require_certificate true` and the
same CA, so both do the same handshake with the same keys. Clients connect one after the other
(handshake, CONNECT + SUBSCRIBE), replies are awaited per batch.

usage: /usr/bin/python3 bench/conn_mem_bench.py [--build DIR] [--clients 1000,10000]
                                                [--tls-clients 1000,10000] [--out FILE]
"""

import argparse
import json
import os
import resource
import selectors
import socket
import ssl
import subprocess
import sys
import tempfile
import time

MOSQUITTO = "/usr/sbin/mosquitto"
CONNECT_BATCH = 200  # sockets opened before waiting for their CONNACK/SUBACK
STEP_TIMEOUT_S = 60  # hard bound on connecting one batch


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, proc, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        s = socket.socket()
        s.settimeout(0.2)
        try:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        finally:
            s.close()
        time.sleep(0.1)
    return False


def memory(pid):
    """(VmRSS kB, Pss kB, Pss_Anon kB, RssAnon kB) of pid."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon"):
                out[k] = int(v.split()[0])
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Pss", "Pss_Anon"):
                out[k] = int(v.split()[0])
    return out


def rl(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def mqtt_str(s):
    b = s.encode()
    return len(b).to_bytes(2, "big") + b


def connect_pkt(cid):
    body = mqtt_str("MQTT") + bytes([4, 0x02]) + (600).to_bytes(2, "big") + mqtt_str(cid)
    return bytes([0x10]) + rl(len(body)) + body


def subscribe_pkt(topic):
    body = (1).to_bytes(2, "big") + mqtt_str(topic) + bytes([1])
    return bytes([0x82]) + rl(len(body)) + body


def connect_clients(port, start, count, socks, tag, tls=None):
    """Open count clients; each sends CONNECT + SUBSCRIBE and must get CONNACK(0) + SUBACK."""
    i = start
    end = start + count
    while i < end:
        batch = []
        for j in range(i, min(end, i + CONNECT_BATCH)):
            s = socket.socket()
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.settimeout(STEP_TIMEOUT_S)
            s.connect(("127.0.0.1", port))
            if tls is not None:
                s = tls.wrap_socket(s)  # blocking handshake
            s.sendall(connect_pkt(f"{tag}-{j}") + subscribe_pkt(f"bench/mem/{j}"))
            s.setblocking(False)
            batch.append(s)
        sel = selectors.DefaultSelector()
        want = {}
        for s in batch:
            sel.register(s, selectors.EVENT_READ)
            want[s] = b""
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while want and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=1):
                s = key.fileobj
                try:
                    data = s.recv(64)
                except (ssl.SSLWantReadError, BlockingIOError):
                    continue
                if not data:
                    raise RuntimeError("broker closed a client during setup")
                want[s] += data
                # CONNACK (4 bytes) + SUBACK (5 bytes)
                if len(want[s]) >= 9:
                    if want[s][0] != 0x20 or want[s][3] != 0 or want[s][4] != 0x90:
                        raise RuntimeError(f"unexpected reply {want[s][:9].hex()}")
                    sel.unregister(s)
                    del want[s]
        sel.close()
        if want:
            raise RuntimeError(f"{len(want)} clients got no CONNACK/SUBACK in {STEP_TIMEOUT_S} s")
        socks.extend(batch)
        i += len(batch)


def measure(label, proc, port, steps, tls=None):
    rows = []
    if not wait_port(port, proc):
        return [(label, "did not start", None, None)]
    time.sleep(0.5)
    idle = memory(proc.pid)
    rows.append((label, 0, idle, None))
    socks = []
    try:
        for n in steps:
            connect_clients(port, len(socks), n - len(socks), socks, label, tls)
            time.sleep(0.5)
            m = memory(proc.pid)
            per = {k: (m[k] - idle[k]) / n for k in m}
            rows.append((label, n, m, per))
    except (OSError, RuntimeError, ssl.SSLError) as e:
        rows.append((label, f"error after {len(socks)} clients: {e}", None, None))
    finally:
        for s in socks:
            s.close()
    return rows


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def evergreen_root(tmp, steps):
    root = os.path.join(tmp, "evg")
    os.makedirs(os.path.join(root, "config"))
    port, tls, daemon = free_port(), free_port(), free_port()
    cfg = {"coreThing": {"thingArn": "arn:aws:iot:us-east-1:123456789012:thing/BenchCore",
                         "iotHost": "localhost", "ggMqttPort": tls,
                         "ggDaemonPort": daemon, "keepAlive": 600},
           "runtime": {"cgroup": {"useSystemd": "yes"}}, "managedRespawn": False,
           "evergreen": {"mqtt": {"openBroker": True, "plaintextPort": port,
                                  "bindAddress": "127.0.0.1",
                                  "maxConnections": steps + 16, "persistence": False},
                         "log": {"level": "WARN"}}}
    with open(os.path.join(root, "config", "config.json"), "w") as f:
        json.dump(cfg, f)
    return root, port, tls


def run_cli(evg, *args):
    r = subprocess.run([evg, *args], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"evergreen {args[0]} {args[1] if len(args) > 1 else ''} failed: "
                           f"{r.stderr.strip()[-300:]}")
    return r.stdout


def device_group(fingerprint):
    arn = "arn:aws:iot:us-east-1:123456789012:"
    return {"CoreDefinitionVersion": {"Cores": [{"Id": "core", "ThingArn": arn + "thing/BenchCore",
                                                 "CertificateArn": arn + "cert/core",
                                                 "SyncShadow": False}]},
            "DeviceDefinitionVersion": {"Devices": [{
                "Id": "BenchDev", "ThingArn": arn + "thing/BenchDev",
                "CertificateArn": arn + "cert/benchdev", "SyncShadow": False,
                "CertificateFingerprintSha256": fingerprint}]},
            "SubscriptionDefinitionVersion": {"Subscriptions": []}}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(os.path.dirname(__file__), "..", "build"))
    ap.add_argument("--clients", default="1000,10000")
    ap.add_argument("--tls-clients", default="1000,10000")
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    steps = sorted(int(x) for x in a.clients.split(","))
    tls_steps = [] if a.tls_clients == "none" else sorted(int(x) for x in a.tls_clients.split(","))
    if not steps or steps[0] <= 0 or (tls_steps and tls_steps[0] <= 0):
        sys.exit("conn_mem_bench: --clients/--tls-clients need positive counts, e.g. 1000,10000")
    top = max(steps + tls_steps)
    need = top + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        if hard < need:
            sys.exit(f"conn_mem_bench: open-file limit {hard} < {need} (ulimit -n)")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))  # inherited by the brokers
    evg = os.path.abspath(os.path.join(a.build, "apps", "evergreen", "evergreen"))
    have_evg = os.access(evg, os.X_OK)
    rows = []
    with tempfile.TemporaryDirectory(prefix="evg-conn-mem.") as tmp:
        err = open(os.path.join(tmp, "brokers.err"), "wb")

        def run(label, argv, port, steps_, tls=None):
            proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)
            try:
                return measure(label, proc, port, steps_, tls)
            finally:
                stop(proc)

        mport = free_port()
        conf = os.path.join(tmp, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write(f"listener {mport} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n"
                    "persistence false\nmax_connections -1\n")
        rows += run("mosquitto", [MOSQUITTO, "-c", conf], mport, steps)
        if not have_evg:
            rows.append(("evergreen", "not built", None, None))
        else:
            root, port, tls_port = evergreen_root(tmp, top)
            argv = [evg, "run", "--root", root]
            rows += run("evergreen", argv, port, steps)
            if tls_steps:
                # Certificates: the core makes its CA and server certificate at first start; one
                # device certificate, deployed in a group, is used by every TLS client.
                proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)
                try:
                    if not wait_port(port, proc):
                        raise RuntimeError("evergreen did not start")
                    dev = json.loads(run_cli(evg, "certs", "issue-device", "--root", root,
                                             "BenchDev"))
                    group = os.path.join(tmp, "group.json")
                    with open(group, "w") as f:
                        json.dump(device_group(dev["CertificateFingerprintSha256"]), f)
                    run_cli(evg, "deploy", "--root", root, group)
                finally:
                    stop(proc)
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE  # memory, not trust, is measured here
                ctx.load_cert_chain(dev["certificatePath"], dev["privateKeyPath"])
                certs = os.path.join(root, "certs")
                tport = free_port()
                tconf = os.path.join(tmp, "mosquitto-tls.conf")
                with open(tconf, "w") as f:
                    f.write(f"listener {tport} 127.0.0.1\nallow_anonymous true\n"
                            "set_tcp_nodelay true\npersistence false\nmax_connections -1\n"
                            f"cafile {certs}/group-ca.pem\ncertfile {certs}/server.pem\n"
                            f"keyfile {certs}/server.key\nrequire_certificate true\n")
                    if os.geteuid() == 0:
                        # mosquitto would switch to its own user, which cannot read the core's
                        # 0600 server key (nor enter a 0700 temp dir)
                        f.write("user root\n")
                rows += run("mosquitto TLS", [MOSQUITTO, "-c", tconf], tport, tls_steps, ctx)
                rows += run("evergreen TLS", argv, tls_port, tls_steps, ctx)
        err.close()
    lines = ["| broker | clients | VmRSS kB | PSS kB | RssAnon kB | KB/client (RSS) | "
             "KB/client (PSS) | KB/client (anon) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for label, n, m, per in rows:
        if m is None:
            lines.append(f"| {label} | {n} | | | | | | |")
            continue
        p = per or {}
        f = lambda k: f"{p[k]:.2f}" if k in p else ""
        lines.append(f"| {label} | {n} | {m['VmRSS']} | {m['Pss']} | {m['RssAnon']} | "
                     f"{f('VmRSS')} | {f('Pss')} | {f('RssAnon')} |")
    text = "\n".join(lines)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
