"""Issue 16: running Evergreen as a service — /metrics (Prometheus, checked by promtool, every
counter moves when its event happens), /health, the systemd notify protocol (READY, RELOADING,
STOPPING, WATCHDOG pings that stop when the event loop is blocked), `evergreen logs`, --root from
EVERGREEN_ROOT, and deploy progress."""

import json
import os
import signal
import socket
import subprocess
import time

import pytest

import cloud_helpers as ch
import evg_harness as h
import lambda_helpers as lh
import service_helpers as sh


def metrics_core(make_core, name="core", **metrics):
    c = lh.lambda_core(make_core, name, start=False)
    c.metrics_port = h.free_port()
    c.config["evergreen"]["metrics"] = {"port": c.metrics_port, **metrics}
    return c


def scrape(core):
    st, body = sh.http_get(core.metrics_port, "/metrics")
    assert st == 200, body
    return body


# ------------------------------------------------------------------------------------ /metrics


def test_metrics_pass_promtool_and_every_counter_moves(make_core, tmp_path):
    core = metrics_core(make_core)
    core.config["evergreen"]["mqtt"]["maxPayloadBytes"] = 1024
    # Cloud on, pointing at a mosquitto that is not started yet: messages to the cloud stay
    # spooled until the table starts it.
    cloud = ch.CloudBroker(tmp_path / "cloud")
    core.config["evergreen"]["cloud"] = {"enabled": True, "plaintext": True, "host": "127.0.0.1",
                                         "port": cloud.port}
    core.config["mqttMaxConnectionRetryInterval"] = 1
    try:
        _metrics_table(core, cloud)
    finally:
        cloud.stop()


