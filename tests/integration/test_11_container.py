"""GreengrassContainer isolation through the real core (src/container): what a function sees
and may do inside its container, resources as granted, RunAs, memory limit (OOM kill ->
Unhandled, worker replaced), cgroups removed after exit and after kill -9 of the core.

Needs root, namespaces and a memory cgroup controller (v1 or v2); skipped otherwise. On a pure
cgroup v2 host the same tests run unchanged (the core detects the hierarchy at start)."""

import glob
import json
import os
import signal
import stat
import time

import pytest

import evg_harness as h
import lambda_helpers as lh

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")

UID = 1234
CG_ROOTS = ["/sys/fs/cgroup/memory/evergreen", "/sys/fs/cgroup/evergreen"]


def container_cfg(cfg, uid=UID, policies=None, memory_kb=65536, sysfs=False):
    cfg["MemorySize"] = memory_kb
    env = cfg.setdefault("Environment", {})
    env["Execution"] = {"IsolationMode": "GreengrassContainer",
                        "RunAs": {"Uid": uid, "Gid": uid}}
    if policies is not None:
        env["ResourceAccessPolicies"] = [{"ResourceId": r, "Permission": p} for r, p in policies]
    env["AccessSysfs"] = sysfs
    return cfg


class ContainerGroup(lh.LambdaGroup):
    def __init__(self):
        super().__init__()
        self.resources = []

    def volume(self, rid, src, dst, owner=None):
        d = {"SourcePath": src, "DestinationPath": dst}
        if owner is not None:
            d["GroupOwnerSetting"] = {"AutoAddGroupOwner": True, "GroupOwner": owner}
        self.resources.append({"Id": rid, "Name": rid,
                               "ResourceDataContainer": {"LocalVolumeResourceData": d}})
        return self

    def device(self, name, fingerprint=None):
        return super().device(name, fingerprint)

    def local_device(self, rid, src):
        self.resources.append({"Id": rid, "Name": rid, "ResourceDataContainer": {
            "LocalDeviceResourceData": {"SourcePath": src}}})
        return self

    def to_json(self):
        g = super().to_json()
        if self.resources:
            g["ResourceDefinitionVersion"] = {"Resources": self.resources}
        return g


def worker_cgroups():
    out = []
    for r in CG_ROOTS:
        out += [d for d in glob.glob(r + "/*/*") if os.path.isdir(d)]
    return out


def cgroup_of(pid):
    for d in worker_cgroups():
        try:
            with open(d + "/cgroup.procs") as f:
                if str(pid) in f.read().split():
                    return d
        except OSError:
            pass
    return None


