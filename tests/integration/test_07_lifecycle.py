"""Process lifecycle: signals (SIGTERM/SIGINT stop within 2 s with clients connected, SIGHUP
re-reads config.json), system logs and their rotation, restart after a crash, install tree."""

import glob
import json
import os
import signal
import subprocess
import time

import pytest

import evg_harness as h


def busy_core(make_core):
    core = make_core()
    core.start()
    core.deploy_ok(h.Group().device("A").device("B").device("C").device("D")
                   .sub("A", "t/#", "B").sub("A", "t/#", "C"))
    return core


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_exits_0_within_2s_with_clients_connected(make_core, sig):
    core = busy_core(make_core)
    dev = core.issue_device("D")
    core.deploy_ok(h.Group().device("A").device("B").device("C").device("D", dev.fingerprint)
                   .sub("A", "t/#", "B").sub("A", "t/#", "C").sub("A", "t/#", "D"))
    tls = h.Paho("D", core.tls_port, device=dev)
    a = h.Paho("A", core.plain_port)
    b = h.Paho("B", core.plain_port, clean_session=False)
    assert b.subscribe("t/#", qos=1) == 1
    # C subscribes and never reads: the core has unsent data for it when it stops.
    c = h.RawClient(core.plain_port)
    assert c.connect("C") == 0
    assert c.subscribe([("t/#", 0)]) == [0]
    silent = h.RawClient(core.plain_port)  # connected socket, no CONNECT
    try:
        payload = b"p" * 60000
        for i in range(100):
            a.c.publish(f"t/{i}", payload, 0)
        a.publish("t/last", b"x", qos=1)
        h.wait_connected(core, 4)
        t0 = time.monotonic()
        core.signal(sig)
        rc = core.proc.wait(timeout=h.STOP_BOUND_S + 1)
        took = time.monotonic() - t0
        assert rc == 0
        assert took <= h.STOP_BOUND_S, f"stop took {took:.2f}s"
        print(f"stopped in {took:.2f}s")
        assert "stopping" in core.stderr()
    finally:
        for x in (a, b, tls):
            x.c.loop_stop()
        c.close()
        silent.close()


def test_sighup_rereads_config_log_level(make_core):
    core = busy_core(make_core)
    a = h.Paho("A", core.plain_port)
    try:
        a.publish("nowhere/1", b"x", qos=1)  # unrouted: logged at DEBUG only
        assert "no subscription for" not in core.stderr()
        core.set_log(level="debug")
        core.write_config()
        core.signal(signal.SIGHUP)
        h.wait_until(lambda: "log level DEBUG" in core.stderr(), 3, what="SIGHUP re-read line")
        a.publish("nowhere/2", b"x", qos=1)
        h.wait_until(lambda: "nowhere/2" in core.stderr(), 3, what="DEBUG line after SIGHUP")
        # `evergreen reload` does the same through the control socket.
        core.set_log(level="WARN")
        core.write_config()
        r = h.run_cli("reload", "--root", core.root)
        assert r.returncode == 0, r.stderr
        a.publish("nowhere/3", b"x", qos=1)
        a.publish("nowhere/4", b"x", qos=1)
        time.sleep(0.2)
        assert "nowhere/3" not in core.stderr()
    finally:
        a.close()
    assert core.running()


def test_sighup_with_invalid_config_keeps_running_config(make_core):
    core = busy_core(make_core)
    core.config["coreThing"]["ggMqttPort"] = "abc"
    core.write_config()
    core.signal(signal.SIGHUP)
    h.wait_until(lambda: "not reloaded" in core.stderr(), 3, what="reload error")
    assert "coreThing.ggMqttPort" in core.stderr()
    assert core.running()
    raw = h.RawClient(core.plain_port)
    try:
        assert raw.connect("A") == 0
    finally:
        raw.close()


