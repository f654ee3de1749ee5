"""The GENUINE v1 Core SDKs on the real core (issue 10, "Genuine SDKs in CI", items 7 and 8).

Functions bundle the genuine SDKs read from <repo>/../shared/vendor (or $EVERGREEN_SHARED_DIR):
Python greengrasssdk 1.6.1 (every client: iot-data publish and shadows, lambda invoke,
secretsmanager), the Java jar 1.5.0 (the same calls, incl. InvokeRequest.withQualifier and the
secrets exception types) and the C examples of aws-greengrass-core-sdk-c 1.2.0 compiled
unmodified against our libaws-greengrass-core-sdk-c.so. Each call's result and error type is
checked exactly. See genuine_helpers.py for how the code directories are built."""

import base64
import datetime
import filecmp
import json
import os

import pytest

import c_helpers as ch
import evg_harness as h
import genuine_helpers as gh
import lambda_helpers as lh
import shadow_helpers as sh

OTHER_SECRET_ARN = f"arn:aws:secretsmanager:{h.REGION}:{h.ACCOUNT}:secret:other-QwErTy"


def b64(data):
    return base64.b64encode(data).decode()


def unb64(text):
    return base64.b64decode(text) if text is not None else None


def call(core, topic_in, reply, event, timeout=15):
    """Device Dev publishes event to the SDK-driving function and returns its report."""
    tag = event.setdefault("tag", f"t{id(event)}-{os.urandom(3).hex()}")
    event["reply"] = reply
    core.dev.publish(topic_in, json.dumps(event))
    while True:
        out = json.loads(lh.expect_on(core.dev, reply, timeout).payload)
        if out.get("tag") == tag:
            return out


def put_secrets(core):
    sh.secrets_put(core, sh.SECRET_ARN, "--string", "genuine-value")
    sh.secrets_put(core, sh.SECRET_ARN, "--string", "beta-value", "--stage", "beta")
    sh.secrets_put(core, OTHER_SECRET_ARN, "--string", "not-for-you")


def secret_group(group, reader):
    """db-pass (stage beta downloadable) granted to reader; other-QwErTy in the group but not
    granted to it."""
    return (group.secret("res-db", sh.SECRET_ARN, stages=["beta"])
            .secret("res-other", OTHER_SECRET_ARN).grant(reader, "res-db"))


# ---------------------------------------------------------------------------------------------
# Python greengrasssdk 1.6.1
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def py_core(make_core, tmp_path):
    """GenuinePy (json) and GenuinePyBin (binary) bundle the genuine greengrasssdk; Responder and
    Faulty (our test functions) are invoke targets. Dev drives GenuinePy on genuine/py/in."""
    core = lh.lambda_core(make_core)
    put_secrets(core)
    code = gh.python_code_dir(str(tmp_path / "genuine_py_code"))
    arns = {
        "py": lh.create_function(core, "GenuinePy", code, "genuine_py.handler"),
        "bin": lh.create_function(core, "GenuinePyBin", code, "genuine_py.binary_handler"),
        "responder": lh.create_function(core, "Responder", "responder", "responder.handler"),
        "faulty": lh.create_function(core, "Faulty", "faulty", "faulty.handler"),
    }
    g = secret_group(sh.ServiceGroup().device("Dev"), arns["py"])
    g = (g.function(arns["py"], timeout=10).function(arns["bin"], encoding="binary")
         .function(arns["responder"]).function(arns["faulty"])
         .sub("Dev", "genuine/py/in", arns["py"]).sub(arns["py"], "genuine/py/result", "Dev")
         .sub(arns["py"], "pub/out", "Dev").sub(arns["bin"], "genuine/py/bin", "Dev"))
    core.deploy_ok(g)
    core.dev = h.Paho("Dev", core.plain_port)
    for t in ("genuine/py/result", "pub/out", "genuine/py/bin"):
        assert core.dev.subscribe(t) == 0
    core.arns = arns
    yield core
    core.dev.close()


def py(core, **event):
    return call(core, "genuine/py/in", "genuine/py/result", event)


def test_python_genuine_sdk_is_the_bundled_one(py_core):
    r = py(py_core, op="whoami")
    r["file"] = lh.store_path(py_core, r["file"])
    assert r["file"].startswith(py_core.root) and r["file"].endswith("/greengrasssdk/__init__.py")
    assert filecmp.cmp(r["file"], os.path.join(gh.vendor(*gh.PY_SDK), "__init__.py"),
                       shallow=False), "not the vendor greengrasssdk"
    assert (r["version"], r["interface"]) == ("1.6.1", "1.5")


