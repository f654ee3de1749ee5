"""A small AWS IoT Device Shadow (classic) emulator for the shadow sync tests
(test_17_shadow_sync.py): it connects to the test mosquitto that plays the cloud, keeps one
document per thing with a version, and answers like AWS IoT:

  $aws/things/<t>/shadow/get     -> get/accepted {state{desired,reported,delta}, metadata,
                                    version, timestamp[, clientToken]} or get/rejected 404
  $aws/things/<t>/shadow/update  -> update/accepted, update/delta (desired changed and differs
                                    from reported), update/documents {previous, current}; or
                                    update/rejected 400 (bad JSON/state) / 409 (version conflict)
  $aws/things/<t>/shadow/delete  -> delete/accepted {version, timestamp}; or delete/rejected 404

Merge rules as AWS documents them: keys of desired/reported are merged recursively, a null value
removes the key, `"desired": null` removes the section; the version counter survives a delete.
In-process (CloudShadowResponder) or standalone:
    /usr/bin/python3 cloud_shadow_responder.py --port PORT
Every document change is recorded in `history` (thing, version, state) for the tests.
"""

import argparse
import copy
import json
import threading
import time

import paho.mqtt.client as mqtt

PREFIX = "$aws/things/"


def _merge(dst, patch):
    for k, v in patch.items():
        if v is None:
            dst.pop(k, None)
        elif isinstance(v, dict) and isinstance(dst.get(k), dict):
            _merge(dst[k], v)
        elif isinstance(v, dict):
            dst[k] = {}
            _merge(dst[k], v)
        else:
            dst[k] = copy.deepcopy(v)
    return dst


def _delta(desired, reported):
    out = {}
    for k, v in desired.items():
        r = reported.get(k) if isinstance(reported, dict) else None
        if isinstance(v, dict) and isinstance(r, dict):
            d = _delta(v, r)
            if d:
                out[k] = d
        elif v != r:
            out[k] = copy.deepcopy(v)
    return out


def _meta(value, ts):
    if isinstance(value, dict):
        return {k: _meta(v, ts) for k, v in value.items()}
    return {"timestamp": ts}