def _metrics_table(core, cloud):
    core.start()
    faulty = lh.create_function(core, "Faulty", "faulty", "faulty.handler")
    pinned = lh.create_function(core, "Pinned", "faulty", "faulty.handler")
    sleeper = lh.create_function(core, "Sleeper", "sleeper", "sleeper.handler")
    g = (lh.LambdaGroup().device("Dev").device("Peer").device("Peer2")
         .function(faulty, timeout=5).function(pinned, pinned=True, timeout=5)
         .function(sleeper, timeout=1)
         .sub("Dev", "d2d/#", "Peer")
         .sub("Dev", "faulty/in", faulty).sub("Dev", "pinned/in", pinned)
         .sub("Dev", "sleep/in", sleeper)
         .sub(faulty, "faulty/out", "Peer")
         .sub("Dev", "up/#", "cloud").sub("cloud", "down/#", "Peer")
         .sub("Dev", "$aws/things/Dev/shadow/update", "GGShadowService"))
    core.deploy_ok(g)
    peer = h.Paho("Peer", core.plain_port)
    peer.subscribe("d2d/#")
    peer.subscribe("faulty/out")
    peer.subscribe("down/#")
    dev = h.Paho("Dev", core.plain_port)

    def pub(topic, payload):
        return lambda: dev.publish(topic, payload, qos=1)

    def send_raw(port, data):
        """Sends data on a fresh connection and waits (bounded) for the answer or the close."""
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(data)
            s.settimeout(5)
            try:
                s.recv(4096)
            except OSError:
                pass

    def raw_garbage():
        send_raw(core.plain_port, b"\xff\xff\xff\xff\xff")

    def refused_connect():
        h.mosquitto_pub(core.plain_port, "NotInGroup", "x", "y")

    def bad_deploy():
        bad = lh.LambdaGroup().device("Dev").function(lh.fn_arn("Missing"))
        r = core.deploy(bad)
        assert r.returncode != 0

    def bad_ipc_request():
        send_raw(core.status()["ipcPort"], b"GET /x HTTP/1.1\r\nno colon\r\n\r\n")

    def crash_pinned():
        dev.publish("pinned/in", json.dumps({"mode": "exit"}), qos=1)

    F = {"function": faulty}
    P = {"function": pinned}
    S = {"function": sleeper}
    # (what happens, action, metric name, labels, expected minimum increase)
    table = [
        ("device connects", lambda: h.Paho("Peer2", core.plain_port).close(),
         "evergreen_mqtt_connections_accepted_total", {}, 1),
        ("connection refused", refused_connect,
         "evergreen_mqtt_connections_refused_total", {}, 1),
        ("device publishes", pub("d2d/a", "x"),
         "evergreen_mqtt_messages_received_total", {}, 1),
        ("routed from a device", pub("d2d/b", "x"),
         "evergreen_router_messages_in_total", {"source": "device"}, 1),
        ("device to device", pub("d2d/c", "x"),
         "evergreen_router_messages_out_total", {"source": "device", "target": "device"}, 1),
        ("delivered to a client", pub("d2d/d", "x"),
         "evergreen_mqtt_messages_sent_total", {}, 1),
        ("no subscription", pub("nowhere/x", "x"),
         "evergreen_router_dropped_messages_total", {"reason": "no_subscription"}, 1),
        ("oversize publish", lambda: h.mosquitto_pub(core.plain_port, "Peer2", "d2d/big", "x" * 2000),
         "evergreen_mqtt_dropped_messages_total", {"reason": "oversize"}, 1),
        ("protocol error", raw_garbage, "evergreen_mqtt_protocol_errors_total", {}, 1),
        ("device to cloud (spooled)", pub("up/x", "x"),
         "evergreen_router_messages_out_total", {"source": "device", "target": "cloud"}, 1),
        ("spool depth", pub("up/y", "x"), "evergreen_cloud_spool_messages", {}, 1),
        ("spool bytes", pub("up/z", "x"), "evergreen_cloud_spool_bytes", {}, 1),
        ("function invoked", pub("faulty/in", json.dumps({"mode": "ok", "tag": 1})),
         "evergreen_function_invocations_total", F, 1),
        ("function succeeded", pub("faulty/in", json.dumps({"mode": "ok", "tag": 2})),
         "evergreen_function_succeeded_total", F, 1),
        ("function duration observed", pub("faulty/in", json.dumps({"mode": "ok", "tag": 3})),
         "evergreen_function_duration_seconds_count", F, 1),
        ("function publishes", pub("faulty/in", json.dumps({"mode": "ok", "tag": 4})),
         "evergreen_router_messages_out_total", {"source": "function", "target": "device"}, 1),
        ("handled error", pub("faulty/in", json.dumps({"mode": "raise"})),
         "evergreen_function_errors_total", {**F, "kind": "handled"}, 1),
        ("timeout", pub("sleep/in", json.dumps({"sleep": 3, "tag": "t"})),
         "evergreen_function_timeouts_total", S, 1),
        ("pinned worker restarted", crash_pinned, "evergreen_function_restarts_total", P, 1),
        ("shadow stored", pub("$aws/things/Dev/shadow/update",
                              json.dumps({"state": {"reported": {"on": False}}})),
         "evergreen_shadows", {}, 1),
        ("shadow update", pub("$aws/things/Dev/shadow/update",
                              json.dumps({"state": {"reported": {"on": True}}})),
         "evergreen_shadow_requests_total", {"result": "accepted"}, 1),
        ("IPC connection", lambda: lh.ipc_request(core.status()["ipcPort"], "GET",
                                                   "/2016-11-01/health/workers"),
         "evergreen_ipc_connections_accepted_total", {}, 1),
        ("malformed IPC request", bad_ipc_request, "evergreen_ipc_bad_requests_total", {}, 1),
        ("deployment", lambda: core.deploy_ok(g),
         "evergreen_deployments_total", {"result": "success"}, 1),
        ("rejected deployment", bad_deploy,
         "evergreen_deployments_total", {"result": "rejected"}, 1),
    ]
    def run_table(rows):
        failures = []
        for what, action, name, labels, delta in rows:
            before = sh.metric(sh.parse_metrics(scrape(core)), name, **labels)
            action()
            try:
                h.wait_until(lambda: sh.metric(sh.parse_metrics(scrape(core)), name, **labels)
                             >= before + delta, 8, interval=0.1, what=f"{name}{labels}")
            except AssertionError:
                after = sh.metric(sh.parse_metrics(scrape(core)), name, **labels)
                failures.append(f"{what}: {name}{labels} went {before} -> {after}")
        assert not failures, "\n".join(failures)

    run_table(table)
    samples = sh.parse_metrics(scrape(core))
    # The cloud is still down: messages wait in the spool, and it knows how long.
    assert sh.metric(samples, "evergreen_cloud_spool_oldest_age_seconds") > 0
    assert sh.metric(samples, "evergreen_cloud_state", state="connected") == 0
    assert sh.metric(samples, "evergreen_cloud_connect_failures_total") >= 1

    cloud_rows = [
        ("cloud comes up", cloud.start, "evergreen_cloud_connects_total", {}, 1),
        ("from the cloud", lambda: cloud.client("tester").publish("down/x", "hi", qos=1),
         "evergreen_router_messages_in_total", {"source": "cloud"}, 1),
        ("cloud to device", lambda: cloud.client("tester2").publish("down/y", "hi", qos=1),
         "evergreen_router_messages_out_total", {"source": "cloud", "target": "device"}, 1),
        ("received from the cloud", lambda: cloud.client("tester3").publish("down/z", "hi", qos=1),
         "evergreen_cloud_messages_received_total", {}, 1),
        ("sent to the cloud", pub("up/after", "x"), "evergreen_cloud_messages_sent_total", {}, 1),
    ]
    run_table(cloud_rows)

    text = scrape(core)
    samples = sh.parse_metrics(text)
    assert sh.metric(samples, "evergreen_cloud_state", state="connected") == 1
    # The three messages spooled while the cloud was down were delivered once it came up.
    assert sh.metric(samples, "evergreen_cloud_messages_acked_total") >= 3
    h.wait_until(lambda: sh.metric(sh.parse_metrics(scrape(core)),
                                   "evergreen_cloud_spool_messages") == 0, 5, what="empty spool")
    # Gauges and histograms: workers and memory of the pinned function, a cumulative histogram,
    # the spool's age, the cloud state, and the build info.
    assert sh.metric(samples, "evergreen_function_workers", **P) >= 1
    assert sh.metric(samples, "evergreen_function_memory_bytes", **P) > 1_000_000
    buckets = [v for (n, ls), v in samples.items()
               if n == "evergreen_function_duration_seconds_bucket" and ("function", faulty) in ls]
    assert buckets and max(buckets) == sh.metric(
        samples, "evergreen_function_duration_seconds_count", **F)
    assert sh.metric(samples, "evergreen_function_duration_seconds_bucket",
                     **F, le="+Inf") >= 3
    assert sh.metric(samples, "evergreen_build_info", version=h.run_cli("version").stdout.split()[1]) == 1
    # Every family is well-formed for a real Prometheus parser (and its naming lint).
    rc, out = sh.promtool_check(text)
    assert rc == 0, f"promtool check metrics failed:\n{out}\n--- scrape ---\n{text[:3000]}"
    # The same numbers as `evergreen status`.
    st = core.status()
    assert st["router"]["messagesIn"]["device"] == sh.metric(
        samples, "evergreen_router_messages_in_total", source="device")
    for c in (dev, peer):
        c.close()


