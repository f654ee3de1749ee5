"""A fake AWS IoT Jobs service (the device-side MQTT protocol) for the tests, on Debian's mosquitto.

One paho-mqtt client subscribes to `$aws/things/+/jobs/#` on "the cloud" broker and answers the
six operations of the IoT Jobs MQTT API (shared/reference/v1-layout-and-iot-jobs.md part B.1) for
any number of things:

    $aws/things/<thing>/jobs/get                 GetPendingJobExecutions
    $aws/things/<thing>/jobs/start-next          StartNextPendingJobExecution
    $aws/things/<thing>/jobs/<jobId>/get         DescribeJobExecution (jobId may be `$next`)
    $aws/things/<thing>/jobs/<jobId>/update      UpdateJobExecution
    $aws/things/<thing>/jobs/notify              JobExecutionsChanged (published by the fake)
    $aws/things/<thing>/jobs/notify-next         NextJobExecutionChanged (published by the fake)

Replies go to `<request topic>/accepted` or `/rejected` of the thing named in the request topic.
Real AWS IoT sends them only to the requesting client; a plain broker cannot know which client
published, so the fake relies on the thing name in the topic (each core uses its own thing).

Semantics copied from AWS (part B.2/B.3): execution state machine QUEUED -> IN_PROGRESS ->
SUCCEEDED | FAILED | REJECTED (TIMED_OUT by the step timer, CANCELED by cancel_job), versionNumber
incremented on every change, expectedVersion -> VersionMismatch carrying executionState, a change
out of a terminal state -> InvalidStateTransition carrying executionState (TerminalStateReached
when the service itself ended it: TIMED_OUT / CANCELED; AWS documents both codes without saying
which applies when, so that split is the fake's choice), clientToken echoed, timestamp in seconds,
start-next takes IN_PROGRESS executions first then the oldest QUEUED, and its reply has no
`execution` key when nothing is pending, notify-next only when the identity of a thing's next
execution changes. Presigned-URL placeholders `${aws:iot:s3-presigned-url:https://...}` in a
document are replaced, each time a document is handed out, by `presign(s3_url)` (normally
ArtifactServer.presign_s3: a fresh URL with an expiry).

Fault injection: throttle(n) answers the next n requests RequestThrottled, internal_error(n)
InternalError, drop_replies(n) processes the next n requests but publishes no reply. Every wait is
bounded.
"""

import copy
import json
import re
import threading
import time
from collections import Counter

import paho.mqtt.client as mqtt

TERMINAL = ("SUCCEEDED", "FAILED", "REJECTED", "TIMED_OUT", "CANCELED", "REMOVED")
DEVICE_SETTABLE = ("IN_PROGRESS", "SUCCEEDED", "FAILED", "REJECTED")
PLACEHOLDER = re.compile(r"\$\{aws:iot:s3-presigned-url:(https://[^}]+)\}")
THING_RE = re.compile(r"^[a-zA-Z0-9:_-]{1,128}$")
JOB_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
DETAILS_KEY_RE = re.compile(r"^[a-zA-Z0-9:_-]{1,128}$")
MAX_DOCUMENT = 32768


def _now():
    return int(time.time())


class _Execution:
    def __init__(self, job_id, thing, seq, execution_number=1):
        self.job_id = job_id
        self.thing = thing
        self.seq = seq  # creation order: "oldest QUEUED" first
        self.status = "QUEUED"
        self.status_details = {}
        self.version = 1
        self.execution_number = execution_number
        self.queued_at = _now()
        self.started_at = None
        self.last_updated_at = self.queued_at
        self.step_deadline = None  # monotonic
        self.history = [("QUEUED", {})]  # (status, statusDetails) per accepted change
        self.times = {"QUEUED": time.monotonic()}  # status -> monotonic time of the last entry

    def state(self):
        return {"status": self.status, "statusDetails": dict(self.status_details),
                "versionNumber": self.version}

    def summary(self):
        s = {"jobId": self.job_id, "queuedAt": self.queued_at,
             "lastUpdatedAt": self.last_updated_at, "versionNumber": self.version,
             "executionNumber": self.execution_number}
        if self.started_at is not None:
            s["startedAt"] = self.started_at
        return s


