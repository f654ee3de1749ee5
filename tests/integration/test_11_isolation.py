"""Isolation hardening of issue 11 through the real core:

* item 3 - a NoContainer function cannot take another function's token (same uid): the token
  reaches the worker on an inherited pipe, never in its initial environment, and workers are
  non-dumpable, so /proc/<pid>/environ and /proc/<pid>/fd give nothing; the secret it was not
  granted stays out of reach;
* item 8 - workers die with a core killed by SIGKILL (every runtime, both isolation modes) and,
  after a restart, each pinned function runs exactly once;
* item 7 - LocalDevice/LocalVolume paths are normalised and v1's forbidden roots refused; user
  logs are not world-readable."""

import json
import os
import shutil
import signal
import stat
import tempfile
import time
import uuid

import pytest

import c_helpers as ch
import evg_harness as h
import java_helpers as jh
import lambda_helpers as lh
import shadow_helpers as sh

UID = 1234  # the functions' uid when the tests run as root (both functions share it)


@pytest.fixture
def open_core(evergreen_bin):
    """A core whose root is traversable by UID (pytest's tmp_path lives in a 0700 directory)."""
    base = tempfile.mkdtemp(prefix="evg-iso-", dir="/tmp")
    os.chmod(base, 0o755)
    cores = []

    def factory(name="core"):
        c = h.Core(os.path.join(base, name))
        os.chmod(c.root, 0o755)
        cores.append(c)
        return c

    yield factory
    for c in cores:
        try:
            if c.running():
                c.stop()
        finally:
            c.close_files()
    shutil.rmtree(base, ignore_errors=True)


def run_as(cfg):
    if os.geteuid() == 0:
        cfg["Environment"]["Execution"]["RunAs"] = {"Uid": UID, "Gid": UID}
    return cfg


def test_token_not_stealable_between_nocontainer_functions(open_core):
    core = lh.lambda_core(open_core)
    sh.secrets_put(core, sh.SECRET_ARN, "--string", "victim-only-value")
    victim = sh.probe_function(core, "Victim")
    thief = lh.create_function(core, "Thief", "token_thief", "thief.handler")
    g = (sh.ServiceGroup().device("Dev").function(victim, pinned=True, timeout=10)
         .function(thief, timeout=20)
         .secret("res-db", sh.SECRET_ARN).grant(victim, "res-db")
         .sub("Dev", "victim/in", victim).sub(victim, "probe/out", "Dev")
         .sub("Dev", "thief/in", thief).sub(thief, "thief/out", "Dev"))
    for _, _, cfg in g.functions:
        run_as(cfg)
    core.deploy_ok(g)
    dev = h.Paho("Dev", core.plain_port)
    try:
        assert dev.subscribe("probe/out") == 0 and dev.subscribe("thief/out") == 0
        # The victim's SDK finds its token in-process: its granted secret works.
        r = sh.probe_call(dev, "victim/in", {"op": "secret", "id": sh.SECRET_ARN}, timeout=15)
        assert r.get("result", {}).get("SecretString") == "victim-only-value", r
        dev.publish("thief/in", json.dumps({"victim": "shadow_probe.handler",
                                            "secret": sh.SECRET_ARN, "reply": "thief/out"}))
        t = lh.expect_json(dev, "thief/out", timeout=20)
    finally:
        dev.close()
    assert t["pids"], f"the thief did not even find the victim's worker: {t}"
    assert t["tokens"] == [], t
    assert all(v != "read" for v in t["environ"].values()), t
    assert all(not isinstance(v, list) for v in t["fds"].values()), t
    assert t["stolen"] == [], t
    # Its own token works (it is a function) but the secret is not granted to it.
    assert not t["own"].get("got_value") and "not authorized" in t["own"].get("body", ""), t
    assert t["own_token_in_env"] and t["own_proc_environ"] != "has token", t


# ------------------------------------------------------------------------- kill -9 of the core


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def _tagged(tag):
    """Live processes whose environment holds EVG_TEST_TAG=<tag> (root only: workers are
    non-dumpable)."""
    out = []
    needle = f"EVG_TEST_TAG={tag}".encode()
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/environ", "rb") as f:
                if needle in f.read().split(b"\0") and _alive(int(p)):
                    out.append(int(p))
        except OSError:
            pass
    return out


@pytest.fixture(scope="module")
def c_code(tmp_path_factory):
    prefix = ch.install_prefix(tmp_path_factory)
    return ch.build_function(prefix, str(tmp_path_factory.mktemp("kill9_c")))