def test_metrics_config_is_checked(make_core):
    core = lh.lambda_core(make_core, start=False)
    core.config["evergreen"]["metrics"] = {"port": h.free_port(), "bindAddress": "0.0.0.0"}
    core.write_config()
    r = h.run_cli("run", "--root", core.root, timeout=10)
    assert r.returncode == 2
    assert "evergreen.metrics.bindAddress: expected a loopback address" in r.stderr


# ------------------------------------------------------------------------------------- /health


def test_health_endpoints(make_core):
    core = metrics_core(make_core)
    core.start()
    pinned = lh.create_function(core, "Pinned", "faulty", "faulty.handler")
    core.deploy_ok(lh.LambdaGroup().device("Dev").function(pinned, pinned=True))
    st, body = sh.http_get(core.metrics_port, "/health/live")
    assert st == 200 and json.loads(body)["status"] == "live"
    st, body = sh.http_get(core.metrics_port, "/health/ready")
    ready = json.loads(body)
    assert st == 200 and ready["status"] == "ready", body
    assert ready["mqtt"]["plaintextPort"] == core.plain_port
    assert ready["functionsInCrashLoop"] == []
    # v1's worker health listing (as GET /2016-11-01/health/workers on the IPC port).
    workers = h.wait_until(
        lambda: json.loads(sh.http_get(core.metrics_port, "/health/functions")[1]), 10,
        what="a pinned worker in /health/functions")
    assert workers[0]["FuncArn"] == pinned
    assert set(workers[0]) == {"FuncArn", "WorkerId", "ProcessId", "WorkerState"}
    assert int(workers[0]["ProcessId"]) > 0
    st, body = sh.http_get(core.metrics_port, "/nope")
    assert st == 404 and "/metrics" in body


# ------------------------------------------------------------------------- systemd notify/watchdog


