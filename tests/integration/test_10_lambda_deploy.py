"""Deploy rules for functions: only versions and aliases deploy ($LATEST, unknown aliases and
unknown functions are refused with exit 2 naming the entry, keeping the active group), and an
alias is resolved at deployment time: re-pointing it changes nothing until the next deploy."""

import json

import pytest

import evg_harness as h
import lambda_helpers as lh


@pytest.fixture
def deploy_core(make_core):
    core = lh.lambda_core(make_core)
    # Version 1 and version 2 of the same code; the responder reports its code directory,
    # which is <root>/functions/Ver/code/<version>.
    ver = lh.create_function(core, "Ver", "responder", "responder.handler", versions=2)
    inv = lh.create_function(core, "Invoker", "invoker", "invoker.handler")
    core.arns = {"ver": ver, "invoker": inv}
    core.group = (lh.LambdaGroup().device("Dev").function(ver, fn_id="ver").function(inv)
                  .sub("Dev", "invoker/in", inv).sub(inv, "invoker/result", "Dev"))
    core.deploy_ok(core.group)
    return core


def refused(core, arn, fn_id):
    before = core.status()["functions"]
    g = lh.LambdaGroup().device("Dev").function(arn, fn_id=fn_id)
    r = core.deploy(g)
    out = r.stdout + r.stderr
    assert r.returncode == 2, f"exit {r.returncode}: {out}"
    assert f"Functions[Id={fn_id}]" in out, out
    assert [f["arn"] for f in core.status()["functions"]] == [f["arn"] for f in before]
    return out


def test_latest_is_refused(deploy_core):
    out = refused(deploy_core, lh.fn_arn("Ver", "$LATEST"), "latest-fn")
    assert "$LATEST" in out


def test_unknown_alias_is_refused(deploy_core):
    out = refused(deploy_core, lh.fn_arn("Ver", "NOPE"), "bad-alias")
    assert "NOPE" in out


def test_unknown_function_and_version_are_refused(deploy_core):
    refused(deploy_core, lh.fn_arn("NoSuchFunction", "PROD"), "no-fn")
    refused(deploy_core, lh.fn_arn("Ver", "7"), "no-version")


def test_unqualified_arn_is_refused(deploy_core):
    refused(deploy_core, lh.fn_arn("Ver", None), "unqualified")


def test_alias_is_resolved_at_deploy_time(deploy_core):
    core = deploy_core
    dev = h.Paho("Dev", core.plain_port)
    try:
        dev.subscribe("invoker/result")

        def code_version():
            dev.publish("invoker/in", json.dumps({"op": "invoke", "target": core.arns["ver"]}))
            r = lh.expect_json(dev, "invoker/result", timeout=10)
            assert r.get("FunctionError") == "", r
            return json.loads(r["Payload"])["code_dir"]

        assert code_version() == "1"
        lh.fn_cli(core, "update-alias", "--function-name", "Ver", "--name", "PROD",
                  "--function-version", "2")
        assert code_version() == "1", "the alias moved the running function before a deploy"
        core.deploy_ok(core.group)
        assert code_version() == "2"
    finally:
        dev.close()
