"""Cross-language chain through RequestResponse invokes: Python -> Node -> Java -> C, and the
result comes back intact through every hop.

The Python `invoker` test function calls lambda.invoke on the Node hop
(functions/chain_node/index.js, our aws-greengrass-core-sdk), which invokes the Java hop
(functions/chain_java/ChainJava.java, stream handler, our javasdk LambdaClient), which invokes
the C executable (functions/c_lambda, gg_invoke target). Each hop appends its name to the
event's "path"; the C hop answers, and the answer travels back unchanged."""

import json
import os
import shutil

import pytest

import c_helpers as ch
import evg_harness as h
import lambda_helpers as lh

JAVA_SRC = os.path.join(lh.FUNCTIONS_DIR, "chain_java", "ChainJava.java")


def _java_jars():
    d = os.path.join(h.BUILD_DIR, "runtime", "java")
    jars = [os.path.join(d, "evergreen-lambda-runtime.jar"),
            os.path.join(d, "evergreen-java-sdk.jar")]
    missing = [j for j in jars if not os.path.exists(j)]
    return jars, missing


@pytest.fixture(scope="module")
def chain_code(tmp_path_factory):
    node = shutil.which("node") or shutil.which("nodejs")
    javac = shutil.which("javac")
    jars, missing = _java_jars()
    if not node or not javac or missing:
        pytest.fail(f"chain needs node, javac and the Java runtime jars (missing: "
                    f"node={node}, javac={javac}, jars={missing})")
    prefix = ch.install_prefix(tmp_path_factory)
    c_code = ch.build_function(prefix, str(tmp_path_factory.mktemp("chain_c")))
    classes = tmp_path_factory.mktemp("chain_java")
    ch.run([javac, "--release", "8", "-nowarn", "-encoding", "UTF-8", "-cp", ":".join(jars),
            "-d", str(classes), JAVA_SRC])
    return {"c": c_code, "java": str(classes)}


@pytest.mark.parametrize("isolation", [
    "NoContainer",
    pytest.param("GreengrassContainer", marks=pytest.mark.skipif(
        os.geteuid() != 0, reason="Greengrass containers need root")),
])
def test_python_node_java_c_chain(make_core, chain_code, isolation):
    core = lh.lambda_core(make_core)
    inv = lh.create_function(core, "Invoker", "invoker", "invoker.handler")
    node = lh.create_function(core, "ChainNode", "chain_node", "index.handler",
                              runtime="nodejs12.x")
    java = lh.create_function(core, "ChainJava", chain_code["java"], "ChainJava::handle",
                              runtime="java8")
    c = ch.create_c_function(core, "ChainC", chain_code["c"])
    core.deploy_ok(lh.LambdaGroup().device("Dev")
                   .function(inv, timeout=30)
                   # The Node, Java and C hops also run inside Greengrass containers: their
                   # runtimes, the JVM and the C SDK must all be visible in there.
                   .function(node, timeout=25, isolation=isolation, memory_kb=131072)
                   .function(java, timeout=20, encoding="binary", isolation=isolation,
                             memory_kb=262144)
                   .function(c, timeout=10, encoding="binary", isolation=isolation)
                   .sub("Dev", "invoker/in", inv).sub(inv, "invoker/result", "Dev"))
    dev = h.Paho("Dev", core.plain_port)
    try:
        dev.subscribe("invoker/result")
        event = {"msg": "hello \u00e9 chain", "path": ["python"], "next": [java, c]}
        dev.publish("invoker/in", json.dumps({"op": "invoke", "target": node, "payload": event}))
        r = lh.expect_json(dev, "invoker/result", timeout=40)
    finally:
        dev.close()
    assert r.get("FunctionError") == "", r
    assert json.loads(r["Payload"]) == {"msg": "hello \u00e9 chain",
                                        "path": ["python", "node", "java", "c"], "next": []}, r
    for arn in (node, java, c):
        lh.wait_fn_status(core, arn, lambda s: s["succeeded"] == 1)
