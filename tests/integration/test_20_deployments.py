"""Deployment history, rollback and reset (issue 15, "Deployment history and local operations"),
black box: the real `evergreen` CLI against a running core, paho-mqtt devices proving which group
routes, and the files under the root checked afterwards."""

import json
import os
import re
import socket
import sqlite3

import evg_harness as h

HASH = re.compile(r"^[0-9a-f]{64}$")


def group_a():
    # A -> B on a/#, plus A's own shadow through GGShadowService.
    return (h.Group().device("A").device("B")
            .sub("A", "a/#", "B", "a-to-b")
            .sub("A", "$aws/things/A/shadow/update", "GGShadowService", "a-shadow")
            .sub("GGShadowService", "$aws/things/A/shadow/update/accepted", "A", "a-shadow-ok"))


def group_b():
    # A -> B on b/# only.
    return h.Group().device("A").device("B").sub("A", "b/#", "B", "b-to-b")


def control_call(core, request, timeout=30):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(f"{core.root}/var/run/evergreen.sock")
        s.sendall(json.dumps(request).encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    return json.loads(buf)


def cli(core, *args):
    return h.run_cli(*args, "--root", core.root, timeout=60)


def history(core):
    r = cli(core, "deployments", "list", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def assert_routes(core, allowed, refused):
    """A publishes on `refused` then `allowed`: B receives only `allowed` (per-connection order)."""
    a = h.Paho("A", core.plain_port)
    b = h.Paho("B", core.plain_port)
    try:
        b.subscribe("#")
        a.publish(refused + "/1", b"must not arrive", qos=1)
        a.publish(allowed + "/1", b"routed", qos=1)
        b.expect_only(allowed + "/1", b"routed")
        b.expect_none()
    finally:
        a.close()
        b.close()


def test_history_rollback_and_show(core):
    core.deploy_ok(group_a())
    r = core.deploy_ok(group_b())
    assert json.loads(r.stdout)["deploymentId"] == 2
    hist = history(core)
    assert [e["id"] for e in hist] == [1, 2]
    assert all(e["source"] == "deploy" and e["result"] == "succeeded" for e in hist)
    assert all(HASH.match(e["groupHash"]) for e in hist), hist
    assert hist[0]["groupHash"] != hist[1]["groupHash"]
    table = cli(core, "deployments", "list")
    assert table.returncode == 0
    assert hist[0]["groupHash"][:12] in table.stdout and hist[1]["groupHash"][:12] in table.stdout
    assert_routes(core, allowed="b", refused="a")

    # A deployment the core rejects is recorded with its message; the active group stays B.
    # (The CLI validates first and would not send this one: talk to the control socket.)
    bad = group_b().sub("A", "#/x", "B", "bad-sub").to_json()
    resp = control_call(core, {"op": "deploy", "group": bad})
    assert resp["ok"] is False
    rejected = history(core)[-1]
    assert rejected["id"] == 3 and rejected["result"] == "rejected"
    assert "Subscriptions[Id=bad-sub].Subject" in rejected["message"]

    # Rollback without an id: the previous successful deployment with another group (A).
    r = cli(core, "deploy", "--rollback")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["deploymentId"] == 4 and res["groupHash"] == hist[0]["groupHash"]
    assert_routes(core, allowed="a", refused="b")
    show = cli(core, "deployments", "show", "4")
    assert show.returncode == 0, show.stderr
    rec = json.loads(show.stdout)
    assert rec["source"] == "rollback" and rec["rollbackOf"] == 1
    assert rec["result"] == "succeeded" and rec["groupHash"] == hist[0]["groupHash"]
    first = json.loads(cli(core, "deployments", "show", "1").stdout)
    assert rec["group"] == first["group"]
    assert "a-to-b" in json.dumps(rec["group"])
    with open(f"{core.root}/deployment/group/group.json") as f:
        assert "a-to-b" in f.read(), "the rolled-back group is what the next start activates"

    # Rollback to a given id (B), a rejected one and an unknown one.
    r = cli(core, "deploy", "--rollback", "2")
    assert r.returncode == 0, r.stderr
    assert_routes(core, allowed="b", refused="a")
    r = cli(core, "deploy", "--rollback", "3")
    assert r.returncode == 1 and "was rejected" in r.stderr, r.stderr
    r = cli(core, "deploy", "--rollback", "99")
    assert r.returncode == 1 and "no deployment 99" in r.stderr, r.stderr
    r = cli(core, "deploy", "--rollback", "x1")
    assert r.returncode == 2 and "ID must be a deployment id" in r.stderr
    r = cli(core, "deployments", "show", "42")
    assert r.returncode == 2 and "no deployment 42" in r.stderr
    assert [e["source"] for e in history(core)] == ["deploy", "deploy", "deploy", "rollback",
                                                  "rollback"]


def test_history_is_bounded_by_max_history(core):
    core.config["evergreen"]["deployments"] = {"maxHistory": 3}
    core.stop()
    core.start()
    for i in range(5):
        core.deploy_ok(h.Group().device("A").device("B").sub("A", f"t{i}/#", "B"))
    hist = history(core)
    assert [e["id"] for e in hist] == [3, 4, 5]
    kept = sorted(os.listdir(f"{core.root}/var/deployments/groups"))
    assert kept == ["3.json", "4.json", "5.json"]


def test_start_records_a_staged_group(make_core):
    core = make_core()
    core.write_config()
    path = os.path.join(core.root, "staged.json")
    with open(path, "w") as f:
        json.dump(group_a().to_json(), f)
    r = h.run_cli("deploy", "--root", core.root, path)
    assert r.returncode == 3, r.stderr
    core.start(write_config=False)
    h.wait_until(lambda: len(history(core)) == 1, 5, what="start recorded")
    e = history(core)[0]
    assert e["source"] == "start" and e["result"] == "succeeded" and HASH.match(e["groupHash"])
    # A restart with the same group does not add a record.
    core.stop()
    core.start(write_config=False)
    core.deploy_ok(group_b())
    assert [x["source"] for x in history(core)] == ["start", "deploy"]


def make_shadow(core):
    a = h.Paho("A", core.plain_port)
    try:
        assert a.subscribe("$aws/things/A/shadow/update/accepted") == 0
        a.publish("$aws/things/A/shadow/update",
                  json.dumps({"state": {"reported": {"v": 1}}}).encode(), qos=1)
        m = a.expect()
        assert m.topic == "$aws/things/A/shadow/update/accepted"
    finally:
        a.close()


def shadow_rows(core):
    db = f"{core.root}/var/shadow/shadows.db"
    if not os.path.exists(db):
        return None
    with sqlite3.connect(db) as c:
        return c.execute("SELECT COUNT(*) FROM shadows").fetchone()[0]


def read(path):
    with open(path, "rb") as f:
        return f.read()


def kept_files(core):
    return {p: read(p) for p in (core.config_file, core.ca_path,
                                 os.path.join(core.certs_dir, "server.pem"))}


def test_reset_with_running_core(core):
    core.deploy_ok(group_a())
    make_shadow(core)
    before = kept_files(core)
    r = cli(core, "reset")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["reset"] is True and "function store" in res["kept"]
    st = core.status()["router"]
    assert st["subscriptions"] == 0
    assert not os.path.exists(f"{core.root}/deployment/group/group.json")
    # Devices of the old group may no longer connect (the group is empty).
    a = h.Paho("A", core.plain_port, connect=False)
    try:
        try:
            a.connect(timeout=5)
            raise AssertionError("A connected after the reset")
        except AssertionError as e:
            assert "CONNACK" in str(e), e
    finally:
        a.c.loop_stop()
    assert history(core)[-1]["source"] == "reset"
    core.stop()
    assert shadow_rows(core) == 0
    assert kept_files(core) == before
    # The core starts with no group; a rollback brings A back.
    core.start(write_config=False)
    assert core.status()["router"]["subscriptions"] == 0
    r = cli(core, "deploy", "--rollback")
    assert r.returncode == 0, r.stderr
    assert_routes(core, allowed="a", refused="b")


def test_reset_force_without_core(core):
    core.deploy_ok(group_a())
    make_shadow(core)
    core.stop()
    assert shadow_rows(core) == 1
    before = kept_files(core)
    r = cli(core, "reset")
    assert r.returncode == 1 and "--force" in r.stderr, r.stderr
    assert os.path.exists(f"{core.root}/deployment/group/group.json")
    r = cli(core, "reset", "--force")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["coreRunning"] is False
    assert not os.path.exists(f"{core.root}/deployment/group/group.json")
    assert shadow_rows(core) is None
    assert kept_files(core) == before
    hist = history(core)
    assert [e["source"] for e in hist] == ["deploy", "reset"]
    core.start(write_config=False)
    assert core.status()["router"]["subscriptions"] == 0
    assert "no group deployed yet" in core.log()
    assert len(history(core)) == 2, "a start without a group records nothing"
    # The shadow is gone for the restarted core too: the device's update starts at version 1.
    core.deploy_ok(group_a())
    a = h.Paho("A", core.plain_port)
    try:
        a.subscribe("$aws/things/A/shadow/update/accepted")
        a.publish("$aws/things/A/shadow/update",
                  json.dumps({"state": {"reported": {"v": 2}}}).encode(), qos=1)
        assert json.loads(a.expect().payload)["version"] == 1
    finally:
        a.close()


def test_reset_of_a_non_root_is_refused(tmp_path):
    r = h.run_cli("reset", "--root", str(tmp_path / "nothing"), "--force")
    assert r.returncode == 2 and "not an Evergreen root" in r.stderr


def test_concurrent_deploys_are_serialised(core):
    """Two deploys sent at once on two control connections: while the first is being validated
    and persisted the second is refused, naming the one in progress (a large group keeps the
    first in progress long enough; retried a few times since the loop may finish it first)."""
    big = h.Group().device("A").device("B")
    for i in range(3000):
        big.sub("A", f"t/{i}", "B", f"s{i}")
    big = big.to_json()
    small = group_b().to_json()
    seen = None
    for _ in range(5):
        socks = []
        for g in (big, small):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(30)
            s.connect(f"{core.root}/var/run/evergreen.sock")
            socks.append(s)
        for s, g in zip(socks, (big, small)):
            s.sendall(json.dumps({"op": "deploy", "group": g}).encode() + b"\n")
        answers = []
        for s in socks:
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
            s.close()
            answers.append(json.loads(buf))
        busy = [a for a in answers if not a["ok"]]
        assert all("in progress" in a["error"] for a in busy), answers
        if busy:
            seen = busy[0]["error"]
            assert sum(a["ok"] for a in answers) == 1
            break
    assert seen is not None, "the second deploy was never refused while the first ran"
    assert "another deployment is in progress (deploy" in seen
    # The refused one is not an activation: the history has only the successful ones.
    assert all(e["result"] == "succeeded" for e in history(core))


def test_history_records_resolved_versions_and_rollback_checks_them(make_core):
    """The history records the version an alias resolved to; a rollback whose alias now points
    at another version is refused (naming it) and leaves the active group in place."""
    import lambda_helpers as lh

    core = lh.lambda_core(make_core)
    alias_arn = lh.create_function(core, "Counter", "counter", "counter.handler", versions=2)
    g1 = lh.LambdaGroup().device("A").device("B").sub("A", "a/#", "B", "a-to-b")
    g1.function(alias_arn)
    core.deploy_ok(g1)
    core.deploy_ok(group_b())
    hist = history(core)
    assert hist[0]["functions"] == [lh.fn_arn("Counter", "1")], hist[0]
    assert hist[1]["functions"] == []
    lh.fn_cli(core, "update-alias", "--function-name", "Counter", "--name", "PROD",
              "--function-version", "2")
    r = cli(core, "deploy", "--rollback", "1")
    assert r.returncode == 1
    assert "other function versions" in r.stderr and lh.fn_arn("Counter", "2") in r.stderr, r.stderr
    assert history(core)[-1]["result"] == "rejected"
    assert_routes(core, allowed="b", refused="a")
    lh.fn_cli(core, "update-alias", "--function-name", "Counter", "--name", "PROD",
              "--function-version", "1")
    r = cli(core, "deploy", "--rollback", "1")
    assert r.returncode == 0, r.stderr
    last = history(core)[-1]
    assert last["source"] == "rollback" and last["functions"] == [lh.fn_arn("Counter", "1")]
    assert_routes(core, allowed="a", refused="b")


def test_old_function_versions_pruned_never_one_in_use(make_core):
    """evergreen.functions.keepVersions: after a successful deployment versions beyond the newest N
    go, except those an alias or any deployment in the history (rollback targets) uses."""
    import lambda_helpers as lh

    core = lh.lambda_core(make_core, start=False)
    core.config["evergreen"].setdefault("functions", {})["keepVersions"] = 1
    core.start()
    lh.create_function(core, "Counter", "counter", "counter.handler", versions=4)  # PROD -> 1
    core.deploy_ok(lh.LambdaGroup().function(lh.fn_arn("Counter", "2")))
    core.deploy_ok(lh.LambdaGroup().function(lh.fn_arn("Counter", "4")))

    def versions():
        r = lh.fn_cli(core, "list-versions", "--function-name", "Counter")
        return sorted(v["Version"] for v in json.loads(r.stdout)["Versions"])

    # 1: alias PROD; 2: the first deployment (a rollback target); 4: newest and active; 3 goes.
    h.wait_until(lambda: versions() == ["$LATEST", "1", "2", "4"], 10, what=f"pruning: {versions()}")
    logs = "".join(open(os.path.join(core.root, "var", "log", "system", f)).read()
                   for f in os.listdir(os.path.join(core.root, "var", "log", "system")))
    assert "removed old function versions (functions.keepVersions 1): Counter:3" in logs
    r = cli(core, "deploy", "--rollback", "1")  # the pruned-around target still deploys
    assert r.returncode == 0, r.stderr
    assert history(core)[-1]["functions"] == [lh.fn_arn("Counter", "2")]