def test_python_genuine_publish(py_core):
    core = py_core
    for extra in ({}, {"policy": "BestEffort"}, {"policy": "AllOrException"}):
        payload = b"\x00genuine \xff" + json.dumps(extra).encode()
        r = py(core, op="publish", topic="pub/out", payload_b64=b64(payload), **extra)
        assert r == {"result": None, "tag": r["tag"]}, r
        assert lh.expect_on(core.dev, "pub/out").payload == payload
    r = py(core, op="publish", topic="pub/out", payload_b64="", policy="Bogus")
    assert r["error_type"] == "builtins.ValueError"
    assert r["error"] == "Invalid value for queueFullPolicy: Bogus"


def test_python_genuine_lambda_invoke(py_core):
    core = py_core
    resp = core.arns["responder"]
    unqualified = resp.rsplit(":", 1)[0]

    def invoke(**kw):
        return py(core, op="invoke", **kw)

    def responder_saw(r):
        assert r["FunctionError"] == "", r
        assert r["payload_type"] == "greengrasssdk.Lambda.StreamingBody", r
        return json.loads(unb64(r["payload_b64"]))

    # RequestResponse, qualified ARN, JSON payload, client context.
    cc = b64(json.dumps({"custom": {"k": "v"}}).encode())
    r = invoke(target=resp, payload_b64=b64(b'{"n": 1}'), client_context=cc)
    assert r["keys"] == ["FunctionError", "Payload"]
    saw = responder_saw(r)
    assert saw["event"] == {"n": 1} and saw["custom"] == {"k": "v"}
    assert saw["invoked_function_arn"] == resp
    # Unqualified ARN + Qualifier (item 7 for Python).
    saw = responder_saw(invoke(target=unqualified, Qualifier="PROD", payload_b64=b64(b"{}")))
    assert saw["invoked_function_arn"] == resp
    # Conflicting qualifiers and malformed input are refused by the SDK.
    r = invoke(target=resp, Qualifier="1", payload_b64=b64(b"{}"))
    assert (r["error_type"], r["error"]) == (
        "builtins.ValueError",
        "The derived qualifier from the function name does not match the specified qualifier.")
    r = invoke(target=resp, client_context="not base64!")
    assert (r["error_type"], r["error"]) == (
        "builtins.ValueError",
        '"ClientContext" argument of Lambda.Client.invoke must be base64 encoded.')
    r = invoke(target="Responder")
    assert r["error_type"] == "builtins.ValueError" and "Responder" in r["error"], r
    # A function error: Handled, the raw error bytes (not a StreamingBody).
    r = invoke(target=core.arns["faulty"], payload_b64=b64(b'{"mode": "raise", "tag": "f1"}'))
    assert (r["FunctionError"], r["payload_type"]) == ("Handled", "builtins.bytes"), r
    err = json.loads(unb64(r["payload_b64"]))
    assert err["errorMessage"] == "boom from faulty: f1" and err["errorType"] == "ValueError"
    # Binary payload RequestResponse and Event to the binary function.
    data = bytes(range(256)) + b"\x00end"
    r = invoke(target=core.arns["bin"], payload_b64=b64(data))
    assert r["FunctionError"] == "" and unb64(r["payload_b64"]) == data[::-1]
    assert lh.expect_on(core.dev, "genuine/py/bin").payload == data
    r = invoke(target=core.arns["bin"], InvocationType="Event", payload_b64=b64(b"\x01event"))
    assert (r["FunctionError"], r["payload_type"], r["payload_b64"]) == ("", "builtins.bytes", "")
    assert lh.expect_on(core.dev, "genuine/py/bin").payload == b"\x01event"
    # An ARN the core does not know.
    r = invoke(target=lh.fn_arn("Nobody"), payload_b64=b64(b"{}"))
    assert r["error_type"] == "greengrasssdk.Lambda.InvocationException", r
    assert r["error"].startswith("Failed to invoke function due to "), r