def test_sighup_reports_settings_that_need_a_restart(make_core):
    core = busy_core(make_core)
    old_port = core.tls_port
    core.config["coreThing"]["ggMqttPort"] = h.free_port()
    core.write_config()
    core.signal(signal.SIGHUP)
    h.wait_until(lambda: "after a restart" in core.stderr(), 3, what="restart notice")
    assert "coreThing.ggMqttPort" in core.stderr().split("after a restart")[-1]
    assert core.status()["mqtt"]["tlsPort"] == old_port


def test_system_logs_exist_and_rotate_with_bounded_size(make_core):
    core = make_core()
    core.set_log(maxFileBytes=2048, keepFiles=1)
    core.start()
    core.deploy_ok(h.Group().device("A"))
    for i in range(40):  # each connect/disconnect writes GGConnManager lines
        raw = h.RawClient(core.plain_port)
        assert raw.connect("A" if i % 2 else "Nobody") in (0, 5)
        raw.close()
    h.wait_until(lambda: core.status()["mqtt"]["connectionsTotal"] >= 40, 5,
                 what="40 connections seen")
    rc, _ = core.stop()
    assert rc == 0
    files = sorted(glob.glob(os.path.join(core.system_log_dir, "*")))
    names = [os.path.basename(f) for f in files]
    assert "runtime.log" in names and "GGConnManager.log" in names, names
    assert "GGConnManager.log.1" in names, f"no rotation happened: {names}"
    assert "GGConnManager.log.2" not in names, f"keepFiles=1 exceeded: {names}"
    for f in files:
        assert os.path.getsize(f) <= 2048, f"{f} is {os.path.getsize(f)} bytes"
    components = {n.split(".log")[0] for n in names}
    assert sum(os.path.getsize(f) for f in files) <= len(components) * 2 * 2048
    # Rotated content is real log lines.
    with open(os.path.join(core.system_log_dir, "GGConnManager.log.1")) as f:
        assert "[INFO]-GGConnManager:" in f.read()


def test_info_lines_reach_log_file_while_running(make_core):
    core = make_core().start()
    h.wait_until(lambda: "core started" in core.log("runtime"), 2,
                 what="'core started' in runtime.log")


def test_restart_after_crash_reuses_stale_control_socket(make_core):
    core = busy_core(make_core)
    core.proc.kill()
    core.proc.wait(timeout=5)
    assert os.path.exists(os.path.join(core.root, "var/run/evergreen.sock"))
    r = h.run_cli("status", "--root", core.root)
    assert r.returncode != 0
    core.start(write_config=False)
    assert core.status()["router"]["subscriptions"] == 2


