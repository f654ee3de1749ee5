"""Helpers for the token exchange black-box tests (test_19_tes.py) and bench/tes_bench.py.

* make_pki(): a test CA (openssl CLI), the fake provider's server certificate (localhost,
  127.0.0.1) and the core's IoT client certificate (CN = thing name).
* FakeIotCredentialsProvider: HTTPS on loopback that REQUIRES the core's client certificate,
  checks the path /role-aliases/<alias>/credentials and the x-amzn-iot-thingname header, and
  issues short-lived credentials (fresh key id each fetch); stop()/start() simulate an outage.
* SigV4Proxy: a recording HTTP proxy in front of an emulator (kinesalite / s3rver accept any
  credentials) that VERIFIES each request's SigV4 signature with the secret the fake provider
  issued for its access key id, records (key id, valid), then forwards.
* Emulators: npm kinesalite + s3rver installed at test time into a cache dir (never committed).
* tes_core(): a core whose config points evergreen.tes at the fake provider.
Every wait is bounded.
"""

import hashlib
import hmac
import http.client
import http.server
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
from datetime import datetime, timezone

import evg_harness as h
import lambda_helpers as lh

HERE = os.path.dirname(os.path.abspath(__file__))
ROLE_ALIAS = "TestTokenExchangeRoleAlias"
NPM_TIMEOUT_S = 300
EMULATORS = ["kinesalite@3.3.3", "s3rver@3.7.1"]


def _openssl(*args, cwd):
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"openssl {args}: {r.stderr}"


def make_pki(d, thing="EvergreenCore"):
    """Writes ca.pem/ca.key, server.pem/server.key (SAN localhost, 127.0.0.1) and
    core.pem/core.key (CN=thing, clientAuth) into d. Returns d."""
    os.makedirs(d, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Fake Amazon Root",
             cwd=d)
    for name, cn, ext in (("server", "localhost",
                           "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth"),
                          ("core", thing, "extendedKeyUsage=clientAuth")):
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write(ext + "\n")
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn, cwd=d)
        _openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", name + ".pem", "-days", "2", "-extfile", name + ".ext",
                 cwd=d)
    return d