def start_notified(core, notify, watchdog_usec=None, hooks=False):
    env = dict(os.environ, NOTIFY_SOCKET=notify.path)
    if watchdog_usec:
        env["WATCHDOG_USEC"] = str(watchdog_usec)
    if hooks:
        env["EVERGREEN_TEST_HOOKS"] = "1"
    core.write_config()
    core.out_f = open(core.out_path, "ab")
    core.err_f = open(core.err_path, "ab")
    core.proc = subprocess.Popen([h.evergreen_binary(), "run", "--root", core.root], env=env,
                                 stdout=core.out_f, stderr=core.err_f, stdin=subprocess.DEVNULL)
    return core


def control(core, req, timeout=5):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(os.path.join(core.root, "var", "run", "evergreen.sock"))
        s.sendall((json.dumps(req) + "\n").encode())
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    return json.loads(buf)


def test_notify_ready_reload_stopping(make_core, tmp_path):
    notify = sh.NotifySocket(str(tmp_path))
    try:
        core = start_notified(make_core(), notify)
        notify.wait_for("READY=1", 10)
        # READY comes only after the listeners are bound: status answers right away.
        assert core.status()["mqtt"]["plaintextPort"] == core.plain_port
        assert notify.times("WATCHDOG=1") == []  # no WatchdogSec: no pings
        t = time.monotonic()
        core.signal(signal.SIGHUP)
        notify.wait_for("RELOADING=1", 5, after=t)
        h.wait_until(lambda: any(x > t for x in notify.times("READY=1")), 5, what="READY after reload")
        t = time.monotonic()
        rc, _ = core.stop()
        assert rc == 0
        notify.wait_for("STOPPING=1", 2, after=t)
    finally:
        notify.close()


def test_watchdog_pings_stop_while_the_loop_is_blocked(make_core, tmp_path):
    """The test plays systemd with WatchdogSec=1s: pings arrive every ~0.5 s from the event
    loop; a loop blocked for 4 s misses the deadline, so the 'service manager' sends
    WatchdogSignal (SIGABRT) and restarts the service (Restart=on-failure), which becomes READY
    and pings again."""
    watchdog_s = 1.0
    notify = sh.NotifySocket(str(tmp_path))
    try:
        core = start_notified(make_core(), notify, watchdog_usec=int(watchdog_s * 1e6), hooks=True)
        notify.wait_for("READY=1", 10)
        h.wait_until(lambda: len(notify.times("WATCHDOG=1")) >= 3, 5, what="3 watchdog pings")
        pings = notify.times("WATCHDOG=1")
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        assert max(gaps) < watchdog_s, f"pings too far apart for WatchdogSec: {gaps}"

        blocked_at = time.monotonic()
        assert control(core, {"op": "debug-block-loop", "ms": 4000})["ok"]
        # systemd's view: the last ping before the deadline passes.
        deadline_missed = None
        while time.monotonic() < blocked_at + 3.5:
            last = max(notify.times("WATCHDOG=1"))
            if time.monotonic() - last > watchdog_s:
                deadline_missed = time.monotonic()
                break
            time.sleep(0.05)
        assert deadline_missed is not None, "pings continued while the loop was blocked"
        assert [t for t in notify.times("WATCHDOG=1")
                if blocked_at + 0.5 < t < deadline_missed] == []
        core.signal(signal.SIGABRT)  # WatchdogSignal=SIGABRT
        core.proc.wait(timeout=10)
        assert core.proc.returncode == -signal.SIGABRT  # a failure: Restart=on-failure applies
        core.close_files()

        restarted = time.monotonic()
        start_notified(core, notify, watchdog_usec=int(watchdog_s * 1e6))
        notify.wait_for("READY=1", 10, after=restarted)
        h.wait_until(lambda: len([t for t in notify.times("WATCHDOG=1") if t > restarted]) >= 2,
                     5, what="pings after the restart")
        # Without EVERGREEN_TEST_HOOKS=1 the blocking operation does not exist.
        r = control(core, {"op": "debug-block-loop", "ms": 1000})
        assert not r["ok"] and "unknown control op" in r["error"]
    finally:
        notify.close()


# ---------------------------------------------------------------------------------- logs, root