def test_python_genuine_shadows(py_core):
    core = py_core
    r = py(core, op="shadow", action="update", thing="GenuineThing",
           doc={"state": {"desired": {"mode": "ON"}}})
    assert r["keys"] == ["payload"], r
    assert r["payload"]["state"] == {"desired": {"mode": "ON"}} and r["payload"]["version"] == 1
    r = py(core, op="shadow", action="get", thing="GenuineThing")
    assert r["payload"]["state"] == {"desired": {"mode": "ON"}, "delta": {"mode": "ON"}}, r
    assert r["payload"]["version"] == 1
    r = py(core, op="shadow", action="delete", thing="GenuineThing")
    assert r["payload"]["version"] == 1 and "state" not in r["payload"], r
    r = py(core, op="shadow", action="get", thing="GenuineThing")
    assert r["error_type"] == "greengrasssdk.IoTDataPlane.ShadowError", r
    assert r["error"].startswith("Request for shadow state returned error code 404 with message"), r
    r = py(core, op="shadow", action="update", thing="GenuineThing", doc={"nostate": 1})
    assert r["error_type"] == "greengrasssdk.IoTDataPlane.ShadowError", r
    assert "error code 400" in r["error"], r


def test_python_genuine_secrets(py_core):
    core = py_core
    r = py(core, op="secret", SecretId=sh.SECRET_ARN)
    res = r["result"]
    assert set(res) == {"ARN", "Name", "VersionId", "SecretString", "VersionStages", "CreatedDate"}
    assert (res["ARN"], res["Name"], res["SecretString"]) == (sh.SECRET_ARN, "db-pass",
                                                              "genuine-value")
    assert res["VersionStages"] == ["AWSCURRENT"]
    assert res["CreatedDate"][0] == "datetime"  # the SDK converted the epoch milliseconds
    assert abs(res["CreatedDate"][1] - datetime.datetime.now().timestamp()) < 600
    r = py(core, op="secret", SecretId="db-pass", VersionStage="beta")
    assert r["result"]["SecretString"] == "beta-value"
    r = py(core, op="secret", SecretId="db-pass", VersionId="abc")
    assert (r["error_type"], r["error"]) == ("greengrasssdk.SecretsManager.SecretsManagerError",
                                             "Query by VersionId is not yet supported")
    # Not granted (item 8): 401, the code v1 answered.
    r = py(core, op="secret", SecretId=OTHER_SECRET_ARN)
    assert r["error_type"] == "greengrasssdk.SecretsManager.SecretsManagerError", r
    assert r["error"].startswith(
        "Request for secret value returned error code 401 with message Function "
        f"{core.arns['py']} is not authorized to access secret {OTHER_SECRET_ARN}"), r
    r = py(core, op="secret", SecretId="no-such-secret")
    assert r["error"].startswith(
        "Request for secret value returned error code 404 with message Secret not found: "
        "no-such-secret"), r


# ---------------------------------------------------------------------------------------------
# Java GreengrassJavaSDK.jar 1.5.0
# ---------------------------------------------------------------------------------------------

JAVA_EX = "com.amazonaws.greengrass.javasdk.model."


@pytest.fixture(scope="module")
def java_zip(tmp_path_factory):
    return gh.java_zip(str(tmp_path_factory.mktemp("genuine-java")))


@pytest.fixture
def java_core(make_core, java_zip):
    """GenuineJava (json) and GenuineJavaBin (binary) bundle the genuine jar in lib/;
    Responder and Faulty (Python) are invoke targets. Dev drives GenuineJava on genuine/java/in."""
    core = lh.lambda_core(make_core)
    put_secrets(core)
    cls = "com.example.genuine.GenuineSdk"
    arns = {
        "java": gh.create_java_zip_function(core, "GenuineJava", cls + "::handle", java_zip),
        "bin": gh.create_java_zip_function(core, "GenuineJavaBin", cls + "::binary", java_zip),
        "responder": lh.create_function(core, "Responder", "responder", "responder.handler"),
        "faulty": lh.create_function(core, "Faulty", "faulty", "faulty.handler"),
    }
    g = secret_group(sh.ServiceGroup().device("Dev"), arns["java"])
    g = (g.function(arns["java"], timeout=20).function(arns["bin"], encoding="binary", timeout=10)
         .function(arns["responder"]).function(arns["faulty"])
         .sub("Dev", "genuine/java/in", arns["java"])
         .sub(arns["java"], "genuine/java/result", "Dev").sub(arns["java"], "pub/out", "Dev"))
    core.deploy_ok(g)
    core.dev = h.Paho("Dev", core.plain_port)
    for t in ("genuine/java/result", "pub/out"):
        assert core.dev.subscribe(t) == 0
    core.arns = arns
    yield core
    core.dev.close()