@pytest.fixture
def ct(make_core, tmp_path):
    if not (os.path.exists("/sys/fs/cgroup/memory/memory.limit_in_bytes")
            or os.path.exists("/sys/fs/cgroup/cgroup.controllers")):
        pytest.skip("no memory cgroup controller")
    core = lh.lambda_core(make_core)
    vols = {}
    for name in ("in", "out", "secret", "grp"):
        vols[name] = str(tmp_path / f"vol-{name}")
        os.makedirs(vols[name])
    with open(os.path.join(vols["in"], "f.txt"), "w") as f:
        f.write("ro-data")
    os.chmod(vols["out"], 0o777)
    os.chown(vols["grp"], 0, 4321)
    os.chmod(vols["grp"], 0o770)
    devs = {}
    for name in ("ro", "rw", "no"):
        devs[name] = f"/dev/evg-it-{os.getpid()}-{name}"
        if os.path.exists(devs[name]):
            os.unlink(devs[name])
        os.mknod(devs[name], 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    probe = lh.create_function(core, "Probe", "container_probe", "probe.handler")
    inv = lh.create_function(core, "Invoker", "invoker", "invoker.handler")
    g = (ContainerGroup().device("Dev")
         .volume("r-in", vols["in"], "/data/in").volume("r-out", vols["out"], "/data/out")
         .volume("r-secret", vols["secret"], "/data/secret")
         .volume("r-grp", vols["grp"], "/data/grp", owner="")
         .local_device("d-ro", devs["ro"]).local_device("d-rw", devs["rw"])
         .local_device("d-no", devs["no"])
         .function(probe, pinned=True, timeout=10).function(inv, timeout=15)
         .sub("Dev", "probe/in", probe).sub(probe, "probe/out", "Dev")
         .sub("Dev", "invoker/in", inv).sub(inv, "invoker/result", "Dev"))
    container_cfg(g.functions[0][2], policies=[("r-in", "ro"), ("r-out", "rw"), ("r-grp", "rw"),
                                               ("d-ro", "ro"), ("d-rw", "rw")])
    core.deploy_ok(g)
    dev = h.Paho("Dev", core.plain_port)
    dev.subscribe("probe/out")
    dev.subscribe("invoker/result")
    core.dev, core.probe, core.inv, core.vols, core.devs, core.group = dev, probe, inv, vols, devs, g
    yield core
    dev.close()
    for p in devs.values():
        if os.path.exists(p):
            os.unlink(p)


def probe(core, tag, timeout=10, **event):
    core.dev.publish("probe/in", json.dumps({"tag": tag, **event}))
    m = lh.expect_on(core.dev, "probe/out", timeout=timeout)
    r = json.loads(m.payload)
    assert r.get("tag") == tag, r
    return r


def invoke(core, payload, timeout=15):
    core.dev.publish("invoker/in", json.dumps({"op": "invoke", "target": core.probe,
                                               "payload": payload}))
    return json.loads(lh.expect_on(core.dev, "invoker/result", timeout=timeout).payload)


def test_pid_namespace_identity_and_layout(ct):
    r = probe(ct, "who", op="whoami")
    assert r["uid"] == UID and r["gid"] == UID, r
    assert 4321 in r["groups"], r  # AutoAddGroupOwner of r-grp (the source's group)
    assert r["pid"] == 2, r        # init is pid 1 of the worker's own pid namespace
    assert r["proc_pids"] == [1, 2], r
    assert r["hostname"] == "evergreen" and r["cwd"] == "/lambda" and r["prefix"] == "/", r


def test_nothing_outside_tmp_writable(ct):
    paths = ["/tmp/a", "/dev/shm/a", "/x", "/etc/x", "/usr/x", "/lambda/x", "/runtime/x",
             "/data/in/x", "/data/out/x", "/data/grp/x"]
    r = probe(ct, "w", op="write", paths=paths)
    ok = {p for p in paths if r[p] == "ok"}
    assert ok == {"/tmp/a", "/dev/shm/a", "/data/out/x", "/data/grp/x"}, r
    assert os.path.exists(os.path.join(ct.vols["out"], "x"))
    assert not os.path.exists(os.path.join(ct.vols["in"], "x"))


def test_volumes_and_devices_as_granted(ct):
    d = ct.devs
    r = probe(ct, "r", op="read", paths=["/data/in/f.txt", "/data/secret", ct.vols["secret"],
                                        "/data", d["no"], "/home", "/root"])
    assert r["/data/in/f.txt"] == "ro-data", r
    assert r["/data"] == ["grp", "in", "out"], r  # the ungranted volume is not there at all
    for p in ("/data/secret", ct.vols["secret"], d["no"], "/home", "/root"):
        assert r[p].startswith("FileNotFoundError"), (p, r)
    w = probe(ct, "dw", op="write", paths=[d["ro"], d["rw"], d["no"]])
    assert w[d["rw"]] == "ok", w
    assert w[d["ro"]].startswith("PermissionError"), w
    assert w[d["no"]] != "ok", w  # absent; creating it fails (read-only /dev)


def test_host_tmp_and_core_root_invisible(ct):
    """Issue 11 item 1: nothing of the host's /tmp (files, Unix sockets, the core's root when it
    lives there) is reachable from a container; HOME is the container's own /tmp."""
    import socket
    import uuid
    tag = uuid.uuid4().hex[:12]
    marker = f"/tmp/evg-marker-{tag}"
    sock_path = f"/tmp/evg-sock-{tag}"
    root_marker = os.path.join(ct.root, f"evg-root-marker-{tag}")
    assert ct.root.startswith("/tmp/"), ct.root  # pytest's tmp_path: the core root is in /tmp
    for p in (marker, root_marker):
        with open(p, "w") as f:
            f.write("host secret\n")
        os.chmod(p, 0o644)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    os.chmod(sock_path, 0o777)
    srv.listen(1)
    try:
        names = [os.path.basename(p) for p in (marker, sock_path, root_marker)]
        r = probe(ct, "find", op="find", names=names, roots=["/"],
                  skip=["/proc", "/sys", "/usr", "/etc", "/lib", "/lib64", "/bin", "/sbin"],
                  sockets=[sock_path, "/runtime/host/0/" + os.path.basename(sock_path)])
        assert r["found"] == [], r
        assert r["home"] == "/tmp", r
        assert all(v != "connected" for v in r["connect"].values()), r
        rd = probe(ct, "rd", op="read", paths=[marker, root_marker])
        for p in (marker, root_marker):
            assert rd[p].startswith("FileNotFoundError"), rd
    finally:
        srv.close()
        for p in (marker, sock_path, root_marker):
            if os.path.exists(p):
                os.unlink(p)


def test_oom_kill_is_unhandled_and_worker_replaced(ct):
    r = invoke(ct, {"op": "alloc", "mb": 4, "reply": "probe/ignored"})
    assert r.get("FunctionError") == "", r
    r = invoke(ct, {"op": "alloc", "mb": 256, "reply": "probe/ignored"})
    assert r.get("FunctionError") == "Unhandled", r
    assert "memory limit exceeded" in r["Payload"], r
    assert "65536 KB" in r["Payload"], r
    h.wait_until(lambda: "memory limit exceeded" in ct.all_logs(), 5, what="OOM event logged")
    # Pinned: restarted (after the backoff), state starts fresh.
    r = probe(ct, "after", op="whoami", timeout=15)
    assert r["pid"] == 2


def test_cgroups_removed_after_exit_and_after_kill9(ct):
    h.wait_until(lambda: lh.worker_pids(ct, ct.probe), 5, what="probe worker started")
    first = lh.worker_pids(ct, ct.probe)[-1]
    cg = cgroup_of(first)
    assert cg is not None, f"worker {first} not in an evergreen cgroup: {worker_cgroups()}"
    parent = os.path.dirname(cg)
    # Undeploy the function: its worker stops and the cgroup goes.
    g = ContainerGroup().device("Dev")
    ct.deploy_ok(g)
    h.wait_until(lambda: not os.path.exists(cg), 5, what=f"{cg} removed")
    # Redeploy, kill -9 the core: the worker and its cgroup outlive it ...
    ct.deploy_ok(ct.group)
    h.wait_until(lambda: len(lh.worker_pids(ct, ct.probe)) >= 2, 5, what="probe restarted")
    pid = lh.worker_pids(ct, ct.probe)[-1]
    cg = cgroup_of(pid)
    assert cg and os.path.dirname(cg) == parent
    ct.proc.send_signal(signal.SIGKILL)
    ct.proc.wait(5)
    assert os.path.exists(cg)
    # ... until the next start of the same core sweeps them.
    ct.close_files()
    ct.start()
    h.wait_until(lambda: not os.path.exists(cg), 5, what="leftover cgroup removed at start")
    h.wait_until(lambda: not os.path.exists(f"/proc/{pid}"), 5, what="leftover worker killed")
    assert "leftover worker cgroup" in ct.all_logs()


def test_no_empty_parent_cgroup_after_stop(ct):
    """Issue 11 item 7: a stopped core leaves no empty evergreen/<core-id> cgroup behind."""
    h.wait_until(lambda: lh.worker_pids(ct, ct.probe), 5, what="probe worker started")
    cg = cgroup_of(lh.worker_pids(ct, ct.probe)[-1])
    assert cg is not None
    parent = os.path.dirname(cg)
    rc, _ = ct.stop()
    assert rc == 0
    assert not os.path.exists(cg)
    assert not os.path.exists(parent), f"{parent} left behind after the core stopped"


def test_root_refused_unless_allowed(make_core):
    core = make_core("noroot")
    core.config["runtime"]["allowFunctionsToRunAsRoot"] = "no"
    core.start()
    fn = lh.create_function(core, "Probe", "container_probe", "probe.handler")
    g = ContainerGroup().function(fn, pinned=True)
    container_cfg(g.functions[0][2], uid=0)
    r = core.deploy(g)
    assert r.returncode != 0
    assert "allowFunctionsToRunAsRoot" in r.stderr + r.stdout


def test_group_root_refused_unless_allowed(make_core):
    """Issue 11 item 7: RunAs Gid 0 is as privileged as Uid 0 for root-group files."""
    core = make_core("nogid0")
    core.config["runtime"]["allowFunctionsToRunAsRoot"] = "no"
    core.start()
    fn = lh.create_function(core, "Probe", "container_probe", "probe.handler")
    for isolation in ("GreengrassContainer", "NoContainer"):
        g = ContainerGroup().function(fn, pinned=True)
        container_cfg(g.functions[0][2], uid=UID)
        g.functions[0][2]["Environment"]["Execution"]["RunAs"]["Gid"] = 0
        g.functions[0][2]["Environment"]["Execution"]["IsolationMode"] = isolation
        r = core.deploy(g)
        assert r.returncode != 0, isolation
        assert "gid 0" in r.stderr + r.stdout and "allowFunctionsToRunAsRoot" in r.stderr + r.stdout
