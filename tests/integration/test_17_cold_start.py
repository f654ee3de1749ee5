"""Issue 17, cold start: on-demand Java workers start from the runtime jar's AppCDS archive and
Node workers from the one-file runtime bundle, and both still answer; an archive that does not
match its jar is ignored by the JVM without a word in the function's log (plain start)."""

import os
import shutil
import subprocess

import pytest

import evg_harness as h
import java_helpers as jh
import lambda_helpers as lh

JAVA = "/usr/bin/java"
CORE_JVM_FLAGS = ["-XX:+UseSerialGC", "-Xshare:auto", "-XX:TieredStopAtLevel=1",
                  "-XX:-UsePerfData"]
JAVA_DIR = os.path.join(h.BUILD_DIR, "runtime", "java")
JAR = os.path.join(JAVA_DIR, "evergreen-lambda-runtime.jar")
JSA = os.path.join(JAVA_DIR, "evergreen-lambda-runtime.jsa")
BUNDLE = os.path.join(h.BUILD_DIR, "runtime", "nodejs", "lambda_nodejs_runtime.bundle.js")

needs_java = pytest.mark.skipif(not os.access(JAVA, os.X_OK) or not os.path.exists(JAR),
                                reason="no JVM or Java runtime not built")


def _worker_argv(core, arn):
    pid = h.child_with_env(core.proc.pid, f"MY_FUNCTION_ARN={arn}")
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode() for a in f.read().split(b"\0") if a]
    except OSError:
        return None


@needs_java
def test_runtime_archive_is_accepted_for_the_built_jar():
    """The build's archive maps our runtime classes (a broken training run or dump would leave
    the JVM loading them from the jar, silently)."""
    assert os.path.exists(JSA), "the build did not produce the AppCDS archive"
    r = subprocess.run([JAVA] + CORE_JVM_FLAGS + [f"-XX:SharedArchiveFile={JSA}",
                                                   "-Xlog:class+load=info", "-cp", JAR,
                                                   "com.amazonaws.greengrass.runtime.CdsTraining"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    loads = [ln for ln in r.stdout.splitlines()
             if "com.amazonaws.greengrass.runtime.LambdaRuntime " in ln]
    assert loads and "shared objects file (top)" in loads[0], loads


@needs_java
@pytest.mark.parametrize("kind", ["stale", "garbage"])
def test_mismatched_archive_is_ignored_without_output(tmp_path, kind):
    """A jar that changed since the dump (or a garbage file) -> the worker starts exactly as
    without an archive: same exit, same single line of our own, nothing from the JVM."""
    jar = tmp_path / "evergreen-lambda-runtime.jar"
    shutil.copy(JAR, jar)
    jsa = tmp_path / "evergreen-lambda-runtime.jsa"
    if kind == "stale":
        shutil.copy(JSA, jsa)  # recorded path/mtime are the build tree's jar, not this one
    else:
        jsa.write_bytes(os.urandom(4096))
    env = {"PATH": "/usr/bin:/bin"}
    argv = [JAVA] + CORE_JVM_FLAGS + [f"-XX:SharedArchiveFile={jsa}",
                                      "-Xlog:cds=off,cds+dynamic=off", "-cp", str(jar),
                                      "com.amazonaws.greengrass.runtime.LambdaRuntime"]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
    plain = subprocess.run([a for a in argv if "SharedArchive" not in a and "Xlog" not in a],
                           capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == plain.returncode == 2
    assert (r.stdout, r.stderr) == (plain.stdout, plain.stderr)
    assert "archive" not in (r.stdout + r.stderr).lower()


def test_on_demand_workers_start_from_the_archive_and_the_bundle(make_core):
    core = lh.lambda_core(make_core)
    fns = {"node": lh.create_function(core, "NodeCold", "node_bench_echo", "index.handler",
                                      runtime="nodejs12.x")}
    if os.path.exists(JAR):
        fns["java"] = jh.create_java_function(core, "JavaCold", "com.example.BenchEcho::handle")
    g = lh.LambdaGroup().device("Dev")
    for rt, arn in fns.items():
        g.function(arn, pinned=False, encoding="binary", timeout=20)
        g.sub("Dev", f"cold/{rt}", arn).sub(arn, "bench/out", "Dev")
    core.deploy_ok(g)
    dev = h.RawClient(core.plain_port, timeout=10)
    assert dev.connect("Dev") == 0
    assert dev.subscribe([("bench/out", 0)]) == [0]
    for rt, arn in fns.items():
        assert lh.fn_status(core, arn)["workers"] == 0
        dev.send(h.publish_packet(f"cold/{rt}", f"hello {rt}".encode()))
        while True:
            p = dev.read_packet(30)
            assert p is not None, "connection closed"
            if p[0] == h.PUBLISH:
                break
        assert h.parse_publish(p[1], p[2])["payload"] == f"hello {rt}".encode()
        argv = _worker_argv(core, arn)
        assert argv, f"no live {rt} worker"
        if rt == "node":
            assert argv[1] == BUNDLE, argv
        else:
            assert f"-XX:SharedArchiveFile={JSA}" in argv, argv
    dev.close()


@needs_java
def test_java_worker_stops_on_sigterm_with_exit_0():
    """The SIGTERM handler (made by LambdaMetafactory since issue 17, not a Proxy) still logs and
    exits 0."""
    import signal
    import socket
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    env = {"PATH": "/usr/bin:/bin", "MY_FUNCTION_ARN":
           "arn:aws:lambda:us-east-1:123456789012:function:Sig:1",
           "AWS_CONTAINER_AUTHORIZATION_TOKEN": "t", "ENCODING_TYPE": "binary",
           "GG_DAEMON_PORT": str(srv.getsockname()[1])}
    p = subprocess.Popen([JAVA] + CORE_JVM_FLAGS + [
        f"-XX:SharedArchiveFile={JSA}", "-Xlog:cds=off,cds+dynamic=off", "-cp", JAR,
        "com.amazonaws.greengrass.runtime.LambdaRuntime",
        "--handler=com.amazonaws.greengrass.runtime.CdsTraining::handle"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        srv.settimeout(30)
        conn, _ = srv.accept()  # the runtime is past its start-up: it sends E6 (never answered)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
        conn.close()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        srv.close()
    assert p.returncode == 0, (out, err)
    assert "Caught signal 15. Stopping runtime." in out + err