class FakeIotJobs:
    def __init__(self, port, presign=None, client_id="fake-iot-jobs", step_minute_s=60.0,
                 host="127.0.0.1"):
        """port: the broker's plaintext test port. presign(s3_url) -> https URL (None: the
        placeholder is left as is). step_minute_s: seconds per "minute" of stepTimeoutInMinutes
        (tests shrink it)."""
        self.port = port
        self.host = host
        self.presign = presign
        self.step_minute_s = step_minute_s
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.jobs = {}  # job_id -> {"document": str, "seq": int, "things": [..]}
        self.executions = {}  # (thing, job_id) -> _Execution
        self.requests = Counter()  # (thing, op) -> n ; op in get|start-next|describe|update
        self.published = Counter()  # (thing, suffix) -> n ; suffix e.g. "start-next/accepted"
        self.documents_served = Counter()  # (thing, job_id) -> n documents handed out
        self.log = []  # (thing, op, request dict, reply topic suffix, reply dict)
        self._seq = 0
        self._throttle = 0
        self._internal = 0
        self._drop = 0
        self._stop = threading.Event()
        self.c = mqtt.Client(client_id=client_id, clean_session=True)
        self.c.on_message = self._on_message
        self._subscribed = threading.Event()
        self.c.on_subscribe = lambda c, u, mid, q: self._subscribed.set()
        self._connected = threading.Event()
        self.c.on_connect = lambda c, u, f, rc: self._on_connect(rc)
        self._timer = threading.Thread(target=self._timer_loop, daemon=True)

    # -- lifecycle -------------------------------------------------------------------------
    def _on_connect(self, rc):
        if rc == 0:
            self.c.subscribe("$aws/things/+/jobs/#", 1)
            self._connected.set()

    def start(self, timeout=10):
        self.c.connect(self.host, self.port, 30)
        self.c.loop_start()
        assert self._connected.wait(timeout), "fake IoT Jobs: no CONNACK"
        assert self._subscribed.wait(timeout), "fake IoT Jobs: no SUBACK"
        self._timer.start()
        return self

    def stop(self):
        self._stop.set()
        try:
            self.c.disconnect()
        finally:
            self.c.loop_stop()
        if self._timer.is_alive():
            self._timer.join(5)

    # -- test API --------------------------------------------------------------------------
    def create_job(self, job_id, document, things, step_timeout_minutes=None):
        """Queues one execution of `document` (dict or JSON string, ≤ 32768 bytes as AWS
        requires) per thing and sends notify / notify-next where the next execution changed."""
        assert JOB_RE.match(job_id), f"invalid jobId {job_id!r}"
        text = document if isinstance(document, str) else json.dumps(document)
        assert len(text.encode()) <= MAX_DOCUMENT, f"job document is {len(text.encode())} bytes"
        json.loads(text)
        with self.lock:
            assert job_id not in self.jobs, f"job {job_id} exists"
            self._seq += 1
            self.jobs[job_id] = {"document": text, "seq": self._seq, "things": list(things),
                                 "step_timeout": step_timeout_minutes}
            before = {t: self._next_id(t) for t in things}
            for t in things:
                assert THING_RE.match(t), f"invalid thing name {t!r}"
                self.executions[(t, job_id)] = _Execution(job_id, t, self._seq)
            for t in things:
                self._after_change(t, before[t])
            self.changed.notify_all()

    def cancel_job(self, job_id):
        with self.lock:
            for (t, j), e in self.executions.items():
                if j == job_id and e.status not in TERMINAL:
                    before = self._next_id(t)
                    self._set(e, "CANCELED", e.status_details)
                    self._after_change(t, before)
            self.changed.notify_all()

    def execution(self, thing, job_id):
        """A snapshot: {status, statusDetails, versionNumber, executionNumber, history}."""
        with self.lock:
            e = self.executions.get((thing, job_id))
            if e is None:
                return None
            d = e.state()
            d["executionNumber"] = e.execution_number
            d["history"] = copy.deepcopy(e.history)
            d["times"] = dict(e.times)
            return d

    def statuses(self, job_id):
        with self.lock:
            return {t: e.status for (t, j), e in self.executions.items() if j == job_id}

    def wait_terminal(self, job_id, things=None, timeout=60):
        """Waits until every execution of job_id (or of `things`) is terminal; returns
        {thing: execution snapshot}. Raises AssertionError naming the stragglers on timeout."""
        deadline = time.monotonic() + timeout
        with self.lock:
            targets = list(things) if things else list(self.jobs[job_id]["things"])
            while True:
                pending = [t for t in targets
                           if self.executions[(t, job_id)].status not in TERMINAL]
                if not pending:
                    return {t: self.execution(t, job_id) for t in targets}
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"job {job_id}: {len(pending)} executions not terminal after {timeout}s: "
                        + ", ".join(f"{t}={self.executions[(t, job_id)].status}"
                                    for t in pending[:10]))
                self.changed.wait(min(left, 0.5))

    def wait_status(self, thing, job_id, statuses, timeout=30):
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                e = self.executions.get((thing, job_id))
                if e is not None and e.status in statuses:
                    return self.execution(thing, job_id)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{thing}/{job_id}: status "
                                         f"{e.status if e else None}, wanted {statuses}")
                self.changed.wait(min(left, 0.5))

    def count(self, op=None, thing=None):
        with self.lock:
            return sum(n for (t, o), n in self.requests.items()
                       if (op is None or o == op) and (thing is None or t == thing))

    def throttle(self, n):
        with self.lock:
            self._throttle += n

    def internal_error(self, n):
        with self.lock:
            self._internal += n

    def drop_replies(self, n):
        with self.lock:
            self._drop += n

    def renotify(self, thing):
        """Publishes notify-next again with the thing's current next execution (a redelivery, as
        happens after a reconnect or with QoS 1 duplicates), document re-signed."""
        with self.lock:
            self._publish_notify_next(thing)

    # -- internals -------------------------------------------------------------------------
    def _document(self, job_id, thing):
        text = self.jobs[job_id]["document"]
        if self.presign is not None:
            text = PLACEHOLDER.sub(lambda m: json.dumps(self.presign(m.group(1)))[1:-1], text)
        self.documents_served[(thing, job_id)] += 1
        return json.loads(text)

    def _full(self, e, include_document=True):
        d = e.summary()
        d.update({"thingName": e.thing, "status": e.status,
                  "statusDetails": dict(e.status_details)})
        if e.step_deadline is not None:
            d["approximateSecondsBeforeTimedOut"] = max(0, int(e.step_deadline - time.monotonic()))
        if include_document:
            d["jobDocument"] = self._document(e.job_id, e.thing)
        return d

    def _pending(self, thing):
        es = [e for (t, _), e in self.executions.items()
              if t == thing and e.status in ("QUEUED", "IN_PROGRESS")]
        return sorted(es, key=lambda e: (e.status != "IN_PROGRESS", e.seq))

    def _next(self, thing):
        p = self._pending(thing)
        return p[0] if p else None

    def _next_id(self, thing):
        """What notify / notify-next depend on: (identity of the next execution, pending set)."""
        e = self._next(thing)
        return ((e.job_id, e.execution_number) if e else None,
                tuple((p.job_id, p.status) for p in self._pending(thing)))

    def _set(self, e, status, details):
        e.status = status
        e.status_details = details
        e.version += 1
        e.last_updated_at = _now()
        if status == "IN_PROGRESS" and e.started_at is None:
            e.started_at = e.last_updated_at
        if status in TERMINAL:
            e.step_deadline = None
        e.history.append((status, dict(details)))
        e.times[status] = time.monotonic()

    def _after_change(self, thing, before):
        """notify when the pending list changed, notify-next when the next execution changed."""
        after = self._next_id(thing)
        if after[1] != before[1]:
            pending = self._pending(thing)
            self._publish(thing, "notify", {
                "timestamp": _now(),
                "jobs": {s: [e.summary() for e in pending if e.status == s]
                         for s in ("QUEUED", "IN_PROGRESS")
                         if any(e.status == s for e in pending)}})
        if after[0] != before[0]:
            self._publish_notify_next(thing)

    def _publish_notify_next(self, thing):
        e = self._next(thing)
        msg = {"timestamp": _now()}
        if e is not None:
            msg["execution"] = self._full(e)
        self._publish(thing, "notify-next", msg)

    def _publish(self, thing, suffix, body):
        self.published[(thing, suffix)] += 1
        self.c.publish(f"$aws/things/{thing}/jobs/{suffix}", json.dumps(body), 1)

    def _timer_loop(self):
        while not self._stop.wait(0.1):
            now = time.monotonic()
            with self.lock:
                for (t, _), e in list(self.executions.items()):
                    if e.step_deadline is not None and now >= e.step_deadline \
                            and e.status not in TERMINAL:
                        before = self._next_id(t)
                        self._set(e, "TIMED_OUT", e.status_details)
                        self._after_change(t, before)
                        self.changed.notify_all()

    def _step_timer(self, e, minutes):
        if minutes is None:
            return
        if minutes < 0:
            e.step_deadline = None  # AWS: -1 clears the step timer
        else:
            e.step_deadline = time.monotonic() + minutes * self.step_minute_s

    def _on_message(self, client, userdata, msg):
        levels = msg.topic.split("/")
        # $aws / things / <thing> / jobs / ...
        if len(levels) < 5 or levels[3] != "jobs":
            return
        thing, rest = levels[2], levels[4:]
        if rest[-1] in ("accepted", "rejected") or rest in (["notify"], ["notify-next"]):
            return  # our own replies and events come back to us
        with self.lock:
            try:
                self._handle(thing, rest, msg.topic, msg.payload)
            finally:
                self.changed.notify_all()

    def _reply(self, thing, request_topic, op, req, ok, body):
        suffix = request_topic.split("/jobs/", 1)[1] + ("/accepted" if ok else "/rejected")
        body.setdefault("timestamp", _now())
        if isinstance(req, dict) and "clientToken" in req:
            body["clientToken"] = req["clientToken"]
        self.log.append((thing, op, req, suffix, body))
        if self._drop > 0:
            self._drop -= 1
            return
        self._publish(thing, suffix, body)

    def _reject(self, thing, topic, op, req, code, message, e=None):
        body = {"code": code, "message": message}
        if e is not None and code in ("VersionMismatch", "InvalidStateTransition"):
            body["executionState"] = e.state()
        self._reply(thing, topic, op, req, False, body)

    def _handle(self, thing, rest, topic, payload):
        if rest == ["get"]:
            op = "get"
        elif rest == ["start-next"]:
            op = "start-next"
        elif len(rest) == 2 and rest[1] == "get":
            op = "describe"
        elif len(rest) == 2 and rest[1] == "update":
            op = "update"
        else:
            self.requests[(thing, "invalid")] += 1
            return self._reject(thing, topic, "invalid", None, "InvalidTopic",
                                f"unknown jobs topic {topic}")
        self.requests[(thing, op)] += 1
        try:
            req = json.loads(payload.decode() or "{}")
            if not isinstance(req, dict):
                raise ValueError("not an object")
        except (ValueError, UnicodeDecodeError):
            return self._reject(thing, topic, op, None, "InvalidJson", "request is not JSON")
        if not THING_RE.match(thing):
            return self._reject(thing, topic, op, req, "InvalidTopic", "invalid thing name")
        if self._throttle > 0:
            self._throttle -= 1
            return self._reject(thing, topic, op, req, "RequestThrottled", "Rate exceeded")
        if self._internal > 0:
            self._internal -= 1
            return self._reject(thing, topic, op, req, "InternalError", "Internal error")
        getattr(self, "_op_" + op.replace("-", "_"))(thing, rest, topic, req)

    def _op_get(self, thing, rest, topic, req):
        p = self._pending(thing)
        self._reply(thing, topic, "get", req, True, {
            "inProgressJobs": [e.summary() for e in p if e.status == "IN_PROGRESS"],
            "queuedJobs": [e.summary() for e in p if e.status == "QUEUED"]})

    def _check_details(self, details):
        if details is None:
            return None
        if not isinstance(details, dict):
            return "statusDetails must be a map of string to string"
        for k, v in details.items():
            if not DETAILS_KEY_RE.match(k):
                return f"statusDetails key {k!r} does not match [a-zA-Z0-9:_-]+ (1-128)"
            if not isinstance(v, str) or not 1 <= len(v) <= 1024:
                return f"statusDetails[{k}] must be a string of 1-1024 characters"
            if any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in v):
                return f"statusDetails[{k}] contains control characters"
        return None

    def _op_start_next(self, thing, rest, topic, req):
        err = self._check_details(req.get("statusDetails"))
        if err:
            return self._reject(thing, topic, "start-next", req, "InvalidRequest", err)
        e = self._next(thing)
        if e is None:
            return self._reply(thing, topic, "start-next", req, True, {})
        if e.status == "QUEUED":
            before = self._next_id(thing)
            self._set(e, "IN_PROGRESS", dict(req.get("statusDetails") or {}))
            self._step_timer(e, req.get("stepTimeoutInMinutes",
                                        self.jobs[e.job_id]["step_timeout"]))
            self._after_change(thing, before)
        self._reply(thing, topic, "start-next", req, True, {"execution": self._full(e)})

    def _op_describe(self, thing, rest, topic, req):
        job_id = rest[0]
        include = req.get("includeJobDocument", True)
        if job_id == "$next":
            e = self._next(thing)
            body = {"execution": self._full(e, include)} if e else {}
            return self._reply(thing, topic, "describe", req, True, body)
        e = self.executions.get((thing, job_id))
        if e is None or ("executionNumber" in req
                         and req["executionNumber"] != e.execution_number):
            return self._reject(thing, topic, "describe", req, "ResourceNotFound",
                                f"Job execution {job_id} for {thing} not found")
        self._reply(thing, topic, "describe", req, True, {"execution": self._full(e, include)})

    def _op_update(self, thing, rest, topic, req):
        job_id = rest[0]
        e = self.executions.get((thing, job_id))
        if e is None:
            return self._reject(thing, topic, "update", req, "ResourceNotFound",
                                f"Job execution {job_id} for {thing} not found")
        status = req.get("status")
        if status not in DEVICE_SETTABLE:
            return self._reject(thing, topic, "update", req, "InvalidRequest",
                                f"status must be one of {', '.join(DEVICE_SETTABLE)}")
        err = self._check_details(req.get("statusDetails"))
        if err:
            return self._reject(thing, topic, "update", req, "InvalidRequest", err)
        if "expectedVersion" in req and req["expectedVersion"] != e.version:
            return self._reject(thing, topic, "update", req, "VersionMismatch",
                                "expectedVersion does not match the current version", e)
        if e.status in ("TIMED_OUT", "CANCELED", "REMOVED"):
            return self._reject(thing, topic, "update", req, "TerminalStateReached",
                                f"Job execution is in terminal state {e.status}")
        if e.status in TERMINAL:
            return self._reject(thing, topic, "update", req, "InvalidStateTransition",
                                f"Cannot change status from {e.status} to {status}", e)
        before = self._next_id(thing)
        # AWS: statusDetails given -> replaced; omitted -> unchanged.
        details = dict(req["statusDetails"]) if "statusDetails" in req else e.status_details
        self._set(e, status, details)
        if status == "IN_PROGRESS":
            self._step_timer(e, req.get("stepTimeoutInMinutes"))
        self._after_change(thing, before)
        body = {}
        if req.get("includeJobExecutionState"):
            body["executionState"] = e.state()
        if req.get("includeJobDocument"):
            body["jobDocument"] = self._document(job_id, thing)
        self._reply(thing, topic, "update", req, True, body)