def iso(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """Request handler base of the test servers here and in test_20_stream_exports.py: HTTP/1.1
    keep-alive, no request log, the body and JSON answers in one call each."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def send_json(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class FakeIotCredentialsProvider:
    """The AWS IoT credentials provider, for tests: mutual TLS, role alias + thing-name checks,
    credentials valid `lifetime_s`, a new access key id per fetch."""

    def __init__(self, pki_dir, thing="EvergreenCore", lifetime_s=20, port=None):
        self.pki = pki_dir
        self.thing = thing
        self.lifetime_s = lifetime_s
        self.port = port or h.free_port()
        self.issued = {}  # access key id -> {"secret", "token", "issued", "expires"}
        self.order = []  # access key ids in issue order
        self.fetches = 0
        self.refused = []  # (reason, path, thing header)
        self.lock = threading.Lock()
        self._srv = None

    def start(self):
        outer = self

        class Handler(QuietHandler):
            def do_GET(self):
                thing = self.headers.get("x-amzn-iot-thingname")
                with outer.lock:
                    if self.path != f"/role-aliases/{ROLE_ALIAS}/credentials":
                        outer.refused.append(("path", self.path, thing))
                        return self.send_json(404, {"message": "Role alias does not exist"})
                    if thing != outer.thing:
                        outer.refused.append(("thing", self.path, thing))
                        return self.send_json(403, {"message": "Access Denied"})
                    outer.fetches += 1
                    n = outer.fetches
                    akid = "ASIAFAKE%08d" % n
                    now = time.time()
                    outer.issued[akid] = {"secret": "secret-%d-%s" % (n, os.urandom(6).hex()),
                                          "token": "token-%d" % n, "issued": now,
                                          "expires": now + outer.lifetime_s}
                    outer.order.append(akid)
                    c = outer.issued[akid]
                self.send_json(200, {"credentials": {"accessKeyId": akid,
                                                 "secretAccessKey": c["secret"],
                                                 "sessionToken": c["token"],
                                                 "expiration": iso(c["expires"])}})

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(self.pki, "server.pem"), os.path.join(self.pki, "server.key"))
        ctx.load_verify_locations(os.path.join(self.pki, "ca.pem"))
        ctx.verify_mode = ssl.CERT_REQUIRED  # the core's IoT certificate is mandatory

        class Server(http.server.ThreadingHTTPServer):
            allow_reuse_address = True
            daemon_threads = True

            def get_request(self):
                sock, addr = super().get_request()
                sock.settimeout(10)
                return ctx.wrap_socket(sock, server_side=True), addr

            def handle_error(self, request, client_address):
                pass  # TLS failures of clients without a certificate are expected

        self._srv = Server(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._srv.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self._srv:
            self._srv.shutdown()
            self._srv.server_close()
            self._srv = None

    def endpoint(self):
        return f"localhost:{self.port}"

    def secret_of(self, akid):
        with self.lock:
            c = self.issued.get(akid)
            return c and c["secret"]


# ----------------------------------------------------------------------------- SigV4 verify

def _enc(s, safe="-_.~"):
    return urllib.parse.quote(s, safe=safe)


def verify_sigv4(method, path, query, headers, body, secret):
    """Recomputes a SigV4 header signature (independent of the core's signer). headers: dict
    with lower-case names. Returns (ok, access key id)."""
    auth = headers.get("authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return False, None
    parts = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 "):].split(","))
    akid, date, region, service, _ = parts["Credential"].split("/")
    signed = parts["SignedHeaders"].split(";")
    canon_headers = "".join(f"{n}:{' '.join(headers.get(n, '').split())}\n" for n in signed)
    q = sorted((_enc(urllib.parse.unquote(k)), _enc(urllib.parse.unquote(v)))
               for k, _, v in (p.partition("=") for p in query.split("&") if p))
    canon_query = "&".join(f"{k}={v}" for k, v in q)
    payload_hash = headers.get("x-amz-content-sha256") or hashlib.sha256(body).hexdigest()
    canon_uri = path if service == "s3" else _enc(path, safe="-_.~/")
    creq = "\n".join([method, canon_uri or "/", canon_query, canon_headers, parts["SignedHeaders"],
                      payload_hash])
    sts = "\n".join(["AWS4-HMAC-SHA256", headers.get("x-amz-date", ""),
                     f"{date}/{region}/{service}/aws4_request",
                     hashlib.sha256(creq.encode()).hexdigest()])
    k = ("AWS4" + secret).encode()
    for m in (date, region, service, "aws4_request"):
        k = hmac.new(k, m.encode(), hashlib.sha256).digest()
    sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(sig, parts.get("Signature", "")), akid


def sigv4_check(provider, method, raw_path, headers, body):
    """A request signed with SigV4, checked against `provider`'s issued credentials: (access key
    id, service of the credential scope, signature valid, session token the issued one). Unsigned,
    malformed or signed with a key the provider never issued: the signature counts as invalid."""
    hdrs = {k.lower(): v for k, v in headers.items()}
    auth = hdrs.get("authorization", "")
    if "Credential=" not in auth:
        return None, None, False, False
    scope = auth.split("Credential=")[1].split("/")
    akid, service = scope[0], scope[3] if len(scope) > 3 else None
    secret = provider.secret_of(akid)
    if not secret:
        return akid, service, False, False
    path, _, query = raw_path.partition("?")
    try:
        valid, _ = verify_sigv4(method, path, query, hdrs, body, secret)
    except Exception:  # a malformed Authorization header
        return akid, service, False, False
    with provider.lock:
        token = provider.issued[akid]["token"]
    return akid, service, valid, hdrs.get("x-amz-security-token") == token


class LoopbackHttp:
    """A plain HTTP test server on 127.0.0.1 (a free port unless given), one thread per
    connection, served from a daemon thread: the fakes below and in test_20_stream_exports.py."""

    class _Server(http.server.ThreadingHTTPServer):
        allow_reuse_address = True
        daemon_threads = True

    def __init__(self, handler_cls, port=None):
        self.port = port or h.free_port()
        self._srv = self._Server(("127.0.0.1", self.port), handler_cls)
        threading.Thread(target=self._srv.serve_forever, daemon=True).start()

    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        self._srv.shutdown()
        self._srv.server_close()


class SigV4Proxy:
    """HTTP proxy to an emulator at 127.0.0.1:upstream_port: verifies each request's SigV4
    signature against the fake provider's issued secrets and its session token, records
    {"akid", "valid", "time", "path"}, forwards, relays the answer."""

    def __init__(self, upstream_port, provider):
        self.upstream = upstream_port
        self.provider = provider
        self.port = h.free_port()
        self.records = []
        self.lock = threading.Lock()
        outer = self

        class Handler(QuietHandler):
            def _relay(self):
                body = self.read_body()
                akid, _, signed, token_ok = sigv4_check(outer.provider, self.command, self.path,
                                                        self.headers, body)
                valid = signed and token_ok
                with outer.lock:
                    outer.records.append({"akid": akid, "valid": valid, "time": time.time(),
                                          "path": self.path})
                conn = http.client.HTTPConnection("127.0.0.1", outer.upstream, timeout=10)
                fwd = {k: v for k, v in self.headers.items() if k.lower() not in ("connection",)}
                conn.request(self.command, self.path, body=body, headers=fwd)
                r = conn.getresponse()
                data = r.read()
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _relay

        self._http = LoopbackHttp(Handler, self.port)

    def url(self):
        return self._http.url()

    def snapshot(self):
        with self.lock:
            return list(self.records)

    def stop(self):
        self._http.stop()


# ----------------------------------------------------------------------------- emulators

def npm_install(dest, packages, cache):
    npm = shutil.which("npm")
    assert npm, "npm is not installed (scripts/setup.sh installs it)"
    r = subprocess.run([npm, "install", "--no-save", "--no-package-lock", "--no-audit", "--no-fund",
                        "--loglevel=error", "--cache", cache, "--prefix", dest, *packages],
                       capture_output=True, text=True, timeout=NPM_TIMEOUT_S)
    assert r.returncode == 0, f"npm install {packages} failed ({r.returncode}):\n{r.stdout}{r.stderr}"
    return dest


def _wait_port(port, proc, what, timeout=20):
    def up():
        assert proc.poll() is None, f"{what} exited with {proc.returncode}"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False
    h.wait_until(up, timeout, what=f"{what} on port {port}")


class Emulators:
    """kinesalite and s3rver from npm (installed into `base`), started on free ports."""

    def __init__(self, base):
        self.base = base
        mods = os.path.join(base, "emu")
        if not os.path.exists(os.path.join(mods, "node_modules", ".bin", "s3rver")):
            npm_install(mods, EMULATORS, os.path.join(base, "npm-cache"))
        self.kinesis_port = h.free_port()
        self.s3_port = h.free_port()
        node = shutil.which("node")
        bin_dir = os.path.join(mods, "node_modules", ".bin")
        self.logs = open(os.path.join(base, "emulators.log"), "ab")
        self.kinesis = subprocess.Popen(
            [node, os.path.join(bin_dir, "kinesalite"), "--port", str(self.kinesis_port),
             "--createStreamMs", "0"], stdout=self.logs, stderr=self.logs)
        s3dir = os.path.join(base, "s3data")
        os.makedirs(s3dir, exist_ok=True)
        # s3rver refuses unknown access key ids: tes_s3rver.js registers the fake provider's
        # (ASIAFAKE00000001...) before serving.
        self.s3 = subprocess.Popen(
            [node, os.path.join(HERE, "tes_s3rver.js"), os.path.join(mods, "node_modules"),
             str(self.s3_port), s3dir], stdout=self.logs, stderr=self.logs)
        _wait_port(self.kinesis_port, self.kinesis, "kinesalite")
        _wait_port(self.s3_port, self.s3, "s3rver")

    def stop(self):
        for p in (self.kinesis, self.s3):
            p.terminate()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
        self.logs.close()


def boto3_client(service, port):
    """A boto3 client for the TEST itself (emulator-side checks), with dummy credentials."""
    import boto3
    kw = {}
    if service == "s3":
        kw = {"aws_access_key_id": "S3RVER", "aws_secret_access_key": "S3RVER"}
    else:
        kw = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
    return boto3.client(service, endpoint_url=f"http://127.0.0.1:{port}", region_name=h.REGION,
                        **kw)


# ----------------------------------------------------------------------------- the core

def tes_core(make_core, pki, provider, name="core", serve_wait_ms=3000, retry_max_ms=1000,
             configure=None):
    """A started Lambda core whose IoT certificate is pki/core.pem and whose evergreen.tes points
    at the fake provider (CA = pki/ca.pem as crypto caPath). configure(config) may change the
    config before the start."""
    c = lh.lambda_core(make_core, name, start=False)
    os.makedirs(c.certs_dir, exist_ok=True)
    shutil.copy(os.path.join(pki, "ca.pem"), os.path.join(c.certs_dir, "root.ca.pem"))
    shutil.copy(os.path.join(pki, "core.pem"), os.path.join(c.certs_dir, "core.cert.pem"))
    shutil.copy(os.path.join(pki, "core.key"), os.path.join(c.certs_dir, "core.private.key"))
    c.config["evergreen"]["tes"] = {"credentialsEndpoint": provider.endpoint(),
                                    "roleAlias": ROLE_ALIAS, "retryInitialMs": 200,
                                    "retryMaxMs": retry_max_ms, "serveWaitMs": serve_wait_ms,
                                    "requestTimeoutMs": 3000}
    if configure:
        configure(c.config)
    c.start()
    return c


def tes_status(core):
    return core.status()["tes"]