def jv(core, **event):
    return call(core, "genuine/java/in", "genuine/java/result", event, timeout=30)


def test_java_genuine_jar_is_the_one_loaded_and_publishes(java_core):
    core = java_core
    r = jv(core, op="whoami")
    r["sdk_jar"] = lh.store_path(core, r["sdk_jar"])
    assert r["sdk_jar"].startswith(core.root), r
    assert r["sdk_jar"].endswith("/lib/GreengrassJavaSDK.jar"), r
    assert filecmp.cmp(r["sdk_jar"], gh.vendor(*gh.JAVA_JAR), shallow=False)
    assert r["interface"] == "1.5"
    assert r["genuine_only"] == JAVA_EX + "GGSecretsManagerErrorResponse"
    for extra in ({}, {"policy": "BestEffort"}, {"policy": "AllOrException"}):
        payload = b"\x00java \xfe" + json.dumps(extra).encode()
        r = jv(core, op="publish", topic="pub/out", payload_b64=b64(payload), **extra)
        assert r["result"] == "PublishResult", r
        assert lh.expect_on(core.dev, "pub/out").payload == payload


def test_java_genuine_invoke_with_qualifier(java_core):
    core = java_core
    resp = core.arns["responder"]
    unqualified = resp.rsplit(":", 1)[0]

    def invoke(**kw):
        return jv(core, op="invoke", **kw)

    # Item 7: an unqualified ARN plus withQualifier("PROD") reaches Responder:PROD.
    r = invoke(target=unqualified, qualifier="PROD", payload_b64=b64(b'{"q": 1}'))
    assert (r["statusCode"], r["functionError"]) == (200, ""), r
    saw = json.loads(unb64(r["payload_b64"]))
    assert saw["invoked_function_arn"] == resp and saw["event"] == {"q": 1}
    # Qualified ARN, with the same qualifier repeated, and with a client context.
    cc = b64(json.dumps({"custom": {"from": "java"}}).encode())
    r = invoke(target=resp, qualifier="PROD", payload_b64=b64(b"{}"), client_context=cc)
    saw = json.loads(unb64(r["payload_b64"]))
    assert saw["invoked_function_arn"] == resp and saw["custom"] == {"from": "java"}, saw
    # A different qualifier is refused by the genuine client.
    r = invoke(target=resp, qualifier="1", payload_b64=b64(b"{}"))
    assert (r["error_type"], r["error"]) == (JAVA_EX + "GGLambdaException",
                                             "Invoke Request is invalid"), r
    assert r["causes"] == [JAVA_EX + "InvalidLambdaRequestException: Qualifier 1 does not match "
                           f"the function arn {resp}"], r
    r = invoke(target="Responder", payload_b64=b64(b"{}"))
    assert r["error"] == "Invoke Request is invalid", r
    assert r["causes"][0] == JAVA_EX + "InvalidLambdaRequestException: Function ARN Responder is invalid"
    # Handled function error.
    r = invoke(target=core.arns["faulty"], payload_b64=b64(b'{"mode": "raise", "tag": "j1"}'))
    assert (r["statusCode"], r["functionError"]) == (200, "Handled"), r
    assert json.loads(unb64(r["payload_b64"]))["errorMessage"] == "boom from faulty: j1"
    # Binary RequestResponse and Event.
    data = bytes(range(255, -1, -1)) + b"\x00java"
    r = invoke(target=core.arns["bin"], payload_b64=b64(data))
    assert (r["statusCode"], r["functionError"]) == (200, ""), r
    assert unb64(r["payload_b64"]) == data[::-1]
    r = invoke(target=core.arns["bin"], type="Event", payload_b64=b64(b"ev"))
    assert (r["statusCode"], r["functionError"], r["payload_b64"]) == (202, None, None), r
    # An ARN the core does not know: the genuine message names our IPC cause.
    r = invoke(target=lh.fn_arn("Nobody"), payload_b64=b64(b"{}"))
    assert r["error_type"] == JAVA_EX + "GGLambdaException", r
    assert r["error"].startswith("Post work error: com.amazonaws.greengrass.ipcsdk."
                                 "HttpStatusException: HTTP Error 404"), r