@pytest.mark.parametrize("isolation", [
    "NoContainer",
    pytest.param("GreengrassContainer", marks=pytest.mark.skipif(
        os.geteuid() != 0, reason="Greengrass containers need root")),
])
def test_workers_die_with_a_killed_core_and_run_once_after_restart(open_core, c_code, isolation):
    core = lh.lambda_core(open_core)
    tag = uuid.uuid4().hex[:10]
    fns = {
        "python": lh.create_function(core, "PyPinned", "counter", "counter.handler"),
        "node": lh.create_function(core, "NodePinned", "node_echo", "index.handler",
                                   runtime="nodejs12.x"),
        "java": jh.create_java_function(core, "JavaPinned", "com.example.Counter::handle"),
        "executable": ch.create_c_function(core, "CPinned", c_code),
    }
    g = lh.LambdaGroup().device("Dev")
    for rt, arn in fns.items():
        g.function(arn, pinned=True, timeout=10, isolation=isolation,
                   memory_kb=262144 if rt == "java" else 131072,
                   env={"EVG_TEST_TAG": f"{tag}-{rt}"},
                   # Lambda executables take binary input only (v1; issue 10 item 11).
                   encoding="binary" if rt in ("c", "executable") else "json")
        if os.geteuid() == 0:
            # The identity does not matter here; root (allowed by lambda_core) also reads code
            # that the store copied with the build's 0700 permissions.
            g.functions[-1][2]["Environment"]["Execution"]["RunAs"] = {"Uid": 0, "Gid": 0}
    core.deploy_ok(g)
    for rt, arn in fns.items():
        h.wait_until(lambda a=arn: lh.worker_pids(core, a), 20, what=f"{rt} worker started")
    time.sleep(1.0)  # let the runtimes finish starting (JVM)
    before = {rt: lh.worker_pids(core, arn) for rt, arn in fns.items()}
    for rt, pids in before.items():
        assert len(pids) == 1 and _alive(pids[0]), (rt, pids, core.all_logs()[-3000:])
    root = os.geteuid() == 0
    if root:
        for rt in fns:
            assert len(_tagged(f"{tag}-{rt}")) == 1, rt

    core.proc.send_signal(signal.SIGKILL)
    core.proc.wait(5)
    for rt, pids in before.items():
        h.wait_until(lambda p=pids[0]: not _alive(p), 3,
                     what=f"{rt} worker {pids[0]} dies with the core")
        if root:
            h.wait_until(lambda r=rt: not _tagged(f"{tag}-{r}"), 3,
                         what=f"every {rt} process gone")

    core.close_files()
    core.start()
    for rt, arn in fns.items():
        h.wait_until(lambda a=arn: len(lh.worker_pids(core, a)) >= 2, 20,
                     what=f"{rt} worker restarted")
    time.sleep(1.0)
    for rt, arn in fns.items():
        pids = lh.worker_pids(core, arn)
        assert [p for p in pids if _alive(p)] == [pids[-1]], (rt, pids)
        if root:
            assert len(_tagged(f"{tag}-{rt}")) == 1, rt


# ------------------------------------------------------------------ item 7: paths and logs


def _resource_group(kind, data, fn):
    g = lh.LambdaGroup().device("Dev").function(fn, isolation="GreengrassContainer")
    j = g.to_json()
    j["ResourceDefinitionVersion"] = {"Resources": [
        {"Id": "r1", "Name": "r1", "ResourceDataContainer": {kind: data}}]}
    j["FunctionDefinitionVersion"]["Functions"][0]["FunctionConfiguration"]["Environment"][
        "ResourceAccessPolicies"] = [{"ResourceId": "r1", "Permission": "ro"}]
    return j


def test_resource_paths_normalised_and_v1_roots_refused(make_core, tmp_path):
    core = lh.lambda_core(make_core)
    fn = lh.create_function(core, "Probe", "container_probe", "probe.handler")
    link = tmp_path / "all"
    os.symlink("/", link)
    cases = [
        ("LocalDeviceResourceData", {"SourcePath": "/dev/../etc/shadow"}, "under /dev/"),
        ("LocalVolumeResourceData", {"SourcePath": "/", "DestinationPath": "/data"},
         "root file system"),
        ("LocalVolumeResourceData", {"SourcePath": "/proc", "DestinationPath": "/data"},
         "/proc"),
        ("LocalVolumeResourceData", {"SourcePath": "/sys/class", "DestinationPath": "/data"},
         "/sys"),
        ("LocalVolumeResourceData", {"SourcePath": "/srv/../dev", "DestinationPath": "/data"},
         "/dev"),
        ("LocalVolumeResourceData", {"SourcePath": "/var", "DestinationPath": "/data"}, "/var"),
        ("LocalVolumeResourceData", {"SourcePath": str(link), "DestinationPath": "/data"},
         "resolves to /"),
    ]
    for kind, data, why in cases:
        r = core.deploy(_resource_group(kind, data, fn))
        out = r.stdout + r.stderr
        assert r.returncode != 0, (data, out)
        assert why in out, (data, out)
    # A volume under /proc (v1.6+) and an ordinary directory are still fine.
    ok = tmp_path / "vol"
    ok.mkdir()
    for src in (str(ok), "/proc/net"):
        r = core.deploy(_resource_group(
            "LocalVolumeResourceData", {"SourcePath": src, "DestinationPath": "/data"}, fn))
        assert r.returncode == 0, (src, r.stdout + r.stderr)


def test_user_logs_are_not_world_readable(make_core):
    core = lh.lambda_core(make_core)
    fn = lh.create_function(core, "Counter", "counter", "counter.handler")
    core.deploy_ok(lh.LambdaGroup().device("Dev").function(fn, pinned=True))
    path = lh.user_log_path(core, "Counter")  # the module's import-time print lands there
    h.wait_until(lambda: os.path.exists(path), 10, what="user log written")
    mode = stat.S_IMODE(os.stat(path).st_mode)
    assert mode & 0o007 == 0, oct(mode)
