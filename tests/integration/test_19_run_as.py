"""Functions running as another uid than the core's when the root sits below a directory that
uid cannot traverse (issue 10 item 2), as on every real v1 host (ggc_user) with a root made by
`mktemp -d`. pytest's tmp_path lives under /tmp/pytest-of-<user> (0700), so every root here is
such a root. The example group's functions (Python, Node.js, Java, C executable) run as uid/gid
65534 (v1 DefaultConfig.Execution.RunAs), NoContainer and GreengrassContainer."""

import copy
import json
import os
import stat
import subprocess

import pytest

import evg_harness as h
import lambda_helpers as lh

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="switching uid needs root")

NOBODY = 65534
CASES = [  # (input topic, payload, output topic, expected payload fragment)
    ("test/input_message", '{"test-key": "Some string value"}', "test/topic_results",
     b'Invoked on topic "test/input_message" with message "Some string value"'),
    ("echo/in", '{"hello": 1}', "echo/out", b'"event": {"hello": 1}'),
    ("hello/node/in", '{"name": "ggc"}', "hello/node/out", b"Hello from Node.js"),
    ("hello/java/in", '{"x": 1}', "hello/world/java", b"Hello from Java!"),
    ("hello/c/in", "bytes", "hello/c/out", b"Hello from C: bytes"),
]


def blocked_ancestor(path):
    """The first ancestor of path that 'other' cannot search (what blocks uid 65534)."""
    cur = "/"
    for part in os.path.abspath(path).strip("/").split("/"):
        cur = os.path.join(cur, part)
        if not os.stat(cur).st_mode & stat.S_IXOTH:
            return cur
    return None


def worker_uids(arn_prefix):
    """uid of every live process whose environment has MY_FUNCTION_ARN starting with arn_prefix."""
    uids = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
            arn = next((e[len(b"MY_FUNCTION_ARN="):].decode() for e in env if e.startswith(b"MY_FUNCTION_ARN=")), None)
            if arn and arn.startswith(arn_prefix):
                # /proc/<pid> of a non-dumpable worker is owned by root: read its real uid.
                with open(f"/proc/{pid}/status") as f:
                    uid = next(l for l in f if l.startswith("Uid:")).split()[1]
                uids[arn] = int(uid)
        except OSError:
            continue
    return uids


@pytest.mark.parametrize("isolation", ["NoContainer", "GreengrassContainer"])
def test_example_functions_run_as_nobody_below_a_0700_directory(make_core, isolation):
    core = lh.lambda_core(make_core)
    assert blocked_ancestor(core.root), f"{core.root} should sit below a 0700 directory"
    r = subprocess.run(["bash", os.path.join(lh.EXAMPLE_DIR, "prepare.sh"), h.evergreen_binary(),
                        core.root], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, f"prepare.sh failed ({r.returncode}): {r.stdout}{r.stderr}"
    with open(os.path.join(lh.EXAMPLE_DIR, "group.json")) as f:
        group = json.load(f)
    group = copy.deepcopy(group)
    group["FunctionDefinitionVersion"]["DefaultConfig"] = {"Execution": {
        "IsolationMode": isolation, "RunAs": {"Uid": NOBODY, "Gid": NOBODY}}}
    for fn in group["FunctionDefinitionVersion"]["Functions"]:
        fn["FunctionConfiguration"]["MemorySize"] = 262144  # a JVM needs more than 16 MB
    core.deploy_ok(group)
    dashboard = h.Paho("Dashboard", core.plain_port)
    sensor = h.Paho("Sensor", core.plain_port)
    try:
        for topic_in, payload, topic_out, want in CASES:
            assert dashboard.subscribe(topic_out) == 0
            sensor.publish(topic_in, payload)
            try:
                m = dashboard.expect(timeout=30)
            except AssertionError as e:
                raise AssertionError(f"{topic_in}: {e}\n{core.stderr()[-6000:]}") from None
            assert m.topic == topic_out and want in m.payload, (
                f"{topic_in}: got {m.topic} {m.payload!r}\n{core.stderr()[-3000:]}")
        uids = worker_uids(f"arn:aws:lambda:{h.REGION}:{h.ACCOUNT}:function:")
        assert any("HelloWorld" in a for a in uids), uids  # pinned: always running
        assert set(uids.values()) == {NOBODY}, uids
        assert "ModuleNotFoundError" not in core.stderr()
    finally:
        sensor.close()
        dashboard.close()
