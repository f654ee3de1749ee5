"""What a deployment checks and reports (issue 10): staged deployments are validated like live
ones (item 5), connectors are reported as not supported (item 9), the Python interpreter is
chosen per runtime id and python2.7 without Python 2 is refused (item 10), executables are
binary only and unchanged functions survive a redeploy unless restartFunctionsOnDeploy (item 11).
"""

import json
import os
import re
import shutil

import pytest

import evg_harness as h
import lambda_helpers as lh

CONNECTOR = "arn:aws:greengrass:us-east-1::/connectors/SNS/versions/1"
EXECUTABLE = "arn:aws:greengrass:::runtime/function/executable"


def group_file(core):
    return os.path.join(core.root, "deployment", "group", "group.json")


def deploy_cli(core, group, tmp_path, name="group.json"):
    path = tmp_path / name
    path.write_text(json.dumps(group.to_json() if hasattr(group, "to_json") else group))
    return h.run_cli("deploy", "--root", core.root, str(path))


def staged_core(make_core):
    """A configured root whose core is not running."""
    core = lh.lambda_core(make_core, start=False)
    core.write_config()
    return core


# ---- item 5: staged deployments are validated before staging --------------------------------

def test_staged_deploy_refuses_a_function_missing_from_the_store(make_core, tmp_path):
    core = staged_core(make_core)
    missing = lh.fn_arn("NotInStore")
    r = deploy_cli(core, lh.LambdaGroup().function(missing, fn_id="ghost"), tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Functions[Id=ghost]" in r.stderr and "NotInStore" in r.stderr, r.stderr
    assert not os.path.exists(group_file(core))


def test_staged_deploy_refuses_a_function_of_another_account(make_core, tmp_path):
    core = staged_core(make_core)
    lh.create_function(core, "Echo1", "responder", "responder.handler")
    other = f"arn:aws:lambda:{h.REGION}:210987654321:function:Echo1:PROD"
    r = deploy_cli(core, lh.LambdaGroup().function(other, fn_id="foreign"), tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Functions[Id=foreign]" in r.stderr, r.stderr
    assert not os.path.exists(group_file(core))


def test_staged_deploy_refuses_what_the_core_would_not_activate(make_core, tmp_path):
    core = staged_core(make_core)
    arn = lh.create_function(core, "Exe", "responder", "responder.py", runtime=EXECUTABLE)
    r = deploy_cli(core, lh.LambdaGroup().function(arn, fn_id="exe", encoding="json"), tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Functions[Id=exe]" in r.stderr and "binary" in r.stderr, r.stderr
    assert not os.path.exists(group_file(core))


def test_staged_valid_group_exits_3_and_is_active_after_start(make_core, tmp_path):
    core = staged_core(make_core)
    arn = lh.create_function(core, "Resp", "responder", "responder.handler")
    r = deploy_cli(core, lh.LambdaGroup().device("Dev").function(arn), tmp_path)
    assert r.returncode == 3, r.stdout + r.stderr
    assert os.path.exists(group_file(core))
    core.start(write_config=False)
    assert "was not activated" not in core.stderr()
    lh.fn_status(core, arn)


# ---- item 9: connectors are reported, and their first drop logged -------------------------------

def connector_group():
    g = h.Group().device("Dev").sub("Dev", "sns/message", CONNECTOR, "to-sns").to_json()
    g["ConnectorDefinitionVersion"] = {"Connectors": [
        {"Id": "sns", "ConnectorArn": CONNECTOR, "Parameters": {"DefaultSNSArn": "x"}}]}
    return g


def test_connectors_are_reported_not_supported_and_first_drop_logged(make_core, tmp_path):
    core = make_core().start()
    r = deploy_cli(core, connector_group(), tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert any("Connectors[Id=sns]" in w and "not supported" in w for w in out["warnings"]), out
    warn = [l for l in core.stderr().splitlines() if "Connectors[Id=sns]" in l]
    assert warn and "WARN" in warn[0], core.stderr()
    st = core.status()
    assert st["connectors"] == [{"id": "sns", "arn": CONNECTOR, "status": "not supported",
                                 "dropped": 0}]
    dev = h.Paho("Dev", core.plain_port)
    try:
        for i in range(3):
            dev.publish("sns/message", f"m{i}".encode(), qos=1)
        h.wait_until(lambda: core.status()["connectors"][0]["dropped"] == 3, 5,
                     what="3 drops counted")
    finally:
        dev.close()
    drops = [l for l in core.stderr().splitlines() if "first drop for this connector" in l]
    assert len(drops) == 1, drops
    assert CONNECTOR in drops[0] and "sns/message" in drops[0] and "WARN" in drops[0]
    assert core.status()["router"]["pendingConnector"] == 3


def test_staged_deploy_lists_connectors(make_core, tmp_path):
    core = staged_core(make_core)
    r = deploy_cli(core, connector_group(), tmp_path)
    assert r.returncode == 3, r.stderr
    assert "Connectors[Id=sns]" in r.stderr and "not supported" in r.stderr, r.stderr


# ---- item 10: the interpreter per runtime id -------------------------------------------------

def test_python27_without_python2_is_refused_naming_the_function(make_core):
    if os.path.exists("/usr/bin/python2.7"):
        pytest.skip("this host has Python 2.7")
    core = lh.lambda_core(make_core)
    arn = lh.create_function(core, "Old", "responder", "responder.handler", runtime="python2.7")
    r = core.deploy(lh.LambdaGroup().function(arn, fn_id="old"))
    assert r.returncode == 2, r.stdout + r.stderr
    assert arn in r.stderr and "python2.7" in r.stderr and "not installed" in r.stderr, r.stderr


def test_interpreter_logged_at_deploy_and_configurable(make_core, tmp_path):
    core = lh.lambda_core(make_core, start=False)
    # A python3.7 function on a host without /usr/bin/python3.7: python3 with a logged note.
    # Mapped in config.json: the configured interpreter (a wrapper that marks its workers).
    wrapper = tmp_path / "py-wrapper"
    wrapper.write_text('#!/bin/sh\nexport WRAPPED_BY=evg-test\nexec /usr/bin/python3 "$@"\n')
    wrapper.chmod(0o755)
    core.config["evergreen"]["runtime"] = {"interpreters": {"python3.6": str(wrapper)}}
    core.start()
    a37 = lh.create_function(core, "Py37", "responder", "responder.handler", runtime="python3.7")
    a36 = lh.create_function(core, "Py36", "responder", "responder.handler", runtime="python3.6")
    core.deploy_ok(lh.LambdaGroup().function(a37).function(a36))
    lines = core.stderr().splitlines()
    l37 = [l for l in lines if "deployed " + a37 in l]
    l36 = [l for l in lines if "deployed " + a36 in l]
    if os.path.exists("/usr/bin/python3.7"):
        assert "python3.7 -> /usr/bin/python3.7" in l37[0], l37
    else:
        assert "python3.7 -> /usr/bin/python3" in l37[0], l37
        assert "python3.7 is not installed" in l37[0], l37
    assert f"python3.6 -> {wrapper}" in l36[0], l36
    # Never a PATH lookup (the pyenv shim): the chosen interpreter is an absolute /usr/bin one.
    assert "shims" not in "\n".join(l37 + l36)


def test_unknown_interpreter_key_values_are_rejected(make_core):
    core = make_core()
    core.config["evergreen"]["runtime"] = {"interpreters": {"python3.7": "python3.7"}}
    core.write_config()
    import subprocess
    p = subprocess.run([h.evergreen_binary(), "run", "--root", core.root], capture_output=True,
                       text=True, timeout=10)
    assert p.returncode == 2
    assert "evergreen.runtime.interpreters.python3.7" in p.stderr, p.stderr


# ---- item 11: executables are binary only; redeploys keep unchanged functions ----------------

def test_executable_with_json_encoding_is_refused_naming_the_function(make_core):
    core = lh.lambda_core(make_core)
    arn = lh.create_function(core, "Exe", "responder", "responder.py", runtime=EXECUTABLE)
    r = core.deploy(lh.LambdaGroup().function(arn, fn_id="exe", encoding="json"))
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Functions[Id=exe].FunctionConfiguration.EncodingType" in r.stderr, r.stderr
    assert arn in r.stderr and "binary" in r.stderr


def workers_created(core, arn):
    return sum(1 for l in core.stderr().splitlines()
               if "Created worker." in l and f'"functionArn":"{arn}"' in l)


@pytest.mark.parametrize("restart", [False, True])
def test_pinned_function_across_an_unchanged_redeploy(make_core, restart):
    core = lh.lambda_core(make_core, start=False)
    if restart:
        core.config["evergreen"]["runtime"] = {"restartFunctionsOnDeploy": True}
    core.start()
    arn = lh.create_function(core, "Counter", "counter", "counter.handler")
    group = lh.LambdaGroup().device("Dev").function(arn, pinned=True)
    core.deploy_ok(group)
    lh.wait_fn_status(core, arn, lambda s: s["workers"] == 1)
    assert workers_created(core, arn) == 1, core.stderr()
    core.deploy_ok(group)  # the same group again
    if restart:  # v1: every function, pinned ones included, restarted on each deployment
        h.wait_until(lambda: workers_created(core, arn) == 2, 10, what="a new pinned worker")
        lh.wait_fn_status(core, arn, lambda s: s["workers"] == 1)
    else:
        import time
        time.sleep(1.0)
        assert workers_created(core, arn) == 1, core.stderr()
        assert "undeploying " + arn not in core.stderr()
        assert lh.fn_status(core, arn)["workers"] == 1