class CloudShadowResponder:
    def __init__(self, port, host="127.0.0.1", client_id="aws-iot-shadow-emulator",
                 persistent=True):
        # persistent: a persistent session (cleanSession=0, QoS 1 subscriptions), so with
        # mosquitto's persistence on, requests published while the responder is still
        # reconnecting after a broker restart are queued for it rather than lost.
        self.port = port
        self.host = host
        self.lock = threading.Lock()
        self.docs = {}  # thing -> {"state": {...}, "version": n, "exists": bool}
        self.history = []  # (thing, version, state) after each accepted change
        self.requests = []  # (thing, op, payload dict or None) in arrival order
        self.seen_tokens = set()  # (thing, op, clientToken) of applied requests
        self.redeliveries = 0  # DUP redeliveries skipped
        self.connected = threading.Event()
        self.c = mqtt.Client(client_id=client_id, clean_session=not persistent)
        self.c.reconnect_delay_set(min_delay=0.1, max_delay=0.5)
        self.c.on_connect = self._on_connect
        self.c.on_disconnect = lambda c, u, rc: self.connected.clear()
        self.c.on_message = self._on_message

    # -- lifecycle
    def start(self, timeout=10):
        self.c.connect_async(self.host, self.port, keepalive=10)
        self.c.loop_start()
        assert self.connected.wait(timeout), "responder: no connection to the cloud broker"
        return self

    def stop(self):
        try:
            self.c.disconnect()
        finally:
            self.c.loop_stop()

    def wait_connected(self, timeout=10):
        assert self.connected.wait(timeout), "responder: did not reconnect"

    def _on_connect(self, c, userdata, flags, rc):
        if rc != 0:
            return
        for op in ("get", "update", "delete"):
            c.subscribe(f"{PREFIX}+/shadow/{op}", 1)
        # Subscriptions are sent before anything the test publishes next on this connection.
        self.connected.set()

    # -- test helpers
    def document(self, thing):
        """{"state": {"desired", "reported"}, "version"} or None."""
        with self.lock:
            d = self.docs.get(thing)
            if not d or not d["exists"]:
                return None
            return {"state": copy.deepcopy(d["state"]), "version": d["version"]}

    def state(self, thing, section):
        d = self.document(thing)
        return (d or {}).get("state", {}).get(section, {})

    def wait_state(self, thing, section, pred, timeout=10, what="cloud shadow"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = self.state(thing, section)
            if pred(s):
                return s
            time.sleep(0.05)
        with self.lock:
            recent = [(o, p) for (t, o, p) in self.requests if t == thing][-8:]
        raise AssertionError(f"{what}: cloud {thing}.{section} is {self.state(thing, section)}; "
                             f"last requests: {recent}")

    def apply_offline(self, thing, state):
        """A change made in the cloud that nobody hears about (e.g. while the core is cut off):
        merged into the document and versioned, but no /accepted or /documents is published."""
        now = int(time.time())
        with self.lock:
            d = self.docs.setdefault(thing, {"state": {}, "version": 0, "exists": False,
                                             "metadata": {}})
            for section, patch in state.items():
                _merge(d["state"].setdefault(section, {}), patch)
                _merge(d["metadata"].setdefault(section, {}), _meta(patch, now))
            d["version"] += 1
            d["exists"] = True
            self.history.append((thing, d["version"], copy.deepcopy(d["state"])))

    def requests_for(self, thing, op=None):
        with self.lock:
            return [p for (t, o, p) in self.requests if t == thing and (op is None or o == op)]

    def update_requests(self, thing):
        with self.lock:
            return [p for (t, op, p) in self.requests if t == thing and op == "update"]

    # -- the emulator
    def _pub(self, topic, body):
        self.c.publish(topic, json.dumps(body), 1)

    def _on_message(self, c, userdata, msg):
        parts = msg.topic.split("/")
        if len(parts) != 5 or parts[3] != "shadow":
            return
        thing, op = parts[2], parts[4]
        base = f"{PREFIX}{thing}/shadow/{op}"
        now = int(time.time())
        try:
            req = json.loads(msg.payload or b"{}")
        except ValueError:
            req = None
        with self.lock:
            token_key = (thing, op, req.get("clientToken")) if isinstance(req, dict) else None
            if msg.dup and token_key in self.seen_tokens:
                # A redelivery (DUP) of a request already applied: the emulator's own persistent
                # session redelivers what it had not acknowledged when the broker stopped. The AWS
                # shadow service sees each request once; so does the emulator.
                self.redeliveries += 1
                return
            if token_key and token_key[2] is not None:
                self.seen_tokens.add(token_key)
            self.requests.append((thing, op, req))
            if not isinstance(req, dict):
                self._pub(base + "/rejected", {"code": 400, "timestamp": now,
                                               "message": "Payload contains invalid json"})
                return
            token = {"clientToken": req["clientToken"]} if "clientToken" in req else {}
            d = self.docs.setdefault(thing, {"state": {}, "version": 0, "exists": False,
                                             "metadata": {}})
            if op == "get":
                if not d["exists"]:
                    self._pub(base + "/rejected", {"code": 404, "message":
                                                   f"No shadow exists with name: '{thing}'",
                                                   "timestamp": now, **token})
                    return
                st = copy.deepcopy(d["state"])
                delta = _delta(st.get("desired", {}), st.get("reported", {}))
                if delta:
                    st["delta"] = delta
                self._pub(base + "/accepted", {"state": st, "metadata": d["metadata"],
                                               "version": d["version"], "timestamp": now, **token})
            elif op == "delete":
                if not d["exists"]:
                    self._pub(base + "/rejected", {"code": 404, "message":
                                                   f"No shadow exists with name: '{thing}'",
                                                   "timestamp": now, **token})
                    return
                d.update(state={}, metadata={}, exists=False)
                self.history.append((thing, d["version"], None))
                self._pub(base + "/accepted", {"version": d["version"], "timestamp": now, **token})
            elif op == "update":
                state = req.get("state")
                if not isinstance(state, dict):
                    self._pub(base + "/rejected", {"code": 400, "timestamp": now, **token,
                                                   "message": "Missing required node: state"})
                    return
                if "version" in req and req["version"] != d["version"]:
                    self._pub(base + "/rejected", {"code": 409, "message": "Version conflict",
                                                   "timestamp": now, **token})
                    return
                prev = {"state": copy.deepcopy(d["state"]),
                        "metadata": copy.deepcopy(d["metadata"]), "version": d["version"]}
                for section in ("desired", "reported"):
                    if section not in state:
                        continue
                    if state[section] is None:
                        d["state"].pop(section, None)
                        d["metadata"].pop(section, None)
                        continue
                    _merge(d["state"].setdefault(section, {}), state[section])
                    _merge(d["metadata"].setdefault(section, {}), _meta(state[section], now))
                d["version"] += 1
                d["exists"] = True
                self.history.append((thing, d["version"], copy.deepcopy(d["state"])))
                self._pub(base + "/accepted", {"state": state, "metadata": _meta(state, now),
                                               "version": d["version"], "timestamp": now, **token})
                if isinstance(state.get("desired"), dict):
                    delta = _delta(d["state"].get("desired", {}), d["state"].get("reported", {}))
                    if delta:
                        self._pub(base + "/delta", {"state": delta, "version": d["version"],
                                                    "timestamp": now, **token})
                cur = {"state": copy.deepcopy(d["state"]), "metadata": copy.deepcopy(d["metadata"]),
                       "version": d["version"]}
                self._pub(base + "/documents", {"previous": prev if prev["version"] else None,
                                                "current": cur, "timestamp": now, **token})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    a = ap.parse_args()
    r = CloudShadowResponder(a.port, a.host).start()
    print(f"cloud shadow responder on {a.host}:{a.port}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        r.stop()


if __name__ == "__main__":
    main()
