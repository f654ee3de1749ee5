"""The core's open-file limit (issue 17: a gateway with thousands of devices). Every device is a
socket; systemd's default soft RLIMIT_NOFILE is 1024.

* the core raises its soft limit to what its configured connection bounds need (never above the
  hard limit) and logs it; its workers keep the limit the core was started with (a function using
  select() must not see descriptors >= 1024), plain and standby workers alike, NoContainer and
  GreengrassContainer;
* a hard limit below the bounds is named in a warning at start;
* out of descriptors, the broker neither spins on accept() nor floods the log, and accepts again
  once descriptors are free; so does the control socket (`evergreen status`).
"""

import json
import os
import resource
import socket
import subprocess
import time

import pytest

import evg_harness as h
import lambda_helpers as lh
from test_22_standby_workers import _invoke, _probe_group


def _limits(pid):
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return int(soft), int(hard)
    raise AssertionError("no 'Max open files' in /proc/PID/limits")


def _cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _hard():
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return 1 << 20 if hard == resource.RLIM_INFINITY else hard


@pytest.mark.parametrize("isolation", ["NoContainer", "GreengrassContainer"])
def test_core_raises_its_limit_and_workers_keep_the_one_it_started_with(make_core, isolation):
    if isolation == "GreengrassContainer" and os.geteuid() != 0:
        pytest.skip("containers need root")
    hard = _hard()
    if hard < 8192:
        pytest.skip(f"hard open-file limit {hard} < 8192 on this host")
    core = lh.lambda_core(make_core, start=False)
    core.config["evergreen"]["mqtt"]["maxConnections"] = 5000
    core.start(prefix=("prlimit", f"--nofile=512:{hard}", "--"))
    # 5000 devices + 64 pending + IPC 1024 + stream manager 64 + metrics 16 + margin 512.
    needed = 5000 + 64 + 1024 + 64 + 16 + 512
    assert _limits(core.proc.pid) == (needed, hard)
    lh.wait_file_contains(os.path.join(core.system_log_dir, "runtime.log"),
                          [f"open-file limit raised from 512 to {needed} (hard {hard})"])
    g, arns = _probe_group(core, [("Probe", None, None, {})], isolation)
    core.deploy_ok(g)
    dev = h.Paho("Dev", core.plain_port)
    try:
        dev.subscribe("standby/Probe/out")
        # The first invocation is a standby worker, the second (its worker exits) a plain one
        # or the next standby: each sees the original limit.
        first = _invoke(dev, "Probe", {"exit": True})
        assert first["nofile"] == [512, hard]
        lh.wait_fn_status(core, arns["Probe"], lambda s: s["workers"] == 0, timeout=5,
                          what="the first worker's exit")
        second = _invoke(dev, "Probe", {"exit": True})
        assert second["nofile"] == [512, hard]
    finally:
        dev.close()


def test_a_hard_limit_below_the_bounds_is_named_at_start(make_core):
    core = make_core()
    core.start(prefix=("prlimit", "--nofile=900:1000", "--"))
    assert _limits(core.proc.pid) == (1000, 1000)
    text = h.wait_until(lambda: "is below the" in core.stderr() and core.stderr(), 5,
                        what="the open-file warning")
    assert "open-file limit 1000 (hard 1000) is below the 2704 descriptors" in text
    assert "LimitNOFILE=" in text


def test_out_of_descriptors_the_broker_backs_off_and_recovers(make_core):
    core = make_core()
    core.set_mqtt(openBroker=True)
    limit = 96
    core.start(prefix=("prlimit", f"--nofile={limit}:{limit}", "--"))
    pid = core.proc.pid
    socks = []
    try:
        # More sockets than the core has descriptors left: the rest wait in the listen backlog.
        for _ in range(limit + 40):
            s = socket.create_connection(("127.0.0.1", core.plain_port), timeout=5)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            socks.append(s)
        h.wait_until(lambda: "TCP accept failed: Too many open files" in core.stderr(), 5,
                     what="the accept warning")
        cpu0 = _cpu_s(pid)
        time.sleep(2.0)
        used = _cpu_s(pid) - cpu0
        assert used < 0.5, f"core used {used:.2f} s CPU in 2 s while out of descriptors (spinning)"
        warnings = core.stderr().count("accept failed")
        assert warnings <= 2, f"{warnings} accept warnings in ~2 s (not rate-limited)"
        assert f"open-file limit {limit}" in core.stderr()
        # The CLI's control connection cannot be accepted either: it must be served once
        # descriptors are free (the control listener retries; it used to stop accepting).
        status = subprocess.Popen([h.evergreen_binary(), "status", "--root", core.root],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        h.wait_until(lambda: "control socket accept failed" in core.stderr(), 5,
                     what="the control socket's accept warning")
    finally:
        for s in socks:
            s.close()
    out, err = status.communicate(timeout=15)
    assert status.returncode == 0, f"status failed after the exhaustion: {err}"
    assert json.loads(out)["mqtt"] is not None
    # Descriptors free again: devices connect (the waiting sockets are accepted, see EOF, go).
    dev = h.Paho("AfterExhaustion", core.plain_port)
    try:
        assert dev.subscribe("fd/t") == 0
        dev.publish("fd/t", b"after")
        assert dev.expect(timeout=5).payload == b"after"
    finally:
        dev.close()
    assert core.running()