def test_java_genuine_shadows(java_core):
    core = java_core
    r = jv(core, op="shadow", action="update", thing="JavaThing",
           doc={"state": {"reported": {"t": 21}}})
    assert r["payload"]["state"] == {"reported": {"t": 21}} and r["payload"]["version"] == 1, r
    r = jv(core, op="shadow", action="get", thing="JavaThing")
    assert r["payload"]["state"] == {"reported": {"t": 21}} and r["payload"]["version"] == 1, r
    r = jv(core, op="shadow", action="delete", thing="JavaThing")
    assert r["payload"]["version"] == 1 and "state" not in r["payload"], r
    # The genuine Java client does not raise on a shadow error: the error document is the payload.
    r = jv(core, op="shadow", action="get", thing="JavaThing")
    assert r["payload"]["code"] == 404, r


def test_java_genuine_secrets_exception_types(java_core):
    core = java_core
    r = jv(core, op="secret", SecretId="db-pass")
    res = r["result"]
    assert (res["ARN"], res["Name"], res["SecretString"], res["SecretBinary"]) == (
        sh.SECRET_ARN, "db-pass", "genuine-value", None), r
    assert res["VersionStages"] == ["AWSCURRENT"] and res["CreatedDate"] > 1_600_000_000_000
    r = jv(core, op="secret", SecretId=sh.SECRET_ARN, VersionStage="beta")
    assert r["result"]["SecretString"] == "beta-value", r
    # Item 8: not granted -> UnauthorizedSecretsManagerRequestException (401), not
    # "Unrecognized status code: 403".
    r = jv(core, op="secret", SecretId=OTHER_SECRET_ARN)
    assert r["error_type"] == JAVA_EX + "UnauthorizedSecretsManagerRequestException", r
    assert r["error"].startswith(f"Function {core.arns['java']} is not authorized to access "
                                 f"secret {OTHER_SECRET_ARN}"), r
    r = jv(core, op="secret", SecretId="no-such-secret")
    assert r["error_type"] == JAVA_EX + "SecretResourceNotFoundException", r
    assert r["error"].startswith("Secret not found: no-such-secret"), r
    r = jv(core, op="secret", SecretId="db-pass", VersionStage="gamma")
    assert r["error_type"] == JAVA_EX + "SecretResourceNotFoundException", r
    r = jv(core, op="secret", SecretId="db-pass", VersionId="v1")
    assert (r["error_type"], r["error"]) == (JAVA_EX + "InvalidSecretsManagerRequestException",
                                             "Query by VersionId is not yet supported"), r


# ---------------------------------------------------------------------------------------------
# C SDK 1.2.0 examples (unmodified) against our library
# ---------------------------------------------------------------------------------------------

# invoke/invoker.c calls this ARN with qualifier "1" (hard-coded in the example).
INVOKEE_ARN = "arn:aws:lambda:us-west-2:123456789012:function:Invokee:1"
FOO_SECRET_ARN = f"arn:aws:secretsmanager:{h.REGION}:{h.ACCOUNT}:secret:foo-Ab12Cd"


@pytest.fixture(scope="module")
def c_examples(tmp_path_factory):
    prefix = ch.install_prefix(tmp_path_factory)
    return gh.build_c_examples(prefix, str(tmp_path_factory.mktemp("genuine-c-examples")))


def c_fn(core, name, code, exe, alias="PROD"):
    return ch.create_c_function(core, name, code, handler=exe, alias=alias)


def user_log(core, name, needles, timeout=10):
    return lh.wait_file_contains(lh.user_log_path(core, name), needles, timeout=timeout)


