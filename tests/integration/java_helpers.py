"""Helpers for the Java function tests (test_12_java_*.py) and bench/java_bench.py.

Compiles the test functions under tests/integration/functions_java with the JDK's javac
against the runtime jars of the build tree (<build>/runtime/java), packs them as a v1 Java
deployment zip (classes at the root, dependency jars under lib/) and puts the zip into a core's
function store (`evergreen function create --zip-file`)."""

import os
import shutil
import subprocess
import tempfile
import zipfile

import evg_harness as h
import lambda_helpers as lh

HERE = os.path.dirname(os.path.abspath(__file__))
JAVA_SRC = os.path.join(HERE, "functions_java")
JAVAC = shutil.which("javac") or "/usr/bin/javac"
JAVA_RUNTIME = "java8"

_cache = {}


def runtime_jars():
    d = os.path.join(h.BUILD_DIR, "runtime", "java")
    jars = [os.path.join(d, "evergreen-lambda-runtime.jar"), os.path.join(d, "evergreen-java-sdk.jar")]
    for j in jars:
        assert os.path.exists(j), f"{j} missing: build the evg_java_runtime/evg_java_sdk targets"
    return jars


def _javac(sources, classpath, out):
    r = subprocess.run([JAVAC, "--release", "8", "-nowarn", "-encoding", "UTF-8", "-cp",
                        ":".join(classpath), "-d", out] + sources,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"javac failed:\n{r.stdout}{r.stderr}"


def _sources(root):
    out = []
    for d, _, files in os.walk(root):
        out += [os.path.join(d, f) for f in files if f.endswith(".java")]
    return sorted(out)


def build_zip():
    """The test functions as one v1 deployment zip (cached per test session)."""
    if "zip" in _cache and os.path.exists(_cache["zip"]):
        return _cache["zip"]
    work = tempfile.mkdtemp(prefix="evg-java-fn-")
    jars = runtime_jars()
    libc = os.path.join(work, "libclasses")
    _javac(_sources(os.path.join(JAVA_SRC, "lib")), jars, libc)
    greeter = os.path.join(work, "greeter.jar")
    with zipfile.ZipFile(greeter, "w") as z:
        for d, _, files in os.walk(libc):
            for f in files:
                p = os.path.join(d, f)
                z.write(p, os.path.relpath(p, libc))
    classes = os.path.join(work, "classes")
    _javac(_sources(os.path.join(JAVA_SRC, "src")), jars + [greeter], classes)
    zpath = os.path.join(work, "functions.zip")
    with zipfile.ZipFile(zpath, "w") as z:
        for d, _, files in os.walk(classes):
            for f in files:
                p = os.path.join(d, f)
                z.write(p, os.path.relpath(p, classes))
        z.write(greeter, "lib/greeter.jar")
    _cache["zip"] = zpath
    return zpath


def create_java_function(core, name, handler, alias="PROD", runtime=JAVA_RUNTIME):
    """create --zip-file <test functions zip> -> version 1 -> alias. Returns the alias ARN."""
    lh.fn_cli(core, "create", "--function-name", name, "--runtime", runtime, "--handler", handler,
              "--zip-file", build_zip())
    lh.fn_cli(core, "publish-version", "--function-name", name)
    if alias:
        lh.fn_cli(core, "create-alias", "--function-name", name, "--name", alias,
                  "--function-version", "1")
    return lh.fn_arn(name, alias or "1")