def test_second_core_on_same_root_is_refused(make_core):
    core = busy_core(make_core)
    # In a private network namespace the ports are free, so the second core gets as far as the
    # control socket, which must refuse because the first core answers on it.
    prefix = []
    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0:
        prefix = ["unshare", "-n"]
    r = subprocess.run([*prefix, h.evergreen_binary(), "run", "--root", core.root],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 1, r.stderr
    if prefix:
        assert "evergreen.sock" in r.stderr or "another core" in r.stderr, r.stderr
    assert core.running()
    assert core.status()["router"]["subscriptions"] == 2


def test_tls_port_in_use_fails_start_with_message(make_core):
    import socket
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    try:
        core = make_core()
        core.config["coreThing"]["ggMqttPort"] = blocker.getsockname()[1]
        core.write_config()
        r = subprocess.run([h.evergreen_binary(), "run", "--root", core.root],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 1
        assert "MQTT TLS listener" in r.stderr
    finally:
        blocker.close()


def test_usage_errors_exit_2():
    for args in (["run"], ["frobnicate"], ["deploy", "--root"], []):
        r = h.run_cli(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.strip()


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    prefix = tmp_path_factory.mktemp("prefix")
    r = subprocess.run(["cmake", "--install", h.BUILD_DIR, "--prefix", str(prefix)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return prefix


def test_install_tree_runs_from_its_prefix(installed, tmp_path):
    binary = installed / "bin" / "evergreen"
    assert binary.is_file() and os.access(binary, os.X_OK)
    r = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and r.stdout.startswith("evergreen ")
    assert (installed / "share" / "evergreen" / "examples" / "example-group" /
            "group.json").is_file()
    # Relocated: copy the whole prefix elsewhere and start a core from the copy.
    moved = tmp_path / "moved"
    subprocess.run(["cp", "-a", str(installed), str(moved)], check=True, timeout=30)
    core = h.Core(tmp_path / "root")
    core.write_config()
    err_path = tmp_path / "installed.stderr"
    err_f = open(err_path, "wb")
    proc = subprocess.Popen([str(moved / "bin" / "evergreen"), "run", "--root", core.root],
                            stdout=subprocess.DEVNULL, stderr=err_f)
    try:
        h.wait_until(lambda: h.run_cli("status", "--root", core.root).returncode == 0, 10,
                     what="installed core to answer status")
        st = json.loads(h.run_cli("status", "--root", core.root).stdout)
        assert st["mqtt"]["plaintextPort"] == core.plain_port
        # The installed binary validates the example group shipped with it.
        r = subprocess.run([str(moved / "bin" / "evergreen"), "validate-group",
                            str(moved / "share/evergreen/examples/example-group/group.json")],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 0, r.stderr
        # The relocated core uses the runtimes of its own prefix, not the source tree's.
        log = err_path.read_text()
        if "runtimes in" in log:
            assert f"runtimes in {moved}/lib/evergreen/runtime" in log, log
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=h.STOP_BOUND_S + 1) == 0
        err_f.close()


def test_install_tree_has_runtimes(installed):
    lib = installed / "lib" / "evergreen"
    assert lib.is_dir() and any(lib.rglob("*.py")), f"no runtime files under {lib}"


def test_sighup_deny_list_applies_to_existing_subscriptions(make_core):
    core = make_core()
    core.set_mqtt(openBroker=True)
    core.start()
    spy = h.Paho("spy", core.plain_port)
    pub = h.Paho("pub", core.plain_port)
    try:
        assert spy.subscribe("secret/#") == 0
        assert spy.subscribe("public/#") == 0
        core.set_mqtt(denyList=["secret/#"])
        core.write_config()
        assert h.run_cli("reload", "--root", core.root).returncode == 0
        # A changed deny list drops open-mode clients: nothing granted under the old list keeps
        # receiving. Reconnected, the denied filter is refused and the rest works.
        spy.disconnects.get(timeout=5)
        pub.disconnects.get(timeout=5)
        spy2 = h.Paho("spy2", core.plain_port)
        pub2 = h.Paho("pub2", core.plain_port)
        try:
            assert spy2.subscribe("secret/b") == 128  # new SUBSCRIBEs are refused
            assert spy2.subscribe("public/#") == 0
            pub2.publish("secret/a", b"must not leak", qos=1)
            pub2.publish("public/a", b"sentinel", qos=1)
            spy2.expect_only("public/a", b"sentinel")
        finally:
            spy2.close()
            pub2.close()
    finally:
        spy.close()
        pub.close()


def test_sighup_switching_open_broker_off_disconnects_unknown_clients(make_core):
    core = make_core()
    core.set_mqtt(openBroker=True)
    core.start()
    core.deploy_ok(h.Group().device("A").device("B").sub("A", "t/#", "B"))
    known = h.Paho("A", core.plain_port)
    stranger = h.Paho("stranger", core.plain_port)
    try:
        core.set_mqtt(openBroker=False)
        core.write_config()
        core.signal(signal.SIGHUP)
        assert stranger.disconnects.get(timeout=3) != 0
        assert core.status()["openBroker"] is False
        assert known.disconnects.empty()
        raw = h.RawClient(core.plain_port)
        try:
            assert raw.connect("stranger") == 5
        finally:
            raw.close()
    finally:
        known.close()
        stranger.c.loop_stop()
