"""Helpers for the service tests (test_16_*.py): scraping /metrics and parsing the Prometheus
text format, promtool, and a fake systemd notify socket (the sd_notify(3) datagram protocol the
service manager speaks: a Unix datagram socket named by NOTIFY_SOCKET, "KEY=VALUE\\n" lines)."""

import os
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def http_get(port, path, timeout=5):
    """(status, body) of GET http://127.0.0.1:port/path."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def parse_metrics(text):
    """{(name, frozenset(labels.items())): value} for every sample line."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE_RE.match(line)
        assert m, f"unparsable sample line: {line!r}"
        labels = frozenset(LABEL_RE.findall(m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def metric(samples, name, **labels):
    """Value of one sample (0.0 when absent: a family whose labels appear later)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def promtool_check(text):
    """Runs `promtool check metrics` on a scrape; returns (exit code, output)."""
    tool = shutil.which("promtool")
    assert tool, "promtool not installed (Debian package prometheus; scripts/setup.sh)"
    r = subprocess.run([tool, "check", "metrics"], input=text, capture_output=True, text=True,
                       timeout=30)
    return r.returncode, r.stdout + r.stderr


class NotifySocket:
    """A fake service manager's notify socket: collects (monotonic time, message) datagrams."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.messages = []
        self._lock = threading.Lock()
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self.messages.append((time.monotonic(), data.decode(errors="replace")))

    def times(self, key):
        """Monotonic times of the datagrams carrying KEY (e.g. 'WATCHDOG=1')."""
        with self._lock:
            return [t for t, m in self.messages if key in m.split("\n")]

    def wait_for(self, key, timeout, after=0.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(t >= after for t in self.times(key)):
                return True
            time.sleep(0.02)
        raise AssertionError(f"no {key} on the notify socket within {timeout}s; "
                             f"got {[m for _, m in self.messages][-10:]}")

    def close(self):
        self._stop = True
        self._thread.join(timeout=2)
        self.sock.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