def test_logs_cli_components_functions_since_rotation_and_follow(make_core):
    core = lh.lambda_core(make_core, start=False)
    core.set_log(maxFileBytes=2048, keepFiles=3)
    core.start()
    logger = lh.create_function(core, "Logger", "logger", "logger.handler")
    g = lh.LambdaGroup().device("Dev").function(logger).sub("Dev", "log/in", logger)
    for _ in range(6):  # enough deployment lines to rotate runtime.log (2 KB)
        core.deploy_ok(g)
    dev = h.Paho("Dev", core.plain_port)
    dev.publish("log/in", json.dumps({"msg": "hello-logs"}), qos=1)
    user_log = lh.user_log_path(core, "Logger")
    lh.wait_file_contains(user_log, ["printed line from the handler"], timeout=10)
    dev.close()
    assert os.path.exists(os.path.join(core.system_log_dir, "runtime.log.1"))

    r = h.run_cli("logs", "--root", core.root, "--component", "runtime")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    # Rotated files included, oldest first: the start banner precedes the last deployment.
    first = next(i for i, l in enumerate(lines) if "starting, root" in l)
    last = max(i for i, l in enumerate(lines) if "deployment 4/4" in l)
    assert first < last
    stamps = [l[1:l.index("]")] for l in lines if l.startswith("[")]
    assert stamps == sorted(stamps)
    # Every component merged by time; a function by name or by ARN.
    r = h.run_cli("logs", "--root", core.root)
    assert "GGConnManager" in r.stdout and "runtime" in r.stdout
    for sel in ("Logger", logger):
        r = h.run_cli("logs", "--root", core.root, "--function", sel)
        assert r.returncode == 0 and "printed line from the handler" in r.stdout, r.stderr
    # --since and --lines.
    assert h.run_cli("logs", "--root", core.root, "--since", "2099-01-01T00:00:00").stdout == ""
    assert "deployment" in h.run_cli("logs", "--root", core.root, "--since", "1h").stdout
    assert len(h.run_cli("logs", "--root", core.root, "--lines", "3").stdout.splitlines()) == 3
    # Clear errors.
    r = h.run_cli("logs", "--root", core.root, "--component", "nope")
    assert r.returncode == 1 and "components: " in r.stderr and "runtime" in r.stderr
    r = h.run_cli("logs", "--root", core.root, "--function", "Nope")
    assert r.returncode == 1 and "Logger" in r.stderr
    r = h.run_cli("logs", "--root", core.root, "--since", "yesterday")
    assert r.returncode == 2 and "--since" in r.stderr

    # -f prints lines written after it started.
    f = subprocess.Popen([h.evergreen_binary(), "logs", "--root", core.root, "--component",
                          "runtime", "-f", "--lines", "0"], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        core.signal(signal.SIGHUP)
        h.wait_until(lambda: "SIGHUP: config.json re-read" in core.log("runtime"), 5)
        time.sleep(0.6)
    finally:
        f.send_signal(signal.SIGINT)
        out, _ = f.communicate(timeout=5)
    assert "SIGHUP: config.json re-read" in out
    assert "starting, root" not in out  # --lines 0: no history


def test_root_from_environment_and_help(make_core):
    core = make_core().start()
    env = dict(os.environ, EVERGREEN_ROOT=core.root)
    r = subprocess.run([h.evergreen_binary(), "status"], env=env, capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["mqtt"]["plaintextPort"] == core.plain_port
    r = subprocess.run([h.evergreen_binary(), "logs", "--component", "runtime"], env=env,
                       capture_output=True, text=True, timeout=10)
    assert "core started" in r.stdout
    for verb in ("run", "deploy", "status", "reload", "logs", "certs", "validate-group"):
        r = h.run_cli(verb, "--help")
        assert r.returncode == 0 and r.stdout.startswith(f"usage: evergreen {verb}"), (verb, r)


def test_deploy_progress_on_a_terminal_and_in_the_log(make_core):
    core = make_core().start()
    path = os.path.join(core.root, "g.json")
    with open(path, "w") as f:
        json.dump(h.Group().device("Dev").to_json(), f)
    # util-linux `script` gives the CLI a terminal.
    r = subprocess.run(["script", "-qec", f"{h.evergreen_binary()} deploy --root {core.root} {path}",
                        "/dev/null"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "[1/3] group valid: 0 subscriptions" in r.stdout
    assert "[2/3] core resolving functions and activating the group" in r.stdout
    assert "[3/3] group active" in r.stdout
    # Without a terminal: just the JSON result.
    r = core.deploy(h.Group().device("Dev"))
    assert r.returncode == 0 and "[1/3]" not in r.stdout + r.stderr
    json.loads(r.stdout)
    log = core.log("runtime")
    for step in ("deployment 1/4", "deployment 2/4", "deployment 3/4", "deployment 4/4: done in"):
        assert step in log