def test_c_genuine_examples(make_core, c_examples):
    core = lh.lambda_core(make_core)
    sh.secrets_put(core, FOO_SECRET_ARN, "--string", "foo-value")
    arns = {n: c_fn(core, n, c_examples, exe) for n, exe in (
        ("HelloC", "hello_world_example"), ("SimpleC", "simple_handler"),
        ("PublishC", "publish_example"), ("ShadowC", "shadow_example"),
        ("SecretsC", "secretsmanager_example"), ("StrangerC", "secretsmanager_example"),
        ("InvokerC", "invoker"))}
    # The invokee lives where invoker.c expects it: us-west-2, version 1.
    lh.fn_cli(core, "create", "--function-name", "Invokee", "--runtime", ch.EXECUTABLE_RUNTIME,
              "--handler", "invokee", "--code-dir", c_examples, "--region", "us-west-2",
              "--account", "123456789012")
    lh.fn_cli(core, "publish-version", "--function-name", "Invokee")

    def group(with_foo=True):
        g = sh.ServiceGroup().device("Dev")
        if with_foo:
            g = g.secret("res-foo", FOO_SECRET_ARN).grant(arns["SecretsC"], "res-foo")
        g.function(arns["HelloC"], pinned=True, encoding="binary")
        for n in ("SimpleC", "PublishC", "ShadowC", "SecretsC", "StrangerC", "InvokerC"):
            g.function(arns[n], encoding="binary", timeout=10)
            g.sub("Dev", f"c/{n}", arns[n])
        g.function(INVOKEE_ARN, encoding="binary", timeout=10)
        return (g.sub(arns["HelloC"], "hello/world", "Dev")
                .sub(arns["PublishC"], "to/cloud", "Dev"))

    core.deploy_ok(group())
    dev = h.Paho("Dev", core.plain_port)
    try:
        for t in ("hello/world", "to/cloud"):
            assert dev.subscribe(t) == 0
        # hello_world.c: pinned, gg_runtime_start(GG_RT_OPT_ASYNC) then gg_publish every 3 s.
        assert lh.expect_on(dev, "hello/world", timeout=10).payload == b"hello world!\x00"
        # simple_handler.c: the event and the context.
        dev.publish("c/SimpleC", b"abc")
        user_log(core, "SimpleC", [f"[INFO]-function arn: [{arns['SimpleC']}]",
                                   "[INFO]-Received message: [abc] size: [3]"])
        # publish.c: gg_publish_with_options(AllOrError) of a 100-byte buffer to to/cloud.
        dev.publish("c/PublishC", b"go")
        m = lh.expect_on(dev, "to/cloud", timeout=10)
        assert m.payload == f"hello from: {arns['PublishC']}".encode().ljust(100, b"\x00")
        # shadow.c: update then get of thing "foo".
        dev.publish("c/ShadowC", b"go")
        text = user_log(core, "ShadowC", ["gg_update_thing_shadow had result request_status 0",
                                          "update_thing_shadow succeed. response: ",
                                          "gg_get_thing_shadow had result request_status 0",
                                          "get_thing_shadow succeeded. response: "])
        got = text.split("get_thing_shadow succeeded. response: ", 1)[1].splitlines()[0]
        assert json.loads(got)["state"]["desired"] == {"mode": "OFF"}, got
        # invoker.c -> invokee.c: RequestResponse with qualifier "1" and a client context.
        dev.publish("c/InvokerC", b"go")
        user_log(core, "InvokerC", ["[INFO]-Response: hello world read: 11"])
        # (The core writes every user log under its own region, also for this us-west-2 ARN.)
        user_log(core, "Invokee", ['[INFO]-Client context: { "custom":{ "value": "key" }}',
                                   "[INFO]-Return output: hello world size: 11"])
        # secretsmanager.c: granted -> success; not granted -> HANDLED (1) with the 401 body.
        dev.publish("c/SecretsC", b"go")
        text = user_log(core, "SecretsC", ["gg_get_secret_value had result request_status 0",
                                           "get_secret_value succeeded. response: "])
        got = json.loads(text.split("get_secret_value succeeded. response: ", 1)[1].splitlines()[0])
        assert (got["ARN"], got["Name"], got["SecretString"]) == (FOO_SECRET_ARN, "foo",
                                                                 "foo-value"), got
        dev.publish("c/StrangerC", b"go")
        text = user_log(core, "StrangerC", ["gg_get_secret_value had result request_status 1",
                                            "get_secret_value failed. error message: "])
        got = json.loads(text.split("error message: ", 1)[1].splitlines()[0])
        assert got["Status"] == 401 and set(got) == {"Status", "Message"}, got
        # Unknown secret: the group no longer has the resource -> 404.
        core.deploy_ok(group(with_foo=False))
        dev.publish("c/SecretsC", b"again")
        text = user_log(core, "SecretsC", ["get_secret_value failed. error message: "])
        got = json.loads(text.split("get_secret_value failed. error message: ", 1)[1]
                         .splitlines()[0])
        assert got["Status"] == 404 and got["Message"].startswith("Secret not found: foo"), got
    finally:
        dev.close()
